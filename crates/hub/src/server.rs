//! The hub's connection handling: one task per edge and per connector, a broadcast of verified
//! evidence and log checkpoints to connectors, and signed command routing with policy.
//!
//! Edges are admitted by certificate: the TLS client certificate must be an edge certificate
//! whose name is the edge id in its hello, and every batch must carry a signature by that
//! edge's certificate. Anything unsigned or unverifiable is refused (fails closed) and raises an
//! alarm. Everything accepted is appended to the transparency log before it is acknowledged.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use gridtrust_model::{CommandAction, CommandOutcome, CommandResult, PointId, Timestamp};
use gridtrust_pki::{IdentityKind, PeerIdentity};
use gridtrust_store::{ApplyOutcome, HubStore, StoreError, StoredBatch};
use gridtrust_transport::authority::{AcceptedRegistry, AuthorityError, RegistryHolder, read_signed};
use gridtrust_transport::identity::Identity;
use gridtrust_transport::{
    Accepted, Admission, CcToHub, EdgeToHub, FrameError, HubToCc, HubToEdge, Listener, PROTOCOL_VERSION, RefusalLog, RefusalReason,
};
use gridtrust_trust::checkpoint::{EntryInLog, LogEntry, SignedCheckpoint};
use gridtrust_trust::command::{SignedCommand, SignedResult};
use gridtrust_trust::{ChainStep, EvidenceError, Hash, SignedBatch, VerifiedBatch};

use gridtrust_api::dto::LiveEvent;
use gridtrust_api::metrics::Histogram;

use crate::HubConfig;
use crate::alarms::{AlarmKind, Alarms, Severity};
use crate::console::Console;
use crate::grid_model::ServedModel;
use crate::ledger::{Ledger, LedgerError};
use crate::liveness::{Finding as LivenessFinding, Liveness};
use crate::pending::{PendingCommand, PendingCommands};
use crate::policy::Policy;
use crate::revocation;

