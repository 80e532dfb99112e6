//! What went wrong and where: every problem names the file, the line and column of the element's
//! `<`, and the element, so an engineer can open the SCL file at the right place.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

/// Where a problem sits in an SCL file. Lines and columns count from 1; the column counts bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Location {
    /// The file name given to the importer (usually the path the file was read from).
    #[serde(serialize_with = "serialize_file")]
    pub file: Arc<str>,
    pub line: u32,
    pub column: u32,
    /// The SCL element, e.g. `LN`, `DAI`, `FCDA`; `SCL` for problems of the whole document.
    pub element: &'static str,
}

fn serialize_file<S: serde::Serializer>(file: &Arc<str>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(file)
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: <{}>", self.file, self.line, self.column, self.element)
    }
}

/// One problem found in an SCL file that has no safe reading.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, thiserror::Error)]
#[error("{location}: {problem}")]
pub struct SclError {
    pub location: Location,
    pub problem: Problem,
}

/// The kinds of template a type reference can point to; named in unresolved-reference errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum TypeKind {
    LNodeType,
    DOType,
    DAType,
    EnumType,
}

impl fmt::Display for TypeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TypeKind::LNodeType => "LNodeType",
            TypeKind::DOType => "DOType",
            TypeKind::DAType => "DAType",
            TypeKind::EnumType => "EnumType",
        })
    }
}

/// What is wrong. Each variant carries the names and values an engineer needs to fix the file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, thiserror::Error)]
pub enum Problem {
    #[error("cannot read the file: {0}")]
    Io(String),
    #[error("XML is not well-formed: {0}")]
    Syntax(String),
    #[error("the root element is <{0}>, an SCL file starts with <SCL>")]
    NotScl(String),
    #[error("required attribute `{0}` is missing")]
    MissingAttribute(&'static str),
    #[error("attribute `{attribute}` has the invalid value `{value}`: {reason}")]
    InvalidAttribute { attribute: &'static str, value: String, reason: String },
    #[error("{kind} `{id}` is not defined in DataTypeTemplates")]
    UnresolvedType { kind: TypeKind, id: String },
    #[error("{kind} `{id}` is defined again here, differently from its first definition at line {first_line}")]
    ConflictingDuplicate { kind: TypeKind, id: String, first_line: u32 },
    #[error("{what} `{name}` is declared twice (first at line {first_line})")]
    DuplicateName { what: &'static str, name: String, first_line: u32 },
    #[error("type reference cycle: {}", cycle.join(" -> "))]
    TypeCycle { cycle: Vec<String> },
    #[error("types nest deeper than {limit} levels below `{id}`")]
    NestingTooDeep { id: String, limit: usize },
    #[error("the model expands to more than {limit} data attributes")]
    TooManyAttributes { limit: usize },
    #[error("value `{value}` is not valid for {btype}: {reason}")]
    InvalidValue { value: String, btype: String, reason: String },
    #[error("`{path}`: {reason}")]
    InvalidIndex { path: String, reason: String },
    #[error("data set `{name}` does not exist in this logical node")]
    UnknownDataSet { name: String },
    #[error("FCDA `{reference}` [{fc}] matches no data attribute of IED `{ied}`")]
    UnresolvedFcda { reference: String, fc: String, ied: String },
    #[error("element nests deeper than {0} levels")]
    ElementTooDeep(usize),
    /// A deviation that has one clear reading, refused because the import was strict.
    #[error("{0} (refused in strict mode)")]
    Strict(Box<Warning>),
}

/// A deviation from IEC 61850-6 that has one clear reading: the import goes on with that reading
/// (each message says which) and reports it, because tools engineers use (OpenSCD, IEC61850bean,
/// libiec61850's model generator, vendors' configurators) write and accept such files.
/// [`Mode::Strict`] turns every one of them into an error ([`Problem::Strict`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, thiserror::Error)]
pub enum Warning {
    #[error("the file has no <Header>; read with an empty header id")]
    MissingHeader,
    #[error("{kind} `{id}` is defined again here, identical to its first definition at line {first_line}; the first is used")]
    IdenticalDuplicate { kind: TypeKind, id: String, first_line: u32 },
    #[error("EnumType `{0}` has no EnumVal (the schema requires at least one); read as an enumeration without names")]
    EmptyEnumType(String),
    #[error("EnumType `{0}` is not defined in DataTypeTemplates; read as an enumeration without names (ordinals only)")]
    UndefinedEnumType(String),
    #[error("ConnectedAP names IED `{ied}` access point `{ap}`, which is not in this file; left out")]
    UnknownConnectedAp { ied: String, ap: String },
    #[error("in a template that no IED uses: {0}")]
    InUnusedTemplate(Box<Problem>),
    #[error("LN of class `{ln_class}` uses LNodeType `{ln_type}`, which is for class `{type_class}`; read with that type's data objects")]
    LnClassMismatch { ln_class: String, ln_type: String, type_class: String },
    #[error("FCDA ldInst `{written}` is the LD's full name; read as LD `{ld_inst}`")]
    FcdaLdName { written: String, ld_inst: String },
    #[error("FCDA names LLN0 with lnInst `{written}`; LLN0 has no instance number, read as LLN0")]
    FcdaLn0Instance { written: String },
    #[error("{element} has an empty datSet; read as a control block without a data set")]
    EmptyDatSet { element: &'static str },
    #[error("Val for setting group {group}, which does not exist (the LD's SettingControl has numOfSGs {setting_groups}); ignored")]
    UnknownSettingGroup { group: u32, setting_groups: u32 },
    #[error("LogControl has an empty logName; read as a log control block that logs nowhere")]
    EmptyLogName,
    #[error("ExtRef is bound to `{source_ref}` of IED `{ied}`, which that IED does not have; read as not bound")]
    UnresolvedExtRef { ied: String, source_ref: String },
    #[error(
        "ExtRef names control block `{control_block}` of IED `{ied}` as its source, which that IED does not have; read without source control block"
    )]
    UnknownSourceControlBlock { ied: String, control_block: String },
    #[error("LDevice has no LN0; read as a logical device without LLN0")]
    MissingLn0,
    #[error("DA `{0}` is a Struct without `type`; read as a structure with no attributes")]
    StructWithoutType(String),
    #[error("DOI `{name}` is not a data object of LNodeType `{ln_type}`; ignored with its DAIs")]
    UnknownDoi { name: String, ln_type: String },
    #[error("DAI `{path}` is not a data attribute with a basic type in LNodeType `{ln_type}`; ignored{}", value.as_ref().map(|v| format!(", so its value `{v}` is not applied")).unwrap_or_default())]
    UnknownDai { path: String, ln_type: String, value: Option<String> },
    #[error("LNode refers to logical node `{ld_inst}/{ln_name}` of IED `{ied}`, which that IED does not have; it places nothing")]
    UnknownLNode { ied: String, ld_inst: String, ln_name: String },
    #[error("{what} address names control block `{ld_inst}/{cb_name}`, which IED `{ied}` does not have; left out")]
    UnknownControlBlockAddress { what: &'static str, ied: String, ld_inst: String, cb_name: String },
}

/// How to treat deviations ([`Warning`]s).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub enum Mode {
    /// Read what has one clear reading, report it as a warning: what tools engineers use accept.
    #[default]
    Tolerant,
    /// Every deviation is an error: for conformance checks of files one's own tools wrote.
    Strict,
}

/// A deviation found in an SCL file, where it is, and (in its message) how it was read.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, thiserror::Error)]
#[error("{location}: {warning}")]
pub struct SclWarning {
    pub location: Location,
    pub warning: Warning,
}

/// All errors of a failed import (at least one), plus the warnings found on the way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
pub struct SclErrors {
    pub errors: Vec<SclError>,
    pub warnings: Vec<SclWarning>,
}

impl fmt::Display for SclErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} error(s) in SCL", self.errors.len())?;
        for error in &self.errors {
            write!(f, "\n  {error}")?;
        }
        Ok(())
    }
}

