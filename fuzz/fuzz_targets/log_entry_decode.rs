//! Transparency log entries: the decoder never panics, and whatever decodes re-encodes to
//! exactly the input, so an entry's leaf hash has one meaning.
#![no_main]

use gridtrust_trust::checkpoint::LogEntry;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match LogEntry::decode(data) {
        Ok(entry) => {
            assert_eq!(entry.encode(), data);
            assert_eq!(entry.kind(), data[1]);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
