//! Attack suite, point authority and command results (issue 11, items 1 and 2): who may report a
//! point, and who may answer for a command. Each test runs the real roles and ends in the
//! specific refusal or alarm.
//!
//! - `a_rogue_edge_with_a_copy_of_the_substation_cannot_take_over_a_breaker` (the whole chain,
//!   as tried on the demo): a second edge with a valid VIEWER certificate reads its own copy of
//!   the simulated RTU, whose breaker F1 it opened, and reports F1's points. The hub refuses its
//!   batches with an `authority` alarm naming edge, point, owner and registry version; SCADA keeps
//!   reading the real breaker closed and good; a SCADA command to F1 reaches the real RTU only.
//! - `a_hostile_hub_cannot_make_the_cc_serve_a_non_owners_value` (fake hub in front of the real
//!   cc): the hub passes on a validly signed batch of edge-2 carrying edge-1's point; the cc
//!   checks the registry itself, does not serve it, keeps the owner's value and raises an alarm.
//! - `a_hostile_hub_cannot_confirm_a_command_to_scada` (fake hub, real cc, SCADA client): the
//!   hub answers a SCADA command with "confirmed" signed by itself, then by another edge; SCADA
//!   gets a negative confirmation each time, with an alarm; the target edge's answer is accepted.
//! - `a_rolled_back_or_unauthorised_registry_is_refused_by_the_cc`: the hub sends an older
//!   registry version than the cc holds, or one signed by a non-engineer; the cc keeps its own.
//! - `the_hub_refuses_to_start_with_a_rolled_back_or_unauthorised_registry`.

#[path = "support/common.rs"]
mod common;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use gridtrust::chain::{Chain, ChainOptions, DemoKeys, SCADA_IOA_OFFSET, provision};
use gridtrust::registry::write_dev_registry;
use gridtrust_cc::{Cc, CcConfig};
use gridtrust_edge::Edge;
use gridtrust_edge::batcher::{Batcher, Datum, Resume};
use gridtrust_edge::config::EdgeConfig;
use gridtrust_hub::{Hub, HubConfig};
use gridtrust_iec104::asdu::{Asdu, Cause, Cot, DoublePointValue, Element, InformationObject, TypeId};
use gridtrust_iec104::client::{Client, ClientConfig, ClientEvent, ClientHandle};
use gridtrust_keys::KeyConfig;
use gridtrust_model::AlarmKind;
use gridtrust_model::{CommandOutcome, CommandResult, PointId, Quality, Timestamp, Value};
use gridtrust_pki::{DevPki, IdentityKind, Role};
use gridtrust_sim::substation::ioa;
use gridtrust_sim::{SubstationRtu, SubstationSpec};
use gridtrust_transport::identity::{Identity, IdentityConfig};
use gridtrust_transport::{Accepted, CcToHub, HubToCc, Listener, handshake};
use gridtrust_trust::SignedBatch;
use gridtrust_trust::command::SignedResult;
use gridtrust_trust::registry::SignedRegistry;

const STEP: Duration = Duration::from_secs(20);
const F1: u32 = 1000;

fn identity(pki: &Path, name: &str) -> Identity {
    Identity::load(&IdentityConfig::new(
        pki.join("ca.crt.pem"),
        pki.join(format!("{name}.crt.pem")),
        pki.join("crl.pem"),
        KeyConfig::Software { path: pki.join(format!("{name}.key.pem")) },
    ))
    .unwrap()
}

/// The next value of `want_ioa` that satisfies `pred`.
async fn next_value(events: &mut mpsc::Receiver<ClientEvent>, want_ioa: u32, pred: impl Fn(&Element) -> bool) -> Element {
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        let ev = tokio::time::timeout_at(deadline, events.recv()).await.expect("value in time").expect("connection open");
        if let ClientEvent::Asdu(asdu) = ev {
            for o in asdu.objects {
                if o.ioa == want_ioa && pred(&o.element) {
                    return o.element;
                }
            }
        }
    }
}

/// Every value of `want_ioa` SCADA receives during `window`.
async fn values_during(events: &mut mpsc::Receiver<ClientEvent>, want_ioa: u32, window: Duration) -> Vec<Element> {
    let deadline = tokio::time::Instant::now() + window;
    let mut seen = Vec::new();
    while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, events.recv()).await {
        if let ClientEvent::Asdu(asdu) = ev {
            seen.extend(asdu.objects.into_iter().filter(|o| o.ioa == want_ioa).map(|o| o.element));
        }
    }
    seen
}

