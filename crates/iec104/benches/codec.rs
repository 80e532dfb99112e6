//! ASDU codec throughput for a typical controlled-station mix: a spontaneous float with time
//! (M_ME_TF_1, 1 object), a spontaneous single point with time (M_SP_TB_1, 1 object) and a
//! general-interrogation block of 30 floats (M_ME_NC_1, SQ=0).
//!
//! Criterion measures each case; a closing table prints ASDUs/s for encode and decode next to a
//! baseline measured in the same run (copying the same octets into the same buffer), and the
//! ratio, because absolute figures on shared machines are noise.
//!
//! `cargo bench -p gridtrust-iec104 --bench codec`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use gridtrust_iec104::asdu::{Asdu, Cause, Cot, Element, InformationObject, Qds, TypeId};
use gridtrust_iec104::time::Cp56Time2a;

fn cases() -> Vec<(&'static str, Asdu)> {
    let t = Cp56Time2a::from_unix_ms(1_715_953_512_345).expect("time in range");
    let ca = 1;
    vec![
        (
            "M_ME_TF_1 x1",
            Asdu::single(
                TypeId::MMeTf1,
                Cot::new(Cause::Spontaneous),
                ca,
                vec![InformationObject::new(4001, Element::ShortFloat { value: 230.4, quality: Qds::GOOD, time: Some(t) })],
            ),
        ),
        (
            "M_SP_TB_1 x1",
            Asdu::single(
                TypeId::MSpTb1,
                Cot::new(Cause::Spontaneous),
                ca,
                vec![InformationObject::new(1001, Element::SinglePoint { value: true, quality: Qds::GOOD, time: Some(t) })],
            ),
        ),
        (
            "M_ME_NC_1 x30 GI",
            Asdu::single(
                TypeId::MMeNc1,
                Cot::new(Cause::Interrogated),
                ca,
                (0..30)
                    .map(|i| {
                        InformationObject::new(4000 + i, Element::ShortFloat { value: i as f32 * 1.5, quality: Qds::GOOD, time: None })
                    })
                    .collect(),
            ),
        ),
    ]
}

fn criterion_benches(c: &mut Criterion, cases: &[(&'static str, Asdu, Vec<u8>)]) {
    let mut g = c.benchmark_group("asdu");
    g.throughput(Throughput::Elements(1));
    for (name, asdu, bytes) in cases {
        let mut out = Vec::with_capacity(256);
        g.bench_function(format!("encode {name}"), |b| {
            b.iter(|| {
                out.clear();
                black_box(asdu).encode(&mut out).expect("encodes");
                black_box(out.len())
            })
        });
        g.bench_function(format!("decode {name}"), |b| b.iter(|| Asdu::decode(black_box(bytes)).expect("decodes")));
    }
    g.finish();
}

/// Runs `f` repeatedly for about `budget` and returns calls per second.
fn rate(budget: Duration, mut f: impl FnMut()) -> f64 {
    let mut n = 0u64;
    let start = Instant::now();
    while start.elapsed() < budget {
        for _ in 0..256 {
            f();
        }
        n += 256;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn summary(cases: &[(&'static str, Asdu, Vec<u8>)], budget: Duration) {
    println!();
    println!(
        "{:<20} {:>8} {:>16} {:>16} {:>8} {:>16} {:>8}",
        "ASDU", "octets", "baseline copy/s", "encode ASDU/s", "ratio", "decode ASDU/s", "ratio"
    );
    let mut out = Vec::with_capacity(256);
    let mut all = Vec::new();
    for (name, asdu, bytes) in cases {
        let base = rate(budget, || {
            out.clear();
            out.extend_from_slice(black_box(bytes));
            black_box(out.len());
        });
        let enc = rate(budget, || {
            out.clear();
            let _ = black_box(asdu).encode(&mut out);
            black_box(out.len());
        });
        let dec = rate(budget, || {
            let _ = black_box(Asdu::decode(black_box(bytes)));
        });
        println!("{name:<20} {:>8} {base:>16.0} {enc:>16.0} {:>8.3} {dec:>16.0} {:>8.3}", bytes.len(), enc / base, dec / base);
        all.push((enc, dec));
    }
    // The mix: one of each, so a mix "ASDU" rate is 3 / (sum of per-ASDU times).
    let mix = |pick: fn(&(f64, f64)) -> f64| all.len() as f64 / all.iter().map(|r| 1.0 / pick(r)).sum::<f64>();
    println!("{:<20} {:>8} {:>16} {:>16.0} {:>8} {:>16.0}", "mix (1:1:1)", "", "", mix(|r| r.0), "", mix(|r| r.1));
}

fn main() {
    let cases: Vec<_> = cases()
        .into_iter()
        .map(|(n, a)| {
            let bytes = a.to_bytes().expect("bench ASDUs are valid");
            (n, a, bytes)
        })
        .collect();
    // `cargo bench` passes --bench; `cargo test --benches` does not and wants a quick smoke run.
    let full = std::env::args().any(|a| a == "--bench");
    let mut c = Criterion::default().configure_from_args();
    criterion_benches(&mut c, &cases);
    c.final_summary();
    summary(&cases, if full { Duration::from_millis(500) } else { Duration::from_millis(5) });
}
