//! SCL text to [`SclDocument`]: recursive descent over [`XmlCursor`], one function per element.
//! Structural problems (a missing required attribute, a number that is not a number, an unknown
//! basic type) are recorded and reading goes on, so one run names every such problem; only
//! malformed XML stops the reader.

use std::str::FromStr;
use std::sync::Arc;

use crate::error::{Diagnostics, Location, Problem, SclError, Warning};
use crate::model::*;
use crate::xml::{Element, Tag, XmlCursor};

/// SDIs (structured sub data objects) and functions may nest; real files stay far below this.
const MAX_SDI_DEPTH: usize = 32;

pub(crate) struct Parser<'a> {
    cursor: XmlCursor<'a>,
    pub diagnostics: Diagnostics,
}

/// Reads a whole document; `None` when the XML is malformed or is not SCL (the reason is in the
/// diagnostics).
pub(crate) fn parse_document(file: &str, input: &[u8], diagnostics: &mut Diagnostics) -> Option<SclDocument> {
    let file: Arc<str> = Arc::from(file);
    let mut parser = Parser { cursor: XmlCursor::new(file.clone(), input), diagnostics: std::mem::take(diagnostics) };
    let result = parser.document(&file);
    *diagnostics = std::mem::take(&mut parser.diagnostics);
    match result {
        Ok(document) => document,
        Err(fatal) => {
            diagnostics.errors.push(*fatal);
            None
        }
    }
}

/// Malformed XML: the one problem that stops the reader.
type Read<T> = Result<T, Box<SclError>>;

impl<'a> Parser<'a> {
    fn location(&self, element: &Element) -> Location {
        self.cursor.location(element.pos, element.tag.name())
    }

    fn required(&mut self, element: &mut Element, name: &'static str) -> String {
        match element.take(name) {
            Some(value) => value,
            None => {
                let location = self.location(element);
                self.diagnostics.error(&location, Problem::MissingAttribute(name));
                String::new()
            }
        }
    }

    /// An attribute parsed with `FromStr`, or `default` when absent (and, after an error, when invalid).
    fn parsed<T: FromStr>(&mut self, element: &mut Element, name: &'static str, default: T, expected: &str) -> T {
        let Some(text) = element.take(name) else { return default };
        match text.trim().parse() {
            Ok(value) => value,
            Err(_) => {
                let location = self.location(element);
                let problem = Problem::InvalidAttribute { attribute: name, value: text, reason: format!("expected {expected}") };
                self.diagnostics.error(&location, problem);
                default
            }
        }
    }

    fn flag(&mut self, element: &mut Element, name: &'static str, default: bool) -> bool {
        let Some(text) = element.take(name) else { return default };
        match text.trim() {
            "true" | "1" => true,
            "false" | "0" => false,
            _ => {
                let location = self.location(element);
                let problem = Problem::InvalidAttribute { attribute: name, value: text, reason: "expected true or false".to_owned() };
                self.diagnostics.error(&location, problem);
                default
            }
        }
    }

    fn document(&mut self, file: &Arc<str>) -> Read<Option<SclDocument>> {
        let Some((root, root_name)) = self.cursor.root()? else {
            let location = Location { file: file.clone(), line: 1, column: 1, element: "SCL" };
            self.diagnostics.error(&location, Problem::Syntax("the file contains no element".to_owned()));
            return Ok(None);
        };
        if root.tag != Tag::SCL {
            let location = self.location(&root);
            self.diagnostics.error(&location, Problem::NotScl(root_name));
            return Ok(None);
        }
        let mut document = SclDocument { file: file.to_string(), ..SclDocument::default() };
        let mut header_seen = false;
        while let Some(child) = self.cursor.next_child(&root)? {
            match child.tag {
                Tag::Header => {
                    header_seen = true;
                    document.header = self.header(child);
                }
                Tag::Substation => document.substations.push(self.substation(child)?),
                Tag::Communication => self.communication(&child, &mut document.communication)?,
                Tag::IED => document.ieds.push(self.ied(child)?),
                Tag::DataTypeTemplates => self.templates(&child, &mut document.data_type_templates)?,
                _ => {}
            }
        }
        if !header_seen {
            let location = self.location(&root);
            self.diagnostics.warning(&location, Warning::MissingHeader);
        }
        self.cursor.finish()?;
        Ok(Some(document))
    }

    fn header(&mut self, mut element: Element) -> Header {
        Header {
            id: self.required(&mut element, "id"),
            version: element.take("version"),
            revision: element.take("revision"),
            tool_id: element.take("toolID"),
            name_structure: element.take("nameStructure"),
        }
    }

    // --- Substation ---------------------------------------------------------------------------