fn double_command(ioa: u32, value: DoublePointValue, select: bool) -> Asdu {
    Asdu::single(
        TypeId::CDcNa1,
        Cot::new(Cause::Activation),
        1,
        vec![InformationObject::new(ioa, Element::DoubleCommand { value, qualifier: 0, select, time: None })],
    )
}

// ---------------------------------------------------------------------------------------------
// The whole chain, as tried on the demo

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rogue_edge_with_a_copy_of_the_substation_cannot_take_over_a_breaker() {
    let dir = tempfile::tempdir().unwrap();
    let chain = Chain::start(&ChainOptions::for_tests(dir.path())).await.unwrap();
    let (scada, mut events) = Client::connect(chain.scada_addr(), None, ClientConfig::default()).await.unwrap();
    let breaker = SCADA_IOA_OFFSET + F1 + ioa::BREAKER;
    next_value(
        &mut events,
        breaker,
        |e| matches!(e, Element::DoublePoint { value: DoublePointValue::On, quality, .. } if !quality.invalid),
    )
    .await;

    // The rogue: a copy of the substation whose breaker F1 is open, read by edge-2, which holds
    // a valid VIEWER edge certificate from the same CA.
    let rogue_rtu = SubstationRtu::start("127.0.0.1:0", SubstationSpec::default(), Duration::from_millis(100)).await.unwrap();
    let (rtu_client, _rtu_events) = Client::connect(rogue_rtu.addr, None, ClientConfig::default()).await.unwrap();
    let rtu_breaker_command = F1 + ioa::BREAKER_COMMAND;
    assert!(rtu_client.send_command(double_command(rtu_breaker_command, DoublePointValue::Off, true)).await.unwrap().is_positive());
    assert!(rtu_client.send_command(double_command(rtu_breaker_command, DoublePointValue::Off, false)).await.unwrap().is_positive());
    let d = chain.config_dir.clone();
    let pki = DevPki::open(&d.join("pki"));
    pki.ensure_identity(IdentityKind::Edge, "edge-2", &[Role::Viewer]).unwrap();
    let edge_1_toml = std::fs::read_to_string(d.join("edge.toml")).unwrap();
    let rogue_toml = edge_1_toml
        .replace("edge_id = \"edge-1\"", "edge_id = \"edge-2\"")
        .replace("data_dir = \"edge-data\"", "data_dir = \"edge-2-data\"")
        .replace("pki/edge-1.", "pki/edge-2.")
        .replace(&format!("address = \"{}\"", chain.rtu.addr), &format!("address = \"{}\"", rogue_rtu.addr));
    // Only the RTU: the field devices are edge-1's alone.
    let rogue_toml = rogue_toml.split("\n[[modbus]]").next().unwrap().split("\n[[pmu]]").next().unwrap().to_owned();
    std::fs::write(d.join("edge-2.toml"), rogue_toml).unwrap();
    let rogue_edge = Edge::start(EdgeConfig::load(&d.join("edge-2.toml")).unwrap()).await.unwrap();

    // The hub refuses edge-2's batches, naming edge, point, owner and registry version.
    common::poll_until(STEP, "the hub's authority alarm", || {
        chain.hub.alarms(true).iter().any(|a| a.kind == AlarmKind::Authority && a.source == "edge-2")
    })
    .await;
    let alarm = chain.hub.alarms(true).into_iter().find(|a| a.kind == AlarmKind::Authority).unwrap();
    eprintln!("hub alarm: {}", alarm.message);
    assert!(alarm.message.contains("belongs to edge edge-1 in point registry version 1"), "{}", alarm.message);
    assert!(alarm.point.as_deref().is_some_and(|p| p.starts_with("F")), "{alarm:?}");

    // SCADA keeps reading the real breaker: closed and good, never the rogue's open.
    let general_interrogation = scada.interrogate(1, gridtrust_iec104::asdu::QOI_STATION).await.unwrap();
    assert!(general_interrogation.is_positive());
    let seen = values_during(&mut events, breaker, Duration::from_secs(2)).await;
    assert!(!seen.is_empty(), "the interrogation answered the breaker");
    for e in &seen {
        assert!(
            matches!(e, Element::DoublePoint { value: DoublePointValue::On, quality, .. } if !quality.invalid),
            "SCADA saw the breaker as {e:?}"
        );
    }
    let stored = chain.hub.store().latest(&PointId::new("F1/XCBR1.Pos").unwrap()).unwrap().unwrap();
    assert_eq!(stored.value, Value::Double(gridtrust_model::DoublePoint::On), "the hub keeps the owner's value");

    // A SCADA command to F1 goes to edge-1 and the real RTU only.
    let scada_command = SCADA_IOA_OFFSET + F1 + ioa::BREAKER_COMMAND;
    assert!(scada.send_command(double_command(scada_command, DoublePointValue::Off, true)).await.unwrap().is_positive());
    let execute = scada.send_command(double_command(scada_command, DoublePointValue::Off, false)).await.unwrap();
    assert!(execute.is_positive(), "execute confirmed by the owner's device");
    next_value(
        &mut events,
        breaker,
        |e| matches!(e, Element::DoublePoint { value: DoublePointValue::Off, quality, .. } if !quality.invalid),
    )
    .await;
    assert_eq!(rogue_edge.stats.commands_received.load(std::sync::atomic::Ordering::Relaxed), 0, "the rogue edge never saw a command");
    assert!(
        chain.cc.alarms().iter().all(|a| a.edge_id != "edge-2"),
        "nothing of edge-2 reached the cc through the honest hub: {:?}",
        chain.cc.alarms()
    );
    rogue_edge.shutdown();
    rogue_rtu.shutdown().await;
    chain.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// A hostile hub in front of the real cc

const POWER: &str = "F1/MMXU1.TotW";
const BREAKER_POINT: &str = "F1/XCBR1.Pos";
const POWER_IOA: u32 = 100;
const BREAKER_COMMAND_IOA: u32 = 200;

/// A fake hub holding the real hub's certificate and key, with one cc connected.
struct HostileHub {
    to_cc: mpsc::Sender<HubToCc>,
    from_cc: mpsc::Receiver<CcToHub>,
}

/// A site: PKI (edge-1, edge-2, hub, cc-1, engineer), a signed registry granting F1 to edge-1,
/// the cc's configuration pointing at a hostile hub, and SCADA connected to the cc.
struct CcSite {
    dir: tempfile::TempDir,
    hub: HostileHub,
    cc: Cc,
    scada: ClientHandle,
    events: mpsc::Receiver<ClientEvent>,
}

impl CcSite {
    fn pki(&self) -> PathBuf {
        self.dir.path().join("pki")
    }

    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let tables = provision(&d.join("pki"), &DemoKeys::Software).unwrap();
        DevPki::open(&d.join("pki")).ensure_identity(IdentityKind::Edge, "edge-2", &[Role::Viewer]).unwrap();
        let registry = write_dev_registry(&d.join("pki"), 2, &[("F1", "edge-1"), ("F2", "edge-2")], d).unwrap();
        let hub_identity = identity(&d.join("pki"), "hub");
        let listener = Listener::bind("127.0.0.1:0", hub_identity.server_config().unwrap()).await.unwrap();
        let hub_addr: SocketAddr = listener.local_addr().unwrap();
        std::fs::write(
            d.join("scada-map.toml"),
            format!(
                "[[point]]\nid = \"{POWER}\"\nioa = {POWER_IOA}\ntype = \"float\"\n\n[[command]]\nid = \"{BREAKER_POINT}\"\nioa = {BREAKER_COMMAND_IOA}\ntype = \"double\"\nsbo = false\n"
            ),
        )
        .unwrap();
        let cc_table = tables.iter().find(|(n, _)| *n == "cc-1").unwrap().1.clone();
        std::fs::write(
            d.join("cc.toml"),
            format!(
                "cc_id = \"cc-1\"\ndata_dir = \"cc-data\"\n\n{cc_table}\n[hub]\naddress = \"{hub_addr}\"\nserver_name = \"hub\"\n\n[iec104]\nlisten = \"127.0.0.1:0\"\nmapping = \"scada-map.toml\"\n\n[[iec104.station.redundancy_groups]]\nname = \"scada\"\nmembers = [\"127.0.0.1\"]\n"
            ),
        )
        .unwrap();
        let cc = Cc::start(CcConfig::load(&d.join("cc.toml")).unwrap()).await.unwrap();
        let hub = HostileHub::accept(listener, registry).await;
        // Commands are routed by the registry: SCADA starts once the cc holds it.
        let held = d.join("cc-data").join("registry.signed");
        common::poll_until(STEP, "the cc holds the point registry", || held.exists()).await;
        let (scada, events) = Client::connect(cc.iec104_addr, None, ClientConfig::default()).await.unwrap();
        Self { dir, hub, cc, scada, events }
    }

    /// A batch of `edge` for `point`, signed with that edge's key.
    fn batch(&self, edge: &str, point: &str, value: f32, resume: Resume) -> SignedBatch {
        let signer = identity(&self.pki(), edge);
        let mut batcher = Batcher::new(edge, 1000, Duration::from_millis(10), resume);
        let datum = Datum {
            point: PointId::new(point).unwrap(),
            value: Value::Float(value),
            quality: Quality::GOOD,
            source_time: None,
            received_at: Timestamp::now(),
        };
        assert!(batcher.push(Instant::now(), datum).is_none());
        let mut batch = batcher.flush(Timestamp::now()).unwrap();
        batch.sign(signer.signer.as_ref(), signer.certificate_id).unwrap();
        batch
    }

    fn certificate(&self, name: &str) -> Vec<u8> {
        identity(&self.pki(), name).certificate
    }

    fn alarms_with(&self, text: &str) -> usize {
        self.cc.alarms().iter().filter(|a| a.reason.contains(text)).count()
    }
}

