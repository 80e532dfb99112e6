//! The last entryID per buffered report control block whose entries are stored, so that a
//! restarted edge resynchronises the IED's buffer exactly where its queue ends.
//!
//! It is the adapter's source mark: committed in the same edge-queue transaction as the records
//! of the entries it covers ([`gridtrust_adapter::Durability::mark`]), so a crash can neither
//! skip entries the IED still holds nor replay entries already stored. Earlier versions kept it
//! in a file in `state_dir`; [`EntryIds::load`] reads that file once, at the first start without
//! a mark in the queue.
//!
//! Format, one BRCB instance per line: `<LDname/LN.RCBinstance> <entryID in hex>`; `#` starts a
//! comment.

use std::collections::BTreeMap;
use std::path::Path;

/// Why a state file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The file exists but cannot be read.
    #[error("cannot read {path}: {message}")]
    Read { path: String, message: String },
    /// A line is not `<reference> <hex>`.
    #[error("line {line}: {what}")]
    Malformed { line: usize, what: &'static str },
}

/// Last entryIDs by BRCB instance reference.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryIds {
    entries: BTreeMap<String, Vec<u8>>,
}

/// Longest entryID accepted (IEC 61850-8-1 uses 8 octets).
const MAX_ENTRY_ID: usize = 64;

impl EntryIds {
    /// Parses the file content.
    pub fn parse(text: &str) -> Result<EntryIds, StateError> {
        let mut entries = BTreeMap::new();
        for (number, line) in text.lines().enumerate() {
            let line_no = number + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let malformed = |what| StateError::Malformed { line: line_no, what };
            let (reference, hex) = line.split_once(' ').ok_or(malformed("expected `<reference> <entryID hex>`"))?;
            if reference.is_empty() || !reference.contains('/') {
                return Err(malformed("reference is not LD/LN.RCB"));
            }
            let id = decode_hex(hex.trim()).ok_or(malformed("entryID is not an even number of hex digits"))?;
            if id.len() > MAX_ENTRY_ID {
                return Err(malformed("entryID longer than 64 octets"));
            }
            entries.insert(reference.to_owned(), id);
        }
        Ok(EntryIds { entries })
    }

    /// Reads `path`; a missing file is an empty state.
    pub fn load(path: &Path) -> Result<EntryIds, StateError> {
        match std::fs::read_to_string(path) {
            Ok(text) => EntryIds::parse(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(EntryIds::default()),
            Err(e) => Err(StateError::Read { path: path.display().to_string(), message: e.to_string() }),
        }
    }

    /// The file content.
    pub fn render(&self) -> String {
        let mut text = String::from("# gridtrust MMS adapter: last entryID handed to the edge, per BRCB instance\n");
        for (reference, id) in &self.entries {
            text.push_str(reference);
            text.push(' ');
            id.iter().for_each(|b| text.push_str(&format!("{b:02x}")));
            text.push('\n');
        }
        text
    }

    /// The last entryID of a BRCB instance.
    pub fn get(&self, reference: &str) -> Option<&[u8]> {
        self.entries.get(reference).map(Vec::as_slice)
    }

    /// Records an entryID; true when it changed. An empty one names no entry and is ignored.
    pub fn set(&mut self, reference: &str, id: &[u8]) -> bool {
        match self.entries.get_mut(reference) {
            _ if id.is_empty() => false,
            Some(existing) if existing == id => false,
            Some(existing) => {
                existing.clear();
                existing.extend_from_slice(id);
                true
            }
            None => {
                self.entries.insert(reference.to_owned(), id.to_vec());
                true
            }
        }
    }
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 || !hex.is_ascii() {
        return None;
    }
    (0..hex.len()).step_by(2).map(|i| hex.get(i..i + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn state_round_trips_through_the_file_of_earlier_versions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ied.entry-ids");
        assert_eq!(EntryIds::load(&path).unwrap(), EntryIds::default());
        let mut ids = EntryIds::default();
        assert!(ids.set("IED1LD/LLN0.BRCB01", &[0, 1, 0xfe, 0xff]));
        assert!(!ids.set("IED1LD/LLN0.BRCB01", &[0, 1, 0xfe, 0xff]));
        std::fs::write(&path, ids.render()).unwrap();
        let loaded = EntryIds::load(&path).unwrap();
        assert_eq!(loaded.get("IED1LD/LLN0.BRCB01"), Some(&[0, 1, 0xfe, 0xff][..]));
        assert_eq!(loaded, ids);
    }

    #[test]
    fn malformed_lines_name_the_line() {
        assert_eq!(
            EntryIds::parse("# c\nLD/LN.X 0a0\n"),
            Err(StateError::Malformed { line: 2, what: "entryID is not an even number of hex digits" })
        );
        assert!(matches!(EntryIds::parse("noslash 00"), Err(StateError::Malformed { line: 1, .. })));
        assert!(matches!(EntryIds::parse("LD/LN.X"), Err(StateError::Malformed { line: 1, .. })));
        assert!(matches!(EntryIds::parse("LD/LN.X zz"), Err(StateError::Malformed { .. })));
        assert!(matches!(EntryIds::parse("LD/LN.X é0"), Err(StateError::Malformed { .. })));
    }

    proptest! {
        #[test]
        fn arbitrary_state_files_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = EntryIds::parse(&String::from_utf8_lossy(&bytes));
        }

        #[test]
        fn rendered_state_parses_back(ids in proptest::collection::btree_map("[A-Za-z0-9_]{1,8}/[A-Z0-9]{1,6}\\.[A-Za-z0-9]{1,10}", proptest::collection::vec(any::<u8>(), 1..16), 0..5)) {
            let state = EntryIds { entries: ids };
            prop_assert_eq!(EntryIds::parse(&state.render()).unwrap(), state);
        }
    }
}
