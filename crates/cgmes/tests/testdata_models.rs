//! Every CGMES model in the test data imports, and what it holds is checked against facts read
//! off the files (names, counts, transformer ends, SSH and SV values, limits).

mod common;

use std::path::Path;

use gridtrust_cgmes::{CgmesObject, DiagnosticKind, LimitKind, LoadKind, SwitchKind};

fn model(name: &str) -> gridtrust_cgmes::CgmesModel {
    let found = common::models().into_iter().find(|m| m.name == name).unwrap_or_else(|| panic!("no model {name}"));
    common::import(&found)
}

#[test]
fn every_folder_of_cgmes_files_in_the_test_data_belongs_to_a_model_that_imports() {
    let covered: Vec<_> = common::models().into_iter().flat_map(|m| m.folders).collect();
    let mut pending = vec![common::testdata()];
    let mut folders_with_files = 0;
    while let Some(dir) = pending.pop() {
        let entries: Vec<_> = std::fs::read_dir(&dir).expect("readable test data").map(|e| e.expect("entry").path()).collect();
        if entries.iter().any(|p| p.extension().is_some_and(|e| e == "xml" || e == "zip")) {
            folders_with_files += 1;
            assert!(covered.iter().any(|c| c == &dir), "{} holds CGMES files but no test model imports it", dir.display());
        }
        pending.extend(entries.into_iter().filter(|p| p.is_dir()));
    }
    assert_eq!(folders_with_files, 5);
    for test_model in common::models() {
        let imported = common::import(&test_model);
        assert!(!imported.substations.is_empty() && !imported.terminals.is_empty(), "{} is empty", test_model.name);
    }
}

#[test]
fn microgrid_be_with_boundary_has_its_substations_transformers_and_no_dangling_references() {
    let m = model("MicroGrid BE");
    assert_eq!(m.files.len(), 9);
    let mut names: Vec<_> = m.substations.iter().filter_map(|s| s.identity.name.as_deref()).collect();
    names.sort_unstable();
    assert_eq!(names, ["Anvers", "PP_Brussels"]);
    assert_eq!(m.voltage_levels.len(), 6);
    assert_eq!(m.busbar_sections.len(), 9);
    assert_eq!(m.ac_line_segments.len(), 7);
    assert_eq!(m.power_transformers.len(), 4);
    assert_eq!(m.power_transformer_ends.len(), 9);
    assert_eq!(m.loads.len(), 3);
    assert!(m.loads.iter().all(|l| l.kind == LoadKind::EnergyConsumer));
    assert_eq!(m.synchronous_machines.len(), 2);
    assert_eq!(m.terminals.len(), 44 + 1, "44 EQ terminals and one in the boundary set");
    assert_eq!(m.operational_limit_sets.len(), 23);
    assert_eq!(m.operational_limits.len(), 100);
    assert!(m.operational_limits.iter().all(|l| l.kind == LimitKind::Current && l.value.is_some()));
    // The boundary set resolves every reference of the IGM.
    assert!(m.diagnostics.is_empty(), "{:#?}", m.diagnostics);

    // Three-winding BE-TR3_1: 400 / 220 / 21 kV, ends by end number.
    let tr3 = m.power_transformers.iter().find(|t| t.equipment.identity.name.as_deref() == Some("BE-TR3_1")).expect("BE-TR3_1");
    let ends = m.ends_of(tr3);
    assert_eq!(ends.iter().map(|e| e.end_number).collect::<Vec<_>>(), [Some(1), Some(2), Some(3)]);
    assert_eq!(ends.iter().map(|e| e.rated_u_kv).collect::<Vec<_>>(), [Some(400.0), Some(220.0), Some(21.0)]);
    for end in &ends {
        let terminal = end.terminal.as_deref().expect("end terminal");
        assert!(
            matches!(m.get(terminal), Some(CgmesObject::Terminal(t)) if t.conducting_equipment.as_deref() == Some(&*tr3.equipment.identity.mrid))
        );
    }
    assert_eq!(m.terminals_of(&tr3.equipment.identity.mrid).len(), 3);
    // Transformers hang directly under their substation.
    let path = m.location_of(&tr3.equipment.identity.mrid);
    assert!(path.substation.is_some() && path.voltage_level.is_none());

    // Line BE-Line_1 from the EQ file: r, x, length.
    let line = m.ac_line_segments.iter().find(|l| l.equipment.identity.name.as_deref() == Some("BE-Line_1")).expect("BE-Line_1");
    assert_eq!((line.r, line.x, line.length_km), (Some(2.2), Some(68.2), Some(22.0)));
    assert!(matches!(m.get(line.equipment.container.as_deref().expect("container")), Some(CgmesObject::Line(_))));

    // SSH adds p/q to loads and `connected` to every terminal; TP adds topological nodes.
    assert!(m.loads.iter().all(|l| l.p_mw.is_some() && l.q_mvar.is_some()));
    let eq_terminals: Vec<_> = m.terminals.iter().filter(|t| t.sequence_number.is_some()).collect();
    assert_eq!(eq_terminals.len(), 44);
    assert!(eq_terminals.iter().all(|t| t.connected.is_some() && t.topological_node.is_some() && t.phases.as_deref() == Some("ABC")));
    // SV gives solved voltages to the topological nodes it covers.
    assert_eq!(m.topological_nodes.iter().filter(|n| n.voltage.is_some()).count(), 11);
    assert!(m.terminals.iter().any(|t| t.power_flow.is_some()));
}

