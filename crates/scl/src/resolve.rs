//! Expands the templates into the full data attribute list of each IED and checks everything that
//! refers to something else: type references (with cycle and depth limits, so a hostile file is
//! an error, not a stack overflow), DOI/DAI instances and their values, data set members,
//! control block data sets, and Communication entries.
//!
//! Each DOType and DAType is expanded once (memoised); a logical node then copies its LNodeType's
//! leaves and applies its DAI values. Unused templates are expanded too, so `validate` reports a
//! broken template even before an LN uses it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;

use serde::Serialize;

use crate::error::{Diagnostics, Location, Problem, TypeKind, Warning};
use crate::model::*;

/// Deeper type nesting than this is refused (real models nest fewer than ten levels).
pub const MAX_TYPE_DEPTH: usize = 64;
/// More data attributes than this in one document is refused, so that templates built to
/// multiply (every type holding ten of the next) cannot exhaust memory.
pub const MAX_ATTRIBUTES: usize = 2_000_000;

/// One data attribute with a basic type, as a client reads it: `LD/LN.DO[.SDO].DA[.BDA]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataAttribute {
    /// The object reference without the IED name, e.g. `GenericIO/GGIO1.SPCSO1.stVal`.
    pub reference: String,
    pub ld_inst: String,
    /// `prefix + lnClass + inst`, e.g. `GGIO1`, `LLN0`.
    pub ln_name: String,
    pub fc: FunctionalConstraint,
    pub btype: BasicType,
    /// For `Enum` attributes, the EnumType id (its values are in the document's templates).
    pub enum_type: Option<String>,
    /// The data object's common data class (of the DO under the LN, e.g. `SPC`, `WYE`).
    pub cdc: String,
    /// Array length of the innermost array the attribute sits in (0: not in an array).
    pub count: u32,
    /// Every array the attribute sits in: (position in the path below the LN, the DO being 0;
    /// array length). Arrays are not expanded into elements: the attribute stands for all of them.
    pub arrays: Vec<(usize, u32)>,
    /// The configured value: the DAI's `<Val>` if the LN sets one, else the template's.
    pub value: Option<String>,
    /// Values the LN sets for one setting group (`<Val sGroup>`) or one array element (`ix`).
    pub instance_values: Vec<InstanceValue>,
}

/// A configured value for one setting group and/or one array element of a [`DataAttribute`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceValue {
    /// The reference as the DAI wrote it, array indexes included, e.g. `LD/MHAI1.HA.phsAHar(7).cVal.mag.f`.
    pub reference: String,
    /// The setting group (1-based), `None` for a value outside setting groups.
    pub s_group: Option<u32>,
    pub value: String,
}

/// A data set with each member matched to the data attributes it covers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResolvedDataSet {
    pub ld_inst: String,
    pub ln_name: String,
    pub name: String,
    pub members: Vec<DataSetMember>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataSetMember {
    pub reference: String,
    pub fc: FunctionalConstraint,
    /// Indexes into [`ResolvedIed::attributes`], in model order (the order values arrive in a report).
    pub attributes: Vec<usize>,
}

/// Everything a client of one IED needs: its logical devices and every data attribute.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResolvedIed {
    pub name: String,
    /// `(inst, LD name)`; the LD name is `ldName` or the IED name followed by `inst` (the MMS domain).
    pub logical_devices: Vec<(String, String)>,
    pub attributes: Vec<DataAttribute>,
    pub data_sets: Vec<ResolvedDataSet>,
    #[serde(skip)]
    by_reference: BTreeMap<String, usize>,
}

impl ResolvedIed {
    /// The attribute with this reference (`LD/LN.DO.DA`).
    pub fn attribute(&self, reference: &str) -> Option<&DataAttribute> {
        self.by_reference.get(reference).and_then(|&index| self.attributes.get(index))
    }

    /// Indexes of the attributes at or below `reference` with functional constraint `fc`, in model
    /// order: what an FCDA or an MMS read of `reference[fc]` covers.
    pub fn attributes_under(&self, reference: &str, fc: FunctionalConstraint) -> Vec<usize> {
        let mut found: Vec<usize> = self.under(reference).filter(|&index| self.attributes.get(index).is_some_and(|a| a.fc == fc)).collect();
        found.sort_unstable();
        found
    }

    /// Whether the IED has data at or below `reference` (`LD/LN.DO[.DA]`), whatever its fc.
    pub fn has_data(&self, reference: &str) -> bool {
        self.under(reference).next().is_some()
    }

    fn under<'a>(&'a self, reference: &'a str) -> impl Iterator<Item = usize> + 'a {
        self.by_reference
            .range(reference.to_owned()..)
            .take_while(move |(key, _)| key.starts_with(reference))
            .filter(move |(key, _)| key.len() == reference.len() || key.as_bytes().get(reference.len()) == Some(&b'.'))
            .map(|(_, &index)| index)
    }
}

