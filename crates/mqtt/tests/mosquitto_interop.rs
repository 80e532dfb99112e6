//! The MQTT adapter against a real broker we did not write (Debian `mosquitto`), fed by a real
//! client we did not write (Eclipse Paho for Python) and by our simulator:
//!
//! (a) plain TCP: JSON, SenML and the seed's CIM MeterReadings become the right data; broken
//!     payloads are counted per format and do not stop the adapter;
//! (b) mutual TLS 1.3: our client certificate connects; no certificate, a certificate from
//!     another CA, and a broker certificate from another CA are all refused;
//! (c) the broker is stopped and started again while Paho keeps publishing numbered QoS 1
//!     messages: the adapter receives every number.
//!
//! Without mosquitto or paho-mqtt the tests print SKIPPED and pass, unless
//! GRIDTRUST_REQUIRE_PEERS is set (CI), where they fail.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use common::{Mosquitto, Paho, TestPki, mosquitto_available, paho_available};
use gridtrust_adapter::{Datum, DeviceCommand};
use gridtrust_model::{Command, CommandAction, CommandOutcome, CommandValue, PointId};
use gridtrust_model::{TimeQuality, Timestamp, Value};
use gridtrust_mqtt::adapter::{MqttAdapter, MqttConfig, StatsSnapshot};
use gridtrust_mqtt::config::TlsFiles;
use gridtrust_mqtt::sim::{BrokerOptions, Publisher};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, TlsConfiguration, Transport};
use rustls::pki_types::pem::PemObject;
use tokio::sync::mpsc;

const STEP: Duration = Duration::from_secs(20);
const PROBE_POINT: &str = "PROBE/GGIO1.Ind1.stVal";

/// An adapter configuration with one topic per format and a probe value on the JSON topic.
fn config(port: u16, client_id: &str, tls: Option<&TlsFiles>) -> MqttConfig {
    let mut text = format!(
        r#"
        name = "meters"
        host = "127.0.0.1"
        port = {port}
        client_id = "{client_id}"

        [[topic]]
        filter = "meters/+/json"
        format = "json"
        [[topic.point]]
        name = "/probe"
        point = "{PROBE_POINT}"
        [[topic.point]]
        name = "/seq"
        point = "MTR9/GGIO1.CntVal.actVal"
        [[topic.point]]
        name = "/energy/import_wh"
        point = "MTR1/MMTR1.TotWh.actVal"
        unit = "Wh"
        [[topic.point]]
        name = "/power_w"
        point = "MTR1/MMXU1.TotW.mag.f"
        unit = "W"

        [[topic]]
        filter = "meters/+/senml"
        format = "senml"
        [[topic.point]]
        name = "urn:dev:meter:MTR2:energy"
        point = "MTR2/MMTR1.TotWh.actVal"
        unit = "Wh"
        [[topic.point]]
        name = "urn:dev:meter:MTR2:power"
        point = "MTR2/MMXU1.TotW.mag.f"
        unit = "W"

        [[topic]]
        filter = "ami/#"
        format = "cim"
        [[topic.point]]
        name = "0.26.0.0.1.1.12.0.0.0.0.0.0.0.0.224.3.72.0"
        meter = "11111111"
        point = "MTR3/MMTR1.TotWh.actVal"
        unit = "Wh"
        [[topic.point]]
        name = "0.26.0.0.1.1.12.0.0.0.0.0.0.0.0.224.3.73.0"
        point = "MTR3/MMTR1.TotVArh.actVal"
        unit = "varh"
        "#
    );
    if let Some(tls) = tls {
        text.push_str(&format!(
            "[tls]\nca = {:?}\ncrl = {:?}\ncertificate = {:?}\nkey = {:?}\n",
            tls.ca.display().to_string(),
            tls.crl.display().to_string(),
            tls.certificate.display().to_string(),
            tls.key.display().to_string()
        ));
    }
    let config: MqttConfig = toml::from_str(&text).expect("test configuration parses");
    config.validate().expect("test configuration is valid");
    config
}