/// Why the hub could not start.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("identity: {0}")]
    Identity(#[from] gridtrust_transport::identity::IdentityError),
    #[error("the certificate names {0}, which is not a hub")]
    WrongIdentity(String),
    #[error("transparency log: {0}")]
    Ledger(#[from] LedgerError),
    #[error("cannot create {path}: {source}")]
    DataDir { path: std::path::PathBuf, source: std::io::Error },
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: String, source: std::io::Error },
    #[error("passkey enrolments: {0}")]
    Enrolments(String),
    #[error("console identity: {0}")]
    Console(gridtrust_transport::identity::IdentityError),
    #[error("the console certificate names {0}, which is not an operator certificate")]
    WrongConsole(String),
    #[error("API: {0}")]
    Api(#[from] gridtrust_api::ApiStartError),
    #[error("{0}")]
    Model(#[from] crate::grid_model::GridModelError),
    #[error("point registry: {0}")]
    Authority(#[from] AuthorityError),
    #[error("{0}")]
    Estimation(#[from] crate::estimation::EstimationError),
    #[error("incident acknowledgements: {0}")]
    Incidents(String),
    #[error("{0}")]
    Encode(#[from] gridtrust_trust::EncodeError),
}

/// Counters for metrics and tests.
#[derive(Debug, Default)]
pub struct HubStats {
    pub batches_applied: AtomicU64,
    pub batches_duplicate: AtomicU64,
    pub records_applied: AtomicU64,
    pub integrity_failures: AtomicU64,
    /// Batches refused because their signature or signer did not verify.
    pub signature_failures: AtomicU64,
    pub chain_alarms: AtomicU64,
    /// Batches refused because they carried a point the point registry does not grant the edge.
    pub authority_refusals: AtomicU64,
    /// Batches refused because a different batch with the same seq is stored (a forked chain).
    pub forks: AtomicU64,
    /// Connections refused because the certificate's kind or name did not fit.
    pub peers_refused: AtomicU64,
    pub commands_authorized: AtomicU64,
    pub commands_refused: AtomicU64,
    pub log_entries: AtomicU64,
    pub checkpoints_signed: AtomicU64,
    /// Records sent on to connectors (each connector counts).
    pub records_forwarded: AtomicU64,
    /// Stored batches replayed to connectors from their positions.
    pub batches_replayed: AtomicU64,
    /// Edge sessions closed because nothing arrived within `edge_silence_s`.
    pub edges_silent: AtomicU64,
    /// Connector sessions closed because the connector fell behind the live stream.
    pub connectors_lagged: AtomicU64,
}

/// Options of a hub beyond its configuration file.
#[derive(Clone, Debug, Default)]
pub struct HubOptions {
    /// Demo only (`gridtrust demo`): `POST /api/demo/tamper` alters the next batch an edge
    /// sends before the hub verifies it, as a compromised hop would, so the refusal, the
    /// quarantine and the alarm can be shown. Never set by `gridtrust hub`.
    pub demo_fault_injection: bool,
    /// Demo only: a development CA that issues the operator certificate of a passkey enrolment
    /// when a SECADM approves it without uploading one, so the flow works in one browser
    /// session. Never set by `gridtrust hub`: there the CA stays offline.
    pub demo_enrolment_ca: Option<Arc<dyn EnrolmentCa>>,
}

/// Issues the operator certificate (DER) binding a passkey's key (SPKI DER) to a person and role.
pub trait EnrolmentCa: Send + Sync + std::fmt::Debug {
    fn issue(&self, name: &str, role: gridtrust_pki::Role, public_key_spki: &[u8]) -> Result<Vec<u8>, String>;
}

/// The last batch of a point that failed verification: kept apart from the verified store
/// and shown as trust=failed until a good batch brings a new value.
#[derive(Clone, Debug)]
pub(crate) struct Quarantined {
    pub record: gridtrust_model::Record,
    pub edge_id: String,
    pub batch_seq: u64,
    pub reason: String,
}

/// What every connected connector receives, in order.
#[derive(Clone)]
pub(crate) enum Event {
    Certificate(Vec<u8>),
    Batch(Arc<SignedBatch>),
    Checkpoint(Arc<SignedCheckpoint>),
}

/// Shared state of a running hub.
pub(crate) struct State {
    pub(crate) store: HubStore,
    pub(crate) stats: HubStats,
    pub(crate) identity: Arc<Identity>,
    /// False only in benchmarks that measure what signatures cost.
    pub(crate) require_signatures: bool,
    pub(crate) ledger: Ledger,
    policy: Mutex<Policy>,
    /// Whom people's passkey assertions must be for (the default refuses every assertion).
    pub(crate) relying_party: gridtrust_trust::webauthn::RelyingParty,
    /// Alarms raised by the hub, persisted.
    pub(crate) alarms: Alarms,
    /// Points whose latest batch failed verification.
    pub(crate) quarantine: Mutex<HashMap<PointId, Quarantined>>,
    /// Value, alarm and command changes for the API's live stream.
    pub(crate) live: broadcast::Sender<LiveEvent>,
    /// Commands people issue through the API (and the console key, if that fallback is on).
    pub(crate) console: Arc<Console>,
    /// Incidents and the operators' decisions on them (with a `[model]`): which edges are
    /// isolated is theirs to say.
    pub(crate) incidents: Option<Arc<crate::incidents::Incidents>>,
    /// People's passkey enrolments.
    pub(crate) enrolments: crate::enrol::Enrolments,
    /// The relying party id passkeys are asked for, when `[webauthn]` is configured.
    pub(crate) rp_id: Option<String>,
    /// Demo only, see [`HubOptions::demo_enrolment_ca`].
    pub(crate) demo_enrolment_ca: Option<Arc<dyn EnrolmentCa>>,
    /// Where results of console commands arrive (as a connector's would).
    pub(crate) console_results: mpsc::Sender<HubToCc>,
    /// Set: alter the next edge batch (demo only, see [`HubOptions`]).
    pub(crate) demo_tamper: Option<AtomicBool>,
    /// Verify, store and log time of each batch group.
    pub(crate) apply_latency: Histogram,
    /// Connectors connected now.
    pub(crate) connectors: AtomicU64,
    /// Edge certificates seen (validated on their TLS connection), by certificate id; persisted
    /// in `data_dir/certificates` so evidence stays verifiable across restarts.
    pub(crate) certificates: Mutex<HashMap<Hash, (Vec<u8>, PeerIdentity)>>,
    certificates_dir: std::path::PathBuf,
    pub(crate) events: broadcast::Sender<Event>,
    /// For each point, the latest batch that carried it: what a connector gets on connect.
    pub(crate) latest: Mutex<HashMap<PointId, Arc<SignedBatch>>>,
    /// The signed point registry: which edge owns each point (reports it, is commanded for it).
    pub(crate) registry: Arc<AcceptedRegistry>,
    /// The latest run of the measurement checks (`[estimation]`), for `GET /api/estimation`.
    pub(crate) estimation: Mutex<Option<gridtrust_api::dto::EstimationReport>>,
    pub(crate) edges: Mutex<HashMap<String, mpsc::Sender<HubToEdge>>>,
    /// For each connected edge, the log checkpoint size it holds. Commands are logged, proven
    /// and sent under this lock, so each edge receives checkpoints in log order.
    pub(crate) command_log: tokio::sync::Mutex<HashMap<String, Option<u64>>>,
    /// Each command awaiting results (by command digest): where they go (the connector that
    /// issued it) and the edge it was for, the only edge that may answer for the device.
    pub(crate) pending: Mutex<PendingCommands>,
    /// Which refused peers already raised an alarm.
    pub(crate) refusals: Mutex<RefusalLog>,
    /// Whether every edge is heard from, and its clock agrees with ours.
    liveness: Mutex<Liveness>,
    /// Nothing from an edge for this long closes its session.
    edge_silence: Duration,
    /// A connector further behind on an edge is resynced instead of replayed.
    max_replay_batches: u64,
    /// Set by [`Hub::stop`]: sessions finish the batches in flight, flush their acknowledgements
    /// and close.
    stopping: watch::Sender<bool>,
    /// Edge and connector sessions still running (each until its last write is flushed).
    sessions: AtomicU64,
}

impl State {
    /// Raises an alarm (stored, traced with target `alarm`, streamed).
    pub(crate) fn alarm(&self, severity: Severity, source: &str, kind: AlarmKind, message: String, point: Option<String>) {
        self.alarms.raise(&self.store, severity, source, kind, message, point);
    }

    /// A message from `edge` arrived.
    fn heard(&self, edge: &str) {
        let back = lock(&self.liveness).heard(edge, Instant::now());
        if let Some(f) = back {
            self.liveness_alarm(f);
        }
    }

    /// Checks the edge's clock against ours with the close time of each batch that arrived.
    fn check_clock(&self, edge: &str, group: &[SignedBatch]) {
        let (arrived, now) = (Timestamp::now(), Instant::now());
        let found: Vec<_> = {
            let mut liveness = lock(&self.liveness);
            group.iter().filter_map(|b| liveness.batch_closed(edge, b.header.closed_at, arrived, now)).collect()
        };
        for f in found {
            self.liveness_alarm(f);
        }
    }

    fn liveness_alarm(&self, finding: LivenessFinding) {
        let (severity, kind) = match finding {
            LivenessFinding::Silent { .. } => (Severity::Major, AlarmKind::Stale),
            LivenessFinding::Back { .. } => (Severity::Info, AlarmKind::Stale),
            LivenessFinding::ClockAhead { .. } | LivenessFinding::ClockBehind { .. } => (Severity::Major, AlarmKind::Clock),
        };
        self.alarm(severity, finding.edge(), kind, finding.message(), None);
    }
}

/// Raises the alarm for each edge that falls silent, every quarter of the allowed silence.
async fn liveness_loop(state: Arc<State>) {
    let mut tick = tokio::time::interval((state.edge_silence / 4).max(Duration::from_millis(250)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let silent = lock(&state.liveness).poll(Instant::now());
        for f in silent {
            state.liveness_alarm(f);
        }
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// How much of a reported intrusion alert the hub keeps: enough for the detector's
/// explanations, not a way for a peer to fill the alarm store.
const MAX_INTRUSION_ALERT_CHARS: usize = 1_000;

/// Whether `edge` is isolated by an operator's decision (`Action::IsolateEdge`, until a
/// readmission): then its session is refused or ended, with an alarm, and nothing it sends is
/// taken. It keeps its queue, so what it read arrives after it is readmitted.
fn refuse_isolated(state: &State, edge: &str) -> bool {
    let Some(index) = state.incidents.as_ref().and_then(|d| d.isolated(edge)) else {
        return false;
    };
    state.alarm(
        Severity::Major,
        edge,
        AlarmKind::Peer,
        format!("{edge} is isolated by an operator's decision (log entry {index}): its connection, data and commands are refused"),
        None,
    );
    true
}

/// An alert of a peer's intrusion detector (the cc's on its SCADA side, an edge's on its links to
/// RTUs) becomes an `intrusion` alarm of that peer, where incidents are made. The peer is the
/// one its mutual-TLS session authenticated; the text is its own, cut to a bound.
fn intrusion_reported(state: &State, peer: &str, side: &str, alert: &str, seen_at: Timestamp) {
    let alert: String = alert.chars().take(MAX_INTRUSION_ALERT_CHARS).collect();
    let seen = gridtrust_api::timefmt::rfc3339(seen_at.0);
    state.alarm(Severity::Major, peer, AlarmKind::Intrusion, format!("{side} of {peer}, seen {seen}: {alert}"), None);
}

/// A running hub.
pub struct Hub {
    state: Arc<State>,
    /// Where edges connect (useful when configured with port 0).
    pub edge_addr: SocketAddr,
    /// Where connectors connect.
    pub cc_addr: SocketAddr,
    /// Where the HTTP API listens, when `[api]` is configured.
    pub api_addr: Option<SocketAddr>,
    /// Where machines reach the API with client certificates, when configured.
    pub api_machine_addr: Option<SocketAddr>,
    api: Option<gridtrust_api::ApiServer>,
    /// The edge and connector listeners: stopped first.
    listeners: Vec<JoinHandle<()>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Hub {
    /// Loads the identity, opens the store and the log, and starts listening.
    pub async fn start(config: &HubConfig) -> Result<Self, HubError> {
        Self::start_with(config, HubOptions::default()).await
    }

    /// [`Hub::start`] with options (the demo's fault injection).
    pub async fn start_with(config: &HubConfig, options: HubOptions) -> Result<Self, HubError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| HubError::DataDir { path: config.data_dir.clone(), source })?;
        let grid_model = config.model.as_ref().map(|m| ServedModel::load(&m.file)).transpose()?.map(Arc::new);
        let checks = match &config.estimation {
            None => None,
            Some(e) => {
                let grid = grid_model.as_ref().ok_or(crate::estimation::EstimationError::NoModel)?.grid().clone();
                Some((crate::estimation::Checks::load(e, grid)?, Duration::from_secs(e.interval_s)))
            }
        };
        let incidents = match &grid_model {
            None => None,
            Some(grid) => {
                // The re-route check needs the CGMES files, which `[estimation]` names.
                let flow = match &config.estimation {
                    None => None,
                    Some(e) => {
                        let (cgmes, untyped) =
                            gridtrust_grid::cgmes::import(&e.cgmes).map_err(crate::estimation::EstimationError::Cgmes)?;
                        Some(gridtrust_assist::FlowModel::new(cgmes, untyped))
                    }
                };
                let file = config.data_dir.join("incidents.json");
                Some(Arc::new(crate::incidents::Incidents::open(grid.grid().clone(), flow, file).map_err(HubError::Incidents)?))
            }
        };
        let identity = Arc::new(Identity::load(&config.identity)?);
        if identity.me.kind != IdentityKind::Hub {
            return Err(HubError::WrongIdentity(identity.me.to_string()));
        }
        // The registry is checked before any data is touched: a rolled-back or unauthorised one
        // is a start error.
        let registry = {
            let mut holder = RegistryHolder::open(config.data_dir.join(crate::REGISTRY_FILE), &identity)?;
            holder.offer(&identity, read_signed(&config.authority.registry)?)?;
            holder.current().cloned().map(Arc::new).ok_or_else(|| AuthorityError::Read {
                path: config.authority.registry.clone(),
                source: std::io::Error::other("no registry accepted"),
            })?
        };
        let store = HubStore::open(config.data_dir.join("hub.redb"))?;
        let ledger = Ledger::open(&config.data_dir.join("log.redb"), identity.clone())?;
        log_stored_batches(&store, &ledger)?;
        let latest = load_latest(&store)?;
        let certificates_dir = config.data_dir.join("certificates");
        std::fs::create_dir_all(&certificates_dir).map_err(|source| HubError::DataDir { path: certificates_dir.clone(), source })?;
        let certificates = load_certificates(&certificates_dir, &identity);
        let tls = identity.server_config()?;
        let listen = |addr: String| {
            let tls = tls.clone();
            async move { Listener::bind_with(&addr, tls, &config.listeners).await.map_err(|source| HubError::Listen { addr, source }) }
        };
        let edge_listener = listen(config.edge_listen.clone()).await?;
        let cc_listener = listen(config.cc_listen.clone()).await?;
        let edge_addr = edge_listener.local_addr().map_err(|source| HubError::Listen { addr: config.edge_listen.clone(), source })?;
        let cc_addr = cc_listener.local_addr().map_err(|source| HubError::Listen { addr: config.cc_listen.clone(), source })?;
        // The configuration the hub runs with is itself history: log it.
        let started = LogEntry::ConfigChange {
            key: "hub.start".into(),
            value: format!("certificate={} policy={:?}", gridtrust_trust::command::hex(&identity.certificate_id), config.policy),
        };
        // Which registry the hub runs with is history too; logged at every start.
        ledger.append(&[started, LogEntry::PointRegistry(registry.signed.to_bytes()?)])?;
        info!(version = registry.registry.version, signer = %registry.signer, grants = registry.registry.grants.len(), "point registry accepted");
        config.evidence.warn_if_off("hub");
        let live = broadcast::channel(4096).0;
        let alarms = Alarms::load(&store, live.clone())?;
        let console_key = match config.api.as_ref().and_then(|a| a.console.as_ref()) {
            None => None,
            Some(c) => {
                let console_identity = Identity::load(c).map_err(HubError::Console)?;
                if console_identity.me.kind != IdentityKind::Operator {
                    return Err(HubError::WrongConsole(console_identity.me.to_string()));
                }
                warn!(target: "alarm", console = %console_identity.me,
                    "[api.console] is configured: the hub signs people's web commands with a key it holds, so a hub that is taken over can \
                     issue them too; edges accept them only with [commands] console_fallback = true. Prefer passkeys ([webauthn])");
                Some(Arc::new(console_identity))
            }
        };
        let console = Arc::new(Console::new(console_key, live.clone()));
        let enrolments = crate::enrol::Enrolments::open(config.data_dir.join("enrolments.json")).map_err(HubError::Enrolments)?;
        if options.demo_enrolment_ca.is_some() {
            warn!("DEMO: the development CA issues passkey certificates when a SECADM approves an enrolment without one");
        }
        let (console_results, console_rx) = mpsc::channel(1024);
        let expected_edges: Vec<String> = registry.registry.grants.values().cloned().collect();
        let state = Arc::new(State {
            store,
            stats: HubStats::default(),
            identity,
            require_signatures: config.evidence.signed(),
            ledger,
            policy: Mutex::new(Policy::new(config.policy.clone())),
            relying_party: config.webauthn.as_ref().map(|w| w.relying_party()).unwrap_or_default(),
            certificates: Mutex::new(certificates),
            certificates_dir,
            events: broadcast::channel(4096).0,
            latest: Mutex::new(latest),
            registry,
            estimation: Mutex::default(),
            command_log: tokio::sync::Mutex::default(),
            alarms,
            quarantine: Mutex::default(),
            live,
            console,
            incidents: incidents.clone(),
            enrolments,
            rp_id: config.webauthn.as_ref().map(|w| w.rp_id.clone()),
            demo_enrolment_ca: options.demo_enrolment_ca,
            console_results,
            demo_tamper: options.demo_fault_injection.then(|| AtomicBool::new(false)),
            apply_latency: Histogram::default(),
            connectors: AtomicU64::new(0),
            edges: Mutex::default(),
            pending: Mutex::default(),
            refusals: Mutex::new(RefusalLog::new(config.listeners.refusal_alarm_window())),
            liveness: Mutex::new(Liveness::new(
                Duration::from_secs(config.edge_silence_s),
                Duration::from_secs(config.max_clock_skew_s),
                expected_edges,
                Instant::now(),
            )),
            edge_silence: Duration::from_secs(config.edge_silence_s),
            max_replay_batches: config.max_replay_batches,
            stopping: watch::channel(false).0,
            sessions: AtomicU64::new(0),
        });
        state.stats.log_entries.fetch_add(2, Ordering::Relaxed);
        info!(%edge_addr, %cc_addr, hub = %state.identity.me, "hub listening");
        let crl_state = state.clone();
        let listeners = vec![
            tokio::spawn(accept_loop(edge_listener, state.clone(), Peer::Edge)),
            tokio::spawn(accept_loop(cc_listener, state.clone(), Peer::Cc)),
        ];
        let mut tasks = vec![
            state.identity.watch_crl(move |event| revocation::on_crl_event(&crl_state, event)),
            tokio::spawn(checkpoint_loop(state.clone(), Duration::from_millis(config.checkpoint_interval_ms))),
            tokio::spawn(console_results_loop(state.clone(), console_rx)),
            tokio::spawn(liveness_loop(state.clone())),
        ];
        if let Some((checks, interval)) = checks {
            tasks.push(tokio::spawn(estimation_loop(state.clone(), checks, interval)));
        }
        let api = match &config.api {
            None => None,
            Some(api) => {
                let backend = Arc::new(crate::api::HubApi::new(state.clone(), grid_model));
                let machine_tls = api.machine_listen.as_ref().map(|_| tls.clone());
                let own_https = || state.identity.https_server_config().map_err(|e| e.to_string());
                Some(gridtrust_api::start(api, backend, own_https, machine_tls, gridtrust_web::router()).await?)
            }
        };
        let (api_addr, api_machine_addr) = (api.as_ref().map(|a| a.addr), api.as_ref().and_then(|a| a.machine_addr));
        Ok(Self { state, edge_addr, cc_addr, api_addr, api_machine_addr, api, listeners, tasks })
    }

    /// Counters.
    pub fn stats(&self) -> &HubStats {
        &self.state.stats
    }

    /// The store, for queries.
    pub fn store(&self) -> &HubStore {
        &self.state.store
    }

    /// The transparency log, for queries.
    pub fn ledger(&self) -> &Ledger {
        &self.state.ledger
    }

    /// Alarms raised by the hub, newest first.
    pub fn alarms(&self, active_only: bool) -> Vec<crate::alarms::Alarm> {
        self.state.alarms.list(active_only)
    }

    /// Stops accepting; established connections end with their tasks.
    /// Stops gracefully within `bound`: takes no new connections, lets every edge session finish
    /// the batches it is storing and flush their acknowledgements (so no edge sends a stored batch
    /// again), closes the connector sessions, then ends every task and waits until nothing holds
    /// the store any more (so the same process can start a hub on it again). Returns whether
    /// everything ended within the bound.
    pub async fn stop(self, bound: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + bound;
        for l in &self.listeners {
            l.abort();
        }
        self.state.stopping.send_replace(true);
        while self.state.sessions.load(Ordering::Acquire) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let sessions = self.state.sessions.load(Ordering::Acquire);
        let state = Arc::downgrade(&self.state);
        self.shutdown();
        // Aborted tasks drop their hold on the state at their next poll; blocking store work runs
        // to its end.
        while state.strong_count() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let ended = sessions == 0 && state.strong_count() == 0;
        if !ended {
            warn!(sessions, "hub stop: sessions or tasks still running at the bound; aborted");
        }
        ended
    }

    /// Stops at once: every task is aborted (sessions end at their next await). An edge resends
    /// what was not acknowledged, and the store takes it once. [`Hub::stop`] is the graceful way.
    pub fn shutdown(self) {
        if let Some(api) = self.api {
            api.shutdown();
        }
        self.state.stopping.send_replace(true);
        for t in self.listeners.into_iter().chain(self.tasks) {
            t.abort();
        }
    }
}

/// Reads the edge certificates saved by earlier runs, keeping only those still valid.
fn load_certificates(dir: &std::path::Path, identity: &Identity) -> HashMap<Hash, (Vec<u8>, PeerIdentity)> {
    let mut out = HashMap::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let Ok(der) = std::fs::read(entry.path()) else { continue };
        match identity.validate(&der) {
            Ok(peer) if peer.kind == IdentityKind::Edge => {
                out.insert(peer.certificate_id, (der, peer));
            }
            Ok(_) | Err(_) => warn!(path = %entry.path().display(), "saved edge certificate no longer valid; ignored"),
        }
    }
    out
}

/// Follows results of console commands: verifies each (signed by the edge or the hub, valid
/// certificate) and updates the command's state; marks silent commands timed out.
async fn console_results_loop(state: Arc<State>, mut rx: mpsc::Receiver<HubToCc>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                // Edge results were verified by `route_result` before they were logged and passed
                // here; refusals are the hub's own.
                Some(HubToCc::CommandResult(signed)) => {
                    if let Ok(result) = signed.result() {
                        state.console.on_result(&signed.command_digest, &result);
                    }
                }
                Some(_) => {}
                None => break,
            },
            _ = tick.tick() => state.console.expire(Timestamp::now()),
        }
    }
}

/// Logs the batches a crash left stored but not logged (the store and the log commit one after
/// the other): per edge, walking back from its newest stored batch to the first one the log
/// holds, since the crash window is the last store commit. Runs at start, before any session;
/// a resend while running is covered where batches are applied.
fn log_stored_batches(store: &HubStore, ledger: &Ledger) -> Result<usize, HubError> {
    let mut appended = 0;
    for (edge, last) in store.edges()? {
        appended += log_stored_batches_of(store, ledger, &edge, last.batch_seq)?;
    }
    Ok(appended)
}

/// Logs the stored batches of `edge` up to `last` that the log lacks (walking back from `last`
/// to the first one it holds): after a crash, or after a log append that failed on a full disk
/// while the store's commit had succeeded. The edge is told only what is both stored and logged,
/// so it would never send those batches again.
fn log_stored_batches_of(store: &HubStore, ledger: &Ledger, edge: &str, last: u64) -> Result<usize, HubError> {
    let mut missing = Vec::new();
    let mut next = Some(last);
    while let Some(batch_seq) = next {
        let Some(header) = store.batch(edge, batch_seq)? else { break };
        let entry = LogEntry::BatchHeader(header);
        if ledger.contains(&entry)? {
            break;
        }
        missing.push(entry);
        next = batch_seq.checked_sub(1);
    }
    if missing.is_empty() {
        return Ok(0);
    }
    missing.reverse();
    warn!(
        edge,
        batches = missing.len(),
        "stored batches missing from the transparency log (a crash or a failed write between the two commits): logged now"
    );
    Ok(ledger.append_missing(&missing)?)
}

/// A batch rebuilt from the store as the edge sent it (sealed header and records); connectors
/// verify it as they verify a live one.
fn from_store(stored: StoredBatch) -> Result<SignedBatch, gridtrust_trust::EvidenceError> {
    let (header, signature) = gridtrust_trust::evidence::decode_sealed(&stored.header_bytes)?;
    Ok(SignedBatch { header, signature, records: stored.records })
}

/// Rebuilds, at start, the latest-value image connectors receive on connect: for each point the
/// stored batch that brought its latest value. Without it a restarted hub would have nothing to
/// give a connector until each device reports again (an idle RTU point: its next interrogation).
fn load_latest(store: &HubStore) -> Result<HashMap<PointId, Arc<SignedBatch>>, HubError> {
    let (batches, missing) = store.latest_batches()?;
    if missing > 0 {
        warn!(
            points = missing,
            "latest values whose batch the store cannot rebuild (stored by an older version): served once their device reports again"
        );
    }
    let mut latest = HashMap::new();
    // Ordered by edge and batch seq: a point carried by several batches ends with its newest.
    for stored in batches {
        let (edge, batch_seq) = (stored.edge_id.clone(), stored.batch_seq);
        match from_store(stored) {
            Ok(batch) => {
                let batch = Arc::new(batch);
                for r in &batch.records {
                    latest.insert(r.point.clone(), batch.clone());
                }
            }
            Err(e) => warn!(edge, batch_seq, error = %e, "stored batch header unreadable; its values are not in the image"),
        }
    }
    info!(points = latest.len(), "latest-value image rebuilt from the store");
    Ok(latest)
}

async fn checkpoint_loop(state: Arc<State>, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    loop {
        tick.tick().await;
        let st = state.clone();
        match tokio::task::spawn_blocking(move || st.ledger.checkpoint()).await {
            Ok(Ok(checkpoint)) => {
                state.stats.checkpoints_signed.fetch_add(1, Ordering::Relaxed);
                let _ = state.events.send(Event::Checkpoint(checkpoint));
            }
            Ok(Err(e)) => state.alarm(Severity::Critical, "hub", AlarmKind::Log, format!("cannot sign a log checkpoint: {e}"), None),
            Err(e) => warn!(error = %e, "checkpoint task failed"),
        }
    }
}

/// Runs the measurement checks every `interval` on the blocking pool, keeps the report for the
/// API and raises an alarm per finding (deduplicated by the registry while unacknowledged).
async fn estimation_loop(state: Arc<State>, mut checks: crate::estimation::Checks, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let st = state.clone();
        let ran = tokio::task::spawn_blocking(move || {
            let outcome = st.store.latest_all().map(|latest| checks.run(Timestamp::now(), &latest));
            (checks, outcome)
        })
        .await;
        let outcome = match ran {
            Ok((back, outcome)) => {
                checks = back;
                outcome
            }
            Err(e) => {
                warn!(error = %e, "measurement checks failed; they stop");
                return;
            }
        };
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                warn!(error = %e, "measurement checks: latest values unreadable");
                continue;
            }
        };
        if let Some(error) = &outcome.report.error {
            debug!(%error, "state estimation did not run");
        }
        for f in &outcome.findings {
            state.alarm(f.severity(), "hub", f.kind(), f.message(), Some(f.point().to_owned()));
        }
        *lock(&state.estimation) = Some(outcome.report);
    }
}