/// A leaf below a type: its path relative to the type and what the template says about it.
#[derive(Debug, Clone)]
struct Leaf {
    path: String,
    fc: Option<FunctionalConstraint>,
    btype: BasicType,
    enum_type: Option<String>,
    /// Set at the LNodeType level: the CDC of the DO under the LN.
    cdc: String,
    /// (position in `path`, length) of each array the leaf sits in.
    arrays: Vec<(usize, u32)>,
    value: Option<String>,
}

impl Leaf {
    /// This leaf seen from the parent that holds it as `name` (an array of `count` when non-zero).
    fn below(&self, name: &str, count: u32) -> Leaf {
        let mut arrays: Vec<(usize, u32)> = self.arrays.iter().map(|&(at, length)| (at + 1, length)).collect();
        if count > 0 {
            arrays.insert(0, (0, count));
        }
        Leaf { path: format!("{name}.{}", self.path), arrays, ..self.clone() }
    }
}

/// Checks written array indexes (`(position, index)`) against the arrays (`(position, length)`)
/// an attribute at `path` sits in.
fn check_indexes(path: &str, arrays: &[(usize, u32)], indexes: &[(usize, u32)]) -> Result<(), String> {
    for &(at, index) in indexes {
        match arrays.iter().find(|&&(array_at, _)| array_at == at) {
            None => return Err(format!("`{}` is not an array", path.split('.').nth(at).unwrap_or_default())),
            Some(&(_, length)) if index >= length => return Err(format!("index {index} is outside the array of {length}")),
            Some(_) => {}
        }
    }
    Ok(())
}

/// Splits array indexes off a path written as SCL and MMS write them (`HA.phsAHar(7).cVal`):
/// the plain path and (segment position, index) for each indexed segment.
fn split_indexes(path: &str) -> Result<(String, Vec<(usize, u32)>), String> {
    let mut plain = Vec::new();
    let mut indexes = Vec::new();
    for (at, segment) in path.split('.').enumerate() {
        match segment.split_once('(') {
            None => plain.push(segment),
            Some((name, rest)) => {
                let index = rest.strip_suffix(')').and_then(|number| number.parse::<u32>().ok());
                let Some(index) = index else { return Err(format!("`{segment}` is not `name(index)`")) };
                plain.push(name);
                indexes.push((at, index));
            }
        }
    }
    Ok((plain.join("."), indexes))
}

struct LnTypeLeaves {
    leaves: Vec<Leaf>,
    index: HashMap<String, usize>,
    data_objects: HashSet<String>,
}

struct Resolver<'d> {
    file: Arc<str>,
    lnode_types: HashMap<&'d str, &'d LNodeType>,
    do_types: HashMap<&'d str, &'d DoType>,
    da_types: HashMap<&'d str, &'d DaType>,
    enum_types: HashMap<&'d str, &'d EnumType>,
    do_memo: HashMap<&'d str, Rc<Vec<Leaf>>>,
    da_memo: HashMap<&'d str, Rc<Vec<Leaf>>>,
    lnode_memo: HashMap<&'d str, Rc<LnTypeLeaves>>,
    in_progress: Vec<&'d str>,
    budget: usize,
    budget_reported: bool,
    diagnostics: Diagnostics,
}

/// Resolves every IED of `document`, recording problems in `diagnostics`.
pub(crate) fn resolve_document(document: &SclDocument, diagnostics: &mut Diagnostics) -> Vec<ResolvedIed> {
    let mut resolver = Resolver::new(document, std::mem::take(diagnostics));
    let ieds = resolver.ieds(document);
    resolver.inputs(document, &ieds);
    resolver.unused_templates(&document.data_type_templates);
    resolver.communication(document);
    resolver.lnode_references(document);
    *diagnostics = resolver.diagnostics;
    ieds
}

impl<'d> Resolver<'d> {
    fn new(document: &'d SclDocument, diagnostics: Diagnostics) -> Self {
        let file: Arc<str> = Arc::from(document.file.as_str());
        let templates = &document.data_type_templates;
        let mut resolver = Resolver {
            file,
            lnode_types: HashMap::new(),
            do_types: HashMap::new(),
            da_types: HashMap::new(),
            enum_types: HashMap::new(),
            do_memo: HashMap::new(),
            da_memo: HashMap::new(),
            lnode_memo: HashMap::new(),
            in_progress: Vec::new(),
            budget: MAX_ATTRIBUTES,
            budget_reported: false,
            diagnostics,
        };
        resolver.lnode_types = resolver.index(&templates.lnode_types, TypeKind::LNodeType, |t| (&t.id, t.pos), lnode_type_shape);
        resolver.do_types = resolver.index(&templates.do_types, TypeKind::DOType, |t| (&t.id, t.pos), do_type_shape);
        resolver.da_types = resolver.index(&templates.da_types, TypeKind::DAType, |t| (&t.id, t.pos), da_type_shape);
        resolver.enum_types = resolver.index(&templates.enum_types, TypeKind::EnumType, |t| (&t.id, t.pos), |t| format!("{:?}", t.values));
        for enum_type in &templates.enum_types {
            if enum_type.values.is_empty() {
                let location = resolver.location(enum_type.pos, "EnumType");
                resolver.diagnostics.warning(&location, Warning::EmptyEnumType(enum_type.id.clone()));
            }
        }
        resolver
    }

