//! From SCL to what the adapter does on the wire, decided once before any connection: which
//! report control blocks to enable, how each data set member's value flattens into data
//! attributes, which point each attribute is and which `q` and `t` qualify it, and which objects
//! can be operated with which control model and ctlVal type.
//!
//! [`IedPlan::map_report`] is the sans-IO heart of the adapter: a decoded report in, [`Datum`]s
//! out, with the last known quality and time stamp of every attribute kept in a
//! [`ReportMapper`], so it is tested without a server.

use std::collections::{BTreeMap, HashMap, HashSet};

use gridtrust_adapter::Datum;
use gridtrust_model::{CommandValue, DoublePoint, PointId, Quality, TimeQuality, Timestamp, Validity, Value};
use gridtrust_scl::{BasicType, FunctionalConstraint, Import, ResolvedIed};
use tracing::warn;

use crate::ber::BitString;
use crate::control::{ControlModel, ControlObject};
use crate::data::{Data, UtcTime};
use crate::report::{self, Report, ReportControlBlock};
use crate::tls::IEC62351_MMS_TLS_PORT;
use gridtrust_model::num;

/// One report control block the adapter enables, with its data set laid out as slots.
#[derive(Debug, Clone)]
pub struct RcbPlan {
    /// `LDname/LN.RCB` as in the configuration (without the instance suffix).
    pub reference: String,
    /// The instances to try in order (`EventsRCB01`, `EventsRCB02`, ...).
    pub instances: Vec<ReportControlBlock>,
    pub buffered: bool,
    pub conf_rev: u64,
    /// IntgPd in ms; 0 turns the integrity trigger off.
    pub integrity_period_ms: u32,
    /// Trigger options from the SCL (data change, quality change, data update).
    pub trg_data_change: bool,
    pub trg_quality_change: bool,
    pub trg_data_update: bool,
    /// Per data set member, the slots its value flattens into, in order.
    pub members: Vec<Vec<usize>>,
}

/// What a data attribute received in reports is for.
#[derive(Debug, Clone, PartialEq)]
pub enum SlotKind {
    /// A value that becomes a [`Datum`].
    Value { point: PointId, btype: BasicType, quality: Option<usize>, time: Option<usize> },
    /// A `q` or `t`: when it changes alone, the values it qualifies are published again.
    Qualifier { qualifies: Vec<usize> },
    /// Received but not published (strings, octets, nested types the model has no value for).
    Ignored,
}

/// One data attribute some selected data set carries.
#[derive(Debug, Clone)]
pub struct Slot {
    /// `LD/LN.DO.DA` as in the SCL (LD inst, not LD name).
    pub reference: String,
    pub kind: SlotKind,
    /// The RCB whose reports publish it: the first (buffered first) that carries it, so an
    /// attribute in two data sets is not published twice.
    pub owner: usize,
}

/// How a ctlVal is built from a [`CommandValue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CtlVal {
    /// SPC, DPC: BOOLEAN.
    Boolean,
    /// INC, ISC and enumerated set points: INTEGER.
    Integer,
    /// FLOAT32 ctlVal.
    Float,
    /// BSC/ISC step: Tcmd (stop, lower, higher).
    Step,
    /// APC/BAC: AnalogueValue with these components (`i`, `f`) in order.
    Analogue(Vec<String>),
}

/// A controllable data object.
#[derive(Debug, Clone)]
pub struct ControlPlan {
    pub point: PointId,
    pub object: ControlObject,
    pub model: ControlModel,
    pub ctl_val: CtlVal,
}

/// Everything the adapter needs from the SCL for one IED.
#[derive(Debug, Clone)]
pub struct IedPlan {
    pub ied_name: String,
    /// `host:port` to connect to.
    pub endpoint: String,
    pub rcbs: Vec<RcbPlan>,
    pub slots: Vec<Slot>,
    pub controls: Vec<ControlPlan>,
}

/// What the configuration asks of the SCL (filled from [`super::IedConfig`]).
#[derive(Debug, Clone)]
pub struct PlanRequest<'a> {
    pub ied: Option<&'a str>,
    pub address: Option<&'a str>,
    pub report_control_blocks: Option<&'a [String]>,
    pub integrity_period_ms: Option<u32>,
    pub controls: Option<&'a [String]>,
    pub points: &'a BTreeMap<String, String>,
    /// MMS over TLS: the SCL's default port 102 becomes 3782.
    pub tls: bool,
}

static NO_OVERRIDES: BTreeMap<String, String> = BTreeMap::new();

impl Default for PlanRequest<'_> {
    fn default() -> Self {
        PlanRequest {
            ied: None,
            address: None,
            report_control_blocks: None,
            integrity_period_ms: None,
            controls: None,
            points: &NO_OVERRIDES,
            tls: false,
        }
    }
}

/// Why the SCL cannot be used as configured: `(key, message)` as the edge configuration reports
/// it.
pub type PlanError = (String, String);

