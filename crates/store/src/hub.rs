//! The hub's embedded store: idempotent batch apply, batch evidence, latest values, time series.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use gridtrust_model::{PointId, Record, Timestamp};
use redb::{Database, ReadableDatabase, ReadableTable, Table, TableDefinition, WriteTransaction};
use tracing::{debug, info, warn};

use crate::db::Db;
use crate::codec::{array, decode_record, hex, point_prefix, time_bytes, time_from};
use crate::error::{Corruption, Result, StoreError};
use crate::queue::LastBatch;

/// edge id -> edge number (4 BE) ++ last applied batch seq (8 BE) ++ last header.
const EDGES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("hub_edges");
/// edge number (4 BE) ++ batch seq (8 BE) -> header bytes, kept as evidence.
const BATCHES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("hub_batches");
/// point length (1) ++ point ++ time (8, sign-flipped BE) ++ edge number (4) ++ seq (8) -> record.
const SERIES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("hub_series");
/// point id -> canonical record of its newest value.
const LATEST: TableDefinition<&[u8], &[u8]> = TableDefinition::new("hub_latest");
/// Counters.
const META: TableDefinition<&[u8], &[u8]> = TableDefinition::new("hub_meta");

const EDGES_NAME: &str = "hub_edges";
const SERIES_NAME: &str = "hub_series";
const LATEST_NAME: &str = "hub_latest";
const META_NAME: &str = "hub_meta";

const KEY_RECORDS: &[u8] = b"records";
const KEY_NEXT_EDGE: &[u8] = b"next_edge_no";

/// The instant a record is filed under in the time series: the source time when the source gave
/// one it vouches for, else the edge's receive time. Trends want "when it happened"; a source
/// time flagged invalid is no better than the edge clock.
pub fn series_time(record: &Record) -> Timestamp {
    match record.source_time {
        Some((t, q)) if !q.invalid => t,
        _ => record.received_at,
    }
}

/// What [`HubStore::apply_batch`] did, so the hub can acknowledge and alarm without a second query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// The batch was stored.
    Applied {
        /// Records newly stored.
        stored: usize,
        /// Records of this batch the store already held (a re-batched resend); not stored twice.
        duplicates: usize,
        /// Batch seqs skipped between the last applied batch and this one (`expected..got`): a
        /// lost or withheld batch the hub must alarm on. `None` when contiguous or for an edge's
        /// first batch.
        gap: Option<Range<u64>>,
        /// The batch arrived after a later one (it fills an earlier gap); the edge's last batch
        /// and header stay those of the later batch.
        late: bool,
    },
    /// The batch, or every record in it, was applied before; nothing was written. The hub
    /// acknowledges it again, which is what at-least-once delivery needs.
    Duplicate,
}

/// One batch for [`HubStore::apply_batches`], borrowed from the receive buffer.
#[derive(Clone, Copy, Debug)]
pub struct BatchRef<'a> {
    /// The edge's batch number, the idempotence key together with the edge id.
    pub batch_seq: u64,
    /// The signed header as received, stored verbatim as evidence.
    pub header_bytes: &'a [u8],
    /// The batch's records, already verified against the header's Merkle root.
    pub records: &'a [Record],
}

/// One interval of a downsampled series, what a trend chart draws per pixel column instead of
/// shipping every 1-second sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bucket {
    /// Start of the interval; it lasts until the next bucket's start (intervals are equal width).
    pub start: Timestamp,
    /// Smallest value, for the envelope a chart shades.
    pub min: f64,
    /// Largest value, so a one-second spike survives downsampling.
    pub max: f64,
    /// Arithmetic mean of the values (not time-weighted: samples are assumed regular).
    pub mean: f64,
    /// Records in the interval; lets a viewer tell sparse from dense data.
    pub count: u64,
    /// The value of the latest record in the interval, the one a step chart holds.
    pub last: f64,
}

/// The hub's store. Applying a batch is one redb transaction (all records or none) keyed so that
/// a resend of the same (edge, batch seq) or of the same records changes nothing: delivery
/// between edge and hub is at-least-once and the store makes it exactly-once.
///
/// Besides the series it keeps each edge's last batch header, so the hub can check that a new
/// header links to it, and every header by (edge, batch seq) as evidence for audits.
pub struct HubStore {
    db: Db,
    path: PathBuf,
}

