//! The grid model as the API shows it, derived from what the hub knows for sure: which edge
//! reports which point, and the point's IEC 61850 reference.
//!
//! Substation = the edge that serves it; one voltage level per substation (nominal voltage
//! unknown: null); bay = logical device (`F1` in `F1/XCBR1.Pos`); equipment = logical node
//! instance, its kind read from the IEC 61850-7-4 class (`XCBR` breaker, `XSWI` disconnector,
//! `MMXU` meter, `YPTR` transformer, `ZINV` inverter, ...). Positions of switching devices
//! (`XCBR`/`XSWI`/`CSWI` `.Pos`) are offered as double commands; the edge's command mapping
//! has the last word (it refuses points it cannot operate).
//!
//! Without `[model]` this is the whole model the API shows; with one (SCL/CGMES import: CIM
//! mRIDs, nominal voltages, units, see [`crate::grid_model`]) it places only the points the
//! imported model does not know.

use std::collections::BTreeMap;

use gridtrust_api::dto::{Bay, CimRefs, Equipment, Model, PointInfo, Substation, VoltageLevel};
use gridtrust_model::{PointId, Value};

/// A point the hub has data for.
#[derive(Clone, Debug)]
pub struct KnownPoint {
    pub id: PointId,
    /// The edge that reports it, if known.
    pub edge: Option<String>,
    /// Its latest value, for the kind.
    pub value: Value,
}

/// Splits `LD/LN.DO[.DA]` into logical device and logical node instance.
fn split(id: &str) -> (Option<&str>, Option<&str>) {
    match id.split_once('/') {
        Some((ld, rest)) => (Some(ld), rest.split('.').next()),
        None => (None, id.split('.').next()),
    }
}

/// The logical node class: the instance without its prefix-free trailing number (`XCBR1` -> `XCBR`).
fn ln_class(ln: &str) -> &str {
    ln.trim_end_matches(|c: char| c.is_ascii_digit())
}

fn equipment_kind(class: &str) -> &'static str {
    match class {
        "XCBR" | "CSWI" => "Breaker",
        "XSWI" => "Disconnector",
        "YPTR" | "YLTC" => "PowerTransformer",
        "ZLIN" | "ZCAB" => "Line",
        "MMXU" | "MMTR" | "MSQI" | "MMXN" => "Meter",
        "ZINV" | "DINV" | "DPVC" => "Inverter",
        "ZBAT" | "DBAT" => "Battery",
        "MPMU" => "Pmu",
        _ => "Other",
    }
}

fn value_kind(v: &Value) -> &'static str {
    match v {
        Value::Single(_) | Value::Double(_) => "status",
        Value::Step { .. } => "step",
        Value::Bitstring(_) => "bitstring",
        Value::Counter { .. } => "counter",
        Value::Normalized(_) | Value::Scaled(_) | Value::Float(_) => "analog",
    }
}

/// The command a point accepts, if the hub offers one.
pub fn command_kind(id: &str) -> Option<&'static str> {
    let (_, ln) = split(id);
    let class = ln.map(ln_class)?;
    let is_pos = id.split('.').nth(1) == Some("Pos");
    (matches!(class, "XCBR" | "XSWI" | "CSWI") && is_pos).then_some("double")
}

/// Point metadata.
pub fn point_info(p: &KnownPoint) -> PointInfo {
    let id = p.id.as_str();
    let (ld, ln) = split(id);
    let command = command_kind(id);
    PointInfo {
        id: id.to_owned(),
        unit: None,
        kind: value_kind(&p.value).into(),
        description: None,
        bay: ld.map(str::to_owned),
        equipment: ld.zip(ln).map(|(ld, ln)| format!("{ld}/{ln}")),
        cim: CimRefs::default(),
        operable: command.is_some(),
        command_kind: command.map(str::to_owned),
    }
}

/// The model tree of every known point.
pub fn model(points: &[KnownPoint]) -> Model {
    // substation -> bay -> equipment -> points, all ordered by id.
    let mut tree: BTreeMap<String, BTreeMap<String, BTreeMap<String, Vec<String>>>> = BTreeMap::new();
    for p in points {
        let id = p.id.as_str();
        let (ld, ln) = split(id);
        let substation = p.edge.clone().unwrap_or_else(|| "unassigned".into());
        let bay = ld.unwrap_or("-").to_owned();
        let equipment = format!("{bay}/{}", ln.unwrap_or("-"));
        tree.entry(substation).or_default().entry(bay).or_default().entry(equipment).or_default().push(id.to_owned());
    }
    Model {
        substations: tree
            .into_iter()
            .map(|(sub, bays)| Substation {
                id: sub.clone(),
                name: format!("Substation served by {sub}"),
                mrid: None,
                voltage_levels: vec![VoltageLevel {
                    id: format!("{sub}/VL"),
                    name: "Voltage level (nominal voltage not in the model)".into(),
                    nominal_kv: None,
                    bays: bays
                        .into_iter()
                        .map(|(bay, equipment)| Bay {
                            id: bay.clone(),
                            name: format!("Bay {bay}"),
                            equipment: equipment
                                .into_iter()
                                .map(|(eq, points)| {
                                    let class = split(&eq).1.map(ln_class).unwrap_or("");
                                    Equipment {
                                        name: eq.rsplit('/').next().unwrap_or(&eq).to_owned(),
                                        kind: equipment_kind(class).into(),
                                        id: eq,
                                        mrid: None,
                                        points,
                                    }
                                })
                                .collect(),
                        })
                        .collect(),
                }],
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridtrust_model::DoublePoint;

    #[test]
    fn points_group_into_bays_and_equipment_by_their_reference() {
        let p = |id: &str, value| KnownPoint { id: PointId::new(id).unwrap(), edge: Some("edge-1".into()), value };
        let pts = [
            p("F1/MMXU1.TotW", Value::Float(1.0)),
            p("F1/MMXU1.A.phsA", Value::Float(2.0)),
            p("F1/XCBR1.Pos", Value::Double(DoublePoint::On)),
            p("F2/XSWI1.Pos", Value::Double(DoublePoint::Off)),
        ];
        let m = model(&pts);
        let vl = &m.substations[0].voltage_levels[0];
        assert_eq!(vl.bays.iter().map(|b| b.id.as_str()).collect::<Vec<_>>(), ["F1", "F2"]);
        let f1 = &vl.bays[0].equipment;
        assert_eq!((f1[0].id.as_str(), f1[0].kind.as_str(), f1[0].points.len()), ("F1/MMXU1", "Meter", 2));
        assert_eq!((f1[1].id.as_str(), f1[1].kind.as_str()), ("F1/XCBR1", "Breaker"));
        let breaker = point_info(&pts[2]);
        assert_eq!((breaker.operable, breaker.command_kind.as_deref(), breaker.kind.as_str()), (true, Some("double"), "status"));
        assert!(!point_info(&pts[0]).operable);
    }
}
