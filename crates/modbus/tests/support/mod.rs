//! Helpers shared by the integration tests: peer detection, free ports, readiness waits, and
//! adapter plumbing.
#![allow(dead_code)] // each test binary uses a different subset

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use gridtrust_adapter::{AdapterPort, Datum, DeviceCommand, adapter_channels};
use gridtrust_modbus::adapter::{ModbusDeviceConfig, run};
use gridtrust_model::{Command, CommandAction, CommandResult, CommandValue, PointId, Timestamp};
use tokio::sync::mpsc;

/// True when `probe` (a program and its arguments) runs; otherwise skips with a notice, or fails
/// when GRIDTRUST_REQUIRE_PEERS is set (CI).
pub fn peer_available(test: &str, program: &str, args: &[&str]) -> bool {
    let ok = std::process::Command::new(program).args(args).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("GRIDTRUST_REQUIRE_PEERS").is_none(),
            "{test}: `{program} {}` is required (GRIDTRUST_REQUIRE_PEERS) but fails",
            args.join(" ")
        );
        eprintln!("SKIPPED {test}: `{program} {}` is not available", args.join(" "));
    }
    ok
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits until something accepts connections on `addr`.
pub async fn wait_listening(addr: SocketAddr, within: Duration) {
    let start = Instant::now();
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(start.elapsed() < within, "nothing listens on {addr} after {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Parses a device configuration written as TOML (as the edge file would hold it).
pub fn device(name: &str, address: SocketAddr, extra: &str) -> ModbusDeviceConfig {
    let c: ModbusDeviceConfig = toml::from_str(&format!("name = \"{name}\"\naddress = \"{address}\"\n{extra}")).unwrap();
    c.validate().unwrap();
    c
}

/// Starts the adapter for `config` in its own task, as the edge would.
pub fn start_adapter(config: ModbusDeviceConfig) -> (AdapterPort, mpsc::Receiver<Datum>) {
    let ((port, data), io) = adapter_channels(&config.name, config.operated_points());
    tokio::spawn(run(config, io));
    (port, data)
}

/// Waits for a datum of `point` that satisfies `want`.
pub async fn wait_datum(data: &mut mpsc::Receiver<Datum>, point: &str, within: Duration, want: impl Fn(&Datum) -> bool) -> Datum {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let d = tokio::time::timeout_at(deadline, data.recv())
            .await
            .unwrap_or_else(|_| panic!("no matching datum for {point} within {within:?}"))
            .expect("adapter stopped");
        if d.point.as_str() == point && want(&d) {
            return d;
        }
    }
}

/// Sends a verified command for `point` and collects results until a final one.
pub async fn operate(port: &AdapterPort, id: u64, point: &str, action: CommandAction, value: CommandValue) -> Vec<CommandResult> {
    let (tx, mut rx) = mpsc::channel(8);
    let now = Timestamp::now();
    let command = Command {
        id,
        nonce: [id as u8; 16],
        point: PointId::new(point).unwrap(),
        edge: "edge-1".into(),
        action,
        value,
        issuer: "test".into(),
        role: "OPERATOR".into(),
        issued_at: now,
        expires_at: Timestamp(now.0 + 60_000_000_000),
    };
    port.commands.send(DeviceCommand { command, results: tx }).await.unwrap();
    let mut out = Vec::new();
    while let Ok(Some(r)) = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
        let done = !matches!(r.outcome, gridtrust_model::CommandOutcome::Confirmed) || action != CommandAction::Execute;
        out.push(r);
        if done {
            break;
        }
    }
    out
}
