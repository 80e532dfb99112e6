//! Attacks on the data path and on the hub's history, with the real roles running: an IEC 104
//! RTU we drive value by value, the edge, the hub and the control-centre connector (cc), and a
//! SCADA client on the cc. The attacker is a compromised hub: it owns the hub's key, so it sits
//! between the cc and the hub as a man-in-the-middle ([`mitm::Mitm`]) or rewrites the hub's own
//! files. Every scenario ends in the specific detection it is meant to provoke.
//!
//! 1. `a_value_altered_in_transit_reaches_scada_invalid_with_an_integrity_alarm`: the hub
//!    changes one record's value in a batch. SCADA receives the altered value with IV set, and
//!    the cc raises an alarm naming edge-1, the batch and the Merkle root. Recomputing the root
//!    to match the altered records, or altering the header's time instead, breaks the edge's
//!    signature: IV again, and an alarm about the signature. The hub itself saw nothing wrong.
//! 2. `a_dropped_batch_raises_a_gap_alarm_naming_the_missing_batch`: the hub swallows one batch.
//!    SCADA never sees its value, the next batch still arrives as good (it is authentic), and
//!    the cc raises a gap alarm naming the missing batch number.
//! 3. (a) `a_replayed_batch_is_not_served_twice_and_never_overwrites_a_newer_value`: the hub
//!    sends a batch twice, and then an older batch again after a newer one. SCADA receives each
//!    value once and never the old value again (no false good).
//!    (b) `a_batch_replayed_to_the_hub_with_the_edge_certificate_is_stored_once`: a rogue client
//!    with edge-1's certificate resends already-stored batches to the hub; the hub acknowledges
//!    them as duplicates and stores nothing twice.
//! 8. `a_hub_that_truncates_or_rewrites_its_log_is_caught_by_the_persisted_checkpoint`: the hub
//!    (a separate process) is stopped and restarted on a forged transparency log, first
//!    truncated, then with one logged batch header rewritten (and the cc restarted from its
//!    persisted checkpoint). The cc refuses the new checkpoints as shrunk, then as not
//!    consistent, and accepts no checkpoint from the forged log; restoring the honest log is
//!    accepted again, so the alarms were not caused by the restart itself.
//! 9. `forged_checkpoints_are_refused_and_never_persisted`: the hub alters a signed
//!    checkpoint's root, signs one with a key that is not the hub's, or signs one with the
//!    cc-1 key and presents cc-1's certificate as the hub certificate. Each is refused with an
//!    alarm naming what failed; right after each refusal (the MITM holds genuine checkpoints
//!    back until then) the cc's file still holds the last genuine checkpoint it accepted, not
//!    the forgery; the cc reconnects and accepts genuine checkpoints again.
// The MITM's rewrite closures hand an unchanged message back as their `Err`: large by design.
#![allow(clippy::result_large_err)]

#[path = "support/mitm.rs"]
mod mitm;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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
use gridtrust_keys::KeyConfig;
use gridtrust_model::Value;
use gridtrust_store::translog::TransparencyLog;
use gridtrust_transport::identity::{Identity, IdentityConfig};
use gridtrust_transport::{CcToHub, EdgeToHub, HubToCc, HubToEdge, PROTOCOL_VERSION};
use gridtrust_trust::SignedBatch;
use gridtrust_trust::checkpoint::{LogEntry, SignedCheckpoint};
use gridtrust_trust::evidence::{decode_sealed, encode_sealed, records_root};
use gridtrust_trust::signing::EphemeralSigner;

use mitm::Mitm;

/// The one point the RTU reports: its id, its address at the RTU and the address the cc gives
/// it towards SCADA.
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

/// A role's identity from the development PKI that `provision` wrote into `dir/pki`.
fn identity_config(dir: &Path, name: &str) -> IdentityConfig {
    let pki = dir.join("pki");
    IdentityConfig::new(
        pki.join("ca.crt.pem"),
        pki.join(format!("{name}.crt.pem")),
        pki.join("crl.pem"),
        KeyConfig::Software { path: pki.join(format!("{name}.key.pem")) },
    )
}

fn load_identity(dir: &Path, name: &str) -> Identity {
    Identity::load(&identity_config(dir, name)).unwrap_or_else(|e| panic!("identity {name}: {e}"))
}

