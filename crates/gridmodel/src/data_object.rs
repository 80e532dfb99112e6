//! Points named by their data object: how a point that a non-IEC 61850 protocol delivers finds
//! its point in the model.
//!
//! The model names each point by its data attribute (`F1/MMXU1.TotW.mag.f[MX]`), as the MMS
//! adapter reads it. IEC 61850-80-1 maps one IEC 104 information object to one data object (its
//! value, quality and time travel together), so an IEC 104 mapping file, and the other protocol
//! adapters, name a point by its data object reference (`F1/MMXU1.TotW`, `F1/MMXU1.A.phsA`). Such
//! a name is the model point whose reference is the data object followed by one value attribute;
//! when the data object has several value attributes in the model the name is ambiguous and
//! nothing is guessed.

use std::ops::Bound;

use crate::model::{GridModel, PointInfo};

/// What a point name resolves to in the model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Resolved<'a> {
    /// The name is a model point's reference.
    Exact(&'a PointInfo),
    /// The name is the data object of exactly one model point.
    DataObject(&'a PointInfo),
    /// The name is the data object of several model points (their count).
    Ambiguous(usize),
    /// The model has no such point or data object.
    Unknown,
}

impl Resolved<'_> {
    /// The model point, when the name resolves to exactly one.
    pub fn point(&self) -> Option<&PointInfo> {
        match self {
            Resolved::Exact(p) | Resolved::DataObject(p) => Some(p),
            Resolved::Ambiguous(_) | Resolved::Unknown => None,
        }
    }
}

impl GridModel {
    /// The model point a protocol's point name stands for (see the module doc).
    pub fn resolve_point(&self, name: &str) -> Resolved<'_> {
        if let Some(p) = self.points.get(name) {
            return Resolved::Exact(p);
        }
        // A data object reference has no functional constraint; attribute references do.
        if name.contains('[') {
            return Resolved::Unknown;
        }
        let prefix = format!("{name}.");
        let mut under = self
            .points
            .range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
            .take_while(|(id, _)| id.as_str().starts_with(&prefix))
            .map(|(_, p)| p);
        match (under.next(), under.count()) {
            (None, _) => Resolved::Unknown,
            (Some(p), 0) => Resolved::DataObject(p),
            (Some(_), more) => Resolved::Ambiguous(more + 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PointInfo;
    use gridtrust_model::{CimIdentity, PointId};

    fn point(reference: &str) -> PointInfo {
        PointInfo {
            reference: PointId::new(reference).unwrap(),
            fc: "MX".into(),
            basic_type: "FLOAT32".into(),
            cdc: "MV".into(),
            kind: "analog".into(),
            unit: None,
            description: None,
            ied: "RTU1".into(),
            scl_file: "a.scd".into(),
            cim: CimIdentity::default(),
            bay: None,
            equipment: None,
            link: None,
            operable: false,
            command_kind: None,
            addresses: Vec::new(),
        }
    }

    fn model(references: &[&str]) -> GridModel {
        let mut m = GridModel::default();
        for r in references {
            m.points.insert(PointId::new(*r).unwrap(), point(r));
        }
        m
    }

    #[test]
    fn a_data_object_with_one_value_attribute_is_that_point() {
        let m = model(&["F1/MMXU1.TotW.mag.f[MX]", "F1/MMXU1.TotWh.actVal[ST]", "F1/MMXU1.A.phsA.cVal.mag.f[MX]"]);
        let hit = |name| m.resolve_point(name).point().map(|p| p.reference.to_string());
        assert_eq!(hit("F1/MMXU1.TotW").as_deref(), Some("F1/MMXU1.TotW.mag.f[MX]"), "TotWh must not count as under TotW");
        assert_eq!(hit("F1/MMXU1.A.phsA").as_deref(), Some("F1/MMXU1.A.phsA.cVal.mag.f[MX]"));
        assert!(matches!(m.resolve_point("F1/MMXU1.TotW.mag.f[MX]"), Resolved::Exact(_)));
    }

    #[test]
    fn several_value_attributes_or_none_resolve_to_nothing() {
        let m = model(&["F1/MMXU1.A.phsA.cVal.mag.f[MX]", "F1/MMXU1.A.phsB.cVal.mag.f[MX]", "F1/XCBR1.Pos.stVal[ST]"]);
        assert_eq!(m.resolve_point("F1/MMXU1.A"), Resolved::Ambiguous(2));
        assert_eq!(m.resolve_point("F1/XSWI1.Pos"), Resolved::Unknown);
        assert_eq!(m.resolve_point("F1/XCBR1.Pos.stVal[CO]"), Resolved::Unknown);
    }
}
