//! C ABI of the ManagedIdentity engine, described with interoptopus 0.14 so the generated C#
//! is plain `DllImport` (netstandard2.0: loads in Windows PowerShell 5.1 and PowerShell 7).
//!
//! The surface is deliberately small and byte-oriented: UTF-8 JSON requests go in, UTF-8 JSON
//! chunks (events, result or typed error) come out through caller-provided buffers. Every
//! export catches panics; no panic unwinds into .NET and none prints to the host's console.
//! Long calls are *operations*: started, polled with a bounded wait, cancelled, released —
//! so the PowerShell host can service Ctrl+C between polls.
//!
//! The wire itself (operation names, argument decoding, key casing, error categories and the
//! cmdlet parameter names messages mention) is [`protocol`]: the core crate knows none of it.

mod operation;
mod panic_guard;
pub mod protocol;
mod runtime;

use interoptopus::patterns::slice::{FFISlice, FFISliceMut};
use interoptopus::{ffi_function, ffi_type, function, Inventory, InventoryBuilder};

/// Version of this ABI; the C# side refuses to run against a different one.
pub const ABI_VERSION: u32 = 2;

/// Outcome of every export. Business errors (identity not found, throttled…) are not statuses:
/// they travel inside the operation's JSON result with a stable error id.
#[ffi_type]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineStatus {
    /// Done; outputs are valid.
    Ok = 0,
    /// Nothing happened within the wait; poll again.
    Pending = 1,
    /// The output buffer is too small; `out_len` holds the size needed. Nothing was lost.
    BufferTooSmall = 2,
    /// No operation or context with that handle.
    UnknownHandle = 3,
    /// No fresh token is cached for that context and resource.
    NotCached = 4,
    /// The engine could not start (runtime or HTTP stack failed to initialise).
    EngineUnavailable = 5,
    /// A panic was caught at the boundary (a bug; the process is unharmed).
    Panic = 6,
    /// Input bytes were not valid (e.g. not UTF-8).
    InvalidInput = 7,
}

/// The ABI version compiled into this library.
#[ffi_function]
#[no_mangle]
pub extern "C" fn mi_abi_version() -> u32 {
    ABI_VERSION
}

/// Starts an operation from a UTF-8 JSON request `{"op":…,"args":…}`. `secret` carries a value
/// that must not travel in JSON (an access token); pass an empty slice for none.
#[ffi_function]
#[no_mangle]
pub extern "C" fn mi_operation_start(
    request: FFISlice<u8>,
    secret: FFISlice<u8>,
    out_operation: &mut u64,
) -> EngineStatus {
    panic_guard::guard(|| operation::start(request.as_slice(), secret.as_slice(), out_operation))
}

/// Waits up to `timeout_ms` for the operation to report something, then writes one UTF-8 JSON
/// chunk `{"events":[…],"done":bool,"result"?:…,"error"?:…}` into `buffer`.
/// Returns `Pending` (nothing new; `out_len` = 0), `Ok`, or `BufferTooSmall` (`out_len` = needed;
/// call again with a larger buffer, the chunk is kept).
#[ffi_function]
#[no_mangle]
pub extern "C" fn mi_operation_poll(
    operation: u64,
    timeout_ms: u32,
    mut buffer: FFISliceMut<u8>,
    out_len: &mut u64,
) -> EngineStatus {
    panic_guard::guard(|| operation::poll(operation, timeout_ms, buffer.as_slice_mut(), out_len))
}

/// Requests cancellation; the next poll reports the `Cancelled` error. Idempotent.
#[ffi_function]
#[no_mangle]
pub extern "C" fn mi_operation_cancel(operation: u64) -> EngineStatus {
    panic_guard::guard(|| operation::cancel(operation))
}

/// Frees an operation (cancelling it if it still runs). Idempotent.
#[ffi_function]
#[no_mangle]
pub extern "C" fn mi_operation_release(operation: u64) -> EngineStatus {
    panic_guard::guard(|| operation::release(operation))
}

