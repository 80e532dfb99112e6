//! The edge's durable store-and-forward queue.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use gridtrust_model::Record;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::Deserialize;
use tracing::{debug, info, warn};

use crate::codec::{array, decode_record, hex};
use crate::db::Db;
use crate::error::{Corruption, Result, StoreError};

const META: TableDefinition<&[u8], &[u8]> = TableDefinition::new("queue_meta");
/// batch_seq (8 BE) -> record count (4 BE) ++ header bytes.
const BATCHES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("queue_batches");
/// batch_seq (8 BE) ++ index in batch (4 BE) -> canonical record.
const RECORDS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("queue_records");
/// Source name → the source's mark (what its adapter needs after a restart to resume without
/// loss or doubles: an MMS entryID, digests of the last messages), written in the same
/// transaction as the records it covers and kept after they are acknowledged.
const SOURCE_MARKS: TableDefinition<&str, &[u8]> = TableDefinition::new("queue_source_marks");

const META_NAME: &str = "queue_meta";
const BATCHES_NAME: &str = "queue_batches";
const RECORDS_NAME: &str = "queue_records";

/// Next record seq to hand out (8 BE). Survives acks, so seqs are never reused.
const KEY_NEXT_SEQ: &[u8] = b"next_seq";
/// Last appended batch seq (8 BE) ++ its header. Survives acks: the hash chain continues from it.
const KEY_LAST_BATCH: &[u8] = b"last_batch";
/// Pending batches, records, bytes (3 x 8 BE), so bounds and metrics need no scan.
const KEY_STATS: &[u8] = b"stats";

/// How much the queue may hold before [`EdgeQueue::append_batch`] refuses with
/// [`StoreError::QueueFull`] (sized to the disk the site can spare during a long uplink outage),
/// and whether to verify the file when opening it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Header plus canonical record bytes pending (redb overhead not counted).
    pub max_bytes: u64,
    /// Batches pending.
    pub max_batches: u64,
    /// Run redb's full integrity check (page checksums, repair when possible) at open. On by
    /// default: the queue is small, and after a power cut on a field device it is the one moment
    /// damage can be caught before a resend carries it to the hub.
    #[serde(default = "yes")]
    pub check_integrity_on_open: bool,
}

fn yes() -> bool {
    true
}

impl Default for QueueConfig {
    /// 1 GiB and one million batches: days of a busy substation at typical rates.
    fn default() -> Self {
        Self { max_bytes: 1 << 30, max_batches: 1_000_000, check_integrity_on_open: true }
    }
}

/// One batch waiting for the hub's acknowledgement, exactly as appended, so a resend after a
/// restart carries the same signed header and the same records.
#[derive(Clone, Debug, PartialEq)]
pub struct QueuedBatch {
    /// The batch number given at append, the ack key.
    pub batch_seq: u64,
    /// The header bytes given at append (signed by the edge), returned unchanged.
    pub header_bytes: Vec<u8>,
    /// The records, decoded from the canonical bytes that were stored.
    pub records: Vec<Record>,
}

/// The most recent batch's identity, kept after it is acknowledged because the next batch's
/// header must hash the previous one to continue the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastBatch {
    /// The batch number; the next batch is numbered above it.
    pub batch_seq: u64,
    /// The header bytes, which the next header's previous-hash field covers.
    pub header_bytes: Vec<u8>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Stats {
    batches: u64,
    records: u64,
    bytes: u64,
}

impl Stats {
    fn encode(self) -> [u8; 24] {
        let mut b = [0u8; 24];
        b[..8].copy_from_slice(&self.batches.to_be_bytes());
        b[8..16].copy_from_slice(&self.records.to_be_bytes());
        b[16..].copy_from_slice(&self.bytes.to_be_bytes());
        b
    }
    fn decode(bytes: &[u8]) -> Result<Self> {
        let key = || "stats".to_owned();
        if bytes.len() != 24 {
            return Err(StoreError::Corrupt {
                table: META_NAME,
                key: key(),
                problem: Corruption::Length { what: "stats", expected: 24, found: bytes.len() },
            });
        }
        Ok(Self {
            batches: u64::from_be_bytes(array(bytes, 0, "stats.batches", META_NAME, key)?),
            records: u64::from_be_bytes(array(bytes, 8, "stats.records", META_NAME, key)?),
            bytes: u64::from_be_bytes(array(bytes, 16, "stats.bytes", META_NAME, key)?),
        })
    }
}