    fn location(&self, pos: Pos, element: &'static str) -> Location {
        Location { file: self.file.clone(), line: pos.line, column: pos.column, element }
    }

    /// Indexes templates by id. The first definition wins; a repeated id is a warning when the
    /// definitions agree (real tools write such files) and an error when they differ.
    fn index<T>(
        &mut self,
        items: &'d [T],
        kind: TypeKind,
        key: impl Fn(&'d T) -> (&'d String, Pos),
        shape: impl Fn(&T) -> String,
    ) -> HashMap<&'d str, &'d T> {
        let mut map: HashMap<&'d str, &'d T> = HashMap::new();
        for item in items {
            let (id, pos) = key(item);
            match map.get(id.as_str()) {
                None => {
                    map.insert(id, item);
                }
                Some(first) => {
                    let first_line = key(first).1.line;
                    let location = self.location(pos, kind_element(kind));
                    if shape(first) == shape(item) {
                        self.diagnostics.warning(&location, Warning::IdenticalDuplicate { kind, id: id.clone(), first_line });
                    } else {
                        self.diagnostics.error(&location, Problem::ConflictingDuplicate { kind, id: id.clone(), first_line });
                    }
                }
            }
        }
        map
    }

    fn spend(&mut self, leaves: usize, pos: Pos, element: &'static str) -> bool {
        if leaves <= self.budget {
            self.budget -= leaves;
            return true;
        }
        if !self.budget_reported {
            self.budget_reported = true;
            let location = self.location(pos, element);
            self.diagnostics.error(&location, Problem::TooManyAttributes { limit: MAX_ATTRIBUTES });
        }
        false
    }

    /// Guards recursion into type `id`: refuses cycles and excessive depth.
    fn enter(&mut self, id: &'d str, pos: Pos, element: &'static str) -> bool {
        if let Some(start) = self.in_progress.iter().position(|&open| open == id) {
            let mut cycle: Vec<String> = self.in_progress.get(start..).unwrap_or_default().iter().map(|s| s.to_string()).collect();
            cycle.push(id.to_owned());
            let location = self.location(pos, element);
            self.diagnostics.error(&location, Problem::TypeCycle { cycle });
            return false;
        }
        if self.in_progress.len() >= MAX_TYPE_DEPTH {
            let location = self.location(pos, element);
            self.diagnostics.error(&location, Problem::NestingTooDeep { id: id.to_owned(), limit: MAX_TYPE_DEPTH });
            return false;
        }
        self.in_progress.push(id);
        true
    }

    fn unresolved(&mut self, kind: TypeKind, id: &str, pos: Pos, element: &'static str) {
        let location = self.location(pos, element);
        self.diagnostics.error(&location, Problem::UnresolvedType { kind, id: id.to_owned() });
    }

    /// The leaves of DAType `id` (paths relative to the struct), expanded once.
    fn da_type(&mut self, id: &'d str, pos: Pos, element: &'static str) -> Rc<Vec<Leaf>> {
        if let Some(done) = self.da_memo.get(id) {
            return done.clone();
        }
        let Some(&da_type) = self.da_types.get(id) else {
            self.unresolved(TypeKind::DAType, id, pos, element);
            return Rc::default();
        };
        if !self.enter(id, pos, element) {
            return Rc::default();
        }
        let mut leaves = Vec::new();
        for bda in &da_type.bdas {
            self.attribute(bda, "BDA", &mut leaves);
        }
        self.in_progress.pop();
        let leaves = Rc::new(leaves);
        self.da_memo.insert(id, leaves.clone());
        leaves
    }

