//! What an IED offers, read over MMS the way IEDScout browses it, and the same written as an
//! IID-like SCL file that gridtrust's SCL import, and so the edge's `[[ied]]` adapter, reads.
//!
//! [`MmsClient::browse`] asks, in this order: GetServerDirectory (GetNameList of domains: the
//! logical devices), GetLogicalDeviceDirectory (GetNameList of each domain's named variables;
//! the logical nodes are those without `$`), GetVariableAccessAttributes of each logical node
//! (its whole type: functional constraints, data objects, attributes), GetNameList of named
//! variable lists and GetNamedVariableListAttributes (the data sets), and one Read per logical
//! node of its ST, MX, CF, BR and RP parts (values, control models, report control blocks).
//!
//! [`ServerModel::to_scl`] is pure. IEC 61850-8-1's mapping does not go back uniquely; what it
//! decides, and why it is safe for reading the IED:
//! - a structure under a data object that appears under several FCs is a sub data object, one
//!   under a single FC a constructed attribute; the attribute references (`LD/LN.DO.x.y`) and
//!   their order within each FC, which are what reports are decoded by, are the same either way;
//! - the CDC is guessed from the attributes (`stVal`'s type, `Oper`, `mag`, `cVal`, `phsA`),
//!   and named `unknown` otherwise;
//! - MMS does not say which integers are enumerations: they are written as `INT8`..`INT64`, and
//!   `ctlModel` as its ordinal, which is how the adapter reads control models;
//! - bit strings by size: 2 is `Dbpos` (`Tcmd` for a `ctlVal`), 13 `Quality`, 6 `TrgOps`,
//!   10 `OptFlds`, others `Octet64`;
//! - report control blocks are written under the instance name the IED serves
//!   (`EventsBRCB01`, not indexed), with the data set, trigger options, integrity period and
//!   confRev they hold now.
//!
//! Not here: logs, GOOSE and sampled-value control blocks, setting groups, DataTypeTemplates
//! names as the IED's configurator wrote them (types are named by content, e.g. `SPC_3`).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::str::FromStr;

use gridtrust_scl::FunctionalConstraint;

use crate::data::{Data, ObjectName, TypeSpec};
use crate::driver::MmsClient;
use crate::pdu::{NameScope, ObjectClass};
use crate::services::{Identity, ServiceFailure};

/// What the server offers.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerModel {
    /// MMS identify, when the server answers it.
    pub identity: Option<Identity>,
    pub logical_devices: Vec<LogicalDevice>,
}

/// One MMS domain.
#[derive(Debug, Clone, PartialEq)]
pub struct LogicalDevice {
    /// The domain name (IED name + LD inst, or the Ed.2 `ldName`).
    pub name: String,
    pub logical_nodes: Vec<LogicalNode>,
    pub data_sets: Vec<DataSet>,
}

/// One logical node: its type and the values read of some of its FCs.
#[derive(Debug, Clone, PartialEq)]
pub struct LogicalNode {
    pub name: String,
    /// GetVariableAccessAttributes of the LN: a structure of FCs.
    pub type_spec: TypeSpec,
    /// `(FC, value)` for the FCs read; a value is a structure aligned with the FC's type.
    pub values: Vec<(String, Data)>,
    /// Why the values could not be read, when they could not.
    pub read_error: Option<String>,
}

/// One named variable list.
#[derive(Debug, Clone, PartialEq)]
pub struct DataSet {
    /// The item name, `LN$name` (e.g. `LLN0$Events`).
    pub name: String,
    pub members: Vec<ObjectName>,
}

/// A report control block as the IED holds it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportBlock {
    /// The instance name (`EventsBRCB01`).
    pub name: String,
    pub buffered: bool,
    pub rpt_id: String,
    /// `LD/LN$name`, empty when none is set.
    pub dat_set: String,
    pub conf_rev: u64,
    pub buf_time_ms: u64,
    pub intg_pd_ms: u64,
    /// Data change, quality change, data update, integrity, general interrogation.
    pub trg_ops: [bool; 5],
}

/// The FCs whose values [`MmsClient::browse`] reads.
const READ_FCS: [&str; 5] = ["ST", "MX", "CF", "BR", "RP"];

