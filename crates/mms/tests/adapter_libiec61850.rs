//! The MMS edge adapter against libiec61850 1.6 (PyPI pyiec61850-ng), configured from
//! tests/peer/simpleIO_peer.cid (the peer's model as SCL): reports become datums with the IED's
//! quality and time; buffered reports survive a cut connection and an adapter restart with every
//! change delivered exactly once; commands run with each object's control model.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::peer::Iec61850Server;
use gridtrust_adapter::{AdapterIo, Datum, DeviceCommand, adapter_channels};
use gridtrust_mms::adapter::{IedConfig, run};
use gridtrust_model::{Command, CommandAction, CommandOutcome, CommandResult, CommandValue, PointId, Timestamp, Validity, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const CID: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peer/simpleIO_peer.cid");
const ANIN1: &str = "simpleIOGenericIO/GGIO1.AnIn1.mag.f[MX]";

fn config(address: SocketAddr, state_dir: &std::path::Path, extra: &str) -> IedConfig {
    let text = format!(
        "name = \"peer\"\nscl = {CID:?}\naddress = \"{address}\"\nstate_dir = {:?}\nreconnect_min_ms = 50\nreconnect_max_ms = 200\n{extra}",
        state_dir
    );
    let config: IedConfig = toml::from_str(&text).unwrap();
    config.validate().unwrap();
    config
}

fn start(config: IedConfig) -> (JoinHandle<()>, mpsc::Receiver<Datum>, mpsc::Sender<DeviceCommand>) {
    start_with_queue(config, &Arc::new(Mutex::new(None)))
}

/// Starts the adapter with a stand-in for the edge's queue: a datum counts as committed once the
/// test's channel took it, with the adapter's source mark (its entryIDs) kept in `queue` and
/// handed to the next adapter started with it, as the edge does across a restart.
fn start_with_queue(
    config: IedConfig,
    queue: &Arc<Mutex<Option<Vec<u8>>>>,
) -> (JoinHandle<()>, mpsc::Receiver<Datum>, mpsc::Sender<DeviceCommand>) {
    let _ = tracing_subscriber::fmt().with_test_writer().with_env_filter("gridtrust_mms=debug").try_init();
    let ((port, mut from_adapter), io): ((_, _), AdapterIo) = adapter_channels(&config.name, config.operated_points());
    if let Some(mark) = queue.lock().unwrap().clone() {
        port.durability.set_stored_mark(mark);
    }
    let (to_test, data) = mpsc::channel(65_536);
    let (queue, receipts) = (queue.clone(), port.durability);
    tokio::spawn(async move {
        let mut committed = 0u64;
        while let Some(d) = from_adapter.recv().await {
            if to_test.send(d).await.is_err() {
                return;
            }
            committed += 1;
            if let Some(mark) = receipts.take_mark(committed) {
                *queue.lock().unwrap() = Some(mark);
            }
            receipts.committed(committed);
        }
    });
    (tokio::spawn(run(config, io)), data, port.commands)
}

async fn next_datum(data: &mut mpsc::Receiver<Datum>, point: &str) -> Datum {
    let wait = async {
        loop {
            let d = data.recv().await.expect("adapter running");
            if d.point.as_str() == point {
                return d;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait).await.unwrap_or_else(|_| panic!("a datum for {point} within 10 s"))
}

/// Runs a blocking server command off the runtime.
async fn server_command(server: &Arc<Mutex<Iec61850Server>>, line: String) {
    let server = Arc::clone(server);
    tokio::task::spawn_blocking(move || server.lock().unwrap().command(&line)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_become_datums_with_the_ieds_quality_and_time() {
    let Some(server) = Iec61850Server::start("reports_become_datums_with_the_ieds_quality_and_time") else { return };
    let addr = server.addr;
    let server = Arc::new(Mutex::new(server));
    let dir = tempfile::tempdir().unwrap();
    let (task, mut data, _commands) = start(config(addr, dir.path(), ""));
    // The GI after enabling brings every value: 4 stVal (Events2, whole DOs) and 4 mag.f.
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 8 {
        let d = tokio::time::timeout(Duration::from_secs(10), data.recv()).await.expect("GI datums").unwrap();
        seen.insert(d.point.to_string());
    }
    assert!(seen.contains("simpleIOGenericIO/GGIO1.SPCSO4.stVal[ST]") && seen.contains(ANIN1), "{seen:?}");

    let before = Timestamp::now();
    server_command(&server, "bool simpleIOGenericIO/GGIO1.SPCSO2.stVal 1".into()).await;
    let d = next_datum(&mut data, "simpleIOGenericIO/GGIO1.SPCSO2.stVal[ST]").await;
    assert_eq!(d.value, Value::Single(true));
    assert!(d.quality.is_good());
    let (t, tq) = d.source_time.expect("the whole DO carries its t");
    assert!((t.unix_millis() - before.unix_millis()).abs() < 5_000, "IED time stamp near now");
    assert!(!tq.invalid);

    server_command(&server, "float simpleIOGenericIO/GGIO1.AnIn1.mag.f 12.5".into()).await;
    let d = next_datum(&mut data, ANIN1).await;
    assert_eq!((d.value, d.source_time), (Value::Float(12.5), None), "Measurements carries mag.f and q, no t");
    // A quality change alone republishes the value with the new quality (invalid + oldData).
    server_command(&server, "quality simpleIOGenericIO/GGIO1.AnIn1.q 130".into()).await;
    let d = next_datum(&mut data, ANIN1).await;
    assert_eq!(d.value, Value::Float(12.5));
    assert_eq!(d.quality.validity(), Validity::Invalid);
    assert!(d.quality.old_data() && !d.quality.test());
    task.abort();
}

/// A TCP proxy whose connections the test can cut, to lose the connection mid-stream, or
/// blackhole (sockets stay open, bytes are dropped), as a failed router does.
struct Proxy {
    addr: SocketAddr,
    accept: JoinHandle<()>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    blackholed: Arc<AtomicBool>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(Mutex::new(Vec::new()));
        let blackholed = Arc::new(AtomicBool::new(false));
        let (list, hole) = (Arc::clone(&connections), Arc::clone(&blackholed));
        let accept = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let Ok(outbound) = TcpStream::connect(target).await else { continue };
                let (ir, iw) = inbound.into_split();
                let (or, ow) = outbound.into_split();
                let (h1, h2) = (Arc::clone(&hole), Arc::clone(&hole));
                let relay = tokio::spawn(async move {
                    tokio::select! {
                        () = relay(ir, ow, h1) => {}
                        () = relay(or, iw, h2) => {}
                    }
                });
                list.lock().unwrap().push(relay);
            }
        });
        Proxy { addr, accept, connections, blackholed }
    }

    /// From now on every byte in either direction is dropped; the connections stay open.
    fn blackhole(&self) {
        self.blackholed.store(true, Ordering::Relaxed);
    }

    /// Drops every relayed connection (both TCP sides close).
    fn cut(&self) {
        self.connections.lock().unwrap().drain(..).for_each(|c| c.abort());
    }
}

async fn relay(mut from: tokio::net::tcp::OwnedReadHalf, mut to: tokio::net::tcp::OwnedWriteHalf, blackholed: Arc<AtomicBool>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 {
            return;
        }
        if !blackholed.load(Ordering::Relaxed) && to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffered_changes_arrive_exactly_once_across_a_cut_connection_and_an_adapter_restart() {
    let Some(server) = Iec61850Server::start("buffered_changes_arrive_exactly_once_across_a_cut_connection_and_an_adapter_restart") else {
        return;
    };
    let proxy = Proxy::start(server.addr).await;
    let server = Arc::new(Mutex::new(server));
    let dir = tempfile::tempdir().unwrap();
    // Only the BRCB, no GI and no integrity reports: every datum is a change.
    let extra =
        "report_control_blocks = [\"simpleIOGenericIO/LLN0.Measurements\"]\nintegrity_period_ms = 0\ngeneral_interrogation = false\n";
    let cfg = config(proxy.addr, dir.path(), extra);
    let queue = Arc::new(Mutex::new(None));
    let (mut task, mut data, _commands) = start_with_queue(cfg.clone(), &queue);
    // Wait until the BRCB is enabled: negative warm-up changes until one comes through.
    let mut values = Vec::new();
    for warm_up in 1..=50 {
        server_command(&server, format!("float simpleIOGenericIO/GGIO1.AnIn1.mag.f -{warm_up}")).await;
        if let Ok(d) = tokio::time::timeout(Duration::from_millis(200), next_datum(&mut data, ANIN1)).await {
            values.push(d.value);
            break;
        }
    }
    assert!(!values.is_empty(), "the adapter never reported a change");
    const LAST: u16 = 60;
    for i in 1..=LAST {
        server_command(&server, format!("float simpleIOGenericIO/GGIO1.AnIn1.mag.f {i}")).await;
        if i == 20 {
            proxy.cut();
        }
        if i == 40 {
            // An edge restart: the adapter stops (what it handed over stays with the edge) and a
            // new one starts from the entryIDs committed with it.
            task.abort();
            let _ = (&mut task).await;
            while let Ok(d) = data.try_recv() {
                if d.point.as_str() == ANIN1 && d.quality.validity() == Validity::Good {
                    values.push(d.value);
                }
            }
            (task, data, _) = start_with_queue(cfg.clone(), &queue);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    while values.last() != Some(&Value::Float(f32::from(LAST))) {
        // The cut connection re-sends the last value as invalid (lost link): not a change.
        let d = next_datum(&mut data, ANIN1).await;
        if d.quality.validity() == Validity::Good {
            values.push(d.value);
        }
    }
    let expected: Vec<Value> = (1..=LAST).map(|i| Value::Float(f32::from(i))).collect();
    let changes: Vec<Value> = values.iter().copied().filter(|v| v.as_f64() > 0.0).collect();
    assert_eq!(changes, expected, "every change exactly once, in order");
    assert_eq!(values.len(), expected.len() + 1, "and no warm-up value twice: {values:?}");
    let mark = queue.lock().unwrap().clone().expect("entryIDs committed with the data");
    let state = String::from_utf8(mark).unwrap();
    assert!(state.contains("simpleIOGenericIO/LLN0.Measurements01 "), "{state}");
    assert!(!dir.path().join("mms-peer.entry-ids").exists(), "no state file is written any more");
    task.abort();
}

/// A blackholed path to the IED (sockets open, no bytes) is noticed by the liveness probe within
/// `liveness_s` + `request_timeout_ms`, and every point the IED reported is sent again as invalid
/// and old data, so SCADA does not keep showing its last values as good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blackholed_ied_is_noticed_and_its_points_turn_invalid() {
    let Some(server) = Iec61850Server::start("a_blackholed_ied_is_noticed_and_its_points_turn_invalid") else { return };
    let proxy = Proxy::start(server.addr).await;
    let dir = tempfile::tempdir().unwrap();
    let (task, mut data, _commands) = start(config(proxy.addr, dir.path(), "liveness_s = 1\nrequest_timeout_ms = 500\n"));
    let mut good = std::collections::BTreeSet::new();
    while good.len() < 8 {
        let d = tokio::time::timeout(Duration::from_secs(10), data.recv()).await.expect("GI datums").unwrap();
        if d.quality.is_good() {
            good.insert(d.point.to_string());
        }
    }
    proxy.blackhole();
    let blackholed = std::time::Instant::now();
    let mut invalid = std::collections::BTreeSet::new();
    let wait = async {
        while invalid.len() < good.len() {
            let d = data.recv().await.expect("adapter running");
            if d.quality.validity() == Validity::Invalid && d.quality.old_data() {
                invalid.insert(d.point.to_string());
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(6), wait)
        .await
        .unwrap_or_else(|_| panic!("{} of {} points marked invalid within 6 s of the blackhole: {invalid:?}", invalid.len(), good.len()));
    eprintln!("blackholed IED noticed and {} points marked invalid after {:?}", invalid.len(), blackholed.elapsed());
    drop(server);
    task.abort();
}

fn command(id: u64, point: &str, action: CommandAction, value: CommandValue) -> (DeviceCommand, mpsc::Receiver<CommandResult>) {
    let (results, rx) = mpsc::channel(8);
    let now = Timestamp::now();
    let command = Command {
        id,
        nonce: [0; 16],
        point: PointId::new(point).unwrap(),
        edge: "edge-1".into(),
        action,
        value,
        issuer: "operator-1".into(),
        role: "OPERATOR".into(),
        issued_at: now,
        expires_at: Timestamp(now.0 + 60_000_000_000),
    };
    (DeviceCommand { command, results }, rx)
}

/// Sends a command and collects its results until the channel closes.
async fn outcomes(commands: &mpsc::Sender<DeviceCommand>, id: u64, point: &str, action: CommandAction, value: bool) -> Vec<CommandOutcome> {
    let (cmd, mut rx) = command(id, point, action, CommandValue::Single(value));
    commands.send(cmd).await.unwrap();
    let mut out = Vec::new();
    while let Some(r) = tokio::time::timeout(Duration::from_secs(15), rx.recv()).await.expect("command finishes") {
        assert_eq!((r.command_id, r.action), (id, action));
        out.push(r.outcome);
    }
    out
}

fn refused_with(outcomes: &[CommandOutcome], by: &str, text: &str) -> bool {
    matches!(outcomes.last(), Some(CommandOutcome::Refused { by: b, reason }) if b == by && reason.contains(text))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_follow_each_objects_control_model() {
    let Some(server) = Iec61850Server::start("commands_follow_each_objects_control_model") else { return };
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(server.addr, dir.path(), "");
    let operated: Vec<String> = cfg.operated_points().iter().map(ToString::to_string).collect();
    assert_eq!(operated.len(), 5, "{operated:?}");
    let (task, mut data, commands) = start(cfg);
    use CommandAction::{Cancel, Execute, Select};
    use CommandOutcome::{Confirmed, Terminated};
    let spcso = |n: u8| format!("simpleIOGenericIO/GGIO1.SPCSO{n}");

    // Direct with normal security: Oper, then the status change arrives as a datum.
    assert_eq!(outcomes(&commands, 1, &spcso(1), Execute, true).await, [Confirmed, Terminated]);
    // (the GI brought `false` first)
    while next_datum(&mut data, "simpleIOGenericIO/GGIO1.SPCSO1.stVal[ST]").await.value != Value::Single(true) {}
    // A select of a direct-operate object is refused at the edge.
    assert!(refused_with(&outcomes(&commands, 2, &spcso(1), Select, true).await, "edge", "nothing to select"));

    // SBO with enhanced security: Select (SBOw), Execute (Oper) and the CommandTermination.
    assert_eq!(outcomes(&commands, 3, &spcso(4), Select, true).await, [Confirmed]);
    assert_eq!(outcomes(&commands, 4, &spcso(4), Execute, true).await, [Confirmed, Terminated]);
    // Execute without a select: the IED refuses (its SBO protection holds end to end).
    assert!(refused_with(&outcomes(&commands, 5, &spcso(4), Execute, false).await, "device", "operate refused"));
    // Select, then Cancel.
    assert_eq!(outcomes(&commands, 6, &spcso(4), Select, false).await, [Confirmed]);
    assert_eq!(outcomes(&commands, 7, &spcso(4), Cancel, false).await, [Confirmed]);

    // SBO with normal security (SBO read, then Oper).
    assert_eq!(outcomes(&commands, 8, &spcso(2), Select, true).await, [Confirmed]);
    assert_eq!(outcomes(&commands, 9, &spcso(2), Execute, true).await, [Confirmed, Terminated]);

    // Direct with enhanced security refused by the IED's interlocking check: AddCause 10.
    let refused = outcomes(&commands, 10, &spcso(3), Execute, false).await;
    assert!(refused_with(&refused, "device", "blocked-by-interlocking (10)"), "{refused:?}");
    // Accepted, then the execution fails: CommandTermination- with AddCause 9.
    assert_eq!(outcomes(&commands, 11, &spcso(8), Select, true).await, [Confirmed]);
    let failed = outcomes(&commands, 12, &spcso(8), Execute, true).await;
    assert_eq!(failed.first(), Some(&Confirmed));
    assert!(refused_with(&failed, "device", "blocked-by-process (9)"), "{failed:?}");
    // Not a control of this IED, and a value that does not fit a BOOLEAN ctlVal.
    assert!(refused_with(&outcomes(&commands, 13, "simpleIOGenericIO/GGIO1.AnIn1", Execute, true).await, "edge", "not a control"));
    let (cmd, mut rx) = command(14, &spcso(1), Execute, CommandValue::SetpointScaled(3));
    commands.send(cmd).await.unwrap();
    let r = rx.recv().await.unwrap();
    assert!(matches!(r.outcome, CommandOutcome::Refused { ref by, .. } if by == "edge"), "{r:?}");
    task.abort();
}

#[test]
fn configuration_errors_name_the_key() {
    let parse = |extra: &str| -> IedConfig { toml::from_str(&format!("name = \"x\"\nscl = {CID:?}\n{extra}")).unwrap() };
    assert_eq!(parse("").validate(), Ok(()));
    assert_eq!(parse("").operated_points().len(), 5);
    assert_eq!(parse("ied = \"nope\"").validate().unwrap_err().0, "ied");
    assert_eq!(parse("address = \"nohost\"").validate().unwrap_err().0, "address");
    assert_eq!(parse("report_control_blocks = [\"simpleIOGenericIO/LLN0.X\"]").validate().unwrap_err().0, "report_control_blocks[0]");
    assert_eq!(parse("controls = [\"simpleIOGenericIO/GGIO1.Ind1\"]").validate().unwrap_err().0, "controls[0]");
    let mut missing = parse("");
    missing.scl = PathBuf::from("no/such.cid");
    let (key, message) = missing.validate().unwrap_err();
    assert_eq!(key, "scl");
    assert!(message.contains("no/such.cid"), "{message}");
    let mut relative = parse("state_dir = \"state\"");
    relative.scl = PathBuf::from("ied.cid");
    relative.resolve(std::path::Path::new("/etc/gridtrust"));
    assert_eq!((relative.scl, relative.state_dir), (PathBuf::from("/etc/gridtrust/ied.cid"), Some(PathBuf::from("/etc/gridtrust/state"))));
    assert!(toml::from_str::<IedConfig>("name = \"x\"\nscl = \"a\"\ntypo = 1").is_err());
}