    /// Appends the leaves of one DA or BDA.
    fn attribute(&mut self, definition: &'d AttributeDef, element: &'static str, out: &mut Vec<Leaf>) {
        match definition.btype {
            BasicType::Struct => {
                let Some(type_id) = definition.type_id.as_deref() else { return };
                let inner = self.da_type(type_id, definition.pos, element);
                if !self.spend(inner.len(), definition.pos, element) {
                    return;
                }
                out.extend(inner.iter().map(|leaf| Leaf { fc: definition.fc, ..leaf.below(&definition.name, definition.count) }));
            }
            btype => {
                let enum_type = if btype == BasicType::Enum {
                    let Some(type_id) = definition.type_id.as_deref() else { return };
                    if !self.enum_types.contains_key(type_id) {
                        // The attribute is still an enumeration: its ordinals are read, only
                        // their names are unknown.
                        let location = self.location(definition.pos, element);
                        self.diagnostics.warning(&location, Warning::UndefinedEnumType(type_id.to_owned()));
                    }
                    Some(type_id.to_owned())
                } else {
                    None
                };
                let value = initial_value(&definition.values).map(str::to_owned);
                if let Some(text) = &value {
                    self.check_value(btype, enum_type.as_deref(), text, definition.pos, element);
                }
                if !self.spend(1, definition.pos, element) {
                    return;
                }
                out.push(Leaf {
                    path: definition.name.clone(),
                    fc: definition.fc,
                    btype,
                    enum_type,
                    cdc: String::new(),
                    arrays: if definition.count > 0 { vec![(0, definition.count)] } else { Vec::new() },
                    value,
                });
            }
        }
    }

    /// The leaves of DOType `id` (paths relative to the data object), expanded once.
    fn do_type(&mut self, id: &'d str, pos: Pos, element: &'static str) -> Rc<Vec<Leaf>> {
        if let Some(done) = self.do_memo.get(id) {
            return done.clone();
        }
        let Some(&do_type) = self.do_types.get(id) else {
            self.unresolved(TypeKind::DOType, id, pos, element);
            return Rc::default();
        };
        if !self.enter(id, pos, element) {
            return Rc::default();
        }
        let mut leaves = Vec::new();
        for child in &do_type.children {
            match child {
                DoTypeChild::Sdo(sdo) => {
                    let inner = self.do_type(&sdo.type_id, sdo.pos, "SDO");
                    if self.spend(inner.len(), sdo.pos, "SDO") {
                        leaves.extend(inner.iter().map(|leaf| leaf.below(&sdo.name, sdo.count)));
                    }
                }
                DoTypeChild::Da(da) => self.attribute(da, "DA", &mut leaves),
            }
        }
        self.in_progress.pop();
        let leaves = Rc::new(leaves);
        self.do_memo.insert(id, leaves.clone());
        leaves
    }

    fn lnode_type(&mut self, lnode_type: &'d LNodeType) -> Rc<LnTypeLeaves> {
        if let Some(done) = self.lnode_memo.get(lnode_type.id.as_str()) {
            return done.clone();
        }
        let mut leaves = Vec::new();
        let mut data_objects = HashSet::new();
        for data_object in &lnode_type.data_objects {
            data_objects.insert(data_object.name.clone());
            let inner = self.do_type(&data_object.type_id, data_object.pos, "DO");
            let cdc = self.do_types.get(data_object.type_id.as_str()).map(|t| t.cdc.clone()).unwrap_or_default();
            if self.spend(inner.len(), data_object.pos, "DO") {
                leaves.extend(inner.iter().map(|leaf| Leaf { cdc: cdc.clone(), ..leaf.below(&data_object.name, data_object.count) }));
            }
        }
        let index = leaves.iter().enumerate().map(|(i, leaf)| (leaf.path.clone(), i)).collect();
        let expanded = Rc::new(LnTypeLeaves { leaves, index, data_objects });
        self.lnode_memo.insert(&lnode_type.id, expanded.clone());
        expanded
    }

    fn unused_templates(&mut self, templates: &'d DataTypeTemplates) {
        self.diagnostics.unused_templates = true;
        for lnode_type in &templates.lnode_types {
            self.lnode_type(lnode_type);
        }
        for do_type in &templates.do_types {
            self.do_type(&do_type.id, do_type.pos, "DOType");
        }
        for da_type in &templates.da_types {
            self.da_type(&da_type.id, da_type.pos, "DAType");
        }
        self.diagnostics.unused_templates = false;
    }

    fn check_value(&mut self, btype: BasicType, enum_type: Option<&str>, text: &str, pos: Pos, element: &'static str) {
        let enum_values = enum_type.and_then(|id| self.enum_types.get(id)).map(|t| t.values.as_slice());
        if btype == BasicType::Enum && enum_values.is_none() {
            return; // an undefined EnumType: no names to check against (warned where it is used)
        }
        if let Err(reason) = value_fits(btype, enum_type, enum_values, text) {
            let location = self.location(pos, element);
            self.diagnostics.error(&location, Problem::InvalidValue { value: text.to_owned(), btype: btype.to_string(), reason });
        }
    }

    fn ieds(&mut self, document: &'d SclDocument) -> Vec<ResolvedIed> {
        let mut names: HashMap<&str, Pos> = HashMap::new();
        let mut resolved = Vec::new();
        for ied in &document.ieds {
            if let Some(first) = names.insert(&ied.name, ied.pos) {
                let location = self.location(ied.pos, "IED");
                self.diagnostics.error(&location, Problem::DuplicateName { what: "IED", name: ied.name.clone(), first_line: first.line });
            }
            resolved.push(self.ied(ied));
        }
        resolved
    }

