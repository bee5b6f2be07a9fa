//! Operations: a request running on the engine runtime, observed by polling.
//!
//! Each operation owns a queue of events and, once finished, its outcome. `poll` blocks the
//! calling (PowerShell) thread for at most `timeout_ms`, so the host can react to Ctrl+C between
//! polls; `cancel` aborts the task (dropping its future cancels any request in flight).
//!
//! The queue is bounded (issue 8.8): at most [`MAX_QUEUED_ITEMS`] result items wait for the
//! caller. When it is full the producing task waits (in `block_in_place`, so the runtime's other
//! tasks keep running) until a poll drains the queue, or until `cancel`/`release` close the
//! operation — a caller that stops polling and releases never leaves a task stuck. Only items
//! wait: progress, warnings and verbose lines are few, and may be emitted while the engine holds
//! a lock another operation needs (the token cache's single flight), so they are always admitted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::protocol::error_json;
use futures::FutureExt;
use managed_identity_core::events::{Event, EventSink};
use managed_identity_core::secret::Secret;
use managed_identity_core::{Error, ErrorKind};
use once_cell::sync::Lazy;
use serde_json::{json, Value};

use crate::{panic_guard, runtime, EngineStatus};

/// Longest single wait a poll may ask for.
const MAX_POLL_WAIT: Duration = Duration::from_secs(5);

/// Most result items queued for the caller before the producer waits.
pub const MAX_QUEUED_ITEMS: usize = 1024;

#[derive(Default)]
struct State {
    events: Vec<Event>,
    /// How many of `events` are items (the bounded kind).
    queued_items: usize,
    /// Cancelled or released: nobody will read more events; producers stop waiting.
    closed: bool,
    outcome: Option<Result<Value, Error>>,
    /// The outcome was already handed to the caller.
    delivered: bool,
    /// A serialized chunk that did not fit the caller's buffer; re-offered first.
    stashed: Option<Vec<u8>>,
}

struct Operation {
    state: Mutex<State>,
    changed: Condvar,
    /// Signalled when items leave the queue or the operation closes.
    room: Condvar,
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

    /// No more events will be read: wakes a producer waiting for room.
    fn close(&self) {
        self.lock().closed = true;
        self.room.notify_all();
    }

    /// Blocks the producing task until the caller drained items or closed the operation.
    fn wait_for_room<'a>(&'a self, state: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        let wait = move || {
            let mut state = state;
            while state.queued_items >= MAX_QUEUED_ITEMS && !state.closed {
                state = self.room.wait(state).unwrap_or_else(|e| e.into_inner());
            }
            state
        };
        let on_worker = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if on_worker {
            tokio::task::block_in_place(wait)
        } else {
            wait()
        }
    }
}

/// Forwards engine events into the operation's queue.
struct Sink(Arc<Operation>);

