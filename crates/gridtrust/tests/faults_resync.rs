//! Resync and liveness faults with the real roles: an IEC 104 RTU we drive, the edge, the hub
//! (in this process, or as a separate `gridtrust hub` process where it must be stopped and
//! started again on its data directory), the cc, and a SCADA client on the cc.
//!
//! 1. `a_cc_reads_every_point_valid_from_a_restarted_hub_without_the_rtu_sending_again`: the hub
//!    is stopped and started on the same data directory; a cc that connects then serves every
//!    point valid within seconds although the RTU sends nothing new (the hub rebuilt its
//!    latest-value image from the store).
//! 2. `a_restarted_cc_receives_every_batch_it_missed`: the cc is stopped, the RTU reports values,
//!    the cc starts again: the hub replays every batch it missed, in order (counted on the wire),
//!    not only the latest value.
//! 3. `an_idle_edge_stays_good_at_the_cc_beyond_the_staleness_bounds`: the RTU sends nothing for
//!    longer than the cc's `not_topical_s` and `invalid_s`; the edge's signed heartbeats keep
//!    its points good at SCADA.
//! 4. `batches_withheld_by_the_hub_make_points_not_topical_although_the_link_is_alive`: the hub
//!    (a relay) passes checkpoints but withholds every batch, heartbeats included: SCADA reads
//!    NT then IV, so a withholding hub is told from an idle edge.
//! 5. `a_blackholed_edge_link_is_redialled_within_the_ack_timeout_and_nothing_is_lost`: the path
//!    edge → hub drops every byte in both directions with its sockets open; the edge dials again
//!    within `[batch] ack_timeout_s` and every value the RTU sent meanwhile reaches the store.
//! 6. `the_hub_drops_an_edge_session_that_stays_silent`: an edge that connects and then sends
//!    nothing (no heartbeat) is disconnected by the hub within `edge_silence_s`.
//! 7. `a_cc_behind_more_than_the_replay_bound_is_resynced_with_an_alarm`: a cc away for more
//!    batches than `max_replay_batches` gets the latest values, and the hub alarms naming it.
//! 8. `a_lost_edge_queue_starts_a_new_chain_that_hub_and_cc_accept_with_an_alarm`: the edge's
//!    queue file is deleted (a replaced disk, a reinstalled device); the edge starts a new signed
//!    chain, and the hub and the cc (away meanwhile, then replayed across the restart) accept it
//!    with an alarm naming the restart instead of refusing every new batch as a fork.

#[path = "support/common.rs"]
mod common;
#[path = "support/mitm.rs"]
mod mitm;

use common::HubProcess;
use std::collections::{BTreeSet, HashMap};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
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
use gridtrust_iec104::server::{Server, ServerConfig, ServerHandle};
use gridtrust_model::AlarmKind;
use gridtrust_model::PointId;
use gridtrust_transport::{CcToHub, EdgeToHub, HubToCc, HubToEdge};

use mitm::Mitm;

/// The RTU's points: (point id, RTU IOA, SCADA IOA).
const POINTS: [(&str, u32, u32); 3] = [("LD0/MMXU1.TotW", 1, 10_001), ("LD0/MMXU1.TotVAr", 2, 10_002), ("LD0/MMXU1.Hz", 3, 10_003)];

/// The cc's staleness bounds in these tests.
const CC_EXTRA: &str = "[staleness]\nnot_topical_s = 5\ninvalid_s = 8\nhub_silence_s = 3\n";
const NOT_TOPICAL: Duration = Duration::from_secs(5);
const INVALID: Duration = Duration::from_secs(8);
/// The edge's defaults: a heartbeat after 3 s idle, a sent batch unacknowledged for 10 s ends
/// the link; and the hub's: an edge silent for 15 s is disconnected.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);
const EDGE_SILENCE: Duration = Duration::from_secs(15);
/// Slack on each bound: timers, the hops, a TLS handshake.
const SLACK: Duration = Duration::from_secs(3);

/// How long any awaited condition may take before the test fails.
const WAIT: Duration = Duration::from_secs(15);

