//! Fault tests of the hub: killed with SIGKILL and restarted during a steady stream, every value
//! the RTU produced reaches the hub's store exactly once; stopped gracefully during a stream, it
//! acknowledges every batch it stored before it ends.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gridtrust::chain::{DemoKeys, provision};
use gridtrust_edge::Edge;
use gridtrust_edge::config::EdgeConfig;
use gridtrust_iec104::asdu::{Element, InformationObject, Qds};
use gridtrust_iec104::server::{Server, ServerConfig};
use gridtrust_model::{PointId, Timestamp, Value};
use gridtrust_store::HubStore;

/// The hub as a separate process, killed when dropped.
struct HubProcess(Child);

impl HubProcess {
    fn start(config: &Path) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_gridtrust"))
            .args(["hub", "--config"])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("hub starts");
        Self(child)
    }

    fn sigkill(&mut self) {
        self.0.kill().expect("SIGKILL");
        self.0.wait().expect("reaped");
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
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
            identity("edge-1"),
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

    // Wait until the edge's queue has drained into the restarted hub.
    let drain = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if edge.pending_batches() == 0 && drain.elapsed() > Duration::from_secs(1) {
            break;
        }
        assert!(drain.elapsed() < Duration::from_secs(60), "queue did not drain: {} batches pending", edge.pending_batches());
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

/// A graceful stop finishes the batches in flight: each batch the hub stored is acknowledged to
/// the edge before the session closes, so the restarted hub receives none of them again; and it
/// ends every session and task, so the same process can open the store again at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_hub_stop_acknowledges_every_batch_it_stored() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
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
    let hub_config = gridtrust_hub::HubConfig::load(&d.join("hub.toml")).unwrap();
    std::fs::write(
        d.join("edge.toml"),
        format!(
            "edge_id = \"edge-1\"\ndata_dir = \"edge-data\"\n{}[hub]\naddress = \"127.0.0.1:{edge_port}\"\n[batch]\nmax_records = 20\nmax_delay_ms = 2\n",
            identity("edge-1"),
        ),
    )
    .unwrap();
    let edge_config = EdgeConfig::load(&d.join("edge.toml")).unwrap();
    let ((port, data_rx), io) = gridtrust_adapter::adapter_channels("stream", Vec::new());
    let edge = Edge::start_with_ports(&edge_config, vec![(port, data_rx)]).await.unwrap();
    let point = PointId::new("LD0/MMXU1.TotW").unwrap();
    let stream = tokio::spawn(async move {
        for i in 0u32.. {
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
            if i % 20 == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    });

    let mut duplicates = Vec::new();
    let mut hub = gridtrust_hub::Hub::start(&hub_config).await.unwrap();
    for round in 0..5 {
        // Batches flowing: some are being stored and acknowledged when the stop comes.
        let started = Instant::now();
        while hub.stats().batches_applied.load(std::sync::atomic::Ordering::Relaxed) < 50 {
            assert!(started.elapsed() < Duration::from_secs(20), "round {round}: the edge never sent to the hub");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(hub.stop(Duration::from_secs(5)).await, "round {round}: the hub's sessions did not end within the stop bound");
        // Sessions that outlived an abrupt stop would still hold the store.
        let started = Instant::now();
        hub = loop {
            match gridtrust_hub::Hub::start(&hub_config).await {
                Ok(h) => break h,
                Err(e) => assert!(started.elapsed() < Duration::from_secs(10), "round {round}: the hub does not start again: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        // The edge reconnects and sends what was not acknowledged: none of it may be stored already.
        let started = Instant::now();
        while hub.stats().batches_applied.load(std::sync::atomic::Ordering::Relaxed) < 20 {
            assert!(started.elapsed() < Duration::from_secs(20), "round {round}: the edge never came back");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        duplicates.push(hub.stats().batches_duplicate.load(std::sync::atomic::Ordering::Relaxed));
    }
    stream.abort();
    edge.shutdown();
    hub.shutdown();
    assert!(
        duplicates.iter().all(|&n| n == 0),
        "after each graceful stop the restarted hub received batches it had stored but not acknowledged: {duplicates:?} per round"
    );
}