impl HostileHub {
    async fn accept(listener: Listener, registry: SignedRegistry) -> Self {
        let acceptor = listener.acceptor();
        let (tcp, peer) = tokio::time::timeout(STEP, listener.accept_tcp()).await.expect("the cc connects").unwrap();
        let Accepted { mut reader, mut writer, .. } = handshake(&acceptor, tcp, peer).await.unwrap();
        let hello = reader.recv::<CcToHub>().await.unwrap();
        assert!(matches!(hello, Some(CcToHub::Hello { .. })), "{hello:?}");
        writer.send(&HubToCc::Registry(registry)).await.unwrap();
        let (to_cc, mut outgoing) = mpsc::channel::<HubToCc>(64);
        let (from_tx, from_cc) = mpsc::channel(64);
        tokio::spawn(async move {
            while let Some(m) = outgoing.recv().await {
                if writer.send(&m).await.is_err() {
                    break;
                }
            }
        });
        tokio::spawn(async move {
            while let Ok(Some(m)) = reader.recv::<CcToHub>().await {
                if from_tx.send(m).await.is_err() {
                    break;
                }
            }
        });
        Self { to_cc, from_cc }
    }

    async fn send(&self, m: HubToCc) {
        self.to_cc.send(m).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_hub_cannot_make_the_cc_serve_a_non_owners_value() {
    let mut s = CcSite::start().await;
    s.hub.send(HubToCc::Certificates(vec![s.certificate("edge-1"), s.certificate("edge-2")])).await;
    let genuine = s.batch("edge-1", POWER, 10.0, Resume::FRESH);
    s.hub.send(HubToCc::Batch(genuine)).await;
    next_value(&mut s.events, POWER_IOA, |e| matches!(e, Element::ShortFloat { value, quality, .. } if *value == 10.0 && !quality.invalid))
        .await;

    // edge-2's own, validly signed batch, carrying edge-1's point (a later seq, a later time).
    let foreign = s.batch("edge-2", POWER, 666.0, Resume { next_seq: 1_000_000, next_batch_seq: 0, prev_header_hash: [0; 32] });
    s.hub.send(HubToCc::Batch(foreign)).await;
    common::poll_until(STEP, "the cc's authority alarm", || s.alarms_with("does not own") > 0).await;
    let alarm = s.cc.alarms().into_iter().find(|a| a.reason.contains("does not own")).unwrap();
    assert_eq!(alarm.edge_id, "edge-2");
    assert!(alarm.reason.contains(&format!("{POWER} belongs to edge edge-1 in point registry version 2")), "{}", alarm.reason);
    let seen = values_during(&mut s.events, POWER_IOA, Duration::from_millis(500)).await;
    assert!(seen.is_empty(), "the non-owner's value never reaches SCADA: {seen:?}");

    // The owner's next value is still served good: the foreign record did not displace it.
    let next = s.batch("edge-1", POWER, 11.0, Resume { next_seq: 1, next_batch_seq: 1, prev_header_hash: [0; 32] });
    s.hub.send(HubToCc::Batch(next)).await;
    next_value(&mut s.events, POWER_IOA, |e| matches!(e, Element::ShortFloat { value, quality, .. } if *value == 11.0 && !quality.invalid))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_hub_cannot_confirm_a_command_to_scada() {
    let mut s = CcSite::start().await;
    let pki = s.pki();
    let answer = |name: &str, command_id: u64, digest, outcome: CommandOutcome| {
        let signer = identity(&pki, name);
        let result = CommandResult {
            command_id,
            edge: "edge-1".into(),
            action: gridtrust_model::CommandAction::Execute,
            outcome,
            at: Timestamp::now(),
        };
        SignedResult::sign(&result, digest, signer.signer.as_ref(), &signer.certificate).unwrap()
    };
    for (signer, accepted) in [("hub", false), ("edge-2", false), ("edge-1", true)] {
        let send = s.scada.send_command(double_command(BREAKER_COMMAND_IOA, DoublePointValue::Off, false));
        let hub = &mut s.hub;
        let hub_side = async {
            let Some(CcToHub::Command(signed)) = tokio::time::timeout(STEP, hub.from_cc.recv()).await.unwrap() else {
                panic!("the cc forwards the command")
            };
            let command = signed.command().unwrap();
            assert_eq!(command.edge, "edge-1", "the cc names the owner from its registry");
            hub.send(HubToCc::CommandResult(answer(signer, command.id, signed.digest(), CommandOutcome::Confirmed))).await;
        };
        let (reply, ()) = tokio::join!(send, hub_side);
        assert_eq!(reply.unwrap().is_positive(), accepted, "a confirmation signed by {signer}");
        if !accepted {
            assert!(s.alarms_with("command result refused") > 0, "an alarm for the result signed by {signer}");
        }
    }
    assert_eq!(s.alarms_with("command result refused"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_or_unauthorised_registry_is_refused_by_the_cc() {
    let mut s = CcSite::start().await;
    s.hub.send(HubToCc::Certificates(vec![s.certificate("edge-1"), s.certificate("edge-2")])).await;
    let d = s.dir.path().to_owned();
    // Version 1 grants F1 to edge-2: an older version than the cc holds (2).
    std::fs::create_dir_all(d.join("old")).unwrap();
    let old = write_dev_registry(&d.join("pki"), 1, &[("F1", "edge-2")], &d.join("old")).unwrap();
    s.hub.send(HubToCc::Registry(old)).await;
    common::poll_until(STEP, "the rollback alarm", || s.alarms_with("older than version 2") > 0).await;

    // Version 3, signed by cc-1's key: not an engineering identity.
    let mut registry = gridtrust_trust::registry::PointRegistry::new(3, Timestamp::now());
    registry.grant("F1", "edge-2").unwrap();
    let cc = identity(&d.join("pki"), "cc-1");
    s.hub.send(HubToCc::Registry(SignedRegistry::sign(&registry, cc.signer.as_ref(), &cc.certificate).unwrap())).await;
    common::poll_until(STEP, "the unauthorised-signer alarm", || s.alarms_with("registry signer not allowed") > 0).await;

    // Still the engineer's version 2: edge-1's value is served, edge-2's refused.
    s.hub.send(HubToCc::Batch(s.batch("edge-2", POWER, 666.0, Resume::FRESH))).await;
    s.hub.send(HubToCc::Batch(s.batch("edge-1", POWER, 12.0, Resume::FRESH))).await;
    next_value(&mut s.events, POWER_IOA, |e| matches!(e, Element::ShortFloat { value, quality, .. } if *value == 12.0 && !quality.invalid))
        .await;
    assert!(s.alarms_with("does not own") > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_refuses_to_start_with_a_rolled_back_or_unauthorised_registry() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let tables = provision(&d.join("pki"), &DemoKeys::Software).unwrap();
    let hub_table = tables.iter().find(|(n, _)| *n == "hub").unwrap().1.clone();
    std::fs::write(
        d.join("hub.toml"),
        format!(
            "data_dir = \"hub-data\"\nedge_listen = \"127.0.0.1:0\"\ncc_listen = \"127.0.0.1:0\"\n\n{hub_table}\n{}",
            gridtrust::registry::DEV_AUTHORITY_TABLE
        ),
    )
    .unwrap();
    write_dev_registry(&d.join("pki"), 2, &[("F1", "edge-1")], d).unwrap();
    Hub::start(&HubConfig::load(&d.join("hub.toml")).unwrap()).await.unwrap().shutdown();

    write_dev_registry(&d.join("pki"), 1, &[("F1", "edge-2")], d).unwrap();
    let error = Hub::start(&HubConfig::load(&d.join("hub.toml")).unwrap()).await.err().expect("a rolled-back registry is refused");
    assert!(error.to_string().contains("registry version 1 is older than version 2"), "{error}");

    let mut registry = gridtrust_trust::registry::PointRegistry::new(3, Timestamp::now());
    registry.grant("F1", "edge-2").unwrap();
    let console = identity(&d.join("pki"), "console");
    std::fs::write(
        d.join("registry.signed"),
        SignedRegistry::sign(&registry, console.signer.as_ref(), &console.certificate).unwrap().to_bytes().unwrap(),
    )
    .unwrap();
    let error = Hub::start(&HubConfig::load(&d.join("hub.toml")).unwrap()).await.err().expect("an OPERATOR-signed registry is refused");
    assert!(error.to_string().contains("registry signer not allowed"), "{error}");
}
