//! The imported grid model (`[model] file`, a `gridtrust model import` JSON) as the hub serves
//! it: the tree and points of `gridtrust-gridmodel` in the API's shapes, with every point the
//! hub has data for but the model does not know appended under "unmodelled" substations derived
//! from point references ([`crate::model`]), so nothing the field reports disappears; model
//! points without data yet are listed too.
//!
//! The model is read once at start and mapped once, directly from [`GridModel`] into the API
//! crate's types ([`api_tree`], [`api_points`]), so the API shapes are defined only in
//! `gridtrust_api::dto`. The API tree has bays only under voltage levels, so equipment held
//! directly by a voltage level (CGMES models without bays) is shown in a bay with id
//! `<voltage level id>/direct` named like the voltage level, and equipment held directly by a
//! substation (CIM power transformers) in a voltage level and bay with id `<substation id>/direct`
//! (no nominal voltage). CIM lines, which sit outside substations, are listed under one more
//! substation entry with id `lines` ("Lines"), one bay per line holding its segments, so points
//! measured on a line (a feeder's first cable section) have a place in the tree. Uncontained
//! equipment is not in the API tree.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use tracing::info;

use gridtrust_api::dto::{
    Bay, CimRefs, Equipment, Model, OneLine as OneLineDto, OneLineEquipment, OneLineKind, OneLineLayout, OneLineNode, OneLineSwitch,
    OneLineXY, PointInfo, PositionSource, Substation, SwitchPosition, VoltageLevel,
};
use gridtrust_gridmodel::model::DiagramPoint;
use gridtrust_gridmodel::{
    DiagramEquipment, EquipmentKind, EquipmentNode, GridModel, LayoutSource, ModelError, OneLine, Resolved, energise,
};
use gridtrust_model::{DoublePoint, PointId, Value};

use crate::model::{KnownPoint, model, point_info};

