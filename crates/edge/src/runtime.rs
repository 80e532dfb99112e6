//! Wires an edge together: adapters → batcher → durable queue → forwarder → hub, and commands
//! back from the hub to the adapter that operates the point.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tracing::{error, info};

use gridtrust_model::{PointId, Timestamp};
use gridtrust_pki::{IdentityKind, PeerIdentity};
use gridtrust_store::{CheckpointFile, EdgeQueue, ReplayCache};
use gridtrust_transport::identity::Identity;
use gridtrust_trust::SignedBatch;

use gridtrust_adapter::{AdapterTask, DeviceConfig, DurabilityReporter};

pub use crate::adapter::adapter_channels;
use crate::adapter::{AdapterPort, DeviceCommand};
use crate::batcher::{Batcher, Datum, Resume};
use crate::config::EdgeConfig;
use crate::forward::{ForwardStats, Forwarder, IntrusionReport};
use crate::gate::{CertificateCheck, CommandGate, Freshness};
use gridtrust_ids::service::{IdsStats, Service, Side};

/// Why an edge could not start.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    #[error("cannot create {path}: {source}")]
    DataDir { path: std::path::PathBuf, source: std::io::Error },
    #[error("queue: {0}")]
    Queue(#[from] gridtrust_store::StoreError),
    #[error("identity: {0}")]
    Identity(#[from] gridtrust_transport::identity::IdentityError),
    #[error("the certificate names {found}, but this edge is configured as edge {configured}")]
    WrongIdentity { found: String, configured: String },
    #[error("mapping: {0}")]
    Mapping(#[from] gridtrust_config::ConfigError),
    #[error("the last queued batch header is unreadable: {0}")]
    Chain(#[from] gridtrust_trust::EvidenceError),
    #[error("{0}")]
    Checkpoint(#[from] gridtrust_store::CheckpointFileError),
    #[error("ids.model: {0}")]
    Ids(#[from] gridtrust_ids::model::ModelFileError),
}

/// A running edge.
pub struct Edge {
    pub stats: Arc<ForwardStats>,
    queue: Arc<EdgeQueue>,
    /// The adapters this edge started itself (not those of [`Edge::start_with_ports`]).
    adapters: Vec<JoinHandle<()>>,
    /// One per adapter: moves its data into the batcher's channel, ends when the adapter's
    /// sender is gone.
    merges: Vec<JoinHandle<()>>,
    /// Numbers, batches and persists; flushes its open batch and ends when every merge has.
    batch: JoinHandle<()>,
    /// Forwarder, nonce pruning, CRL watch.
    tasks: Vec<JoinHandle<()>>,
}

/// How a graceful [`Edge::stop`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// Every batch the edge closed was acknowledged by the hub.
    Drained,
    /// Batches still wait for the hub's acknowledgement; they stay in the durable queue and are
    /// sent after the next start.
    Queued { pending_batches: u64 },
    /// The open batch was not in the durable queue within the bound (a queue that cannot be
    /// written, an adapter that does not end); every task was aborted.
    Late,
}

impl Edge {
    /// Opens the queue, starts the adapters of `config`, the batcher and the forwarder.
    pub async fn start(config: EdgeConfig) -> Result<Self, EdgeError> {
        let mut ports = Vec::new();
        let mut spawns: Vec<AdapterTask> = Vec::new();
        let ids_stats = Arc::new(IdsStats::default());
        let ids = config
            .ids
            .as_ref()
            .map(|c| Service::new(c, &config.data_dir, gridtrust_ids::service::now_us(), Side::Client, "RTU traffic", ids_stats.clone()))
            .transpose()?;
        let taps = ids.as_ref().map(Service::taps);
        for rtu in &config.rtus {
            let mapping = gridtrust_iec104_model::MappingFile::load(&rtu.mapping)?;
            let (port, io) = adapter_channels(&rtu.name, mapping.commands.iter().map(|c| c.id.clone()).collect());
            ports.push(port);
            spawns.push(Box::pin(crate::iec104::run_rtu(rtu.clone(), mapping, io, taps.clone())));
        }
        wire_devices(&config.ieds, &mut ports, &mut spawns);
        wire_devices(&config.modbus, &mut ports, &mut spawns);
        wire_devices(&config.mqtt, &mut ports, &mut spawns);
        wire_devices(&config.pmus, &mut ports, &mut spawns);
        let (mut edge, intrusions) = Self::start_core(&config, ports, ids_stats).await?;
        if let Some(ids) = ids {
            edge.tasks.push(tokio::spawn(crate::ids::report(ids, config.edge_id.clone(), intrusions)));
        }
        edge.adapters.extend(spawns.into_iter().map(tokio::spawn));
        Ok(edge)
    }

    /// Starts the edge core with adapters the caller runs itself (tests, benchmarks, and adapters
    /// configured elsewhere). `ports` say which adapter operates which point.
    pub async fn start_with_ports(config: &EdgeConfig, ports: Vec<(AdapterPort, mpsc::Receiver<Datum>)>) -> Result<Self, EdgeError> {
        Ok(Self::start_core(config, ports, Arc::default()).await?.0)
    }

    /// The edge core, and where intrusion alerts for the hub go.
    async fn start_core(
        config: &EdgeConfig,
        ports: Vec<(AdapterPort, mpsc::Receiver<Datum>)>,
        ids: Arc<IdsStats>,
    ) -> Result<(Self, mpsc::Sender<IntrusionReport>), EdgeError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| EdgeError::DataDir { path: config.data_dir.clone(), source })?;
        let queue = Arc::new(EdgeQueue::open_with(config.data_dir.join("queue.redb"), config.queue)?);
        let resume = match queue.last_batch()? {
            None => {
                // No chain to continue: a new edge, or one whose queue was lost or replaced. The
                // new chain is numbered above anything an old one used, and the hub and the cc
                // report it as a restart if this edge sent before.
                let start = gridtrust_trust::chain::chain_start(Timestamp::now()).max(queue.next_seq());
                info!(edge_id = %config.edge_id, start, "the edge queue holds no chain: starting a new one (a restart, if this edge sent batches before)");
                Resume::new_chain(start)
            }
            Some(last) => {
                let (header, _) = gridtrust_trust::evidence::decode_sealed(&last.header_bytes)?;
                Resume::after(&header, queue.next_seq())
            }
        };
        info!(edge_id = %config.edge_id, next_seq = resume.next_seq, next_batch = resume.next_batch_seq, "edge queue opened");
        let identity = Arc::new(Identity::load(&config.identity)?);
        if identity.me.kind != IdentityKind::Edge || identity.me.name != config.edge_id {
            return Err(EdgeError::WrongIdentity { found: identity.me.to_string(), configured: config.edge_id.clone() });
        }
        let tls = identity.client_config()?;
        let replay = ReplayCache::open(config.data_dir.join("replay.redb"))?;
        let checkpoint_file = CheckpointFile::new(config.data_dir.join("checkpoint.bin"));
        let log = checkpoint_file.load(Some(&config.hub.server_name))?;
        let gate = Arc::new(CommandGate::new(
            config.edge_id.clone(),
            Arc::new(AnchorCheck(identity.clone())),
            replay,
            Freshness::default(),
            log,
            checkpoint_file,
            &config.commands,
        ));
        let appended = Arc::new(Notify::new());
        let stats = Arc::new(ForwardStats { ids, ..ForwardStats::default() });

        let (data_tx, data_rx) = mpsc::channel::<Intake>(65_536);
        // Alarms of the CRL watch are logged by the identity (target `alarm`).
        let mut tasks = vec![tasks_prune(&gate), identity.watch_crl(|_| {})];
        let mut merges = Vec::new();
        let mut receipts = Vec::new();
        let mut routes: HashMap<PointId, mpsc::Sender<DeviceCommand>> = HashMap::new();
        for (adapter, (port, mut rx)) in ports.into_iter().enumerate() {
            for p in port.operates {
                routes.insert(p, port.commands.clone());
            }
            if let Some(mark) = queue.source_mark(&port.name)? {
                port.durability.set_stored_mark(mark);
            }
            let durability = Arc::new(port.durability);
            receipts.push((port.name, durability.clone()));
            // Each adapter has its own data channel so a chatty one cannot starve the others'
            // sends; they merge here, tagged with the adapter so that commits can be counted per
            // adapter. Data first: a close request comes after the data that filled the window.
            let tx = data_tx.clone();
            merges.push(tokio::spawn(async move {
                loop {
                    let intake = tokio::select! {
                        biased;
                        d = rx.recv() => match d {
                            Some(d) => Intake::Datum(adapter, d),
                            None => break,
                        },
                        () = durability.close_requested() => Intake::CloseBatch,
                    };
                    if tx.send(intake).await.is_err() {
                        break;
                    }
                }
            }));
        }
        drop(data_tx);

        let batcher = Batcher::new(&config.edge_id, config.batch.max_records, Duration::from_millis(config.batch.max_delay_ms), resume)
            .with_heartbeat(Duration::from_secs(config.batch.heartbeat_s), Instant::now());
        config.evidence.warn_if_off("edge");
        let signer = config.evidence.signed().then(|| identity.clone());
        let batch = tokio::spawn(batch_loop(batcher, data_rx, receipts, queue.clone(), signer, appended.clone()));
        let forwarder = Forwarder {
            edge_id: config.edge_id.clone(),
            hub: config.hub.clone(),
            tls,
            identity,
            gate,
            queue: queue.clone(),
            appended,
            max_in_flight: config.batch.max_in_flight,
            ack_timeout: Duration::from_secs(config.batch.ack_timeout_s),
            routes,
            stats: stats.clone(),
        };
        let (intrusions_tx, intrusions) = mpsc::channel(crate::ids::REPORTS_CAPACITY);
        tasks.push(tokio::spawn(forwarder.run(intrusions)));
        Ok((Self { stats, queue, adapters: Vec::new(), merges, batch, tasks }, intrusions_tx))
    }

    /// Batches waiting for the hub's acknowledgement.
    pub fn pending_batches(&self) -> u64 {
        self.queue.pending_batches().unwrap_or(0)
    }

    /// Stops every task at once, dropping the open batch (its records were never acknowledged,
    /// so nothing promised is lost, but they are gone). Batches already queued stay on disk for
    /// the next start. [`Edge::stop`] is the graceful way.
    pub fn shutdown(self) {
        for t in self.adapters.into_iter().chain(self.merges).chain(std::iter::once(self.batch)).chain(self.tasks) {
            t.abort();
        }
    }

    /// Stops gracefully within `bound`: stops intake from the devices, commits the open batch to
    /// the durable queue, gives the hub up to `ack_grace` (of what is left of `bound`) to
    /// acknowledge what is queued, then closes the hub session. Adapters given to
    /// [`Edge::start_with_ports`] must have dropped their data senders first, or this waits for
    /// them until the bound.
    pub async fn stop(self, bound: Duration, ack_grace: Duration) -> Stopped {
        let started = tokio::time::Instant::now();
        let every_task: Vec<_> = self
            .adapters
            .iter()
            .chain(&self.merges)
            .chain(std::iter::once(&self.batch))
            .chain(&self.tasks)
            .map(|t| t.abort_handle())
            .collect();
        let flush = async {
            for a in &self.adapters {
                a.abort();
            }
            // An aborted adapter drops its data sender; its merge then drains what it had buffered.
            for t in self.adapters.into_iter().chain(self.merges) {
                let _ = t.await;
            }
            // Every sender gone: the batch loop flushes the open batch into the queue and ends.
            let _ = self.batch.await;
        };
        if tokio::time::timeout(bound, flush).await.is_err() {
            for t in every_task {
                t.abort();
            }
            error!(bound_ms = bound.as_millis() as u64, "the open batch was not committed within the stop bound");
            return Stopped::Late;
        }
        let deadline = tokio::time::Instant::now() + ack_grace.min(bound.saturating_sub(started.elapsed()));
        let mut pending = self.queue.pending_batches().unwrap_or(u64::MAX);
        while pending > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            pending = self.queue.pending_batches().unwrap_or(u64::MAX);
        }
        for t in self.tasks {
            t.abort();
        }
        if pending == 0 { Stopped::Drained } else { Stopped::Queued { pending_batches: pending } }
    }
}

/// Makes the channels of every device in one table and its adapter's task, to be spawned once
/// the edge core is running.
fn wire_devices<C: DeviceConfig>(devices: &[C], ports: &mut Vec<(AdapterPort, mpsc::Receiver<Datum>)>, spawns: &mut Vec<AdapterTask>) {
    for d in devices {
        let (port, io) = adapter_channels(d.name(), d.operated_points());
        ports.push(port);
        spawns.push(d.clone().run(io));
    }
}

/// Lets the command gate check certificates against this edge's trust anchors.
struct AnchorCheck(Arc<Identity>);

impl CertificateCheck for AnchorCheck {
    fn check(&self, certificate: &[u8]) -> Result<PeerIdentity, String> {
        self.0.validate(certificate).map_err(|e| e.to_string())
    }
}

/// Forgets expired command nonces once a minute.
fn tasks_prune(gate: &Arc<CommandGate>) -> JoinHandle<()> {
    let gate = gate.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            let gate = gate.clone();
            let _ = tokio::task::spawn_blocking(move || gate.prune(Timestamp::now())).await;
        }
    })
}

