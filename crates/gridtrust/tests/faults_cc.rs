//! Faults between the hub and the control-centre connector (cc), with the real roles running:
//! an IEC 104 RTU we drive, the edge, the hub, a relay between hub and cc ([`mitm::Mitm`]) that
//! the tests cut (the hub is unreachable) and bring back, the cc, and a SCADA client on the cc.
//!
//! 1. `scada_sees_nt_then_iv_when_the_hub_is_unreachable_and_good_again_when_it_returns`: once
//!    the cc's link to the hub is down, SCADA reads the feeder's power with NT after
//!    `[staleness] not_topical_s` and with IV after `invalid_s`, each step alarmed naming the
//!    edge; with the hub back, the power is good again.
//! 2. `scada_sees_nt_when_the_hub_withholds_one_edges_batches`: the link stays up but the hub
//!    (the relay) drops every message: the edge's silence alone is enough.
//! 3. `a_command_given_while_the_hub_is_unreachable_is_refused_and_never_executed_later`: SCADA
//!    selects while the hub is unreachable; the cc answers a negative ACTCON within
//!    `[commands] forward_timeout_ms` + 1 s, and once the hub is back the RTU never receives it.
//! 4. `a_command_whose_confirmation_does_not_come_in_time_is_refused_and_never_sent_again`: the
//!    link is up but the command is swallowed on the way to the hub; SCADA gets a negative
//!    ACTCON within the forward timeout + 1 s, and the RTU never receives the command.

#[path = "support/common.rs"]
mod common;
#[path = "support/mitm.rs"]
mod mitm;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use gridtrust::chain::{DemoKeys, provision};
use gridtrust::registry::{DEV_AUTHORITY_TABLE, write_dev_registry};
use gridtrust_cc::{Alarm, Cc, CcConfig};
use gridtrust_edge::Edge;
use gridtrust_edge::config::EdgeConfig;
use gridtrust_hub::{Hub, HubConfig};
use gridtrust_iec104::asdu::{Asdu, Cause, Cot, DoublePointValue, Element, InformationObject, Qds, TypeId};
use gridtrust_iec104::client::{Client, ClientConfig, ClientEvent, ClientHandle};
use gridtrust_iec104::server::{CommandMode, IncomingCommand, Server, ServerConfig, ServerHandle};
use gridtrust_transport::{CcToHub, HubToCc};

use mitm::Mitm;

const POINT: &str = "LD0/MMXU1.TotW";
const BREAKER: &str = "LD0/XCBR1.Pos";
const RTU_IOA: u32 = 1;
const RTU_COMMAND_IOA: u32 = 2;
const SCADA_IOA: u32 = 10_001;
const SCADA_COMMAND_IOA: u32 = 20_001;

/// The staleness and command bounds the cc runs with in these tests (small, to keep them short).
const CC_EXTRA: &str = "[staleness]\nnot_topical_s = 2\ninvalid_s = 4\nhub_silence_s = 3\n\n[commands]\nforward_timeout_ms = 1000\n";
const NOT_TOPICAL: Duration = Duration::from_secs(2);
const INVALID: Duration = Duration::from_secs(4);
const FORWARD_TIMEOUT: Duration = Duration::from_millis(1000);
/// Slack on each bound: the cc's timers and the IEC 104 hop.
const SLACK: Duration = Duration::from_secs(2);

/// How long any other awaited condition may take before the test fails.
const WAIT: Duration = Duration::from_secs(10);

fn float(value: f32) -> Element {
    Element::ShortFloat { value, quality: Qds::GOOD, time: None }
}

/// RTU → edge → hub → relay → cc → SCADA.
struct Site {
    dir: tempfile::TempDir,
    rtu: ServerHandle,
    rtu_commands: mpsc::Receiver<IncomingCommand>,
    hub: Hub,
    _edge: Edge,
    /// `None` while the hub is unreachable.
    relay: Option<Mitm<CcToHub, HubToCc>>,
    relay_addr: SocketAddr,
    cc: Cc,
    scada: ClientHandle,
    events: mpsc::Receiver<ClientEvent>,
}

impl Site {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let identities = provision(&d.join("pki"), &DemoKeys::Software).unwrap();
        let identity = |name: &str| identities.iter().find(|(n, _)| *n == name).unwrap().1.clone();

