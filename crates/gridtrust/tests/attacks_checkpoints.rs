//! Attacks on how the control-centre connector (cc) follows the hub's transparency log and the
//! edges' batch chains, with the real roles running: an IEC 104 RTU we drive value by value,
//! the edge, the hub, a man-in-the-middle holding the hub's key between hub and cc
//! ([`mitm::Mitm`], a compromised hub), the cc, and a SCADA client on the cc. Every scenario
//! ends in the specific refusal or alarm it is meant to provoke.
//!
//! 1. `a_hub_that_stops_sending_checkpoints_raises_the_silence_alarm`: the hub keeps sending
//!    data but no checkpoint. The cc raises an alarm after `[checkpoints] max_silence_s`, and
//!    another when checkpoints resume.
//! 2. `a_checkpoint_of_another_log_is_refused_even_as_the_first`: the first checkpoint the cc
//!    ever sees is signed with the hub's key but names another log. The cc refuses it (the
//!    log id must be the configured hub's name) and never persists it.
//!    `a_checkpoint_of_this_log_signed_by_another_hub_is_refused`: a second hub certificate
//!    from the same CA signs a checkpoint naming this hub's log; the cc refuses it because the
//!    signer is not the configured hub.
//! 3. `a_pinned_cc_refuses_a_log_not_consistent_with_the_pin_on_first_connection`: a cc with
//!    no checkpoint of its own but a pinned one (`[checkpoints.pinned]`) meets a hub whose log
//!    has another root at the pinned size; it refuses the hub's checkpoints instead of trusting
//!    the first on first use. The same cc pinned to the hub's real tree accepts them.
//! 4. `a_head_that_jumps_raises_a_gap_alarm_naming_the_hidden_batches`: the hub withholds two
//!    batches and sends the edge's newer (genuine, signed) header as the chain head instead,
//!    so the next live batch follows it. The cc names the batch never seen.
//! 5. `a_forged_record_with_a_huge_seq_does_not_block_the_genuine_values`: the hub injects a
//!    forged batch for edge-1 whose record seq is near `u64::MAX`. SCADA sees it with IV and an
//!    alarm names the seq, and the genuine values after it are still served as good.
//! 6. `a_configuration_that_turns_signatures_off_is_refused_at_start`: `[evidence]
//!    signatures = false` in the hub's, edge's or cc's file is refused, naming the key, by the
//!    configuration loaders and by `gridtrust cc`.

// `Tap::once` hands a message it lets pass back as `Err(HubToCc)`, a large enum by design.
#![allow(clippy::result_large_err)]

#[path = "support/common.rs"]
mod common;
#[path = "support/mitm.rs"]
mod mitm;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use gridtrust::chain::{DemoKeys, provision};
use gridtrust::registry::{DEV_AUTHORITY_TABLE, write_dev_registry};
use gridtrust_cc::{Alarm, Cc, CcConfig};
use gridtrust_edge::Edge;
use gridtrust_edge::config::EdgeConfig;
use gridtrust_hub::{Hub, HubConfig};
use gridtrust_iec104::asdu::{Element, InformationObject, Qds};
use gridtrust_iec104::client::{Client, ClientConfig, ClientEvent, ClientHandle};
use gridtrust_iec104::server::{IncomingCommand, Server, ServerConfig, ServerHandle};
use gridtrust_model::Value;
use gridtrust_pki::{DevPki, IdentityKind, Role};
use gridtrust_transport::{CcToHub, HubToCc};
use gridtrust_trust::SignedBatch;
use gridtrust_trust::checkpoint::SignedCheckpoint;

use mitm::Mitm;

const POINT: &str = "LD0/MMXU1.TotW";
const RTU_IOA: u32 = 1;
const SCADA_IOA: u32 = 10_001;

/// How long any awaited condition may take before the test fails.
const WAIT: Duration = Duration::from_secs(10);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Polls `cond` until it holds; fails the test naming `what` after [`WAIT`].
async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out after {WAIT:?} waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn read_checkpoint(path: &Path) -> Option<SignedCheckpoint> {
    SignedCheckpoint::decode(&std::fs::read(path).ok()?).ok()
}