impl MmsClient {
    /// Browses the whole server (see the module documentation for the services used).
    pub async fn browse(&self) -> Result<ServerModel, ServiceFailure> {
        let identity = self.identify().await.ok();
        let mut logical_devices = Vec::new();
        for ld in self.logical_devices().await? {
            let mut logical_nodes = Vec::new();
            for ln in self.logical_nodes(&ld).await? {
                let type_spec = self.variable_type(&ObjectName::domain(&ld, &ln)).await?;
                let fcs: Vec<&str> = fc_names(&type_spec).into_iter().filter(|fc| READ_FCS.contains(fc)).collect();
                let names: Vec<ObjectName> = fcs.iter().map(|fc| ObjectName::domain(&ld, format!("{ln}${fc}"))).collect();
                let (values, read_error) = self.read_parts(&fcs, &names).await;
                logical_nodes.push(LogicalNode { name: ln, type_spec, values, read_error });
            }
            let mut data_sets = Vec::new();
            for name in self.get_name_list(ObjectClass::NamedVariableList, NameScope::Domain(ld.clone())).await? {
                let members = self.data_set_members(&ObjectName::domain(&ld, &name)).await?;
                data_sets.push(DataSet { name, members });
            }
            logical_devices.push(LogicalDevice { name: ld, logical_nodes, data_sets });
        }
        Ok(ServerModel { identity, logical_devices })
    }
}

impl MmsClient {
    /// Reads the FC parts `names` of one LN in one request; when the server refuses that (an
    /// answer larger than the negotiated PDU, a service limit), one request per part. Returns the
    /// parts read and, when a part could not be read even alone, why.
    async fn read_parts(&self, fcs: &[&str], names: &[ObjectName]) -> (Vec<(String, Data)>, Option<String>) {
        let tag = |results: Vec<crate::pdu::AccessResult>| -> Vec<(String, Data)> {
            fcs.iter().zip(results).filter_map(|(fc, r)| r.ok().map(|d| ((*fc).to_owned(), d))).collect()
        };
        match self.read(names).await {
            Ok(results) => (tag(results), None),
            Err(whole) => {
                let (mut values, mut error) = (Vec::new(), None);
                for (fc, name) in fcs.iter().zip(names) {
                    match self.read_value(name).await {
                        Ok(data) => values.push(((*fc).to_owned(), data)),
                        Err(e) => error = Some(format!("{whole}; {fc} alone: {e}")),
                    }
                }
                (values, error)
            }
        }
    }
}

/// The FC names of a logical node's type, in order.
fn fc_names(spec: &TypeSpec) -> Vec<&str> {
    match spec {
        TypeSpec::Structure(fcs) => fcs.iter().map(|(fc, _)| fc.as_str()).collect(),
        _ => Vec::new(),
    }
}

/// The `(name, type)` components of a structure; nothing for other types.
fn components(spec: &TypeSpec) -> &[(String, TypeSpec)] {
    match spec {
        TypeSpec::Structure(c) => c,
        _ => &[],
    }
}

/// The members of a structure value; nothing for other values.
fn members(data: &Data) -> &[Data] {
    match data {
        Data::Structure(m) => m,
        _ => &[],
    }
}

impl LogicalNode {
    /// The value read of `fc`.
    fn value(&self, fc: &str) -> Option<&Data> {
        self.values.iter().find(|(f, _)| f == fc).map(|(_, d)| d)
    }

    /// The report control blocks of the LN (its BR and RP parts), with the values read.
    pub fn report_blocks(&self) -> Vec<ReportBlock> {
        let mut blocks = Vec::new();
        for (fc, spec) in components(&self.type_spec) {
            let buffered = match fc.as_str() {
                "BR" => true,
                "RP" => false,
                _ => continue,
            };
            let values = self.value(fc).map(members).unwrap_or_default();
            for (i, (name, rcb)) in components(spec).iter().enumerate() {
                let mut block = ReportBlock {
                    name: name.clone(),
                    buffered,
                    rpt_id: String::new(),
                    dat_set: String::new(),
                    conf_rev: 0,
                    buf_time_ms: 0,
                    intg_pd_ms: 0,
                    trg_ops: [false; 5],
                };
                let fields = values.get(i).map(members).unwrap_or_default();
                for ((field, _), value) in components(rcb).iter().zip(fields) {
                    match (field.as_str(), value) {
                        ("RptID", Data::VisibleString(s)) => block.rpt_id.clone_from(s),
                        ("DatSet", Data::VisibleString(s)) => block.dat_set.clone_from(s),
                        ("ConfRev", d) => block.conf_rev = d.as_i64().and_then(|v| u64::try_from(v).ok()).unwrap_or_default(),
                        ("BufTm", d) => block.buf_time_ms = d.as_i64().and_then(|v| u64::try_from(v).ok()).unwrap_or_default(),
                        ("IntgPd", d) => block.intg_pd_ms = d.as_i64().and_then(|v| u64::try_from(v).ok()).unwrap_or_default(),
                        // IEC 61850-8-1 TrgOps: bit 0 reserved, then dchg, qchg, dupd, integrity, GI.
                        ("TrgOps", Data::BitString(bits)) => block.trg_ops = [1, 2, 3, 4, 5].map(|b| bits.get(b)),
                        _ => {}
                    }
                }
                blocks.push(block);
            }
        }
        blocks
    }

