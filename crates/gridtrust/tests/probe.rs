//! `gridtrust probe` against live devices, the way an integrator commissions them: the binary
//! probes the device, prints what it offers and writes the edge table (and mapping file); that
//! table, merged unedited into an edge.toml, starts the real edge, which reads the device, and a
//! value it read is stored at the real hub.
//!
//! - `probe_iec104_lists_a_c104_rtu_and_its_configuration_reads_it`: a c104 (lib60870) RTU with
//!   two common addresses (tests/peers/c104_probe_rtu.py).
//! - `probe_modbus_lists_a_pymodbus_sunspec_chain_and_its_configuration_reads_it`: pymodbus
//!   serving a SunSpec map (crates/modbus/tests/peers/pymodbus_sunspec_server.py).
//! - `probe_pmu_lists_the_cfg2_of_the_pmu_simulator_and_its_configuration_reads_it`: our C37.118
//!   PMU simulator.
//! - `probe_mms_browses_a_libiec61850_ied_writes_scl_and_its_configuration_reads_it`: a
//!   libiec61850 server through pyiec61850-ng (crates/mms/tests/peer/iec61850_server.py); the
//!   SCL the probe writes is also read by `gridtrust model import`.
//! - `probe_errors_say_what_the_device_answered`: nothing listening, a silent peer (each probe
//!   gives up within `--timeout`), a Modbus device without SunSpec (pymodbus).
//!
//! The Python peers are skipped with a `SKIP` line when missing, unless GRIDTRUST_REQUIRE_PEERS
//! is set (CI), where a missing peer fails the test.

#[path = "support/common.rs"]
mod common;
#[path = "../../mms/tests/common/peer.rs"]
mod mms_peer;
mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncBufReadExt;
use tokio::net::TcpListener;

use gridtrust::registry::{DEV_AUTHORITY_TABLE, write_dev_registry};
use gridtrust_edge::Edge;
use gridtrust_edge::config::EdgeConfig;
use gridtrust_hub::{Hub, HubConfig};
use gridtrust_model::PointId;

/// How long any single step may take before the test fails.
const STEP: Duration = Duration::from_secs(20);

/// A site folder with the development PKI, where the probe writes and the roles are configured.
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

    fn identity(&self, name: &str) -> &str {
        self.tables.iter().find(|(n, _)| *n == name).map(|(_, t)| t.as_str()).unwrap()
    }

    /// Runs `gridtrust probe ARGS --out <site>`; returns its stdout, or its stderr as the error.
    async fn probe(&self, args: &[&str]) -> Result<String, String> {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_gridtrust"))
            .arg("probe")
            .args(args)
            .arg("--out")
            .arg(&self.dir)
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(STEP, out).await.expect("the probe ends within its --timeout").expect("the binary runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        eprintln!("probe {args:?}:\n{stdout}{stderr}");
        if out.status.success() { Ok(stdout) } else { Err(stderr) }
    }

    /// Starts the real hub, granting `logical_devices` to edge-1.
    async fn start_hub(&self, logical_devices: &[&str]) -> Hub {
        let grants: Vec<(&str, &str)> = logical_devices.iter().map(|ld| (*ld, "edge-1")).collect();
        write_dev_registry(&self.dir.join("pki"), 1, &grants, &self.dir).unwrap();
        let path = self.dir.join("hub.toml");
        std::fs::write(
            &path,
            format!(
                "data_dir = \"hub-data\"\nedge_listen = \"127.0.0.1:0\"\ncc_listen = \"127.0.0.1:0\"\n\n{}\n{DEV_AUTHORITY_TABLE}",
                self.identity("hub")
            ),
        )
        .unwrap();
        Hub::start(&HubConfig::load(&path).unwrap()).await.unwrap()
    }

    /// Starts the real edge-1 from an edge.toml whose device tables are the probe's file
    /// `edge_table`, copied in unedited.
    async fn start_edge(&self, hub: &Hub, edge_table: &str) -> Edge {
        let table = std::fs::read_to_string(self.dir.join(edge_table)).unwrap();
        let path = self.dir.join("edge.toml");
        std::fs::write(
            &path,
            format!(
                "edge_id = \"edge-1\"\ndata_dir = \"edge-data\"\n\n{}\n[hub]\naddress = \"{}\"\nserver_name = \"hub\"\n\n{table}",
                self.identity("edge-1"),
                hub.edge_addr
            ),
        )
        .unwrap();
        Edge::start(EdgeConfig::load(&path).unwrap()).await.unwrap()
    }
}