/// Why the configured model could not be served.
#[derive(Debug, thiserror::Error)]
pub enum GridModelError {
    /// The file is unreadable or not a model this build reads (the message names the file).
    #[error("model.file: {0}")]
    Read(#[from] ModelError),
}

/// The model the hub serves, with its API shapes computed once.
#[derive(Debug)]
pub struct ServedModel {
    /// `GET /api/model/full`: the model JSON in canonical order.
    full_json: String,
    tree: Model,
    points: Vec<PointInfo>,
    known: HashSet<String>,
    /// For [`GridModel::resolve_point`]: a point with data named by its data object (as IEC 104
    /// and the other non-MMS adapters name points) is shown as the model point it stands for.
    grid: GridModel,
    /// The one-line diagram's geometry, computed once; what is energised is decided per request.
    one_line: OneLine,
    /// Equipment id -> id of the API tree bay that lists it.
    bay_of_equipment: HashMap<String, String>,
}

/// A switch position read from a live value: a double point off (or between positions) is open,
/// on is closed; a single point is closed when true. Both contacts closed (bad) and other types
/// say nothing, so the model's normal state is used.
pub fn live_position(value: &Value) -> Option<SwitchPosition> {
    match value {
        Value::Double(DoublePoint::Off | DoublePoint::Intermediate) => Some(SwitchPosition::Open),
        Value::Double(DoublePoint::On) => Some(SwitchPosition::Closed),
        Value::Single(closed) => Some(if *closed { SwitchPosition::Closed } else { SwitchPosition::Open }),
        _ => None,
    }
}

fn one_line_kind(kind: EquipmentKind) -> OneLineKind {
    match kind {
        EquipmentKind::BusbarSection => OneLineKind::BusbarSection,
        EquipmentKind::Line => OneLineKind::Line,
        EquipmentKind::Transformer => OneLineKind::Transformer,
        EquipmentKind::Breaker => OneLineKind::Breaker,
        EquipmentKind::Disconnector => OneLineKind::Disconnector,
        EquipmentKind::LoadBreakSwitch => OneLineKind::LoadBreakSwitch,
        EquipmentKind::Switch => OneLineKind::Switch,
        EquipmentKind::Fuse => OneLineKind::Fuse,
        EquipmentKind::Load => OneLineKind::Load,
        EquipmentKind::Generator => OneLineKind::Generator,
        EquipmentKind::Inverter => OneLineKind::Inverter,
        EquipmentKind::Injection => OneLineKind::Injection,
        EquipmentKind::ShuntCompensator => OneLineKind::ShuntCompensator,
        EquipmentKind::Other => OneLineKind::Other,
    }
}

fn xy(points: &[DiagramPoint]) -> Vec<OneLineXY> {
    points.iter().map(|p| OneLineXY { x: p.x, y: p.y }).collect()
}

/// The position of a switch: live when its position point has a usable value, else the model's
/// normal state, else closed.
fn position(equipment: &DiagramEquipment, live: &impl Fn(&PointId) -> Option<Value>) -> (SwitchPosition, PositionSource) {
    if let Some(state) = equipment.position_point.as_ref().and_then(live).as_ref().and_then(live_position) {
        return (state, PositionSource::Live);
    }
    match equipment.normal_open {
        Some(true) => (SwitchPosition::Open, PositionSource::Normal),
        Some(false) => (SwitchPosition::Closed, PositionSource::Normal),
        None => (SwitchPosition::Closed, PositionSource::Assumed),
    }
}

/// Model point id -> the id its data arrives under, where the two differ.
type Aliases = HashMap<String, String>;

fn api_equipment(node: &EquipmentNode) -> Equipment {
    Equipment {
        id: node.id.clone(),
        name: node.name.clone(),
        kind: node.kind.clone(),
        mrid: node.mrid.clone(),
        points: node.points.iter().map(ToString::to_string).collect(),
    }
}

/// The `<container id>/direct` bay for equipment held by a container above bays, if it holds any.
fn direct_bay(id: String, name: &str, equipment: &[EquipmentNode]) -> Option<Bay> {
    (!equipment.is_empty()).then(|| Bay { id, name: name.to_owned(), equipment: equipment.iter().map(api_equipment).collect() })
}

/// The model's tree as `GET /api/model` returns it (before unmodelled points are appended).
pub fn api_tree(grid: &GridModel) -> Model {
    let mut substations: Vec<Substation> = grid
        .substations
        .iter()
        .map(|s| {
            let direct = format!("{}/direct", s.id);
            let mut voltage_levels: Vec<VoltageLevel> = direct_bay(direct.clone(), &s.name, &s.equipment)
                .map(|bay| VoltageLevel { id: direct, name: s.name.clone(), nominal_kv: None, bays: vec![bay] })
                .into_iter()
                .collect();
            voltage_levels.extend(s.voltage_levels.iter().map(|l| {
                let mut bays: Vec<Bay> = direct_bay(format!("{}/direct", l.id), &l.name, &l.equipment).into_iter().collect();
                bays.extend(l.bays.iter().map(|b| Bay {
                    id: b.id.clone(),
                    name: b.name.clone(),
                    equipment: b.equipment.iter().map(api_equipment).collect(),
                }));
                VoltageLevel { id: l.id.clone(), name: l.name.clone(), nominal_kv: l.nominal_kv, bays }
            }));
            Substation { id: s.id.clone(), name: s.name.clone(), mrid: s.mrid.clone(), voltage_levels }
        })
        .collect();
    if !grid.lines.is_empty() {
        let bays = grid
            .lines
            .iter()
            .map(|l| Bay { id: l.id.clone(), name: l.name.clone(), equipment: l.equipment.iter().map(api_equipment).collect() })
            .collect();
        let level = VoltageLevel { id: "lines/all".into(), name: "Lines".into(), nominal_kv: None, bays };
        substations.push(Substation {
            id: "lines".into(),
            name: "Lines (outside substations)".into(),
            mrid: None,
            voltage_levels: vec![level],
        });
    }
    Model { substations }
}

/// Every point of the model as `GET /api/points` returns it; `bay` is the id of the bay of
/// `tree` (the model's [`api_tree`]) that lists the point's equipment.
pub fn api_points(grid: &GridModel, tree: &Model) -> Vec<PointInfo> {
    let mut bay_of: HashMap<&str, &str> = HashMap::new();
    for bay in tree.substations.iter().flat_map(|s| &s.voltage_levels).flat_map(|l| &l.bays) {
        for point in bay.equipment.iter().flat_map(|e| &e.points) {
            bay_of.insert(point, &bay.id);
        }
    }
    grid.points
        .iter()
        .map(|(id, p)| PointInfo {
            id: id.to_string(),
            unit: p.unit.clone(),
            kind: p.kind.clone(),
            description: p.description.clone(),
            bay: bay_of.get(id.as_str()).map(|b| (*b).to_owned()).or_else(|| p.bay.clone()),
            equipment: p.equipment.clone(),
            cim: CimRefs { measurement: p.cim.measurement.clone(), equipment: p.cim.equipment.clone(), terminal: p.cim.terminal.clone() },
            operable: p.operable,
            command_kind: p.command_kind.clone(),
        })
        .collect()
}

impl ServedModel {
    /// Reads and checks the model file and logs what it holds.
    pub fn load(path: &Path) -> Result<Self, GridModelError> {
        let grid = GridModel::read(path)?;
        let served = Self::new(&grid);
        info!(
            file = %path.display(),
            points = grid.points.len(),
            linked = grid.points.values().filter(|p| p.link.is_some()).count(),
            with_cim_measurement = grid.points.values().filter(|p| p.cim.measurement.is_some()).count(),
            equipment = grid.equipment().count(),
            unresolved_links = grid.unresolved.len(),
            sources = grid.sources.len(),
            "grid model loaded"
        );
        Ok(served)
    }

