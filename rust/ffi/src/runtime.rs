//! The one process-wide tokio runtime and engine, created on first use.

use std::sync::Arc;

use managed_identity_core::clock::SystemClock;
use managed_identity_core::protocol::Engine;
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
        .map(Arc::new)
        .map_err(|e| e.message)
});

pub fn runtime() -> Result<&'static tokio::runtime::Runtime, String> {
    RUNTIME.as_ref().map_err(Clone::clone)
}

pub fn engine() -> Result<Arc<Engine>, String> {
    // reqwest clients must be built inside a runtime context.
    let rt = runtime()?;
    let _enter = rt.enter();
    ENGINE.as_ref().cloned().map_err(Clone::clone)
}
