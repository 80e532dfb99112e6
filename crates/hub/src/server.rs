//! The hub's connection handling: one task per edge and per connector, a broadcast of verified
//! batches to connectors, and command routing.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use gridtrust_model::{Command, CommandAction, CommandOutcome, CommandResult, PointId, Timestamp};
use gridtrust_store::{ApplyOutcome, HubStore, StoreError};
use gridtrust_transport::{CcToHub, EdgeToHub, FrameError, HubToCc, HubToEdge, Listener, PROTOCOL_VERSION, handshake};
use gridtrust_trust::{BatchHeader, SignedBatch};

use crate::HubConfig;

/// Why the hub could not start.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("TLS: {0}")]
    Tls(#[from] gridtrust_trust::pki::PkiError),
    #[error("cannot create {path}: {source}")]
    DataDir { path: std::path::PathBuf, source: std::io::Error },
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: String, source: std::io::Error },
}

/// Counters for metrics and tests.
#[derive(Debug, Default)]
pub struct HubStats {
    pub batches_applied: AtomicU64,
    pub batches_duplicate: AtomicU64,
    pub records_applied: AtomicU64,
    pub integrity_failures: AtomicU64,
    pub chain_alarms: AtomicU64,
}

/// Shared state of a running hub.
struct State {
    store: HubStore,
    stats: HubStats,
    /// Verified batches, as received, for every connected connector.
    batches: broadcast::Sender<Arc<SignedBatch>>,
    /// For each point, the latest batch that carried it: what a connector gets on connect.
    latest: Mutex<HashMap<PointId, Arc<SignedBatch>>>,
    /// Which edge reports a point, so commands find their way.
    owner: Mutex<HashMap<PointId, String>>,
    edges: Mutex<HashMap<String, mpsc::Sender<HubToEdge>>>,
    /// Where to send each command's results: the connector that issued it.
    pending: Mutex<HashMap<u64, mpsc::Sender<HubToCc>>>,
}

/// A running hub.
pub struct Hub {
    state: Arc<State>,
    /// Where edges connect (useful when configured with port 0).
    pub edge_addr: SocketAddr,
    /// Where connectors connect.
    pub cc_addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl Hub {
    /// Opens the store and starts listening.
    pub async fn start(config: &HubConfig) -> Result<Self, HubError> {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|source| HubError::DataDir { path: config.data_dir.clone(), source })?;
        let store = HubStore::open(config.data_dir.join("hub.redb"))?;
        let tls = config.tls.server_config()?;
        let listen = |addr: String| {
            let tls = tls.clone();
            async move { Listener::bind(&addr, tls).await.map_err(|source| HubError::Listen { addr, source }) }
        };
        let edge_listener = listen(config.edge_listen.clone()).await?;
        let cc_listener = listen(config.cc_listen.clone()).await?;
        let edge_addr = edge_listener.local_addr().map_err(|source| HubError::Listen { addr: config.edge_listen.clone(), source })?;
        let cc_addr = cc_listener.local_addr().map_err(|source| HubError::Listen { addr: config.cc_listen.clone(), source })?;
        let state = Arc::new(State {
            store,
            stats: HubStats::default(),
            batches: broadcast::channel(4096).0,
            latest: Mutex::default(),
            owner: Mutex::default(),
            edges: Mutex::default(),
            pending: Mutex::default(),
        });
        info!(%edge_addr, %cc_addr, "hub listening");
        let tasks = vec![
            tokio::spawn(accept_loop(edge_listener, state.clone(), Peer::Edge)),
            tokio::spawn(accept_loop(cc_listener, state.clone(), Peer::Cc)),
        ];
        Ok(Self { state, edge_addr, cc_addr, tasks })
    }

    /// Counters.
    pub fn stats(&self) -> &HubStats {
        &self.state.stats
    }

    /// The store, for queries.
    pub fn store(&self) -> &HubStore {
        &self.state.store
    }

    /// Stops accepting; established connections end with their tasks.
    pub fn shutdown(self) {
        for t in self.tasks {
            t.abort();
        }
    }
}

#[derive(Clone, Copy)]
enum Peer {
    Edge,
    Cc,
}

async fn accept_loop(listener: Listener, state: Arc<State>, kind: Peer) {
    let acceptor = listener.acceptor();
    loop {
        let (tcp, peer) = match listener.accept_tcp().await {
            Ok(c) => c,
            Err(e) => {
                warn!(error = %e, "accept failed");
                continue;
            }
        };
        let (acceptor, state) = (acceptor.clone(), state.clone());
        tokio::spawn(async move {
            let result = match handshake(&acceptor, tcp, peer).await {
                Err(e) => Err(e),
                Ok((r, w)) => match kind {
                    Peer::Edge => serve_edge(state, r, w, peer).await,
                    Peer::Cc => serve_cc(state, r, w, peer).await,
                },
            };
            if let Err(e) = result {
                warn!(%peer, error = %e, "connection ended");
            }
        });
    }
}