    fn lnode(&mut self, mut element: Element) -> LNodeRef {
        LNodeRef {
            // Schema defaults: iedName "None" (not bound to an IED yet), the rest empty.
            ied_name: element.take("iedName").unwrap_or_else(|| "None".to_owned()),
            ld_inst: element.take("ldInst").unwrap_or_default(),
            prefix: element.take("prefix").unwrap_or_default(),
            ln_class: self.required(&mut element, "lnClass"),
            ln_inst: element.take("lnInst").unwrap_or_default(),
            ln_type: element.take("lnType"),
            pos: element.pos,
        }
    }

    fn substation(&mut self, mut element: Element) -> Read<Substation> {
        let mut substation =
            Substation { name: self.required(&mut element, "name"), desc: element.take("desc"), pos: element.pos, ..Substation::default() };
        while let Some(child) = self.cursor.next_child(&element)? {
            match child.tag {
                Tag::VoltageLevel => substation.voltage_levels.push(self.voltage_level(child)?),
                Tag::PowerTransformer => substation.power_transformers.push(self.power_transformer(child)?),
                Tag::LNode => substation.lnodes.push(self.lnode(child)),
                Tag::Function => substation.functions.push(self.function(child, 0)?),
                Tag::GeneralEquipment => substation.general_equipment.push(self.general_equipment(child, 0)?),
                _ => {}
            }
        }
        Ok(substation)
    }

    fn voltage_level(&mut self, mut element: Element) -> Read<VoltageLevel> {
        let mut level = VoltageLevel {
            name: self.required(&mut element, "name"),
            desc: element.take("desc"),
            nom_freq: element.take("nomFreq"),
            num_phases: element.take("numPhases"),
            pos: element.pos,
            ..VoltageLevel::default()
        };
        while let Some(child) = self.cursor.next_child(&element)? {
            match child.tag {
                Tag::Voltage => level.voltage = self.voltage(child)?,
                Tag::Bay => level.bays.push(self.bay(child)?),
                Tag::PowerTransformer => level.power_transformers.push(self.power_transformer(child)?),
                Tag::LNode => level.lnodes.push(self.lnode(child)),
                Tag::Function => level.functions.push(self.function(child, 0)?),
                Tag::GeneralEquipment => level.general_equipment.push(self.general_equipment(child, 0)?),
                _ => {}
            }
        }
        Ok(level)
    }

    fn voltage(&mut self, mut element: Element) -> Read<Option<Voltage>> {
        let unit = element.take("unit").unwrap_or_else(|| "V".to_owned());
        let multiplier = element.take("multiplier").unwrap_or_default();
        let text = self.cursor.text(&element)?;
        match text.trim().parse::<f64>() {
            Ok(value) if value.is_finite() => Ok(Some(Voltage { value, unit, multiplier })),
            _ => {
                let location = self.location(&element);
                let problem = Problem::InvalidValue { value: text, btype: "Voltage".to_owned(), reason: "expected a number".to_owned() };
                self.diagnostics.error(&location, problem);
                Ok(None)
            }
        }
    }

    fn bay(&mut self, mut element: Element) -> Read<Bay> {
        let mut bay = Bay { name: self.required(&mut element, "name"), desc: element.take("desc"), pos: element.pos, ..Bay::default() };
        while let Some(child) = self.cursor.next_child(&element)? {
            match child.tag {
                Tag::ConductingEquipment => bay.conducting_equipment.push(self.conducting_equipment(child)?),
                Tag::PowerTransformer => bay.power_transformers.push(self.power_transformer(child)?),
                Tag::ConnectivityNode => {
                    let mut node = child;
                    bay.connectivity_nodes.push(ConnectivityNode {
                        name: self.required(&mut node, "name"),
                        path_name: self.required(&mut node, "pathName"),
                        pos: node.pos,
                    });
                }
                Tag::LNode => bay.lnodes.push(self.lnode(child)),
                Tag::Function => bay.functions.push(self.function(child, 0)?),
                Tag::GeneralEquipment => bay.general_equipment.push(self.general_equipment(child, 0)?),
                _ => {}
            }
        }
        Ok(bay)
    }

    fn terminal(&mut self, mut element: Element) -> Terminal {
        Terminal {
            name: element.take("name").unwrap_or_default(),
            connectivity_node: self.required(&mut element, "connectivityNode"),
            substation_name: element.take("substationName"),
            voltage_level_name: element.take("voltageLevelName"),
            bay_name: element.take("bayName"),
            c_node_name: self.required(&mut element, "cNodeName"),
            pos: element.pos,
        }
    }

