//! Why a model could not be built or read. Each error names the file and, where the reader knows
//! them, the line, element or mapping key, so an engineer can fix the input.

use gridtrust_scl::SclError;

/// One problem with the inputs of a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// An SCL file is broken (`file:line:column: <element>: problem`); boxed, it is the largest.
    #[error("{0}")]
    Scl(Box<SclError>),
    /// A CGMES file or folder is broken or unreadable.
    #[error("{0}")]
    Cgmes(#[from] gridtrust_cgmes::CgmesError),
    /// The mapping file is not valid TOML or has unknown keys (the message names line and key).
    #[error("{file}: {message}")]
    MappingSyntax { file: String, message: String },
    /// A mapping entry is wrong; `key` is its TOML path, e.g. `points."LD/LN.DO".measurement`.
    #[error("{file}: {key}: {message}")]
    Mapping { file: String, key: String, message: String },
    /// Two SCL files define the same point (usually the same IED imported twice).
    #[error("point {point} is defined by both {first} and {second}")]
    DuplicatePoint { point: String, first: String, second: String },
    /// A file could not be read or written.
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    /// A model JSON file is not a model this build can read.
    #[error("{path}: not a gridtrust model file: {message}")]
    ModelFile { path: String, message: String },
}

/// Everything that stopped an import: all problems found, not only the first.
#[derive(Debug, Default, thiserror::Error)]
#[error("{} error(s) in the model inputs", errors.len())]
pub struct ImportErrors {
    pub errors: Vec<ModelError>,
    /// Problems that did not stop the import (SCL warnings, CGMES dangling references).
    pub warnings: Vec<String>,
}
