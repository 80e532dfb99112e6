//! The chain's benchmark, one run, every figure beside its baseline:
//!
//! 1. IEC 104 codec: ASDUs/s encoded and decoded.
//! 2. End-to-end throughput: records/s from an RTU through edge → hub → cc, against our own IEC
//!    104 client reading the RTU directly (what the protocol alone does on this machine), with
//!    the chain of trust off (no signatures), on with software keys, and on with the keys in a
//!    SoftHSM2 token (PKCS#11): the on/off ratio is the cost of evidence. Also: HSM signatures
//!    per second at that load, transparency-log appends per second, and SoftHSM2's raw signing
//!    rate measured in the same run.
//! 3. Intrusion detection on the cc's SCADA side (`[ids]`): throughput with evidence on and the
//!    detector checking every frame to SCADA against a model it learned from a warm-up, against
//!    the same chain without it, alternated over three rounds (medians; the ratio is the
//!    detector's cost).
//! 4. Latency RTU → SCADA client at a fixed 10,000 records/s: p50/p99 through the chain (evidence
//!    off and on), next to our own client reading the RTU directly and a c104 (lib60870) client
//!    reading the same RTU.
//!
//! `cargo bench -p gridtrust --bench chain` (set GRIDTRUST_BENCH_SECONDS to change the duration).

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gridtrust::chain::{DemoKeys, provision};
use gridtrust_cc::{Cc, CcConfig};
use gridtrust_edge::Edge;
use gridtrust_edge::config::EdgeConfig;
use gridtrust_hub::{Hub, HubConfig};
use gridtrust_iec104::asdu::{Asdu, Cause, Cot, Element, InformationObject, Qds, TypeId};
use gridtrust_iec104::client::{Client, ClientConfig, ClientEvent};
use gridtrust_iec104::server::{Server, ServerConfig, ServerHandle, wall_clock};
use gridtrust_transport::identity::Evidence;

const POINTS: u32 = 100;

fn wall_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn codec() {
    let asdu = Asdu::single(
        TypeId::MMeTf1,
        Cot::new(Cause::Spontaneous),
        1,
        vec![InformationObject::new(1001, Element::ShortFloat { value: 231.5, quality: Qds::GOOD, time: Some(wall_clock()) })],
    );
    let bytes = asdu.to_bytes().unwrap();
    let n = 2_000_000u32;
    let mut buf = Vec::with_capacity(64);
    let t = Instant::now();
    for _ in 0..n {
        buf.clear();
        asdu.encode(&mut buf).unwrap();
        std::hint::black_box(&buf);
    }
    let enc = f64::from(n) / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(Asdu::decode(std::hint::black_box(&bytes)).unwrap());
    }
    let dec = f64::from(n) / t.elapsed().as_secs_f64();
    println!("codec  M_ME_TF_1 (1 object, CP56Time2a)   encode {:>12.0} ASDUs/s   decode {:>12.0} ASDUs/s", enc, dec);
}

/// An RTU with `POINTS` float points whose value carries a running number.
async fn rtu() -> ServerHandle {
    let (rtu, _commands) =
        Server::bind("127.0.0.1:0".parse().unwrap(), None, ServerConfig { max_queue: 2_000_000, ..ServerConfig::default() }).await.unwrap();
    for ioa in 1..=POINTS {
        rtu.register_point(InformationObject::new(ioa, Element::ShortFloat { value: -1.0, quality: Qds::GOOD, time: None }), &[])
            .await
            .unwrap();
    }
    std::mem::forget(_commands);
    rtu
}

async fn send(rtu: &ServerHandle, i: u32) {
    let e = Element::ShortFloat { value: i as f32, quality: Qds::GOOD, time: Some(wall_clock()) };
    rtu.update(InformationObject::new(1 + i % POINTS, e)).await.unwrap();
}