fn fail<T>(key: &str, message: impl Into<String>) -> Result<T, PlanError> {
    Err((key.to_owned(), message.into()))
}

/// The LD name (MMS domain) of each LD inst: `ldName` or IED name + inst.
struct LdNames<'a>(HashMap<&'a str, &'a str>);

impl<'a> LdNames<'a> {
    fn new(ied: &'a ResolvedIed) -> Self {
        LdNames(ied.logical_devices.iter().map(|(inst, name)| (inst.as_str(), name.as_str())).collect())
    }

    /// `inst/rest` (SCL form) to `LDname/rest` (object reference as the IED names it).
    fn object_reference(&self, scl_reference: &str) -> Option<String> {
        let (inst, rest) = scl_reference.split_once('/')?;
        Some(format!("{}/{rest}", self.0.get(inst)?))
    }

    fn ld_name(&self, inst: &str) -> Option<&'a str> {
        self.0.get(inst).copied()
    }
}

impl IedPlan {
    /// Builds the plan for the IED `request.ied` (default: the only IED with a server).
    pub fn new(import: &Import, request: &PlanRequest<'_>) -> Result<IedPlan, PlanError> {
        let ied = match request.ied {
            Some(name) => match import.ied(name) {
                Some(ied) => ied,
                None => return fail("ied", format!("IED `{name}` is not in the SCL (IEDs: {})", ied_names(import))),
            },
            None => {
                let servers: Vec<&ResolvedIed> = import.ieds.iter().filter(|i| !i.logical_devices.is_empty()).collect();
                match servers.as_slice() {
                    [only] => *only,
                    _ => return fail("ied", format!("the SCL has {} IEDs with a server ({}): name one", servers.len(), ied_names(import))),
                }
            }
        };
        let endpoint = match request.address {
            Some(address) => address.to_owned(),
            None => match import.document.mms_endpoints(&ied.name).first() {
                // 102 is plain MMS's port (and the SCL's default): MMS over TLS listens on 3782.
                Some(e) if request.tls && e.port == 102 => std::net::SocketAddr::new(e.ip, IEC62351_MMS_TLS_PORT).to_string(),
                Some(e) => std::net::SocketAddr::new(e.ip, e.port).to_string(),
                None => {
                    return fail(
                        "address",
                        format!("the SCL Communication section gives no IP address for IED `{}`: set address", ied.name),
                    );
                }
            },
        };
        let names = LdNames::new(ied);
        let mut plan = IedPlan { ied_name: ied.name.clone(), endpoint, rcbs: Vec::new(), slots: Vec::new(), controls: Vec::new() };
        plan.add_reports(import, ied, &names, request)?;
        plan.add_controls(ied, &names, request)?;
        plan.apply_point_overrides(request.points)?;
        Ok(plan)
    }

    fn add_reports(&mut self, import: &Import, ied: &ResolvedIed, names: &LdNames<'_>, request: &PlanRequest<'_>) -> Result<(), PlanError> {
        let Some(document_ied) = import.document.ied(&ied.name) else { return Ok(()) };
        // Every RCB of the IED with its data set, as (reference, LD inst, LN name, control).
        let mut available = Vec::new();
        for ld in document_ied.logical_devices() {
            let Some(ld_name) = names.ld_name(&ld.inst) else { continue };
            for ln in ld.logical_nodes() {
                for rc in &ln.report_controls {
                    available.push((format!("{ld_name}/{}.{}", ln.name(), rc.name), ld.inst.as_str(), ln.name(), rc));
                }
            }
        }
        let mut chosen = match request.report_control_blocks {
            None => available.into_iter().filter(|(_, _, _, rc)| rc.dat_set.is_some()).collect::<Vec<_>>(),
            Some(wanted) => {
                let mut chosen = Vec::new();
                for (i, reference) in wanted.iter().enumerate() {
                    match available.iter().find(|(r, ..)| r == reference) {
                        Some(found) if found.3.dat_set.is_some() => chosen.push(found.clone()),
                        Some(_) => return fail(&format!("report_control_blocks[{i}]"), format!("`{reference}` has no data set")),
                        None => {
                            let known: Vec<&str> = available.iter().map(|(r, ..)| r.as_str()).collect();
                            return fail(
                                &format!("report_control_blocks[{i}]"),
                                format!("no report control block `{reference}` in the SCL (there are: {})", known.join(", ")),
                            );
                        }
                    }
                }
                chosen
            }
        };
        // Buffered first: they survive a connection loss, so they own what they share.
        chosen.sort_by_key(|(_, _, _, rc)| !rc.buffered);
        let mut slot_of: HashMap<usize, usize> = HashMap::new();
        for (reference, ld_inst, ln_name, rc) in chosen {
            let data_set_name = rc.dat_set.as_deref().unwrap_or_default();
            let Some(data_set) = ied.data_sets.iter().find(|d| d.ld_inst == ld_inst && d.ln_name == ln_name && d.name == data_set_name)
            else {
                return fail("report_control_blocks", format!("data set `{data_set_name}` of `{reference}` did not resolve in the SCL"));
            };
            let rcb_index = self.rcbs.len();
            let mut new_slots = 0;
            let mut members = Vec::with_capacity(data_set.members.len());
            for member in &data_set.members {
                let mut slots = Vec::with_capacity(member.attributes.len());
                for &attribute in &member.attributes {
                    let slot = *slot_of.entry(attribute).or_insert_with(|| {
                        new_slots += 1;
                        let reference = ied.attributes.get(attribute).map(|a| a.reference.clone()).unwrap_or_default();
                        self.slots.push(Slot { reference, kind: SlotKind::Ignored, owner: rcb_index });
                        self.slots.len() - 1
                    });
                    slots.push(slot);
                }
                members.push(slots);
            }
            if new_slots == 0 {
                warn!(rcb = %reference, "report control block carries nothing another (buffered) one does not: not used");
                continue;
            }
            let ld_name = names.ld_name(ld_inst).unwrap_or_default();
            let instance_names: Vec<String> = if rc.indexed {
                (1..=rc.rpt_enabled_max.unwrap_or(1).clamp(1, 99)).map(|i| format!("{}{i:02}", rc.name)).collect()
            } else {
                vec![rc.name.clone()]
            };
            let instances = instance_names
                .into_iter()
                .map(|name| ReportControlBlock {
                    logical_device: ld_name.to_owned(),
                    logical_node: ln_name.clone(),
                    name,
                    buffered: rc.buffered,
                })
                .collect();
            self.rcbs.push(RcbPlan {
                reference,
                instances,
                buffered: rc.buffered,
                conf_rev: u64::from(rc.conf_rev),
                integrity_period_ms: request.integrity_period_ms.unwrap_or(if rc.trg_ops.period { rc.intg_pd_ms } else { 0 }),
                trg_data_change: rc.trg_ops.dchg,
                trg_quality_change: rc.trg_ops.qchg,
                trg_data_update: rc.trg_ops.dupd,
                members,
            });
        }
        self.classify_slots(ied, names, &slot_of)
    }

