//! All integration tests of the emulator crate, as modules of one test binary (one link instead
//! of one per file).

mod access;
mod arm;
mod client_assertions;
mod clients;
mod common;
mod control;
mod entra_delegated;
mod fidelity;
mod graph;
mod hosts;
mod managed_identity;
mod pool;
