//! The joined model's types: the containment tree, the points with their IEC 61850 and CIM
//! identities, what could not be linked, and the files it was built from. Everything is kept in a
//! canonical order ([`GridModel::canonicalize`]) so that two imports of the same files give the same
//! JSON byte for byte and a diff shows only real changes.

use std::collections::BTreeMap;

use gridtrust_model::{CimIdentity, PointId};
use serde::{Deserialize, Serialize};

/// Version of the JSON layout, so a reader can refuse a model written by an incompatible build.
pub const FORMAT_VERSION: u32 = 1;

/// The joined IEC 61850 / CIM model of a grid: what the hub serves and what `gridtrust model`
/// writes, shows and compares.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridModel {
    /// [`FORMAT_VERSION`] of the writer.
    pub format: u32,
    /// Substation -> voltage level -> bay -> equipment, from CGMES when given, else from the SCL
    /// Substation sections.
    pub substations: Vec<SubstationNode>,
    /// CIM lines (containers of line segments), which sit outside substations.
    pub lines: Vec<LineNode>,
    /// CIM equipment without a known container (e.g. boundary injections).
    pub uncontained: Vec<EquipmentNode>,
    /// Every point, keyed (and so ordered) by its IEC 61850 reference.
    pub points: BTreeMap<PointId, PointInfo>,
    /// Links that could not be made, each with the reason.
    pub unresolved: Vec<UnresolvedLink>,
    /// The files the model was built from.
    pub sources: Vec<SourceFile>,
    /// The CIM nodes terminals connect to (connectivity nodes, else topological nodes), by id;
    /// empty for SCL-only models and for files written before the topology was carried.
    #[serde(default)]
    pub nodes: Vec<NodeInfo>,
    /// Where the CGMES diagram layout (DL) draws equipment and nodes, one entry per diagram
    /// object; empty when no DL profile was imported.
    #[serde(default)]
    pub diagram: Vec<DiagramPlacement>,
}

/// Which CIM class a [`NodeInfo`] is: node-breaker models connect terminals to connectivity
/// nodes, bus-branch models (and the boundary) only to topological nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeClass {
    ConnectivityNode,
    TopologicalNode,
}

/// A CIM node that terminals connect to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeInfo {
    /// The mRID.
    pub id: String,
    pub name: Option<String>,
    pub class: NodeClass,
    /// The mRID of the container (voltage level, bay, line) the node belongs to.
    pub container: Option<String>,
    /// Nominal voltage: the container's voltage level's, else the node's base voltage's.
    pub nominal_kv: Option<f64>,
    /// A busbar section has a terminal on it.
    pub busbar: bool,
}

/// One DL diagram object: the points drawing an equipment or node on one diagram.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiagramPlacement {
    /// mRID of the equipment or node drawn.
    pub object: String,
    /// mRID of the diagram.
    pub diagram: String,
    /// The diagram's name.
    pub diagram_name: Option<String>,
    /// `y_down`: the diagram's y axis grows downwards (DL `orientation` negative), as on a screen.
    pub y_down: bool,
    /// Clockwise rotation in degrees.
    pub rotation_deg: Option<f64>,
    /// The polyline (one point for a symbol), in diagram units, by sequence number.
    pub points: Vec<DiagramPoint>,
}

/// A point of a [`DiagramPlacement`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiagramPoint {
    pub x: f64,
    pub y: f64,
}

/// A substation of the tree.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubstationNode {
    /// Stable id: the CIM mRID when known, else the SCL name.
    pub id: String,
    pub name: String,
    pub mrid: Option<String>,
    pub voltage_levels: Vec<VoltageLevelNode>,
    /// Equipment held directly by the substation (CIM power transformers usually are).
    pub equipment: Vec<EquipmentNode>,
}

/// A voltage level of a substation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoltageLevelNode {
    /// The mRID when known, else the SCL path `Substation/VoltageLevel`.
    pub id: String,
    pub name: String,
    pub mrid: Option<String>,
    pub nominal_kv: Option<f64>,
    pub bays: Vec<BayNode>,
    /// Equipment held directly by the voltage level (CGMES models without bays).
    pub equipment: Vec<EquipmentNode>,
}

