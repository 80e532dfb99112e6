//! The tokio drivers and the edge adapter over real loopback sockets: client ↔ simulator over
//! TCP and UDP, and the adapter turning a simulator's stream into datums, refusing commands and
//! reconnecting when the PMU appears late.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio::time::timeout;

use gridtrust_adapter::{DeviceCommand, adapter_channels};
use gridtrust_c37118::adapter::{self, NO_COMMANDS, PmuConfig};
use gridtrust_c37118::client::{ClientConfig, ClientEvent};
use gridtrust_c37118::config::ConfigKind;
use gridtrust_c37118::driver::{Transport, serve_tcp, serve_udp, spawn_client};
use gridtrust_c37118::sim::SimSpec;
use gridtrust_model::{Command, CommandAction, CommandOutcome, CommandValue, PointId, Timestamp, Validity, Value};

const WAIT: Duration = Duration::from_secs(10);

async fn start_tcp(spec: SimSpec) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = serve_tcp(listener, move || spec.server()).await;
    });
    (addr, task)
}

async fn start_udp(spec: SimSpec) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = serve_udp(socket, spec.server()).await;
    });
    (addr, task)
}

/// Collects the configuration and `n` data frames, failing on any error event.
async fn stream(mut events: mpsc::Receiver<ClientEvent>, n: usize) -> (ConfigKind, Vec<f32>) {
    let mut kind = None;
    let mut freqs = Vec::new();
    timeout(WAIT, async {
        while freqs.len() < n {
            match events.recv().await.expect("session ended") {
                ClientEvent::Config(c) => kind = Some(c.kind),
                ClientEvent::Data(d) => freqs.push(d.stations[0].frequency),
                ClientEvent::Header(_) => {}
                e => panic!("unexpected {e:?}"),
            }
        }
    })
    .await
    .expect("data within 10 s");
    (kind.expect("configuration before data"), freqs)
}

#[tokio::test]
async fn client_streams_from_the_simulator_over_tcp() {
    let (addr, server) = start_tcp(SimSpec::single(11, "TCP PMU", 50)).await;
    let cfg = ClientConfig { idcode: 11, config_kind: ConfigKind::Cfg3, ..ClientConfig::default() };
    let (kind, freqs) = stream(spawn_client(addr, Transport::Tcp, cfg), 25).await;
    assert_eq!(kind, ConfigKind::Cfg3);
    assert!(freqs.iter().all(|f| (f - 50.0).abs() < 0.06), "{freqs:?}");
    server.abort();
}

#[tokio::test]
async fn client_streams_from_the_simulator_over_udp() {
    let (addr, server) = start_udp(SimSpec::single(12, "UDP PMU", 50)).await;
    let cfg = ClientConfig { idcode: 12, ..ClientConfig::default() };
    let (kind, freqs) = stream(spawn_client(addr, Transport::Udp, cfg), 25).await;
    assert_eq!(kind, ConfigKind::Cfg2);
    assert_eq!(freqs.len(), 25);
    server.abort();
}

fn pmu_config(addr: SocketAddr, transport: &str) -> PmuConfig {
    let text = format!(
        r#"
        name = "feeder pmu"
        address = "{addr}"
        transport = "{transport}"
        idcode = 21
        configuration = "cfg3"
        logical_device_prefix = "S1_"
        reconnect_min_ms = 50
        reconnect_max_ms = 200
        [[points]]
        channel = "BRK_CLOSED"
        quantity = "digital"
        point = "S1_BAY1/XCBR1.Pos.stVal"
        "#
    );
    let c: PmuConfig = toml::from_str(&text).unwrap();
    c.validate().unwrap();
    assert!(c.operated_points().is_empty());
    c
}

fn device_command(point: &str) -> (DeviceCommand, mpsc::Receiver<gridtrust_model::CommandResult>) {
    let (tx, rx) = mpsc::channel(4);
    let command = Command {
        id: 42,
        nonce: [7; 16],
        point: PointId::new(point).unwrap(),
        edge: "edge-1".into(),
        action: CommandAction::Execute,
        value: CommandValue::Single(true),
        issuer: "test".into(),
        role: "OPERATOR".into(),
        issued_at: Timestamp::now(),
        expires_at: Timestamp(Timestamp::now().unix_nanos() + 60_000_000_000),
    };
    (DeviceCommand { command, results: tx }, rx)
}

