//! The merged graph: every file's descriptions folded into one object per mRID.
//!
//! CGMES splits one object across profiles: EQ defines a `Terminal` (`rdf:ID`), TP adds its
//! topological node, SSH its `connected` flag (`rdf:about`). The graph keeps, per mRID, the class
//! from the defining element and every statement with the file and line it came from, so the
//! typed layer can name the source of a bad value and [`RdfGraph::check_references`] can name the
//! source of a dangling reference.

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;

use serde::Serialize;

use crate::diagnostic::{Diagnostic, DiagnosticKind};
use crate::error::CgmesError;
use crate::names::{Interner, Sym};
use crate::progress::{ImportProgress, ProgressUpdate};
use crate::rdfxml::{Description, RdfXmlReader, Subject, Value};
use crate::version::CgmesVersion;

/// Where a statement was made: an index into [`RdfGraph::files`] and a 1-based line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    /// Index into [`RdfGraph::files`].
    pub file: u32,
    /// 1-based line (saturates at `u32::MAX`).
    pub line: u32,
}

/// One property of one object, with its source.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// Canonical property name.
    pub predicate: Sym,
    /// What it says.
    pub value: Value,
    /// Where it was said.
    pub origin: Origin,
}

/// Everything all files say about one mRID.
#[derive(Debug, Clone)]
pub struct Object {
    /// The mRID (without `_`).
    pub mrid: Box<str>,
    /// The class from the defining element; from the first description while undefined.
    pub class: Sym,
    /// The defining element (`rdf:ID`), if any file defines the object.
    pub defined_at: Option<Origin>,
    /// The statements of all files, in reading order.
    pub statements: Vec<Statement>,
}

/// The `md:FullModel` header of one file: which profile it is and what it depends on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FullModelHeader {
    /// The model's identifier (`urn:uuid:` removed).
    pub id: String,
    /// 1-based line of the `md:FullModel` element.
    pub line: u64,
    /// `md:Model.profile` URIs (e.g. `http://entsoe.eu/CIM/EquipmentCore/3/1`).
    pub profiles: Vec<String>,
    /// `md:Model.DependentOn` model identifiers.
    pub dependent_on: Vec<String>,
    /// `md:Model.Supersedes` model identifiers.
    pub supersedes: Vec<String>,
    /// `md:Model.modelingAuthoritySet`.
    pub modeling_authority_set: Option<String>,
    /// `md:Model.created`.
    pub created: Option<String>,
    /// `md:Model.scenarioTime`.
    pub scenario_time: Option<String>,
    /// `md:Model.version`.
    pub version: Option<String>,
}

/// One imported file: its name, size, header and how many objects of each class it describes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SourceFile {
    /// The name used in errors and diagnostics.
    pub name: String,
    /// Bytes read.
    pub bytes: u64,
    /// The `md:FullModel` header, if the file has one.
    pub header: Option<FullModelHeader>,
    /// The CGMES edition: from the namespace of the object elements, else from the header's
    /// profile URIs; `None` when neither names one.
    pub version: Option<CgmesVersion>,
    /// Object elements (`rdf:ID` and `rdf:about`, the header included) per canonical class name.
    pub class_counts: BTreeMap<String, u64>,
}

/// All files merged into one object per mRID.
#[derive(Debug, Default)]
pub struct RdfGraph {
    names: Interner,
    files: Vec<SourceFile>,
    objects: Vec<Object>,
    index: HashMap<Box<str>, usize>,
    diagnostics: Vec<Diagnostic>,
}

/// Progress is reported at least this often (and at every 1 % of a file of known size).
const PROGRESS_STEP: u64 = 256 * 1024;

impl RdfGraph {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads one RDF/XML file into the graph. `total_bytes` (if known) is passed to `progress`.
    pub fn read_file<R: BufRead>(
        &mut self,
        name: &str,
        source: R,
        total_bytes: Option<u64>,
        progress: &mut dyn ImportProgress,
    ) -> Result<(), CgmesError> {
        let file_index = u32::try_from(self.files.len()).unwrap_or(u32::MAX);
        self.files.push(SourceFile { name: name.to_owned(), ..SourceFile::default() });
        let step = total_bytes.map_or(PROGRESS_STEP, |t| (t / 100).clamp(1, PROGRESS_STEP));
        let mut reader = RdfXmlReader::new(source, name);
        progress.report(ProgressUpdate { file: name, bytes_read: 0, total_bytes });
        let mut last_report = 0;
        while let Some(description) = reader.next_description(&mut self.names)? {
            self.add_description(file_index, description);
            let read = reader.bytes_read();
            if read - last_report >= step {
                progress.report(ProgressUpdate { file: name, bytes_read: read, total_bytes });
                last_report = read;
            }
        }
        let read = reader.bytes_read();
        progress.report(ProgressUpdate { file: name, bytes_read: read, total_bytes });
        let mut found = reader.cim_versions().to_vec();
        if let Some(file) = self.files.last_mut() {
            file.bytes = read;
            let from_header = file.header.iter().flat_map(|h| &h.profiles).filter_map(|p| CgmesVersion::of_profile(p));
            for version in from_header {
                if !found.contains(&version) {
                    found.push(version);
                }
            }
            file.version = found.first().copied();
            if found.len() > 1 {
                let line = file.header.as_ref().map_or(1, |h| h.line);
                self.diagnostics.push(Diagnostic {
                    file: name.to_owned(),
                    line,
                    element: "rdf:RDF".to_owned(),
                    kind: DiagnosticKind::MixedVersions { found },
                });
            }
        }
        tracing::debug!(file = name, bytes = read, "CGMES file read");
        Ok(())
    }