    fn ied(&mut self, ied: &'d Ied) -> ResolvedIed {
        let mut result = ResolvedIed {
            name: ied.name.clone(),
            logical_devices: Vec::new(),
            attributes: Vec::new(),
            data_sets: Vec::new(),
            by_reference: BTreeMap::new(),
        };
        let mut ld_names: HashMap<&str, Pos> = HashMap::new();
        for ld in ied.logical_devices() {
            if let Some(first) = ld_names.insert(&ld.inst, ld.pos) {
                let location = self.location(ld.pos, "LDevice");
                self.diagnostics
                    .error(&location, Problem::DuplicateName { what: "LDevice inst", name: ld.inst.clone(), first_line: first.line });
            }
            let ld_name = ld.ld_name.clone().unwrap_or_else(|| format!("{}{}", ied.name, ld.inst));
            result.logical_devices.push((ld.inst.clone(), ld_name));
            let mut ln_names: HashMap<String, Pos> = HashMap::new();
            for ln in ld.logical_nodes() {
                if let Some(first) = ln_names.insert(ln.name(), ln.pos) {
                    let location = self.location(ln.pos, ln_element(ln));
                    self.diagnostics.error(&location, Problem::DuplicateName { what: "LN", name: ln.name(), first_line: first.line });
                }
                self.logical_node(ld, ln, &mut result.attributes);
            }
        }
        result.by_reference = result.attributes.iter().enumerate().map(|(i, a)| (a.reference.clone(), i)).collect();
        for ld in ied.logical_devices() {
            for ln in ld.logical_nodes() {
                self.data_sets_and_control_blocks(ied, ld, ln, &mut result);
            }
        }
        result
    }

    fn logical_node(&mut self, ld: &'d LDevice, ln: &'d LogicalNode, out: &mut Vec<DataAttribute>) {
        let element = ln_element(ln);
        let Some(&lnode_type) = self.lnode_types.get(ln.ln_type.as_str()) else {
            if !ln.ln_type.is_empty() {
                self.unresolved(TypeKind::LNodeType, &ln.ln_type, ln.pos, element);
            }
            return;
        };
        if lnode_type.ln_class != ln.ln_class {
            let location = self.location(ln.pos, element);
            let warning = Warning::LnClassMismatch {
                ln_class: ln.ln_class.clone(),
                ln_type: ln.ln_type.clone(),
                type_class: lnode_type.ln_class.clone(),
            };
            self.diagnostics.warning(&location, warning);
        }
        let expanded = self.lnode_type(lnode_type);
        let ln_name = ln.name();
        let mut values: Vec<Option<String>> = expanded.leaves.iter().map(|leaf| leaf.value.clone()).collect();
        let mut instance_values: Vec<Vec<InstanceValue>> = vec![Vec::new(); expanded.leaves.len()];
        let setting_groups = ld.ln0.as_ref().and_then(|ln0| ln0.setting_control.as_ref()).map_or(0, |control| control.num_of_sgs);
        for doi in &ln.dois {
            let do_name = doi.name.split_once('(').map_or(doi.name.as_str(), |(name, _)| name);
            if !expanded.data_objects.contains(do_name) {
                let location = self.location(doi.pos, "DOI");
                self.diagnostics.warning(&location, Warning::UnknownDoi { name: doi.name.clone(), ln_type: ln.ln_type.clone() });
                continue;
            }
            for dai in &doi.dais {
                let written = format!("{}.{}", doi.name, dai.path.join("."));
                let location = self.location(dai.pos, "DAI");
                let (path, indexes) = match split_indexes(&written) {
                    Ok(split) => split,
                    Err(reason) => {
                        self.diagnostics.error(&location, Problem::InvalidIndex { path: written, reason });
                        continue;
                    }
                };
                let Some((index, leaf)) = expanded.index.get(&path).and_then(|&i| Some((i, expanded.leaves.get(i)?))) else {
                    let value = initial_value(&dai.values).map(str::to_owned);
                    self.diagnostics.warning(&location, Warning::UnknownDai { path: written, ln_type: ln.ln_type.clone(), value });
                    continue;
                };
                if let Err(reason) = check_indexes(&path, &leaf.arrays, &indexes) {
                    self.diagnostics.error(&location, Problem::InvalidIndex { path: written, reason });
                    continue;
                }
                for val in &dai.values {
                    self.check_value(leaf.btype, leaf.enum_type.as_deref(), &val.text, dai.pos, "DAI");
                    if let Some(group) = val.s_group.filter(|&group| group == 0 || group > setting_groups) {
                        self.diagnostics.warning(&location, Warning::UnknownSettingGroup { group, setting_groups });
                        continue;
                    }
                    if val.s_group.is_some() || !indexes.is_empty() {
                        let reference = format!("{}/{ln_name}.{written}", ld.inst);
                        if let Some(slot) = instance_values.get_mut(index) {
                            slot.push(InstanceValue { reference, s_group: val.s_group, value: val.text.clone() });
                        }
                    }
                }
                let Some(text) = initial_value(&dai.values).filter(|_| indexes.is_empty()) else { continue };
                if let Some(slot) = values.get_mut(index) {
                    *slot = Some(text.to_owned());
                }
            }
        }
        if !self.spend(expanded.leaves.len(), ln.pos, element) {
            return;
        }
        for ((leaf, value), instance_values) in expanded.leaves.iter().zip(values).zip(instance_values) {
            // A DA without fc was already reported while reading; it has no place in the model.
            let Some(fc) = leaf.fc else { continue };
            out.push(DataAttribute {
                reference: format!("{}/{}.{}", ld.inst, ln_name, leaf.path),
                ld_inst: ld.inst.clone(),
                ln_name: ln_name.clone(),
                fc,
                btype: leaf.btype,
                enum_type: leaf.enum_type.clone(),
                cdc: leaf.cdc.clone(),
                count: leaf.arrays.last().map_or(0, |&(_, length)| length),
                arrays: leaf.arrays.clone(),
                value,
                instance_values,
            });
        }
    }