    /// Gives each slot its point, or makes it the quality or time stamp of the values beside it.
    fn classify_slots(&mut self, ied: &ResolvedIed, names: &LdNames<'_>, slot_of: &HashMap<usize, usize>) -> Result<(), PlanError> {
        let mut qualifies: HashMap<usize, Vec<usize>> = HashMap::new();
        let mut attribute_of: Vec<(usize, usize)> = slot_of.iter().map(|(&a, &s)| (s, a)).collect();
        attribute_of.sort_unstable();
        for (slot, attribute) in attribute_of {
            let Some(a) = ied.attributes.get(attribute) else { continue };
            let kind = match a.btype {
                BasicType::Quality | BasicType::Timestamp => continue,
                b if value_type(b) => {
                    let Some(reference) = names.object_reference(&a.reference) else { continue };
                    let point = PointId::new(format!("{reference}[{}]", a.fc))
                        .map_err(|e| ("points".to_owned(), format!("`{}`: {e}", a.reference)))?;
                    let quality = sibling(ied, &a.reference, a.fc, "q", BasicType::Quality).and_then(|i| slot_of.get(&i).copied());
                    let time = sibling(ied, &a.reference, a.fc, "t", BasicType::Timestamp).and_then(|i| slot_of.get(&i).copied());
                    for qualifier in quality.iter().chain(time.iter()) {
                        qualifies.entry(*qualifier).or_default().push(slot);
                    }
                    SlotKind::Value { point, btype: a.btype, quality, time }
                }
                _ => SlotKind::Ignored,
            };
            if let Some(s) = self.slots.get_mut(slot) {
                s.kind = kind;
            }
        }
        for (slot, values) in qualifies {
            if let Some(s) = self.slots.get_mut(slot) {
                s.kind = SlotKind::Qualifier { qualifies: values };
            }
        }
        Ok(())
    }

