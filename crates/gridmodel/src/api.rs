//! The model in the exact JSON shapes of `GET /api/model` and `GET /api/points`
//! (`api-contract.md`), field for field, so the hub can serve it without knowing this crate's
//! richer types and this crate need not depend on the HTTP layer.
//!
//! The API tree has bays only under voltage levels, so equipment held directly by a voltage level
//! (CGMES models without bays) is shown in a bay with id `<voltage level id>/direct` named like
//! the voltage level, and equipment held directly by a substation (CIM power transformers) in a
//! voltage level and bay with id `<substation id>/direct` (no nominal voltage). CIM lines and
//! uncontained equipment are outside substations and not in the API tree.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::model::{EquipmentNode, GridModel};

/// `GET /api/model`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ApiModel {
    pub substations: Vec<ApiSubstation>,
}

/// A substation of `GET /api/model`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiSubstation {
    pub id: String,
    pub name: String,
    pub mrid: Option<String>,
    pub voltage_levels: Vec<ApiVoltageLevel>,
}

/// A voltage level of `GET /api/model`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiVoltageLevel {
    pub id: String,
    pub name: String,
    pub nominal_kv: Option<f64>,
    pub bays: Vec<ApiBay>,
}

/// A bay of `GET /api/model`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiBay {
    pub id: String,
    pub name: String,
    pub equipment: Vec<ApiEquipment>,
}

/// A piece of equipment of `GET /api/model`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiEquipment {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub mrid: Option<String>,
    pub points: Vec<String>,
}

/// The CIM identities of a point in `GET /api/points`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ApiCim {
    pub measurement: Option<String>,
    pub equipment: Option<String>,
    pub terminal: Option<String>,
}

/// One item of `GET /api/points`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiPoint {
    pub id: String,
    pub unit: Option<String>,
    pub kind: String,
    pub description: Option<String>,
    pub bay: Option<String>,
    pub equipment: Option<String>,
    pub cim: ApiCim,
    pub operable: bool,
    pub command_kind: Option<String>,
}

fn api_equipment(node: &EquipmentNode) -> ApiEquipment {
    ApiEquipment {
        id: node.id.clone(),
        name: node.name.clone(),
        kind: node.kind.clone(),
        mrid: node.mrid.clone(),
        points: node.points.iter().map(ToString::to_string).collect(),
    }
}

fn direct_bay(id: String, name: &str, equipment: &[EquipmentNode]) -> Option<ApiBay> {
    (!equipment.is_empty()).then(|| ApiBay { id, name: name.to_owned(), equipment: equipment.iter().map(api_equipment).collect() })
}

impl GridModel {
    /// The tree as `GET /api/model` returns it.
    pub fn api_tree(&self) -> ApiModel {
        let substations = self
            .substations
            .iter()
            .map(|s| {
                let direct = format!("{}/direct", s.id);
                let mut voltage_levels: Vec<ApiVoltageLevel> = direct_bay(direct.clone(), &s.name, &s.equipment)
                    .map(|bay| ApiVoltageLevel { id: direct, name: s.name.clone(), nominal_kv: None, bays: vec![bay] })
                    .into_iter()
                    .collect();
                voltage_levels.extend(s.voltage_levels.iter().map(|l| {
                    let mut bays: Vec<ApiBay> = direct_bay(format!("{}/direct", l.id), &l.name, &l.equipment).into_iter().collect();
                    bays.extend(l.bays.iter().map(|b| ApiBay {
                        id: b.id.clone(),
                        name: b.name.clone(),
                        equipment: b.equipment.iter().map(api_equipment).collect(),
                    }));
                    ApiVoltageLevel { id: l.id.clone(), name: l.name.clone(), nominal_kv: l.nominal_kv, bays }
                }));
                ApiSubstation { id: s.id.clone(), name: s.name.clone(), mrid: s.mrid.clone(), voltage_levels }
            })
            .collect();
        ApiModel { substations }
    }

    /// Every point as `GET /api/points` returns it; `bay` is the id of the API tree's bay that
    /// lists the point's equipment.
    pub fn api_points(&self) -> Vec<ApiPoint> {
        let mut bay_of: HashMap<String, String> = HashMap::new();
        for bay in self.api_tree().substations.into_iter().flat_map(|s| s.voltage_levels).flat_map(|l| l.bays) {
            for point in bay.equipment.into_iter().flat_map(|e| e.points) {
                bay_of.insert(point, bay.id.clone());
            }
        }
        self.points
            .iter()
            .map(|(id, p)| ApiPoint {
                id: id.to_string(),
                unit: p.unit.clone(),
                kind: p.kind.clone(),
                description: p.description.clone(),
                bay: bay_of.get(id.as_str()).cloned().or_else(|| p.bay.clone()),
                equipment: p.equipment.clone(),
                cim: ApiCim {
                    measurement: p.cim.measurement.clone(),
                    equipment: p.cim.equipment.clone(),
                    terminal: p.cim.terminal.clone(),
                },
                operable: p.operable,
                command_kind: p.command_kind.clone(),
            })
            .collect()
    }
}