    fn conducting_equipment(&mut self, mut element: Element) -> Read<ConductingEquipment> {
        let mut equipment = ConductingEquipment {
            name: self.required(&mut element, "name"),
            desc: element.take("desc"),
            equipment_type: self.required(&mut element, "type"),
            is_virtual: self.flag(&mut element, "virtual", false),
            pos: element.pos,
            ..ConductingEquipment::default()
        };
        while let Some(mut child) = self.cursor.next_child(&element)? {
            match child.tag {
                Tag::Terminal => equipment.terminals.push(self.terminal(child)),
                Tag::LNode => equipment.lnodes.push(self.lnode(child)),
                Tag::EqFunction => equipment.functions.push(self.function(child, 0)?),
                Tag::SubEquipment => {
                    let name = self.required(&mut child, "name");
                    let phase = child.take("phase");
                    let (lnodes, functions) = self.lnodes_below(&child)?;
                    equipment.sub_equipment.push(SubEquipment { name, phase, lnodes, functions, pos: child.pos });
                }
                _ => {}
            }
        }
        Ok(equipment)
    }

    /// `<Function>`, `<SubFunction>`, `<EqFunction>` or `<EqSubFunction>`; they nest (and hold
    /// GeneralEquipment with functions of its own), so the depth is limited like SDIs'.
    fn function(&mut self, mut element: Element, depth: usize) -> Read<Function> {
        let mut function = Function {
            name: self.required(&mut element, "name"),
            desc: element.take("desc"),
            function_type: element.take("type"),
            pos: element.pos,
            ..Function::default()
        };
        if depth >= MAX_SDI_DEPTH {
            let location = self.location(&element);
            self.diagnostics.error(&location, Problem::ElementTooDeep(MAX_SDI_DEPTH));
            return Ok(function);
        }
        while let Some(child) = self.cursor.next_child(&element)? {
            match child.tag {
                Tag::LNode => function.lnodes.push(self.lnode(child)),
                Tag::SubFunction | Tag::EqSubFunction => function.sub_functions.push(self.function(child, depth + 1)?),
                Tag::GeneralEquipment => function.general_equipment.push(self.general_equipment(child, depth + 1)?),
                _ => {}
            }
        }
        Ok(function)
    }

    fn general_equipment(&mut self, mut element: Element, depth: usize) -> Read<GeneralEquipment> {
        let mut equipment = GeneralEquipment {
            name: self.required(&mut element, "name"),
            desc: element.take("desc"),
            equipment_type: self.required(&mut element, "type"),
            is_virtual: self.flag(&mut element, "virtual", false),
            pos: element.pos,
            ..GeneralEquipment::default()
        };
        while let Some(child) = self.cursor.next_child(&element)? {
            match child.tag {
                Tag::LNode => equipment.lnodes.push(self.lnode(child)),
                Tag::EqFunction => equipment.functions.push(self.function(child, depth + 1)?),
                _ => {}
            }
        }
        Ok(equipment)
    }

    /// The LNodes and EqFunctions of a part of equipment (sub-equipment, tap changer).
    fn lnodes_below(&mut self, element: &Element) -> Read<(Vec<LNodeRef>, Vec<Function>)> {
        let mut lnodes = Vec::new();
        let mut functions = Vec::new();
        while let Some(child) = self.cursor.next_child(element)? {
            match child.tag {
                Tag::LNode => lnodes.push(self.lnode(child)),
                Tag::EqFunction => functions.push(self.function(child, 0)?),
                _ => {}
            }
        }
        Ok((lnodes, functions))
    }

    fn power_transformer(&mut self, mut element: Element) -> Read<PowerTransformer> {
        let mut transformer = PowerTransformer {
            name: self.required(&mut element, "name"),
            desc: element.take("desc"),
            pos: element.pos,
            ..PowerTransformer::default()
        };
        while let Some(mut child) = self.cursor.next_child(&element)? {
            match child.tag {
                Tag::TransformerWinding => {
                    let mut winding =
                        TransformerWinding { name: self.required(&mut child, "name"), pos: child.pos, ..TransformerWinding::default() };
                    while let Some(mut part) = self.cursor.next_child(&child)? {
                        match part.tag {
                            Tag::Terminal => winding.terminals.push(self.terminal(part)),
                            Tag::LNode => winding.lnodes.push(self.lnode(part)),
                            Tag::EqFunction => winding.functions.push(self.function(part, 0)?),
                            Tag::TapChanger => {
                                let name = self.required(&mut part, "name");
                                let (lnodes, functions) = self.lnodes_below(&part)?;
                                winding.tap_changer = Some(TapChanger { name, lnodes, functions, pos: part.pos });
                            }
                            _ => {}
                        }
                    }
                    transformer.windings.push(winding);
                }
                Tag::LNode => transformer.lnodes.push(self.lnode(child)),
                Tag::EqFunction => transformer.functions.push(self.function(child, 0)?),
                _ => {}
            }
        }
        Ok(transformer)
    }

