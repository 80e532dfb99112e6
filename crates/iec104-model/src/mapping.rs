//! Mapping files: which IEC 104 information object address carries which point.
//!
//! ```toml
//! [[point]]
//! id = "F1/MMXU1.A.phsA"     # IEC 61850 object reference
//! ioa = 1001
//! type = "float"            # single | double | step | bitstring | normalized | scaled | float | counter
//! unit = "A"
//! scale = 0.1               # optional: engineering value = raw * scale + offset (a float point)
//!
//! [[command]]
//! id = "F1/XCBR1.Pos"       # the point the command operates
//! ioa = 2001
//! type = "double"           # single | double | step | setpoint-normalized | setpoint-scaled | setpoint-float
//! sbo = true                # select-before-operate required
//! ```

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use gridtrust_config::{ConfigError, read_toml};
use gridtrust_iec104::asdu::{IOA_MAX, TypeId};
use gridtrust_model::PointId;

/// The kinds of monitored information, named as in the mapping file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MonitorKind {
    Single,
    Double,
    Step,
    Bitstring,
    Normalized,
    Scaled,
    Float,
    Counter,
}

impl MonitorKind {
    /// The IEC 104 type without time tag (what interrogation answers carry).
    pub fn type_id(self) -> TypeId {
        match self {
            Self::Single => TypeId::MSpNa1,
            Self::Double => TypeId::MDpNa1,
            Self::Step => TypeId::MStNa1,
            Self::Bitstring => TypeId::MBoNa1,
            Self::Normalized => TypeId::MMeNa1,
            Self::Scaled => TypeId::MMeNb1,
            Self::Float => TypeId::MMeNc1,
            Self::Counter => TypeId::MItNa1,
        }
    }

    /// The kind an IEC 104 monitor type belongs to, with or without time tag.
    pub fn of(type_id: TypeId) -> Option<Self> {
        Some(match type_id.without_time() {
            TypeId::MSpNa1 => Self::Single,
            TypeId::MDpNa1 => Self::Double,
            TypeId::MStNa1 => Self::Step,
            TypeId::MBoNa1 => Self::Bitstring,
            TypeId::MMeNa1 => Self::Normalized,
            TypeId::MMeNb1 => Self::Scaled,
            TypeId::MMeNc1 => Self::Float,
            TypeId::MItNa1 => Self::Counter,
            _ => return None,
        })
    }
}

/// The kinds of commands, named as in the mapping file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CommandKind {
    Single,
    Double,
    Step,
    SetpointNormalized,
    SetpointScaled,
    SetpointFloat,
}

impl CommandKind {
    /// The IEC 104 type without time tag.
    pub fn type_id(self) -> TypeId {
        match self {
            Self::Single => TypeId::CScNa1,
            Self::Double => TypeId::CDcNa1,
            Self::Step => TypeId::CRcNa1,
            Self::SetpointNormalized => TypeId::CSeNa1,
            Self::SetpointScaled => TypeId::CSeNb1,
            Self::SetpointFloat => TypeId::CSeNc1,
        }
    }

    /// The kind an IEC 104 command type belongs to, with or without time tag.
    pub fn of(type_id: TypeId) -> Option<Self> {
        Some(match type_id.without_time() {
            TypeId::CScNa1 => Self::Single,
            TypeId::CDcNa1 => Self::Double,
            TypeId::CRcNa1 => Self::Step,
            TypeId::CSeNa1 => Self::SetpointNormalized,
            TypeId::CSeNb1 => Self::SetpointScaled,
            TypeId::CSeNc1 => Self::SetpointFloat,
            _ => return None,
        })
    }
}

/// One monitored point.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointMap {
    pub id: PointId,
    pub ioa: u32,
    #[serde(rename = "type")]
    pub kind: MonitorKind,
    /// Engineering unit, for people and the model.
    #[serde(default)]
    pub unit: Option<String>,
    /// When set, the raw measurement becomes a float `raw * scale + offset`.
    #[serde(default)]
    pub scale: Option<f64>,
    #[serde(default)]
    pub offset: f64,
    /// Interrogation group (1..=16) the point also answers in.
    #[serde(default)]
    pub group: Option<u8>,
}

/// One controllable point.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandMap {
    pub id: PointId,
    pub ioa: u32,
    #[serde(rename = "type")]
    pub kind: CommandKind,
    /// Select-before-operate required (the IEC 62351 and utility default for switchgear).
    #[serde(default = "default_true")]
    pub sbo: bool,
}

fn default_true() -> bool {
    true
}

/// A whole mapping file, indexed both ways.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingFile {
    #[serde(default, rename = "point")]
    pub points: Vec<PointMap>,
    #[serde(default, rename = "command")]
    pub commands: Vec<CommandMap>,
    #[serde(skip)]
    by_ioa: HashMap<u32, usize>,
    #[serde(skip)]
    by_point: HashMap<PointId, usize>,
    #[serde(skip)]
    command_by_ioa: HashMap<u32, usize>,
    #[serde(skip)]
    command_by_point: HashMap<PointId, usize>,
}

