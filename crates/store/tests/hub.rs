mod common;

use common::{SECOND, point, rec, recs, verified};
use gridtrust_model::{Record, TimeQuality, Timestamp, Value};
use gridtrust_store::{ApplyOutcome, Bucket, HubStore, StoreError, series_time};
use proptest::prelude::*;

fn applied(stored: usize) -> ApplyOutcome {
    ApplyOutcome::Applied { stored, duplicates: 0, gap: None, late: false }
}

#[test]
fn same_batch_applied_twice_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let hub = HubStore::open(dir.path().join("h.redb")).unwrap();
    let r = recs(0, 100, "LD0/MMXU1.TotW");
    assert_eq!(hub.apply_batch("edge-a", &verified("edge-a", 1, &r)).unwrap(), applied(100));
    assert_eq!(hub.record_count().unwrap(), 100);
    assert_eq!(hub.apply_batch("edge-a", &verified("edge-a", 1, &r)).unwrap(), ApplyOutcome::Duplicate);
    assert_eq!(hub.record_count().unwrap(), 100);
    let all = hub.history(&point("LD0/MMXU1.TotW"), Timestamp(i64::MIN), Timestamp(i64::MAX), usize::MAX).unwrap();
    assert_eq!(all, r);
}

#[test]
fn rebatched_records_already_applied_are_a_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let hub = HubStore::open(dir.path().join("h.redb")).unwrap();
    hub.apply_batch("edge-a", &verified("edge-a", 1, &recs(0, 10, "LD0/MMXU1.TotW"))).unwrap();
    // Same records under a new batch seq: nothing stored, not even the header.
    assert_eq!(hub.apply_batch("edge-a", &verified("edge-a", 2, &recs(0, 10, "LD0/MMXU1.TotW"))).unwrap(), ApplyOutcome::Duplicate);
    assert_eq!(hub.batch("edge-a", 2).unwrap(), None);
    assert_eq!(hub.last_batch("edge-a").unwrap().unwrap().batch_seq, 1);
    // Partly new: only the new records count.
    let out = hub.apply_batch("edge-a", &verified("edge-a", 2, &recs(5, 10, "LD0/MMXU1.TotW"))).unwrap();
    assert_eq!(out, ApplyOutcome::Applied { stored: 5, duplicates: 5, gap: None, late: false });
    assert_eq!(hub.record_count().unwrap(), 15);
}

#[test]
fn same_seq_from_two_edges_is_two_records() {
    let dir = tempfile::tempdir().unwrap();
    let hub = HubStore::open(dir.path().join("h.redb")).unwrap();
    let r = recs(0, 3, "LD0/MMXU1.TotW");
    assert_eq!(hub.apply_batch("edge-a", &verified("edge-a", 1, &r)).unwrap(), applied(3));
    assert_eq!(hub.apply_batch("edge-b", &verified("edge-b", 1, &r)).unwrap(), applied(3));
    assert_eq!(hub.record_count().unwrap(), 6);
    assert_eq!(hub.edges().unwrap().len(), 2);
}

#[test]
fn skipped_batch_seq_is_reported_as_a_gap_and_late_fill_is_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let hub = HubStore::open(dir.path().join("h.redb")).unwrap();
    assert_eq!(hub.apply_batch("e", &verified("e", 10, &recs(0, 2, "LD0/MMXU1.Hz"))).unwrap(), applied(2));
    assert_eq!(hub.apply_batch("e", &verified("e", 11, &recs(2, 2, "LD0/MMXU1.Hz"))).unwrap(), applied(2));
    let b14 = verified("e", 14, &recs(8, 2, "LD0/MMXU1.Hz"));
    let out = hub.apply_batch("e", &b14).unwrap();
    assert_eq!(out, ApplyOutcome::Applied { stored: 2, duplicates: 0, gap: Some(12..14), late: false });
    let last = hub.last_batch("e").unwrap().unwrap();
    assert_eq!((last.batch_seq, last.header_bytes.as_slice()), (14, b14.sealed_header()));
    let b12 = verified("e", 12, &recs(4, 2, "LD0/MMXU1.Hz"));
    let out = hub.apply_batch("e", &b12).unwrap();
    assert_eq!(out, ApplyOutcome::Applied { stored: 2, duplicates: 0, gap: None, late: true });
    assert_eq!(hub.last_batch("e").unwrap().unwrap().batch_seq, 14, "a late batch does not move the chain head");
    assert_eq!(hub.batch("e", 12).unwrap().as_deref(), Some(b12.sealed_header()));
    assert_eq!(hub.batch("e", 13).unwrap(), None);
    assert_eq!(hub.batch("nobody", 12).unwrap(), None);
    assert_eq!(hub.last_batch("nobody").unwrap(), None);
}