/// Waits until the hub stores a value of `point` for which `ok` holds.
async fn stored(hub: &Hub, point: &str, ok: impl Fn(f64) -> bool) {
    let point = PointId::new(point).unwrap();
    common::poll_until(STEP, &format!("the hub stores {point} as read by the edge"), || {
        hub.store().latest(&point).ok().flatten().map(|r| r.value.as_f64()).is_some_and(&ok)
    })
    .await;
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A Python peer: started with `python3 -u SCRIPT PORT`, killed when dropped.
struct PythonPeer {
    child: tokio::process::Child,
    addr: SocketAddr,
}

impl PythonPeer {
    /// Starts `script` on a free port and waits until it prints `READY` (when `ready_line`) or
    /// accepts connections.
    async fn start(script: &str, ready_line: bool) -> Self {
        let port = free_port();
        let mut child = tokio::process::Command::new("python3")
            .arg("-u")
            .arg(script)
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 starts");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        if ready_line {
            let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
            let ready = tokio::time::timeout(STEP, lines.next_line()).await.expect("the peer starts in time").unwrap();
            assert_eq!(ready.as_deref(), Some("READY"), "the peer {script} did not start");
        } else {
            let deadline = tokio::time::Instant::now() + STEP;
            while tokio::net::TcpStream::connect(addr).await.is_err() {
                assert!(tokio::time::Instant::now() < deadline, "the peer {script} does not listen on {addr}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Self { child, addr }
    }
}

impl Drop for PythonPeer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

fn file(site: &Site, name: &str) -> String {
    std::fs::read_to_string(site.dir.join(name)).unwrap_or_else(|e| panic!("the probe wrote {name}: {e}"))
}

fn path_in(crate_dir: &str, rel: &str) -> String {
    Path::new(crate_dir).join(rel).to_string_lossy().into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_iec104_lists_a_c104_rtu_and_its_configuration_reads_it() {
    let test = "probe_iec104_lists_a_c104_rtu_and_its_configuration_reads_it";
    if !support::c104_available(test) {
        return;
    }
    let rtu = PythonPeer::start(&path_in(env!("CARGO_MANIFEST_DIR"), "tests/peers/c104_probe_rtu.py"), true).await;
    let site = Site::new();
    let shown = site.probe(&["iec104", &rtu.addr.to_string(), "--name", "bay-f1", "--timeout", "10"]).await.expect("the probe succeeds");

    // Every object of both stations, with its type, address and quality.
    let row = |ca: &str, ioa: &str, words: &[&str]| {
        shown.lines().any(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols.first() == Some(&ca) && cols.get(1) == Some(&ioa) && words.iter().all(|w| cols.contains(w))
        })
    };
    assert!(row("1", "10", &["M_SP_NA_1", "on", "good"]), "{shown}");
    assert!(row("1", "20", &["M_ME_NC_1", "1.5", "good"]), "{shown}");
    assert!(row("1", "30", &["M_DP_NA_1", "off", "IV"]), "{shown}");
    assert!(row("2", "20", &["M_ME_NB_1", "42", "good"]), "{shown}");

    // One [[rtu]] table and one mapping file per common address.
    let table = file(&site, "edge-bay-f1.toml");
    assert_eq!(table.matches("[[rtu]]").count(), 2, "{table}");
    assert!(file(&site, "bay-f1-ca1-map.toml").contains("BAYF1_1/GGIO1.AnIn20"));
    assert!(file(&site, "bay-f1-ca2-map.toml").contains("BAYF1_2/GGIO1.AnIn20"));

    let hub = site.start_hub(&["BAYF1_1", "BAYF1_2"]).await;
    let edge = site.start_edge(&hub, "edge-bay-f1.toml").await;
    stored(&hub, "BAYF1_1/GGIO1.AnIn20", |v| v == 1.5).await;
    stored(&hub, "BAYF1_2/GGIO1.AnIn20", |v| v == 42.0).await;
    stored(&hub, "BAYF1_1/GGIO1.Ind10", |v| v == 1.0).await;
    edge.shutdown();
    hub.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_modbus_lists_a_pymodbus_sunspec_chain_and_its_configuration_reads_it() {
    let test = "probe_modbus_lists_a_pymodbus_sunspec_chain_and_its_configuration_reads_it";
    if !support::python_module_available(test, "pymodbus") {
        return;
    }
    let device = PythonPeer::start(&path_in(env!("CARGO_MANIFEST_DIR"), "../modbus/tests/peers/pymodbus_sunspec_server.py"), false).await;
    let site = Site::new();
    let shown = site.probe(&["modbus", &device.addr.to_string(), "--name", "pv-7", "--timeout", "10"]).await.expect("the probe succeeds");

    // The chain (common, inverter, controls) with values and the points the edge publishes.
    for model in ["model 1 (common)", "model 103 ", "model 123 "] {
        assert!(shown.contains(model), "{model} listed: {shown}");
    }
    assert!(shown.contains("\"pymodbus-peer\"") && shown.contains("\"PEER-42\""), "manufacturer and serial number: {shown}");
    let field =
        |name: &str| shown.lines().find(|l| l.split_whitespace().next() == Some(name)).unwrap_or_else(|| panic!("{name} listed: {shown}"));
    assert!(field("W").contains("25000") && field("W").contains("PV7/MMXU1.TotW.mag.f"), "{}", field("W"));
    assert!(field("VA").contains("not implemented"), "{}", field("VA"));

    let hub = site.start_hub(&["PV7"]).await;
    let edge = site.start_edge(&hub, "edge-pv-7.toml").await;
    stored(&hub, "PV7/MMXU1.TotW.mag.f", |w| (w - 25_000.0).abs() < 1e-3).await;
    stored(&hub, "PV7/MMXU1.Hz.mag.f", |hz| (hz - 60.01).abs() < 1e-3).await;
    edge.shutdown();
    hub.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_pmu_lists_the_cfg2_of_the_pmu_simulator_and_its_configuration_reads_it() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let spec = gridtrust_c37118::sim::SimSpec::single(7, "PMU1", 10);
    let channels: Vec<String> = spec.config().stations[0].phasors.iter().map(|p| p.name.trim().to_owned()).collect();
    let pmu = tokio::spawn(gridtrust_c37118::driver::serve_tcp(listener, move || spec.server()));
    let site = Site::new();
    let shown =
        site.probe(&["pmu", &addr.to_string(), "--idcode", "7", "--name", "pmu-1", "--timeout", "10"]).await.expect("the probe succeeds");

    assert!(shown.contains("station \"PMU1\" IDCODE 7") && shown.contains("10 frames/s") && shown.contains("50 Hz nominal"), "{shown}");
    for channel in &channels {
        assert!(shown.lines().any(|l| l.contains("phasor") && l.contains(channel.as_str())), "phasor {channel} listed: {shown}");
    }
    assert!(shown.contains("PMU1/MMXU1.Hz.mag.f"), "the first frame's points: {shown}");

    let hub = site.start_hub(&["PMU1"]).await;
    let edge = site.start_edge(&hub, "edge-pmu-1.toml").await;
    stored(&hub, "PMU1/MMXU1.Hz.mag.f", |hz| (49.9..50.1).contains(&hz)).await;
    edge.shutdown();
    hub.shutdown();
    pmu.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_mms_browses_a_libiec61850_ied_writes_scl_and_its_configuration_reads_it() {
    let test = "probe_mms_browses_a_libiec61850_ied_writes_scl_and_its_configuration_reads_it";
    let Some(mut ied) = tokio::task::spawn_blocking(move || mms_peer::Iec61850Server::start(test)).await.unwrap() else { return };
    let ld = mms_peer::LD;
    let site = Site::new();
    let shown = site
        .probe(&["mms", &ied.addr.to_string(), "--name", "bay-ied", "--scl", "bay.iid", "--timeout", "10"])
        .await
        .expect("the probe succeeds");

    // Logical devices, nodes, data objects with values, data sets and report control blocks.
    assert!(shown.contains(&format!("logical device {ld}")), "{shown}");
    for ln in ["LLN0", "LPHD1", "GGIO1"] {
        assert!(shown.lines().any(|l| l.trim() == ln), "{ln} listed: {shown}");
    }
    assert!(shown.contains("AnIn1.mag.f [MX] = 0") && shown.contains("SPCSO2.ctlModel [CF] = 2"), "{shown}");
    assert!(shown.contains("data set LLN0$Measurements: ") && shown.contains(&format!("{ld}/GGIO1$MX$AnIn1$mag$f")), "{shown}");
    assert!(
        shown.contains(&format!("report control block Measurements01 (buffered): data set {ld}/LLN0$Measurements, confRev 1")),
        "{shown}"
    );
    assert!(shown.contains("the edge will enable 2 report control block(s)"), "{shown}");

    // The SCL is a model gridtrust imports.
    let imported = std::process::Command::new(env!("CARGO_BIN_EXE_gridtrust"))
        .args(["model", "import", "--scl"])
        .arg(site.dir.join("bay.iid"))
        .arg("--output")
        .arg(site.dir.join("model.json"))
        .output()
        .unwrap();
    assert!(imported.status.success(), "model import: {}", String::from_utf8_lossy(&imported.stderr));

    let hub = site.start_hub(&[ld]).await;
    let edge = site.start_edge(&hub, "edge-bay-ied.toml").await;
    let anin1 = format!("{ld}/GGIO1.AnIn1.mag.f[MX]");
    stored(&hub, &anin1, |v| v == 0.0).await;
    // The server stays up (and is stopped when `ied` drops at the end).
    let _ied = tokio::task::spawn_blocking(move || {
        ied.command(&format!("float {ld}/GGIO1.AnIn1.mag.f 12.5"));
        ied
    })
    .await
    .unwrap();
    stored(&hub, &anin1, |v| v == 12.5).await;
    edge.shutdown();
    hub.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_errors_say_what_the_device_answered() {
    let site = Site::new();
    // Nothing listens.
    let closed = format!("127.0.0.1:{}", free_port());
    let e = site.probe(&["iec104", &closed, "--timeout", "2"]).await.expect_err("nothing to probe");
    assert!(e.contains("Connection refused"), "{e}");

    // A peer that accepts and never answers: each probe gives up within its --timeout.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap().to_string();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            open.push(s);
        }
    });
    for (protocol, what) in [("iec104", "STARTDT"), ("mms", "MMS association"), ("modbus", "SunSpec discovery"), ("pmu", "CFG-2")] {
        let started = std::time::Instant::now();
        let e = site.probe(&[protocol, &silent_addr, "--timeout", "1"]).await.expect_err("a silent device");
        assert!(e.contains("did not answer") && e.contains(what) && e.contains("1 s"), "{protocol}: {e}");
        assert!(started.elapsed() < Duration::from_secs(8), "{protocol} took {:?}", started.elapsed());
    }
    held.abort();

    // A Modbus device without a SunSpec map: the error lists what it answered at each base.
    if support::python_module_available("probe_errors_say_what_the_device_answered", "pymodbus") {
        let plain = PythonPeer::start(&path_in(env!("CARGO_MANIFEST_DIR"), "tests/peers/pymodbus_plain_server.py"), false).await;
        let e = site.probe(&["modbus", &plain.addr.to_string(), "--timeout", "5"]).await.expect_err("no SunSpec map");
        assert!(e.contains("no SunS marker") && e.contains("at 40000: device answered with") && e.contains("at 0: registers"), "{e}");
    }
}
