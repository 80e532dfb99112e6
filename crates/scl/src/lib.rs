//! # gridtrust-scl: SCL import (IEC 61850-6 Ed.2)
//!
//! Reads ICD, IID, CID, SCD and SSD files into a typed model and resolves it into what a client of
//! each IED needs: every data attribute as `LD/LN.DO.DA` with functional constraint, basic type,
//! configured value, values per setting group and per array element; data sets matched to those
//! attributes; report, log, GOOSE and sampled value control blocks; setting groups; inputs
//! (`ExtRef`) with their bindings checked; the IP address and port from the Communication
//! section. The Substation section is kept too, with functions and general equipment, and
//! [`SclDocument::lnode_placements`] maps logical nodes to where they sit for the CIM join.
//!
//! ## Tolerant by default, strict on request
//!
//! Files that the tools engineers use write and accept (OpenSCD, IEC61850bean, libiec61850's
//! model generator, vendors' configurators) often deviate from IEC 61850-6 in ways that have one
//! clear reading. [`import_bytes`] and [`import_file`] read them that way and return each
//! deviation as a typed [`Warning`] ([`SclWarning`]: file, line, column, element, and a message
//! that says how it was read), e.g. `FCDA ldInst `Relay1LD0` is the LD's full name; read as LD
//! `LD0``. [`Mode::Strict`] ([`import_bytes_as`], [`import_file_as`]) makes every deviation an
//! error ([`Problem::Strict`]), for conformance checks. The deviations read, one [`Warning`]
//! variant each: a missing `<Header>`; an FCDA `ldInst` that is the LD's full name; an FCDA naming
//! LLN0 with an instance number; an empty `datSet`; an empty LogControl `logName`; an LN whose
//! class differs from its LNodeType's; a DOI or DAI that the LN's type does not have; an LDevice
//! without LN0; a Struct DA without `type`; a `<Val>` for a setting group that does not exist;
//! an ExtRef binding or source control block that leads nowhere; an LNode naming a logical node
//! that is not there; a GSE/SMV address or ConnectedAP for something not in the file; a template
//! defined twice identically; an EnumType without values; a broken template that no IED uses.
//!
//! Input that has no safe reading fails with [`SclErrors`]: every problem found in one pass (not
//! just the first), each naming file, line, column and element ([`SclError`], [`Problem`]): an
//! undefined or conflicting type, a type cycle, a value that does not fit its type, an array
//! index outside its array, a missing name, a data set member or control block data set that does
//! not exist. Malformed XML stops reading at the first syntax error; everything else is collected.
//!
//! - [`model`]: the document types ([`SclDocument`], [`Ied`], [`LDevice`], [`LogicalNode`],
//!   [`DataTypeTemplates`], [`Substation`], [`Communication`], ...), `serde::Serialize` for JSON.
//! - [`resolve`]: [`ResolvedIed`], [`DataAttribute`], [`ResolvedDataSet`] and the limits that keep
//!   hostile templates from exhausting stack or memory.
//! - [`placement`]: [`LNodePlacement`], the Substation section seen from the logical nodes.
//! - [`error`]: [`SclErrors`], [`SclError`], [`Problem`], [`SclWarning`], [`Warning`], [`Mode`],
//!   [`Location`].
//!
//! It does not validate against the XSD, check IEC 61850-7-4 semantics (mandatory data objects
//! per LN class), read `Private` sections, expand arrays into their elements, or write SCL.
//!
//! ```
//! let scl = br#"<?xml version="1.0"?>
//! <SCL xmlns="http://www.iec.ch/61850/2003/SCL">
//!   <Header id="demo"/>
//!   <Communication><SubNetwork name="station"><ConnectedAP iedName="IED1" apName="AP1">
//!     <Address><P type="IP">192.0.2.10</P></Address></ConnectedAP></SubNetwork></Communication>
//!   <IED name="IED1"><AccessPoint name="AP1"><Server><LDevice inst="CTRL">
//!     <LN0 lnClass="LLN0" inst="" lnType="LLN0_T"/>
//!     <LN lnClass="XCBR" inst="1" lnType="XCBR_T"/>
//!   </LDevice></Server></AccessPoint></IED>
//!   <DataTypeTemplates>
//!     <LNodeType id="LLN0_T" lnClass="LLN0"/>
//!     <LNodeType id="XCBR_T" lnClass="XCBR"><DO name="Pos" type="DPS_T"/></LNodeType>
//!     <DOType id="DPS_T" cdc="DPS"><DA name="stVal" bType="Dbpos" fc="ST"/></DOType>
//!   </DataTypeTemplates>
//! </SCL>"#;
//! let import = gridtrust_scl::import_bytes("demo.cid", scl).expect("valid SCL");
//! let ied = import.ied("IED1").expect("IED1 is in the file");
//! let pos = ied.attribute("CTRL/XCBR1.Pos.stVal").expect("resolved");
//! assert_eq!((pos.fc.as_str(), pos.btype.as_str()), ("ST", "Dbpos"));
//! assert_eq!(import.document.mms_endpoints("IED1")[0].port, 102);
//!
//! // A broken file names file, line and element:
//! let broken = String::from_utf8_lossy(scl).replace(r#"type="DPS_T""#, r#"type="NOPE""#);
//! let errors = gridtrust_scl::import_bytes("demo.cid", broken.as_bytes()).unwrap_err();
//! assert_eq!(errors.errors[0].to_string(), "demo.cid:12:43: <DO>: DOType `NOPE` is not defined in DataTypeTemplates");
//! ```

