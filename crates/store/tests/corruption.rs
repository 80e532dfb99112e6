//! Damaged files give typed errors, never panics.

mod common;

use std::path::Path;

use common::{header, rec, recs, verified};
use gridtrust_model::{DecodeError, Timestamp};
use gridtrust_store::{Corruption, EdgeQueue, HubStore, QueueConfig, StoreError};

const MARKER: &str = "LD0/CORRUPTME1.Mag";

/// Overwrites the version byte of every canonical record of [`MARKER`] found in the file
/// (recognised by the version byte and the 2-byte length right before the id). Returns how many
/// were changed.
fn damage_marker_records(path: &Path) -> usize {
    let mut bytes = std::fs::read(path).unwrap();
    let id = MARKER.as_bytes();
    let len = (id.len() as u16).to_be_bytes();
    let mut hits = 0;
    for pos in 11..bytes.len().saturating_sub(id.len()) {
        if &bytes[pos..pos + id.len()] == id && bytes[pos - 2..pos] == len && bytes[pos - 11] == 1 {
            bytes[pos - 11] = 9;
            hits += 1;
        }
    }
    std::fs::write(path, bytes).unwrap();
    hits
}

fn is_bad_version(e: &StoreError) -> bool {
    matches!(e, StoreError::Corrupt { problem: Corruption::Record(DecodeError::UnsupportedVersion(9)), .. })
}

#[test]
fn corrupt_queued_record_is_a_typed_error_naming_table_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.redb");
    {
        let q = EdgeQueue::open(&path).unwrap();
        q.append_batch(1, &header(1), &recs(0, 3, "LD0/MMXU1.Hz")).unwrap();
        q.append_batch(2, &header(2), &[rec(3, MARKER, Timestamp(0), 1.0)]).unwrap();
    }
    assert!(damage_marker_records(&path) >= 1);
    // The default open runs redb's integrity check, whose page checksums catch the damage.
    let err = EdgeQueue::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err}");
    // Without the check, our decoder catches it when the record is read.
    let q = EdgeQueue::open_with(&path, QueueConfig { check_integrity_on_open: false, ..QueueConfig::default() }).unwrap();
    // The intact batch still reads; the damaged one is reported, not skipped.
    assert_eq!(q.pending(None, 1).unwrap().len(), 1);
    let err = q.pending(None, 10).unwrap_err();
    assert!(is_bad_version(&err), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("queue_records") && msg.contains("batch 2 record 0"), "{msg}");
}

#[test]
fn corrupt_hub_record_is_a_typed_error_in_history_and_latest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.redb");
    {
        let hub = HubStore::open(&path).unwrap();
        hub.apply_batch("e", &verified("e", 1, &[rec(0, MARKER, Timestamp(0), 1.0), rec(1, "LD0/MMXU1.Hz", Timestamp(0), 2.0)])).unwrap();
    }
    assert!(damage_marker_records(&path) >= 2, "series and latest copies");
    let hub = HubStore::open(&path).unwrap();
    let p = common::point(MARKER);
    let err = hub.history(&p, Timestamp(i64::MIN), Timestamp(i64::MAX), 10).unwrap_err();
    assert!(is_bad_version(&err), "{err}");
    assert!(err.to_string().contains("hub_series") && err.to_string().contains(MARKER), "{err}");
    let err = hub.downsample(&p, Timestamp(-1), Timestamp(1), 1).unwrap_err();
    assert!(is_bad_version(&err), "{err}");
    let err = hub.latest(&p).unwrap_err();
    assert!(is_bad_version(&err) && err.to_string().contains("hub_latest"), "{err}");
    assert!(hub.latest_all().is_err());
    // Other points are unaffected.
    assert_eq!(hub.history(&common::point("LD0/MMXU1.Hz"), Timestamp(-1), Timestamp(1), 10).unwrap().len(), 1);
    drop(hub);
    // The checked open finds it up front.
    assert!(matches!(HubStore::open_checked(&path), Err(StoreError::Open { .. })));
}

