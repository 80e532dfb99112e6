//! Store-and-forward to the hub: batches are on disk before they are sent and leave the queue
//! only when the hub acknowledges them, so a hub outage or an edge restart loses nothing; the
//! hub applies idempotently, so a resend doubles nothing.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use tracing::{debug, info, warn};

use gridtrust_model::{CommandOutcome, CommandResult, PointId, Timestamp};
use gridtrust_store::EdgeQueue;
use gridtrust_transport::{EdgeToHub, FrameError, HubToEdge, PROTOCOL_VERSION, connect};
use gridtrust_trust::{BatchHeader, SignedBatch};

use crate::adapter::DeviceCommand;

/// Counters for metrics and tests.
#[derive(Debug, Default)]
pub struct ForwardStats {
    pub batches_sent: AtomicU64,
    pub batches_acked: AtomicU64,
    pub connects: AtomicU64,
    pub commands_received: AtomicU64,
}

/// Everything the forwarder task needs.
pub struct Forwarder {
    pub edge_id: String,
    pub hub: gridtrust_transport::Upstream,
    pub tls: Arc<rustls::ClientConfig>,
    pub queue: Arc<EdgeQueue>,
    /// Signalled whenever a batch is appended to the queue.
    pub appended: Arc<Notify>,
    pub max_in_flight: usize,
    /// Which adapter operates each point.
    pub routes: HashMap<PointId, mpsc::Sender<DeviceCommand>>,
    pub stats: Arc<ForwardStats>,
}

impl Forwarder {
    /// Runs forever: connect, drain, reconnect with backoff.
    pub async fn run(self) {
        let mut backoff = Duration::from_millis(100);
        let (results_tx, mut results_rx) = mpsc::channel::<CommandResult>(1024);
        loop {
            match self.session(&results_tx, &mut results_rx).await {
                Ok(()) => info!(edge_id = %self.edge_id, "hub closed the connection"),
                Err(e) => warn!(edge_id = %self.edge_id, hub = %self.hub.address, error = %e, "hub link down"),
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
        results_tx: &mpsc::Sender<CommandResult>,
        results_rx: &mut mpsc::Receiver<CommandResult>,
    ) -> Result<(), FrameError> {
        let (mut r, mut w) = connect(&self.hub.address, &self.hub.server_name, self.tls.clone()).await?;
        w.send(&EdgeToHub::Hello { edge_id: self.edge_id.clone(), protocol: PROTOCOL_VERSION }).await?;
        let Some(HubToEdge::Welcome { last_batch_seq }) = r.recv().await? else {
            return Ok(());
        };
        self.stats.connects.fetch_add(1, Ordering::Relaxed);
        if let Some(last) = last_batch_seq {
            self.ack(last).await;
        }
        info!(edge_id = %self.edge_id, hub = %self.hub.address, ?last_batch_seq, "connected to hub");

        // Batches sent on this connection and not yet acknowledged.
        let mut sent_through: Option<u64> = last_batch_seq;
        let mut in_flight = 0usize;
        let (acks_tx, mut acks_rx) = mpsc::channel::<HubToEdge>(1024);
        let mut reader = r.spawn_into::<HubToEdge>(acks_tx);
        let result = 'session: loop {
            // Send as much as the window allows.
            if in_flight < self.max_in_flight {
                let queue = self.queue.clone();
                let after = sent_through;
                let limit = self.max_in_flight - in_flight;
                let pending = tokio::task::spawn_blocking(move || queue.pending(after, limit)).await;
                match pending {
                    Ok(Ok(batches)) => {
                        for b in batches {
                            let header = match BatchHeader::decode_canonical(&b.header_bytes) {
                                Ok(h) => h,
                                Err(e) => {
                                    warn!(target: "alarm", batch_seq = b.batch_seq, error = %e, "queued header unreadable; batch skipped");
                                    continue;
                                }
                            };
                            let batch = SignedBatch { header, signature: None, records: b.records };
                            if let Err(e) = w.send(&EdgeToHub::Batch(batch)).await {
                                break 'session Err(e);
                            }
                            sent_through = Some(b.batch_seq);
                            in_flight += 1;
                            self.stats.batches_sent.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Ok(Err(e)) => warn!(error = %e, "queue read failed"),
                    Err(e) => warn!(error = %e, "queue task failed"),
                }
            }
            tokio::select! {
                _ = self.appended.notified(), if in_flight < self.max_in_flight => {}
                msg = acks_rx.recv() => match msg {
                    Some(HubToEdge::Ack { batch_seq }) => {
                        in_flight = in_flight.saturating_sub(1);
                        self.ack(batch_seq).await;
                    }
                    Some(HubToEdge::Command(command)) => {
                        self.stats.commands_received.fetch_add(1, Ordering::Relaxed);
                        self.dispatch(command, results_tx).await;
                    }
                    Some(HubToEdge::Welcome { .. }) => debug!("second welcome ignored"),
                    None => break match (&mut reader).await {
                        Ok(r) => r,
                        Err(_) => Ok(()),
                    },
                },
                Some(result) = results_rx.recv() => {
                    if let Err(e) = w.send(&EdgeToHub::CommandResult(result)).await {
                        break Err(e);
                    }
                }
                // Re-check the queue now and then, in case a notification raced with a send.
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        };
        reader.abort();
        result
    }

    async fn ack(&self, batch_seq: u64) {
        let queue = self.queue.clone();
        match tokio::task::spawn_blocking(move || queue.ack_through(batch_seq)).await {
            Ok(Ok(())) => {
                self.stats.batches_acked.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Err(e)) => warn!(batch_seq, error = %e, "queue ack failed"),
            Err(e) => warn!(batch_seq, error = %e, "queue task failed"),
        }
    }

    /// Checks a command and hands it to the adapter that operates its point. Refusals go back
    /// to the hub with the reason.
    async fn dispatch(&self, command: gridtrust_model::Command, results: &mpsc::Sender<CommandResult>) {
        let refuse = |reason: String| CommandResult {
            command_id: command.id,
            action: command.action,
            outcome: CommandOutcome::Refused { by: format!("edge {}", self.edge_id), reason },
            at: Timestamp::now(),
        };
        if Timestamp::now() > command.expires_at {
            warn!(command_id = command.id, point = %command.point, "expired command refused");
            let _ = results.send(refuse("command expired".into())).await;
            return;
        }
        let Some(adapter) = self.routes.get(&command.point) else {
            warn!(command_id = command.id, point = %command.point, "command for a point no adapter operates refused");
            let _ = results.send(refuse(format!("no adapter operates {}", command.point))).await;
            return;
        };
        info!(command_id = command.id, point = %command.point, action = ?command.action, "command dispatched to device");
        let id = command.id;
        let action = command.action;
        if adapter.send(DeviceCommand { command, results: results.clone() }).await.is_err() {
            let _ = results
                .send(CommandResult {
                    command_id: id,
                    action,
                    outcome: CommandOutcome::Refused { by: format!("edge {}", self.edge_id), reason: "adapter stopped".into() },
                    at: Timestamp::now(),
                })
                .await;
        }
    }
}
