//! SCL-only and CGMES-only models from the real test data, the JSON round trip, diff and the API
//! shapes.

mod common;

use common::*;
use gridtrust_cgmes::import_paths;
use gridtrust_gridmodel::{GridModel, ModelError, ModelInputs, import};

fn scl_only(path: std::path::PathBuf) -> GridModel {
    let inputs = ModelInputs { scl: vec![path.clone()], cgmes: vec![], mapping: None };
    match import(&inputs) {
        Ok(imported) => imported.model,
        Err(e) => panic!("{}: {:#?}", path.display(), e.errors.iter().map(ToString::to_string).collect::<Vec<_>>()),
    }
}

#[test]
fn every_real_scl_file_imports_alone_with_points_and_no_cim() {
    let mut files: Vec<_> = std::fs::read_dir(shared("scl")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files.retain(|f| !f.ends_with("sampleModel_errors.icd"));
    assert_eq!(files.len(), 8, "{files:?}");
    for file in files {
        let model = scl_only(file.clone());
        assert!(!model.points.is_empty(), "{}: no points", file.display());
        assert!(model.points.values().all(|p| p.cim == Default::default() && p.link.is_none()), "{}", file.display());
        assert!(model.substations.is_empty() && model.unresolved.is_empty(), "{}", file.display());
        assert!(model.points.values().all(|p| p.fc == "ST" || p.fc == "MX"), "{}", file.display());
        assert_eq!(model.sources.len(), 1);
        assert_eq!(model.sources[0].bytes, std::fs::metadata(&file).unwrap().len());
    }
}

#[test]
fn simple_io_points_are_named_like_the_mms_adapter_with_their_control_model() {
    let model = scl_only(shared("scl/simpleIO_direct_control.cid"));
    let point = |id: &str| model.points.iter().find(|(p, _)| p.as_str() == id).map(|(_, p)| p).unwrap_or_else(|| panic!("no {id}"));
    let analog = point("simpleIOGenericIO/GGIO1.AnIn1.mag.f[MX]");
    assert_eq!((analog.kind.as_str(), analog.basic_type.as_str(), analog.cdc.as_str()), ("analog", "FLOAT32", "MV"));
    let output = point("simpleIOGenericIO/GGIO1.SPCSO1.stVal[ST]");
    assert!(output.operable, "SPCSO1 has a direct control model in this file");
    assert_eq!(output.command_kind.as_deref(), Some("single"));
    assert!(
        !model.points.keys().any(|p| p.as_str().ends_with(".q[ST]") || p.as_str().ends_with(".t[MX]")),
        "quality and time are not points"
    );
}

#[test]
fn the_scl_error_sample_fails_with_file_and_line() {
    let inputs = ModelInputs { scl: vec![shared("scl/sampleModel_errors.icd")], cgmes: vec![], mapping: None };
    let errors = import(&inputs).unwrap_err().errors;
    assert!(!errors.is_empty());
    for error in &errors {
        assert!(matches!(error, ModelError::Scl(e) if e.location.line > 0), "{error}");
        assert!(error.to_string().contains("sampleModel_errors.icd:"), "{error}");
    }
}

#[test]
fn the_fixture_alone_builds_its_tree_from_the_substation_section() {
    let model = scl_only(fixture("microgrid_nl.scd"));
    let names: Vec<&str> = model.substations.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["PP_Amsterdam"]);
    let breaker = model.find_equipment("PP_Amsterdam/220.0/B1/B1").expect("SCL path is the id without an mRID");
    assert_eq!((breaker.kind.as_str(), breaker.mrid.as_deref()), ("Breaker", None));
    assert_eq!(breaker.points.len(), 2);
    // Private mRID: the id and the point's CIM equipment, with no CGMES to check it against.
    let unit1 = model.find_equipment("9c3b8f97-7972-477d-9dc8-87365cc0ad0e").expect("Unit 1 by its mRID");
    assert_eq!(unit1.scl_path.as_deref(), Some("PP_Amsterdam/15.8/G1/Unit 1"));
    let p = model.points.iter().find(|(id, _)| id.as_str() == "AMS_P1MEAS/MMXU6.TotW.mag.f[MX]").map(|(_, p)| p).unwrap();
    assert_eq!(p.cim.equipment.as_deref(), Some("9c3b8f97-7972-477d-9dc8-87365cc0ad0e"));
    assert_eq!(model.substations[0].voltage_levels.iter().map(|l| l.nominal_kv).collect::<Vec<_>>(), [Some(15.75), Some(220.0)]);
    // No CIM measurements exist to miss: only link failures are reported (NL-G2, which MMXU4's
    // description names, is CGMES equipment the SCL does not have).
    let subjects: Vec<&str> = model.unresolved.iter().map(|u| u.subject.as_str()).collect();
    assert_eq!(
        subjects,
        [
            "AMS_P1MEAS/MMXU4 (IED AMS_P1, LD MEAS)",
            "AMS_P1MEAS/MMXU5 (IED AMS_P1, LD MEAS)",
            "LNode AMS_P2 MEAS/MMXU1 at PP_Amsterdam/220.0/Line_9/NL-Line_9"
        ]
    );
}

