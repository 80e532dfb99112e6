//! MQTT meter ingest throughput, each figure against a baseline measured in the same run:
//!
//! 1. Parse + map on one core, per payload format, in records/s: the simulator's message
//!    decoded by the topic's route into Datums (parse, units, point ids). Baseline for JSON and
//!    SenML: `serde_json::from_slice` of the same bytes into a `serde_json::Value` (no
//!    selection, no mapping); for CIM: a bare quick-xml event scan of the same bytes.
//! 2. End to end through a real broker (Debian mosquitto, started here on a loopback port):
//!    our simulator publishes SenML with QoS 1, the adapter decodes, hands Datums to a channel
//!    and acknowledges each message after the hand-off. Baseline: a plain rumqttc QoS 1
//!    subscriber (automatic acknowledgement, no decoding) receiving the same messages from the
//!    same broker. Skipped with a notice when mosquitto is not installed.
//!
//! Medians of several timed samples are printed with their ratio; criterion's own report
//! follows for part 1. `cargo bench -p gridtrust-mqtt --bench ingest`

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use gridtrust_model::Timestamp;
use gridtrust_mqtt::MqttConfig;
use gridtrust_mqtt::adapter::MqttAdapter;
use gridtrust_mqtt::config::PayloadFormat;
use gridtrust_mqtt::router::Router;
use gridtrust_mqtt::sim::{BrokerOptions, Publisher, READING_TYPE_ENERGY_KWH, READING_TYPE_POWER_W, READING_TYPE_VOLTAGE_V, SimMeter};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::mpsc;

const FORMATS: [PayloadFormat; 3] = [PayloadFormat::Json, PayloadFormat::Senml, PayloadFormat::Cim];

/// Every value the simulator sends mapped to a point, for each format's topic.
fn config(port: u16) -> MqttConfig {
    let text = format!(
        r#"
        name = "bench"
        host = "127.0.0.1"
        port = {port}
        client_id = "bench-adapter"
        [[topic]]
        filter = "meters/+/json"
        format = "json"
        point = [
          {{ name = "/seq", point = "MTR1/GGIO1.CntVal.actVal" }},
          {{ name = "/energy/import_wh", point = "MTR1/MMTR1.TotWh.actVal", unit = "Wh" }},
          {{ name = "/power_w", point = "MTR1/MMXU1.TotW.mag.f", unit = "W" }},
          {{ name = "/voltage_v", point = "MTR1/MMXU1.PhV.phsA.cVal.mag.f", unit = "V" }},
        ]
        [[topic]]
        filter = "meters/+/senml"
        format = "senml"
        point = [
          {{ name = "urn:dev:meter:MTR1:seq", point = "MTR1/GGIO1.CntVal.actVal" }},
          {{ name = "urn:dev:meter:MTR1:energy", point = "MTR1/MMTR1.TotWh.actVal", unit = "Wh" }},
          {{ name = "urn:dev:meter:MTR1:power", point = "MTR1/MMXU1.TotW.mag.f", unit = "W" }},
          {{ name = "urn:dev:meter:MTR1:voltage", point = "MTR1/MMXU1.PhV.phsA.cVal.mag.f", unit = "V" }},
        ]
        [[topic]]
        filter = "meters/+/cim"
        format = "cim"
        point = [
          {{ name = "{READING_TYPE_ENERGY_KWH}", point = "MTR1/MMTR1.TotWh.actVal", unit = "Wh" }},
          {{ name = "{READING_TYPE_POWER_W}", point = "MTR1/MMXU1.TotW.mag.f", unit = "W" }},
          {{ name = "{READING_TYPE_VOLTAGE_V}", point = "MTR1/MMXU1.PhV.phsA.cVal.mag.f", unit = "V" }},
        ]
        "#
    );
    let config: MqttConfig = toml::from_str(&text).expect("bench configuration parses");
    config.validate().expect("bench configuration is valid");
    config
}

