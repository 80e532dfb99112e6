//! A hub started with `[model] file` (built from the gridmodel fixture: an SCD placed on the
//! ENTSO-E MicroGrid NL CGMES model) serves the imported tree and points over HTTP, keeps points
//! it receives data for but the model does not know under an "unmodelled" substation, serves the
//! full model at `/api/model/full`, and refuses to start with a bad model file naming
//! `model.file`; serves the one-line diagram at `/api/model/diagram` with the DL positions of the
//! model (or an automatic layout when it has none) and the live switch positions. The data arrives as a signed batch over the real edge protocol (mutual TLS).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use gridtrust_api::auth::{HashCost, hash_password};
use gridtrust_gridmodel::{GridModel, ModelInputs, OneLine, energise, import};
use gridtrust_hub::{Hub, HubConfig};
use gridtrust_model::{DoublePoint, PointId, Value as PointValue};

/// A point the fixture's mapping file links to a CIM measurement, equipment and terminal.
const MODELLED: &str = "AMS_P1MEAS/MMXU1.TotW.mag.f[MX]";
/// A point the model does not know.
const UNMODELLED: &str = "F9/XCBR1.Pos";
mod support;
use support::{http, login};
#[path = "support/edge.rs"]
mod edge;
use edge::Edge;

fn crate_dir(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn fixture_model() -> GridModel {
    let base = "../../../shared/testdata/cgmes/MicroGrid/BaseCase";
    let inputs = ModelInputs {
        scl: vec![crate_dir("../gridmodel/testdata/microgrid_nl.scd")],
        cgmes: vec![
            crate_dir(&format!("{base}/CGMES_v2.4.15_MicroGridTestConfiguration_BC_NL_v2")),
            crate_dir(&format!("{base}/CGMES_v2.4.15_MicroGridTestConfiguration_BD_v2")),
            crate_dir("../gridmodel/testdata/microgrid_nl_measurements_EQ.xml"),
        ],
        mapping: Some(crate_dir("../gridmodel/testdata/microgrid_nl_mapping.toml")),
    };
    match import(&inputs) {
        Ok(imported) => imported.model,
        Err(e) => panic!("fixture import: {e}: {:?}", e.errors.iter().map(ToString::to_string).collect::<Vec<_>>()),
    }
}

fn identity_table(table: &str, name: &str) -> String {
    format!(
        "[{table}]\nca = \"pki/ca.crt.pem\"\ncrl = \"pki/crl.pem\"\ncertificate = \"pki/{name}.crt.pem\"\nkey = {{ kind = \"software\", path = \"pki/{name}.key.pem\" }}\n"
    )
}

/// Writes PKI, users and `hub.toml` (with `model_table` appended) into `dir`.
fn write_hub_config(dir: &Path, model_table: &str) -> PathBuf {
    edge::write_pki_and_registry(dir, &["AMS_P1MEAS", "AMS_P1CTRL", "F9"]);
    let hash = hash_password("viewer-pw", HashCost::TestOnly).unwrap();
    std::fs::write(dir.join("users.toml"), format!("[[user]]\nname = \"viewer\"\npassword_hash = \"{hash}\"\nroles = [\"VIEWER\"]\n"))
        .unwrap();
    let config = dir.join("hub.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"hub-data\"\nedge_listen = \"127.0.0.1:0\"\ncc_listen = \"127.0.0.1:0\"\n\n{}\n[authority]\nregistry = \"registry.signed\"\n\n[api]\nlisten = \"127.0.0.1:0\"\nusers = \"users.toml\"\nplain_http_on_loopback = true\n\n{model_table}",
            identity_table("identity", "hub")
        ),
    )
    .unwrap();
    config
}

/// Connects as edge-1 and sends one signed batch with a value for each point; returns once the
/// hub acknowledged it (stored).
async fn send_as_edge(dir: &Path, hub: SocketAddr, points: &[(&str, PointValue)]) {
    let values: Vec<(PointId, PointValue)> = points.iter().map(|(id, value)| (PointId::new(*id).unwrap(), *value)).collect();
    Edge::connect(dir, hub).await.send(&values).await;
}

