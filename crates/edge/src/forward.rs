//! Store-and-forward to the hub: batches are on disk before they are sent and leave the queue
//! only when the hub acknowledges them, so a hub outage or an edge restart loses nothing; the
//! hub applies idempotently, so a resend doubles nothing.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use tracing::{debug, info, warn};

use gridtrust_ids::service::IdsStats;
use gridtrust_model::{CommandAction, CommandOutcome, CommandResult, PointId, Timestamp};
use gridtrust_store::EdgeQueue;
use gridtrust_transport::identity::Identity;
use gridtrust_transport::{EdgeToHub, FrameError, HubToEdge, PROTOCOL_VERSION};
use gridtrust_trust::SignedBatch;
use gridtrust_trust::checkpoint::EntryInLog;
use gridtrust_trust::command::{SignedCommand, SignedResult};

use crate::adapter::DeviceCommand;
use crate::gate::CommandGate;

/// Counters for metrics and tests.
#[derive(Debug, Default)]
pub struct ForwardStats {
    pub batches_sent: AtomicU64,
    pub batches_acked: AtomicU64,
    pub connects: AtomicU64,
    pub commands_received: AtomicU64,
    /// Commands the gate refused (bad signature, role, expiry, replay).
    pub commands_refused: AtomicU64,
    /// Hub links dropped because the hub answered nothing within the ack timeout.
    pub links_silent: AtomicU64,
    /// What the intrusion detector on the RTU links saw and raised (`[ids]`).
    pub ids: Arc<IdsStats>,
    /// Intrusion alerts sent to the hub.
    pub intrusions_reported: AtomicU64,
}

/// An intrusion alert for the hub: its text and when it was seen.
pub type IntrusionReport = (String, Timestamp);

