//! A hub started with the demo grid as `[model]` and `[estimation]` runs the measurement checks
//! on what edges send: `GET /api/estimation` serves the estimate (passing the bad-data test, with
//! the security index per bus), and a tampered feeder value raises a `bad-data` alarm naming the
//! point. The values are the demo substation simulator's, sent as signed batches over the real
//! edge protocol (mutual TLS).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use gridtrust_api::auth::{HashCost, hash_password};
use gridtrust_gridmodel::{ModelInputs, import};
use gridtrust_hub::{Hub, HubConfig};
use gridtrust_model::{PointId, Value as PointValue};
use gridtrust_sim::SubstationSpec;
use gridtrust_sim::substation::Substation;

mod support;
use support::{http, login};
#[path = "support/edge.rs"]
mod edge;
use edge::Edge;

const TIMEOUT: Duration = Duration::from_secs(30);

/// Writes the demo grid, its imported model, PKI, users and `hub.toml` into `dir`.
fn write_hub_config(dir: &Path) -> PathBuf {
    let files = gridtrust_sim::grid::write_files(&dir.join("model")).unwrap();
    let imported = import(&ModelInputs { scl: vec![files.scl.clone()], cgmes: files.cgmes.clone(), mapping: None }).unwrap();
    std::fs::write(dir.join("model.json"), imported.model.to_json()).unwrap();
    let hash = hash_password("viewer-pw", HashCost::TestOnly).unwrap();
    std::fs::write(dir.join("users.toml"), format!("[[user]]\nname = \"viewer\"\npassword_hash = \"{hash}\"\nroles = [\"VIEWER\"]\n"))
        .unwrap();
    edge::write_pki_and_registry(dir, &["F1", "F2", "T1"]);
    let cgmes = files.cgmes.iter().map(|p| format!("{:?}", p.display().to_string())).collect::<Vec<_>>().join(", ");
    let config = dir.join("hub.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"hub-data\"\nedge_listen = \"127.0.0.1:0\"\ncc_listen = \"127.0.0.1:0\"\n\n\
             [identity]\nca = \"pki/ca.crt.pem\"\ncrl = \"pki/crl.pem\"\ncertificate = \"pki/hub.crt.pem\"\nkey = {{ kind = \"software\", path = \"pki/hub.key.pem\" }}\n\n\
             [authority]\nregistry = \"registry.signed\"\n\n[api]\nlisten = \"127.0.0.1:0\"\nusers = \"users.toml\"\nplain_http_on_loopback = true\n\n\
             [model]\nfile = \"model.json\"\n\n[estimation]\ncgmes = [{cgmes}]\ninterval_s = 1\n"
        ),
    )
    .unwrap();
    config
}

/// The simulated substation's values at `t` (statuses included) as (point, value).
fn substation_values(t: f64) -> Vec<(PointId, PointValue)> {
    let mut sub = Substation::new(SubstationSpec::default());
    let names: std::collections::HashMap<u32, PointId> = sub.points().into_iter().map(|p| (p.ioa, p.id)).collect();
    let mut values = sub.measure(t);
    values.extend(sub.statuses());
    values.into_iter().map(|(ioa, v)| (names[&ioa].clone(), v)).collect()
}

/// Polls `path` until `done` holds for its JSON (200) or the timeout passes.
async fn wait_for(api: SocketAddr, path: &str, cookie: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let (status, _, body) = http(api, "GET", path, Some(cookie), None).await;
        if status == 200 {
            let v: Value = serde_json::from_str(&body).unwrap();
            if done(&v) {
                return v;
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "{path}: still {status} {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn measured(report: &Value) -> usize {
    report["measurements"].as_array().map_or(0, |m| m.iter().filter(|m| m["origin"] == "measured").count())
}

#[tokio::test]
async fn the_hub_serves_the_estimate_and_alarms_on_a_tampered_feeder_value() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_hub_config(dir.path());
    let hub = Hub::start(&HubConfig::load(&config).unwrap()).await.unwrap();
    let api = hub.api_addr.unwrap();
    let cookie = login(api).await;
    let (status, _, _) = http(api, "GET", "/api/estimation", None, None).await;
    assert_eq!(status, 401, "logged-in roles only");

    let mut edge = Edge::connect(dir.path(), hub.edge_addr).await;
    let values = substation_values(0.0);
    edge.send(&values).await;
    let report = wait_for(api, "/api/estimation", &cookie, |r| measured(r) == 16).await;
    assert_eq!(report["passed"], true, "{report}");
    assert!(report["objective"].as_f64().unwrap() < report["threshold"].as_f64().unwrap());
    let buses = report["buses"].as_array().unwrap();
    assert!(buses.len() >= 6, "{report}");
    assert!(buses.iter().all(|b| b["magnitude_attack"] == json!({"kind": "exact", "measurements": 16})), "{report}");

    // The feeder 1 active power, 1.5 times what the grid carries.
    let (point, value) = values.iter().find(|(p, _)| p.as_str() == "F1/MMXU1.TotW").unwrap();
    edge.send(&[(point.clone(), PointValue::Float((value.as_f64() * 1.5) as f32))]).await;
    let alarms = wait_for(api, "/api/alarms", &cookie, |a| a.as_array().unwrap().iter().any(|a| a["kind"] == "bad-data")).await;
    let alarm = alarms.as_array().unwrap().iter().find(|a| a["kind"] == "bad-data").unwrap();
    assert_eq!(alarm["point"], "F1/MMXU1.TotW", "{alarms}");
    assert_eq!(alarm["severity"], "major");
    let report = wait_for(api, "/api/estimation", &cookie, |r| r["passed"] == false).await;
    let bad: Vec<&Value> = report["measurements"].as_array().unwrap().iter().filter(|m| m["bad_data"] == true).collect();
    assert_eq!(bad[0]["point"], "F1/MMXU1.TotW", "{report}");
    assert!(hub.stop(Duration::from_secs(5)).await);
}

#[tokio::test]
async fn an_unknown_protected_point_is_a_start_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_hub_config(dir.path());
    let text = std::fs::read_to_string(&config).unwrap() + "protected = [\"F1/MMXU1.PhV.phsA\", \"F1/MMXU1.PhV.phsX\"]\n";
    std::fs::write(&config, text).unwrap();
    let error = Hub::start(&HubConfig::load(&config).unwrap()).await.err().unwrap().to_string();
    assert!(error.contains("estimation.protected") && error.contains("F1/MMXU1.PhV.phsX") && !error.contains("phsA"), "{error}");
}

#[tokio::test]
async fn estimation_without_a_model_is_a_start_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_hub_config(dir.path());
    let text = std::fs::read_to_string(&config).unwrap().replace("[model]\nfile = \"model.json\"\n", "");
    std::fs::write(&config, text).unwrap();
    let error = HubConfig::load(&config).unwrap_err().to_string();
    assert!(error.contains("estimation") && error.contains("[model]"), "{error}");
}