/// A running adapter: its data channel, its counters, and the task (aborted when dropped).
struct RunningAdapter {
    data: mpsc::Receiver<Datum>,
    stats: Arc<gridtrust_mqtt::stats::IngestStats>,
    task: tokio::task::JoinHandle<()>,
    /// The edge's end of the command channel.
    commands: mpsc::Sender<DeviceCommand>,
}

impl Drop for RunningAdapter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RunningAdapter {
    fn start(config: &MqttConfig) -> RunningAdapter {
        Self::with_capacity(config, 65_536)
    }

    /// With a data channel of `capacity`, as small as the edge's queue may be when it is slow.
    fn with_capacity(config: &MqttConfig, capacity: usize) -> RunningAdapter {
        let adapter = MqttAdapter::new(config).expect("adapter builds");
        let stats = adapter.stats();
        let (io, data, commands) = common::edge_stand_in(capacity);
        RunningAdapter { data, stats, task: tokio::spawn(adapter.run(io)), commands }
    }

    async fn next(&mut self) -> Datum {
        tokio::time::timeout(STEP, self.data.recv()).await.expect("a datum in time").expect("adapter running")
    }

    fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// Publishes `{"probe": 1}` on the plain listener until the adapter delivers it: the adapter
    /// is then connected and subscribed. Readiness by observation, not a sleep.
    async fn wait_subscribed(&mut self, plain_port: u16) {
        let options = BrokerOptions { host: "127.0.0.1".into(), port: plain_port, client_id: "probe".into(), tls: None };
        let mut probe = Publisher::start(&options).expect("probe publisher");
        let deadline = tokio::time::Instant::now() + STEP;
        loop {
            probe.publish("meters/probe/json", br#"{"probe": 1}"#.to_vec()).await.expect("probe queued");
            if let Ok(Some(d)) = tokio::time::timeout(Duration::from_millis(250), self.data.recv()).await {
                assert_eq!(d.point.as_str(), PROBE_POINT);
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "the adapter never received the probe");
        }
        // Probes published while the subscription was being made may still arrive; let the
        // publisher finish and drop them.
        probe.flush().await;
        while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(300), self.data.recv()).await {}
    }
}