async fn get_json(addr: SocketAddr, path: &str, cookie: &str) -> Value {
    let (status, _, body) = http(addr, "GET", path, Some(cookie), None).await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

#[tokio::test]
async fn the_hub_serves_the_imported_model_with_unmodelled_points_appended() {
    let dir = tempfile::tempdir().unwrap();
    let grid = fixture_model();
    std::fs::write(dir.path().join("model.json"), grid.to_json()).unwrap();
    let config = write_hub_config(dir.path(), "[model]\nfile = \"model.json\"\n");
    let hub = Hub::start(&HubConfig::load(&config).unwrap()).await.unwrap();
    let api = hub.api_addr.unwrap();
    send_as_edge(dir.path(), hub.edge_addr, &[(MODELLED, PointValue::Float(12.5)), (UNMODELLED, PointValue::Float(0.0))]).await;

    let (status, headers, body) =
        http(api, "POST", "/api/login", None, Some(&json!({"username": "viewer", "password": "viewer-pw"}).to_string())).await;
    assert_eq!(status, 200, "{body}");
    let cookie = headers
        .lines()
        .find_map(|l| l.to_ascii_lowercase().starts_with("set-cookie:").then(|| l[11..].trim().split(';').next().unwrap().to_owned()))
        .unwrap();

    // The tree: CIM substation and voltage levels, with mRIDs and nominal voltages.
    let model = get_json(api, "/api/model", &cookie).await;
    let substations = model["substations"].as_array().unwrap();
    let amsterdam = substations.iter().find(|s| s["name"] == "PP_Amsterdam").unwrap_or_else(|| panic!("{model}"));
    let expected = grid.substations.iter().find(|s| s.name == "PP_Amsterdam").unwrap();
    assert_eq!(amsterdam["mrid"].as_str(), expected.mrid.as_deref());
    assert!(amsterdam["mrid"].as_str().is_some_and(|m| !m.is_empty()));
    let levels = amsterdam["voltage_levels"].as_array().unwrap();
    let kv220 = levels.iter().find(|l| l["nominal_kv"] == 220.0).unwrap_or_else(|| panic!("{amsterdam}"));
    assert_eq!(kv220["id"].as_str(), expected.voltage_levels.iter().find(|l| l.nominal_kv == Some(220.0)).map(|l| l.id.as_str()));

    // The modelled point, with data, carries its CIM identities from the model.
    let points = get_json(api, "/api/points", &cookie).await;
    let points = points.as_array().unwrap();
    let modelled = points.iter().find(|p| p["id"] == MODELLED).unwrap();
    let cim = &grid.points[&PointId::new(MODELLED).unwrap()].cim;
    assert_eq!(modelled["cim"]["measurement"], "gt-m-load3-p");
    assert_eq!(modelled["cim"]["equipment"].as_str(), cim.equipment.as_deref());
    assert_eq!(modelled["cim"]["terminal"].as_str(), cim.terminal.as_deref());
    assert!(modelled["cim"]["equipment"].is_string() && modelled["cim"]["terminal"].is_string(), "{modelled}");
    // Model points without data are listed too; the unmodelled one once, after them.
    assert_eq!(points.len(), grid.points.len() + 1);
    let unmodelled = points.iter().find(|p| p["id"] == UNMODELLED).unwrap();
    assert_eq!((unmodelled["bay"].as_str(), unmodelled["equipment"].as_str()), (Some("F9"), Some("F9/XCBR1")));

    // ... and sits in the tree under the unmodelled substation of its edge.
    let extra = substations.iter().find(|s| s["id"] == "unmodelled/edge-1").unwrap_or_else(|| panic!("{model}"));
    assert!(extra["name"].as_str().unwrap().contains("Unmodelled"));
    let bay = &extra["voltage_levels"][0]["bays"][0];
    assert_eq!((bay["id"].as_str(), &bay["equipment"][0]["points"]), (Some("F9"), &json!([UNMODELLED])));
    assert!(!model.to_string().contains("Substation served by"), "no derived substation besides the unmodelled one");

    // Values by the model's bay id.
    let bay_id = modelled["bay"].as_str().unwrap();
    let values = get_json(api, &format!("/api/values?bay={bay_id}"), &cookie).await;
    assert_eq!(values.as_array().unwrap().iter().map(|v| v["point"].as_str().unwrap()).collect::<Vec<_>>(), [MODELLED]);

    // The full model, as imported, for any role that may read the tree; nobody else.
    let full = get_json(api, "/api/model/full", &cookie).await;
    assert_eq!(full, serde_json::from_str::<Value>(&grid.to_json()).unwrap());
    assert!(full["sources"].as_array().unwrap().iter().all(|s| s["sha256"].as_str().is_some_and(|h| h.len() == 64)));
    assert!(!full["unresolved"].as_array().unwrap().is_empty());
    assert_eq!(http(api, "GET", "/api/model/full", None, None).await.0, 401);
    hub.shutdown();
}

#[tokio::test]
async fn a_bad_model_file_stops_the_start_and_no_model_keeps_the_derived_tree() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("model.json"), "{\"format\": 1, \"substations\": 7}").unwrap();
    let config = write_hub_config(dir.path(), "[model]\nfile = \"model.json\"\n");
    let error = Hub::start(&HubConfig::load(&config).unwrap()).await.err().expect("a bad model must stop the start").to_string();
    assert!(error.starts_with("model.file: ") && error.contains("model.json") && error.contains("not a gridtrust model file"), "{error}");

    let missing = write_hub_config(dir.path(), "[model]\nfile = \"nowhere.json\"\n");
    let error = Hub::start(&HubConfig::load(&missing).unwrap()).await.err().expect("a missing model must stop the start").to_string();
    assert!(error.starts_with("model.file: ") && error.contains("nowhere.json"), "{error}");

    let unknown_key = write_hub_config(dir.path(), "[model]\nfile = \"model.json\"\npath = \"x\"\n");
    let error = HubConfig::load(&unknown_key).unwrap_err().to_string();
    assert!(error.contains("path"), "{error}");

    // Without [model]: the derived tree, and no full model.
    let plain = write_hub_config(dir.path(), "");
    let hub = Hub::start(&HubConfig::load(&plain).unwrap()).await.unwrap();
    let api = hub.api_addr.unwrap();
    send_as_edge(dir.path(), hub.edge_addr, &[(UNMODELLED, PointValue::Float(1.0))]).await;
    let (_, headers, _) =
        http(api, "POST", "/api/login", None, Some(&json!({"username": "viewer", "password": "viewer-pw"}).to_string())).await;
    let cookie = headers
        .lines()
        .find_map(|l| l.to_ascii_lowercase().starts_with("set-cookie:").then(|| l[11..].trim().split(';').next().unwrap().to_owned()))
        .unwrap();
    let model = get_json(api, "/api/model", &cookie).await;
    assert_eq!(model["substations"][0]["id"], "edge-1");
    assert_eq!(model["substations"][0]["name"], "Substation served by edge-1");
    let (status, _, body) = http(api, "GET", "/api/model/full", Some(&cookie), None).await;
    assert_eq!(status, 404, "{body}");
    hub.shutdown();
}

