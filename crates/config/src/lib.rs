//! Loading TOML configuration: every role validates its file at start, and an error names the
//! file and the key so an engineer can fix it without reading code.
//!
//! Configuration types themselves live beside the code they configure and derive
//! `serde::Deserialize` with `deny_unknown_fields`, so a typo in a key is an error too.

use std::path::{Path, PathBuf};

/// Why a configuration file is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: key `{key}`: {message}")]
    Invalid { path: PathBuf, key: String, message: String },
}

impl ConfigError {
    /// An invalid value at `key` in `path`.
    pub fn invalid(path: &Path, key: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Self::Invalid { path: path.to_owned(), key: key.into(), message: message.to_string() }
    }
}

/// Reads and parses a TOML file into `T`. Parse errors from `toml` already name the key and
/// the line; this adds the file.
pub fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse { path: path.to_owned(), message: e.to_string() })
}

/// Makes `p` relative to the configuration file's folder `base` when it is relative, so a
/// configuration can be moved with the files it names.
pub fn resolve(base: &Path, p: &mut PathBuf) {
    if p.is_relative() {
        *p = base.join(&*p);
    }
}

/// The folder relative paths in the file at `path` are resolved against.
pub fn base_dir(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("."))
}
