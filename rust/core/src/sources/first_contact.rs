//! First contact with IMDS (issue 8.7), the way azure-identity does it: off Azure nothing
//! listens at 169.254.169.254 and every connect would wait out the full connect and request
//! timeouts. So the first request to an IMDS endpoint in this process is bounded by
//! [`FIRST_CONTACT_TIMEOUT`]; once the endpoint has answered anything, the answer is
//! remembered for the process and the normal timeouts apply. A first token request that times
//! out is followed by one short probe without the `Metadata` header (IMDS answers it at once,
//! without asking Entra ID): an answer means IMDS is there but slow, so the acquisition goes on
//! with the normal timeouts; no answer means there is no managed-identity endpoint here.
//!
//! Only answers are remembered: an endpoint that did not answer is tried again (within the same
//! short bound) on the next connect, so a process started before the network was up recovers.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use url::Url;

/// Bound of the first request to an IMDS endpoint (azure-identity's probe uses 1 s).
pub const FIRST_CONTACT_TIMEOUT: Duration = Duration::from_secs(1);

/// The IMDS endpoints that answered in this process (scheme, host and port).
#[derive(Debug, Default)]
pub struct FirstContact {
    answered: Mutex<HashSet<String>>,
}

impl FirstContact {
    pub fn new() -> Self {
        Self::default()
    }

    /// True once the endpoint of `url` answered an HTTP request in this process.
    pub fn answered(&self, url: &Url) -> bool {
        self.lock().contains(&origin(url))
    }

    /// Remembers that the endpoint of `url` answered.
    pub fn remember(&self, url: &Url) {
        self.lock().insert(origin(url));
    }

    /// The timeout of an attempt with `left` remaining: bounded on first contact.
    pub fn attempt_timeout(&self, url: &Url, left: Duration) -> Duration {
        if self.answered(url) {
            left
        } else {
            left.min(FIRST_CONTACT_TIMEOUT)
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.answered.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_answer_lifts_the_first_contact_bound_and_per_endpoint() {
        let contact = FirstContact::new();
        let a = Url::parse("http://169.254.169.254/metadata/identity/oauth2/token?x=1").expect("a");
        let b = Url::parse("http://127.0.0.1:9/metadata/identity/oauth2/token").expect("b");
        let long = Duration::from_secs(20);
        assert_eq!(contact.attempt_timeout(&a, long), FIRST_CONTACT_TIMEOUT);
        assert_eq!(
            contact.attempt_timeout(&a, Duration::from_millis(300)),
            Duration::from_millis(300)
        );
        contact.remember(&a);
        assert_eq!(contact.attempt_timeout(&a, long), long);
        assert_eq!(contact.attempt_timeout(&b, long), FIRST_CONTACT_TIMEOUT);
    }
}