    fn add_controls(&mut self, ied: &ResolvedIed, names: &LdNames<'_>, request: &PlanRequest<'_>) -> Result<(), PlanError> {
        let mut found = Vec::new();
        for a in ied.attributes.iter().filter(|a| a.fc == FunctionalConstraint::Cf) {
            let Some(do_reference) = a.reference.strip_suffix(".ctlModel") else { continue };
            let Some(object_reference) = names.object_reference(do_reference) else { continue };
            found.push((object_reference, do_reference, a));
        }
        let selected: Vec<(usize, &(String, &str, &gridtrust_scl::DataAttribute))> = match request.controls {
            None => found
                .iter()
                .filter(|(_, _, a)| parse_ctl_model(a.value.as_deref()).is_some_and(|m| m != ControlModel::StatusOnly))
                .map(|f| (0, f))
                .collect(),
            Some(wanted) => {
                let mut selected = Vec::new();
                for (i, reference) in wanted.iter().enumerate() {
                    let key = format!("controls[{i}]");
                    let Some(f) = found.iter().find(|(r, ..)| r == reference) else {
                        return fail(&key, format!("`{reference}` has no ctlModel in the SCL: not a controllable data object"));
                    };
                    match parse_ctl_model(f.2.value.as_deref()) {
                        None => return fail(&key, format!("`{reference}`: the SCL gives no ctlModel value")),
                        Some(ControlModel::StatusOnly) => return fail(&key, format!("`{reference}` is status-only in the SCL")),
                        Some(_) => selected.push((i, f)),
                    }
                }
                selected
            }
        };
        for (i, (object_reference, do_reference, attribute)) in selected {
            let key = if request.controls.is_some() { format!("controls[{i}]") } else { "controls".to_owned() };
            let model = parse_ctl_model(attribute.value.as_deref()).unwrap_or(ControlModel::StatusOnly);
            let ctl_val = ctl_val_type(ied, do_reference)
                .ok_or_else(|| (key.clone(), format!("`{object_reference}` has no usable Oper.ctlVal in the SCL")))?;
            let point = PointId::new(object_reference.as_str()).map_err(|e| (key.clone(), e.to_string()))?;
            let (ld, rest) = object_reference.split_once('/').unwrap_or_default();
            let (ln, data_object) = rest.split_once('.').unwrap_or_default();
            let object =
                ControlObject { logical_device: ld.to_owned(), logical_node: ln.to_owned(), data_object: data_object.replace('.', "$") };
            self.controls.push(ControlPlan { point, object, model, ctl_val });
        }
        Ok(())
    }

    fn apply_point_overrides(&mut self, overrides: &BTreeMap<String, String>) -> Result<(), PlanError> {
        let mut used = HashSet::new();
        for (from, to) in overrides {
            let key = format!("points.\"{from}\"");
            let to = PointId::new(to.as_str()).map_err(|e| (key.clone(), e.to_string()))?;
            let mut hit = false;
            for slot in &mut self.slots {
                if let SlotKind::Value { point, .. } = &mut slot.kind {
                    if point.as_str() == from {
                        *point = to.clone();
                        hit = true;
                    }
                }
            }
            for control in &mut self.controls {
                if control.point.as_str() == from {
                    control.point = to.clone();
                    hit = true;
                }
            }
            if !hit {
                return fail(
                    &key,
                    format!("`{from}` is neither a reported data attribute (`LD/LN.DO.DA[FC]`) nor a control (`LD/LN.DO`) of this IED"),
                );
            }
            if !used.insert(to.clone()) {
                return fail(&key, format!("`{to}` is the target of two mappings"));
            }
        }
        Ok(())
    }

    /// The points this plan publishes (for logs and tests).
    pub fn data_points(&self) -> impl Iterator<Item = &PointId> {
        self.slots.iter().filter_map(|s| match &s.kind {
            SlotKind::Value { point, .. } => Some(point),
            _ => None,
        })
    }

    /// A fresh mapper for this plan.
    pub fn mapper(&self) -> ReportMapper {
        ReportMapper { last: vec![None; self.slots.len()], publish: vec![false; self.slots.len()], order: Vec::new() }
    }

    /// Turns one report of RCB `rcb` into datums appended to `out`. Members whose value does not
    /// have the shape the SCL promises are skipped with a warning.
    pub fn map_report(&self, mapper: &mut ReportMapper, rcb: usize, report: &Report, received_at: Timestamp, out: &mut Vec<Datum>) {
        let Some(plan) = self.rcbs.get(rcb) else { return };
        let mut leaves = Vec::new();
        for entry in &report.entries {
            let Some(member) = plan.members.get(entry.index) else {
                warn!(rcb = %plan.reference, index = entry.index, "report names a data set member the SCL does not have");
                continue;
            };
            leaves.clear();
            flatten(&entry.value, &mut leaves);
            if leaves.len() != member.len() {
                warn!(rcb = %plan.reference, index = entry.index, expected = member.len(), got = leaves.len(), "data set member's value does not match the SCL: skipped");
                continue;
            }
            for (&slot, leaf) in member.iter().zip(&leaves) {
                let Some(s) = self.slots.get(slot) else { continue };
                if s.owner != rcb {
                    continue;
                }
                if let Some(last) = mapper.last.get_mut(slot) {
                    *last = Some((*leaf).clone());
                }
                match &s.kind {
                    SlotKind::Value { .. } => mapper.mark(slot),
                    SlotKind::Qualifier { qualifies } => qualifies.iter().for_each(|&v| mapper.mark(v)),
                    SlotKind::Ignored => {}
                }
            }
        }
        mapper.order.sort_unstable();
        for slot in mapper.order.drain(..) {
            if let Some(flag) = mapper.publish.get_mut(slot) {
                *flag = false;
            }
            let Some(Slot { kind: SlotKind::Value { point, btype, quality, time }, .. }) = self.slots.get(slot) else { continue };
            let Some(value) = mapper.last.get(slot).and_then(Option::as_ref).and_then(|d| to_value(*btype, d)) else { continue };
            let quality = match quality.and_then(|q| mapper.last.get(q)).and_then(Option::as_ref) {
                Some(Data::BitString(bits)) => to_quality(bits),
                _ => Quality::GOOD,
            };
            let source_time = match time.and_then(|t| mapper.last.get(t)).and_then(Option::as_ref) {
                Some(Data::UtcTime(t)) => Some(to_source_time(t)),
                _ => None,
            };
            out.push(Datum { point: point.clone(), value, quality, source_time, received_at });
        }
    }
}

