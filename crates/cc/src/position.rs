//! The cc's position in each edge's chain: the last batch of each edge it applied, kept on disk
//! so that a restarted cc asks the hub for exactly what it missed (its hello carries them) and
//! the hub replays those batches instead of only the latest values.
//!
//! Persisted rather than derived at start: the cc keeps no store of batches (its IEC 104 image
//! lives in memory), so nothing it holds at start could tell what it had applied. The file is
//! written with each accepted log checkpoint (about every second), not with each batch: a
//! position that lags on disk only makes the hub replay a little more, and the cc applies each
//! batch once (its verifier drops what is not newer). A file that cannot be read is a resync
//! (the latest values, alarmed at the hub), never a skip.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why the position file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PositionFileError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} line {line}: not `<edge id> <batch seq>`")]
    Line { path: PathBuf, line: usize },
}

/// One `<edge id> <batch seq>` line per edge (edge ids hold no spaces).
#[derive(Clone, Debug)]
pub struct PositionFile {
    path: PathBuf,
}

impl PositionFile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The positions saved last; none when the file does not exist (a cc never connected).
    pub fn load(&self) -> Result<BTreeMap<String, u64>, PositionFileError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(source) => {
                return Err(PositionFileError::Read { path: self.path.clone(), source });
            }
        };
        let mut out = BTreeMap::new();
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let bad = || PositionFileError::Line { path: self.path.clone(), line: i + 1 };
            let (edge, seq) = line.trim().rsplit_once(' ').ok_or_else(bad)?;
            let seq = seq.parse::<u64>().map_err(|_| bad())?;
            if edge.is_empty() || edge.contains(char::is_whitespace) {
                return Err(bad());
            }
            out.insert(edge.to_owned(), seq);
        }
        Ok(out)
    }

    /// Replaces the file (written aside, then renamed, so a crash leaves the old or the new one).
    pub fn save(&self, positions: &BTreeMap<String, u64>) -> std::io::Result<()> {
        let text: String = positions.iter().map(|(edge, seq)| format!("{edge} {seq}\n")).collect();
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_survive_a_save_and_a_load_and_a_damaged_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = PositionFile::new(dir.path().join("positions"));
        assert_eq!(file.load().unwrap(), BTreeMap::new());
        let positions = BTreeMap::from([("edge-1".to_owned(), 41), ("edge-2".to_owned(), 7)]);
        file.save(&positions).unwrap();
        assert_eq!(file.load().unwrap(), positions);
        std::fs::write(file.path(), "edge-1 41\nedge-2 x\n").unwrap();
        assert!(matches!(file.load(), Err(PositionFileError::Line { line: 2, .. })));
    }
}
