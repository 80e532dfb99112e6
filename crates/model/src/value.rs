use serde::{Deserialize, Serialize};

/// A double-point state (IEC 61850 `Dbpos`, IEC 104 DPI): switchgear reports two contacts, so
/// "moving" and "faulty" are states of their own, not errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DoublePoint {
    /// Between positions (both contacts open), normal while the device moves.
    Intermediate,
    Off,
    On,
    /// Both contacts closed: the position cannot be known.
    Indeterminate,
}

impl DoublePoint {
    /// The two-bit code used by IEC 61850 and IEC 104 alike (0 intermediate, 1 off, 2 on, 3 bad).
    pub const fn code(self) -> u8 {
        match self {
            Self::Intermediate => 0,
            Self::Off => 1,
            Self::On => 2,
            Self::Indeterminate => 3,
        }
    }

    /// Reverses [`Self::code`], ignoring bits above the lowest two.
    pub const fn from_code(code: u8) -> Self {
        match code & 3 {
            0 => Self::Intermediate,
            1 => Self::Off,
            2 => Self::On,
            _ => Self::Indeterminate,
        }
    }
}

/// A typed datum, covering what IEC 104, IEC 61850 and the other field protocols report.
///
/// Measurements keep their protocol representation (normalized, scaled, float) so that a
/// gateway can pass them on without rounding; scaling to engineering units happens where a
/// mapping says so and then yields [`Value::Float`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Value {
    /// A single-point status (IEC 104 SPI, IEC 61850 BOOLEAN stVal).
    Single(bool),
    /// A double-point status (switch positions).
    Double(DoublePoint),
    /// A step position such as a transformer tap (-64..=63), with its transient flag.
    Step { position: i8, transient: bool },
    /// A 32-bit string (IEC 104 BSI).
    Bitstring(u32),
    /// A normalized measurement, the raw 16-bit fraction of full scale (value / 32768).
    Normalized(i16),
    /// A scaled measurement, an integer in engineering units times a fixed factor.
    Scaled(i32),
    /// A floating-point measurement.
    Float(f32),
    /// An integrated total (energy counter) with its sequence number and flags.
    Counter { value: i32, sequence: u8, carry: bool, adjusted: bool },
}

impl Value {
    /// The value as a number for display, trends and thresholds.
    pub fn as_f64(&self) -> f64 {
        match *self {
            Self::Single(b) => f64::from(u8::from(b)),
            Self::Double(d) => f64::from(d.code()),
            Self::Step { position, .. } => f64::from(position),
            Self::Bitstring(b) => f64::from(b),
            Self::Normalized(n) => f64::from(n) / 32768.0,
            Self::Scaled(s) => f64::from(s),
            Self::Float(f) => f64::from(f),
            Self::Counter { value, .. } => f64::from(value),
        }
    }

    /// True for status values, which the IEC 104 side sends ahead of bulk measurements.
    pub const fn is_status(&self) -> bool {
        matches!(self, Self::Single(_) | Self::Double(_) | Self::Step { .. } | Self::Bitstring(_))
    }
}