    fn data_sets_and_control_blocks(&mut self, ied: &Ied, ld: &LDevice, ln: &LogicalNode, result: &mut ResolvedIed) {
        let ln_name = ln.name();
        for data_set in &ln.data_sets {
            let mut members = Vec::new();
            for fcda in &data_set.fcdas {
                let Some(fc) = fcda.fc else { continue };
                let read = self.fcda_as_read(ied, fcda);
                let reference = read.reference();
                let location = self.location(fcda.pos, "FCDA");
                // An FCDA may name an array element (`phsAHar(7)`); it covers that array's attributes.
                let below_ln = reference.split_once('.').map_or("", |(_, below)| below);
                let (plain, indexes) = match split_indexes(below_ln) {
                    Ok(split) => split,
                    Err(reason) => {
                        self.diagnostics.error(&location, Problem::InvalidIndex { path: reference, reason });
                        continue;
                    }
                };
                let attributes =
                    result.attributes_under(&format!("{}/{}{}{}.{plain}", read.ld_inst, read.prefix, read.ln_class, read.ln_inst), fc);
                let first = attributes.first().and_then(|&i| result.attributes.get(i));
                if let Some(Err(reason)) = first.map(|a| check_indexes(&plain, &a.arrays, &indexes)) {
                    self.diagnostics.error(&location, Problem::InvalidIndex { path: reference.clone(), reason });
                }
                if attributes.is_empty() {
                    let problem = Problem::UnresolvedFcda { reference: reference.clone(), fc: fc.to_string(), ied: ied.name.clone() };
                    self.diagnostics.error(&location, problem);
                }
                members.push(DataSetMember { reference, fc, attributes });
            }
            result.data_sets.push(ResolvedDataSet {
                ld_inst: ld.inst.clone(),
                ln_name: ln_name.clone(),
                name: data_set.name.clone(),
                members,
            });
        }
        let blocks = ln.report_controls.iter().map(|c| (&c.dat_set, c.pos, "ReportControl"));
        let blocks = blocks.chain(ln.gse_controls.iter().map(|c| (&c.dat_set, c.pos, "GSEControl")));
        let blocks = blocks.chain(ln.smv_controls.iter().map(|c| (&c.dat_set, c.pos, "SampledValueControl")));
        let blocks = blocks.chain(ln.log_controls.iter().map(|c| (&c.dat_set, c.pos, "LogControl")));
        for (dat_set, pos, element) in blocks {
            let Some(name) = dat_set else { continue };
            if !ln.data_sets.iter().any(|d| &d.name == name) {
                let location = self.location(pos, element);
                self.diagnostics.error(&location, Problem::UnknownDataSet { name: name.clone() });
            }
        }
    }

