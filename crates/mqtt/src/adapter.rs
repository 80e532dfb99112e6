//! The edge adapter: subscribes to the configured topics on one broker and hands every mapped
//! reading to the edge as a [`Datum`].
//!
//! No loss with QoS 1: the session is persistent (clean session off, a stable client id), so
//! the broker queues messages while the edge or the connection is down; a PUBLISH is
//! acknowledged only once all its data is committed to the edge's durable queue (the
//! durability receipt, [`gridtrust_adapter::Durability`]), so a message a crash of the edge
//! could still lose is redelivered. A payload that does not parse or map is counted
//! ([`IngestStats`]), logged with its topic and reason, and acknowledged in its turn: it would
//! not parse the second time either.
//!
//! Two tasks: one polls the rumqttc event loop without ever blocking on the edge (keep-alive,
//! reconnection with backoff, re-subscription), the other decodes, hands data to the edge and
//! acknowledges as commits advance. The broker's receive window (its max in-flight messages)
//! bounds what waits between them, so the adapter asks the edge to commit early when
//! [`CLOSE_BATCH_AT`] messages wait.
//!
//! A message redelivered after a crash between the commit and the PUBACK (or after a reconnect)
//! carries the DUP flag; one whose topic and payload are among the last [`RECENT_MESSAGES`]
//! messages received is acknowledged without being stored again. Their digests are the
//! adapter's source mark, committed with the data they cover, so this holds across a restart.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use gridtrust_adapter::{AdapterIo, RecentMessages};
use gridtrust_model::{PointId, Timestamp};
use rumqttc::{
    AsyncClient, Event, EventLoop, MqttOptions, Packet, Publish, QoS, SubscribeFilter, SubscribeReasonCode, TlsConfiguration, Transport,
};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::AbortOnDrop;
pub use crate::config::{MqttConfig, PayloadFormat, PointMapping, TlsFiles, TopicConfig};
use crate::router::Router;
pub use crate::stats::{IngestStats, StatsSnapshot};
pub use crate::tls::TlsSetupError;

/// Requests (acknowledgements, subscriptions) queued for the event loop.
const REQUEST_CAPACITY: usize = 1024;
/// Received messages waiting for the adapter. With QoS 1 the broker's in-flight window (20 by
/// default) keeps it far below this; with QoS 0 nothing else bounds it, so beyond it a message is
/// dropped (QoS 0 is at most once), counted ([`StatsSnapshot::overflow`]) and alarmed.
pub const PUBLISH_QUEUE: usize = 4096;
/// The first wait before reconnecting; doubles up to `reconnect_max_ms`.
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// Unacknowledged messages at which the adapter asks the edge to commit its open batch now:
/// half of mosquitto's default in-flight window (`max_inflight_messages` 20), so the broker
/// keeps sending while the commit runs.
pub const CLOSE_BATCH_AT: usize = 10;
/// Messages whose digests are kept to recognise redeliveries: well above mosquitto's default
/// in-flight window (20), which bounds what can be committed and not yet acknowledged.
pub const RECENT_MESSAGES: usize = 100;

/// A configured adapter, ready to run; built separately so that the caller can hold its
/// statistics and so that a bad TLS file fails before anything runs.
pub struct MqttAdapter {
    name: String,
    options: MqttOptions,
    filters: Vec<SubscribeFilter>,
    router: Router,
    reconnect_max: Duration,
    stats: Arc<IngestStats>,
}