#[test]
fn latest_keeps_the_newest_value_even_when_an_older_batch_arrives_late() {
    let dir = tempfile::tempdir().unwrap();
    let hub = HubStore::open(dir.path().join("h.redb")).unwrap();
    let t0 = Timestamp(1_700_000_000 * SECOND);
    let b1 = vec![rec(0, "LD0/MMXU1.Hz", t0, 50.0), rec(1, "LD0/MMXU1.TotW", t0, 1.0)];
    let b3 = vec![rec(4, "LD0/MMXU1.Hz", Timestamp(t0.0 + 4 * SECOND), 50.2)];
    let b2 = vec![rec(2, "LD0/MMXU1.Hz", Timestamp(t0.0 + 2 * SECOND), 49.9), rec(3, "LD0/MMXU1.TotW", Timestamp(t0.0 + 3 * SECOND), 2.0)];
    hub.apply_batch("e", &verified("e", 1, &b1)).unwrap();
    hub.apply_batch("e", &verified("e", 3, &b3)).unwrap();
    hub.apply_batch("e", &verified("e", 2, &b2)).unwrap();
    assert_eq!(hub.latest(&point("LD0/MMXU1.Hz")).unwrap(), Some(b3[0].clone()));
    assert_eq!(hub.latest(&point("LD0/MMXU1.TotW")).unwrap(), Some(b2[1].clone()));
    assert_eq!(hub.latest(&point("LD0/MMXU1.PhV")).unwrap(), None);
    assert_eq!(hub.latest_all().unwrap(), vec![b3[0].clone(), b2[1].clone()]);
}

#[test]
fn conflicting_record_with_same_identity_is_refused_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let hub = HubStore::open(dir.path().join("h.redb")).unwrap();
    let r = recs(0, 2, "LD0/MMXU1.Hz");
    hub.apply_batch("e", &verified("e", 1, &r)).unwrap();
    // A batch over seqs 1..4 whose seq 1 says something else than the stored one.
    let mut forged = recs(1, 3, "LD0/MMXU1.Hz");
    forged[0] = Record { value: Value::Float(99.0), ..r[1].clone() };
    let err = hub.apply_batch("e", &verified("e", 2, &forged)).unwrap_err();
    assert!(matches!(err, StoreError::ConflictingRecord { seq: 1, .. }), "{err}");
    assert_eq!(hub.record_count().unwrap(), 2);
    assert_eq!(hub.batch("e", 2).unwrap(), None);
    assert_eq!(hub.history(&point("LD0/MMXU1.Hz"), Timestamp(0), Timestamp(i64::MAX), 10).unwrap(), r);
}

#[test]
fn hub_state_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.redb");
    {
        let hub = HubStore::open(&path).unwrap();
        hub.apply_batch("e", &verified("e", 1, &recs(0, 5, "LD0/MMXU1.Hz"))).unwrap();
    }
    let hub = HubStore::open(&path).unwrap();
    assert_eq!(hub.record_count().unwrap(), 5);
    assert_eq!(hub.apply_batch("e", &verified("e", 1, &recs(0, 5, "LD0/MMXU1.Hz"))).unwrap(), ApplyOutcome::Duplicate);
    assert_eq!(
        hub.apply_batch("e", &verified("e", 3, &recs(5, 1, "LD0/MMXU1.Hz"))).unwrap(),
        ApplyOutcome::Applied { stored: 1, duplicates: 0, gap: Some(2..3), late: false }
    );
}

