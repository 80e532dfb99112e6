//! Attack suite, commands from people: a person signs each command with their passkey (a WebAuthn
//! assertion whose challenge is the command digest), and the edge verifies that assertion itself,
//! so a hub that is taken over cannot operate a device in a person's name.
//!
//! The person's authenticator is emulated here (a P-256 key in the test, authenticator data and
//! client data built as a browser and a platform authenticator build them; the format is pinned
//! by the Chromium golden vector in `gridtrust_trust::webauthn`). The operator CA binds its key to
//! the person (`alice`, OPERATOR) in an operator certificate, as enrolment does.
//!
//! The device is an IEC 104 RTU with one breaker operated by direct execute, so the edge's gate is
//! the only thing between an attack and the switchgear; every attack is preceded by a genuine
//! command that does operate.
//!
//! - `a_persons_passkey_command_executes_through_the_real_hub` and
//!   `the_real_hub_refuses_an_assertion_for_another_command`: the real hub verifies the assertion
//!   (same function as the edge) before it countersigns.
//! - `a_command_the_hub_altered_after_the_assertion_is_refused_at_the_edge`.
//! - `a_command_without_a_persons_assertion_is_refused_at_the_edge`: signed by the hub's console
//!   key (fallback off) or by the hub's own key.
//! - `viewer_origin_rp_id_uv_and_reused_assertions_are_refused_at_the_edge`.

#[path = "support/common.rs"]
mod common;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use gridtrust::registry::{DEV_AUTHORITY_TABLE, write_dev_registry};
use gridtrust_edge::Edge;
use gridtrust_edge::config::EdgeConfig;
use gridtrust_hub::{Hub, HubConfig};
use gridtrust_iec104::asdu::{DoublePointValue, Element, InformationObject, Qds, TypeId};
use gridtrust_iec104::server::{CommandMode, Server, ServerConfig, ServerHandle};
use gridtrust_keys::KeyConfig;
use gridtrust_model::{Command, CommandAction, CommandOutcome, CommandValue, DoublePoint, PointId, Timestamp};
use gridtrust_pki::{DevPki, IdentityKind, IssueRequest, PublicKey, Role};
use gridtrust_transport::identity::{Identity, IdentityConfig};
use gridtrust_transport::{Accepted, CcToHub, EdgeToHub, HubToCc, HubToEdge, Listener, PROTOCOL_VERSION, connect, handshake};
use gridtrust_trust::command::{PasskeyAssertion, SignedCommand, SignedResult, encode_command};

#[path = "support/fake_log.rs"]
mod fake_log;
#[path = "support/passkey.rs"]
mod passkey;
use fake_log::FakeLog;
use passkey::{Ceremony, Passkey, UP_UV};

const BREAKER: &str = "F1/XCBR1.Pos";
const BREAKER_IOA: u32 = 10;
const BREAKER_COMMAND_IOA: u32 = 100;
const STEP: Duration = Duration::from_secs(15);
const RP_ID: &str = "scada.example";
const ORIGIN: &str = "https://scada.example";

