//! Attack suite, commands and peers: each test runs the real roles, mounts one attack, and ends
//! in the specific refusal, with the device shown not to have operated.
//!
//! The device is an IEC 104 RTU (our server) with one breaker, registered for **direct execute**:
//! the RTU itself would operate on any execute that reaches it, so the edge's gate is the only
//! thing between an attack and the switchgear. It counts every operation and keeps the breaker
//! position; a positive control (a legitimate command that does operate) precedes each attack, so
//! an unchanged count means the attack was stopped, not that the path was broken.
//!
//! Where the attacker is a compromised hub, the test runs a **fake hub** that holds the real hub
//! certificate and key, speaks the hub ↔ edge protocol and countersigns whatever it likes; the
//! real edge must still refuse.
//!
//! - `replayed_command_is_refused_at_the_edge_even_after_a_restart` (4): a compromised hub replays
//!   a command the edge executed before (after the operator had reversed it). The edge refuses it
//!   as replayed, and again after a restart on the same data dir: the replay cache is durable.
//! - `expired_overlong_and_future_commands_are_refused_at_the_edge` (5): properly signed and
//!   authorised commands that expired, whose validity exceeds the edge's 300 s maximum, or that
//!   were issued in the future, are refused for exactly that reason.
//! - `viewer_command_is_refused_by_hub_policy_and_never_reaches_the_edge` (6a, real hub): a cc
//!   whose certificate holds only VIEWER gets a refusal signed by the hub naming the role; the
//!   edge never receives the command (a later legitimate command is the first it sees).
//! - `viewer_command_countersigned_by_a_compromised_hub_is_refused_at_the_edge` (6a, fake hub):
//!   the edge refuses the VIEWER issuer itself ("issuer not allowed").
//! - `revoked_issuer_is_refused_at_the_edge_and_its_tls_by_the_hub` (6b): after cc-1's
//!   certificate is revoked and the CRL published, the restarted edge refuses its commands
//!   ("revoked"), and the restarted real hub refuses its TLS connection, which it accepted
//!   before.
//! - `unauthorised_self_authorised_and_altered_commands_are_refused_at_the_edge` (6c): a command
//!   without hub authorisation, one "authorised" by the cc's own key, and one whose bytes the hub
//!   altered after the cc signed them, are each refused.
//! - `edge_with_a_certificate_from_another_ca_is_refused_by_the_hub` (7a): an edge-1 certificate
//!   from a second CA (its own folder, DevPki layout) fails the real hub's TLS handshake
//!   (UnknownCA); nothing is stored, while the genuine edge-1 certificate, through the same client
//!   code, stores the same kind of batch.
//! - `edge_claiming_another_edges_id_is_refused_by_the_hub` (7b): a valid edge-2 certificate whose
//!   hello claims edge-1 is refused (`peers_refused`), and the batch it sends is not stored.

#[path = "support/common.rs"]
mod common;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use gridtrust::registry::{DEV_AUTHORITY_TABLE, write_dev_registry};
use gridtrust_edge::Edge;
use gridtrust_edge::batcher::{Batcher, Datum, Resume};
use gridtrust_edge::config::EdgeConfig;
use gridtrust_hub::{Hub, HubConfig};
use gridtrust_iec104::asdu::{DoublePointValue, Element, InformationObject, Qds, TypeId};
use gridtrust_iec104::server::{CommandMode, Server, ServerConfig, ServerHandle};
use gridtrust_keys::{KeyConfig, SoftwareSigner};
use gridtrust_model::AlarmKind;
use gridtrust_model::{Command, CommandAction, CommandOutcome, CommandValue, DoublePoint, PointId, Quality, Timestamp, Value};
use gridtrust_pki::{DevPki, IdentityKind, IssueRequest, PeerIdentity, PublicKey, RevocationReason, Role, TrustAnchors};
use gridtrust_transport::identity::{Identity, IdentityConfig};
use gridtrust_transport::{
    Accepted, CcToHub, EdgeToHub, FrameError, FramedReader, FramedWriter, HubToCc, HubToEdge, Listener, PROTOCOL_VERSION, connect,
    handshake,
};
use gridtrust_trust::checkpoint::{Checkpoint, LogEntry, SignedCheckpoint};
use gridtrust_trust::command::{SignedCommand, SignedResult, encode_command};
use gridtrust_trust::signing::{Signer, certificate_id};
use gridtrust_trust::{SignedBatch, VerifiedBatch};

#[path = "support/fake_log.rs"]
mod fake_log;
use fake_log::FakeLog;

const BREAKER: &str = "F1/XCBR1.Pos";
const BREAKER_IOA: u32 = 10;
const BREAKER_COMMAND_IOA: u32 = 100;
/// How long any single step may take before the test fails.
const STEP: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------------------------
// PKI and configuration

/// An installation folder: the development PKI from `provision` plus extra identities.
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

    /// Issues one more certificate from the site's CA, with a new software key beside it.
    fn issue(&self, kind: IdentityKind, name: &str, roles: &[Role]) -> u64 {
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
        issued.serial
    }

    /// Revokes the certificate of `name` and publishes a new CRL.
    fn revoke(&self, name: &str) -> u64 {
        let ca = DevPki::open(&self.pki()).ca().unwrap();
        let serial = ca.list().unwrap().into_iter().find(|e| e.name == name && e.revoked.is_none()).unwrap().serial;
        ca.revoke(serial, RevocationReason::KeyCompromise).unwrap();
        ca.crl(Duration::from_secs(24 * 3600)).unwrap();
        serial
    }

    fn identity_config(&self, name: &str) -> IdentityConfig {
        let pki = self.pki();
        IdentityConfig::new(
            pki.join("ca.crt.pem"),
            pki.join(format!("{name}.crt.pem")),
            pki.join("crl.pem"),
            KeyConfig::Software { path: pki.join(format!("{name}.key.pem")) },
        )
    }

    /// A role's identity (certificate, key and the site's trust anchors as of now).
    fn identity(&self, name: &str) -> Identity {
        Identity::load(&self.identity_config(name)).unwrap()
    }

    /// Someone holding the key and certificate of `name`, whatever the CA thinks of them now.
    fn issuer(&self, name: &str) -> Issuer {
        let pki = self.pki();
        let signer = SoftwareSigner::open(&pki.join(format!("{name}.key.pem"))).unwrap();
        let certificate = gridtrust_pki::load_chain(&pki.join(format!("{name}.crt.pem"))).unwrap().remove(0).to_vec();
        Issuer { name: name.to_owned(), signer, certificate }
    }

    /// Writes the edge's configuration (and mapping) pointing at `hub` and `rtu`.
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
                "edge_id = \"edge-1\"\ndata_dir = \"edge-data\"\n\n{}\n[hub]\naddress = \"{hub}\"\nserver_name = \"hub\"\n\n[[rtu]]\nname = \"bay-f1\"\naddress = \"{rtu}\"\ncommon_address = 1\nmapping = \"edge-mapping.toml\"\ninterrogation_period_s = 3600\n",
                self.table("edge-1")
            ),
        )
        .unwrap();
        path
    }

    fn write_hub_config(&self) -> PathBuf {
        let path = self.dir.join("hub.toml");
        write_dev_registry(&self.dir.join("pki"), 1, &[("F1", "edge-1")], &self.dir).unwrap();
        std::fs::write(
            &path,
            format!(
                "data_dir = \"hub-data\"\nedge_listen = \"127.0.0.1:0\"\ncc_listen = \"127.0.0.1:0\"\n\n{}\n{DEV_AUTHORITY_TABLE}",
                self.table("hub")
            ),
        )
        .unwrap();
        path
    }
}

