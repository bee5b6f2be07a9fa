//! Token-bucket throttling of Graph requests.

use std::time::Instant;

use serde_json::json;

use super::{Ctx, GraphResponse};
use crate::seed;
use crate::state::{lock, App};
use crate::ThrottleConfig;

#[derive(Debug, Clone)]
pub struct Bucket {
    tokens: f64,
    last: Instant,
    cfg: ThrottleConfig,
}

impl Bucket {
    /// A full bucket.
    pub fn new(cfg: ThrottleConfig) -> Self {
        Bucket {
            tokens: f64::from(cfg.capacity),
            last: Instant::now(),
            cfg,
        }
    }

    /// Takes one token, or returns the seconds until one is available.
    pub fn take(&mut self) -> Result<(), f64> {
        let now = Instant::now();
        let rate = self.cfg.refill_per_sec.max(0.0);
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * rate)
            .min(f64::from(self.cfg.capacity));
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else if rate > 0.0 {
            Err((1.0 - self.tokens) / rate)
        } else {
            Err(60.0)
        }
    }
}

/// Seconds as a `Retry-After` value: an integer when whole, else up to 3 decimals.
pub fn format_retry_after(secs: f64) -> String {
    let ms = (secs * 1000.0).ceil().max(1.0) as u64;
    let (whole, frac) = (ms / 1000, ms % 1000);
    if frac == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{frac:03}")
            .trim_end_matches('0')
            .to_string()
    }
}

/// Charges one request to the bucket; `Err(retry_after)` when throttled.
pub fn take(app: &App) -> Result<(), String> {
    match lock(&app.throttle).as_mut() {
        None => Ok(()),
        Some(bucket) => bucket.take().map_err(format_retry_after),
    }
}

/// The 429 answer.
pub fn throttled(ctx: &Ctx, retry_after: Option<&str>, app_id: &str) -> GraphResponse {
    let mut inner = ctx.inner_error();
    inner["code"] = json!("429");
    inner["status"] = json!("429");
    inner["message"] = json!("Please retry after");
    let body = json!({"error": {"code": "TooManyRequests", "message": "Please retry again later.", "innerError": inner}});
    let mut resp = GraphResponse::new(429, Some(body))
        .header(
            "x-ms-throttle-scope",
            &format!("Tenant_Application/ReadWrite/{app_id}/{}", seed::TENANT_ID),
        )
        .header("x-ms-throttle-information", "ResourceUnitLimitExceeded");
    if let Some(ra) = retry_after {
        resp = resp.header("Retry-After", ra);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_format() {
        assert_eq!(format_retry_after(2.0), "2");
        assert_eq!(format_retry_after(0.5), "0.5");
        assert_eq!(format_retry_after(2.1279), "2.128");
        assert_eq!(format_retry_after(0.0), "0.001");
    }

    #[test]
    fn bucket_empties() {
        let mut b = Bucket::new(ThrottleConfig {
            capacity: 2,
            refill_per_sec: 0.5,
        });
        assert!(b.take().is_ok());
        assert!(b.take().is_ok());
        let wait = b.take().unwrap_err();
        assert!(wait > 1.9 && wait <= 2.0);
    }
}