impl std::fmt::Debug for HubStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubStore").field("path", &self.path).finish_non_exhaustive()
    }
}

struct EdgeEntry {
    no: u32,
    last: LastBatch,
}

fn decode_edge(edge_id: &str, v: &[u8]) -> Result<EdgeEntry> {
    let key = || edge_id.to_owned();
    let no = u32::from_be_bytes(array(v, 0, "edge number", EDGES_NAME, key)?);
    let batch_seq = u64::from_be_bytes(array(v, 4, "last batch seq", EDGES_NAME, key)?);
    Ok(EdgeEntry { no, last: LastBatch { batch_seq, header_bytes: v.get(12..).unwrap_or_default().to_vec() } })
}

fn encode_edge(no: u32, batch_seq: u64, header: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(12 + header.len());
    v.extend_from_slice(&no.to_be_bytes());
    v.extend_from_slice(&batch_seq.to_be_bytes());
    v.extend_from_slice(header);
    v
}

fn batch_key(edge_no: u32, batch_seq: u64) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..4].copy_from_slice(&edge_no.to_be_bytes());
    k[4..].copy_from_slice(&batch_seq.to_be_bytes());
    k
}

fn check_edge_id(edge_id: &str) -> Result<()> {
    if edge_id.is_empty() || edge_id.len() > 255 {
        return Err(StoreError::BadEdgeId(edge_id.to_owned()));
    }
    Ok(())
}

fn read_u64(table: &impl ReadableTable<&'static [u8], &'static [u8]>, key: &'static [u8]) -> Result<u64> {
    let Some(v) = table.get(key)? else { return Ok(0) };
    let v = v.value();
    let name = || String::from_utf8_lossy(key).into_owned();
    if v.len() != 8 {
        return Err(StoreError::Corrupt {
            table: META_NAME,
            key: name(),
            problem: Corruption::Length { what: "counter", expected: 8, found: v.len() },
        });
    }
    Ok(u64::from_be_bytes(array(v, 0, "counter", META_NAME, name)?))
}

/// Describes a series key for an error message, falling back to hex if it is itself damaged.
fn describe_series_key(k: &[u8]) -> String {
    let Some((&len, rest)) = k.split_first() else { return hex(k) };
    let len = usize::from(len);
    match (rest.get(..len), rest.get(len..len + 8), rest.get(len + 8..len + 12), rest.get(len + 12..)) {
        (Some(p), Some(t), Some(e), Some(s)) if s.len() == 8 => {
            let t = time_from(t.try_into().unwrap_or_default());
            let e = u32::from_be_bytes(e.try_into().unwrap_or_default());
            let s = u64::from_be_bytes(s.try_into().unwrap_or_default());
            format!("point {} time {} edge #{e} seq {s}", String::from_utf8_lossy(p), t.0)
        }
        _ => hex(k),
    }
}