async fn adapter_reports_points(transport: &str) {
    // Reserve a port, release it, and start the adapter first: it must retry until the PMU is up.
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let config = pmu_config(addr, transport);
    let ((port, mut data), io) = adapter_channels("pmu", config.operated_points());
    let adapter = tokio::spawn(adapter::run(config, io));

    // A command while nothing is connected is refused with the reason.
    let (cmd, mut results) = device_command("S1_FEEDER/MMXU1.VA.cVal.mag.f");
    port.commands.send(cmd).await.unwrap();
    let result = timeout(WAIT, results.recv()).await.unwrap().unwrap();
    assert_eq!(result.outcome, CommandOutcome::Refused { by: "edge".into(), reason: NO_COMMANDS.into() });

    tokio::time::sleep(Duration::from_millis(120)).await; // let at least one connect attempt fail
    let spec = SimSpec::single(21, "FEEDER", 50);
    let server = if transport == "tcp" {
        let listener = TcpListener::bind(addr).await.unwrap();
        tokio::spawn(async move {
            let _ = serve_tcp(listener, move || spec.server()).await;
        })
    } else {
        let socket = UdpSocket::bind(addr).await.unwrap();
        tokio::spawn(async move {
            let _ = serve_udp(socket, spec.server()).await;
        })
    };

    let mut seen = std::collections::HashMap::new();
    let mut all = Vec::new();
    timeout(WAIT, async {
        while seen.len() < 18 {
            let d = data.recv().await.unwrap();
            all.push(d.clone());
            seen.insert(d.point.to_string(), d);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("points seen: {:?}", seen.keys().collect::<Vec<_>>()));
    let va = &seen["S1_FEEDER/MMXU1.VA.cVal.mag.f"];
    let Value::Float(v) = va.value else { panic!("{va:?}") };
    assert!((v - 11_547.0).abs() < 1.0);
    assert_eq!(va.quality.validity(), Validity::Good);
    let (t, tq) = va.source_time.unwrap();
    assert!(!tq.invalid && !tq.not_synchronized && tq.leap_seconds_known);
    assert_eq!(t.unix_nanos() % 20_000_000, 0, "on the 50 frames/s grid");
    assert!((va.received_at.unix_nanos() - t.unix_nanos()).abs() < 5_000_000_000);
    // Angles of one frame, in degrees: VA leads VB by 120°.
    let angle = |name: &str| all.iter().rev().find(|d| d.point.as_str() == name).map(|d| (d.value, d.source_time)).unwrap();
    let (Value::Float(a), ta) = angle("S1_FEEDER/MMXU1.VA.cVal.ang.f") else { panic!() };
    let (Value::Float(b), tb) = angle("S1_FEEDER/MMXU1.VB.cVal.ang.f") else { panic!() };
    assert_eq!(ta, tb, "the last frame carries both");
    assert!(((a - b).rem_euclid(360.0) - 120.0).abs() < 0.01, "angles in degrees: {a} {b}");
    assert!(matches!(seen["S1_FEEDER/MMXU1.Hz.mag.f"].value, Value::Float(f) if (f - 50.0).abs() < 0.06));
    assert!(seen.contains_key("S1_FEEDER/MMXU1.HzRte.mag.f"));
    assert!(matches!(seen["S1_FEEDER/GGIO1.P_KW.mag.f"].value, Value::Float(p) if p > 4_000.0));
    assert_eq!(seen["S1_FEEDER/GGIO1.DigWord1.stVal"].value, Value::Bitstring(1));
    assert_eq!(seen["S1_BAY1/XCBR1.Pos.stVal"].value, Value::Single(true));

    // While streaming, commands are refused too.
    let (cmd, mut results) = device_command("S1_BAY1/XCBR1.Pos.stVal");
    port.commands.send(cmd).await.unwrap();
    assert!(matches!(timeout(WAIT, results.recv()).await.unwrap().unwrap().outcome, CommandOutcome::Refused { .. }));
    adapter.abort();
    server.abort();
}

#[tokio::test]
async fn adapter_reconnects_and_reports_every_channel_over_tcp() {
    adapter_reports_points("tcp").await;
}

#[tokio::test]
async fn adapter_reconnects_and_reports_every_channel_over_udp() {
    adapter_reports_points("udp").await;
}

/// A PMU that falls silent (here: its UDP stream stops) is a lost link: after `data_timeout_ms`
/// every point it reported is sent once more, invalid and old data, so SCADA does not keep
/// showing the last phasors as good.
#[tokio::test]
async fn adapter_marks_every_point_invalid_when_the_stream_stops() {
    let (addr, server) = start_udp(SimSpec::single(21, "FEEDER", 50)).await;
    let mut config = pmu_config(addr, "udp");
    config.data_timeout_ms = 300;
    config.reconnect_min_ms = 5_000;
    config.reconnect_max_ms = 5_000;
    let ((_port, mut data), io) = adapter_channels("pmu", config.operated_points());
    let adapter = tokio::spawn(adapter::run(config, io));
    let mut good = std::collections::HashSet::new();
    timeout(WAIT, async {
        while good.len() < 18 {
            let d = data.recv().await.unwrap();
            if d.quality.validity() == Validity::Good {
                good.insert(d.point.to_string());
            }
        }
    })
    .await
    .expect("the stream's points, good");
    server.abort();
    let mut invalid = std::collections::HashSet::new();
    timeout(WAIT, async {
        while invalid.len() < good.len() {
            let d = data.recv().await.unwrap();
            if d.quality.validity() == Validity::Invalid {
                assert!(d.quality.old_data(), "a lost link keeps the last value as old data: {d:?}");
                invalid.insert(d.point.to_string());
            }
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!("only {} of {} points were marked invalid after the stream stopped: {invalid:?}", invalid.len(), good.len())
    });
    adapter.abort();
}
