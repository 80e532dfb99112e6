//! Fault tests of the hub: killed with SIGKILL and restarted during a steady stream, every value
//! the RTU produced reaches the hub's store exactly once; stopped gracefully during a stream, it
//! acknowledges every batch it stored before it ends.

use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

#[path = "support/common.rs"]
mod common;

use common::HubProcess;
use gridtrust::chain::{DemoKeys, provision};
use gridtrust_edge::Edge;
use gridtrust_edge::config::EdgeConfig;
use gridtrust_iec104::asdu::{Element, InformationObject, Qds};
use gridtrust_iec104::server::{Server, ServerConfig};
use gridtrust_model::{PointId, Timestamp, Value};
use gridtrust_store::HubStore;

/// Development identities, a point registry granting LD0 to edge-1 and `hub.toml` in `d`;
/// returns the hub's edge port and edge-1's `[identity]` table.
fn write_hub_toml(d: &Path) -> (u16, String) {
    let identities = provision(&d.join("pki"), &DemoKeys::Software).unwrap();
    let identity = |name: &str| identities.iter().find(|(n, _)| *n == name).unwrap().1.clone();
    let (edge_port, cc_port) = (free_port(), free_port());
    gridtrust::registry::write_dev_registry(&d.join("pki"), 1, &[("LD0", "edge-1")], d).unwrap();
    std::fs::write(
        d.join("hub.toml"),
        format!(
            "data_dir = \"hub-data\"\nedge_listen = \"127.0.0.1:{edge_port}\"\ncc_listen = \"127.0.0.1:{cc_port}\"\n{}\n{}",
            identity("hub"),
            gridtrust::registry::DEV_AUTHORITY_TABLE
        ),
    )
    .unwrap();
    (edge_port, identity("edge-1"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_reaches_the_store_exactly_once_across_a_hub_sigkill() {
    const VALUES: u32 = 20_000;
    const RATE_PER_S: u32 = 5_000;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (edge_port, edge_identity) = write_hub_toml(d);
    let mut hub = HubProcess::start(&d.join("hub.toml"));

    // The RTU: one float point whose value counts up, sent spontaneously.
    let (rtu, _commands) =
        Server::bind("127.0.0.1:0".parse().unwrap(), None, ServerConfig { max_queue: 100_000, ..ServerConfig::default() }).await.unwrap();
    let initial = Element::ShortFloat { value: -1.0, quality: Qds::GOOD, time: None };
    rtu.register_point(InformationObject::new(1, initial), &[]).await.unwrap();
    std::fs::write(d.join("map.toml"), "[[point]]\nid = \"LD0/MMXU1.TotW\"\nioa = 1\ntype = \"float\"\n").unwrap();
    std::fs::write(
        d.join("edge.toml"),
        format!(
            "edge_id = \"edge-1\"\ndata_dir = \"edge-data\"\n{}[hub]\naddress = \"127.0.0.1:{edge_port}\"\n[[rtu]]\nname = \"rtu\"\naddress = \"{}\"\ncommon_address = 1\nmapping = \"map.toml\"\ninterrogation_period_s = 3600\n",
            edge_identity,
            rtu.local_addr()
        ),
    )
    .unwrap();
    let edge = Edge::start(EdgeConfig::load(&d.join("edge.toml")).unwrap()).await.unwrap();

    // Wait until the edge's link to the RTU is started (its first GI has been answered).
    let started = Instant::now();
    while !rtu.status().await.unwrap().iter().any(|g| g.active.is_some()) {
        assert!(started.elapsed() < Duration::from_secs(10), "edge never connected to the RTU");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Stream at a steady rate; kill the hub a third of the way in, restart it at two thirds.
    let period = Duration::from_secs(1) / RATE_PER_S;
    let t0 = Instant::now();
    for i in 0..VALUES {
        if i == VALUES / 3 {
            hub.sigkill();
        }
        if i == 2 * VALUES / 3 {
            hub = HubProcess::start(&d.join("hub.toml"));
        }
        rtu.update(InformationObject::new(1, Element::ShortFloat { value: i as f32, quality: Qds::GOOD, time: None })).await.unwrap();
        let due = t0 + period * (i + 1);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
    }

    // Wait until the RTU has let go of every value (the edge acknowledged it, so it is in the
    // edge's durable queue) and the edge's queue has drained into the restarted hub. The edge's
    // queue alone can be empty while the RTU still holds the last values unacknowledged.
    let drain = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let groups = rtu.status().await.unwrap();
        assert!(groups.iter().all(|g| g.dropped == 0), "the RTU dropped values: {groups:?}");
        let rtu_holds: usize = groups.iter().map(|g| g.queued + g.in_flight).sum();
        if rtu_holds == 0 && edge.pending_batches() == 0 {
            break;
        }
        assert!(
            drain.elapsed() < Duration::from_secs(60),
            "did not drain: the RTU holds {rtu_holds} ASDUs, the edge {} batches",
            edge.pending_batches()
        );
    }
    edge.shutdown();
    hub.sigkill();

    let store = HubStore::open(d.join("hub-data").join("hub.redb")).unwrap();
    let point = PointId::new("LD0/MMXU1.TotW").unwrap();
    let records = store.history(&point, Timestamp(i64::MIN), Timestamp(i64::MAX), usize::MAX).unwrap();
    let mut seen = vec![0u32; VALUES as usize];
    for r in &records {
        let Value::Float(v) = r.value else { panic!("unexpected value {:?}", r.value) };
        if v >= 0.0 {
            seen[v as usize] += 1;
        }
    }
    let missing: Vec<usize> = seen.iter().enumerate().filter(|(_, n)| **n == 0).map(|(i, _)| i).collect();
    let doubled: Vec<usize> = seen.iter().enumerate().filter(|(_, n)| **n > 1).map(|(i, _)| i).collect();
    assert!(missing.is_empty(), "{} values lost, first {:?}", missing.len(), &missing[..missing.len().min(10)]);
    assert!(doubled.is_empty(), "{} values stored twice, first {:?}", doubled.len(), &doubled[..doubled.len().min(10)]);
    let mut seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), records.len(), "no record seq stored twice");
    eprintln!("{} values streamed across a hub SIGKILL; {} records stored, none lost, none doubled", VALUES, records.len());
}

/// A hub (started by the test) and an edge in this process, fed `burst` numbered values every
/// `period` by a stand-in adapter; batches of at most 20 records.
struct InProcessChain {
    _dir: tempfile::TempDir,
    hub_config: gridtrust_hub::HubConfig,
    edge: Edge,
    stream: tokio::task::JoinHandle<()>,
}

impl InProcessChain {
    async fn start(burst: u32, period: Duration) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (edge_port, edge_identity) = write_hub_toml(d);
        let hub_config = gridtrust_hub::HubConfig::load(&d.join("hub.toml")).unwrap();
        std::fs::write(
            d.join("edge.toml"),
            format!(
                "edge_id = \"edge-1\"\ndata_dir = \"edge-data\"\n{}[hub]\naddress = \"127.0.0.1:{edge_port}\"\n[batch]\nmax_records = 20\nmax_delay_ms = 2\n",
                edge_identity,
            ),
        )
        .unwrap();
        let edge_config = EdgeConfig::load(&d.join("edge.toml")).unwrap();
        let ((port, data_rx), io) = gridtrust_adapter::adapter_channels("stream", Vec::new());
        let edge = Edge::start_with_ports(&edge_config, vec![(port, data_rx)]).await.unwrap();
        let point = PointId::new("LD0/MMXU1.TotW").unwrap();
        let stream = tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            for i in 0u32.. {
                if i % burst == 0 {
                    tick.tick().await;
                }
                let datum = gridtrust_adapter::Datum {
                    point: point.clone(),
                    value: Value::Float(i as f32),
                    quality: gridtrust_model::Quality::GOOD,
                    source_time: None,
                    received_at: Timestamp::now(),
                };
                if io.data.send(datum).await.is_err() {
                    return;
                }
            }
        });
        Self { _dir: dir, hub_config, edge, stream }
    }

    async fn start_hub(&self) -> gridtrust_hub::Hub {
        // A hub stopped abruptly in this process may still hold its store for a moment.
        let started = Instant::now();
        loop {
            match gridtrust_hub::Hub::start(&self.hub_config).await {
                Ok(h) => return h,
                Err(e) => assert!(started.elapsed() < Duration::from_secs(10), "the hub does not start again: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn stop(self) {
        self.stream.abort();
        self.edge.shutdown();
    }
}

fn applied(hub: &gridtrust_hub::Hub) -> u64 {
    hub.stats().batches_applied.load(std::sync::atomic::Ordering::Relaxed)
}

/// A graceful stop finishes the batches in flight: each batch the hub stored is acknowledged to
/// the edge before the session closes, so the restarted hub receives none of them again; and it
/// ends every session and task, so the same process can open the store again at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_hub_stop_acknowledges_every_batch_it_stored() {
    let chain = InProcessChain::start(20, Duration::from_millis(1)).await;
    let mut duplicates = Vec::new();
    let mut hub = chain.start_hub().await;
    for round in 0..5 {
        // Batches flowing: some are being stored and acknowledged when the stop comes.
        let started = Instant::now();
        while applied(&hub) < 50 {
            assert!(started.elapsed() < Duration::from_secs(20), "round {round}: the edge never sent to the hub");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(hub.stop(Duration::from_secs(5)).await, "round {round}: the hub's sessions did not end within the stop bound");
        hub = chain.start_hub().await;
        // The edge reconnects and sends what was not acknowledged: none of it may be stored already.
        let started = Instant::now();
        while applied(&hub) < 20 {
            assert!(started.elapsed() < Duration::from_secs(20), "round {round}: the edge never came back");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        duplicates.push(hub.stats().batches_duplicate.load(std::sync::atomic::Ordering::Relaxed));
    }
    chain.stop();
    hub.shutdown();
    assert!(
        duplicates.iter().all(|&n| n == 0),
        "after each graceful stop the restarted hub received batches it had stored but not acknowledged: {duplicates:?} per round"
    );
}

/// After an outage the edge's backlog reaches the hub at least twice as fast as new batches
/// arrive (the hub stores and logs each group of waiting batches in one transaction), so a
/// backlog shrinks instead of growing into the next outage. Prints both rates and their ratio.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_drains_at_least_twice_as_fast_as_batches_arrive() {
    // 2,000 values/s in batches of 20: about 100 batches/s.
    let chain = InProcessChain::start(20, Duration::from_millis(10)).await;
    let hub = chain.start_hub().await;
    let warm = Instant::now();
    while applied(&hub) < 100 {
        assert!(warm.elapsed() < Duration::from_secs(20), "the edge never sent to the hub");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Ingest rate, measured with the hub keeping up.
    let (t0, a0) = (Instant::now(), applied(&hub));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let ingest = (applied(&hub) - a0) as f64 / t0.elapsed().as_secs_f64();
    // An outage of 10 s builds the backlog in the edge's queue.
    assert!(hub.stop(Duration::from_secs(5)).await);
    tokio::time::sleep(Duration::from_secs(10)).await;
    let backlog = chain.edge.pending_batches();
    let hub = chain.start_hub().await;
    let t1 = Instant::now();
    while chain.edge.pending_batches() > 20 {
        assert!(t1.elapsed() < Duration::from_secs(60), "the backlog did not drain: {} batches pending", chain.edge.pending_batches());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let drain_time = t1.elapsed().as_secs_f64();
    let drained = applied(&hub) as f64 / drain_time;
    let ratio = drained / ingest;
    eprintln!(
        "backlog of {backlog} batches after a 10 s outage: drained in {drain_time:.2} s at {drained:.0} batches/s, ingest {ingest:.0} batches/s (baseline, same run): {ratio:.1}x"
    );
    chain.stop();
    hub.shutdown();
    assert!(ratio >= 2.0, "the backlog drains at only {ratio:.1}x the ingest rate ({drained:.0} vs {ingest:.0} batches/s)");
}
