//! The edge's report-to-record latency against libiec61850 (PyPI pyiec61850-ng): the time from
//! the IED's report reaching the edge's socket to the [`Datum`] arriving on the adapter's data
//! channel (decode, report, mapping, channel hand-off, entryID state write).
//!
//! A loopback relay between the adapter and the server stamps each chunk the server sends. For
//! each of N value changes, latency = datum received − stamp of the chunk that carried the report.
//! Baseline in the same run, over the same kind of relay: a plain MMS read on a client of our own,
//! measured the same way (response chunk stamped → `read_value` returns), and the whole read
//! round trip. Prints p50/p99 of each and the ratio of the medians.
//!
//! Reading the figures: a report arrives after the runtime has idled for the server's
//! milliseconds, so its path pays the wake-up of parked worker threads (socket readiness, then
//! the hop from the driver task to the adapter task, then to the consumer); a read response
//! arrives while the requesting threads are still awake. The baseline is therefore the floor of
//! the MMS receive path, not an equivalent path.
//!
//! Skips with a message when pyiec61850-ng is not installed.
//!
//! `cargo bench -p gridtrust-mms --bench report_latency`

#[allow(dead_code)]
#[path = "../tests/common/peer.rs"]
mod peer;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gridtrust_adapter::adapter_channels;
use gridtrust_mms::adapter::{IedConfig, run};
use gridtrust_mms::data::ObjectName;
use gridtrust_mms::{ClientConfig, MmsClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const CID: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peer/simpleIO_peer.cid");
const SAMPLES: usize = 300;

/// Relays one connection at a time to `target`, stamping the last chunk from the server.
async fn stamping_relay(target: SocketAddr, stamp: Arc<Mutex<Option<Instant>>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
    let addr = listener.local_addr().expect("relay address");
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let Ok(outbound) = TcpStream::connect(target).await else { continue };
            let _ = inbound.set_nodelay(true);
            let _ = outbound.set_nodelay(true);
            let (mut client_read, mut client_write) = inbound.into_split();
            let (mut server_read, mut server_write) = outbound.into_split();
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
            });
            let stamp = Arc::clone(&stamp);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                while let Ok(n) = server_read.read(&mut buf).await {
                    let Some(chunk) = buf.get(..n).filter(|c| !c.is_empty()) else { break };
                    *stamp.lock().expect("stamp") = Some(Instant::now());
                    if client_write.write_all(chunk).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}

fn summary(name: &str, mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    let p50 = percentile(&samples, 0.5);
    println!(
        "  {name:<44} p50 {:>8.1} µs   p99 {:>8.1} µs   (n = {})",
        p50.as_secs_f64() * 1e6,
        percentile(&samples, 0.99).as_secs_f64() * 1e6,
        samples.len()
    );
    p50
}

/// Runs the adapter through a stamping relay on the buffered Measurements RCB and measures each
/// change from the report chunk's stamp to its datum.
async fn adapter_latency(
    server_addr: SocketAddr,
    server: &Arc<Mutex<peer::Iec61850Server>>,
    state_dir: Option<&std::path::Path>,
) -> Vec<Duration> {
    let report_stamp = Arc::new(Mutex::new(None));
    let relay = stamping_relay(server_addr, Arc::clone(&report_stamp)).await;
    let state = state_dir.map(|d| format!("state_dir = {d:?}\n")).unwrap_or_default();
    let config: IedConfig = toml::from_str(&format!(
        "name = \"bench\"\nscl = {CID:?}\naddress = \"{relay}\"\n{state}report_control_blocks = [\"simpleIOGenericIO/LLN0.Measurements\"]\nintegrity_period_ms = 0\ngeneral_interrogation = false\nreconnect_min_ms = 50\n",
    ))
    .expect("bench config");
    let ((_port, mut data), io) = adapter_channels("bench", config.operated_points());
    let adapter = tokio::spawn(run(config, io));
    let change = move |value: String| {
        let server = Arc::clone(server);
        async move {
            tokio::task::spawn_blocking(move || {
                server.lock().expect("server").command(&format!("float simpleIOGenericIO/GGIO1.AnIn1.mag.f {value}"))
            })
            .await
            .expect("server command");
        }
    };
    // Warm up until the RCB is enabled (distinct negative values), then drain.
    let mut enabled = false;
    for i in 0..100 {
        change(format!("-{}", i + 1000 * usize::from(state_dir.is_some()))).await;
        if tokio::time::timeout(Duration::from_millis(200), data.recv()).await.is_ok() {
            enabled = true;
            break;
        }
    }
    assert!(enabled, "the adapter never reported");
    while tokio::time::timeout(Duration::from_millis(200), data.recv()).await.is_ok() {}
    let mut samples = Vec::with_capacity(SAMPLES);
    let offset = if state_dir.is_some() { 0 } else { 10 * SAMPLES };
    for i in 1..=SAMPLES {
        let value = offset + i;
        // Not awaited before receiving: the server may send the report before it answers.
        let command = tokio::spawn(change(value.to_string()));
        let datum = tokio::time::timeout(Duration::from_secs(5), data.recv()).await.expect("datum in time").expect("adapter running");
        let arrived = Instant::now();
        command.await.expect("server command");
        assert_eq!(datum.value.as_f64(), value as f64, "the change just made");
        if let Some(stamp) = *report_stamp.lock().expect("stamp") {
            samples.push(arrived.saturating_duration_since(stamp));
        }
    }
    adapter.abort();
    let _ = adapter.await;
    samples
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let Some(server) = peer::Iec61850Server::start("report_latency") else { return };
    let server_addr = server.addr;
    let server = Arc::new(Mutex::new(server));
    let state = tempfile::tempdir().expect("state dir");

    let with_state = adapter_latency(server_addr, &server, Some(state.path())).await;
    let without_state = adapter_latency(server_addr, &server, None).await;

    // Baseline: plain reads on our own client through the same kind of relay.
    let read_stamp = Arc::new(Mutex::new(None));
    let relay = stamping_relay(server_addr, Arc::clone(&read_stamp)).await;
    let client = MmsClient::connect(relay, ClientConfig::default()).await.expect("client");
    let name = ObjectName::domain("simpleIOGenericIO", "GGIO1$MX$AnIn1$mag$f");
    let mut response_to_result = Vec::with_capacity(SAMPLES);
    let mut round_trip = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let start = Instant::now();
        client.read_value(&name).await.expect("read");
        let done = Instant::now();
        round_trip.push(done - start);
        if let Some(stamp) = *read_stamp.lock().expect("stamp") {
            response_to_result.push(done.saturating_duration_since(stamp));
        }
    }
    let _ = client.release().await;

    println!("\nMMS edge adapter against libiec61850 1.6 on loopback, {SAMPLES} samples each (debug=line tables, release build):");
    let report = summary("report chunk at edge -> Datum (entryID persisted)", with_state);
    summary("report chunk at edge -> Datum (no state_dir)", without_state);
    let response = summary("baseline: read response chunk -> read result", response_to_result);
    summary("baseline: whole read round trip", round_trip);
    println!("  ratio of medians, report->Datum / response->result: {:.2}", report.as_secs_f64() / response.as_secs_f64());
}
