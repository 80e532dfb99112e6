//! The point registry and a command's log proof: the registry decoders never panic and whatever
//! decodes re-encodes to exactly the input (one encoding per registry, so the engineer's
//! signature covers one meaning); a decoded registry answers owner lookups for any reference;
//! an arbitrary log proof is checked against a tracker without panicking.
#![no_main]

use gridtrust_model::PointId;
use gridtrust_trust::checkpoint::{CheckpointTracker, EntryInLog, LogEntry};
use gridtrust_trust::registry::{PointRegistry, SignedRegistry};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = PointRegistry::decode(data) {
        assert_eq!(r.encode().as_deref(), Ok(data));
        if let Some((prefix, _)) = r.grants.iter().next() {
            for reference in [format!("{prefix}/LN1.DO"), format!("{prefix}.DO"), prefix.clone()] {
                if let Ok(p) = PointId::new(reference) {
                    let _ = r.owner(&p);
                }
            }
        }
    }
    if let Ok(s) = SignedRegistry::from_bytes(data) {
        assert_eq!(s.to_bytes().as_deref(), Ok(data));
        assert!(s.verify(&[4u8; 65]).is_err());
    }
    if let Ok(proof) = postcard::from_bytes::<EntryInLog>(data) {
        let mut tracker = CheckpointTracker::for_log("hub");
        assert!(proof.verify(&LogEntry::Command(data.to_vec()), &mut tracker, &[4u8; 65]).is_err());
        assert!(tracker.last().is_none(), "a refused proof leaves the tracker unchanged");
    }
});