fn find<'v>(list: &'v Value, id: &str) -> &'v Value {
    list.as_array().unwrap().iter().find(|e| e["id"] == id).unwrap_or_else(|| panic!("{id} not in {list}"))
}

#[tokio::test]
async fn the_one_line_diagram_has_the_dl_positions_and_live_switch_positions() {
    let dir = tempfile::tempdir().unwrap();
    let grid = fixture_model();
    std::fs::write(dir.path().join("model.json"), grid.to_json()).unwrap();
    let config = write_hub_config(dir.path(), "[model]\nfile = \"model.json\"\n");
    let hub = Hub::start(&HubConfig::load(&config).unwrap()).await.unwrap();
    let api = hub.api_addr.unwrap();
    assert_eq!(http(api, "GET", "/api/model/diagram", None, None).await.0, 401);
    let cookie = login(api, "viewer").await;

    let diagram = get_json(api, "/api/model/diagram", &cookie).await;
    assert_eq!(diagram["layout"], "dl");
    assert_eq!(diagram["nodes"].as_array().unwrap().len(), grid.nodes.len());
    // The breaker B1 sits where the DL profile puts it (on the diagram with most placements).
    let b1 = grid.equipment().find(|e| e.name == "B1").unwrap();
    let breaker = find(&diagram["equipment"], &b1.id);
    assert_eq!(breaker["kind"], "Breaker");
    let drawn = (breaker["points"][0]["x"].as_f64().unwrap(), breaker["points"][0]["y"].as_f64().unwrap());
    let placed: Vec<(f64, f64)> = grid.diagram.iter().filter(|p| p.object == b1.id).map(|p| (p.points[0].x, p.points[0].y)).collect();
    assert!(placed.contains(&drawn), "{drawn:?} is none of the DL positions {placed:?}");
    let switch = &breaker["switch"];
    assert_eq!(switch["position_point"], "AMS_P1CTRL/XCBR1.Pos.stVal[ST]");
    assert_eq!(switch["command_point"], "AMS_P1CTRL/Q0CSWI1.Pos.stVal[ST]");
    let normal = if b1.normal_open == Some(true) { "open" } else { "closed" };
    assert_eq!((switch["state"].as_str(), switch["state_from"].as_str()), (Some(normal), Some("normal")));
    assert!(breaker["bay"].is_string() && breaker["energised"].is_boolean());
    let energised_before = diagram["nodes"].as_array().unwrap().iter().filter(|n| n["energised"] == true).count();
    assert!(energised_before > 0);

    // The field reports the breaker open: the diagram says so, from the live value.
    send_as_edge(dir.path(), hub.edge_addr, &[("AMS_P1CTRL/XCBR1.Pos.stVal[ST]", PointValue::Double(DoublePoint::Off))]).await;
    let diagram = get_json(api, "/api/model/diagram", &cookie).await;
    let switch = &find(&diagram["equipment"], &b1.id)["switch"];
    assert_eq!((switch["state"].as_str(), switch["state_from"].as_str()), (Some("open"), Some("live")));
    // What the hub calls energised is the walk over the model with B1 open (and the others as modelled).
    let energised_after: BTreeSet<&str> =
        diagram["nodes"].as_array().unwrap().iter().filter(|n| n["energised"] == true).map(|n| n["id"].as_str().unwrap()).collect();
    let one_line = OneLine::of(&grid);
    let expected = energise(&one_line, |e| e.id == b1.id || e.normal_open == Some(true));
    assert_eq!(energised_after, expected.nodes.iter().map(String::as_str).collect::<BTreeSet<_>>());
    assert!(energised_after.len() <= energised_before);
    hub.shutdown();
}

