//! Attack suite, revocation and listeners: each test runs the real hub (and the real edge or cc
//! where the attack is theirs), mounts one attack, and ends in the specific refusal or alarm.
//!
//! Every role re-reads its CRL file (here every 100 ms, `crl_check_interval_ms`); the CA
//! publishes a new CRL exactly as an operator would (`Ca::revoke`, `Ca::crl` rewriting
//! `crl.pem`), with no restart anywhere.
//!
//! - `edge_revoked_while_connected_is_cut_off_and_its_reconnect_refused` (a): the real edge is
//!   streaming when its certificate is revoked; the hub closes its session within seconds with an
//!   alarm, refuses its reconnects in the handshake, and stores nothing more from it.
//! - `cc_revoked_while_connected_is_cut_off` (b): the same for the real cc's session.
//! - `command_pending_for_a_revoked_issuer_is_refused` (c): a command the device confirmed but
//!   has not finished is pending at the hub when its issuer (cc-1) is revoked: the hub refuses it
//!   with an alarm and forgets it.
//! - `crl_with_a_bad_signature_is_refused_and_the_old_one_kept` (d): a CRL signed by another key
//!   (a CA of the same name) replaces `crl.pem`; the hub refuses it with an alarm and keeps the
//!   CRL that revokes edge-2, which stays refused.
//! - `crl_near_its_next_update_raises_an_alarm` (e): a CRL due within the warning time is
//!   published; the hub asks for a new one.
//! - `slowloris_peers_are_dropped_after_the_handshake_timeout_and_the_cap_holds` (f): peers that
//!   open TCP and never speak TLS fill the cap; one more is closed at once, the silent ones are
//!   dropped after the handshake timeout, and then a genuine edge gets in.
//! - `fifty_refused_connections_from_one_address_raise_one_alarm` (g): a valid cc certificate
//!   dials the edge listener 50 times claiming to be edge-1: 50 refusals, one alarm.
//! - `edge_reads_an_rtu_over_mutual_tls_and_refuses_a_revoked_or_foreign_one`: the real edge
//!   reads a c104 (lib60870) RTU over IEC 104 with mutual TLS 1.3 (`[rtu.tls]`); the edge's
//!   southbound TLS configuration then refuses that RTU once its certificate is revoked (CRL
//!   reloaded, no restart), and an RTU presenting a certificate of another CA.

#[path = "support/common.rs"]
mod common;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

use gridtrust::registry::{DEV_AUTHORITY_TABLE, write_dev_registry};
use gridtrust_cc::{Cc, CcConfig};
use gridtrust_edge::Edge;
use gridtrust_edge::config::EdgeConfig;
use gridtrust_hub::alarms::Alarm;
use gridtrust_hub::{Hub, HubConfig};
use gridtrust_iec104::asdu::{DoublePointValue, Element, InformationObject, Qds, TypeId};
use gridtrust_iec104::server::{CommandMode, IncomingCommand, Server, ServerConfig, ServerHandle};
use gridtrust_keys::{KeyConfig, SoftwareSigner};
use gridtrust_mms::tls::IedTlsConfig;
use gridtrust_model::AlarmKind;
use gridtrust_model::{Command, CommandAction, CommandOutcome, CommandValue, DoublePoint, PointId, Timestamp};
use gridtrust_pki::{DevPki, IdentityKind, IssueRequest, PublicKey, RevocationReason, Role};
use gridtrust_transport::identity::{Identity, IdentityConfig};
use gridtrust_transport::{CcToHub, EdgeToHub, HubToCc, HubToEdge, PROTOCOL_VERSION, connect};
use gridtrust_trust::command::SignedCommand;
use gridtrust_trust::signing::Signer;

const MEASUREMENT: &str = "F1/MMXU1.TotW";
const MEASUREMENT_IOA: u32 = 1;
const BREAKER: &str = "F1/XCBR1.Pos";
const BREAKER_IOA: u32 = 10;
const BREAKER_COMMAND_IOA: u32 = 100;
/// How long any single step may take before the test fails.
const STEP: Duration = Duration::from_secs(15);
/// Appended to every `[identity]` table: re-read the CRL often, so a test needs no long waits.
const FAST_CRL_WATCH: &str = "crl_check_interval_ms = 100\n";