#[test]
fn cgmes_only_models_list_all_equipment_and_measurements_without_points() {
    for (paths, substations) in [
        (
            vec![
                shared(&format!("{MICROGRID}/CGMES_v2.4.15_MicroGridTestConfiguration_BC_BE_v2")),
                shared(&format!("{MICROGRID}/CGMES_v2.4.15_MicroGridTestConfiguration_BD_v2")),
            ],
            vec!["Anvers", "PP_Brussels"],
        ),
        (microgrid_nl_measured(), vec!["PP_Amsterdam"]),
        (
            vec![shared("cgmes/MiniGrid/BusBranch/CGMES_v2.4.15_MiniGridTestConfiguration_BaseCase_v3")],
            vec!["Sub1", "Sub2", "Sub3", "Sub4", "Sub5"],
        ),
    ] {
        let model = import(&ModelInputs { scl: vec![], cgmes: paths.clone(), mapping: None }).unwrap().model;
        let cgmes = import_paths(&paths).unwrap();
        assert!(model.points.is_empty() && model.unresolved.is_empty());
        assert_eq!(model.substations.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), substations);
        assert_eq!(model.equipment().count(), cgmes.all_equipment().count(), "every CIM equipment is in the tree");
        assert_eq!(model.equipment().map(|e| e.measurements.len()).sum::<usize>(), cgmes.measurements.len());
        assert!(model.sources.iter().all(|s| s.kind == "cgmes" && s.sha256.len() == 64));
    }
    let be = import(&ModelInputs {
        scl: vec![],
        cgmes: vec![shared(&format!("{MICROGRID}/CGMES_v2.4.15_MicroGridTestConfiguration_BC_BE_v2"))],
        mapping: None,
    })
    .unwrap()
    .model;
    let load = be.find_equipment("cb459405-cc14-4215-a45c-416789205904").expect("BE-Load_1");
    assert_eq!((load.name.as_str(), load.kind.as_str(), load.source_type.as_str()), ("BE-Load_1", "Load", "cim:EnergyConsumer"));
    let brussels = be.substations.iter().find(|s| s.name == "PP_Brussels").unwrap();
    let level = brussels.voltage_levels.iter().find(|l| l.name == "110.0").unwrap();
    assert_eq!(level.nominal_kv, Some(110.0));
    assert!(level.equipment.iter().any(|e| e.name == "BE-Load_1"));
    assert_eq!(be.lines.len(), 7);
}

fn fixture_model(mapping: bool) -> GridModel {
    let inputs = ModelInputs {
        scl: vec![fixture("microgrid_nl.scd")],
        cgmes: microgrid_nl_measured(),
        mapping: mapping.then(|| fixture("microgrid_nl_mapping.toml")),
    };
    import(&inputs).unwrap().model
}

#[test]
fn json_round_trips_and_is_canonical() {
    let model = fixture_model(true);
    let json = model.to_json();
    let back = GridModel::from_json("m.json", &json).unwrap();
    assert_eq!(back, model);
    assert_eq!(back.to_json(), json, "same bytes after a round trip");
    assert_eq!(fixture_model(true).to_json(), json, "same bytes from a second import");
    let mut wrong = model.clone();
    wrong.format = 99;
    let error = GridModel::from_json("m.json", &serde_json::to_string(&wrong).unwrap()).unwrap_err();
    assert!(error.to_string().contains("format 99"), "{error}");
    let error = GridModel::from_json("m.json", &json.replace("\"fc\"", "\"fcx\"")).unwrap_err();
    assert!(error.to_string().starts_with("m.json: not a gridtrust model file: unknown field `fcx`"), "{error}");
}

#[test]
fn diff_shows_what_the_mapping_changed_and_nothing_for_equal_models() {
    let (before, after) = (fixture_model(false), fixture_model(true));
    assert!(before.diff(&before).is_empty());
    let diff = before.diff(&after);
    assert!(diff.points_added.is_empty() && diff.points_removed.is_empty());
    let changed: Vec<&str> = diff.points_changed.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(changed, ["AMS_P1CTRL/XCBR1.Pos.stVal[ST]", "AMS_P1MEAS/MMXU2.TotW.mag.f[MX]"]);
    let fields: Vec<&str> = diff.points_changed[1].fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["cim", "link"]);
    assert_eq!(diff.points_changed[1].fields[0].after["measurement"], "gt-m-tr21-p1");
    assert!(diff.unresolved_removed.iter().any(|u| u.subject == "AMS_P1MEAS/MMXU2.TotW"));
    // The transformer's measurement now lists the point.
    assert!(diff.equipment_changed.iter().any(|c| c.id == "e8a7eaec-51d6-4571-b3d9-c36d52073c33"));

    let mut fewer = after.clone();
    fewer.points.retain(|id, _| !id.as_str().starts_with("AMS_P1MEAS/MMXU5"));
    let diff = after.diff(&fewer);
    assert_eq!(diff.points_removed.len(), 4);
    assert!(diff.to_string().contains("- point AMS_P1MEAS/MMXU5.TotW.mag.f[MX]\n"), "{diff}");
}
