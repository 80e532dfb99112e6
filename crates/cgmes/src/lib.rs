//! CGMES 2.4.15 (IEC 61970-600) import for gridtrust's model registry.
//!
//! - [`rdfxml`]: a streaming reader for the RDF/XML subset of IEC 61970-552, on quick-xml; it
//!   yields one [`rdfxml::Description`] per object and counts lines so errors name file, line and
//!   element.
//! - [`graph`]: [`RdfGraph`] merges any number of files (EQ, TP, SSH, SV, DY, DL, GL and the
//!   boundary EQ_BD / TP_BD) into one object per mRID, keeps each statement's source, the
//!   `md:FullModel` headers and per-class object counts, and reports dangling references as
//!   [`Diagnostic`]s.
//! - [`model`]: [`CgmesModel`], typed objects (substations, voltage levels, bays, busbar sections,
//!   lines, transformers and their ends, switches, loads, generators, terminals, connectivity and
//!   topological nodes, measurements, operational limits) with lookups by mRID, containment,
//!   terminals and measurements per equipment; `Serialize` for JSON.
//! - [`import`]: [`Importer`] reads files, folders and zip archives, reporting
//!   [`progress`] per file.
//!
//! Not done here: writing CGMES, CGMES 3.0 (CIM 17/100) class names, RDF/XML beyond the CGMES
//! subset (nested node elements, `rdf:parseType`, `rdf:nodeID`), and DL/GL/DY semantics (those
//! profiles are read into the graph and counted but get no typed objects).

pub mod diagnostic;
pub mod error;
pub mod graph;
pub mod import;
pub mod model;
pub mod names;
pub mod progress;
pub mod rdfxml;

pub use diagnostic::{Diagnostic, DiagnosticKind};
pub use error::{CgmesError, RdfProblem};
pub use graph::{FullModelHeader, RdfGraph, SourceFile};
pub use import::{Importer, import_paths};
pub use model::*;
pub use progress::{ImportProgress, NoProgress, ProgressUpdate};