#[test]
fn group_apply_is_one_transaction_with_per_batch_outcomes() {
    let dir = tempfile::tempdir().unwrap();
    let hub = HubStore::open(dir.path().join("h.redb")).unwrap();
    let (r1, r2, r3) = (recs(0, 3, "LD0/MMXU1.Hz"), recs(3, 3, "LD0/MMXU1.Hz"), recs(6, 3, "LD0/MMXU1.Hz"));
    let (b1, b2) = (verified("e", 1, &r1), verified("e", 2, &r2));
    let out = hub.apply_batches("e", &[b1, b2.clone(), b2]).unwrap();
    assert_eq!(out, vec![applied(3), applied(3), ApplyOutcome::Duplicate]);
    // A conflict anywhere in the group stores none of it.
    let mut bad = r1.clone();
    bad[0].value = Value::Float(-1.0);
    let (b3, b4) = (verified("e", 3, &r3), verified("e", 4, &bad));
    assert!(hub.apply_batches("e", &[b3, b4]).is_err());
    assert_eq!(hub.record_count().unwrap(), 6);
    assert_eq!(hub.batch("e", 3).unwrap(), None);
}

#[test]
fn invalid_source_time_files_the_record_under_receive_time() {
    let mut r = rec(0, "LD0/MMXU1.Hz", Timestamp(5 * SECOND), 1.0);
    assert_eq!(series_time(&r), Timestamp(5 * SECOND));
    r.source_time = Some((Timestamp(5 * SECOND), TimeQuality { invalid: true, ..TimeQuality::GOOD }));
    assert_eq!(series_time(&r), r.received_at);
    r.source_time = None;
    assert_eq!(series_time(&r), r.received_at);
}

#[test]
fn history_on_a_point_does_not_leak_into_a_point_with_a_longer_name() {
    let dir = tempfile::tempdir().unwrap();
    let hub = HubStore::open(dir.path().join("h.redb")).unwrap();
    let t = Timestamp(0);
    hub.apply_batch("e", &verified("e", 1, &[rec(0, "LD0/MMXU1.Hz", t, 1.0), rec(1, "LD0/MMXU1.Hzz", t, 2.0)])).unwrap();
    let h = hub.history(&point("LD0/MMXU1.Hz"), Timestamp(i64::MIN), Timestamp(i64::MAX), 10).unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].value, Value::Float(1.0));
}

const POINTS: [&str; 3] = ["LD0/MMXU1.Hz", "LD0/MMXU1.TotW", "LD0/MMXU1.Hz[MX]"];

/// Brute force over everything applied: records of `p` with series time in `[from, to)`, in
/// (time, seq) order.
fn brute_history(all: &[Record], p: &str, from: i64, to: i64) -> Vec<Record> {
    let mut v: Vec<Record> = all.iter().filter(|r| r.point.as_str() == p && (from..to).contains(&series_time(r).0)).cloned().collect();
    v.sort_by_key(|r| (series_time(r), r.seq));
    v
}

