//! A hub started with the demo grid as `[model]` and `[estimation]` runs the measurement checks
//! on what edges send: `GET /api/estimation` serves the estimate (passing the bad-data test, with
//! the security index per bus), and a tampered feeder value raises a `bad-data` alarm naming the
//! point. The values are the demo substation simulator's, sent as signed batches over the real
//! edge protocol (mutual TLS). The same alarms become incidents at `GET /api/incidents`, with
//! the tie switch proposed once the feeder's breaker is open, acknowledged by an operator.

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
    let users: String = [("viewer", "VIEWER"), ("operator", "OPERATOR"), ("auditor", "SECAUD")]
        .iter()
        .map(|(name, role)| {
            let hash = hash_password(&format!("{name}-pw"), HashCost::TestOnly).unwrap();
            format!("[[user]]\nname = \"{name}\"\npassword_hash = \"{hash}\"\nroles = [\"{role}\"]\n\n")
        })
        .collect();
    std::fs::write(dir.join("users.toml"), users).unwrap();
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
    let cookie = login(api, "viewer").await;
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

#[tokio::test]
async fn a_tampered_feeder_value_becomes_an_incident_that_an_operator_acknowledges() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_hub_config(dir.path());
    let hub = Hub::start(&HubConfig::load(&config).unwrap()).await.unwrap();
    let api = hub.api_addr.unwrap();
    let viewer = login(api, "viewer").await;
    let (status, _, _) = http(api, "GET", "/api/incidents", None, None).await;
    assert_eq!(status, 401, "logged-in roles only");
    let (status, _, body) = http(api, "GET", "/api/incidents", Some(&viewer), None).await;
    assert_eq!((status, body.as_str()), (200, "[]"));

    let mut edge = Edge::connect(dir.path(), hub.edge_addr).await;
    let values = substation_values(0.0);
    edge.send(&values).await;
    wait_for(api, "/api/estimation", &viewer, |r| measured(r) == 16).await;
    let (point, value) = values.iter().find(|(p, _)| p.as_str() == "F1/MMXU1.TotW").unwrap();
    edge.send(&[(point.clone(), PointValue::Float((value.as_f64() * 1.5) as f32))]).await;
    let incidents = wait_for(api, "/api/incidents", &viewer, |i| !i.as_array().unwrap().is_empty()).await;
    let incident = &incidents[0];
    assert_eq!(incident["feeders"], json!(["F1"]), "{incident}");
    assert_eq!(incident["alarms"][0]["kind"], "bad-data");
    assert_eq!(incident["alarms"][0]["evidence"], "/api/evidence?point=F1/MMXU1.TotW");
    let first = &incident["recommendations"][0];
    assert_eq!((first["action"].as_str(), first["target"].as_str()), (Some("block-point"), Some("F1/MMXU1.TotW")), "{incident}");
    assert!(first["reason"].as_str().unwrap().contains("normalised residual"), "{first}");
    assert!(incident["recommendations"].as_array().unwrap().iter().all(|r| r["action"] != "reroute"), "F1 is supplied: {incident}");
    assert_eq!(incident["supply"]["unsupplied_mw"], 0.0);

    // F1's breaker opens: its 3.1 MW are without supply and the tie switch TS1 is proposed.
    let breaker = PointId::new("F1/XCBR1.Pos").unwrap();
    edge.send(&[(breaker, PointValue::Double(gridtrust_model::DoublePoint::Off))]).await;
    let incidents = wait_for(api, "/api/incidents", &viewer, |i| i[0]["supply"]["unsupplied_mw"].as_f64().unwrap_or(0.0) > 3.0).await;
    let incident = &incidents[0];
    let reroute = incident["recommendations"].as_array().unwrap().iter().find(|r| r["action"] == "reroute").expect("re-route proposed");
    assert_eq!(reroute["target_name"], "TS1", "{reroute}");
    assert!(reroute["reason"].as_str().unwrap().contains("power flow"), "{reroute}");
    // And their customers, as the model counts them (`EnergyConsumer.customerCount`).
    let model = gridtrust_sim::grid::DemoGrid::load().unwrap().cgmes;
    let f1_loads = ["SS11 load", "SS12 load", "SS13 load"];
    let customers_of =
        |name: &str| model.loads.iter().find(|l| l.equipment.identity.name.as_deref() == Some(name)).and_then(|l| l.customers);
    let f1_customers: u32 = f1_loads.iter().map(|n| customers_of(n).expect("the demo grid counts customers")).sum();
    let supply = &incident["supply"];
    assert_eq!(
        (supply["unsupplied_customers"].as_u64(), supply["total_customers"].as_u64()),
        (Some(f1_customers.into()), Some(f1_customers.into())),
        "{supply}"
    );
    for load in supply["loads"].as_array().unwrap() {
        let name = load["name"].as_str().unwrap();
        assert!(f1_loads.contains(&name) && load["supplied"] == false, "{load}");
        assert_eq!(load["customers"].as_u64(), customers_of(name).map(u64::from), "{load}");
    }
    assert!(reroute["effect"].as_str().unwrap().contains(&format!("{f1_customers} customers")), "{reroute}");

    // Acknowledging: not for viewers, once for an operator, signed (by the hub's key: the
    // operator has no passkey and the hub no console key), in the transparency log and in the
    // audit trail.
    let id = incident["id"].as_u64().unwrap();
    let path = format!("/api/incidents/{id}/decide");
    let acknowledge = json!({ "step": "acknowledge" }).to_string();
    let (status, _, body) = http(api, "POST", &path, Some(&viewer), Some(&acknowledge)).await;
    assert_eq!(status, 403, "{body}");
    let operator = login(api, "operator").await;
    let (status, _, body) = http(api, "POST", &path, Some(&operator), Some(&acknowledge)).await;
    assert_eq!(status, 200, "{body}");
    let acked: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(acked["acknowledged"]["by"], "operator");
    let decision = &acked["decisions"][0];
    assert_eq!(
        (decision["step"].as_str(), decision["proof"].as_str(), decision["by"].as_str()),
        (Some("acknowledge"), Some("hub"), Some("operator"))
    );
    let log_index = decision["log_index"].as_u64().unwrap();
    let (status, _, _) = http(api, "POST", &path, Some(&operator), Some(&acknowledge)).await;
    assert_eq!(status, 409);
    let (status, _, _) = http(api, "POST", "/api/incidents/999999/decide", Some(&operator), Some(&acknowledge)).await;
    assert_eq!(status, 404);
    // Carrying out an action needs the person's own signature: without a passkey or a console
    // key the hub refuses, and logs nothing.
    let rank = reroute["rank"].as_u64().unwrap();
    let execute = json!({ "step": "execute", "rank": rank }).to_string();
    let (status, _, body) = http(api, "POST", &path, Some(&operator), Some(&execute)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("passkey"), "{body}");
    let (_, _, body) = http(api, "GET", "/api/incidents", Some(&viewer), None).await;
    let listed: Value = serde_json::from_str(&body).unwrap();
    let stored = listed.as_array().unwrap().iter().find(|i| i["id"] == id).unwrap();
    assert_eq!(stored["acknowledged"]["by"], "operator");
    assert_eq!(stored["decisions"].as_array().unwrap().len(), 1, "the refused action is not kept");
    // The log holds the signed decision at the index the incident names.
    let auditor = login(api, "auditor").await;
    let (status, _, body) = http(api, "GET", &format!("/api/log/entries?from={log_index}&count=1"), Some(&auditor), None).await;
    assert_eq!(status, 200, "{body}");
    let entries: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(entries[0]["kind"], "decision", "{entries}");
    assert!(entries[0]["summary"].as_str().unwrap().contains(&format!("incident {id}")), "{entries}");
    let (_, _, body) = http(api, "GET", "/api/audit", Some(&auditor), None).await;
    let audit: Value = serde_json::from_str(&body).unwrap();
    let decided: Vec<&Value> = audit.as_array().unwrap().iter().filter(|e| e["action"] == "incident_decision").collect();
    let outcomes: Vec<(&str, &str)> = decided.iter().map(|e| (e["actor"].as_str().unwrap(), e["outcome"].as_str().unwrap())).collect();
    assert_eq!(outcomes.len(), 5, "{audit}");
    for expected in [("viewer", "refused"), ("operator", "ok"), ("operator", "failed")] {
        assert!(outcomes.contains(&expected), "{expected:?} in {audit}");
    }
    let ok = decided.iter().find(|e| e["outcome"] == "ok").unwrap();
    assert!(ok["detail"].as_str().unwrap().contains(&format!("log entry {log_index}")), "{ok}");
    assert!(hub.stop(Duration::from_secs(5)).await);
}