pub mod error;
pub mod model;
mod parse;
pub mod placement;
pub mod resolve;
mod xml;

use std::path::Path;

pub use error::{Location, Mode, Problem, SclError, SclErrors, SclWarning, TypeKind, Warning};
pub use model::*;
pub use placement::LNodePlacement;
pub use resolve::{DataAttribute, DataSetMember, InstanceValue, ResolvedDataSet, ResolvedIed};

/// A successfully imported SCL file: the document as written, every IED resolved as read, and
/// the deviations that were read in their one clear way ([`Warning`]; none in [`Mode::Strict`]).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Import {
    pub document: SclDocument,
    pub ieds: Vec<ResolvedIed>,
    pub warnings: Vec<SclWarning>,
}

impl Import {
    /// The resolved IED with this name.
    pub fn ied(&self, name: &str) -> Option<&ResolvedIed> {
        self.ieds.iter().find(|ied| ied.name == name)
    }
}

/// Imports SCL from memory, tolerantly; `file` is the name errors and warnings will carry.
pub fn import_bytes(file: &str, bytes: &[u8]) -> Result<Import, SclErrors> {
    import_bytes_as(file, bytes, Mode::Tolerant)
}

/// Imports SCL from memory in the given [`Mode`].
pub fn import_bytes_as(file: &str, bytes: &[u8], mode: Mode) -> Result<Import, SclErrors> {
    let mut diagnostics = error::Diagnostics::new(mode);
    let document = parse::parse_document(file, bytes, &mut diagnostics);
    let ieds = match &document {
        Some(document) => resolve::resolve_document(document, &mut diagnostics),
        None => Vec::new(),
    };
    match document {
        Some(document) if diagnostics.errors.is_empty() => Ok(Import { document, ieds, warnings: diagnostics.warnings }),
        _ => Err(SclErrors { errors: diagnostics.errors, warnings: diagnostics.warnings }),
    }
}

/// Reads and imports an SCL file, tolerantly; errors and warnings carry the path as given.
pub fn import_file(path: impl AsRef<Path>) -> Result<Import, SclErrors> {
    import_file_as(path, Mode::Tolerant)
}

/// Reads and imports an SCL file in the given [`Mode`].
pub fn import_file_as(path: impl AsRef<Path>, mode: Mode) -> Result<Import, SclErrors> {
    let path = path.as_ref();
    let file = path.display().to_string();
    match std::fs::read(path) {
        Ok(bytes) => import_bytes_as(&file, &bytes, mode),
        Err(error) => {
            let location = Location { file: file.as_str().into(), line: 0, column: 0, element: "SCL" };
            Err(SclErrors { errors: vec![SclError { location, problem: Problem::Io(error.to_string()) }], warnings: Vec::new() })
        }
    }
}