type Reader = gridtrust_transport::FramedReader<tokio::io::ReadHalf<tokio_rustls_stream::Stream>>;
type Writer = gridtrust_transport::FramedWriter<tokio::io::WriteHalf<tokio_rustls_stream::Stream>>;

/// The server-side TLS stream type, named once.
mod tokio_rustls_stream {
    pub type Stream = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
}

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

async fn serve_edge(state: Arc<State>, mut r: Reader, w: Writer, peer: SocketAddr) -> Result<(), FrameError> {
    let Some(EdgeToHub::Hello { edge_id, protocol }) = r.recv().await? else {
        warn!(%peer, "edge did not start with hello");
        return Ok(());
    };
    if protocol != PROTOCOL_VERSION || gridtrust_trust::evidence::validate_edge_id(&edge_id).is_err() {
        warn!(%peer, %edge_id, protocol, "edge refused: bad hello");
        return Ok(());
    }
    let last = state.store.last_batch(&edge_id).ok().flatten().map(|l| l.batch_seq);
    let (tx, rx) = mpsc::channel::<HubToEdge>(1024);
    let writer = spawn_writer(w, rx);
    let _ = tx.send(HubToEdge::Welcome { last_batch_seq: last }).await;
    state.edges.lock().unwrap_or_else(|p| p.into_inner()).insert(edge_id.clone(), tx.clone());
    info!(%peer, %edge_id, ?last, "edge connected");

    let result = loop {
        match r.recv::<EdgeToHub>().await {
            Ok(Some(EdgeToHub::Batch(batch))) => {
                let batch_seq = batch.header.batch_seq;
                match apply(&state, &edge_id, batch).await {
                    Ok(()) => {
                        if tx.send(HubToEdge::Ack { batch_seq }).await.is_err() {
                            break Ok(());
                        }
                    }
                    Err(reason) => {
                        warn!(target: "alarm", %edge_id, batch_seq, %reason, "batch refused; connection closed");
                        break Ok(());
                    }
                }
            }
            Ok(Some(EdgeToHub::CommandResult(result))) => route_result(&state, result).await,
            Ok(Some(EdgeToHub::Hello { .. })) => warn!(%edge_id, "second hello ignored"),
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    state.edges.lock().unwrap_or_else(|p| p.into_inner()).remove(&edge_id);
    writer.abort();
    info!(%edge_id, "edge disconnected");
    result
}

/// Verifies and stores one batch, then hands it to connectors. Errors are reasons to refuse.
async fn apply(state: &Arc<State>, edge_id: &str, batch: SignedBatch) -> Result<(), String> {
    if batch.header.edge_id != edge_id {
        state.stats.integrity_failures.fetch_add(1, Ordering::Relaxed);
        return Err(format!("batch names edge {} on the connection of {edge_id}", batch.header.edge_id));
    }
    if let Err(e) = batch.verify_integrity() {
        state.stats.integrity_failures.fetch_add(1, Ordering::Relaxed);
        return Err(e.to_string());
    }
    let batch = Arc::new(batch);
    let outcome = {
        let (state, batch) = (state.clone(), batch.clone());
        tokio::task::spawn_blocking(move || -> Result<(ApplyOutcome, Option<BatchHeader>), StoreError> {
            let previous = state
                .store
                .last_batch(&batch.header.edge_id)?
                .and_then(|l| BatchHeader::decode_canonical(&l.header_bytes).ok());
            let header_bytes = batch.header.encode_canonical();
            let outcome = state.store.apply_batch(&batch.header.edge_id, batch.header.batch_seq, &header_bytes, &batch.records)?;
            Ok((outcome, previous))
        })
        .await
        .map_err(|e| format!("store task failed: {e}"))?
        .map_err(|e| format!("store: {e}"))?
    };
    match outcome {
        (ApplyOutcome::Duplicate, _) => {
            state.stats.batches_duplicate.fetch_add(1, Ordering::Relaxed);
            debug!(edge_id, batch_seq = batch.header.batch_seq, "duplicate batch acknowledged again");
        }
        (ApplyOutcome::Applied { stored, gap, late, .. }, previous) => {
            state.stats.batches_applied.fetch_add(1, Ordering::Relaxed);
            state.stats.records_applied.fetch_add(stored as u64, Ordering::Relaxed);
            if let Some(gap) = gap {
                state.stats.chain_alarms.fetch_add(1, Ordering::Relaxed);
                warn!(target: "alarm", edge_id, missing = ?gap, "batches missing from the edge's chain");
            } else if let Some(prev) = previous.filter(|p| !late && p.batch_seq + 1 == batch.header.batch_seq) {
                if let Err(e) = batch.verify_follows(&prev) {
                    state.stats.chain_alarms.fetch_add(1, Ordering::Relaxed);
                    warn!(target: "alarm", edge_id, error = %e, "hash chain broken");
                }
            }
            {
                let mut latest = state.latest.lock().unwrap_or_else(|p| p.into_inner());
                let mut owner = state.owner.lock().unwrap_or_else(|p| p.into_inner());
                for r in &batch.records {
                    latest.insert(r.point.clone(), batch.clone());
                    if !owner.contains_key(&r.point) {
                        owner.insert(r.point.clone(), edge_id.to_owned());
                    }
                }
            }
            // No connector listening is fine: they get the latest image when they connect.
            let _ = state.batches.send(batch);
        }
    }
    Ok(())
}

async fn route_result(state: &Arc<State>, result: CommandResult) {
    let done = !matches!(result.outcome, CommandOutcome::Confirmed) || result.action != CommandAction::Execute;
    let target = {
        let mut pending = state.pending.lock().unwrap_or_else(|p| p.into_inner());
        if done { pending.remove(&result.command_id) } else { pending.get(&result.command_id).cloned() }
    };
    match target {
        Some(tx) => {
            let _ = tx.send(HubToCc::CommandResult(result)).await;
        }
        None => warn!(command_id = result.command_id, "result for an unknown command dropped"),
    }
}

async fn serve_cc(state: Arc<State>, mut r: Reader, w: Writer, peer: SocketAddr) -> Result<(), FrameError> {
    let Some(CcToHub::Hello { cc_id, protocol }) = r.recv().await? else {
        warn!(%peer, "connector did not start with hello");
        return Ok(());
    };
    if protocol != PROTOCOL_VERSION {
        warn!(%peer, %cc_id, protocol, "connector refused: protocol version");
        return Ok(());
    }
    info!(%peer, %cc_id, "connector connected");
    let (tx, rx) = mpsc::channel::<HubToCc>(8192);
    let writer = spawn_writer(w, rx);
    // Subscribe before taking the snapshot, so nothing falls between them.
    let mut live = state.batches.subscribe();
    let heads: Vec<BatchHeader> = state
        .store
        .edges()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(_, last)| BatchHeader::decode_canonical(&last.header_bytes).ok())
        .collect();
    let _ = tx.send(HubToCc::Heads(heads)).await;
    let snapshot: BTreeMap<(String, u64), Arc<SignedBatch>> = state
        .latest
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .values()
        .map(|b| ((b.header.edge_id.clone(), b.header.batch_seq), b.clone()))
        .collect();
    for b in snapshot.into_values() {
        let _ = tx.send(HubToCc::Batch((*b).clone())).await;
    }
    let forward = {
        let tx = tx.clone();
        tokio::spawn(async move {
            loop {
                match live.recv().await {
                    Ok(b) => {
                        if tx.send(HubToCc::Batch((*b).clone())).await.is_err() {
                            break;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        warn!(target: "alarm", skipped = n, "connector too slow; batches skipped, it will see a chain gap");
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        })
    };
    let result = loop {
        match r.recv::<CcToHub>().await {
            Ok(Some(CcToHub::Command(cmd))) => route_command(&state, cmd, &tx).await,
            Ok(Some(CcToHub::Hello { .. })) => warn!(%cc_id, "second hello ignored"),
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    forward.abort();
    writer.abort();
    info!(%cc_id, "connector disconnected");
    result
}

async fn route_command(state: &Arc<State>, cmd: Command, reply: &mpsc::Sender<HubToCc>) {
    let edge = state.owner.lock().unwrap_or_else(|p| p.into_inner()).get(&cmd.point).cloned();
    let edge_tx = edge.as_ref().and_then(|e| state.edges.lock().unwrap_or_else(|p| p.into_inner()).get(e).cloned());
    let refuse = |reason: String| HubToCc::CommandResult(CommandResult {
        command_id: cmd.id,
        action: cmd.action,
        outcome: CommandOutcome::Refused { by: "hub".into(), reason },
        at: Timestamp::now(),
    });
    let Some(edge_tx) = edge_tx else {
        let reason = match edge {
            None => format!("no edge reports point {}", cmd.point),
            Some(e) => format!("edge {e} for point {} is not connected", cmd.point),
        };
        warn!(command_id = cmd.id, point = %cmd.point, %reason, "command refused");
        let _ = reply.send(refuse(reason)).await;
        return;
    };
    info!(command_id = cmd.id, point = %cmd.point, action = ?cmd.action, edge = ?edge, "command routed");
    state.pending.lock().unwrap_or_else(|p| p.into_inner()).insert(cmd.id, reply.clone());
    if edge_tx.send(HubToEdge::Command(cmd.clone())).await.is_err() {
        state.pending.lock().unwrap_or_else(|p| p.into_inner()).remove(&cmd.id);
        let _ = reply.send(refuse("edge disconnected".into())).await;
    }
}