#[test]
fn microgrid_be_containment_reaches_equipment_through_voltage_levels() {
    let m = model("MicroGrid BE");
    let tree = m.containment();
    let anvers = tree.substations.iter().find(|s| s.name.as_deref() == Some("Anvers")).expect("Anvers");
    assert!(!anvers.voltage_levels.is_empty());
    let busbars: usize = tree
        .substations
        .iter()
        .flat_map(|s| &s.voltage_levels)
        .flat_map(|v| &v.equipment)
        .filter(|e| e.class == "cim:BusbarSection")
        .count();
    assert_eq!(busbars, 9, "every busbar section sits in a voltage level");
    let under_substations: usize =
        tree.substations.iter().map(|s| s.equipment.iter().filter(|e| e.class == "cim:PowerTransformer").count()).sum();
    assert_eq!(under_substations, 4);
    // 7 BE line segments plus the boundary set's junction, which sits in a boundary Line.
    let in_lines: Vec<_> = tree.lines.iter().flat_map(|l| &l.equipment).map(|e| e.class.as_str()).collect();
    assert_eq!(in_lines.iter().filter(|c| **c == "cim:ACLineSegment").count(), 7);
    assert_eq!(in_lines.iter().filter(|c| **c == "cim:Junction").count(), 1);
    assert_eq!(tree.lines.len(), 7 + 6);
    assert!(tree.voltage_levels_without_substation.is_empty());
    let levels_kv: Vec<_> = tree.substations.iter().flat_map(|s| &s.voltage_levels).filter_map(|v| v.nominal_kv).collect();
    assert_eq!(levels_kv.len(), 6, "every voltage level has its base voltage's nominal kV");
    serde_json::to_string(&tree).expect("containment serialises");
}

#[test]
fn microgrid_nl_has_a_breaker_whose_state_comes_from_ssh() {
    let m = model("MicroGrid NL");
    assert_eq!(m.substations.len(), 1);
    assert_eq!(m.substation_named("PP_Amsterdam").map(|s| s.identity.mrid.as_str()), Some("c49942d6-8b01-4b01-b5e8-f1180f84906c"));
    assert_eq!(m.switches.len(), 1);
    let breaker = &m.switches[0];
    assert_eq!(breaker.kind, SwitchKind::Breaker);
    assert_eq!(breaker.equipment.identity.name.as_deref(), Some("B1"));
    assert!(breaker.open.is_some(), "Switch.open comes from SSH");
    assert_eq!(m.synchronous_machines.len(), 3);
    assert!(
        m.synchronous_machines.iter().all(|g| g.generating_unit.as_deref().is_some_and(|u| m.equipment(u).is_some()) && g.p_mw.is_some())
    );
    assert_eq!(m.power_transformer_ends.len(), 6);
    assert!(m.diagnostics.is_empty(), "{:#?}", m.diagnostics);
}

