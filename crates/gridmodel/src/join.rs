//! Building the joined model from SCL, CGMES and a mapping file.
//!
//! 1. The tree: CGMES containment when a CGMES model is given (with terminals and measurements on
//!    each piece of equipment), else the SCL Substation sections.
//! 2. The points: every `ST`/`MX` data attribute with a value type (not `q`, not `t`) of every IED,
//!    named as the MMS adapter names them (`LDname/LN.DO.DA[FC]`), with unit, description,
//!    control model and MMS address from the SCL.
//! 3. The links, per point, by the first rule that applies:
//!    - the mapping file ([`crate::mapping`]);
//!    - the SCD Substation section: the `<LNode>` of the point's logical node sits on conducting
//!      equipment, which is found in the tree by the mRID in a `gridtrust:cim-mrid` Private
//!      ([`crate::private`]) or else by name path (substation, voltage level, bay, equipment;
//!      the bay name must match when the CIM equipment is in a bay);
//!    - names: the logical node's `desc`, else its logical device's `desc`, is the name of exactly
//!      one piece of equipment.
//!
//!    The measurement is then the one CIM measurement on that equipment whose measurementType
//!    (and phases) the data object has in [`crate::kinds::MEASUREMENT_TYPES`]; the terminal is the
//!    measurement's terminal. A miss or an ambiguity at any step is an [`UnresolvedLink`] with the
//!    reason, never a guess.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use gridtrust_cgmes::{CgmesModel, CgmesObject, Containment, EquipmentEntry, GeneratingUnitKind, VoltageLevelTree};
use gridtrust_model::{CimIdentity, PointId};
use gridtrust_scl::{BasicType, FunctionalConstraint, Import, LNodePlacement, ResolvedIed, SclDocument, SclErrors};

use crate::error::ModelError;
use crate::kinds::{
    command_kind, equipment_kind_of_cim_class, equipment_kind_of_scl_type, is_measuring_class, measurement_rule, point_kind,
};
use crate::mapping::{Mapping, ResolvedEntry, covers};
use crate::model::*;

/// One imported SCL file and the CIM mRIDs its Substation section carries.
#[derive(Debug, Clone)]
pub struct SclInput {
    /// The name errors and points carry (usually the path).
    pub file: String,
    pub import: Import,
    /// SCL path name -> mRID, from `gridtrust:cim-mrid` privates.
    pub cim_mrids: BTreeMap<String, String>,
}

impl SclInput {
    /// Imports SCL bytes and reads the mRIDs of its Substation section.
    pub fn from_bytes(file: &str, bytes: &[u8]) -> Result<Self, SclErrors> {
        let import = gridtrust_scl::import_bytes(file, bytes)?;
        Ok(SclInput { file: file.to_owned(), import, cim_mrids: crate::private::cim_mrids(bytes) })
    }
}

