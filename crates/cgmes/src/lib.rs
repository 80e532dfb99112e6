//! CGMES import for gridtrust's model registry: CGMES 2.4.15 (IEC 61970-600, CIM 16) and CGMES 3.0
//! (IEC 61970-600-2, CIM 100), read into one typed model of the same shape for both.
//!
//! - [`rdfxml`]: a streaming reader for the RDF/XML subset of IEC 61970-552, on quick-xml; it
//!   yields one [`rdfxml::Description`] per object and counts lines so errors name file, line and
//!   element.
//! - [`names`]: canonical names; CIM 16 and CIM 100 both become `cim:`, the ENTSO-E 2.4.15
//!   extension `entsoe:` and the CGMES 3.0 European extension `eu:`.
//! - [`version`]: [`CgmesVersion`], detected per file from the namespace of its objects (else from
//!   its `md:Model.profile` URIs) and kept in [`SourceFile::version`]; a file mixing editions is
//!   reported as a [`Diagnostic`].
//! - [`graph`]: [`RdfGraph`] merges any number of files (EQ, TP, SSH, SV, DY, DL, GL and the
//!   boundary EQ_BD / TP_BD, or their CGMES 3.0 counterparts) into one object per mRID, keeps each
//!   statement's source, the `md:FullModel` headers and per-class object counts, and reports
//!   dangling references as [`Diagnostic`]s.
//! - [`model`]: [`CgmesModel`], typed objects (substations, voltage levels, bays, busbar sections,
//!   lines, transformers and their ends, switches, loads, generators, terminals, connectivity and
//!   topological nodes, measurements, operational limits, in-service flags from SSH and SV, solved
//!   switch states from the 3.0 `SvSwitch`) with lookups by mRID, containment, terminals and
//!   measurements per equipment; `Serialize` for JSON. Where CGMES 3.0 renamed or split a property
//!   (`eu:` names, `OperationalLimitType.kind`, limits' `normalValue` in EQ and `value` in SSH,
//!   `eu:BoundaryPoint` instead of the `boundaryPoint` flag) the typed field reads either edition.
//! - [`layout`]: DL diagrams and diagram objects with their points, GL locations with their
//!   position points and coordinate systems, looked up by the mRID of the object they place
//!   ([`CgmesModel::diagram_objects_of`], [`CgmesModel::locations_of`]).
//! - [`import`]: [`Importer`] reads files, folders and zip archives, reporting
//!   [`progress`] per file.
//!
//! Not done here: writing CGMES; RDF/XML beyond the CGMES subset (nested node elements,
//! `rdf:parseType`, `rdf:nodeID`); the CGMES 3.0 header as `dcat:Dataset` (only `md:FullModel` is
//! read); the attributes of a 3.0 `eu:BoundaryPoint` beyond the node it marks (from/to ISO codes
//! and names); CIM 100 properties new in 3.0 with no typed field here (e.g. `Switch.locked`); the
//! 2.4.15 TP_BD `TopologicalNode.boundaryPoint` has no 3.0 counterpart (3.0 has no TP boundary);
//! DY semantics; DL styles, glue points and visibility layers. DL and GL are read and exposed, not
//! rendered: drawing is for the consumer.

pub mod diagnostic;
pub mod error;
pub mod graph;
pub mod import;
pub mod layout;
pub mod model;
pub mod names;
pub mod progress;
pub mod rdfxml;
pub mod version;

pub use diagnostic::{Diagnostic, DiagnosticKind};
pub use error::{CgmesError, RdfProblem};
pub use graph::{FullModelHeader, RdfGraph, SourceFile};
pub use import::{Importer, import_paths};
pub use layout::{CoordinateSystem, Diagram, DiagramObject, Location, Point};
pub use model::*;
pub use progress::{ImportProgress, NoProgress, ProgressUpdate};
pub use version::CgmesVersion;