fn topic(format: PayloadFormat) -> String {
    format!("meters/MTR1/{}", format.name())
}

/// The baseline's work: a generic parse of the same bytes.
fn baseline(format: PayloadFormat, payload: &[u8]) -> usize {
    match format {
        PayloadFormat::Json | PayloadFormat::Senml => {
            serde_json::from_slice::<serde_json::Value>(payload).map(|v| usize::from(!v.is_null())).unwrap_or(0)
        }
        PayloadFormat::Cim => {
            let mut reader = quick_xml::Reader::from_reader(payload);
            let mut events = 0;
            while !matches!(reader.read_event(), Ok(quick_xml::events::Event::Eof) | Err(_)) {
                events += 1;
            }
            events
        }
    }
}

/// Median calls per second of `f` over `samples` timed runs of about `each`.
fn median_rate(samples: usize, each: Duration, mut f: impl FnMut()) -> f64 {
    let mut rates: Vec<f64> = (0..samples)
        .map(|_| {
            let mut n = 0u64;
            let start = Instant::now();
            while start.elapsed() < each {
                for _ in 0..32 {
                    f();
                }
                n += 32;
            }
            n as f64 / start.elapsed().as_secs_f64()
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

fn parse_map(full: bool, c: &mut Criterion) {
    let router = Router::new(&config(1883).topics);
    let mut meter = SimMeter::new("MTR1");
    let now = Timestamp::now();
    let sample = meter.sample(now);
    println!("\nparse + map on one core (median of {} samples), records/s", if full { 15 } else { 1 });
    for format in FORMATS {
        let payload = meter.encode(format, &sample);
        let route = router.route(&topic(format)).expect("routed");
        let records = route.decode(&payload, now).expect("decodes").data.len();
        let (samples, each) = if full { (15, Duration::from_millis(200)) } else { (1, Duration::from_millis(5)) };
        let ours = median_rate(samples, each, || {
            black_box(route.decode(black_box(&payload), now).map(|d| d.data.len()).unwrap_or(0));
        });
        let base = median_rate(samples, each, || {
            black_box(baseline(format, black_box(&payload)));
        });
        let base_name = if format == PayloadFormat::Cim { "quick-xml scan" } else { "serde_json::Value" };
        println!(
            "  {:<5} {:>4} B, {records} records: ours {:>10.0} records/s ({:>8.0} msg/s) | baseline {base_name:<17} {:>8.0} msg/s | ratio {:.2}",
            format.name(),
            payload.len(),
            ours * records as f64,
            ours,
            base,
            ours / base
        );

        let mut g = c.benchmark_group(format!("parse_map_{}", format.name()));
        g.throughput(Throughput::Elements(records as u64));
        g.bench_function("route.decode", |b| b.iter(|| route.decode(black_box(&payload), now).map(|d| d.data.len())));
        g.bench_function(format!("baseline {base_name}"), |b| b.iter(|| baseline(format, black_box(&payload))));
        g.finish();
    }
}

fn senml_message(meter: &mut SimMeter) -> Vec<u8> {
    let sample = meter.sample(Timestamp::now());
    meter.encode(PayloadFormat::Senml, &sample)
}

/// Publishes `messages` SenML samples and returns the time until `received` reports them all.
async fn publish_and_wait(
    publisher: &mut Publisher,
    meter: &mut SimMeter,
    messages: u64,
    mut received: impl AsyncFnMut(u64) -> bool,
) -> Duration {
    let topic = topic(PayloadFormat::Senml);
    let payloads: Vec<_> = (0..messages).map(|_| senml_message(meter)).collect();
    let start = Instant::now();
    let publishing = async {
        for p in payloads {
            publisher.publish(&topic, p).await.expect("queued");
        }
    };
    let (_, done) = tokio::join!(publishing, received(messages));
    assert!(done, "not everything arrived");
    start.elapsed()
}

async fn end_to_end(full: bool) {
    if !common::mosquitto_available("bench end_to_end") {
        return;
    }
    let broker = common::Mosquitto::start(None);
    let (messages, rounds) = if full { (20_000u64, 5) } else { (200, 1) };
    let per_message = 4u64;
    let mut meter = SimMeter::new("MTR1");
    let step = Duration::from_secs(60);

    // Ours: the adapter, with the edge's channel size.
    let adapter = MqttAdapter::new(&config(broker.port)).expect("adapter");
    let (io, mut data, _commands_tx) = common::edge_stand_in(65_536);
    let task = tokio::spawn(adapter.run(io));
    let mut publisher =
        Publisher::start(&BrokerOptions { host: "127.0.0.1".into(), port: broker.port, client_id: "bench-sim".into(), tls: None })
            .expect("publisher");
    // Warm-up doubles as readiness: wait until one message makes it through.
    loop {
        publisher.publish(&topic(PayloadFormat::Senml), senml_message(&mut meter)).await.expect("queued");
        if tokio::time::timeout(Duration::from_millis(250), data.recv()).await.is_ok() {
            break;
        }
    }
    publisher.flush().await;
    while tokio::time::timeout(Duration::from_millis(300), data.recv()).await.is_ok() {}
    let mut ours = Vec::new();
    for _ in 0..rounds {
        let took = publish_and_wait(&mut publisher, &mut meter, messages, async |n| {
            for _ in 0..n * per_message {
                if !matches!(tokio::time::timeout(step, data.recv()).await, Ok(Some(_))) {
                    return false;
                }
            }
            true
        })
        .await;
        ours.push((messages * per_message) as f64 / took.as_secs_f64());
    }
    task.abort();

    // Baseline: a bare QoS 1 subscriber on the same broker, same messages.
    let mut options = MqttOptions::new("bench-baseline", "127.0.0.1", broker.port);
    options.set_clean_session(false).set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut eventloop) = AsyncClient::new(options, 1024);
    let (tx, mut arrivals) = mpsc::unbounded_channel();
    let poller = tokio::spawn(async move {
        while let Ok(event) = eventloop.poll().await {
            if matches!(event, Event::Incoming(Packet::Publish(_))) && tx.send(()).is_err() {
                return;
            }
        }
    });
    client.subscribe("meters/+/senml", QoS::AtLeastOnce).await.expect("subscribe");
    loop {
        publisher.publish(&topic(PayloadFormat::Senml), b"[]".to_vec()).await.expect("queued");
        if tokio::time::timeout(Duration::from_millis(250), arrivals.recv()).await.is_ok() {
            break;
        }
    }
    publisher.flush().await;
    while tokio::time::timeout(Duration::from_millis(300), arrivals.recv()).await.is_ok() {}
    let mut base = Vec::new();
    for _ in 0..rounds {
        let took = publish_and_wait(&mut publisher, &mut meter, messages, async |n| {
            for _ in 0..n {
                if !matches!(tokio::time::timeout(step, arrivals.recv()).await, Ok(Some(()))) {
                    return false;
                }
            }
            true
        })
        .await;
        base.push((messages * per_message) as f64 / took.as_secs_f64());
    }
    poller.abort();

    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (ours, base) = (median(&mut ours), median(&mut base));
    println!(
        "\nend to end through mosquitto, SenML, {per_message} records per message, QoS 1, {messages} messages per round, median of {rounds} rounds"
    );
    println!("  baseline: bare rumqttc QoS 1 subscriber  {:>9.0} msg/s ({:>9.0} records-equivalent/s)", base / per_message as f64, base);
    println!(
        "  adapter: decode, hand off, then ack     {:>9.0} msg/s ({:>9.0} records/s)   ratio {:.2}",
        ours / per_message as f64,
        ours,
        ours / base
    );
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` does not and wants a quick smoke run.
    let full = std::env::args().any(|a| a == "--bench");
    let mut c = Criterion::default().configure_from_args();
    parse_map(full, &mut c);
    c.final_summary();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(end_to_end(full));
}
