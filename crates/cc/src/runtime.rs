use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use gridtrust_ids::service::{IdsStats, Service, Side};
use gridtrust_iec104::asdu::InformationObject;
use gridtrust_iec104::server::{CommandMode, CommandResponder, IncomingCommand, Server, ServerHandle, UnlistedClients};
use gridtrust_iec104_model::MappingFile;
use gridtrust_iec104_model::convert::{command_from_element, cp56_from_time, element_from_datum};
use gridtrust_model::{CommandAction, CommandOutcome, CommandResult, Quality, TimeQuality, Timestamp, Validity, Value};
use gridtrust_pki::IdentityKind;
use gridtrust_store::CheckpointFile;

use crate::position::PositionFile;
use gridtrust_transport::authority::{RegistryHolder, verify_result};
use gridtrust_transport::identity::{Evidence, Identity};
use gridtrust_transport::{CcToHub, FrameError, HubToCc, PROTOCOL_VERSION, Upstream};
use gridtrust_trust::Hash;
use gridtrust_trust::checkpoint::{CheckpointTracker, SignedCheckpoint};
use gridtrust_trust::command::{SignedCommand, SignedResult};
use gridtrust_trust::issue::{Intent, SystemRandomness};

use crate::CcConfig;
use crate::alarm_list::AlarmList;
use crate::scada::{self, OnBehalf};
use crate::staleness::{Bounds, Staleness, Step, Topicality};
use crate::verify::{Alarm, Verifier};
use crate::watchdog::{CheckpointWatchdog, Silence};

