//! `Retry-After` and its millisecond variants: server input, so every parser here is a small pure
//! function that never panics whatever it is given (a later property test runs them on arbitrary
//! strings). Values are capped at [`MAX_RETRY_AFTER`] *before* a `Duration` is built: building
//! one from `1e20` seconds would panic.

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;

/// Longest single wait we honour from a Retry-After header.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

/// Reads `retry-after-ms`, `x-ms-retry-after-ms`, then `Retry-After` (decimal seconds or an
/// HTTP date), capped at [`MAX_RETRY_AFTER`]. A malformed millisecond header falls through to
/// the next one.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    for name in ["retry-after-ms", "x-ms-retry-after-ms"] {
        if let Some(wait) = headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after_ms)
        {
            return Some(wait);
        }
    }
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after_value(value, now)
}

/// One `retry-after-ms` value: a non-negative decimal number of milliseconds.
pub fn parse_retry_after_ms(value: &str) -> Option<Duration> {
    let ms = value.trim().parse::<f64>().ok()?;
    // The sign is judged before dividing: a negative too small for f64 would become -0.0.
    if ms < 0.0 {
        return None;
    }
    capped_seconds(ms / 1000.0)
}

/// Parses one Retry-After value: `10`, `2.128` or an HTTP date.
pub fn parse_retry_after_value(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return capped_seconds(secs);
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(MAX_RETRY_AFTER),
    )
}

/// Seconds → a `Duration` of at most [`MAX_RETRY_AFTER`]; `None` for NaN, infinities and
/// negative values. The cap is applied to the float, so no input can overflow `Duration`.
pub fn capped_seconds(secs: f64) -> Option<Duration> {
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    if secs >= MAX_RETRY_AFTER.as_secs_f64() {
        return Some(MAX_RETRY_AFTER);
    }
    Some(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the property test: "-3.4e-47" milliseconds divided by 1000 underflows to -0.0,
    /// which passed the `< 0.0` check as a zero wait.
    #[test]
    fn a_tiny_negative_is_never_a_wait() {
        assert_eq!(parse_retry_after_ms("-3.369926423879286e-318"), None);
        assert_eq!(parse_retry_after_ms("-0"), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after_ms("1500"),
            Some(Duration::from_millis(1500))
        );
    }

    const NOW: fn() -> SystemTime = || SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);

    #[test]
    fn retry_after_forms() {
        let now = NOW();
        assert_eq!(
            parse_retry_after_value("10", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after_value("2.5", now),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(parse_retry_after_value("99999", now), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after_value("-1", now), None);
        let date = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(
            parse_retry_after_value(&date, now),
            Some(Duration::from_secs(7))
        );
        let mut h = HeaderMap::new();
        h.insert("retry-after-ms", "1500".parse().unwrap());
        h.insert("retry-after", "9".parse().unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::from_millis(1500)));
    }

    /// Issue 8.1: these panicked in `Duration::from_secs_f64` before the cap was applied.
    #[test]
    fn huge_and_non_finite_values_never_panic() {
        let now = NOW();
        for huge in ["1e20", "1e300", "18446744073709551616", "9e18"] {
            assert_eq!(
                parse_retry_after_value(huge, now),
                Some(MAX_RETRY_AFTER),
                "{huge}"
            );
        }
        assert_eq!(parse_retry_after_ms("1e30"), Some(MAX_RETRY_AFTER));
        for bad in ["NaN", "nan", "inf", "-inf", "infinity", "-0.5", "-1e30", ""] {
            assert_eq!(parse_retry_after_value(bad, now), None, "{bad}");
            assert_eq!(parse_retry_after_ms(bad), None, "{bad}");
        }
        let mut h = HeaderMap::new();
        h.insert("retry-after-ms", "1e30".parse().unwrap());
        assert_eq!(retry_after(&h, now), Some(MAX_RETRY_AFTER));
        let mut h = HeaderMap::new();
        h.insert("x-ms-retry-after-ms", "NaN".parse().unwrap());
        h.insert("retry-after", "1e20".parse().unwrap());
        assert_eq!(retry_after(&h, now), Some(MAX_RETRY_AFTER));
    }
}