impl EventSink for Sink {
    fn emit(&self, event: Event) {
        let op = &self.0;
        let is_item = matches!(event, Event::Item { .. });
        let mut state = op.lock();
        if is_item && state.queued_items >= MAX_QUEUED_ITEMS && !state.closed {
            state = op.wait_for_room(state);
        }
        if state.closed {
            return; // nobody reads it any more
        }
        if is_item {
            state.queued_items += 1;
        }
        state.events.push(event);
        drop(state);
        op.changed.notify_all();
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
    let op = new_operation();
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
    *out_operation = register(op, handle);
    EngineStatus::Ok
}

fn new_operation() -> Arc<Operation> {
    Arc::new(Operation {
        state: Mutex::new(State::default()),
        changed: Condvar::new(),
        room: Condvar::new(),
        task: Mutex::new(None),
    })
}

fn register(op: Arc<Operation>, task: tokio::task::JoinHandle<()>) -> u64 {
    *op.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    operations().insert(id, op);
    id
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
        None => {
            let chunk = serialize_chunk(&mut state);
            state.queued_items = 0;
            op.room.notify_all();
            chunk
        }
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
    op.close();
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
        op.close();
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

    /// Runs a producer of `count` items (endless for `usize::MAX`) as an operation on the
    /// engine runtime, yielding between items the way engine code awaits between emits.
    fn spawn_producer(count: usize) -> (u64, Arc<Operation>) {
        let op = new_operation();
        let task_op = op.clone();
        let task = runtime::runtime().expect("runtime").spawn(async move {
            let sink = Sink(task_op.clone());
            for i in 0..count {
                sink.emit(Event::item(i));
                tokio::task::yield_now().await;
            }
            task_op.finish(Ok(json!({ "count": count })));
        });
        (register(op.clone(), task), op)
    }

    /// Waits (bounded: a hang fails the test instead of stalling the run) until `done` holds.
    fn eventually(what: &str, mut done: impl FnMut() -> bool) {
        let give_up = Instant::now() + Duration::from_secs(30);
        while !done() {
            assert!(Instant::now() < give_up, "never happened: {what}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn queue_is_full(op: &Operation) -> bool {
        let state = op.lock();
        state.queued_items >= MAX_QUEUED_ITEMS || state.outcome.is_some()
    }

    /// Issue 8.8: 100,000 items to a consumer that is slow to start and polls one chunk at a
    /// time never have more than the bound queued, and all arrive in order.
    #[test]
    fn a_slow_consumer_never_has_more_than_the_bound_queued() {
        const TOTAL: usize = 100_000;
        let (id, op) = spawn_producer(TOTAL);
        eventually("the queue fills", || queue_is_full(&op));
        // Room for an unbounded producer to run far past the bound before the first poll.
        std::thread::sleep(Duration::from_millis(50));
        let mut buffer = vec![0u8; 64 * 1024];
        let (mut next, mut chunks) = (0u64, 0);
        loop {
            assert!(op.lock().queued_items <= MAX_QUEUED_ITEMS, "over the bound");
            let mut len = 0;
            match poll(id, 1000, &mut buffer, &mut len) {
                EngineStatus::Pending => continue,
                EngineStatus::BufferTooSmall => buffer.resize(len as usize, 0),
                EngineStatus::Ok => {
                    chunks += 1;
                    let chunk: Value = serde_json::from_slice(&buffer[..len as usize]).unwrap();
                    let events = chunk["events"].as_array().unwrap();
                    assert!(events.len() <= MAX_QUEUED_ITEMS, "{} queued", events.len());
                    for event in events {
                        assert_eq!(event["item"], json!(next));
                        next += 1;
                    }
                    if chunk["done"] == true {
                        assert_eq!(chunk["result"]["count"], json!(TOTAL));
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                other => panic!("unexpected status {other:?}"),
            }
        }
        assert_eq!(next, TOTAL as u64);
        assert!(chunks >= TOTAL / MAX_QUEUED_ITEMS, "{chunks} chunks");
        assert_eq!(release(id), EngineStatus::Ok);
    }

    /// Cancelling an operation whose producer waits on a full queue ends it: the poll reports
    /// `Cancelled` and the producing task goes away.
    #[test]
    fn cancel_while_the_queue_is_full_ends_the_operation() {
        let (id, op) = spawn_producer(usize::MAX);
        eventually("the queue fills", || queue_is_full(&op));
        assert_eq!(cancel(id), EngineStatus::Ok);
        let mut buffer = vec![0u8; 1 << 20];
        let mut len = 0;
        assert_eq!(poll(id, 1000, &mut buffer, &mut len), EngineStatus::Ok);
        let chunk: Value = serde_json::from_slice(&buffer[..len as usize]).unwrap();
        assert_eq!(chunk["error"]["errorId"], "ManagedIdentity.Cancelled");
        assert_eq!(release(id), EngineStatus::Ok);
        eventually("the producer task ends", || Arc::strong_count(&op) == 1);
        assert!(op.lock().events.is_empty(), "nothing queued after close");
    }

    /// A caller that stops polling and releases does not leave the producer stuck.
    #[test]
    fn release_without_polling_frees_a_waiting_producer() {
        let (id, op) = spawn_producer(usize::MAX);
        eventually("the queue fills", || queue_is_full(&op));
        assert_eq!(op.lock().queued_items, MAX_QUEUED_ITEMS);
        assert_eq!(release(id), EngineStatus::Ok);
        eventually("the producer task ends", || Arc::strong_count(&op) == 1);
    }

    /// Progress, warnings and verbose lines never wait (they may be emitted under a lock).
    #[test]
    fn other_events_are_admitted_when_items_fill_the_queue() {
        let (id, op) = spawn_producer(usize::MAX);
        eventually("the queue fills", || queue_is_full(&op));
        let sink = Sink(op.clone());
        managed_identity_core::events::warn(&sink, "still admitted");
        assert!(matches!(
            op.lock().events.last(),
            Some(Event::Warning { .. })
        ));
        assert_eq!(release(id), EngineStatus::Ok);
        drop(sink);
        eventually("the producer task ends", || Arc::strong_count(&op) == 1);
    }
}
