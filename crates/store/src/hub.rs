//! The hub's embedded store: idempotent batch apply, batch evidence, latest values, time series.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use gridtrust_model::{PointId, Record, Timestamp};
use gridtrust_trust::VerifiedBatch;
use gridtrust_trust::merkle::{self, Hash};
use redb::{Database, ReadOnlyDatabase, ReadTransaction, ReadableDatabase, ReadableTable, Table, TableDefinition, WriteTransaction};
use tracing::{debug, info, warn};

use crate::codec::{array, decode_record, hex, point_prefix, time_bytes, time_from};
use crate::db::Db;
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
/// edge number (4 BE) ++ first record seq (8 BE) ++ batch seq (8 BE) -> the RFC 9162 leaf hashes
/// (32 bytes each, in batch order) of the batch's records: what proving one record's inclusion
/// in its batch needs, without reading the batch's other records back from the series.
const LEAVES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("hub_batch_leaves");
/// point length (1) ++ point ++ slot start (8, sign-flipped BE) -> [`Rollup`] of the records of
/// that point whose series time falls in the [`ROLLUP_SLOT_NS`] slot: what downsampled history
/// reads instead of every record, so a day of 1-second data is 8,640 rows per point, not 86,400.
const ROLLUPS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("hub_series_rollup");
/// edge number (4 BE) ++ batch seq (8 BE) -> the series keys of the batch's records in batch
/// order, each prefixed by its length (2 BE): what rebuilding the batch exactly as the edge signed
/// it needs (to replay it to a connector, or to serve a point's latest value after a restart),
/// without keeping every record twice. A batch stored before this table existed has no row and
/// cannot be rebuilt (an empty batch, a heartbeat, has an empty row).
const BATCH_RECORDS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("hub_batch_records");
/// alarm id (8 BE) -> the alarm as the hub encodes it (the store does not interpret it).
const ALARMS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("hub_alarms");
/// event id (8 BE, ascending) -> an audit trail event as the hub encodes it.
const AUDIT: TableDefinition<&[u8], &[u8]> = TableDefinition::new("hub_audit");

const EDGES_NAME: &str = "hub_edges";
const SERIES_NAME: &str = "hub_series";
const LATEST_NAME: &str = "hub_latest";
const META_NAME: &str = "hub_meta";
const BATCHES_NAME: &str = "hub_batches";
const LEAVES_NAME: &str = "hub_batch_leaves";
const ROLLUPS_NAME: &str = "hub_series_rollup";
const BATCH_RECORDS_NAME: &str = "hub_batch_records";

/// Width of one roll-up slot: 10 s. Downsampled buckets are whole multiples of it.
pub const ROLLUP_SLOT_NS: i64 = 10_000_000_000;