#[tokio::test]
async fn a_model_without_dl_gets_an_automatic_layout_and_no_model_no_diagram() {
    let dir = tempfile::tempdir().unwrap();
    let mut grid = fixture_model();
    grid.diagram.clear();
    std::fs::write(dir.path().join("model.json"), grid.to_json()).unwrap();
    let config = write_hub_config(dir.path(), "[model]\nfile = \"model.json\"\n");
    let hub = Hub::start(&HubConfig::load(&config).unwrap()).await.unwrap();
    let api = hub.api_addr.unwrap();
    let cookie = login(api, "viewer").await;
    let diagram = get_json(api, "/api/model/diagram", &cookie).await;
    assert_eq!(diagram["layout"], "automatic");
    assert!(diagram["diagram_name"].is_null());
    let equipment = diagram["equipment"].as_array().unwrap();
    assert!(!equipment.is_empty());
    for item in equipment.iter().chain(diagram["nodes"].as_array().unwrap()) {
        assert!(!item["points"].as_array().unwrap().is_empty(), "{item} has no position");
    }
    // With all switches as modelled, every node is reached from the injections and machines.
    assert!(diagram["nodes"].as_array().unwrap().iter().all(|n| n["energised"] == true), "{diagram}");
    hub.shutdown();

    let other = tempfile::tempdir().unwrap();
    let plain = write_hub_config(other.path(), "");
    let hub = Hub::start(&HubConfig::load(&plain).unwrap()).await.unwrap();
    let api = hub.api_addr.unwrap();
    let cookie = login(api, "viewer").await;
    let (status, _, body) = http(api, "GET", "/api/model/diagram", Some(&cookie), None).await;
    assert_eq!(status, 404, "{body}");
    hub.shutdown();
}
