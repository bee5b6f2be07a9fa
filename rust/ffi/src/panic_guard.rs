//! Panics never cross the boundary and never print: a process-wide hook records the message
//! (per thread) instead of writing to stderr, and every export runs inside `catch_unwind`.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

use crate::EngineStatus;

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

/// Installs the silent, recording panic hook (once per process).
pub fn install_hook() {
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let payload = info.payload();
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic payload".to_string());
            let place = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("{text}{place}")));
        }));
    });
}

/// The message of the last panic on this thread, if any (taken).
pub fn take_message() -> String {
    LAST_PANIC
        .with(|p| p.borrow_mut().take())
        .unwrap_or_else(|| "panic without message".to_string())
}

/// Runs an export body; a panic becomes `EngineStatus::Panic`.
pub fn guard(body: impl FnOnce() -> EngineStatus) -> EngineStatus {
    install_hook();
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(status) => status,
        Err(_) => {
            let _ = take_message();
            EngineStatus::Panic
        }
    }
}