/// Sends `count` values at `rate` per second (0: as fast as possible), recording send times.
async fn stream(rtu: &ServerHandle, count: u32, rate: u32) -> Vec<i64> {
    let mut sent = vec![0i64; count as usize];
    let t0 = Instant::now();
    for i in 0..count {
        sent[i as usize] = wall_ns();
        send(rtu, i).await;
        if rate > 0 {
            let due = t0 + Duration::from_secs_f64(f64::from(i + 1) / f64::from(rate));
            if let Some(w) = due.checked_duration_since(Instant::now()) {
                tokio::time::sleep(w).await;
            }
        }
    }
    sent
}

/// Receives values on a client until `count` distinct ones arrived or `timeout`; returns the
/// receive time per value.
async fn receive(addr: SocketAddr, count: u32, ready: tokio::sync::oneshot::Sender<()>, timeout: Duration) -> Vec<Option<i64>> {
    let (client, mut events) = Client::connect(addr, None, ClientConfig::default()).await.unwrap();
    let mut got = vec![None; count as usize];
    let mut n = 0;
    // Drain the initial state first.
    let _ = tokio::time::timeout(Duration::from_millis(300), async { while events.try_recv().is_ok() {} }).await;
    let _ = ready.send(());
    let deadline = tokio::time::Instant::now() + timeout;
    while n < count {
        let Ok(Some(ev)) = tokio::time::timeout_at(deadline, events.recv()).await else { break };
        let now = wall_ns();
        if let ClientEvent::Asdu(a) = ev {
            for o in a.objects {
                if let Element::ShortFloat { value, .. } = o.element
                    && value >= 0.0
                    && (value as u32) < count
                    && got[value as usize].is_none()
                {
                    got[value as usize] = Some(now);
                    n += 1;
                }
            }
        }
    }
    drop(client);
    got
}

struct Run {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    lost: usize,
}

fn summarise(sent: &[i64], got: &[Option<i64>], elapsed: Duration) -> Run {
    let mut lat: Vec<f64> = sent.iter().zip(got).filter_map(|(s, g)| g.map(|g| (g - s) as f64 / 1e6)).collect();
    lat.sort_by(f64::total_cmp);
    Run {
        rate: lat.len() as f64 / elapsed.as_secs_f64(),
        p50_ms: percentile(&lat, 0.5),
        p99_ms: percentile(&lat, 0.99),
        lost: got.iter().filter(|g| g.is_none()).count(),
    }
}

async fn measure(rtu: &ServerHandle, scada: SocketAddr, count: u32, rate: u32) -> Run {
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let rx = tokio::spawn(receive(scada, count, ready_tx, Duration::from_secs(30 + u64::from(count / 5000))));
    ready_rx.await.unwrap();
    let t0 = Instant::now();
    let sent = stream(rtu, count, rate).await;
    let got = rx.await.unwrap();
    let last = got.iter().flatten().max().copied().unwrap_or(0);
    let elapsed = Duration::from_nanos((last - sent[0]).max(1) as u64).max(t0.elapsed().min(Duration::from_secs(3600)) / 1000);
    summarise(&sent, &got, elapsed)
}

fn c104_available() -> bool {
    std::process::Command::new("python3").args(["-c", "import c104"]).output().is_ok_and(|o| o.status.success())
}

