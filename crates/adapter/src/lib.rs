//! What every southbound adapter (IEC 104, MMS, Modbus/SunSpec, MQTT, C37.118) gets from the edge
//! and gives back: a channel for data, a channel of verified commands to execute, and a durability
//! receipt ([`Durability`]) that says how much of the adapter's data is committed to the edge's
//! queue, so an adapter acknowledges to its source only what a crash cannot lose.
//!
//! It is its own crate so that each protocol crate can ship its edge adapter without depending on
//! the edge (which depends on them to start them).

use std::future::Future;
use std::pin::Pin;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

use sha2::{Digest, Sha256};
use tokio::sync::{Notify, mpsc, watch};
use tracing::warn;

use gridtrust_model::{Command, CommandOutcome, CommandResult, PointId, Quality, TimeQuality, Timestamp, Validity, Value};

/// A datum from an adapter, before the edge numbers it.
#[derive(Clone, Debug, PartialEq)]
pub struct Datum {
    pub point: PointId,
    pub value: Value,
    pub quality: Quality,
    /// The device's own timestamp and how far to trust it, when the protocol carries one.
    pub source_time: Option<(Timestamp, TimeQuality)>,
    pub received_at: Timestamp,
}

/// A command the edge has accepted for execution (both signatures, freshness and replay checked),
/// with where to report each stage.
#[derive(Debug)]
pub struct DeviceCommand {
    pub command: Command,
    pub results: mpsc::Sender<CommandResult>,
}

impl DeviceCommand {
    /// Reports `outcome` for this command; a closed channel means nobody waits any more.
    pub async fn report(&self, outcome: CommandOutcome) {
        let c = &self.command;
        let _ = self
            .results
            .send(CommandResult { command_id: c.id, edge: c.edge.clone(), action: c.action, outcome, at: Timestamp::now() })
            .await;
    }

    /// Refuses the command at the edge with `reason`, logged, so the issuer gets a signed answer
    /// instead of a timeout.
    pub async fn refuse(&self, reason: &str) {
        let c = &self.command;
        warn!(command_id = c.id, point = %c.point, reason, "command refused at the edge");
        self.report(CommandOutcome::Refused { by: "edge".into(), reason: reason.to_owned() }).await;
    }
}

/// The adapter's ends of its channels.
pub struct AdapterIo {
    /// Every datum read from the device.
    pub data: mpsc::Sender<Datum>,
    /// Commands for points this adapter operates.
    pub commands: mpsc::Receiver<DeviceCommand>,
    /// How much of what was sent on `data` is committed to the edge's durable queue.
    pub durability: Durability,
}

/// The durability receipt, adapter side: how many of the data this adapter sent on its data
/// channel the edge has committed to its durable queue, counted from the adapter's start.
///
/// The way to use it is one rule for every protocol: count the data sent (the edge keeps the
/// order of one adapter's data), remember the count after each source message, and acknowledge
/// that message to the source once [`Durability::committed`] has reached it. Between the
/// edge's batch commits a source with a bounded window (the k of an IEC 104 RTU, the receive
/// maximum of an MQTT broker) can stall; [`Durability::close_batch`] asks the edge to commit the
/// open batch now instead of at its deadline.
///
/// With the data an adapter can commit a source mark ([`Durability::mark`]): what it needs after
/// a restart to resume the source without loss or doubles (an MMS entryID, the digests of the
/// last messages, [`RecentMessages`]). The edge writes it in the same transaction as the data it
/// covers and hands it back at the next start ([`Durability::stored_mark`]).
#[derive(Clone, Debug)]
pub struct Durability {
    committed: watch::Receiver<u64>,
    shared: Arc<Shared>,
}

/// What both ends of a receipt share.
#[derive(Debug, Default)]
struct Shared {
    close: Notify,
    /// Marks not yet committed, each with the data count that must be committed first.
    marks: Mutex<VecDeque<(u64, Vec<u8>)>>,
    /// The mark committed before this start.
    stored: OnceLock<Vec<u8>>,
}

/// Uncommitted marks kept at most; a later mark supersedes an earlier one, so dropping the
/// oldest only bounds memory while the queue cannot commit.
const MAX_PENDING_MARKS: usize = 4096;