/// Copies a fresh cached token for (context, resource) into `buffer` (UTF-8, no terminator).
/// An empty `resource` means the context's default resource. Never does I/O: `NotCached` tells
/// the caller to run the `identity.token` operation first.
#[ffi_function]
#[no_mangle]
pub extern "C" fn mi_cached_token(
    context: u64,
    resource: FFISlice<u8>,
    mut buffer: FFISliceMut<u8>,
    out_len: &mut u64,
) -> EngineStatus {
    panic_guard::guard(|| {
        operation::cached_token(context, resource.as_slice(), buffer.as_slice_mut(), out_len)
    })
}

/// Writes the names of the environment variables the engine reads (one per line, UTF-8) so the
/// host can snapshot them: on Unix, .NET keeps `$env:` changes away from native `getenv`.
#[ffi_function]
#[no_mangle]
pub extern "C" fn mi_environment_variable_names(
    buffer: FFISliceMut<u8>,
    out_len: &mut u64,
) -> EngineStatus {
    write_lines(managed_identity_core::env::VARIABLES, buffer, out_len)
}

/// Writes the names of the environment variables whose values are secrets (one per line,
/// UTF-8): the host leaves them out of the JSON snapshot and sends them through the operation's
/// secret channel. A plain export rather than `engine.info`, so the first engine call needs no
/// operation and no JSON to learn them.
#[ffi_function]
#[no_mangle]
pub extern "C" fn mi_secret_environment_variable_names(
    buffer: FFISliceMut<u8>,
    out_len: &mut u64,
) -> EngineStatus {
    write_lines(
        managed_identity_core::env::SECRET_VARIABLES,
        buffer,
        out_len,
    )
}

/// `lines` joined by newlines into the caller's buffer (or the size needed), panic-safe.
fn write_lines(lines: &[&str], mut buffer: FFISliceMut<u8>, out_len: &mut u64) -> EngineStatus {
    panic_guard::guard(|| {
        operation::copy_out(lines.join("\n").as_bytes(), buffer.as_slice_mut(), out_len)
    })
}

/// Everything the C# generator needs to know.
pub fn ffi_inventory() -> Inventory {
    InventoryBuilder::new()
        .register(function!(mi_abi_version))
        .register(function!(mi_operation_start))
        .register(function!(mi_operation_poll))
        .register(function!(mi_operation_cancel))
        .register(function!(mi_operation_release))
        .register(function!(mi_cached_token))
        .register(function!(mi_environment_variable_names))
        .register(function!(mi_secret_environment_variable_names))
        .inventory()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(export: extern "C" fn(FFISliceMut<u8>, &mut u64) -> EngineStatus) -> Vec<String> {
        let mut small = [0u8; 4];
        let mut needed = 0u64;
        assert_eq!(
            export(FFISliceMut::from_slice(&mut small), &mut needed),
            EngineStatus::BufferTooSmall
        );
        let mut buffer = vec![0u8; needed as usize];
        let mut written = 0u64;
        assert_eq!(
            export(FFISliceMut::from_slice(&mut buffer), &mut written),
            EngineStatus::Ok
        );
        assert_eq!(written, needed);
        String::from_utf8(buffer)
            .expect("UTF-8")
            .split('\n')
            .map(str::to_owned)
            .collect()
    }

    /// The host snapshots the first list and moves the second into the secret channel, so every
    /// secret name must also be a name the engine reads, and IDENTITY_HEADER must be secret.
    #[test]
    fn secret_variable_names_are_a_subset_of_the_variable_names() {
        let all = names(mi_environment_variable_names);
        let secret = names(mi_secret_environment_variable_names);
        assert!(secret.iter().any(|n| n == "IDENTITY_HEADER"), "{secret:?}");
        assert!(
            secret.iter().any(|n| n == "AZURE_CLIENT_SECRET"),
            "{secret:?}"
        );
        for name in &secret {
            assert!(all.contains(name), "{name} is secret but not snapshotted");
        }
        assert!(!secret.iter().any(|n| n == "IDENTITY_ENDPOINT"));
    }
}
