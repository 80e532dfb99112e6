mod common;

use common::{header, recs};
use gridtrust_store::{EdgeQueue, QueueConfig, StoreError};

#[test]
fn queue_survives_reopen_with_pending_batches_and_seq_high_water_mark() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.redb");
    {
        let q = EdgeQueue::open(&path).unwrap();
        assert_eq!(q.next_seq(), 0);
        assert!(q.last_batch().unwrap().is_none());
        q.append_batch(1, &header(1), &recs(0, 3, "LD0/MMXU1.TotW")).unwrap();
        q.append_batch(2, &header(2), &recs(3, 2, "LD0/MMXU1.TotW")).unwrap();
        assert_eq!(q.next_seq(), 5);
    }
    let q = EdgeQueue::open(&path).unwrap();
    assert_eq!(q.next_seq(), 5);
    assert_eq!(q.len().unwrap(), 5);
    assert_eq!(q.pending_batches().unwrap(), 2);
    let p = q.pending(None, 10).unwrap();
    assert_eq!(p.len(), 2);
    assert_eq!((p[0].batch_seq, p[0].header_bytes.clone(), p[0].records.clone()), (1, header(1), recs(0, 3, "LD0/MMXU1.TotW")));
    assert_eq!((p[1].batch_seq, p[1].records.clone()), (2, recs(3, 2, "LD0/MMXU1.TotW")));
    let last = q.last_batch().unwrap().unwrap();
    assert_eq!((last.batch_seq, last.header_bytes), (2, header(2)));
}

#[test]
fn ack_removes_batches_up_to_and_including_the_acked_one() {
    let dir = tempfile::tempdir().unwrap();
    let q = EdgeQueue::open(dir.path().join("q.redb")).unwrap();
    for b in 1..=4u64 {
        q.append_batch(b, &header(b), &recs((b - 1) * 10, 10, "LD0/MMXU1.Hz")).unwrap();
    }
    let bytes_before = q.pending_bytes().unwrap();
    q.ack_through(2).unwrap();
    let p = q.pending(None, 10).unwrap();
    assert_eq!(p.iter().map(|b| b.batch_seq).collect::<Vec<_>>(), vec![3, 4]);
    assert_eq!(q.len().unwrap(), 20);
    assert!(q.pending_bytes().unwrap() < bytes_before);
    // Repeated and stale acks are harmless.
    q.ack_through(2).unwrap();
    q.ack_through(1).unwrap();
    assert_eq!(q.pending_batches().unwrap(), 2);
    // Acking past the end empties the queue but keeps the chain position.
    q.ack_through(100).unwrap();
    assert!(q.is_empty().unwrap());
    assert_eq!((q.len().unwrap(), q.pending_bytes().unwrap()), (0, 0));
    assert_eq!(q.last_batch().unwrap().unwrap().batch_seq, 4);
    assert_eq!(q.next_seq(), 40);
}

#[test]
fn pending_pages_after_a_batch_seq_with_a_limit() {
    let dir = tempfile::tempdir().unwrap();
    let q = EdgeQueue::open(dir.path().join("q.redb")).unwrap();
    for b in [3u64, 5, 9, 10] {
        q.append_batch(b, &header(b), &recs(b * 100, 1, "LD0/MMXU1.Hz")).unwrap();
    }
    let seqs = |v: Vec<gridtrust_store::QueuedBatch>| v.into_iter().map(|b| b.batch_seq).collect::<Vec<_>>();
    assert_eq!(seqs(q.pending(None, 2).unwrap()), vec![3, 5]);
    assert_eq!(seqs(q.pending(Some(5), 2).unwrap()), vec![9, 10]);
    assert_eq!(seqs(q.pending(Some(4), 1).unwrap()), vec![5]);
    assert_eq!(seqs(q.pending(Some(10), 5).unwrap()), Vec::<u64>::new());
    assert_eq!(seqs(q.pending(Some(u64::MAX), 5).unwrap()), Vec::<u64>::new());
    assert_eq!(seqs(q.pending(None, 0).unwrap()), Vec::<u64>::new());
}

#[test]
fn seq_high_water_mark_and_chain_survive_full_ack_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.redb");
    {
        let q = EdgeQueue::open(&path).unwrap();
        q.append_batch(7, &header(7), &recs(41, 2, "LD0/MMXU1.Hz")).unwrap();
        q.ack_through(7).unwrap();
    }
    let q = EdgeQueue::open(&path).unwrap();
    assert_eq!(q.next_seq(), 43);
    assert_eq!(q.last_batch().unwrap().unwrap().header_bytes, header(7));
    // Reusing seq 42 or batch 7 is refused, and nothing is stored.
    assert!(matches!(
        q.append_batch(8, &header(8), &recs(42, 1, "LD0/MMXU1.Hz")),
        Err(StoreError::SeqNotIncreasing { seq: 42, next_seq: 43, .. })
    ));
    assert!(matches!(
        q.append_batch(7, &header(7), &recs(43, 1, "LD0/MMXU1.Hz")),
        Err(StoreError::BatchSeqNotIncreasing { batch_seq: 7, last: 7 })
    ));
    assert!(q.is_empty().unwrap());
    q.append_batch(8, &header(8), &recs(43, 1, "LD0/MMXU1.Hz")).unwrap();
    assert_eq!(q.next_seq(), 44);
}