    /// Every attribute of the data FCs as `(DO.DA path, FC, value)`, in the IED's order, for a
    /// listing; values where they were read.
    pub fn attributes(&self) -> Vec<(String, String, Option<&Data>)> {
        let mut out = Vec::new();
        for (fc, spec) in components(&self.type_spec) {
            if FunctionalConstraint::from_str(fc).is_err() {
                continue;
            }
            leaves(String::new(), fc, spec, self.value(fc), &mut out);
        }
        out
    }
}

fn leaves<'a>(path: String, fc: &str, spec: &TypeSpec, value: Option<&'a Data>, out: &mut Vec<(String, String, Option<&'a Data>)>) {
    match spec {
        TypeSpec::Structure(children) => {
            let values = value.map(members).unwrap_or_default();
            for (i, (name, child)) in children.iter().enumerate() {
                let path = if path.is_empty() { name.clone() } else { format!("{path}.{name}") };
                leaves(path, fc, child, values.get(i), out);
            }
        }
        _ => out.push((path, fc.to_owned(), value)),
    }
}

/// A value as one short line of text.
pub fn show(data: &Data) -> String {
    match data {
        Data::Boolean(b) => b.to_string(),
        Data::Integer(i) => i.to_string(),
        Data::Unsigned(u) => u.to_string(),
        Data::Float32(f) => f.to_string(),
        Data::Float64(f) => f.to_string(),
        Data::BitString(bits) => (0..bits.len()).map(|i| if bits.get(i) { '1' } else { '0' }).collect(),
        Data::VisibleString(s) | Data::MmsString(s) => format!("{s:?}"),
        Data::OctetString(o) => o.iter().map(|b| format!("{b:02x}")).collect(),
        Data::UtcTime(t) => format!("{}.{:03} s (Unix)", t.seconds, (u64::from(t.fraction) * 1000) >> 24),
        other => format!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// SCL

/// Where the SCL says the IED is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SclTarget<'a> {
    pub ied_name: &'a str,
    pub ip: &'a str,
    pub port: u16,
}

/// A child of a data object: an attribute (with its FC and type) or a sub data object.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    Attribute { fc: String, spec: TypeSpec },
    Object(Vec<(String, Node)>),
}

/// Merges a data object's parts under each FC into one list of children in first-seen order.
fn data_object(parts: &[(&str, &TypeSpec)]) -> Vec<(String, Node)> {
    let mut order: Vec<&str> = Vec::new();
    let mut by_name: HashMap<&str, Vec<(&str, &TypeSpec)>> = HashMap::new();
    for (fc, spec) in parts {
        for (name, child) in components(spec) {
            let entry = by_name.entry(name.as_str()).or_insert_with(|| {
                order.push(name.as_str());
                Vec::new()
            });
            entry.push((fc, child));
        }
    }
    order
        .into_iter()
        .filter_map(|name| {
            let entries = by_name.remove(name)?;
            let node = match entries.as_slice() {
                [(fc, spec)] => Node::Attribute { fc: (*fc).to_owned(), spec: (*spec).clone() },
                several if several.iter().all(|(_, s)| matches!(s, TypeSpec::Structure(_))) => Node::Object(data_object(several)),
                // The same name as a plain attribute under two FCs: the first FC's is kept.
                [(fc, spec), ..] => Node::Attribute { fc: (*fc).to_owned(), spec: (*spec).clone() },
                [] => return None,
            };
            Some((name.to_owned(), node))
        })
        .collect()
}

/// The CDC a data object's attributes suggest.
fn guess_cdc(children: &[(String, Node)]) -> &'static str {
    let attribute = |name: &str| {
        children.iter().find_map(|(n, node)| match node {
            Node::Attribute { spec, .. } if n == name => Some(spec),
            _ => None,
        })
    };
    let has = |name: &str| children.iter().any(|(n, _)| n == name);
    let controllable = has("Oper") || has("ctlModel");
    match attribute("stVal") {
        Some(TypeSpec::Boolean) if controllable => "SPC",
        Some(TypeSpec::Boolean) => "SPS",
        Some(TypeSpec::BitString(2)) if controllable => "DPC",
        Some(TypeSpec::BitString(2)) => "DPS",
        Some(TypeSpec::Integer(_)) if controllable => "INC",
        Some(TypeSpec::Integer(_)) => "INS",
        _ if has("valWTr") => "BSC",
        _ if has("mxVal") && controllable => "APC",
        _ if has("phsA") || has("phsB") => "WYE",
        _ if has("phsAB") => "DEL",
        _ if has("actVal") => "BCR",
        _ if has("cVal") => "CMV",
        _ if has("mag") || has("instMag") => "MV",
        _ if has("setVal") => "ING",
        _ if has("setMag") => "ASG",
        _ if has("ldNs") || has("configRev") => "LPL",
        _ if has("vendor") => "DPL",
        _ => "unknown",
    }
}