    fn new(grid: &GridModel) -> Self {
        let tree = api_tree(grid);
        let points = api_points(grid, &tree);
        let known = points.iter().map(|p| p.id.clone()).collect();
        let bay_of_equipment = tree
            .substations
            .iter()
            .flat_map(|s| &s.voltage_levels)
            .flat_map(|l| &l.bays)
            .flat_map(|b| b.equipment.iter().map(|e| (e.id.clone(), b.id.clone())))
            .collect();
        Self { full_json: grid.to_json(), tree, points, known, grid: grid.clone(), one_line: OneLine::of(grid), bay_of_equipment }
    }

    /// The joined model, for the measurement checks' point links.
    pub fn grid(&self) -> &GridModel {
        &self.grid
    }

    /// `GET /api/model/diagram`: the one-line diagram with switch positions from the latest
    /// values (`with_data`, those that are `trusted`) and what the topology walk energises from
    /// them. Points are named as their data arrives (see [`Self::tree`]).
    pub fn one_line(&self, with_data: &[KnownPoint], trusted: impl Fn(&PointId) -> bool) -> OneLineDto {
        let (aliases, _) = self.split(with_data);
        let data_id = |model_id: &PointId| aliases.get(model_id.as_str()).cloned().unwrap_or_else(|| model_id.to_string());
        let values: HashMap<&str, &Value> = with_data.iter().filter(|p| trusted(&p.id)).map(|p| (p.id.as_str(), &p.value)).collect();
        let live = |model_id: &PointId| values.get(data_id(model_id).as_str()).map(|v| **v);
        let positions: HashMap<&str, (SwitchPosition, PositionSource)> =
            self.one_line.equipment.iter().filter(|e| e.kind.is_switch()).map(|e| (e.id.as_str(), position(e, &live))).collect();
        let energised = energise(&self.one_line, |e| positions.get(e.id.as_str()).is_some_and(|(state, _)| *state == SwitchPosition::Open));
        let (layout, diagram_name) = match &self.one_line.layout {
            LayoutSource::DiagramLayout { name, .. } => (OneLineLayout::Dl, name.clone()),
            LayoutSource::Automatic => (OneLineLayout::Automatic, None),
        };
        OneLineDto {
            layout,
            diagram_name,
            nodes: self
                .one_line
                .nodes
                .iter()
                .map(|n| OneLineNode {
                    id: n.id.clone(),
                    name: n.name.clone(),
                    nominal_kv: n.nominal_kv,
                    busbar: n.busbar,
                    points: xy(&n.points),
                    energised: energised.node(&n.id),
                })
                .collect(),
            equipment: self
                .one_line
                .equipment
                .iter()
                .map(|e| OneLineEquipment {
                    id: e.id.clone(),
                    name: e.name.clone(),
                    kind: one_line_kind(e.kind),
                    bay: self.bay_of_equipment.get(&e.id).cloned(),
                    nodes: e.nodes.clone(),
                    points: xy(&e.points),
                    rotation_deg: e.rotation_deg,
                    connectors: e.connectors.iter().map(|c| xy(c)).collect(),
                    point_ids: e.points_ids.iter().map(data_id).collect(),
                    switch: positions.get(e.id.as_str()).map(|&(state, state_from)| OneLineSwitch {
                        position_point: e.position_point.as_ref().map(data_id),
                        command_point: e.command_point.as_ref().map(data_id),
                        state,
                        state_from,
                    }),
                    energised: energised.equipment(e),
                })
                .collect(),
        }
    }