/// The hub as a separate process (for restarts on the same files), killed when dropped.
struct HubProcess(Child);

impl HubProcess {
    /// Starts `gridtrust hub --config hub.toml` and waits until it accepts connections on `port`.
    async fn start(config: &Path, port: u16) -> Self {
        let stderr = if std::env::var_os("ATTACKS_HUB_STDERR").is_some() { Stdio::inherit() } else { Stdio::null() };
        let child = Command::new(env!("CARGO_BIN_EXE_gridtrust"))
            .args(["hub", "--config"])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("hub starts");
        let mut hub = Self(child);
        let deadline = Instant::now() + WAIT;
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(hub.0.try_wait().unwrap().is_none(), "the hub process exited at start");
            assert!(Instant::now() < deadline, "the hub process does not listen on port {port}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        hub
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
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

    /// Reads the point's values as SCADA receives them until one satisfies `pred`, within
    /// `within`; returns every value seen, the matching one last, or `None` on timeout.
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

    /// [`Self::try_until`] within [`WAIT`], failing the test naming `what`.
    async fn until(&mut self, what: &str, pred: impl Fn(f32, &Qds) -> bool) -> Vec<(f32, Qds)> {
        self.try_until(WAIT, &pred).await.unwrap_or_else(|seen| panic!("SCADA did not receive {what} within {WAIT:?}; it saw {seen:?}"))
    }
}

struct Options {
    /// Put a man-in-the-middle with the hub's key between the cc and the hub.
    mitm: bool,
    /// Run the hub as a separate process on fixed ports (to restart it), not in this process.
    hub_process: bool,
}

/// RTU → edge → hub → (MITM) → cc → SCADA, from configuration files in a temporary folder.
struct Site {
    dir: tempfile::TempDir,
    rtu: ServerHandle,
    _rtu_commands: mpsc::Receiver<IncomingCommand>,
    hub: Option<Hub>,
    hub_process: Option<HubProcess>,
    /// The hub's ports when it runs as a process.
    hub_ports: (u16, u16),
    _edge: Edge,
    cc: Cc,
    mitm: Option<Mitm<CcToHub, HubToCc>>,
    scada: Scada,
}

impl Site {
    async fn start(options: Options) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let identities = provision(&d.join("pki"), &DemoKeys::Software).unwrap();
        let identity = |name: &str| identities.iter().find(|(n, _)| *n == name).unwrap().1.clone();

        // The RTU: one float measurement whose value the test sets.
        let (rtu, rtu_commands) = Server::bind("127.0.0.1:0".parse().unwrap(), None, ServerConfig::default()).await.unwrap();
        rtu.register_point(InformationObject::new(RTU_IOA, float(-1.0)), &[]).await.unwrap();
        std::fs::write(d.join("edge-map.toml"), format!("[[point]]\nid = \"{POINT}\"\nioa = {RTU_IOA}\ntype = \"float\"\n")).unwrap();
        std::fs::write(d.join("scada-map.toml"), format!("[[point]]\nid = \"{POINT}\"\nioa = {SCADA_IOA}\ntype = \"float\"\n")).unwrap();

        write_dev_registry(&d.join("pki"), 1, &[("LD0", "edge-1")], d).unwrap();
        let hub_ports = if options.hub_process { (free_port(), free_port()) } else { (0, 0) };
        std::fs::write(
            d.join("hub.toml"),
            format!(
                "data_dir = \"hub-data\"\nedge_listen = \"127.0.0.1:{}\"\ncc_listen = \"127.0.0.1:{}\"\ncheckpoint_interval_ms = 200\n\n{}\n{DEV_AUTHORITY_TABLE}",
                hub_ports.0,
                hub_ports.1,
                identity("hub")
            ),
        )
        .unwrap();
        let (hub, hub_process, edge_addr, cc_addr) = if options.hub_process {
            let process = HubProcess::start(&d.join("hub.toml"), hub_ports.1).await;
            (None, Some(process), format!("127.0.0.1:{}", hub_ports.0), format!("127.0.0.1:{}", hub_ports.1))
        } else {
            let hub = Hub::start(&HubConfig::load(&d.join("hub.toml")).unwrap()).await.unwrap();
            let (e, c) = (hub.edge_addr.to_string(), hub.cc_addr.to_string());
            (Some(hub), None, e, c)
        };

        std::fs::write(
            d.join("edge.toml"),
            format!(
                "edge_id = \"edge-1\"\ndata_dir = \"edge-data\"\n\n{}\n[hub]\naddress = \"{edge_addr}\"\nserver_name = \"hub\"\n\n[[rtu]]\nname = \"rtu\"\naddress = \"{}\"\ncommon_address = 1\nmapping = \"edge-map.toml\"\ninterrogation_period_s = 3600\n",
                identity("edge-1"),
                rtu.local_addr()
            ),
        )
        .unwrap();
        let edge = Edge::start(EdgeConfig::load(&d.join("edge.toml")).unwrap()).await.unwrap();

        // The attacker terminates the cc's TLS with the hub's own key and dials the hub as cc-1.
        let mitm = if options.mitm {
            Some(Mitm::start("127.0.0.1:0", &load_identity(d, "hub"), &cc_addr, "hub", &load_identity(d, "cc-1")).await.unwrap())
        } else {
            None
        };
        let cc_upstream = mitm.as_ref().map_or(cc_addr, |m| m.addr.to_string());
        std::fs::write(
            d.join("cc.toml"),
            format!(
                "cc_id = \"cc-1\"\ndata_dir = \"cc-data\"\n\n{}\n[hub]\naddress = \"{cc_upstream}\"\nserver_name = \"hub\"\n\n[iec104]\nlisten = \"127.0.0.1:0\"\nmapping = \"scada-map.toml\"\n\n[iec104.station]\ncommon_address = 1\n\n[[iec104.station.redundancy_groups]]\nname = \"scada\"\nmembers = [\"127.0.0.1\"]\n",
                identity("cc-1")
            ),
        )
        .unwrap();
        let cc = Cc::start(CcConfig::load(&d.join("cc.toml")).unwrap()).await.unwrap();
        let scada = Scada::connect(cc.iec104_addr).await;
        Self { dir, rtu, _rtu_commands: rtu_commands, hub, hub_process, hub_ports, _edge: edge, cc, mitm, scada }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn hub(&self) -> &Hub {
        self.hub.as_ref().expect("in-process hub")
    }

    fn mitm(&self) -> &Mitm<CcToHub, HubToCc> {
        self.mitm.as_ref().expect("site with a MITM")
    }

    /// The RTU reports a new value spontaneously.
    async fn push(&self, value: f32) {
        self.rtu.update(InformationObject::new(RTU_IOA, float(value))).await.unwrap();
    }

    /// Pushes `value` and waits until SCADA receives it as good.
    async fn push_and_see(&mut self, value: f32) -> Vec<(f32, Qds)> {
        self.push(value).await;
        self.scada.until(&format!("{value} as good"), |v, q| v == value && !q.invalid).await
    }

    /// Waits until a value pushed at the RTU reaches SCADA as good: every link is up and the
    /// cc holds the edge's chain head. Values pushed before the edge's link to the RTU or the
    /// cc's link to the hub were up may reach SCADA before it connected, so keep pushing.
    async fn ready(&mut self) {
        let deadline = Instant::now() + WAIT;
        for i in 0u16.. {
            assert!(Instant::now() < deadline, "the chain did not deliver a value to SCADA within {WAIT:?}");
            let value = 1000.0 + f32::from(i);
            self.push(value).await;
            if self.scada.try_until(Duration::from_millis(500), &|v, q| v == value && !q.invalid).await.is_ok() {
                return;
            }
        }
    }

    fn alarms_matching(&self, pred: impl Fn(&Alarm) -> bool) -> Vec<Alarm> {
        self.cc.alarms().into_iter().filter(|a| pred(a)).collect()
    }

    /// Waits until the cc has raised an alarm satisfying `pred`, and returns it.
    async fn alarm(&self, what: &str, pred: impl Fn(&Alarm) -> bool) -> Alarm {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(alarm) = self.alarms_matching(&pred).into_iter().next() {
                return alarm;
            }
            assert!(Instant::now() < deadline, "no alarm {what} within {WAIT:?}; alarms: {:#?}", self.cc.alarms());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn checkpoint_path(&self) -> PathBuf {
        self.path().join("cc-data").join("checkpoint.bin")
    }

    fn log_path(&self) -> PathBuf {
        self.path().join("hub-data").join("log.redb")
    }
}

fn float(value: f32) -> Element {
    Element::ShortFloat { value, quality: Qds::GOOD, time: None }
}

fn carries(batch: &SignedBatch, value: f32) -> bool {
    batch.records.iter().any(|r| r.value == Value::Float(value))
}

/// A one-shot attack on the batch carrying `from`: sets that record to `to`, then `fix` may
/// adjust the batch further. Records the attacked batch's number in `seq`.
fn alter_batch(
    from: f32,
    to: f32,
    seq: Arc<AtomicU64>,
    fix: impl Fn(&mut SignedBatch) + Send + 'static,
) -> impl FnMut(HubToCc) -> Result<Vec<HubToCc>, HubToCc> + Send + 'static {
    move |m| match m {
        HubToCc::Batch(mut b) if carries(&b, from) => {
            for r in &mut b.records {
                if r.value == Value::Float(from) {
                    r.value = Value::Float(to);
                }
            }
            fix(&mut b);
            seq.store(b.header.batch_seq, Ordering::SeqCst);
            Ok(vec![HubToCc::Batch(b)])
        }
        other => Err(other),
    }
}

fn invalid(seen: &[(f32, Qds)]) -> bool {
    seen.last().is_some_and(|(_, q)| q.invalid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_altered_in_transit_reaches_scada_invalid_with_an_integrity_alarm() {
    let mut site = Site::start(Options { mitm: true, hub_process: false }).await;
    site.ready().await;
    site.push_and_see(1.0).await;

    // The hub changes the value only: the records no longer match the signed Merkle root.
    let seq = Arc::new(AtomicU64::new(u64::MAX));
    site.mitm().down.once(alter_batch(2.0, 666.0, seq.clone(), |_| {}));
    site.push(2.0).await;
    let seen = site.scada.until("the altered value 666", |v, _| v == 666.0).await;
    assert!(invalid(&seen), "the altered value reaches SCADA with IV set: {seen:?}");
    let altered = seq.load(Ordering::SeqCst);
    let alarm = site.alarm("about the altered batch", |a| a.batch_seq == altered && a.edge_id == "edge-1").await;
    assert!(
        alarm.reason.contains(&format!("batch {altered} of edge edge-1")) && alarm.reason.contains("Merkle root"),
        "the alarm names the batch and the integrity failure: {alarm:?}"
    );
    assert!(site.cc.stats.records_invalid.load(Ordering::Relaxed) >= 1);

    // The hub recomputes the root to match: now the edge's signature over the header fails.
    site.mitm().down.once(alter_batch(3.0, 777.0, seq.clone(), |b| b.header.merkle_root = records_root(&b.records)));
    site.push(3.0).await;
    let seen = site.scada.until("the altered value 777", |v, _| v == 777.0).await;
    assert!(invalid(&seen), "the altered value with a matching root reaches SCADA with IV set: {seen:?}");
    let altered = seq.load(Ordering::SeqCst);
    let alarm = site.alarm("about the re-rooted batch", |a| a.batch_seq == altered && a.edge_id == "edge-1").await;
    assert!(alarm.reason.contains("signature does not verify"), "the alarm names the signature: {alarm:?}");

    // The hub leaves the value and changes the header's time: the signature fails again, and
    // the genuine value is served invalid because its evidence does not hold.
    site.mitm().down.once(alter_batch(4.0, 4.0, seq.clone(), |b| b.header.closed_at.0 += 1));
    site.push(4.0).await;
    let seen = site.scada.until("4 from the batch with an altered time", |v, _| v == 4.0).await;
    assert!(invalid(&seen), "a value whose header was altered reaches SCADA with IV set: {seen:?}");
    let altered = seq.load(Ordering::SeqCst);
    let alarm = site.alarm("about the re-timed batch", |a| a.batch_seq == altered && a.edge_id == "edge-1").await;
    assert!(alarm.reason.contains("signature does not verify"), "the alarm names the signature: {alarm:?}");

    // Untouched evidence is good again, and the hub itself saw nothing wrong: the alterations
    // happened after it, and only the cc's own checks caught them.
    site.push_and_see(5.0).await;
    let stats = site.hub().stats();
    assert_eq!(stats.integrity_failures.load(Ordering::Relaxed), 0);
    assert_eq!(stats.signature_failures.load(Ordering::Relaxed), 0);
    eprintln!("alarms: {:#?}", site.cc.alarms());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_batch_raises_a_gap_alarm_naming_the_missing_batch() {
    let mut site = Site::start(Options { mitm: true, hub_process: false }).await;
    site.ready().await;
    site.push_and_see(1.0).await;

    let dropped = Arc::new(AtomicU64::new(u64::MAX));
    let fired = {
        let dropped = dropped.clone();
        site.mitm().down.once(move |m| match m {
            HubToCc::Batch(b) if carries(&b, 2.0) => {
                dropped.store(b.header.batch_seq, Ordering::SeqCst);
                Ok(Vec::new())
            }
            other => Err(other),
        })
    };
    site.push(2.0).await;
    wait_until("the hub swallowed the batch carrying 2", || fired.load(Ordering::SeqCst)).await;

    // The next batch is authentic and served as good; the value of the dropped one never shows.
    let seen = site.push_and_see(3.0).await;
    assert!(seen.iter().all(|(v, _)| *v != 2.0), "the dropped value never reaches SCADA: {seen:?}");
    let missing = dropped.load(Ordering::SeqCst);
    let alarm = site.alarm("about the gap", |a| a.edge_id == "edge-1" && a.reason.contains("gap")).await;
    assert_eq!(alarm.batch_seq, missing + 1, "raised on the batch after the gap: {alarm:?}");
    assert!(alarm.reason.contains(&format!("batches {missing}..")), "the alarm names the missing batch {missing}: {alarm:?}");
    eprintln!("alarms: {:#?}", site.cc.alarms());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_batch_is_not_served_twice_and_never_overwrites_a_newer_value() {
    let mut site = Site::start(Options { mitm: true, hub_process: false }).await;
    site.ready().await;

    // Remember the batch carrying 1; when the batch carrying 2 passes, send it twice and then
    // the old batch again.
    let old: Arc<Mutex<Option<SignedBatch>>> = Arc::default();
    let replayed = Arc::new(AtomicU64::new(0));
    {
        let (old, replayed) = (old.clone(), replayed.clone());
        site.mitm().down.set(move |m| match m {
            HubToCc::Batch(b) if carries(&b, 1.0) => {
                *old.lock().unwrap() = Some(b.clone());
                vec![HubToCc::Batch(b)]
            }
            HubToCc::Batch(b) if carries(&b, 2.0) => {
                let old = old.lock().unwrap().clone().expect("the batch carrying 1 passed first");
                replayed.fetch_add(1, Ordering::SeqCst);
                vec![HubToCc::Batch(b.clone()), HubToCc::Batch(b), HubToCc::Batch(old)]
            }
            other => vec![other],
        });
    }
    site.push_and_see(1.0).await;
    let served = site.cc.stats.records_served.load(Ordering::Relaxed);
    site.push(2.0).await;
    wait_until("the replay was sent", || replayed.load(Ordering::SeqCst) == 1).await;
    // 3 is pushed after the replays; once SCADA has it, the cc has handled everything before.
    let seen = site.push_and_see(3.0).await;
    let values: Vec<f32> = seen.iter().map(|(v, _)| *v).collect();
    assert_eq!(values, [2.0, 3.0], "SCADA receives 2 once and never the replayed 1: {seen:?}");
    assert!(seen.iter().all(|(_, q)| !q.invalid), "{seen:?}");
    assert_eq!(site.cc.stats.records_served.load(Ordering::Relaxed), served + 2, "only the two new records are served");
    eprintln!("alarms: {:#?}", site.cc.alarms());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_replayed_to_the_hub_with_the_edge_certificate_is_stored_once() {
    let mut site = Site::start(Options { mitm: true, hub_process: false }).await;
    // The MITM only records what the hub sends: batches exactly as the edge signed them.
    let recorded: Arc<Mutex<Vec<SignedBatch>>> = Arc::default();
    {
        let recorded = recorded.clone();
        site.mitm().down.set(move |m| {
            if let HubToCc::Batch(b) = &m {
                recorded.lock().unwrap().push(b.clone());
            }
            vec![m]
        });
    }
    site.ready().await;
    site.push_and_see(1.0).await;
    site.push_and_see(2.0).await;
    let find = |value| recorded.lock().unwrap().iter().find(|b| carries(b, value)).cloned().unwrap();
    let (old, newest) = (find(1.0), find(2.0));

    let hub = site.hub();
    let stats = hub.stats();
    let before = (
        stats.batches_applied.load(Ordering::SeqCst),
        stats.batches_duplicate.load(Ordering::SeqCst),
        stats.records_applied.load(Ordering::SeqCst),
        hub.store().record_count().unwrap(),
    );

    // A rogue client holding edge-1's certificate and key replays both batches.
    let edge = load_identity(site.path(), "edge-1");
    let (mut r, mut w) = gridtrust_transport::connect(&hub.edge_addr.to_string(), "hub", edge.client_config().unwrap()).await.unwrap();
    w.send(&EdgeToHub::Hello { edge_id: "edge-1".into(), protocol: PROTOCOL_VERSION, checkpoint_size: None }).await.unwrap();
    let recv = async |r: &mut gridtrust_transport::FramedReader<_>| {
        tokio::time::timeout(WAIT, r.recv::<HubToEdge>()).await.expect("the hub answers").unwrap().expect("the hub keeps the connection")
    };
    let welcome = recv(&mut r).await;
    assert_eq!(welcome, HubToEdge::Welcome { last_batch_seq: Some(newest.header.batch_seq) });
    for batch in [&old, &newest] {
        w.send(&EdgeToHub::Batch(batch.clone())).await.unwrap();
        assert_eq!(
            recv(&mut r).await,
            HubToEdge::Ack { batch_seq: batch.header.batch_seq },
            "a replay is acknowledged, so an edge resending after a lost ack moves on"
        );
    }

    let after = (
        stats.batches_applied.load(Ordering::SeqCst),
        stats.batches_duplicate.load(Ordering::SeqCst),
        stats.records_applied.load(Ordering::SeqCst),
        hub.store().record_count().unwrap(),
    );
    assert_eq!(
        after,
        (before.0, before.1 + 2, before.2, before.3),
        "(applied, duplicate, records applied, records stored) before {before:?}"
    );
}

/// Every entry of a transparency log file.
fn read_log(path: &Path) -> Vec<Vec<u8>> {
    let log = TransparencyLog::open(path).unwrap();
    (0..log.size()).map(|i| log.entry(i).unwrap().expect("entry below the size")).collect()
}

/// Replaces a transparency log file with a well-formed one holding `entries`: what a hub
/// rewriting its history would do.
fn write_log(path: &Path, entries: &[Vec<u8>]) {
    let forged = path.with_extension("forged");
    let _ = std::fs::remove_file(&forged);
    TransparencyLog::open(&forged).unwrap().append_many(entries).unwrap();
    std::fs::rename(&forged, path).unwrap();
}

fn read_checkpoint(path: &Path) -> Option<SignedCheckpoint> {
    SignedCheckpoint::decode(&std::fs::read(path).ok()?).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_that_truncates_or_rewrites_its_log_is_caught_by_the_persisted_checkpoint() {
    let mut site = Site::start(Options { mitm: false, hub_process: true }).await;
    site.ready().await;
    for v in 1..=4 {
        site.push_and_see(v as f32).await;
    }
    // The log holds the hub's start and registry, edge-1's certificate and batch headers
    // (one per value SCADA received); wait until the cc has persisted a checkpoint of them.
    let checkpoint_path = site.checkpoint_path();
    wait_until("the cc persisted a checkpoint of 7 entries or more", || {
        read_checkpoint(&checkpoint_path).is_some_and(|c| c.checkpoint.tree_size >= 7)
    })
    .await;
    let accepted = site.cc.stats.checkpoints_accepted.load(Ordering::SeqCst);
    drop(site.hub_process.take());
    let held = std::fs::read(&checkpoint_path).unwrap();
    let held_size = SignedCheckpoint::decode(&held).unwrap().checkpoint.tree_size;
    let original = read_log(&site.log_path());
    assert!(original.len() as u64 >= held_size);
    let hub_alarms = |site: &Site, what: &str| site.alarms_matching(|a| a.edge_id == "hub" && a.reason.contains(what)).len();

    // Truncated: the hub restarts on only the first two entries. It appends its start and its
    // point registry, and logs again the batch headers its store holds beyond them (its
    // recovery after a crash between the store's and the log's commits), so its log may grow
    // past the held size, but never into the held history: the cc refuses it as shrunk or as
    // not extending its checkpoint.
    write_log(&site.log_path(), &original[..2]);
    site.hub_process = Some(HubProcess::start(&site.path().join("hub.toml"), site.hub_ports.1).await);
    let refusals = |site: &Site| {
        hub_alarms(site, "shrank") + hub_alarms(site, &format!("not proven consistent with the held checkpoint at {held_size}"))
    };
    wait_until("the cc refused the truncated log", || refusals(&site) >= 1).await;
    // The cc drops the hub, reconnects, and is refused the same way again: nothing accepted.
    wait_until("the cc refused the truncated log twice", || refusals(&site) >= 2).await;
    assert_eq!(site.cc.stats.checkpoints_accepted.load(Ordering::SeqCst), accepted, "no checkpoint of the shrunk log is accepted");
    assert_eq!(std::fs::read(&checkpoint_path).unwrap(), held, "the persisted checkpoint is kept");

    // Rewritten: same entries, but a logged batch header changed (its time). The cc is
    // restarted too, so only its persisted checkpoint remembers the honest history.
    drop(site.hub_process.take());
    let index = (0..held_size as usize)
        .find(|&i| matches!(LogEntry::decode(&original[i]), Ok(LogEntry::BatchHeader(_))))
        .expect("a batch header inside the checkpoint");
    let mut rewritten = original.clone();
    let Ok(LogEntry::BatchHeader(sealed)) = LogEntry::decode(&original[index]) else { unreachable!() };
    let (mut header, signature) = decode_sealed(&sealed).unwrap();
    header.closed_at.0 -= 1_000_000_000;
    rewritten[index] = LogEntry::BatchHeader(encode_sealed(&header, signature.as_ref())).encode();
    write_log(&site.log_path(), &rewritten);
    let restarted = Cc::start(CcConfig::load(&site.path().join("cc.toml")).unwrap()).await.unwrap();
    std::mem::replace(&mut site.cc, restarted).shutdown().await;
    site.hub_process = Some(HubProcess::start(&site.path().join("hub.toml"), site.hub_ports.1).await);
    let alarm = site.alarm("about a rewritten log", |a| a.edge_id == "hub" && a.reason.contains("not proven consistent")).await;
    assert!(alarm.reason.contains(&format!("not proven consistent with the held checkpoint at {held_size}")), "{alarm:?}");
    assert_eq!(site.cc.stats.checkpoints_accepted.load(Ordering::SeqCst), 0, "no checkpoint of the rewritten log is accepted");
    assert_eq!(std::fs::read(&checkpoint_path).unwrap(), held, "the persisted checkpoint is kept");

    // Control: the honest log, restored, extends the held checkpoint and is accepted.
    drop(site.hub_process.take());
    write_log(&site.log_path(), &original);
    site.hub_process = Some(HubProcess::start(&site.path().join("hub.toml"), site.hub_ports.1).await);
    wait_until("the cc accepts the honest log again", || site.cc.stats.checkpoints_accepted.load(Ordering::SeqCst) > 0).await;
    let now = read_checkpoint(&checkpoint_path).unwrap();
    assert!(now.checkpoint.tree_size > held_size, "the honest log grew past the held checkpoint: {now:?}");
    eprintln!("alarms of the restarted cc: {:#?}", site.cc.alarms());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_checkpoints_are_refused_and_never_persisted() {
    let mut site = Site::start(Options { mitm: true, hub_process: false }).await;
    site.ready().await;
    let accepted = |site: &Site| site.cc.stats.checkpoints_accepted.load(Ordering::SeqCst);
    wait_until("the cc accepted a checkpoint through the MITM", || accepted(&site) > 0).await;
    assert!(site.cc.alarms().is_empty(), "no alarm while the MITM passes everything: {:#?}", site.cc.alarms());
    let hub = load_identity(site.path(), "hub");
    let cc = load_identity(site.path(), "cc-1");

    type Forge = Box<dyn FnOnce(SignedCheckpoint, Vec<u8>) -> (SignedCheckpoint, Vec<u8>) + Send>;
    let forger = EphemeralSigner::generate();
    let (cc_signer, cc_certificate, cc_certificate_id) = (cc.signer.clone(), cc.certificate.clone(), cc.certificate_id);
    let attacks: Vec<(&str, Forge, &str)> = vec![
        (
            "root altered after signing",
            Box::new(|mut c, cert| {
                c.checkpoint.root[0] ^= 1;
                (c, cert)
            }),
            "log checkpoint refused: checkpoint signature does not verify",
        ),
        (
            "another root signed by a key that is not the hub's, naming the hub certificate",
            Box::new(move |c, cert| {
                let mut forged = c.checkpoint.clone();
                forged.root = [0x66; 32];
                (SignedCheckpoint::sign(forged, &forger, c.signature.signer).unwrap(), cert)
            }),
            "log checkpoint refused: checkpoint signature does not verify",
        ),
        (
            "signed with cc-1's key, cc-1's certificate presented as the hub's",
            Box::new(move |c, _| (SignedCheckpoint::sign(c.checkpoint, cc_signer.as_ref(), cc_certificate_id).unwrap(), cc_certificate)),
            "which is not the hub certificate it names",
        ),
    ];
    // One tap for the whole test: it forwards genuine checkpoints and remembers the last one
    // (the cc handles a connection's messages in order, so that one is what it holds when the
    // next arrives), forges the next checkpoint once armed, and then holds every checkpoint
    // back until the file was checked: nothing genuine can overwrite what a forgery left.
    #[derive(Default)]
    struct Forgery {
        armed: Option<Forge>,
        holding: bool,
        last_genuine: Option<SignedCheckpoint>,
        forged: Option<SignedCheckpoint>,
    }
    let forgery: Arc<Mutex<Forgery>> = Arc::default();
    {
        let forgery = forgery.clone();
        site.mitm().down.set(move |m| match m {
            HubToCc::Checkpoint { checkpoint, consistency, hub_certificate } => {
                let mut f = forgery.lock().unwrap();
                if let Some(forge) = f.armed.take() {
                    let (checkpoint, hub_certificate) = forge(checkpoint, hub_certificate);
                    f.forged = Some(checkpoint.clone());
                    f.holding = true;
                    vec![HubToCc::Checkpoint { checkpoint, consistency, hub_certificate }]
                } else if f.holding {
                    Vec::new()
                } else {
                    f.last_genuine = Some(checkpoint.clone());
                    vec![HubToCc::Checkpoint { checkpoint, consistency, hub_certificate }]
                }
            }
            other => vec![other],
        });
    }
    wait_until("a genuine checkpoint passed the tap", || forgery.lock().unwrap().last_genuine.is_some()).await;
    for (i, (attack, forge, detection)) in attacks.into_iter().enumerate() {
        forgery.lock().unwrap().armed = Some(forge);
        // A new value grows the log; the hub signs a checkpoint of it within its interval.
        site.push_and_see(10.0 + i as f32).await;
        wait_until(&format!("the cc raised an alarm about a checkpoint with {attack}"), || {
            site.alarms_matching(|a| a.edge_id == "hub").len() > i
        })
        .await;
        let alarms = site.alarms_matching(|a| a.edge_id == "hub");
        assert_eq!(alarms.len(), i + 1, "one alarm per forged checkpoint: {alarms:#?}");
        assert!(alarms[i].reason.contains(detection), "the alarm about a checkpoint with {attack} says {detection:?}: {:?}", alarms[i]);
        // Right after the refusal, before any genuine checkpoint could overwrite it, the file
        // still holds the last genuine checkpoint the cc accepted, not the forgery.
        let (last_genuine, forged) = {
            let f = forgery.lock().unwrap();
            (f.last_genuine.clone().expect("a genuine checkpoint before the forgery"), f.forged.clone().expect("the forgery was sent"))
        };
        let held = std::fs::read(site.checkpoint_path()).expect("a persisted checkpoint");
        assert_ne!(held, forged.encode(), "the checkpoint with {attack} was persisted");
        assert_eq!(held, last_genuine.encode(), "the cc still holds the last genuine checkpoint after the one with {attack}");
        // The cc dropped the hub; it reconnects and accepts the genuine checkpoint again.
        let before = accepted(&site);
        forgery.lock().unwrap().holding = false;
        wait_until(&format!("the cc accepts genuine checkpoints again after {attack}"), || accepted(&site) > before).await;
    }
    let held = read_checkpoint(&site.checkpoint_path()).expect("a persisted checkpoint");
    assert_eq!(held.signature.signer, hub.certificate_id);
    held.verify(&hub.me.public_key).expect("only checkpoints signed by the hub are persisted");
    eprintln!("alarms: {:#?}", site.cc.alarms());
}