impl HubStore {
    /// Opens or creates the store at `path` without a full integrity check, because the hub's
    /// file can be large and the check reads all of it. Damage found later is still an error.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_inner(path.as_ref(), false)
    }

    /// Opens the store after redb's full integrity check (page checksums, repair when possible):
    /// for start-up after a crash or an unclean shutdown, or when [`StoreError::Damaged`] or
    /// [`StoreError::Corrupt`] was seen.
    pub fn open_checked(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_inner(path.as_ref(), true)
    }

    fn open_inner(path: &Path, check: bool) -> Result<Self> {
        crate::error::guard("open", || {
            let path = path.to_path_buf();
            let mut db = Db::new(Database::create(&path).map_err(|source| StoreError::Open { path: path.clone(), source })?);
            if check && !db.get_mut()?.check_integrity().map_err(|source| StoreError::Open { path: path.clone(), source })? {
                warn!(path = %path.display(), "hub store failed its integrity check and was repaired");
            }
            let txn = db.get()?.begin_write()?;
            let records = {
                txn.open_table(EDGES)?;
                txn.open_table(BATCHES)?;
                txn.open_table(SERIES)?;
                txn.open_table(LATEST)?;
                read_u64(&txn.open_table(META)?, KEY_RECORDS)?
            };
            txn.commit()?;
            info!(path = %path.display(), records, checked = check, "hub store opened");
            Ok(Self { db, path })
        })
    }

    /// Stores one batch from `edge_id` atomically and idempotently; see [`ApplyOutcome`].
    ///
    /// The caller verifies the batch's signature and chain link first; this store only keeps
    /// what it is given, but never keeps it twice and never keeps half of it.
    pub fn apply_batch(&self, edge_id: &str, batch_seq: u64, header_bytes: &[u8], records: &[Record]) -> Result<ApplyOutcome> {
        let mut out = self.apply_batches(edge_id, &[BatchRef { batch_seq, header_bytes, records }])?;
        Ok(out.pop().unwrap_or(ApplyOutcome::Duplicate))
    }

    /// Stores several consecutive batches from one edge in one transaction, trading one fsync per
    /// batch for one per call when the hub drains a backlog. All or nothing: an error stores none.
    pub fn apply_batches(&self, edge_id: &str, batches: &[BatchRef<'_>]) -> Result<Vec<ApplyOutcome>> {
        crate::error::guard("apply_batches", || {
            check_edge_id(edge_id)?;
            let txn = self.db.get()?.begin_write()?;
            let mut outcomes = Vec::with_capacity(batches.len());
            let mut any_stored = false;
            for b in batches {
                let o = apply_in(&txn, edge_id, b)?;
                any_stored |= matches!(o, ApplyOutcome::Applied { .. });
                outcomes.push(o);
            }
            if any_stored {
                txn.commit()?;
            } else {
                txn.abort()?;
            }
            Ok(outcomes)
        })
    }

    /// The newest value of a point, for the live view and the IEC 104 image.
    pub fn latest(&self, point: &PointId) -> Result<Option<Record>> {
        crate::error::guard("latest", || {
            let txn = self.db.get()?.begin_read()?;
            let t = txn.open_table(LATEST)?;
            let Some(v) = t.get(point.as_str().as_bytes())? else { return Ok(None) };
            decode_record(v.value(), LATEST_NAME, || point.to_string()).map(Some)
        })
    }

    /// The newest value of every point, ordered by point id: the process image a connector loads
    /// at start-up (general interrogation).
    pub fn latest_all(&self) -> Result<Vec<Record>> {
        crate::error::guard("latest_all", || {
            let txn = self.db.get()?.begin_read()?;
            let t = txn.open_table(LATEST)?;
            let mut out = Vec::new();
            for e in t.iter()? {
                let (k, v) = e?;
                out.push(decode_record(v.value(), LATEST_NAME, || String::from_utf8_lossy(k.value()).into_owned())?);
            }
            Ok(out)
        })
    }

    /// The last batch applied for an edge (highest batch seq), whose header the next batch must
    /// link to; `None` for an edge never seen.
    pub fn last_batch(&self, edge_id: &str) -> Result<Option<LastBatch>> {
        crate::error::guard("last_batch", || {
            let txn = self.db.get()?.begin_read()?;
            let t = txn.open_table(EDGES)?;
            let Some(v) = t.get(edge_id.as_bytes())? else { return Ok(None) };
            Ok(Some(decode_edge(edge_id, v.value())?.last))
        })
    }

    /// Every edge the hub has heard from with its last batch, for dashboards and chain checks at
    /// start-up.
    pub fn edges(&self) -> Result<Vec<(String, LastBatch)>> {
        crate::error::guard("edges", || {
            let txn = self.db.get()?.begin_read()?;
            let t = txn.open_table(EDGES)?;
            let mut out = Vec::new();
            for e in t.iter()? {
                let (k, v) = e?;
                let id = std::str::from_utf8(k.value()).map_err(|e| StoreError::Corrupt {
                    table: EDGES_NAME,
                    key: hex(k.value()),
                    problem: Corruption::Inconsistent(format!("edge id is not UTF-8: {e}")),
                })?;
                out.push((id.to_owned(), decode_edge(id, v.value())?.last));
            }
            Ok(out)
        })
    }

    /// The stored header of one batch, the evidence an auditor asks for to check a value.
    pub fn batch(&self, edge_id: &str, batch_seq: u64) -> Result<Option<Vec<u8>>> {
        crate::error::guard("batch", || {
            let txn = self.db.get()?.begin_read()?;
            let edges = txn.open_table(EDGES)?;
            let Some(v) = edges.get(edge_id.as_bytes())? else { return Ok(None) };
            let no = decode_edge(edge_id, v.value())?.no;
            let batches = txn.open_table(BATCHES)?;
            Ok(batches.get(batch_key(no, batch_seq).as_slice())?.map(|v| v.value().to_vec()))
        })
    }

    /// Up to `limit` records of `point` with series time in `[from, to)`, oldest first. One
    /// contiguous range scan: the series key starts with point then time.
    pub fn history(&self, point: &PointId, from: Timestamp, to: Timestamp, limit: usize) -> Result<Vec<Record>> {
        crate::error::guard("history", || {
            let mut out = Vec::new();
            self.scan(point, from, to, |k, v| {
                if out.len() >= limit {
                    return Ok(false);
                }
                out.push(decode_record(v, SERIES_NAME, || describe_series_key(k))?);
                Ok(true)
            })?;
            Ok(out)
        })
    }

    /// Splits `[from, to)` into `buckets` equal intervals (the last may be cut short) and
    /// summarises each with min, max, mean, count and last value, computed on
    /// [`gridtrust_model::Value::as_f64`]. Empty intervals are left out, so a chart shows a gap
    /// rather than an invented zero.
    pub fn downsample(&self, point: &PointId, from: Timestamp, to: Timestamp, buckets: usize) -> Result<Vec<Bucket>> {
        crate::error::guard("downsample", || {
            let mut out: Vec<Bucket> = Vec::new();
            if buckets == 0 || to <= from {
                return Ok(out);
            }
            let span = i128::from(to.0) - i128::from(from.0);
            let n = i128::try_from(buckets).unwrap_or(i128::MAX);
            let width = (span + n - 1) / n;
            let prefix_len = 1 + point.as_str().len();
            let mut sum = 0.0f64;
            self.scan(point, from, to, |k, v| {
                let t = time_from(array(k, prefix_len, "series key time", SERIES_NAME, || hex(k))?);
                let value = decode_record(v, SERIES_NAME, || describe_series_key(k))?.value.as_f64();
                let idx = (i128::from(t.0) - i128::from(from.0)) / width;
                let start = Timestamp(i64::try_from(i128::from(from.0) + idx * width).unwrap_or(i64::MAX));
                match out.last_mut() {
                    Some(b) if b.start == start => {
                        b.min = b.min.min(value);
                        b.max = b.max.max(value);
                        b.count += 1;
                        b.last = value;
                        sum += value;
                        b.mean = sum / b.count as f64;
                    }
                    _ => {
                        sum = value;
                        out.push(Bucket { start, min: value, max: value, mean: value, count: 1, last: value });
                    }
                }
                Ok(true)
            })?;
            Ok(out)
        })
    }

    /// Records stored in the series (duplicates excluded), for tests and metrics.
    pub fn record_count(&self) -> Result<u64> {
        crate::error::guard("record_count", || {
            let txn = self.db.get()?.begin_read()?;
            read_u64(&txn.open_table(META)?, KEY_RECORDS)
        })
    }

    /// Visits raw series entries of `point` in `[from, to)` until `f` returns false.
    fn scan(&self, point: &PointId, from: Timestamp, to: Timestamp, mut f: impl FnMut(&[u8], &[u8]) -> Result<bool>) -> Result<()> {
        if to <= from {
            return Ok(());
        }
        let mut lo = point_prefix(point);
        let mut hi = lo.clone();
        lo.extend_from_slice(&time_bytes(from));
        hi.extend_from_slice(&time_bytes(to));
        let txn = self.db.get()?.begin_read()?;
        let t = txn.open_table(SERIES)?;
        for e in t.range(lo.as_slice()..hi.as_slice())? {
            let (k, v) = e?;
            if !f(k.value(), v.value())? {
                break;
            }
        }
        Ok(())
    }
}

