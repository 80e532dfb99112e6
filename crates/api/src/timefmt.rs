//! RFC 3339 times on the wire, nanoseconds since the Unix epoch inside.

use std::time::SystemTime;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Formats nanoseconds since the epoch as RFC 3339 (UTC); out-of-range values clamp to the epoch.
pub fn rfc3339(ns: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns))
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

/// Formats a system time as RFC 3339.
pub fn rfc3339_system(t: SystemTime) -> String {
    let ns = match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_nanos()).map_or(i64::MIN, |n| -n),
    };
    rfc3339(ns)
}

/// Parses RFC 3339 into nanoseconds since the epoch; the error says what is wrong.
pub fn parse_rfc3339(s: &str) -> Result<i64, String> {
    let t = OffsetDateTime::parse(s, &Rfc3339).map_err(|e| format!("`{s}` is not an RFC 3339 time ({e})"))?;
    i64::try_from(t.unix_timestamp_nanos()).map_err(|_| format!("`{s}` is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let ns = 1_700_000_000_123_000_000;
        assert_eq!(parse_rfc3339(&rfc3339(ns)), Ok(ns));
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert!(parse_rfc3339("yesterday").unwrap_err().contains("yesterday"));
        assert!(parse_rfc3339("2024-13-01T00:00:00Z").is_err());
    }
}