/// What the merge tasks hand the batch loop.
enum Intake {
    /// A datum from the adapter with this index.
    Datum(usize, Datum),
    /// An adapter's source window is full: commit the open batch now.
    CloseBatch,
}

async fn batch_loop(
    mut batcher: Batcher,
    mut data: mpsc::Receiver<Intake>,
    receipts: Vec<(String, Arc<DurabilityReporter>)>,
    queue: Arc<EdgeQueue>,
    signer: Option<Arc<Identity>>,
    appended: Arc<Notify>,
) {
    // Per adapter: data in the open batch, and data committed since start. A batch always takes
    // every pending record, so the open counts move to the committed ones whole.
    let mut open = vec![0u64; receipts.len()];
    let mut committed = vec![0u64; receipts.len()];
    loop {
        let deadline = batcher.poll_timeout();
        let closed = tokio::select! {
            d = data.recv() => match d {
                Some(Intake::Datum(adapter, d)) => {
                    if let Some(n) = open.get_mut(adapter) {
                        *n += 1;
                    }
                    batcher.push(Instant::now(), d)
                }
                Some(Intake::CloseBatch) => batcher.flush(Timestamp::now()),
                None => {
                    if let Some(b) = batcher.flush(Timestamp::now()) {
                        let marks = source_marks(&receipts, &open, &committed);
                        persist(&queue, signer.as_ref(), b, marks, &appended).await;
                        publish_receipts(&receipts, &mut open, &mut committed);
                    }
                    return;
                }
            },
            _ = sleep_until(deadline) => batcher.handle_timeout(Instant::now(), Timestamp::now()),
        };
        if let Some(b) = closed {
            let marks = source_marks(&receipts, &open, &committed);
            persist(&queue, signer.as_ref(), b, marks, &appended).await;
            publish_receipts(&receipts, &mut open, &mut committed);
        }
    }
}

