//! What a running operation tells its caller before it finishes: progress, warnings, verbose
//! lines and result items (written to the pipeline as they complete). Never carries a secret.

use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Serialize, PartialEq)]
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
        item: Value,
    },
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

    /// The streamed result items, in order.
    pub fn items(&self) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Item { item } => Some(item),
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