/// The hub's alarms of `kind` whose message contains every one of `words`.
fn alarms(hub: &Hub, kind: AlarmKind, words: &[&str]) -> Vec<Alarm> {
    hub.alarms(false).into_iter().filter(|a| a.kind == kind && words.iter().all(|w| a.message.contains(w))).collect()
}

fn has_alarm(hub: &Hub, kind: AlarmKind, words: &[&str]) -> bool {
    !alarms(hub, kind, words).is_empty()
}

/// Waits for an alarm of `kind` with all of `words`; on time-out, the failure lists the alarms
/// there are.
async fn wait_for_alarm(hub: &Hub, what: &str, kind: AlarmKind, words: &[&str]) {
    let deadline = Instant::now() + STEP;
    while !has_alarm(hub, kind, words) {
        if Instant::now() > deadline {
            let all: Vec<String> = hub.alarms(false).iter().map(|a| format!("[{}] {}", a.kind, a.message)).collect();
            panic!("timed out waiting until {what}; alarms: {all:#?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The installation

/// An installation folder with the development PKI from `provision`.
struct Site(common::Installation);

impl std::ops::Deref for Site {
    type Target = common::Installation;
    fn deref(&self) -> &common::Installation {
        &self.0
    }
}

impl Site {
    fn new() -> Self {
        Self(common::Installation::new())
    }

    fn pki(&self) -> PathBuf {
        self.dir.join("pki")
    }

    /// The `[identity]` table of `name`, watching the CRL every 100 ms.
    fn table(&self, name: &str) -> String {
        let table = self.tables.iter().find(|(n, _)| *n == name).map(|(_, t)| t.clone()).unwrap();
        format!("{table}{FAST_CRL_WATCH}")
    }

    fn identity(&self, name: &str) -> Identity {
        let pki = self.pki();
        Identity::load(&IdentityConfig::new(
            pki.join("ca.crt.pem"),
            pki.join(format!("{name}.crt.pem")),
            pki.join("crl.pem"),
            KeyConfig::Software { path: pki.join(format!("{name}.key.pem")) },
        ))
        .unwrap()
    }

    /// Issues one more certificate from the site's CA, with a new software key beside it.
    fn issue(&self, kind: IdentityKind, name: &str, roles: &[Role]) {
        let dev = DevPki::open(&self.pki());
        let files = dev.files(name);
        let key = SoftwareSigner::generate(&files.key).unwrap();
        let issued = dev
            .ca()
            .unwrap()
            .issue(&IssueRequest {
                kind,
                name: name.to_owned(),
                roles: roles.to_vec(),
                validity: Duration::from_secs(24 * 3600),
                public_key: PublicKey::from_sec1(&key.public_key()).unwrap(),
                extra_sans: Vec::new(),
            })
            .unwrap();
        std::fs::write(&files.cert, &issued.pem).unwrap();
    }

    /// Revokes the live certificate of `name` and publishes a CRL valid for 30 days.
    fn revoke(&self, name: &str) -> u64 {
        let ca = DevPki::open(&self.pki()).ca().unwrap();
        let serial = ca.list().unwrap().into_iter().find(|e| e.name == name && e.revoked.is_none()).unwrap().serial;
        ca.revoke(serial, RevocationReason::KeyCompromise).unwrap();
        ca.crl(Duration::from_secs(30 * 24 * 3600)).unwrap();
        serial
    }

    /// Starts the real hub (edge-1 owns the points of F1); `extra` goes into its configuration.
    async fn start_hub(&self, extra: &str) -> Hub {
        let path = self.dir.join("hub.toml");
        write_dev_registry(&self.pki(), 1, &[("F1", "edge-1")], &self.dir).unwrap();
        std::fs::write(
            &path,
            format!(
                "data_dir = \"hub-data\"\nedge_listen = \"127.0.0.1:0\"\ncc_listen = \"127.0.0.1:0\"\ncheckpoint_interval_ms = 200\n{extra}\n{}\n{DEV_AUTHORITY_TABLE}",
                self.table("hub")
            ),
        )
        .unwrap();
        Hub::start(&HubConfig::load(&path).unwrap()).await.unwrap()
    }

    /// Starts the real edge-1, reading `rtu` and sending to `hub`.
    async fn start_edge(&self, hub: &Hub, rtu: &Rtu) -> Edge {
        std::fs::write(
            self.dir.join("edge-map.toml"),
            format!(
                "[[point]]\nid = \"{MEASUREMENT}\"\nioa = {MEASUREMENT_IOA}\ntype = \"float\"\n\n[[point]]\nid = \"{BREAKER}\"\nioa = {BREAKER_IOA}\ntype = \"double\"\n\n[[command]]\nid = \"{BREAKER}\"\nioa = {BREAKER_COMMAND_IOA}\ntype = \"double\"\nsbo = false\n"
            ),
        )
        .unwrap();
        let path = self.dir.join("edge.toml");
        std::fs::write(
            &path,
            format!(
                "edge_id = \"edge-1\"\ndata_dir = \"edge-data\"\n\n{}\n[hub]\naddress = \"{}\"\nserver_name = \"hub\"\n\n[[rtu]]\nname = \"bay-f1\"\naddress = \"{}\"\ncommon_address = 1\nmapping = \"edge-map.toml\"\ninterrogation_period_s = 3600\n",
                self.table("edge-1"),
                hub.edge_addr,
                rtu.addr()
            ),
        )
        .unwrap();
        Edge::start(EdgeConfig::load(&path).unwrap()).await.unwrap()
    }

    /// Starts the real cc-1 against `hub`.
    async fn start_cc(&self, hub: &Hub) -> Cc {
        std::fs::write(self.dir.join("scada-map.toml"), format!("[[point]]\nid = \"{MEASUREMENT}\"\nioa = 10001\ntype = \"float\"\n"))
            .unwrap();
        let path = self.dir.join("cc.toml");
        std::fs::write(
            &path,
            format!(
                "cc_id = \"cc-1\"\ndata_dir = \"cc-data\"\n\n{}\n[hub]\naddress = \"{}\"\nserver_name = \"hub\"\n\n[iec104]\nlisten = \"127.0.0.1:0\"\nmapping = \"scada-map.toml\"\n\n[iec104.station]\ncommon_address = 1\n\n[[iec104.station.redundancy_groups]]\nname = \"scada\"\nmembers = [\"127.0.0.1\"]\n",
                self.table("cc-1"),
                hub.cc_addr
            ),
        )
        .unwrap();
        Cc::start(CcConfig::load(&path).unwrap()).await.unwrap()
    }
}

// ---------------------------------------------------------------------------------------------
// The device

/// An RTU with one measurement and one breaker. It confirms every breaker command and never
/// reports its termination: the command stays pending, as with slow switchgear.
struct Rtu {
    handle: ServerHandle,
    confirmed: Arc<AtomicU64>,
    held: Arc<Mutex<Vec<IncomingCommand>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Rtu {
    async fn start() -> Self {
        let (handle, mut commands) = Server::bind("127.0.0.1:0".parse().unwrap(), None, ServerConfig::default()).await.unwrap();
        handle.register_point(InformationObject::new(MEASUREMENT_IOA, float(1.0)), &[]).await.unwrap();
        let closed = Element::DoublePoint { value: DoublePointValue::On, quality: Qds::GOOD, time: None };
        handle.register_point(InformationObject::new(BREAKER_IOA, closed), &[]).await.unwrap();
        handle.register_command(BREAKER_COMMAND_IOA, TypeId::CDcNa1, CommandMode::DirectExecute).await.unwrap();
        let (confirmed, held) = (Arc::new(AtomicU64::new(0)), Arc::new(Mutex::new(Vec::new())));
        let task = {
            let (confirmed, held) = (confirmed.clone(), held.clone());
            tokio::spawn(async move {
                while let Some(cmd) = commands.recv().await {
                    let _ = cmd.responder.confirm(true);
                    confirmed.fetch_add(1, Ordering::SeqCst);
                    held.lock().unwrap().push(cmd);
                }
            })
        };
        Self { handle, confirmed, held, task }
    }

    fn addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }

    async fn push(&self, value: f32) {
        self.handle.update(InformationObject::new(MEASUREMENT_IOA, float(value))).await.unwrap();
    }
}

impl Drop for Rtu {
    fn drop(&mut self) {
        self.held.lock().unwrap().clear();
        self.task.abort();
    }
}

fn float(value: f32) -> Element {
    Element::ShortFloat { value, quality: Qds::GOOD, time: None }
}

// ---------------------------------------------------------------------------------------------
// (a), (b): revoked while connected

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_revoked_while_connected_is_cut_off_and_its_reconnect_refused() {
    let site = Site::new();
    let hub = site.start_hub("").await;
    let rtu = Rtu::start().await;
    let edge = site.start_edge(&hub, &rtu).await;
    common::poll_until(STEP, "edge-1 delivers its first batch", || hub.stats().batches_applied.load(Ordering::Relaxed) > 0).await;
    let connects = edge.stats.connects.load(Ordering::Relaxed);

    let serial = site.revoke("edge-1");
    let revoked = format!("certificate {serial} is revoked");
    wait_for_alarm(&hub, "the hub cuts off revoked edge-1", AlarmKind::Peer, &["edge-1", "disconnected", &revoked]).await;
    wait_for_alarm(
        &hub,
        "the hub refuses edge-1's reconnect in the handshake",
        AlarmKind::Peer,
        &["TLS handshake failed", "invalid peer certificate: Revoked"],
    )
    .await;

    // Nothing more from edge-1 is stored, and it never got a session again.
    let applied = hub.stats().batches_applied.load(Ordering::Relaxed);
    rtu.push(42.0).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(hub.stats().batches_applied.load(Ordering::Relaxed), applied, "a batch of revoked edge-1 was stored");
    assert_eq!(edge.stats.connects.load(Ordering::Relaxed), connects, "revoked edge-1 got a session again");
    edge.shutdown();
    hub.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cc_revoked_while_connected_is_cut_off() {
    let site = Site::new();
    let hub = site.start_hub("").await;
    let cc = site.start_cc(&hub).await;
    common::poll_until(STEP, "cc-1 accepts a checkpoint from the hub", || cc.stats.checkpoints_accepted.load(Ordering::Relaxed) > 0).await;

    let serial = site.revoke("cc-1");
    let revoked = format!("certificate {serial} is revoked");
    wait_for_alarm(&hub, "the hub cuts off revoked cc-1", AlarmKind::Peer, &["cc-1", "disconnected", &revoked]).await;
    wait_for_alarm(
        &hub,
        "the hub refuses cc-1's reconnect in the handshake",
        AlarmKind::Peer,
        &["TLS handshake failed", "invalid peer certificate: Revoked"],
    )
    .await;
    cc.shutdown().await;
    hub.shutdown();
}

// ---------------------------------------------------------------------------------------------
// (c): a pending command of a revoked issuer

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_pending_for_a_revoked_issuer_is_refused() {
    let site = Site::new();
    let hub = site.start_hub("").await;
    let rtu = Rtu::start().await;
    let edge = site.start_edge(&hub, &rtu).await;
    common::poll_until(STEP, "edge-1 reports the breaker", || hub.stats().batches_applied.load(Ordering::Relaxed) > 0).await;

    // cc-1 (its own TLS session) issues "open breaker"; the device confirms it and then works
    // on it, so the hub keeps the command pending for its termination.
    let cc = site.identity("cc-1");
    let (mut from_hub, mut to_hub) = connect(&hub.cc_addr.to_string(), "hub", cc.client_config().unwrap()).await.unwrap();
    to_hub
        .send(&CcToHub::Hello { cc_id: "cc-1".into(), protocol: PROTOCOL_VERSION, checkpoint_size: None, positions: Vec::new() })
        .await
        .unwrap();
    let signer = SoftwareSigner::open(&site.pki().join("cc-1.key.pem")).unwrap();
    let command = open_breaker("cc-1/scada-ip:127.0.0.1");
    let signed = SignedCommand::issue(&command, &signer, &cc.certificate).unwrap();
    to_hub.send(&CcToHub::Command(signed)).await.unwrap();
    let confirmed = tokio::time::timeout(STEP, async {
        loop {
            match from_hub.recv::<HubToCc>().await {
                Ok(Some(HubToCc::CommandResult(r))) => break r.result().unwrap().outcome,
                Ok(Some(_)) => continue,
                other => panic!("hub link ended before the result: {other:?}"),
            }
        }
    })
    .await
    .expect("the device's confirmation in time");
    assert_eq!(confirmed, CommandOutcome::Confirmed);
    assert_eq!(rtu.confirmed.load(Ordering::SeqCst), 1);

    // cc-1's key is compromised: revoked while its command is still running.
    let serial = site.revoke("cc-1");
    wait_for_alarm(
        &hub,
        "the hub refuses the pending command of revoked cc-1",
        AlarmKind::Command,
        &[&format!("pending command {} refused", command.id), &format!("certificate {serial} is revoked")],
    )
    .await;
    edge.shutdown();
    hub.shutdown();
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn open_breaker(issuer: &str) -> Command {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let now = Timestamp::now();
    let mut nonce = [0u8; 16];
    nonce[..8].copy_from_slice(&id.to_be_bytes());
    nonce[8..].copy_from_slice(&now.0.to_be_bytes());
    Command {
        id,
        nonce,
        point: PointId::new(BREAKER).unwrap(),
        edge: "edge-1".into(),
        action: CommandAction::Execute,
        value: CommandValue::Double(DoublePoint::Off),
        issuer: issuer.to_owned(),
        role: "OPERATOR".into(),
        issued_at: now,
        expires_at: Timestamp(now.0 + 60_000_000_000),
    }
}

// ---------------------------------------------------------------------------------------------
// (d), (e): the CRL itself

/// Whether the hub admits `name` (an edge dialling with `tls`) now: a session that gets its
/// welcome.
async fn hub_admits_edge(tls: Arc<rustls::ClientConfig>, hub: &Hub, name: &str) -> bool {
    let attempt = async {
        let (mut r, mut w) = connect(&hub.edge_addr.to_string(), "hub", tls).await.ok()?;
        w.send(&EdgeToHub::Hello { edge_id: name.to_owned(), protocol: PROTOCOL_VERSION, checkpoint_size: None }).await.ok()?;
        matches!(r.recv::<HubToEdge>().await, Ok(Some(HubToEdge::Welcome { .. }))).then_some(())
    };
    tokio::time::timeout(STEP, attempt).await.expect("the hub answers or closes in time").is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crl_with_a_bad_signature_is_refused_and_the_old_one_kept() {
    let site = Site::new();
    site.issue(IdentityKind::Edge, "edge-2", &[Role::Viewer]);
    // An identity of edge-2 for the test to dial with (its identity is loaded before the
    // revocation: a client that does not care about its own revocation).
    let edge2 = {
        let dev = DevPki::open(&site.pki());
        let (chain, key) = dev.tls_identity("edge-2").unwrap();
        gridtrust_pki::client_config(&dev.anchors().unwrap().without_revocation().into(), chain, key).unwrap()
    };
    let edge1 = site.identity("edge-1").client_config().unwrap();
    let hub = site.start_hub("").await;
    let serial = site.revoke("edge-2");
    let deadline = Instant::now() + STEP;
    while hub_admits_edge(edge2.clone(), &hub, "edge-2").await {
        assert!(Instant::now() < deadline, "the hub never loaded the CRL revoking edge-2 (serial {serial})");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A CRL that lists nothing, signed by another CA of the same name: it would un-revoke edge-2.
    let forger = tempfile::tempdir().unwrap();
    DevPki::generate(forger.path(), &[]).unwrap();
    std::fs::copy(forger.path().join("crl.pem"), site.pki().join("crl.pem")).unwrap();
    wait_for_alarm(&hub, "the hub refuses the forged CRL", AlarmKind::Crl, &["refused", "signature does not verify"]).await;
    assert!(!hub_admits_edge(edge2, &hub, "edge-2").await, "the forged CRL un-revoked edge-2");
    assert!(hub_admits_edge(edge1, &hub, "edge-1").await, "the old CRL stays in use, not none: edge-1 is still admitted");
    hub.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crl_near_its_next_update_raises_an_alarm() {
    let site = Site::new();
    let hub = site.start_hub("").await;
    // The operator publishes a CRL due in two hours (the warning comes three days ahead).
    DevPki::open(&site.pki()).ca().unwrap().crl(Duration::from_secs(2 * 3600)).unwrap();
    wait_for_alarm(&hub, "the hub asks for a new CRL", AlarmKind::Crl, &["nextUpdate", "near"]).await;
    hub.shutdown();
}

// ---------------------------------------------------------------------------------------------
// (f), (g): the listeners

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_peers_are_dropped_after_the_handshake_timeout_and_the_cap_holds() {
    let site = Site::new();
    let hub = site.start_hub("[listeners]\nhandshake_timeout_ms = 500\nmax_connections = 4\n").await;
    // Four peers open TCP and never send a byte.
    let mut silent = Vec::new();
    for _ in 0..4 {
        silent.push(tokio::net::TcpStream::connect(hub.edge_addr).await.unwrap());
    }
    let opened = Instant::now();
    // A fifth is over the cap: closed at once.
    let mut fifth = tokio::net::TcpStream::connect(hub.edge_addr).await.unwrap();
    let mut byte = [0u8; 1];
    let closed = tokio::time::timeout(Duration::from_millis(400), fifth.read(&mut byte)).await;
    assert!(opened.elapsed() < Duration::from_millis(500), "too slow to tell the cap from the timeout");
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "the hub kept a connection over its cap: {closed:?}");
    // The silent ones are dropped after the handshake timeout.
    for s in &mut silent {
        let closed = tokio::time::timeout(STEP, s.read(&mut byte)).await;
        assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "the hub kept a silent peer: {closed:?}");
    }
    assert!(opened.elapsed() >= Duration::from_millis(450), "dropped before the timeout");
    assert!(has_alarm(&hub, AlarmKind::Peer, &["connection cap reached"]));
    assert!(has_alarm(&hub, AlarmKind::Peer, &["TLS handshake timed out"]));
    // The slots are free again: a genuine edge gets in.
    let edge1 = site.identity("edge-1").client_config().unwrap();
    assert!(hub_admits_edge(edge1, &hub, "edge-1").await, "a genuine edge is admitted after the slowloris peers are gone");
    hub.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_refused_connections_from_one_address_raise_one_alarm() {
    let site = Site::new();
    let hub = site.start_hub("").await;
    // cc-1's valid certificate at the edge listener, claiming to be edge-1, from 50 source ports.
    let tls = site.identity("cc-1").client_config().unwrap();
    for _ in 0..50 {
        let (mut r, mut w) = connect(&hub.edge_addr.to_string(), "hub", tls.clone()).await.unwrap();
        w.send(&EdgeToHub::Hello { edge_id: "edge-1".into(), protocol: PROTOCOL_VERSION, checkpoint_size: None }).await.unwrap();
        assert!(!matches!(r.recv::<HubToEdge>().await, Ok(Some(_))), "the hub welcomed cc-1 as edge-1");
    }
    common::poll_until(STEP, "the hub counted 50 refusals", || hub.stats().peers_refused.load(Ordering::Relaxed) >= 50).await;
    let raised = alarms(&hub, AlarmKind::Peer, &["claims to be edge-1"]);
    assert_eq!(raised.len(), 1, "one alarm for one address and reason, got {}: {:?}", raised.len(), raised.first().map(|a| &a.message));
    hub.shutdown();
}

// ---------------------------------------------------------------------------------------------
// IEC 104 over TLS to the RTU

/// Whether `python3 -c "import c104"` works; prints SKIP otherwise, and fails when
/// GRIDTRUST_REQUIRE_PEERS is set.
fn c104_available(test: &str) -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import c104"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("GRIDTRUST_REQUIRE_PEERS").is_none(),
            "{test}: c104 is required (GRIDTRUST_REQUIRE_PEERS) but not installed"
        );
        eprintln!("SKIP {test}: python3 module c104 is not installed (pip install c104)");
    }
    ok
}

/// A c104 RTU speaking IEC 104 over mutual TLS 1.3 (`tests/peers/c104_tls_rtu.py`); killed when
/// dropped.
struct TlsRtu {
    child: tokio::process::Child,
    addr: SocketAddr,
}

impl TlsRtu {
    /// Presents the certificate and key of `name` in `pki`, requires clients of the CA `client_ca`.
    async fn start(pki: &DevPki, name: &str, client_ca: &std::path::Path) -> Self {
        use tokio::io::AsyncBufReadExt;
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let files = pki.files(name);
        let mut child = tokio::process::Command::new("python3")
            .arg("-u")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/c104_tls_rtu.py"))
            .arg(port.to_string())
            .args([&files.cert, &files.key, client_ca])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            // lib60870 logs every certificate check on stderr.
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 starts");
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = tokio::time::timeout(STEP, lines.next_line()).await.expect("the c104 RTU starts in time").unwrap();
        assert_eq!(ready.as_deref(), Some("READY"), "the c104 RTU did not start");
        Self { child, addr: SocketAddr::from(([127, 0, 0, 1], port)) }
    }
}

impl Drop for TlsRtu {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// The `[rtu.tls]` table of edge-1 for an RTU named `rtu-1`, re-reading the CRL every 100 ms.
fn rtu_tls(site: &Site) -> IedTlsConfig {
    let pki = site.pki();
    IedTlsConfig {
        crl_check_interval_ms: 100,
        ..IedTlsConfig::new(
            pki.join("ca.crt.pem"),
            pki.join("crl.pem"),
            pki.join("edge-1.crt.pem"),
            KeyConfig::Software { path: pki.join("edge-1.key.pem") },
            Some("rtu-1".into()),
        )
    }
}

/// A TLS handshake and STARTDT with the RTU at `addr`, through `tls` (as the edge's adapter
/// dials): Ok, or why not.
async fn dial_rtu(tls: &IedTlsConfig, addr: SocketAddr) -> Result<(), String> {
    let connector = tokio_rustls::TlsConnector::from(tls.client_config().map_err(|e| e.to_string())?);
    let name = tls.server_name(&addr.to_string()).map_err(|e| e.to_string())?;
    let attempt =
        gridtrust_iec104::client::Client::connect(addr, Some((connector, name)), gridtrust_iec104::client::ClientConfig::default());
    match tokio::time::timeout(STEP, attempt).await.expect("the RTU answers or refuses in time") {
        Ok(_) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_reads_an_rtu_over_mutual_tls_and_refuses_a_revoked_or_foreign_one() {
    let test = "edge_reads_an_rtu_over_mutual_tls_and_refuses_a_revoked_or_foreign_one";
    if !c104_available(test) {
        return;
    }
    let site = Site::new();
    site.issue(IdentityKind::Edge, "rtu-1", &[Role::Viewer]);
    let ours = DevPki::open(&site.pki());
    let rtu = TlsRtu::start(&ours, "rtu-1", &ours.ca_cert()).await;

    // The real edge reads the RTU over TLS and the value reaches the hub.
    let hub = site.start_hub("").await;
    std::fs::write(
        site.dir.join("edge-map.toml"),
        format!("[[point]]\nid = \"{MEASUREMENT}\"\nioa = {MEASUREMENT_IOA}\ntype = \"float\"\n"),
    )
    .unwrap();
    let path = site.dir.join("edge.toml");
    std::fs::write(
        &path,
        format!(
            "edge_id = \"edge-1\"\ndata_dir = \"edge-data\"\n\n{}\n[hub]\naddress = \"{}\"\nserver_name = \"hub\"\n\n[[rtu]]\nname = \"bay-f1\"\naddress = \"{}\"\ncommon_address = 1\nmapping = \"edge-map.toml\"\ntls = {{ ca = \"pki/ca.crt.pem\", crl = \"pki/crl.pem\", certificate = \"pki/edge-1.crt.pem\", key = {{ kind = \"software\", path = \"pki/edge-1.key.pem\" }}, server_name = \"rtu-1\" }}\n",
            site.table("edge-1"),
            hub.edge_addr,
            rtu.addr
        ),
    )
    .unwrap();
    let edge = Edge::start(EdgeConfig::load(&path).unwrap()).await.unwrap();
    let point = PointId::new(MEASUREMENT).unwrap();
    common::poll_until(STEP, "the RTU's value, read over TLS, is stored at the hub", || {
        hub.store().latest(&point).ok().flatten().is_some_and(|r| r.value.as_f64() == 1.5)
    })
    .await;
    edge.shutdown();
    hub.shutdown();

    // The same southbound configuration, kept in use while the CRL changes.
    let tls = rtu_tls(&site);
    dial_rtu(&tls, rtu.addr).await.expect("the genuine RTU is accepted");
    let serial = site.revoke("rtu-1");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let refused = dial_rtu(&tls, rtu.addr).await.expect_err("a revoked RTU is refused");
    assert!(refused.contains("Revoked"), "RTU {serial} refused for another reason: {refused}");

    // An RTU with a certificate of another CA (of the same name) for the same name.
    let foreign_dir = tempfile::tempdir().unwrap();
    let foreign = DevPki::generate(foreign_dir.path(), &[(IdentityKind::Edge, "rtu-1", &[Role::Viewer])]).unwrap();
    let impostor = TlsRtu::start(&foreign, "rtu-1", &ours.ca_cert()).await;
    let refused = dial_rtu(&tls, impostor.addr).await.expect_err("a foreign RTU is refused");
    assert!(refused.contains("BadSignature") || refused.contains("UnknownIssuer"), "foreign RTU refused for another reason: {refused}");
}