        let (rtu, rtu_commands) = Server::bind("127.0.0.1:0".parse().unwrap(), None, ServerConfig::default()).await.unwrap();
        rtu.register_point(InformationObject::new(RTU_IOA, float(-1.0)), &[]).await.unwrap();
        rtu.register_command(RTU_COMMAND_IOA, TypeId::CDcNa1, CommandMode::SelectBeforeOperate).await.unwrap();
        std::fs::write(
            d.join("edge-map.toml"),
            format!(
                "[[point]]\nid = \"{POINT}\"\nioa = {RTU_IOA}\ntype = \"float\"\n\n[[command]]\nid = \"{BREAKER}\"\nioa = {RTU_COMMAND_IOA}\ntype = \"double\"\nsbo = true\n"
            ),
        )
        .unwrap();
        std::fs::write(
            d.join("scada-map.toml"),
            format!(
                "[[point]]\nid = \"{POINT}\"\nioa = {SCADA_IOA}\ntype = \"float\"\n\n[[command]]\nid = \"{BREAKER}\"\nioa = {SCADA_COMMAND_IOA}\ntype = \"double\"\nsbo = true\n"
            ),
        )
        .unwrap();

        write_dev_registry(&d.join("pki"), 1, &[("LD0", "edge-1")], d).unwrap();
        std::fs::write(
            d.join("hub.toml"),
            format!(
                "data_dir = \"hub-data\"\nedge_listen = \"127.0.0.1:0\"\ncc_listen = \"127.0.0.1:0\"\ncheckpoint_interval_ms = 200\n\n{}\n{DEV_AUTHORITY_TABLE}",
                identity("hub")
            ),
        )
        .unwrap();
        let hub = Hub::start(&HubConfig::load(&d.join("hub.toml")).unwrap()).await.unwrap();
        std::fs::write(
            d.join("edge.toml"),
            format!(
                "edge_id = \"edge-1\"\ndata_dir = \"edge-data\"\n\n{}\n[hub]\naddress = \"{}\"\nserver_name = \"hub\"\n\n[[rtu]]\nname = \"rtu\"\naddress = \"{}\"\ncommon_address = 1\nmapping = \"edge-map.toml\"\ninterrogation_period_s = 3600\n",
                identity("edge-1"),
                hub.edge_addr,
                rtu.local_addr()
            ),
        )
        .unwrap();
        let edge = Edge::start(EdgeConfig::load(&d.join("edge.toml")).unwrap()).await.unwrap();