impl MqttAdapter {
    /// Prepares the connection options (reading the TLS files) for a validated `config`.
    pub fn new(config: &MqttConfig) -> Result<Self, TlsSetupError> {
        let mut options = MqttOptions::new(config.client_id.clone(), config.host.clone(), config.port);
        options
            .set_clean_session(false)
            .set_manual_acks(true)
            .set_keep_alive(Duration::from_secs(config.keep_alive_s))
            // Room for the topic name and header beside the payload.
            .set_max_packet_size(config.max_payload_bytes.saturating_add(65_600), 64 * 1024);
        if let Some(files) = &config.tls {
            options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(crate::tls::client_config(files)?)));
        }
        let qos = if config.qos == 0 { QoS::AtMostOnce } else { QoS::AtLeastOnce };
        let router = Router::new(&config.topics);
        let filters = router.filters().map(|f| SubscribeFilter::new(f.to_owned(), qos)).collect();
        Ok(Self {
            name: config.name.clone(),
            options,
            filters,
            router,
            reconnect_max: Duration::from_millis(config.reconnect_max_ms),
            stats: Arc::new(IngestStats::default()),
        })
    }

    /// The adapter's counters, live.
    pub fn stats(&self) -> Arc<IngestStats> {
        self.stats.clone()
    }

    /// Runs until the edge stops (its data channel closes).
    pub async fn run(self, mut io: AdapterIo) {
        let (client, eventloop) = AsyncClient::new(self.options.clone(), REQUEST_CAPACITY);
        let (publishes_tx, mut publishes) = mpsc::channel(PUBLISH_QUEUE);
        let poller = tokio::spawn(poll_broker(
            self.name.clone(),
            eventloop,
            client.clone(),
            self.filters.clone(),
            publishes_tx,
            self.reconnect_max,
            self.stats.clone(),
        ));
        let _stop_poller = AbortOnDrop(poller);
        // Data sent to the edge, and the messages waiting for their data to be committed, each
        // with the count that covers it.
        let mut sent = 0u64;
        let mut unacked: VecDeque<(u64, Publish)> = VecDeque::new();
        let mut recent = io
            .durability
            .stored_mark()
            .map_or_else(|| RecentMessages::new(RECENT_MESSAGES), |m| RecentMessages::from_mark(RECENT_MESSAGES, m));
        loop {
            tokio::select! {
                publish = publishes.recv() => {
                    let Some(publish) = publish else { return };
                    let digest = RecentMessages::digest(&[publish.topic.as_ref(), publish.payload.as_ref()]);
                    if publish.dup && recent.contains(&digest) {
                        debug!(adapter = %self.name, topic = ?publish.topic, "redelivered message already stored");
                    } else {
                        recent.push_digest(digest);
                        if !self.handle(&io, &publish, &mut sent, &recent).await {
                            info!(adapter = %self.name, "edge stopped; MQTT adapter ends");
                            return;
                        }
                    }
                    unacked.push_back((sent, publish));
                    self.acknowledge(&client, &mut unacked, io.durability.committed()).await;
                    if unacked.len() == CLOSE_BATCH_AT {
                        io.durability.close_batch();
                    }
                }
                committed = io.durability.changed() => match committed {
                    Some(c) => self.acknowledge(&client, &mut unacked, c).await,
                    None => {
                        info!(adapter = %self.name, "edge stopped; MQTT adapter ends");
                        return;
                    }
                },
                Some(cmd) = io.commands.recv() => cmd.refuse("meters read over MQTT take no commands").await,
            }
        }
    }

    /// Acknowledges, in order, every message whose data is committed.
    async fn acknowledge(&self, client: &AsyncClient, unacked: &mut VecDeque<(u64, Publish)>, committed: u64) {
        while unacked.front().is_some_and(|(mark, _)| *mark <= committed) {
            let Some((_, publish)) = unacked.pop_front() else { break };
            if let Err(e) = client.ack(&publish).await {
                debug!(adapter = %self.name, error = %e, "acknowledgement not queued; the broker will redeliver");
            }
        }
    }

    /// Decodes one message and hands its data to the edge, counting it in `sent`, with `recent`
    /// (which lists it) as the mark committed with them; false when the edge has stopped (the
    /// message stays unacknowledged and is redelivered next time).
    async fn handle(&self, io: &AdapterIo, publish: &Publish, sent: &mut u64, recent: &RecentMessages) -> bool {
        self.stats.message();
        let topic = publish.topic.as_str();
        match self.router.route(topic) {
            None => {
                self.stats.unrouted();
                warn!(adapter = %self.name, topic, "message on a topic no [[topic]] filter matches; dropped");
            }
            Some(route) => match route.decode(&publish.payload, Timestamp::now()) {
                Err(e) => {
                    self.stats.parse_error(route.format());
                    warn!(adapter = %self.name, topic, format = route.format().name(), reason = %e, "payload refused");
                }
                Ok(decoded) => {
                    self.stats.unmapped(decoded.unmapped);
                    self.stats.mapping_errors(decoded.refused.len());
                    for e in &decoded.refused {
                        warn!(adapter = %self.name, topic, reason = %e, "reading refused by its mapping");
                    }
                    let count = decoded.data.len();
                    // Marked before the data are sent, so no commit can take them without it.
                    io.durability.mark(*sent + count as u64, recent.to_mark());
                    for datum in decoded.data {
                        if io.data.send(datum).await.is_err() {
                            return false;
                        }
                        *sent += 1;
                    }
                    self.stats.records(count);
                }
            },
        }
        true
    }
}

/// Runs the adapter for `config` until the edge stops; a configuration whose TLS files cannot
/// be used is logged and the adapter does not start.
pub async fn run(config: MqttConfig, io: AdapterIo) {
    match MqttAdapter::new(&config) {
        Ok(adapter) => adapter.run(io).await,
        Err(e) => warn!(adapter = %config.name, error = %e, "MQTT adapter not started"),
    }
}