/// Exercises every read path; any error is acceptable, a panic is not.
fn read_everything(path: &Path, check: bool) -> Vec<String> {
    let mut errors = Vec::new();
    let mut note = |r: Result<(), StoreError>| {
        if let Err(e) = r {
            errors.push(e.to_string());
        }
    };
    let config = QueueConfig { check_integrity_on_open: check, ..QueueConfig::default() };
    match EdgeQueue::open_with(path, config) {
        Err(e) => note(Err(e)),
        Ok(q) => {
            note(q.pending(None, usize::MAX).map(drop));
            note(q.last_batch().map(drop));
            note(q.len().map(drop));
            note(q.ack_through(1));
            note(q.append_batch(1000, b"h", &recs(10_000, 2, "LD0/MMXU1.Hz")));
        }
    }
    errors
}
fn read_everything_hub(path: &Path, check: bool) -> Vec<String> {
    let mut errors = Vec::new();
    let mut note = |r: Result<(), StoreError>| {
        if let Err(e) = r {
            errors.push(e.to_string());
        }
    };
    let opened = if check { HubStore::open_checked(path) } else { HubStore::open(path) };
    match opened {
        Err(e) => note(Err(e)),
        Ok(h) => {
            let p = common::point("LD0/MMXU1.Hz");
            note(h.history(&p, Timestamp(i64::MIN), Timestamp(i64::MAX), usize::MAX).map(drop));
            note(h.downsample(&p, Timestamp(i64::MIN), Timestamp(i64::MAX), 10).map(drop));
            note(h.latest_all().map(drop));
            note(h.edges().map(drop));
            note(h.record_count().map(drop));
            note(h.apply_batch("e", &verified("e", 1000, &recs(10_000, 2, "LD0/MMXU1.Hz"))).map(drop));
        }
    }
    errors
}

/// Garbage and truncated files are errors at open or at first use.
#[test]
fn garbage_or_truncated_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("g.redb");
    std::fs::write(&garbage, vec![0xa5u8; 64 * 1024]).unwrap();
    assert!(matches!(EdgeQueue::open(&garbage), Err(StoreError::Open { .. })));
    assert!(matches!(HubStore::open(&garbage), Err(StoreError::Open { .. })));

    let good = dir.path().join("q.redb");
    {
        let q = EdgeQueue::open(&good).unwrap();
        q.append_batch(1, &header(1), &recs(0, 50, "LD0/MMXU1.Hz")).unwrap();
    }
    let bytes = std::fs::read(&good).unwrap();
    for cut in [10usize, 300, 4096, bytes.len() / 2] {
        let t = dir.path().join(format!("t{cut}.redb"));
        std::fs::write(&t, &bytes[..cut.min(bytes.len())]).unwrap();
        assert!(!read_everything(&t, true).is_empty(), "truncated at {cut} must be reported");
    }
}

/// Random byte damage anywhere in the file, opened with and without the integrity check: every
/// outcome is `Ok` or a `StoreError`, nothing escapes as a panic. (redb itself panics on some
/// structural damage; `StoreError::Damaged` is how that reaches the caller.)
#[test]
fn random_byte_damage_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let q_path = dir.path().join("q.redb");
    let h_path = dir.path().join("h.redb");
    {
        let q = EdgeQueue::open(&q_path).unwrap();
        let h = HubStore::open(&h_path).unwrap();
        for b in 1..=20u64 {
            let r = recs((b - 1) * 20, 20, "LD0/MMXU1.Hz");
            q.append_batch(b, &header(b), &r).unwrap();
            h.apply_batch("e", &verified("e", b, &r)).unwrap();
        }
        q.ack_through(5).unwrap();
    }
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let rounds: u32 = std::env::var("GRIDTRUST_DAMAGE_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    let mut escaped = Vec::new();
    let (mut damaged_errors, mut other_errors) = (0, 0);
    type Reader = fn(&Path, bool) -> Vec<String>;
    for (orig, reader) in [(&q_path, read_everything as Reader), (&h_path, read_everything_hub as Reader)] {
        let bytes = std::fs::read(orig).unwrap();
        for round in 0..rounds {
            let mut damaged = bytes.clone();
            for _ in 0..(1 + next() % 8) {
                let at = (next() % damaged.len() as u64) as usize;
                damaged[at] = next() as u8;
            }
            for check in [false, true] {
                let p = dir.path().join("damaged.redb");
                std::fs::write(&p, &damaged).unwrap();
                match std::panic::catch_unwind(|| reader(&p, check)) {
                    Ok(errors) => {
                        for e in errors {
                            if e.contains("damaged file") { damaged_errors += 1 } else { other_errors += 1 }
                        }
                    }
                    Err(_) => escaped.push(format!("{} round {round} check {check}", orig.display())),
                }
            }
        }
    }
    eprintln!("random damage: {damaged_errors} contained redb panics, {other_errors} other errors");
    assert!(escaped.is_empty(), "panic escaped on: {escaped:?}");
}
