//! What the chain of trust adds to a SCADA command, one run, every figure beside its baseline:
//!
//! 1. Round trip of select and execute (time to the positive confirmation) from a SCADA client
//!    through cc → hub → edge → RTU and back, against the same client commanding the RTU
//!    directly (what the device and the protocol alone take on this machine).
//! 2. The hub's log step for each command, measured on the hub's own [`Ledger`] in the same
//!    run: append (one durable transaction), a checkpoint signed on demand and the inclusion and
//!    consistency proofs the edge requires. This is the latency log inclusion adds.
//!
//! `cargo bench -p gridtrust --bench commands` (GRIDTRUST_BENCH_COMMANDS sets the rounds, 200).

use std::sync::Arc;
use std::time::{Duration, Instant};

use gridtrust::chain::{Chain, ChainOptions, SCADA_IOA_OFFSET};
use gridtrust_hub::ledger::Ledger;
use gridtrust_iec104::asdu::{Asdu, Cause, Cot, DoublePointValue, Element, InformationObject, TypeId};
use gridtrust_iec104::client::{Client, ClientConfig, ClientHandle};
use gridtrust_keys::KeyConfig;
use gridtrust_sim::substation::ioa;
use gridtrust_transport::identity::{Identity, IdentityConfig};
use gridtrust_trust::checkpoint::LogEntry;

const F1: u32 = 1000;

fn command(address: u32, value: DoublePointValue, select: bool) -> Asdu {
    Asdu::single(
        TypeId::CDcNa1,
        Cot::new(Cause::Activation),
        1,
        vec![InformationObject::new(address, Element::DoubleCommand { value, qualifier: 0, select, time: None })],
    )
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

struct Figures {
    select: Vec<f64>,
    execute: Vec<f64>,
}

/// `rounds` select + execute pairs on the breaker command at `address`, alternating open/close.
async fn operate(client: &ClientHandle, address: u32, rounds: usize) -> Figures {
    let mut f = Figures { select: Vec::with_capacity(rounds), execute: Vec::with_capacity(rounds) };
    for i in 0..rounds {
        let value = if i % 2 == 0 { DoublePointValue::Off } else { DoublePointValue::On };
        let t = Instant::now();
        let select = client.send_command(command(address, value, true)).await.unwrap_or_else(|e| panic!("select {i} at {address}: {e:?}"));
        assert!(select.is_positive(), "select confirmed");
        f.select.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let execute =
            client.send_command(command(address, value, false)).await.unwrap_or_else(|e| panic!("execute {i} at {address}: {e:?}"));
        assert!(execute.is_positive(), "execute confirmed");
        f.execute.push(t.elapsed().as_secs_f64() * 1e3);
        execute.await_termination().await.expect("terminated");
    }
    f.select.sort_by(f64::total_cmp);
    f.execute.sort_by(f64::total_cmp);
    f
}

/// One select, then its execute if confirmed: whether the chain is ready for commands.
async fn client_select_confirmed(client: &ClientHandle, address: u32) -> bool {
    let Ok(select) = client.send_command(command(address, DoublePointValue::Off, true)).await else { return false };
    if !select.is_positive() {
        return false;
    }
    let execute = client.send_command(command(address, DoublePointValue::Off, false)).await.expect("execute sent");
    assert!(execute.is_positive(), "execute confirmed after a confirmed select");
    execute.await_termination().await.expect("terminated");
    true
}

fn row(what: &str, ms: &[f64], baseline: &[f64]) {
    let (p50, p99, b50, b99) = (percentile(ms, 0.5), percentile(ms, 0.99), percentile(baseline, 0.5), percentile(baseline, 0.99));
    println!(
        "{what:<44} p50 {p50:>8.2} ms  p99 {p99:>8.2} ms   baseline p50 {b50:>7.2} ms  p99 {b99:>7.2} ms   ratio p50 {:>5.2}  added p99 {:>+7.2} ms",
        p50 / b50,
        p99 - b99
    );
}

fn main() {
    // RUST_LOG=... shows the roles' logs on stderr.
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() {
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
    }
    let rounds: usize = std::env::var("GRIDTRUST_BENCH_COMMANDS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    runtime.block_on(async {
        // The policy's rate limit (120 a minute by default) would refuse most of the rounds.
        let options =
            ChainOptions { hub_extra: "[policy]\nmax_commands_per_minute = 1000000\n".into(), ..ChainOptions::for_tests(dir.path()) };
        let chain = Chain::start(&options).await.unwrap();
        let (scada, mut events) = Client::connect(chain.scada_addr(), None, ClientConfig::default()).await.unwrap();
        let (direct, mut direct_events) = Client::connect(chain.rtu.addr, None, ClientConfig::default()).await.unwrap();
        // Both clients also receive the measurements: drain them, or a full event channel stalls
        // the client's link (and with it the command confirmations).
        tokio::spawn(async move { while events.recv().await.is_some() {} });
        tokio::spawn(async move { while direct_events.recv().await.is_some() {} });
        // Commands route once the cc holds the point registry and the edge is connected: wait
        // for the first confirmed select (an execute then completes the pair).
        let deadline = Instant::now() + std::time::Duration::from_secs(30);
        let address = SCADA_IOA_OFFSET + F1 + ioa::BREAKER_COMMAND;
        while !client_select_confirmed(&scada, address).await {
            assert!(Instant::now() < deadline, "no select confirmed through the chain within 30 s");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        // Warm-up: the first commands open the edge's replay cache pages and the hub's log.
        operate(&scada, address, 4).await;
        let baseline = operate(&direct, F1 + ioa::BREAKER_COMMAND, rounds).await;
        let through = operate(&scada, SCADA_IOA_OFFSET + F1 + ioa::BREAKER_COMMAND, rounds).await;
        println!("command round trips, {rounds} select+execute pairs (baseline: the same client commanding the RTU directly)");
        row("select through cc → hub → edge → RTU", &through.select, &baseline.select);
        row("execute through cc → hub → edge → RTU", &through.execute, &baseline.execute);
        chain.shutdown().await;
    });

    // The log step on the hub's own ledger, as route_command runs it for every command.
    let pki = dir.path().join("pki");
    let hub = Arc::new(
        Identity::load(&IdentityConfig::new(
            pki.join("ca.crt.pem"),
            pki.join("hub.crt.pem"),
            pki.join("crl.pem"),
            KeyConfig::Software { path: pki.join("hub.key.pem") },
        ))
        .unwrap(),
    );
    let ledger = Ledger::open(&dir.path().join("bench-log.redb"), hub).unwrap();
    let mut held = None;
    let mut step = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let entry = LogEntry::Command(format!("command {i} of the benchmark, about the size of a signed command").into_bytes().repeat(4));
        let t = Instant::now();
        let index = ledger.append(std::slice::from_ref(&entry)).unwrap();
        let checkpoint = ledger.checkpoint_covering(index).unwrap();
        let size = checkpoint.checkpoint.tree_size;
        let inclusion = ledger.inclusion(index, size).unwrap();
        let consistency = ledger.consistency(held, size).unwrap();
        step.push(t.elapsed().as_secs_f64() * 1e3);
        held = Some(size);
        assert!(!inclusion.is_empty() || size == 1);
        let _ = consistency;
        std::thread::sleep(Duration::from_millis(1));
    }
    step.sort_by(f64::total_cmp);
    println!(
        "log inclusion per command (append + signed checkpoint + proofs, software key): p50 {:.2} ms  p99 {:.2} ms",
        percentile(&step, 0.5),
        percentile(&step, 0.99)
    );
}
