//! Typed CIM objects built from the merged graph, with the lookups the rest of gridtrust needs:
//! by mRID, containment (Substation → VoltageLevel → Bay → equipment, plus equipment directly
//! under a substation, a voltage level or a line), terminals per equipment, measurements per
//! equipment or terminal, limits per terminal or equipment.
//!
//! CGMES 2.4.15 and 3.0 files give the same typed objects: the classes typed here keep their names
//! in CIM 100, and where CGMES 3.0 renamed, split or added a property the typed field says which
//! property each edition fills it from (`eu:` short names and EIC codes,
//! `eu:OperationalLimitType.kind`, limits' `normalValue` and SSH `value`, `Equipment.inService`,
//! `eu:BoundaryPoint`, `SvSwitch`). Layout objects from DL and GL are in [`crate::layout`].
//!
//! Units are those of CGMES 2.4.15, unchanged in 3.0: kV for voltages, Ω for impedances, S for
//! admittances, km for lengths, MW / MVAr / MVA for powers, A for currents, degrees for angles,
//! seconds for durations.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use crate::diagnostic::Diagnostic;
use crate::error::CgmesError;
use crate::graph::{Object, RdfGraph, SourceFile, Statement};
use crate::layout::{self, CoordinateSystem, Diagram, DiagramObject, Location, Point};
use crate::rdfxml::Value;
use crate::version::CgmesVersion;

/// Names every CIM object carries (IdentifiedObject and the ENTSO-E extension).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Identified {
    /// The mRID, without the leading `_`.
    pub mrid: String,
    /// `IdentifiedObject.name`.
    pub name: Option<String>,
    /// `IdentifiedObject.description`.
    pub description: Option<String>,
    /// `entsoe:IdentifiedObject.shortName` (2.4.15), `eu:IdentifiedObject.shortName` (3.0).
    pub short_name: Option<String>,
    /// `entsoe:IdentifiedObject.energyIdentCodeEic` (2.4.15), `eu:IdentifiedObject.energyIdentCodeEic` (3.0).
    pub energy_ident_code_eic: Option<String>,
}

/// What every piece of equipment has: identity, class and where it is contained.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Equipment {
    /// Names.
    #[serde(flatten)]
    pub identity: Identified,
    /// The CIM class (canonical name, e.g. `cim:Breaker`).
    pub class: String,
    /// `Equipment.EquipmentContainer`: a Substation, VoltageLevel, Bay, Line or other container.
    pub container: Option<String>,
    /// `ConductingEquipment.BaseVoltage`.
    pub base_voltage: Option<String>,
    /// `Equipment.normallyInService` (EQ, 3.0).
    pub normally_in_service: Option<bool>,
    /// `Equipment.inService` (SSH, 3.0): in service in this hypothesis.
    pub in_service: Option<bool>,
    /// `SvStatus.inService` of the `SvStatus` naming this equipment (SV, both editions).
    pub solved_in_service: Option<bool>,
}

/// `BaseVoltage`: the nominal voltage voltage levels and equipment refer to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BaseVoltage {
    /// Names.
    #[serde(flatten)]
    pub identity: Identified,
    /// `BaseVoltage.nominalVoltage` in kV.
    pub nominal_kv: Option<f64>,
}

/// `Substation`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Substation {
    /// Names.
    #[serde(flatten)]
    pub identity: Identified,
    /// `Substation.Region` (a SubGeographicalRegion).
    pub region: Option<String>,
}

/// `VoltageLevel`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VoltageLevel {
    /// Names.
    #[serde(flatten)]
    pub identity: Identified,
    /// `VoltageLevel.Substation`.
    pub substation: Option<String>,
    /// `VoltageLevel.BaseVoltage`.
    pub base_voltage: Option<String>,
    /// The base voltage's nominal voltage in kV.
    pub nominal_kv: Option<f64>,
    /// `VoltageLevel.highVoltageLimit` in kV.
    pub high_voltage_limit_kv: Option<f64>,
    /// `VoltageLevel.lowVoltageLimit` in kV.
    pub low_voltage_limit_kv: Option<f64>,
}

/// `Bay`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bay {
    /// Names.
    #[serde(flatten)]
    pub identity: Identified,
    /// `Bay.VoltageLevel`.
    pub voltage_level: Option<String>,
}

/// `Line`: the container of AC line segments.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    /// Names.
    #[serde(flatten)]
    pub identity: Identified,
    /// `Line.Region`.
    pub region: Option<String>,
}

/// `BusbarSection`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BusbarSection {
    /// Identity and containment.
    #[serde(flatten)]
    pub equipment: Equipment,
    /// `BusbarSection.ipMax` in A.
    pub ip_max_a: Option<f64>,
}

/// `ACLineSegment`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AcLineSegment {
    /// Identity and containment.
    #[serde(flatten)]
    pub equipment: Equipment,
    /// `ACLineSegment.r` in Ω.
    pub r: Option<f64>,
    /// `ACLineSegment.x` in Ω.
    pub x: Option<f64>,
    /// `ACLineSegment.bch` in S.
    pub bch: Option<f64>,
    /// `ACLineSegment.gch` in S.
    pub gch: Option<f64>,
    /// `Conductor.length` in km.
    pub length_km: Option<f64>,
}

/// `PowerTransformer`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PowerTransformer {
    /// Identity and containment.
    #[serde(flatten)]
    pub equipment: Equipment,
    /// Its ends' mRIDs, by end number.
    pub ends: Vec<String>,
}

/// `PowerTransformerEnd`: one winding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PowerTransformerEnd {
    /// Names.
    #[serde(flatten)]
    pub identity: Identified,
    /// `PowerTransformerEnd.PowerTransformer`.
    pub transformer: Option<String>,
    /// `TransformerEnd.Terminal`.
    pub terminal: Option<String>,
    /// `TransformerEnd.BaseVoltage`.
    pub base_voltage: Option<String>,
    /// `TransformerEnd.endNumber` (1 is the high-voltage side by convention).
    pub end_number: Option<i64>,
    /// `PowerTransformerEnd.ratedU` in kV.
    pub rated_u_kv: Option<f64>,
    /// `PowerTransformerEnd.ratedS` in MVA.
    pub rated_s_mva: Option<f64>,
    /// `PowerTransformerEnd.r` in Ω.
    pub r: Option<f64>,
    /// `PowerTransformerEnd.x` in Ω.
    pub x: Option<f64>,
    /// `PowerTransformerEnd.connectionKind` (e.g. `Y`, `D`, `Yn`).
    pub connection_kind: Option<String>,
}

/// Which CIM switch class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SwitchKind {
    /// `Switch`.
    Switch,
    /// `Breaker`.
    Breaker,
    /// `Disconnector`.
    Disconnector,
    /// `LoadBreakSwitch`.
    LoadBreakSwitch,
    /// `Fuse`.
    Fuse,
    /// `GroundDisconnector`.
    GroundDisconnector,
    /// `Jumper`.
    Jumper,
}

/// A switch of any kind, with its normal (EQ) and current (SSH) state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Switch {
    /// Identity and containment.
    #[serde(flatten)]
    pub equipment: Equipment,
    /// The class.
    pub kind: SwitchKind,
    /// `Switch.normalOpen` (EQ).
    pub normal_open: Option<bool>,
    /// `Switch.open` (SSH).
    pub open: Option<bool>,
    /// `Switch.retained`.
    pub retained: Option<bool>,
    /// `SvSwitch.open` of the `SvSwitch` naming this switch (SV, 3.0): the solved state.
    pub solved_open: Option<bool>,
}

/// Which CIM load class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum LoadKind {
    /// `EnergyConsumer`.
    EnergyConsumer,
    /// `ConformLoad`.
    ConformLoad,
    /// `NonConformLoad`.
    NonConformLoad,
}

/// A load, with its set points from SSH.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Load {
    /// Identity and containment.
    #[serde(flatten)]
    pub equipment: Equipment,
    /// The class.
    pub kind: LoadKind,
    /// `EnergyConsumer.p` in MW (SSH).
    pub p_mw: Option<f64>,
    /// `EnergyConsumer.q` in MVAr (SSH).
    pub q_mvar: Option<f64>,
    /// `EnergyConsumer.customerCount` (EQ): how many customers this demand represents, for
    /// telling an operator who is without supply; most models leave it out.
    pub customers: Option<u32>,
}

/// `SynchronousMachine`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SynchronousMachine {
    /// Identity and containment.
    #[serde(flatten)]
    pub equipment: Equipment,
    /// `RotatingMachine.GeneratingUnit`.
    pub generating_unit: Option<String>,
    /// `RotatingMachine.ratedS` in MVA.
    pub rated_s_mva: Option<f64>,
    /// `RotatingMachine.ratedU` in kV.
    pub rated_u_kv: Option<f64>,
    /// `RotatingMachine.p` in MW (SSH).
    pub p_mw: Option<f64>,
    /// `RotatingMachine.q` in MVAr (SSH).
    pub q_mvar: Option<f64>,
    /// `SynchronousMachine.type` (e.g. `generator`, `condenser`).
    pub machine_type: Option<String>,
    /// `SynchronousMachine.operatingMode` (SSH).
    pub operating_mode: Option<String>,
}

/// Which CIM generating unit class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum GeneratingUnitKind {
    /// `GeneratingUnit`.
    Generic,
    /// `ThermalGeneratingUnit`.
    Thermal,
    /// `HydroGeneratingUnit`.
    Hydro,
    /// `WindGeneratingUnit`.
    Wind,
    /// `SolarGeneratingUnit`.
    Solar,
    /// `NuclearGeneratingUnit`.
    Nuclear,
}

