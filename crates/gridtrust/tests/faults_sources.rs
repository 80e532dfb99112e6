//! Faults between the sources and the edge, with the real roles running: an IEC 104 RTU we
//! drive (our own server, which keeps unacknowledged ASDUs and sends them again to the next
//! connection), a mosquitto broker, the edge, and the hub whose store is checked at the end.
//! The edge is "killed" by aborting its tasks without the graceful stop ([`Edge::shutdown`]):
//! what is not committed to its queue is gone, as after kill -9.
//!
//! 1. `iec104_values_the_rtu_saw_acknowledged_survive_edge_kills`: the edge is killed right
//!    after the RTU saw every ASDU acknowledged; after the restart every value is in the hub
//!    store exactly once.
//! 2. `iec104_a_retransmission_after_an_edge_crash_is_stored_once`: the edge is killed after
//!    committing values the RTU has not seen acknowledged; the RTU sends them again to the
//!    restarted edge, and each is stored once.
//! 3. `mqtt_messages_survive_an_edge_kill_and_redelivery_is_stored_once`: the same with
//!    mosquitto: what the broker saw PUBACKed is stored, what it redelivers is stored once.
//! 4. `mqtt_a_redelivery_after_a_crash_between_commit_and_puback_is_stored_once`: the edge
//!    commits while the broker is away, so its PUBACKs never arrive; killed, restarted, it gets
//!    the messages again (DUP) and stores each once.
//! 5. `iec104_rate_per_rtu_with_acknowledgements_after_commit`: the rate one RTU reaches.
//! 6. `rtu_link_drop_shows_its_points_invalid_at_scada`: the RTU goes away; SCADA, reading the
//!    cc, sees the RTU's point with IV instead of its last value as good.

#[path = "support/common.rs"]
mod common;
#[path = "../../mqtt/tests/common/mod.rs"]
mod mqtt_peers;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use tokio::time::Instant;

use gridtrust::chain::{DemoKeys, provision};
use gridtrust::registry::{DEV_AUTHORITY_TABLE, write_dev_registry};
use gridtrust_cc::{Cc, CcConfig};
use gridtrust_edge::Edge;
use gridtrust_edge::config::EdgeConfig;
use gridtrust_hub::{Hub, HubConfig};
use gridtrust_iec104::asdu::{Element, InformationObject, Qds};
use gridtrust_iec104::client::{Client, ClientConfig, ClientEvent};
use gridtrust_iec104::server::{ClientRange, GroupStatus, RedundancyGroup, Server, ServerConfig, ServerHandle};
use gridtrust_model::{PointId, Timestamp};
use gridtrust_mqtt::sim::{BrokerOptions, Publisher};

const POINT: &str = "LD0/MMXU1.TotW";
const METER_POINT: &str = "LD0/GGIO1.AnIn1";
const RTU_IOA: u32 = 1;
const SCADA_IOA: u32 = 10_001;
/// How long any awaited condition may take before the test fails.
const WAIT: Duration = Duration::from_secs(30);

fn float(value: f32) -> Element {
    Element::ShortFloat { value, quality: Qds::GOOD, time: None }
}

/// RTU (and optionally a broker) → edge → hub.
struct Site {
    dir: tempfile::TempDir,
    /// The `[identity]` table of each provisioned role.
    identities: Vec<(&'static str, String)>,
    rtu: ServerHandle,
    hub: Hub,
    edge: Option<Edge>,
}

impl Site {
    /// `edge_extra` is appended to `edge.toml` (batch window, link timers, an `[[mqtt]]` table).
    async fn start(rtu_link: &str, edge_extra: &str) -> Self {
        common::init_logs();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let identities = provision(&d.join("pki"), &DemoKeys::Software).unwrap();
        let identity = |name: &str| identities.iter().find(|(n, _)| *n == name).unwrap().1.clone();
        // One redundancy group for every connection of the edge: what one connection left
        // unacknowledged is sent again on the next.
        let group = RedundancyGroup { name: "edge".into(), members: vec![ClientRange::single(Ipv4Addr::LOCALHOST.into())] };
        let (rtu, _commands) = Server::bind(
            "127.0.0.1:0".parse().unwrap(),
            None,
            ServerConfig { max_queue: 100_000, redundancy_groups: vec![group], ..ServerConfig::default() },
        )
        .await
        .unwrap();
        rtu.register_point(InformationObject::new(RTU_IOA, float(-1.0)), &[]).await.unwrap();
        std::fs::write(d.join("edge-map.toml"), format!("[[point]]\nid = \"{POINT}\"\nioa = {RTU_IOA}\ntype = \"float\"\n")).unwrap();
        write_dev_registry(&d.join("pki"), 1, &[("LD0", "edge-1")], d).unwrap();
        std::fs::write(
            d.join("hub.toml"),
            format!(
                "data_dir = \"hub-data\"\nedge_listen = \"127.0.0.1:0\"\ncc_listen = \"127.0.0.1:0\"\n\n{}\n{DEV_AUTHORITY_TABLE}",
                identity("hub")
            ),
        )
        .unwrap();
        let hub = Hub::start(&HubConfig::load(&d.join("hub.toml")).unwrap()).await.unwrap();
        std::fs::write(
            d.join("edge.toml"),
            format!(
                "edge_id = \"edge-1\"\ndata_dir = \"edge-data\"\n\n{}\n[hub]\naddress = \"{}\"\nserver_name = \"hub\"\n\n[[rtu]]\nname = \"rtu\"\naddress = \"{}\"\ncommon_address = 1\nmapping = \"edge-map.toml\"\ninterrogation_period_s = 3600\n{rtu_link}\n{edge_extra}",
                identity("edge-1"),
                hub.edge_addr,
                rtu.local_addr()
            ),
        )
        .unwrap();
        let mut site = Self { dir, identities, rtu, hub, edge: None };
        site.start_edge().await;
        site
    }