fn float(d: &Datum) -> f32 {
    match d.value {
        Value::Float(f) => f,
        other => panic!("float expected, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_broker_each_format_becomes_the_right_data_and_bad_payloads_are_counted() {
    if !mosquitto_available("plain_broker_each_format") || !paho_available("plain_broker_each_format") {
        return;
    }
    let broker = Mosquitto::start(None);
    let mut adapter = RunningAdapter::start(&config(broker.port, "edge-plain", None));
    adapter.wait_subscribed(broker.port).await;
    let before = adapter.stats();

    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p.display().to_string()
    };
    let json = file(
        "good.json",
        br#"{"time":"2024-05-01T12:00:00Z","meter":"MTR1","energy":{"import_wh":123456.5},"power_w":1520.25,"voltage_v":231.4}"#,
    );
    let senml = file(
        "good.senml",
        br#"[{"bn":"urn:dev:meter:MTR2:","bt":1714564800,"n":"energy","u":"kWh","v":42.5},{"n":"power","u":"W","v":-350.5,"t":1},{"n":"voltage","u":"V","v":230}]"#,
    );
    let cim = file("seed002.xml", include_bytes!("../testdata/seed002-repaired.xml"));
    let bad_json = file("bad.json", br#"{"energy": "#);
    let bad_senml = file("bad.senml", br#"[{"n":"bad name","v":1}]"#);
    let bad_cim = file("bad.xml", include_bytes!("../testdata/seed002-verbatim.xml"));
    let last = file("last.json", br#"{"power_w": 7}"#);
    let paho = Paho::spawn(&[
        "127.0.0.1",
        &broker.port.to_string(),
        "paho-files",
        "files",
        &format!("meters/MTR1/json={json}"),
        &format!("meters/MTR2/senml={senml}"),
        &format!("ami/readings/MTR3={cim}"),
        &format!("meters/MTR1/json={bad_json}"),
        &format!("meters/MTR2/senml={bad_senml}"),
        &format!("ami/readings/MTR3={bad_cim}"),
        &format!("meters/MTR1/json={last}"),
    ]);
    assert!(paho.finish(STEP).await.starts_with("DONE 7"));

    let mut got = Vec::new();
    for _ in 0..7 {
        let d = adapter.next().await;
        got.push((d.point.as_str().to_owned(), float(&d), d.source_time));
    }
    let at = |ms: i64| Some((Timestamp::from_unix_millis(ms), TimeQuality::GOOD));
    let cim_time = at(1_568_377_800_000);
    let expected = [
        ("MTR1/MMTR1.TotWh.actVal", 123_456.5, at(1_714_564_800_000)),
        ("MTR1/MMXU1.TotW.mag.f", 1520.25, at(1_714_564_800_000)),
        ("MTR2/MMTR1.TotWh.actVal", 42_500.0, at(1_714_564_800_000)),
        ("MTR2/MMXU1.TotW.mag.f", -350.5, at(1_714_564_801_000)),
        ("MTR3/MMTR1.TotWh.actVal", 1_234_500.0, cim_time),
        ("MTR3/MMTR1.TotVArh.actVal", 56_250.0, cim_time),
        ("MTR1/MMXU1.TotW.mag.f", 7.0, None),
    ];
    let expected: Vec<_> = expected.iter().map(|(p, v, t)| ((*p).to_owned(), *v, *t)).collect();
    assert_eq!(got, expected);

    let s = adapter.stats();
    assert_eq!(s.messages - before.messages, 7);
    assert_eq!(s.records - before.records, 7);
    assert_eq!((s.parse_errors_json, s.parse_errors_senml, s.parse_errors_cim), (1, 1, 1));
    assert_eq!(s.unmapped - before.unmapped, 1, "the SenML voltage has no mapping");
}

/// Connects once over TLS with `config` and reports the first event: the CONNACK, or why not.
async fn tls_connect(config: Arc<rustls::ClientConfig>, port: u16) -> Result<(), String> {
    let mut options = MqttOptions::new("tls-probe", "127.0.0.1", port);
    options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(config)));
    let (_client, mut eventloop) = AsyncClient::new(options, 10);
    match tokio::time::timeout(STEP, eventloop.poll()).await {
        Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => Ok(()),
        Ok(Ok(other)) => Err(format!("unexpected first event {other:?}")),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer in time".into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_admits_our_certificate_and_refuses_none_or_foreign() {
    if !mosquitto_available("mutual_tls") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(dir.path());
    let broker = Mosquitto::start(Some(&pki));
    let tls_port = broker.tls_port.expect("TLS listener");
    let client_config = |files: &TlsFiles| gridtrust_mqtt::tls::client_config(files).expect("TLS configuration");

    tls_connect(client_config(&pki.client), tls_port).await.expect("our certificate is admitted");

    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(&pki.ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let no_certificate = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let refused = tls_connect(Arc::new(no_certificate), tls_port).await.expect_err("no client certificate is refused");
    assert!(refused.contains("alert"), "refused by the broker's TLS, not something else: {refused}");

    let foreign = TlsFiles { ca: pki.ca.clone(), crl: pki.client.crl.clone(), ..pki.foreign_client.clone() };
    let refused = tls_connect(client_config(&foreign), tls_port).await.expect_err("a foreign client certificate is refused");
    assert!(refused.contains("alert"), "refused by the broker's TLS: {refused}");

    let untrusted_broker = TlsFiles { ca: pki.foreign_client.ca.clone(), crl: pki.foreign_client.crl.clone(), ..pki.client.clone() };
    let refused = tls_connect(client_config(&untrusted_broker), tls_port).await.expect_err("a broker from another CA is refused");
    assert!(refused.contains("certificate"), "refused by our certificate check: {refused}");

    // The adapter itself over mutual TLS: a reading published on the plain listener arrives.
    let mut adapter = RunningAdapter::start(&config(tls_port, "edge-tls", Some(&pki.client)));
    adapter.wait_subscribed(broker.port).await;
    let mut sim = Publisher::start(&BrokerOptions { host: "127.0.0.1".into(), port: broker.port, client_id: "sim-tls".into(), tls: None })
        .expect("publisher");
    sim.publish("meters/MTR1/json", br#"{"power_w": 99.5}"#.to_vec()).await.unwrap();
    let d = adapter.next().await;
    assert_eq!((d.point.as_str(), float(&d)), ("MTR1/MMXU1.TotW.mag.f", 99.5));
}

/// The broker's certificate is checked against the CRL (no mosquitto needed: an in-process TLS
/// server presents the broker certificate): admitted under the CRL in use, refused once a CRL
/// revoking it replaces the file, with the same client configuration (the CRL is reloaded).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_broker_certificate_is_refused_after_the_crl_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(dir.path());
    let chain: Vec<_> = rustls::pki_types::CertificateDer::pem_file_iter(&pki.server_cert).unwrap().map(Result::unwrap).collect();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(&pki.server_key).unwrap();
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = acceptor.accept(tcp).await;
            });
        }
    });
    let files = pki.client.clone();
    let config = gridtrust_mqtt::tls::client_config(&files).expect("TLS configuration");
    let handshake = |config: Arc<rustls::ClientConfig>| async move {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        tokio_rustls::TlsConnector::from(config).connect(name, tcp).await.map(|_| ()).map_err(|e| e.to_string())
    };
    handshake(config.clone()).await.expect("the broker is admitted under the CRL in use");
    std::fs::copy(&pki.crl_revoking_broker, &files.crl).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let refused = loop {
        match handshake(config.clone()).await {
            Err(e) => break e,
            Ok(()) => {
                assert!(std::time::Instant::now() < deadline, "the revoked broker is still admitted");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    assert!(refused.contains("Revoked"), "refused for another reason: {refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_mid_stream_loses_no_qos1_message() {
    const COUNT: u64 = 600;
    if !mosquitto_available("broker_restart") || !paho_available("broker_restart") {
        return;
    }
    let mut broker = Mosquitto::start(None);
    let mut adapter = RunningAdapter::start(&config(broker.port, "edge-restart", None));
    adapter.wait_subscribed(broker.port).await;

    let mut paho =
        Paho::spawn(&["127.0.0.1", &broker.port.to_string(), "paho-numbered", "numbered", "meters/MTR9/json", &COUNT.to_string(), "5"]);
    let mut seen = BTreeSet::new();
    let mut deliveries = 0u64;
    while seen.len() < 100 {
        if let Some(seq) = next_number(&mut adapter, COUNT).await {
            seen.insert(seq);
            deliveries += 1;
        }
    }
    assert!(paho.0.try_wait().expect("paho status").is_none(), "Paho must still be publishing when the broker goes down");
    let before_restart = seen.len();
    tokio::task::block_in_place(|| broker.restart());
    eprintln!("broker restarted after {before_restart} of {COUNT} numbers");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while (seen.len() as u64) < COUNT {
        assert!(
            tokio::time::Instant::now() < deadline,
            "missing after 90 s: {:?}",
            (0..COUNT).filter(|n| !seen.contains(n)).collect::<Vec<_>>()
        );
        if let Some(seq) = next_number(&mut adapter, COUNT).await {
            seen.insert(seq);
            deliveries += 1;
        }
    }
    assert!(paho.finish(STEP).await.contains(&format!("DONE {COUNT}")));
    assert_eq!(seen, (0..COUNT).collect::<BTreeSet<_>>());
    eprintln!("{COUNT} numbers received in {deliveries} deliveries ({} redelivered)", deliveries - COUNT);
}

/// The next datum's number, when it is one of the numbers 0..count the publisher sends.
async fn next_number(adapter: &mut RunningAdapter, count: u64) -> Option<u64> {
    number_of(&adapter.next().await, count)
}

fn number_of(d: &Datum, count: u64) -> Option<u64> {
    if d.point.as_str() != "MTR9/GGIO1.CntVal.actVal" {
        return None;
    }
    let seq = float(d);
    assert!(seq >= 0.0 && seq.fract() == 0.0 && f64::from(seq) < count as f64, "not a number we sent: {seq}");
    Some(seq as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_not_yet_with_the_edge_are_redelivered_to_the_next_session() {
    const COUNT: u64 = 200;
    if !mosquitto_available("edge_stop") {
        return;
    }
    let broker = Mosquitto::start(None);
    let config = config(broker.port, "edge-stops", None);
    // A slow edge: room for one datum, so most messages wait unacknowledged in the adapter.
    let mut first = RunningAdapter::with_capacity(&config, 1);
    first.wait_subscribed(broker.port).await;
    let mut sim =
        Publisher::start(&BrokerOptions { host: "127.0.0.1".into(), port: broker.port, client_id: "sim-edge-stop".into(), tls: None })
            .expect("publisher");
    for seq in 0..COUNT {
        sim.publish("meters/MTR9/json", format!(r#"{{"seq": {seq}}}"#).into_bytes()).await.unwrap();
    }
    sim.flush().await;

    let mut seen = BTreeSet::new();
    while seen.len() < 20 {
        seen.extend(next_number(&mut first, COUNT).await);
    }
    // The edge stops: nothing more is taken; what is already in its queue counts as delivered.
    first.data.close();
    while let Ok(d) = first.data.try_recv() {
        seen.extend(number_of(&d, COUNT));
    }
    tokio::time::timeout(STEP, &mut first.task).await.expect("adapter ends when the edge stops").expect("adapter task");
    let before = seen.len() as u64;
    assert!(before < COUNT, "the edge must stop mid-stream");

    let mut second = RunningAdapter::start(&config);
    while (seen.len() as u64) < COUNT {
        seen.extend(next_number(&mut second, COUNT).await);
    }
    assert_eq!(seen, (0..COUNT).collect::<BTreeSet<_>>());
    eprintln!("first session handed {before} numbers to the edge; the next session got the other {}", COUNT - before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_are_refused_with_a_reason() {
    if !mosquitto_available("commands_refused") {
        return;
    }
    let broker = Mosquitto::start(None);
    let adapter = RunningAdapter::start(&config(broker.port, "edge-commands", None));
    let (results_tx, mut results) = mpsc::channel(1);
    let command = Command {
        id: 7,
        nonce: [0; 16],
        point: PointId::new("MTR1/CSWI1.Pos").unwrap(),
        edge: "edge-1".into(),
        action: CommandAction::Execute,
        value: CommandValue::Single(true),
        issuer: "operator".into(),
        role: "OPERATOR".into(),
        issued_at: Timestamp::now(),
        expires_at: Timestamp::now(),
    };
    adapter.commands.send(DeviceCommand { command, results: results_tx }).await.unwrap();
    let result = tokio::time::timeout(STEP, results.recv()).await.unwrap().unwrap();
    assert_eq!(result.command_id, 7);
    assert!(matches!(result.outcome, CommandOutcome::Refused { by, reason } if by == "edge" && reason.contains("no commands")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_binary_publishes_cim_that_the_adapter_maps() {
    if !mosquitto_available("simulator_binary") {
        return;
    }
    let broker = Mosquitto::start(None);
    let mut config = config(broker.port, "edge-sim", None);
    // The simulator's CIM energy reading type, mapped for any meter.
    let energy = gridtrust_mqtt::sim::READING_TYPE_ENERGY_KWH;
    config.topics[2]
        .points
        .push(toml::from_str(&format!("name = \"{energy}\"\npoint = \"SIM1/MMTR1.TotWh.actVal\"\nunit = \"Wh\"")).unwrap());
    config.validate().unwrap();
    let mut adapter = RunningAdapter::start(&config);
    adapter.wait_subscribed(broker.port).await;
    let status = tokio::process::Command::new(env!("CARGO_BIN_EXE_gridtrust-meter-sim"))
        .args(["--port", &broker.port.to_string(), "--format", "cim", "--meter", "SIM1", "--topic", "ami/sim/SIM1"])
        .args(["--count", "3", "--interval-ms", "0"])
        .kill_on_drop(true)
        .status();
    let status = tokio::time::timeout(STEP, status).await.expect("simulator ends").expect("simulator runs");
    assert!(status.success());
    let mut energies = Vec::new();
    for _ in 0..3 {
        let d = adapter.next().await;
        assert_eq!(d.point.as_str(), "SIM1/MMTR1.TotWh.actVal");
        assert!(d.source_time.is_some());
        energies.push(float(&d));
    }
    assert!(energies.windows(2).all(|w| w[0] < w[1]), "the register grows: {energies:?}");
    assert!(energies[0] > 1_000_000.0, "kWh in the message became Wh: {energies:?}");
}
