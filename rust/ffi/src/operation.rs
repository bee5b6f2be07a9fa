//! Operations: a request running on the engine runtime, observed by polling.
//!
//! Each operation owns a queue of events and, once finished, its outcome. `poll` blocks the
//! calling (PowerShell) thread for at most `timeout_ms`, so the host can react to Ctrl+C between
//! polls; `cancel` aborts the task (dropping its future cancels any request in flight).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::FutureExt;
use managed_identity_core::events::{Event, EventSink};
use managed_identity_core::protocol::error_json;
use managed_identity_core::secret::Secret;
use managed_identity_core::{Error, ErrorKind};
use once_cell::sync::Lazy;
use serde_json::{json, Value};

use crate::{panic_guard, runtime, EngineStatus};

/// Longest single wait a poll may ask for.
const MAX_POLL_WAIT: Duration = Duration::from_secs(5);

#[derive(Default)]
struct State {
    events: Vec<Event>,
    outcome: Option<Result<Value, Error>>,
    /// The outcome was already handed to the caller.
    delivered: bool,
    /// A serialized chunk that did not fit the caller's buffer; re-offered first.
    stashed: Option<Vec<u8>>,
}

struct Operation {
    state: Mutex<State>,
    changed: Condvar,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Operation {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn finish(&self, outcome: Result<Value, Error>) {
        let mut state = self.lock();
        if state.outcome.is_none() {
            state.outcome = Some(outcome);
        }
        drop(state);
        self.changed.notify_all();
    }
}

/// Forwards engine events into the operation's queue.
struct Sink(Arc<Operation>);

impl EventSink for Sink {
    fn emit(&self, event: Event) {
        self.0.lock().events.push(event);
        self.0.changed.notify_all();
    }
}

static OPERATIONS: Lazy<Mutex<HashMap<u64, Arc<Operation>>>> =
    Lazy::new(|| Mutex::new(HashMap::new()));
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn operations() -> MutexGuard<'static, HashMap<u64, Arc<Operation>>> {
    OPERATIONS.lock().unwrap_or_else(|e| e.into_inner())
}

fn find(id: u64) -> Option<Arc<Operation>> {
    operations().get(&id).cloned()
}

pub fn start(request: &[u8], secret: &[u8], out_operation: &mut u64) -> EngineStatus {
    *out_operation = 0;
    let secret = if secret.is_empty() {
        None
    } else {
        match std::str::from_utf8(secret) {
            Ok(s) => Some(Secret::new(s)),
            Err(_) => return EngineStatus::InvalidInput,
        }
    };
    let (rt, engine) = match (runtime::runtime(), runtime::engine()) {
        (Ok(rt), Ok(engine)) => (rt, engine),
        _ => return EngineStatus::EngineUnavailable,
    };
    let op = Arc::new(Operation {
        state: Mutex::new(State::default()),
        changed: Condvar::new(),
        task: Mutex::new(None),
    });
    let request = request.to_vec();
    let task_op = op.clone();
    let handle = rt.spawn(async move {
        let sink = Sink(task_op.clone());
        let outcome = std::panic::AssertUnwindSafe(engine.execute(&request, secret, &sink))
            .catch_unwind()
            .await;
        let outcome = outcome.unwrap_or_else(|_| {
            Err(Error::internal(format!(
                "the engine hit a bug and stopped this operation (the process is unharmed): {}",
                panic_guard::take_message()
            )))
        });
        task_op.finish(outcome);
    });
    *op.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    operations().insert(id, op);
    *out_operation = id;
    EngineStatus::Ok
}

pub fn poll(id: u64, timeout_ms: u32, buffer: &mut [u8], out_len: &mut u64) -> EngineStatus {
    *out_len = 0;
    let Some(op) = find(id) else {
        return EngineStatus::UnknownHandle;
    };
    let deadline = Instant::now() + Duration::from_millis(timeout_ms.into()).min(MAX_POLL_WAIT);
    let mut state = op.lock();
    loop {
        let has_news = state.stashed.is_some()
            || !state.events.is_empty()
            || (state.outcome.is_some() && !state.delivered);
        if has_news {
            break;
        }
        if state.delivered {
            // Finished and fully delivered: report "done" again, idempotently.
            break;
        }
        let now = Instant::now();
        if now >= deadline {
            return EngineStatus::Pending;
        }
        state = op
            .changed
            .wait_timeout(state, deadline - now)
            .map(|(g, _)| g)
            .unwrap_or_else(|e| e.into_inner().0);
    }
    let chunk = match state.stashed.take() {
        Some(chunk) => chunk,
        None => serialize_chunk(&mut state),
    };
    *out_len = chunk.len() as u64;
    if chunk.len() > buffer.len() {
        state.stashed = Some(chunk);
        return EngineStatus::BufferTooSmall;
    }
    buffer[..chunk.len()].copy_from_slice(&chunk);
    EngineStatus::Ok
}

fn serialize_chunk(state: &mut State) -> Vec<u8> {
    let events = std::mem::take(&mut state.events);
    let mut chunk = json!({ "events": events, "done": false });
    if let Some(outcome) = &state.outcome {
        chunk["done"] = json!(true);
        match outcome {
            Ok(value) => chunk["result"] = value.clone(),
            Err(error) => chunk["error"] = error_json(error),
        }
        state.delivered = true;
    }
    serde_json::to_vec(&chunk).unwrap_or_else(|e| {
        let fallback = Error::internal(format!("cannot serialize the engine's answer: {e}"));
        serde_json::to_vec(&json!({"events": [], "done": true, "error": error_json(&fallback)}))
            .unwrap_or_default()
    })
}