fn record_key(batch_seq: u64, index: u32) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..8].copy_from_slice(&batch_seq.to_be_bytes());
    k[8..].copy_from_slice(&index.to_be_bytes());
    k
}

fn batch_seq_of(key: &[u8]) -> Result<u64> {
    let b: [u8; 8] = key.try_into().map_err(|_| StoreError::Corrupt {
        table: BATCHES_NAME,
        key: hex(key),
        problem: Corruption::Length { what: "batch key", expected: 8, found: key.len() },
    })?;
    Ok(u64::from_be_bytes(b))
}

fn read_u64(table: &impl ReadableTable<&'static [u8], &'static [u8]>, key: &'static [u8]) -> Result<Option<u64>> {
    let Some(v) = table.get(key)? else { return Ok(None) };
    let v = v.value();
    if v.len() != 8 {
        return Err(StoreError::Corrupt {
            table: META_NAME,
            key: String::from_utf8_lossy(key).into_owned(),
            problem: Corruption::Length { what: "u64", expected: 8, found: v.len() },
        });
    }
    Ok(Some(u64::from_be_bytes(array(v, 0, "u64", META_NAME, || String::from_utf8_lossy(key).into_owned())?)))
}

fn read_stats(table: &impl ReadableTable<&'static [u8], &'static [u8]>) -> Result<Stats> {
    match table.get(KEY_STATS)? {
        Some(v) => Stats::decode(v.value()),
        None => Ok(Stats::default()),
    }
}

fn read_last_batch(table: &impl ReadableTable<&'static [u8], &'static [u8]>) -> Result<Option<LastBatch>> {
    let Some(v) = table.get(KEY_LAST_BATCH)? else { return Ok(None) };
    let v = v.value();
    let batch_seq = u64::from_be_bytes(array(v, 0, "last batch seq", META_NAME, || "last_batch".to_owned())?);
    Ok(Some(LastBatch { batch_seq, header_bytes: v.get(8..).unwrap_or_default().to_vec() }))
}

/// The edge's durable queue: every record the edge signs is on disk before it is sent and stays
/// there until the hub acknowledges it, so an uplink outage or a crash loses nothing.
///
/// Each [`EdgeQueue::append_batch`] is one redb transaction committed with immediate durability
/// (fsync), so once it returns the batch survives power loss. The queue also persists the
/// record-seq high-water mark and the last batch header independently of the pending data, so
/// that after every batch is acknowledged and the process restarts, seqs still continue upwards
/// and the hash chain still links.
///
/// Methods take `&self`; redb serialises writers, so the queue can be shared between the batcher
/// and the forwarder behind an `Arc`.
pub struct EdgeQueue {
    db: Db,
    path: PathBuf,
    config: QueueConfig,
    next_seq: AtomicU64,
}

impl std::fmt::Debug for EdgeQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeQueue").field("path", &self.path).field("config", &self.config).finish_non_exhaustive()
    }
}