const KEY_RECORDS: &[u8] = b"records";
const KEY_NEXT_EDGE: &[u8] = b"next_edge_no";
/// Set once the roll-up table covers every series record (stores older than it are rebuilt).
const KEY_ROLLUP_BUILT: &[u8] = b"rollup_v1";

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
    /// A batch with this seq is stored with a different signed header: the edge's chain forked
    /// (or someone replays another history under its name). Nothing was written; the two headers
    /// are the evidence.
    Fork {
        /// The header stored first, as received then.
        stored_header: Vec<u8>,
    },
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
            let mut db = Db::new(Database::create(&path).map_err(|source| StoreError::Open { path: path.clone(), source })?, &path);
            if check && !db.get_mut()?.check_integrity().map_err(|source| StoreError::Open { path: path.clone(), source })? {
                warn!(path = %path.display(), "hub store failed its integrity check and was repaired");
            }
            let txn = db.get()?.begin_write()?;
            let records = {
                txn.open_table(EDGES)?;
                txn.open_table(BATCHES)?;
                txn.open_table(SERIES)?;
                txn.open_table(LATEST)?;
                txn.open_table(LEAVES)?;
                txn.open_table(BATCH_RECORDS)?;
                txn.open_table(ALARMS)?;
                txn.open_table(AUDIT)?;
                txn.open_table(ROLLUPS)?;
                if read_u64(&txn.open_table(META)?, KEY_ROLLUP_BUILT)? == 0 {
                    rebuild_rollups(&txn)?;
                }
                read_u64(&txn.open_table(META)?, KEY_RECORDS)?
            };
            txn.commit()?;
            info!(path = %path.display(), records, checked = check, "hub store opened");
            Ok(Self { db, path })
        })
    }

    /// Stores one batch from `edge_id` atomically and idempotently; see [`ApplyOutcome`].
    ///
    /// Only a [`VerifiedBatch`] is taken: its records match its header and its signature was
    /// checked (the chain link is the caller's, from the outcome). The store never keeps a batch
    /// twice and never keeps half of one.
    pub fn apply_batch(&self, edge_id: &str, batch: &VerifiedBatch) -> Result<ApplyOutcome> {
        let mut out = self.apply_batches(edge_id, std::slice::from_ref(batch))?;
        Ok(out.pop().unwrap_or(ApplyOutcome::Duplicate))
    }

    /// Stores several consecutive batches from one edge in one transaction, trading one fsync per
    /// batch for one per call when the hub drains a backlog. All or nothing: an error stores none.
    pub fn apply_batches(&self, edge_id: &str, batches: &[VerifiedBatch]) -> Result<Vec<ApplyOutcome>> {
        self.db.guard("apply_batches", || {
            check_edge_id(edge_id)?;
            let txn = self.db.get()?.begin_write()?;
            let mut outcomes = Vec::with_capacity(batches.len());
            let mut any_stored = false;
            // The latest image and the roll-ups are updated once per call, not once per batch:
            // a backlog of many small batches costs one read-modify-write per point and slot.
            let mut newest = HashMap::new();
            let mut rollups = RollupBatch::default();
            for b in batches {
                let o = apply_in(&txn, edge_id, b, &mut newest, &mut rollups)?;
                any_stored |= matches!(o, ApplyOutcome::Applied { .. });
                outcomes.push(o);
            }
            update_latest(&mut txn.open_table(LATEST)?, newest)?;
            merge_rollups(&mut txn.open_table(ROLLUPS)?, rollups)?;
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
        self.db.guard("latest", || {
            let txn = self.db.get()?.begin_read()?;
            let t = txn.open_table(LATEST)?;
            let Some(v) = t.get(point.as_str().as_bytes())? else { return Ok(None) };
            decode_record(v.value(), LATEST_NAME, || point.to_string()).map(Some)
        })
    }

    /// The newest value of every point, ordered by point id: the process image a connector loads
    /// at start-up (general interrogation).
    pub fn latest_all(&self) -> Result<Vec<Record>> {
        self.db.guard("latest_all", || {
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
        self.db.guard("last_batch", || {
            let txn = self.db.get()?.begin_read()?;
            let t = txn.open_table(EDGES)?;
            let Some(v) = t.get(edge_id.as_bytes())? else { return Ok(None) };
            Ok(Some(decode_edge(edge_id, v.value())?.last))
        })
    }

    /// Every edge the hub has heard from with its last batch, for dashboards and chain checks at
    /// start-up.
    pub fn edges(&self) -> Result<Vec<(String, LastBatch)>> {
        self.db.guard("edges", || {
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
        self.db.guard("batch", || {
            let txn = self.db.get()?.begin_read()?;
            let edges = txn.open_table(EDGES)?;
            let Some(v) = edges.get(edge_id.as_bytes())? else { return Ok(None) };
            let no = decode_edge(edge_id, v.value())?.no;
            let batches = txn.open_table(BATCHES)?;
            Ok(batches.get(batch_key(no, batch_seq).as_slice())?.map(|v| v.value().to_vec()))
        })
    }

    /// How many batches of `edge_id` are stored after `after`, counting up to `limit`: what a
    /// replay from `after` would send. Not the difference of the numbers: an edge that lost its
    /// queue numbers its new chain far above the old one (`gridtrust_trust::chain`).
    pub fn batches_stored_after(&self, edge_id: &str, after: u64, limit: u64) -> Result<u64> {
        self.db.guard("batches_stored_after", || {
            let txn = self.db.get()?.begin_read()?;
            let Some(no) = edge_no(&txn, edge_id)? else { return Ok(0) };
            let Some(from) = after.checked_add(1) else { return Ok(0) };
            let batches = txn.open_table(BATCHES)?;
            let range = batches.range(batch_key(no, from).as_slice()..=batch_key(no, u64::MAX).as_slice())?;
            Ok(range.take(usize::try_from(limit).unwrap_or(usize::MAX)).count() as u64)
        })
    }

    /// Up to `limit` records of `point` with series time in `[from, to)`, oldest first. One
    /// contiguous range scan: the series key starts with point then time.
    pub fn history(&self, point: &PointId, from: Timestamp, to: Timestamp, limit: usize) -> Result<Vec<Record>> {
        self.db.guard("history", || {
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
        self.db.guard("downsample", || {
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

    /// Downsampled history for charts: `[from, to)` in at most `max_buckets` equal buckets,
    /// empty ones left out. Returns the bucket width in ns and the buckets.
    ///
    /// When a bucket would be at least one roll-up slot wide, the width is rounded up to whole
    /// slots and buckets start on slot boundaries; whole slots are read from the roll-ups, and
    /// only the partial slots at the two ends from the records, so the figures are exact and a
    /// day costs 8,640 roll-up rows instead of 86,400 records. Narrower buckets read records
    /// ([`HubStore::downsample`]).
    pub fn history_buckets(&self, point: &PointId, from: Timestamp, to: Timestamp, max_buckets: usize) -> Result<(i64, Vec<Bucket>)> {
        if max_buckets == 0 || to <= from {
            return Ok((0, Vec::new()));
        }
        let span = i128::from(to.0) - i128::from(from.0);
        let n = i128::try_from(max_buckets).unwrap_or(i128::MAX);
        let width = (span + n - 1) / n;
        if width < i128::from(ROLLUP_SLOT_NS) {
            let width = i64::try_from(width).unwrap_or(i64::MAX);
            return Ok((width, self.downsample(point, from, to, max_buckets)?));
        }
        self.db.guard("history_buckets", || {
            let slot = i128::from(ROLLUP_SLOT_NS);
            let width = i64::try_from((width + slot - 1) / slot * slot).unwrap_or(i64::MAX);
            let origin = slot_of(from.0);
            let first_whole = if origin == from.0 { from.0 } else { origin.saturating_add(ROLLUP_SLOT_NS) };
            let last_whole_end = slot_of(to.0);
            let mut acc = BucketAcc::new(origin, width);
            let txn = self.db.get()?.begin_read()?;
            let series = txn.open_table(SERIES)?;
            let prefix = point_prefix(point);
            let raw = |lo: i64, hi: i64, acc: &mut BucketAcc| -> Result<()> {
                if hi <= lo {
                    return Ok(());
                }
                let (mut a, mut b) = (prefix.clone(), prefix.clone());
                a.extend_from_slice(&time_bytes(Timestamp(lo)));
                b.extend_from_slice(&time_bytes(Timestamp(hi)));
                for e in series.range(a.as_slice()..b.as_slice())? {
                    let (k, v) = e?;
                    let (k, v) = (k.value(), v.value());
                    let t = time_from(array(k, prefix.len(), "series key time", SERIES_NAME, || hex(k))?);
                    let value = decode_record(v, SERIES_NAME, || describe_series_key(k))?.value.as_f64();
                    acc.add(t.0, &Rollup::one(t, value));
                }
                Ok(())
            };
            if last_whole_end <= first_whole {
                raw(from.0, to.0, &mut acc)?;
            } else {
                raw(from.0, first_whole, &mut acc)?;
                let rollups = txn.open_table(ROLLUPS)?;
                let (a, b) = (rollup_key(point, first_whole), rollup_key(point, last_whole_end));
                for e in rollups.range(a.as_slice()..b.as_slice())? {
                    let (k, v) = e?;
                    let (k, v) = (k.value(), v.value());
                    let slot = time_from(array(k, prefix.len(), "roll-up key time", ROLLUPS_NAME, || hex(k))?);
                    acc.add(slot.0, &Rollup::decode(v, k)?);
                }
                raw(last_whole_end, to.0, &mut acc)?;
            }
            Ok((width, acc.finish()))
        })
    }

    /// Adds samples of `point` to the roll-ups only, not to the series: trend history imported
    /// from elsewhere (a former historian, a backfill) that carries no edge evidence. It shows
    /// in downsampled history like live data (the same roll-up merge), but no value evidence
    /// exists for it, and narrow-bucket queries, which read records, do not see it.
    pub fn import_history(&self, point: &PointId, samples: &[(Timestamp, f64)]) -> Result<()> {
        self.db.guard("import_history", || {
            let mut rollups = RollupBatch::default();
            for (t, v) in samples {
                rollups.add(point, *t, *v);
            }
            let txn = self.db.get()?.begin_write()?;
            merge_rollups(&mut txn.open_table(ROLLUPS)?, rollups)?;
            txn.commit()?;
            Ok(())
        })
    }

    /// Stores an alarm under its id (replacing an earlier state of it).
    pub fn put_alarm(&self, id: u64, encoded: &[u8]) -> Result<()> {
        self.db.guard("put_alarm", || {
            let txn = self.db.get()?.begin_write()?;
            txn.open_table(ALARMS)?.insert(id.to_be_bytes().as_slice(), encoded)?;
            txn.commit()?;
            Ok(())
        })
    }

    /// Every stored alarm as (id, bytes), ascending.
    pub fn alarms(&self) -> Result<Vec<(u64, Vec<u8>)>> {
        self.db.guard("alarms", || id_rows(&self.db.get()?.begin_read()?.open_table(ALARMS)?, "hub_alarms", usize::MAX, false))
    }

    /// Appends an audit event durably; returns its id (1, 2, ...).
    pub fn append_audit(&self, encoded: &[u8]) -> Result<u64> {
        self.db.guard("append_audit", || {
            let txn = self.db.get()?.begin_write()?;
            let id = {
                let mut t = txn.open_table(AUDIT)?;
                let last = match t.last()? {
                    Some((k, _)) => u64::from_be_bytes(array(k.value(), 0, "audit id", "hub_audit", || hex(k.value()))?),
                    None => 0,
                };
                t.insert((last + 1).to_be_bytes().as_slice(), encoded)?;
                last + 1
            };
            txn.commit()?;
            Ok(id)
        })
    }

    /// The newest `limit` audit events as (id, bytes), newest first.
    pub fn audit_newest(&self, limit: usize) -> Result<Vec<(u64, Vec<u8>)>> {
        self.db.guard("audit_newest", || id_rows(&self.db.get()?.begin_read()?.open_table(AUDIT)?, "hub_audit", limit, true))
    }

    /// Records stored in the series (duplicates excluded), for tests and metrics.
    pub fn record_count(&self) -> Result<u64> {
        self.db.guard("record_count", || {
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

/// Rows keyed by a u64 id, ascending or newest first, at most `limit`.
fn id_rows(
    t: &redb::ReadOnlyTable<&'static [u8], &'static [u8]>,
    name: &'static str,
    limit: usize,
    newest_first: bool,
) -> Result<Vec<(u64, Vec<u8>)>> {
    let rows = t.iter()?;
    let rows: Box<dyn Iterator<Item = _>> = if newest_first { Box::new(rows.rev()) } else { Box::new(rows) };
    let mut out = Vec::new();
    for e in rows.take(limit) {
        let (k, v) = e?;
        let id = u64::from_be_bytes(array(k.value(), 0, "id", name, || hex(k.value()))?);
        out.push((id, v.value().to_vec()));
    }
    Ok(out)
}

/// Folds slot roll-ups and single records into equal buckets starting at `origin`.
struct BucketAcc {
    origin: i64,
    width: i64,
    out: Vec<(Bucket, f64, i64)>,
}

impl BucketAcc {
    fn new(origin: i64, width: i64) -> Self {
        Self { origin, width, out: Vec::new() }
    }

    /// Adds a roll-up (or one record) at time `t`; inputs arrive in time order.
    fn add(&mut self, t: i64, r: &Rollup) {
        let idx = (i128::from(t) - i128::from(self.origin)).div_euclid(i128::from(self.width));
        let start = Timestamp(i64::try_from(i128::from(self.origin) + idx * i128::from(self.width)).unwrap_or(i64::MAX));
        match self.out.last_mut() {
            Some((b, sum, last_t)) if b.start == start => {
                b.min = b.min.min(r.min);
                b.max = b.max.max(r.max);
                b.count += r.count;
                *sum += r.sum;
                if r.last_t >= *last_t {
                    b.last = r.last;
                    *last_t = r.last_t;
                }
            }
            _ => self.out.push((Bucket { start, min: r.min, max: r.max, mean: 0.0, count: r.count, last: r.last }, r.sum, r.last_t)),
        }
    }

    fn finish(self) -> Vec<Bucket> {
        self.out
            .into_iter()
            .map(|(mut b, sum, _)| {
                b.mean = if b.count == 0 { 0.0 } else { sum / b.count as f64 };
                b
            })
            .collect()
    }
}

/// Applies one batch inside `txn`; see [`HubStore::apply_batch`].
fn apply_in<'r>(
    txn: &WriteTransaction,
    edge_id: &str,
    b: &'r VerifiedBatch,
    newest: &mut HashMap<&'r PointId, &'r Record>,
    rollups: &mut RollupBatch<'r>,
) -> Result<ApplyOutcome> {
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
    let bkey = batch_key(edge_no, b.header().batch_seq);
    if let Some(stored) = batches.get(bkey.as_slice())? {
        let stored = stored.value();
        if stored != b.sealed_header() {
            return Ok(ApplyOutcome::Fork { stored_header: stored.to_vec() });
        }
        debug!(edge_id, batch_seq = b.header().batch_seq, "duplicate batch");
        return Ok(ApplyOutcome::Duplicate);
    }

    let mut series = txn.open_table(SERIES)?;
    let (stored, leaves, keys) = insert_records(&mut series, edge_id, edge_no, b.records(), newest, rollups)?;
    let duplicates = b.records().len() - stored;
    if stored == 0 && !b.records().is_empty() {
        // Every record was identical to a stored one: re-inserting equal bytes changed nothing.
        debug!(edge_id, batch_seq = b.header().batch_seq, records = b.records().len(), "all records already applied");
        return Ok(ApplyOutcome::Duplicate);
    }

    batches.insert(bkey.as_slice(), b.sealed_header())?;
    txn.open_table(BATCH_RECORDS)?.insert(bkey.as_slice(), keys.as_slice())?;
    if let Some(first) = b.records().first() {
        txn.open_table(LEAVES)?.insert(leaves_key(edge_no, first.seq, b.header().batch_seq).as_slice(), leaves.as_slice())?;
    }
    let (gap, late) = match &existing {
        None => (None, false),
        Some(e) if b.header().batch_seq > e.last.batch_seq => {
            let expected = e.last.batch_seq + 1;
            (if b.header().batch_seq > expected { Some(expected..b.header().batch_seq) } else { None }, false)
        }
        Some(_) => (None, true),
    };
    if existing.as_ref().is_none_or(|e| b.header().batch_seq > e.last.batch_seq) {
        edges.insert(edge_id.as_bytes(), encode_edge(edge_no, b.header().batch_seq, b.sealed_header()).as_slice())?;
    }

    let count = read_u64(&meta, KEY_RECORDS)?;
    meta.insert(KEY_RECORDS, (count + stored as u64).to_be_bytes().as_slice())?;

    if let Some(g) = &gap {
        warn!(edge_id, batch_seq = b.header().batch_seq, missing_from = g.start, missing_to = g.end, "batch sequence gap");
    } else if late {
        info!(edge_id, batch_seq = b.header().batch_seq, "late batch fills an earlier gap");
    }
    debug!(edge_id, batch_seq = b.header().batch_seq, stored, duplicates, "batch applied");
    Ok(ApplyOutcome::Applied { stored, duplicates, gap, late })
}

/// Replaces each point's latest value where the candidate is newer by the edge's sequence: the
/// order in which the point's owner received its readings. Not by the source's time stamp, which
/// steps with the device's clock (an RTU set back an hour would freeze the image for an hour);
/// the time stamp stays what the value says about itself.
fn update_latest(latest: &mut Table<&'static [u8], &'static [u8]>, newest: HashMap<&PointId, &Record>) -> Result<()> {
    for (point, r) in newest {
        let key = point.as_str().as_bytes();
        let replace = match latest.get(key)? {
            None => true,
            Some(v) => {
                let old = decode_record(v.value(), LATEST_NAME, || point.to_string())?;
                r.seq >= old.seq
            }
        };
        if replace {
            latest.insert(key, r.encode_canonical().as_slice())?;
        }
    }
    Ok(())
}

/// Inserts the batch's records into the series; returns how many were new, the leaf hashes of
/// all the batch's records in order (for [`LEAVES`]) and their series keys (for
/// [`BATCH_RECORDS`]), and adds the new records to `newest` (per point the newest) and to the
/// roll-ups.
fn insert_records<'r>(
    series: &mut Table<&'static [u8], &'static [u8]>,
    edge_id: &str,
    edge_no: u32,
    records: &'r [Record],
    newest: &mut HashMap<&'r PointId, &'r Record>,
    rollups: &mut RollupBatch<'r>,
) -> Result<(usize, Vec<u8>, Vec<u8>)> {
    let mut leaves = Vec::with_capacity(records.len() * merkle::HASH_LEN);
    let mut keys = Vec::with_capacity(records.len() * 48);
    let mut stored = 0;
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
        leaves.extend_from_slice(&merkle::leaf_hash(&val));
        // A point id is at most 255 bytes (its length is one byte of the key), so a key fits a u16.
        keys.extend_from_slice(&(key.len() as u16).to_be_bytes());
        keys.extend_from_slice(&key);
        if let Some(old) = series.insert(key.as_slice(), val.as_slice())? {
            if old.value() != val.as_slice() {
                warn!(edge_id, seq = r.seq, point = %r.point, "conflicting record, batch refused");
                return Err(StoreError::ConflictingRecord { edge_id: edge_id.to_owned(), seq: r.seq });
            }
            continue;
        }
        stored += 1;
        rollups.add(&r.point, t, r.value.as_f64());
        newest
            .entry(&r.point)
            .and_modify(|cur| {
                if r.seq >= cur.seq {
                    *cur = r;
                }
            })
            .or_insert(r);
    }
    Ok((stored, leaves, keys))
}

/// Summary of the records of one point in one [`ROLLUP_SLOT_NS`] slot.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Rollup {
    min: f64,
    max: f64,
    sum: f64,
    count: u64,
    /// Value and series time of the latest record in the slot.
    last: f64,
    last_t: i64,
}

const ROLLUP_LEN: usize = 48;

impl Rollup {
    fn one(t: Timestamp, v: f64) -> Self {
        Self { min: v, max: v, sum: v, count: 1, last: v, last_t: t.0 }
    }

    fn merge(&mut self, o: &Rollup) {
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        self.sum += o.sum;
        self.count += o.count;
        if o.last_t >= self.last_t {
            self.last = o.last;
            self.last_t = o.last_t;
        }
    }

    fn encode(&self) -> [u8; ROLLUP_LEN] {
        let mut b = [0u8; ROLLUP_LEN];
        for (i, v) in
            [self.min.to_bits(), self.max.to_bits(), self.sum.to_bits(), self.count, self.last.to_bits(), self.last_t.cast_unsigned()]
                .into_iter()
                .enumerate()
        {
            b[i * 8..i * 8 + 8].copy_from_slice(&v.to_be_bytes());
        }
        b
    }

    fn decode(v: &[u8], key: &[u8]) -> Result<Self> {
        if v.len() != ROLLUP_LEN {
            return Err(StoreError::Corrupt {
                table: ROLLUPS_NAME,
                key: hex(key),
                problem: Corruption::Length { what: "roll-up", expected: ROLLUP_LEN, found: v.len() },
            });
        }
        let word = |i: usize| array::<8>(v, i * 8, "roll-up field", ROLLUPS_NAME, || hex(key)).map(u64::from_be_bytes);
        Ok(Self {
            min: f64::from_bits(word(0)?),
            max: f64::from_bits(word(1)?),
            sum: f64::from_bits(word(2)?),
            count: word(3)?,
            last: f64::from_bits(word(4)?),
            last_t: word(5)?.cast_signed(),
        })
    }
}

/// Start of the roll-up slot holding `t`.
fn slot_of(t: i64) -> i64 {
    t.div_euclid(ROLLUP_SLOT_NS) * ROLLUP_SLOT_NS
}

/// Roll-ups gathered in memory for one batch: one read-modify-write per (point, slot) instead
/// of one per record.
#[derive(Default)]
struct RollupBatch<'r> {
    slots: HashMap<(&'r PointId, i64), Rollup>,
}

impl<'r> RollupBatch<'r> {
    fn add(&mut self, point: &'r PointId, t: Timestamp, v: f64) {
        let one = Rollup::one(t, v);
        self.slots.entry((point, slot_of(t.0))).and_modify(|r| r.merge(&one)).or_insert(one);
    }
}

fn rollup_key(point: &PointId, slot: i64) -> Vec<u8> {
    let mut k = point_prefix(point);
    k.extend_from_slice(&time_bytes(Timestamp(slot)));
    k
}

fn merge_rollups(table: &mut Table<&'static [u8], &'static [u8]>, batch: RollupBatch<'_>) -> Result<()> {
    for ((point, slot), add) in batch.slots {
        let key = rollup_key(point, slot);
        let merged = match table.get(key.as_slice())? {
            Some(v) => {
                let mut r = Rollup::decode(v.value(), &key)?;
                r.merge(&add);
                r
            }
            None => add,
        };
        table.insert(key.as_slice(), merged.encode().as_slice())?;
    }
    Ok(())
}

/// Builds the roll-ups of a store written before they existed, from the series (one pass).
fn rebuild_rollups(txn: &WriteTransaction) -> Result<()> {
    let series = txn.open_table(SERIES)?;
    let mut rollups = txn.open_table(ROLLUPS)?;
    let mut rebuilt = 0u64;
    let mut current: Option<(Vec<u8>, Rollup)> = None;
    for e in series.iter()? {
        let (k, v) = e?;
        let (k, v) = (k.value(), v.value());
        let Some((&len, _)) = k.split_first() else { continue };
        let prefix_len = 1 + usize::from(len);
        let t = time_from(array(k, prefix_len, "series key time", SERIES_NAME, || hex(k))?);
        let value = decode_record(v, SERIES_NAME, || describe_series_key(k))?.value.as_f64();
        let mut key = k.get(..prefix_len).unwrap_or_default().to_vec();
        key.extend_from_slice(&time_bytes(Timestamp(slot_of(t.0))));
        let one = Rollup::one(t, value);
        match &mut current {
            Some((ck, r)) if *ck == key => r.merge(&one),
            _ => {
                if let Some((ck, r)) = current.replace((key, one)) {
                    rollups.insert(ck.as_slice(), r.encode().as_slice())?;
                }
            }
        }
        rebuilt += 1;
    }
    if let Some((ck, r)) = current {
        rollups.insert(ck.as_slice(), r.encode().as_slice())?;
    }
    txn.open_table(META)?.insert(KEY_ROLLUP_BUILT, 1u64.to_be_bytes().as_slice())?;
    if rebuilt > 0 {
        info!(records = rebuilt, "series roll-ups built for an older store");
    }
    Ok(())
}

fn leaves_key(edge_no: u32, first_seq: u64, batch_seq: u64) -> [u8; 20] {
    let mut k = [0u8; 20];
    k[..4].copy_from_slice(&edge_no.to_be_bytes());
    k[4..12].copy_from_slice(&first_seq.to_be_bytes());
    k[12..].copy_from_slice(&batch_seq.to_be_bytes());
    k
}

/// A batch rebuilt from the store exactly as its edge signed it: the sealed header as received
/// and its records in batch order, what a connector re-verifies.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredBatch {
    /// The edge that sent it.
    pub edge_id: String,
    /// Its number in the edge's chain.
    pub batch_seq: u64,
    /// The sealed header (header and signature) as received.
    pub header_bytes: Vec<u8>,
    /// Its records in batch order, as the Merkle root covers them.
    pub records: Vec<Record>,
}

impl HubStore {
    /// The batches of `edge_id` after `after` (all when `None`), oldest first, at most `limit`:
    /// what a connector that last applied `after` has not seen. `None` when one of them cannot be
    /// rebuilt (stored before [`BATCH_RECORDS`] existed): the caller must resync that connector
    /// from the latest values instead. Batch numbers never received are simply absent.
    pub fn batches_after(&self, edge_id: &str, after: Option<u64>, limit: usize) -> Result<Option<Vec<StoredBatch>>> {
        crate::error::guard("batches_after", || {
            let txn = self.db.get()?.begin_read()?;
            let Some(no) = edge_no(&txn, edge_id)? else { return Ok(Some(Vec::new())) };
            let Some(from) = after.map_or(Some(0), |a| a.checked_add(1)) else { return Ok(Some(Vec::new())) };
            let (batches, lists, series) = (txn.open_table(BATCHES)?, txn.open_table(BATCH_RECORDS)?, txn.open_table(SERIES)?);
            let mut out = Vec::new();
            for e in batches.range(batch_key(no, from).as_slice()..=batch_key(no, u64::MAX).as_slice())?.take(limit) {
                let (k, header) = e?;
                let batch_seq = u64::from_be_bytes(array(k.value(), 4, "batch seq", BATCHES_NAME, || hex(k.value()))?);
                let Some(records) = batch_records(&lists, &series, no, batch_seq)? else { return Ok(None) };
                out.push(StoredBatch { edge_id: edge_id.to_owned(), batch_seq, header_bytes: header.value().to_vec(), records });
            }
            Ok(Some(out))
        })
    }

    /// For every point with a latest value, the stored batch that brought it (each batch once,
    /// ordered by edge and batch seq): the image a connector loads, rebuilt at the hub's start so
    /// that a restarted hub serves every point at once instead of waiting for each device to
    /// report again. Points whose batch cannot be rebuilt (stored before [`BATCH_RECORDS`]
    /// existed) are left out and counted in the second value.
    pub fn latest_batches(&self) -> Result<(Vec<StoredBatch>, usize)> {
        crate::error::guard("latest_batches", || {
            let txn = self.db.get()?.begin_read()?;
            let (series, leaves_table) = (txn.open_table(SERIES)?, txn.open_table(LEAVES)?);
            let mut wanted = std::collections::BTreeSet::new();
            let mut missing = 0;
            for e in txn.open_table(LATEST)?.iter()? {
                let (k, v) = e?;
                let record = decode_record(v.value(), LATEST_NAME, || String::from_utf8_lossy(k.value()).into_owned())?;
                match covering_batch(&series, &leaves_table, &record)? {
                    Some(found) => {
                        wanted.insert(found);
                    }
                    None => missing += 1,
                }
            }
            let (batches, lists) = (txn.open_table(BATCHES)?, txn.open_table(BATCH_RECORDS)?);
            let mut out = Vec::with_capacity(wanted.len());
            for (no, batch_seq) in wanted {
                let header = batches.get(batch_key(no, batch_seq).as_slice())?.map(|v| v.value().to_vec());
                let (Some(header_bytes), Some(records)) = (header, batch_records(&lists, &series, no, batch_seq)?) else {
                    missing += 1;
                    continue;
                };
                let Some(edge_id) = edge_id_of(&txn, no)? else {
                    missing += 1;
                    continue;
                };
                out.push(StoredBatch { edge_id, batch_seq, header_bytes, records });
            }
            Ok((out, missing))
        })
    }
}

type ReadTable = redb::ReadOnlyTable<&'static [u8], &'static [u8]>;

/// The records of one stored batch, read back from the series through its key list; `None`
/// when the batch has no key list.
fn batch_records(lists: &ReadTable, series: &ReadTable, no: u32, batch_seq: u64) -> Result<Option<Vec<Record>>> {
    let Some(list) = lists.get(batch_key(no, batch_seq).as_slice())? else { return Ok(None) };
    let list = list.value();
    let corrupt = |problem: String| StoreError::Corrupt {
        table: BATCH_RECORDS_NAME,
        key: format!("edge #{no} batch {batch_seq}"),
        problem: Corruption::Inconsistent(problem),
    };
    let mut records = Vec::new();
    let mut at = 0;
    while at < list.len() {
        let len = usize::from(u16::from_be_bytes(array(list, at, "key length", BATCH_RECORDS_NAME, || hex(list))?));
        let key = list.get(at + 2..at + 2 + len).ok_or_else(|| corrupt(format!("a key of {len} bytes runs past the end")))?;
        let value = series.get(key)?.ok_or_else(|| corrupt(format!("record {} is not in {SERIES_NAME}", describe_series_key(key))))?;
        records.push(decode_record(value.value(), SERIES_NAME, || describe_series_key(key))?);
        at += 2 + len;
    }
    Ok(Some(records))
}

/// The (edge number, batch seq) of the stored batch that carried `record`, a point's latest
/// value: the series entry of the point with the record's seq (newest first, where it normally
/// is) names the edge, the leaf index names the batch.
fn covering_batch(series: &ReadTable, leaves: &ReadTable, record: &Record) -> Result<Option<(u32, u64)>> {
    let lo = point_prefix(&record.point);
    let mut hi = lo.clone();
    hi.extend_from_slice(&[0xff; 20]);
    let bytes = record.encode_canonical();
    let mut no = None;
    for e in series.range(lo.as_slice()..=hi.as_slice())?.rev() {
        let (k, v) = e?;
        let k = k.value();
        let seq = u64::from_be_bytes(array(k, lo.len() + 12, "series key seq", SERIES_NAME, || hex(k))?);
        if seq == record.seq && v.value() == bytes.as_slice() {
            no = Some(u32::from_be_bytes(array(k, lo.len() + 8, "series key edge", SERIES_NAME, || hex(k))?));
            break;
        }
    }
    let Some(no) = no else { return Ok(None) };
    for e in leaves.range(leaves_key(no, 0, 0).as_slice()..=leaves_key(no, record.seq, u64::MAX).as_slice())?.rev() {
        let (k, v) = e?;
        let k = k.value();
        let first_seq = u64::from_be_bytes(array(k, 4, "first seq", LEAVES_NAME, || hex(k))?);
        let count = (v.value().len() / merkle::HASH_LEN) as u64;
        if record.seq - first_seq < count {
            return Ok(Some((no, u64::from_be_bytes(array(k, 12, "batch seq", LEAVES_NAME, || hex(k))?))));
        }
    }
    Ok(None)
}

/// One record as the time series stores it, with what is needed to find the evidence for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeriesEntry {
    /// The edge that sent it.
    pub edge_id: String,
    /// Its per-edge sequence number.
    pub seq: u64,
    /// The time it is filed under ([`series_time`]).
    pub time: Timestamp,
    /// The stored bytes exactly as they are on disk (its canonical encoding, unless altered):
    /// not decoded and re-encoded, so an export shows what the store holds.
    pub record_bytes: Vec<u8>,
}

/// The stored evidence of the batch that covers one record: its sealed header and the leaf
/// hashes of all its records, from which an inclusion proof for any of them is computed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchEvidence {
    /// The edge.
    pub edge_id: String,
    /// The batch.
    pub batch_seq: u64,
    /// The header and signature as received and stored (`encode_sealed` bytes).
    pub sealed_header: Vec<u8>,
    /// Seq of the batch's first record; record `seq` is leaf `seq - first_seq`.
    pub first_seq: u64,
    /// RFC 9162 leaf hashes of the batch's records, in batch order.
    pub leaves: Vec<Hash>,
    /// False when the batch was stored before this store kept leaf hashes and they were
    /// recomputed from the records in the series (a full scan).
    pub indexed: bool,
}

/// The hub store opened read-only, for audits and evidence exports (`gridtrust export`).
///
/// redb allows a read-only handle only while no process has the file open for writing, so the
/// hub must be stopped (or the export run on a copy of its data directory); opening a store the
/// hub has open fails with [`StoreError::Open`] carrying `DatabaseAlreadyOpen`. A store the hub
/// did not close cleanly (a crash) must be opened once for writing, which repairs it, before a
/// read-only open succeeds (`RepairAborted` otherwise). Nothing here writes to the file.
pub struct HubStoreReader {
    db: ReadOnlyDatabase,
    path: PathBuf,
}

impl std::fmt::Debug for HubStoreReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubStoreReader").field("path", &self.path).finish_non_exhaustive()
    }
}

impl HubStoreReader {
    /// Opens an existing hub store read-only; see the type's documentation for when it fails.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        crate::error::guard("open_read_only", || {
            let path = path.as_ref().to_path_buf();
            let db = ReadOnlyDatabase::open(&path).map_err(|source| StoreError::Open { path: path.clone(), source })?;
            Ok(Self { db, path })
        })
    }

    fn read(&self) -> Result<ReadTransaction> {
        Ok(self.db.begin_read()?)
    }

    /// Every edge the hub has heard from with its last batch, like [`HubStore::edges`].
    pub fn edges(&self) -> Result<Vec<(String, crate::queue::LastBatch)>> {
        crate::error::guard("edges", || {
            let txn = self.read()?;
            let t = txn.open_table(EDGES)?;
            let mut out = Vec::new();
            for e in t.iter()? {
                let (k, v) = e?;
                let id = edge_id_of_key(k.value())?;
                out.push((id.to_owned(), decode_edge(id, v.value())?.last));
            }
            Ok(out)
        })
    }

    /// The stored header of one batch, like [`HubStore::batch`].
    pub fn batch(&self, edge_id: &str, batch_seq: u64) -> Result<Option<Vec<u8>>> {
        crate::error::guard("batch", || {
            let txn = self.read()?;
            let Some(no) = edge_no(&txn, edge_id)? else { return Ok(None) };
            Ok(txn.open_table(BATCHES)?.get(batch_key(no, batch_seq).as_slice())?.map(|v| v.value().to_vec()))
        })
    }

    /// See [`HubStore::batches`].
    pub fn batches(&self, edge_id: &str) -> Result<Vec<(u64, Vec<u8>)>> {
        crate::error::guard("batches", || batches_in(&self.read()?, edge_id))
    }

    /// See [`HubStore::record_at`].
    pub fn record_at(&self, point: &PointId, at: Timestamp) -> Result<Option<SeriesEntry>> {
        crate::error::guard("record_at", || record_at_in(&self.read()?, point, at))
    }

    /// See [`HubStore::batch_of_record`].
    pub fn batch_of_record(&self, edge_id: &str, seq: u64) -> Result<Option<BatchEvidence>> {
        crate::error::guard("batch_of_record", || batch_of_record_in(&self.read()?, edge_id, seq))
    }
}

impl HubStore {
    /// Every stored header of `edge_id` as (batch seq, sealed header bytes), in batch order: the
    /// edge's chain as the hub holds it, for an audit export. Gaps are whatever was never stored.
    pub fn batches(&self, edge_id: &str) -> Result<Vec<(u64, Vec<u8>)>> {
        self.db.guard("batches", || batches_in(&self.db.get()?.begin_read()?, edge_id))
    }

    /// The series record of `point` in force at `at`: the one with the greatest series key at
    /// or before `at` (series time, then edge, then seq), as stored. `Timestamp(i64::MAX)` gives
    /// the newest.
    pub fn record_at(&self, point: &PointId, at: Timestamp) -> Result<Option<SeriesEntry>> {
        self.db.guard("record_at", || record_at_in(&self.db.get()?.begin_read()?, point, at))
    }

    /// The series record of `point` with record seq `seq` (from edge `edge_id` when given),
    /// searched newest first: what the evidence for one specific value starts from.
    pub fn find_record(&self, point: &PointId, edge_id: Option<&str>, seq: u64) -> Result<Option<SeriesEntry>> {
        self.db.guard("find_record", || {
            let txn = self.db.get()?.begin_read()?;
            let edge_no = match edge_id {
                Some(e) => match edge_no(&txn, e)? {
                    Some(n) => Some(n),
                    None => return Ok(None),
                },
                None => None,
            };
            let lo = point_prefix(point);
            let mut hi = lo.clone();
            hi.extend_from_slice(&[0xff; 20]);
            let t = txn.open_table(SERIES)?;
            for e in t.range(lo.as_slice()..=hi.as_slice())?.rev() {
                let (k, v) = e?;
                let k = k.value();
                let at = lo.len();
                let r_seq = u64::from_be_bytes(array(k, at + 12, "series key seq", SERIES_NAME, || hex(k))?);
                let no = u32::from_be_bytes(array(k, at + 8, "series key edge", SERIES_NAME, || hex(k))?);
                if r_seq != seq || edge_no.is_some_and(|n| n != no) {
                    continue;
                }
                let time = time_from(array(k, at, "series key time", SERIES_NAME, || hex(k))?);
                let edge_id = edge_id_of(&txn, no)?.ok_or_else(|| StoreError::Corrupt {
                    table: SERIES_NAME,
                    key: describe_series_key(k),
                    problem: Corruption::Inconsistent(format!("edge #{no} is not in {EDGES_NAME}")),
                })?;
                return Ok(Some(SeriesEntry { edge_id, seq, time, record_bytes: v.value().to_vec() }));
            }
            Ok(None)
        })
    }

    /// The batch that covers record `seq` of `edge_id`, with its header and leaf hashes, or
    /// `None` if no stored batch covers it.
    pub fn batch_of_record(&self, edge_id: &str, seq: u64) -> Result<Option<BatchEvidence>> {
        self.db.guard("batch_of_record", || batch_of_record_in(&self.db.get()?.begin_read()?, edge_id, seq))
    }
}

fn edge_id_of_key(k: &[u8]) -> Result<&str> {
    std::str::from_utf8(k).map_err(|e| StoreError::Corrupt {
        table: EDGES_NAME,
        key: hex(k),
        problem: Corruption::Inconsistent(format!("edge id is not UTF-8: {e}")),
    })
}

fn edge_no(txn: &ReadTransaction, edge_id: &str) -> Result<Option<u32>> {
    let edges = txn.open_table(EDGES)?;
    let Some(v) = edges.get(edge_id.as_bytes())? else { return Ok(None) };
    Ok(Some(decode_edge(edge_id, v.value())?.no))
}

/// The edge id whose number is `no` (the EDGES table is small: one row per edge).
fn edge_id_of(txn: &ReadTransaction, no: u32) -> Result<Option<String>> {
    for e in txn.open_table(EDGES)?.iter()? {
        let (k, v) = e?;
        let id = edge_id_of_key(k.value())?;
        if decode_edge(id, v.value())?.no == no {
            return Ok(Some(id.to_owned()));
        }
    }
    Ok(None)
}

fn batches_in(txn: &ReadTransaction, edge_id: &str) -> Result<Vec<(u64, Vec<u8>)>> {
    let Some(no) = edge_no(txn, edge_id)? else { return Ok(Vec::new()) };
    let t = txn.open_table(BATCHES)?;
    let mut out = Vec::new();
    for e in t.range(batch_key(no, 0).as_slice()..=batch_key(no, u64::MAX).as_slice())? {
        let (k, v) = e?;
        let seq = u64::from_be_bytes(array(k.value(), 4, "batch seq", BATCHES_NAME, || hex(k.value()))?);
        out.push((seq, v.value().to_vec()));
    }
    Ok(out)
}

fn record_at_in(txn: &ReadTransaction, point: &PointId, at: Timestamp) -> Result<Option<SeriesEntry>> {
    let lo = point_prefix(point);
    let mut hi = lo.clone();
    hi.extend_from_slice(&time_bytes(at));
    hi.extend_from_slice(&[0xff; 12]);
    let t = txn.open_table(SERIES)?;
    let Some(e) = t.range(lo.as_slice()..=hi.as_slice())?.next_back() else { return Ok(None) };
    let (k, v) = e?;
    let k = k.value();
    let at = lo.len();
    let time = time_from(array(k, at, "series key time", SERIES_NAME, || hex(k))?);
    let no = u32::from_be_bytes(array(k, at + 8, "series key edge", SERIES_NAME, || hex(k))?);
    let seq = u64::from_be_bytes(array(k, at + 12, "series key seq", SERIES_NAME, || hex(k))?);
    let edge_id = edge_id_of(txn, no)?.ok_or_else(|| StoreError::Corrupt {
        table: SERIES_NAME,
        key: describe_series_key(k),
        problem: Corruption::Inconsistent(format!("edge #{no} is not in {EDGES_NAME}")),
    })?;
    Ok(Some(SeriesEntry { edge_id, seq, time, record_bytes: v.value().to_vec() }))
}

fn batch_of_record_in(txn: &ReadTransaction, edge_id: &str, seq: u64) -> Result<Option<BatchEvidence>> {
    let Some(no) = edge_no(txn, edge_id)? else { return Ok(None) };
    let batches = txn.open_table(BATCHES)?;
    let header_of = |batch_seq: u64| -> Result<Vec<u8>> {
        let v = batches.get(batch_key(no, batch_seq).as_slice())?.ok_or_else(|| StoreError::Corrupt {
            table: BATCHES_NAME,
            key: format!("edge {edge_id} batch {batch_seq}"),
            problem: Corruption::Inconsistent(format!("batch has leaf hashes in {LEAVES_NAME} but no header")),
        })?;
        Ok(v.value().to_vec())
    };
    // Stores written before the leaf table existed lack it; a read-only handle cannot create it.
    match txn.open_table(LEAVES) {
        Ok(leaves) => {
            let lo = leaves_key(no, 0, 0);
            let hi = leaves_key(no, seq, u64::MAX);
            // Batches normally cover disjoint ascending ranges, so the first candidate (the
            // batch starting at or before `seq` most recently) covers it; a resend re-batched
            // over an earlier range can make an older one the cover, hence the loop.
            for e in leaves.range(lo.as_slice()..=hi.as_slice())?.rev() {
                let (k, v) = e?;
                let (k, v) = (k.value(), v.value());
                let first_seq = u64::from_be_bytes(array(k, 4, "first seq", LEAVES_NAME, || hex(k))?);
                let batch_seq = u64::from_be_bytes(array(k, 12, "batch seq", LEAVES_NAME, || hex(k))?);
                if v.len() % merkle::HASH_LEN != 0 {
                    return Err(StoreError::Corrupt {
                        table: LEAVES_NAME,
                        key: format!("edge {edge_id} batch {batch_seq}"),
                        problem: Corruption::Inconsistent(format!("{} bytes are not whole 32-byte leaf hashes", v.len())),
                    });
                }
                let count = (v.len() / merkle::HASH_LEN) as u64;
                if seq - first_seq < count {
                    let leaves = v.chunks_exact(merkle::HASH_LEN).filter_map(|c| Hash::try_from(c).ok()).collect();
                    return Ok(Some(BatchEvidence {
                        edge_id: edge_id.to_owned(),
                        batch_seq,
                        sealed_header: header_of(batch_seq)?,
                        first_seq,
                        leaves,
                        indexed: true,
                    }));
                }
            }
        }
        Err(redb::TableError::TableDoesNotExist(_)) => {}
        Err(e) => return Err(e.into()),
    }
    batch_of_record_by_scan(txn, no, edge_id, seq)
}

/// For batches stored before [`LEAVES`] existed: finds the covering header among the edge's
/// headers and recomputes the leaf hashes from the series (a full scan of the series).
fn batch_of_record_by_scan(txn: &ReadTransaction, no: u32, edge_id: &str, seq: u64) -> Result<Option<BatchEvidence>> {
    let mut found = None;
    for (batch_seq, sealed) in batches_in(txn, edge_id)? {
        // A header this build cannot decode covers nothing it could prove.
        let Ok((h, _)) = gridtrust_trust::evidence::decode_sealed(&sealed) else { continue };
        if seq >= h.first_seq && seq - h.first_seq < u64::from(h.count) {
            found = Some((batch_seq, sealed, h));
            break;
        }
    }
    let Some((batch_seq, sealed_header, h)) = found else { return Ok(None) };
    let mut by_seq: Vec<(u64, Hash)> = Vec::with_capacity(usize::try_from(h.count).unwrap_or(0));
    for e in txn.open_table(SERIES)?.iter()? {
        let (k, v) = e?;
        let k = k.value();
        let Some((&len, _)) = k.split_first() else { continue };
        let at = 1 + usize::from(len) + 8;
        let e_no = u32::from_be_bytes(array(k, at, "series key edge", SERIES_NAME, || hex(k))?);
        let r_seq = u64::from_be_bytes(array(k, at + 4, "series key seq", SERIES_NAME, || hex(k))?);
        if e_no == no && r_seq >= h.first_seq && r_seq - h.first_seq < u64::from(h.count) {
            by_seq.push((r_seq, merkle::leaf_hash(v.value())));
        }
    }
    by_seq.sort_unstable_by_key(|(s, _)| *s);
    by_seq.dedup_by_key(|(s, _)| *s);
    if by_seq.len() as u64 != u64::from(h.count) {
        return Err(StoreError::Corrupt {
            table: SERIES_NAME,
            key: format!("edge {edge_id} batch {batch_seq}"),
            problem: Corruption::Inconsistent(format!("the series holds {} of the batch's {} records", by_seq.len(), h.count)),
        });
    }
    Ok(Some(BatchEvidence {
        edge_id: edge_id.to_owned(),
        batch_seq,
        sealed_header,
        first_seq: h.first_seq,
        leaves: by_seq.into_iter().map(|(_, l)| l).collect(),
        indexed: false,
    }))
}

/// `records` as batch `batch_seq` of edge-a, integrity checked, unsigned: what the tests store.
#[cfg(test)]
fn verified(batch_seq: u64, records: &[Record]) -> VerifiedBatch {
    let header = gridtrust_trust::BatchHeader::for_records("edge-a", batch_seq, records, [0; 32], Timestamp(0));
    let batch = gridtrust_trust::SignedBatch { header, signature: None, records: records.to_vec() };
    VerifiedBatch::without_signature(std::sync::Arc::new(batch)).unwrap()
}

#[cfg(test)]
mod evidence_tests {
    use super::*;
    use gridtrust_model::{Quality, Value};
    use gridtrust_trust::evidence::record_leaf_hashes;

    /// `n` records from seq `first`, alternating over two points, one second apart.
    fn recs(first: u64, n: u64) -> Vec<Record> {
        (first..first + n)
            .map(|seq| Record {
                seq,
                point: PointId::new(if seq % 2 == 0 { "LD0/MMXU1.TotW" } else { "LD0/MMXU1.Hz" }).unwrap(),
                value: Value::Float(seq as f32),
                quality: Quality::GOOD,
                source_time: None,
                received_at: Timestamp(1_000 + seq as i64),
            })
            .collect()
    }

    use super::verified;

    fn apply(hub: &HubStore, batch_seq: u64, records: &[Record]) {
        hub.apply_batch("edge-a", &verified(batch_seq, records)).unwrap();
    }

    #[test]
    fn stored_batches_are_rebuilt_exactly_for_replay_and_for_the_latest_image() {
        let dir = tempfile::tempdir().unwrap();
        let hub = HubStore::open(dir.path().join("h.redb")).unwrap();
        let (a, heartbeat, b) = (recs(0, 5), Vec::new(), recs(5, 3));
        apply(&hub, 0, &a);
        apply(&hub, 1, &heartbeat);
        apply(&hub, 2, &b);
        let rebuilt = |batch_seq: u64, records: &[Record]| StoredBatch {
            edge_id: "edge-a".into(),
            batch_seq,
            header_bytes: verified(batch_seq, records).sealed_header().to_vec(),
            records: records.to_vec(),
        };
        assert_eq!(hub.batches_after("edge-a", Some(0), 10).unwrap(), Some(vec![rebuilt(1, &heartbeat), rebuilt(2, &b)]));
        assert_eq!(hub.batches_after("edge-a", None, 1).unwrap(), Some(vec![rebuilt(0, &a)]));
        assert_eq!(hub.batches_after("edge-a", Some(2), 10).unwrap(), Some(vec![]));
        // Both points' latest values came with batch 2.
        assert_eq!(hub.latest_batches().unwrap(), (vec![rebuilt(2, &b)], 0));
    }

    #[test]
    fn each_record_finds_the_batch_that_covers_it_with_its_leaves() {
        let dir = tempfile::tempdir().unwrap();
        let hub = HubStore::open(dir.path().join("h.redb")).unwrap();
        let (a, b) = (recs(0, 5), recs(5, 3));
        apply(&hub, 0, &a);
        apply(&hub, 1, &b);
        for (batch_seq, records) in [(0, &a), (1, &b)] {
            for r in records.iter() {
                let ev = hub.batch_of_record("edge-a", r.seq).unwrap().unwrap();
                assert_eq!((ev.batch_seq, ev.first_seq, ev.indexed), (batch_seq, records[0].seq, true));
                assert_eq!(ev.leaves, record_leaf_hashes(records));
                assert_eq!(ev.sealed_header, verified(batch_seq, records).sealed_header());
            }
        }
        assert_eq!(hub.batch_of_record("edge-a", 8).unwrap(), None);
        assert_eq!(hub.batch_of_record("edge-b", 0).unwrap(), None);
        let seqs: Vec<u64> = hub.batches("edge-a").unwrap().into_iter().map(|(s, _)| s).collect();
        assert_eq!(seqs, [0, 1]);
    }

    #[test]
    fn a_resend_rebatched_over_an_earlier_range_still_finds_a_cover() {
        let dir = tempfile::tempdir().unwrap();
        let hub = HubStore::open(dir.path().join("h.redb")).unwrap();
        let all = recs(0, 10);
        apply(&hub, 0, &all[..10]);
        // A later batch re-covering 2..11 (its records are duplicates but one, seq 10, is new).
        apply(&hub, 1, &recs(2, 9));
        assert_eq!(hub.batch_of_record("edge-a", 3).unwrap().unwrap().batch_seq, 1);
        // Seq 1 lies before the resend's range: the older batch covers it.
        assert_eq!(hub.batch_of_record("edge-a", 1).unwrap().unwrap().batch_seq, 0);
    }

    #[test]
    fn the_latest_value_follows_the_edge_sequence_when_the_source_clock_steps_back() {
        let dir = tempfile::tempdir().unwrap();
        let hub = HubStore::open(dir.path().join("h.redb")).unwrap();
        let p = PointId::new("LD0/MMXU1.TotW").unwrap();
        let hour = 3_600_000_000_000;
        let at = |seq: u64, t: i64| Record {
            source_time: Some((Timestamp(t), gridtrust_model::TimeQuality::GOOD)),
            received_at: Timestamp(t),
            ..recs(seq, 1)[0].clone()
        };
        // The RTU's clock is stepped back an hour between seq 0 and seq 2 (both TotW).
        apply(&hub, 0, &[at(0, 2 * hour)]);
        apply(&hub, 1, &[at(2, hour)]);
        assert_eq!(hub.latest(&p).unwrap().unwrap().seq, 2, "the newer reading, whatever its time stamp");
        // Within one batch too (seq 5 is another point).
        apply(&hub, 2, &[at(4, 3 * hour), at(5, 3 * hour), at(6, hour)]);
        assert_eq!(hub.latest(&p).unwrap().unwrap().seq, 6);
        // A late batch (an earlier seq filling a gap) never replaces a newer value, even when
        // its time stamp is later.
        apply(&hub, 3, &[at(8, hour)]);
        hub.apply_batch("edge-a", &verified(9, &[at(20, hour)])).unwrap();
        hub.apply_batch("edge-a", &verified(5, &[at(12, 5 * hour)])).unwrap();
        assert_eq!(hub.latest(&p).unwrap().unwrap().seq, 20);
    }

    #[test]
    fn record_at_gives_the_value_in_force_as_stored() {
        let dir = tempfile::tempdir().unwrap();
        let hub = HubStore::open(dir.path().join("h.redb")).unwrap();
        let r = recs(0, 6);
        apply(&hub, 0, &r);
        let p = PointId::new("LD0/MMXU1.TotW").unwrap();
        assert_eq!(hub.record_at(&p, Timestamp(999)).unwrap(), None);
        let e = hub.record_at(&p, Timestamp(1_003)).unwrap().unwrap();
        assert_eq!((e.edge_id.as_str(), e.seq, e.time, e.record_bytes), ("edge-a", 2, Timestamp(1_002), r[2].encode_canonical()));
        assert_eq!(hub.record_at(&p, Timestamp(i64::MAX)).unwrap().unwrap().seq, 4);
        let found = hub.find_record(&p, Some("edge-a"), 2).unwrap().unwrap();
        assert_eq!((found.seq, found.record_bytes), (2, r[2].encode_canonical()));
        assert_eq!(hub.find_record(&p, None, 3).unwrap(), None, "seq 3 is another point's");
        assert_eq!(hub.find_record(&p, Some("edge-b"), 2).unwrap(), None);
    }

    #[test]
    fn reader_opens_only_a_closed_store_and_sees_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.redb");
        let hub = HubStore::open(&path).unwrap();
        apply(&hub, 0, &recs(0, 4));
        assert!(matches!(HubStoreReader::open(&path), Err(StoreError::Open { source: redb::DatabaseError::DatabaseAlreadyOpen, .. })));
        drop(hub);
        let reader = HubStoreReader::open(&path).unwrap();
        assert_eq!(reader.batch_of_record("edge-a", 3).unwrap().unwrap().leaves, record_leaf_hashes(&recs(0, 4)));
        assert_eq!(reader.edges().unwrap().len(), 1);
        assert_eq!(reader.batch("edge-a", 0).unwrap().as_deref(), Some(verified(0, &recs(0, 4)).sealed_header()));
        assert_eq!(reader.batches("edge-a").unwrap().len(), 1);
        let p = PointId::new("LD0/MMXU1.Hz").unwrap();
        assert_eq!(reader.record_at(&p, Timestamp(i64::MAX)).unwrap().unwrap().seq, 3);
    }

    #[test]
    fn batches_stored_before_the_leaf_table_are_proven_from_the_series() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.redb");
        let (a, b) = (recs(0, 5), recs(5, 3));
        {
            let hub = HubStore::open(&path).unwrap();
            apply(&hub, 0, &a);
            apply(&hub, 1, &b);
        }
        {
            // What an older build wrote: no leaf table.
            let db = Database::open(&path).unwrap();
            let txn = db.begin_write().unwrap();
            assert!(txn.delete_table(LEAVES).unwrap());
            txn.commit().unwrap();
        }
        let reader = HubStoreReader::open(&path).unwrap();
        let ev = reader.batch_of_record("edge-a", 6).unwrap().unwrap();
        assert_eq!((ev.batch_seq, ev.first_seq, ev.indexed), (1, 5, false));
        assert_eq!(ev.leaves, record_leaf_hashes(&b));
        drop(reader);
        // Opening for writing recreates the (empty) table; old batches still fall back.
        let hub = HubStore::open(&path).unwrap();
        assert_eq!(hub.batch_of_record("edge-a", 2).unwrap().unwrap().leaves, record_leaf_hashes(&a));
    }
}

