//! Managed-identity sources (being written)