/// Why a session with the hub ended.
#[derive(Debug, thiserror::Error)]
enum LinkError {
    #[error("{0}")]
    Frame(#[from] FrameError),
    #[error("the hub answered nothing within {0:?} ([batch] ack_timeout_s): the path is taken for dead")]
    Silent(Duration),
}

/// Everything the forwarder task needs.
pub struct Forwarder {
    pub edge_id: String,
    pub hub: gridtrust_transport::Upstream,
    pub tls: Arc<rustls::ClientConfig>,
    /// This edge's certificate and key, for signing command results.
    pub identity: Arc<Identity>,
    /// Checks every command before it reaches a device.
    pub gate: Arc<CommandGate>,
    pub queue: Arc<EdgeQueue>,
    /// Signalled whenever a batch is appended to the queue.
    pub appended: Arc<Notify>,
    pub max_in_flight: usize,
    /// How long the hub may leave a welcome or a sent batch unanswered before the link is taken
    /// for dead and dialled again (see [`crate::config::BatchConfig::ack_timeout_s`]).
    pub ack_timeout: Duration,
    /// Which adapter operates each point.
    pub routes: HashMap<PointId, mpsc::Sender<DeviceCommand>>,
    pub stats: Arc<ForwardStats>,
}

impl Forwarder {
    /// Runs forever: connect, drain, reconnect with backoff. `intrusions` are the alerts to
    /// report; they wait in their channel while the hub is unreachable.
    pub async fn run(self, mut intrusions: mpsc::Receiver<IntrusionReport>) {
        let mut backoff = Duration::from_millis(100);
        let (results_tx, mut results_rx) = mpsc::channel::<SignedResult>(1024);
        loop {
            match self.session(&results_tx, &mut results_rx, &mut intrusions).await {
                Ok(()) => info!(edge_id = %self.edge_id, "hub closed the connection"),
                Err(e @ LinkError::Silent(_)) => {
                    self.stats.links_silent.fetch_add(1, Ordering::Relaxed);
                    warn!(target: "alarm", edge_id = %self.edge_id, hub = %self.hub.address, error = %e, "hub link dropped, dialling again");
                }
                Err(LinkError::Frame(e)) => warn!(edge_id = %self.edge_id, hub = %self.hub.address, error = %e, "hub link down"),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
            if self.stats.connects.load(Ordering::Relaxed) > 0 {
                backoff = backoff.min(Duration::from_secs(2));
            }
        }
    }

    async fn session(
        &self,
        results_tx: &mpsc::Sender<SignedResult>,
        results_rx: &mut mpsc::Receiver<SignedResult>,
        intrusions: &mut mpsc::Receiver<IntrusionReport>,
    ) -> Result<(), LinkError> {
        // The guard closes the link if the hub's certificate is revoked while connected.
        let ((mut r, mut w), _guard) = self.identity.connect(&self.hub, self.tls.clone()).await?;
        let checkpoint_size = self.gate.checkpoint_size();
        w.send(&EdgeToHub::Hello { edge_id: self.edge_id.clone(), protocol: PROTOCOL_VERSION, checkpoint_size }).await?;
        let welcome = tokio::time::timeout(self.ack_timeout, r.recv()).await.map_err(|_| LinkError::Silent(self.ack_timeout))?;
        let Some(HubToEdge::Welcome { last_batch_seq }) = welcome? else {
            return Ok(());
        };
        self.stats.connects.fetch_add(1, Ordering::Relaxed);
        if let Some(last) = last_batch_seq {
            self.ack(last, 0).await;
        }
        info!(edge_id = %self.edge_id, hub = %self.hub.address, ?last_batch_seq, "connected to hub");

        // Batches sent on this connection and not yet acknowledged, oldest first. An ack covers
        // every batch up to and including its seq (the hub sends one per stored group).
        let mut sent_through: Option<u64> = last_batch_seq;
        let mut unacked: VecDeque<u64> = VecDeque::new();
        // Since when the oldest unacknowledged batch waits for the hub (reset by each ack).
        let mut waiting_since: Option<tokio::time::Instant> = None;
        let (acks_tx, mut acks_rx) = mpsc::channel::<HubToEdge>(1024);
        let mut reader = r.spawn_into::<HubToEdge>(acks_tx);
        let result = 'session: loop {
            // Send as much as the window allows.
            if unacked.len() < self.max_in_flight {
                let queue = self.queue.clone();
                let after = sent_through;
                let limit = self.max_in_flight - unacked.len();
                let pending = tokio::task::spawn_blocking(move || queue.pending(after, limit)).await;
                match pending {
                    Ok(Ok(batches)) => {
                        for b in batches {
                            let (header, signature) = match gridtrust_trust::evidence::decode_sealed(&b.header_bytes) {
                                Ok(h) => h,
                                Err(e) => {
                                    warn!(target: "alarm", batch_seq = b.batch_seq, error = %e, "queued header unreadable; batch skipped");
                                    continue;
                                }
                            };
                            let batch = SignedBatch { header, signature, records: b.records };
                            if let Err(e) = w.send(&EdgeToHub::Batch(batch)).await {
                                break 'session Err(e.into());
                            }
                            sent_through = Some(b.batch_seq);
                            waiting_since.get_or_insert_with(tokio::time::Instant::now);
                            unacked.push_back(b.batch_seq);
                            self.stats.batches_sent.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Ok(Err(e)) => warn!(error = %e, "queue read failed"),
                    Err(e) => warn!(error = %e, "queue task failed"),
                }
            }
            tokio::select! {
                _ = self.appended.notified(), if unacked.len() < self.max_in_flight => {}
                msg = acks_rx.recv() => match msg {
                    Some(HubToEdge::Ack { batch_seq }) => {
                        let before = unacked.len();
                        while unacked.front().is_some_and(|&s| s <= batch_seq) {
                            unacked.pop_front();
                        }
                        waiting_since = (!unacked.is_empty()).then(tokio::time::Instant::now);
                        self.ack(batch_seq, (before - unacked.len()) as u64).await;
                    }
                    Some(HubToEdge::Command { command, log }) => {
                        self.stats.commands_received.fetch_add(1, Ordering::Relaxed);
                        self.dispatch(*command, *log, results_tx).await;
                    }
                    Some(HubToEdge::Welcome { .. }) => debug!("second welcome ignored"),
                    None => break match (&mut reader).await {
                        Ok(r) => r.map_err(LinkError::from),
                        Err(_) => Ok(()),
                    },
                },
                Some(result) = results_rx.recv() => {
                    if let Err(e) = w.send(&EdgeToHub::CommandResult(result)).await {
                        break Err(e.into());
                    }
                }
                Some((alert, seen_at)) = intrusions.recv() => {
                    if let Err(e) = w.send(&EdgeToHub::Intrusion { alert, seen_at }).await {
                        break Err(e.into());
                    }
                    self.stats.intrusions_reported.fetch_add(1, Ordering::Relaxed);
                }
                // The hub acknowledges each batch within milliseconds; with heartbeats an idle edge
                // sends one every few seconds, so a dead path is noticed here, not after TCP's minutes.
                () = sleep_until_some(waiting_since.map(|t| t + self.ack_timeout)) => break Err(LinkError::Silent(self.ack_timeout)),
                // Re-check the queue now and then, in case a notification raced with a send.
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        };
        reader.abort();
        result
    }

    /// Drops every queued batch up to and including `batch_seq` (one commit); `batches` of them
    /// were sent on this connection.
    async fn ack(&self, batch_seq: u64, batches: u64) {
        let queue = self.queue.clone();
        match tokio::task::spawn_blocking(move || queue.ack_through(batch_seq)).await {
            Ok(Ok(())) => {
                self.stats.batches_acked.fetch_add(batches, Ordering::Relaxed);
            }
            Ok(Err(e)) => warn!(batch_seq, error = %e, "queue ack failed"),
            Err(e) => warn!(batch_seq, error = %e, "queue task failed"),
        }
    }

    /// Checks a signed command at the gate and hands it to the adapter that operates its point.
    /// Every stage's result goes back signed by this edge; refusals carry the reason.
    async fn dispatch(&self, signed: SignedCommand, in_log: EntryInLog, results: &mpsc::Sender<SignedResult>) {
        let digest = signed.digest();
        let gate = self.gate.clone();
        let checked = {
            let signed = signed.clone();
            tokio::task::spawn_blocking(move || gate.admit(&signed, &in_log, Timestamp::now()))
                .await
                .unwrap_or_else(|e| Err(format!("gate task failed: {e}")))
        };
        let command = match checked {
            Ok(c) => c,
            Err(reason) => {
                self.stats.commands_refused.fetch_add(1, Ordering::Relaxed);
                // The id and action are reported only if the bytes decode; a refusal of
                // undecodable bytes still answers, bound to their digest.
                let (id, action, point) = match signed.command() {
                    Ok(c) => (c.id, c.action, c.point.to_string()),
                    Err(_) => (0, CommandAction::Execute, "?".into()),
                };
                warn!(target: "alarm", edge_id = %self.edge_id, command_id = id, %point, %reason, "command refused at the edge");
                self.send_result(
                    results,
                    digest,
                    CommandResult {
                        command_id: id,
                        edge: self.edge_id.clone(),
                        action,
                        outcome: self.refusal(reason),
                        at: Timestamp::now(),
                    },
                )
                .await;
                return;
            }
        };
        let Some(adapter) = self.routes.get(&command.point) else {
            warn!(command_id = command.id, point = %command.point, "command for a point no adapter operates refused");
            let outcome = self.refusal(format!("no adapter operates {}", command.point));
            self.send_result(
                results,
                digest,
                CommandResult { command_id: command.id, edge: self.edge_id.clone(), action: command.action, outcome, at: Timestamp::now() },
            )
            .await;
            return;
        };
        info!(command_id = command.id, point = %command.point, action = ?command.action, "command dispatched to device");
        // Each command gets its own result channel so its stages are signed against its digest.
        let (stage_tx, mut stage_rx) = mpsc::channel::<CommandResult>(4);
        let (id, action) = (command.id, command.action);
        if adapter.send(DeviceCommand { command, results: stage_tx }).await.is_err() {
            let outcome = self.refusal("adapter stopped".into());
            self.send_result(
                results,
                digest,
                CommandResult { command_id: id, edge: self.edge_id.clone(), action, outcome, at: Timestamp::now() },
            )
            .await;
            return;
        }
        let (identity, results) = (self.identity.clone(), results.clone());
        tokio::spawn(async move {
            while let Some(stage) = stage_rx.recv().await {
                if let Some(signed) = sign_result(&identity, digest, &stage).await
                    && results.send(signed).await.is_err()
                {
                    break;
                }
            }
        });
    }

    fn refusal(&self, reason: String) -> CommandOutcome {
        CommandOutcome::Refused { by: format!("edge {}", self.edge_id), reason }
    }

    async fn send_result(&self, results: &mpsc::Sender<SignedResult>, digest: gridtrust_trust::Hash, result: CommandResult) {
        if let Some(signed) = sign_result(&self.identity, digest, &result).await {
            let _ = results.send(signed).await;
        }
    }
}

/// Signs a result with the edge key (in the HSM, so off the async threads).
/// Every result names this edge as the one that answered: the cc accepts a device's answer only
/// when it is signed by, and names, the edge the command was for.
async fn sign_result(identity: &Arc<Identity>, digest: gridtrust_trust::Hash, result: &CommandResult) -> Option<SignedResult> {
    let identity = identity.clone();
    let result = CommandResult { edge: identity.me.name.clone(), ..result.clone() };
    let signed =
        tokio::task::spawn_blocking(move || SignedResult::sign(&result, digest, identity.signer.as_ref(), &identity.certificate)).await;
    match signed {
        Ok(Ok(s)) => Some(s),
        Ok(Err(e)) => {
            warn!(target: "alarm", error = %e, "cannot sign a command result; it is not sent");
            None
        }
        Err(e) => {
            warn!(error = %e, "signing task failed");
            None
        }
    }
}

async fn sleep_until_some(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
