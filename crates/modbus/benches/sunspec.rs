//! SunSpec throughput on one core, against baselines measured in the same run:
//!
//! 1. Register block -> Datums: one model 103 block (50 registers, the simulator's values at
//!    noon) parsed with its scale factors and turned into published Datums (point ids, typed
//!    values, quality), in records/s. Baseline: the bare arithmetic, each published field's
//!    register scaled to f64 with a pre-computed factor and nothing else.
//! 2. End to end over loopback: our client polling the whole model 103 block (52 registers with
//!    its header) from our simulator and publishing its Datums, in polls/s. Baseline: a bare
//!    tokio TCP ping-pong of the same request and answer sizes on the same loopback.
//!
//! `cargo bench -p gridtrust-modbus --bench sunspec`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use gridtrust_adapter::Datum;
use gridtrust_modbus::adapter::SunSpecBlock;
use gridtrust_modbus::client;
use gridtrust_modbus::frame::{Request, Response, Table};
use gridtrust_modbus::sim::{INVERTER_ADDRESS, InverterSim, Simulator};
use gridtrust_modbus::sunspec::{self, LnInstances, ModelLocation, scale_factor};
use gridtrust_model::Timestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn model_103_block() -> Vec<u16> {
    let mut sim = InverterSim::new(10_000);
    sim.update(0.5, 3600.0);
    match sim.handle(&Request::Read { table: Table::Holding, address: INVERTER_ADDRESS, count: 50 }) {
        Response::Registers(r) => r,
        other => panic!("simulator answered {other:?}"),
    }
}

fn new_block() -> SunSpecBlock {
    let location = ModelLocation { id: 103, address: INVERTER_ADDRESS, length: 50 };
    SunSpecBlock::new("PV1", location, &mut LnInstances::default()).expect("valid ids").expect("model 103 is known")
}

/// The baseline's work list: (offset, signed, factor) for every published field with a value.
fn bare_fields(data: &[u16]) -> Vec<(usize, bool, f64)> {
    let def = sunspec::model_def(103).expect("known");
    def.fields
        .iter()
        .filter(|f| f.point.is_some())
        .map(|f| {
            let factor = f.sf.and_then(|s| scale_factor(data[usize::from(s)]).ok()).unwrap_or(1.0);
            (usize::from(f.offset), f.kind == sunspec::Kind::I16, factor)
        })
        .collect()
}

fn bare_scale(data: &[u16], fields: &[(usize, bool, f64)], out: &mut Vec<f64>) {
    out.clear();
    for &(offset, signed, factor) in fields {
        let raw = data[offset];
        let v = if signed { f64::from(raw as i16) } else { f64::from(raw) };
        out.push(v * factor);
    }
}

/// Runs `f` repeatedly for about `budget` and returns calls per second.
fn rate(budget: Duration, mut f: impl FnMut()) -> f64 {
    let mut n = 0u64;
    let start = Instant::now();
    while start.elapsed() < budget {
        for _ in 0..64 {
            f();
        }
        n += 64;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn criterion_benches(c: &mut Criterion, data: &[u16], records: u64) {
    let mut g = c.benchmark_group("sunspec_model_103");
    g.throughput(Throughput::Elements(records));
    let mut block = new_block();
    let mut out: Vec<Datum> = Vec::with_capacity(64);
    let now = Timestamp::now();
    g.bench_function("block to datums", |b| {
        b.iter(|| {
            out.clear();
            block.publish(black_box(data), now, &mut out).expect("parses");
            black_box(out.len())
        })
    });
    let fields = bare_fields(data);
    let mut scaled = Vec::with_capacity(64);
    g.bench_function("baseline: bare scaling", |b| {
        b.iter(|| {
            bare_scale(black_box(data), &fields, &mut scaled);
            black_box(scaled.len())
        })
    });
    g.finish();
}

fn parse_summary(data: &[u16], budget: Duration) -> usize {
    let mut block = new_block();
    let mut out = Vec::with_capacity(64);
    let now = Timestamp::now();
    block.publish(data, now, &mut out).expect("parses");
    let records = out.len();
    let fields = bare_fields(data);
    let mut scaled = Vec::with_capacity(64);
    let base = rate(budget, || bare_scale(black_box(data), &fields, &mut scaled)) * fields.len() as f64;
    let ours = rate(budget, || {
        out.clear();
        let _ = block.publish(black_box(data), now, &mut out);
    }) * records as f64;
    println!();
    println!("model 103 block -> Datums ({records} records per block, one core)");
    println!("  baseline bare scaling  {base:>14.0} values/s");
    println!("  parse + Datums         {ours:>14.0} records/s   ratio {:.3}", ours / base);
    records
}

async fn poll_rate(budget: Duration) -> (f64, f64) {
    let sim = Simulator::start("127.0.0.1:0".parse().expect("addr"), 10_000, Duration::from_secs(1_000_000), 0.5).await.expect("simulator");
    let mut c = client::connect(&sim.address.to_string(), 1, Duration::from_secs(1)).await.expect("connects");
    let mut block = new_block();
    let mut out = Vec::with_capacity(64);
    let start = Instant::now();
    let mut polls = 0u64;
    while start.elapsed() < budget {
        let regs = c.read_registers(Table::Holding, INVERTER_ADDRESS - 2, 52).await.expect("reads");
        out.clear();
        block.publish(&regs[2..], Timestamp::now(), &mut out).expect("parses");
        polls += 1;
    }
    let ours = polls as f64 / start.elapsed().as_secs_f64();

    // Baseline: the same sizes (12-byte request, 9 + 104-byte answer) bounced by a bare server.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.expect("accept");
        s.set_nodelay(true).expect("nodelay");
        let mut req = [0u8; 12];
        let answer = [0u8; 113];
        while s.read_exact(&mut req).await.is_ok() {
            if s.write_all(&answer).await.is_err() {
                return;
            }
        }
    });
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.set_nodelay(true).expect("nodelay");
    let mut answer = [0u8; 113];
    let start = Instant::now();
    let mut trips = 0u64;
    while start.elapsed() < budget {
        s.write_all(&[0u8; 12]).await.expect("write");
        s.read_exact(&mut answer).await.expect("read");
        trips += 1;
    }
    (ours, trips as f64 / start.elapsed().as_secs_f64())
}

fn main() {
    let data = model_103_block();
    // `cargo bench` passes --bench; `cargo test --benches` does not and wants a quick smoke run.
    let full = std::env::args().any(|a| a == "--bench");
    let budget = if full { Duration::from_secs(1) } else { Duration::from_millis(5) };
    let records = parse_summary(&data, budget);
    let mut c = Criterion::default().configure_from_args();
    criterion_benches(&mut c, &data, records as u64);
    c.final_summary();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let (ours, base) = runtime.block_on(poll_rate(if full { Duration::from_secs(2) } else { Duration::from_millis(50) }));
    println!();
    println!("end to end over loopback, one connection, current-thread runtime");
    println!("  baseline TCP ping-pong (12 B / 113 B)   {base:>10.0} round trips/s");
    println!(
        "  poll model 103 from the simulator       {ours:>10.0} polls/s ({:.0} records/s)   ratio {:.3}",
        ours * records as f64,
        ours / base
    );
}