/// The SCL basic type of an MMS type (`Struct` for structures, whose DAType is written apart).
fn basic_type(name: &str, spec: &TypeSpec) -> &'static str {
    match spec {
        TypeSpec::Boolean => "BOOLEAN",
        TypeSpec::BitString(2) if name == "ctlVal" => "Tcmd",
        TypeSpec::BitString(2) if name == "Check" => "Check",
        TypeSpec::BitString(2) => "Dbpos",
        TypeSpec::BitString(13) => "Quality",
        TypeSpec::BitString(6) => "TrgOps",
        TypeSpec::BitString(10) => "OptFlds",
        TypeSpec::Integer(w) if *w <= 8 => "INT8",
        TypeSpec::Integer(w) if *w <= 16 => "INT16",
        TypeSpec::Integer(w) if *w <= 24 => "INT24",
        TypeSpec::Integer(w) if *w <= 32 => "INT32",
        TypeSpec::Integer(_) => "INT64",
        TypeSpec::Unsigned(w) if *w <= 8 => "INT8U",
        TypeSpec::Unsigned(w) if *w <= 16 => "INT16U",
        TypeSpec::Unsigned(w) if *w <= 24 => "INT24U",
        TypeSpec::Unsigned(_) => "INT32U",
        TypeSpec::Float { format_width: 64, .. } => "FLOAT64",
        TypeSpec::Float { .. } => "FLOAT32",
        TypeSpec::VisibleString(n) => match n.unsigned_abs() {
            0..=32 => "VisString32",
            33..=64 => "VisString64",
            65 => "VisString65",
            66..=129 => "VisString129",
            _ => "VisString255",
        },
        TypeSpec::MmsString(_) => "Unicode255",
        TypeSpec::UtcTime => "Timestamp",
        TypeSpec::BinaryTime(_) => "EntryTime",
        TypeSpec::Structure(_) => "Struct",
        TypeSpec::OctetString(n) if n.unsigned_abs() <= 6 => "Octet6",
        TypeSpec::OctetString(n) if n.unsigned_abs() <= 16 => "Octet16",
        _ => "Octet64",
    }
}

/// Escapes text for an XML attribute or element.
fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Data type templates named by content: the same structure under two objects is one type.
#[derive(Default)]
struct Templates {
    /// (element kind, body) → id, so identical types are written once.
    ids: HashMap<(&'static str, String), String>,
    counters: HashMap<String, usize>,
    lnode_types: Vec<String>,
    do_types: Vec<String>,
    da_types: Vec<String>,
}

impl Templates {
    fn id(&mut self, kind: &'static str, stem: &str, body: String, element: impl FnOnce(&str, &str) -> String) -> String {
        if let Some(id) = self.ids.get(&(kind, body.clone())) {
            return id.clone();
        }
        let n = self.counters.entry(format!("{kind}{stem}")).or_default();
        *n += 1;
        let id = format!("{stem}_{n}");
        let text = element(&id, &body);
        match kind {
            "LNodeType" => self.lnode_types.push(text),
            "DOType" => self.do_types.push(text),
            _ => self.da_types.push(text),
        }
        self.ids.insert((kind, body), id.clone());
        id
    }

    /// The `bType`/`type`/`count` attributes of an attribute of type `spec` called `name`.
    fn attribute_type(&mut self, name: &str, spec: &TypeSpec) -> String {
        let (spec, count) = match spec {
            TypeSpec::Array { count, element } => (element.as_ref(), format!(" count=\"{count}\"")),
            other => (other, String::new()),
        };
        match spec {
            TypeSpec::Structure(children) => {
                let id = self.da_type(name, children);
                format!("bType=\"Struct\" type=\"{id}\"{count}")
            }
            other => format!("bType=\"{}\"{count}", basic_type(name, other)),
        }
    }

    fn da_type(&mut self, name: &str, children: &[(String, TypeSpec)]) -> String {
        let mut body = String::new();
        for (child, spec) in children {
            let ty = self.attribute_type(child, spec);
            let _ = writeln!(body, "      <BDA name=\"{}\" {ty}/>", xml(child));
        }
        self.id("DAType", name, body, |id, body| format!("    <DAType id=\"{id}\">\n{body}    </DAType>\n"))
    }

