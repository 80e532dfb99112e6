//! Operations as documented: the roles run as separate processes from the files `gridtrust demo`
//! writes (the README's "Running the roles separately"), stop gracefully on SIGTERM, and log
//! without terminal colour codes when stderr is not a terminal.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use gridtrust::chain::SCADA_IOA_OFFSET;
use gridtrust_iec104::asdu::Element;
use gridtrust_iec104::client::{Client, ClientConfig, ClientEvent};
use gridtrust_sim::substation::ioa;

/// The graceful-stop bound the roles promise (the systemd units' `TimeoutStopSec` is above it).
const STOP_BOUND: Duration = Duration::from_secs(10);

/// A role as a separate process, killed when dropped so a failing test leaves nothing behind.
struct Role {
    name: &'static str,
    child: Child,
}

impl Role {
    /// Starts `gridtrust <args>` in `cwd`, its output in `<cwd>/<name>.log`.
    fn start(name: &'static str, cwd: &Path, args: &[&str]) -> Self {
        let log = std::fs::File::create(cwd.join(format!("{name}.log"))).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_gridtrust"))
            .args(args)
            .current_dir(cwd)
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("the role starts");
        Self { name, child }
    }

    /// Sends SIGTERM and waits up to `bound` for the process to end.
    fn terminate(mut self, bound: Duration) -> Option<ExitStatus> {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("kill runs");
        assert!(status.success(), "kill -TERM {}", self.name);
        let deadline = Instant::now() + bound;
        while Instant::now() < deadline {
            if let Some(s) = self.child.try_wait().expect("wait") {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Free loopback ports, as .ci/lib/demo.sh picks them: all bound at once, then released.
fn free_ports(n: usize) -> Vec<u16> {
    let socks: Vec<TcpListener> = (0..n).map(|_| TcpListener::bind("127.0.0.1:0").expect("bind")).collect();
    socks.iter().map(|s| s.local_addr().expect("addr").port()).collect()
}

/// Runs `gridtrust demo --dir <work>/demo-data` for a few seconds with every `--*-listen` on a
/// free port, and returns the demo's folder (its configuration stays after it stops).
///
/// A port picked free can be taken by another test before the demo binds it: that one failure
/// is retried with new ports, any other fails the test.
fn run_demo(work: &Path) -> PathBuf {
    let flags = ["--scada-listen", "--api-listen", "--cc-ui-listen", "--rtu-listen", "--pv-listen", "--pmu-listen"];
    for attempt in 1..=3 {
        let ports = free_ports(flags.len());
        let mut args = vec!["demo".to_owned(), "--dir".to_owned(), "demo-data".to_owned(), "--seconds".to_owned(), "2".to_owned()];
        for (flag, port) in flags.iter().zip(ports) {
            args.extend([(*flag).to_owned(), format!("127.0.0.1:{port}")]);
        }
        let out = Command::new(env!("CARGO_BIN_EXE_gridtrust")).args(&args).current_dir(work).output().expect("demo runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            return work.join("demo-data");
        }
        assert!(attempt < 3 && stderr.contains("Address already in use"), "demo failed: {stderr}");
        eprintln!("a port picked for the demo was taken meanwhile; again with other ports");
    }
    unreachable!("the loop returns or fails")
}

/// The value of `key = "..."` in the first table headed `table` (e.g. `[[rtu]]`) of `file`.
fn toml_string(file: &Path, table: &str, key: &str) -> String {
    let text = std::fs::read_to_string(file).expect("config file");
    let prefix = format!("{key} = \"");
    text.lines()
        .skip_while(|l| l.trim() != table)
        .take_while(|l| l.trim() == table || !l.starts_with('['))
        .find_map(|l| l.strip_prefix(&prefix).and_then(|r| r.strip_suffix('"')))
        .unwrap_or_else(|| panic!("{} has no {key} in {table}", file.display()))
        .to_owned()
}

/// The last lines of every role's log, for a failure message.
fn logs(work: &Path) -> String {
    let mut out = String::new();
    for name in ["sim-rtu", "hub", "edge", "cc"] {
        let text = std::fs::read_to_string(work.join(format!("{name}.log"))).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        out += &format!("\n--- {name}.log\n{}", lines[lines.len().saturating_sub(15)..].join("\n"));
    }
    out
}

/// Waits until the cc serves feeder 1's active power with good quality (asking with a station
/// interrogation, so a value that does not change still arrives).
async fn scada_reads_good_value(scada: std::net::SocketAddr, work: &Path) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let want = SCADA_IOA_OFFSET + 1000 + ioa::P;
    loop {
        assert!(tokio::time::Instant::now() < deadline, "no good value for IOA {want} from the cc at {scada} in 30 s{}", logs(work));
        let Ok((client, mut events)) = Client::connect(scada, None, ClientConfig::default()).await else {
            tokio::time::sleep(Duration::from_millis(300)).await;
            continue;
        };
        let _ = client.interrogate(1, 20).await;
        while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, events.recv()).await {
            let good = |o: &gridtrust_iec104::asdu::InformationObject| {
                o.ioa == want && matches!(o.element, Element::ShortFloat { quality, .. } if !quality.invalid)
            };
            if let ClientEvent::Asdu(asdu) = ev
                && asdu.objects.iter().any(good)
            {
                return;
            }
        }
    }
}

/// The roles started from the demo's files, as the README says.
fn start_roles(work: &Path, edge_config: &str) -> (Role, Role, Role, Role) {
    let rtu = toml_string(&work.join("demo-data/edge.toml"), "[[rtu]]", "address");
    let rtu = Role::start("sim-rtu", work, &["sim-rtu", "--listen", &rtu]);
    let hub = Role::start("hub", work, &["hub", "--config", "demo-data/hub.toml"]);
    let edge = Role::start("edge", work, &["edge", "--config", edge_config]);
    let cc = Role::start("cc", work, &["cc", "--config", "demo-data/cc.toml"]);
    (rtu, hub, edge, cc)
}

#[tokio::test(flavor = "multi_thread")]
async fn roles_run_separately_from_the_demo_files() {
    let work = tempfile::tempdir().unwrap();
    let dir = run_demo(work.path());
    let (_rtu, _hub, _edge, _cc) = start_roles(work.path(), "demo-data/edge.toml");
    let scada = toml_string(&dir.join("cc.toml"), "[iec104]", "listen").parse().expect("cc listen address");
    scada_reads_good_value(scada, work.path()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_every_role_within_the_bound_and_the_edge_keeps_its_open_batch() {
    let work = tempfile::tempdir().unwrap();
    let dir = run_demo(work.path());
    // A batch window far longer than the test: everything the edge receives sits in its open
    // batch until the stop, which must commit it to the durable queue.
    let edge_toml = std::fs::read_to_string(dir.join("edge.toml")).unwrap();
    let (before, after) = edge_toml.split_once("max_delay_ms = ").expect("edge.toml has max_delay_ms");
    let after = after.split_once('\n').map_or("", |(_, rest)| rest);
    std::fs::write(dir.join("edge-slow.toml"), format!("{before}max_delay_ms = 600000\n{after}")).unwrap();
    // The demo's own edge numbered records into this queue already; count what this run adds.
    let queue_path = dir.join("edge-data/queue.redb");
    let numbered_before = gridtrust_store::EdgeQueue::open(&queue_path).expect("edge queue").next_seq();
    let (rtu, hub, edge, cc) = start_roles(work.path(), "demo-data/edge-slow.toml");
    // The edge's first interrogation and a few periods of the RTU's spontaneous values.
    tokio::time::sleep(Duration::from_secs(5)).await;

    let status = edge.terminate(STOP_BOUND);
    assert!(matches!(status, Some(s) if s.success()), "edge on SIGTERM: {status:?} (bound {STOP_BOUND:?})");
    let numbered_after = gridtrust_store::EdgeQueue::open(&queue_path).expect("edge queue").next_seq();
    assert!(
        numbered_after > numbered_before,
        "the edge's open batch was dropped at SIGTERM: its queue numbered {numbered_before} records before the run and {numbered_after} after"
    );

    // The edge again, with the demo's short batch window: it sends what it queued, and a second
    // graceful stop gives the hub time to acknowledge.
    let drain = Role::start("edge-drain", work.path(), &["edge", "--config", "demo-data/edge.toml"]);
    tokio::time::sleep(Duration::from_secs(4)).await;
    for role in [drain, cc, hub, rtu] {
        let name = role.name;
        let status = role.terminate(STOP_BOUND);
        assert!(matches!(status, Some(s) if s.success()), "{name} on SIGTERM: {status:?}");
    }
    // Every record the edge numbered up to its SIGTERM is at the hub: no gap in seq.
    let store = gridtrust_store::HubStore::open(dir.join("hub-data/hub.redb")).expect("hub store");
    // The chain's first record: 0, or the time its queue was made (`gridtrust_trust::chain`).
    let first_batch =
        store.batches_after("edge-1", None, 1).expect("hub store").and_then(|b| b.into_iter().next()).expect("edge-1 has a batch");
    let first = gridtrust_trust::evidence::decode_sealed(&first_batch.header_bytes).expect("stored header").0.first_seq;
    let missing: Vec<u64> = (first..numbered_after).filter(|&seq| !matches!(store.batch_of_record("edge-1", seq), Ok(Some(_)))).collect();
    assert!(
        missing.is_empty(),
        "{} of the {} records edge-1 numbered are not at the hub, first {:?}",
        missing.len(),
        numbered_after - first,
        &missing[..missing.len().min(5)]
    );
}

#[test]
fn demo_stops_on_sigterm_with_exit_0() {
    let work = tempfile::tempdir().unwrap();
    let flags = ["--scada-listen", "--api-listen", "--cc-ui-listen", "--rtu-listen", "--pv-listen", "--pmu-listen"];
    let ports = free_ports(flags.len());
    let mut args = vec!["demo".to_owned(), "--dir".to_owned(), "demo-data".to_owned()];
    for (flag, port) in flags.iter().zip(ports) {
        args.extend([(*flag).to_owned(), format!("127.0.0.1:{port}")]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let demo = Role::start("demo", work.path(), &args);
    // Until the demo has written its last file (cc.toml) it is still starting.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !work.path().join("demo-data/cc.toml").exists() {
        assert!(Instant::now() < deadline, "the demo did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));
    let status = demo.terminate(STOP_BOUND);
    assert!(matches!(status, Some(s) if s.success()), "demo on SIGTERM: {status:?}");
}

/// stderr of `gridtrust <args> pki init --dir <fresh folder> --name ops-test` (it logs a warning
/// about its software key), run with stderr piped (not a terminal).
fn pki_init_stderr(before: &[&str], env: &[(&str, &str)]) -> String {
    let work = tempfile::tempdir().unwrap();
    let ca = work.path().join("ca");
    let out = Command::new(env!("CARGO_BIN_EXE_gridtrust"))
        .args(before)
        .args(["pki", "init", "--name", "ops-test", "--dir"])
        .arg(&ca)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "pki init failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn logs_have_no_colour_codes_when_stderr_is_not_a_terminal() {
    let err = pki_init_stderr(&[], &[]);
    assert!(err.contains("software key file"), "the warning is not logged: {err:?}");
    assert!(!err.contains("\x1b["), "ANSI colour codes in piped stderr: {err:?}");
}

#[test]
fn log_format_json_gives_one_json_object_per_line() {
    for (before, env) in [(vec!["--log-format", "json"], vec![]), (vec![], vec![("GRIDTRUST_LOG_FORMAT", "json")])] {
        let err = pki_init_stderr(&before, &env);
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert!(!lines.is_empty(), "nothing logged with {before:?} {env:?}");
        let mut warned = false;
        for l in lines {
            let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
            assert!(v["level"].is_string() && v["target"].is_string() && v["timestamp"].is_string(), "{l}");
            let message = v["fields"]["message"].as_str().unwrap_or_else(|| panic!("no message: {l}"));
            warned |= v["level"] == "WARN" && message.contains("software key file");
        }
        assert!(warned, "the warning is not among the JSON lines: {err}");
    }
}

/// The systemd units stop the roles with SIGTERM and give them more than the stop bound before
/// systemd's SIGKILL, and ask for JSON logs.
#[test]
fn systemd_units_give_the_roles_their_stop_bound() {
    let units = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/systemd");
    for role in ["hub", "edge", "cc"] {
        let path = units.join(format!("gridtrust-{role}.service"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let value = |key: &str| text.lines().find_map(|l| l.strip_prefix(&format!("{key}="))).map(str::to_owned);
        assert_eq!(value("KillSignal").as_deref(), Some("SIGTERM"), "{role}");
        let timeout: u64 = value("TimeoutStopSec").and_then(|v| v.trim_end_matches('s').parse().ok()).expect("TimeoutStopSec in seconds");
        assert!(Duration::from_secs(timeout) > STOP_BOUND, "{role}: TimeoutStopSec={timeout}s is not above the {STOP_BOUND:?} stop bound");
        assert!(text.contains(&format!("ExecStart=/usr/local/bin/gridtrust {role} --config")), "{role}: ExecStart");
        assert!(text.contains("Environment=GRIDTRUST_LOG_FORMAT=json"), "{role}: JSON logs");
    }
}