fn brute_downsample(all: &[Record], p: &str, from: i64, to: i64, n: usize) -> Vec<Bucket> {
    let width = (i128::from(to) - i128::from(from) + n as i128 - 1) / n as i128;
    let mut out: Vec<(Bucket, Vec<f64>)> = Vec::new();
    for r in brute_history(all, p, from, to) {
        let t = i128::from(series_time(&r).0);
        let start = Timestamp((i128::from(from) + (t - i128::from(from)) / width * width) as i64);
        let v = r.value.as_f64();
        match out.iter_mut().find(|(b, _)| b.start == start) {
            Some((b, vals)) => {
                vals.push(v);
                b.last = v;
            }
            None => out.push((Bucket { start, min: 0.0, max: 0.0, mean: 0.0, count: 0, last: v }, vec![v])),
        }
    }
    out.into_iter()
        .map(|(mut b, vals)| {
            b.count = vals.len() as u64;
            b.min = vals.iter().copied().fold(f64::INFINITY, f64::min);
            b.max = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            b.mean = vals.iter().sum::<f64>() / vals.len() as f64;
            b
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Random records on three points (one id a prefix of another), with times that go back and
    /// forth, applied in random batch sizes: history and downsampling agree with brute force.
    #[test]
    fn history_and_downsample_match_brute_force(
        samples in prop::collection::vec((0usize..3, -50i64..400, -1000i32..1000, any::<bool>()), 1..300),
        batch_size in 1usize..40,
        from in -60i64..300,
        len in 1i64..500,
        buckets in 1usize..40,
        limit in 1usize..400,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let hub = HubStore::open(dir.path().join("h.redb")).unwrap();
        let all: Vec<Record> = samples.iter().enumerate().map(|(seq, &(p, t, v, has_source))| {
            let mut r = rec(seq as u64, POINTS[p], Timestamp(t * SECOND / 3), v as f32 / 8.0);
            if !has_source { r.source_time = None; }
            r
        }).collect();
        for (i, chunk) in all.chunks(batch_size).enumerate() {
            hub.apply_batch("e", &verified("e", i as u64 + 1, chunk)).unwrap();
        }
        prop_assert_eq!(hub.record_count().unwrap(), all.len() as u64);
        let (from, to) = (from * SECOND / 3, (from + len) * SECOND / 3);
        for p in POINTS {
            let want = brute_history(&all, p, from, to);
            let got = hub.history(&point(p), Timestamp(from), Timestamp(to), limit).unwrap();
            prop_assert_eq!(&got[..], &want[..want.len().min(limit)]);

            let want = brute_downsample(&all, p, from, to, buckets);
            let got = hub.downsample(&point(p), Timestamp(from), Timestamp(to), buckets).unwrap();
            prop_assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(&want) {
                prop_assert_eq!((g.start, g.count, g.min, g.max, g.last), (w.start, w.count, w.min, w.max, w.last));
                prop_assert!((g.mean - w.mean).abs() <= 1e-9 * w.mean.abs().max(1.0), "{} vs {}", g.mean, w.mean);
            }
            prop_assert!(got.len() <= buckets);
            prop_assert_eq!(got.iter().map(|b| b.count).sum::<u64>(), brute_history(&all, p, from, to).len() as u64);
            // The latest value is the point's newest by the edge's sequence, whatever its time stamp.
            let latest_want = all.iter().filter(|r| r.point.as_str() == p).max_by_key(|r| r.seq);
            let latest_got = hub.latest(&point(p)).unwrap();
            prop_assert_eq!(latest_got.as_ref(), latest_want);
        }
    }
}

#[test]
fn downsample_of_a_day_into_hours() {
    let dir = tempfile::tempdir().unwrap();
    let hub = HubStore::open(dir.path().join("h.redb")).unwrap();
    let day0 = 1_700_000_000 * SECOND;
    let all: Vec<Record> = (0..86_400u64)
        .step_by(60)
        .zip(0..)
        .map(|(s, seq)| rec(seq, "LD0/MMXU1.Hz", Timestamp(day0 + s as i64 * SECOND), (s % 3600) as f32))
        .collect();
    for (i, c) in all.chunks(100).enumerate() {
        hub.apply_batch("e", &verified("e", i as u64, c)).unwrap();
    }
    let b = hub.downsample(&point("LD0/MMXU1.Hz"), Timestamp(day0), Timestamp(day0 + 86_400 * SECOND), 24).unwrap();
    assert_eq!(b.len(), 24);
    for (h, bucket) in b.iter().enumerate() {
        assert_eq!(bucket.start, Timestamp(day0 + h as i64 * 3600 * SECOND));
        assert_eq!((bucket.count, bucket.min, bucket.max, bucket.last), (60, 0.0, 3540.0, 3540.0));
        assert!((bucket.mean - 1770.0).abs() < 1e-9);
    }
    assert!(hub.downsample(&point("LD0/MMXU1.Hz"), Timestamp(day0), Timestamp(day0), 24).unwrap().is_empty());
    assert!(hub.downsample(&point("LD0/MMXU1.Hz"), Timestamp(day0), Timestamp(day0 + 1), 0).unwrap().is_empty());
}

#[test]
fn empty_or_overlong_edge_id_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let hub = HubStore::open(dir.path().join("h.redb")).unwrap();
    assert!(matches!(hub.apply_batch("", &verified("", 1, &[])), Err(StoreError::BadEdgeId(_))));
    assert!(matches!(hub.apply_batch(&"x".repeat(256), &verified(&"x".repeat(256), 1, &[])), Err(StoreError::BadEdgeId(_))));
    // An empty batch (a heartbeat) is stored for its header.
    assert_eq!(hub.apply_batch("e", &verified("e", 1, &[])).unwrap(), applied(0));
    assert_eq!(hub.apply_batch("e", &verified("e", 1, &[])).unwrap(), ApplyOutcome::Duplicate);
}