/// The source marks the batch about to be committed covers: each adapter's latest mark whose
/// data will all be committed with it.
fn source_marks(receipts: &[(String, Arc<DurabilityReporter>)], open: &[u64], committed: &[u64]) -> Vec<(String, Vec<u8>)> {
    let mut marks = Vec::new();
    for (((name, r), o), c) in receipts.iter().zip(open).zip(committed) {
        if let Some(mark) = r.take_mark(c + o) {
            marks.push((name.clone(), mark));
        }
    }
    marks
}

/// After a commit: what was open is committed; each adapter hears its new total.
fn publish_receipts(receipts: &[(String, Arc<DurabilityReporter>)], open: &mut [u64], committed: &mut [u64]) {
    for (((_, r), o), c) in receipts.iter().zip(open.iter_mut()).zip(committed.iter_mut()) {
        if *o > 0 {
            *c += std::mem::take(o);
            r.committed(*c);
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

/// Runs `op` off the async threads until it succeeds, backing off between attempts: the
/// records are already numbered, so giving up would leave a hole the hub reports as a gap.
async fn retry_blocking<T, E>(what: &'static str, batch_seq: u64, op: impl Fn() -> Result<T, E> + Clone + Send + 'static) -> T
where
    T: Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    let mut delay = Duration::from_millis(50);
    loop {
        match tokio::task::spawn_blocking(op.clone()).await {
            Ok(Ok(value)) => return value,
            Ok(Err(e)) => error!(target: "alarm", batch_seq, error = %e, "{what} failed; retrying"),
            Err(e) => error!(batch_seq, error = %e, "{what} task failed; retrying"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// Signs a closed batch in the key store (unless signatures are off for a benchmark) and writes
/// it to the durable queue, with the source marks it covers in the same transaction.
async fn persist(
    queue: &Arc<EdgeQueue>,
    signer: Option<&Arc<Identity>>,
    mut batch: SignedBatch,
    marks: Vec<(String, Vec<u8>)>,
    appended: &Notify,
) {
    let seq = batch.header.batch_seq;
    if let Some(identity) = signer {
        let (identity, header) = (identity.clone(), batch.header.clone());
        batch.signature = Some(
            retry_blocking("signing in the key store", seq, move || header.sign(identity.signer.as_ref(), identity.certificate_id)).await,
        );
    }
    let header_bytes = Arc::new(batch.sealed_header());
    let records = Arc::new(batch.records);
    let q = queue.clone();
    let marks = Arc::new(marks);
    retry_blocking("queueing the batch", seq, move || q.append_batch_marked(seq, &header_bytes, &records, &marks)).await;
    appended.notify_one();
}