/// Why the connector could not start.
#[derive(Debug, thiserror::Error)]
pub enum CcError {
    #[error("mapping: {0}")]
    Mapping(#[from] gridtrust_config::ConfigError),
    #[error("identity: {0}")]
    Identity(#[from] gridtrust_transport::identity::IdentityError),
    #[error("the certificate names {found}, but this connector is configured as cc {configured}")]
    WrongIdentity { found: String, configured: String },
    #[error("cannot use data directory {path}: {source}")]
    DataDir { path: std::path::PathBuf, source: std::io::Error },
    #[error("{0}")]
    Checkpoint(#[from] gridtrust_store::CheckpointFileError),
    #[error("point registry: {0}")]
    Registry(#[from] gridtrust_transport::authority::AuthorityError),
    #[error("checkpoints.pinned: {0}")]
    Pin(gridtrust_trust::checkpoint::CheckpointError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: String, source: std::io::Error },
    #[error("IEC 104 station: {0}")]
    Station(#[from] gridtrust_iec104::server::StationError),
    #[error("web UI: {0}")]
    Ui(#[from] crate::ui::UiError),
    #[error("ids.model: {0}")]
    Ids(#[from] gridtrust_ids::model::ModelFileError),
}

/// Reports to the hub (intrusion alerts) held while its link is down; beyond that they are only
/// kept here.
const REPORTS_CAPACITY: usize = 256;

/// Counters for metrics and tests.
#[derive(Debug, Default)]
pub struct CcStats {
    pub batches_verified: AtomicU64,
    pub records_served: AtomicU64,
    pub records_invalid: AtomicU64,
    pub commands: AtomicU64,
    /// Log checkpoints accepted after their signature and consistency proof verified.
    pub checkpoints_accepted: AtomicU64,
    /// SCADA connections closed unserved: address not allowed, or TLS handshake refused.
    pub scada_connections_refused: AtomicU64,
    /// SCADA commands refused before signing (a client that may not operate).
    pub scada_commands_refused: AtomicU64,
    /// SCADA commands refused because they could not reach the hub, or their confirmation did
    /// not come back, within `[commands] forward_timeout_ms`.
    pub commands_timed_out: AtomicU64,
    /// What the intrusion detector saw and raised (`[ids]`).
    pub ids: Arc<IdsStats>,
    /// Reports (intrusion alerts) sent to the hub.
    pub reports_sent: AtomicU64,
}

/// A running connector.
pub struct Cc {
    /// Where SCADA connects.
    pub iec104_addr: SocketAddr,
    pub stats: Arc<CcStats>,
    alarms: Arc<Mutex<AlarmList>>,
    server: ServerHandle,
    tasks: Vec<JoinHandle<()>>,
    ui: Option<crate::ui::UiServer>,
}

impl Cc {
    /// Starts the IEC 104 server and the link to the hub.
    pub async fn start(config: CcConfig) -> Result<Self, CcError> {
        let mapping = MappingFile::load(&config.iec104.mapping)?;
        let identity = Arc::new(Identity::load(&config.identity)?);
        if identity.me.kind != IdentityKind::Cc || identity.me.name != config.cc_id {
            return Err(CcError::WrongIdentity { found: identity.me.to_string(), configured: config.cc_id.clone() });
        }
        // First, so nothing else is running when it cannot start; it stops when dropped.
        let ui = match &config.ui {
            Some(ui) => Some(crate::ui::start(ui, &identity, std::path::Path::new("[ui]")).await?),
            None => None,
        };
        std::fs::create_dir_all(&config.data_dir).map_err(|source| CcError::DataDir { path: config.data_dir.clone(), source })?;
        let checkpoint_file = CheckpointFile::new(config.data_dir.join("checkpoint.bin"));
        // Only the configured hub's log is followed (the hub names its log after its certificate
        // name); a connector that holds no checkpoint yet starts from the pin, if configured.
        let mut tracker = checkpoint_file.load(Some(&config.hub.server_name))?;
        if let Some(pin) = config.checkpoints.pinned {
            tracker = tracker.with_pin(pin).map_err(CcError::Pin)?;
        }
        let registry = RegistryHolder::open(config.data_dir.join("registry.signed"), &identity)?;
        let position_file = PositionFile::new(config.data_dir.join("positions"));
        let positions = position_file.load().unwrap_or_else(|e| {
            warn!(target: "alarm", error = %e, "positions per edge unreadable: the hub resyncs this connector from the latest values");
            BTreeMap::new()
        });
        let tls = if config.iec104.tls {
            Some(tokio_rustls::TlsAcceptor::from(identity.server_config_admitting(scada::admission())?))
        } else {
            None
        };
        let listen: SocketAddr = config
            .iec104
            .listen
            .parse()
            .map_err(|e| CcError::Listen { addr: config.iec104.listen.clone(), source: std::io::Error::other(format!("{e}")) })?;
        // The redundancy groups' members are an allow-list, whatever built the configuration.
        let station = gridtrust_iec104::server::ServerConfig { unlisted_clients: UnlistedClients::Refuse, ..config.iec104.station.clone() };
        let stats = Arc::new(CcStats::default());
        let ids = config
            .ids
            .as_ref()
            .map(|c| Service::new(c, &config.data_dir, gridtrust_ids::service::now_us(), Side::Server, "SCADA traffic", stats.ids.clone()))
            .transpose()?;
        let (server, commands) = Server::bind_tapped(listen, tls, station, ids.as_ref().map(Service::taps))
            .await
            .map_err(|source| CcError::Listen { addr: config.iec104.listen.clone(), source })?;
        let refusals = server.refusals();
        // Every point starts invalid and not topical: SCADA sees nothing as good before its
        // evidence has been checked.
        let unknown = Quality::GOOD.with_validity(Validity::Invalid).with_old_data(true);
        for p in &mapping.points {
            let value = match p.kind {
                gridtrust_iec104_model::MonitorKind::Single => Value::Single(false),
                gridtrust_iec104_model::MonitorKind::Double => Value::Double(gridtrust_model::DoublePoint::Indeterminate),
                gridtrust_iec104_model::MonitorKind::Step => Value::Step { position: 0, transient: false },
                gridtrust_iec104_model::MonitorKind::Bitstring => Value::Bitstring(0),
                gridtrust_iec104_model::MonitorKind::Counter => Value::Counter { value: 0, sequence: 0, carry: false, adjusted: false },
                _ => Value::Float(0.0),
            };
            if let Some(e) = element_from_datum(&value, unknown, None, p) {
                server.register_point(InformationObject::new(p.ioa, e), p.group.as_slice()).await?;
            }
        }
        for c in &mapping.commands {
            let mode = if c.sbo { CommandMode::SelectBeforeOperate } else { CommandMode::DirectExecute };
            server.register_command(c.ioa, c.kind.type_id(), mode).await?;
        }
        let iec104_addr = server.local_addr();
        info!(%iec104_addr, cc_id = %config.cc_id, "IEC 104 server for SCADA listening");

        let alarms = Arc::new(Mutex::new(AlarmList::default()));
        let tls = identity.client_config()?;
        let watchdog =
            Arc::new(Mutex::new(CheckpointWatchdog::new(Duration::from_secs(config.checkpoints.max_silence_s), std::time::Instant::now())));
        let mapping = Arc::new(mapping);
        let freshness = Arc::new(tokio::sync::Mutex::new(Freshness {
            staleness: Staleness::new(Bounds {
                not_topical: Duration::from_secs(config.staleness.not_topical_s),
                invalid: Duration::from_secs(config.staleness.invalid_s),
            }),
            served: HashMap::new(),
        }));
        let forward_timeout = Duration::from_millis(config.commands.forward_timeout_ms);
        let link_up = Arc::new(AtomicBool::new(false));
        let (stamped_tx, stamped) = mpsc::channel(256);
        // Without [ids] nothing reports: the sender is dropped and the link never waits on it.
        let (reports_tx, reports) = mpsc::channel(REPORTS_CAPACITY);
        let link = HubLink {
            cc_id: config.cc_id.clone(),
            hub: config.hub.clone(),
            tls,
            identity,
            checkpoint_file,
            position_file,
            saved_positions: Mutex::new(positions.clone()),
            registry: Mutex::new(registry),
            mapping: mapping.clone(),
            server: server.clone(),
            stats: stats.clone(),
            alarms: alarms.clone(),
            watchdog: watchdog.clone(),
            freshness: freshness.clone(),
            forward_timeout,
            random: SystemRandomness::default(),
            hub_silence: Duration::from_secs(config.staleness.hub_silence_s),
            link_up: link_up.clone(),
        };
        config.evidence.warn_if_off("cc");
        let mut verifier = match config.evidence {
            Evidence::Signed => Verifier::default(),
            Evidence::UnsignedForBenchmark => Verifier::without_signatures(),
        };
        if let Some(held) = link.registry().current() {
            verifier.set_registry(Arc::new(held.registry.clone()));
        }
        verifier.resume_from(positions);
        // Alarms of the CRL watch are logged by the identity (target `alarm`).
        let crl_watch = link.identity.watch_crl(|_| {});
        let mut tasks = vec![
            crl_watch,
            tokio::spawn(link.run(stamped, reports, tracker, verifier)),
            tokio::spawn(stamp(commands, stamped_tx, link_up, stats.clone())),
            tokio::spawn(watch_staleness(freshness, mapping, server.clone(), alarms.clone())),
            tokio::spawn(scada::watch_refusals(refusals, stats.clone(), alarms.clone())),
            tokio::spawn(watch_checkpoints(watchdog, alarms.clone())),
        ];
        if let Some(ids) = ids {
            tasks.push(tokio::spawn(crate::ids::run(ids, alarms.clone(), reports_tx)));
        }
        Ok(Self { iec104_addr, stats, alarms, server, tasks, ui })
    }

    /// Where browsers reach the web UI, when `[ui]` is configured.
    pub fn ui_addr(&self) -> Option<SocketAddr> {
        self.ui.as_ref().map(|ui| ui.addr)
    }

    /// Alarms raised so far.
    pub fn alarms(&self) -> Vec<Alarm> {
        self.alarms.lock().unwrap_or_else(|p| p.into_inner()).to_vec()
    }

    /// Alarms dropped from [`Cc::alarms`] to keep it bounded (they remain in the log).
    pub fn alarms_dropped(&self) -> u64 {
        self.alarms.lock().unwrap_or_else(|p| p.into_inner()).dropped()
    }

    /// The IEC 104 server, for redundancy status.
    pub fn server(&self) -> &ServerHandle {
        &self.server
    }

    /// Stops the connector.
    pub async fn shutdown(self) {
        for t in &self.tasks {
            t.abort();
        }
        self.server.shutdown().await;
    }
}

/// Raises the checkpoint silence alarms when the watchdog says so, waking at its deadline.
async fn watch_checkpoints(watchdog: Arc<Mutex<CheckpointWatchdog>>, alarms: Arc<Mutex<AlarmList>>) {
    /// While a silence is reported, only a checkpoint ends it; look again this often.
    const IDLE: Duration = Duration::from_secs(1);
    loop {
        let now = std::time::Instant::now();
        let (silence, deadline) = {
            let mut w = lock(&watchdog);
            (w.poll(now), w.deadline())
        };
        if let Some(silence) = silence {
            raise(&alarms, vec![silence_alarm(silence)]);
        }
        tokio::time::sleep_until(deadline.unwrap_or(now + IDLE).into()).await;
    }
}

/// A SCADA command and when it arrived: it is sent to the hub only within
/// `[commands] forward_timeout_ms` of that moment, never later.
struct Stamped {
    cmd: IncomingCommand,
    arrived: Instant,
    /// The wall-clock arrival: the signed command is issued, and expires, from here.
    issued_at: Timestamp,
}

/// Stamps each SCADA command as it arrives and passes it to the hub link; while the link is
/// down it is refused at once (negative ACTCON) rather than kept for when the hub is back.
async fn stamp(
    mut commands: mpsc::Receiver<IncomingCommand>,
    to_link: mpsc::Sender<Stamped>,
    link_up: Arc<AtomicBool>,
    stats: Arc<CcStats>,
) {
    while let Some(cmd) = commands.recv().await {
        let stamped = Stamped { cmd, arrived: Instant::now(), issued_at: Timestamp::now() };
        if !link_up.load(Ordering::SeqCst) {
            refuse_unforwarded(stamped, "the hub is unreachable", &stats);
            continue;
        }
        if let Err(mpsc::error::SendError(stamped)) = to_link.send(stamped).await {
            refuse_unforwarded(stamped, "the hub link is stopped", &stats);
        }
    }
}

/// Answers a command the cc will never send with a negative ACTCON.
fn refuse_unforwarded(stamped: Stamped, why: &str, stats: &CcStats) {
    stats.commands_timed_out.fetch_add(1, Ordering::Relaxed);
    let ioa = stamped.cmd.asdu.objects.first().map_or(0, |o| o.ioa);
    warn!(ioa, peer = %stamped.cmd.peer, waited_ms = stamped.arrived.elapsed().as_millis(), why, "SCADA command refused, never sent to the hub");
    let _ = stamped.cmd.responder.confirm(false);
}

/// The values served to SCADA and how topical each edge is, under one lock so a value being
/// served and the re-serving of its edge's points as stale never interleave.
struct Freshness {
    staleness: Staleness,
    /// The last value served per point id, with its own quality and the edge it came from.
    served: HashMap<gridtrust_model::PointId, Served>,
}

struct Served {
    edge: String,
    value: Value,
    quality: Quality,
    time: (Timestamp, TimeQuality),
}

/// The quality SCADA sees for a value of quality `own` while its edge is `level`.
fn shown(own: Quality, level: Topicality) -> Quality {
    match level {
        Topicality::Topical => own,
        Topicality::NotTopical => own.with_old_data(true),
        Topicality::Invalid => own.with_validity(Validity::Invalid).with_old_data(true),
    }
}

/// Re-serves the points of edges gone silent with NT, then IV, waking at the next deadline.
async fn watch_staleness(
    freshness: Arc<tokio::sync::Mutex<Freshness>>,
    mapping: Arc<MappingFile>,
    server: ServerHandle,
    alarms: Arc<Mutex<AlarmList>>,
) {
    /// An edge heard again (or for the first time) may bring the next deadline forward; look
    /// at least this often.
    const IDLE: Duration = Duration::from_secs(1);
    loop {
        let now = Instant::now();
        let deadline = {
            let mut fresh = freshness.lock().await;
            let steps = fresh.staleness.poll(now);
            raise(&alarms, steps.iter().map(staleness_alarm).collect());
            for step in &steps {
                let objects = fresh
                    .served
                    .iter()
                    .filter(|(_, s)| s.edge == step.edge)
                    .filter_map(|(point, s)| {
                        let map = mapping.point(point)?;
                        let element = element_from_datum(&s.value, shown(s.quality, step.to), cp56_from_time(s.time.0, s.time.1), map)?;
                        Some(InformationObject::new(map.ioa, element))
                    })
                    .collect();
                if let Err(e) = server.update_many(objects).await {
                    warn!(error = %e, "IEC 104 server update failed");
                }
            }
            fresh.staleness.deadline()
        };
        tokio::time::sleep_until(deadline.map_or(now + IDLE, |d| d.min(now + IDLE)).into()).await;
    }
}

/// The operator's view of an edge's staleness step.
fn staleness_alarm(step: &Step) -> Alarm {
    let silent = step.silent_for.as_secs();
    let reason = match step.to {
        Topicality::NotTopical => format!("no verified batch from {} for {silent} s: its points are served not topical (NT)", step.edge),
        Topicality::Invalid => format!("no verified batch from {} for {silent} s: its points are served invalid (IV)", step.edge),
        Topicality::Topical => format!("{} heard again after {silent} s: its points are served good again as their values come", step.edge),
    };
    Alarm { edge_id: step.edge.clone(), batch_seq: 0, reason, at: Timestamp::now() }
}

/// The operator's view of a change in the checkpoint stream.
fn silence_alarm(silence: Silence) -> Alarm {
    let reason = match silence {
        Silence::Began { max_silence } => {
            format!(
                "no new log checkpoint from the hub for more than {} s: the data served is not covered by the log",
                max_silence.as_secs()
            )
        }
        Silence::Ended { lasted } => format!("log checkpoints from the hub resumed after {} s without", lasted.as_secs()),
    };
    Alarm { edge_id: "hub".into(), batch_seq: 0, reason, at: Timestamp::now() }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Logs alarms and keeps them for the operator.
fn raise(into: &Mutex<AlarmList>, alarms: Vec<Alarm>) {
    if alarms.is_empty() {
        return;
    }
    for a in &alarms {
        warn!(target: "alarm", edge = %a.edge_id, batch_seq = a.batch_seq, reason = %a.reason, "evidence failed");
    }
    lock(into).extend(alarms);
}

struct HubLink {
    cc_id: String,
    hub: Upstream,
    tls: Arc<rustls::ClientConfig>,
    identity: Arc<Identity>,
    /// The last log checkpoint this cc accepted, kept so a hub that rewrote history while the
    /// cc was down is still caught.
    checkpoint_file: CheckpointFile,
    /// Where the positions per edge are kept, and what it holds now.
    position_file: PositionFile,
    saved_positions: Mutex<BTreeMap<String, u64>>,
    /// The point registry this cc verified itself, kept so a hub cannot roll it back.
    registry: Mutex<RegistryHolder>,
    mapping: Arc<MappingFile>,
    server: ServerHandle,
    stats: Arc<CcStats>,
    alarms: Arc<Mutex<AlarmList>>,
    watchdog: Arc<Mutex<CheckpointWatchdog>>,
    freshness: Arc<tokio::sync::Mutex<Freshness>>,
    /// How long after its arrival a command may still be sent, and its confirmation awaited;
    /// also the signed command's validity.
    forward_timeout: Duration,
    /// Where command ids and nonces come from; without randomness no command is issued.
    random: SystemRandomness,
    /// Nothing from the hub for this long: the link is dropped and dialled again.
    hub_silence: Duration,
    /// Whether commands can be sent to the hub now; while not, [`stamp`] refuses them.
    link_up: Arc<AtomicBool>,
}

/// A command sent to the hub and waiting for its results.
struct Pending {
    responder: CommandResponder,
    action: CommandAction,
    /// Digest of the signed command bytes; a result must be bound to exactly this.
    digest: Hash,
    /// The edge the command is for: only it may answer for the device.
    edge: String,
    /// Until when its confirmation (ACTCON) may come; after that SCADA is answered negatively.
    confirm_by: Option<Instant>,
}

impl HubLink {
    async fn run(
        self,
        mut commands: mpsc::Receiver<Stamped>,
        mut reports: mpsc::Receiver<CcToHub>,
        mut tracker: CheckpointTracker,
        mut verifier: Verifier,
    ) {
        const FIRST_RETRY: Duration = Duration::from_millis(100);
        let mut backoff = FIRST_RETRY;
        loop {
            let started = std::time::Instant::now();
            match self.session(&mut verifier, &mut tracker, &mut commands, &mut reports).await {
                Ok(()) => info!("hub closed the connection"),
                Err(e) => warn!(hub = %self.hub.address, error = %e, "hub link down"),
            }
            self.link_up.store(false, Ordering::SeqCst);
            // Commands that arrived while the session ended are never sent later.
            while let Ok(stamped) = commands.try_recv() {
                refuse_unforwarded(stamped, "the hub link dropped", &self.stats);
            }
            // A connection that held for a while was a good one: retry quickly again.
            if started.elapsed() > Duration::from_secs(10) {
                backoff = FIRST_RETRY;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }

    async fn session(
        &self,
        verifier: &mut Verifier,
        tracker: &mut CheckpointTracker,
        commands: &mut mpsc::Receiver<Stamped>,
        reports: &mut mpsc::Receiver<CcToHub>,
    ) -> Result<(), FrameError> {
        // The guard closes the link if the hub's certificate is revoked while connected.
        let ((r, mut w), _guard) = self.identity.connect(&self.hub, self.tls.clone()).await?;
        let checkpoint_size = tracker.held_size();
        let positions = verifier.positions().iter().map(|(edge, seq)| (edge.clone(), *seq)).collect();
        w.send(&CcToHub::Hello { cc_id: self.cc_id.clone(), protocol: PROTOCOL_VERSION, checkpoint_size, positions }).await?;
        info!(hub = %self.hub.address, "connected to hub");
        self.link_up.store(true, Ordering::SeqCst);
        let (in_tx, mut in_rx) = mpsc::channel::<HubToCc>(4096);
        let mut reader = r.spawn_into::<HubToCc>(in_tx);
        let mut pending: HashMap<u64, Pending> = HashMap::new();
        let mut heard = Instant::now();
        let result = loop {
            let confirm_by = pending.values().filter_map(|p| p.confirm_by).min();
            tokio::select! {
                () = sleep_until_some(confirm_by) => self.expire(&mut pending, Instant::now()),
                () = tokio::time::sleep_until((heard + self.hub_silence).into()) => {
                    warn!(target: "alarm", hub = %self.hub.address, silent_s = self.hub_silence.as_secs(), "nothing from the hub within [staleness] hub_silence_s: link dropped, dialling again");
                    break Ok(());
                }
                msg = in_rx.recv() => match msg.inspect(|_| heard = Instant::now()) {
                    Some(HubToCc::Registry(signed)) => self.accept_registry(verifier, signed),
                    Some(HubToCc::Certificates(certs)) => self.add_certificates(verifier, certs),
                    Some(HubToCc::Heads(heads)) => {
                        let alarms = verifier.set_heads(heads, Timestamp::now());
                        self.raise(alarms);
                    }
                    Some(HubToCc::Batch(batch)) => self.serve(verifier, batch).await,
                    Some(HubToCc::Checkpoint { checkpoint, consistency, hub_certificate }) => {
                        if let Err(reason) = self.accept_checkpoint(tracker, checkpoint, &consistency, &hub_certificate) {
                            self.raise(vec![Alarm { edge_id: "hub".into(), batch_seq: 0, reason, at: Timestamp::now() }]);
                            // A hub whose log does not hold together is not trusted further.
                            break Ok(());
                        }
                        self.save_positions(verifier);
                    }
                    Some(HubToCc::CommandResult(result)) => self.answer(&mut pending, result),
                    None => break match (&mut reader).await { Ok(r) => r, Err(_) => Ok(()) },
                },
                // What the cc reports to the hub (intrusion alerts): sent while the link is up.
                Some(report) = reports.recv() => {
                    if let Err(e) = w.send(&report).await {
                        break Err(e);
                    }
                    self.stats.reports_sent.fetch_add(1, Ordering::Relaxed);
                }
                Some(stamped) = commands.recv() => {
                    let arrived = stamped.arrived;
                    if arrived.elapsed() > self.forward_timeout {
                        refuse_unforwarded(stamped, "it waited too long for the hub link", &self.stats);
                        continue;
                    }
                    if let Some((command, p)) = self.to_command(verifier, stamped).await {
                        if arrived.elapsed() > self.forward_timeout {
                            self.stats.commands_timed_out.fetch_add(1, Ordering::Relaxed);
                            warn!(command_id = p.id, "SCADA command signed too late to be sent; refused");
                            let _ = p.pending.responder.confirm(false);
                            continue;
                        }
                        let id = p.id;
                        if let Err(e) = w.send(&CcToHub::Command(command)).await {
                            let _ = p.pending.responder.confirm(false);
                            break Err(e);
                        }
                        pending.insert(id, p.pending);
                    }
                }
            }
        };
        reader.abort();
        // Commands in flight cannot be answered any more; tell SCADA rather than leave it waiting.
        for (_, p) in pending.drain() {
            let _ = p.responder.confirm(false);
        }
        result
    }

    /// Persists the positions when they moved since last saved (with each checkpoint, see
    /// [`crate::position`]).
    fn save_positions(&self, verifier: &Verifier) {
        let mut saved = lock(&self.saved_positions);
        if *saved == *verifier.positions() {
            return;
        }
        match self.position_file.save(verifier.positions()) {
            Ok(()) => saved.clone_from(verifier.positions()),
            Err(e) => warn!(error = %e, path = %self.position_file.path().display(), "cannot persist the positions per edge"),
        }
    }

    /// Logs alarms and keeps them for the operator.
    fn raise(&self, alarms: Vec<Alarm>) {
        raise(&self.alarms, alarms);
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, RegistryHolder> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Verifies the point registry the hub passes on with this cc's own anchors; a version
    /// older than the one held (a rollback) or not signed by an engineering identity is refused
    /// with an alarm and the held one stays.
    fn accept_registry(&self, verifier: &mut Verifier, signed: gridtrust_trust::registry::SignedRegistry) {
        let offered = self.registry().offer(&self.identity, signed);
        match offered {
            Ok(succession) => {
                if let Some(held) = self.registry().current() {
                    info!(version = held.registry.version, signer = %held.signer, ?succession, "point registry verified");
                    verifier.set_registry(Arc::new(held.registry.clone()));
                }
            }
            Err(e) => self.raise(vec![Alarm {
                edge_id: "hub".into(),
                batch_seq: 0,
                reason: format!("point registry refused: {e}"),
                at: Timestamp::now(),
            }]),
        }
    }

    /// Validates edge certificates against this cc's own anchors before trusting them.
    fn add_certificates(&self, verifier: &mut Verifier, certs: Vec<Vec<u8>>) {
        for der in certs {
            match self.identity.validate(&der) {
                Ok(identity) if identity.kind == IdentityKind::Edge => verifier.add_certificate(identity),
                Ok(identity) => warn!(target: "alarm", peer = %identity, "hub sent a non-edge certificate as edge certificate; ignored"),
                Err(e) => {
                    warn!(target: "alarm", error = %e, "hub sent an edge certificate that does not validate; its evidence will be invalid")
                }
            }
        }
    }

    /// Checks a log checkpoint: the hub's certificate (the configured hub's), its signature, its
    /// log id (the tracker follows only the configured hub's log), and consistency with the last
    /// checkpoint this cc accepted or the pin; persists it once accepted.
    fn accept_checkpoint(
        &self,
        tracker: &mut CheckpointTracker,
        checkpoint: SignedCheckpoint,
        proof: &[Hash],
        hub_certificate: &[u8],
    ) -> Result<(), String> {
        let hub = self.identity.validate(hub_certificate).map_err(|e| format!("checkpoint refused: hub certificate: {e}"))?;
        if hub.kind != IdentityKind::Hub || checkpoint.signature.signer != hub.certificate_id {
            return Err(format!("checkpoint refused: signed by {hub}, which is not the hub certificate it names"));
        }
        if hub.name != self.hub.server_name {
            return Err(format!("checkpoint refused: signed by {hub}, not by the configured hub {}", self.hub.server_name));
        }
        let signed_at = checkpoint.checkpoint.timestamp;
        tracker.accept(checkpoint, proof, &hub.public_key).map_err(|e| format!("log checkpoint refused: {e}"))?;
        if let Some(silence) = lock(&self.watchdog).checkpoint(signed_at, std::time::Instant::now()) {
            self.raise(vec![silence_alarm(silence)]);
        }
        if let Some(last) = tracker.last()
            && let Err(e) = self.checkpoint_file.save(last)
        {
            warn!(error = %e, path = %self.checkpoint_file.path().display(), "cannot persist the log checkpoint");
        }
        self.stats.checkpoints_accepted.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Verifies a batch and serves its mapped records.
    async fn serve(&self, verifier: &mut Verifier, batch: gridtrust_trust::SignedBatch) {
        let edge = batch.header.edge_id.clone();
        let before = verifier.positions().get(&edge).copied();
        let (verdicts, alarms) = verifier.check(batch, Timestamp::now());
        // Only a batch whose evidence held moves the position: an edge's heartbeat (an empty
        // batch it signed) advances it, a batch the hub replays again or forges does not.
        let advanced = verifier.positions().get(&edge).copied() > before;
        self.raise(alarms);
        self.stats.batches_verified.fetch_add(1, Ordering::Relaxed);
        let mut fresh = self.freshness.lock().await;
        // Heard: a verified batch newer than any applied (a heartbeat is one), or a newer
        // record whose evidence held (the first values of an edge after the cc started).
        if (advanced || verdicts.iter().any(|v| v.verified))
            && let Some(step) = fresh.staleness.heard(&edge, Instant::now())
        {
            self.raise(vec![staleness_alarm(&step)]);
        }
        let level = fresh.staleness.topicality(&edge).unwrap_or(Topicality::Topical);
        // The batch's values go out together, packed into as few ASDUs as fit.
        let mut objects = Vec::with_capacity(verdicts.len());
        for v in verdicts {
            let Some(map) = self.mapping.point(&v.record.point) else { continue };
            let quality = if v.verified { v.record.quality } else { v.record.quality.with_validity(Validity::Invalid) };
            let (t, tq) = v.record.source_time.unwrap_or((v.record.received_at, TimeQuality { substituted: true, ..TimeQuality::GOOD }));
            let Some(element) = element_from_datum(&v.record.value, shown(quality, level), cp56_from_time(t, tq), map) else {
                warn!(point = %v.record.point, "value does not fit the mapped IEC 104 type");
                continue;
            };
            if !v.verified {
                self.stats.records_invalid.fetch_add(1, Ordering::Relaxed);
            }
            self.stats.records_served.fetch_add(1, Ordering::Relaxed);
            fresh.served.insert(v.record.point.clone(), Served { edge: edge.clone(), value: v.record.value, quality, time: (t, tq) });
            objects.push(InformationObject::new(map.ioa, element));
        }
        if let Err(e) = self.server.update_many(objects).await {
            warn!(error = %e, "IEC 104 server update failed");
        }
    }

    /// On whose behalf a SCADA command may be signed (see [`crate::scada`]); a refusal is
    /// audited (alarm log line, counter, alarm) and the caller answers a negative ACTCON.
    fn on_behalf(&self, cmd: &IncomingCommand) -> Option<OnBehalf> {
        let client = cmd.peer_certificate.as_ref().map(|der| {
            self.identity
                .peer(&[rustls::pki_types::CertificateDer::from(der.to_vec())])
                .map_err(|e| scada::CommandRefusal::Certificate(e.to_string()))
        });
        let decided = match client.transpose() {
            Ok(client) => scada::on_behalf(&self.identity.me, cmd.peer, client.as_ref()),
            Err(refusal) => Err(refusal),
        };
        match decided {
            Ok(on_behalf) => Some(on_behalf),
            Err(refusal) => {
                self.stats.scada_commands_refused.fetch_add(1, Ordering::Relaxed);
                let ioa = cmd.asdu.objects.first().map_or(0, |o| o.ioa);
                warn!(target: "alarm", peer = %cmd.peer, group = %cmd.group, ioa, reason = %refusal, "SCADA command refused");
                let reason = format!("SCADA command at IOA {ioa} from {} refused: {refusal}", cmd.peer);
                self.alarms.lock().unwrap_or_else(|p| p.into_inner()).push(Alarm {
                    edge_id: "scada".into(),
                    batch_seq: 0,
                    reason,
                    at: Timestamp::now(),
                });
                None
            }
        }
    }

    /// Answers negatively every command whose confirmation did not come in time, and forgets
    /// it: a result arriving later is for an unknown command.
    fn expire(&self, pending: &mut HashMap<u64, Pending>, now: Instant) {
        pending.retain(|id, p| {
            if p.confirm_by.is_none_or(|by| now < by) {
                return true;
            }
            self.stats.commands_timed_out.fetch_add(1, Ordering::Relaxed);
            warn!(command_id = id, edge = %p.edge, "no confirmation from the hub within [commands] forward_timeout_ms; SCADA answered negatively");
            let _ = p.responder.confirm(false);
            false
        });
    }

    /// Turns a SCADA command into a signed command, or refuses it at once.
    async fn to_command(&self, verifier: &Verifier, stamped: Stamped) -> Option<(SignedCommand, Issued)> {
        let Stamped { cmd, arrived, issued_at } = stamped;
        let Some(on_behalf) = self.on_behalf(&cmd) else {
            let _ = cmd.responder.confirm(false);
            return None;
        };
        let obj = cmd.asdu.objects.first()?;
        let Some(map) = self.mapping.command_at(obj.ioa) else {
            let _ = cmd.responder.confirm(false);
            return None;
        };
        let Some((value, select)) = command_from_element(&obj.element) else {
            let _ = cmd.responder.confirm(false);
            return None;
        };
        // The command names the point's owner: the hub routes it there and no other edge
        // executes it. No registry, or no owner, means no command.
        let Some(edge) = verifier.owner(&map.id).map(str::to_owned) else {
            warn!(target: "alarm", point = %map.id, "SCADA command for a point no edge owns in the point registry; refused");
            let _ = cmd.responder.confirm(false);
            return None;
        };
        let action = if cmd.deactivation {
            CommandAction::Cancel
        } else if select {
            CommandAction::Select
        } else {
            CommandAction::Execute
        };
        self.stats.commands.fetch_add(1, Ordering::Relaxed);
        let intent = Intent {
            point: map.id.clone(),
            edge: edge.clone(),
            action,
            value,
            issuer: on_behalf.issuer.to_string(),
            role: on_behalf.role.name().to_owned(),
        };
        // Void when SCADA is told it failed: no edge executes it later.
        let validity = i64::try_from(self.forward_timeout.as_nanos()).unwrap_or(i64::MAX);
        let command = match intent.issue(&self.random, issued_at, validity) {
            Ok(command) => command,
            Err(e) => {
                warn!(target: "alarm", error = %e, "SCADA command refused");
                let _ = cmd.responder.confirm(false);
                return None;
            }
        };
        let identity = self.identity.clone();
        let signed = {
            let command = command.clone();
            tokio::task::spawn_blocking(move || SignedCommand::issue(&command, identity.signer.as_ref(), &identity.certificate)).await
        };
        let signed = match signed {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                warn!(target: "alarm", error = %e, "cannot sign a SCADA command; refused");
                let _ = cmd.responder.confirm(false);
                return None;
            }
            Err(e) => {
                warn!(error = %e, "signing task failed; command refused");
                let _ = cmd.responder.confirm(false);
                return None;
            }
        };
        info!(command_id = command.id, point = %command.point, ?action, issuer = %command.issuer, peer = %cmd.peer, group = cmd.group, "SCADA command signed and forwarded");
        let digest = signed.digest();
        Some((
            signed,
            Issued {
                id: command.id,
                pending: Pending { responder: cmd.responder, action, digest, edge, confirm_by: Some(arrived + self.forward_timeout) },
            },
        ))
    }

    /// Passes a command stage's result to SCADA (ACTCON positive or negative, then ACTTERM) if
    /// its signature, signer and binding to the command verify; an unverifiable result counts
    /// as a refusal (fails closed) and raises an alarm.
    fn answer(&self, pending: &mut HashMap<u64, Pending>, signed: SignedResult) {
        let Some((id, target)) = pending.iter().find(|(_, p)| p.digest == signed.command_digest).map(|(id, p)| (*id, p.edge.clone()))
        else {
            warn!("result for an unknown command");
            return;
        };
        let result = match verify_result(&self.identity, &signed, &target) {
            Ok(result) => result,
            Err(reason) => {
                self.raise(vec![Alarm {
                    edge_id: target,
                    batch_seq: 0,
                    reason: format!("command result refused: {reason}"),
                    at: Timestamp::now(),
                }]);
                if let Some(p) = pending.remove(&id) {
                    let _ = p.responder.confirm(false);
                }
                return;
            }
        };
        match pending.get(&result.command_id) {
            Some(p) if p.digest == signed.command_digest => {}
            Some(_) => {
                self.raise(vec![Alarm {
                    edge_id: "?".into(),
                    batch_seq: 0,
                    reason: format!("result for command {} is bound to another command", result.command_id),
                    at: Timestamp::now(),
                }]);
                return;
            }
            None => {
                warn!(command_id = result.command_id, "result for an unknown command");
                return;
            }
        }
        answer(pending, result);
    }
}

/// A signed command ready to send, and what to remember about it.
struct Issued {
    id: u64,
    pending: Pending,
}

/// Passes a verified command stage's result to SCADA: ACTCON positive or negative, then ACTTERM.
fn answer(pending: &mut HashMap<u64, Pending>, result: CommandResult) {
    let Some(p) = pending.get_mut(&result.command_id) else {
        warn!(command_id = result.command_id, "result for an unknown command");
        return;
    };
    let finished = match &result.outcome {
        CommandOutcome::Confirmed => {
            let _ = p.responder.confirm(true);
            // Confirmed in time: the execution's termination may take the device's own time.
            p.confirm_by = None;
            p.action != CommandAction::Execute
        }
        CommandOutcome::Terminated => {
            let _ = p.responder.terminate();
            true
        }
        CommandOutcome::Refused { by, reason } => {
            warn!(command_id = result.command_id, %by, %reason, "command refused");
            let _ = p.responder.confirm(false);
            true
        }
    };
    if finished {
        pending.remove(&result.command_id);
    }
}

/// Sleeps until `at`, or forever when there is nothing to wait for.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