/// The last value of every slot, so a quality or time stamp reported alone can be joined to
/// its value (and the other way round).
#[derive(Debug, Clone)]
pub struct ReportMapper {
    last: Vec<Option<Data>>,
    publish: Vec<bool>,
    order: Vec<usize>,
}

impl ReportMapper {
    fn mark(&mut self, slot: usize) {
        if let Some(flag) = self.publish.get_mut(slot) {
            if !*flag {
                *flag = true;
                self.order.push(slot);
            }
        }
    }
}

fn ied_names(import: &Import) -> String {
    import.ieds.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(", ")
}

/// The attribute `name` (`q`, `t`) of the nearest enclosing data object of `reference` with the
/// same functional constraint: `LD/LN.DO.mag.f` finds `LD/LN.DO.q`.
fn sibling(ied: &ResolvedIed, reference: &str, fc: FunctionalConstraint, name: &str, btype: BasicType) -> Option<usize> {
    let (ld, path) = reference.split_once('/')?;
    let mut parts: Vec<&str> = path.split('.').collect();
    // Parts: LN, DO, ..., DA. Stop before the LN itself.
    while parts.len() > 2 {
        parts.pop();
        let candidate = format!("{ld}/{}.{name}", parts.join("."));
        if let Some(index) = ied.attributes_under(&candidate, fc).first().copied() {
            if ied.attributes.get(index).is_some_and(|a| a.btype == btype && a.reference == candidate) {
                return Some(index);
            }
        }
    }
    None
}

fn value_type(btype: BasicType) -> bool {
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

/// The leaves of a value in order: structures are opened, everything else is one leaf.
fn flatten<'a>(data: &'a Data, out: &mut Vec<&'a Data>) {
    match data {
        Data::Structure(members) => members.iter().for_each(|m| flatten(m, out)),
        other => out.push(other),
    }
}

/// An attribute's value as a model value, by its SCL basic type.
pub fn to_value(btype: BasicType, data: &Data) -> Option<Value> {
    use BasicType as B;
    match (btype, data) {
        (B::Boolean, Data::Boolean(b)) => Some(Value::Single(*b)),
        (B::Dbpos, Data::BitString(bits)) => {
            Some(Value::Double(DoublePoint::from_code(u8::from(bits.get(0)) << 1 | u8::from(bits.get(1)))))
        }
        (B::Float32 | B::Float64, d) => d.as_f64().map(|f| Value::Float(num::to_f32(f))),
        (_, d) => {
            let n = d.as_i64()?;
            Some(i32::try_from(n).map_or(Value::Float(n as f32), Value::Scaled))
        }
    }
}

/// IEC 61850-8-1 quality bit string to the model's quality (the same 13 bits).
pub fn to_quality(bits: &BitString) -> Quality {
    let q = report::Quality::from_bits(bits);
    let validity = match q.validity {
        report::Validity::Good => Validity::Good,
        report::Validity::Invalid => Validity::Invalid,
        report::Validity::Reserved => Validity::Reserved,
        report::Validity::Questionable => Validity::Questionable,
    };
    let detail = u16::from(q.detail) << 2;
    let flags = detail | u16::from(q.substituted) << 10 | u16::from(q.test) << 11 | u16::from(q.operator_blocked) << 12;
    Quality::from_bits(flags).unwrap_or_default().with_validity(validity)
}

/// IEC 61850 UtcTime with its TimeQuality octet to a source time.
pub fn to_source_time(t: &UtcTime) -> (Timestamp, TimeQuality) {
    let nanos = i64::from(t.seconds) * 1_000_000_000 + ((i64::from(t.fraction) * 1_000_000_000) >> 24);
    let accuracy = t.quality & 0x1f;
    let quality = TimeQuality {
        invalid: t.clock_failure(),
        not_synchronized: t.clock_not_synchronized(),
        substituted: false,
        leap_seconds_known: t.quality & 0x80 != 0,
        accuracy_bits: if accuracy <= 24 { accuracy } else { TimeQuality::UNSPECIFIED_ACCURACY },
    };
    (Timestamp(nanos), quality)
}