#[cfg(test)]
mod rollup_tests {
    use super::verified;
    use super::*;
    use gridtrust_model::{Quality, TimeQuality, Value};

    const S: i64 = 1_000_000_000;

    /// One point, one record per second from `t0` for `n` seconds, values a saw-tooth.
    fn seconds(t0: i64, n: i64) -> Vec<Record> {
        (0..n)
            .map(|i| Record {
                seq: u64::try_from(i).unwrap(),
                point: PointId::new("F1/MMXU1.TotW").unwrap(),
                value: Value::Float((i % 37) as f32),
                quality: Quality::GOOD,
                source_time: Some((Timestamp(t0 + i * S), TimeQuality::GOOD)),
                received_at: Timestamp(t0 + i * S + 1),
            })
            .collect()
    }

    /// Buckets computed naively from the records, the reference for the roll-up path.
    fn reference(records: &[Record], from: i64, to: i64, origin: i64, width: i64) -> Vec<Bucket> {
        let mut acc = BucketAcc::new(origin, width);
        for r in records.iter().filter(|r| (from..to).contains(&series_time(r).0)) {
            acc.add(series_time(r).0, &Rollup::one(series_time(r), r.value.as_f64()));
        }
        acc.finish()
    }

    #[test]
    fn rolled_up_buckets_equal_buckets_from_the_records_also_at_unaligned_ends() {
        let dir = tempfile::tempdir().unwrap();
        let hub = HubStore::open(dir.path().join("h.redb")).unwrap();
        let t0 = 1_700_000_003 * S;
        let records = seconds(t0, 3_000);
        for (i, chunk) in records.chunks(250).enumerate() {
            hub.apply_batch("edge-a", &verified(i as u64, chunk)).unwrap();
        }
        let point = PointId::new("F1/MMXU1.TotW").unwrap();
        let (from, to) = (t0 + 7 * S + 300, t0 + 2_871 * S + 5);
        let (width, buckets) = hub.history_buckets(&point, Timestamp(from), Timestamp(to), 50).unwrap();
        assert_eq!(width % ROLLUP_SLOT_NS, 0);
        assert!(width >= (to - from) / 50);
        assert_eq!(buckets, reference(&records, from, to, slot_of(from), width));
        assert_eq!(buckets.iter().map(|b| b.count).sum::<u64>(), 2_864);
        // Narrow buckets fall back to the records.
        let (w, narrow) = hub.history_buckets(&point, Timestamp(from), Timestamp(from + 60 * S), 100).unwrap();
        assert!(w < ROLLUP_SLOT_NS);
        assert_eq!(narrow, hub.downsample(&point, Timestamp(from), Timestamp(from + 60 * S), 100).unwrap());
    }

