//! Emulator (being written).
pub mod seed;