impl EdgeQueue {
    /// Opens or creates the queue with [`QueueConfig::default`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, QueueConfig::default())
    }

    /// Opens or creates the queue with explicit settings. Limits are not stored: a restart with
    /// smaller limits keeps what is queued and only refuses new batches until acks make room.
    pub fn open_with(path: impl AsRef<Path>, config: QueueConfig) -> Result<Self> {
        crate::error::guard("open", || {
            let path = path.as_ref().to_path_buf();
            let mut db = Db::new(Database::create(&path).map_err(|source| StoreError::Open { path: path.clone(), source })?, &path);
            if config.check_integrity_on_open
                && !db.get_mut()?.check_integrity().map_err(|source| StoreError::Open { path: path.clone(), source })?
            {
                warn!(path = %path.display(), "edge queue failed its integrity check and was repaired");
            }
            let txn = db.get()?.begin_write()?;
            let (next_seq, stats) = {
                let meta = txn.open_table(META)?;
                txn.open_table(BATCHES)?;
                txn.open_table(RECORDS)?;
                txn.open_table(SOURCE_MARKS)?;
                (read_u64(&meta, KEY_NEXT_SEQ)?.unwrap_or(0), read_stats(&meta)?)
            };
            txn.commit()?;
            info!(
                path = %path.display(),
                next_seq,
                pending_batches = stats.batches,
                pending_records = stats.records,
                pending_bytes = stats.bytes,
                "edge queue opened"
            );
            Ok(Self { db, path, config, next_seq: AtomicU64::new(next_seq) })
        })
    }

    /// The first seq the edge may give a new record: one above every seq ever appended. The edge
    /// resumes its counter here after a restart so that no seq is ever issued twice.
    ///
    /// Seqs handed out but never appended (the process died first) were never sent either, so
    /// reissuing them is safe; the contract is "append before send".
    pub fn next_seq(&self) -> u64 {
        self.next_seq.load(Ordering::Acquire)
    }

    /// Durably queues one batch. Refuses, without storing anything, a batch whose `batch_seq` is
    /// not above the last appended one, whose record seqs are not strictly increasing from
    /// [`Self::next_seq`], or that would exceed the config ([`StoreError::QueueFull`]).
    ///
    /// Records are stored in their canonical encoding, the same bytes the batch's Merkle root
    /// covers, so what is resent is exactly what was signed.
    pub fn append_batch(&self, batch_seq: u64, header_bytes: &[u8], records: &[Record]) -> Result<()> {
        self.append_batch_marked(batch_seq, header_bytes, records, &[])
    }

    /// [`Self::append_batch`], and in the same transaction the mark of each source whose data
    /// the batch covers (`(source, mark)`): a crash leaves both or neither, so a source is never
    /// told to resume past records that were not stored, nor before records that were.
    pub fn append_batch_marked(&self, batch_seq: u64, header_bytes: &[u8], records: &[Record], marks: &[(String, Vec<u8>)]) -> Result<()> {
        self.db.guard("append_batch", || {
            let record_count = u32::try_from(records.len()).map_err(|_| StoreError::QueueFull {
                batches: 0,
                bytes: 0,
                max_batches: self.config.max_batches,
                max_bytes: self.config.max_bytes,
                batch_bytes: u64::MAX,
            })?;
            let mut encoded = Vec::with_capacity(records.len());
            let mut batch_bytes = header_bytes.len() as u64;
            for r in records {
                let e = r.encode_canonical();
                batch_bytes += e.len() as u64;
                encoded.push(e);
            }

            let txn = self.db.get()?.begin_write()?;
            let new_next_seq = {
                let mut meta = txn.open_table(META)?;
                let next_seq = read_u64(&meta, KEY_NEXT_SEQ)?.unwrap_or(0);
                if let Some(last) = read_last_batch(&meta)?
                    && batch_seq <= last.batch_seq
                {
                    return Err(StoreError::BatchSeqNotIncreasing { batch_seq, last: last.batch_seq });
                }
                let mut expect = next_seq;
                for r in records {
                    if r.seq < expect {
                        return Err(StoreError::SeqNotIncreasing { batch_seq, seq: r.seq, next_seq: expect });
                    }
                    expect = r.seq.saturating_add(1);
                }
                let mut stats = read_stats(&meta)?;
                if stats.batches.saturating_add(1) > self.config.max_batches
                    || stats.bytes.saturating_add(batch_bytes) > self.config.max_bytes
                {
                    warn!(batch_seq, batch_bytes, pending_batches = stats.batches, pending_bytes = stats.bytes, "edge queue full");
                    return Err(StoreError::QueueFull {
                        batches: stats.batches,
                        bytes: stats.bytes,
                        max_batches: self.config.max_batches,
                        max_bytes: self.config.max_bytes,
                        batch_bytes,
                    });
                }

                let mut batches = txn.open_table(BATCHES)?;
                let mut value = Vec::with_capacity(4 + header_bytes.len());
                value.extend_from_slice(&record_count.to_be_bytes());
                value.extend_from_slice(header_bytes);
                batches.insert(batch_seq.to_be_bytes().as_slice(), value.as_slice())?;
                let mut recs = txn.open_table(RECORDS)?;
                for (i, e) in (0u32..).zip(&encoded) {
                    recs.insert(record_key(batch_seq, i).as_slice(), e.as_slice())?;
                }

                stats.batches += 1;
                stats.records += u64::from(record_count);
                stats.bytes += batch_bytes;
                meta.insert(KEY_STATS, stats.encode().as_slice())?;
                meta.insert(KEY_NEXT_SEQ, expect.to_be_bytes().as_slice())?;
                let mut last = Vec::with_capacity(8 + header_bytes.len());
                last.extend_from_slice(&batch_seq.to_be_bytes());
                last.extend_from_slice(header_bytes);
                meta.insert(KEY_LAST_BATCH, last.as_slice())?;
                let mut source_marks = txn.open_table(SOURCE_MARKS)?;
                for (source, mark) in marks {
                    source_marks.insert(source.as_str(), mark.as_slice())?;
                }
                expect
            };
            txn.commit()?;
            self.next_seq.fetch_max(new_next_seq, Ordering::AcqRel);
            debug!(batch_seq, records = records.len(), batch_bytes, "batch queued");
            Ok(())
        })
    }

    /// Up to `limit` unacknowledged batches in batch-seq order, starting after `after_batch_seq`
    /// (or from the oldest). The forwarder pipelines with it: send, remember the last seq sent,
    /// ask for what follows, and on reconnect start again from `None`.
    pub fn pending(&self, after_batch_seq: Option<u64>, limit: usize) -> Result<Vec<QueuedBatch>> {
        self.db.guard("pending", || {
            let mut out = Vec::new();
            if limit == 0 {
                return Ok(out);
            }
            let start = match after_batch_seq {
                None => 0,
                Some(u64::MAX) => return Ok(out),
                Some(s) => s + 1,
            };
            let txn = self.db.get()?.begin_read()?;
            let batches = txn.open_table(BATCHES)?;
            let recs = txn.open_table(RECORDS)?;
            for entry in batches.range(start.to_be_bytes().as_slice()..)? {
                if out.len() >= limit {
                    break;
                }
                let (k, v) = entry?;
                let batch_seq = batch_seq_of(k.value())?;
                let v = v.value();
                let count = u32::from_be_bytes(array(v, 0, "record count", BATCHES_NAME, || format!("batch {batch_seq}"))?);
                let header_bytes = v.get(4..).unwrap_or_default().to_vec();
                let lo = record_key(batch_seq, 0);
                let hi = record_key(batch_seq, u32::MAX);
                let mut records = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
                for (expected, rec) in (0u32..).zip(recs.range(lo.as_slice()..=hi.as_slice())?) {
                    let (rk, rv) = rec?;
                    let index = u32::from_be_bytes(array(rk.value(), 8, "record index", RECORDS_NAME, || hex(rk.value()))?);
                    if index != expected {
                        return Err(StoreError::Corrupt {
                            table: RECORDS_NAME,
                            key: format!("batch {batch_seq} record {expected}"),
                            problem: Corruption::Inconsistent(format!("record {expected} missing, next stored is {index}")),
                        });
                    }
                    records.push(decode_record(rv.value(), RECORDS_NAME, || format!("batch {batch_seq} record {index}"))?);
                }
                if records.len() as u64 != u64::from(count) {
                    return Err(StoreError::Corrupt {
                        table: BATCHES_NAME,
                        key: format!("batch {batch_seq}"),
                        problem: Corruption::Inconsistent(format!("header says {count} records, {} stored", records.len())),
                    });
                }
                out.push(QueuedBatch { batch_seq, header_bytes, records });
            }
            Ok(out)
        })
    }

    /// Forgets every batch up to and including `batch_seq`, once the hub has confirmed it holds
    /// them. Acking past the newest batch or acking twice is harmless, because acks can arrive
    /// late or repeated after a reconnect.
    pub fn ack_through(&self, batch_seq: u64) -> Result<()> {
        self.db.guard("ack_through", || {
            let txn = self.db.get()?.begin_write()?;
            let (removed_batches, removed_records) = {
                let mut meta = txn.open_table(META)?;
                let mut stats = read_stats(&meta)?;
                let mut batches = txn.open_table(BATCHES)?;
                let mut recs = txn.open_table(RECORDS)?;
                let end = batch_seq.to_be_bytes();
                let mut removed_batches = 0u64;
                let mut bytes = 0u64;
                batches.retain_in(..=end.as_slice(), |_, v| {
                    removed_batches += 1;
                    bytes += v.len().saturating_sub(4) as u64;
                    false
                })?;
                let rend = record_key(batch_seq, u32::MAX);
                let mut removed_records = 0u64;
                recs.retain_in(..=rend.as_slice(), |_, v| {
                    removed_records += 1;
                    bytes += v.len() as u64;
                    false
                })?;
                if removed_batches == 0 && removed_records == 0 {
                    return Ok(());
                }
                stats.batches = stats.batches.saturating_sub(removed_batches);
                stats.records = stats.records.saturating_sub(removed_records);
                stats.bytes = stats.bytes.saturating_sub(bytes);
                meta.insert(KEY_STATS, stats.encode().as_slice())?;
                (removed_batches, removed_records)
            };
            txn.commit()?;
            debug!(batch_seq, removed_batches, removed_records, "acknowledged");
            Ok(())
        })
    }

    /// The last batch ever appended, acknowledged or not: after a restart the edge links its next
    /// header to this one's hash and numbers it `batch_seq + 1`.
    pub fn last_batch(&self) -> Result<Option<LastBatch>> {
        self.db.guard("last_batch", || {
            let txn = self.db.get()?.begin_read()?;
            let meta = txn.open_table(META)?;
            read_last_batch(&meta)
        })
    }

    /// The mark last committed for `source` ([`Self::append_batch_marked`]), if any.
    pub fn source_mark(&self, source: &str) -> Result<Option<Vec<u8>>> {
        self.db.guard("source_mark", || {
            let txn = self.db.get()?.begin_read()?;
            let marks = txn.open_table(SOURCE_MARKS)?;
            Ok(marks.get(source)?.map(|v| v.value().to_vec()))
        })
    }

    /// Records waiting for acknowledgement, for backlog metrics and alarms.
    pub fn len(&self) -> Result<u64> {
        self.db.guard("len", || Ok(self.stats()?.records))
    }

    /// True when the hub holds everything: nothing to resend.
    pub fn is_empty(&self) -> Result<bool> {
        self.db.guard("is_empty", || Ok(self.stats()?.batches == 0))
    }

    /// Batches waiting for acknowledgement, for backlog metrics.
    pub fn pending_batches(&self) -> Result<u64> {
        self.db.guard("pending_batches", || Ok(self.stats()?.batches))
    }

    /// Bytes (headers plus canonical records) waiting, the figure [`QueueConfig::max_bytes`] bounds.
    pub fn pending_bytes(&self) -> Result<u64> {
        self.db.guard("pending_bytes", || Ok(self.stats()?.bytes))
    }

    /// The bounds this handle enforces.
    pub fn config(&self) -> QueueConfig {
        self.config
    }

    fn stats(&self) -> Result<Stats> {
        let txn = self.db.get()?.begin_read()?;
        let meta = txn.open_table(META)?;
        read_stats(&meta)
    }
}