/// The c104 client reading the RTU directly at `rate`.
async fn measure_c104(rtu: &ServerHandle, count: u32, rate: u32) -> Option<Run> {
    use tokio::io::{AsyncBufReadExt, BufReader};
    if !c104_available() {
        println!("(c104 not installed: pip install c104 for the external reference)");
        return None;
    }
    let seconds = u64::from(count / rate) + 3;
    let script = format!("{}/benches/peers/c104_latency.py", env!("CARGO_MANIFEST_DIR"));
    let mut child = tokio::process::Command::new("python3")
        .arg("-u")
        .arg(script)
        .arg(rtu.local_addr().port().to_string())
        .arg(POINTS.to_string())
        .arg(seconds.to_string())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .ok()?;
    let mut lines = BufReader::new(child.stdout.take()?).lines();
    while let Ok(Some(l)) = lines.next_line().await {
        if l == "ready" {
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = stream(rtu, count, rate).await;
    let mut got = vec![None; count as usize];
    while let Ok(Some(l)) = lines.next_line().await {
        if l == "done" {
            break;
        }
        let mut it = l.split(' ');
        if let (Some(Ok(v)), Some(Ok(t))) = (it.next().map(str::parse::<i64>), it.next().map(str::parse::<i64>))
            && v >= 0
            && (v as usize) < got.len()
            && got[v as usize].is_none()
        {
            got[v as usize] = Some(t);
        }
    }
    let last = got.iter().flatten().max().copied().unwrap_or(0);
    Some(summarise(&sent, &got, Duration::from_nanos((last - sent[0]).max(1) as u64)))
}

fn print(name: &str, r: &Run) {
    println!("{name:<44} {:>9.0} records/s   p50 {:>7.2} ms   p99 {:>7.2} ms   lost {}", r.rate, r.p50_ms, r.p99_ms, r.lost);
}

/// How the chain under test keeps its evidence.
#[derive(Clone)]
struct Variant {
    name: &'static str,
    keys: DemoKeys,
    signatures: bool,
}

/// One chain (hub, edge, cc) in its own folder, reading `rtu`.
struct Running {
    hub: Hub,
    edge: Edge,
    cc: Cc,
    _dir: tempfile::TempDir,
}

/// How long the cc learns SCADA traffic when the benchmark turns `[ids]` on.
const IDS_LEARN: Duration = Duration::from_secs(2);

async fn start_chain(rtu: &ServerHandle, variant: &Variant) -> Running {
    start_chain_with(rtu, variant, "").await
}

/// [`start_chain`] with `cc_tables` (TOML) added to `cc.toml`.
async fn start_chain_with(rtu: &ServerHandle, variant: &Variant, cc_tables: &str) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let identities = provision(&d.join("pki"), &variant.keys).unwrap();
    let identity = |name: &str| identities.iter().find(|(n, _)| *n == name).unwrap().1.clone();
    // Evidence off is not a configuration key: the benchmark sets it on the loaded configurations.
    let evidence = if variant.signatures { Evidence::Signed } else { Evidence::UnsignedForBenchmark };
    gridtrust::registry::write_dev_registry(&d.join("pki"), 1, &[("LD0", "edge-1")], d).unwrap();
    std::fs::write(
        d.join("hub.toml"),
        format!(
            "data_dir = \"hub\"\nedge_listen = \"127.0.0.1:0\"\ncc_listen = \"127.0.0.1:0\"\n{}{}",
            identity("hub"),
            gridtrust::registry::DEV_AUTHORITY_TABLE
        ),
    )
    .unwrap();
    let hub = Hub::start(&HubConfig { evidence, ..HubConfig::load(&d.join("hub.toml")).unwrap() }).await.unwrap();
    let mut map = String::new();
    for ioa in 1..=POINTS {
        map.push_str(&format!("[[point]]\nid = \"LD0/GGIO1.AnIn{ioa}\"\nioa = {ioa}\ntype = \"float\"\n"));
    }
    std::fs::write(d.join("map.toml"), &map).unwrap();
    std::fs::write(
        d.join("edge.toml"),
        format!(
            "edge_id = \"edge-1\"\ndata_dir = \"edge\"\n{}[hub]\naddress = \"{}\"\n[[rtu]]\nname = \"rtu\"\naddress = \"{}\"\ncommon_address = 1\nmapping = \"map.toml\"\ninterrogation_period_s = 3600\n",
            identity("edge-1"),
            hub.edge_addr,
            rtu.local_addr()
        ),
    )
    .unwrap();
    std::fs::write(
        d.join("cc.toml"),
        format!(
            "cc_id = \"cc-1\"\ndata_dir = \"cc\"\n{}[hub]\naddress = \"{}\"\n[iec104]\nlisten = \"127.0.0.1:0\"\nmapping = \"map.toml\"\n[iec104.station]\nmax_queue = 2000000\n[[iec104.station.redundancy_groups]]\nname = \"scada\"\nmembers = [\"127.0.0.1\"]\n{cc_tables}",
            identity("cc-1"),
            hub.cc_addr
        ),
    )
    .unwrap();
    let edge = Edge::start(EdgeConfig { evidence, ..EdgeConfig::load(&d.join("edge.toml")).unwrap() }).await.unwrap();
    let cc = Cc::start(CcConfig { evidence, ..CcConfig::load(&d.join("cc.toml")).unwrap() }).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    Running { hub, edge, cc, _dir: dir }
}

/// A SoftHSM2 token for the HSM variant, if SoftHSM2 is installed.
fn softhsm_variant(dir: &std::path::Path) -> Option<Variant> {
    if !gridtrust_keys::softhsm::util_available() {
        println!("(softhsm2 not installed: apt-get install softhsm2 for the HSM variant)");
        return None;
    }
    let token = gridtrust_keys::softhsm::init_softhsm_token(dir, "bench", "5678", "1234").ok()?;
    // SoftHSM2 reads its configuration path once per process, before any token is opened.
    // SAFETY: the bench is single-threaded here; no other thread reads the environment.
    #[allow(unsafe_code)]
    unsafe {
        std::env::set_var(gridtrust_keys::softhsm::CONF_ENV, &token.conf);
        std::env::set_var("GRIDTRUST_BENCH_PIN", "1234");
    }
    Some(Variant {
        name: "on, keys in SoftHSM2 (PKCS#11)",
        keys: DemoKeys::Pkcs11 { module: token.module, token_label: token.label, pin_env: "GRIDTRUST_BENCH_PIN".into() },
        signatures: true,
    })
}

/// SoftHSM2's raw ECDSA P-256 signing rate on one thread, over `seconds`.
fn raw_hsm_rate(variant: &Variant, seconds: f64) -> Option<f64> {
    let DemoKeys::Pkcs11 { module, token_label, pin_env } = &variant.keys else { return None };
    let config = gridtrust_keys::KeyConfig::Pkcs11(gridtrust_keys::Pkcs11Config::new(
        module.clone(),
        gridtrust_keys::TokenSelector::Label(token_label.clone()),
        "edge-1",
        gridtrust_keys::PinSource::Env(pin_env.clone()),
    ));
    let signer = gridtrust_keys::open(&config, std::path::Path::new("")).ok()?;
    let header = [7u8; 160];
    let t = Instant::now();
    let mut n = 0u32;
    while t.elapsed().as_secs_f64() < seconds {
        signer.sign(&header).ok()?;
        n += 1;
    }
    Some(f64::from(n) / t.elapsed().as_secs_f64())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    use std::sync::atomic::Ordering::Relaxed;
    let seconds: u32 = std::env::var("GRIDTRUST_BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    println!("gridtrust chain benchmark (2 cores; every figure beside its baseline from the same run)\n");
    codec();

    let hsm_dir = tempfile::tempdir().unwrap();
    let mut variants = vec![
        Variant { name: "off (no signatures)", keys: DemoKeys::Software, signatures: false },
        Variant { name: "on, software keys", keys: DemoKeys::Software, signatures: true },
    ];
    variants.extend(softhsm_variant(hsm_dir.path()));
    let rtu = rtu().await;
    let fixed = 10_000u32;
    let count = fixed * seconds;

    println!("\nthroughput, as fast as the RTU can send ({} values over {POINTS} points)", count * 2);
    let direct = measure(&rtu, rtu.local_addr(), count * 2, 0).await;
    print("  baseline: our IEC 104 client reads the RTU", &direct);
    let mut throughput = Vec::new();
    for v in &variants {
        let chain = start_chain(&rtu, v).await;
        let (batches0, log0) = (chain.hub.stats().batches_applied.load(Relaxed), chain.hub.stats().log_entries.load(Relaxed));
        let t = Instant::now();
        let run = measure(&rtu, chain.cc.iec104_addr, count * 2, 0).await;
        let elapsed = t.elapsed().as_secs_f64();
        let batches = chain.hub.stats().batches_applied.load(Relaxed) - batches0;
        let log = chain.hub.stats().log_entries.load(Relaxed) - log0;
        print(&format!("  chain, evidence {}", v.name), &run);
        let signing =
            if v.signatures { format!("{:.0} signatures/s at the edge", batches as f64 / elapsed) } else { "no signatures".into() };
        println!("      {signing}, {:.0} log appends/s at the hub ({batches} batches)", log as f64 / elapsed);
        throughput.push(run.rate);
        chain.cc.shutdown().await;
        chain.edge.shutdown();
        chain.hub.shutdown();
    }
    for (v, rate) in variants.iter().zip(&throughput).skip(1) {
        println!("  evidence {} / off throughput ratio: {:.2}", v.name, rate / throughput[0]);
    }
    println!("  chain (evidence off) / direct throughput ratio: {:.2}", throughput[0] / direct.rate);
    if let Some(rate) = variants.iter().find_map(|v| raw_hsm_rate(v, 2.0)) {
        println!("  SoftHSM2 raw signing rate (ECDSA P-256, 1 thread): {rate:.0} signatures/s");
    }

    ids_overhead(&rtu, &variants[1], count * 2).await;

    println!("\nlatency at a fixed {fixed} records/s for {seconds} s");
    let direct = measure(&rtu, rtu.local_addr(), count, fixed).await;
    print("  baseline: our IEC 104 client reads the RTU", &direct);
    if let Some(c) = measure_c104(&rtu, count, fixed).await {
        print("  reference: c104 (lib60870) client reads RTU", &c);
    }
    let mut p99 = Vec::new();
    for v in &variants {
        let chain = start_chain(&rtu, v).await;
        let run = measure(&rtu, chain.cc.iec104_addr, count, fixed).await;
        print(&format!("  chain, evidence {}", v.name), &run);
        println!("      added by the chain: p50 {:+.2} ms, p99 {:+.2} ms", run.p50_ms - direct.p50_ms, run.p99_ms - direct.p99_ms);
        p99.push(run.p99_ms);
        chain.cc.shutdown().await;
        chain.edge.shutdown();
        chain.hub.shutdown();
    }
    for (v, p) in variants.iter().zip(&p99).skip(1) {
        println!("  p99 added by evidence {} over off: {:+.2} ms", v.name, p - p99[0]);
    }
}

/// Throughput with the cc's intrusion detector on and off, alternated, evidence on.
async fn ids_overhead(rtu: &ServerHandle, variant: &Variant, count: u32) {
    use std::sync::atomic::Ordering::Relaxed;
    println!("\nintrusion detection on the SCADA side, evidence {} ({count} values, 3 rounds alternated)", variant.name);
    let (mut off, mut on) = (Vec::new(), Vec::new());
    for round in 0..3 {
        let chain = start_chain(rtu, variant).await;
        let run = measure(rtu, chain.cc.iec104_addr, count, 0).await;
        print(&format!("  round {round}: chain without [ids]"), &run);
        off.push(run.rate);
        chain.cc.shutdown().await;
        chain.edge.shutdown();
        chain.hub.shutdown();

        let started = Instant::now();
        let chain = start_chain_with(rtu, variant, &format!("[ids]\nlearn_s = {}\n", IDS_LEARN.as_secs())).await;
        // Normal operation to learn from: the same stream, shorter, within the learning period.
        measure(rtu, chain.cc.iec104_addr, count / 10, 0).await;
        assert!(started.elapsed() < IDS_LEARN + Duration::from_secs(1), "the warm-up ran past the learning period");
        tokio::time::sleep((IDS_LEARN + Duration::from_millis(200)).saturating_sub(started.elapsed())).await;
        let events0 = chain.cc.stats.ids.events.load(Relaxed);
        let run = measure(rtu, chain.cc.iec104_addr, count, 0).await;
        let events = chain.cc.stats.ids.events.load(Relaxed) - events0;
        print(&format!("  round {round}: chain with [ids] checking"), &run);
        println!("      {events} frames checked, {} alerts", chain.cc.stats.ids.alerts.load(Relaxed));
        on.push(run.rate);
        chain.cc.shutdown().await;
        chain.edge.shutdown();
        chain.hub.shutdown();
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (off, on) = (median(&mut off), median(&mut on));
    println!("  median without {off:.0} records/s, with {on:.0} records/s: with / without ratio {:.3}", on / off);
}