/// A generating unit of any kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GeneratingUnit {
    /// Identity and containment.
    #[serde(flatten)]
    pub equipment: Equipment,
    /// The class.
    pub kind: GeneratingUnitKind,
    /// `GeneratingUnit.maxOperatingP` in MW.
    pub max_operating_p_mw: Option<f64>,
    /// `GeneratingUnit.minOperatingP` in MW.
    pub min_operating_p_mw: Option<f64>,
    /// `GeneratingUnit.nominalP` in MW.
    pub nominal_p_mw: Option<f64>,
    /// `GeneratingUnit.normalPF` (SSH), the participation factor.
    pub normal_pf: Option<f64>,
}

/// Power flow at a terminal from the SV profile (`SvPowerFlow`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PowerFlow {
    /// `SvPowerFlow.p` in MW.
    pub p_mw: Option<f64>,
    /// `SvPowerFlow.q` in MVAr.
    pub q_mvar: Option<f64>,
}

/// `Terminal`: where equipment meets a node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Terminal {
    /// Names.
    #[serde(flatten)]
    pub identity: Identified,
    /// `Terminal.ConductingEquipment`.
    pub conducting_equipment: Option<String>,
    /// `Terminal.ConnectivityNode` (EQ, node-breaker models).
    pub connectivity_node: Option<String>,
    /// `Terminal.TopologicalNode` (TP).
    pub topological_node: Option<String>,
    /// `ACDCTerminal.sequenceNumber`.
    pub sequence_number: Option<i64>,
    /// `ACDCTerminal.connected` (SSH).
    pub connected: Option<bool>,
    /// `Terminal.phases` (e.g. `ABC`).
    pub phases: Option<String>,
    /// Solved flow from SV, if any.
    pub power_flow: Option<PowerFlow>,
}

/// `ConnectivityNode`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectivityNode {
    /// Names.
    #[serde(flatten)]
    pub identity: Identified,
    /// `ConnectivityNode.ConnectivityNodeContainer`.
    pub container: Option<String>,
    /// `ConnectivityNode.TopologicalNode` (TP).
    pub topological_node: Option<String>,
    /// A boundary point: `entsoe:ConnectivityNode.boundaryPoint` (2.4.15 boundary set), or true
    /// when a CGMES 3.0 `eu:BoundaryPoint` names this node.
    pub boundary_point: Option<bool>,
}

/// Solved voltage at a topological node from the SV profile (`SvVoltage`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct NodeVoltage {
    /// `SvVoltage.v` in kV.
    pub v_kv: Option<f64>,
    /// `SvVoltage.angle` in degrees.
    pub angle_deg: Option<f64>,
}

/// `TopologicalNode` (TP), with its solved voltage (SV).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopologicalNode {
    /// Names.
    #[serde(flatten)]
    pub identity: Identified,
    /// `TopologicalNode.BaseVoltage`.
    pub base_voltage: Option<String>,
    /// `TopologicalNode.ConnectivityNodeContainer`.
    pub container: Option<String>,
    /// `entsoe:TopologicalNode.boundaryPoint`.
    pub boundary_point: Option<bool>,
    /// From `SvVoltage`, if any.
    pub voltage: Option<NodeVoltage>,
}

/// Which CIM measurement class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum MeasurementKind {
    /// `Analog`.
    Analog,
    /// `Discrete`.
    Discrete,
    /// `Accumulator`.
    Accumulator,
}

/// A measurement point: what is measured, where, on which phases.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measurement {
    /// Names.
    #[serde(flatten)]
    pub identity: Identified,
    /// The class.
    pub kind: MeasurementKind,
    /// `Measurement.measurementType` (e.g. `ThreePhaseActivePower`, `SwitchPosition`).
    pub measurement_type: Option<String>,
    /// `Measurement.phases` (e.g. `ABC`, `A`).
    pub phases: Option<String>,
    /// `Measurement.PowerSystemResource`.
    pub power_system_resource: Option<String>,
    /// `Measurement.Terminal`.
    pub terminal: Option<String>,
    /// `Measurement.unitSymbol` (e.g. `W`, `V`).
    pub unit_symbol: Option<String>,
    /// `Measurement.unitMultiplier` (e.g. `M`, `k`).
    pub unit_multiplier: Option<String>,
    /// `Analog.positiveFlowIn`.
    pub positive_flow_in: Option<bool>,
}

/// `OperationalLimitSet`: limits that apply at a terminal or to equipment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OperationalLimitSet {
    /// Names.
    #[serde(flatten)]
    pub identity: Identified,
    /// `OperationalLimitSet.Terminal`.
    pub terminal: Option<String>,
    /// `OperationalLimitSet.Equipment`.
    pub equipment: Option<String>,
    /// The limits in the set (mRIDs).
    pub limits: Vec<String>,
}

/// `OperationalLimitType`: what kind of limit (permanent, temporary for so long, high or low).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OperationalLimitType {
    /// Names.
    #[serde(flatten)]
    pub identity: Identified,
    /// `entsoe:OperationalLimitType.limitType` (2.4.15) or `eu:OperationalLimitType.kind` (3.0):
    /// `patl`, `patlt`, `tatl`, `tc`, `tct`, `highVoltage`, `lowVoltage`, and in 3.0 also
    /// `operationalVoltageLimit`, `alarmVoltage`, `warningVoltage`, `stability`.
    pub limit_type: Option<String>,
    /// `OperationalLimitType.direction` (`high`, `low`, `absoluteValue`).
    pub direction: Option<String>,
    /// `OperationalLimitType.acceptableDuration` in s.
    pub acceptable_duration_s: Option<f64>,
    /// `OperationalLimitType.isInfiniteDuration` (3.0). Where the file does not give it (2.4.15
    /// never does) a `patl` type is read as infinite and a `tatl` type as finite, as the CGMES
    /// rules define those kinds; other kinds stay `None`.
    pub is_infinite_duration: Option<bool>,
}

/// Which CIM limit class (and so the unit of its value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum LimitKind {
    /// `CurrentLimit`, A.
    Current,
    /// `VoltageLimit`, kV.
    Voltage,
    /// `ActivePowerLimit`, MW.
    ActivePower,
    /// `ApparentPowerLimit`, MVA.
    ApparentPower,
}

/// One operational limit value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OperationalLimit {
    /// Names.
    #[serde(flatten)]
    pub identity: Identified,
    /// The class.
    pub kind: LimitKind,
    /// `OperationalLimit.OperationalLimitSet`.
    pub set: Option<String>,
    /// `OperationalLimit.OperationalLimitType`.
    pub limit_type: Option<String>,
    /// The value in force, in the unit of [`LimitKind`]: `CurrentLimit.value` etc. (EQ in 2.4.15,
    /// SSH in 3.0), else the normal value.
    pub value: Option<f64>,
    /// The normal value: `CurrentLimit.normalValue` etc. (EQ, 3.0), or the EQ `value` of 2.4.15.
    pub normal_value: Option<f64>,
}