    fn do_type(&mut self, children: &[(String, Node)]) -> String {
        let cdc = guess_cdc(children);
        let mut body = String::new();
        for (name, node) in children {
            match node {
                Node::Attribute { fc, spec } => {
                    let ty = self.attribute_type(name, spec);
                    let _ = writeln!(body, "      <DA name=\"{}\" fc=\"{}\" {ty}/>", xml(name), xml(fc));
                }
                Node::Object(sub) => {
                    let id = self.do_type(sub);
                    let _ = writeln!(body, "      <SDO name=\"{}\" type=\"{id}\"/>", xml(name));
                }
            }
        }
        self.id("DOType", cdc, body, |id, body| format!("    <DOType id=\"{id}\" cdc=\"{cdc}\">\n{body}    </DOType>\n"))
    }

    fn lnode_type(&mut self, ln_class: &str, data_objects: &[(String, Vec<(String, Node)>)]) -> String {
        let mut body = String::new();
        for (name, children) in data_objects {
            let id = self.do_type(children);
            let _ = writeln!(body, "      <DO name=\"{}\" type=\"{id}\"/>", xml(name));
        }
        self.id("LNodeType", ln_class, body, |id, body| {
            format!("    <LNodeType id=\"{id}\" lnClass=\"{}\">\n{body}    </LNodeType>\n", xml(ln_class))
        })
    }
}

/// `GGIO1` → (``, `GGIO`, `1`); `MyPrefGGIO12` → (`MyPref`, `GGIO`, `12`); `LLN0` → (``, `LLN0`, ``).
fn split_ln(name: &str) -> (&str, &str, &str) {
    if name == "LLN0" {
        return ("", "LLN0", "");
    }
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (rest, inst) = name.split_at(name.len() - digits);
    let class_at = rest.len().saturating_sub(4);
    match (rest.get(..class_at), rest.get(class_at..)) {
        (Some(prefix), Some(class)) => (prefix, class, inst),
        _ => ("", rest, inst),
    }
}

/// The data objects of an LN type, each with its merged children, in first-seen order.
fn data_objects(spec: &TypeSpec) -> Vec<(String, Vec<(String, Node)>)> {
    let mut order: Vec<&str> = Vec::new();
    let mut parts: HashMap<&str, Vec<(&str, &TypeSpec)>> = HashMap::new();
    for (fc, fc_spec) in components(spec) {
        if FunctionalConstraint::from_str(fc).is_err() {
            continue;
        }
        for (name, do_spec) in components(fc_spec) {
            parts
                .entry(name.as_str())
                .or_insert_with(|| {
                    order.push(name.as_str());
                    Vec::new()
                })
                .push((fc.as_str(), do_spec));
        }
    }
    order.into_iter().map(|name| (name.to_owned(), data_object(parts.get(name).map(Vec::as_slice).unwrap_or_default()))).collect()
}

impl ServerModel {
    /// The LD inst of a domain: the domain name after the IED name, or the whole name (with an
    /// `ldName` then) when it does not start with it.
    fn ld_inst<'a>(ied_name: &str, domain: &'a str) -> &'a str {
        domain.strip_prefix(ied_name).filter(|inst| !inst.is_empty()).unwrap_or(domain)
    }

    /// An IID-like SCL file of the server (see the module documentation for what it decides).
    pub fn to_scl(&self, target: &SclTarget<'_>) -> String {
        let ied = target.ied_name;
        let mut templates = Templates::default();
        let mut lds = String::new();
        for ld in &self.logical_devices {
            let inst = Self::ld_inst(ied, &ld.name);
            let ld_name = if format!("{ied}{inst}") == ld.name { String::new() } else { format!(" ldName=\"{}\"", xml(&ld.name)) };
            let _ = writeln!(lds, "        <LDevice inst=\"{}\"{ld_name}>", xml(inst));
            let mut lln0_first: Vec<&LogicalNode> = ld.logical_nodes.iter().filter(|ln| ln.name == "LLN0").collect();
            lln0_first.extend(ld.logical_nodes.iter().filter(|ln| ln.name != "LLN0"));
            for ln in lln0_first {
                let (prefix, class, ln_inst) = split_ln(&ln.name);
                let objects = data_objects(&ln.type_spec);
                let ln_type = templates.lnode_type(class, &objects);
                let element = if ln.name == "LLN0" { "LN0" } else { "LN" };
                let _ = writeln!(
                    lds,
                    "          <{element} prefix=\"{}\" lnClass=\"{}\" inst=\"{}\" lnType=\"{ln_type}\">",
                    xml(prefix),
                    xml(class),
                    xml(ln_inst)
                );
                self.write_data_sets(ied, ld, ln, &mut lds);
                write_report_controls(ln, &mut lds);
                write_control_models(ln, &mut lds);
                let _ = writeln!(lds, "          </{element}>");
            }
            let _ = writeln!(lds, "        </LDevice>");
        }
        let identity = self.identity.as_ref().map_or(String::new(), |i| {
            format!(" manufacturer=\"{}\" type=\"{}\" configVersion=\"{}\"", xml(&i.vendor), xml(&i.model), xml(&i.revision))
        });
        let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        s.push_str("<!-- Read from a live IED over MMS by `gridtrust probe mms`: types are named by content, CDCs guessed. -->\n");
        s.push_str("<SCL xmlns=\"http://www.iec.ch/61850/2003/SCL\" version=\"2007\" revision=\"B\">\n");
        let _ = writeln!(s, "  <Header id=\"{}\" nameStructure=\"IEDName\" toolID=\"gridtrust probe\"/>", xml(ied));
        let _ = writeln!(
            s,
            "  <Communication>\n    <SubNetwork name=\"probed\" type=\"8-MMS\">\n      <ConnectedAP iedName=\"{}\" apName=\"AP1\">\n        <Address>\n          <P type=\"IP\">{}</P>\n          <P type=\"MMS-Port\">{}</P>\n        </Address>\n      </ConnectedAP>\n    </SubNetwork>\n  </Communication>",
            xml(ied),
            xml(target.ip),
            target.port
        );
        let _ = write!(
            s,
            "  <IED name=\"{}\"{identity}>\n    <AccessPoint name=\"AP1\">\n      <Server>\n        <Authentication/>\n{lds}      </Server>\n    </AccessPoint>\n  </IED>\n",
            xml(ied)
        );
        s.push_str("  <DataTypeTemplates>\n");
        for t in templates.lnode_types.iter().chain(&templates.do_types).chain(&templates.da_types) {
            s.push_str(t);
        }
        s.push_str("  </DataTypeTemplates>\n</SCL>\n");
        s
    }

    /// The data sets that live in `ln` (MMS items `LN$name`), members as FCDAs.
    fn write_data_sets(&self, ied: &str, ld: &LogicalDevice, ln: &LogicalNode, out: &mut String) {
        for set in &ld.data_sets {
            let Some(name) = set.name.strip_prefix(&format!("{}$", ln.name)) else { continue };
            let _ = writeln!(out, "            <DataSet name=\"{}\">", xml(name));
            for member in &set.members {
                let ObjectName::Domain(domain, item) = member else { continue };
                let mut parts = item.split('$');
                let (Some(ln_name), Some(fc), Some(do_name)) = (parts.next(), parts.next(), parts.next()) else { continue };
                let da: Vec<&str> = parts.collect();
                let (prefix, class, inst) = split_ln(ln_name);
                let da_name = if da.is_empty() { String::new() } else { format!(" daName=\"{}\"", xml(&da.join("."))) };
                let _ = writeln!(
                    out,
                    "              <FCDA ldInst=\"{}\" prefix=\"{}\" lnClass=\"{}\" lnInst=\"{}\" doName=\"{}\"{da_name} fc=\"{}\"/>",
                    xml(Self::ld_inst(ied, domain)),
                    xml(prefix),
                    xml(class),
                    xml(inst),
                    xml(do_name),
                    xml(fc)
                );
            }
            let _ = writeln!(out, "            </DataSet>");
        }
    }
}

