//! Findings that do not stop an import but must not be lost: dangling references, objects only
//! described by reference, duplicate definitions. Each names file, line and element.

use std::fmt;

use serde::Serialize;

use crate::version::CgmesVersion;

/// One finding, located in the file that caused it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// The file.
    pub file: String,
    /// 1-based line.
    pub line: u64,
    /// The element: a canonical property name for references, a class name for objects.
    pub element: String,
    /// What was found.
    pub kind: DiagnosticKind,
}

/// What a [`Diagnostic`] is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DiagnosticKind {
    /// A reference to an mRID that no imported file defines or describes (a missing profile or
    /// boundary set, or a broken model).
    UnresolvedReference {
        /// The object holding the reference.
        from: String,
        /// The mRID nobody defines.
        missing: String,
    },
    /// An object described by `rdf:about` that no imported file defines with `rdf:ID`.
    NotDefined {
        /// Its mRID.
        mrid: String,
        /// The class its description used.
        class: String,
    },
    /// A second `rdf:ID` for the same mRID; the first definition's class is kept.
    DuplicateDefinition {
        /// The mRID.
        mrid: String,
        /// Where it was first defined.
        first_file: String,
        /// Line of the first definition.
        first_line: u64,
    },
    /// A file's `md:Model.DependentOn` names a model that none of the imported files is (the
    /// boundary set or the EQ a TP/SSH/SV depends on was not given).
    MissingDependency {
        /// The header's model id.
        model: String,
        /// The model id it depends on.
        dependency: String,
    },
    /// A file whose object namespaces or header profile URIs belong to more than one CGMES
    /// edition; the file is read with the first edition seen in its object elements.
    MixedVersions {
        /// The editions, in order of first sight (objects before header).
        found: Vec<CgmesVersion>,
    },
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: <{}>: ", self.file, self.line, self.element)?;
        match &self.kind {
            DiagnosticKind::UnresolvedReference { from, missing } => {
                write!(f, "{from} refers to {missing}, which no imported file defines")
            }
            DiagnosticKind::NotDefined { mrid, class } => write!(f, "{class} {mrid} is described by reference but never defined"),
            DiagnosticKind::DuplicateDefinition { mrid, first_file, first_line } => {
                write!(f, "{mrid} is defined again (first at {first_file}:{first_line})")
            }
            DiagnosticKind::MissingDependency { model, dependency } => {
                write!(f, "model {model} depends on model {dependency}, which is not among the imported files")
            }
            DiagnosticKind::MixedVersions { found } => {
                let names: Vec<String> = found.iter().map(ToString::to_string).collect();
                write!(f, "the file mixes {}; read as {}", names.join(" and "), names.first().map_or("", String::as_str))
            }
        }
    }
}