/// Builds the joined model. `scl` may be empty (a CGMES-only model: equipment and CIM
/// measurements, no points) and `cgmes` may be `None` (an SCL-only model). Errors are hard
/// problems (a wrong mapping entry, a point defined twice); links that cannot be made are in
/// [`GridModel::unresolved`].
pub fn join(scl: &[SclInput], cgmes: Option<&CgmesModel>, mapping: Option<&Mapping>) -> Result<GridModel, Vec<ModelError>> {
    let mut model = GridModel { format: FORMAT_VERSION, ..GridModel::default() };
    match cgmes {
        Some(cgmes) => tree_from_cgmes(cgmes, &mut model),
        None => scl.iter().for_each(|input| tree_from_scl(input, &mut model)),
    }
    let mut errors = Vec::new();
    let mapped = match mapping.map(|m| m.resolve(cgmes)) {
        Some((entries, problems)) => {
            errors.extend(problems);
            entries
        }
        None => Vec::new(),
    };
    let index = TreeIndex::new(&model);
    let mut joiner =
        Joiner { index: &index, has_cim: cgmes.is_some(), unresolved: Vec::new(), lns: BTreeMap::new(), origins: BTreeMap::new() };
    for input in scl {
        joiner.collect_logical_nodes(input);
    }
    for input in scl {
        for ied in &input.import.ieds {
            joiner.collect_points(input, ied, &mut model.points, &mut errors);
        }
    }
    for input in scl {
        joiner.place_logical_nodes(input);
    }
    joiner.link_by_name();
    let used = joiner.link_points(&mut model.points, &mapped);
    if let Some(mapping) = mapping {
        for entry in mapped.iter().filter(|e| !used.contains_key(e.key.as_str())) {
            errors.push(ModelError::Mapping {
                file: mapping.file.clone(),
                key: format!("points.\"{}\"", entry.key),
                message: if scl.is_empty() {
                    "no SCL file was given to define points".to_owned()
                } else {
                    "matches no point of the SCL files".to_owned()
                },
            });
        }
        for entry in mapped.iter().filter(|e| e.iec104.is_some() && used.get(e.key.as_str()).is_some_and(|&n| n > 1)) {
            errors.push(ModelError::Mapping {
                file: mapping.file.clone(),
                key: format!("points.\"{}\".iec104", entry.key),
                message: format!(
                    "an IEC 104 address names one point, this key covers {}",
                    used.get(entry.key.as_str()).copied().unwrap_or(0)
                ),
            });
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    model.unresolved = joiner.unresolved;
    attach_points(&mut model);
    model.canonicalize();
    Ok(model)
}

// ------------------------------------------------------------------------------------------------
// The tree.

/// A SynchronousMachine driven by a solar or wind generating unit: how CGMES 2.4.15 models an
/// inverter-coupled plant (3.0 has PowerElectronicsConnection). It is an `Inverter`, not a
/// `Generator`: it cannot form a grid on its own (anti-islanding), which the energised walk needs.
fn inverter_coupled(cgmes: &CgmesModel, mrid: &str) -> bool {
    let Some(CgmesObject::SynchronousMachine(machine)) = cgmes.get(mrid) else { return false };
    let unit = machine.generating_unit.as_deref().and_then(|u| cgmes.generating_units.iter().find(|g| g.equipment.identity.mrid == u));
    unit.is_some_and(|g| matches!(g.kind, GeneratingUnitKind::Solar | GeneratingUnitKind::Wind))
}

fn cim_equipment_node(cgmes: &CgmesModel, entry: &EquipmentEntry) -> EquipmentNode {
    let terminals = cgmes
        .terminals_of(&entry.mrid)
        .into_iter()
        .map(|t| TerminalInfo {
            mrid: t.identity.mrid.clone(),
            name: t.identity.name.clone(),
            sequence_number: t.sequence_number,
            node: t.connectivity_node.clone().or_else(|| t.topological_node.clone()),
        })
        .collect();
    let normal_open = match cgmes.get(&entry.mrid) {
        Some(CgmesObject::Switch(switch)) => switch.normal_open,
        _ => None,
    };
    let measurements = cgmes
        .measurements_of(&entry.mrid)
        .into_iter()
        .map(|m| CimMeasurement {
            mrid: m.identity.mrid.clone(),
            name: m.identity.name.clone(),
            class: format!("{:?}", m.kind),
            measurement_type: m.measurement_type.clone(),
            phases: m.phases.clone(),
            terminal: m.terminal.clone(),
            unit: m.unit_symbol.as_ref().map(|symbol| match m.unit_multiplier.as_deref() {
                None | Some("none") => symbol.clone(),
                Some(multiplier) => format!("{multiplier}{symbol}"),
            }),
            points: Vec::new(),
        })
        .collect();
    EquipmentNode {
        id: entry.mrid.clone(),
        name: entry.name.clone().unwrap_or_else(|| entry.mrid.clone()),
        kind: if inverter_coupled(cgmes, &entry.mrid) { "Inverter".to_owned() } else { equipment_kind_of_cim_class(&entry.class) },
        source_type: entry.class.clone(),
        mrid: Some(entry.mrid.clone()),
        scl_path: None,
        terminals,
        measurements,
        points: Vec::new(),
        normal_open,
    }
}

fn tree_from_cgmes(cgmes: &CgmesModel, model: &mut GridModel) {
    let Containment { substations, lines, voltage_levels_without_substation, uncontained } = cgmes.containment();
    let nodes = |entries: &[EquipmentEntry]| entries.iter().map(|e| cim_equipment_node(cgmes, e)).collect::<Vec<_>>();
    let level = |l: &VoltageLevelTree| VoltageLevelNode {
        id: l.mrid.clone(),
        name: l.name.clone().unwrap_or_else(|| l.mrid.clone()),
        mrid: Some(l.mrid.clone()),
        nominal_kv: l.nominal_kv,
        bays: l
            .bays
            .iter()
            .map(|b| BayNode {
                id: b.mrid.clone(),
                name: b.name.clone().unwrap_or_else(|| b.mrid.clone()),
                mrid: Some(b.mrid.clone()),
                equipment: nodes(&b.equipment),
            })
            .collect(),
        equipment: nodes(&l.equipment),
    };
    model.substations = substations
        .iter()
        .map(|s| SubstationNode {
            id: s.mrid.clone(),
            name: s.name.clone().unwrap_or_else(|| s.mrid.clone()),
            mrid: Some(s.mrid.clone()),
            voltage_levels: s.voltage_levels.iter().map(level).collect(),
            equipment: nodes(&s.equipment),
        })
        .collect();
    model.lines = lines
        .iter()
        .map(|l| LineNode {
            id: l.mrid.clone(),
            name: l.name.clone().unwrap_or_else(|| l.mrid.clone()),
            mrid: Some(l.mrid.clone()),
            equipment: nodes(&l.equipment),
        })
        .collect();
    model.uncontained = nodes(&uncontained);
    for orphan in &voltage_levels_without_substation {
        let orphan = level(orphan);
        model.uncontained.extend(orphan.equipment.into_iter().chain(orphan.bays.into_iter().flat_map(|b| b.equipment)));
    }
    topology_from_cgmes(cgmes, model);
}

/// The nodes the tree's terminals connect to, and the DL placements of equipment and nodes.
fn topology_from_cgmes(cgmes: &CgmesModel, model: &mut GridModel) {
    let busbars: HashSet<&str> = cgmes
        .busbar_sections
        .iter()
        .flat_map(|b| cgmes.terminals_of(&b.equipment.identity.mrid))
        .filter_map(|t| t.connectivity_node.as_deref().or(t.topological_node.as_deref()))
        .collect();
    let level_kv = |container: Option<&str>| -> Option<f64> {
        let mut container = container?;
        // A connectivity node may sit in a bay; its voltage is the bay's voltage level's.
        if let Some(CgmesObject::Bay(bay)) = cgmes.get(container) {
            container = bay.voltage_level.as_deref()?;
        }
        match cgmes.get(container)? {
            CgmesObject::VoltageLevel(level) => level.nominal_kv,
            _ => None,
        }
    };
    let base_kv = |base: Option<&str>| match cgmes.get(base?)? {
        CgmesObject::BaseVoltage(b) => b.nominal_kv,
        _ => None,
    };
    let wanted: BTreeSet<String> = model.equipment().flat_map(|e| e.terminals.iter()).filter_map(|t| t.node.clone()).collect();
    model.nodes = wanted
        .into_iter()
        .filter_map(|id| {
            Some(match cgmes.get(&id)? {
                CgmesObject::ConnectivityNode(n) => NodeInfo {
                    name: n.identity.name.clone(),
                    class: NodeClass::ConnectivityNode,
                    container: n.container.clone(),
                    nominal_kv: level_kv(n.container.as_deref()),
                    busbar: busbars.contains(id.as_str()),
                    id,
                },
                CgmesObject::TopologicalNode(n) => NodeInfo {
                    name: n.identity.name.clone(),
                    class: NodeClass::TopologicalNode,
                    container: n.container.clone(),
                    nominal_kv: level_kv(n.container.as_deref()).or_else(|| base_kv(n.base_voltage.as_deref())),
                    busbar: busbars.contains(id.as_str()),
                    id,
                },
                _ => return None,
            })
        })
        .collect();
    let drawn: HashSet<&str> =
        model.equipment().filter_map(|e| e.mrid.as_deref()).chain(model.nodes.iter().map(|n| n.id.as_str())).collect();
    let diagrams: HashMap<&str, &gridtrust_cgmes::Diagram> = cgmes.diagrams.iter().map(|d| (d.identity.mrid.as_str(), d)).collect();
    let placements = cgmes
        .diagram_objects
        .iter()
        .filter_map(|object| {
            let drawn_object = object.identified_object.as_deref().filter(|o| drawn.contains(o))?;
            let diagram = object.diagram.as_deref()?;
            let points: Vec<DiagramPoint> = object.points.iter().filter_map(|p| Some(DiagramPoint { x: p.x?, y: p.y? })).collect();
            if points.is_empty() {
                return None;
            }
            let known = diagrams.get(diagram);
            Some(DiagramPlacement {
                object: drawn_object.to_owned(),
                diagram: diagram.to_owned(),
                diagram_name: known.and_then(|d| d.identity.name.clone()),
                y_down: known.and_then(|d| d.orientation.as_deref()).is_none_or(|o| o != "positive"),
                rotation_deg: object.rotation_deg,
                points,
            })
        })
        .collect();
    model.diagram = placements;
}

fn tree_from_scl(input: &SclInput, model: &mut GridModel) {
    let mrid = |path: &str| input.cim_mrids.get(path).cloned();
    let id = |path: &str| mrid(path).unwrap_or_else(|| path.to_owned());
    let equipment = |path: String, name: &str, scl_type: &str| EquipmentNode {
        id: id(&path),
        name: name.to_owned(),
        kind: equipment_kind_of_scl_type(scl_type),
        source_type: scl_type.to_owned(),
        mrid: mrid(&path),
        scl_path: Some(path),
        terminals: Vec::new(),
        measurements: Vec::new(),
        points: Vec::new(),
        normal_open: None,
    };
    let transformers = |at: &str, list: &[gridtrust_scl::PowerTransformer]| {
        list.iter().map(|t| equipment(format!("{at}/{}", t.name), &t.name, "PTR")).collect::<Vec<_>>()
    };
    for substation in &input.import.document.substations {
        let s_path = substation.name.clone();
        let voltage_levels = substation
            .voltage_levels
            .iter()
            .map(|level| {
                let l_path = format!("{s_path}/{}", level.name);
                let bays = level
                    .bays
                    .iter()
                    .map(|bay| {
                        let b_path = format!("{l_path}/{}", bay.name);
                        let mut items: Vec<EquipmentNode> = bay
                            .conducting_equipment
                            .iter()
                            .map(|e| equipment(format!("{b_path}/{}", e.name), &e.name, &e.equipment_type))
                            .collect();
                        items.extend(transformers(&b_path, &bay.power_transformers));
                        BayNode { id: id(&b_path), name: bay.name.clone(), mrid: mrid(&b_path), equipment: items }
                    })
                    .collect();
                VoltageLevelNode {
                    id: id(&l_path),
                    name: level.name.clone(),
                    mrid: mrid(&l_path),
                    nominal_kv: level.voltage.as_ref().and_then(|v| v.base_value()).map(|volts| volts / 1000.0),
                    bays,
                    equipment: transformers(&l_path, &level.power_transformers),
                }
            })
            .collect();
        model.substations.push(SubstationNode {
            id: id(&s_path),
            name: substation.name.clone(),
            mrid: mrid(&s_path),
            voltage_levels,
            equipment: transformers(&s_path, &substation.power_transformers),
        });
    }
}

/// Where each piece of equipment of the tree sits, for the name and mRID look-ups.
struct Located {
    id: String,
    name: String,
    mrid: Option<String>,
    substation: String,
    voltage_level: Option<String>,
    /// (name, tree id)
    bay: Option<(String, String)>,
    measurements: Vec<CimMeasurement>,
}

struct TreeIndex {
    equipment: Vec<Located>,
    by_id: HashMap<String, usize>,
}

impl TreeIndex {
    fn new(model: &GridModel) -> Self {
        let mut equipment = Vec::new();
        let mut add = |e: &EquipmentNode, substation: &str, voltage_level: Option<&str>, bay: Option<&BayNode>| {
            equipment.push(Located {
                id: e.id.clone(),
                name: e.name.clone(),
                mrid: e.mrid.clone(),
                substation: substation.to_owned(),
                voltage_level: voltage_level.map(str::to_owned),
                bay: bay.map(|b| (b.name.clone(), b.id.clone())),
                measurements: e.measurements.clone(),
            })
        };
        for s in &model.substations {
            s.equipment.iter().for_each(|e| add(e, &s.name, None, None));
            for l in &s.voltage_levels {
                l.equipment.iter().for_each(|e| add(e, &s.name, Some(&l.name), None));
                for b in &l.bays {
                    b.equipment.iter().for_each(|e| add(e, &s.name, Some(&l.name), Some(b)));
                }
            }
        }
        for e in model.lines.iter().flat_map(|l| l.equipment.iter()).chain(model.uncontained.iter()) {
            add(e, "", None, None);
        }
        let by_id = equipment.iter().enumerate().map(|(i, e)| (e.id.clone(), i)).collect();
        TreeIndex { equipment, by_id }
    }

    fn is_empty(&self) -> bool {
        self.equipment.is_empty()
    }

    fn by_mrid(&self, mrid: &str) -> Option<&Located> {
        self.equipment.iter().find(|e| e.mrid.as_deref() == Some(mrid))
    }

    fn named(&self, name: &str) -> Vec<&Located> {
        self.equipment.iter().filter(|e| e.name == name).collect()
    }

    /// Equipment matching an SCL placement's name path.
    fn by_path(&self, placement: &LNodePlacement, name: &str) -> Vec<&Located> {
        self.equipment
            .iter()
            .filter(|e| e.name == name && e.substation == placement.substation)
            .filter(|e| match (&e.voltage_level, &placement.voltage_level) {
                (Some(have), Some(want)) => have == want,
                (Some(_), None) => false,
                (None, _) => true,
            })
            .filter(|e| match (&e.bay, &placement.bay) {
                (Some((have, _)), Some(want)) => have == want,
                (Some(_), None) => false,
                (None, _) => true,
            })
            .collect()
    }
}

// ------------------------------------------------------------------------------------------------
// Points and links.

/// A logical node: `(IED, LD inst, LN name)`.
type LnKey = (String, String, String);

struct LnInfo {
    ln_class: String,
    desc: Option<String>,
    ld_desc: Option<String>,
    ld_name: String,
    /// What the LN is linked to, once known.
    link: Option<Result<LnTarget, ()>>,
}

#[derive(Clone, PartialEq)]
struct LnTarget {
    equipment: Option<String>,
    bay: Option<String>,
    source: LinkSource,
    /// Where the link came from, for messages.
    via: String,
}

struct PointOrigin {
    ln: LnKey,
    /// The data path below the logical node (`TotW.mag.f`).
    data_path: String,
}

struct Joiner<'a> {
    index: &'a TreeIndex,
    has_cim: bool,
    unresolved: Vec<UnresolvedLink>,
    lns: BTreeMap<LnKey, LnInfo>,
    origins: BTreeMap<PointId, PointOrigin>,
}

fn unresolved(subject: impl Into<String>, reason: impl Into<String>) -> UnresolvedLink {
    UnresolvedLink { subject: subject.into(), reason: reason.into() }
}

/// Basic types whose values a point carries (quality and time stamps qualify other values).
fn carries_value(btype: BasicType) -> bool {
    use BasicType as B;
    matches!(
        btype,
        B::Boolean
            | B::Dbpos
            | B::Float32
            | B::Float64
            | B::Enum
            | B::Int8
            | B::Int16
            | B::Int24
            | B::Int32
            | B::Int64
            | B::Int8U
            | B::Int16U
            | B::Int24U
            | B::Int32U
    )
}

/// The data object prefixes of `data_path`, longest first (`A.phsA.cVal.mag.f` -> `A.phsA.cVal.mag`, ..., `A`).
fn prefixes(data_path: &str) -> impl Iterator<Item = &str> {
    data_path.rmatch_indices('.').map(move |(i, _)| data_path.get(..i).unwrap_or(data_path))
}

impl Joiner<'_> {
    fn collect_logical_nodes(&mut self, input: &SclInput) {
        let document: &SclDocument = &input.import.document;
        for ied in &document.ieds {
            let Some(resolved) = input.import.ied(&ied.name) else {
                continue;
            };
            for ld in ied.logical_devices() {
                let ld_name = resolved
                    .logical_devices
                    .iter()
                    .find(|(inst, _)| *inst == ld.inst)
                    .map_or_else(|| format!("{}{}", ied.name, ld.inst), |(_, n)| n.clone());
                for ln in ld.logical_nodes() {
                    self.lns.entry((ied.name.clone(), ld.inst.clone(), ln.name())).or_insert(LnInfo {
                        ln_class: ln.ln_class.clone(),
                        desc: ln.desc.clone(),
                        ld_desc: ld.desc.clone(),
                        ld_name: ld_name.clone(),
                        link: None,
                    });
                }
            }
        }
    }

    fn collect_points(
        &mut self,
        input: &SclInput,
        ied: &ResolvedIed,
        points: &mut BTreeMap<PointId, PointInfo>,
        errors: &mut Vec<ModelError>,
    ) {
        let endpoint = input.import.document.mms_endpoints(&ied.name).into_iter().next();
        for attribute in &ied.attributes {
            if !matches!(attribute.fc, FunctionalConstraint::St | FunctionalConstraint::Mx) || !carries_value(attribute.btype) {
                continue;
            }
            let Some((inst, after_ld)) = attribute.reference.split_once('/') else {
                continue;
            };
            let Some((ln, data_path)) = after_ld.split_once('.') else {
                continue;
            };
            let key = (ied.name.clone(), inst.to_owned(), ln.to_owned());
            let Some(info) = self.lns.get(&key) else {
                continue;
            };
            let fc = attribute.fc.as_str();
            let text = format!("{}/{ln}.{data_path}[{fc}]", info.ld_name);
            let id = match PointId::new(text.as_str()) {
                Ok(id) => id,
                Err(e) => {
                    self.unresolved
                        .push(unresolved(format!("{} {}", ied.name, attribute.reference), format!("not usable as a point id: {e}")));
                    continue;
                }
            };
            let lookup = |suffix: &str, fc: FunctionalConstraint| {
                prefixes(data_path).find_map(|prefix| {
                    ied.attribute(&format!("{inst}/{ln}.{prefix}.{suffix}")).filter(|a| a.fc == fc).and_then(|a| a.value.clone())
                })
            };
            let unit = lookup("units.SIUnit", FunctionalConstraint::Cf).map(|symbol| {
                let multiplier = lookup("units.multiplier", FunctionalConstraint::Cf).unwrap_or_default();
                format!("{multiplier}{symbol}")
            });
            let control_model = if attribute.fc == FunctionalConstraint::St { lookup("ctlModel", FunctionalConstraint::Cf) } else { None };
            let operable = control_model.is_some_and(|m| !matches!(m.as_str(), "status-only" | "0"));
            let attribute_name = data_path.rsplit('.').next().unwrap_or(data_path);
            let point = PointInfo {
                reference: id.clone(),
                fc: fc.to_owned(),
                basic_type: attribute.btype.as_str().to_owned(),
                cdc: attribute.cdc.clone(),
                kind: point_kind(fc, attribute.btype.as_str(), &attribute.cdc, attribute_name).to_owned(),
                unit,
                description: lookup("d", FunctionalConstraint::Dc).or_else(|| info.desc.clone()),
                ied: ied.name.clone(),
                scl_file: input.file.clone(),
                cim: CimIdentity::default(),
                bay: None,
                equipment: None,
                link: None,
                operable,
                command_kind: if operable { command_kind(&attribute.cdc).map(str::to_owned) } else { None },
                addresses: endpoint
                    .iter()
                    .map(|e| ProtocolAddress::Mms {
                        host: e.ip.to_string(),
                        port: e.port,
                        domain: info.ld_name.clone(),
                        item: format!("{ln}${fc}${}", data_path.replace('.', "$")),
                    })
                    .collect(),
            };
            if let Some(first) = points.get(&id) {
                errors.push(ModelError::DuplicatePoint {
                    point: id.to_string(),
                    first: first.scl_file.clone(),
                    second: input.file.clone(),
                });
                continue;
            }
            self.origins.insert(id.clone(), PointOrigin { ln: key, data_path: data_path.to_owned() });
            points.insert(id, point);
        }
    }

    /// Rule 2: the Substation section's LNodes.
    fn place_logical_nodes(&mut self, input: &SclInput) {
        for placement in input.import.document.lnode_placements() {
            let lnode = &placement.lnode;
            if lnode.ied_name == "None" {
                continue; // a function not yet allocated to an IED (IEC 61850-6 9.3.2)
            }
            let key = (lnode.ied_name.clone(), lnode.ld_inst.clone(), lnode.ln_name());
            let subject = format!("LNode {} {}/{} at {}", lnode.ied_name, lnode.ld_inst, lnode.ln_name(), placement.path);
            let Some(info) = self.lns.get(&key) else {
                let reason = if self.lns.keys().any(|(ied, _, _)| *ied == lnode.ied_name) {
                    format!("IED `{}` has no logical node {}/{}", lnode.ied_name, lnode.ld_inst, lnode.ln_name())
                } else {
                    format!("IED `{}` is not in the SCL files", lnode.ied_name)
                };
                self.unresolved.push(unresolved(subject, reason));
                continue;
            };
            let measuring = is_measuring_class(&info.ln_class);
            let target = match self.resolve_placement(input, &placement) {
                Ok(target) => target,
                Err(reason) => {
                    self.unresolved.push(unresolved(subject, reason));
                    if let Some(info) = self.lns.get_mut(&key) {
                        info.link = Some(Err(()));
                    }
                    continue;
                }
            };
            if target.equipment.is_none() && measuring && self.has_cim {
                self.unresolved
                    .push(unresolved(subject.clone(), format!("placed on {}, not on equipment: no CIM equipment to join", placement.path)));
            }
            let Some(info) = self.lns.get_mut(&key) else {
                continue;
            };
            match &info.link {
                None => info.link = Some(Ok(target)),
                Some(Ok(first)) if first.equipment != target.equipment => {
                    let first_via = first.via.clone();
                    info.link = Some(Err(()));
                    self.unresolved.push(unresolved(
                        subject,
                        format!("the logical node is placed on several equipment: {first_via} and {}", target.via),
                    ));
                }
                Some(_) => {}
            }
        }
    }

    fn resolve_placement(&self, input: &SclInput, placement: &LNodePlacement) -> Result<LnTarget, String> {
        let Some(name) = &placement.equipment else {
            let bay = self
                .index
                .equipment
                .iter()
                .filter_map(|e| e.bay.as_ref())
                .find(|(bay, _)| Some(bay) == placement.bay.as_ref())
                .map(|(_, id)| id.clone());
            return Ok(LnTarget { equipment: None, bay, source: LinkSource::ScdLnode, via: placement.path.clone() });
        };
        let path: Vec<&str> =
            [Some(placement.substation.as_str()), placement.voltage_level.as_deref(), placement.bay.as_deref(), Some(name.as_str())]
                .into_iter()
                .flatten()
                .collect();
        let path = path.join("/");
        let what = if self.has_cim { "equipment in the CGMES model" } else { "equipment in the SCL Substation section" };
        let found = match input.cim_mrids.get(&path) {
            Some(mrid) => self.index.by_mrid(mrid).ok_or_else(|| format!("the SCL gives {path} the mRID {mrid}, which is no {what}"))?,
            None => match self.index.by_path(placement, name).as_slice() {
                [one] => *one,
                [] => {
                    return Err(format!("no {what} named `{name}` at {path} (substation, voltage level, bay and name must match)"));
                }
                many => {
                    let ids: Vec<&str> = many.iter().map(|e| e.id.as_str()).collect();
                    return Err(format!(
                        "{} {what} match {path} by name ({}): give a gridtrust:cim-mrid Private or a mapping entry",
                        many.len(),
                        ids.join(", ")
                    ));
                }
            },
        };
        Ok(LnTarget {
            equipment: Some(found.id.clone()),
            bay: found.bay.as_ref().map(|(_, id)| id.clone()),
            source: LinkSource::ScdLnode,
            via: path,
        })
    }

    /// Rule 3, for logical nodes no LNode placed: their description names the equipment.
    fn link_by_name(&mut self) {
        if self.index.is_empty() {
            return; // nothing to link to: not a problem of the logical nodes
        }
        for ((ied, inst, ln), info) in self.lns.iter_mut().filter(|(_, info)| info.link.is_none()) {
            let subject = format!("{}/{ln} (IED {ied}, LD {inst})", info.ld_name);
            let names = [info.desc.as_deref(), info.ld_desc.as_deref()];
            let mut outcome = None;
            for name in names.into_iter().flatten() {
                match self.index.named(name).as_slice() {
                    [] => continue,
                    [one] => {
                        outcome = Some(Ok(LnTarget {
                            equipment: Some(one.id.clone()),
                            bay: one.bay.as_ref().map(|(_, id)| id.clone()),
                            source: LinkSource::Name,
                            via: format!("name `{name}`"),
                        }))
                    }
                    many => {
                        let ids: Vec<&str> = many.iter().map(|e| e.id.as_str()).collect();
                        self.unresolved.push(unresolved(
                            subject.clone(),
                            format!("the description `{name}` names {} equipment ({})", many.len(), ids.join(", ")),
                        ));
                        outcome = Some(Err(()));
                    }
                }
                break;
            }
            match outcome {
                Some(link) => info.link = Some(link),
                None if is_measuring_class(&info.ln_class) => {
                    let described = match names {
                        [None, None] => "it has no description".to_owned(),
                        _ => format!(
                            "its description ({}) names no equipment",
                            names.into_iter().flatten().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
                        ),
                    };
                    self.unresolved.push(unresolved(subject, format!("not placed by an LNode in the Substation section and {described}")));
                }
                None => {}
            }
        }
    }

    /// Applies the mapping and the logical-node links to every point; returns how many points
    /// each mapping key covered.
    fn link_points<'m>(&mut self, points: &mut BTreeMap<PointId, PointInfo>, mapped: &'m [ResolvedEntry]) -> BTreeMap<&'m str, usize> {
        let mut used: BTreeMap<&str, usize> = BTreeMap::new();
        for (id, point) in points.iter_mut() {
            let best = mapped.iter().filter(|e| covers(&e.key, id.as_str())).max_by_key(|e| e.key.len());
            if let Some(entry) = best {
                *used.entry(entry.key.as_str()).or_default() += 1;
                point.cim = entry.cim.clone();
                point.link = Some(LinkSource::MappingFile);
                if let Some(located) = entry.cim.equipment.as_deref().and_then(|m| self.index.by_mrid(m)) {
                    point.equipment = Some(located.id.clone());
                    point.bay = located.bay.as_ref().map(|(_, id)| id.clone());
                }
                if let Some(address) = entry.iec104 {
                    point.addresses.push(ProtocolAddress::Iec104 { common_address: address.common_address, ioa: address.ioa });
                }
                continue;
            }
            let Some(origin) = self.origins.get(id) else {
                continue;
            };
            let Some(info) = self.lns.get(&origin.ln) else {
                continue;
            };
            let Some(Ok(target)) = &info.link else {
                continue;
            };
            point.link = Some(target.source);
            point.bay = target.bay.clone();
            point.equipment = target.equipment.clone();
            let Some(located) = target.equipment.as_ref().and_then(|e| self.index.by_id.get(e)).and_then(|&i| self.index.equipment.get(i))
            else {
                continue;
            };
            point.cim.equipment = located.mrid.clone();
            let Some(rule) = measurement_rule(&info.ln_class, &origin.data_path) else {
                continue;
            };
            if !self.has_cim {
                continue; // no CIM measurements to find: not a failure of this point
            }
            let subject = format!("{}/{}.{}", info.ld_name, origin.ln.2, rule.data_object);
            let phase_ok = |m: &CimMeasurement| rule.phases.is_none_or(|want| m.phases.as_deref() == Some(want));
            let candidates: Vec<&CimMeasurement> = located
                .measurements
                .iter()
                .filter(|m| m.measurement_type.as_deref() == Some(rule.measurement_type) && phase_ok(m))
                .collect();
            let wanted = match rule.phases {
                Some(phases) => format!("measurementType {} on phases {phases}", rule.measurement_type),
                None => format!("measurementType {}", rule.measurement_type),
            };
            match candidates.as_slice() {
                [one] => {
                    point.cim.measurement = Some(one.mrid.clone());
                    point.cim.terminal = one.terminal.clone();
                    if point.unit.is_none() {
                        point.unit = one.unit.clone();
                    }
                }
                [] => self.unresolved.push(unresolved(
                    subject,
                    format!("equipment `{}` ({}) has no CIM measurement with {wanted}", located.name, located.id),
                )),
                many => {
                    let ids: Vec<&str> = many.iter().map(|m| m.mrid.as_str()).collect();
                    self.unresolved.push(unresolved(
                        subject,
                        format!(
                            "equipment `{}` has {} CIM measurements with {wanted} ({}): give a mapping entry",
                            located.name,
                            many.len(),
                            ids.join(", ")
                        ),
                    ));
                }
            }
        }
        used
    }
}

/// Lists each point under its equipment and CIM measurement in the tree.
fn attach_points(model: &mut GridModel) {
    let mut by_equipment: HashMap<String, Vec<PointId>> = HashMap::new();
    let mut by_measurement: HashMap<String, Vec<PointId>> = HashMap::new();
    for (id, point) in &model.points {
        if let Some(equipment) = &point.equipment {
            by_equipment.entry(equipment.clone()).or_default().push(id.clone());
        }
        if let Some(measurement) = &point.cim.measurement {
            by_measurement.entry(measurement.clone()).or_default().push(id.clone());
        }
    }
    for node in model.equipment_mut() {
        node.points = by_equipment.remove(&node.id).unwrap_or_default();
        for measurement in &mut node.measurements {
            measurement.points = by_measurement.get(&measurement.mrid).cloned().unwrap_or_default();
        }
    }
}