    // --- Communication ------------------------------------------------------------------------

    fn communication(&mut self, element: &Element, communication: &mut Communication) -> Read<()> {
        while let Some(mut child) = self.cursor.next_child(element)? {
            if child.tag != Tag::SubNetwork {
                continue;
            }
            let mut subnetwork = SubNetwork {
                name: self.required(&mut child, "name"),
                network_type: child.take("type"),
                pos: child.pos,
                connected_aps: Vec::new(),
            };
            while let Some(ap) = self.cursor.next_child(&child)? {
                if ap.tag == Tag::ConnectedAP {
                    subnetwork.connected_aps.push(self.connected_ap(ap)?);
                }
            }
            communication.subnetworks.push(subnetwork);
        }
        Ok(())
    }

    fn connected_ap(&mut self, mut element: Element) -> Read<ConnectedAp> {
        let mut ap = ConnectedAp {
            ied_name: self.required(&mut element, "iedName"),
            ap_name: self.required(&mut element, "apName"),
            pos: element.pos,
            ..ConnectedAp::default()
        };
        while let Some(mut child) = self.cursor.next_child(&element)? {
            match child.tag {
                Tag::Address => ap.address = self.address(&child)?,
                Tag::GSE | Tag::SMV => {
                    let mut block = ControlBlockAddress {
                        ld_inst: self.required(&mut child, "ldInst"),
                        cb_name: self.required(&mut child, "cbName"),
                        pos: child.pos,
                        address: Address::default(),
                    };
                    while let Some(part) = self.cursor.next_child(&child)? {
                        if part.tag == Tag::Address {
                            block.address = self.address(&part)?;
                        }
                    }
                    if child.tag == Tag::GSE { ap.gse.push(block) } else { ap.smv.push(block) }
                }
                _ => {}
            }
        }
        Ok(ap)
    }

    fn address(&mut self, element: &Element) -> Read<Address> {
        let mut address = Address::default();
        while let Some(mut p) = self.cursor.next_child(element)? {
            if p.tag != Tag::P {
                continue;
            }
            let param_type = self.required(&mut p, "type");
            let value = self.cursor.text(&p)?.trim().to_owned();
            self.check_address_parameter(&p, &param_type, &value);
            address.parameters.push(AddressParameter { param_type, value });
        }
        Ok(address)
    }

    /// The parameters the MMS adapter will dial with are checked here, at the `<P>` that holds them.
    fn check_address_parameter(&mut self, p: &Element, param_type: &str, value: &str) {
        let reason = match param_type {
            "IP" | "IP-SUBNET" | "IP-GATEWAY" if value.parse::<std::net::IpAddr>().is_err() => "expected an IP address",
            "MMS-Port" | "APPID" | "VLAN-ID" | "VLAN-PRIORITY" if !valid_number(param_type, value) => "expected a number in range",
            _ => return,
        };
        let location = self.location(p);
        let problem = Problem::InvalidValue { value: value.to_owned(), btype: format!("P type {param_type}"), reason: reason.to_owned() };
        self.diagnostics.error(&location, problem);
    }

    // --- IED ----------------------------------------------------------------------------------

    fn ied(&mut self, mut element: Element) -> Read<Ied> {
        let mut ied = Ied {
            name: self.required(&mut element, "name"),
            desc: element.take("desc"),
            manufacturer: element.take("manufacturer"),
            ied_type: element.take("type"),
            config_version: element.take("configVersion"),
            pos: element.pos,
            access_points: Vec::new(),
        };
        while let Some(mut child) = self.cursor.next_child(&element)? {
            if child.tag != Tag::AccessPoint {
                continue;
            }
            let mut ap = AccessPoint { name: self.required(&mut child, "name"), desc: child.take("desc"), pos: child.pos, server: None };
            while let Some(server) = self.cursor.next_child(&child)? {
                if server.tag == Tag::Server {
                    let mut logical_devices = Vec::new();
                    while let Some(ld) = self.cursor.next_child(&server)? {
                        if ld.tag == Tag::LDevice {
                            logical_devices.push(self.ldevice(ld)?);
                        }
                    }
                    ap.server = Some(Server { logical_devices });
                }
            }
            ied.access_points.push(ap);
        }
        Ok(ied)
    }

