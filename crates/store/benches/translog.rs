//! Transparency log throughput on a log of 100k+ entries, each figure beside a baseline measured
//! in the same run, because absolute figures on a shared machine are noise:
//!
//! - appends in batches (one transaction each) vs raw redb inserting the same entry bytes under
//!   the same keys in the same batches: the ratio is the price of the Merkle tree (leaf hash and
//!   complete-subtree writes);
//! - appends plus an inclusion proof for every appended entry vs the same appends without
//!   proofs: the ratio is the price of proving each entry as the hub would;
//! - one inclusion proof from the log (O(log n) node reads) vs recomputing it in memory from
//!   all leaf hashes (`merkle::inclusion_proof`, O(n)), and the root at a past size likewise.
//!
//! Criterion measures each case; a closing table prints medians, rates and ratios.
//!
//! `cargo bench -p gridtrust-store --bench translog` (`TRANSLOG_BENCH_ENTRIES` sets the preload,
//! default 100000; `TRANSLOG_BENCH_BATCH` the batch size, default 1000).

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use gridtrust_store::TransparencyLog;
use gridtrust_trust::merkle::{self, Hash};
use redb::{Database, TableDefinition};

const RAW: TableDefinition<&[u8], &[u8]> = TableDefinition::new("raw_entries");

/// A log entry about the size of a sealed batch header with its signature.
fn entry(i: u64) -> Vec<u8> {
    let mut e = vec![0x5au8; 200];
    e[..8].copy_from_slice(&i.to_be_bytes());
    e
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Raw redb doing the disk work of an append without the tree: entry bytes under index keys.
struct RawLog {
    db: Database,
    size: u64,
}

impl RawLog {
    fn open(path: &Path) -> Self {
        Self { db: Database::create(path).expect("raw redb opens"), size: 0 }
    }

    fn append_many(&mut self, entries: &[Vec<u8>]) {
        let txn = self.db.begin_write().expect("write txn");
        {
            let mut t = txn.open_table(RAW).expect("table");
            for e in entries {
                t.insert(self.size.to_be_bytes().as_slice(), e.as_slice()).expect("insert");
                self.size += 1;
            }
        }
        txn.commit().expect("commit");
    }
}

fn batch(from: u64, n: u64) -> Vec<Vec<u8>> {
    (from..from + n).map(entry).collect()
}

fn preload(log: &mut TransparencyLog, raw: &mut RawLog, leaves: &mut Vec<Hash>, n: u64) {
    let chunk = 10_000;
    let mut done = 0;
    while done < n {
        let b = batch(done, chunk.min(n - done));
        log.append_many(&b).expect("preload");
        raw.append_many(&b);
        leaves.extend(b.iter().map(|e| merkle::leaf_hash(e)));
        done += b.len() as u64;
    }
}

/// Median of `runs` timings of `f`.
fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut v: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    v.sort();
    v[v.len() / 2]
}

fn row(name: &str, unit: &str, per: f64, base: Duration, ours: Duration) {
    let rate = |d: Duration| per / d.as_secs_f64();
    println!(
        "{name:<46} baseline {:>9.3} ms {:>11.0} {unit}   gridtrust {:>9.3} ms {:>11.0} {unit}   ratio {:.3}",
        base.as_secs_f64() * 1e3,
        rate(base),
        ours.as_secs_f64() * 1e3,
        rate(ours),
        rate(ours) / rate(base),
    );
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` does not and wants a quick smoke run.
    let full = std::env::args().any(|a| a == "--bench");
    let preload_n = if full { env_u64("TRANSLOG_BENCH_ENTRIES", 100_000) } else { 2_000 };
    let batch_n = env_u64("TRANSLOG_BENCH_BATCH", 1_000).max(1);
    let runs = if full { 21 } else { 3 };

    let dir = tempfile::tempdir().expect("temp dir");
    let mut log = TransparencyLog::open(dir.path().join("translog.redb")).expect("log opens");
    let mut raw = RawLog::open(&dir.path().join("raw.redb"));
    let mut leaves = Vec::new();
    let t = Instant::now();
    preload(&mut log, &mut raw, &mut leaves, preload_n);
    println!("preloaded {preload_n} entries into the log and the raw baseline in {:.1} s", t.elapsed().as_secs_f64());

    let mut c = Criterion::default().configure_from_args().sample_size(10).warm_up_time(Duration::from_millis(500));
    {
        let mut g = c.benchmark_group("translog");
        g.throughput(Throughput::Elements(batch_n));
        let mut next = log.size();
        g.bench_function(format!("raw redb append {batch_n} (baseline)"), |b| {
            b.iter(|| {
                raw.append_many(&batch(raw.size, batch_n));
            })
        });
        g.bench_function(format!("log append_many {batch_n}"), |b| {
            b.iter(|| {
                log.append_many(&batch(next, batch_n)).expect("append");
                next += batch_n;
            })
        });
        g.bench_function(format!("log append_many {batch_n} + inclusion proof each"), |b| {
            b.iter(|| {
                let first = log.append_many(&batch(next, batch_n)).expect("append");
                next += batch_n;
                for i in first..next {
                    black_box(log.inclusion_proof(i, next).expect("proof"));
                }
            })
        });
        g.throughput(Throughput::Elements(1));
        let size = log.size();
        g.bench_function("log inclusion proof", |b| {
            let mut i = 0u64;
            b.iter(|| {
                i = (i + 7919) % size;
                black_box(log.inclusion_proof(i, size).expect("proof"))
            })
        });
        g.finish();
    }
    c.final_summary();

    // The closing table: medians of `runs` runs each, baseline and ours in the same process.
    println!();
    println!("log of {} entries, batches of {batch_n}, medians of {runs} runs", log.size());
    let base = median(runs, || raw.append_many(&batch(raw.size, batch_n)));
    let ours = median(runs, || {
        let from = log.size();
        log.append_many(&batch(from, batch_n)).expect("append");
    });
    row("append batch vs raw redb", "entries/s", batch_n as f64, base, ours);
    let with_proofs = median(runs, || {
        let first = log.append_many(&batch(log.size(), batch_n)).expect("append");
        let size = log.size();
        for i in first..size {
            black_box(log.inclusion_proof(i, size).expect("proof"));
        }
    });
    row("append + inclusion proof each vs append only", "entries/s", batch_n as f64, ours, with_proofs);

    // Bring the in-memory leaves up to date for the recomputation baselines.
    leaves.clear();
    leaves.extend((0..log.size()).map(|i| merkle::leaf_hash(&entry(i))));
    let size = log.size();
    let index = size / 3;
    let recompute = median(runs, || {
        black_box(merkle::inclusion_proof(&leaves, index as usize));
    });
    let stored = median(runs, || {
        black_box(log.inclusion_proof(index, size).expect("proof"));
    });
    assert_eq!(Some(log.inclusion_proof(index, size).expect("proof")), merkle::inclusion_proof(&leaves, index as usize));
    row("inclusion proof vs in-memory recomputation", "proofs/s", 1.0, recompute, stored);
    let past = size - 1;
    let recompute = median(runs, || {
        black_box(merkle::root_from_leaf_hashes(&leaves[..past as usize]));
    });
    let stored = median(runs, || {
        black_box(log.root_at(past).expect("root"));
    });
    assert_eq!(log.root_at(past).expect("root"), merkle::root_from_leaf_hashes(&leaves[..past as usize]));
    row("root at a past size vs in-memory recomputation", "roots/s", 1.0, recompute, stored);
}