impl MappingFile {
    /// Loads and validates a mapping file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let file: Self = read_toml(path)?;
        file.indexed(path)
    }

    /// Builds from entries (for generated mappings such as the demo's).
    pub fn from_entries(points: Vec<PointMap>, commands: Vec<CommandMap>) -> Result<Self, ConfigError> {
        Self { points, commands, ..Self::default() }.indexed(Path::new("<generated mapping>"))
    }

    fn indexed(mut self, path: &Path) -> Result<Self, ConfigError> {
        for (i, p) in self.points.iter().enumerate() {
            let key = |k: &str| format!("point[{i}].{k}");
            if p.ioa > IOA_MAX {
                return Err(ConfigError::invalid(path, key("ioa"), format!("{} exceeds the 3-octet range", p.ioa)));
            }
            if self.by_ioa.insert(p.ioa, i).is_some() {
                return Err(ConfigError::invalid(path, key("ioa"), format!("IOA {} is mapped twice", p.ioa)));
            }
            if self.by_point.insert(p.id.clone(), i).is_some() {
                return Err(ConfigError::invalid(path, key("id"), format!("point {} is mapped twice", p.id)));
            }
            if p.scale.is_some_and(|s| !s.is_finite() || s == 0.0) {
                return Err(ConfigError::invalid(path, key("scale"), "must be a finite non-zero number"));
            }
            if p.group.is_some_and(|g| !(1..=16).contains(&g)) {
                return Err(ConfigError::invalid(path, key("group"), "must be 1..=16"));
            }
        }
        for (i, c) in self.commands.iter().enumerate() {
            let key = |k: &str| format!("command[{i}].{k}");
            if c.ioa > IOA_MAX {
                return Err(ConfigError::invalid(path, key("ioa"), format!("{} exceeds the 3-octet range", c.ioa)));
            }
            if self.command_by_ioa.insert(c.ioa, i).is_some() {
                return Err(ConfigError::invalid(path, key("ioa"), format!("command IOA {} is mapped twice", c.ioa)));
            }
            if self.command_by_point.insert(c.id.clone(), i).is_some() {
                return Err(ConfigError::invalid(path, key("id"), format!("command for {} is mapped twice", c.id)));
            }
        }
        Ok(self)
    }

    /// The monitored point at an IOA.
    pub fn point_at(&self, ioa: u32) -> Option<&PointMap> {
        self.by_ioa.get(&ioa).and_then(|&i| self.points.get(i))
    }

    /// The monitored entry of a point.
    pub fn point(&self, id: &PointId) -> Option<&PointMap> {
        self.by_point.get(id).and_then(|&i| self.points.get(i))
    }

    /// The command at an IOA.
    pub fn command_at(&self, ioa: u32) -> Option<&CommandMap> {
        self.command_by_ioa.get(&ioa).and_then(|&i| self.commands.get(i))
    }

    /// The command entry that operates a point.
    pub fn command(&self, id: &PointId) -> Option<&CommandMap> {
        self.command_by_point.get(id).and_then(|&i| self.commands.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("map.toml");
        std::fs::write(&p, text).unwrap();
        (dir, p)
    }

    #[test]
    fn a_mapping_loads_and_indexes_both_ways() {
        let (_d, p) = write(
            "[[point]]\nid = \"F1/MMXU1.A.phsA\"\nioa = 1001\ntype = \"float\"\nunit = \"A\"\n\n[[command]]\nid = \"F1/XCBR1.Pos\"\nioa = 2001\ntype = \"double\"\n",
        );
        let m = MappingFile::load(&p).unwrap();
        assert_eq!(m.point_at(1001).unwrap().kind, MonitorKind::Float);
        assert!(m.command(&PointId::new("F1/XCBR1.Pos").unwrap()).unwrap().sbo);
        assert!(m.point_at(1002).is_none());
    }

    #[test]
    fn errors_name_the_key() {
        let (_d, p) =
            write("[[point]]\nid = \"F1/MMXU1.A\"\nioa = 1\ntype = \"float\"\n[[point]]\nid = \"F1/MMXU1.B\"\nioa = 1\ntype = \"float\"\n");
        let e = MappingFile::load(&p).unwrap_err().to_string();
        assert!(e.contains("point[1].ioa") && e.contains("mapped twice"), "{e}");
        let (_d, p) = write("[[point]]\nid = \"F1/MMXU1.A\"\nioa = 1\ntype = \"flaot\"\n");
        let e = MappingFile::load(&p).unwrap_err().to_string();
        assert!(e.contains("flaot"), "{e}");
        let (_d, p) = write("[[point]]\nid = \"no-slash\"\nioa = 1\ntype = \"float\"\n");
        let e = MappingFile::load(&p).unwrap_err().to_string();
        assert!(e.contains("no-slash"), "{e}");
    }
}
