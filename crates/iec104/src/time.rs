//! Binary time tags of IEC 60870-5-4 as used by IEC 60870-5-101/104: CP56Time2a (7 octets, full
//! calendar time to the millisecond) and CP24Time2a (3 octets, minute and milliseconds).
//!
//! Decoding is deliberately lenient: every bit pattern of the right length decodes into a value
//! (a real RTU with a flat clock battery sends day 0 or month 0, and a receiver must still be able
//! to show and log what arrived). Calendar plausibility is a separate step ([`Cp56Time2a::validate`],
//! [`Cp56Time2a::to_unix_ms`]) that returns a typed error naming the field. Reserved bits are
//! not kept: encoding writes them as zero, which is the canonical form.

use thiserror::Error;

/// Length of an encoded CP56Time2a.
pub const CP56_LEN: usize = 7;
/// Length of an encoded CP24Time2a.
pub const CP24_LEN: usize = 3;

/// Unix milliseconds of 2000-01-01T00:00:00Z: year 0 of CP56Time2a is taken as 2000.
const UNIX_MS_2000: i64 = 946_684_800_000;
/// Unix milliseconds of 2100-01-01T00:00:00Z, the first instant CP56Time2a cannot hold.
const UNIX_MS_2100: i64 = 4_102_444_800_000;
const MS_PER_DAY: i64 = 86_400_000;

/// Why a time tag cannot be used as a calendar instant, or why a value cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TimeError {
    /// A calendar field is outside its range; `offset` is the octet within the time tag.
    #[error("time tag field {field} at octet {offset} is {value}, outside {min}..={max}")]
    FieldOutOfRange {
        /// Name of the field (`milliseconds`, `minute`, `hour`, `day_of_month`, ...).
        field: &'static str,
        /// Octet offset of the field inside the encoded time tag.
        offset: usize,
        /// The value found.
        value: u16,
        /// Smallest allowed value.
        min: u16,
        /// Largest allowed value.
        max: u16,
    },
    /// The day of month does not exist in that month (30 February).
    #[error("day {day} does not exist in month {month} of year 20{year:02}")]
    NoSuchDay {
        /// Day of month.
        day: u8,
        /// Month 1..=12.
        month: u8,
        /// Year 0..=99 (2000..=2099).
        year: u8,
    },
    /// The instant is before 2000 or after 2099, which CP56Time2a cannot represent.
    #[error("unix time {unix_ms} ms is outside 2000..=2099, the range of CP56Time2a")]
    OutOfEpoch {
        /// The Unix time in milliseconds that was given.
        unix_ms: i64,
    },
    /// Fewer octets than the time tag needs.
    #[error("time tag truncated: needs {needed} octets, {available} available")]
    Truncated {
        /// Octets the tag needs.
        needed: usize,
        /// Octets that were there.
        available: usize,
    },
}

/// Seven-octet binary time (IEC 60870-5-4 §6.8, CP56Time2a), the time tag of every TB/TA type
/// and the payload of clock synchronisation.
///
/// Fields are kept as the wire carries them (local or UTC is a matter of configuration; the
/// `summer_time` bit only says which), so that a decoded tag re-encodes to the same octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Cp56Time2a {
    /// Seconds and milliseconds within the minute, 0..=59999.
    pub milliseconds: u16,
    /// Minute 0..=59.
    pub minute: u8,
    /// IV: the time is not valid (clock not synchronised or failed).
    pub invalid: bool,
    /// Bit 6 of the minute octet: RES1 in IEC 60870-5-104, "substituted" (genuine = 0) in
    /// IEC 60870-5-101 Ed. 2: the time was added by an intermediate device, not by the source.
    pub substituted: bool,
    /// Hour 0..=23.
    pub hour: u8,
    /// SU: summer time is in effect.
    pub summer_time: bool,
    /// Day of month 1..=31.
    pub day_of_month: u8,
    /// Day of week 1 (Monday) ..= 7 (Sunday); 0 means "not used".
    pub day_of_week: u8,
    /// Month 1..=12.
    pub month: u8,
    /// Year 0..=99, meaning 2000..=2099.
    pub year: u8,
}

impl Cp56Time2a {
    /// Decodes the first seven octets of `bytes`. Any bit pattern decodes; reserved bits are
    /// dropped. Use [`Cp56Time2a::validate`] to check the calendar.
    pub fn decode(bytes: &[u8]) -> Result<Self, TimeError> {
        let b: &[u8; CP56_LEN] = bytes
            .get(..CP56_LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or(TimeError::Truncated { needed: CP56_LEN, available: bytes.len() })?;
        Ok(Self {
            milliseconds: u16::from_le_bytes([b[0], b[1]]),
            minute: b[2] & 0x3f,
            substituted: b[2] & 0x40 != 0,
            invalid: b[2] & 0x80 != 0,
            hour: b[3] & 0x1f,
            summer_time: b[3] & 0x80 != 0,
            day_of_month: b[4] & 0x1f,
            day_of_week: b[4] >> 5,
            month: b[5] & 0x0f,
            year: b[6] & 0x7f,
        })
    }

    /// Encodes into seven octets. Fields wider than their bit width are masked, so this cannot
    /// fail; call [`Cp56Time2a::validate`] first when the value did not come from the wire.
    pub fn to_bytes(&self) -> [u8; CP56_LEN] {
        let ms = self.milliseconds.to_le_bytes();
        [
            ms[0],
            ms[1],
            (self.minute & 0x3f) | (u8::from(self.substituted) << 6) | (u8::from(self.invalid) << 7),
            (self.hour & 0x1f) | (u8::from(self.summer_time) << 7),
            (self.day_of_month & 0x1f) | ((self.day_of_week & 0x07) << 5),
            self.month & 0x0f,
            self.year & 0x7f,
        ]
    }

    /// Appends the seven octets to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_bytes());
    }