    /// The FCDA as it is read: an `ldInst` that is the LD's full name (IED name + inst, or its
    /// `ldName`) names that LD, and LLN0 has no instance number. Both are written by tools.
    fn fcda_as_read(&mut self, ied: &Ied, fcda: &Fcda) -> Fcda {
        let mut read = fcda.clone();
        let location = self.location(fcda.pos, "FCDA");
        if !ied.logical_devices().any(|ld| ld.inst == fcda.ld_inst) {
            let full_name = |ld: &LDevice| ld.ld_name.clone().unwrap_or_else(|| format!("{}{}", ied.name, ld.inst));
            if let Some(ld) = ied.logical_devices().find(|ld| full_name(ld) == fcda.ld_inst) {
                read.ld_inst = ld.inst.clone();
                self.diagnostics.warning(&location, Warning::FcdaLdName { written: fcda.ld_inst.clone(), ld_inst: ld.inst.clone() });
            }
        }
        if fcda.ln_class == "LLN0" && !fcda.ln_inst.is_empty() {
            read.ln_inst.clear();
            self.diagnostics.warning(&location, Warning::FcdaLn0Instance { written: fcda.ln_inst.clone() });
        }
        read
    }

    /// Communication entries for IEDs in this file must match them; entries for IEDs that are not
    /// in the file (a client, another vendor's IED) are worth a warning only.
    fn communication(&mut self, document: &SclDocument) {
        for subnetwork in &document.communication.subnetworks {
            for ap in &subnetwork.connected_aps {
                let ied = document.ieds.iter().find(|ied| ied.name == ap.ied_name);
                let Some(ied) = ied.filter(|ied| ied.access_points.iter().any(|a| a.name == ap.ap_name)) else {
                    let location = self.location(ap.pos, "ConnectedAP");
                    self.diagnostics.warning(&location, Warning::UnknownConnectedAp { ied: ap.ied_name.clone(), ap: ap.ap_name.clone() });
                    continue;
                };
                let blocks = ap.gse.iter().map(|b| (b, "GSE")).chain(ap.smv.iter().map(|b| (b, "SMV")));
                for (block, what) in blocks {
                    let ln0 = ied.logical_devices().find(|ld| ld.inst == block.ld_inst).and_then(|ld| ld.ln0.as_ref());
                    let exists = ln0.is_some_and(|ln0| match what {
                        "GSE" => ln0.gse_controls.iter().any(|c| c.name == block.cb_name),
                        _ => ln0.smv_controls.iter().any(|c| c.name == block.cb_name),
                    });
                    if !exists {
                        let location = self.location(block.pos, what);
                        let warning = Warning::UnknownControlBlockAddress {
                            what,
                            ied: ied.name.clone(),
                            ld_inst: block.ld_inst.clone(),
                            cb_name: block.cb_name.clone(),
                        };
                        self.diagnostics.warning(&location, warning);
                    }
                }
            }
        }
    }
}

impl Resolver<'_> {
    /// An `<ExtRef>` bound to an IED in this file must name data that IED has, and a source
    /// control block it has; an input whose binding leads nowhere is read as not bound (what an
    /// ExtRef without `iedName` legally is). Bindings to IEDs not in the file are left alone.
    fn inputs(&mut self, document: &SclDocument, resolved: &[ResolvedIed]) {
        for ied in &document.ieds {
            for ext_ref in ied.logical_devices().flat_map(|ld| ld.logical_nodes()).flat_map(|ln| ln.inputs.iter()) {
                let Some(source_name) = ext_ref.ied_name.as_deref() else { continue };
                let (Some(source), Some(source_ied)) = (resolved.iter().find(|r| r.name == source_name), document.ied(source_name)) else {
                    continue;
                };
                let location = self.location(ext_ref.pos, "ExtRef");
                if let Some(reference) = ext_ref.source_reference().filter(|reference| !source.has_data(reference)) {
                    self.diagnostics.warning(&location, Warning::UnresolvedExtRef { ied: source_name.to_owned(), source_ref: reference });
                }
                let Some(cb_name) = &ext_ref.src_cb_name else { continue };
                let ld_inst = ext_ref.src_ld_inst.as_ref().or(ext_ref.ld_inst.as_ref()).cloned().unwrap_or_default();
                let ln_name = format!("{}{}{}", ext_ref.src_prefix, ext_ref.src_ln_class.as_deref().unwrap_or("LLN0"), ext_ref.src_ln_inst);
                let exists = source_ied
                    .logical_devices()
                    .filter(|ld| ld.inst == ld_inst)
                    .flat_map(|ld| ld.logical_nodes())
                    .filter(|ln| ln.name() == ln_name)
                    .any(|ln| {
                        ln.gse_controls.iter().any(|c| &c.name == cb_name)
                            || ln.smv_controls.iter().any(|c| &c.name == cb_name)
                            || ln.report_controls.iter().any(|c| &c.name == cb_name)
                    });
                if !exists {
                    let control_block = format!("{ld_inst}/{ln_name}.{cb_name}");
                    self.diagnostics.warning(&location, Warning::UnknownSourceControlBlock { ied: source_name.to_owned(), control_block });
                }
            }
        }
    }

    /// An `<LNode>` bound to an IED in this file should name one of its logical nodes (OpenSCD
    /// keeps LNodes whose LN was removed: they place nothing); LNodes for IEDs not in the file (an
    /// SSD, a partial SCD) are left alone.
    fn lnode_references(&mut self, document: &SclDocument) {
        for placement in document.lnode_placements() {
            let lnode = &placement.lnode;
            let Some(ied) = document.ied(&lnode.ied_name) else { continue };
            let ln_name = lnode.ln_name();
            let found =
                ied.logical_devices().filter(|ld| ld.inst == lnode.ld_inst).any(|ld| ld.logical_nodes().any(|ln| ln.name() == ln_name));
            if !found {
                let location = self.location(lnode.pos, "LNode");
                let warning = Warning::UnknownLNode { ied: ied.name.clone(), ld_inst: lnode.ld_inst.clone(), ln_name };
                self.diagnostics.warning(&location, warning);
            }
        }
    }
}