/// Our SCADA: an IEC 104 client on the cc.
struct Scada {
    _client: ClientHandle,
    events: mpsc::Receiver<ClientEvent>,
}

impl Scada {
    async fn connect(addr: std::net::SocketAddr) -> Self {
        let (client, events) = Client::connect(addr, None, ClientConfig::default()).await.expect("SCADA connects to the cc");
        Self { _client: client, events }
    }

    /// Reads the point's values until one satisfies `pred` within `within`; every value seen,
    /// the matching one last, or what was seen on timeout.
    async fn try_until(&mut self, within: Duration, pred: &dyn Fn(f32, &Qds) -> bool) -> Result<Vec<(f32, Qds)>, Vec<(f32, Qds)>> {
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            let Ok(event) = tokio::time::timeout_at(deadline, self.events.recv()).await else { return Err(seen) };
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
                other => panic!("SCADA connection ended: {other:?}"),
            }
        }
    }

    async fn until(&mut self, what: &str, pred: impl Fn(f32, &Qds) -> bool) -> Vec<(f32, Qds)> {
        self.try_until(WAIT, &pred).await.unwrap_or_else(|seen| panic!("SCADA did not receive {what} within {WAIT:?}; it saw {seen:?}"))
    }
}

/// RTU → edge → hub → MITM (passing everything until a test sets a tap) → cc → SCADA, from
/// configuration files in a temporary folder. The cc starts when the test says, so a test can
/// arm the MITM before the cc's first connection or configure the cc from the hub's state.
struct Site {
    dir: tempfile::TempDir,
    rtu: ServerHandle,
    _rtu_commands: mpsc::Receiver<IncomingCommand>,
    _hub: Hub,
    _edge: Edge,
    mitm: Mitm<CcToHub, HubToCc>,
    cc: Option<Cc>,
    scada: Option<Scada>,
}

impl Site {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let identities = provision(&d.join("pki"), &DemoKeys::Software).unwrap();
        let identity = |name: &str| identities.iter().find(|(n, _)| *n == name).unwrap().1.clone();

        let (rtu, rtu_commands) = Server::bind("127.0.0.1:0".parse().unwrap(), None, ServerConfig::default()).await.unwrap();
        rtu.register_point(InformationObject::new(RTU_IOA, float(-1.0)), &[]).await.unwrap();
        std::fs::write(d.join("edge-map.toml"), format!("[[point]]\nid = \"{POINT}\"\nioa = {RTU_IOA}\ntype = \"float\"\n")).unwrap();
        std::fs::write(d.join("scada-map.toml"), format!("[[point]]\nid = \"{POINT}\"\nioa = {SCADA_IOA}\ntype = \"float\"\n")).unwrap();

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

