use serde::{Deserialize, Serialize};

/// IEC 61850-7-3 validity: whether a value may be used at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Validity {
    Good,
    Invalid,
    Reserved,
    Questionable,
}

/// IEC 61850-7-3 `Quality`, kept as its 13-bit string so that every protocol's quality maps onto
/// it without loss and it encodes canonically.
///
/// Bit layout (bit 0 first, as in IEC 61850-8-1): 0–1 validity (00 good, 01 invalid,
/// 10 reserved, 11 questionable), 2 overflow, 3 out of range, 4 bad reference, 5 oscillatory,
/// 6 failure, 7 old data, 8 inconsistent, 9 inaccurate, 10 source (1 = substituted), 11 test,
/// 12 operator blocked. Bits 13–15 are always zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub struct Quality(u16);

macro_rules! quality_flags {
    ($($(#[$doc:meta])* $name:ident, $set:ident = $bit:expr;)*) => {
        impl Quality {
            $(
                $(#[$doc])*
                pub const fn $name(self) -> bool {
                    self.0 & (1 << $bit) != 0
                }
                /// Returns a copy with this flag set or cleared.
                #[must_use]
                pub const fn $set(self, on: bool) -> Self {
                    if on { Self(self.0 | (1 << $bit)) } else { Self(self.0 & !(1 << $bit)) }
                }
            )*
        }
    };
}

quality_flags! {
    /// The value exceeded the range its representation can hold.
    overflow, with_overflow = 2;
    /// The value is beyond its predefined measuring range.
    out_of_range, with_out_of_range = 3;
    /// The device's calibration or reference is bad.
    bad_reference, with_bad_reference = 4;
    /// A binary input toggles faster than its filter allows.
    oscillatory, with_oscillatory = 5;
    /// An internal or external supervision function detected a failure.
    failure, with_failure = 6;
    /// The value was not refreshed within the expected time (IEC 104 NT).
    old_data, with_old_data = 7;
    /// An evaluation function found an inconsistency.
    inconsistent, with_inconsistent = 8;
    /// The value does not meet the stated accuracy.
    inaccurate, with_inaccurate = 9;
    /// The value was substituted by an operator or an automatic function (IEC 104 SB).
    substituted, with_substituted = 10;
    /// The value comes from a test and must not be used operationally.
    test, with_test = 11;
    /// Updates are blocked by an operator (IEC 104 BL).
    operator_blocked, with_operator_blocked = 12;
}

impl Quality {
    /// The quality of a value with nothing to report.
    pub const GOOD: Self = Self(0);
    /// Bits 13..15 are outside IEC 61850 quality and never set.
    const DEFINED_BITS: u16 = 0x1fff;

    /// Builds a quality from its bit string, refusing undefined bits.
    pub const fn from_bits(bits: u16) -> Option<Self> {
        if bits & !Self::DEFINED_BITS == 0 { Some(Self(bits)) } else { None }
    }

    /// The bit string, as encoded canonically.
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// Whether the value may be used.
    pub const fn validity(self) -> Validity {
        match self.0 & 0b11 {
            0 => Validity::Good,
            1 => Validity::Invalid,
            2 => Validity::Reserved,
            _ => Validity::Questionable,
        }
    }

    /// Returns a copy with the validity replaced.
    #[must_use]
    pub const fn with_validity(self, validity: Validity) -> Self {
        let v = match validity {
            Validity::Good => 0,
            Validity::Invalid => 1,
            Validity::Reserved => 2,
            Validity::Questionable => 3,
        };
        Self((self.0 & !0b11) | v)
    }

    /// True when validity is good and neither test nor operator-blocked is set: the value can be
    /// acted upon.
    pub const fn is_good(self) -> bool {
        matches!(self.validity(), Validity::Good) && !self.test() && !self.operator_blocked()
    }
}

impl TryFrom<u16> for Quality {
    type Error = String;
    fn try_from(bits: u16) -> Result<Self, Self::Error> {
        Self::from_bits(bits).ok_or_else(|| format!("quality bits {bits:#06x} set undefined bits"))
    }
}

impl From<Quality> for u16 {
    fn from(q: Quality) -> Self {
        q.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_validity_are_independent() {
        let q = Quality::GOOD.with_validity(Validity::Invalid).with_old_data(true).with_operator_blocked(true);
        assert_eq!(q.validity(), Validity::Invalid);
        assert!(q.old_data() && q.operator_blocked() && !q.test());
        assert_eq!(q.bits(), 0b1_0000_1000_0001);
        assert!(!q.is_good());
        assert!(Quality::GOOD.is_good());
        assert_eq!(q.with_old_data(false).bits(), 0b1_0000_0000_0001);
    }

    #[test]
    fn undefined_bits_are_refused() {
        assert!(Quality::from_bits(0x2000).is_none());
        assert!(Quality::from_bits(0x1fff).is_some());
    }
}
