//! Our server to our client over loopback: how many information objects per second reach the
//! client when a control-centre connector hands the server bursts of values (batches of 1,000
//! floats at consecutive addresses, time-tagged, as the cc gets them from one verified batch).
//!
//! Two paths in the same run: the previous one, one `update` per value (one object per ASDU),
//! and `update_many` per burst (packed: SQ=1 runs, [`Asdu::pack`]). Each is run five times; the
//! table prints medians of objects/s and ASDUs/s and the ratio of the packed path to the
//! previous one.
//!
//! `cargo bench -p gridtrust-iec104 --bench server_burst`

use std::time::{Duration, Instant};

use gridtrust_iec104::asdu::{Element, InformationObject, Qds};
use gridtrust_iec104::client::{Client, ClientConfig, ClientEvent};
use gridtrust_iec104::server::{Server, ServerConfig};
use gridtrust_iec104::time::Cp56Time2a;

const OBJECTS: u32 = 100_000;
const BURST: u32 = 1_000;
const RUNS: usize = 5;

#[derive(Clone, Copy, PartialEq)]
enum Path {
    OnePerAsdu,
    Packed,
}

/// Sends `OBJECTS` values on `path` and returns (seconds until the client has all, ASDUs seen).
async fn run(path: Path) -> (f64, u64) {
    let config = ServerConfig { max_queue: 1_000_000, ..ServerConfig::default() };
    let (server, _commands) = Server::bind("127.0.0.1:0".parse().expect("address"), None, config).await.expect("bind");
    let (_client, mut events) = Client::connect(server.local_addr(), None, ClientConfig::default()).await.expect("connect");
    // Let the link start before timing.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t = Cp56Time2a::from_unix_ms(1_715_953_512_345).expect("time in range");
    let value = move |ioa: u32| InformationObject::new(ioa, Element::ShortFloat { value: ioa as f32, quality: Qds::GOOD, time: Some(t) });
    let start = Instant::now();
    let sender = tokio::spawn(async move {
        for burst in 0..OBJECTS / BURST {
            let objects: Vec<InformationObject> = (0..BURST).map(|i| value(1 + burst * BURST + i)).collect();
            match path {
                Path::OnePerAsdu => {
                    for o in objects {
                        server.update(o).await.expect("update");
                    }
                }
                Path::Packed => server.update_many(objects).await.expect("update_many"),
            }
        }
        server
    });
    let (mut objects, mut asdus) = (0u64, 0u64);
    while objects < u64::from(OBJECTS) {
        match tokio::time::timeout(Duration::from_secs(30), events.recv()).await {
            Ok(Some(ClientEvent::Asdu(a))) => {
                asdus += 1;
                objects += a.objects.len() as u64;
            }
            other => panic!("the client stopped receiving after {objects} objects: {other:?}"),
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    sender.await.expect("sender").shutdown().await;
    (elapsed, asdus)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let mut figures = Vec::new();
    for (name, path) in [("one object per ASDU (previous path)", Path::OnePerAsdu), ("packed bursts (update_many)", Path::Packed)] {
        let mut objects_per_s = Vec::new();
        let mut asdus_per_s = Vec::new();
        for _ in 0..RUNS {
            let (seconds, asdus) = rt.block_on(run(path));
            objects_per_s.push(f64::from(OBJECTS) / seconds);
            asdus_per_s.push(asdus as f64 / seconds);
        }
        figures.push((name, median(objects_per_s), median(asdus_per_s)));
    }
    println!();
    println!("our server -> our client, loopback, {OBJECTS} time-tagged floats in bursts of {BURST}, median of {RUNS} runs");
    println!("{:<40} {:>14} {:>12}", "path", "objects/s", "ASDUs/s");
    for (name, objects, asdus) in &figures {
        println!("{name:<40} {objects:>14.0} {asdus:>12.0}");
    }
    println!("ratio packed / previous (objects/s): {:.1}x", figures[1].1 / figures[0].1);
}