// ---------------------------------------------------------------------------------------------
// The site, the person and their passkey

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

    /// A person's passkey, certified by the site's operator CA with `roles` (as enrolment does).
    fn passkey(&self, name: &str, roles: &[Role]) -> PersonsPasskey {
        let key = Passkey::generate();
        let issued = DevPki::open(&self.pki())
            .ca()
            .unwrap()
            .issue(&IssueRequest {
                kind: IdentityKind::Operator,
                name: name.to_owned(),
                roles: roles.to_vec(),
                validity: Duration::from_secs(24 * 3600),
                public_key: PublicKey::from_sec1(&key.public_key()).unwrap(),
                extra_sans: Vec::new(),
            })
            .unwrap();
        PersonsPasskey { key, certificate: issued.der.to_vec() }
    }

    fn write_edge_config(&self, hub: SocketAddr, rtu: SocketAddr) -> PathBuf {
        std::fs::write(
            self.dir.join("edge-mapping.toml"),
            format!(
                "[[point]]\nid = \"{BREAKER}\"\nioa = {BREAKER_IOA}\ntype = \"double\"\n\n[[command]]\nid = \"{BREAKER}\"\nioa = {BREAKER_COMMAND_IOA}\ntype = \"double\"\nsbo = false\n"
            ),
        )
        .unwrap();
        let path = self.dir.join("edge.toml");
        std::fs::write(
            &path,
            format!(
                "edge_id = \"edge-1\"\ndata_dir = \"edge-data\"\n\n{}\n[hub]\naddress = \"{hub}\"\nserver_name = \"hub\"\n\n[[rtu]]\nname = \"bay-f1\"\naddress = \"{rtu}\"\ncommon_address = 1\nmapping = \"edge-mapping.toml\"\ninterrogation_period_s = 3600\n\n[commands.webauthn]\nrp_id = \"{RP_ID}\"\norigins = [\"{ORIGIN}\"]\n",
                self.table("edge-1")
            ),
        )
        .unwrap();
        path
    }

    fn write_hub_config(&self) -> PathBuf {
        let path = self.dir.join("hub.toml");
        write_dev_registry(&self.pki(), 1, &[("F1", "edge-1")], &self.dir).unwrap();
        std::fs::write(
            &path,
            format!(
                "data_dir = \"hub-data\"\nedge_listen = \"127.0.0.1:0\"\ncc_listen = \"127.0.0.1:0\"\n\n{}\n{DEV_AUTHORITY_TABLE}\n[webauthn]\nrp_id = \"{RP_ID}\"\norigins = [\"{ORIGIN}\"]\n",
                self.table("hub")
            ),
        )
        .unwrap();
        path
    }
}

/// A person's credential in an emulated authenticator, with their operator certificate.
struct PersonsPasskey {
    key: Passkey,
    certificate: Vec<u8>,
}

const GENUINE: Ceremony<'static> = Ceremony { rp_id: RP_ID, origin: ORIGIN, flags: UP_UV };

impl PersonsPasskey {
    /// The person signs `command` (its digest is the challenge).
    fn sign(&self, command: &Command, c: &Ceremony<'_>) -> SignedCommand {
        let bytes = encode_command(command).unwrap();
        let digest: [u8; 32] = Sha256::digest(&bytes).into();
        let a = self.key.assert(&digest, *c);
        SignedCommand::from_passkey(
            bytes,
            PasskeyAssertion {
                authenticator_data: a.authenticator_data,
                client_data_json: a.client_data_json,
                signature: a.signature,
                certificate: self.certificate.clone(),
            },
        )
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A breaker command from `issuer` acting as `role`, valid for a minute.
fn command(issuer: &str, role: &str, position: DoublePoint) -> Command {
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
        value: CommandValue::Double(position),
        issuer: issuer.to_owned(),
        role: role.to_owned(),
        issued_at: now,
        expires_at: Timestamp(now.0 + 60_000_000_000),
    }
}

fn countersign(mut signed: SignedCommand, hub: &Identity) -> SignedCommand {
    signed.authorize(hub.signer.as_ref(), &hub.certificate).unwrap();
    signed
}

fn outcome(anchors: &Identity, result: &SignedResult, digest: &gridtrust_trust::Hash, kind: IdentityKind, name: &str) -> CommandOutcome {
    let signer = anchors.validate(&result.signer.certificate).expect("result signer certificate valid");
    assert_eq!((signer.kind, signer.name.as_str()), (kind, name), "result signed by {signer}");
    result.verify(&signer.public_key).expect("result signature verifies");
    assert_eq!(&result.command_digest, digest, "result bound to the command");
    result.result().expect("result decodes").outcome
}

fn is_final(outcome: &CommandOutcome) -> bool {
    matches!(outcome, CommandOutcome::Terminated | CommandOutcome::Refused { .. })
}

fn refusal(outcomes: &[CommandOutcome], by: &str) -> String {
    match outcomes {
        [CommandOutcome::Refused { by: who, reason }] => {
            assert_eq!(who, by, "refused by {who}: {reason}");
            reason.clone()
        }
        other => panic!("expected one refusal by {by}, got {other:?}"),
    }
}

const EXECUTED: [CommandOutcome; 2] = [CommandOutcome::Confirmed, CommandOutcome::Terminated];

// ---------------------------------------------------------------------------------------------
// The device: an RTU that performs whatever execute reaches it

struct Device {
    handle: ServerHandle,
    operations: Arc<AtomicU64>,
    position: Arc<Mutex<DoublePointValue>>,
    _task: AbortOnDrop,
}

impl Device {
    async fn start() -> Self {
        let (handle, mut commands) = Server::bind("127.0.0.1:0".parse().unwrap(), None, ServerConfig::default()).await.unwrap();
        let closed = Element::DoublePoint { value: DoublePointValue::On, quality: Qds::GOOD, time: None };
        handle.register_point(InformationObject::new(BREAKER_IOA, closed), &[]).await.unwrap();
        handle.register_command(BREAKER_COMMAND_IOA, TypeId::CDcNa1, CommandMode::DirectExecute).await.unwrap();
        let operations = Arc::new(AtomicU64::new(0));
        let position = Arc::new(Mutex::new(DoublePointValue::On));
        let task = {
            let (handle, operations, position) = (handle.clone(), operations.clone(), position.clone());
            tokio::spawn(async move {
                while let Some(cmd) = commands.recv().await {
                    let element = cmd.asdu.objects.first().map(|o| o.element);
                    let Some(Element::DoubleCommand { value, select: false, .. }) = element.filter(|_| !cmd.deactivation) else {
                        let _ = cmd.responder.confirm(false);
                        continue;
                    };
                    operations.fetch_add(1, Ordering::SeqCst);
                    *position.lock().unwrap() = value;
                    let _ = cmd.responder.confirm(true);
                    let state = Element::DoublePoint { value, quality: Qds::GOOD, time: None };
                    let _ = handle.update(InformationObject::new(BREAKER_IOA, state)).await;
                    let _ = cmd.responder.terminate();
                }
            })
        };
        Self { handle, operations, position, _task: AbortOnDrop(task) }
    }

