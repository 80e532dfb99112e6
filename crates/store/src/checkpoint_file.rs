//! The last log checkpoint a party accepted, kept in a file of its own: the cc and the edge
//! resume their [`CheckpointTracker`] from it, so a hub that rewrites its log is caught even
//! across their restarts.

use std::path::{Path, PathBuf};

use gridtrust_trust::checkpoint::{CheckpointTracker, SignedCheckpoint};

/// Why the kept checkpoint cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointFileError {
    /// The file exists but cannot be read.
    #[error("cannot read the kept log checkpoint {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The file is not a signed checkpoint.
    #[error("the kept log checkpoint {path} does not decode: {reason}")]
    Decode {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        reason: String,
    },
    /// The file holds a checkpoint of another log than the one this party follows.
    #[error("the kept log checkpoint {path} is of log {found:?}, not of {expected:?}")]
    OtherLog {
        /// The file.
        path: PathBuf,
        /// The log id in the file.
        found: String,
        /// The log id expected.
        expected: String,
    },
}

/// A checkpoint file.
#[derive(Clone, Debug)]
pub struct CheckpointFile {
    path: PathBuf,
}

impl CheckpointFile {
    /// The file at `path` (it need not exist yet).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A tracker resumed from the file, or a fresh one; with `log_id`, only for that log.
    pub fn load(&self, log_id: Option<&str>) -> Result<CheckpointTracker, CheckpointFileError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(log_id.map_or_else(CheckpointTracker::default, CheckpointTracker::for_log));
            }
            Err(source) => return Err(CheckpointFileError::Read { path: self.path.clone(), source }),
        };
        let last =
            SignedCheckpoint::decode(&bytes).map_err(|e| CheckpointFileError::Decode { path: self.path.clone(), reason: e.to_string() })?;
        if let Some(expected) = log_id.filter(|id| *id != last.checkpoint.log_id) {
            return Err(CheckpointFileError::OtherLog {
                path: self.path.clone(),
                found: last.checkpoint.log_id,
                expected: expected.to_owned(),
            });
        }
        Ok(CheckpointTracker::resume(last))
    }

    /// Replaces the file with `checkpoint` atomically (write, then rename).
    pub fn save(&self, checkpoint: &SignedCheckpoint) -> std::io::Result<()> {
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, checkpoint.encode())?;
        std::fs::rename(&tmp, &self.path)
    }
}