    /// The whole joined model as imported (unresolved links, sources with SHA-256 included).
    pub fn full_json(&self) -> &str {
        &self.full_json
    }

    /// The model points whose data arrives under their data object's name, and the points with
    /// data the model does not know at all.
    fn split<'a>(&self, with_data: &'a [KnownPoint]) -> (Aliases, Vec<&'a KnownPoint>) {
        let mut aliases = Aliases::new();
        let mut unmodelled = Vec::new();
        for p in with_data.iter().filter(|p| !self.known.contains(p.id.as_str())) {
            match self.grid.resolve_point(p.id.as_str()) {
                Resolved::DataObject(model) => {
                    aliases.insert(model.reference.to_string(), p.id.to_string());
                }
                Resolved::Exact(_) | Resolved::Ambiguous(_) | Resolved::Unknown => unmodelled.push(p),
            }
        }
        (aliases, unmodelled)
    }

    /// The model's tree, then the points with data the model does not know, derived from their
    /// references under substations named "Unmodelled points ...". Model points whose data
    /// arrives under their data object's name are listed by that name.
    pub fn tree(&self, with_data: &[KnownPoint]) -> Model {
        let (aliases, unmodelled) = self.split(with_data);
        let unmodelled: Vec<KnownPoint> = unmodelled.into_iter().cloned().collect();
        let mut tree = self.tree.clone();
        let equipment =
            tree.substations.iter_mut().flat_map(|s| &mut s.voltage_levels).flat_map(|l| &mut l.bays).flat_map(|b| &mut b.equipment);
        for point in equipment.flat_map(|e| &mut e.points) {
            if let Some(alias) = aliases.get(point.as_str()) {
                point.clone_from(alias);
            }
        }
        tree.substations.extend(model(&unmodelled).substations.into_iter().map(|mut s| {
            let served_by = s.id.clone();
            s.id = format!("unmodelled/{served_by}");
            s.name = format!("Unmodelled points served by {served_by} (not in the grid model)");
            for level in &mut s.voltage_levels {
                level.id = format!("unmodelled/{}", level.id);
            }
            s
        }));
        tree
    }

