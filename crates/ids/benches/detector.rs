//! The detector's cost, beside its baseline: 24 hours of the generated plant (about 100 000
//! events) decoded only (every I-frame's ASDU through the IEC 104 codec: what any consumer of
//! the frames pays), then decoded and checked by the detector. Prints both rates, the ratio, and
//! what the detector's time per event means at the chain's measured per-RTU rate (README:
//! 1,100–1,600 ASDUs/s per RTU with acknowledgements after commit).
//!
//! `cargo bench -p gridtrust-ids --bench detector`

use std::time::Instant;

use gridtrust_ids::detect::Detector;
use gridtrust_ids::event::EventKind;
use gridtrust_ids::model::learn;
use gridtrust_ids::scenario::{ScenarioKind, generate};
use gridtrust_iec104::apci::Apdu;
use gridtrust_iec104::asdu::Asdu;

const ROUNDS: u32 = 5;

fn main() {
    let model = learn(&generate(ScenarioKind::Normal, 1, 4.0).events);
    let day = generate(ScenarioKind::Normal, 99, 24.0);
    let n = day.events.len() as f64 * f64::from(ROUNDS);

    let t = Instant::now();
    let mut decoded = 0u64;
    for _ in 0..ROUNDS {
        for e in &day.events {
            if let EventKind::Iec104(Apdu::I { asdu, .. }) = &e.kind {
                decoded += u64::from(Asdu::decode(asdu).is_ok());
            }
        }
    }
    let decode_s = t.elapsed().as_secs_f64();
    std::hint::black_box(decoded);

    let t = Instant::now();
    let mut alerts = 0u64;
    for _ in 0..ROUNDS {
        let mut d = Detector::new(model.clone());
        for e in &day.events {
            d.handle_event(e);
            while d.poll_alert().is_some() {
                alerts += 1;
            }
        }
    }
    let detect_s = t.elapsed().as_secs_f64();

    let per_event_us = detect_s / n * 1e6;
    println!("events: {} per round, {ROUNDS} rounds, {alerts} alerts", day.events.len());
    println!("baseline  ASDU decoding only      {:>12.0} events/s", n / decode_s);
    println!(
        "measured  detector (decode+check) {:>12.0} events/s   {:.2} µs/event   {:.1}x the decoding time",
        n / detect_s,
        per_event_us,
        detect_s / decode_s
    );
    for rate in [1_100.0, 1_600.0] {
        println!("at the chain's {rate:.0} ASDUs/s per RTU: the detector needs {:.3} % of one core per RTU", rate * per_event_us / 1e4);
    }
}