/// A bay of a voltage level.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BayNode {
    /// The mRID when known, else the SCL path `Substation/VoltageLevel/Bay`.
    pub id: String,
    pub name: String,
    pub mrid: Option<String>,
    pub equipment: Vec<EquipmentNode>,
}

/// A CIM line with its segments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineNode {
    pub id: String,
    pub name: String,
    pub mrid: Option<String>,
    pub equipment: Vec<EquipmentNode>,
}

/// A piece of primary equipment with its terminals, its CIM measurements and the points on it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EquipmentNode {
    /// The mRID when known, else the SCL path `Substation/VoltageLevel/Bay/Equipment`.
    pub id: String,
    pub name: String,
    /// What it is in words people and the UI use: `Breaker`, `Disconnector`, `PowerTransformer`,
    /// `Line`, `Load`, `Generator`, ... (see [`crate::kinds`]).
    pub kind: String,
    /// The CIM class (`cim:Breaker`) or the SCL equipment type (`CBR`) it came from.
    pub source_type: String,
    pub mrid: Option<String>,
    /// The SCL path name, when an SCL Substation section has this equipment.
    pub scl_path: Option<String>,
    pub terminals: Vec<TerminalInfo>,
    pub measurements: Vec<CimMeasurement>,
    /// Points on this equipment, in reference order.
    pub points: Vec<PointId>,
    /// For a CIM switch: `Switch.normalOpen` (EQ), the state assumed when no live position is known.
    #[serde(default)]
    pub normal_open: Option<bool>,
}

/// A CIM terminal of a piece of equipment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminalInfo {
    pub mrid: String,
    pub name: Option<String>,
    pub sequence_number: Option<i64>,
    /// The mRID of the node it connects to: its connectivity node, else its topological node
    /// (see [`GridModel::nodes`]).
    #[serde(default)]
    pub node: Option<String>,
}

/// A CIM `Analog`, `Discrete` or `Accumulator` of a piece of equipment (also when no IEC 61850
/// point is linked to it, so a CGMES-only model still lists what is measured).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CimMeasurement {
    pub mrid: String,
    pub name: Option<String>,
    /// `Analog`, `Discrete` or `Accumulator`.
    pub class: String,
    pub measurement_type: Option<String>,
    pub phases: Option<String>,
    pub terminal: Option<String>,
    /// Multiplier and symbol, e.g. `MW`.
    pub unit: Option<String>,
    /// The points linked to it.
    pub points: Vec<PointId>,
}

/// One IEC 61850 point and everything known about it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointInfo {
    /// The object reference with functional constraint, as the MMS adapter names the point:
    /// `LDname/LN.DO[.SDO].DA[FC]` (LD name = `ldName`, else IED name + LD inst).
    pub reference: PointId,
    /// IEC 61850-7-2 functional constraint (`ST`, `MX`).
    pub fc: String,
    /// IEC 61850-6 basic type (`FLOAT32`, `Dbpos`, ...).
    pub basic_type: String,
    /// Common data class of the data object (`MV`, `DPC`, `WYE`, ...).
    pub cdc: String,
    /// `analog`, `status`, `counter` or `text`.
    pub kind: String,
    /// Unit from the SCL `units` attribute, else from the linked CIM measurement.
    pub unit: Option<String>,
    /// The data object's `d`, else the logical node's `desc`.
    pub description: Option<String>,
    pub ied: String,
    /// The SCL file that defines the point.
    pub scl_file: String,
    pub cim: CimIdentity,
    /// Tree ids of the bay and equipment the point belongs to.
    pub bay: Option<String>,
    pub equipment: Option<String>,
    /// Which rule linked the point to CIM/the tree, if any did.
    pub link: Option<LinkSource>,
    /// True when the data object accepts commands (a control model other than status-only).
    pub operable: bool,
    /// `single`, `double`, `step` or `setpoint` when operable.
    pub command_kind: Option<String>,
    /// Where the value can be read on each protocol.
    pub addresses: Vec<ProtocolAddress>,
}

/// How a point was linked: the join rules in the order they are tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkSource {
    /// An entry of the explicit mapping file.
    MappingFile,
    /// An `<LNode>` in the SCD Substation section.
    ScdLnode,
    /// The logical node's or logical device's description names the equipment.
    Name,
}

