//! Throttled progress events (at most one every 200 ms of the injected clock, plus a final
//! `completed = true`).

use std::time::{Duration, SystemTime};

use crate::clock::SharedClock;
use crate::events::{Event, EventSink};

const INTERVAL: Duration = Duration::from_millis(200);

pub struct Progress<'s> {
    sink: &'s dyn EventSink,
    clock: SharedClock,
    activity: String,
    last: Option<SystemTime>,
    finished: bool,
}

impl<'s> Progress<'s> {
    pub fn new(sink: &'s dyn EventSink, clock: SharedClock, activity: impl Into<String>) -> Self {
        Progress {
            sink,
            clock,
            activity: activity.into(),
            last: None,
            finished: false,
        }
    }

    /// Reports `done` of `total` (`phase` prefixes the status when not empty).
    pub fn update(&mut self, done: usize, total: usize, phase: &str) {
        let now = self.clock.now();
        if let Some(last) = self.last {
            if now.duration_since(last).unwrap_or_default() < INTERVAL {
                return;
            }
        }
        self.last = Some(now);
        let percent = (done.min(total) * 100).checked_div(total).unwrap_or(100) as i32;
        let status = if phase.is_empty() {
            format!("{done} of {total}")
        } else {
            format!("{phase}: {done} of {total}")
        };
        self.sink.emit(Event::Progress {
            activity: self.activity.clone(),
            status,
            percent,
            completed: false,
        });
    }

    /// The final event (idempotent).
    pub fn finish(&mut self) {
        if !self.finished {
            self.finished = true;
            self.sink.emit(Event::Progress {
                activity: self.activity.clone(),
                status: "Completed".into(),
                percent: 100,
                completed: true,
            });
        }
    }
}
