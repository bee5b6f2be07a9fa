//! The one process-wide tokio runtime and engine, created on first use.

use std::sync::Arc;

use crate::protocol::{Engine, TEST_HOOKS_VARIABLE};
use managed_identity_core::clock::SystemClock;
use once_cell::sync::Lazy;

/// Worker threads are capped: Automation sandboxes are small and shared.
const WORKER_THREADS: usize = 1;

static RUNTIME: Lazy<Result<tokio::runtime::Runtime, String>> = Lazy::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .thread_name("managedidentity-engine")
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the engine runtime: {e}"))
});

static ENGINE: Lazy<Result<Arc<Engine>, String>> = Lazy::new(|| {
    Engine::new(Arc::new(SystemClock))
        .map(|engine| Arc::new(engine.with_test_hooks(test_hooks_requested())))
        .map_err(|e| e.message)
});

/// The `diagnostics.*` test hooks are on only when the process was started with
/// `MANAGEDIDENTITY_ENGINE_TEST_HOOKS=1` (read once, at engine start, from the native
/// environment the process inherited) — and always in this crate's own unit tests.
fn test_hooks_requested() -> bool {
    cfg!(test) || std::env::var(TEST_HOOKS_VARIABLE).is_ok_and(|v| v == "1")
}

pub fn runtime() -> Result<&'static tokio::runtime::Runtime, String> {
    RUNTIME.as_ref().map_err(Clone::clone)
}

pub fn engine() -> Result<Arc<Engine>, String> {
    // reqwest clients must be built inside a runtime context.
    let rt = runtime()?;
    let _enter = rt.enter();
    ENGINE.as_ref().cloned().map_err(Clone::clone)
}