    /// Checks that every field is in range and the date exists, naming the first bad field.
    pub fn validate(&self) -> Result<(), TimeError> {
        range("milliseconds", 0, self.milliseconds, 0, 59_999)?;
        range("minute", 2, self.minute.into(), 0, 59)?;
        range("hour", 3, self.hour.into(), 0, 23)?;
        range("day_of_month", 4, self.day_of_month.into(), 1, 31)?;
        range("month", 5, self.month.into(), 1, 12)?;
        range("year", 6, self.year.into(), 0, 99)?;
        let year = 2000 + i64::from(self.year);
        if self.day_of_month > days_in_month(year, self.month) {
            return Err(TimeError::NoSuchDay { day: self.day_of_month, month: self.month, year: self.year });
        }
        Ok(())
    }

    /// The instant as Unix milliseconds, reading the fields as UTC in year 2000 + `year`.
    /// The day of week, IV, SU and substituted bits do not take part.
    pub fn to_unix_ms(&self) -> Result<i64, TimeError> {
        self.validate()?;
        let days = days_from_civil(2000 + i64::from(self.year), self.month, self.day_of_month);
        Ok(days * MS_PER_DAY + i64::from(self.hour) * 3_600_000 + i64::from(self.minute) * 60_000 + i64::from(self.milliseconds))
    }

    /// Builds the UTC calendar time of a Unix millisecond instant (2000..=2099), with the day of
    /// week filled in and IV, SU and substituted clear.
    pub fn from_unix_ms(unix_ms: i64) -> Result<Self, TimeError> {
        if !(UNIX_MS_2000..UNIX_MS_2100).contains(&unix_ms) {
            return Err(TimeError::OutOfEpoch { unix_ms });
        }
        let days = unix_ms.div_euclid(MS_PER_DAY);
        let in_day = unix_ms.rem_euclid(MS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        // 1970-01-01 was a Thursday (ISO weekday 4).
        let dow = (days + 3).rem_euclid(7) + 1;
        // All narrowing below is of values bounded by the arithmetic above (the epoch check
        // keeps year in 2000..=2099); try_from keeps it honest without a panic path.
        let narrow = |v: i64| u8::try_from(v).unwrap_or(0);
        Ok(Self {
            milliseconds: u16::try_from(in_day % 60_000).unwrap_or(0),
            minute: narrow(in_day / 60_000 % 60),
            invalid: false,
            substituted: false,
            hour: narrow(in_day / 3_600_000),
            summer_time: false,
            day_of_month: day,
            day_of_week: narrow(dow),
            month,
            year: narrow(year - 2000),
        })
    }
}

/// Three-octet binary time (IEC 60870-5-4, CP24Time2a): milliseconds and minute only. Used by
/// the IEC 60870-5-101 TA types; IEC 60870-5-104 replaced it by CP56Time2a everywhere, so this
/// exists for gateways that relay 101 data and for completeness of the time layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Cp24Time2a {
    /// Seconds and milliseconds within the minute, 0..=59999.
    pub milliseconds: u16,
    /// Minute 0..=59.
    pub minute: u8,
    /// IV: the time is not valid.
    pub invalid: bool,
    /// Bit 6 of the minute octet (RES1 / substituted), as in [`Cp56Time2a::substituted`].
    pub substituted: bool,
}

impl Cp24Time2a {
    /// Decodes the first three octets of `bytes`; any bit pattern decodes.
    pub fn decode(bytes: &[u8]) -> Result<Self, TimeError> {
        let b: &[u8; CP24_LEN] = bytes
            .get(..CP24_LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or(TimeError::Truncated { needed: CP24_LEN, available: bytes.len() })?;
        Ok(Self {
            milliseconds: u16::from_le_bytes([b[0], b[1]]),
            minute: b[2] & 0x3f,
            substituted: b[2] & 0x40 != 0,
            invalid: b[2] & 0x80 != 0,
        })
    }

    /// Encodes into three octets (fields masked to their widths).
    pub fn to_bytes(&self) -> [u8; CP24_LEN] {
        let ms = self.milliseconds.to_le_bytes();
        [ms[0], ms[1], (self.minute & 0x3f) | (u8::from(self.substituted) << 6) | (u8::from(self.invalid) << 7)]
    }

    /// Appends the three octets to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_bytes());
    }