/// Applies one batch inside `txn`; see [`HubStore::apply_batch`].
fn apply_in(txn: &WriteTransaction, edge_id: &str, b: &BatchRef<'_>) -> Result<ApplyOutcome> {
    let mut edges = txn.open_table(EDGES)?;
    let mut meta = txn.open_table(META)?;
    let existing = match edges.get(edge_id.as_bytes())? {
        Some(v) => Some(decode_edge(edge_id, v.value())?),
        None => None,
    };
    let edge_no = match &existing {
        Some(e) => e.no,
        None => {
            let next = read_u64(&meta, KEY_NEXT_EDGE)?;
            let no = u32::try_from(next).map_err(|_| StoreError::Corrupt {
                table: META_NAME,
                key: "next_edge_no".to_owned(),
                problem: Corruption::Inconsistent(format!("edge counter {next} exceeds u32")),
            })?;
            meta.insert(KEY_NEXT_EDGE, (next + 1).to_be_bytes().as_slice())?;
            no
        }
    };
    let mut batches = txn.open_table(BATCHES)?;
    let bkey = batch_key(edge_no, b.batch_seq);
    if batches.get(bkey.as_slice())?.is_some() {
        debug!(edge_id, batch_seq = b.batch_seq, "duplicate batch");
        return Ok(ApplyOutcome::Duplicate);
    }

    let mut series = txn.open_table(SERIES)?;
    let (stored, newest) = insert_records(&mut series, edge_id, edge_no, b.records)?;
    let duplicates = b.records.len() - stored;
    if stored == 0 && !b.records.is_empty() {
        // Every record was identical to a stored one: re-inserting equal bytes changed nothing.
        debug!(edge_id, batch_seq = b.batch_seq, records = b.records.len(), "all records already applied");
        return Ok(ApplyOutcome::Duplicate);
    }

    batches.insert(bkey.as_slice(), b.header_bytes)?;
    let (gap, late) = match &existing {
        None => (None, false),
        Some(e) if b.batch_seq > e.last.batch_seq => {
            let expected = e.last.batch_seq + 1;
            (if b.batch_seq > expected { Some(expected..b.batch_seq) } else { None }, false)
        }
        Some(_) => (None, true),
    };
    if existing.as_ref().is_none_or(|e| b.batch_seq > e.last.batch_seq) {
        edges.insert(edge_id.as_bytes(), encode_edge(edge_no, b.batch_seq, b.header_bytes).as_slice())?;
    }

    let mut latest = txn.open_table(LATEST)?;
    for (point, r) in newest {
        let key = point.as_str().as_bytes();
        let replace = match latest.get(key)? {
            None => true,
            Some(v) => {
                let old = decode_record(v.value(), LATEST_NAME, || point.to_string())?;
                (series_time(r), r.seq) >= (series_time(&old), old.seq)
            }
        };
        if replace {
            latest.insert(key, r.encode_canonical().as_slice())?;
        }
    }

    let count = read_u64(&meta, KEY_RECORDS)?;
    meta.insert(KEY_RECORDS, (count + stored as u64).to_be_bytes().as_slice())?;

    if let Some(g) = &gap {
        warn!(edge_id, batch_seq = b.batch_seq, missing_from = g.start, missing_to = g.end, "batch sequence gap");
    } else if late {
        info!(edge_id, batch_seq = b.batch_seq, "late batch fills an earlier gap");
    }
    debug!(edge_id, batch_seq = b.batch_seq, stored, duplicates, "batch applied");
    Ok(ApplyOutcome::Applied { stored, duplicates, gap, late })
}