pub fn cancel(id: u64) -> EngineStatus {
    let Some(op) = find(id) else {
        return EngineStatus::UnknownHandle;
    };
    if let Some(task) = op.task.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
        task.abort();
    }
    op.finish(Err(Error::new(
        ErrorKind::Cancelled,
        "the operation was cancelled",
    )));
    EngineStatus::Ok
}

pub fn release(id: u64) -> EngineStatus {
    if let Some(op) = operations().remove(&id) {
        if let Some(task) = op.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
    }
    EngineStatus::Ok
}

pub fn cached_token(
    context: u64,
    resource: &[u8],
    buffer: &mut [u8],
    out_len: &mut u64,
) -> EngineStatus {
    *out_len = 0;
    let Ok(resource) = std::str::from_utf8(resource) else {
        return EngineStatus::InvalidInput;
    };
    let Ok(engine) = runtime::engine() else {
        return EngineStatus::EngineUnavailable;
    };
    let resource = if resource.is_empty() {
        None
    } else {
        Some(resource)
    };
    let Some(token) = engine.cached_token(context, resource) else {
        return EngineStatus::NotCached;
    };
    copy_out(token.expose().as_bytes(), buffer, out_len)
}

/// Copies `bytes` into the caller's buffer, or reports the size needed.
pub fn copy_out(bytes: &[u8], buffer: &mut [u8], out_len: &mut u64) -> EngineStatus {
    *out_len = bytes.len() as u64;
    if bytes.len() > buffer.len() {
        return EngineStatus::BufferTooSmall;
    }
    buffer[..bytes.len()].copy_from_slice(bytes);
    EngineStatus::Ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(request: &str) -> Value {
        // The exports install the recording hook; tests that call the bodies directly must too,
        // or the outcome depends on which test ran first.
        panic_guard::install_hook();
        let mut id = 0;
        assert_eq!(start(request.as_bytes(), b"", &mut id), EngineStatus::Ok);
        let mut buffer = vec![0u8; 16];
        let mut events = Vec::new();
        loop {
            let mut len = 0;
            match poll(id, 1000, &mut buffer, &mut len) {
                EngineStatus::Pending => continue,
                EngineStatus::BufferTooSmall => buffer.resize(len as usize, 0),
                EngineStatus::Ok => {
                    let chunk: Value = serde_json::from_slice(&buffer[..len as usize]).unwrap();
                    events.extend(chunk["events"].as_array().cloned().unwrap_or_default());
                    if chunk["done"] == true {
                        assert_eq!(release(id), EngineStatus::Ok);
                        return chunk;
                    }
                }
                other => panic!("unexpected status {other:?}"),
            }
        }
    }

    #[test]
    fn engine_info_round_trips_through_a_small_buffer() {
        let chunk = run(r#"{"op":"engine.info"}"#);
        assert!(
            chunk["result"]["EnvironmentVariables"]
                .as_array()
                .unwrap()
                .len()
                > 3
        );
    }

    #[test]
    fn a_panic_in_the_engine_becomes_an_internal_error() {
        let chunk = run(r#"{"op":"diagnostics.panic"}"#);
        assert_eq!(chunk["error"]["errorId"], "ManagedIdentity.Internal");
        assert!(chunk["error"]["message"]
            .as_str()
            .unwrap()
            .contains("diagnostics.panic was requested"));
    }

    #[test]
    fn malformed_requests_are_typed_errors() {
        let chunk = run("this is not json");
        assert_eq!(chunk["error"]["errorId"], "ManagedIdentity.InvalidArgument");
    }

    #[test]
    fn cancel_stops_a_running_operation_quickly() {
        let mut id = 0;
        assert_eq!(
            start(
                br#"{"op":"diagnostics.sleep","args":{"ms":60000}}"#,
                b"",
                &mut id
            ),
            EngineStatus::Ok
        );
        let mut buffer = vec![0u8; 4096];
        let mut len = 0;
        assert_eq!(poll(id, 50, &mut buffer, &mut len), EngineStatus::Pending);
        let began = Instant::now();
        assert_eq!(cancel(id), EngineStatus::Ok);
        assert_eq!(poll(id, 1000, &mut buffer, &mut len), EngineStatus::Ok);
        assert!(began.elapsed() < Duration::from_secs(1));
        let chunk: Value = serde_json::from_slice(&buffer[..len as usize]).unwrap();
        assert_eq!(chunk["error"]["errorId"], "ManagedIdentity.Cancelled");
        assert_eq!(release(id), EngineStatus::Ok);
        assert_eq!(
            poll(id, 0, &mut buffer, &mut len),
            EngineStatus::UnknownHandle
        );
    }

    #[test]
    fn unknown_handles_and_bad_input_are_statuses() {
        let mut len = 0;
        assert_eq!(
            poll(987_654, 0, &mut [], &mut len),
            EngineStatus::UnknownHandle
        );
        assert_eq!(cancel(987_654), EngineStatus::UnknownHandle);
        let mut id = 0;
        assert_eq!(
            start(b"{}", &[0xff, 0xfe], &mut id),
            EngineStatus::InvalidInput
        );
        assert_eq!(
            cached_token(987_654, b"", &mut [], &mut len),
            EngineStatus::NotCached
        );
    }

    #[test]
    fn a_panicking_export_body_returns_the_panic_status() {
        assert_eq!(panic_guard::guard(|| panic!("boom")), EngineStatus::Panic);
    }
}
