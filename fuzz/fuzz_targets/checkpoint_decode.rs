//! Transparency log checkpoints: the canonical checkpoint decoder and the signed checkpoint
//! decoder never panic, and whatever decodes re-encodes to exactly the input (one encoding per
//! value, so a signature covers one meaning).
#![no_main]

use gridtrust_trust::checkpoint::{Checkpoint, SignedCheckpoint};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match Checkpoint::decode_canonical(data) {
        Ok(c) => assert_eq!(c.encode_canonical(), data),
        Err(e) => {
            let _ = e.to_string();
        }
    }
    match SignedCheckpoint::decode(data) {
        Ok(s) => {
            assert_eq!(s.encode(), data);
            // Verifying with a malformed key must fail cleanly, never panic.
            assert!(s.verify(&[4u8; 65]).is_err());
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
