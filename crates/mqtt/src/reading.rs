//! What every payload parser produces: named readings with value, unit, time and quality, before
//! a topic's mapping turns them into points.

use gridtrust_model::{Quality, TimeQuality, Timestamp};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::units::Unit;

/// One value a payload carried.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    /// What the payload calls it: the resolved SenML name, the JSON pointer that selected it, or
    /// the CIM ReadingType code.
    pub name: String,
    /// The meter a CIM reading belongs to (its mRID or first name); `None` in the other formats,
    /// whose names already say which device they come from.
    pub meter: Option<String>,
    pub value: f64,
    /// The unit the payload states, when it states one.
    pub unit: Option<Unit>,
    /// When the meter took the value, and how far that time can be trusted.
    pub source_time: Option<(Timestamp, TimeQuality)>,
    pub quality: Quality,
}

/// Seconds since the Unix epoch (fractional, as SenML and many JSON meters send them) as a
/// timestamp; `None` when not finite or beyond what nanoseconds in an i64 can hold (year 2262).
///
/// The fraction is rounded to whole microseconds: an f64 near today's epoch seconds resolves
/// about 0.24 µs, so finer digits are representation noise, not the meter's.
pub(crate) fn timestamp_from_seconds(seconds: f64) -> Option<Timestamp> {
    // ±9.2e9 s is the i64 nanosecond range; checking before the casts keeps them exact.
    if !seconds.is_finite() || seconds.abs() >= 9.2e9 {
        return None;
    }
    let whole = seconds.floor();
    let micros = ((seconds - whole) * 1e6).round();
    // Both are whole numbers (floor, round) and bounded (|whole| < 9.2e9 by the check above,
    // micros in 0..=1e6), so the casts are exact and the sum cannot overflow.
    #[allow(clippy::cast_possible_truncation)]
    let nanos = (whole as i64) * 1_000_000_000 + (micros as i64) * 1_000;
    Some(Timestamp(nanos))
}

/// An RFC 3339 date-time (`2019-09-13T15:30:00+03:00`, the profile of xs:dateTime CIM messages
/// use, with a mandatory UTC offset) as a timestamp; `None` when it is not one.
pub(crate) fn timestamp_from_rfc3339(text: &str) -> Option<Timestamp> {
    let t = OffsetDateTime::parse(text.trim(), &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos()).ok().map(Timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_convert_and_absurd_ones_are_refused() {
        assert_eq!(timestamp_from_seconds(1.5), Some(Timestamp(1_500_000_000)));
        assert_eq!(timestamp_from_seconds(-1.0), Some(Timestamp(-1_000_000_000)));
        assert_eq!(timestamp_from_seconds(f64::NAN), None);
        assert_eq!(timestamp_from_seconds(1e300), None);
    }

    #[test]
    fn rfc3339_with_offset_converts_to_utc() {
        // 15:30 at +03:00 is 12:30 UTC.
        assert_eq!(timestamp_from_rfc3339("2019-09-13T15:30:00+03:00"), Some(Timestamp::from_unix_millis(1_568_377_800_000)));
        assert_eq!(timestamp_from_rfc3339("2019-09-13T12:30:00Z"), Some(Timestamp::from_unix_millis(1_568_377_800_000)));
        assert_eq!(timestamp_from_rfc3339("2019-09-13T15:30:00"), None, "no offset: ambiguous");
        assert_eq!(timestamp_from_rfc3339("yesterday"), None);
    }
}
