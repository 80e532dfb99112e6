//! A full disk is a fault the stores live through: a write on a full filesystem fails with a
//! typed I/O error, nothing half-written is visible, and once space returns the same store
//! handle writes again (redb latches an I/O error until the database is reopened; the store
//! reopens it on its own). Run on a small tmpfs, so the test needs root (mount); without it the
//! test prints SKIP, and fails when GRIDTRUST_REQUIRE_PEERS=1 (CI).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{header, recs, verified};
use gridtrust_store::{EdgeQueue, HubStore, TransparencyLog};

/// A tmpfs of `size` mounted on a fresh folder, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            Some(Self { dir })
        } else {
            assert!(std::env::var("GRIDTRUST_REQUIRE_PEERS").as_deref() != Ok("1"), "cannot mount a tmpfs (needs root)");
            println!("SKIP: cannot mount a tmpfs (needs root)");
            None
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the disk to the last byte with a file that [`Self::free`] removes.
    fn fill(&self) {
        let filler = self.filler();
        let _ = std::fs::remove_file(&filler);
        let chunk = vec![0xA5u8; 64 * 1024];
        let mut f = std::fs::File::create(&filler).expect("filler");
        use std::io::Write;
        while f.write_all(&chunk).is_ok() {}
        let mut small = vec![0u8; 512];
        while !small.is_empty() {
            if f.write_all(&small).is_err() {
                small.truncate(small.len() / 2);
            }
        }
    }

    fn free(&self) {
        std::fs::remove_file(self.filler()).expect("remove filler");
    }

    fn filler(&self) -> PathBuf {
        self.path().join("filler")
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

const P: &str = "LD0/MMXU1.TotW";

#[test]
fn the_edge_queue_refuses_a_batch_on_a_full_disk_and_takes_it_once_space_returns() {
    let Some(disk) = SmallDisk::mount("8m") else { return };
    let q = EdgeQueue::open(disk.path().join("queue.redb")).unwrap();
    q.append_batch(1, &header(1), &recs(0, 10, P)).unwrap();
    disk.fill();
    // Batches large enough that the file must grow.
    let mut batch_seq = 2;
    let mut failed = None;
    while failed.is_none() && batch_seq < 200 {
        let first = q.next_seq();
        match q.append_batch(batch_seq, &header(batch_seq), &recs(first, 2_000, P)) {
            Ok(()) => batch_seq += 1,
            Err(e) => failed = Some(e),
        }
    }
    let e = failed.expect("the queue never hit the full disk");
    assert!(e.is_io(), "a full disk is an I/O error, got: {e}");
    let committed = q.pending_batches();
    disk.free();
    let first = q.next_seq();
    q.append_batch(batch_seq, &header(batch_seq), &recs(first, 2_000, P))
        .unwrap_or_else(|e| panic!("after space returned (pending before: {committed:?}): {e}"));
    assert_eq!(q.last_batch().unwrap().map(|b| b.batch_seq), Some(batch_seq));
    assert_eq!(q.pending_batches().unwrap(), batch_seq, "every committed batch is still there, and only those");
}

#[test]
fn the_hub_store_and_log_write_again_once_space_returns() {
    let Some(disk) = SmallDisk::mount("8m") else { return };
    let store = HubStore::open(disk.path().join("hub.redb")).unwrap();
    let mut log = TransparencyLog::open(disk.path().join("log.redb")).unwrap();
    store.apply_batch("edge-1", &verified("edge-1", 0, &recs(0, 10, P))).unwrap();
    log.append(&header(0)).unwrap();
    disk.fill();
    let mut batch_seq = 1u64;
    let (mut store_failed, mut log_failed) = (None, None);
    while (store_failed.is_none() || log_failed.is_none()) && batch_seq < 400 {
        if store_failed.is_none()
            && let Err(e) = store.apply_batch("edge-1", &verified("edge-1", batch_seq, &recs(batch_seq * 2_000, 2_000, P)))
        {
            store_failed = Some((batch_seq, e));
        }
        if log_failed.is_none()
            && let Err(e) = log.append_many(&vec![vec![batch_seq as u8; 4096]; 64])
        {
            log_failed = Some(e);
        }
        batch_seq += 1;
    }
    let (failed_seq, e) = store_failed.expect("the hub store never hit the full disk");
    assert!(e.is_io(), "hub store: {e}");
    let e = log_failed.expect("the log never hit the full disk");
    assert!(e.is_io(), "log: {e}");
    let size = log.size();
    disk.free();
    store
        .apply_batch("edge-1", &verified("edge-1", failed_seq, &recs(failed_seq * 2_000, 2_000, P)))
        .unwrap_or_else(|e| panic!("hub store after space returned: {e}"));
    assert!(store.batch("edge-1", failed_seq).unwrap().is_some());
    assert_eq!(log.append(b"after").unwrap_or_else(|e| panic!("log after space returned: {e}")), size);
    log.verify_storage().unwrap();
}