fn float(value: f32) -> Element {
    Element::ShortFloat { value, quality: Qds::GOOD, time: None }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The files of one site: PKI, registry, mappings, and each role's configuration.
struct Files {
    dir: tempfile::TempDir,
    identities: Vec<(&'static str, String)>,
    rtu: ServerHandle,
}

impl Files {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let identities = provision(&d.join("pki"), &DemoKeys::Software).unwrap();
        let (rtu, _commands) = Server::bind("127.0.0.1:0".parse().unwrap(), None, ServerConfig::default()).await.unwrap();
        let (mut edge_map, mut scada_map) = (String::new(), String::new());
        for (i, (point, rtu_ioa, scada_ioa)) in POINTS.iter().enumerate() {
            rtu.register_point(InformationObject::new(*rtu_ioa, float(100.0 * (i as f32 + 1.0))), &[]).await.unwrap();
            edge_map.push_str(&format!("[[point]]\nid = \"{point}\"\nioa = {rtu_ioa}\ntype = \"float\"\n\n"));
            scada_map.push_str(&format!("[[point]]\nid = \"{point}\"\nioa = {scada_ioa}\ntype = \"float\"\n\n"));
        }
        std::fs::write(d.join("edge-map.toml"), edge_map).unwrap();
        std::fs::write(d.join("scada-map.toml"), scada_map).unwrap();
        write_dev_registry(&d.join("pki"), 1, &[("LD0", "edge-1")], d).unwrap();
        Self { dir, identities, rtu }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn identity(&self, name: &str) -> String {
        self.identities.iter().find(|(n, _)| *n == name).unwrap().1.clone()
    }

    fn hub_toml(&self, edge_listen: &str, cc_listen: &str) -> PathBuf {
        let path = self.path().join("hub.toml");
        std::fs::write(
            &path,
            format!(
                "data_dir = \"hub-data\"\nedge_listen = \"{edge_listen}\"\ncc_listen = \"{cc_listen}\"\ncheckpoint_interval_ms = 200\n\n{}\n{DEV_AUTHORITY_TABLE}",
                self.identity("hub")
            ),
        )
        .unwrap();
        path
    }

    fn edge_toml(&self, hub: &str, extra: &str) -> PathBuf {
        let path = self.path().join("edge.toml");
        std::fs::write(
            &path,
            format!(
                "edge_id = \"edge-1\"\ndata_dir = \"edge-data\"\n\n{}\n{extra}\n[hub]\naddress = \"{hub}\"\nserver_name = \"hub\"\n\n[[rtu]]\nname = \"rtu\"\naddress = \"{}\"\ncommon_address = 1\nmapping = \"edge-map.toml\"\ninterrogation_period_s = 3600\n",
                self.identity("edge-1"),
                self.rtu.local_addr()
            ),
        )
        .unwrap();
        path
    }

    fn cc_toml(&self, hub: &str) -> PathBuf {
        let path = self.path().join("cc.toml");
        std::fs::write(
            &path,
            format!(
                "cc_id = \"cc-1\"\ndata_dir = \"cc-data\"\n\n{}\n[hub]\naddress = \"{hub}\"\nserver_name = \"hub\"\n\n[iec104]\nlisten = \"127.0.0.1:0\"\nmapping = \"scada-map.toml\"\n\n[iec104.station]\ncommon_address = 1\n\n[[iec104.station.redundancy_groups]]\nname = \"scada\"\nmembers = [\"127.0.0.1\"]\n\n{CC_EXTRA}",
                self.identity("cc-1"),
            ),
        )
        .unwrap();
        path
    }

    async fn push(&self, rtu_ioa: u32, value: f32) {
        self.rtu.update(InformationObject::new(rtu_ioa, float(value))).await.unwrap();
    }
}

/// Connects SCADA to the cc and interrogates it until every point reads valid and topical;
/// returns how long that took, or what it saw last.
async fn scada_reads_every_point_valid(cc: SocketAddr, within: Duration) -> Result<Duration, HashMap<u32, Qds>> {
    let started = Instant::now();
    let deadline = started + within;
    let (scada, mut events) = Client::connect(cc, None, ClientConfig::default()).await.expect("SCADA connects to the cc");
    let mut seen: HashMap<u32, Qds> = HashMap::new();
    let valid = |seen: &HashMap<u32, Qds>| POINTS.iter().all(|(_, _, ioa)| seen.get(ioa).is_some_and(|q| !q.invalid && !q.not_topical));
    while Instant::now() < deadline {
        let _ = scada.interrogate(1, 20).await;
        let round = Instant::now() + Duration::from_millis(300);
        while let Ok(Some(event)) = tokio::time::timeout_at(round.min(deadline), events.recv()).await {
            if let ClientEvent::Asdu(asdu) = event {
                for o in asdu.objects {
                    if let Element::ShortFloat { quality, .. } = o.element {
                        seen.insert(o.ioa, quality);
                    }
                }
            }
        }
        if valid(&seen) {
            return Ok(started.elapsed());
        }
    }
    Err(seen)
}

async fn start_cc(config: &Path) -> Cc {
    Cc::start(CcConfig::load(config).unwrap()).await.unwrap()
}

/// Fault: the hub is stopped and started again. Before the fix it came back with an empty
/// latest-value image: a cc connecting then served nothing valid until each device reported
/// again (an idle RTU point: at its next interrogation, here an hour).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cc_reads_every_point_valid_from_a_restarted_hub_without_the_rtu_sending_again() {
    common::init_logs();
    let files = Files::new().await;
    let (edge_port, cc_port) = (free_port(), free_port());
    let hub_toml = files.hub_toml(&format!("127.0.0.1:{edge_port}"), &format!("127.0.0.1:{cc_port}"));
    let mut hub = HubProcess::start(&hub_toml);
    let edge = Edge::start(EdgeConfig::load(&files.edge_toml(&format!("127.0.0.1:{edge_port}"), "")).unwrap()).await.unwrap();
    let cc_toml = files.cc_toml(&format!("127.0.0.1:{cc_port}"));

    // The chain works: the RTU's general interrogation reached SCADA through the first hub.
    let cc = start_cc(&cc_toml).await;
    scada_reads_every_point_valid(cc.iec104_addr, WAIT).await.unwrap_or_else(|seen| panic!("first run: SCADA saw {seen:?}"));
    cc.shutdown().await;

    hub.stop();
    let mut hub = HubProcess::start(&hub_toml);
    // The RTU sends nothing from here on: only the restarted hub's store can give the values.
    let cc = start_cc(&cc_toml).await;
    match scada_reads_every_point_valid(cc.iec104_addr, Duration::from_secs(5)).await {
        Ok(took) => eprintln!("every point valid at SCADA {took:?} after the cc started against the restarted hub"),
        Err(seen) => panic!("after the hub restarted, SCADA did not read every point valid within 5 s; it saw {seen:?}"),
    }
    cc.shutdown().await;
    edge.shutdown();
    hub.stop();
}

/// Counts the distinct batches of edge-1 the hub sends to the cc, by batch seq.
fn count_batches(relay: &Mitm<CcToHub, HubToCc>) -> Arc<Mutex<BTreeSet<u64>>> {
    let seen = Arc::new(Mutex::new(BTreeSet::new()));
    let s = seen.clone();
    relay.down.set(move |m| {
        if let HubToCc::Batch(b) = &m {
            s.lock().unwrap().insert(b.header.batch_seq);
        }
        vec![m]
    });
    seen
}

/// Fault: the cc is down while events happen. Before the fix, its hello carried no position and
/// the hub gave it only each point's latest value: every change in between was skipped silently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_cc_receives_every_batch_it_missed() {
    const MISSED: u32 = 20;
    common::init_logs();
    let files = Files::new().await;
    let d = files.path();
    let hub = Hub::start(&HubConfig::load(&files.hub_toml("127.0.0.1:0", "127.0.0.1:0")).unwrap()).await.unwrap();
    let edge = Edge::start(EdgeConfig::load(&files.edge_toml(&hub.edge_addr.to_string(), "")).unwrap()).await.unwrap();
    let relay = Mitm::<CcToHub, HubToCc>::start(
        "127.0.0.1:0",
        &common::identity_in_site(d, "hub"),
        &hub.cc_addr.to_string(),
        "hub",
        &common::identity_in_site(d, "cc-1"),
    )
    .await
    .unwrap();
    let cc_toml = files.cc_toml(&relay.addr.to_string());
    let cc = start_cc(&cc_toml).await;
    scada_reads_every_point_valid(cc.iec104_addr, WAIT).await.unwrap_or_else(|seen| panic!("first run: SCADA saw {seen:?}"));
    // Let the cc persist its position (it does with each checkpoint, every 200 ms here).
    tokio::time::sleep(Duration::from_secs(1)).await;
    cc.shutdown().await;
    let last = |hub: &Hub| hub.store().last_batch("edge-1").unwrap().map(|l| l.batch_seq);
    let before = last(&hub).expect("edge-1 has batches at the hub");

    // Each value its own batch: the edge closes a batch 10 ms after its first record.
    for i in 0..MISSED {
        files.push(1, 1000.0 + i as f32).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    common::poll_until(WAIT, "the hub stored every missed value", || {
        hub.store()
            .latest(&PointId::new(POINTS[0].0).unwrap())
            .unwrap()
            .is_some_and(|r| r.value.as_f64() == f64::from(1000.0 + (MISSED - 1) as f32))
    })
    .await;
    let after = last(&hub).unwrap();
    let missed: BTreeSet<u64> = (before + 1..=after).collect();
    assert!(missed.len() >= MISSED as usize, "{} batches for {MISSED} values", missed.len());

    let received = count_batches(&relay);
    let cc = start_cc(&cc_toml).await;
    let deadline = Instant::now() + WAIT;
    loop {
        let got = received.lock().unwrap().clone();
        if missed.is_subset(&got) {
            eprintln!("the restarted cc received all {} batches it missed ({} batches in all)", missed.len(), got.len());
            break;
        }
        if Instant::now() > deadline {
            let lost: Vec<u64> = missed.difference(&got).copied().collect();
            panic!(
                "the restarted cc received {} of the {} batches it missed; never sent: {lost:?}",
                missed.len() - lost.len(),
                missed.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cc.shutdown().await;
    edge.shutdown();
    hub.shutdown();
}

/// RTU → edge → hub (in this process) → relay → cc → SCADA, with a relay on the edge's hop too.
struct Site {
    files: Files,
    hub: Hub,
    edge: Edge,
    edge_relay: Mitm<EdgeToHub, HubToEdge>,
    cc_relay: Mitm<CcToHub, HubToCc>,
    cc: Cc,
}

impl Site {
    async fn start() -> Self {
        let files = Files::new().await;
        let d = files.path();
        let hub = Hub::start(&HubConfig::load(&files.hub_toml("127.0.0.1:0", "127.0.0.1:0")).unwrap()).await.unwrap();
        let hub_id = common::identity_in_site(d, "hub");
        let edge_relay =
            Mitm::start("127.0.0.1:0", &hub_id, &hub.edge_addr.to_string(), "hub", &common::identity_in_site(d, "edge-1")).await.unwrap();
        let edge = Edge::start(EdgeConfig::load(&files.edge_toml(&edge_relay.addr.to_string(), "")).unwrap()).await.unwrap();
        let cc_relay =
            Mitm::start("127.0.0.1:0", &hub_id, &hub.cc_addr.to_string(), "hub", &common::identity_in_site(d, "cc-1")).await.unwrap();
        let cc = start_cc(&files.cc_toml(&cc_relay.addr.to_string())).await;
        scada_reads_every_point_valid(cc.iec104_addr, WAIT).await.unwrap_or_else(|seen| panic!("at start SCADA saw {seen:?}"));
        Self { files, hub, edge, edge_relay, cc_relay, cc }
    }

    async fn stop(self) {
        self.cc.shutdown().await;
        self.edge.shutdown();
        self.hub.shutdown();
    }
}

/// Connects SCADA and interrogates the cc until `pred` holds for what it reads at `ioa` (value
/// and quality), within `within`; what it read otherwise.
async fn scada_reads(cc: SocketAddr, ioa: u32, within: Duration, pred: impl Fn(f32, &Qds) -> bool) -> Result<Qds, Vec<(f32, Qds)>> {
    let deadline = Instant::now() + within;
    let (scada, mut events) = Client::connect(cc, None, ClientConfig::default()).await.expect("SCADA connects to the cc");
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        let _ = scada.interrogate(1, 20).await;
        let round = Instant::now() + Duration::from_millis(300);
        while let Ok(Some(event)) = tokio::time::timeout_at(round.min(deadline), events.recv()).await {
            let ClientEvent::Asdu(asdu) = event else { continue };
            for o in asdu.objects {
                if let Element::ShortFloat { value, quality, .. } = o.element
                    && o.ioa == ioa
                {
                    if pred(value, &quality) {
                        return Ok(quality);
                    }
                    seen.push((value, quality));
                }
            }
        }
    }
    Err(seen)
}

/// [`scada_reads`] on the first point's quality.
async fn scada_sees(cc: SocketAddr, within: Duration, pred: impl Fn(&Qds) -> bool) -> Result<Qds, Vec<(f32, Qds)>> {
    scada_reads(cc, POINTS[0].2, within, |_, q| pred(q)).await
}

/// Fault: nothing changes at the RTU. Before the fix the edge sent nothing then, and the cc
/// could not tell an idle edge from a withheld one: the points went NT, then IV.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_edge_stays_good_at_the_cc_beyond_the_staleness_bounds() {
    common::init_logs();
    let site = Site::start().await;
    let idle = Instant::now();
    tokio::time::sleep(INVALID + SLACK).await;
    match scada_reads_every_point_valid(site.cc.iec104_addr, Duration::from_secs(2)).await {
        Ok(_) => eprintln!("every point still valid and topical {:?} after the RTU last sent", idle.elapsed()),
        Err(seen) => panic!("the idle edge's points are not good {:?} after the RTU last sent: {seen:?}", idle.elapsed()),
    }
    site.stop().await;
}

/// Fault: the hub withholds every batch of the edge (heartbeats too) while its checkpoints keep
/// the link alive. The points must go NT, then IV, as the edge is not heard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_withheld_by_the_hub_make_points_not_topical_although_the_link_is_alive() {
    common::init_logs();
    let site = Site::start().await;
    let connections = site.cc_relay.connections.load(std::sync::atomic::Ordering::SeqCst);
    site.cc_relay.down.set(|m| if matches!(m, HubToCc::Batch(_)) { Vec::new() } else { vec![m] });
    let withheld = Instant::now();
    scada_sees(site.cc.iec104_addr, NOT_TOPICAL + SLACK, |q| q.not_topical)
        .await
        .unwrap_or_else(|seen| panic!("no NT within {:?} of withholding; SCADA saw {seen:?}", NOT_TOPICAL + SLACK));
    scada_sees(site.cc.iec104_addr, (withheld + INVALID + SLACK).saturating_duration_since(Instant::now()), |q| q.invalid)
        .await
        .unwrap_or_else(|seen| panic!("no IV within {:?} of withholding; SCADA saw {seen:?}", INVALID + SLACK));
    assert_eq!(
        site.cc_relay.connections.load(std::sync::atomic::Ordering::SeqCst),
        connections,
        "the link stayed up (checkpoints passed): only the edge was silent"
    );
    site.cc_relay.down.pass_all();
    site.stop().await;
}

/// Fault: the edge → hub path drops every byte both ways and keeps its sockets open (a
/// blackholed route). Before the fix the edge waited on that dead connection for TCP's
/// minutes, its queue growing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blackholed_edge_link_is_redialled_within_the_ack_timeout_and_nothing_is_lost() {
    const VALUES: u32 = 10;
    common::init_logs();
    let site = Site::start().await;
    let relay = &site.edge_relay;
    let connections = relay.connections.load(std::sync::atomic::Ordering::SeqCst);
    relay.up.set(|_| Vec::new());
    relay.down.set(|_| Vec::new());
    let since = Instant::now();
    for i in 0..VALUES {
        site.files.push(1, 5000.0 + i as f32).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let within = ACK_TIMEOUT + SLACK;
    while relay.connections.load(std::sync::atomic::Ordering::SeqCst) == connections {
        assert!(since.elapsed() < within, "the edge did not dial the hub again within {within:?} of the path going silent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("the edge dialled again {:?} after the path went silent", since.elapsed());
    relay.up.pass_all();
    relay.down.pass_all();
    let point = PointId::new(POINTS[0].0).unwrap();
    let stored = || {
        let history = site
            .hub
            .store()
            .history(&point, gridtrust_model::Timestamp(i64::MIN), gridtrust_model::Timestamp(i64::MAX), usize::MAX)
            .unwrap();
        (0..VALUES).filter(|i| history.iter().any(|r| r.value.as_f64() == f64::from(5000.0 + *i as f32))).count()
    };
    common::poll_until(ACK_TIMEOUT + WAIT, "every value sent during the blackhole is stored", || stored() == VALUES as usize).await;
    site.stop().await;
}

/// Fault: an edge session goes silent (the edge's side of a blackholed path, or a stalled edge).
/// Before the fix the hub kept it, and the edge's command route with it, until TCP gave up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_drops_an_edge_session_that_stays_silent() {
    common::init_logs();
    let files = Files::new().await;
    let hub = Hub::start(&HubConfig::load(&files.hub_toml("127.0.0.1:0", "127.0.0.1:0")).unwrap()).await.unwrap();
    let tls = common::identity_in_site(files.path(), "edge-1").client_config().unwrap();
    let (mut r, mut w) = gridtrust_transport::connect(&hub.edge_addr.to_string(), "hub", tls).await.unwrap();
    w.send(&EdgeToHub::Hello { edge_id: "edge-1".into(), protocol: gridtrust_transport::PROTOCOL_VERSION, checkpoint_size: None })
        .await
        .unwrap();
    assert!(matches!(r.recv::<HubToEdge>().await, Ok(Some(HubToEdge::Welcome { .. }))), "welcomed");
    let since = Instant::now();
    let within = EDGE_SILENCE + SLACK;
    // The hub may send nothing more; it must close the session.
    let end = tokio::time::timeout(within, async { while let Ok(Some(_)) = r.recv::<HubToEdge>().await {} }).await;
    assert!(end.is_ok(), "the hub kept a silent edge session beyond {within:?}");
    assert!(since.elapsed() >= EDGE_SILENCE - Duration::from_secs(1), "closed before the bound: {:?}", since.elapsed());
    eprintln!("the hub closed the silent edge session after {:?}", since.elapsed());
    drop(w);
    hub.shutdown();
}

/// Fault: the cc is away for longer than the hub replays (`max_replay_batches`, 5 here). It must
/// get the latest values and the hub must raise an alarm naming it, not skip the changes silently
/// nor replay without bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cc_behind_more_than_the_replay_bound_is_resynced_with_an_alarm() {
    const MISSED: u32 = 12;
    common::init_logs();
    let files = Files::new().await;
    let d = files.path();
    let hub_toml = files.hub_toml("127.0.0.1:0", "127.0.0.1:0");
    let text = std::fs::read_to_string(&hub_toml).unwrap().replacen(
        "checkpoint_interval_ms = 200\n",
        "checkpoint_interval_ms = 200\nmax_replay_batches = 5\n",
        1,
    );
    std::fs::write(&hub_toml, text).unwrap();
    let hub = Hub::start(&HubConfig::load(&hub_toml).unwrap()).await.unwrap();
    let edge = Edge::start(EdgeConfig::load(&files.edge_toml(&hub.edge_addr.to_string(), "")).unwrap()).await.unwrap();
    let relay = Mitm::<CcToHub, HubToCc>::start(
        "127.0.0.1:0",
        &common::identity_in_site(d, "hub"),
        &hub.cc_addr.to_string(),
        "hub",
        &common::identity_in_site(d, "cc-1"),
    )
    .await
    .unwrap();
    let cc_toml = files.cc_toml(&relay.addr.to_string());
    let cc = start_cc(&cc_toml).await;
    scada_reads_every_point_valid(cc.iec104_addr, WAIT).await.unwrap_or_else(|seen| panic!("first run: SCADA saw {seen:?}"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    cc.shutdown().await;
    let last = |hub: &Hub| hub.store().last_batch("edge-1").unwrap().map(|l| l.batch_seq);
    let before = last(&hub).expect("edge-1 has batches at the hub");
    for i in 0..MISSED {
        files.push(1, 1000.0 + i as f32).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let newest = f64::from(1000.0 + (MISSED - 1) as f32);
    common::poll_until(WAIT, "the hub stored every missed value", || {
        hub.store().latest(&PointId::new(POINTS[0].0).unwrap()).unwrap().is_some_and(|r| r.value.as_f64() == newest)
    })
    .await;
    let after = last(&hub).unwrap();
    assert!(after - before > 5, "more batches missed than the bound replays");

    let received = count_batches(&relay);
    let cc = start_cc(&cc_toml).await;
    common::poll_until(WAIT, "the hub alarmed the resync of cc-1", || {
        hub.alarms(false)
            .iter()
            .any(|a| a.message.contains("cc-1") && a.message.contains("resynced") && a.message.contains("max_replay_batches"))
    })
    .await;
    // The latest value arrives (the image), the changes in between do not.
    scada_reads_every_point_valid(cc.iec104_addr, WAIT).await.unwrap_or_else(|seen| panic!("after the resync SCADA saw {seen:?}"));
    let got = received.lock().unwrap().clone();
    let replayed = got.range(before + 1..after).count();
    assert!(replayed < (after - before - 1) as usize, "a resync sends the latest values, not every missed batch: {got:?}");
    eprintln!("resynced: {} of the {} missed batches sent (the latest values), alarm raised", replayed, after - before);
    cc.shutdown().await;
    edge.shutdown();
    hub.shutdown();
}

/// Fault: the edge loses its queue (a replaced disk, a reinstalled device) and starts again.
/// Before the fix its new chain started at batch 0 again: the hub refused every batch as a fork
/// of the stored chain and the edge's points went dark for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_edge_queue_starts_a_new_chain_that_hub_and_cc_accept_with_an_alarm() {
    const AFTER_RESTART: f32 = 4242.0;
    common::init_logs();
    let Site { files, hub, edge, edge_relay, cc_relay, cc } = Site::start().await;
    // The cc is away while the edge restarts: it must be replayed across the restart from its
    // position, not resynced because the new chain's numbers are far above it.
    tokio::time::sleep(Duration::from_secs(1)).await;
    cc.shutdown().await;
    let before = hub.store().last_batch("edge-1").unwrap().expect("edge-1 has batches at the hub").batch_seq;
    edge.shutdown();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let queue = files.path().join("edge-data/queue.redb");
    std::fs::remove_file(&queue).unwrap_or_else(|e| panic!("removing {}: {e}", queue.display()));
    let edge = Edge::start(EdgeConfig::load(&files.edge_toml(&edge_relay.addr.to_string(), "")).unwrap()).await.unwrap();
    let restarted = Instant::now();
    files.push(1, AFTER_RESTART).await;

    let point = PointId::new(POINTS[0].0).unwrap();
    common::poll_until(WAIT, "the hub stores the value the edge sent on its new chain", || {
        hub.store().latest(&point).unwrap().is_some_and(|r| r.value.as_f64() == f64::from(AFTER_RESTART))
    })
    .await;
    eprintln!("the hub stored the new chain's value {:?} after the edge restarted without its queue", restarted.elapsed());
    let after = hub.store().last_batch("edge-1").unwrap().unwrap().batch_seq;
    assert!(after > before, "the new chain is numbered after the old one: {after} after {before}");
    let restart = |message: &str| message.contains("restarted its chain") && message.contains(&format!("after {before}"));
    // The hub raises its alarm just after the store's commit, which the poll above may beat.
    let hub_restart_alarm = || hub.alarms(false).iter().any(|a| a.source == "edge-1" && restart(&a.message));
    if tokio::time::timeout(WAIT, async {
        while !hub_restart_alarm() {
            tokio::time::sleep(Duration::from_millis(20)).await
        }
    })
    .await
    .is_err()
    {
        let alarms: Vec<String> = hub.alarms(false).into_iter().map(|a| a.message).collect();
        panic!("the hub raises an alarm naming the restart and the last batch of the old chain: {alarms:?}");
    }
    let alarms = hub.alarms(false);
    assert!(!alarms.iter().any(|a| a.message.contains("forked")), "a restart is not a fork: {alarms:?}");

    // The cc verifies the new chain itself: the new value reaches SCADA as good, with an alarm.
    let cc = start_cc(&files.cc_toml(&cc_relay.addr.to_string())).await;
    scada_reads(cc.iec104_addr, POINTS[0].2, WAIT, |v, q| v == AFTER_RESTART && !q.invalid && !q.not_topical)
        .await
        .unwrap_or_else(|seen| panic!("SCADA saw {seen:?}"));
    eprintln!("SCADA read it valid {:?} after the edge restarted (the cc restarted meanwhile)", restarted.elapsed());
    let cc_restart_alarm = || cc.alarms().iter().any(|a| a.edge_id == "edge-1" && restart(&a.reason));
    if tokio::time::timeout(WAIT, async {
        while !cc_restart_alarm() {
            tokio::time::sleep(Duration::from_millis(20)).await
        }
    })
    .await
    .is_err()
    {
        let alarms: Vec<String> = cc.alarms().into_iter().map(|a| a.reason).collect();
        panic!("the cc raises its own restart alarm: {alarms:?}");
    }
    let resyncs: Vec<String> = hub.alarms(false).into_iter().filter(|a| a.kind == AlarmKind::Resync).map(|a| a.message).collect();
    assert!(resyncs.is_empty(), "the cc is replayed across the restart, not resynced: {resyncs:?}");
    Site { files, hub, edge, edge_relay, cc_relay, cc }.stop().await;
}