    /// Checks milliseconds and minute ranges.
    pub fn validate(&self) -> Result<(), TimeError> {
        range("milliseconds", 0, self.milliseconds, 0, 59_999)?;
        range("minute", 2, self.minute.into(), 0, 59)
    }
}

impl From<Cp56Time2a> for Cp24Time2a {
    /// The minute-and-millisecond part of a full time tag.
    fn from(t: Cp56Time2a) -> Self {
        Self { milliseconds: t.milliseconds, minute: t.minute, invalid: t.invalid, substituted: t.substituted }
    }
}

fn range(field: &'static str, offset: usize, value: u16, min: u16, max: u16) -> Result<(), TimeError> {
    if (min..=max).contains(&value) { Ok(()) } else { Err(TimeError::FieldOutOfRange { field, offset, value, min, max }) }
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
    let (m, d) = (i64::from(month), i64::from(day));
    let y = if m <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`]: (year, month, day).
fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, u8::try_from(m).unwrap_or(0), u8::try_from(d).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cp56_layout_matches_standard_bit_positions() {
        // 2009-08-13 (Thursday) 10:21:33.456, summer time, substituted, invalid.
        let t = Cp56Time2a {
            milliseconds: 33_456,
            minute: 21,
            invalid: true,
            substituted: true,
            hour: 10,
            summer_time: true,
            day_of_month: 13,
            day_of_week: 4,
            month: 8,
            year: 9,
        };
        let b = t.to_bytes();
        assert_eq!(b, [0xb0, 0x82, 0x80 | 0x40 | 21, 0x80 | 10, (4 << 5) | 13, 8, 9]);
        assert_eq!(Cp56Time2a::decode(&b), Ok(t));
    }

    #[test]
    fn reserved_bits_are_dropped_and_any_pattern_decodes() {
        let t = Cp56Time2a::decode(&[0xff; 7]).unwrap();
        assert_eq!(t.milliseconds, 0xffff);
        assert_eq!((t.minute, t.hour, t.day_of_month, t.day_of_week, t.month, t.year), (63, 31, 31, 7, 15, 127));
        assert!(matches!(t.validate(), Err(TimeError::FieldOutOfRange { field: "milliseconds", offset: 0, .. })));
        assert_eq!(t.to_bytes(), [0xff, 0xff, 0xff, 0x9f, 0xff, 0x0f, 0x7f]);
    }

    #[test]
    fn truncated_time_is_an_error_not_a_panic() {
        assert_eq!(Cp56Time2a::decode(&[1, 2, 3]), Err(TimeError::Truncated { needed: 7, available: 3 }));
        assert_eq!(Cp24Time2a::decode(&[1]), Err(TimeError::Truncated { needed: 3, available: 1 }));
    }

    #[test]
    fn unix_round_trip_and_weekday() {
        // 2024-02-29T23:59:59.999Z, a Thursday.
        let ms = 1_709_251_199_999;
        let t = Cp56Time2a::from_unix_ms(ms).unwrap();
        assert_eq!((t.year, t.month, t.day_of_month, t.day_of_week), (24, 2, 29, 4));
        assert_eq!((t.hour, t.minute, t.milliseconds), (23, 59, 59_999));
        assert_eq!(t.to_unix_ms(), Ok(ms));
        assert_eq!(Cp56Time2a::from_unix_ms(UNIX_MS_2000).unwrap().day_of_week, 6); // Saturday
        assert_eq!(Cp56Time2a::from_unix_ms(UNIX_MS_2000).unwrap().to_unix_ms(), Ok(UNIX_MS_2000));
        let last = UNIX_MS_2100 - 1;
        assert_eq!(Cp56Time2a::from_unix_ms(last).unwrap().to_unix_ms(), Ok(last));
        assert_eq!(Cp56Time2a::from_unix_ms(UNIX_MS_2100), Err(TimeError::OutOfEpoch { unix_ms: UNIX_MS_2100 }));
        assert_eq!(Cp56Time2a::from_unix_ms(0), Err(TimeError::OutOfEpoch { unix_ms: 0 }));
    }

    #[test]
    fn impossible_dates_are_named() {
        let mut t = Cp56Time2a::from_unix_ms(UNIX_MS_2000).unwrap();
        t.month = 2;
        t.day_of_month = 30;
        assert_eq!(t.to_unix_ms(), Err(TimeError::NoSuchDay { day: 30, month: 2, year: 0 }));
        t.day_of_month = 0;
        assert!(matches!(t.validate(), Err(TimeError::FieldOutOfRange { field: "day_of_month", offset: 4, .. })));
    }

    #[test]
    fn cp24_layout() {
        let t = Cp24Time2a { milliseconds: 1000, minute: 59, invalid: true, substituted: false };
        assert_eq!(t.to_bytes(), [0xe8, 0x03, 0x80 | 59]);
        assert_eq!(Cp24Time2a::decode(&t.to_bytes()), Ok(t));
        assert!(t.validate().is_ok());
    }
}