        let mitm = Mitm::start(
            "127.0.0.1:0",
            &common::identity_in_site(d, "hub"),
            &hub.cc_addr.to_string(),
            "hub",
            &common::identity_in_site(d, "cc-1"),
        )
        .await
        .unwrap();
        std::fs::write(
            d.join("cc-base.toml"),
            format!(
                "cc_id = \"cc-1\"\ndata_dir = \"cc-data\"\n\n{}\n[hub]\naddress = \"{}\"\nserver_name = \"hub\"\n\n[iec104]\nlisten = \"127.0.0.1:0\"\nmapping = \"scada-map.toml\"\n\n[iec104.station]\ncommon_address = 1\n\n[[iec104.station.redundancy_groups]]\nname = \"scada\"\nmembers = [\"127.0.0.1\"]\n",
                identity("cc-1"),
                mitm.addr
            ),
        )
        .unwrap();
        Self { dir, rtu, _rtu_commands: rtu_commands, _hub: hub, _edge: edge, mitm, cc: None, scada: None }
    }

    /// Starts the cc (replacing a running one) with its base configuration plus `extra` (TOML
    /// tables), and connects SCADA to it.
    async fn start_cc(&mut self, extra: &str) {
        if let Some(cc) = self.cc.take() {
            cc.shutdown().await;
        }
        let path = self.path().join("cc.toml");
        std::fs::write(&path, format!("{}\n{extra}", std::fs::read_to_string(self.path().join("cc-base.toml")).unwrap())).unwrap();
        let cc = Cc::start(CcConfig::load(&path).unwrap()).await.unwrap();
        self.scada = Some(Scada::connect(cc.iec104_addr).await);
        self.cc = Some(cc);
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn cc(&self) -> &Cc {
        self.cc.as_ref().expect("the cc is started")
    }

    fn scada(&mut self) -> &mut Scada {
        self.scada.as_mut().expect("the cc is started")
    }

    async fn push(&self, value: f32) {
        self.rtu.update(InformationObject::new(RTU_IOA, float(value))).await.unwrap();
    }

    async fn push_and_see(&mut self, value: f32) -> Vec<(f32, Qds)> {
        self.push(value).await;
        self.scada().until(&format!("{value} as good"), |v, q| v == value && !q.invalid).await
    }

    /// Waits until a value pushed at the RTU reaches SCADA as good: every link is up and the
    /// cc holds the edge's chain head.
    async fn ready(&mut self) {
        let deadline = Instant::now() + WAIT;
        for i in 0u16.. {
            assert!(Instant::now() < deadline, "the chain did not deliver a value to SCADA within {WAIT:?}");
            let value = 1000.0 + f32::from(i);
            self.push(value).await;
            if self.scada().try_until(Duration::from_millis(500), &|v, q| v == value && !q.invalid).await.is_ok() {
                return;
            }
        }
    }

    fn alarms_matching(&self, pred: impl Fn(&Alarm) -> bool) -> Vec<Alarm> {
        self.cc().alarms().into_iter().filter(|a| pred(a)).collect()
    }

    async fn alarm(&self, what: &str, pred: impl Fn(&Alarm) -> bool) -> Alarm {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(alarm) = self.alarms_matching(&pred).into_iter().next() {
                return alarm;
            }
            assert!(Instant::now() < deadline, "no alarm {what} within {WAIT:?}; alarms: {:#?}", self.cc().alarms());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn accepted(&self) -> u64 {
        self.cc().stats.checkpoints_accepted.load(Ordering::SeqCst)
    }

    fn checkpoint_path(&self) -> PathBuf {
        self.path().join("cc-data").join("checkpoint.bin")
    }

    fn hub_checkpoint_path(&self) -> PathBuf {
        self.path().join("hub-data").join(gridtrust_hub::ledger::CHECKPOINT_FILE)
    }
}

fn float(value: f32) -> Element {
    Element::ShortFloat { value, quality: Qds::GOOD, time: None }
}

fn carries(batch: &SignedBatch, value: f32) -> bool {
    batch.records.iter().any(|r| r.value == Value::Float(value))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_that_stops_sending_checkpoints_raises_the_silence_alarm() {
    let mut site = Site::start().await;
    site.start_cc("[checkpoints]\nmax_silence_s = 1\n").await;
    site.ready().await;
    wait_until("the cc accepted a checkpoint", || site.accepted() > 0).await;
    let silence = |a: &Alarm| a.edge_id == "hub" && a.reason.contains("no new log checkpoint");
    assert!(site.alarms_matching(silence).is_empty(), "no silence alarm while checkpoints flow: {:#?}", site.cc().alarms());

    // The hub goes on sending data, but no checkpoint.
    site.mitm.down.set(|m| match m {
        HubToCc::Checkpoint { .. } => Vec::new(),
        other => vec![other],
    });
    let stopped = Instant::now();
    site.push_and_see(1.0).await;
    let alarm = site.alarm("about checkpoint silence", silence).await;
    assert!(alarm.reason.contains("for more than 1 s"), "{alarm:?}");
    // The last checkpoint passed at most one hub interval (200 ms) before the tap was set.
    assert!(stopped.elapsed() >= Duration::from_millis(800), "not before the configured silence: {:?}", stopped.elapsed());

    site.mitm.down.pass_all();
    let resumed = site.alarm("about checkpoints resuming", |a| a.edge_id == "hub" && a.reason.contains("resumed")).await;
    eprintln!("alarms: {:#?}, last {resumed:?}", site.cc().alarms());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_of_another_log_is_refused_even_as_the_first() {
    let mut site = Site::start().await;
    // The compromised hub re-signs the first checkpoint the cc will ever see under another
    // log id, with the hub's own key: trust on first use would take that log as the hub's.
    let hub = common::identity_in_site(site.path(), "hub");
    let forged_log = Arc::new(AtomicU64::new(0));
    {
        let forged_log = forged_log.clone();
        let (signer, id) = (hub.signer.clone(), hub.certificate_id);
        site.mitm.down.once(move |m| match m {
            HubToCc::Checkpoint { checkpoint, consistency, hub_certificate } => {
                let mut c = checkpoint.checkpoint;
                c.log_id = "hub-archive".into();
                forged_log.fetch_add(1, Ordering::SeqCst);
                let checkpoint = SignedCheckpoint::sign(c, signer.as_ref(), id).unwrap();
                Ok(vec![HubToCc::Checkpoint { checkpoint, consistency, hub_certificate }])
            }
            other => Err(other),
        });
    }
    site.start_cc("").await;
    wait_until("the MITM sent the checkpoint of another log", || forged_log.load(Ordering::SeqCst) == 1).await;
    let alarm = site
        .alarm("refusing the checkpoint of log hub-archive", |a| a.edge_id == "hub" && a.reason.contains("for log \"hub-archive\""))
        .await;
    assert!(alarm.reason.contains("follows log \"hub\""), "the alarm names the configured hub's log: {alarm:?}");
    if let Some(held) = read_checkpoint(&site.checkpoint_path()) {
        assert_eq!(held.checkpoint.log_id, "hub", "the other log's checkpoint is never persisted");
    }
    // The cc reconnects and accepts the hub's own log.
    wait_until("the cc accepts the hub's own checkpoints", || site.accepted() > 0).await;
    assert_eq!(read_checkpoint(&site.checkpoint_path()).expect("persisted").checkpoint.log_id, "hub");
    assert_eq!(site.alarms_matching(|a| a.edge_id == "hub").len(), 1, "{:#?}", site.cc().alarms());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_of_this_log_signed_by_another_hub_is_refused() {
    let mut site = Site::start().await;
    // A second hub certificate from the same CA (another site's hub, or one issued to the
    // attacker) signs a checkpoint claiming to be of this hub's log "hub", as the first the cc
    // sees: its key, its certificate, the log id of the configured hub.
    DevPki::open(&site.path().join("pki")).ensure_identity(IdentityKind::Hub, "hub-2", &[Role::Viewer]).unwrap();
    let other = common::identity_in_site(site.path(), "hub-2");
    let sent = Arc::new(AtomicU64::new(0));
    {
        let sent = sent.clone();
        let (signer, id, certificate) = (other.signer.clone(), other.certificate_id, other.certificate.clone());
        site.mitm.down.once(move |m| match m {
            HubToCc::Checkpoint { checkpoint, consistency, .. } => {
                sent.fetch_add(1, Ordering::SeqCst);
                let checkpoint = SignedCheckpoint::sign(checkpoint.checkpoint, signer.as_ref(), id).unwrap();
                Ok(vec![HubToCc::Checkpoint { checkpoint, consistency, hub_certificate: certificate.clone() }])
            }
            other => Err(other),
        });
    }
    site.start_cc("").await;
    wait_until("the MITM sent the checkpoint signed by hub-2", || sent.load(Ordering::SeqCst) == 1).await;
    let alarm = site.alarm("refusing the checkpoint signed by hub-2", |a| a.edge_id == "hub").await;
    assert!(alarm.reason.contains("not by the configured hub hub"), "the alarm names the signer and the configured hub: {alarm:?}");
    if let Some(held) = read_checkpoint(&site.checkpoint_path()) {
        assert_ne!(held.signature.signer, other.certificate_id, "hub-2's checkpoint is never persisted");
    }
    wait_until("the cc accepts the hub's own checkpoints", || site.accepted() > 0).await;
    assert_eq!(
        read_checkpoint(&site.checkpoint_path()).expect("persisted").signature.signer,
        common::identity_in_site(site.path(), "hub").certificate_id
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_cc_refuses_a_log_not_consistent_with_the_pin_on_first_connection() {
    let mut site = Site::start().await;
    // The operator pins the hub's log as an auditor saw it; the hub then shows this cc another
    // history at that size (here: the same size, another root). The log grows past the pin
    // first, so the hub has to prove consistency from the pin.
    let hub_checkpoint = site.hub_checkpoint_path();
    wait_until("the hub signed a checkpoint", || read_checkpoint(&hub_checkpoint).is_some()).await;
    let pinned = read_checkpoint(&hub_checkpoint).unwrap().checkpoint;
    site.push(1.0).await;
    wait_until("the hub's log grew past the pin", || read_checkpoint(&hub_checkpoint).unwrap().checkpoint.tree_size > pinned.tree_size)
        .await;
    let hex = gridtrust_trust::command::hex;
    let mut other_root = pinned.root;
    other_root[0] ^= 1;
    let pin = |root: &[u8]| format!("[checkpoints.pinned]\ntree_size = {}\nroot = \"{}\"\n", pinned.tree_size, hex(root));

    site.start_cc(&pin(&other_root)).await;
    let alarm = site
        .alarm("refusing a log not consistent with the pin", |a| a.edge_id == "hub" && a.reason.contains("log checkpoint refused"))
        .await;
    assert!(
        alarm.reason.contains(&format!("not proven consistent with the held checkpoint at {}", pinned.tree_size)),
        "the alarm says the log does not extend the pinned tree: {alarm:?}"
    );
    // It drops the hub, reconnects and is refused again: nothing accepted, nothing persisted.
    wait_until("the cc refused the log twice", || site.alarms_matching(|a| a.edge_id == "hub").len() >= 2).await;
    assert_eq!(site.accepted(), 0, "no checkpoint of a log inconsistent with the pin is accepted");
    assert!(!site.checkpoint_path().exists(), "nothing is persisted");

    // Control: pinned to the hub's real tree, the same cc accepts the log.
    site.start_cc(&pin(&pinned.root)).await;
    wait_until("the cc pinned to the real tree accepts the hub's log", || site.accepted() > 0).await;
    assert!(read_checkpoint(&site.checkpoint_path()).unwrap().checkpoint.tree_size > pinned.tree_size);
    assert!(site.alarms_matching(|a| a.edge_id == "hub").is_empty(), "{:#?}", site.cc().alarms());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_that_jumps_raises_a_gap_alarm_naming_the_hidden_batches() {
    let mut site = Site::start().await;
    site.start_cc("").await;
    site.ready().await;
    site.push_and_see(1.0).await;

    // The hub swallows the batch carrying 2, and replaces the batch carrying 3 with the edge's
    // genuine signed header of that batch as the new chain head: the next live batch then
    // follows the head, and without a check on the head the two batches vanish silently.
    let hidden = Arc::new(Mutex::new(Vec::<u64>::new()));
    {
        let hidden = hidden.clone();
        site.mitm.down.set(move |m| match m {
            HubToCc::Batch(b) if carries(&b, 2.0) => {
                hidden.lock().unwrap().push(b.header.batch_seq);
                Vec::new()
            }
            HubToCc::Batch(b) if carries(&b, 3.0) => {
                hidden.lock().unwrap().push(b.header.batch_seq);
                vec![HubToCc::Heads(vec![(b.header, b.signature)])]
            }
            other => vec![other],
        });
    }
    site.push(2.0).await;
    wait_until("the hub swallowed the batch carrying 2", || hidden.lock().unwrap().len() == 1).await;
    site.push(3.0).await;
    wait_until("the hub sent the batch carrying 3 as a head", || hidden.lock().unwrap().len() == 2).await;
    let seen = site.push_and_see(4.0).await;
    assert!(seen.iter().all(|(v, _)| *v != 2.0 && *v != 3.0), "{seen:?}");
    let (swallowed, head) = {
        let h = hidden.lock().unwrap();
        (h[0], h[1])
    };
    assert_eq!(head, swallowed + 1);
    let alarm = site.alarm("about the gap behind the head", |a| a.edge_id == "edge-1" && a.reason.contains("gap")).await;
    assert!(
        alarm.reason.contains(&format!("batches {swallowed}..={swallowed} of edge edge-1 never arrived")),
        "the alarm names the hidden batch {swallowed}: {alarm:?}"
    );
    assert_eq!(alarm.batch_seq, head, "raised on the head that jumped: {alarm:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_record_with_a_huge_seq_does_not_block_the_genuine_values() {
    let mut site = Site::start().await;
    site.start_cc("").await;
    site.ready().await;

    // After the batch carrying 1, the hub adds a forged copy for edge-1 whose record has a
    // seq near the end of the range and another value: its evidence no longer holds.
    site.mitm.down.once(|m| match m {
        HubToCc::Batch(b) if carries(&b, 1.0) => {
            let mut forged = b.clone();
            for r in &mut forged.records {
                r.seq = u64::MAX - 1;
                r.value = Value::Float(666.0);
            }
            Ok(vec![HubToCc::Batch(b), HubToCc::Batch(forged)])
        }
        other => Err(other),
    });
    site.push_and_see(1.0).await;
    site.scada().until("the forged 666 as invalid", |v, q| v == 666.0 && q.invalid).await;
    site.alarm("about the forged batch", |a| a.edge_id == "edge-1" && a.reason.contains(&format!("{}", u64::MAX - 1))).await;

    // The genuine values after it are served as good.
    site.push_and_see(2.0).await;
    site.push_and_see(3.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configuration_that_turns_signatures_off_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let identities = provision(&d.join("pki"), &DemoKeys::Software).unwrap();
    let identity = |name: &str| identities.iter().find(|(n, _)| *n == name).unwrap().1.clone();
    std::fs::write(d.join("map.toml"), format!("[[point]]\nid = \"{POINT}\"\nioa = {RTU_IOA}\ntype = \"float\"\n")).unwrap();
    let off = "\n[evidence]\nsignatures = false\n";
    let files = [
        (
            "hub.toml",
            format!(
                "data_dir = \"hub-data\"\nedge_listen = \"127.0.0.1:0\"\ncc_listen = \"127.0.0.1:0\"\n\n{}\n{DEV_AUTHORITY_TABLE}",
                identity("hub")
            ),
        ),
        (
            "edge.toml",
            format!(
                "edge_id = \"edge-1\"\ndata_dir = \"edge-data\"\n\n{}\n[hub]\naddress = \"127.0.0.1:1\"\n\n[[rtu]]\nname = \"rtu\"\naddress = \"127.0.0.1:2\"\ncommon_address = 1\nmapping = \"map.toml\"\n",
                identity("edge-1")
            ),
        ),
        (
            "cc.toml",
            format!(
                "cc_id = \"cc-1\"\ndata_dir = \"cc-data\"\n\n{}\n[hub]\naddress = \"127.0.0.1:1\"\n\n[iec104]\nlisten = \"127.0.0.1:{}\"\nmapping = \"map.toml\"\n\n[[iec104.station.redundancy_groups]]\nname = \"scada\"\nmembers = [\"127.0.0.1\"]\n",
                identity("cc-1"),
                free_port()
            ),
        ),
    ];
    for (name, text) in &files {
        // Control: without the key each file loads.
        std::fs::write(d.join(name), text).unwrap();
        let path = d.join(name);
        let loaded = match *name {
            "hub.toml" => HubConfig::load(&path).map(drop),
            "edge.toml" => EdgeConfig::load(&path).map(drop),
            _ => CcConfig::load(&path).map(drop),
        };
        loaded.unwrap_or_else(|e| panic!("{name} without [evidence] loads: {e}"));
        // With the table appended, each is refused.
        std::fs::write(&path, format!("{text}{off}")).unwrap();
        let refused = match *name {
            "hub.toml" => HubConfig::load(&path).map(drop),
            "edge.toml" => EdgeConfig::load(&path).map(drop),
            _ => CcConfig::load(&path).map(drop),
        };
        let error = refused.expect_err(&format!("{name} with [evidence] signatures = false must be refused")).to_string();
        assert!(error.contains("evidence"), "the error names the key: {error}");
    }

    // The role itself: `gridtrust cc` refuses to start and says why.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gridtrust"))
        .args(["cc", "--config"])
        .arg(d.join("cc.toml"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("gridtrust starts");
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("gridtrust cc started with [evidence] signatures = false");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("evidence"), "the error names the key: {stderr}");
}