/// Appends to the log off the async threads. A failed append is a refusal: nothing is
/// acknowledged or routed that is not in the log.
/// Appends one entry, or fails with why it could not be encoded.
async fn log_one(state: &Arc<State>, entry: Result<LogEntry, gridtrust_trust::EncodeError>) -> Result<(), String> {
    log(state, vec![entry.map_err(|e| e.to_string())?]).await
}

async fn log(state: &Arc<State>, entries: Vec<LogEntry>) -> Result<(), String> {
    let n = entries.len() as u64;
    let st = state.clone();
    tokio::task::spawn_blocking(move || st.ledger.append(&entries))
        .await
        .map_err(|e| format!("log task failed: {e}"))?
        .map_err(|e| format!("transparency log: {e}"))?;
    state.stats.log_entries.fetch_add(n, Ordering::Relaxed);
    Ok(())
}

/// Counts a connection in [`State::sessions`] from accept until its task ends (also when aborted).
struct Session(Arc<State>);

impl Session {
    fn open(state: &Arc<State>) -> Self {
        state.sessions.fetch_add(1, Ordering::AcqRel);
        Self(state.clone())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.0.sessions.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Resolves once [`Hub::stop`] has begun.
async fn stopping(state: &State) {
    let mut rx = state.stopping.subscribe();
    let _ = rx.wait_for(|s| *s).await;
}

/// Lets the writer send what is queued (the acknowledgements of batches just stored) before the
/// connection closes; a peer that does not read gets 2 s.
async fn flush_writer(mut writer: JoinHandle<()>) {
    if tokio::time::timeout(Duration::from_secs(2), &mut writer).await.is_err() {
        writer.abort();
    }
}

#[derive(Clone, Copy)]
enum Peer {
    Edge,
    Cc,
}

async fn accept_loop(listener: Listener, state: Arc<State>, kind: Peer) {
    loop {
        let incoming = match listener.accept().await {
            Ok(Admission::Admitted(incoming)) => incoming,
            Ok(Admission::Refused { peer, reason }) => {
                revocation::refused(&state, peer, reason, "closed at once");
                continue;
            }
            Err(e) => {
                warn!(error = %e, "accept failed");
                continue;
            }
        };
        let state = state.clone();
        tokio::spawn(async move {
            let _session = Session::open(&state);
            let peer = incoming.peer();
            let (conn, _slot) = match incoming.handshake().await {
                Ok(c) => c,
                Err(FrameError::HandshakeTimeout { after, .. }) => {
                    return revocation::refused(&state, peer, RefusalReason::HandshakeTimeout, &format!("after {after:?}"));
                }
                Err(FrameError::Handshake { reason, .. }) => {
                    return revocation::refused(&state, peer, RefusalReason::HandshakeFailed, &reason);
                }
                Err(e) => return revocation::refused(&state, peer, RefusalReason::HandshakeFailed, &e.to_string()),
            };
            let result = match state.identity.peer(&conn.peer_certificates) {
                Err(e) => {
                    revocation::refused(&state, peer, RefusalReason::Certificate, &e.to_string());
                    Ok(())
                }
                Ok(identity) => {
                    let _guard = revocation::guard(&state, conn.peer_certificates.clone(), conn.closer.clone(), &identity);
                    match kind {
                        Peer::Edge => serve_edge(state, conn, identity, peer).await,
                        Peer::Cc => serve_cc(state, conn, identity, peer).await,
                    }
                }
            };
            if let Err(e) = result {
                warn!(%peer, error = %e, "connection ended");
            }
        });
    }
}

type Writer = gridtrust_transport::FramedWriter<tokio::io::WriteHalf<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>>;

/// Forwards queued messages to the peer until the channel or the connection closes.
fn spawn_writer<T: serde::Serialize + Send + Sync + 'static>(mut w: Writer, mut rx: mpsc::Receiver<T>) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            if let Err(e) = w.send(&msg).await {
                debug!(error = %e, "peer write failed");
                break;
            }
        }
    })
}