/// ctlModel as SCL writes it (name or ordinal).
fn parse_ctl_model(text: Option<&str>) -> Option<ControlModel> {
    match text?.trim() {
        "status-only" | "0" => Some(ControlModel::StatusOnly),
        "direct-with-normal-security" | "1" => Some(ControlModel::DirectNormal),
        "sbo-with-normal-security" | "2" => Some(ControlModel::SboNormal),
        "direct-with-enhanced-security" | "3" => Some(ControlModel::DirectEnhanced),
        "sbo-with-enhanced-security" | "4" => Some(ControlModel::SboEnhanced),
        _ => None,
    }
}

fn ctl_val_type(ied: &ResolvedIed, do_reference: &str) -> Option<CtlVal> {
    let ctl_val = format!("{do_reference}.Oper.ctlVal");
    if let Some(a) = ied.attribute(&ctl_val) {
        use BasicType as B;
        return match a.btype {
            B::Boolean => Some(CtlVal::Boolean),
            B::Float32 | B::Float64 => Some(CtlVal::Float),
            B::Tcmd => Some(CtlVal::Step),
            B::Enum | B::Int8 | B::Int16 | B::Int24 | B::Int32 | B::Int64 | B::Int8U | B::Int16U | B::Int24U | B::Int32U => {
                Some(CtlVal::Integer)
            }
            _ => None,
        };
    }
    let components: Vec<String> = ied
        .attributes_under(&ctl_val, FunctionalConstraint::Co)
        .into_iter()
        .filter_map(|i| ied.attributes.get(i))
        .filter_map(|a| a.reference.strip_prefix(&ctl_val).and_then(|rest| rest.strip_prefix('.')).map(str::to_owned))
        .collect();
    (!components.is_empty() && components.iter().all(|c| c == "i" || c == "f")).then_some(CtlVal::Analogue(components))
}