#[test]
fn assembled_microgrid_merges_both_areas_with_one_sv() {
    let m = model("MicroGrid Assembled");
    assert_eq!(m.substations.len(), 3);
    assert_eq!(m.power_transformers.len(), 7);
    assert_eq!(m.power_transformer_ends.len(), 15);
    assert_eq!(m.operational_limits.len(), 168);
    assert!(m.diagnostics.is_empty(), "{:#?}", m.diagnostics);
    assert_eq!(m.topological_nodes.iter().filter(|n| n.voltage.is_some()).count(), 16);
    // Every limit set hangs off a terminal, every limit has a type with a kind.
    for set in &m.operational_limit_sets {
        let terminal = set.terminal.as_deref().expect("limit set terminal");
        assert!(m.limit_sets_of(terminal).iter().any(|s| s.identity.mrid == set.identity.mrid));
        for (limit, limit_type) in m.limits_in(set) {
            assert!(limit.value.is_some());
            assert!(limit_type.and_then(|t| t.limit_type.as_deref()).is_some(), "limit {} has a typed kind", limit.identity.mrid);
        }
    }
}

#[test]
fn minigrid_imports_and_names_what_its_missing_boundary_set_would_have_defined() {
    let m = model("MiniGrid BusBranch");
    let mut names: Vec<_> = m.substations.iter().filter_map(|s| s.identity.name.as_deref()).collect();
    names.sort_unstable();
    assert_eq!(names, ["Sub1", "Sub2", "Sub3", "Sub4", "Sub5"]);
    assert_eq!(m.power_transformers.len(), 6);
    assert_eq!(m.power_transformer_ends.len(), 14);
    // T4 lists its ends 3, 2, 1 in the file; ends come back by end number.
    let t4 = m.power_transformers.iter().find(|t| t.equipment.identity.name.as_deref() == Some("T4")).expect("T4");
    let rated: Vec<_> = m.ends_of(t4).iter().map(|e| e.rated_u_kv).collect();
    assert_eq!(rated, [Some(400.0), Some(120.0), Some(30.0)]);
    assert_eq!(m.synchronous_machines.len(), 3);

    // The MiniGrid boundary set is not in the test data: its dependency and the boundary
    // objects its files point to are reported with file and line, not dropped silently.
    let missing_models: Vec<_> = m
        .diagnostics
        .iter()
        .filter_map(|d| match &d.kind {
            DiagnosticKind::MissingDependency { dependency, .. } => Some(dependency.as_str()),
            _ => None,
        })
        .collect();
    assert!(missing_models.contains(&"2399cbd0-9a39-11e0-aa80-0800200c9a66"), "{missing_models:?}");
    let unresolved: Vec<_> = m
        .diagnostics
        .iter()
        .filter_map(|d| match &d.kind {
            DiagnosticKind::UnresolvedReference { missing, .. } => Some((d, missing.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(unresolved.len(), 14);
    let tp_ref = unresolved
        .iter()
        .find(|(d, missing)| {
            d.file.ends_with("MiniGridTestConfiguration_BC_TP_v3.0.0.xml") && *missing == "8372a156-7579-4ea5-1111-24caf0d24603"
        })
        .expect("TP reference to a boundary node");
    assert_eq!(tp_ref.0.line, 191);
    assert_eq!(tp_ref.0.element, "cim:Terminal.TopologicalNode");
    let file = std::fs::read_to_string(Path::new(&tp_ref.0.file)).expect("file");
    let line = file.lines().nth(190).expect("line 191");
    assert!(line.contains("Terminal.TopologicalNode") && line.contains("8372a156-7579-4ea5-1111-24caf0d24603"), "{line}");
}

#[test]
fn model_serialises_to_json_with_typed_collections() {
    let m = model("MicroGrid BE");
    let json: serde_json::Value = serde_json::to_value(&m).expect("serialises");
    assert_eq!(json["substations"].as_array().map(Vec::len), Some(2));
    assert!(json["power_transformer_ends"][0]["rated_u_kv"].is_number());
    assert!(json["files"][0]["class_counts"].is_object());
    let object = m.get(&m.terminals[0].identity.mrid).expect("terminal by mRID");
    let one = serde_json::to_value(object).expect("object serialises");
    assert_eq!(one["type"], "Terminal");
}