    /// Starts a cc on this hub for SCADA clients on 127.0.0.1.
    async fn start_cc(&self) -> Cc {
        let d = self.dir.path();
        std::fs::write(d.join("scada-map.toml"), format!("[[point]]\nid = \"{POINT}\"\nioa = {SCADA_IOA}\ntype = \"float\"\n")).unwrap();
        std::fs::write(
            d.join("cc.toml"),
            format!(
                "cc_id = \"cc-1\"\ndata_dir = \"cc-data\"\n\n{}\n[hub]\naddress = \"{}\"\nserver_name = \"hub\"\n\n[iec104]\nlisten = \"127.0.0.1:0\"\nmapping = \"scada-map.toml\"\n\n[iec104.station]\ncommon_address = 1\n\n[[iec104.station.redundancy_groups]]\nname = \"scada\"\nmembers = [\"127.0.0.1\"]\n",
                self.identities.iter().find(|(n, _)| *n == "cc-1").unwrap().1,
                self.hub.cc_addr,
            ),
        )
        .unwrap();
        Cc::start(CcConfig::load(&d.join("cc.toml")).unwrap()).await.unwrap()
    }

    fn edge_toml(&self) -> PathBuf {
        self.dir.path().join("edge.toml")
    }

    /// Starts the edge; after a kill the old queue handle may still be closing, so retry.
    async fn start_edge(&mut self) {
        let deadline = Instant::now() + WAIT;
        loop {
            match Edge::start(EdgeConfig::load(&self.edge_toml()).unwrap()).await {
                Ok(edge) => {
                    self.edge = Some(edge);
                    return;
                }
                Err(e) => {
                    assert!(Instant::now() < deadline, "edge does not start again: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// The edge dies: no flush of the open batch, no acknowledgements after this.
    fn kill_edge(&mut self) {
        if let Some(edge) = self.edge.take() {
            edge.shutdown();
        }
    }

    /// The RTU's view of the edge's redundancy group.
    async fn rtu_group(&self) -> Option<GroupStatus> {
        self.rtu.status().await.unwrap().into_iter().find(|g| g.name == "edge")
    }

    /// Waits until the RTU's link to the edge is up and nothing it sent waits for an ack.
    async fn rtu_all_acknowledged(&self) {
        let deadline = Instant::now() + WAIT;
        loop {
            let g = self.rtu_group().await;
            if g.as_ref().is_some_and(|g| g.active.is_some() && g.queued == 0 && g.in_flight == 0) {
                return;
            }
            assert!(Instant::now() < deadline, "the RTU still waits for acknowledgements: {g:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn push(&self, value: f32) {
        self.rtu.update(InformationObject::new(RTU_IOA, float(value))).await.unwrap();
    }

    /// How often each of the values `0..n` of `point` is in the hub store (other values ignored).
    fn stored(&self, point: &str, n: usize) -> Vec<u32> {
        let point = PointId::new(point).unwrap();
        let records = self.hub.store().history(&point, Timestamp(i64::MIN), Timestamp(i64::MAX), usize::MAX).unwrap();
        let mut seen = vec![0u32; n];
        for r in &records {
            let v = r.value.as_f64();
            if v >= 0.0 && (v as usize) < n {
                seen[v as usize] += 1;
            }
        }
        seen
    }

    /// Waits until each of `0..n` is stored at least once, then a little longer for doubles.
    async fn wait_stored(&self, point: &str, n: usize) -> Vec<u32> {
        let deadline = Instant::now() + WAIT;
        while self.stored(point, n).contains(&0) {
            if Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        self.stored(point, n)
    }
}

/// Fails naming the lost and the doubled values.
fn assert_exactly_once(seen: &[u32], what: &str) {
    let lost: Vec<usize> = seen.iter().enumerate().filter(|(_, n)| **n == 0).map(|(i, _)| i).collect();
    let doubled: Vec<usize> = seen.iter().enumerate().filter(|(_, n)| **n > 1).map(|(i, _)| i).collect();
    assert!(lost.is_empty(), "{what}: {} of {} acknowledged values lost: {lost:?}", lost.len(), seen.len());
    assert!(doubled.is_empty(), "{what}: {} of {} values stored twice: {doubled:?}", doubled.len(), seen.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iec104_values_the_rtu_saw_acknowledged_survive_edge_kills() {
    const ROUNDS: usize = 3;
    const PER_ROUND: usize = 16; // two w-windows
    // A wide batch window: a value the RTU saw acknowledged must not wait for it.
    let mut site = Site::start("[rtu.link]\nt2 = 1\n", "[batch]\nmax_delay_ms = 2000\n").await;
    site.rtu_all_acknowledged().await;
    for round in 0..ROUNDS {
        for i in 0..PER_ROUND {
            site.push((round * PER_ROUND + i) as f32).await;
        }
        // The value the next connection's interrogation reads is not one of the counted ones.
        site.push(-1.0).await;
        site.rtu_all_acknowledged().await;
        site.kill_edge();
        site.start_edge().await;
    }
    let seen = site.wait_stored(POINT, ROUNDS * PER_ROUND).await;
    site.rtu_all_acknowledged().await;
    assert_exactly_once(&seen, "IEC 104 across edge kills");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iec104_a_retransmission_after_an_edge_crash_is_stored_once() {
    const VALUES: usize = 3; // fewer than w: acknowledged only after t2
    let mut site = Site::start("[rtu.link]\nt2 = 3\n", "[batch]\nmax_delay_ms = 50\n").await;
    site.rtu_all_acknowledged().await;
    for i in 0..VALUES {
        site.push(i as f32).await;
    }
    site.push(-1.0).await;
    // Committed (the hub has them) while the RTU still waits for the acknowledgement.
    let stored = site.wait_stored(POINT, VALUES).await;
    assert!(!stored.contains(&0), "values reached the hub: {stored:?}");
    let g = site.rtu_group().await.expect("the edge is connected");
    assert_eq!(g.in_flight, VALUES + 1, "the RTU has not seen them acknowledged yet");
    site.kill_edge();
    site.start_edge().await;
    // The RTU sends them again to the new connection.
    site.rtu_all_acknowledged().await;
    let seen = site.wait_stored(POINT, VALUES).await;
    assert_exactly_once(&seen, "IEC 104 retransmission");
}

/// `edge.toml`'s table for a meter on `broker`, its `/seq` member feeding [`METER_POINT`].
fn meter_table(broker: &mqtt_peers::Mosquitto) -> String {
    format!(
        "[[mqtt]]\nname = \"meter\"\nhost = \"127.0.0.1\"\nport = {}\nclient_id = \"edge-1-meter\"\nreconnect_max_ms = 200\n\n[[mqtt.topic]]\nfilter = \"meters/+/json\"\nformat = \"json\"\n[[mqtt.topic.point]]\nname = \"/seq\"\npoint = \"{METER_POINT}\"\n",
        broker.port
    )
}

/// A site whose edge reads a meter on `broker` with a 2 s batch window, and a publisher; returns
/// once the edge is subscribed (a probe, value 1000, reached the store).
async fn mqtt_site(broker: &mqtt_peers::Mosquitto) -> (Site, Publisher) {
    let site = Site::start("", &format!("[batch]\nmax_delay_ms = 2000\n\n{}", meter_table(broker))).await;
    let mut publisher =
        Publisher::start(&BrokerOptions { host: "127.0.0.1".into(), port: broker.port, client_id: "meter-sim".into(), tls: None }).unwrap();
    let deadline = Instant::now() + WAIT;
    while site.stored(METER_POINT, 1001)[1000] == 0 {
        assert!(Instant::now() < deadline, "the edge never subscribed");
        publisher.publish("meters/probe/json", br#"{"seq": 1000}"#.to_vec()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    (site, publisher)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_messages_survive_an_edge_kill_and_redelivery_is_stored_once() {
    const MESSAGES: usize = 30;
    if !mqtt_peers::mosquitto_available("mqtt_messages_survive_an_edge_kill_and_redelivery_is_stored_once") {
        return;
    }
    let broker = mqtt_peers::Mosquitto::start(None);
    let (mut site, mut publisher) = mqtt_site(&broker).await;
    for i in 0..MESSAGES {
        publisher.publish("meters/m1/json", format!(r#"{{"seq": {i}}}"#).into_bytes()).await.unwrap();
    }
    publisher.flush().await;
    // The broker has delivered them to the edge, which acknowledged what it chose to; the open
    // batch is still open (2 s window) when the edge dies.
    tokio::time::sleep(Duration::from_millis(500)).await;
    site.kill_edge();
    site.start_edge().await;
    let seen = site.wait_stored(METER_POINT, MESSAGES).await;
    assert_exactly_once(&seen, "MQTT across an edge kill");
    drop(broker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_a_redelivery_after_a_crash_between_commit_and_puback_is_stored_once() {
    const MESSAGES: usize = 5; // fewer than the early-close threshold: committed at the deadline
    if !mqtt_peers::mosquitto_available("mqtt_a_redelivery_after_a_crash_between_commit_and_puback_is_stored_once") {
        return;
    }
    let mut broker = mqtt_peers::Mosquitto::start(None);
    let (mut site, mut publisher) = mqtt_site(&broker).await;
    for i in 0..MESSAGES {
        publisher.publish("meters/m1/json", format!(r#"{{"seq": {i}}}"#).into_bytes()).await.unwrap();
    }
    publisher.flush().await;
    // The edge holds them in its open batch; the broker goes away before the commit, so the
    // PUBACKs that follow the commit never reach it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    broker.stop();
    let stored = site.wait_stored(METER_POINT, MESSAGES).await;
    assert!(!stored.contains(&0), "committed and forwarded: {stored:?}");
    site.kill_edge();
    broker.restart();
    site.start_edge().await;
    // The broker redelivers all of them to the restarted edge.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let seen = site.wait_stored(METER_POINT, MESSAGES).await;
    assert_exactly_once(&seen, "MQTT redelivery");
    drop(publisher);
}

/// The rate one RTU reaches when the edge acknowledges only committed ASDUs (k = 12, w = 8, the
/// demo's 10 ms batch window, signed batches): each commit releases a window, so the rate is
/// about w ASDUs per commit latency. Printed for the README; the assertion is only a floor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iec104_rate_per_rtu_with_acknowledgements_after_commit() {
    const VALUES: usize = 2_000;
    let site = Site::start("", "[batch]\nmax_delay_ms = 10\n").await;
    site.rtu_all_acknowledged().await;
    let t0 = std::time::Instant::now();
    for i in 0..VALUES {
        site.push(i as f32).await;
    }
    site.push(-1.0).await;
    site.rtu_all_acknowledged().await;
    let elapsed = t0.elapsed();
    let rate = (VALUES + 1) as f64 / elapsed.as_secs_f64();
    eprintln!(
        "{} ASDUs from one RTU acknowledged after commit in {elapsed:?}: {rate:.0} ASDUs/s (k = 12, w = 8, batch window 10 ms)",
        VALUES + 1
    );
    let seen = site.wait_stored(POINT, VALUES).await;
    assert_exactly_once(&seen, "IEC 104 at full rate");
    assert!(rate > 100.0, "{rate:.0} ASDUs/s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtu_link_drop_shows_its_points_invalid_at_scada() {
    let site = Site::start("", "").await;
    site.rtu_all_acknowledged().await;
    let cc = site.start_cc().await;
    let (_scada, mut events) = Client::connect(cc.iec104_addr, None, ClientConfig::default()).await.expect("SCADA connects to the cc");
    site.push(42.0).await;
    // Reads the power until `pred` holds for (value, quality).
    let mut until = async |what: &str, pred: &dyn Fn(f32, &Qds) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = Vec::new();
        loop {
            let Ok(Some(event)) = tokio::time::timeout_at(deadline, events.recv()).await else {
                panic!("SCADA never read {what}; it read {seen:?}");
            };
            if let ClientEvent::Asdu(asdu) = event {
                for o in asdu.objects {
                    if let (SCADA_IOA, Element::ShortFloat { value, quality, .. }) = (o.ioa, o.element) {
                        seen.push((value, quality));
                        if pred(value, &quality) {
                            return;
                        }
                    }
                }
            }
        }
    };
    until("42 with good quality", &|v, q| v == 42.0 && !q.invalid).await;
    // The RTU goes away (its link drops; the edge cannot reconnect).
    site.rtu.shutdown().await;
    until("42 marked invalid (IV)", &|v, q| v == 42.0 && q.invalid).await;
}