impl Durability {
    /// How many of this adapter's data are committed.
    pub fn committed(&self) -> u64 {
        *self.committed.borrow()
    }

    /// Waits until the committed count changes and returns it; `None` when the edge has stopped
    /// (nothing more will be committed).
    pub async fn changed(&mut self) -> Option<u64> {
        self.committed.changed().await.ok()?;
        Some(*self.committed.borrow_and_update())
    }

    /// Asks the edge to commit its open batch now (the source's window is full).
    pub fn close_batch(&self) {
        self.shared.close.notify_one();
    }

    /// Commits `mark` together with this adapter's data once the first `covers` data sent are
    /// committed (with the batch that completes them; a later mark supersedes it).
    pub fn mark(&self, covers: u64, mark: Vec<u8>) {
        let mut marks = self.shared.marks.lock().unwrap_or_else(|e| e.into_inner());
        if marks.back().is_some_and(|(c, _)| *c == covers) {
            marks.pop_back();
        }
        marks.push_back((covers, mark));
        while marks.len() > MAX_PENDING_MARKS {
            marks.pop_front();
        }
    }

    /// The mark committed by this adapter's previous run, if any (known once the edge opened its
    /// queue, before it starts the adapters).
    pub fn stored_mark(&self) -> Option<&[u8]> {
        self.shared.stored.get().map(Vec::as_slice)
    }
}

/// The durability receipt, edge side: publishes the committed count of one adapter and hears its
/// requests to close the batch early.
#[derive(Debug)]
pub struct DurabilityReporter {
    committed: watch::Sender<u64>,
    shared: Arc<Shared>,
}

impl DurabilityReporter {
    /// A receipt pair starting at 0 committed. The edge makes one per adapter; a test or benchmark
    /// that runs an adapter without an edge reports commits itself.
    pub fn new() -> (Self, Durability) {
        let (tx, rx) = watch::channel(0);
        let shared = Arc::new(Shared::default());
        (Self { committed: tx, shared: shared.clone() }, Durability { committed: rx, shared })
    }

    /// Publishes that `total` of the adapter's data are committed (never goes backwards).
    pub fn committed(&self, total: u64) {
        self.committed.send_if_modified(|c| {
            let advanced = total > *c;
            if advanced {
                *c = total;
            }
            advanced
        });
    }

    /// Waits until the adapter asks for the open batch to be closed.
    pub async fn close_requested(&self) {
        self.shared.close.notified().await;
    }

    /// The latest mark that a commit of the first `committed` data covers, to be written with
    /// them; earlier ones are superseded.
    pub fn take_mark(&self, committed: u64) -> Option<Vec<u8>> {
        let mut marks = self.shared.marks.lock().unwrap_or_else(|e| e.into_inner());
        let mut latest = None;
        while marks.front().is_some_and(|(c, _)| *c <= committed) {
            latest = marks.pop_front().map(|(_, m)| m);
        }
        latest
    }

    /// Hands the adapter the mark its previous run committed (once, before it starts).
    pub fn set_stored_mark(&self, mark: Vec<u8>) {
        let _ = self.shared.stored.set(mark);
    }
}

/// Digests of the latest messages of one source, oldest first: kept as the source's mark so that
/// a copy the source redelivers (after a crash between the commit and the acknowledgement, or a
/// reconnect) is recognised. SHA-256 truncated to 16 bytes: stable across builds, and a
/// collision between two of a source's last messages is not a practical concern.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecentMessages {
    capacity: usize,
    digests: VecDeque<[u8; 16]>,
}

impl RecentMessages {
    /// Keeps the digests of the last `capacity` messages.
    pub fn new(capacity: usize) -> Self {
        Self { capacity, digests: VecDeque::with_capacity(capacity) }
    }

    /// Restores from a mark written by [`Self::to_mark`] (a trailing partial digest is ignored).
    pub fn from_mark(capacity: usize, mark: &[u8]) -> Self {
        let mut recent = Self::new(capacity);
        for chunk in mark.chunks_exact(16) {
            let mut d = [0u8; 16];
            d.copy_from_slice(chunk);
            recent.push_digest(d);
        }
        recent
    }

