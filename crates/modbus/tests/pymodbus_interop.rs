//! Interoperability with an implementation we did not write: a PyPI `pymodbus` server serving a
//! SunSpec map (SunS + models 1, 103, 123 + end, see tests/peers/pymodbus_sunspec_server.py).
//! Our adapter discovers the chain, publishes values with the right scale factors (and nothing
//! for points the map marks not implemented), and writes set points that the peer reports
//! arriving in its own registers.
//!
//! Skips with a notice when pymodbus is missing, unless GRIDTRUST_REQUIRE_PEERS is set (CI).

mod support;

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use gridtrust_model::{CommandAction, CommandOutcome, CommandValue, DoublePoint, Value};
use support::{device, free_port, operate, peer_available, start_adapter, wait_datum, wait_listening};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

const STEP: Duration = Duration::from_secs(10);
/// Protocol address of model 123's first data register in the peer's map.
const CONTROLS: u16 = 40000 + 2 + 2 + 66 + 2 + 50 + 2;

/// The Python server; killed when dropped, so a failing test leaves nothing running.
struct Peer {
    _child: Child,
    lines: mpsc::UnboundedReceiver<String>,
}

impl Peer {
    fn spawn(port: u16) -> Peer {
        let script = format!("{}/tests/peers/pymodbus_sunspec_server.py", env!("CARGO_MANIFEST_DIR"));
        let mut child = Command::new("python3")
            .args(["-u", &script, &port.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 starts");
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = out.next_line().await {
                eprintln!("pymodbus peer: {line}");
                let _ = tx.send(line);
            }
        });
        Peer { _child: child, lines }
    }

    async fn expect(&mut self, line: &str) {
        loop {
            let got = tokio::time::timeout(STEP, self.lines.recv())
                .await
                .unwrap_or_else(|_| panic!("peer did not print {line:?}"))
                .unwrap_or_else(|| panic!("peer exited before {line:?}"));
            if got == line {
                return;
            }
        }
    }
}

#[tokio::test]
async fn adapter_reads_and_operates_a_pymodbus_sunspec_server() {
    if !peer_available("adapter_reads_and_operates_a_pymodbus_sunspec_server", "python3", &["-c", "import pymodbus"]) {
        return;
    }
    let port = free_port();
    let mut peer = Peer::spawn(port);
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_listening(addr, STEP).await;
    let (ports, mut data) =
        start_adapter(device("pymodbus", addr, "logical_device = \"PV7\"\npoll_period_ms = 200\ntimeout_ms = 1000\nsunspec = true\n"));

    // Collect one value per point over a couple of polls.
    wait_datum(&mut data, "PV7/MMXU1.TotW.mag.f", STEP, |_| true).await;
    let mut seen = HashMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(600);
    while let Ok(Some(d)) = tokio::time::timeout_at(deadline, data.recv()).await {
        assert!(d.quality.is_good(), "{d:?}");
        seen.insert(d.point.to_string(), d.value);
    }
    let f = |p: &str| match seen.get(p) {
        Some(Value::Float(v)) => f64::from(*v),
        other => panic!("{p}: {other:?}"),
    };
    let close = |p: &str, want: f64| assert!((f(p) - want).abs() < 1e-3 * want.abs().max(1.0), "{p}: {} != {want}", f(p));
    close("PV7/MMXU1.TotW.mag.f", 25_000.0); // 2500 x 10^1
    close("PV7/MMXU1.A.net.cVal.mag.f", 12.34); // 1234 x 10^-2
    close("PV7/MMXU1.A.phsA.cVal.mag.f", 4.11);
    close("PV7/MMXU1.Hz.mag.f", 60.01);
    close("PV7/MMXU1.PhV.phsA.cVal.mag.f", 240.1);
    close("PV7/MMXU1.TotVAr.mag.f", -300.0);
    close("PV7/MMTR1.SupWh.actVal", 123_456.0);
    close("PV7/STMP1.Tmp.mag.f", -5.2);
    close("PV7/DRCC1.WMaxLimPct", 100.0);
    assert_eq!(seen.get("PV7/ZINV1.InvSt.stVal"), Some(&Value::Scaled(4)));
    assert_eq!(seen.get("PV7/CSWI1.Pos"), Some(&Value::Double(DoublePoint::On)));
    assert_eq!(seen.get("PV7/DRCC1.WMaxLimEna"), Some(&Value::Single(false)));
    for not_implemented in ["PV7/MMXU1.TotVA.mag.f", "PV7/MMXU1.A.phsC.cVal.mag.f", "PV7/STMP3.Tmp.mag.f"] {
        assert!(!seen.contains_key(not_implemented), "{not_implemented} is not implemented in the map");
    }

    let r = operate(&ports, 1, "PV7/DRCC1.WMaxLimPct", CommandAction::Execute, CommandValue::SetpointFloat(40.0)).await;
    assert_eq!(r.iter().map(|r| r.outcome.clone()).collect::<Vec<_>>(), [CommandOutcome::Confirmed, CommandOutcome::Terminated]);
    peer.expect(&format!("WRITE {} 40", CONTROLS + 3)).await;
    let r = operate(&ports, 2, "PV7/DRCC1.WMaxLimEna", CommandAction::Execute, CommandValue::Single(true)).await;
    assert_eq!(r.last().unwrap().outcome, CommandOutcome::Terminated);
    peer.expect(&format!("WRITE {} 1", CONTROLS + 7)).await;
    // VArPct_SF is -3 in the peer's map: 12.5 % becomes 12500.
    let r = operate(&ports, 3, "PV7/DRCC1.VArMaxPct", CommandAction::Execute, CommandValue::SetpointFloat(12.5)).await;
    assert_eq!(r.last().unwrap().outcome, CommandOutcome::Terminated);
    peer.expect(&format!("WRITE {} 12500", CONTROLS + 14)).await;
    let r = operate(&ports, 4, "PV7/CSWI1.Pos", CommandAction::Execute, CommandValue::Double(DoublePoint::Off)).await;
    assert_eq!(r.last().unwrap().outcome, CommandOutcome::Terminated);
    peer.expect(&format!("WRITE {} 0", CONTROLS + 2)).await;
    wait_datum(&mut data, "PV7/DRCC1.WMaxLimPct", STEP, |d| d.value == Value::Float(40.0)).await;
}