/// Starts the edge from its configuration file. After a restart in this process the previous
/// instance's tasks may still hold its queue and replay cache open for a moment; that is retried.
async fn start_edge(config: &Path) -> Edge {
    let deadline = Instant::now() + STEP;
    loop {
        match Edge::start(EdgeConfig::load(config).unwrap()).await {
            Ok(edge) => return edge,
            Err(e) if Instant::now() < deadline => {
                eprintln!("edge not started yet ({e}); retrying");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("edge does not start: {e}"),
        }
    }
}

/// Starts the real hub from its configuration file, retrying while a previous instance in this
/// process still holds its store.
async fn start_hub(config: &Path) -> Hub {
    let deadline = Instant::now() + STEP;
    loop {
        match Hub::start(&HubConfig::load(config).unwrap()).await {
            Ok(hub) => return hub,
            Err(e) if Instant::now() < deadline => {
                eprintln!("hub not started yet ({e}); retrying");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("hub does not start: {e}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Commands

/// A key and certificate that sign commands.
struct Issuer {
    name: String,
    signer: SoftwareSigner,
    certificate: Vec<u8>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A breaker command (direct execute) from `issuer`, issued `issued_in` and expiring `expires_in`
/// nanoseconds from now (negative: in the past).
fn command_at(issuer: &str, position: DoublePoint, issued_in: i64, expires_in: i64) -> Command {
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
        // Connectors sign for a named SCADA client (gridtrust_pki::CommandIssuer).
        issuer: format!("{issuer}/scada:scada-1"),
        role: "OPERATOR".into(),
        issued_at: Timestamp(now.0 + issued_in),
        expires_at: Timestamp(now.0 + expires_in),
    }
}

const SECOND: i64 = 1_000_000_000;

/// A fresh command valid for a minute.
fn command(issuer: &str, position: DoublePoint) -> Command {
    command_at(issuer, position, 0, 60 * SECOND)
}

fn issue(command: &Command, issuer: &Issuer) -> SignedCommand {
    SignedCommand::issue(command, &issuer.signer, &issuer.certificate).unwrap()
}

/// Signed by `issuer` and countersigned with the hub's key, as a (possibly compromised) hub does.
fn issue_authorised(command: &Command, issuer: &Issuer, hub: &Identity) -> SignedCommand {
    let mut signed = issue(command, issuer);
    signed.authorize(hub.signer.as_ref(), &hub.certificate).unwrap();
    signed
}

/// Checks a result: signed by a valid certificate of `kind` named `name` (validated against the
/// site's anchors in `anchors`), bound to `digest`; returns its outcome.
fn check_result(
    anchors: &Identity,
    result: &SignedResult,
    digest: &gridtrust_trust::Hash,
    kind: IdentityKind,
    name: &str,
) -> CommandOutcome {
    let signer: PeerIdentity = anchors.validate(&result.signer.certificate).expect("result signer certificate valid");
    assert_eq!((signer.kind, signer.name.as_str()), (kind, name), "result signed by {signer}");
    result.verify(&signer.public_key).expect("result signature verifies");
    assert_eq!(&result.command_digest, digest, "result bound to the command");
    result.result().expect("result decodes").outcome
}

fn is_final(outcome: &CommandOutcome) -> bool {
    matches!(outcome, CommandOutcome::Terminated | CommandOutcome::Refused { .. })
}

/// The refusal reason, or a panic naming what came instead.
fn refusal(outcomes: &[CommandOutcome], by: &str) -> String {
    match outcomes {
        [CommandOutcome::Refused { by: who, reason }] => {
            assert_eq!(who, by, "refused by {who}: {reason}");
            reason.clone()
        }
        other => panic!("expected one refusal by {by}, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The device

/// An RTU with one breaker, operated by direct execute: whatever execute reaches it, it performs.
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

    fn operations(&self) -> u64 {
        self.operations.load(Ordering::SeqCst)
    }

    fn position(&self) -> DoublePointValue {
        *self.position.lock().unwrap()
    }

    /// Waits until a controlling station (the edge) has an active link to this RTU.
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

// ---------------------------------------------------------------------------------------------
// The fake (compromised) hub

/// Listens with the real hub's certificate and key, welcomes edges, acknowledges their batches,
/// and sends them whatever commands the test likes.
struct FakeHub {
    addr: SocketAddr,
    links: mpsc::Receiver<EdgeLink>,
    _task: AbortOnDrop,
}

/// One edge connection to the fake hub.
struct EdgeLink {
    edge_id: String,
    to_edge: mpsc::Sender<HubToEdge>,
    results: mpsc::Receiver<SignedResult>,
    /// The fake hub's log, which it controls: it logs and proves what it sends.
    log: Arc<Mutex<FakeLog>>,
    /// The checkpoint size the edge holds.
    held: Option<u64>,
}

impl FakeHub {
    async fn start(hub: &Identity) -> Self {
        let log = Arc::new(Mutex::new(FakeLog::new(&hub.me.name, hub.signer.clone(), hub.certificate_id)));
        let listener = Listener::bind("127.0.0.1:0", hub.server_config().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (links_tx, links) = mpsc::channel(8);
        let task = tokio::spawn(async move {
            let acceptor = listener.acceptor();
            loop {
                let Ok((tcp, peer)) = listener.accept_tcp().await else { continue };
                let Ok(Accepted { mut reader, mut writer, .. }) = handshake(&acceptor, tcp, peer).await else { continue };
                let Ok(Some(EdgeToHub::Hello { edge_id, checkpoint_size: held, .. })) = reader.recv::<EdgeToHub>().await else { continue };
                if writer.send(&HubToEdge::Welcome { last_batch_seq: None }).await.is_err() {
                    continue;
                }
                let (to_edge, mut outgoing) = mpsc::channel::<HubToEdge>(64);
                let (results_tx, results) = mpsc::channel(64);
                tokio::spawn(async move {
                    while let Some(m) = outgoing.recv().await {
                        if writer.send(&m).await.is_err() {
                            break;
                        }
                    }
                });
                let acks = to_edge.clone();
                tokio::spawn(async move {
                    while let Ok(Some(m)) = reader.recv::<EdgeToHub>().await {
                        match m {
                            EdgeToHub::Batch(b) => {
                                let _ = acks.send(HubToEdge::Ack { batch_seq: b.header.batch_seq }).await;
                            }
                            EdgeToHub::CommandResult(r) => {
                                let _ = results_tx.send(r).await;
                            }
                            EdgeToHub::Hello { .. } | EdgeToHub::Intrusion { .. } => {}
                        }
                    }
                });
                if links_tx.send(EdgeLink { edge_id, to_edge, results, log: log.clone(), held }).await.is_err() {
                    return;
                }
            }
        });
        Self { addr, links, _task: AbortOnDrop(task) }
    }

    /// The next edge that connects and says hello.
    async fn next_edge(&mut self) -> EdgeLink {
        let link = tokio::time::timeout(STEP, self.links.recv()).await.expect("an edge connects to the fake hub").unwrap();
        assert_eq!(link.edge_id, "edge-1");
        link
    }
}

impl EdgeLink {
    /// Sends a command with the log proof the test chose; returns the edge's refusal reason.
    async fn send_with_proof(
        &mut self,
        signed: &SignedCommand,
        proof: gridtrust_trust::checkpoint::EntryInLog,
        anchors: &Identity,
    ) -> String {
        let digest = signed.digest();
        self.to_edge.send(HubToEdge::Command { command: Box::new(signed.clone()), log: Box::new(proof) }).await.unwrap();
        let result =
            tokio::time::timeout(STEP, self.results.recv()).await.expect("a result from the edge in time").expect("edge connected");
        refusal(&[check_result(anchors, &result, &digest, IdentityKind::Edge, "edge-1")], "edge edge-1")
    }

    /// Sends a command to the edge and collects its results (each checked as signed by edge-1
    /// and bound to this command) up to the final one.
    async fn send(&mut self, signed: &SignedCommand, anchors: &Identity) -> Vec<CommandOutcome> {
        let digest = signed.digest();
        let proof = self.log.lock().unwrap().append_and_prove(&signed.log_entry().unwrap(), self.held);
        self.held = Some(proof.checkpoint.checkpoint.tree_size);
        self.to_edge.send(HubToEdge::Command { command: Box::new(signed.clone()), log: Box::new(proof) }).await.unwrap();
        let mut outcomes = Vec::new();
        let deadline = tokio::time::Instant::now() + STEP;
        while !outcomes.last().is_some_and(is_final) {
            let result = tokio::time::timeout_at(deadline, self.results.recv())
                .await
                .expect("a result from the edge in time")
                .expect("edge connected");
            outcomes.push(check_result(anchors, &result, &digest, IdentityKind::Edge, "edge-1"));
        }
        outcomes
    }
}

/// Device, real edge and a fake hub holding the real hub's key, with the edge connected to both.
struct CompromisedHubSetup {
    site: Site,
    device: Device,
    edge: Edge,
    edge_config: PathBuf,
    fake_hub: FakeHub,
    link: EdgeLink,
    /// The real hub's identity: the key the fake hub countersigns with, and the anchors results
    /// are checked against.
    hub: Identity,
}

impl CompromisedHubSetup {
    async fn start(site: Site) -> Self {
        let device = Device::start().await;
        let hub = site.identity("hub");
        let mut fake_hub = FakeHub::start(&hub).await;
        let edge_config = site.write_edge_config(fake_hub.addr, device.addr());
        let edge = start_edge(&edge_config).await;
        let link = fake_hub.next_edge().await;
        device.wait_for_edge().await;
        Self { site, device, edge, edge_config, fake_hub, link, hub }
    }

    /// Positive control: a properly signed and authorised command opens the breaker.
    async fn open_breaker_legitimately(&mut self, cc: &Issuer) -> SignedCommand {
        let signed = issue_authorised(&command(&cc.name, DoublePoint::Off), cc, &self.hub);
        let outcomes = self.link.send(&signed, &self.hub).await;
        assert_eq!(outcomes, [CommandOutcome::Confirmed, CommandOutcome::Terminated], "the legitimate command executes");
        assert_eq!((self.device.operations(), self.device.position()), (1, DoublePointValue::Off));
        signed
    }

    /// Sends an attack command that would close the breaker and returns the edge's refusal reason,
    /// after checking the device did not operate and the edge counted the refusal.
    async fn refused(&mut self, signed: &SignedCommand) -> String {
        let (operations, position) = (self.device.operations(), self.device.position());
        let refused_before = self.edge.stats.commands_refused.load(Ordering::Relaxed);
        let outcomes = self.link.send(signed, &self.hub).await;
        let reason = refusal(&outcomes, "edge edge-1");
        assert_eq!(self.edge.stats.commands_refused.load(Ordering::Relaxed), refused_before + 1, "refusal counted");
        assert_eq!((self.device.operations(), self.device.position()), (operations, position), "the device did not operate: {reason}");
        reason
    }

    async fn shutdown(self) {
        self.edge.shutdown();
        self.device.handle.shutdown().await;
    }
}

// ---------------------------------------------------------------------------------------------
// Scenario 4: replay

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_command_is_refused_at_the_edge_even_after_a_restart() {
    let mut s = CompromisedHubSetup::start(Site::new()).await;
    let cc = s.site.issuer("cc-1");

    // The operator opens the breaker, then closes it again: both execute.
    let open = s.open_breaker_legitimately(&cc).await;
    let close = issue_authorised(&command("cc-1", DoublePoint::On), &cc, &s.hub);
    assert_eq!(s.link.send(&close, &s.hub).await, [CommandOutcome::Confirmed, CommandOutcome::Terminated]);
    assert_eq!((s.device.operations(), s.device.position()), (2, DoublePointValue::On));

    // The compromised hub replays the identical "open": refused, the breaker stays closed.
    let reason = s.refused(&open).await;
    assert!(reason.contains("replayed"), "{reason}");
    assert_eq!(s.device.position(), DoublePointValue::On);

    // The edge restarts on the same data dir; the replay is still refused.
    s.edge.shutdown();
    s.edge = start_edge(&s.edge_config).await;
    s.link = s.fake_hub.next_edge().await;
    let reason = s.refused(&open).await;
    assert!(reason.contains("replayed"), "after restart: {reason}");
    assert_eq!((s.device.operations(), s.device.position()), (2, DoublePointValue::On));
    s.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Scenario 5: freshness

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_overlong_and_future_commands_are_refused_at_the_edge() {
    let mut s = CompromisedHubSetup::start(Site::new()).await;
    let cc = s.site.issuer("cc-1");
    s.open_breaker_legitimately(&cc).await;

    // Expired half a minute ago, properly signed and authorised.
    let expired = issue_authorised(&command_at("cc-1", DoublePoint::On, -60 * SECOND, -30 * SECOND), &cc, &s.hub);
    let reason = s.refused(&expired).await;
    assert!(reason.starts_with("command expired"), "{reason}");

    // Valid for an hour: longer than the edge's 300 s maximum (which bounds its replay cache).
    let overlong = issue_authorised(&command_at("cc-1", DoublePoint::On, 0, 3600 * SECOND), &cc, &s.hub);
    let reason = s.refused(&overlong).await;
    assert!(reason.contains("validity exceeds 300 s"), "{reason}");

    // Issued a minute in the future, beyond the allowed clock skew.
    let future = issue_authorised(&command_at("cc-1", DoublePoint::On, 60 * SECOND, 120 * SECOND), &cc, &s.hub);
    let reason = s.refused(&future).await;
    assert!(reason.contains("issued in the future"), "{reason}");

    assert_eq!((s.device.operations(), s.device.position()), (1, DoublePointValue::Off));
    s.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Scenario 6a: an issuer without an operating role

/// A control-centre connector of the test's making, on the real hub's connector port.
struct CcClient {
    outgoing: mpsc::Sender<CcToHub>,
    incoming: mpsc::Receiver<HubToCc>,
    _tasks: Vec<AbortOnDrop>,
}

/// What `connect` returns, for any stream type.
type Connection<R, W> = Result<(FramedReader<R>, FramedWriter<W>), FrameError>;

impl CcClient {
    /// Finishes `connection` and says hello as `cc_id`.
    async fn start<R, W>(connection: impl Future<Output = Connection<R, W>>, cc_id: &str) -> Self
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let (reader, mut writer) = connection.await.expect("connected to the hub's connector port");
        writer
            .send(&CcToHub::Hello { cc_id: cc_id.to_owned(), protocol: PROTOCOL_VERSION, checkpoint_size: None, positions: Vec::new() })
            .await
            .unwrap();
        let (incoming_tx, incoming) = mpsc::channel(4096);
        let reader = reader.spawn_into::<HubToCc>(incoming_tx);
        let (outgoing, mut to_send) = mpsc::channel::<CcToHub>(16);
        let writer = tokio::spawn(async move {
            while let Some(m) = to_send.recv().await {
                if writer.send(&m).await.is_err() {
                    break;
                }
            }
        });
        let reader = tokio::spawn(async move {
            let _ = reader.await;
        });
        Self { outgoing, incoming, _tasks: vec![AbortOnDrop(writer), AbortOnDrop(reader)] }
    }

    /// Waits until the hub passes on a batch carrying `point`.
    async fn wait_for_batch_with(&mut self, point: &str) {
        let deadline = tokio::time::Instant::now() + STEP;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.incoming.recv())
                .await
                .unwrap_or_else(|_| panic!("a batch with {point} from the hub in time"))
                .expect("hub connected");
            if let HubToCc::Batch(batch) = msg
                && batch.records.iter().any(|r| r.point.as_str() == point)
            {
                return;
            }
        }
    }

    /// Sends a signed command and collects its results up to the final one, each checked as
    /// signed by the `kind` identity `name` and bound to the command.
    async fn send(&mut self, signed: &SignedCommand, anchors: &Identity, kind: IdentityKind, name: &str) -> Vec<CommandOutcome> {
        let digest = signed.digest();
        self.outgoing.send(CcToHub::Command(signed.clone())).await.unwrap();
        let mut outcomes = Vec::new();
        let deadline = tokio::time::Instant::now() + STEP;
        while !outcomes.last().is_some_and(is_final) {
            let msg = tokio::time::timeout_at(deadline, self.incoming.recv())
                .await
                .expect("a result from the hub in time")
                .expect("hub connected");
            if let HubToCc::CommandResult(result) = msg {
                outcomes.push(check_result(anchors, &result, &digest, kind, name));
            }
        }
        outcomes
    }
}

/// Whether the hub talks to a connector on `connection`: Ok once its first message arrives, or
/// the reason it did not.
async fn hub_talks_to_cc<R, W>(connection: impl Future<Output = Connection<R, W>>, cc_id: &str) -> Result<(), String>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let attempt = async {
        let (mut r, mut w) = connection.await.map_err(|e| format!("connect: {e}"))?;
        w.send(&CcToHub::Hello { cc_id: cc_id.to_owned(), protocol: PROTOCOL_VERSION, checkpoint_size: None, positions: Vec::new() })
            .await
            .map_err(|e| format!("hello: {e}"))?;
        match r.recv::<HubToCc>().await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err("closed by the hub".to_owned()),
            Err(e) => Err(format!("receive: {e}")),
        }
    };
    tokio::time::timeout(STEP, attempt).await.expect("the hub answers or closes in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewer_command_is_refused_by_hub_policy_and_never_reaches_the_edge() {
    let site = Site::new();
    site.issue(IdentityKind::Cc, "cc-viewer", &[Role::Viewer]);
    let device = Device::start().await;
    let hub = start_hub(&site.write_hub_config()).await;
    let edge = start_edge(&site.write_edge_config(hub.edge_addr, device.addr())).await;
    device.wait_for_edge().await;

    let anchors = site.identity("hub");
    let hub_cc = hub.cc_addr.to_string();
    let (operator, viewer) = (site.identity("cc-1"), site.identity("cc-viewer"));
    let mut operator_cc = CcClient::start(connect(&hub_cc, "hub", operator.client_config().unwrap()), "cc-1").await;
    let mut viewer_cc = CcClient::start(connect(&hub_cc, "hub", viewer.client_config().unwrap()), "cc-viewer").await;
    // The hub routes a point's commands to the edge that reported it; once it passes on a batch
    // with the breaker's position, it knows the route.
    operator_cc.wait_for_batch_with(BREAKER).await;
    let (cc1, ccv) = (site.issuer("cc-1"), site.issuer("cc-viewer"));

    // Positive control: the operator opens the breaker through hub and edge.
    let open = issue(&command("cc-1", DoublePoint::Off), &cc1);
    assert_eq!(
        operator_cc.send(&open, &anchors, IdentityKind::Edge, "edge-1").await,
        [CommandOutcome::Confirmed, CommandOutcome::Terminated]
    );
    assert_eq!((device.operations(), device.position()), (1, DoublePointValue::Off));
    assert_eq!(edge.stats.commands_received.load(Ordering::Relaxed), 1);

    // The viewer's command (claiming OPERATOR in its body; the certificate says VIEWER): the hub
    // refuses it by policy, in a result signed by the hub that names the role.
    let close = issue(&command("cc-viewer", DoublePoint::On), &ccv);
    let outcomes = viewer_cc.send(&close, &anchors, IdentityKind::Hub, "hub").await;
    let reason = refusal(&outcomes, "hub");
    assert!(reason.contains("cc-viewer holds roles [Viewer]") && reason.contains("Operator"), "{reason}");
    assert_eq!(hub.stats().commands_refused.load(Ordering::Relaxed), 1);
    assert_eq!(hub.stats().commands_authorized.load(Ordering::Relaxed), 1);
    assert_eq!((device.operations(), device.position()), (1, DoublePointValue::Off), "the device did not operate");

    // A fence: the operator's next command is the second (not the third) the edge receives, so
    // the viewer's never went out on the hub's FIFO link to the edge.
    let close_ok = issue(&command("cc-1", DoublePoint::On), &cc1);
    assert_eq!(
        operator_cc.send(&close_ok, &anchors, IdentityKind::Edge, "edge-1").await,
        [CommandOutcome::Confirmed, CommandOutcome::Terminated]
    );
    assert_eq!(edge.stats.commands_received.load(Ordering::Relaxed), 2, "the viewer's command never reached the edge");
    assert_eq!(edge.stats.commands_refused.load(Ordering::Relaxed), 0);
    assert_eq!((device.operations(), device.position()), (2, DoublePointValue::On));

    drop((operator_cc, viewer_cc));
    edge.shutdown();
    hub.shutdown();
    device.handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewer_command_countersigned_by_a_compromised_hub_is_refused_at_the_edge() {
    let site = Site::new();
    site.issue(IdentityKind::Cc, "cc-viewer", &[Role::Viewer]);
    let mut s = CompromisedHubSetup::start(site).await;
    s.open_breaker_legitimately(&s.site.issuer("cc-1")).await;

    // The body claims OPERATOR; the edge goes by the certificate's roles.
    let viewer = s.site.issuer("cc-viewer");
    let close = issue_authorised(&command("cc-viewer", DoublePoint::On), &viewer, &s.hub);
    let reason = s.refused(&close).await;
    assert!(reason.starts_with("issuer not allowed") && reason.contains("cc-viewer holds roles [Viewer]"), "{reason}");
    assert_eq!(s.device.position(), DoublePointValue::Off);
    s.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Scenario 6b: a revoked issuer

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_issuer_is_refused_at_the_edge_and_its_tls_by_the_hub() {
    let site = Site::new();
    let hub_config = site.write_hub_config();
    // cc-1's TLS client as an attacker holding its key would run it: it does not check its own
    // revocation, so any refusal comes from the hub.
    let cc_tls = {
        let dev = DevPki::open(&site.pki());
        let (chain, key) = dev.tls_identity("cc-1").unwrap();
        gridtrust_pki::client_config(&dev.anchors().unwrap().without_revocation().into(), chain, key).unwrap()
    };
    let hub = start_hub(&hub_config).await;
    hub_talks_to_cc(connect(&hub.cc_addr.to_string(), "hub", cc_tls.clone()), "cc-1")
        .await
        .expect("the hub talks to cc-1 before the revocation");

    let mut s = CompromisedHubSetup::start(site).await;
    let cc = s.site.issuer("cc-1");
    s.open_breaker_legitimately(&cc).await;

    // cc-1's key is compromised: its certificate is revoked and the CRL published. The edge
    // loads the CRL when it starts.
    let serial = s.site.revoke("cc-1");
    s.edge.shutdown();
    s.edge = start_edge(&s.edge_config).await;
    s.link = s.fake_hub.next_edge().await;
    let close = issue_authorised(&command("cc-1", DoublePoint::On), &cc, &s.hub);
    let reason = s.refused(&close).await;
    assert!(reason.starts_with("issuer certificate") && reason.contains("revoked"), "{reason}");
    assert_eq!((s.device.operations(), s.device.position()), (1, DoublePointValue::Off));

    // The real hub, restarted with the new CRL, refuses cc-1's TLS connection.
    hub.shutdown();
    let hub = start_hub(&hub_config).await;
    let refused =
        hub_talks_to_cc(connect(&hub.cc_addr.to_string(), "hub", cc_tls), "cc-1").await.expect_err("the hub refuses revoked cc-1");
    eprintln!("revoked cc-1 (serial {serial}) at the restarted hub: {refused}");
    assert!(refused.contains("CertificateRevoked"), "refused in the TLS handshake: {refused}");
    hub.shutdown();
    s.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Scenario 6c: the hub's authorisation missing or forged, the command altered

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorised_self_authorised_and_altered_commands_are_refused_at_the_edge() {
    let mut s = CompromisedHubSetup::start(Site::new()).await;
    let cc = s.site.issuer("cc-1");
    s.open_breaker_legitimately(&cc).await;

    // Signed by the cc, never authorised by the hub (a hub bypassed, or a cc talking to the edge).
    let unauthorised = issue(&command("cc-1", DoublePoint::On), &cc);
    let reason = s.refused(&unauthorised).await;
    assert!(reason.contains("no hub authorisation"), "{reason}");

    // "Authorised" with the cc's own key: a stolen cc key alone cannot stand in for the hub.
    let mut self_authorised = issue(&command("cc-1", DoublePoint::On), &cc);
    self_authorised.authorize(&cc.signer, &cc.certificate).unwrap();
    let reason = s.refused(&self_authorised).await;
    assert!(reason.starts_with("authoriser not allowed"), "{reason}");

    // The cc signed "open"; the compromised hub turns it into "close" and countersigns that.
    let mut altered = issue(&command("cc-1", DoublePoint::Off), &cc);
    let mut body = altered.command().unwrap();
    body.value = CommandValue::Double(DoublePoint::On);
    altered.command = encode_command(&body).unwrap();
    altered.authorize(s.hub.signer.as_ref(), &s.hub.certificate).unwrap();
    let reason = s.refused(&altered).await;
    assert!(reason.starts_with("issuer signature does not verify"), "{reason}");

    assert_eq!((s.device.operations(), s.device.position()), (1, DoublePointValue::Off));
    s.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Scenario 7: rogue edges at the real hub

/// A one-record batch of `edge-1` continuing from `resume`, signed with `signer` as `certificate`.
fn signed_batch(signer: &dyn Signer, certificate: &[u8], resume: Resume, value: f32) -> SignedBatch {
    batch_of("edge-1", FEEDER_POWER, signer, certificate, resume, value)
}

/// A one-record batch of `edge_id` for `point`, continuing from `resume`, signed with `signer`.
fn batch_of(edge_id: &str, point: &str, signer: &dyn Signer, certificate: &[u8], resume: Resume, value: f32) -> SignedBatch {
    let mut batcher = Batcher::new(edge_id, 1000, Duration::from_millis(10), resume);
    let datum = Datum {
        point: PointId::new(point).unwrap(),
        value: Value::Float(value),
        quality: Quality::GOOD,
        source_time: None,
        received_at: Timestamp::now(),
    };
    assert!(batcher.push(Instant::now(), datum).is_none());
    let mut batch = batcher.flush(Timestamp::now()).unwrap();
    batch.sign(signer, certificate_id(certificate)).unwrap();
    batch
}

const FEEDER_POWER: &str = "F1/MMXU1.TotW";

/// How an edge session at the hub ended.
#[derive(Debug)]
struct EdgeSession {
    welcomed: bool,
    /// The acknowledged batch, or why none was.
    acked: Result<u64, String>,
}

/// Connects as an edge, says hello as `edge_id` and sends `batch` right away (an attacker does
/// not wait to be welcomed), then reads until the batch is acknowledged or the hub hangs up.
async fn edge_session<R, W>(connection: impl Future<Output = Connection<R, W>>, edge_id: &str, batch: SignedBatch) -> EdgeSession
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut welcomed = false;
    let attempt = async {
        let (mut r, mut w) = connection.await.map_err(|e| format!("connect: {e}"))?;
        w.send(&EdgeToHub::Hello { edge_id: edge_id.to_owned(), protocol: PROTOCOL_VERSION, checkpoint_size: None })
            .await
            .map_err(|e| format!("hello: {e}"))?;
        // A failed write is not the end: the hub's reason may still be waiting to be read.
        let sent = w.send(&EdgeToHub::Batch(batch)).await;
        loop {
            match r.recv::<HubToEdge>().await {
                Ok(Some(HubToEdge::Welcome { .. })) => welcomed = true,
                Ok(Some(HubToEdge::Ack { batch_seq })) => return Ok(batch_seq),
                Ok(Some(HubToEdge::Command { .. })) => {}
                Ok(None) => return Err(format!("closed by the hub (batch send: {sent:?})")),
                Err(e) => return Err(format!("receive: {e} (batch send: {sent:?})")),
            }
        }
    };
    let acked = tokio::time::timeout(STEP, attempt).await.expect("the hub answers or closes in time");
    EdgeSession { welcomed, acked }
}

/// The real hub and, as a positive control, the genuine edge-1 storing one batch through the
/// same client code the attacks use. Returns the hub and the stored batch's header hash.
async fn hub_with_one_genuine_batch(site: &Site) -> (Hub, Resume) {
    let hub = start_hub(&site.write_hub_config()).await;
    let genuine = site.identity("edge-1");
    let batch = signed_batch(genuine.signer.as_ref(), &genuine.certificate, Resume::FRESH, 1.0);
    let next = Resume { next_seq: 1, next_batch_seq: 1, prev_header_hash: batch.header.hash() };
    let session = edge_session(connect(&hub.edge_addr.to_string(), "hub", genuine.client_config().unwrap()), "edge-1", batch).await;
    assert!(session.welcomed && session.acked == Ok(0), "the genuine edge-1 stores a batch: {session:?}");
    assert_eq!(hub.store().record_count().unwrap(), 1);
    (hub, next)
}

fn stored_power(hub: &Hub) -> Option<Value> {
    hub.store().latest(&PointId::new(FEEDER_POWER).unwrap()).unwrap().map(|r| r.value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_with_a_certificate_from_another_ca_is_refused_by_the_hub() {
    let site = Site::new();
    let (hub, next) = hub_with_one_genuine_batch(&site).await;

    // A second development-style CA in another folder issues its own "edge-1". (It needs a name
    // of its own: a client cannot trust two CAs of one name, and the rogue edge must trust the
    // real CA to reach the point where the hub judges its certificate.)
    let rogue = DevPki::open(&site.dir.join("rogue-pki"));
    std::fs::create_dir_all(rogue.dir()).unwrap();
    let ca = gridtrust_pki::Ca::init(
        rogue.dir(),
        "gridtrust rogue CA",
        Duration::from_secs(48 * 3600),
        gridtrust_pki::generate_software_key(&rogue.dir().join("ca.key.pem")).unwrap(),
    )
    .unwrap();
    let files = rogue.files("edge-1");
    let key = SoftwareSigner::generate(&files.key).unwrap();
    let issued = ca
        .issue(&IssueRequest {
            kind: IdentityKind::Edge,
            name: "edge-1".into(),
            roles: vec![Role::Viewer],
            validity: Duration::from_secs(24 * 3600),
            public_key: PublicKey::from_sec1(&key.public_key()).unwrap(),
            extra_sans: Vec::new(),
        })
        .unwrap();
    std::fs::write(&files.cert, &issued.pem).unwrap();
    ca.crl(Duration::from_secs(24 * 3600)).unwrap();

    // The rogue edge trusts both CAs, presents its own certificate and signs with its own key.
    let (real, own) = (DevPki::open(&site.pki()).anchors().unwrap(), rogue.anchors().unwrap());
    let anchors = TrustAnchors::new([real.roots(), own.roots()].concat(), [real.crls(), own.crls()].concat()).unwrap();
    let (chain, tls_key) = rogue.tls_identity("edge-1").unwrap();
    let tls = gridtrust_pki::client_config(&anchors.into(), chain, tls_key).unwrap();
    let batch = signed_batch(&key, &issued.der[..], next, 666.0);
    let session = edge_session(connect(&hub.edge_addr.to_string(), "hub", tls), "edge-1", batch).await;
    eprintln!("rogue-CA edge-1 at the hub: {session:?}");
    assert!(!session.welcomed, "never welcomed: {session:?}");
    let reason = session.acked.expect_err("nothing acknowledged");
    assert!(reason.contains("UnknownCA"), "refused in the TLS handshake: {reason}");

    assert_eq!(hub.store().record_count().unwrap(), 1, "nothing stored");
    assert_eq!(hub.stats().batches_applied.load(Ordering::Relaxed), 1);
    assert_eq!(stored_power(&hub), Some(Value::Float(1.0)));
    hub.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_claiming_another_edges_id_is_refused_by_the_hub() {
    let site = Site::new();
    site.issue(IdentityKind::Edge, "edge-2", &[Role::Viewer]);
    let (hub, next) = hub_with_one_genuine_batch(&site).await;
    let refused_before = hub.stats().peers_refused.load(Ordering::Relaxed);

    // edge-2, with a valid certificate of the same CA, says it is edge-1 and sends an edge-1
    // batch signed with its own key.
    let impostor = site.identity("edge-2");
    let batch = signed_batch(impostor.signer.as_ref(), &impostor.certificate, next, 666.0);
    let session = edge_session(connect(&hub.edge_addr.to_string(), "hub", impostor.client_config().unwrap()), "edge-1", batch).await;
    eprintln!("edge-2 claiming edge-1 at the hub: {session:?}");
    assert!(!session.welcomed, "never welcomed: {session:?}");
    assert!(session.acked.is_err(), "nothing acknowledged: {session:?}");
    common::poll_until(STEP, "the hub counts the refused peer", || hub.stats().peers_refused.load(Ordering::Relaxed) == refused_before + 1)
        .await;

    assert_eq!(hub.store().record_count().unwrap(), 1, "nothing stored");
    assert_eq!(hub.stats().batches_applied.load(Ordering::Relaxed), 1);
    assert_eq!(stored_power(&hub), Some(Value::Float(1.0)));
    hub.shutdown();
}

// ---------------------------------------------------------------------------------------------
// Issue 11: point authority, forks, command targets and log inclusion

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_reporting_a_point_it_does_not_own_is_refused_by_the_hub_with_an_authority_alarm() {
    let site = Site::new();
    site.issue(IdentityKind::Edge, "edge-2", &[Role::Viewer]);
    let (hub, _) = hub_with_one_genuine_batch(&site).await;

    // edge-2, valid certificate of the same CA, in its own name, reports edge-1's feeder with a
    // timestamp in the future: what a hostile or misconfigured substation would send.
    let rogue = site.identity("edge-2");
    let batch = batch_of("edge-2", FEEDER_POWER, rogue.signer.as_ref(), &rogue.certificate, Resume::FRESH, 666.0);
    let session = edge_session(connect(&hub.edge_addr.to_string(), "hub", rogue.client_config().unwrap()), "edge-2", batch).await;
    eprintln!("edge-2 reporting edge-1's point: {session:?}");
    assert!(session.welcomed, "edge-2 is a valid edge: {session:?}");
    assert!(session.acked.is_err(), "its batch is not acknowledged: {session:?}");
    let alarm = hub.alarms(true).into_iter().find(|a| a.kind == AlarmKind::Authority).expect("an authority alarm");
    assert_eq!((alarm.source.as_str(), alarm.point.as_deref()), ("edge-2", Some(FEEDER_POWER)));
    assert!(
        alarm.message.contains(&format!("point {FEEDER_POWER} belongs to edge edge-1 in point registry version 1")),
        "{}",
        alarm.message
    );
    assert_eq!(hub.stats().authority_refusals.load(Ordering::Relaxed), 1);
    assert_eq!(stored_power(&hub), Some(Value::Float(1.0)), "the owner's value stays");
    assert_eq!(hub.store().record_count().unwrap(), 1, "nothing of edge-2 stored");
    hub.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_batch_seq_with_another_header_raises_a_fork_alarm_instead_of_an_ack() {
    let site = Site::new();
    let (hub, _) = hub_with_one_genuine_batch(&site).await;
    // Batch 0 again, properly signed by edge-1, but another history: another value.
    let genuine = site.identity("edge-1");
    let forked = signed_batch(genuine.signer.as_ref(), &genuine.certificate, Resume::FRESH, 2.0);
    let session = edge_session(connect(&hub.edge_addr.to_string(), "hub", genuine.client_config().unwrap()), "edge-1", forked).await;
    eprintln!("edge-1 resending batch 0 with another header: {session:?}");
    assert!(session.acked.is_err(), "a forked batch is not acknowledged as a duplicate: {session:?}");
    let alarm = hub.alarms(true).into_iter().find(|a| a.kind == AlarmKind::Chain).expect("a chain alarm");
    assert!(alarm.message.contains("forked: batch 0 arrived with a different header"), "{}", alarm.message);
    assert_eq!(hub.stats().forks.load(Ordering::Relaxed), 1);
    assert_eq!(hub.stats().batches_duplicate.load(Ordering::Relaxed), 0);
    assert_eq!(stored_power(&hub), Some(Value::Float(1.0)), "the stored history stays");
    hub.shutdown();
}

// ---------------------------------------------------------------------------------------------
// Issue 12: one commit at the hub

/// Fault: the hub committed a batch to its store and died before the log's commit. At its next
/// start it logs what is stored but missing from the log, before any session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_stored_but_not_logged_before_a_crash_is_logged_at_the_next_start() {
    let site = Site::new();
    let config = site.write_hub_config();
    let genuine = site.identity("edge-1");
    let batches: Vec<SignedBatch> = (0..3)
        .scan(Resume::FRESH, |resume, i| {
            let b = signed_batch(genuine.signer.as_ref(), &genuine.certificate, *resume, i as f32);
            *resume =
                Resume { next_seq: resume.next_seq + 1, next_batch_seq: resume.next_batch_seq + 1, prev_header_hash: b.header.hash() };
            Some(b)
        })
        .collect();
    // Batch 0 went through both commits in an earlier run; batches 1 and 2 were stored and the
    // hub died before logging them.
    let hub = start_hub(&config).await;
    let session =
        edge_session(connect(&hub.edge_addr.to_string(), "hub", genuine.client_config().unwrap()), "edge-1", batches[0].clone()).await;
    assert_eq!(session.acked, Ok(0));
    for b in &batches[1..] {
        let verified = VerifiedBatch::signed(Arc::new(b.clone()), &genuine.signer.public_key()).unwrap();
        hub.store().apply_batch("edge-1", &verified).unwrap();
    }
    let entries: Vec<LogEntry> = batches.iter().map(|b| LogEntry::BatchHeader(b.sealed_header())).collect();
    assert!(!hub.ledger().contains(&entries[2]).unwrap(), "the fault: stored, not logged");
    let logged_before = hub.ledger().size();
    hub.shutdown();
    let hub = start_hub(&config).await;
    for (i, entry) in entries.iter().enumerate() {
        assert!(hub.ledger().contains(entry).unwrap(), "batch {i} is in the log after the restart");
    }
    assert_eq!(hub.ledger().size(), logged_before + 2 + 2, "batches 1 and 2 logged once (plus the start's two entries)");
    hub.shutdown();
}

/// Fault: the hub's clock ran an hour ahead, then was set right and the hub restarted. Its
/// checkpoints must not go back in time (connectors refuse that, which would lock every cc out
/// for an hour): the first one after the restart is no older than the last one signed before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_restarted_after_its_clock_stepped_back_never_signs_an_older_checkpoint() {
    let site = Site::new();
    let config = site.write_hub_config();
    let data = HubConfig::load(&config).unwrap().data_dir;
    let hub = start_hub(&config).await;
    let genuine = site.identity("edge-1");
    let batch = signed_batch(genuine.signer.as_ref(), &genuine.certificate, Resume::FRESH, 1.0);
    assert_eq!(
        edge_session(connect(&hub.edge_addr.to_string(), "hub", genuine.client_config().unwrap()), "edge-1", batch).await.acked,
        Ok(0)
    );
    let signed = tokio::task::block_in_place(|| hub.ledger().checkpoint()).unwrap();
    hub.shutdown();
    // The last checkpoint of that run, as the hub wrote it with its clock an hour ahead.
    let hour = 3_600_000_000_000;
    let ahead = Checkpoint { timestamp: Timestamp(Timestamp::now().0 + hour), ..signed.checkpoint.clone() };
    let key = site.identity("hub");
    let ahead = SignedCheckpoint::sign(ahead, key.signer.as_ref(), key.certificate_id).unwrap();
    std::fs::write(data.join(gridtrust_hub::ledger::CHECKPOINT_FILE), ahead.encode()).unwrap();

    let hub = start_hub(&config).await;
    let next = tokio::task::block_in_place(|| hub.ledger().checkpoint()).unwrap();
    assert!(
        next.checkpoint.timestamp >= ahead.checkpoint.timestamp,
        "signed at {:?}, before the last checkpoint's {:?}",
        next.checkpoint.timestamp,
        ahead.checkpoint.timestamp
    );
    hub.shutdown();
}

/// Fault: the same state while the hub runs (a store commit whose log commit failed). The edge,
/// never acknowledged, resends the batch; the hub logs it before acknowledging the duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_stored_but_not_logged_is_logged_when_the_edge_resends_it() {
    let site = Site::new();
    let config = site.write_hub_config();
    let genuine = site.identity("edge-1");
    let batch = signed_batch(genuine.signer.as_ref(), &genuine.certificate, Resume::FRESH, 1.0);
    let entry = LogEntry::BatchHeader(batch.sealed_header());
    let hub = start_hub(&config).await;
    let verified = VerifiedBatch::signed(Arc::new(batch.clone()), &genuine.signer.public_key()).unwrap();
    hub.store().apply_batch("edge-1", &verified).unwrap();
    assert!(!hub.ledger().contains(&entry).unwrap(), "the fault: the stored batch is not in the log");
    let session = edge_session(connect(&hub.edge_addr.to_string(), "hub", genuine.client_config().unwrap()), "edge-1", batch).await;
    assert_eq!(session.acked, Ok(0), "the resend is acknowledged: {session:?}");
    assert!(hub.ledger().contains(&entry).unwrap(), "acknowledged only once it is in the log");
    assert_eq!(hub.stats().batches_duplicate.load(Ordering::Relaxed), 1, "stored once, not twice");
    assert_eq!(hub.store().record_count().unwrap(), 1);
    hub.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_for_another_edge_is_refused_at_the_edge() {
    let mut s = CompromisedHubSetup::start(Site::new()).await;
    let cc = s.site.issuer("cc-1");
    s.open_breaker_legitimately(&cc).await;
    // A command that cc-1 issued for edge-2's breaker of the same name (two substations built
    // from one template): the hub forwards it to edge-1 instead.
    let mut for_edge_2 = command(&cc.name, DoublePoint::On);
    for_edge_2.edge = "edge-2".into();
    let reason = s.refused(&issue_authorised(&for_edge_2, &cc, &s.hub)).await;
    assert_eq!(reason, "command is for edge edge-2, not for this edge edge-1");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_the_hub_kept_out_of_its_log_is_refused_at_the_edge() {
    let mut s = CompromisedHubSetup::start(Site::new()).await;
    let cc = s.site.issuer("cc-1");
    s.open_breaker_legitimately(&cc).await;
    let (operations, refused_before) = (s.device.operations(), s.edge.stats.commands_refused.load(Ordering::Relaxed));

    // The hub logs some other entry and sends the command with that entry's proof.
    let unlogged = issue_authorised(&command(&cc.name, DoublePoint::On), &cc, &s.hub);
    let decoy = issue_authorised(&command(&cc.name, DoublePoint::Off), &cc, &s.hub);
    let proof = s.link.log.lock().unwrap().append_and_prove(&decoy.log_entry().unwrap(), s.link.held);
    s.link.held = Some(proof.checkpoint.checkpoint.tree_size);
    let reason = s.link.send_with_proof(&unlogged, proof, &s.hub).await;
    assert!(reason.starts_with("command not proven in the hub's log: entry"), "{reason}");

    // The hub shows this edge another history than the one whose checkpoint it holds: a log
    // that holds the command, but not the entries the edge saw before.
    let mut other = FakeLog::new(&s.hub.me.name, s.hub.signer.clone(), s.hub.certificate_id);
    let forged = issue_authorised(&command(&cc.name, DoublePoint::On), &cc, &s.hub);
    let proof = other.append_and_prove(&forged.log_entry().unwrap(), s.link.held);
    let reason = s.link.send_with_proof(&forged, proof, &s.hub).await;
    assert!(reason.starts_with("command not proven in the hub's log:"), "{reason}");
    assert!(reason.contains("forked") || reason.contains("not proven consistent"), "{reason}");

    assert_eq!(s.edge.stats.commands_refused.load(Ordering::Relaxed), refused_before + 2);
    assert_eq!(s.device.operations(), operations, "the device did not operate");
    s.shutdown().await;
}
