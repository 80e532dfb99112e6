//! Trust signals that are not a failed check but an absence or a disagreement become alarms:
//! an edge the registry names that is not heard from (`stale`), and an edge whose clock is off
//! (`clock`). Each test runs a hub in this process and speaks the real edge protocol to it
//! (mutual TLS, signed batches) as edge-1.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gridtrust_hub::alarms::{AlarmKind, Severity};
use gridtrust_hub::{Hub, HubConfig};
use gridtrust_model::{PointId, Timestamp, Value};

#[path = "support/edge.rs"]
mod edge;
use edge::{Edge, hello, write_pki_and_registry};

const TIMEOUT: Duration = Duration::from_secs(20);

/// A hub for edge-1 (granted `F1`) that allows `silence_s` of silence and 5 s of clock skew.
fn write_hub_config(dir: &Path, silence_s: u64) -> PathBuf {
    write_pki_and_registry(dir, &["F1"]);
    let config = dir.join("hub.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"hub-data\"\nedge_listen = \"127.0.0.1:0\"\ncc_listen = \"127.0.0.1:0\"\nedge_silence_s = {silence_s}\nmax_clock_skew_s = 5\n\n\
             [identity]\nca = \"pki/ca.crt.pem\"\ncrl = \"pki/crl.pem\"\ncertificate = \"pki/hub.crt.pem\"\nkey = {{ kind = \"software\", path = \"pki/hub.key.pem\" }}\n\n\
             [authority]\nregistry = \"registry.signed\"\n"
        ),
    )
    .unwrap();
    config
}

/// Waits until the hub holds an alarm of `kind` whose message contains `text`; returns it.
async fn alarm(hub: &Hub, kind: AlarmKind, text: &str) -> gridtrust_hub::alarms::Alarm {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        if let Some(a) = hub.alarms(false).into_iter().find(|a| a.kind == kind && a.message.contains(text)) {
            return a;
        }
        let all: Vec<String> = hub.alarms(false).iter().map(|a| format!("[{}] {}", a.kind, a.message)).collect();
        assert!(tokio::time::Instant::now() < deadline, "no {kind} alarm with {text:?}; alarms: {all:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn value() -> Vec<(PointId, Value)> {
    vec![(PointId::new("F1/MMXU1.TotW").unwrap(), Value::Float(1.5))]
}

#[tokio::test]
async fn an_edge_the_registry_names_that_never_connects_is_alarmed_as_stale() {
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::start(&HubConfig::load(&write_hub_config(dir.path(), 1)).unwrap()).await.unwrap();
    let a = alarm(&hub, AlarmKind::Stale, "edge edge-1 has not connected").await;
    assert_eq!((a.source.as_str(), a.severity), ("edge-1", Severity::Major));
    assert!(hub.stop(Duration::from_secs(5)).await);
}

#[tokio::test]
async fn an_edge_that_falls_silent_is_alarmed_and_its_return_is_noted() {
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::start(&HubConfig::load(&write_hub_config(dir.path(), 1)).unwrap()).await.unwrap();
    let mut edge = Edge::connect(dir.path(), hub.edge_addr).await;
    edge.send(&value()).await;
    // The edge stops sending (no heartbeat): a dead path, or someone dropping its traffic.
    let silent = alarm(&hub, AlarmKind::Stale, "nothing from edge edge-1 for").await;
    assert_eq!(silent.severity, Severity::Major);
    assert!(hub.alarms(false).iter().all(|a| !a.message.contains("has not connected")), "it was heard once");
    drop(edge);
    let (_identity, _reader, _writer, last) = hello(dir.path(), hub.edge_addr).await;
    assert_eq!(last, Some(0));
    let back = alarm(&hub, AlarmKind::Stale, "edge edge-1 is heard again").await;
    assert_eq!(back.severity, Severity::Info);
    assert!(hub.stop(Duration::from_secs(5)).await);
}

#[tokio::test]
async fn an_edge_whose_clock_runs_ahead_is_alarmed_once_and_its_batches_are_still_stored() {
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::start(&HubConfig::load(&write_hub_config(dir.path(), 15)).unwrap()).await.unwrap();
    let mut edge = Edge::connect(dir.path(), hub.edge_addr).await;
    edge.send(&value()).await;
    edge.send_closed_at(&value(), Timestamp(Timestamp::now().0 + 3_000_000_000)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(hub.alarms(false).iter().all(|a| a.kind != AlarmKind::Clock), "3 s is within the allowed 5 s");

    let ahead = Timestamp(Timestamp::now().0 + 30_000_000_000);
    edge.send_closed_at(&value(), ahead).await;
    let a = alarm(&hub, AlarmKind::Clock, "edge edge-1's clock is ahead of the hub's").await;
    assert_eq!((a.source.as_str(), a.severity), ("edge-1", Severity::Major));
    edge.send_closed_at(&value(), Timestamp(ahead.0 + 1_000_000_000)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(hub.alarms(false).iter().filter(|a| a.kind == AlarmKind::Clock).count(), 1, "one alarm per episode");
    assert_eq!(hub.stats().batches_applied.load(std::sync::atomic::Ordering::SeqCst), 4, "the evidence still holds: stored");
    assert!(hub.stop(Duration::from_secs(5)).await);
}