/// A protocol address of a point.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "protocol", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ProtocolAddress {
    /// IEC 61850-8-1 MMS: the named variable `item` (e.g. `MMXU1$MX$TotW$mag$f`) in `domain`.
    Mms { host: String, port: u16, domain: String, item: String },
    /// IEC 60870-5-104, from the mapping file.
    Iec104 { common_address: u16, ioa: u32 },
}

/// A link that was wanted but not made, and why; never replaced by a guess.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnresolvedLink {
    /// What could not be linked: an LNode (`LNode AMS_P1 MEAS/MMXU3 at PP_Amsterdam/...`), a
    /// logical node or a point reference.
    pub subject: String,
    pub reason: String,
}

/// A file the model was built from, with its digest so a model names exactly what it came from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceFile {
    /// `scl`, `cgmes` or `mapping`.
    pub kind: String,
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
}

impl GridModel {
    /// Puts every list in its canonical order (by name then id; points by reference; unresolved
    /// by subject then reason; sources by path), so equal models serialise identically.
    pub fn canonicalize(&mut self) {
        self.substations.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
        for substation in &mut self.substations {
            sort_equipment(&mut substation.equipment);
            substation.voltage_levels.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
            for level in &mut substation.voltage_levels {
                sort_equipment(&mut level.equipment);
                level.bays.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
                for bay in &mut level.bays {
                    sort_equipment(&mut bay.equipment);
                }
            }
        }
        self.lines.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
        for line in &mut self.lines {
            sort_equipment(&mut line.equipment);
        }
        sort_equipment(&mut self.uncontained);
        for point in self.points.values_mut() {
            point.addresses.sort();
        }
        self.unresolved.sort();
        self.unresolved.dedup();
        self.sources.sort_by(|a, b| (&a.path, &a.kind).cmp(&(&b.path, &b.kind)));
        self.nodes.sort_by(|a, b| a.id.cmp(&b.id));
        self.diagram.sort_by(|a, b| (&a.diagram, &a.object).cmp(&(&b.diagram, &b.object)));
    }

    /// Every equipment node of the tree (substations, voltage levels, bays, lines).
    pub fn equipment(&self) -> impl Iterator<Item = &EquipmentNode> {
        self.substations
            .iter()
            .flat_map(|s| {
                s.equipment
                    .iter()
                    .chain(s.voltage_levels.iter().flat_map(|l| l.equipment.iter().chain(l.bays.iter().flat_map(|b| b.equipment.iter()))))
            })
            .chain(self.lines.iter().flat_map(|l| l.equipment.iter()))
            .chain(self.uncontained.iter())
    }

    /// The equipment node with this tree id or mRID.
    pub fn find_equipment(&self, id_or_mrid: &str) -> Option<&EquipmentNode> {
        let wanted = id_or_mrid.strip_prefix('_').unwrap_or(id_or_mrid);
        self.equipment().find(|e| e.id == id_or_mrid || e.mrid.as_deref() == Some(wanted))
    }

    pub(crate) fn equipment_mut(&mut self) -> impl Iterator<Item = &mut EquipmentNode> {
        self.substations
            .iter_mut()
            .flat_map(|s| {
                s.equipment.iter_mut().chain(
                    s.voltage_levels
                        .iter_mut()
                        .flat_map(|l| l.equipment.iter_mut().chain(l.bays.iter_mut().flat_map(|b| b.equipment.iter_mut()))),
                )
            })
            .chain(self.lines.iter_mut().flat_map(|l| l.equipment.iter_mut()))
            .chain(self.uncontained.iter_mut())
    }
}

fn sort_equipment(equipment: &mut [EquipmentNode]) {
    equipment.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
    for node in equipment {
        node.points.sort();
        node.terminals.sort_by(|a, b| (a.sequence_number, &a.mrid).cmp(&(b.sequence_number, &b.mrid)));
        node.measurements.sort_by(|a, b| (&a.name, &a.mrid).cmp(&(&b.name, &b.mrid)));
        for measurement in &mut node.measurements {
            measurement.points.sort();
        }
    }
}
