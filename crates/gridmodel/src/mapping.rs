//! The explicit mapping file: the first join rule, for links the SCD cannot express or gets
//! wrong, and for protocol addresses.
//!
//! ```toml
//! # A key is a point id, or a data object reference covering all points of that data object.
//! [points."AMS_P1MEAS/MMXU2.TotW"]
//! measurement = "gt-m-tr21-p1"          # CIM Analog/Discrete/Accumulator mRID
//! equipment = "e8a7eaec-51d6-4571-b3d9-c36d52073c33"   # optional: taken from the measurement
//! terminal = "e3e0c496-5837-4f0f-a596-cc421940f73f"    # optional: taken from the measurement
//!
//! [points."AMS_P1CTRL/XCBR1.Pos.stVal[ST]"]
//! measurement = "gt-m-b1-pos"
//! iec104 = { common_address = 1, ioa = 1010 }          # only on a key naming one point
//! ```
//!
//! With a CGMES model the mRIDs must exist with the right class and agree with each other
//! (the measurement's resource is the equipment, its terminal the terminal, the terminal belongs
//! to the equipment); errors name the key. Without CGMES the mRIDs are taken as written.

use std::collections::BTreeMap;

use gridtrust_cgmes::{CgmesModel, CgmesObject};
use gridtrust_model::{CimIdentity, PointId};
use serde::Deserialize;

use crate::error::ModelError;

/// A parsed mapping file (not yet checked against the models: see [`Mapping::resolve`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mapping {
    /// The file name errors carry.
    pub file: String,
    pub entries: BTreeMap<String, MappingEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingToml {
    #[serde(default)]
    points: BTreeMap<String, MappingEntry>,
}

/// The links and addresses given for one key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingEntry {
    pub measurement: Option<String>,
    pub equipment: Option<String>,
    pub terminal: Option<String>,
    pub iec104: Option<Iec104Address>,
}

/// An IEC 60870-5-104 address (common address of ASDU + information object address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Iec104Address {
    pub common_address: u16,
    pub ioa: u32,
}

/// A mapping entry checked against the CGMES model, with missing identities filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedEntry {
    pub key: String,
    pub cim: CimIdentity,
    pub iec104: Option<Iec104Address>,
}

/// Largest IOA IEC 60870-5-104 can carry (3 octets).
const MAX_IOA: u32 = 0x00FF_FFFF;

impl Mapping {
    /// Parses mapping TOML; `file` is the name errors carry.
    pub fn from_toml(file: &str, text: &str) -> Result<Self, ModelError> {
        let parsed: MappingToml = toml::from_str(text)
            .map_err(|e| ModelError::MappingSyntax { file: file.to_owned(), message: e.to_string().trim_end().to_owned() })?;
        Ok(Mapping { file: file.to_owned(), entries: parsed.points })
    }

    fn key_path(key: &str) -> String {
        format!("points.\"{key}\"")
    }

    /// Checks every entry (syntax of the key, mRIDs against `cgmes` when given, IEC 104 address
    /// uniqueness): the good entries with identities completed, and every problem found.
    pub fn resolve(&self, cgmes: Option<&CgmesModel>) -> (Vec<ResolvedEntry>, Vec<ModelError>) {
        let mut errors = Vec::new();
        let mut resolved = Vec::new();
        let mut iec104_owner: BTreeMap<(u16, u32), &str> = BTreeMap::new();
        for (key, entry) in &self.entries {
            let fail = |field: Option<&str>, message: String| ModelError::Mapping {
                file: self.file.clone(),
                key: match field {
                    Some(field) => format!("{}.{field}", Self::key_path(key)),
                    None => Self::key_path(key),
                },
                message,
            };
            if let Err(e) = PointId::new(key.as_str()) {
                errors.push(fail(None, format!("not a point or data object reference: {e}")));
                continue;
            }
            if entry.measurement.is_none() && entry.equipment.is_none() && entry.terminal.is_none() && entry.iec104.is_none() {
                errors.push(fail(None, "gives nothing: set measurement, equipment, terminal or iec104".to_owned()));
                continue;
            }
            if let Some(address) = entry.iec104 {
                if address.ioa > MAX_IOA {
                    errors.push(fail(Some("iec104.ioa"), format!("{} does not fit in 3 octets (max {MAX_IOA})", address.ioa)));
                    continue;
                }
                if let Some(first) = iec104_owner.insert((address.common_address, address.ioa), key) {
                    errors.push(fail(
                        Some("iec104"),
                        format!("common address {} IOA {} is already used by `{first}`", address.common_address, address.ioa),
                    ));
                    continue;
                }
            }
            let strip = |m: &Option<String>| m.as_deref().map(|m| m.strip_prefix('_').unwrap_or(m).to_owned());
            let mut cim = CimIdentity {
                measurement: strip(&entry.measurement),
                equipment: strip(&entry.equipment),
                terminal: strip(&entry.terminal),
            };
            if let Some(cgmes) = cgmes {
                match complete_against(cgmes, &mut cim) {
                    Ok(()) => {}
                    Err((field, message)) => {
                        errors.push(fail(Some(field), message));
                        continue;
                    }
                }
            }
            resolved.push(ResolvedEntry { key: key.clone(), cim, iec104: entry.iec104 });
        }
        (resolved, errors)
    }
}