    fn ldevice(&mut self, mut element: Element) -> Read<LDevice> {
        let mut ld = LDevice {
            inst: self.required(&mut element, "inst"),
            ld_name: element.take("ldName"),
            desc: element.take("desc"),
            pos: element.pos,
            ..LDevice::default()
        };
        while let Some(child) = self.cursor.next_child(&element)? {
            match child.tag {
                Tag::LN0 => ld.ln0 = Some(self.logical_node(child)?),
                Tag::LN => ld.lns.push(self.logical_node(child)?),
                _ => {}
            }
        }
        if ld.ln0.is_none() {
            let location = self.location(&element);
            self.diagnostics.warning(&location, Warning::MissingLn0);
        }
        Ok(ld)
    }

    fn logical_node(&mut self, mut element: Element) -> Read<LogicalNode> {
        let is_ln0 = element.tag == Tag::LN0;
        let mut ln = LogicalNode {
            prefix: element.take("prefix").unwrap_or_default(),
            ln_class: self.required(&mut element, "lnClass"),
            // LN0's inst is fixed to "" by the schema; an LN must name its instance.
            inst: if is_ln0 { element.take("inst").unwrap_or_default() } else { self.required(&mut element, "inst") },
            ln_type: self.required(&mut element, "lnType"),
            desc: element.take("desc"),
            pos: element.pos,
            ..LogicalNode::default()
        };
        while let Some(child) = self.cursor.next_child(&element)? {
            match child.tag {
                Tag::DOI => ln.dois.push(self.doi(child)?),
                Tag::DataSet => ln.data_sets.push(self.data_set(child)?),
                Tag::ReportControl => ln.report_controls.push(self.report_control(child)?),
                Tag::LogControl => ln.log_controls.push(self.log_control(child)?),
                Tag::SettingControl if is_ln0 => ln.setting_control = Some(self.setting_control(child)),
                Tag::Inputs => {
                    while let Some(ext_ref) = self.cursor.next_child(&child)? {
                        if ext_ref.tag == Tag::ExtRef {
                            ln.inputs.push(self.ext_ref(ext_ref));
                        }
                    }
                }
                Tag::GSEControl if is_ln0 => ln.gse_controls.push(self.gse_control(child)),
                Tag::SampledValueControl if is_ln0 => ln.smv_controls.push(self.smv_control(child)),
                _ => {}
            }
        }
        Ok(ln)
    }

    /// `name`, followed by `(ix)` for an array element (`ix`), the way references write it.
    fn instance_name(&mut self, element: &mut Element) -> String {
        let name = self.required(element, "name");
        if element.peek("ix").is_none() {
            return name;
        }
        let index: u32 = self.parsed(element, "ix", 0, "an array index");
        format!("{name}({index})")
    }

    fn doi(&mut self, mut element: Element) -> Read<Doi> {
        let mut doi = Doi { name: self.instance_name(&mut element), pos: element.pos, dais: Vec::new() };
        let mut path = Vec::new();
        self.instance_children(&element, &mut path, &mut doi.dais, 0)?;
        Ok(doi)
    }

