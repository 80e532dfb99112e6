use serde::{Deserialize, Serialize};

/// A point in time as nanoseconds since the Unix epoch (UTC), the one clock every protocol's
/// time tag is converted to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The current system time; roles take time from here and pass it into sans-IO code.
    pub fn now() -> Self {
        let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Self(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }

    /// Builds a timestamp from milliseconds since the epoch (the resolution of CP56Time2a).
    pub const fn from_unix_millis(ms: i64) -> Self {
        Self(ms.saturating_mul(1_000_000))
    }

    /// Milliseconds since the epoch, rounding towards negative infinity.
    pub const fn unix_millis(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }

    /// Nanoseconds since the epoch.
    pub const fn unix_nanos(self) -> i64 {
        self.0
    }
}

/// How far a source timestamp can be trusted, joining IEC 61850 `TimeQuality` and the IEC 104
/// CP56Time2a flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TimeQuality {
    /// The time is invalid (CP56Time2a IV, IEC 61850 ClockFailure).
    pub invalid: bool,
    /// The clock was not synchronised to a reference (IEC 61850 ClockNotSynchronized).
    pub not_synchronized: bool,
    /// The time was substituted by an intermediate device, not taken at the source (CP56Time2a
    /// RES1 / SU in IEC 60870-5-101 Ed.2 sense of "substituted time").
    pub substituted: bool,
    /// The leap-second offset is known (IEC 61850 LeapSecondsKnown).
    pub leap_seconds_known: bool,
    /// Number of significant bits in the fraction of second (0..=24), 31 when unspecified.
    pub accuracy_bits: u8,
}

impl TimeQuality {
    /// Accuracy not stated, the IEC 61850 default.
    pub const UNSPECIFIED_ACCURACY: u8 = 31;

    /// A time from a synchronised source with nothing to report.
    pub const GOOD: Self = Self {
        invalid: false,
        not_synchronized: false,
        substituted: false,
        leap_seconds_known: false,
        accuracy_bits: Self::UNSPECIFIED_ACCURACY,
    };

    /// Packs the flags into one byte for the canonical encoding: bit 0 invalid, 1 not
    /// synchronised, 2 substituted, 3 leap seconds known.
    pub const fn flag_bits(self) -> u8 {
        (self.invalid as u8) | (self.not_synchronized as u8) << 1 | (self.substituted as u8) << 2 | (self.leap_seconds_known as u8) << 3
    }

    /// Reverses [`Self::flag_bits`]; `None` when undefined bits or an impossible accuracy are set.
    pub const fn from_parts(flags: u8, accuracy_bits: u8) -> Option<Self> {
        if flags & 0xf0 != 0 || (accuracy_bits > 24 && accuracy_bits != Self::UNSPECIFIED_ACCURACY) {
            return None;
        }
        Some(Self {
            invalid: flags & 1 != 0,
            not_synchronized: flags & 2 != 0,
            substituted: flags & 4 != 0,
            leap_seconds_known: flags & 8 != 0,
            accuracy_bits,
        })
    }
}

impl Default for TimeQuality {
    fn default() -> Self {
        Self::GOOD
    }
}
