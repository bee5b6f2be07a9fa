//! Injected time: `SystemClock` in production, `FakeClock` in tests (sleeps advance time instantly
//! and are recorded, so retry schedules can be asserted exactly).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> SystemTime;
    fn sleep(&self, duration: Duration) -> Sleep;

    /// Seconds since the Unix epoch.
    fn now_unix(&self) -> u64 {
        self.now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

pub type SharedClock = Arc<dyn Clock>;

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
    fn sleep(&self, duration: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A clock that only moves when told to or when something sleeps on it.
#[derive(Debug, Clone)]
pub struct FakeClock {
    inner: Arc<Mutex<FakeState>>,
}

#[derive(Debug)]
struct FakeState {
    now: SystemTime,
    sleeps: Vec<Duration>,
}

impl FakeClock {
    /// Starts at the given Unix time (seconds).
    pub fn at_unix(secs: u64) -> Self {
        Self {
            inner: Arc::new(Mutex::new(FakeState {
                now: UNIX_EPOCH + Duration::from_secs(secs),
                sleeps: Vec::new(),
            })),
        }
    }

    pub fn advance(&self, by: Duration) {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        s.now += by;
    }

    /// Every sleep requested so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .sleeps
            .clone()
    }
}

impl Clock for FakeClock {
    fn now(&self) -> SystemTime {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).now
    }
    fn sleep(&self, duration: Duration) -> Sleep {
        {
            let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            s.now += duration;
            s.sleeps.push(duration);
        }
        Box::pin(tokio::task::yield_now())
    }
}