    /// Walks `<SDI>`/`<DAI>` below a DOI, flattening each DAI to its path.
    fn instance_children(&mut self, element: &Element, path: &mut Vec<String>, dais: &mut Vec<Dai>, depth: usize) -> Read<()> {
        while let Some(mut child) = self.cursor.next_child(element)? {
            match child.tag {
                Tag::SDI => {
                    if depth >= MAX_SDI_DEPTH {
                        let location = self.location(&child);
                        self.diagnostics.error(&location, Problem::ElementTooDeep(MAX_SDI_DEPTH));
                        continue;
                    }
                    path.push(self.instance_name(&mut child));
                    self.instance_children(&child, path, dais, depth + 1)?;
                    path.pop();
                }
                Tag::DAI => {
                    let mut dai_path = path.clone();
                    dai_path.push(self.instance_name(&mut child));
                    let values = self.values(&child)?;
                    dais.push(Dai { path: dai_path, values, pos: child.pos });
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn values(&mut self, element: &Element) -> Read<Vec<Val>> {
        let mut values = Vec::new();
        while let Some(mut val) = self.cursor.next_child(element)? {
            if val.tag == Tag::Val {
                let s_group = match val.take("sGroup") {
                    None => None,
                    Some(text) => match text.trim().parse::<u32>() {
                        Ok(group) => Some(group),
                        Err(_) => {
                            let location = self.location(&val);
                            let problem = Problem::InvalidAttribute {
                                attribute: "sGroup",
                                value: text,
                                reason: "expected a setting group number".to_owned(),
                            };
                            self.diagnostics.error(&location, problem);
                            None
                        }
                    },
                };
                let text = self.cursor.text(&val)?;
                values.push(Val { s_group, text });
            }
        }
        Ok(values)
    }

    fn fc(&mut self, element: &mut Element, required: bool) -> Option<FunctionalConstraint> {
        let Some(text) = element.take("fc") else {
            if required {
                let location = self.location(element);
                self.diagnostics.error(&location, Problem::MissingAttribute("fc"));
            }
            return None;
        };
        match text.parse() {
            Ok(fc) => Some(fc),
            Err(()) => {
                let location = self.location(element);
                let problem = Problem::InvalidAttribute {
                    attribute: "fc",
                    value: text,
                    reason: "not a functional constraint (ST, MX, CO, SP, SV, CF, DC, SG, SE, SR, OR, BL, EX)".to_owned(),
                };
                self.diagnostics.error(&location, problem);
                None
            }
        }
    }

    fn data_set(&mut self, mut element: Element) -> Read<DataSet> {
        let mut data_set =
            DataSet { name: self.required(&mut element, "name"), desc: element.take("desc"), pos: element.pos, fcdas: Vec::new() };
        while let Some(mut child) = self.cursor.next_child(&element)? {
            if child.tag == Tag::FCDA {
                let fcda = Fcda {
                    ld_inst: self.required(&mut child, "ldInst"),
                    prefix: child.take("prefix").unwrap_or_default(),
                    ln_class: self.required(&mut child, "lnClass"),
                    ln_inst: child.take("lnInst").unwrap_or_default(),
                    do_name: self.required(&mut child, "doName"),
                    da_name: child.take("daName"),
                    fc: self.fc(&mut child, true),
                    pos: child.pos,
                };
                data_set.fcdas.push(fcda);
            }
        }
        Ok(data_set)
    }

    fn report_control(&mut self, mut element: Element) -> Read<ReportControl> {
        let mut rcb = ReportControl {
            name: self.required(&mut element, "name"),
            desc: element.take("desc"),
            dat_set: self.dat_set(&mut element),
            rpt_id: element.take("rptID"),
            conf_rev: self.parsed(&mut element, "confRev", 0, "an unsigned number"),
            buffered: self.flag(&mut element, "buffered", false),
            buf_time_ms: self.parsed(&mut element, "bufTime", 0, "milliseconds"),
            intg_pd_ms: self.parsed(&mut element, "intgPd", 0, "milliseconds"),
            indexed: self.flag(&mut element, "indexed", true),
            pos: element.pos,
            ..ReportControl::default()
        };
        while let Some(mut child) = self.cursor.next_child(&element)? {
            match child.tag {
                Tag::TrgOps => rcb.trg_ops = self.trg_ops(&mut child),
                Tag::OptFields => {
                    rcb.opt_fields = OptFields {
                        seq_num: self.flag(&mut child, "seqNum", false),
                        time_stamp: self.flag(&mut child, "timeStamp", false),
                        data_set: self.flag(&mut child, "dataSet", false),
                        reason_code: self.flag(&mut child, "reasonCode", false),
                        data_ref: self.flag(&mut child, "dataRef", false),
                        entry_id: self.flag(&mut child, "entryID", false),
                        config_ref: self.flag(&mut child, "configRef", false),
                        buf_ovfl: self.flag(&mut child, "bufOvfl", false),
                    };
                }
                Tag::RptEnabled => {
                    rcb.rpt_enabled_max = Some(self.parsed(&mut child, "max", 1, "an unsigned number"));
                    while let Some(client) = self.cursor.next_child(&child)? {
                        if client.tag == Tag::ClientLN {
                            rcb.clients.push(self.lnode(client));
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(rcb)
    }

    fn trg_ops(&mut self, element: &mut Element) -> TrgOps {
        let defaults = TrgOps::default();
        TrgOps {
            dchg: self.flag(element, "dchg", defaults.dchg),
            qchg: self.flag(element, "qchg", defaults.qchg),
            dupd: self.flag(element, "dupd", defaults.dupd),
            period: self.flag(element, "period", defaults.period),
            gi: self.flag(element, "gi", defaults.gi),
        }
    }

    fn log_control(&mut self, mut element: Element) -> Read<LogControl> {
        let mut lcb = LogControl {
            name: self.required(&mut element, "name"),
            desc: element.take("desc"),
            dat_set: self.dat_set(&mut element),
            ld_inst: element.take("ldInst"),
            prefix: element.take("prefix").unwrap_or_default(),
            ln_class: element.take("lnClass").unwrap_or_else(|| "LLN0".to_owned()),
            ln_inst: element.take("lnInst").unwrap_or_default(),
            log_name: None,
            log_ena: self.flag(&mut element, "logEna", true),
            reason_code: self.flag(&mut element, "reasonCode", true),
            buf_time_ms: self.parsed(&mut element, "bufTime", 0, "milliseconds"),
            intg_pd_ms: self.parsed(&mut element, "intgPd", 0, "milliseconds"),
            trg_ops: TrgOps::default(),
            pos: element.pos,
        };
        match element.take("logName") {
            None => {
                let location = self.location(&element);
                self.diagnostics.error(&location, Problem::MissingAttribute("logName"));
            }
            Some(name) if name.trim().is_empty() => {
                let location = self.location(&element);
                self.diagnostics.warning(&location, Warning::EmptyLogName);
            }
            Some(name) => lcb.log_name = Some(name),
        }
        while let Some(mut child) = self.cursor.next_child(&element)? {
            if child.tag == Tag::TrgOps {
                lcb.trg_ops = self.trg_ops(&mut child);
            }
        }
        Ok(lcb)
    }

    fn setting_control(&mut self, mut element: Element) -> SettingControl {
        let control = SettingControl {
            desc: element.take("desc"),
            num_of_sgs: self.parsed(&mut element, "numOfSGs", 0, "a number of setting groups"),
            act_sg: self.parsed(&mut element, "actSG", 1, "a setting group number"),
            pos: element.pos,
        };
        if control.num_of_sgs == 0 || !(1..=control.num_of_sgs).contains(&control.act_sg) {
            let location = self.location(&element);
            let problem = Problem::InvalidAttribute {
                attribute: "actSG",
                value: control.act_sg.to_string(),
                reason: format!("the LD has setting groups 1 to {} (numOfSGs)", control.num_of_sgs),
            };
            self.diagnostics.error(&location, problem);
        }
        control
    }

    fn ext_ref(&mut self, mut element: Element) -> ExtRef {
        ExtRef {
            desc: element.take("desc"),
            ied_name: element.take("iedName"),
            ld_inst: element.take("ldInst"),
            prefix: element.take("prefix").unwrap_or_default(),
            ln_class: element.take("lnClass"),
            ln_inst: element.take("lnInst").unwrap_or_default(),
            do_name: element.take("doName"),
            da_name: element.take("daName"),
            int_addr: element.take("intAddr"),
            service_type: element.take("serviceType"),
            src_ld_inst: element.take("srcLDInst"),
            src_prefix: element.take("srcPrefix").unwrap_or_default(),
            src_ln_class: element.take("srcLNClass"),
            src_ln_inst: element.take("srcLNInst").unwrap_or_default(),
            src_cb_name: element.take("srcCBName"),
            pos: element.pos,
        }
    }

    /// `datSet`, where an empty value (written by Ed.1 tools for a block without a data set) is
    /// read as absent.
    fn dat_set(&mut self, element: &mut Element) -> Option<String> {
        let name = element.take("datSet")?;
        if name.trim().is_empty() {
            let location = self.location(element);
            self.diagnostics.warning(&location, Warning::EmptyDatSet { element: element.tag.name() });
            return None;
        }
        Some(name)
    }

    fn gse_control(&mut self, mut element: Element) -> GseControl {
        GseControl {
            name: self.required(&mut element, "name"),
            desc: element.take("desc"),
            app_id: self.required(&mut element, "appID"),
            dat_set: self.dat_set(&mut element),
            conf_rev: self.parsed(&mut element, "confRev", 0, "an unsigned number"),
            gse_type: element.take("type").unwrap_or_else(|| "GOOSE".to_owned()),
            fixed_offs: self.flag(&mut element, "fixedOffs", false),
            pos: element.pos,
        }
    }

    fn smv_control(&mut self, mut element: Element) -> SampledValueControl {
        SampledValueControl {
            name: self.required(&mut element, "name"),
            desc: element.take("desc"),
            smv_id: self.required(&mut element, "smvID"),
            dat_set: self.dat_set(&mut element),
            conf_rev: self.parsed(&mut element, "confRev", 0, "an unsigned number"),
            smp_rate: self.parsed(&mut element, "smpRate", 0, "samples per period"),
            nof_asdu: self.parsed(&mut element, "nofASDU", 0, "a number of ASDUs"),
            multicast: self.flag(&mut element, "multicast", true),
            pos: element.pos,
        }
    }

    // --- DataTypeTemplates ----------------------------------------------------------------------

    fn templates(&mut self, element: &Element, templates: &mut DataTypeTemplates) -> Read<()> {
        while let Some(mut child) = self.cursor.next_child(element)? {
            match child.tag {
                Tag::LNodeType => {
                    let mut lnode_type = LNodeType {
                        id: self.required(&mut child, "id"),
                        ln_class: self.required(&mut child, "lnClass"),
                        desc: child.take("desc"),
                        pos: child.pos,
                        data_objects: Vec::new(),
                    };
                    while let Some(data_object) = self.cursor.next_child(&child)? {
                        if data_object.tag == Tag::DO {
                            lnode_type.data_objects.push(self.data_object_def(data_object));
                        }
                    }
                    templates.lnode_types.push(lnode_type);
                }
                Tag::DOType => {
                    let mut do_type = DoType {
                        id: self.required(&mut child, "id"),
                        cdc: self.required(&mut child, "cdc"),
                        pos: child.pos,
                        children: Vec::new(),
                    };
                    while let Some(part) = self.cursor.next_child(&child)? {
                        match part.tag {
                            Tag::SDO => do_type.children.push(DoTypeChild::Sdo(self.data_object_def(part))),
                            Tag::DA => do_type.children.push(DoTypeChild::Da(self.attribute_def(part)?)),
                            _ => {}
                        }
                    }
                    templates.do_types.push(do_type);
                }
                Tag::DAType => {
                    let mut da_type = DaType { id: self.required(&mut child, "id"), pos: child.pos, bdas: Vec::new() };
                    while let Some(part) = self.cursor.next_child(&child)? {
                        if part.tag == Tag::BDA {
                            da_type.bdas.push(self.attribute_def(part)?);
                        }
                    }
                    templates.da_types.push(da_type);
                }
                Tag::EnumType => {
                    let mut enum_type = EnumType { id: self.required(&mut child, "id"), pos: child.pos, values: Vec::new() };
                    while let Some(mut value) = self.cursor.next_child(&child)? {
                        if value.tag == Tag::EnumVal {
                            if value.peek("ord").is_none() {
                                let location = self.location(&value);
                                self.diagnostics.error(&location, Problem::MissingAttribute("ord"));
                            }
                            let ord = self.parsed(&mut value, "ord", 0, "an integer");
                            let name = self.cursor.text(&value)?.trim().to_owned();
                            enum_type.values.push(EnumVal { ord, name });
                        }
                    }
                    templates.enum_types.push(enum_type);
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn data_object_def(&mut self, mut element: Element) -> DataObjectDef {
        DataObjectDef {
            name: self.required(&mut element, "name"),
            type_id: self.required(&mut element, "type"),
            count: self.parsed(&mut element, "count", 0, "an array length"),
            pos: element.pos,
        }
    }

    fn attribute_def(&mut self, mut element: Element) -> Read<AttributeDef> {
        let name = self.required(&mut element, "name");
        let btype_text = self.required(&mut element, "bType");
        let btype = match btype_text.parse() {
            Ok(btype) => Some(btype),
            Err(()) => {
                if !btype_text.is_empty() {
                    let location = self.location(&element);
                    let problem = Problem::InvalidAttribute {
                        attribute: "bType",
                        value: btype_text,
                        reason: "not an IEC 61850-6 basic type".to_owned(),
                    };
                    self.diagnostics.error(&location, problem);
                }
                None
            }
        };
        let is_da = element.tag == Tag::DA;
        let fc = self.fc(&mut element, is_da);
        let definition = AttributeDef {
            name,
            btype: btype.unwrap_or(BasicType::Struct),
            type_id: element.take("type"),
            fc,
            count: self.parsed(&mut element, "count", 0, "an array length"),
            dchg: self.flag(&mut element, "dchg", false),
            qchg: self.flag(&mut element, "qchg", false),
            dupd: self.flag(&mut element, "dupd", false),
            values: self.values(&element)?,
            pos: element.pos,
        };
        // An attribute whose bType is unknown was reported above; it stays in the model as a
        // Struct without type, which resolves to nothing. A Struct written without type (OpenSCD's
        // template library has one) reads the same way; an Enum without type has no reading.
        if definition.type_id.is_none() {
            let location = self.location(&element);
            match btype {
                Some(BasicType::Struct) => self.diagnostics.warning(&location, Warning::StructWithoutType(definition.name.clone())),
                Some(BasicType::Enum) => self.diagnostics.error(&location, Problem::MissingAttribute("type")),
                _ => {}
            }
        }
        Ok(definition)
    }
}

fn valid_number(param_type: &str, value: &str) -> bool {
    match param_type {
        // APPID is four hex digits.
        "APPID" => value.len() == 4 && u16::from_str_radix(value, 16).is_ok(),
        "VLAN-ID" => value.len() <= 3 && u16::from_str_radix(value, 16).is_ok_and(|id| id <= 0xFFF),
        "VLAN-PRIORITY" => value.parse::<u8>().is_ok_and(|p| p <= 7),
        _ => value.parse::<u16>().is_ok_and(|port| port != 0),
    }
}
