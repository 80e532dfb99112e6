use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use gridtrust_iec104::asdu::InformationObject;
use gridtrust_iec104::server::{CommandMode, CommandResponder, IncomingCommand, Server, ServerHandle};
use gridtrust_iec104_model::MappingFile;
use gridtrust_iec104_model::convert::{command_from_element, cp56_from_time, element_from_datum};
use gridtrust_model::{
    Command, CommandAction, CommandOutcome, CommandResult, Quality, TimeQuality, Timestamp, Validity, Value,
};
use gridtrust_transport::{CcToHub, FrameError, HubToCc, PROTOCOL_VERSION, Upstream, connect};

use crate::CcConfig;
use crate::verify::{Alarm, Verifier};

/// Why the connector could not start.
#[derive(Debug, thiserror::Error)]
pub enum CcError {
    #[error("mapping: {0}")]
    Mapping(#[from] gridtrust_config::ConfigError),
    #[error("TLS: {0}")]
    Tls(#[from] gridtrust_trust::pki::PkiError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: String, source: std::io::Error },
    #[error("IEC 104 station: {0}")]
    Station(#[from] gridtrust_iec104::server::StationError),
}

/// Counters for metrics and tests.
#[derive(Debug, Default)]
pub struct CcStats {
    pub batches_verified: AtomicU64,
    pub records_served: AtomicU64,
    pub records_invalid: AtomicU64,
    pub commands: AtomicU64,
}

/// A running connector.
pub struct Cc {
    /// Where SCADA connects.
    pub iec104_addr: SocketAddr,
    pub stats: Arc<CcStats>,
    alarms: Arc<Mutex<Vec<Alarm>>>,
    server: ServerHandle,
    tasks: Vec<JoinHandle<()>>,
}

impl Cc {
    /// Starts the IEC 104 server and the link to the hub.
    pub async fn start(config: CcConfig) -> Result<Self, CcError> {
        let mapping = MappingFile::load(&config.iec104.mapping)?;
        let tls = match &config.iec104.tls {
            Some(files) => Some(tokio_rustls::TlsAcceptor::from(files.server_config()?)),
            None => None,
        };
        let listen: SocketAddr = config
            .iec104
            .listen
            .parse()
            .map_err(|e| CcError::Listen { addr: config.iec104.listen.clone(), source: std::io::Error::other(format!("{e}")) })?;
        let (server, commands) = Server::bind(listen, tls, config.iec104.station.clone())
            .await
            .map_err(|source| CcError::Listen { addr: config.iec104.listen.clone(), source })?;
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

        let stats = Arc::new(CcStats::default());
        let alarms = Arc::new(Mutex::new(Vec::new()));
        let tls = config.hub.tls.client_config()?;
        let link = HubLink {
            cc_id: config.cc_id.clone(),
            hub: config.hub.clone(),
            tls,
            mapping: Arc::new(mapping),
            server: server.clone(),
            stats: stats.clone(),
            alarms: alarms.clone(),
            ttl: Duration::from_secs(config.command_ttl_s),
        };
        let tasks = vec![tokio::spawn(link.run(commands))];
        Ok(Self { iec104_addr, stats, alarms, server, tasks })
    }

    /// Alarms raised so far.
    pub fn alarms(&self) -> Vec<Alarm> {
        self.alarms.lock().unwrap_or_else(|p| p.into_inner()).clone()
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

struct HubLink {
    cc_id: String,
    hub: Upstream,
    tls: Arc<rustls::ClientConfig>,
    mapping: Arc<MappingFile>,
    server: ServerHandle,
    stats: Arc<CcStats>,
    alarms: Arc<Mutex<Vec<Alarm>>>,
    ttl: Duration,
}

/// A command sent to the hub and waiting for its results.
struct Pending {
    responder: CommandResponder,
    action: CommandAction,
}

impl HubLink {
    async fn run(self, mut commands: mpsc::Receiver<IncomingCommand>) {
        let mut verifier = Verifier::default();
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.session(&mut verifier, &mut commands).await {
                Ok(()) => info!("hub closed the connection"),
                Err(e) => warn!(hub = %self.hub.address, error = %e, "hub link down"),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }

    async fn session(&self, verifier: &mut Verifier, commands: &mut mpsc::Receiver<IncomingCommand>) -> Result<(), FrameError> {
        let (r, mut w) = connect(&self.hub.address, &self.hub.server_name, self.tls.clone()).await?;
        w.send(&CcToHub::Hello { cc_id: self.cc_id.clone(), protocol: PROTOCOL_VERSION }).await?;
        info!(hub = %self.hub.address, "connected to hub");
        let (in_tx, mut in_rx) = mpsc::channel::<HubToCc>(4096);
        let mut reader = r.spawn_into::<HubToCc>(in_tx);
        let mut pending: HashMap<u64, Pending> = HashMap::new();
        let result = loop {
            tokio::select! {
                msg = in_rx.recv() => match msg {
                    Some(HubToCc::Heads(heads)) => verifier.set_heads(heads),
                    Some(HubToCc::Batch(batch)) => self.serve(verifier, batch).await,
                    Some(HubToCc::CommandResult(result)) => answer(&mut pending, result),
                    None => break match (&mut reader).await { Ok(r) => r, Err(_) => Ok(()) },
                },
                Some(cmd) = commands.recv() => {
                    if let Some((command, p)) = self.to_command(cmd) {
                        let id = command.id;
                        if let Err(e) = w.send(&CcToHub::Command(command)).await {
                            let _ = p.responder.confirm(false);
                            break Err(e);
                        }
                        pending.insert(id, p);
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

    /// Verifies a batch and serves its mapped records.
    async fn serve(&self, verifier: &mut Verifier, batch: gridtrust_trust::SignedBatch) {
        let (verdicts, alarms) = verifier.check(batch, Timestamp::now());
        if !alarms.is_empty() {
            for a in &alarms {
                warn!(target: "alarm", edge = %a.edge_id, batch_seq = a.batch_seq, reason = %a.reason, "field evidence failed");
            }
            self.alarms.lock().unwrap_or_else(|p| p.into_inner()).extend(alarms);
        }
        self.stats.batches_verified.fetch_add(1, Ordering::Relaxed);
        for v in verdicts {
            let Some(map) = self.mapping.point(&v.record.point) else { continue };
            let quality = if v.verified { v.record.quality } else { v.record.quality.with_validity(Validity::Invalid) };
            let (t, tq) = v.record.source_time.unwrap_or((v.record.received_at, TimeQuality { substituted: true, ..TimeQuality::GOOD }));
            let Some(element) = element_from_datum(&v.record.value, quality, cp56_from_time(t, tq), map) else {
                warn!(point = %v.record.point, "value does not fit the mapped IEC 104 type");
                continue;
            };
            if !v.verified {
                self.stats.records_invalid.fetch_add(1, Ordering::Relaxed);
            }
            self.stats.records_served.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = self.server.update(InformationObject::new(map.ioa, element)).await {
                warn!(error = %e, "IEC 104 server update failed");
            }
        }
    }

    /// Turns a SCADA command into a model command, or refuses it at once.
    fn to_command(&self, cmd: IncomingCommand) -> Option<(Command, Pending)> {
        let obj = cmd.asdu.objects.first()?;
        let Some(map) = self.mapping.command_at(obj.ioa) else {
            let _ = cmd.responder.confirm(false);
            return None;
        };
        let Some((value, select)) = command_from_element(&obj.element) else {
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
        let now = Timestamp::now();
        let command = Command {
            id: random_u64(),
            nonce: random_nonce(),
            point: map.id.clone(),
            action,
            value,
            issuer: format!("scada:{}@{}", cmd.group, cmd.peer),
            role: "OPERATOR".into(),
            issued_at: now,
            expires_at: Timestamp(now.0.saturating_add(i64::try_from(self.ttl.as_nanos()).unwrap_or(i64::MAX))),
        };
        info!(command_id = command.id, point = %command.point, ?action, peer = %cmd.peer, "SCADA command forwarded");
        Some((command, Pending { responder: cmd.responder, action }))
    }
}

/// Passes a command stage's result to SCADA: ACTCON positive or negative, then ACTTERM.
fn answer(pending: &mut HashMap<u64, Pending>, result: CommandResult) {
    let Some(p) = pending.get(&result.command_id) else {
        warn!(command_id = result.command_id, "result for an unknown command");
        return;
    };
    let finished = match &result.outcome {
        CommandOutcome::Confirmed => {
            let _ = p.responder.confirm(true);
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

fn random_bytes<const N: usize>() -> [u8; N] {
    use ring::rand::SecureRandom;
    let mut b = [0u8; N];
    // The system RNG failing is not recoverable in any useful way; fall back to time-derived
    // bytes so a command is still unique, and say so.
    if ring::rand::SystemRandom::new().fill(&mut b).is_err() {
        warn!("system random generator failed; using time-derived bytes");
        let t = Timestamp::now().0.to_be_bytes();
        for (i, x) in b.iter_mut().enumerate() {
            *x = t[i % 8] ^ (i as u8);
        }
    }
    b
}

fn random_u64() -> u64 {
    u64::from_be_bytes(random_bytes::<8>())
}

fn random_nonce() -> [u8; 16] {
    random_bytes::<16>()
}
