//! Interoperability with an implementation we did not write: Debian's `mbpoll` (libmodbus
//! inside) reads and writes our SunSpec simulator. Its printed registers must equal the
//! simulator's; its write of a power limit must land, and an out-of-range write must come back
//! as the "illegal data value" exception.
//!
//! Skips with a notice when mbpoll is missing, unless GRIDTRUST_REQUIRE_PEERS is set (CI).

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use gridtrust_modbus::sim::{BASE, CONTROLS_ADDRESS, INVERTER_ADDRESS, Simulator};
use support::peer_available;

/// Runs mbpoll once against `port`; returns its exit success and the `[ref]: value` lines.
async fn mbpoll(port: u16, args: &[&str]) -> (bool, String, BTreeMap<u32, String>) {
    let port = port.to_string();
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::process::Command::new("mbpoll").args(["-m", "tcp", "-a", "1", "-1", "-p", &port]).args(args).kill_on_drop(true).output(),
    )
    .await
    .expect("mbpoll finishes")
    .expect("mbpoll runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let values = text
        .lines()
        .filter_map(|l| {
            let (reference, value) = l.trim().strip_prefix('[')?.split_once("]:")?;
            Some((reference.parse().ok()?, value.trim().to_owned()))
        })
        .collect();
    (out.status.success(), text, values)
}

#[tokio::test]
async fn mbpoll_reads_and_writes_our_simulator() {
    if !peer_available("mbpoll_reads_and_writes_our_simulator", "sh", &["-c", "command -v mbpoll"]) {
        return;
    }
    let sim = Simulator::start("127.0.0.1:0".parse().unwrap(), 10_000, Duration::from_secs(1_000_000), 0.5).await.unwrap();
    let port = sim.address.port();

    // The brief's command: 10 registers from reference 40001 (protocol address 40000).
    let (ok, text, values) = mbpoll(port, &["-r", "40001", "-c", "10", "127.0.0.1"]).await;
    assert!(ok, "{text}");
    assert_eq!(values.len(), 10, "{text}");
    let snapshot = sim.snapshot();
    for (reference, printed) in &values {
        let register = snapshot.register(u16::try_from(reference - 1).unwrap()).unwrap();
        assert_eq!(printed, &register.to_string(), "reference {reference}");
    }
    assert_eq!(values[&40001], "21365", "0x5375 'Su'");

    // Model 103 in hex (scale factors are negative): W, W_SF, Hz, Hz_SF.
    let first = u32::from(INVERTER_ADDRESS) + 12 + 1;
    let (ok, text, values) = mbpoll(port, &["-t", "4:hex", "-r", &first.to_string(), "-c", "4", "127.0.0.1"]).await;
    assert!(ok, "{text}");
    let snapshot = sim.snapshot();
    for (reference, printed) in &values {
        let register = snapshot.register(u16::try_from(reference - 1).unwrap()).unwrap();
        assert_eq!(printed, &format!("0x{register:04X}"), "reference {reference}");
    }
    assert_eq!(values[&(first + 3)], "0xFFFE", "Hz_SF -2");

    // A power limit written by mbpoll lands in model 123; 150 % is refused by the device.
    let limit = (u32::from(CONTROLS_ADDRESS) + 3 + 1).to_string();
    let (ok, text, _) = mbpoll(port, &["-r", &limit, "127.0.0.1", "--", "555"]).await;
    assert!(ok, "{text}");
    assert_eq!(sim.snapshot().register(CONTROLS_ADDRESS + 3), Some(555));
    let (ok, text, _) = mbpoll(port, &["-r", &limit, "127.0.0.1", "--", "1500"]).await;
    assert!(!ok && text.contains("Illegal data value"), "{text}");
    assert_eq!(sim.snapshot().register(CONTROLS_ADDRESS + 3), Some(555));
    // Below the map: the device answers "illegal data address".
    let (ok, text, _) = mbpoll(port, &["-r", &BASE.to_string(), "-c", "2", "127.0.0.1"]).await;
    assert!(!ok && text.contains("Illegal data address"), "{text}");
}