/// Inserts the batch's records into the series; returns how many were new and, per point, the
/// newest new record.
fn insert_records<'r>(
    series: &mut Table<&'static [u8], &'static [u8]>,
    edge_id: &str,
    edge_no: u32,
    records: &'r [Record],
) -> Result<(usize, HashMap<&'r PointId, &'r Record>)> {
    let mut stored = 0;
    let mut newest: HashMap<&PointId, &Record> = HashMap::new();
    let mut key = Vec::with_capacity(64);
    let mut val = Vec::with_capacity(64);
    for r in records {
        let t = series_time(r);
        key.clear();
        key.extend_from_slice(&point_prefix(&r.point));
        key.extend_from_slice(&time_bytes(t));
        key.extend_from_slice(&edge_no.to_be_bytes());
        key.extend_from_slice(&r.seq.to_be_bytes());
        val.clear();
        r.encode_canonical_into(&mut val);
        if let Some(old) = series.insert(key.as_slice(), val.as_slice())? {
            if old.value() != val.as_slice() {
                warn!(edge_id, seq = r.seq, point = %r.point, "conflicting record, batch refused");
                return Err(StoreError::ConflictingRecord { edge_id: edge_id.to_owned(), seq: r.seq });
            }
            continue;
        }
        stored += 1;
        newest
            .entry(&r.point)
            .and_modify(|cur| {
                if (t, r.seq) >= (series_time(cur), cur.seq) {
                    *cur = r;
                }
            })
            .or_insert(r);
    }
    Ok((stored, newest))
}