/// `<ReportControl>`s of the LN; a data set of another LN cannot be named (SCL keeps an RCB's
/// data set in its own LN), so such an RCB is written without one.
fn write_report_controls(ln: &LogicalNode, out: &mut String) {
    for rcb in ln.report_blocks() {
        let dat_set = rcb
            .dat_set
            .split_once('/')
            .and_then(|(_, item)| item.split_once('$'))
            .filter(|(owner, _)| *owner == ln.name)
            .map_or(String::new(), |(_, name)| format!(" datSet=\"{}\"", xml(name)));
        let [dchg, qchg, dupd, period, gi] = rcb.trg_ops;
        let _ = writeln!(
            out,
            "            <ReportControl name=\"{}\" rptID=\"{}\"{dat_set} confRev=\"{}\" buffered=\"{}\" bufTime=\"{}\" intgPd=\"{}\" indexed=\"false\">\n              <TrgOps dchg=\"{dchg}\" qchg=\"{qchg}\" dupd=\"{dupd}\" period=\"{period}\" gi=\"{gi}\"/>\n              <OptFields seqNum=\"true\" timeStamp=\"true\" dataSet=\"true\" reasonCode=\"true\" entryID=\"{}\" configRef=\"true\"/>\n              <RptEnabled max=\"1\"/>\n            </ReportControl>",
            xml(&rcb.name),
            xml(&rcb.rpt_id),
            rcb.conf_rev,
            rcb.buffered,
            rcb.buf_time_ms,
            rcb.intg_pd_ms,
            rcb.buffered
        );
    }
}