    fn addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }

    fn state(&self) -> (u64, DoublePointValue) {
        (self.operations.load(Ordering::SeqCst), *self.position.lock().unwrap())
    }

    async fn wait_for_edge(&self) {
        let deadline = Instant::now() + STEP;
        while !self.handle.status().await.unwrap().iter().any(|g| g.active.is_some()) {
            assert!(Instant::now() < deadline, "the edge never connected to the RTU");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn start_edge(config: &Path) -> Edge {
    Edge::start(EdgeConfig::load(config).unwrap()).await.expect("edge starts")
}

// ---------------------------------------------------------------------------------------------
// A compromised hub: the real hub's key and certificate, sending the edge what it likes

struct FakeHub {
    to_edge: mpsc::Sender<HubToEdge>,
    results: mpsc::Receiver<SignedResult>,
    /// The hub's own log: it logs and proves whatever it sends, as a hub that controls its log can.
    log: FakeLog,
    /// The checkpoint size the edge holds.
    held: Option<u64>,
    _task: AbortOnDrop,
}

impl FakeHub {
    /// Listens as the hub, waits for the edge's hello and acknowledges its batches.
    async fn start(hub: &Identity) -> (SocketAddr, mpsc::Receiver<FakeHub>) {
        let listener = Listener::bind("127.0.0.1:0", hub.server_config().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (links_tx, links) = mpsc::channel(4);
        let (name, signer, signer_id) = (hub.me.name.clone(), hub.signer.clone(), hub.certificate_id);
        tokio::spawn(async move {
            let acceptor = listener.acceptor();
            loop {
                let Ok((tcp, peer)) = listener.accept_tcp().await else {
                    continue;
                };
                let Ok(Accepted { mut reader, mut writer, .. }) = handshake(&acceptor, tcp, peer).await else {
                    continue;
                };
                let Ok(Some(EdgeToHub::Hello { checkpoint_size: held, .. })) = reader.recv::<EdgeToHub>().await else {
                    continue;
                };
                if writer.send(&HubToEdge::Welcome { last_batch_seq: None }).await.is_err() {
                    continue;
                }
                let (to_edge, mut outgoing) = mpsc::channel::<HubToEdge>(64);
                let (results_tx, results) = mpsc::channel(64);
                let acks = to_edge.clone();
                let task = tokio::spawn(async move {
                    loop {
                        tokio::select! {
                            m = outgoing.recv() => match m {
                                Some(m) if writer.send(&m).await.is_ok() => {}
                                _ => break,
                            },
                            m = reader.recv::<EdgeToHub>() => match m {
                                Ok(Some(EdgeToHub::Batch(b))) => { let _ = acks.send(HubToEdge::Ack { batch_seq: b.header.batch_seq }).await; }
                                Ok(Some(EdgeToHub::CommandResult(r))) => { let _ = results_tx.send(r).await; }
                                Ok(Some(EdgeToHub::Hello { .. })) => {}
                                _ => break,
                            },
                        }
                    }
                });
                let log = FakeLog::new(&name, signer.clone(), signer_id);
                if links_tx.send(FakeHub { to_edge, results, log, held, _task: AbortOnDrop(task) }).await.is_err() {
                    return;
                }
            }
        });
        (addr, links)
    }

    async fn send(&mut self, signed: &SignedCommand, anchors: &Identity) -> Vec<CommandOutcome> {
        let digest = signed.digest();
        let proof = self.log.append_and_prove(&signed.log_entry().unwrap(), self.held);
        self.held = Some(proof.checkpoint.checkpoint.tree_size);
        self.to_edge.send(HubToEdge::Command { command: Box::new(signed.clone()), log: Box::new(proof) }).await.unwrap();
        let mut outcomes = Vec::new();
        let deadline = tokio::time::Instant::now() + STEP;
        while !outcomes.last().is_some_and(is_final) {
            let result = tokio::time::timeout_at(deadline, self.results.recv())
                .await
                .expect("a result from the edge in time")
                .expect("edge connected");
            outcomes.push(outcome(anchors, &result, &digest, IdentityKind::Edge, "edge-1"));
        }
        outcomes
    }
}

/// Device, real edge, and a compromised hub the edge is connected to.
struct Compromised {
    site: Site,
    device: Device,
    edge: Edge,
    hub: FakeHub,
    /// The real hub's identity (its key signs the fake hub's authorisations).
    hub_identity: Identity,
    alice: PersonsPasskey,
}

impl Compromised {
    async fn start(site: Site) -> Self {
        let device = Device::start().await;
        let hub_identity = site.identity("hub");
        let (addr, mut links) = FakeHub::start(&hub_identity).await;
        let edge = start_edge(&site.write_edge_config(addr, device.addr())).await;
        let hub = tokio::time::timeout(STEP, links.recv()).await.expect("the edge connects").unwrap();
        device.wait_for_edge().await;
        let alice = site.passkey("alice", &[Role::Operator]);
        Self { site, device, edge, hub, hub_identity, alice }
    }

    /// Positive control: alice's genuine assertion, countersigned, opens the breaker.
    async fn alice_opens_the_breaker(&mut self) {
        let signed = countersign(self.alice.sign(&command("alice", "OPERATOR", DoublePoint::Off), &GENUINE), &self.hub_identity);
        assert_eq!(self.hub.send(&signed, &self.hub_identity).await, EXECUTED, "alice's own command executes");
        assert_eq!(self.device.state(), (1, DoublePointValue::Off));
    }

    /// Sends an attack and returns the edge's refusal, after checking the device did not operate.
    async fn refused(&mut self, signed: &SignedCommand) -> String {
        let before = self.device.state();
        let outcomes = self.hub.send(signed, &self.hub_identity).await;
        let reason = refusal(&outcomes, "edge edge-1");
        assert_eq!(self.device.state(), before, "the device did not operate: {reason}");
        reason
    }

    async fn shutdown(self) {
        self.edge.shutdown();
        self.device.handle.shutdown().await;
    }
}

// ---------------------------------------------------------------------------------------------
// Through the real hub

/// A connector session on the real hub (the path the web API's commands take inside the hub
/// is the same `route_command`).
struct CcSession {
    outgoing: mpsc::Sender<CcToHub>,
    incoming: mpsc::Receiver<HubToCc>,
}

impl CcSession {
    async fn start(hub: &Hub, cc: &Identity) -> Self {
        let (reader, mut writer) = connect(&hub.cc_addr.to_string(), "hub", cc.client_config().unwrap()).await.unwrap();
        writer
            .send(&CcToHub::Hello { cc_id: "cc-1".into(), protocol: PROTOCOL_VERSION, checkpoint_size: None, positions: Vec::new() })
            .await
            .unwrap();
        let (incoming_tx, incoming) = mpsc::channel(4096);
        tokio::spawn(reader.spawn_into::<HubToCc>(incoming_tx));
        let (outgoing, mut to_send) = mpsc::channel::<CcToHub>(16);
        tokio::spawn(async move {
            while let Some(m) = to_send.recv().await {
                if writer.send(&m).await.is_err() {
                    break;
                }
            }
        });
        Self { outgoing, incoming }
    }

    async fn wait_for_batch_with(&mut self, point: &str) {
        let deadline = tokio::time::Instant::now() + STEP;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.incoming.recv()).await.expect("a batch in time").expect("hub connected");
            if let HubToCc::Batch(batch) = msg
                && batch.records.iter().any(|r| r.point.as_str() == point)
            {
                return;
            }
        }
    }

    async fn send(&mut self, signed: &SignedCommand, anchors: &Identity, kind: IdentityKind, name: &str) -> Vec<CommandOutcome> {
        let digest = signed.digest();
        self.outgoing.send(CcToHub::Command(signed.clone())).await.unwrap();
        let mut outcomes = Vec::new();
        let deadline = tokio::time::Instant::now() + STEP;
        while !outcomes.last().is_some_and(is_final) {
            let msg = tokio::time::timeout_at(deadline, self.incoming.recv()).await.expect("a result in time").expect("hub connected");
            if let HubToCc::CommandResult(result) = msg {
                outcomes.push(outcome(anchors, &result, &digest, kind, name));
            }
        }
        outcomes
    }
}

struct RealHub {
    site: Site,
    device: Device,
    edge: Edge,
    hub: Hub,
    session: CcSession,
    anchors: Identity,
    alice: PersonsPasskey,
}

impl RealHub {
    async fn start() -> Self {
        let site = Site::new();
        let device = Device::start().await;
        let hub = Hub::start(&HubConfig::load(&site.write_hub_config()).unwrap()).await.unwrap();
        let edge = start_edge(&site.write_edge_config(hub.edge_addr, device.addr())).await;
        device.wait_for_edge().await;
        let mut session = CcSession::start(&hub, &site.identity("cc-1")).await;
        session.wait_for_batch_with(BREAKER).await;
        let anchors = site.identity("hub");
        let alice = site.passkey("alice", &[Role::Operator]);
        Self { site, device, edge, hub, session, anchors, alice }
    }

    fn shutdown(self) {
        self.edge.shutdown();
        self.hub.shutdown();
        drop(self.site);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persons_passkey_command_executes_through_the_real_hub() {
    let mut s = RealHub::start().await;
    let signed = s.alice.sign(&command("alice", "OPERATOR", DoublePoint::Off), &GENUINE);
    assert_eq!(s.session.send(&signed, &s.anchors, IdentityKind::Edge, "edge-1").await, EXECUTED);
    assert_eq!(s.device.state(), (1, DoublePointValue::Off));
    assert_eq!(s.hub.stats().commands_authorized.load(Ordering::Relaxed), 1);
    s.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_hub_refuses_an_assertion_for_another_command() {
    let mut s = RealHub::start().await;
    let open = s.alice.sign(&command("alice", "OPERATOR", DoublePoint::Off), &GENUINE);
    assert_eq!(s.session.send(&open, &s.anchors, IdentityKind::Edge, "edge-1").await, EXECUTED);
    // Alice's assertion for "open" carried by a "close" command.
    let close = SignedCommand::from_passkey(
        encode_command(&command("alice", "OPERATOR", DoublePoint::On)).unwrap(),
        match &open.issuer {
            gridtrust_trust::command::IssuerProof::Passkey(p) => p.clone(),
            other => panic!("{other:?}"),
        },
    );
    let reason = refusal(&s.session.send(&close, &s.anchors, IdentityKind::Hub, "hub").await, "hub");
    assert!(reason.contains("challenge is not the expected one"), "{reason}");
    assert_eq!(s.device.state(), (1, DoublePointValue::Off));
    assert_eq!(s.edge.stats.commands_received.load(Ordering::Relaxed), 1, "the forged command never reached the edge");
    s.shutdown();
}

// ---------------------------------------------------------------------------------------------
// Through a compromised hub: the edge decides

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_the_hub_altered_after_the_assertion_is_refused_at_the_edge() {
    let mut s = Compromised::start(Site::new()).await;
    s.alice_opens_the_breaker().await;
    // Alice asks to open again (a no-op); the hub swaps the value to "close" and keeps her assertion.
    let asked = command("alice", "OPERATOR", DoublePoint::Off);
    let mut altered = s.alice.sign(&asked, &GENUINE);
    altered.command = encode_command(&Command { value: CommandValue::Double(DoublePoint::On), ..asked }).unwrap();
    let reason = s.refused(&countersign(altered, &s.hub_identity)).await;
    assert!(reason.contains("challenge is not the expected one"), "{reason}");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_without_a_persons_assertion_is_refused_at_the_edge() {
    let mut s = Compromised::start(Site::new()).await;
    s.alice_opens_the_breaker().await;
    // The hub holds the console key (an operator certificate): with the fallback off, the edge
    // does not take its signature for a person's.
    let console = s.site.identity("console");
    let forged =
        SignedCommand::issue(&command("console/alice", "OPERATOR", DoublePoint::On), console.signer.as_ref(), &console.certificate)
            .unwrap();
    let reason = s.refused(&countersign(forged, &s.hub_identity)).await;
    assert!(reason.starts_with("issuer not allowed") && reason.contains("console"), "{reason}");
    // Nor its own key as the issuer.
    let own =
        SignedCommand::issue(&command("alice", "OPERATOR", DoublePoint::On), s.hub_identity.signer.as_ref(), &s.hub_identity.certificate)
            .unwrap();
    let reason = s.refused(&countersign(own, &s.hub_identity)).await;
    assert!(reason.starts_with("issuer not allowed"), "{reason}");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewer_origin_rp_id_uv_and_reused_assertions_are_refused_at_the_edge() {
    let mut s = Compromised::start(Site::new()).await;
    s.alice_opens_the_breaker().await;
    let close = || command("alice", "OPERATOR", DoublePoint::On);

    // A VIEWER's genuine assertion (the body claims OPERATOR; the certificate decides).
    let victor = s.site.passkey("victor", &[Role::Viewer]);
    let signed = countersign(victor.sign(&command("victor", "OPERATOR", DoublePoint::On), &GENUINE), &s.hub_identity);
    let reason = s.refused(&signed).await;
    assert!(reason.starts_with("issuer not allowed") && reason.contains("victor holds roles [Viewer]"), "{reason}");

    // Alice's assertion, made on a page from another origin, or for another relying party.
    let elsewhere = Ceremony { origin: "https://scada.example.evil", ..GENUINE };
    let reason = s.refused(&countersign(s.alice.sign(&close(), &elsewhere), &s.hub_identity)).await;
    assert!(reason.contains("origin \"https://scada.example.evil\" is not allowed"), "{reason}");
    let other_rp = Ceremony { rp_id: "evil.example", ..GENUINE };
    let reason = s.refused(&countersign(s.alice.sign(&close(), &other_rp), &s.hub_identity)).await;
    assert!(reason.contains("another relying party id"), "{reason}");

    // Present but not verified (no PIN or biometric).
    let unverified = Ceremony { flags: 0x01, ..GENUINE };
    let reason = s.refused(&countersign(s.alice.sign(&close(), &unverified), &s.hub_identity)).await;
    assert!(reason.contains("UV flag not set"), "{reason}");

    // Alice's assertion for one command, reused for another.
    let genuine = s.alice.sign(&close(), &GENUINE);
    let mut reused = s.alice.sign(&close(), &GENUINE);
    reused.issuer = genuine.issuer.clone();
    let reason = s.refused(&countersign(reused, &s.hub_identity)).await;
    assert!(reason.contains("challenge is not the expected one"), "{reason}");

    // Alice's name on a command signed with Victor's passkey.
    let reason = s.refused(&countersign(victor.sign(&close(), &GENUINE), &s.hub_identity)).await;
    assert!(reason.starts_with("issuer not allowed"), "{reason}");
    assert_eq!(s.device.state(), (1, DoublePointValue::Off));
    s.shutdown().await;
}
