//! What a running operation tells its caller before it finishes: progress, warnings, verbose
//! lines and result items (written to the pipeline as they complete). Never carries a secret.
//! Items are typed rows ([`Row`]); the FFI edge serializes them, so core renders no JSON.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

/// One output row: any typed value the edge can serialize (a grant result, an assignment, a
/// report line, a source report, or Graph's own JSON for `Invoke-GraphApiRequest`).
pub trait Row: erased_serde::Serialize + fmt::Debug + Send + Sync {}
impl<T: Serialize + fmt::Debug + Send + Sync> Row for T {}
erased_serde::serialize_trait_object!(Row);

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Event {
    Progress {
        activity: String,
        status: String,
        /// 0..=100, or -1 when unknown.
        percent: i32,
        completed: bool,
    },
    Warning {
        message: String,
    },
    Verbose {
        message: String,
    },
    /// One output object (e.g. one grant result), written to the pipeline immediately.
    Item {
        item: Arc<dyn Row>,
    },
}

/// Items are equal when they serialize alike (tests compare events).
impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Event::Item { item: a }, Event::Item { item: b }) => {
                serde_json::to_value(&**a).ok() == serde_json::to_value(&**b).ok()
            }
            (Event::Item { .. }, _) | (_, Event::Item { .. }) => false,
            (a, b) => serde_json::to_value(a).ok() == serde_json::to_value(b).ok(),
        }
    }
}

impl Event {
    /// An item event for one row.
    pub fn item(row: impl Row + 'static) -> Self {
        Event::Item {
            item: Arc::new(row),
        }
    }
}

/// Streams one row.
pub fn item(sink: &dyn EventSink, row: impl Row + 'static) {
    sink.emit(Event::item(row));
}

pub trait EventSink: Send + Sync {
    fn emit(&self, event: Event);
}

/// Discards everything (for callers that only want the final result).
pub struct NullSink;
impl EventSink for NullSink {
    fn emit(&self, _event: Event) {}
}

/// Collects events in memory (tests).
#[derive(Default)]
pub struct VecSink(pub std::sync::Mutex<Vec<Event>>);
impl EventSink for VecSink {
    fn emit(&self, event: Event) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(event);
    }
}
impl VecSink {
    pub fn events(&self) -> Vec<Event> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The streamed result items, in order, as the edge serializes them (tests read fields).
    pub fn items(&self) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Item { item } => Some(serde_json::to_value(&*item).unwrap_or(Value::Null)),
                _ => None,
            })
            .collect()
    }
}

/// Helpers so call sites stay short.
pub fn warn(sink: &dyn EventSink, message: impl Into<String>) {
    sink.emit(Event::Warning {
        message: message.into(),
    });
}
pub fn verbose(sink: &dyn EventSink, message: impl Into<String>) {
    sink.emit(Event::Verbose {
        message: message.into(),
    });
}
