//! The topology and diagram layout carried into the joined model, on the ENTSO-E MicroGrid and
//! MiniGrid test configurations. The expected counts were taken independently of this code, with a
//! regular-expression count over the RDF/XML files (terminals with a `Terminal.ConnectivityNode`
//! or else `Terminal.TopologicalNode`; distinct nodes those name; `cim:DiagramObject`s whose
//! `DiagramObject.IdentifiedObject` is equipment or one of those nodes).

mod common;

use std::collections::HashSet;

use common::{MICROGRID, microgrid_nl, shared};
use gridtrust_gridmodel::{GridModel, ModelInputs, NodeClass, import};

fn cgmes_only(cgmes: Vec<std::path::PathBuf>) -> GridModel {
    match import(&ModelInputs { scl: Vec::new(), cgmes, mapping: None }) {
        Ok(imported) => imported.model,
        Err(e) => panic!("import: {e}"),
    }
}

fn terminals_with_node(model: &GridModel) -> usize {
    model.equipment().flat_map(|e| &e.terminals).filter(|t| t.node.is_some()).count()
}

#[test]
fn microgrid_nl_terminals_nodes_and_dl_placements_match_an_independent_count() {
    let model = cgmes_only(microgrid_nl());
    assert_eq!(terminals_with_node(&model), 34);
    assert_eq!(model.nodes.len(), 10);
    assert!(model.nodes.iter().all(|n| n.class == NodeClass::TopologicalNode && n.nominal_kv.is_some()), "{:?}", model.nodes);
    assert_eq!(model.diagram.len(), 57);
    let node_ids: HashSet<&str> = model.nodes.iter().map(|n| n.id.as_str()).collect();
    // (The boundary's Junction has a terminal with no node: it names none rather than a wrong one.)
    for node in model.equipment().flat_map(|e| &e.terminals).filter_map(|t| t.node.as_deref()) {
        assert!(node_ids.contains(node), "{node} is not listed");
    }
    // Two diagrams; every placement has points and names an equipment or node of the model.
    let diagrams: HashSet<&str> = model.diagram.iter().map(|p| p.diagram.as_str()).collect();
    assert_eq!(diagrams.len(), 2);
    for placement in &model.diagram {
        assert!(!placement.points.is_empty());
        assert!(node_ids.contains(placement.object.as_str()) || model.find_equipment(&placement.object).is_some(), "{}", placement.object);
    }
    // The breaker (drawn on both diagrams) keeps its normal state.
    let breakers: Vec<_> = model.equipment().filter(|e| e.kind == "Breaker").collect();
    assert_eq!(breakers.len(), 1);
    assert_eq!(model.diagram.iter().filter(|p| p.object == breakers[0].id).count(), 2);
    assert!(breakers.iter().all(|b| b.normal_open.is_some()));
}

#[test]
fn microgrid_be_and_minigrid_match_an_independent_count() {
    let be = cgmes_only(vec![
        shared(&format!("{MICROGRID}/CGMES_v2.4.15_MicroGridTestConfiguration_BC_BE_v2")),
        shared(&format!("{MICROGRID}/CGMES_v2.4.15_MicroGridTestConfiguration_BD_v2")),
    ]);
    assert_eq!((terminals_with_node(&be), be.nodes.len(), be.diagram.len()), (44, 11, 63));
    let mini = cgmes_only(vec![shared("cgmes/MiniGrid/BusBranch/CGMES_v2.4.15_MiniGridTestConfiguration_BaseCase_v3")]);
    // 13 nodes are named by terminals, 2 of them are boundary nodes whose TP_BD is not in this set.
    assert_eq!((terminals_with_node(&mini), mini.nodes.len()), (42, 11));
    // 36 DL objects draw equipment or those 13 nodes; 2 of them draw the 2 boundary nodes.
    assert_eq!(mini.diagram.len(), 36 - 2);
}

#[test]
fn topology_survives_the_json_round_trip_and_format_1_files_without_it_still_load() {
    let model = cgmes_only(microgrid_nl());
    let json = model.to_json();
    assert_eq!(GridModel::from_json("round trip", &json).unwrap(), model);
    // A file written before the topology was carried: no nodes, diagram, terminal nodes or normal states.
    let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let object = value.as_object_mut().unwrap();
    object.remove("nodes");
    object.remove("diagram");
    let old = serde_json::to_string(&value).unwrap().replace("\"node\":", "\"node_removed\":");
    let old = old.replace(",\"node_removed\":null", "");
    let without: serde_json::Value = serde_json::from_str(&old).unwrap();
    let stripped = strip(without);
    let read = GridModel::from_json("old", &serde_json::to_string(&stripped).unwrap()).unwrap();
    assert!(read.nodes.is_empty() && read.diagram.is_empty());
    assert!(read.equipment().flat_map(|e| &e.terminals).all(|t| t.node.is_none()));
}

/// Removes the fields added with the topology from every object.
fn strip(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => serde_json::Value::Object(
            map.into_iter().filter(|(k, _)| !matches!(k.as_str(), "node_removed" | "normal_open")).map(|(k, v)| (k, strip(v))).collect(),
        ),
        serde_json::Value::Array(items) => serde_json::Value::Array(items.into_iter().map(strip).collect()),
        other => other,
    }
}
