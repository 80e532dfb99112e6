//! Which CGMES edition a file is written in.
//!
//! CGMES 2.4.15 (IEC 61970-600 as ENTSO-E profiled it in 2015) writes CIM 16
//! (`http://iec.ch/TC57/2013/CIM-schema-cim16#`) with ENTSO-E extensions under
//! `http://entsoe.eu/CIM/SchemaExtension/3/1#`; CGMES 3.0 (IEC 61970-600-2) writes CIM 100
//! (`http://iec.ch/TC57/CIM100#`) with European extensions under
//! `http://iec.ch/TC57/CIM100-European#`. The class and property names the importer types are
//! the same in both except where [`crate::model`] says otherwise, so [`crate::names`] gives both
//! CIM namespaces the one `cim:` prefix; the edition is kept per file instead, read from the
//! namespace of the file's object elements or, for a file without CIM objects, from the profile
//! URIs of its `md:FullModel` header.

use std::fmt;

use serde::Serialize;

use crate::names;

/// A CGMES edition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum CgmesVersion {
    /// CGMES 2.4.15: CIM 16, ENTSO-E extension 3/1, profile URIs under `http://entsoe.eu/CIM/`.
    #[serde(rename = "2.4.15")]
    V2_4_15,
    /// CGMES 3.0: CIM 100, European extension, profile URIs under `http://iec.ch/TC57/ns/CIM/`.
    #[serde(rename = "3.0")]
    V3_0,
}

impl CgmesVersion {
    /// The edition whose CIM or extension namespace this is.
    pub fn of_namespace(namespace_uri: &str) -> Option<Self> {
        match namespace_uri {
            names::CIM | names::ENTSOE => Some(CgmesVersion::V2_4_15),
            names::CIM100 | names::EU => Some(CgmesVersion::V3_0),
            _ => None,
        }
    }

    /// The edition a `md:Model.profile` URI belongs to (e.g.
    /// `http://entsoe.eu/CIM/EquipmentCore/3/1` or `http://iec.ch/TC57/ns/CIM/CoreEquipment-EU/3.0`).
    pub fn of_profile(profile_uri: &str) -> Option<Self> {
        if profile_uri.starts_with("http://entsoe.eu/CIM/") {
            Some(CgmesVersion::V2_4_15)
        } else if profile_uri.starts_with("http://iec.ch/TC57/ns/CIM/") {
            Some(CgmesVersion::V3_0)
        } else {
            None
        }
    }
}

impl fmt::Display for CgmesVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CgmesVersion::V2_4_15 => "CGMES 2.4.15",
            CgmesVersion::V3_0 => "CGMES 3.0",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_and_profile_uris_name_their_edition() {
        assert_eq!(CgmesVersion::of_namespace(names::CIM), Some(CgmesVersion::V2_4_15));
        assert_eq!(CgmesVersion::of_namespace(names::EU), Some(CgmesVersion::V3_0));
        assert_eq!(CgmesVersion::of_namespace(names::MD), None);
        assert_eq!(CgmesVersion::of_profile("http://entsoe.eu/CIM/DiagramLayout/3/1"), Some(CgmesVersion::V2_4_15));
        assert_eq!(CgmesVersion::of_profile("http://iec.ch/TC57/ns/CIM/Topology-EU/3.0"), Some(CgmesVersion::V3_0));
        assert_eq!(CgmesVersion::of_profile("urn:example"), None);
        assert_eq!(CgmesVersion::V3_0.to_string(), "CGMES 3.0");
    }
}
