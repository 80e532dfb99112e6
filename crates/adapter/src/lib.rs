//! What every southbound adapter (IEC 104, MMS, Modbus/SunSpec, MQTT, C37.118) gets from the edge
//! and gives back: a channel for data, a channel of verified commands to execute, and a durability
//! receipt ([`Durability`]) that says how much of the adapter's data is committed to the edge's
//! queue, so an adapter acknowledges to its source only what a crash cannot lose.
//!
//! It is its own crate so that each protocol crate can ship its edge adapter without depending on
//! the edge (which depends on them to start them).

use std::future::Future;
use std::pin::Pin;

use std::sync::Arc;

use tokio::sync::{Notify, mpsc, watch};
use tracing::warn;

use gridtrust_model::{Command, CommandOutcome, CommandResult, PointId, Quality, TimeQuality, Timestamp, Value};

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
#[derive(Clone, Debug)]
pub struct Durability {
    committed: watch::Receiver<u64>,
    close: Arc<Notify>,
}

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
        self.close.notify_one();
    }
}

/// The durability receipt, edge side: publishes the committed count of one adapter and hears its
/// requests to close the batch early.
#[derive(Debug)]
pub struct DurabilityReporter {
    committed: watch::Sender<u64>,
    close: Arc<Notify>,
}

impl DurabilityReporter {
    /// A receipt pair starting at 0 committed. The edge makes one per adapter; a test or benchmark
    /// that runs an adapter without an edge reports commits itself.
    pub fn new() -> (Self, Durability) {
        let (tx, rx) = watch::channel(0);
        let close = Arc::new(Notify::new());
        (Self { committed: tx, close: close.clone() }, Durability { committed: rx, close })
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
        self.close.notified().await;
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