fn ln_element(ln: &LogicalNode) -> &'static str {
    if ln.ln_class == "LLN0" { "LN0" } else { "LN" }
}

fn kind_element(kind: TypeKind) -> &'static str {
    match kind {
        TypeKind::LNodeType => "LNodeType",
        TypeKind::DOType => "DOType",
        TypeKind::DAType => "DAType",
        TypeKind::EnumType => "EnumType",
    }
}

// Shapes: what two definitions with the same id must agree on (everything but positions).
fn lnode_type_shape(t: &LNodeType) -> String {
    let dos: Vec<_> = t.data_objects.iter().map(|d| (&d.name, &d.type_id, d.count)).collect();
    format!("{}{dos:?}", t.ln_class)
}

fn attribute_shape(a: &AttributeDef) -> String {
    format!("{:?}", (&a.name, a.btype, &a.type_id, a.fc, a.count, a.dchg, a.qchg, a.dupd, &a.values))
}

fn do_type_shape(t: &DoType) -> String {
    let children: Vec<String> = t
        .children
        .iter()
        .map(|child| match child {
            DoTypeChild::Sdo(sdo) => format!("SDO{:?}", (&sdo.name, &sdo.type_id, sdo.count)),
            DoTypeChild::Da(da) => attribute_shape(da),
        })
        .collect();
    format!("{}{children:?}", t.cdc)
}

fn da_type_shape(t: &DaType) -> String {
    let bdas: Vec<String> = t.bdas.iter().map(attribute_shape).collect();
    format!("{bdas:?}")
}

/// Whether `text` is a valid `<Val>` for an attribute of this basic type.
fn value_fits(btype: BasicType, enum_id: Option<&str>, enum_values: Option<&[EnumVal]>, text: &str) -> Result<(), String> {
    let trimmed = text.trim();
    let integer = |min: i128, max: i128| match trimmed.parse::<i128>() {
        Ok(v) if (min..=max).contains(&v) => Ok(()),
        _ => Err(format!("expected an integer from {min} to {max}")),
    };
    let max_len = |limit: usize| {
        if text.chars().count() <= limit { Ok(()) } else { Err(format!("longer than {limit} characters")) }
    };
    match btype {
        BasicType::Boolean => match trimmed {
            "true" | "false" | "1" | "0" => Ok(()),
            _ => Err("expected true or false".to_owned()),
        },
        BasicType::Int8 => integer(i8::MIN.into(), i8::MAX.into()),
        BasicType::Int16 => integer(i16::MIN.into(), i16::MAX.into()),
        BasicType::Int24 => integer(-(1 << 23), (1 << 23) - 1),
        BasicType::Int32 => integer(i32::MIN.into(), i32::MAX.into()),
        BasicType::Int64 => integer(i64::MIN.into(), i64::MAX.into()),
        BasicType::Int128 => integer(i128::MIN, i128::MAX),
        BasicType::Int8U => integer(0, u8::MAX.into()),
        BasicType::Int16U => integer(0, u16::MAX.into()),
        BasicType::Int24U => integer(0, (1 << 24) - 1),
        BasicType::Int32U => integer(0, u32::MAX.into()),
        BasicType::Float32 | BasicType::Float64 => match trimmed.parse::<f64>() {
            Ok(_) => Ok(()),
            Err(_) => Err("expected a number".to_owned()),
        },
        BasicType::Enum => {
            let values = enum_values.unwrap_or_default();
            if values.iter().any(|v| v.name == trimmed) {
                Ok(())
            } else {
                let names: Vec<&str> = values.iter().map(|v| v.name.as_str()).collect();
                Err(format!("not a value of EnumType `{}` ({})", enum_id.unwrap_or_default(), names.join(", ")))
            }
        }
        BasicType::VisString32 => max_len(32),
        BasicType::VisString64 => max_len(64),
        BasicType::VisString65 => max_len(65),
        BasicType::VisString129 | BasicType::ObjRef => max_len(129),
        BasicType::VisString255 | BasicType::Unicode255 => max_len(255),
        _ => Ok(()),
    }
}
