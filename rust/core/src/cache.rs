//! Token cache. (Skeleton: the MI helper completes this file.)

use crate::clock::SharedClock;

pub struct TokenCache {
    #[allow(dead_code)]
    clock: SharedClock,
}

impl TokenCache {
    pub fn new(clock: SharedClock) -> Self {
        Self { clock }
    }
}