    /// The digest of one message (its bytes, and for MQTT its topic, concatenated by the caller).
    pub fn digest(parts: &[&[u8]]) -> [u8; 16] {
        let mut h = Sha256::new();
        for p in parts {
            h.update((p.len() as u64).to_be_bytes());
            h.update(p);
        }
        let full = h.finalize();
        let mut d = [0u8; 16];
        d.copy_from_slice(&full[..16]);
        d
    }

    /// Remembers a message, forgetting the oldest beyond the capacity.
    pub fn push_digest(&mut self, digest: [u8; 16]) {
        self.digests.push_back(digest);
        while self.digests.len() > self.capacity {
            self.digests.pop_front();
        }
    }

    /// Whether a message with this digest is among the remembered ones.
    pub fn contains(&self, digest: &[u8; 16]) -> bool {
        self.digests.contains(digest)
    }

    /// The remembered digests, oldest first.
    pub fn digests(&self) -> &VecDeque<[u8; 16]> {
        &self.digests
    }

    /// The mark to commit: the digests, oldest first.
    pub fn to_mark(&self) -> Vec<u8> {
        self.digests.iter().flatten().copied().collect()
    }
}

/// The quality of a point whose device link is lost: invalid, and old data (the value shown is
/// the last one the device reported). One rule for every adapter, so SCADA sees a lost RTU, IED,
/// PMU or inverter the same way.
pub fn lost_link_quality() -> Quality {
    Quality::GOOD.with_validity(Validity::Invalid).with_old_data(true)
}

/// The last value of each point a device reported while its link was up: what the adapter
/// sends again with [`lost_link_quality`] when the link drops, so the control centre shows IV
/// instead of a frozen value as good.
#[derive(Debug, Default)]
pub struct LastValues(HashMap<PointId, Value>);

impl LastValues {
    /// Remembers the datum's value as its point's last.
    pub fn remember(&mut self, datum: &Datum) {
        self.0.insert(datum.point.clone(), datum.value);
    }

    /// Sends each remembered point's last value again with [`lost_link_quality`], once, and
    /// forgets them. Returns how many were sent, or `None` when the edge has stopped.
    pub async fn invalidate(&mut self, data: &mpsc::Sender<Datum>) -> Option<u64> {
        let received_at = Timestamp::now();
        let mut sent = 0;
        for (point, value) in self.0.drain() {
            data.send(Datum { point, value, quality: lost_link_quality(), source_time: None, received_at }).await.ok()?;
            sent += 1;
        }
        Some(sent)
    }
}

/// The edge's ends of one adapter's channels, and which points it operates.
pub struct AdapterPort {
    pub name: String,
    pub operates: Vec<PointId>,
    pub commands: mpsc::Sender<DeviceCommand>,
    pub durability: DurabilityReporter,
}

/// Makes the channels for one adapter named `name` that operates `operates`.
pub fn adapter_channels(name: &str, operates: Vec<PointId>) -> ((AdapterPort, mpsc::Receiver<Datum>), AdapterIo) {
    let (data_tx, data_rx) = mpsc::channel(65_536);
    let (cmd_tx, cmd_rx) = mpsc::channel(256);
    let (reporter, durability) = DurabilityReporter::new();
    (
        (AdapterPort { name: name.to_owned(), operates, commands: cmd_tx, durability: reporter }, data_rx),
        AdapterIo { data: data_tx, commands: cmd_rx, durability },
    )
}

/// A running adapter, as the edge spawns it.
pub type AdapterTask = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One device table of `edge.toml` whose adapter lives in a protocol crate (`[[ied]]`,
/// `[[modbus]]`, `[[mqtt]]`, `[[pmu]]`), so the edge validates, wires and starts every kind the
/// same way and a new protocol needs no new code paths in the edge.
pub trait DeviceConfig: Clone + Send + 'static {
    /// The table's name in `edge.toml`, used in error keys such as `modbus[0].address`.
    const TABLE: &'static str;
    /// The device's name in logs and metrics; unique within one edge.
    fn name(&self) -> &str;
    /// Checks what serde cannot: `Err((key, message))`, the key relative to the table entry.
    fn validate(&self) -> Result<(), (String, String)>;
    /// The points this device accepts verified commands for.
    fn operated_points(&self) -> Vec<PointId>;
    /// Runs the adapter until the edge stops.
    fn run(self, io: AdapterIo) -> AdapterTask;
}