/// A `<DOI><DAI name="ctlModel">` per controllable data object, with the ordinal read.
fn write_control_models(ln: &LogicalNode, out: &mut String) {
    let Some((_, cf_spec)) = components(&ln.type_spec).iter().find(|(fc, _)| fc == "CF") else { return };
    let values = ln.value("CF").map(members).unwrap_or_default();
    for ((name, do_spec), value) in components(cf_spec).iter().zip(values) {
        let model = components(do_spec).iter().zip(members(value)).find(|((n, _), _)| n == "ctlModel").and_then(|(_, v)| v.as_i64());
        if let Some(model) = model {
            let _ = writeln!(out, "            <DOI name=\"{}\"><DAI name=\"ctlModel\"><Val>{model}</Val></DAI></DOI>", xml(name));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::plan::{IedPlan, PlanRequest};
    use crate::ber::BitString;

    fn st(children: Vec<(&str, TypeSpec)>) -> TypeSpec {
        TypeSpec::Structure(children.into_iter().map(|(n, t)| (n.to_owned(), t)).collect())
    }

    fn q() -> TypeSpec {
        TypeSpec::BitString(13)
    }

    /// GGIO1 with a float measurement and a controllable single point, LLN0 with a data set and
    /// a buffered RCB, as libiec61850 serves them.
    fn server() -> ServerModel {
        let analog = st(vec![
            ("mag", st(vec![("f", TypeSpec::Float { format_width: 32, exponent_width: 8 })])),
            ("q", q()),
            ("t", TypeSpec::UtcTime),
        ]);
        let spc_st = st(vec![("stVal", TypeSpec::Boolean), ("q", q()), ("t", TypeSpec::UtcTime)]);
        let ggio = LogicalNode {
            name: "GGIO1".into(),
            type_spec: st(vec![
                ("ST", st(vec![("SPCSO1", spc_st)])),
                ("MX", st(vec![("AnIn1", analog)])),
                ("CF", st(vec![("SPCSO1", st(vec![("ctlModel", TypeSpec::Integer(8))]))])),
                ("CO", st(vec![("SPCSO1", st(vec![("Oper", st(vec![("ctlVal", TypeSpec::Boolean)]))]))])),
            ]),
            values: vec![("CF".into(), Data::Structure(vec![Data::Structure(vec![Data::Integer(1)])]))],
            read_error: None,
        };
        let rcb_type = st(vec![
            ("RptID", TypeSpec::VisibleString(-129)),
            ("DatSet", TypeSpec::VisibleString(-129)),
            ("ConfRev", TypeSpec::Unsigned(32)),
            ("TrgOps", TypeSpec::BitString(6)),
            ("IntgPd", TypeSpec::Unsigned(32)),
        ]);
        let rcb_value = Data::Structure(vec![
            Data::VisibleString("Meas".into()),
            Data::VisibleString("IED1LD0/LLN0$Measurements".into()),
            Data::Unsigned(3),
            Data::BitString(BitString::with_bits(6, &[1, 2, 4, 5])),
            Data::Unsigned(1000),
        ]);
        let lln0 = LogicalNode {
            name: "LLN0".into(),
            type_spec: st(vec![("BR", st(vec![("MeasBRCB01", rcb_type)]))]),
            values: vec![("BR".into(), Data::Structure(vec![rcb_value]))],
            read_error: None,
        };
        // MMXU1.PhV (WYE): phsA under MX and CF, so a sub data object.
        let float = || st(vec![("f", TypeSpec::Float { format_width: 32, exponent_width: 8 })]);
        let mmxu = LogicalNode {
            name: "MMXU1".into(),
            type_spec: st(vec![
                ("MX", st(vec![("PhV", st(vec![("phsA", st(vec![("cVal", st(vec![("mag", float())])), ("q", q())]))]))])),
                ("CF", st(vec![("PhV", st(vec![("phsA", st(vec![("units", st(vec![("SIUnit", TypeSpec::Integer(8))]))]))]))])),
            ]),
            values: Vec::new(),
            read_error: None,
        };
        let members = ["GGIO1$MX$AnIn1$mag$f", "GGIO1$MX$AnIn1$q", "GGIO1$ST$SPCSO1", "MMXU1$MX$PhV"]
            .map(|i| ObjectName::domain("IED1LD0", i))
            .to_vec();
        ServerModel {
            identity: None,
            logical_devices: vec![LogicalDevice {
                name: "IED1LD0".into(),
                logical_nodes: vec![ggio, lln0, mmxu],
                data_sets: vec![DataSet { name: "LLN0$Measurements".into(), members }],
            }],
        }
    }

    #[test]
    fn report_blocks_are_read_from_the_br_values() {
        let lln0 = &server().logical_devices[0].logical_nodes[1];
        let blocks = lln0.report_blocks();
        assert_eq!(blocks.len(), 1);
        let b = &blocks[0];
        assert_eq!(
            (b.name.as_str(), b.buffered, b.dat_set.as_str(), b.conf_rev, b.intg_pd_ms),
            ("MeasBRCB01", true, "IED1LD0/LLN0$Measurements", 3, 1000)
        );
        assert_eq!(b.trg_ops, [true, true, false, true, true]);
    }

    #[test]
    fn the_scl_imports_and_gives_the_adapter_a_plan_with_the_rcb_the_data_set_and_the_control() {
        let scl = server().to_scl(&SclTarget { ied_name: "IED1", ip: "127.0.0.1", port: 10102 });
        let import = gridtrust_scl::import_bytes("probed.iid", scl.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{scl}"));
        let ied = import.ied("IED1").unwrap();
        assert_eq!(ied.attribute("LD0/GGIO1.AnIn1.mag.f").map(|a| a.btype.as_str()), Some("FLOAT32"), "{scl}");
        assert_eq!(ied.attribute("LD0/GGIO1.SPCSO1.stVal").map(|a| a.cdc.as_str()), Some("SPC"));
        let plan = IedPlan::new(&import, &PlanRequest::default()).unwrap_or_else(|e| panic!("{e:?}\n{scl}"));
        assert_eq!(plan.endpoint, "127.0.0.1:10102");
        assert_eq!(plan.rcbs.len(), 1);
        assert_eq!(plan.rcbs[0].instances[0].name, "MeasBRCB01");
        assert_eq!((plan.rcbs[0].conf_rev, plan.rcbs[0].integrity_period_ms), (3, 1000));
        let points: Vec<String> = plan.data_points().map(ToString::to_string).collect();
        assert!(points.contains(&"IED1LD0/GGIO1.AnIn1.mag.f[MX]".to_owned()), "{points:?}");
        assert!(points.contains(&"IED1LD0/GGIO1.SPCSO1.stVal[ST]".to_owned()), "{points:?}");
        assert_eq!(plan.controls.len(), 1, "SPCSO1 is direct-operate");
        let phv = ied.attribute("LD0/MMXU1.PhV.phsA.cVal.mag.f").unwrap_or_else(|| panic!("{scl}"));
        assert_eq!((phv.cdc.as_str(), phv.fc.as_str()), ("WYE", "MX"));
        assert!(scl.contains("<SDO name=\"phsA\" type=\"CMV_1\"/>"), "{scl}");
        assert!(points.contains(&"IED1LD0/MMXU1.PhV.phsA.cVal.mag.f[MX]".to_owned()), "a whole WYE in a data set: {points:?}");
    }

    #[test]
    fn a_domain_that_does_not_start_with_the_ied_name_keeps_its_name_as_ld_name() {
        let mut s = server();
        s.logical_devices[0].name = "Other".into();
        for m in &mut s.logical_devices[0].data_sets[0].members {
            *m = ObjectName::domain("Other", m.to_string().split_once('/').map(|(_, i)| i.to_owned()).unwrap_or_default());
        }
        let scl = s.to_scl(&SclTarget { ied_name: "IED1", ip: "127.0.0.1", port: 102 });
        assert!(scl.contains("<LDevice inst=\"Other\" ldName=\"Other\">"), "{scl}");
        let import = gridtrust_scl::import_bytes("probed.iid", scl.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{scl}"));
        assert!(import.ied("IED1").unwrap().attribute("Other/GGIO1.AnIn1.mag.f").is_some());
    }

    #[test]
    fn logical_node_names_split_into_prefix_class_and_instance() {
        assert_eq!(split_ln("GGIO1"), ("", "GGIO", "1"));
        assert_eq!(split_ln("MyPrefGGIO12"), ("MyPref", "GGIO", "12"));
        assert_eq!(split_ln("LLN0"), ("", "LLN0", ""));
        assert_eq!(split_ln("LPHD"), ("", "LPHD", ""));
        assert_eq!(split_ln("AB1"), ("", "AB", "1"));
    }

    #[test]
    fn a_structure_under_several_fcs_is_a_sub_data_object() {
        let cmv = st(vec![("cVal", st(vec![("mag", st(vec![("f", TypeSpec::Float { format_width: 32, exponent_width: 8 })]))]))]);
        let units = st(vec![("units", st(vec![("SIUnit", TypeSpec::Integer(8))]))]);
        let mx = st(vec![("phsA", cmv)]);
        let cf = st(vec![("phsA", units)]);
        let children = data_object(&[("MX", &mx), ("CF", &cf)]);
        let Node::Object(phs_a) = &children[0].1 else { panic!("{children:?}") };
        assert_eq!(phs_a.len(), 2);
        assert_eq!(guess_cdc(&children), "WYE");
    }
}