#[test]
fn records_within_a_batch_must_increase() {
    let dir = tempfile::tempdir().unwrap();
    let q = EdgeQueue::open(dir.path().join("q.redb")).unwrap();
    let mut r = recs(0, 3, "LD0/MMXU1.Hz");
    r[2].seq = 1;
    assert!(matches!(q.append_batch(1, &header(1), &r), Err(StoreError::SeqNotIncreasing { seq: 1, next_seq: 2, .. })));
    assert_eq!(q.next_seq(), 0);
    assert!(q.pending(None, 10).unwrap().is_empty());
}

#[test]
fn full_queue_refuses_instead_of_dropping() {
    let dir = tempfile::tempdir().unwrap();
    let q = EdgeQueue::open_with(dir.path().join("q.redb"), QueueConfig { max_bytes: 1 << 20, max_batches: 2, ..QueueConfig::default() })
        .unwrap();
    q.append_batch(1, &header(1), &recs(0, 5, "LD0/MMXU1.Hz")).unwrap();
    q.append_batch(2, &header(2), &recs(5, 5, "LD0/MMXU1.Hz")).unwrap();
    let err = q.append_batch(3, &header(3), &recs(10, 5, "LD0/MMXU1.Hz")).unwrap_err();
    assert!(matches!(err, StoreError::QueueFull { batches: 2, max_batches: 2, .. }), "{err}");
    assert_eq!(q.next_seq(), 10, "a refused batch does not consume seqs");
    q.ack_through(1).unwrap();
    q.append_batch(3, &header(3), &recs(10, 5, "LD0/MMXU1.Hz")).unwrap();
    assert_eq!(q.pending(None, 10).unwrap().iter().map(|b| b.batch_seq).collect::<Vec<_>>(), vec![2, 3]);

    let small = EdgeQueue::open_with(dir.path().join("s.redb"), QueueConfig { max_bytes: 200, max_batches: 100, ..QueueConfig::default() })
        .unwrap();
    small.append_batch(1, &header(1), &recs(0, 2, "LD0/MMXU1.Hz")).unwrap();
    let err = small.append_batch(2, &header(2), &recs(2, 4, "LD0/MMXU1.Hz")).unwrap_err();
    assert!(matches!(err, StoreError::QueueFull { max_bytes: 200, .. }), "{err}");
}

/// Run by `appended_batch_survives_process_abort` in a child process: appends and aborts
/// without dropping anything, the closest thing to pulling the plug a test can do.
fn child_append_and_abort() {
    let Ok(path) = std::env::var("GRIDTRUST_STORE_CRASH_DB") else { return };
    let q = EdgeQueue::open(&path).unwrap();
    let last = q.last_batch().unwrap().map_or(0, |b| b.batch_seq);
    let first = q.next_seq();
    q.append_batch(last + 1, &header(last + 1), &recs(first, 50, "LD0/MMXU1.TotW")).unwrap();
    std::process::abort();
}

#[test]
fn appended_batch_survives_process_abort() {
    if std::env::var("GRIDTRUST_STORE_CRASH_DB").is_ok() {
        child_append_and_abort();
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.redb");
    for round in 1..=2u64 {
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "appended_batch_survives_process_abort", "--nocapture", "--test-threads=1"])
            .env("GRIDTRUST_STORE_CRASH_DB", &path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(!status.success(), "child must abort");
        let q = EdgeQueue::open(&path).unwrap();
        let p = q.pending(None, 10).unwrap();
        assert_eq!(p.len() as u64, round, "unacked batches reappear after the crash");
        assert_eq!(p.last().unwrap().records, recs((round - 1) * 50, 50, "LD0/MMXU1.TotW"));
        assert_eq!(q.next_seq(), round * 50);
    }
}

#[test]
fn dropped_handle_without_ack_leaves_batches_pending() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.redb");
    let q = EdgeQueue::open(&path).unwrap();
    q.append_batch(1, &header(1), &recs(0, 3, "LD0/MMXU1.Hz")).unwrap();
    let sent = q.pending(None, 10).unwrap();
    drop(q);
    let q = EdgeQueue::open(&path).unwrap();
    assert_eq!(q.pending(None, 10).unwrap(), sent);
}

#[test]
fn a_second_open_of_the_same_file_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.redb");
    let _q = EdgeQueue::open(&path).unwrap();
    assert!(matches!(EdgeQueue::open(&path), Err(StoreError::Open { .. })));
}

#[test]
fn a_source_mark_is_committed_with_its_batch_or_not_at_all_and_outlives_the_ack() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.redb");
    let mark = |m: &str| vec![("ied-1".to_owned(), m.as_bytes().to_vec())];
    {
        let q = EdgeQueue::open(&path).unwrap();
        assert_eq!(q.source_mark("ied-1").unwrap(), None);
        q.append_batch_marked(1, &header(1), &recs(0, 2, "LD0/MMXU1.TotW"), &mark("entry-2")).unwrap();
        // A refused batch stores neither its records nor its mark.
        assert!(q.append_batch_marked(1, &header(1), &recs(2, 2, "LD0/MMXU1.TotW"), &mark("entry-4")).is_err());
        assert_eq!(q.source_mark("ied-1").unwrap(), Some(b"entry-2".to_vec()));
        q.ack_through(1).unwrap();
    }
    let q = EdgeQueue::open(&path).unwrap();
    assert_eq!(q.source_mark("ied-1").unwrap(), Some(b"entry-2".to_vec()));
    assert_eq!(q.source_mark("other").unwrap(), None);
}