/// Collects problems without duplicates (a broken template used by many logical nodes is named
/// once), keeping the order in which they were found.
#[derive(Debug, Default)]
pub(crate) struct Diagnostics {
    pub errors: Vec<SclError>,
    pub warnings: Vec<SclWarning>,
    seen_errors: std::collections::HashSet<SclError>,
    seen_warnings: std::collections::HashSet<SclWarning>,
    pub mode: Mode,
    /// While set, errors are recorded as warnings: a broken template that no IED uses does not
    /// change any IED's model (tools such as libiec61850 ignore it), but the engineer should know.
    pub unused_templates: bool,
}

impl Diagnostics {
    pub fn new(mode: Mode) -> Self {
        Diagnostics { mode, ..Diagnostics::default() }
    }

    pub fn error(&mut self, location: &Location, problem: Problem) {
        if self.unused_templates {
            return self.warning(location, Warning::InUnusedTemplate(Box::new(problem)));
        }
        let error = SclError { location: location.clone(), problem };
        if self.seen_errors.insert(error.clone()) {
            self.errors.push(error);
        }
    }

    /// Records a deviation: a warning, or in strict mode an error.
    pub fn warning(&mut self, location: &Location, warning: Warning) {
        if self.mode == Mode::Strict {
            let error = SclError { location: location.clone(), problem: Problem::Strict(Box::new(warning)) };
            if self.seen_errors.insert(error.clone()) {
                self.errors.push(error);
            }
            return;
        }
        let warning = SclWarning { location: location.clone(), warning };
        if self.seen_warnings.insert(warning.clone()) {
            self.warnings.push(warning);
        }
    }
}