        let relay = Self::relay(d, &hub, "127.0.0.1:0").await;
        let relay_addr = relay.addr;
        std::fs::write(
            d.join("cc.toml"),
            format!(
                "cc_id = \"cc-1\"\ndata_dir = \"cc-data\"\n\n{}\n[hub]\naddress = \"{relay_addr}\"\nserver_name = \"hub\"\n\n[iec104]\nlisten = \"127.0.0.1:0\"\nmapping = \"scada-map.toml\"\n\n[iec104.station]\ncommon_address = 1\n\n[[iec104.station.redundancy_groups]]\nname = \"scada\"\nmembers = [\"127.0.0.1\"]\n\n{CC_EXTRA}",
                identity("cc-1"),
            ),
        )
        .unwrap();
        let cc = Cc::start(CcConfig::load(&d.join("cc.toml")).unwrap()).await.unwrap();
        let (scada, events) = Client::connect(cc.iec104_addr, None, ClientConfig::default()).await.expect("SCADA connects to the cc");
        Self { dir, rtu, rtu_commands, hub, _edge: edge, relay: Some(relay), relay_addr, cc, scada, events }
    }

    async fn relay(d: &Path, hub: &Hub, listen: &str) -> Mitm<CcToHub, HubToCc> {
        Mitm::start(listen, &common::identity_in_site(d, "hub"), &hub.cc_addr.to_string(), "hub", &common::identity_in_site(d, "cc-1"))
            .await
            .unwrap()
    }

    /// The hub becomes unreachable: every connection cut, new ones refused.
    fn cut(&mut self) {
        if let Some(relay) = self.relay.take() {
            relay.shutdown();
        }
    }

    /// The hub is reachable again at the same address.
    async fn restore(&mut self) {
        let deadline = Instant::now() + WAIT;
        loop {
            match Mitm::start(
                &self.relay_addr.to_string(),
                &common::identity_in_site(self.dir.path(), "hub"),
                &self.hub.cc_addr.to_string(),
                "hub",
                &common::identity_in_site(self.dir.path(), "cc-1"),
            )
            .await
            {
                Ok(relay) => {
                    self.relay = Some(relay);
                    return;
                }
                Err(e) => {
                    assert!(Instant::now() < deadline, "cannot listen again on {}: {e}", self.relay_addr);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    async fn push(&self, value: f32) {
        self.rtu.update(InformationObject::new(RTU_IOA, float(value))).await.unwrap();
    }

    /// Reads the power until a value satisfies `pred` within `within`; every value seen, or
    /// what was seen on timeout.
    async fn try_until(&mut self, within: Duration, pred: &dyn Fn(f32, &Qds) -> bool) -> Result<Vec<(f32, Qds)>, Vec<(f32, Qds)>> {
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            let Ok(event) = tokio::time::timeout_at(deadline, self.events.recv()).await else {
                return Err(seen);
            };
            match event {
                Some(ClientEvent::Asdu(asdu)) => {
                    for o in asdu.objects {
                        if let (SCADA_IOA, Element::ShortFloat { value, quality, .. }) = (o.ioa, o.element) {
                            seen.push((value, quality));
                            if pred(value, &quality) {
                                return Ok(seen);
                            }
                        }
                    }
                }
                Some(_) => {}
                None => panic!("SCADA connection ended"),
            }
        }
    }

    /// Pushes values at the RTU until one reaches SCADA as good (every link up).
    async fn good_again(&mut self, base: f32) {
        let deadline = Instant::now() + WAIT;
        for i in 0u16.. {
            assert!(Instant::now() < deadline, "no value reached SCADA as good within {WAIT:?}");
            let value = base + f32::from(i);
            self.push(value).await;
            if self.try_until(Duration::from_millis(500), &|v, q| v == value && !q.invalid && !q.not_topical).await.is_ok() {
                return;
            }
        }
    }

    async fn alarm(&self, what: &str, pred: impl Fn(&Alarm) -> bool) -> Alarm {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(alarm) = self.cc.alarms().into_iter().find(|a| pred(a)) {
                return alarm;
            }
            assert!(Instant::now() < deadline, "no alarm {what} within {WAIT:?}; alarms: {:#?}", self.cc.alarms());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn select(value: DoublePointValue) -> Asdu {
    Asdu::single(
        TypeId::CDcNa1,
        Cot::new(Cause::Activation),
        1,
        vec![InformationObject::new(SCADA_COMMAND_IOA, Element::DoubleCommand { value, qualifier: 0, select: true, time: None })],
    )
}

/// Waits until SCADA reads the power with the quality `pred` accepts, within `within` of `since`.
async fn quality_within(site: &mut Site, what: &str, since: Instant, within: Duration, pred: impl Fn(&Qds) -> bool) {
    let left = (since + within).saturating_duration_since(Instant::now());
    if let Err(seen) = site.try_until(left, &|_, q| pred(q)).await {
        panic!("SCADA did not read the power {what} within {within:?}; it saw {seen:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scada_sees_nt_then_iv_when_the_hub_is_unreachable_and_good_again_when_it_returns() {
    let mut site = Site::start().await;
    site.good_again(1000.0).await;

    site.cut();
    let cut = Instant::now();
    quality_within(&mut site, "with NT", cut, NOT_TOPICAL + SLACK, |q| q.not_topical).await;
    site.alarm("naming edge-1 as not topical", |a| a.edge_id == "edge-1" && a.reason.contains("not topical")).await;
    quality_within(&mut site, "with IV", cut, INVALID + SLACK, |q| q.invalid).await;
    site.alarm("naming edge-1 as invalid", |a| a.edge_id == "edge-1" && a.reason.contains("invalid")).await;

    site.restore().await;
    site.good_again(2000.0).await;
    site.alarm("saying edge-1 is heard again", |a| a.edge_id == "edge-1" && a.reason.contains("heard again")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scada_sees_nt_when_the_hub_withholds_one_edges_batches() {
    let mut site = Site::start().await;
    site.good_again(1000.0).await;

    // The link stays up; nothing the hub sends reaches the cc.
    site.relay.as_ref().expect("relay up").down.set(|_| Vec::new());
    let withheld = Instant::now();
    quality_within(&mut site, "with NT", withheld, NOT_TOPICAL + SLACK, |q| q.not_topical).await;
    quality_within(&mut site, "with IV", withheld, INVALID + SLACK, |q| q.invalid).await;

    site.relay.as_ref().expect("relay up").down.pass_all();
    site.good_again(2000.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_given_while_the_hub_is_unreachable_is_refused_and_never_executed_later() {
    let mut site = Site::start().await;
    site.good_again(1000.0).await;

    site.cut();
    // Let the cc notice the cut (its session ends at once: the relay closes the socket).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let answer = site.refused_in_time().await;

    site.restore().await;
    site.good_again(2000.0).await;
    site.never_executed().await;
    answer.unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_whose_confirmation_does_not_come_in_time_is_refused_and_never_sent_again() {
    let mut site = Site::start().await;
    site.good_again(1000.0).await;

    // The link stays up; the hub never gets the command (a hop that swallows it).
    site.relay.as_ref().expect("relay up").up.set(|m| if matches!(m, CcToHub::Command(_)) { Vec::new() } else { vec![m] });
    let answer = site.refused_in_time().await;

    site.relay.as_ref().expect("relay up").up.pass_all();
    site.good_again(2000.0).await;
    site.never_executed().await;
    answer.unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_held_back_past_the_forward_timeout_is_refused_by_the_edge_when_released() {
    let mut site = Site::start().await;
    site.good_again(1000.0).await;

    // A hop holds the command back until SCADA has had its refusal, then lets it go.
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    {
        let held = held.clone();
        site.relay.as_ref().expect("relay up").up.set(move |m| {
            if matches!(m, CcToHub::Command(_)) {
                held.lock().unwrap().push(m);
                Vec::new()
            } else {
                vec![m]
            }
        });
    }
    let answer = site.refused_in_time().await;
    let relay = site.relay.as_ref().expect("relay up");
    relay.up.pass_all();
    let held: Vec<CcToHub> = held.lock().unwrap().drain(..).collect();
    assert_eq!(held.len(), 1, "the hop held the select");
    for m in held {
        assert_eq!(relay.up.inject(m), 1, "released to the hub");
    }
    // The command's validity ended when the cc gave up on it: the edge refuses it.
    site.never_executed().await;
    answer.unwrap_or_else(|e| panic!("{e}"));
}

/// Fault: the path from the hub goes silent with its sockets open (a blackholed route, a
/// stalled hub). The cc must drop the link and dial again within `[staleness] hub_silence_s`,
/// not wait for the kernel's timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blackholed_hub_link_is_dropped_and_redialled_within_the_silence_bound() {
    let mut site = Site::start().await;
    site.good_again(1000.0).await;
    let relay = site.relay.as_ref().expect("relay up");
    let connections = relay.connections.load(std::sync::atomic::Ordering::SeqCst);
    relay.down.set(|_| Vec::new());
    let since = Instant::now();
    let deadline = since + Duration::from_secs(3 + 3);
    while relay.connections.load(std::sync::atomic::Ordering::SeqCst) == connections {
        assert!(Instant::now() < deadline, "the cc did not redial within 6 s of the hub link going silent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(since.elapsed() >= Duration::from_secs(2), "not before the bound: {:?}", since.elapsed());
    relay.down.pass_all();
    site.good_again(2000.0).await;
}

impl Site {
    /// SCADA selects the breaker; the cc must answer negatively within the forward timeout
    /// and a second. The verdict is returned, not asserted, so a test also sees what happens
    /// to the command afterwards.
    async fn refused_in_time(&self) -> Result<(), String> {
        let within = FORWARD_TIMEOUT + Duration::from_secs(1);
        let sent = Instant::now();
        match tokio::time::timeout(within, self.scada.send_command(select(DoublePointValue::Off))).await {
            Err(_) => Err(format!("no ACTCON within {within:?}")),
            Ok(Err(e)) => Err(format!("the select was not answered: {e}")),
            Ok(Ok(reply)) if reply.is_positive() => {
                Err(format!("a select the cc could not forward was confirmed: {:?}", reply.confirmation))
            }
            Ok(Ok(_)) => {
                assert!(sent.elapsed() <= within);
                Ok(())
            }
        }
    }

    /// Long enough for anything the cc kept to go through: the RTU must receive nothing.
    async fn never_executed(&mut self) {
        let late = tokio::time::timeout(Duration::from_secs(3), self.rtu_commands.recv()).await;
        assert!(late.is_err(), "the RTU received a command SCADA had given up on: {:?}", late.map(|c| c.map(|c| c.asdu)));
    }
}