    fn add_description(&mut self, file: u32, description: Description) {
        let class_name = self.names.name(description.class).to_owned();
        if let Some(source) = usize::try_from(file).ok().and_then(|i| self.files.get_mut(i)) {
            *source.class_counts.entry(class_name.clone()).or_default() += 1;
        }
        if class_name == "md:FullModel" {
            let header = self.header_of(&description);
            if let Some(source) = usize::try_from(file).ok().and_then(|i| self.files.get_mut(i)) {
                source.header = Some(header);
            }
            return;
        }
        let origin = Origin { file, line: u32::try_from(description.line).unwrap_or(u32::MAX) };
        let mrid = description.subject.mrid();
        let position = match self.index.get(mrid) {
            Some(&i) => i,
            None => {
                self.objects.push(Object { mrid: mrid.into(), class: description.class, defined_at: None, statements: Vec::new() });
                self.index.insert(mrid.into(), self.objects.len() - 1);
                self.objects.len() - 1
            }
        };
        let Some(object) = self.objects.get_mut(position) else { return };
        if let Subject::Defined(_) = description.subject {
            if let Some(first) = object.defined_at {
                let first_file = self.files.get(first.file as usize).map_or_else(String::new, |f| f.name.clone());
                self.diagnostics.push(Diagnostic {
                    file: self.files.get(file as usize).map_or_else(String::new, |f| f.name.clone()),
                    line: description.line,
                    element: class_name,
                    kind: DiagnosticKind::DuplicateDefinition { mrid: mrid.to_owned(), first_file, first_line: u64::from(first.line) },
                });
            } else {
                object.defined_at = Some(origin);
                object.class = description.class;
            }
        }
        object.statements.extend(description.properties.into_iter().map(|p| Statement {
            predicate: p.predicate,
            value: p.value,
            origin: Origin { file, line: u32::try_from(p.line).unwrap_or(u32::MAX) },
        }));
    }

    fn header_of(&self, description: &Description) -> FullModelHeader {
        let mut header =
            FullModelHeader { id: description.subject.mrid().to_owned(), line: description.line, ..FullModelHeader::default() };
        for property in &description.properties {
            let text = match &property.value {
                Value::Literal(s) | Value::Reference(s) | Value::Iri(s) => s.clone(),
            };
            match self.names.name(property.predicate) {
                "md:Model.profile" => header.profiles.push(text),
                "md:Model.DependentOn" => header.dependent_on.push(crate::names::mrid_of(&text).to_owned()),
                "md:Model.Supersedes" => header.supersedes.push(text),
                "md:Model.modelingAuthoritySet" => header.modeling_authority_set = Some(text),
                "md:Model.created" => header.created = Some(text),
                "md:Model.scenarioTime" => header.scenario_time = Some(text),
                "md:Model.version" => header.version = Some(text),
                _ => {}
            }
        }
        header
    }

    /// Adds a diagnostic for every reference to an mRID no file mentions, for every object
    /// that files describe (`rdf:about`) but none defines, and for every `md:Model.DependentOn`
    /// naming a model that was not imported. Call once, after the last file.
    pub fn check_references(&mut self) {
        let mut found = Vec::new();
        let models: std::collections::HashSet<&str> = self.files.iter().filter_map(|f| f.header.as_ref()).map(|h| h.id.as_str()).collect();
        for file in &self.files {
            let Some(header) = &file.header else { continue };
            for dependency in header.dependent_on.iter().filter(|d| !models.contains(d.as_str())) {
                found.push(Diagnostic {
                    file: file.name.clone(),
                    line: header.line,
                    element: "md:Model.DependentOn".to_owned(),
                    kind: DiagnosticKind::MissingDependency { model: header.id.clone(), dependency: dependency.clone() },
                });
            }
        }
        for object in &self.objects {
            if object.defined_at.is_none() {
                if let Some(first) = object.statements.first() {
                    found.push(self.diagnostic_at(
                        first.origin,
                        self.names.name(object.class),
                        DiagnosticKind::NotDefined { mrid: object.mrid.to_string(), class: self.names.name(object.class).to_owned() },
                    ));
                }
            }
            for statement in &object.statements {
                if let Value::Reference(target) = &statement.value {
                    if !self.index.contains_key(target.as_str()) {
                        found.push(self.diagnostic_at(
                            statement.origin,
                            self.names.name(statement.predicate),
                            DiagnosticKind::UnresolvedReference { from: object.mrid.to_string(), missing: target.clone() },
                        ));
                    }
                }
            }
        }
        self.diagnostics.extend(found);
    }

    /// A diagnostic located at `origin`.
    pub(crate) fn diagnostic_at(&self, origin: Origin, element: &str, kind: DiagnosticKind) -> Diagnostic {
        Diagnostic { file: self.file_name(origin.file).to_owned(), line: u64::from(origin.line), element: element.to_owned(), kind }
    }

    /// The name of the file at `index`.
    pub fn file_name(&self, index: u32) -> &str {
        usize::try_from(index).ok().and_then(|i| self.files.get(i)).map_or("", |f| f.name.as_str())
    }

    /// The object with this mRID.
    pub fn object(&self, mrid: &str) -> Option<&Object> {
        self.index.get(mrid).and_then(|&i| self.objects.get(i))
    }

    /// All objects in the order they were first seen.
    pub fn objects(&self) -> &[Object] {
        &self.objects
    }

    /// The files read, in order.
    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }

    /// The canonical names of classes and properties.
    pub fn names(&self) -> &Interner {
        &self.names
    }

    /// Diagnostics so far.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    /// Hands the diagnostics over (the typed model keeps them).
    pub(crate) fn take_diagnostics(&mut self) -> Vec<Diagnostic> {
        std::mem::take(&mut self.diagnostics)
    }
}