/// Any typed object of the model, borrowed.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(tag = "type", content = "object")]
pub enum CgmesObject<'a> {
    /// See [`BaseVoltage`].
    BaseVoltage(&'a BaseVoltage),
    /// See [`Substation`].
    Substation(&'a Substation),
    /// See [`VoltageLevel`].
    VoltageLevel(&'a VoltageLevel),
    /// See [`Bay`].
    Bay(&'a Bay),
    /// See [`Line`].
    Line(&'a Line),
    /// See [`BusbarSection`].
    BusbarSection(&'a BusbarSection),
    /// See [`AcLineSegment`].
    AcLineSegment(&'a AcLineSegment),
    /// See [`PowerTransformer`].
    PowerTransformer(&'a PowerTransformer),
    /// See [`PowerTransformerEnd`].
    PowerTransformerEnd(&'a PowerTransformerEnd),
    /// See [`Switch`].
    Switch(&'a Switch),
    /// See [`Load`].
    Load(&'a Load),
    /// See [`SynchronousMachine`].
    SynchronousMachine(&'a SynchronousMachine),
    /// See [`GeneratingUnit`].
    GeneratingUnit(&'a GeneratingUnit),
    /// Equipment of a class without its own type here (e.g. shunts, equivalent injections).
    OtherEquipment(&'a Equipment),
    /// See [`Terminal`].
    Terminal(&'a Terminal),
    /// See [`ConnectivityNode`].
    ConnectivityNode(&'a ConnectivityNode),
    /// See [`TopologicalNode`].
    TopologicalNode(&'a TopologicalNode),
    /// See [`Measurement`].
    Measurement(&'a Measurement),
    /// See [`OperationalLimitSet`].
    OperationalLimitSet(&'a OperationalLimitSet),
    /// See [`OperationalLimitType`].
    OperationalLimitType(&'a OperationalLimitType),
    /// See [`OperationalLimit`].
    OperationalLimit(&'a OperationalLimit),
    /// See [`Diagram`].
    Diagram(&'a Diagram),
    /// See [`DiagramObject`].
    DiagramObject(&'a DiagramObject),
    /// See [`CoordinateSystem`].
    CoordinateSystem(&'a CoordinateSystem),
    /// See [`Location`].
    Location(&'a Location),
}

/// Which collection and position an mRID lives at.
#[derive(Debug, Clone, Copy)]
enum Slot {
    BaseVoltage(usize),
    Substation(usize),
    VoltageLevel(usize),
    Bay(usize),
    Line(usize),
    BusbarSection(usize),
    AcLineSegment(usize),
    PowerTransformer(usize),
    PowerTransformerEnd(usize),
    Switch(usize),
    Load(usize),
    SynchronousMachine(usize),
    GeneratingUnit(usize),
    OtherEquipment(usize),
    Terminal(usize),
    ConnectivityNode(usize),
    TopologicalNode(usize),
    Measurement(usize),
    OperationalLimitSet(usize),
    OperationalLimitType(usize),
    OperationalLimit(usize),
    Diagram(usize),
    DiagramObject(usize),
    CoordinateSystem(usize),
    Location(usize),
}

/// Reverse references, built once after import.
#[derive(Debug, Default, Clone)]
struct ModelIndex {
    by_mrid: HashMap<String, Slot>,
    terminals_by_equipment: HashMap<String, Vec<usize>>,
    measurements_by_resource: HashMap<String, Vec<usize>>,
    measurements_by_terminal: HashMap<String, Vec<usize>>,
    limit_sets_by_owner: HashMap<String, Vec<usize>>,
    children_by_container: HashMap<String, Vec<String>>,
    voltage_levels_by_substation: HashMap<String, Vec<usize>>,
    bays_by_voltage_level: HashMap<String, Vec<usize>>,
    diagram_objects_by_object: HashMap<String, Vec<usize>>,
    diagram_objects_by_diagram: HashMap<String, Vec<usize>>,
    locations_by_resource: HashMap<String, Vec<usize>>,
}

/// Values from SV and the layout profiles that belong to objects built elsewhere; attached once
/// every object exists.
#[derive(Default)]
struct Pending {
    voltages: Vec<(String, NodeVoltage)>,
    flows: Vec<(String, PowerFlow)>,
    statuses: Vec<(String, bool)>,
    switch_states: Vec<(String, bool)>,
    boundary_nodes: Vec<String>,
    diagram_points: Vec<(String, Point)>,
    position_points: Vec<(String, Point)>,
}

/// A CGMES model imported from any set of profiles: typed collections in file order, the files
/// read, and what did not resolve.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CgmesModel {
    /// The files, their headers and per-class object counts.
    pub files: Vec<SourceFile>,
    /// Base voltages.
    pub base_voltages: Vec<BaseVoltage>,
    /// Substations.
    pub substations: Vec<Substation>,
    /// Voltage levels.
    pub voltage_levels: Vec<VoltageLevel>,
    /// Bays.
    pub bays: Vec<Bay>,
    /// Lines (containers of line segments).
    pub lines: Vec<Line>,
    /// Busbar sections.
    pub busbar_sections: Vec<BusbarSection>,
    /// AC line segments.
    pub ac_line_segments: Vec<AcLineSegment>,
    /// Power transformers.
    pub power_transformers: Vec<PowerTransformer>,
    /// Power transformer ends.
    pub power_transformer_ends: Vec<PowerTransformerEnd>,
    /// Switches of every kind.
    pub switches: Vec<Switch>,
    /// Loads of every kind.
    pub loads: Vec<Load>,
    /// Synchronous machines.
    pub synchronous_machines: Vec<SynchronousMachine>,
    /// Generating units of every kind.
    pub generating_units: Vec<GeneratingUnit>,
    /// Equipment of classes without a type of their own here.
    pub other_equipment: Vec<Equipment>,
    /// Terminals.
    pub terminals: Vec<Terminal>,
    /// Connectivity nodes.
    pub connectivity_nodes: Vec<ConnectivityNode>,
    /// Topological nodes.
    pub topological_nodes: Vec<TopologicalNode>,
    /// Analog, discrete and accumulator measurements.
    pub measurements: Vec<Measurement>,
    /// Operational limit sets.
    pub operational_limit_sets: Vec<OperationalLimitSet>,
    /// Operational limit types.
    pub operational_limit_types: Vec<OperationalLimitType>,
    /// Operational limits.
    pub operational_limits: Vec<OperationalLimit>,
    /// Diagrams (DL).
    pub diagrams: Vec<Diagram>,
    /// Diagram objects with their points (DL).
    pub diagram_objects: Vec<DiagramObject>,
    /// Coordinate systems (GL).
    pub coordinate_systems: Vec<CoordinateSystem>,
    /// Locations with their points (GL).
    pub locations: Vec<Location>,
    /// Unresolved references, duplicate definitions, objects never defined.
    pub diagnostics: Vec<Diagnostic>,
    #[serde(skip)]
    index: ModelIndex,
}

/// Reads typed properties of one graph object; bad literals become errors naming their source.
struct View<'g> {
    graph: &'g RdfGraph,
    object: &'g Object,
}

/// Properties CGMES 3.0 moved into another namespace or renamed, by their 2.4.15 name: the typed
/// layer asks for the 2.4.15 name and reads whichever of the two the file wrote.
const RENAMED_IN_CGMES_3: [(&str, &str); 3] = [
    ("entsoe:IdentifiedObject.shortName", "eu:IdentifiedObject.shortName"),
    ("entsoe:IdentifiedObject.energyIdentCodeEic", "eu:IdentifiedObject.energyIdentCodeEic"),
    ("entsoe:OperationalLimitType.limitType", "eu:OperationalLimitType.kind"),
];

impl<'g> View<'g> {
    /// The last statement of `predicate` or of its CGMES 3.0 name (later profiles refine
    /// earlier ones).
    fn statement(&self, predicate: &str) -> Option<&'g Statement> {
        let names = self.graph.names();
        let renamed = RENAMED_IN_CGMES_3.iter().find(|(old, _)| *old == predicate).and_then(|(_, new)| names.get(new));
        let wanted = [names.get(predicate), renamed];
        self.object.statements.iter().rev().find(|s| wanted.contains(&Some(s.predicate)))
    }

    /// The edition of the file a statement came from.
    fn edition_of(&self, statement: &Statement) -> Option<CgmesVersion> {
        let file = usize::try_from(statement.origin.file).ok()?;
        self.graph.files().get(file)?.version
    }

    /// Every reference `predicate` makes, in reading order (for many-valued associations).
    fn references(&self, predicate: &str) -> Vec<String> {
        let Some(sym) = self.graph.names().get(predicate) else { return Vec::new() };
        self.object
            .statements
            .iter()
            .filter(|s| s.predicate == sym)
            .filter_map(|s| match &s.value {
                Value::Reference(mrid) => Some(mrid.clone()),
                Value::Literal(_) | Value::Iri(_) => None,
            })
            .collect()
    }

    fn literal(&self, predicate: &str) -> Option<(&'g str, &'g Statement)> {
        let statement = self.statement(predicate)?;
        match &statement.value {
            Value::Literal(text) => Some((text.as_str(), statement)),
            Value::Reference(_) | Value::Iri(_) => None,
        }
    }

    fn text(&self, predicate: &str) -> Option<String> {
        self.literal(predicate).map(|(text, _)| text.trim().to_owned())
    }

    fn parsed<T>(&self, predicate: &str, expected: &'static str, parse: impl Fn(&str) -> Option<T>) -> Result<Option<T>, CgmesError> {
        let Some((text, statement)) = self.literal(predicate) else { return Ok(None) };
        parse(text.trim()).map(Some).ok_or_else(|| CgmesError::InvalidValue {
            file: self.graph.file_name(statement.origin.file).to_owned(),
            line: u64::from(statement.origin.line),
            element: self.graph.names().name(statement.predicate).to_owned(),
            mrid: self.object.mrid.to_string(),
            value: text.chars().take(80).collect(),
            expected,
        })
    }

    fn float(&self, predicate: &str) -> Result<Option<f64>, CgmesError> {
        self.parsed(predicate, "float", |t| t.parse::<f64>().ok())
    }

    fn integer(&self, predicate: &str) -> Result<Option<i64>, CgmesError> {
        self.parsed(predicate, "integer", |t| t.parse::<i64>().ok())
    }

    /// A CIM `Integer` that counts something, so it cannot be negative.
    fn count(&self, predicate: &str) -> Result<Option<u32>, CgmesError> {
        self.parsed(predicate, "non-negative integer", |t| t.parse::<u32>().ok())
    }

    fn boolean(&self, predicate: &str) -> Result<Option<bool>, CgmesError> {
        self.parsed(predicate, "boolean", |t| match t {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        })
    }

    fn reference(&self, predicate: &str) -> Option<String> {
        match &self.statement(predicate)?.value {
            Value::Reference(mrid) => Some(mrid.clone()),
            Value::Literal(_) | Value::Iri(_) => None,
        }
    }

    /// An enumeration value without its namespace and type: `…#PhaseCode.ABC` → `ABC`. Some
    /// exporters write enumerations as literals; those are accepted the same way.
    fn enumeration(&self, predicate: &str) -> Option<String> {
        let raw = match &self.statement(predicate)?.value {
            Value::Iri(iri) => iri.as_str(),
            Value::Literal(text) => text.trim(),
            Value::Reference(_) => return None,
        };
        let fragment = raw.rsplit_once('#').map_or(raw, |(_, f)| f);
        Some(fragment.rsplit_once('.').map_or(fragment, |(_, v)| v).to_owned())
    }

    fn identity(&self) -> Identified {
        Identified {
            mrid: self.object.mrid.to_string(),
            name: self.text("cim:IdentifiedObject.name"),
            description: self.text("cim:IdentifiedObject.description"),
            short_name: self.text("entsoe:IdentifiedObject.shortName"),
            energy_ident_code_eic: self.text("entsoe:IdentifiedObject.energyIdentCodeEic"),
        }
    }

    fn equipment(&self, class: &str) -> Result<Equipment, CgmesError> {
        Ok(Equipment {
            identity: self.identity(),
            class: class.to_owned(),
            container: self.reference("cim:Equipment.EquipmentContainer"),
            base_voltage: self.reference("cim:ConductingEquipment.BaseVoltage"),
            normally_in_service: self.boolean("cim:Equipment.normallyInService")?,
            in_service: self.boolean("cim:Equipment.inService")?,
            solved_in_service: None,
        })
    }

    /// A DL or GL point, from the `Class.xPosition` etc. properties of `class`.
    fn point(&self, class: &str) -> Result<Point, CgmesError> {
        Ok(Point {
            sequence_number: self.integer(&format!("{class}.sequenceNumber"))?,
            x: self.float(&format!("{class}.xPosition"))?,
            y: self.float(&format!("{class}.yPosition"))?,
            z: self.float(&format!("{class}.zPosition"))?,
        })
    }
}

fn switch_kind(class: &str) -> Option<SwitchKind> {
    Some(match class {
        "cim:Switch" => SwitchKind::Switch,
        "cim:Breaker" => SwitchKind::Breaker,
        "cim:Disconnector" => SwitchKind::Disconnector,
        "cim:LoadBreakSwitch" => SwitchKind::LoadBreakSwitch,
        "cim:Fuse" => SwitchKind::Fuse,
        "cim:GroundDisconnector" => SwitchKind::GroundDisconnector,
        "cim:Jumper" => SwitchKind::Jumper,
        _ => return None,
    })
}

fn load_kind(class: &str) -> Option<LoadKind> {
    Some(match class {
        "cim:EnergyConsumer" => LoadKind::EnergyConsumer,
        "cim:ConformLoad" => LoadKind::ConformLoad,
        "cim:NonConformLoad" => LoadKind::NonConformLoad,
        _ => return None,
    })
}

fn generating_unit_kind(class: &str) -> Option<GeneratingUnitKind> {
    Some(match class {
        "cim:GeneratingUnit" => GeneratingUnitKind::Generic,
        "cim:ThermalGeneratingUnit" => GeneratingUnitKind::Thermal,
        "cim:HydroGeneratingUnit" => GeneratingUnitKind::Hydro,
        "cim:WindGeneratingUnit" => GeneratingUnitKind::Wind,
        "cim:SolarGeneratingUnit" => GeneratingUnitKind::Solar,
        "cim:NuclearGeneratingUnit" => GeneratingUnitKind::Nuclear,
        _ => return None,
    })
}

fn measurement_kind(class: &str) -> Option<MeasurementKind> {
    Some(match class {
        "cim:Analog" => MeasurementKind::Analog,
        "cim:Discrete" => MeasurementKind::Discrete,
        "cim:Accumulator" => MeasurementKind::Accumulator,
        _ => return None,
    })
}

/// The limit kind of a class, with its `value` and (CGMES 3.0) `normalValue` properties.
fn limit_kind(class: &str) -> Option<(LimitKind, &'static str, &'static str)> {
    Some(match class {
        "cim:CurrentLimit" => (LimitKind::Current, "cim:CurrentLimit.value", "cim:CurrentLimit.normalValue"),
        "cim:VoltageLimit" => (LimitKind::Voltage, "cim:VoltageLimit.value", "cim:VoltageLimit.normalValue"),
        "cim:ActivePowerLimit" => (LimitKind::ActivePower, "cim:ActivePowerLimit.value", "cim:ActivePowerLimit.normalValue"),
        "cim:ApparentPowerLimit" => (LimitKind::ApparentPower, "cim:ApparentPowerLimit.value", "cim:ApparentPowerLimit.normalValue"),
        _ => return None,
    })
}

impl CgmesModel {
    /// Builds the typed model from a merged graph (see [`crate::Importer`]).
    pub fn from_graph(mut graph: RdfGraph) -> Result<Self, CgmesError> {
        let mut model = CgmesModel { files: graph.files().to_vec(), diagnostics: graph.take_diagnostics(), ..CgmesModel::default() };
        let conducting_targets: HashSet<String> = graph
            .objects()
            .iter()
            .filter(|o| graph.names().name(o.class) == "cim:Terminal")
            .filter_map(|o| View { graph: &graph, object: o }.reference("cim:Terminal.ConductingEquipment"))
            .collect();
        let mut pending = Pending::default();
        // Objects only described by reference (`rdf:about`, no file defines them) are reported as
        // NotDefined diagnostics and get no typed object: their class and core data are unknown.
        for object in graph.objects().iter().filter(|o| o.defined_at.is_some()) {
            let view = View { graph: &graph, object };
            let class = graph.names().name(object.class);
            model.add_object(&view, class, &conducting_targets, &mut pending)?;
        }
        model.build_index();
        model.attach(pending);
        model.link_back_references();
        tracing::info!(
            files = model.files.len(),
            substations = model.substations.len(),
            terminals = model.terminals.len(),
            diagnostics = model.diagnostics.len(),
            "CGMES model built"
        );
        Ok(model)
    }

    fn add_object(
        &mut self,
        view: &View<'_>,
        class: &str,
        conducting_targets: &HashSet<String>,
        pending: &mut Pending,
    ) -> Result<(), CgmesError> {
        match class {
            "cim:BaseVoltage" => self
                .base_voltages
                .push(BaseVoltage { identity: view.identity(), nominal_kv: view.float("cim:BaseVoltage.nominalVoltage")? }),
            "cim:Substation" => {
                self.substations.push(Substation { identity: view.identity(), region: view.reference("cim:Substation.Region") })
            }
            "cim:VoltageLevel" => self.voltage_levels.push(VoltageLevel {
                identity: view.identity(),
                substation: view.reference("cim:VoltageLevel.Substation"),
                base_voltage: view.reference("cim:VoltageLevel.BaseVoltage"),
                nominal_kv: None,
                high_voltage_limit_kv: view.float("cim:VoltageLevel.highVoltageLimit")?,
                low_voltage_limit_kv: view.float("cim:VoltageLevel.lowVoltageLimit")?,
            }),
            "cim:Bay" => self.bays.push(Bay { identity: view.identity(), voltage_level: view.reference("cim:Bay.VoltageLevel") }),
            "cim:Line" => self.lines.push(Line { identity: view.identity(), region: view.reference("cim:Line.Region") }),
            "cim:BusbarSection" => self
                .busbar_sections
                .push(BusbarSection { equipment: view.equipment(class)?, ip_max_a: view.float("cim:BusbarSection.ipMax")? }),
            "cim:ACLineSegment" => self.ac_line_segments.push(AcLineSegment {
                equipment: view.equipment(class)?,
                r: view.float("cim:ACLineSegment.r")?,
                x: view.float("cim:ACLineSegment.x")?,
                bch: view.float("cim:ACLineSegment.bch")?,
                gch: view.float("cim:ACLineSegment.gch")?,
                length_km: view.float("cim:Conductor.length")?,
            }),
            "cim:PowerTransformer" => {
                self.power_transformers.push(PowerTransformer { equipment: view.equipment(class)?, ends: Vec::new() })
            }
            "cim:PowerTransformerEnd" => self.power_transformer_ends.push(PowerTransformerEnd {
                identity: view.identity(),
                transformer: view.reference("cim:PowerTransformerEnd.PowerTransformer"),
                terminal: view.reference("cim:TransformerEnd.Terminal"),
                base_voltage: view.reference("cim:TransformerEnd.BaseVoltage"),
                end_number: view.integer("cim:TransformerEnd.endNumber")?,
                rated_u_kv: view.float("cim:PowerTransformerEnd.ratedU")?,
                rated_s_mva: view.float("cim:PowerTransformerEnd.ratedS")?,
                r: view.float("cim:PowerTransformerEnd.r")?,
                x: view.float("cim:PowerTransformerEnd.x")?,
                connection_kind: view.enumeration("cim:PowerTransformerEnd.connectionKind"),
            }),
            "cim:SynchronousMachine" => self.synchronous_machines.push(SynchronousMachine {
                equipment: view.equipment(class)?,
                generating_unit: view.reference("cim:RotatingMachine.GeneratingUnit"),
                rated_s_mva: view.float("cim:RotatingMachine.ratedS")?,
                rated_u_kv: view.float("cim:RotatingMachine.ratedU")?,
                p_mw: view.float("cim:RotatingMachine.p")?,
                q_mvar: view.float("cim:RotatingMachine.q")?,
                machine_type: view.enumeration("cim:SynchronousMachine.type"),
                operating_mode: view.enumeration("cim:SynchronousMachine.operatingMode"),
            }),
            "cim:Terminal" => self.terminals.push(Terminal {
                identity: view.identity(),
                conducting_equipment: view.reference("cim:Terminal.ConductingEquipment"),
                connectivity_node: view.reference("cim:Terminal.ConnectivityNode"),
                topological_node: view.reference("cim:Terminal.TopologicalNode"),
                sequence_number: view.integer("cim:ACDCTerminal.sequenceNumber")?,
                connected: view.boolean("cim:ACDCTerminal.connected")?,
                phases: view.enumeration("cim:Terminal.phases"),
                power_flow: None,
            }),
            "cim:ConnectivityNode" => self.connectivity_nodes.push(ConnectivityNode {
                identity: view.identity(),
                container: view.reference("cim:ConnectivityNode.ConnectivityNodeContainer"),
                topological_node: view.reference("cim:ConnectivityNode.TopologicalNode"),
                boundary_point: view.boolean("entsoe:ConnectivityNode.boundaryPoint")?,
            }),
            "cim:TopologicalNode" => self.topological_nodes.push(TopologicalNode {
                identity: view.identity(),
                base_voltage: view.reference("cim:TopologicalNode.BaseVoltage"),
                container: view.reference("cim:TopologicalNode.ConnectivityNodeContainer"),
                boundary_point: view.boolean("entsoe:TopologicalNode.boundaryPoint")?,
                voltage: None,
            }),
            "cim:SvVoltage" => {
                if let Some(node) = view.reference("cim:SvVoltage.TopologicalNode") {
                    pending
                        .voltages
                        .push((node, NodeVoltage { v_kv: view.float("cim:SvVoltage.v")?, angle_deg: view.float("cim:SvVoltage.angle")? }));
                }
            }
            "cim:SvPowerFlow" => {
                if let Some(terminal) = view.reference("cim:SvPowerFlow.Terminal") {
                    pending
                        .flows
                        .push((terminal, PowerFlow { p_mw: view.float("cim:SvPowerFlow.p")?, q_mvar: view.float("cim:SvPowerFlow.q")? }));
                }
            }
            "cim:OperationalLimitSet" => self.operational_limit_sets.push(OperationalLimitSet {
                identity: view.identity(),
                terminal: view.reference("cim:OperationalLimitSet.Terminal"),
                equipment: view.reference("cim:OperationalLimitSet.Equipment"),
                limits: Vec::new(),
            }),
            "cim:OperationalLimitType" => self.operational_limit_types.push(OperationalLimitType {
                identity: view.identity(),
                limit_type: view.enumeration("entsoe:OperationalLimitType.limitType"),
                direction: view.enumeration("cim:OperationalLimitType.direction"),
                acceptable_duration_s: view.float("cim:OperationalLimitType.acceptableDuration")?,
                is_infinite_duration: match view.boolean("cim:OperationalLimitType.isInfiniteDuration")? {
                    Some(given) => Some(given),
                    None => match view.enumeration("entsoe:OperationalLimitType.limitType").as_deref() {
                        Some("patl") => Some(true),
                        Some("tatl") => Some(false),
                        _ => None,
                    },
                },
            }),
            "cim:SvStatus" => {
                if let (Some(equipment), Some(in_service)) =
                    (view.reference("cim:SvStatus.ConductingEquipment"), view.boolean("cim:SvStatus.inService")?)
                {
                    pending.statuses.push((equipment, in_service));
                }
            }
            "cim:SvSwitch" => {
                if let (Some(switch), Some(open)) = (view.reference("cim:SvSwitch.Switch"), view.boolean("cim:SvSwitch.open")?) {
                    pending.switch_states.push((switch, open));
                }
            }
            "eu:BoundaryPoint" => pending.boundary_nodes.extend(view.reference("eu:BoundaryPoint.ConnectivityNode")),
            _ => {
                if !self.add_layout(view, class, pending)? {
                    self.add_classified(view, class, conducting_targets)?;
                }
            }
        }
        Ok(())
    }

    /// DL and GL classes; false for any other class.
    fn add_layout(&mut self, view: &View<'_>, class: &str, pending: &mut Pending) -> Result<bool, CgmesError> {
        match class {
            "cim:Diagram" => {
                self.diagrams.push(Diagram { identity: view.identity(), orientation: view.enumeration("cim:Diagram.orientation") })
            }
            "cim:DiagramObject" | "cim:TextDiagramObject" => self.diagram_objects.push(DiagramObject {
                identity: view.identity(),
                diagram: view.reference("cim:DiagramObject.Diagram"),
                identified_object: view.reference("cim:DiagramObject.IdentifiedObject"),
                rotation_deg: view.float("cim:DiagramObject.rotation")?,
                drawing_order: view.integer("cim:DiagramObject.drawingOrder")?,
                is_polygon: view.boolean("cim:DiagramObject.isPolygon")?,
                text: view.text("cim:TextDiagramObject.text"),
                points: Vec::new(),
            }),
            "cim:DiagramObjectPoint" => {
                if let Some(owner) = view.reference("cim:DiagramObjectPoint.DiagramObject") {
                    pending.diagram_points.push((owner, view.point(class)?));
                }
            }
            "cim:CoordinateSystem" => self
                .coordinate_systems
                .push(CoordinateSystem { identity: view.identity(), crs_urn: view.text("cim:CoordinateSystem.crsUrn") }),
            "cim:Location" => self.locations.push(Location {
                identity: view.identity(),
                coordinate_system: view.reference("cim:Location.CoordinateSystem"),
                power_system_resources: view.references("cim:Location.PowerSystemResources"),
                points: Vec::new(),
            }),
            "cim:PositionPoint" => {
                if let Some(owner) = view.reference("cim:PositionPoint.Location") {
                    pending.position_points.push((owner, view.point(class)?));
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Attaches SV values, SV statuses, CGMES 3.0 boundary points and layout points to the objects they belong to; values
    /// whose owner is not in the model are dropped (the graph has reported the dangling reference).
    fn attach(&mut self, pending: Pending) {
        for (node, voltage) in pending.voltages {
            if let Some(Slot::TopologicalNode(i)) = self.index.by_mrid.get(&node).copied() {
                if let Some(n) = self.topological_nodes.get_mut(i) {
                    n.voltage = Some(voltage);
                }
            }
        }
        for (terminal, flow) in pending.flows {
            if let Some(Slot::Terminal(i)) = self.index.by_mrid.get(&terminal).copied() {
                if let Some(t) = self.terminals.get_mut(i) {
                    t.power_flow = Some(flow);
                }
            }
        }
        for (equipment, in_service) in pending.statuses {
            if let Some(e) = self.equipment_mut(&equipment) {
                e.solved_in_service = Some(in_service);
            }
        }
        for (switch, open) in pending.switch_states {
            if let Some(Slot::Switch(i)) = self.index.by_mrid.get(&switch).copied() {
                if let Some(s) = self.switches.get_mut(i) {
                    s.solved_open = Some(open);
                }
            }
        }
        for node in pending.boundary_nodes {
            if let Some(Slot::ConnectivityNode(i)) = self.index.by_mrid.get(&node).copied() {
                if let Some(n) = self.connectivity_nodes.get_mut(i) {
                    n.boundary_point = Some(true);
                }
            }
        }
        for (owner, point) in pending.diagram_points {
            if let Some(Slot::DiagramObject(i)) = self.index.by_mrid.get(&owner).copied() {
                if let Some(o) = self.diagram_objects.get_mut(i) {
                    o.points.push(point);
                }
            }
        }
        for (owner, point) in pending.position_points {
            if let Some(Slot::Location(i)) = self.index.by_mrid.get(&owner).copied() {
                if let Some(l) = self.locations.get_mut(i) {
                    l.points.push(point);
                }
            }
        }
        self.diagram_objects.iter_mut().for_each(|o| layout::sort_points(&mut o.points));
        self.locations.iter_mut().for_each(|l| layout::sort_points(&mut l.points));
    }

    /// The equipment part of the object with this mRID, for writing.
    fn equipment_mut(&mut self, mrid: &str) -> Option<&mut Equipment> {
        Some(match *self.index.by_mrid.get(mrid)? {
            Slot::BusbarSection(i) => &mut self.busbar_sections.get_mut(i)?.equipment,
            Slot::AcLineSegment(i) => &mut self.ac_line_segments.get_mut(i)?.equipment,
            Slot::PowerTransformer(i) => &mut self.power_transformers.get_mut(i)?.equipment,
            Slot::Switch(i) => &mut self.switches.get_mut(i)?.equipment,
            Slot::Load(i) => &mut self.loads.get_mut(i)?.equipment,
            Slot::SynchronousMachine(i) => &mut self.synchronous_machines.get_mut(i)?.equipment,
            Slot::GeneratingUnit(i) => &mut self.generating_units.get_mut(i)?.equipment,
            Slot::OtherEquipment(i) => self.other_equipment.get_mut(i)?,
            _ => return None,
        })
    }

    /// Classes that share one type (switches, loads, units, measurements, limits) and equipment
    /// of classes without a type here.
    fn add_classified(&mut self, view: &View<'_>, class: &str, conducting_targets: &HashSet<String>) -> Result<(), CgmesError> {
        if let Some(kind) = switch_kind(class) {
            self.switches.push(Switch {
                equipment: view.equipment(class)?,
                kind,
                normal_open: view.boolean("cim:Switch.normalOpen")?,
                open: view.boolean("cim:Switch.open")?,
                retained: view.boolean("cim:Switch.retained")?,
                solved_open: None,
            });
        } else if let Some(kind) = load_kind(class) {
            self.loads.push(Load {
                equipment: view.equipment(class)?,
                kind,
                p_mw: view.float("cim:EnergyConsumer.p")?,
                q_mvar: view.float("cim:EnergyConsumer.q")?,
                customers: view.count("cim:EnergyConsumer.customerCount")?,
            });
        } else if let Some(kind) = generating_unit_kind(class) {
            self.generating_units.push(GeneratingUnit {
                equipment: view.equipment(class)?,
                kind,
                max_operating_p_mw: view.float("cim:GeneratingUnit.maxOperatingP")?,
                min_operating_p_mw: view.float("cim:GeneratingUnit.minOperatingP")?,
                nominal_p_mw: view.float("cim:GeneratingUnit.nominalP")?,
                normal_pf: view.float("cim:GeneratingUnit.normalPF")?,
            });
        } else if let Some(kind) = measurement_kind(class) {
            self.measurements.push(Measurement {
                identity: view.identity(),
                kind,
                measurement_type: view.text("cim:Measurement.measurementType"),
                phases: view.enumeration("cim:Measurement.phases"),
                power_system_resource: view.reference("cim:Measurement.PowerSystemResource"),
                terminal: view.reference("cim:Measurement.Terminal"),
                unit_symbol: view.enumeration("cim:Measurement.unitSymbol"),
                unit_multiplier: view.enumeration("cim:Measurement.unitMultiplier"),
                positive_flow_in: view.boolean("cim:Analog.positiveFlowIn")?,
            });
        } else if let Some((kind, value, normal_value)) = limit_kind(class) {
            let given = view.float(value)?;
            // In 2.4.15 `value` is the EQ value, i.e. the normal one; in 3.0 it is the SSH value.
            let given_is_normal = view.statement(value).is_some_and(|s| view.edition_of(s) == Some(CgmesVersion::V2_4_15));
            let normal_value = view.float(normal_value)?.or(if given_is_normal { given } else { None });
            self.operational_limits.push(OperationalLimit {
                identity: view.identity(),
                kind,
                set: view.reference("cim:OperationalLimit.OperationalLimitSet"),
                limit_type: view.reference("cim:OperationalLimit.OperationalLimitType"),
                value: given.or(normal_value),
                normal_value,
            });
        } else if view.statement("cim:Equipment.EquipmentContainer").is_some() || conducting_targets.contains(&*view.object.mrid) {
            self.other_equipment.push(view.equipment(class)?);
        }
        Ok(())
    }

    fn build_index(&mut self) {
        let index = &mut self.index.by_mrid;
        let mut put = |mrid: &str, slot: Slot| {
            index.insert(mrid.to_owned(), slot);
        };
        self.base_voltages.iter().enumerate().for_each(|(i, o)| put(&o.identity.mrid, Slot::BaseVoltage(i)));
        self.substations.iter().enumerate().for_each(|(i, o)| put(&o.identity.mrid, Slot::Substation(i)));
        self.voltage_levels.iter().enumerate().for_each(|(i, o)| put(&o.identity.mrid, Slot::VoltageLevel(i)));
        self.bays.iter().enumerate().for_each(|(i, o)| put(&o.identity.mrid, Slot::Bay(i)));
        self.lines.iter().enumerate().for_each(|(i, o)| put(&o.identity.mrid, Slot::Line(i)));
        self.busbar_sections.iter().enumerate().for_each(|(i, o)| put(&o.equipment.identity.mrid, Slot::BusbarSection(i)));
        self.ac_line_segments.iter().enumerate().for_each(|(i, o)| put(&o.equipment.identity.mrid, Slot::AcLineSegment(i)));
        self.power_transformers.iter().enumerate().for_each(|(i, o)| put(&o.equipment.identity.mrid, Slot::PowerTransformer(i)));
        self.power_transformer_ends.iter().enumerate().for_each(|(i, o)| put(&o.identity.mrid, Slot::PowerTransformerEnd(i)));
        self.switches.iter().enumerate().for_each(|(i, o)| put(&o.equipment.identity.mrid, Slot::Switch(i)));
        self.loads.iter().enumerate().for_each(|(i, o)| put(&o.equipment.identity.mrid, Slot::Load(i)));
        self.synchronous_machines.iter().enumerate().for_each(|(i, o)| put(&o.equipment.identity.mrid, Slot::SynchronousMachine(i)));
        self.generating_units.iter().enumerate().for_each(|(i, o)| put(&o.equipment.identity.mrid, Slot::GeneratingUnit(i)));
        self.other_equipment.iter().enumerate().for_each(|(i, o)| put(&o.identity.mrid, Slot::OtherEquipment(i)));
        self.terminals.iter().enumerate().for_each(|(i, o)| put(&o.identity.mrid, Slot::Terminal(i)));
        self.connectivity_nodes.iter().enumerate().for_each(|(i, o)| put(&o.identity.mrid, Slot::ConnectivityNode(i)));
        self.topological_nodes.iter().enumerate().for_each(|(i, o)| put(&o.identity.mrid, Slot::TopologicalNode(i)));
        self.measurements.iter().enumerate().for_each(|(i, o)| put(&o.identity.mrid, Slot::Measurement(i)));
        self.operational_limit_sets.iter().enumerate().for_each(|(i, o)| put(&o.identity.mrid, Slot::OperationalLimitSet(i)));
        self.operational_limit_types.iter().enumerate().for_each(|(i, o)| put(&o.identity.mrid, Slot::OperationalLimitType(i)));
        self.operational_limits.iter().enumerate().for_each(|(i, o)| put(&o.identity.mrid, Slot::OperationalLimit(i)));
        self.diagrams.iter().enumerate().for_each(|(i, o)| put(&o.identity.mrid, Slot::Diagram(i)));
        self.diagram_objects.iter().enumerate().for_each(|(i, o)| put(&o.identity.mrid, Slot::DiagramObject(i)));
        self.coordinate_systems.iter().enumerate().for_each(|(i, o)| put(&o.identity.mrid, Slot::CoordinateSystem(i)));
        self.locations.iter().enumerate().for_each(|(i, o)| put(&o.identity.mrid, Slot::Location(i)));
    }

    /// Fills the reverse references: transformer ends, limits per set, nominal voltages, and the
    /// per-equipment / per-container / per-terminal lists behind the lookups.
    fn link_back_references(&mut self) {
        let index = &mut self.index;
        let mut ends: Vec<(String, i64, String)> = self
            .power_transformer_ends
            .iter()
            .filter_map(|e| e.transformer.clone().map(|t| (t, e.end_number.unwrap_or(i64::MAX), e.identity.mrid.clone())))
            .collect();
        ends.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        for (transformer, _, end) in ends {
            if let Some(Slot::PowerTransformer(i)) = index.by_mrid.get(&transformer).copied() {
                if let Some(t) = self.power_transformers.get_mut(i) {
                    t.ends.push(end);
                }
            }
        }
        for limit in &self.operational_limits {
            if let Some(Slot::OperationalLimitSet(i)) = limit.set.as_ref().and_then(|s| index.by_mrid.get(s)).copied() {
                if let Some(set) = self.operational_limit_sets.get_mut(i) {
                    set.limits.push(limit.identity.mrid.clone());
                }
            }
        }
        let nominal: HashMap<&str, f64> =
            self.base_voltages.iter().filter_map(|b| b.nominal_kv.map(|kv| (b.identity.mrid.as_str(), kv))).collect();
        for level in &mut self.voltage_levels {
            level.nominal_kv = level.base_voltage.as_deref().and_then(|b| nominal.get(b)).copied();
        }
        for (i, terminal) in self.terminals.iter().enumerate() {
            if let Some(equipment) = &terminal.conducting_equipment {
                index.terminals_by_equipment.entry(equipment.clone()).or_default().push(i);
            }
        }
        let terminals = &self.terminals;
        for list in index.terminals_by_equipment.values_mut() {
            list.sort_by_key(|&i| terminals.get(i).and_then(|t| t.sequence_number).unwrap_or(i64::MAX));
        }
        for (i, measurement) in self.measurements.iter().enumerate() {
            if let Some(resource) = &measurement.power_system_resource {
                index.measurements_by_resource.entry(resource.clone()).or_default().push(i);
            }
            if let Some(terminal) = &measurement.terminal {
                index.measurements_by_terminal.entry(terminal.clone()).or_default().push(i);
            }
        }
        for (i, set) in self.operational_limit_sets.iter().enumerate() {
            for owner in set.terminal.iter().chain(set.equipment.iter()) {
                index.limit_sets_by_owner.entry(owner.clone()).or_default().push(i);
            }
        }
        for (i, level) in self.voltage_levels.iter().enumerate() {
            if let Some(substation) = &level.substation {
                index.voltage_levels_by_substation.entry(substation.clone()).or_default().push(i);
            }
        }
        for (i, bay) in self.bays.iter().enumerate() {
            if let Some(level) = &bay.voltage_level {
                index.bays_by_voltage_level.entry(level.clone()).or_default().push(i);
            }
        }
        for (i, object) in self.diagram_objects.iter().enumerate() {
            if let Some(placed) = &object.identified_object {
                index.diagram_objects_by_object.entry(placed.clone()).or_default().push(i);
            }
            if let Some(diagram) = &object.diagram {
                index.diagram_objects_by_diagram.entry(diagram.clone()).or_default().push(i);
            }
        }
        for (i, location) in self.locations.iter().enumerate() {
            for resource in &location.power_system_resources {
                index.locations_by_resource.entry(resource.clone()).or_default().push(i);
            }
        }
        let children = &mut index.children_by_container;
        for equipment in Self::all_equipment_of(
            &self.busbar_sections,
            &self.ac_line_segments,
            &self.power_transformers,
            &self.switches,
            &self.loads,
            &self.synchronous_machines,
            &self.generating_units,
            &self.other_equipment,
        ) {
            if let Some(container) = &equipment.container {
                children.entry(container.clone()).or_default().push(equipment.identity.mrid.clone());
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn all_equipment_of<'a>(
        busbar_sections: &'a [BusbarSection],
        ac_line_segments: &'a [AcLineSegment],
        power_transformers: &'a [PowerTransformer],
        switches: &'a [Switch],
        loads: &'a [Load],
        synchronous_machines: &'a [SynchronousMachine],
        generating_units: &'a [GeneratingUnit],
        other_equipment: &'a [Equipment],
    ) -> impl Iterator<Item = &'a Equipment> {
        busbar_sections
            .iter()
            .map(|e| &e.equipment)
            .chain(ac_line_segments.iter().map(|e| &e.equipment))
            .chain(power_transformers.iter().map(|e| &e.equipment))
            .chain(switches.iter().map(|e| &e.equipment))
            .chain(loads.iter().map(|e| &e.equipment))
            .chain(synchronous_machines.iter().map(|e| &e.equipment))
            .chain(generating_units.iter().map(|e| &e.equipment))
            .chain(other_equipment.iter())
    }

    /// Every piece of equipment, typed or not, in collection order.
    pub fn all_equipment(&self) -> impl Iterator<Item = &Equipment> {
        Self::all_equipment_of(
            &self.busbar_sections,
            &self.ac_line_segments,
            &self.power_transformers,
            &self.switches,
            &self.loads,
            &self.synchronous_machines,
            &self.generating_units,
            &self.other_equipment,
        )
    }

    /// The typed object with this mRID (with or without the leading `_`).
    pub fn get(&self, mrid: &str) -> Option<CgmesObject<'_>> {
        let mrid = crate::names::mrid_of(mrid);
        Some(match *self.index.by_mrid.get(mrid)? {
            Slot::BaseVoltage(i) => CgmesObject::BaseVoltage(self.base_voltages.get(i)?),
            Slot::Substation(i) => CgmesObject::Substation(self.substations.get(i)?),
            Slot::VoltageLevel(i) => CgmesObject::VoltageLevel(self.voltage_levels.get(i)?),
            Slot::Bay(i) => CgmesObject::Bay(self.bays.get(i)?),
            Slot::Line(i) => CgmesObject::Line(self.lines.get(i)?),
            Slot::BusbarSection(i) => CgmesObject::BusbarSection(self.busbar_sections.get(i)?),
            Slot::AcLineSegment(i) => CgmesObject::AcLineSegment(self.ac_line_segments.get(i)?),
            Slot::PowerTransformer(i) => CgmesObject::PowerTransformer(self.power_transformers.get(i)?),
            Slot::PowerTransformerEnd(i) => CgmesObject::PowerTransformerEnd(self.power_transformer_ends.get(i)?),
            Slot::Switch(i) => CgmesObject::Switch(self.switches.get(i)?),
            Slot::Load(i) => CgmesObject::Load(self.loads.get(i)?),
            Slot::SynchronousMachine(i) => CgmesObject::SynchronousMachine(self.synchronous_machines.get(i)?),
            Slot::GeneratingUnit(i) => CgmesObject::GeneratingUnit(self.generating_units.get(i)?),
            Slot::OtherEquipment(i) => CgmesObject::OtherEquipment(self.other_equipment.get(i)?),
            Slot::Terminal(i) => CgmesObject::Terminal(self.terminals.get(i)?),
            Slot::ConnectivityNode(i) => CgmesObject::ConnectivityNode(self.connectivity_nodes.get(i)?),
            Slot::TopologicalNode(i) => CgmesObject::TopologicalNode(self.topological_nodes.get(i)?),
            Slot::Measurement(i) => CgmesObject::Measurement(self.measurements.get(i)?),
            Slot::OperationalLimitSet(i) => CgmesObject::OperationalLimitSet(self.operational_limit_sets.get(i)?),
            Slot::OperationalLimitType(i) => CgmesObject::OperationalLimitType(self.operational_limit_types.get(i)?),
            Slot::OperationalLimit(i) => CgmesObject::OperationalLimit(self.operational_limits.get(i)?),
            Slot::Diagram(i) => CgmesObject::Diagram(self.diagrams.get(i)?),
            Slot::DiagramObject(i) => CgmesObject::DiagramObject(self.diagram_objects.get(i)?),
            Slot::CoordinateSystem(i) => CgmesObject::CoordinateSystem(self.coordinate_systems.get(i)?),
            Slot::Location(i) => CgmesObject::Location(self.locations.get(i)?),
        })
    }

    /// The diagram objects (DL) that draw this object, on any diagram, in file order.
    pub fn diagram_objects_of(&self, mrid: &str) -> Vec<&DiagramObject> {
        let positions = self.index.diagram_objects_by_object.get(crate::names::mrid_of(mrid));
        positions.into_iter().flatten().filter_map(|&i| self.diagram_objects.get(i)).collect()
    }

    /// The diagram objects (DL) of one diagram, in file order.
    pub fn diagram_objects_in(&self, diagram: &str) -> Vec<&DiagramObject> {
        let positions = self.index.diagram_objects_by_diagram.get(crate::names::mrid_of(diagram));
        positions.into_iter().flatten().filter_map(|&i| self.diagram_objects.get(i)).collect()
    }

    /// The locations (GL) of this power system resource, in file order.
    pub fn locations_of(&self, mrid: &str) -> Vec<&Location> {
        let positions = self.index.locations_by_resource.get(crate::names::mrid_of(mrid));
        positions.into_iter().flatten().filter_map(|&i| self.locations.get(i)).collect()
    }

    /// The CGMES editions of the imported files, each once, in ascending order (files of
    /// neither edition, such as a file with no header and no CIM object, add nothing).
    pub fn versions(&self) -> Vec<CgmesVersion> {
        let mut found: Vec<CgmesVersion> = self.files.iter().filter_map(|f| f.version).collect();
        found.sort_unstable();
        found.dedup();
        found
    }

    /// The equipment part (identity, class, container) of the object with this mRID, if it is
    /// equipment.
    pub fn equipment(&self, mrid: &str) -> Option<&Equipment> {
        self.get(mrid)?.equipment()
    }

    /// The substation with this mRID.
    pub fn substation(&self, mrid: &str) -> Option<&Substation> {
        match self.get(mrid)? {
            CgmesObject::Substation(s) => Some(s),
            _ => None,
        }
    }

    /// The first substation with this name.
    pub fn substation_named(&self, name: &str) -> Option<&Substation> {
        self.substations.iter().find(|s| s.identity.name.as_deref() == Some(name))
    }

    /// The voltage levels of a substation, in file order.
    pub fn voltage_levels_of(&self, substation: &str) -> Vec<&VoltageLevel> {
        let positions = self.index.voltage_levels_by_substation.get(crate::names::mrid_of(substation));
        positions.into_iter().flatten().filter_map(|&i| self.voltage_levels.get(i)).collect()
    }

    /// The bays of a voltage level, in file order.
    pub fn bays_of(&self, voltage_level: &str) -> Vec<&Bay> {
        let positions = self.index.bays_by_voltage_level.get(crate::names::mrid_of(voltage_level));
        positions.into_iter().flatten().filter_map(|&i| self.bays.get(i)).collect()
    }

    /// Equipment whose `Equipment.EquipmentContainer` is this container (a substation, voltage
    /// level, bay or line), not counting what sits in nested containers.
    pub fn equipment_in(&self, container: &str) -> Vec<&Equipment> {
        let children = self.index.children_by_container.get(crate::names::mrid_of(container));
        children.into_iter().flatten().filter_map(|m| self.equipment(m)).collect()
    }

    /// The terminals of a piece of equipment, by sequence number.
    pub fn terminals_of(&self, equipment: &str) -> Vec<&Terminal> {
        let positions = self.index.terminals_by_equipment.get(crate::names::mrid_of(equipment));
        positions.into_iter().flatten().filter_map(|&i| self.terminals.get(i)).collect()
    }

    /// Measurements whose `Measurement.PowerSystemResource` is this object.
    pub fn measurements_of(&self, resource: &str) -> Vec<&Measurement> {
        let positions = self.index.measurements_by_resource.get(crate::names::mrid_of(resource));
        positions.into_iter().flatten().filter_map(|&i| self.measurements.get(i)).collect()
    }

    /// Measurements taken at this terminal.
    pub fn measurements_at_terminal(&self, terminal: &str) -> Vec<&Measurement> {
        let positions = self.index.measurements_by_terminal.get(crate::names::mrid_of(terminal));
        positions.into_iter().flatten().filter_map(|&i| self.measurements.get(i)).collect()
    }

    /// Limit sets attached to this terminal or equipment.
    pub fn limit_sets_of(&self, terminal_or_equipment: &str) -> Vec<&OperationalLimitSet> {
        let positions = self.index.limit_sets_by_owner.get(crate::names::mrid_of(terminal_or_equipment));
        positions.into_iter().flatten().filter_map(|&i| self.operational_limit_sets.get(i)).collect()
    }

    /// The limits of a set, each with its type if the type resolved.
    pub fn limits_in(&self, set: &OperationalLimitSet) -> Vec<(&OperationalLimit, Option<&OperationalLimitType>)> {
        set.limits
            .iter()
            .filter_map(|m| match self.get(m)? {
                CgmesObject::OperationalLimit(limit) => Some(limit),
                _ => None,
            })
            .map(|limit| {
                let limit_type = limit.limit_type.as_deref().and_then(|t| match self.get(t)? {
                    CgmesObject::OperationalLimitType(found) => Some(found),
                    _ => None,
                });
                (limit, limit_type)
            })
            .collect()
    }

    /// The ends of a power transformer, by end number.
    pub fn ends_of(&self, transformer: &PowerTransformer) -> Vec<&PowerTransformerEnd> {
        transformer
            .ends
            .iter()
            .filter_map(|m| match self.get(m)? {
                CgmesObject::PowerTransformerEnd(end) => Some(end),
                _ => None,
            })
            .collect()
    }

    /// Where a piece of equipment (or a bay or voltage level) sits: its bay, voltage level,
    /// substation and line, as far as containers resolve. This is the join key towards IEC 61850
    /// substation sections (Substation / VoltageLevel / Bay names).
    pub fn location_of(&self, mrid: &str) -> ContainmentPath {
        let mut path = ContainmentPath::default();
        let mut next = match self.get(mrid) {
            Some(CgmesObject::Bay(_) | CgmesObject::VoltageLevel(_)) => Some(crate::names::mrid_of(mrid).to_owned()),
            Some(object) => object.equipment().and_then(|e| e.container.clone()),
            None => None,
        };
        // Containers nest at most Bay → VoltageLevel → Substation; the bound stops cycles.
        for _ in 0..4 {
            let Some(container) = next.take() else { break };
            match self.get(&container) {
                Some(CgmesObject::Bay(bay)) => {
                    path.bay = Some(container);
                    next = bay.voltage_level.clone();
                }
                Some(CgmesObject::VoltageLevel(level)) => {
                    path.voltage_level = Some(container);
                    next = level.substation.clone();
                }
                Some(CgmesObject::Substation(_)) => path.substation = Some(container),
                Some(CgmesObject::Line(_)) => path.line = Some(container),
                _ => {}
            }
        }
        path
    }

    /// The containment tree: substations with their direct equipment, voltage levels (with
    /// direct equipment and bays), lines with their segments, and whatever has no known
    /// container.
    pub fn containment(&self) -> Containment {
        let entries =
            |container: &str| -> Vec<EquipmentEntry> { self.equipment_in(container).into_iter().map(EquipmentEntry::from).collect() };
        let level_tree = |level: &VoltageLevel| VoltageLevelTree {
            mrid: level.identity.mrid.clone(),
            name: level.identity.name.clone(),
            nominal_kv: level.nominal_kv,
            equipment: entries(&level.identity.mrid),
            bays: self
                .bays_of(&level.identity.mrid)
                .into_iter()
                .map(|bay| ContainerTree {
                    mrid: bay.identity.mrid.clone(),
                    name: bay.identity.name.clone(),
                    equipment: entries(&bay.identity.mrid),
                })
                .collect(),
        };
        let substations = self
            .substations
            .iter()
            .map(|s| SubstationTree {
                mrid: s.identity.mrid.clone(),
                name: s.identity.name.clone(),
                equipment: entries(&s.identity.mrid),
                voltage_levels: self.voltage_levels_of(&s.identity.mrid).into_iter().map(level_tree).collect(),
            })
            .collect();
        let lines = self
            .lines
            .iter()
            .map(|l| ContainerTree { mrid: l.identity.mrid.clone(), name: l.identity.name.clone(), equipment: entries(&l.identity.mrid) })
            .collect();
        let voltage_levels_without_substation = self
            .voltage_levels
            .iter()
            .filter(|l| !matches!(l.substation.as_deref().and_then(|s| self.get(s)), Some(CgmesObject::Substation(_))))
            .map(level_tree)
            .collect();
        let uncontained = self
            .all_equipment()
            .filter(|e| {
                !matches!(
                    e.container.as_deref().and_then(|c| self.get(c)),
                    Some(CgmesObject::Substation(_) | CgmesObject::VoltageLevel(_) | CgmesObject::Bay(_) | CgmesObject::Line(_))
                )
            })
            .map(EquipmentEntry::from)
            .collect();
        Containment { substations, lines, voltage_levels_without_substation, uncontained }
    }

    /// How many objects of each typed kind the model holds (for `model show`).
    pub fn summary(&self) -> ModelSummary {
        ModelSummary {
            files: self.files.len(),
            base_voltages: self.base_voltages.len(),
            substations: self.substations.len(),
            voltage_levels: self.voltage_levels.len(),
            bays: self.bays.len(),
            lines: self.lines.len(),
            busbar_sections: self.busbar_sections.len(),
            ac_line_segments: self.ac_line_segments.len(),
            power_transformers: self.power_transformers.len(),
            power_transformer_ends: self.power_transformer_ends.len(),
            switches: self.switches.len(),
            loads: self.loads.len(),
            synchronous_machines: self.synchronous_machines.len(),
            generating_units: self.generating_units.len(),
            other_equipment: self.other_equipment.len(),
            terminals: self.terminals.len(),
            connectivity_nodes: self.connectivity_nodes.len(),
            topological_nodes: self.topological_nodes.len(),
            measurements: self.measurements.len(),
            operational_limit_sets: self.operational_limit_sets.len(),
            operational_limits: self.operational_limits.len(),
            diagrams: self.diagrams.len(),
            diagram_objects: self.diagram_objects.len(),
            locations: self.locations.len(),
            diagnostics: self.diagnostics.len(),
        }
    }

    /// Object elements per canonical class name over all files (`rdf:ID` and `rdf:about`
    /// elements both count, as do `md:FullModel` headers).
    pub fn class_counts(&self) -> BTreeMap<String, u64> {
        let mut total = BTreeMap::new();
        for file in &self.files {
            for (class, count) in &file.class_counts {
                *total.entry(class.clone()).or_default() += count;
            }
        }
        total
    }
}

impl<'a> CgmesObject<'a> {
    /// The object's mRID.
    pub fn mrid(&self) -> &'a str {
        match *self {
            CgmesObject::BaseVoltage(o) => &o.identity.mrid,
            CgmesObject::Substation(o) => &o.identity.mrid,
            CgmesObject::VoltageLevel(o) => &o.identity.mrid,
            CgmesObject::Bay(o) => &o.identity.mrid,
            CgmesObject::Line(o) => &o.identity.mrid,
            CgmesObject::PowerTransformerEnd(o) => &o.identity.mrid,
            CgmesObject::Terminal(o) => &o.identity.mrid,
            CgmesObject::ConnectivityNode(o) => &o.identity.mrid,
            CgmesObject::TopologicalNode(o) => &o.identity.mrid,
            CgmesObject::Measurement(o) => &o.identity.mrid,
            CgmesObject::OperationalLimitSet(o) => &o.identity.mrid,
            CgmesObject::OperationalLimitType(o) => &o.identity.mrid,
            CgmesObject::OperationalLimit(o) => &o.identity.mrid,
            CgmesObject::Diagram(o) => &o.identity.mrid,
            CgmesObject::DiagramObject(o) => &o.identity.mrid,
            CgmesObject::CoordinateSystem(o) => &o.identity.mrid,
            CgmesObject::Location(o) => &o.identity.mrid,
            other => other.equipment().map_or("", |e| e.identity.mrid.as_str()),
        }
    }

    /// The equipment part, for objects that are equipment.
    pub fn equipment(&self) -> Option<&'a Equipment> {
        Some(match *self {
            CgmesObject::BusbarSection(o) => &o.equipment,
            CgmesObject::AcLineSegment(o) => &o.equipment,
            CgmesObject::PowerTransformer(o) => &o.equipment,
            CgmesObject::Switch(o) => &o.equipment,
            CgmesObject::Load(o) => &o.equipment,
            CgmesObject::SynchronousMachine(o) => &o.equipment,
            CgmesObject::GeneratingUnit(o) => &o.equipment,
            CgmesObject::OtherEquipment(o) => o,
            _ => return None,
        })
    }
}

/// Object counts per typed collection, for a one-screen overview.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ModelSummary {
    /// Number of files.
    pub files: usize,
    /// Number of base voltages.
    pub base_voltages: usize,
    /// Number of substations.
    pub substations: usize,
    /// Number of voltage levels.
    pub voltage_levels: usize,
    /// Number of bays.
    pub bays: usize,
    /// Number of lines.
    pub lines: usize,
    /// Number of busbar sections.
    pub busbar_sections: usize,
    /// Number of ac line segments.
    pub ac_line_segments: usize,
    /// Number of power transformers.
    pub power_transformers: usize,
    /// Number of power transformer ends.
    pub power_transformer_ends: usize,
    /// Number of switches.
    pub switches: usize,
    /// Number of loads.
    pub loads: usize,
    /// Number of synchronous machines.
    pub synchronous_machines: usize,
    /// Number of generating units.
    pub generating_units: usize,
    /// Number of other equipment.
    pub other_equipment: usize,
    /// Number of terminals.
    pub terminals: usize,
    /// Number of connectivity nodes.
    pub connectivity_nodes: usize,
    /// Number of topological nodes.
    pub topological_nodes: usize,
    /// Number of measurements.
    pub measurements: usize,
    /// Number of operational limit sets.
    pub operational_limit_sets: usize,
    /// Number of operational limits.
    pub operational_limits: usize,
    /// Number of diagrams.
    pub diagrams: usize,
    /// Number of diagram objects.
    pub diagram_objects: usize,
    /// Number of locations.
    pub locations: usize,
    /// Number of diagnostics.
    pub diagnostics: usize,
}

/// Where an object sits in the containment hierarchy (mRIDs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ContainmentPath {
    /// The substation.
    pub substation: Option<String>,
    /// The voltage level.
    pub voltage_level: Option<String>,
    /// The bay.
    pub bay: Option<String>,
    /// The line, for line segments.
    pub line: Option<String>,
}

/// One piece of equipment in the containment tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EquipmentEntry {
    /// mRID.
    pub mrid: String,
    /// Canonical class name.
    pub class: String,
    /// Name.
    pub name: Option<String>,
}

impl From<&Equipment> for EquipmentEntry {
    fn from(e: &Equipment) -> Self {
        EquipmentEntry { mrid: e.identity.mrid.clone(), class: e.class.clone(), name: e.identity.name.clone() }
    }
}

/// A container holding equipment only (a bay or a line).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContainerTree {
    /// mRID.
    pub mrid: String,
    /// Name.
    pub name: Option<String>,
    /// Equipment directly inside.
    pub equipment: Vec<EquipmentEntry>,
}

/// A voltage level with its equipment and bays.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VoltageLevelTree {
    /// mRID.
    pub mrid: String,
    /// Name.
    pub name: Option<String>,
    /// Nominal voltage in kV.
    pub nominal_kv: Option<f64>,
    /// Equipment directly under the voltage level.
    pub equipment: Vec<EquipmentEntry>,
    /// Bays and their equipment.
    pub bays: Vec<ContainerTree>,
}

/// A substation with its equipment (transformers usually sit here) and voltage levels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubstationTree {
    /// mRID.
    pub mrid: String,
    /// Name.
    pub name: Option<String>,
    /// Equipment directly under the substation.
    pub equipment: Vec<EquipmentEntry>,
    /// Voltage levels.
    pub voltage_levels: Vec<VoltageLevelTree>,
}

/// The whole containment hierarchy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Containment {
    /// Substations.
    pub substations: Vec<SubstationTree>,
    /// Lines and their segments.
    pub lines: Vec<ContainerTree>,
    /// Voltage levels whose substation is not in the model.
    pub voltage_levels_without_substation: Vec<VoltageLevelTree>,
    /// Equipment whose container is missing or not a substation, voltage level, bay or line.
    pub uncontained: Vec<EquipmentEntry>,
}
