//! The typed SCL model: plain structs that mirror IEC 61850-6 Ed.2 closely enough that an
//! engineer recognises the file in them, and that serialise to JSON for `gridtrust model show`.
//! Every element that can be the subject of an error keeps its position.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

pub use crate::xml::Pos;

/// One SCL file (ICD, IID, CID or SCD).
#[derive(Debug, Clone, Default, Serialize)]
pub struct SclDocument {
    /// The file name the document was read from; every error names it.
    pub file: String,
    pub header: Header,
    pub substations: Vec<Substation>,
    pub communication: Communication,
    pub ieds: Vec<Ied>,
    pub data_type_templates: DataTypeTemplates,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Header {
    pub id: String,
    pub version: Option<String>,
    pub revision: Option<String>,
    pub tool_id: Option<String>,
    pub name_structure: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Substation section: the single-line diagram the CIM join needs.

/// A reference from the Substation section to a logical node in an IED (`<LNode>`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
pub struct LNodeRef {
    pub ied_name: String,
    pub ld_inst: String,
    pub prefix: String,
    pub ln_class: String,
    pub ln_inst: String,
    pub ln_type: Option<String>,
    pub pos: Pos,
}

impl LNodeRef {
    /// The logical node's name in its LD (`prefix + lnClass + lnInst`), as in object references.
    pub fn ln_name(&self) -> String {
        format!("{}{}{}", self.prefix, self.ln_class, self.ln_inst)
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Substation {
    pub name: String,
    pub desc: Option<String>,
    pub voltage_levels: Vec<VoltageLevel>,
    pub power_transformers: Vec<PowerTransformer>,
    pub lnodes: Vec<LNodeRef>,
    /// Functions (`<Function>`) and non-electrical equipment (`<GeneralEquipment>`) placed here.
    pub functions: Vec<Function>,
    pub general_equipment: Vec<GeneralEquipment>,
    pub pos: Pos,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct VoltageLevel {
    pub name: String,
    pub desc: Option<String>,
    pub voltage: Option<Voltage>,
    pub nom_freq: Option<String>,
    pub num_phases: Option<String>,
    pub bays: Vec<Bay>,
    pub power_transformers: Vec<PowerTransformer>,
    pub lnodes: Vec<LNodeRef>,
    /// Functions (`<Function>`) and non-electrical equipment (`<GeneralEquipment>`) placed here.
    pub functions: Vec<Function>,
    pub general_equipment: Vec<GeneralEquipment>,
    pub pos: Pos,
}

/// `<Voltage unit="V" multiplier="k">110</Voltage>`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Voltage {
    pub value: f64,
    pub unit: String,
    pub multiplier: String,
}

impl Voltage {
    /// The value in the base unit (volts for unit `V`), applying the SI multiplier.
    pub fn base_value(&self) -> Option<f64> {
        let exponent = match self.multiplier.as_str() {
            "" => 0,
            "m" => -3,
            "k" => 3,
            "M" => 6,
            "G" => 9,
            _ => return None,
        };
        Some(self.value * 10f64.powi(exponent))
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Bay {
    pub name: String,
    pub desc: Option<String>,
    pub conducting_equipment: Vec<ConductingEquipment>,
    pub power_transformers: Vec<PowerTransformer>,
    pub connectivity_nodes: Vec<ConnectivityNode>,
    pub lnodes: Vec<LNodeRef>,
    /// Functions (`<Function>`) and non-electrical equipment (`<GeneralEquipment>`) placed here.
    pub functions: Vec<Function>,
    pub general_equipment: Vec<GeneralEquipment>,
    pub pos: Pos,
}

/// A primary device (`type` is the SCL code: CBR, DIS, CTR, VTR, IFL, GEN, ...).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ConductingEquipment {
    pub name: String,
    pub desc: Option<String>,
    pub equipment_type: String,
    pub is_virtual: bool,
    pub terminals: Vec<Terminal>,
    pub sub_equipment: Vec<SubEquipment>,
    pub lnodes: Vec<LNodeRef>,
    /// `<EqFunction>`s: functions of this equipment (Ed.2.1).
    pub functions: Vec<Function>,
    pub pos: Pos,
}

/// One phase (or part) of a piece of equipment, e.g. the CT core of phase A.
/// A function of the substation (`<Function>`, `<SubFunction>`) or of a piece of equipment
/// (`<EqFunction>`, `<EqSubFunction>`): the logical nodes that implement it, where it is done.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Function {
    pub name: String,
    pub desc: Option<String>,
    pub function_type: Option<String>,
    pub sub_functions: Vec<Function>,
    pub general_equipment: Vec<GeneralEquipment>,
    pub lnodes: Vec<LNodeRef>,
    pub pos: Pos,
}

/// Equipment that is not part of the electrical circuit (`<GeneralEquipment>`: a battery, a fan,
/// a fire alarm), with the logical nodes that supervise it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GeneralEquipment {
    pub name: String,
    pub desc: Option<String>,
    /// The SCL type code, e.g. `BAT`, `FAN`, `FIL`, `MOT`, `E...` (own extensions).
    pub equipment_type: String,
    pub is_virtual: bool,
    /// `<EqFunction>`s.
    pub functions: Vec<Function>,
    pub lnodes: Vec<LNodeRef>,
    pub pos: Pos,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SubEquipment {
    pub name: String,
    pub phase: Option<String>,
    pub lnodes: Vec<LNodeRef>,
    /// `<EqFunction>`s: functions of this equipment (Ed.2.1).
    pub functions: Vec<Function>,
    pub pos: Pos,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Terminal {
    pub name: String,
    pub connectivity_node: String,
    pub substation_name: Option<String>,
    pub voltage_level_name: Option<String>,
    pub bay_name: Option<String>,
    pub c_node_name: String,
    pub pos: Pos,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ConnectivityNode {
    pub name: String,
    pub path_name: String,
    pub pos: Pos,
}

/// A power transformer (type PTR) with its windings (type PTW).
#[derive(Debug, Clone, Default, Serialize)]
pub struct PowerTransformer {
    pub name: String,
    pub desc: Option<String>,
    pub windings: Vec<TransformerWinding>,
    pub lnodes: Vec<LNodeRef>,
    /// `<EqFunction>`s: functions of this equipment (Ed.2.1).
    pub functions: Vec<Function>,
    pub pos: Pos,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TransformerWinding {
    pub name: String,
    pub terminals: Vec<Terminal>,
    pub tap_changer: Option<TapChanger>,
    pub lnodes: Vec<LNodeRef>,
    /// `<EqFunction>`s: functions of this equipment (Ed.2.1).
    pub functions: Vec<Function>,
    pub pos: Pos,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TapChanger {
    pub name: String,
    pub lnodes: Vec<LNodeRef>,
    /// `<EqFunction>`s: functions of this equipment (Ed.2.1).
    pub functions: Vec<Function>,
    pub pos: Pos,
}

// ---------------------------------------------------------------------------------------------
// Communication section: where to reach each access point.

#[derive(Debug, Clone, Default, Serialize)]
pub struct Communication {
    pub subnetworks: Vec<SubNetwork>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SubNetwork {
    pub name: String,
    pub network_type: Option<String>,
    pub connected_aps: Vec<ConnectedAp>,
    pub pos: Pos,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ConnectedAp {
    pub ied_name: String,
    pub ap_name: String,
    pub address: Address,
    pub gse: Vec<ControlBlockAddress>,
    pub smv: Vec<ControlBlockAddress>,
    pub pos: Pos,
}

/// `<Address>`: typed `<P>` parameters in file order (IP, IP-SUBNET, OSI-PSEL, MAC-Address, APPID, ...).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Address {
    pub parameters: Vec<AddressParameter>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct AddressParameter {
    pub param_type: String,
    pub value: String,
}

impl Address {
    /// The value of the first `<P type="...">`.
    pub fn get(&self, param_type: &str) -> Option<&str> {
        self.parameters.iter().find(|p| p.param_type == param_type).map(|p| p.value.as_str())
    }
}

/// The multicast address of a GOOSE (`<GSE>`) or sampled value (`<SMV>`) control block.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ControlBlockAddress {
    pub ld_inst: String,
    pub cb_name: String,
    pub address: Address,
    pub pos: Pos,
}

// ---------------------------------------------------------------------------------------------
// IED section.

#[derive(Debug, Clone, Default, Serialize)]
pub struct Ied {
    pub name: String,
    pub desc: Option<String>,
    pub manufacturer: Option<String>,
    pub ied_type: Option<String>,
    pub config_version: Option<String>,
    pub access_points: Vec<AccessPoint>,
    pub pos: Pos,
}

impl Ied {
    /// All logical devices of all servers of this IED.
    pub fn logical_devices(&self) -> impl Iterator<Item = &LDevice> {
        self.access_points.iter().filter_map(|ap| ap.server.as_ref()).flat_map(|server| server.logical_devices.iter())
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct AccessPoint {
    pub name: String,
    pub desc: Option<String>,
    pub server: Option<Server>,
    pub pos: Pos,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Server {
    pub logical_devices: Vec<LDevice>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct LDevice {
    pub inst: String,
    /// Ed.2 `ldName`; when absent the LD's name is the IED name followed by `inst`.
    pub ld_name: Option<String>,
    pub desc: Option<String>,
    /// `LN0` (logical node zero); `None` only in a document that has errors.
    pub ln0: Option<LogicalNode>,
    pub lns: Vec<LogicalNode>,
    pub pos: Pos,
}

impl LDevice {
    /// LN0 followed by the other logical nodes, in file order.
    pub fn logical_nodes(&self) -> impl Iterator<Item = &LogicalNode> {
        self.ln0.iter().chain(self.lns.iter())
    }
}

/// `LN0` or `LN`. Data sets and report control blocks may sit in any LN (Ed.2); GOOSE and sampled
/// value control blocks only in LN0.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LogicalNode {
    pub prefix: String,
    pub ln_class: String,
    pub inst: String,
    pub ln_type: String,
    pub desc: Option<String>,
    pub dois: Vec<Doi>,
    pub data_sets: Vec<DataSet>,
    pub report_controls: Vec<ReportControl>,
    pub log_controls: Vec<LogControl>,
    pub gse_controls: Vec<GseControl>,
    pub smv_controls: Vec<SampledValueControl>,
    /// `<SettingControl>`: LN0 only, at most one per LD.
    pub setting_control: Option<SettingControl>,
    /// `<Inputs><ExtRef>`: the external data this LN subscribes to or is wired to.
    pub inputs: Vec<ExtRef>,
    pub pos: Pos,
}

impl LogicalNode {
    /// The name in object references: `prefix + lnClass + inst` (`LLN0` for LN0).
    pub fn name(&self) -> String {
        format!("{}{}{}", self.prefix, self.ln_class, self.inst)
    }
}

/// An instantiated data object with the values it sets (`<DOI>`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Doi {
    pub name: String,
    pub dais: Vec<Dai>,
    pub pos: Pos,
}

/// An instantiated attribute value (`<DAI>`, possibly under `<SDI>`s); `path` is the SDI names
/// followed by the DAI name, below the DOI.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Dai {
    pub path: Vec<String>,
    pub values: Vec<Val>,
    pub pos: Pos,
}

/// `<Val>`, optionally for one setting group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Val {
    pub s_group: Option<u32>,
    pub text: String,
}

/// The value that applies outside setting groups: the one without `sGroup`, else the first.
pub(crate) fn initial_value(values: &[Val]) -> Option<&str> {
    values.iter().find(|v| v.s_group.is_none()).or_else(|| values.first()).map(|v| v.text.as_str())
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DataSet {
    pub name: String,
    pub desc: Option<String>,
    pub fcdas: Vec<Fcda>,
    pub pos: Pos,
}

/// A data set member: a functionally constrained data or data attribute.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Fcda {
    pub ld_inst: String,
    pub prefix: String,
    pub ln_class: String,
    pub ln_inst: String,
    pub do_name: String,
    pub da_name: Option<String>,
    pub fc: Option<FunctionalConstraint>,
    pub pos: Pos,
}

impl Fcda {
    /// `LD/LN.DO[.DA]`, the reference the member stands for.
    pub fn reference(&self) -> String {
        let mut reference = format!("{}/{}{}{}.{}", self.ld_inst, self.prefix, self.ln_class, self.ln_inst, self.do_name);
        if let Some(da) = &self.da_name {
            reference.push('.');
            reference.push_str(da);
        }
        reference
    }
}

/// A report control block (`<ReportControl>`), with the schema's defaults applied.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReportControl {
    pub name: String,
    pub desc: Option<String>,
    pub dat_set: Option<String>,
    pub rpt_id: Option<String>,
    pub conf_rev: u32,
    pub buffered: bool,
    pub buf_time_ms: u32,
    pub intg_pd_ms: u32,
    pub indexed: bool,
    pub trg_ops: TrgOps,
    pub opt_fields: OptFields,
    /// `<RptEnabled max>`: how many client instances the IED offers (`None`: element absent).
    pub rpt_enabled_max: Option<u32>,
    /// `<ClientLN>`s under `<RptEnabled>`: clients the instances are reserved for.
    pub clients: Vec<LNodeRef>,
    pub pos: Pos,
}

/// Trigger options; schema defaults: all false except `gi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TrgOps {
    pub dchg: bool,
    pub qchg: bool,
    pub dupd: bool,
    pub period: bool,
    pub gi: bool,
}

impl Default for TrgOps {
    fn default() -> Self {
        TrgOps { dchg: false, qchg: false, dupd: false, period: false, gi: true }
    }
}

/// Optional report fields; schema defaults: all false.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OptFields {
    pub seq_num: bool,
    pub time_stamp: bool,
    pub data_set: bool,
    pub reason_code: bool,
    pub data_ref: bool,
    pub entry_id: bool,
    pub config_ref: bool,
    pub buf_ovfl: bool,
}

/// A log control block (`<LogControl>`), with the schema's defaults applied. The log it writes to
/// is `logName` in the LN named by `ldInst`/`prefix`/`lnClass`/`lnInst` (default: this LD's LLN0).
#[derive(Debug, Clone, Default, Serialize)]
pub struct LogControl {
    pub name: String,
    pub desc: Option<String>,
    pub dat_set: Option<String>,
    pub ld_inst: Option<String>,
    pub prefix: String,
    pub ln_class: String,
    pub ln_inst: String,
    /// `None` when written empty (a block that logs nowhere, as Ed.1 tools write it).
    pub log_name: Option<String>,
    pub log_ena: bool,
    pub reason_code: bool,
    pub buf_time_ms: u32,
    pub intg_pd_ms: u32,
    pub trg_ops: TrgOps,
    pub pos: Pos,
}

/// `<SettingControl>`: how many setting groups the LD has and which one is active.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SettingControl {
    pub desc: Option<String>,
    pub num_of_sgs: u32,
    /// The active group, 1-based (schema default 1).
    pub act_sg: u32,
    pub pos: Pos,
}

/// An input (`<ExtRef>`): the data it is bound to (`iedName`, `ldInst`, ... `daName`; absent
/// for an input not bound yet), the control block that carries it (`src*`, Ed.2) and what it
/// feeds inside the IED (`intAddr`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExtRef {
    pub desc: Option<String>,
    pub ied_name: Option<String>,
    pub ld_inst: Option<String>,
    pub prefix: String,
    pub ln_class: Option<String>,
    pub ln_inst: String,
    pub do_name: Option<String>,
    pub da_name: Option<String>,
    pub int_addr: Option<String>,
    /// `Poll`, `Report`, `GOOSE`, `SMV`.
    pub service_type: Option<String>,
    pub src_ld_inst: Option<String>,
    pub src_prefix: String,
    /// The LN holding the source control block (schema default LLN0).
    pub src_ln_class: Option<String>,
    pub src_ln_inst: String,
    pub src_cb_name: Option<String>,
    pub pos: Pos,
}

impl ExtRef {
    /// `LD/LN.DO[.DA]` of the bound data, `None` for an input that is not bound.
    pub fn source_reference(&self) -> Option<String> {
        let (ld_inst, ln_class, do_name) = (self.ld_inst.as_ref()?, self.ln_class.as_ref()?, self.do_name.as_ref()?);
        let mut reference = format!("{ld_inst}/{}{ln_class}{}.{do_name}", self.prefix, self.ln_inst);
        if let Some(da) = &self.da_name {
            reference.push('.');
            reference.push_str(da);
        }
        Some(reference)
    }
}

/// A GOOSE (or GSSE) control block (`<GSEControl>`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct GseControl {
    pub name: String,
    pub desc: Option<String>,
    pub app_id: String,
    pub dat_set: Option<String>,
    pub conf_rev: u32,
    /// `GOOSE` (default) or `GSSE`.
    pub gse_type: String,
    pub fixed_offs: bool,
    pub pos: Pos,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SampledValueControl {
    pub name: String,
    pub desc: Option<String>,
    pub smv_id: String,
    pub dat_set: Option<String>,
    pub conf_rev: u32,
    pub smp_rate: u32,
    pub nof_asdu: u32,
    pub multicast: bool,
    pub pos: Pos,
}

// ---------------------------------------------------------------------------------------------
// Data type templates.

#[derive(Debug, Clone, Default, Serialize)]
pub struct DataTypeTemplates {
    pub lnode_types: Vec<LNodeType>,
    pub do_types: Vec<DoType>,
    pub da_types: Vec<DaType>,
    pub enum_types: Vec<EnumType>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct LNodeType {
    pub id: String,
    pub ln_class: String,
    pub desc: Option<String>,
    pub data_objects: Vec<DataObjectDef>,
    pub pos: Pos,
}

/// `<DO>` in an LNodeType or `<SDO>` in a DOType: a named data object of a DOType.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DataObjectDef {
    pub name: String,
    pub type_id: String,
    pub count: u32,
    pub pos: Pos,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DoType {
    pub id: String,
    pub cdc: String,
    /// SDOs and DAs in file order (the order MMS uses within one functional constraint).
    pub children: Vec<DoTypeChild>,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum DoTypeChild {
    Sdo(DataObjectDef),
    Da(AttributeDef),
}

/// `<DA>` in a DOType (with `fc`) or `<BDA>` in a DAType (without).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttributeDef {
    pub name: String,
    pub btype: BasicType,
    /// The DAType id for `Struct`, the EnumType id for `Enum`.
    pub type_id: Option<String>,
    pub fc: Option<FunctionalConstraint>,
    /// Array length (`count`), 0 for a single value.
    pub count: u32,
    pub dchg: bool,
    pub qchg: bool,
    pub dupd: bool,
    pub values: Vec<Val>,
    pub pos: Pos,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DaType {
    pub id: String,
    pub bdas: Vec<AttributeDef>,
    pub pos: Pos,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct EnumType {
    pub id: String,
    pub values: Vec<EnumVal>,
    pub pos: Pos,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EnumVal {
    pub ord: i32,
    pub name: String,
}

// ---------------------------------------------------------------------------------------------
// Closed vocabularies.

macro_rules! closed_vocabulary {
    ($(#[$meta:meta])* $type:ident { $($variant:ident = $text:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        pub enum $type { $(#[serde(rename = $text)] $variant,)* }

        impl $type {
            /// The spelling used in SCL files.
            pub fn as_str(self) -> &'static str {
                match self { $($type::$variant => $text,)* }
            }
        }

        impl FromStr for $type {
            type Err = ();
            fn from_str(text: &str) -> Result<Self, ()> {
                match text { $($text => Ok($type::$variant),)* _ => Err(()) }
            }
        }

        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

closed_vocabulary!(
    /// IEC 61850-6 `tBasicTypeEnum`: what the value of a data attribute is on the wire.
    BasicType {
        Boolean = "BOOLEAN", Int8 = "INT8", Int16 = "INT16", Int24 = "INT24", Int32 = "INT32", Int64 = "INT64",
        Int128 = "INT128", Int8U = "INT8U", Int16U = "INT16U", Int24U = "INT24U", Int32U = "INT32U",
        Float32 = "FLOAT32", Float64 = "FLOAT64", Enum = "Enum", Dbpos = "Dbpos", Tcmd = "Tcmd",
        Quality = "Quality", Timestamp = "Timestamp", VisString32 = "VisString32", VisString64 = "VisString64",
        VisString65 = "VisString65", VisString129 = "VisString129", VisString255 = "VisString255",
        Octet64 = "Octet64", Unicode255 = "Unicode255", Struct = "Struct", EntryTime = "EntryTime",
        Check = "Check", ObjRef = "ObjRef", Currency = "Currency", PhyComAddr = "PhyComAddr",
        TrgOps = "TrgOps", OptFlds = "OptFlds", SvOptFlds = "SvOptFlds", LogOptFlds = "LogOptFlds",
        EntryID = "EntryID", Octet6 = "Octet6", Octet16 = "Octet16",
    }
);

closed_vocabulary!(
    /// IEC 61850-7-2 functional constraints (`tFCEnum`): which service view an attribute belongs to.
    FunctionalConstraint {
        St = "ST", Mx = "MX", Co = "CO", Sp = "SP", Sv = "SV", Cf = "CF", Dc = "DC", Sg = "SG", Se = "SE",
        Sr = "SR", Or = "OR", Bl = "BL", Ex = "EX",
    }
);

// ---------------------------------------------------------------------------------------------
// Look-ups the MMS adapter and the CLI need.

/// Where an MMS client reaches an access point: from `<ConnectedAP><Address>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MmsEndpoint {
    pub subnetwork: String,
    pub ap_name: String,
    pub ip: std::net::IpAddr,
    /// `<P type="MMS-Port">`, else the ISO-on-TCP default 102.
    pub port: u16,
}

/// IEC 61850-8-1 MMS runs over ISO-on-TCP (RFC 1006), port 102 unless the SCL says otherwise.
pub const DEFAULT_MMS_PORT: u16 = 102;

impl SclDocument {
    pub fn ied(&self, name: &str) -> Option<&Ied> {
        self.ieds.iter().find(|ied| ied.name == name)
    }

    /// The IP endpoints of IED `ied_name`'s access points, in Communication order (an IED may sit
    /// on several subnetworks). Entries without a valid `IP` parameter are left out.
    pub fn mms_endpoints(&self, ied_name: &str) -> Vec<MmsEndpoint> {
        let mut endpoints = Vec::new();
        for subnetwork in &self.communication.subnetworks {
            for ap in subnetwork.connected_aps.iter().filter(|ap| ap.ied_name == ied_name) {
                let Some(ip) = ap.address.get("IP").and_then(|ip| ip.parse().ok()) else { continue };
                let port = ap.address.get("MMS-Port").and_then(|p| p.parse().ok()).unwrap_or(DEFAULT_MMS_PORT);
                endpoints.push(MmsEndpoint { subnetwork: subnetwork.name.clone(), ap_name: ap.ap_name.clone(), ip, port });
            }
        }
        endpoints
    }

    /// The multicast address of GOOSE control block `ld_inst/cb_name` of IED `ied_name`.
    pub fn gse_address(&self, ied_name: &str, ld_inst: &str, cb_name: &str) -> Option<&ControlBlockAddress> {
        self.communication
            .subnetworks
            .iter()
            .flat_map(|s| s.connected_aps.iter())
            .filter(|ap| ap.ied_name == ied_name)
            .flat_map(|ap| ap.gse.iter())
            .find(|gse| gse.ld_inst == ld_inst && gse.cb_name == cb_name)
    }

    /// An EnumType by id (to map an `Enum` attribute's ordinal to its name).
    pub fn enum_type(&self, id: &str) -> Option<&EnumType> {
        self.data_type_templates.enum_types.iter().find(|t| t.id == id)
    }
}