/// Builds the ctlVal for a command value, or says why it does not fit the object.
pub fn ctl_value(ctl_val: &CtlVal, value: &CommandValue) -> Result<Data, String> {
    let number = match *value {
        CommandValue::SetpointNormalized(n) => Some(f64::from(n) / 32768.0),
        CommandValue::SetpointScaled(n) => Some(f64::from(n)),
        CommandValue::SetpointFloat(f) => Some(f64::from(f)),
        _ => None,
    };
    let mismatch = || Err(format!("a {value:?} command does not fit a ctlVal of kind {ctl_val:?}"));
    match (ctl_val, value) {
        (CtlVal::Boolean, CommandValue::Single(on)) => Ok(Data::Boolean(*on)),
        // IEC 61850-7-3 DPC: ctlVal BOOLEAN, off (open) = false, on (close) = true.
        (CtlVal::Boolean, CommandValue::Double(DoublePoint::On)) => Ok(Data::Boolean(true)),
        (CtlVal::Boolean, CommandValue::Double(DoublePoint::Off)) => Ok(Data::Boolean(false)),
        (CtlVal::Boolean, CommandValue::Double(other)) => Err(format!("a double command must be On or Off, not {other:?}")),
        // Tcmd: stop (00), lower (01), higher (10).
        (CtlVal::Step, CommandValue::Step { raise }) => Ok(Data::BitString(BitString::with_bits(2, &[if *raise { 0 } else { 1 }]))),
        (CtlVal::Integer, _) => match number {
            // INT32 on the wire: a whole number within i32's range.
            Some(n) => num::whole(n)
                .filter(|&w| i32::try_from(w).is_ok())
                .map(Data::Integer)
                .ok_or_else(|| format!("set point {n} is not an integer the object accepts")),
            None => mismatch(),
        },
        (CtlVal::Float, _) => number.map(|n| Data::Float32(num::to_f32(n))).map_or_else(mismatch, Ok),
        (CtlVal::Analogue(components), _) => {
            let Some(n) = number else { return mismatch() };
            let fields = components
                .iter()
                .map(|c| match c.as_str() {
                    "f" => Ok(Data::Float32(num::to_f32(n))),
                    _ => num::whole(n.round())
                        .map(Data::Integer)
                        .ok_or_else(|| format!("set point {n} does not fit the integer component `{c}`")),
                })
                .collect::<Result<_, _>>()?;
            Ok(Data::Structure(fields))
        }
        _ => mismatch(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ReportEntry;
    use proptest::prelude::*;

    const PEER_CID: &[u8] = include_bytes!("../../tests/peer/simpleIO_peer.cid");

    fn plan(request: &PlanRequest<'_>) -> IedPlan {
        let import = gridtrust_scl::import_bytes("simpleIO_peer.cid", PEER_CID).unwrap();
        IedPlan::new(&import, request).unwrap()
    }

    #[test]
    fn tls_moves_the_default_mms_port_to_3782_but_keeps_an_explicit_one() {
        let text = String::from_utf8_lossy(PEER_CID).replace(r#"<P type="MMS-Port">10102</P>"#, "");
        let import = gridtrust_scl::import_bytes("no-port.cid", text.as_bytes()).unwrap();
        let endpoint = |tls| IedPlan::new(&import, &PlanRequest { tls, ..PlanRequest::default() }).unwrap().endpoint;
        assert_eq!(endpoint(false), "127.0.0.1:102");
        assert_eq!(endpoint(true), "127.0.0.1:3782");
        assert_eq!(plan(&PlanRequest { tls: true, ..PlanRequest::default() }).endpoint, "127.0.0.1:10102");
    }

    fn report(entries: Vec<(usize, Data)>) -> Report {
        Report {
            rpt_id: "x".into(),
            optional_fields: BitString::zeros(10),
            seq_num: None,
            time_of_entry: None,
            data_set: None,
            buffer_overflow: None,
            entry_id: None,
            conf_rev: None,
            segment: None,
            entries: entries.into_iter().map(|(index, value)| ReportEntry { index, reference: None, value, reason: None }).collect(),
        }
    }

    fn q(bits: &[usize]) -> Data {
        Data::BitString(BitString::with_bits(13, bits))
    }

    #[test]
    fn buffered_rcbs_own_what_they_share_and_the_urcb_is_dropped() {
        let p = plan(&PlanRequest::default());
        let names: Vec<&str> = p.rcbs.iter().map(|r| r.reference.as_str()).collect();
        assert_eq!(names, ["simpleIOGenericIO/LLN0.EventsBRCB", "simpleIOGenericIO/LLN0.Measurements"]);
        assert_eq!(p.rcbs[0].instances[0].name, "EventsBRCB01");
        assert_eq!(p.endpoint, "127.0.0.1:10102");
        let points: Vec<String> = p.data_points().map(|p| p.to_string()).collect();
        assert!(points.contains(&"simpleIOGenericIO/GGIO1.SPCSO1.stVal[ST]".to_owned()), "{points:?}");
        assert!(points.contains(&"simpleIOGenericIO/GGIO1.AnIn4.mag.f[MX]".to_owned()), "{points:?}");
        assert_eq!(points.len(), 8, "4 stVal + 4 mag.f: q and t qualify them: {points:?}");
        let controls: Vec<(String, ControlModel)> = p.controls.iter().map(|c| (c.point.to_string(), c.model)).collect();
        assert_eq!(controls.len(), 5);
        assert_eq!(controls[3], ("simpleIOGenericIO/GGIO1.SPCSO4".to_owned(), ControlModel::SboEnhanced));
        assert!(p.controls.iter().all(|c| c.ctl_val == CtlVal::Boolean));
    }

    #[test]
    fn whole_data_objects_flatten_with_their_quality_and_time() {
        let p = plan(&PlanRequest::default());
        let mut mapper = p.mapper();
        let t = UtcTime { seconds: 1_700_000_000, fraction: 1 << 23, quality: 0x20 | 10 };
        let value = Data::Structure(vec![Data::Boolean(true), q(&[1, 11]), Data::UtcTime(t)]);
        let mut out = Vec::new();
        p.map_report(&mut mapper, 0, &report(vec![(2, value)]), Timestamp(5), &mut out);
        assert_eq!(out.len(), 1);
        let d = &out[0];
        assert_eq!(d.point.as_str(), "simpleIOGenericIO/GGIO1.SPCSO3.stVal[ST]");
        assert_eq!(d.value, Value::Single(true));
        assert_eq!(d.quality.validity(), Validity::Invalid);
        assert!(d.quality.test() && !d.quality.old_data());
        let (at, tq) = d.source_time.unwrap();
        assert_eq!(at.unix_millis(), 1_700_000_000_500);
        assert!(tq.not_synchronized && !tq.invalid && tq.accuracy_bits == 10);
    }

    #[test]
    fn a_quality_change_alone_republishes_the_value_it_qualifies() {
        let p = plan(&PlanRequest::default());
        let mut mapper = p.mapper();
        let mut out = Vec::new();
        // Measurements: members 0 = AnIn1.mag.f, 1 = AnIn1.q.
        p.map_report(&mut mapper, 1, &report(vec![(0, Data::Float32(12.5))]), Timestamp(1), &mut out);
        assert_eq!((out[0].value, out[0].quality), (Value::Float(12.5), Quality::GOOD));
        out.clear();
        p.map_report(&mut mapper, 1, &report(vec![(1, q(&[0, 1, 7]))]), Timestamp(2), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].value, Value::Float(12.5));
        assert_eq!(out[0].quality.validity(), Validity::Questionable);
        assert!(out[0].quality.old_data());
        // Both in one report: one datum, not two.
        out.clear();
        p.map_report(&mut mapper, 1, &report(vec![(0, Data::Float32(13.0)), (1, q(&[]))]), Timestamp(3), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].value, out[0].quality), (Value::Float(13.0), Quality::GOOD));
    }

    #[test]
    fn values_of_the_wrong_shape_are_skipped_not_misread() {
        let p = plan(&PlanRequest::default());
        let mut mapper = p.mapper();
        let mut out = Vec::new();
        p.map_report(&mut mapper, 0, &report(vec![(0, Data::Boolean(true)), (9, Data::Boolean(true))]), Timestamp(1), &mut out);
        p.map_report(&mut mapper, 7, &report(vec![(0, Data::Boolean(true))]), Timestamp(1), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn configuration_names_rcbs_controls_and_overrides() {
        let rcbs = vec!["simpleIOGenericIO/LLN0.EventsRCB".to_owned()];
        let controls = vec!["simpleIOGenericIO/GGIO1.SPCSO2".to_owned()];
        let points = BTreeMap::from([("simpleIOGenericIO/GGIO1.SPCSO2".to_owned(), "F1/XCBR1.Pos".to_owned())]);
        let p = plan(&PlanRequest {
            report_control_blocks: Some(&rcbs),
            controls: Some(&controls),
            points: &points,
            address: Some("[::1]:102"),
            ..PlanRequest::default()
        });
        assert_eq!(p.rcbs.len(), 1);
        assert!(!p.rcbs[0].buffered);
        assert_eq!(p.controls.len(), 1);
        assert_eq!(p.controls[0].point.as_str(), "F1/XCBR1.Pos");
        assert_eq!(p.controls[0].model, ControlModel::SboNormal);
        assert_eq!(p.endpoint, "[::1]:102");
    }

    #[test]
    fn bad_names_are_errors_naming_the_key() {
        let import = gridtrust_scl::import_bytes("simpleIO_peer.cid", PEER_CID).unwrap();
        let rcbs = vec!["simpleIOGenericIO/LLN0.Nope".to_owned()];
        let err = IedPlan::new(&import, &PlanRequest { report_control_blocks: Some(&rcbs), ..PlanRequest::default() }).unwrap_err();
        assert_eq!(err.0, "report_control_blocks[0]");
        let controls = vec!["simpleIOGenericIO/GGIO1.AnIn1".to_owned()];
        let err = IedPlan::new(&import, &PlanRequest { controls: Some(&controls), ..PlanRequest::default() }).unwrap_err();
        assert_eq!(err.0, "controls[0]");
        let err = IedPlan::new(&import, &PlanRequest { ied: Some("other"), ..PlanRequest::default() }).unwrap_err();
        assert_eq!(err.0, "ied");
        let points = BTreeMap::from([("simpleIOGenericIO/GGIO1.Nope".to_owned(), "F1/X.Y".to_owned())]);
        let err = IedPlan::new(&import, &PlanRequest { points: &points, ..PlanRequest::default() }).unwrap_err();
        assert!(err.0.starts_with("points."), "{err:?}");
    }

    fn arbitrary_data() -> impl Strategy<Value = Data> {
        let leaf = prop_oneof![
            any::<bool>().prop_map(Data::Boolean),
            any::<f32>().prop_map(Data::Float32),
            any::<i64>().prop_map(Data::Integer),
            (0usize..16, proptest::collection::vec(0usize..16, 0..4))
                .prop_map(|(len, bits)| Data::BitString(BitString::with_bits(len, &bits))),
            (any::<u32>(), any::<u32>(), any::<u8>()).prop_map(|(seconds, fraction, quality)| Data::UtcTime(UtcTime {
                seconds,
                fraction,
                quality
            })),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Data::Structure),
                proptest::collection::vec(inner, 0..3).prop_map(Data::Array)
            ]
        })
    }

    proptest! {
        #[test]
        fn arbitrary_report_entries_never_panic(rcb in 0usize..4, entries in proptest::collection::vec((0usize..12, arbitrary_data()), 0..8)) {
            let p = plan(&PlanRequest::default());
            let mut mapper = p.mapper();
            let mut out = Vec::new();
            p.map_report(&mut mapper, rcb, &report(entries), Timestamp(0), &mut out);
            prop_assert!(out.len() <= p.slots.len());
        }
    }

    #[test]
    fn command_values_become_ctl_vals() {
        assert_eq!(ctl_value(&CtlVal::Boolean, &CommandValue::Double(DoublePoint::On)), Ok(Data::Boolean(true)));
        assert_eq!(ctl_value(&CtlVal::Boolean, &CommandValue::Double(DoublePoint::Off)), Ok(Data::Boolean(false)));
        assert!(ctl_value(&CtlVal::Boolean, &CommandValue::Double(DoublePoint::Intermediate)).is_err());
        assert_eq!(ctl_value(&CtlVal::Integer, &CommandValue::SetpointScaled(-7)), Ok(Data::Integer(-7)));
        assert!(ctl_value(&CtlVal::Integer, &CommandValue::SetpointFloat(1.5)).is_err());
        assert!(ctl_value(&CtlVal::Integer, &CommandValue::Single(true)).is_err());
        assert_eq!(
            ctl_value(&CtlVal::Analogue(vec!["f".into()]), &CommandValue::SetpointFloat(2.5)),
            Ok(Data::Structure(vec![Data::Float32(2.5)]))
        );
        assert_eq!(ctl_value(&CtlVal::Step, &CommandValue::Step { raise: true }), Ok(Data::BitString(BitString::with_bits(2, &[0]))));
    }
}
