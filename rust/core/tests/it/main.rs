//! All integration tests of the core crate, as modules of one test binary: one link instead of
//! one per file (each links the whole engine and the emulator again).

mod credentials_emulator;
mod emulator;
mod graph_emulator;
mod hosts_emulator;
mod layers;
mod managed_identity_sources;
mod properties_denied;
mod properties_graph_and_protocol;
mod properties_permissions;
mod properties_server_input;
mod proptest_seed;
mod proxy;
mod rust_version;
mod wording;