    #[test]
    fn imported_history_rolls_up_like_applied_records() {
        let dir = tempfile::tempdir().unwrap();
        let applied = HubStore::open(dir.path().join("a.redb")).unwrap();
        let imported = HubStore::open(dir.path().join("i.redb")).unwrap();
        let t0 = 1_700_000_001 * S;
        let records = seconds(t0, 1_000);
        applied.apply_batch("edge-a", &verified(0, &records)).unwrap();
        let samples: Vec<(Timestamp, f64)> = records.iter().map(|r| (series_time(r), r.value.as_f64())).collect();
        imported.import_history(&records[0].point, &samples[..500]).unwrap();
        imported.import_history(&records[0].point, &samples[500..]).unwrap();
        let (from, to) = (Timestamp(t0 - 60 * S), Timestamp(t0 + 1_100 * S));
        assert_eq!(
            imported.history_buckets(&records[0].point, from, to, 20).unwrap(),
            applied.history_buckets(&records[0].point, from, to, 20).unwrap()
        );
        assert_eq!(imported.record_count().unwrap(), 0, "no records, no evidence");
    }

    #[test]
    fn an_older_store_gets_its_rollups_rebuilt_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.redb");
        let t0 = 1_700_000_000 * S;
        let records = seconds(t0, 600);
        {
            let hub = HubStore::open(&path).unwrap();
            hub.apply_batch("edge-a", &verified(0, &records)).unwrap();
        }
        {
            let db = Database::open(&path).unwrap();
            let txn = db.begin_write().unwrap();
            assert!(txn.delete_table(ROLLUPS).unwrap());
            txn.open_table(META).unwrap().remove(KEY_ROLLUP_BUILT).unwrap();
            txn.commit().unwrap();
        }
        let hub = HubStore::open(&path).unwrap();
        let point = PointId::new("F1/MMXU1.TotW").unwrap();
        let (width, buckets) = hub.history_buckets(&point, Timestamp(t0), Timestamp(t0 + 600 * S), 10).unwrap();
        assert_eq!(buckets, reference(&records, t0, t0 + 600 * S, t0, width));
    }

    #[test]
    fn alarms_and_audit_rows_keep_their_ids_and_order() {
        let dir = tempfile::tempdir().unwrap();
        let hub = HubStore::open(dir.path().join("h.redb")).unwrap();
        hub.put_alarm(2, b"b").unwrap();
        hub.put_alarm(1, b"a").unwrap();
        hub.put_alarm(2, b"b2").unwrap();
        assert_eq!(hub.alarms().unwrap(), vec![(1, b"a".to_vec()), (2, b"b2".to_vec())]);
        assert_eq!(hub.append_audit(b"x").unwrap(), 1);
        assert_eq!(hub.append_audit(b"y").unwrap(), 2);
        assert_eq!(hub.audit_newest(1).unwrap(), vec![(2, b"y".to_vec())]);
    }
}