/// Checks classes and consistency of the given mRIDs and fills equipment and terminal from the
/// measurement (and equipment from the terminal).
fn complete_against(cgmes: &CgmesModel, cim: &mut CimIdentity) -> Result<(), (&'static str, String)> {
    if let Some(mrid) = cim.measurement.clone() {
        let Some(CgmesObject::Measurement(measurement)) = cgmes.get(&mrid) else {
            return Err(("measurement", format!("`{mrid}` is not an Analog, Discrete or Accumulator in the CGMES files")));
        };
        if let Some(resource) = &measurement.power_system_resource {
            match &cim.equipment {
                Some(given) if given != resource => {
                    return Err(("equipment", format!("`{given}` is not the resource of measurement `{mrid}`, which is `{resource}`")));
                }
                _ => cim.equipment = Some(resource.clone()),
            }
        }
        if let Some(at) = &measurement.terminal {
            match &cim.terminal {
                Some(given) if given != at => {
                    return Err(("terminal", format!("`{given}` is not the terminal of measurement `{mrid}`, which is `{at}`")));
                }
                _ => cim.terminal = Some(at.clone()),
            }
        }
    }
    if let Some(mrid) = cim.terminal.clone() {
        let Some(CgmesObject::Terminal(terminal)) = cgmes.get(&mrid) else {
            return Err(("terminal", format!("`{mrid}` is not a Terminal in the CGMES files")));
        };
        if let Some(owner) = &terminal.conducting_equipment {
            match &cim.equipment {
                Some(given) if given != owner => {
                    return Err(("terminal", format!("terminal `{mrid}` belongs to `{owner}`, not to the equipment `{given}`")));
                }
                _ => cim.equipment = Some(owner.clone()),
            }
        }
    }
    match &cim.equipment {
        Some(mrid) if cgmes.equipment(mrid).is_none() => Err(("equipment", format!("`{mrid}` is not equipment in the CGMES files"))),
        _ => Ok(()),
    }
}

/// Whether mapping key `key` covers point `point`: equal, or `key` is a data object (or data
/// attribute) reference above it.
pub(crate) fn covers(key: &str, point: &str) -> bool {
    point.strip_prefix(key).is_some_and(|rest| rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_and_bad_toml_name_the_place() {
        let error = Mapping::from_toml("m.toml", "[points.\"LD/LN.DO\"]\nmeasurment = \"x\"\n").unwrap_err();
        let text = error.to_string();
        assert!(text.starts_with("m.toml: ") && text.contains("measurment") && text.contains("line 2"), "{text}");
    }

    #[test]
    fn entries_without_cgmes_are_taken_as_written_and_checked_for_shape() {
        let mapping = Mapping::from_toml(
            "m.toml",
            r#"
            [points."LD/MMXU1.TotW"]
            measurement = "_m1"
            [points."nonsense"]
            equipment = "e"
            [points."LD/MMXU1.Hz"]
            [points."LD/XCBR1.Pos"]
            iec104 = { common_address = 1, ioa = 5 }
            [points."LD/XSWI1.Pos"]
            iec104 = { common_address = 1, ioa = 5 }
            "#,
        )
        .unwrap();
        let (good, errors) = mapping.resolve(None);
        assert_eq!(good.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(), ["LD/MMXU1.TotW", "LD/XCBR1.Pos"]);
        assert_eq!(good[0].cim.measurement.as_deref(), Some("m1"), "the RDF `_` is dropped");
        let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 3, "{errors:#?}");
        assert!(errors.iter().any(|e| e.starts_with("m.toml: points.\"nonsense\": not a point")), "{errors:#?}");
        assert!(errors.iter().any(|e| e.starts_with("m.toml: points.\"LD/MMXU1.Hz\": gives nothing")), "{errors:#?}");
        assert!(
            errors.iter().any(|e| e.contains("points.\"LD/XSWI1.Pos\".iec104: common address 1 IOA 5 is already used by `LD/XCBR1.Pos`")),
            "{errors:#?}"
        );
    }

    #[test]
    fn keys_cover_their_points() {
        assert!(covers("LD/MMXU1.TotW", "LD/MMXU1.TotW.mag.f[MX]"));
        assert!(covers("LD/MMXU1.TotW.mag.f[MX]", "LD/MMXU1.TotW.mag.f[MX]"));
        assert!(!covers("LD/MMXU1.TotW", "LD/MMXU1.TotWh.actVal[ST]"));
    }
}