    /// The model's points (with or without data; by the name their data arrives under), then the
    /// points with data it does not know.
    pub fn points(&self, with_data: &[KnownPoint]) -> Vec<PointInfo> {
        let (aliases, unmodelled) = self.split(with_data);
        let mut points = self.points.clone();
        for point in &mut points {
            if let Some(alias) = aliases.get(&point.id) {
                point.id.clone_from(alias);
            }
        }
        points.extend(unmodelled.into_iter().map(point_info));
        points
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridtrust_gridmodel::{ModelInputs, import};
    use gridtrust_model::{PointId, Value};
    use std::path::PathBuf;

    fn testdata(relative: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(relative)
    }

    /// The gridmodel fixture: an SCD placing logical nodes on ENTSO-E MicroGrid NL equipment.
    fn fixture_model() -> GridModel {
        let base = "../../shared/testdata/cgmes/MicroGrid/BaseCase";
        let inputs = ModelInputs {
            scl: vec![testdata("gridmodel/testdata/microgrid_nl.scd")],
            cgmes: vec![
                testdata(&format!("{base}/CGMES_v2.4.15_MicroGridTestConfiguration_BC_NL_v2")),
                testdata(&format!("{base}/CGMES_v2.4.15_MicroGridTestConfiguration_BD_v2")),
                testdata("gridmodel/testdata/microgrid_nl_measurements_EQ.xml"),
            ],
            mapping: Some(testdata("gridmodel/testdata/microgrid_nl_mapping.toml")),
        };
        match import(&inputs) {
            Ok(imported) => imported.model,
            Err(e) => panic!("fixture import: {e}: {:?}", e.errors.iter().map(ToString::to_string).collect::<Vec<_>>()),
        }
    }

    #[test]
    fn api_shapes_match_the_contract_field_for_field() {
        let grid = fixture_model();
        let served = ServedModel::new(&grid);
        assert!(!served.tree.substations.is_empty() && served.points.len() == grid.points.len());
        assert_eq!(GridModel::from_json("served", served.full_json()).unwrap(), grid);

        let tree = serde_json::to_value(&served.tree).unwrap();
        let keys = |v: &serde_json::Value| {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        assert_eq!(keys(&tree), ["substations"]);
        let substation = &tree["substations"][0];
        assert_eq!(keys(substation), ["id", "mrid", "name", "voltage_levels"]);
        let level = &substation["voltage_levels"][0];
        assert_eq!(keys(level), ["bays", "id", "name", "nominal_kv"]);
        assert_eq!(keys(&level["bays"][0]), ["equipment", "id", "name"]);
        assert_eq!(keys(&level["bays"][0]["equipment"][0]), ["id", "kind", "mrid", "name", "points"]);

        let points = serde_json::to_value(&served.points).unwrap();
        let breaker = points.as_array().unwrap().iter().find(|p| p["id"] == "AMS_P1CTRL/Q0CSWI1.Pos.stVal[ST]").unwrap();
        assert_eq!(keys(breaker), ["bay", "cim", "command_kind", "description", "equipment", "id", "kind", "operable", "unit"]);
        assert_eq!(keys(&breaker["cim"]), ["equipment", "measurement", "terminal"]);
        assert_eq!((breaker["operable"].as_bool(), breaker["command_kind"].as_str()), (Some(true), Some("double")));
        // MicroGrid has no bays: B1 sits in its voltage level's "direct" bay, which the point names.
        let bay_id = breaker["bay"].as_str().unwrap();
        let bay = tree["substations"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["voltage_levels"].as_array().unwrap())
            .flat_map(|l| l["bays"].as_array().unwrap())
            .find(|b| b["id"] == bay_id)
            .unwrap();
        assert_eq!(bay["name"], "220.0");
        assert!(bay["equipment"].as_array().unwrap().iter().any(|e| {
            e["name"] == "B1"
                && e["kind"] == "Breaker"
                && e["points"].as_array().unwrap().iter().any(|p| p == "AMS_P1CTRL/Q0CSWI1.Pos.stVal[ST]")
        }));
        // Transformers held by the substation appear under a "direct" voltage level without voltage.
        let direct =
            substation["voltage_levels"].as_array().unwrap().iter().find(|l| l["id"].as_str().unwrap().ends_with("/direct")).unwrap();
        assert!(direct["nominal_kv"].is_null());
        assert!(direct["bays"][0]["equipment"].as_array().unwrap().iter().any(|e| e["name"] == "NL-TR2_1"));
    }

    #[test]
    fn unmodelled_points_with_data_are_appended_and_model_points_stay() {
        let grid = fixture_model();
        let served = ServedModel::new(&grid);
        let modelled = grid.points.keys().next().unwrap().clone();
        let with_data = [
            KnownPoint { id: modelled.clone(), edge: Some("edge-1".into()), value: Value::Float(1.0) },
            KnownPoint { id: PointId::new("F9/XCBR1.Pos").unwrap(), edge: Some("edge-1".into()), value: Value::Float(0.0) },
        ];
        let tree = served.tree(&with_data);
        assert_eq!(tree.substations.len(), served.tree.substations.len() + 1);
        let extra = tree.substations.last().unwrap();
        assert_eq!(extra.id, "unmodelled/edge-1");
        assert!(extra.name.starts_with("Unmodelled points"), "{}", extra.name);
        let bay = &extra.voltage_levels[0].bays[0];
        assert_eq!((bay.id.as_str(), bay.equipment[0].points.as_slice()), ("F9", ["F9/XCBR1.Pos".to_owned()].as_slice()));

        let points = served.points(&with_data);
        assert_eq!(points.len(), grid.points.len() + 1, "the modelled point is listed once, from the model");
        let modelled_info = points.iter().find(|p| p.id == modelled.as_str()).unwrap();
        assert_eq!(modelled_info.kind, grid.points[&modelled].kind);
        assert_eq!(points.last().unwrap().bay.as_deref(), Some("F9"));
        // Without data the model's points are all still there.
        assert_eq!(served.points(&[]).len(), grid.points.len());
        assert_eq!(served.tree(&[]).substations.len(), served.tree.substations.len());
    }

    #[test]
    fn lines_outside_substations_are_listed_with_their_segments() {
        let grid = fixture_model();
        assert!(!grid.lines.is_empty(), "MicroGrid NL has lines");
        let tree = api_tree(&grid);
        let lines = tree.substations.iter().find(|s| s.id == "lines").unwrap();
        let bays = &lines.voltage_levels[0].bays;
        assert_eq!(bays.len(), grid.lines.len());
        let segments: usize = bays.iter().map(|b| b.equipment.len()).sum();
        assert_eq!(segments, grid.lines.iter().map(|l| l.equipment.len()).sum::<usize>());
        assert!(segments > 0);
    }

    #[test]
    fn data_named_by_its_data_object_is_shown_as_the_model_point() {
        let grid = fixture_model();
        let served = ServedModel::new(&grid);
        // The breaker's position as an IEC 104 edge names it: the data object, no attribute.
        let with_data =
            [KnownPoint { id: PointId::new("AMS_P1CTRL/Q0CSWI1.Pos").unwrap(), edge: Some("edge-1".into()), value: Value::Float(1.0) }];
        let tree = served.tree(&with_data);
        assert_eq!(tree.substations.len(), served.tree.substations.len(), "nothing unmodelled");
        let listed: Vec<&String> = tree
            .substations
            .iter()
            .flat_map(|s| &s.voltage_levels)
            .flat_map(|l| &l.bays)
            .flat_map(|b| &b.equipment)
            .flat_map(|e| &e.points)
            .collect();
        assert!(listed.iter().any(|p| *p == "AMS_P1CTRL/Q0CSWI1.Pos"));
        assert!(!listed.iter().any(|p| *p == "AMS_P1CTRL/Q0CSWI1.Pos.stVal[ST]"));
        let points = served.points(&with_data);
        assert_eq!(points.len(), grid.points.len());
        let breaker = points.iter().find(|p| p.id == "AMS_P1CTRL/Q0CSWI1.Pos").unwrap();
        assert_eq!((breaker.operable, breaker.cim.measurement.as_deref()), (true, Some("gt-m-b1-pos")));
        assert_eq!(served.points(&[]).len(), grid.points.len());
        assert_eq!(served.tree(&[]).substations.len(), served.tree.substations.len());
    }
}
