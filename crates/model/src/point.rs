use std::fmt;

use serde::{Deserialize, Serialize};

/// Identifies a point by its IEC 61850 object reference (`LD/LN.DO[.DA...]`, optionally followed
/// by `[FC]`), so that every protocol adapter names the same datum the same way.
///
/// Validated on construction: a logical-device part, a `/`, a logical node and at least one data
/// object. The string is kept exactly as given because it is part of the signed canonical record.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PointId(String);

/// Why a string is not a usable object reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PointIdError {
    #[error("object reference is empty")]
    Empty,
    #[error("object reference `{0}` is longer than {max} bytes", max = PointId::MAX_LEN)]
    TooLong(String),
    #[error("object reference `{0}` has no `/` between logical device and logical node")]
    MissingLogicalDevice(String),
    #[error("object reference `{0}` has no `.` between logical node and data object")]
    MissingDataObject(String),
    #[error("object reference `{reference}` contains the character {bad:?}, not allowed in IEC 61850 names")]
    BadCharacter { reference: String, bad: char },
}

impl PointId {
    /// IEC 61850-7-2 limits an object reference to 129 characters (plus a functional constraint).
    pub const MAX_LEN: usize = 255;

    /// Validates `reference` as `LD/LN.DO[.DA...][[FC]]`.
    pub fn new(reference: impl Into<String>) -> Result<Self, PointIdError> {
        let reference = reference.into();
        if reference.is_empty() {
            return Err(PointIdError::Empty);
        }
        if reference.len() > Self::MAX_LEN {
            return Err(PointIdError::TooLong(reference));
        }
        if let Some(bad) = reference.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '/' | '.' | '$' | '[' | ']' | '-')))
        {
            return Err(PointIdError::BadCharacter { reference, bad });
        }
        let Some((ld, rest)) = reference.split_once('/') else {
            return Err(PointIdError::MissingLogicalDevice(reference));
        };
        if ld.is_empty() {
            return Err(PointIdError::MissingLogicalDevice(reference));
        }
        match rest.split_once('.') {
            Some((ln, data)) if !ln.is_empty() && !data.is_empty() => Ok(Self(reference)),
            _ => Err(PointIdError::MissingDataObject(reference)),
        }
    }

    /// The reference as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The logical device part (before `/`), used to group points per device.
    pub fn logical_device(&self) -> &str {
        self.0.split_once('/').map_or("", |(ld, _)| ld)
    }
}

/// Point ids compare, hash and order exactly as their text, so maps keyed by them can be searched
/// by `&str` (and by text ranges, e.g. every point under a data object).
impl std::borrow::Borrow<str> for PointId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for PointId {
    type Error = PointIdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<PointId> for String {
    fn from(value: PointId) -> Self {
        value.0
    }
}

impl std::str::FromStr for PointId {
    type Err = PointIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

/// The IEC 61970 CIM identities a point is joined to, so that CIM-based tools (network models,
/// CGMES exchanges) and IEC 61850-based tools talk about the same measurement.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CimIdentity {
    /// mRID of the `Measurement` (`Analog`, `Discrete`, `Accumulator`).
    pub measurement: Option<String>,
    /// mRID of the `PowerSystemResource` (breaker, transformer, line...) measured.
    pub equipment: Option<String>,
    /// mRID of the `Terminal` the measurement is taken at.
    pub terminal: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_references_are_accepted() {
        for r in ["E1Q1SB1/XCBR1.Pos", "LD0/MMXU1.TotW.mag.f", "LD0/MMXU1.PhV.phsA[MX]", "IED1LD/LLN0.Mod.stVal"] {
            assert_eq!(PointId::new(r).unwrap().as_str(), r);
        }
        assert_eq!(PointId::new("E1Q1SB1/XCBR1.Pos").unwrap().logical_device(), "E1Q1SB1");
    }

    #[test]
    fn malformed_references_name_the_problem() {
        assert_eq!(PointId::new(""), Err(PointIdError::Empty));
        assert!(matches!(PointId::new("XCBR1.Pos"), Err(PointIdError::MissingLogicalDevice(_))));
        assert!(matches!(PointId::new("/XCBR1.Pos"), Err(PointIdError::MissingLogicalDevice(_))));
        assert!(matches!(PointId::new("LD/XCBR1"), Err(PointIdError::MissingDataObject(_))));
        assert!(matches!(PointId::new("LD/XCBR1 .Pos"), Err(PointIdError::BadCharacter { bad: ' ', .. })));
        assert!(matches!(PointId::new(format!("LD/LN.{}", "x".repeat(300))), Err(PointIdError::TooLong(_))));
    }
}