/// Remembers an edge certificate (persisted, logged, announced to connectors) the first time
/// it is seen.
async fn register_certificate(state: &Arc<State>, der: Vec<u8>, identity: PeerIdentity) -> Result<(), String> {
    if lock(&state.certificates).contains_key(&identity.certificate_id) {
        return Ok(());
    }
    log(state, vec![LogEntry::Certificate(der.clone())]).await?;
    let path = state.certificates_dir.join(format!("{}.der", gridtrust_trust::command::hex(&identity.certificate_id)));
    if let Err(e) = std::fs::write(&path, &der) {
        warn!(path = %path.display(), error = %e, "cannot save the edge certificate");
    }
    info!(edge = %identity, "new edge certificate registered");
    lock(&state.certificates).insert(identity.certificate_id, (der.clone(), identity));
    let _ = state.events.send(Event::Certificate(der));
    Ok(())
}

async fn serve_edge(state: Arc<State>, conn: Accepted, peer_id: PeerIdentity, peer: SocketAddr) -> Result<(), FrameError> {
    let Accepted { mut reader, writer, peer_certificates, .. } = conn;
    let Some(EdgeToHub::Hello { edge_id, protocol, checkpoint_size }) = reader.recv().await? else {
        warn!(%peer, "edge did not start with hello");
        return Ok(());
    };
    if protocol != PROTOCOL_VERSION {
        warn!(%peer, %edge_id, protocol, "edge refused: protocol version {protocol}, this hub speaks {PROTOCOL_VERSION}");
        return Ok(());
    }
    if peer_id.kind != IdentityKind::Edge || peer_id.name != edge_id {
        revocation::refused(
            &state,
            peer,
            RefusalReason::Certificate,
            &format!("edge claims to be {edge_id} with the certificate of {peer_id}"),
        );
        return Ok(());
    }
    if refuse_isolated(&state, &edge_id) {
        return Ok(());
    }
    state.heard(&edge_id);
    let der = peer_certificates.first().map(|c| c.to_vec()).unwrap_or_default();
    if let Err(reason) = register_certificate(&state, der, peer_id).await {
        state.alarm(
            Severity::Critical,
            &edge_id,
            AlarmKind::Log,
            format!("cannot register the certificate of {edge_id}; connection closed: {reason}"),
            None,
        );
        return Ok(());
    }
    let logged = {
        let (st, edge) = (state.clone(), edge_id.clone());
        tokio::task::spawn_blocking(move || -> Result<Option<u64>, String> {
            let last = st.store.last_batch(&edge).map_err(|e| e.to_string())?.map(|l| l.batch_seq);
            if let Some(last) = last {
                log_stored_batches_of(&st.store, &st.ledger, &edge, last).map_err(|e| e.to_string())?;
            }
            Ok(last)
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r)
    };
    let last = match logged {
        Ok(last) => last,
        Err(reason) => {
            state.alarm(
                Severity::Critical,
                "hub",
                AlarmKind::Store,
                format!("cannot log the stored batches of {edge_id}; connection closed: {reason}"),
                None,
            );
            return Ok(());
        }
    };
    let (tx, rx) = mpsc::channel::<HubToEdge>(1024);
    let writer = spawn_writer(writer, rx);
    let _ = tx.send(HubToEdge::Welcome { last_batch_seq: last }).await;
    state.command_log.lock().await.insert(edge_id.clone(), checkpoint_size);
    lock(&state.edges).insert(edge_id.clone(), tx.clone());
    info!(%peer, %edge_id, ?last, ?checkpoint_size, "edge connected");

    let (in_tx, mut in_rx) = mpsc::channel::<EdgeToHub>(MAX_GROUP);
    let mut reader = reader.spawn_into(in_tx);
    let mut held: Option<EdgeToHub> = None;
    let result = 'session: loop {
        let msg = match held.take() {
            Some(m) => m,
            None => match tokio::select! {
                r = tokio::time::timeout(state.edge_silence, in_rx.recv()) => r,
                // Between groups only: a group being stored is finished and acknowledged first.
                () = stopping(&state) => break Ok(()),
            } {
                Ok(Some(m)) => m,
                Ok(None) => {
                    break match (&mut reader).await {
                        Ok(r) => r,
                        Err(_) => Ok(()),
                    };
                }
                // Edges send a heartbeat every few seconds when idle: this one's path is dead.
                Err(_) => {
                    state.stats.edges_silent.fetch_add(1, Ordering::Relaxed);
                    warn!(target: "alarm", %edge_id, silent_s = state.edge_silence.as_secs(), "nothing from the edge within edge_silence_s: session closed");
                    break Ok(());
                }
            },
        };
        state.heard(&edge_id);
        // Isolated while connected: nothing more from it is taken; it keeps what it queued.
        if refuse_isolated(&state, &edge_id) {
            break Ok(());
        }
        match msg {
            EdgeToHub::Batch(first) => {
                // Batches that already wait are stored and logged together: one transaction
                // and one log append for the group, so a backlog drains at disk speed.
                let mut group = vec![first];
                while group.len() < MAX_GROUP {
                    match in_rx.try_recv() {
                        Ok(EdgeToHub::Batch(b)) => group.push(b),
                        Ok(other) => {
                            held = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                if let Some(flag) = &state.demo_tamper
                    && let Some(record) = group.first_mut().and_then(|b| b.records.first_mut())
                    && flag.swap(false, Ordering::Relaxed)
                {
                    warn!(%edge_id, point = %record.point, "DEMO fault injection: altering a record of this batch before verification");
                    record.value = gridtrust_model::Value::Float(record.value.as_f64() as f32 + 1000.0);
                }
                state.check_clock(&edge_id, &group);
                let started = Instant::now();
                let (applied, refusal) = apply_group(&state, &edge_id, group).await;
                state.apply_latency.observe(started.elapsed());
                // One acknowledgement for the group: acks mean "up to and including", and each costs
                // the edge a queue commit, so a backlog drains one commit per group, not per batch.
                if let Some(&batch_seq) = applied.iter().max()
                    && tx.send(HubToEdge::Ack { batch_seq }).await.is_err()
                {
                    break 'session Ok(());
                }
                if let Some((batch_seq, reason)) = refusal {
                    warn!(%edge_id, batch_seq, %reason, "batch refused; connection closed");
                    break Ok(());
                }
            }
            EdgeToHub::CommandResult(result) => route_result(&state, &edge_id, result).await,
            EdgeToHub::Intrusion { alert, seen_at } => intrusion_reported(&state, &edge_id, "field side", &alert, seen_at),
            EdgeToHub::Hello { .. } => warn!(%edge_id, "second hello ignored"),
        }
    };
    reader.abort();
    {
        // Only this session's route: the edge may have connected again meanwhile.
        let mut edges = lock(&state.edges);
        if edges.get(&edge_id).is_some_and(|route| route.same_channel(&tx)) {
            edges.remove(&edge_id);
        }
    }
    drop(tx);
    flush_writer(writer).await;
    info!(%edge_id, "edge disconnected");
    result
}

/// The public key of the certificate that signed `batch`: one this hub registered from a
/// connection of this very edge.
fn signer_key(state: &State, edge_id: &str, batch: &SignedBatch) -> Result<Vec<u8>, String> {
    let sig = batch.signature.as_ref().ok_or("batch is unsigned")?;
    let certs = lock(&state.certificates);
    let (_, signer) = certs.get(&sig.signer).ok_or("signed by a certificate this hub has not seen on a connection of this edge")?;
    if signer.name != edge_id {
        return Err(format!("signed by {signer}, not by edge {edge_id}"));
    }
    Ok(signer.public_key.clone())
}

/// Most batches stored and logged in one transaction.
const MAX_GROUP: usize = 64;

/// Checks one batch before it may be stored: it names this edge, its records match its root,
/// its signature was made by a registered certificate of this edge, and the point registry
/// grants this edge every point in it. Only what passes becomes a [`VerifiedBatch`], the one
/// form the store takes.
fn check_batch(state: &State, edge_id: &str, batch: Arc<SignedBatch>) -> Result<VerifiedBatch, Refusal> {
    if batch.header.edge_id != edge_id {
        state.stats.integrity_failures.fetch_add(1, Ordering::Relaxed);
        return Err(Refusal::Evidence(format!("batch names edge {} on the connection of {edge_id}", batch.header.edge_id)));
    }
    let verified = if state.require_signatures {
        let key = signer_key(state, edge_id, &batch).map_err(|e| {
            state.stats.signature_failures.fetch_add(1, Ordering::Relaxed);
            Refusal::Evidence(e)
        })?;
        VerifiedBatch::signed(batch, &key)
    } else {
        VerifiedBatch::without_signature(batch)
    };
    let verified = verified.map_err(|e| {
        let counter = match e {
            EvidenceError::Unsigned { .. } | EvidenceError::BadSignature { .. } => &state.stats.signature_failures,
            _ => &state.stats.integrity_failures,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        Refusal::Evidence(e.to_string())
    })?;
    let registry = &state.registry.registry;
    if let Some(r) = verified.records().iter().find(|r| registry.owner(&r.point) != Some(edge_id)) {
        state.stats.authority_refusals.fetch_add(1, Ordering::Relaxed);
        return Err(Refusal::NotOwner {
            point: r.point.clone(),
            owner: registry.owner(&r.point).map(str::to_owned),
            version: registry.version,
        });
    }
    Ok(verified)
}

/// Why a batch was refused.
enum Refusal {
    /// Its evidence does not hold (integrity, signature, signer): its values are quarantined.
    Evidence(String),
    /// It carries a point the registry grants to another edge or to none. The values are not
    /// quarantined under the point: a foreign edge must not even mark the owner's value failed.
    NotOwner { point: PointId, owner: Option<String>, version: u64 },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Evidence(reason) => f.write_str(reason),
            Self::NotOwner { point, owner: Some(owner), version } => {
                write!(f, "point {point} belongs to edge {owner} in point registry version {version}")
            }
            Self::NotOwner { point, owner: None, version } => {
                write!(f, "point {point} belongs to no edge in point registry version {version}")
            }
        }
    }
}

/// Verifies a group of consecutive batches, stores those that pass in one transaction, logs the
/// newly stored ones in one append, and hands them to connectors. Returns the batch seqs to
/// acknowledge and, if one failed, its seq and the reason (batches after it are not stored).
async fn apply_group(state: &Arc<State>, edge_id: &str, group: Vec<SignedBatch>) -> (Vec<u64>, Option<(u64, String)>) {
    let mut valid = Vec::with_capacity(group.len());
    let mut refusal = None;
    for batch in group {
        let batch = Arc::new(batch);
        match check_batch(state, edge_id, batch.clone()) {
            Ok(verified) => valid.push(verified),
            Err(Refusal::Evidence(reason)) => {
                quarantine(state, edge_id, &batch, &reason);
                refusal = Some((batch.header.batch_seq, reason));
                break;
            }
            Err(not_owner @ Refusal::NotOwner { .. }) => {
                let batch_seq = batch.header.batch_seq;
                let point = match &not_owner {
                    Refusal::NotOwner { point, .. } => Some(point.to_string()),
                    Refusal::Evidence(_) => None,
                };
                let reason = format!("edge {edge_id} reported a point it does not own: {not_owner}; batch {batch_seq} refused");
                state.alarm(Severity::Critical, edge_id, AlarmKind::Authority, reason.clone(), point);
                refusal = Some((batch_seq, reason));
                break;
            }
        }
    }
    if valid.is_empty() {
        return (Vec::new(), refusal);
    }
    let stored = {
        let (state, batches, edge) = (state.clone(), valid.clone(), edge_id.to_owned());
        tokio::task::spawn_blocking(move || -> Result<(Vec<ApplyOutcome>, Option<gridtrust_trust::BatchHeader>), String> {
            let previous = state
                .store
                .last_batch(&edge)
                .map_err(|e| format!("store: {e}"))?
                .and_then(|l| gridtrust_trust::evidence::decode_sealed(&l.header_bytes).ok())
                .map(|(h, _)| h);
            let outcomes = state.store.apply_batches(&edge, &batches).map_err(|e| format!("store: {e}"))?;
            // Nothing is acknowledged that is not in the log as well: a duplicate too, since a
            // crash between the store's commit and the log's leaves it stored but not logged.
            let entries: Vec<LogEntry> = outcomes
                .iter()
                .zip(&batches)
                .filter(|(o, _)| !matches!(o, ApplyOutcome::Fork { .. }))
                .map(|(_, b)| LogEntry::BatchHeader(b.sealed_header().to_vec()))
                .collect();
            if !entries.is_empty() {
                let appended = state.ledger.append_missing(&entries).map_err(|e| format!("transparency log: {e}"))?;
                state.stats.log_entries.fetch_add(appended as u64, Ordering::Relaxed);
            }
            Ok((outcomes, previous))
        })
        .await
        .map_err(|e| format!("store task failed: {e}"))
        .and_then(|r| r)
    };
    let (outcomes, mut previous) = match stored {
        Ok(s) => s,
        Err(reason) => {
            // Nothing is acknowledged; the edge keeps the batches and sends them again, and the
            // store reopens on its next use once the disk has space again.
            state.alarm(Severity::Critical, "hub", AlarmKind::Store, format!("cannot store batches of {edge_id}: {reason}"), None);
            return (Vec::new(), Some((valid[0].header().batch_seq, reason)));
        }
    };
    let mut acks = Vec::with_capacity(valid.len());
    let mut forked: Option<(u64, String)> = None;
    for (verified, outcome) in valid.into_iter().zip(outcomes) {
        let batch = verified.batch().clone();
        // Acks mean "up to and including": none after a fork, which must not be dropped as stored.
        if !matches!(outcome, ApplyOutcome::Fork { .. }) && forked.is_none() {
            acks.push(batch.header.batch_seq);
        }
        let header = batch.header.clone();
        let step = ChainStep::of(previous.as_ref(), &header);
        match outcome {
            ApplyOutcome::Duplicate => {
                state.stats.batches_duplicate.fetch_add(1, Ordering::Relaxed);
                debug!(edge_id, batch_seq = header.batch_seq, "duplicate batch acknowledged again");
            }
            ApplyOutcome::Fork { .. } => {
                state.stats.forks.fetch_add(1, Ordering::Relaxed);
                let reason =
                    format!("chain of {edge_id} forked: batch {} arrived with a different header than the one stored", header.batch_seq);
                state.alarm(Severity::Critical, edge_id, AlarmKind::Chain, reason.clone(), None);
                forked.get_or_insert((header.batch_seq, reason));
                continue;
            }
            ApplyOutcome::Applied { stored, .. } => {
                state.stats.batches_applied.fetch_add(1, Ordering::Relaxed);
                state.stats.records_applied.fetch_add(stored as u64, Ordering::Relaxed);
                if let Some(problem) = step.problem(&header) {
                    state.stats.chain_alarms.fetch_add(1, Ordering::Relaxed);
                    let severity = match step {
                        ChainStep::Gap { .. } | ChainStep::Restart { .. } => Severity::Major,
                        _ => Severity::Critical,
                    };
                    state.alarm(severity, edge_id, AlarmKind::Chain, problem, None);
                }
                update_image(&mut lock(&state.latest), &batch, step.advances());
                announce_values(state, edge_id, &batch);
                // No connector listening is fine: they get the latest image when they connect.
                let _ = state.events.send(Event::Batch(batch));
            }
        }
        if step.advances() {
            previous = Some(header);
        }
    }
    (acks, forked.or(refusal))
}

/// Puts `batch` in the latest-value image connectors load on connect, for each of its points. A
/// batch that does not advance its edge's chain (`newest` false: late, or a chain started behind
/// the head) only fills points the image has nothing for: it must never put an older value in
/// place of a newer one.
fn update_image(latest: &mut HashMap<PointId, Arc<SignedBatch>>, batch: &Arc<SignedBatch>, newest: bool) {
    for r in &batch.records {
        if newest || !latest.contains_key(&r.point) {
            latest.insert(r.point.clone(), batch.clone());
        }
    }
}

/// Keeps the records of a refused batch apart as trust=failed, raises the alarm and tells
/// the live stream. The verified store never sees them.
fn quarantine(state: &State, edge_id: &str, batch: &SignedBatch, reason: &str) {
    let batch_seq = batch.header.batch_seq;
    let mut changed = Vec::new();
    {
        let mut q = lock(&state.quarantine);
        for r in &batch.records {
            let entry = Quarantined { record: r.clone(), edge_id: edge_id.to_owned(), batch_seq, reason: reason.to_owned() };
            q.insert(r.point.clone(), entry.clone());
            changed.push(entry);
        }
    }
    let points = changed.len();
    state.alarm(
        Severity::Critical,
        edge_id,
        AlarmKind::Trust,
        format!("batch {batch_seq} of {edge_id} failed verification and was refused ({points} values quarantined): {reason}"),
        batch.records.first().map(|r| r.point.to_string()),
    );
    if state.live.receiver_count() > 0 {
        for q in changed {
            let _ = state.live.send(LiveEvent::Value(Box::new(crate::api::quarantined_item(&q))));
        }
    }
}

/// A verified batch lifts the quarantine of its points and updates the live stream.
fn announce_values(state: &State, edge_id: &str, batch: &SignedBatch) {
    {
        let mut q = lock(&state.quarantine);
        if !q.is_empty() {
            for r in &batch.records {
                q.remove(&r.point);
            }
        }
    }
    if state.live.receiver_count() == 0 {
        return;
    }
    let trust = crate::api::trust_of(state.require_signatures && batch.signature.is_some());
    for r in &batch.records {
        let item = crate::api::value_item(r, edge_id, Some(batch.header.batch_seq), trust.clone());
        let _ = state.live.send(LiveEvent::Value(Box::new(item)));
    }
}

/// Verifies an edge's result (signed by the edge the command was for, see
/// [`check_result_signer`]), logs it and passes it to the connector that issued the command.
/// Nothing unverified is logged or passed on.
async fn route_result(state: &Arc<State>, from_edge: &str, signed: SignedResult) {
    let Some(pending) = lock(&state.pending).get(&signed.command_digest).cloned() else {
        warn!(edge = from_edge, "result for an unknown command dropped");
        return;
    };
    let result = match gridtrust_transport::authority::verify_result(&state.identity, &signed, &pending.edge) {
        Ok(result) => result,
        Err(reason) => {
            state.alarm(Severity::Major, from_edge, AlarmKind::Command, format!("command result from {from_edge} refused: {reason}"), None);
            return;
        }
    };
    let done = !matches!(result.outcome, CommandOutcome::Confirmed) || result.action != CommandAction::Execute;
    if let Err(reason) = log_one(state, signed.log_entry()).await {
        state.alarm(Severity::Critical, "hub", AlarmKind::Log, format!("command result not logged: {reason}"), None);
    }
    if done {
        lock(&state.pending).remove(&signed.command_digest);
    }
    let _ = pending.reply.send(HubToCc::CommandResult(signed)).await;
}

async fn serve_cc(state: Arc<State>, conn: Accepted, peer_id: PeerIdentity, peer: SocketAddr) -> Result<(), FrameError> {
    let Accepted { mut reader, writer, .. } = conn;
    let (cc_id, protocol, checkpoint_size, positions) = match reader.recv().await {
        Ok(Some(CcToHub::Hello { cc_id, protocol, checkpoint_size, positions })) => (cc_id, protocol, checkpoint_size, positions),
        Ok(_) => {
            warn!(%peer, "connector did not start with hello");
            return Ok(());
        }
        // A hello of another protocol version has another shape: it does not decode.
        Err(FrameError::Decode(e)) => {
            warn!(%peer, connector = %peer_id, error = %e, "connector refused: its hello is not one of protocol version {PROTOCOL_VERSION} (an older or newer connector)");
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    if protocol != PROTOCOL_VERSION {
        warn!(%peer, %cc_id, protocol, "connector refused: protocol version {protocol}, this hub speaks {PROTOCOL_VERSION}");
        return Ok(());
    }
    if peer_id.kind != IdentityKind::Cc || peer_id.name != cc_id {
        revocation::refused(
            &state,
            peer,
            RefusalReason::Certificate,
            &format!("connector claims to be {cc_id} with the certificate of {peer_id}"),
        );
        return Ok(());
    }
    info!(%peer, connector = %peer_id, ?checkpoint_size, edges = positions.len(), "connector connected");
    state.connectors.fetch_add(1, Ordering::Relaxed);
    let (tx, rx) = mpsc::channel::<HubToCc>(8192);
    let writer = spawn_writer(writer, rx);
    // Subscribe before reading the store, so nothing falls between them (what is both read and
    // received live reaches the connector twice; it applies each batch once).
    let mut live = state.events.subscribe();
    let _ = tx.send(HubToCc::Registry(state.registry.signed.clone())).await;
    let certificates: Vec<Vec<u8>> = lock(&state.certificates).values().map(|(der, _)| der.clone()).collect();
    let _ = tx.send(HubToCc::Certificates(certificates)).await;
    let mut positions: HashMap<String, u64> = positions.into_iter().collect();
    let mut heads = Vec::new();
    let mut replays = Vec::new();
    for (edge, last) in state.store.edges().unwrap_or_default() {
        let position = positions.remove(&edge);
        let (start, head) = match start_of(&state, &cc_id, &edge, &last, position) {
            Start::Replay { after, head } => (Some(after), head),
            Start::Resync => (None, last.header_bytes),
        };
        if let Ok(head) = gridtrust_trust::evidence::decode_sealed(&head) {
            heads.push(head);
        }
        if let Some(after) = start {
            replays.push((edge, after, last.batch_seq));
        }
    }
    // Positions on edges this store holds nothing of: the connector followed another hub's store.
    for (edge, position) in positions {
        let reason = format!("connector {cc_id} is at batch {position} of {edge}, of which this hub holds no batch: nothing replayed");
        state.alarm(Severity::Major, "hub", AlarmKind::Resync, reason, None);
    }
    let _ = tx.send(HubToCc::Heads(heads)).await;
    // The latest values, except those of an edge replayed from the connector's position that
    // the replay brings anyway.
    let replayed_after: HashMap<&str, u64> = replays.iter().map(|(e, after, _)| (e.as_str(), *after)).collect();
    let snapshot: BTreeMap<(String, u64), Arc<SignedBatch>> = lock(&state.latest)
        .values()
        .filter(|b| replayed_after.get(b.header.edge_id.as_str()).is_none_or(|after| b.header.batch_seq <= *after))
        .map(|b| ((b.header.edge_id.clone(), b.header.batch_seq), b.clone()))
        .collect();
    for b in snapshot.into_values() {
        let _ = tx.send(HubToCc::Batch((*b).clone())).await;
    }
    for (edge, after, through) in replays {
        replay(&state, &tx, &cc_id, &edge, after, through).await;
    }
    let mut proven_size = checkpoint_size;
    if let Some(checkpoint) = state.ledger.latest() {
        send_checkpoint(&state, &tx, checkpoint, &mut proven_size).await;
    }
    let mut forward = {
        let (tx, state, cc_id) = (tx.clone(), state.clone(), cc_id.clone());
        tokio::spawn(async move {
            loop {
                let msg = match live.recv().await {
                    Ok(Event::Batch(b)) => {
                        state.stats.records_forwarded.fetch_add(b.records.len() as u64, Ordering::Relaxed);
                        HubToCc::Batch((*b).clone())
                    }
                    Ok(Event::Certificate(der)) => HubToCc::Certificates(vec![der]),
                    Ok(Event::Checkpoint(c)) => {
                        send_checkpoint(&state, &tx, c, &mut proven_size).await;
                        continue;
                    }
                    // Too slow for the live stream: rather than skip events, end the session. The
                    // connector dials again with its position and the store replays what it missed.
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        state.stats.connectors_lagged.fetch_add(1, Ordering::Relaxed);
                        let reason = format!(
                            "connector {cc_id} fell {n} events behind the live stream: session closed; it reconnects and is replayed from its position"
                        );
                        state.alarm(Severity::Major, "hub", AlarmKind::Resync, reason, None);
                        break;
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                };
                if tx.send(msg).await.is_err() {
                    break;
                }
            }
        })
    };
    let result = loop {
        let msg = tokio::select! {
            m = reader.recv::<CcToHub>() => m,
            () = stopping(&state) => break Ok(()),
            // The live stream ended for this connector (it lagged, or the hub is stopping).
            _ = &mut forward => break Ok(()),
        };
        match msg {
            Ok(Some(CcToHub::Command(cmd))) => route_command(&state, cmd, &tx).await,
            Ok(Some(CcToHub::Hello { .. })) => warn!(%cc_id, "second hello ignored"),
            Ok(Some(CcToHub::Intrusion { alert, seen_at })) => intrusion_reported(&state, &cc_id, "SCADA side", &alert, seen_at),
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    forward.abort();
    writer.abort();
    state.connectors.fetch_sub(1, Ordering::Relaxed);
    info!(%cc_id, "connector disconnected");
    result
}

/// Batches read from the store at once while replaying.
const REPLAY_CHUNK: usize = 256;

/// Where a connector's view of one edge starts.
enum Start {
    /// Every stored batch after `after` is replayed; `head` (the sealed header of batch
    /// `after`) is the chain head the connector checks the first replayed batch against.
    Replay { after: u64, head: Vec<u8> },
    /// Only the latest value of each point, from the edge's latest header on.
    Resync,
}

/// Decides, for a connector at `position` on `edge` (whose newest stored batch is `last`),
/// whether the store can replay what it missed. A connector too far behind, ahead of the store
/// (it followed another hub's store), or at a batch this store lacks gets the latest values
/// and an alarm: the changes in between are not shown to it, and it must not look as if they
/// were.
fn start_of(state: &State, cc_id: &str, edge: &str, last: &gridtrust_store::LastBatch, position: Option<u64>) -> Start {
    let Some(position) = position else { return Start::Resync };
    let why = if position > last.batch_seq {
        format!(
            "its position {position} is ahead of the hub's newest batch {} (the hub's store is not the one it followed)",
            last.batch_seq
        )
    } else {
        match state.store.batches_stored_after(edge, position, state.max_replay_batches.saturating_add(1)) {
            Err(e) => format!("the store cannot count the batches after {position}, its position: {e}"),
            Ok(behind) if behind > state.max_replay_batches => {
                format!("it is more than {} batches behind (max_replay_batches)", state.max_replay_batches)
            }
            Ok(_) => match state.store.batch(edge, position) {
                Ok(Some(head)) => return Start::Replay { after: position, head },
                Ok(None) => format!("the hub does not hold batch {position}, its position"),
                Err(e) => format!("the store cannot read batch {position}, its position: {e}"),
            },
        }
    };
    state.alarm(
        Severity::Major,
        "hub",
        AlarmKind::Resync,
        format!("connector {cc_id} resynced on {edge} from the latest values, batches after {position} not replayed: {why}"),
        None,
    );
    Start::Resync
}

/// Sends `cc_id` the stored batches of `edge` after `after` through `through`, in order, as the
/// edge signed them (the connector verifies each). A batch the store cannot rebuild ends the
/// replay with an alarm; the connector then sees the rest as a gap in the edge's chain.
async fn replay(state: &Arc<State>, tx: &mpsc::Sender<HubToCc>, cc_id: &str, edge: &str, mut after: u64, through: u64) {
    let mut sent = 0u64;
    while after < through {
        let (st, e) = (state.clone(), edge.to_owned());
        let chunk = tokio::task::spawn_blocking(move || st.store.batches_after(&e, Some(after), REPLAY_CHUNK)).await;
        let batches = match chunk {
            Ok(Ok(Some(batches))) if !batches.is_empty() => batches,
            Ok(Ok(Some(_))) => break,
            Ok(Ok(None)) => {
                let reason = format!("batches of {edge} after {after} were stored by an older version and cannot be replayed");
                state.alarm(Severity::Major, "hub", AlarmKind::Resync, format!("replay to connector {cc_id} ended: {reason}"), None);
                break;
            }
            Ok(Err(e)) => {
                state.alarm(
                    Severity::Major,
                    "hub",
                    AlarmKind::Resync,
                    format!("replay of {edge} to connector {cc_id} ended: store: {e}"),
                    None,
                );
                break;
            }
            Err(e) => {
                warn!(error = %e, "replay task failed");
                break;
            }
        };
        for stored in batches {
            after = stored.batch_seq;
            match from_store(stored) {
                Ok(batch) => {
                    if tx.send(HubToCc::Batch(batch)).await.is_err() {
                        return;
                    }
                    sent += 1;
                }
                Err(e) => warn!(edge, batch_seq = after, error = %e, "stored batch header unreadable; not replayed"),
            }
        }
    }
    state.stats.batches_replayed.fetch_add(sent, Ordering::Relaxed);
    info!(connector = cc_id, edge, batches = sent, through = after, "replayed to the connector from its position");
}

/// Sends a checkpoint with the consistency proof from the size this connector last accepted.
async fn send_checkpoint(state: &Arc<State>, tx: &mpsc::Sender<HubToCc>, checkpoint: Arc<SignedCheckpoint>, proven_size: &mut Option<u64>) {
    let new = checkpoint.checkpoint.tree_size;
    let old = *proven_size;
    let st = state.clone();
    let proof = match tokio::task::spawn_blocking(move || st.ledger.consistency(old, new)).await {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => {
            state.alarm(Severity::Critical, "hub", AlarmKind::Log, format!("cannot prove log consistency: {e}"), None);
            return;
        }
        Err(e) => {
            warn!(error = %e, "proof task failed");
            return;
        }
    };
    let msg =
        HubToCc::Checkpoint { checkpoint: (*checkpoint).clone(), consistency: proof, hub_certificate: state.identity.certificate.clone() };
    if tx.send(msg).await.is_ok() {
        *proven_size = Some(new);
    }
}

/// Checks a command from a connector against policy; countersigns, logs and routes it, or
/// refuses with a signed result. Both decisions are log entries.
pub(crate) async fn route_command(state: &Arc<State>, mut signed: SignedCommand, reply: &mpsc::Sender<HubToCc>) {
    let digest = signed.digest();
    let decision = decide(state, &signed);
    let command = signed.command().ok();
    let (id, action) = command.as_ref().map_or((0, CommandAction::Execute), |c| (c.id, c.action));
    let target = command.as_ref().map(|c| c.edge.clone()).unwrap_or_default();
    let refuse = |reason: String| CommandResult {
        command_id: id,
        edge: target.clone(),
        action,
        outcome: CommandOutcome::Refused { by: "hub".into(), reason },
        at: Timestamp::now(),
    };
    let (edge, edge_tx) = match decision {
        Ok(route) => route,
        Err(reason) => {
            state.stats.commands_refused.fetch_add(1, Ordering::Relaxed);
            state.alarm(
                Severity::Minor,
                "hub",
                AlarmKind::Command,
                format!("command {id} refused by hub policy: {reason}"),
                command.as_ref().map(|c| c.point.to_string()),
            );
            if let Err(e) = log_one(state, signed.log_entry()).await {
                warn!(target: "alarm", error = %e, "refused command not logged");
            }
            refuse_signed(state, reply, digest, refuse(reason)).await;
            return;
        }
    };
    let identity = state.identity.clone();
    let authorized =
        tokio::task::spawn_blocking(move || signed.authorize(identity.signer.as_ref(), &identity.certificate).map(|()| signed)).await;
    let signed = match authorized {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return refuse_signed(state, reply, digest, refuse(format!("hub cannot countersign: {e}"))).await,
        Err(e) => return refuse_signed(state, reply, digest, refuse(format!("countersign task failed: {e}"))).await,
    };
    // Logged, proven and sent under the command lock, so the edge sees checkpoints in order.
    let mut command_log = state.command_log.lock().await;
    let held = command_log.get(&edge).copied().flatten();
    let proof = match log_command(state, &signed, held).await {
        Ok(proof) => proof,
        Err(reason) => return refuse_signed(state, reply, digest, refuse(reason)).await,
    };
    let proven = proof.checkpoint.checkpoint.tree_size;
    state.stats.commands_authorized.fetch_add(1, Ordering::Relaxed);
    info!(command_id = id, point = ?command.as_ref().map(|c| c.point.to_string()), %edge, ?action, log_index = proof.index, "command authorised, logged and routed");
    let pending = PendingCommand {
        reply: reply.clone(),
        edge: edge.clone(),
        issuer: signed.issuer.certificate().to_vec(),
        command_id: id,
        action,
        expires_at: command.as_ref().map_or(Timestamp::now(), |c| c.expires_at),
    };
    let inserted = lock(&state.pending).insert(digest, pending, Timestamp::now());
    if let Err(full) = inserted {
        drop(command_log);
        state.alarm(Severity::Major, "hub", AlarmKind::Command, format!("command {id} refused: {full}"), None);
        return refuse_signed(state, reply, digest, refuse(full.to_string())).await;
    }
    if edge_tx.send(HubToEdge::Command { command: Box::new(signed), log: Box::new(proof) }).await.is_err() {
        lock(&state.pending).remove(&digest);
        drop(command_log);
        return refuse_signed(state, reply, digest, refuse("edge disconnected".into())).await;
    }
    command_log.insert(edge, Some(proven));
}

/// Appends an authorised command to the log, signs a checkpoint that covers it (commands are
/// rare: one signature each) and proves the entry's inclusion, and consistency from the
/// checkpoint size the edge holds.
async fn log_command(state: &Arc<State>, signed: &SignedCommand, held: Option<u64>) -> Result<EntryInLog, String> {
    let entry = signed.log_entry().map_err(|e| e.to_string())?;
    let st = state.clone();
    let proof = tokio::task::spawn_blocking(move || -> Result<EntryInLog, crate::ledger::LedgerError> {
        let index = st.ledger.append(std::slice::from_ref(&entry))?;
        let checkpoint = st.ledger.checkpoint_covering(index)?;
        let size = checkpoint.checkpoint.tree_size;
        Ok(EntryInLog {
            index,
            inclusion: st.ledger.inclusion(index, size)?,
            consistency: st.ledger.consistency(held, size)?,
            checkpoint: (*checkpoint).clone(),
        })
    })
    .await
    .map_err(|e| format!("log task failed: {e}"))?
    .map_err(|e| format!("transparency log: {e}"))?;
    state.stats.log_entries.fetch_add(1, Ordering::Relaxed);
    let _ = state.events.send(Event::Checkpoint(Arc::new(proof.checkpoint.clone())));
    Ok(proof)
}

/// The policy decision: issuer certificate and signature, policy, and a route to the edge the
/// point registry grants the point, which must be the edge the command names.
fn decide(state: &State, signed: &SignedCommand) -> Result<(String, mpsc::Sender<HubToEdge>), String> {
    let issuer = state.identity.validate(signed.issuer.certificate()).map_err(|e| format!("issuer certificate: {e}"))?;
    signed.verify_issuer(&issuer.public_key, &state.relying_party).map_err(|e| e.to_string())?;
    let command = signed.command().map_err(|e| e.to_string())?;
    lock(&state.policy).check(&issuer, &signed.issuer, &command, Instant::now())?;
    let registry = &state.registry.registry;
    let owner = registry
        .owner(&command.point)
        .ok_or_else(|| format!("point {} belongs to no edge in point registry version {}", command.point, registry.version))?;
    if owner != command.edge {
        return Err(format!(
            "command names edge {} for point {}, which point registry version {} grants to {owner}",
            command.edge, command.point, registry.version
        ));
    }
    let tx = lock(&state.edges).get(owner).cloned().ok_or_else(|| format!("edge {owner} for point {} is not connected", command.point))?;
    Ok((owner.to_owned(), tx))
}

/// Signs a refusal as the hub, logs it and sends it to the connector.
pub(crate) async fn refuse_signed(state: &Arc<State>, reply: &mpsc::Sender<HubToCc>, digest: Hash, result: CommandResult) {
    let identity = state.identity.clone();
    let signed =
        tokio::task::spawn_blocking(move || SignedResult::sign(&result, digest, identity.signer.as_ref(), &identity.certificate)).await;
    match signed {
        Ok(Ok(signed)) => {
            if let Err(e) = log_one(state, signed.log_entry()).await {
                warn!(target: "alarm", error = %e, "refusal not logged");
            }
            let _ = reply.send(HubToCc::CommandResult(signed)).await;
        }
        Ok(Err(e)) => warn!(target: "alarm", error = %e, "cannot sign a refusal"),
        Err(e) => warn!(error = %e, "signing task failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridtrust_model::{Quality, Record, Timestamp, Value};
    use gridtrust_trust::BatchHeader;

    fn batch(batch_seq: u64, points: &[&str]) -> Arc<SignedBatch> {
        let records: Vec<Record> = (0u64..)
            .zip(points)
            .map(|(i, p)| Record {
                seq: batch_seq * 10 + i,
                point: PointId::new(*p).unwrap(),
                value: Value::Float(batch_seq as f32),
                quality: Quality::GOOD,
                source_time: None,
                received_at: Timestamp(0),
            })
            .collect();
        let header = BatchHeader::for_records("edge-1", batch_seq, &records, [1; 32], Timestamp(0));
        Arc::new(SignedBatch { header, signature: None, records })
    }

    #[test]
    fn a_late_batch_never_puts_an_older_value_in_the_image() {
        let mut image = HashMap::new();
        update_image(&mut image, &batch(2, &["LD0/MMXU1.TotW"]), true);
        update_image(&mut image, &batch(1, &["LD0/MMXU1.TotW", "LD0/MMXU1.Hz"]), false);
        let from = |image: &HashMap<PointId, Arc<SignedBatch>>, p: &str| image[&PointId::new(p).unwrap()].header.batch_seq;
        assert_eq!(from(&image, "LD0/MMXU1.TotW"), 2, "the newer value stays");
        assert_eq!(from(&image, "LD0/MMXU1.Hz"), 1, "a point with no value yet takes the late one");
        update_image(&mut image, &batch(3, &["LD0/MMXU1.TotW"]), true);
        assert_eq!(from(&image, "LD0/MMXU1.TotW"), 3);
    }
}