/// Drives the MQTT connection: forwards PUBLISHes, subscribes after every connection, and
/// reconnects with exponential backoff. Waits on the adapter only for a QoS 1 message when the
/// queue is full (the broker's window makes that rare); a QoS 0 message is dropped then.
async fn poll_broker(
    name: String,
    mut eventloop: EventLoop,
    client: AsyncClient,
    filters: Vec<SubscribeFilter>,
    publishes: mpsc::Sender<Publish>,
    reconnect_max: Duration,
    stats: Arc<IngestStats>,
) {
    let mut backoff = MIN_BACKOFF;
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                info!(adapter = %name, session_present = ack.session_present, "connected to the MQTT broker");
                backoff = MIN_BACKOFF;
                // Also with a resumed session: the configuration may name filters the stored
                // session lacks, and subscribing again is harmless.
                if let Err(e) = client.try_subscribe_many(filters.clone()) {
                    warn!(adapter = %name, error = %e, "subscription not queued");
                }
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                for (code, filter) in ack.return_codes.iter().zip(&filters) {
                    if *code == SubscribeReasonCode::Failure {
                        warn!(adapter = %name, filter = %filter.path, "broker refused the subscription");
                    }
                }
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                if hand_over(&publishes, publish, &stats, &name).await == Handoff::AdapterGone {
                    return;
                }
            }
            Ok(_) => {}
            Err(e) => {
                warn!(adapter = %name, error = %e, retry_in_ms = backoff.as_millis(), "MQTT connection failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(reconnect_max);
            }
        }
    }
}

/// What became of a received message.
#[derive(Debug, PartialEq, Eq)]
enum Handoff {
    Queued,
    /// A QoS 0 message met a full queue: dropped and counted.
    Dropped,
    AdapterGone,
}

/// Queues a received message for the adapter: at once if there is room; a QoS 1 message waits
/// for room (the broker's window bounds how often); a QoS 0 message is dropped, counted, and
/// alarmed on the first and every 1000th.
async fn hand_over(publishes: &mpsc::Sender<Publish>, publish: Publish, stats: &IngestStats, name: &str) -> Handoff {
    match publishes.try_send(publish) {
        Ok(()) => Handoff::Queued,
        Err(mpsc::error::TrySendError::Full(publish)) if publish.qos == QoS::AtMostOnce => {
            let dropped = stats.overflow();
            if dropped == 1 || dropped.is_multiple_of(1000) {
                warn!(target: "alarm", adapter = %name, dropped, queue = PUBLISH_QUEUE, "QoS 0 messages dropped: the edge does not keep up with the broker");
            }
            Handoff::Dropped
        }
        Err(mpsc::error::TrySendError::Full(publish)) => match publishes.send(publish).await {
            Ok(()) => Handoff::Queued,
            Err(_) => Handoff::AdapterGone,
        },
        Err(mpsc::error::TrySendError::Closed(_)) => Handoff::AdapterGone,
    }
}

impl gridtrust_adapter::DeviceConfig for MqttConfig {
    const TABLE: &'static str = "mqtt";
    fn name(&self) -> &str {
        &self.name
    }
    fn validate(&self) -> Result<(), (String, String)> {
        MqttConfig::validate(self)
    }
    fn operated_points(&self) -> Vec<PointId> {
        MqttConfig::operated_points(self)
    }
    fn run(self, io: AdapterIo) -> gridtrust_adapter::AdapterTask {
        Box::pin(run(self, io))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publish(qos: QoS) -> Publish {
        Publish::new("meters/m1/json", qos, b"{}".to_vec())
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts_qos0_but_makes_qos1_wait() {
        let stats = IngestStats::default();
        let (tx, mut rx) = mpsc::channel(1);
        assert_eq!(hand_over(&tx, publish(QoS::AtMostOnce), &stats, "m").await, Handoff::Queued);
        assert_eq!(hand_over(&tx, publish(QoS::AtMostOnce), &stats, "m").await, Handoff::Dropped);
        assert_eq!(stats.snapshot().overflow, 1);
        // QoS 1 is never dropped: it waits until the adapter takes the message ahead of it.
        let waiting = hand_over(&tx, publish(QoS::AtLeastOnce), &stats, "m");
        tokio::pin!(waiting);
        assert!(tokio::time::timeout(Duration::from_millis(50), &mut waiting).await.is_err(), "QoS 1 must wait, not drop");
        rx.recv().await.expect("first message");
        assert_eq!(waiting.await, Handoff::Queued);
        assert_eq!(rx.recv().await.map(|p| p.qos), Some(QoS::AtLeastOnce));
        assert_eq!(stats.snapshot().overflow, 1);
        drop(rx);
        assert_eq!(hand_over(&tx, publish(QoS::AtMostOnce), &stats, "m").await, Handoff::AdapterGone);
    }
}
