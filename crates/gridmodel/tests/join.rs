//! The join on the fixture SCD and the real ENTSO-E MicroGrid NL model (plus the measurement
//! supplement): concrete links, every unresolved kind with its reason, and the mapping file.

mod common;

use common::*;
use gridtrust_gridmodel::{GridModel, LinkSource, ModelError, ModelInputs, ProtocolAddress, import};

const B1: &str = "5f5d40ae-d52d-4631-9285-b3ceefff784c";
const B1_T1: &str = "8121d4c3-9cb2-47db-b40a-99678602bb2a";
const LOAD3: &str = "b1e03a8f-6a11-4454-af58-4a4a680e857f";
const LOAD3_T1: &str = "fab54e9c-b12e-4e47-a9f2-fec4ef96c0c0";
const TR21: &str = "e8a7eaec-51d6-4571-b3d9-c36d52073c33";
const TR21_T1: &str = "e3e0c496-5837-4f0f-a596-cc421940f73f";
const G1: &str = "9c3b8f97-7972-477d-9dc8-87365cc0ad0e";
const G2: &str = "2844585c-0d35-488d-a449-685bcd57afbf";
const G2_T1: &str = "ae4b7cbe-349a-41c8-ace2-25ec26f14a64";

fn joined(mapping: bool) -> GridModel {
    let inputs = ModelInputs {
        scl: vec![fixture("microgrid_nl.scd")],
        cgmes: microgrid_nl_measured(),
        mapping: mapping.then(|| fixture("microgrid_nl_mapping.toml")),
    };
    match import(&inputs) {
        Ok(imported) => imported.model,
        Err(e) => panic!("fixture import failed: {:#?}", e.errors.iter().map(ToString::to_string).collect::<Vec<_>>()),
    }
}

fn cim<'m>(model: &'m GridModel, point: &str) -> (Option<&'m str>, Option<&'m str>, Option<&'m str>, Option<LinkSource>) {
    let p = model.points.iter().find(|(id, _)| id.as_str() == point).map(|(_, p)| p).unwrap_or_else(|| panic!("no point {point}"));
    (p.cim.measurement.as_deref(), p.cim.equipment.as_deref(), p.cim.terminal.as_deref(), p.link)
}

fn reason(model: &GridModel, subject: &str) -> String {
    let found: Vec<&str> = model.unresolved.iter().filter(|u| u.subject == subject).map(|u| u.reason.as_str()).collect();
    match found.as_slice() {
        [one] => (*one).to_owned(),
        _ => panic!("expected one unresolved link for `{subject}`, got {found:?}; all: {:#?}", model.unresolved),
    }
}

#[test]
fn scd_lnodes_link_points_to_microgrid_measurements_equipment_and_terminals() {
    let model = joined(false);
    let scd = Some(LinkSource::ScdLnode);
    assert_eq!(cim(&model, "AMS_P1CTRL/XCBR1.Pos.stVal[ST]"), (Some("gt-m-b1-pos"), Some(B1), Some(B1_T1), scd));
    assert_eq!(cim(&model, "AMS_P1CTRL/Q0CSWI1.Pos.stVal[ST]"), (Some("gt-m-b1-pos"), Some(B1), Some(B1_T1), scd));
    assert_eq!(cim(&model, "AMS_P1MEAS/MMXU1.TotW.mag.f[MX]"), (Some("gt-m-load3-p"), Some(LOAD3), Some(LOAD3_T1), scd));
    assert_eq!(cim(&model, "AMS_P1MEAS/MMXU1.TotVAr.mag.f[MX]"), (Some("gt-m-load3-q"), Some(LOAD3), Some(LOAD3_T1), scd));
    assert_eq!(cim(&model, "AMS_P1MEAS/MMXU1.A.phsA.cVal.mag.f[MX]"), (Some("gt-m-load3-ia"), Some(LOAD3), Some(LOAD3_T1), scd));

    let units: Vec<Option<&str>> =
        ["AMS_P1MEAS/MMXU1.TotW.mag.f[MX]", "AMS_P1MEAS/MMXU1.A.phsA.cVal.mag.f[MX]", "AMS_P1MEAS/MMXU4.TotW.mag.f[MX]"]
            .iter()
            .map(|id| model.points.iter().find(|(p, _)| p.as_str() == *id).and_then(|(_, p)| p.unit.as_deref()))
            .collect();
    assert_eq!(units, [Some("MW"), Some("A"), Some("MW")], "SCL units first, else the CIM measurement's");

    let control = model.points.iter().find(|(p, _)| p.as_str() == "AMS_P1CTRL/Q0CSWI1.Pos.stVal[ST]").map(|(_, p)| p).unwrap();
    assert!(control.operable && control.command_kind.as_deref() == Some("double"));
    assert_eq!(control.kind, "status");
    assert_eq!(
        control.addresses,
        [ProtocolAddress::Mms { host: "192.0.2.31".into(), port: 10102, domain: "AMS_P1CTRL".into(), item: "Q0CSWI1$ST$Pos$stVal".into() }]
    );
    let breaker = model.points.iter().find(|(p, _)| p.as_str() == "AMS_P1CTRL/XCBR1.Pos.stVal[ST]").map(|(_, p)| p).unwrap();
    assert!(!breaker.operable, "XCBR Pos is status-only in the template");

    // The equipment lists its points and the measurement its points.
    let b1 = model.find_equipment(B1).expect("B1 in the tree");
    assert_eq!((b1.name.as_str(), b1.kind.as_str()), ("B1", "Breaker"));
    let b1_points: Vec<&str> = b1.points.iter().map(|p| p.as_str()).collect();
    assert_eq!(b1_points, ["AMS_P1CTRL/Q0CSWI1.Pos.stVal[ST]", "AMS_P1CTRL/XCBR1.Pos.stVal[ST]"]);
    assert_eq!(b1.terminals.len(), 2);
}

#[test]
fn private_mrid_and_names_link_where_the_name_path_cannot() {
    let model = joined(false);
    // `Unit 1` is not a CIM name: the gridtrust:cim-mrid Private says it is NL-G1.
    assert_eq!(cim(&model, "AMS_P1MEAS/MMXU6.TotW.mag.f[MX]"), (None, Some(G1), None, Some(LinkSource::ScdLnode)));
    assert_eq!(
        reason(&model, "AMS_P1MEAS/MMXU6.TotW"),
        format!("equipment `NL-G1` ({G1}) has no CIM measurement with measurementType ThreePhaseActivePower")
    );
    // MMXU4 is not placed; its description names generator NL-G2.
    assert_eq!(cim(&model, "AMS_P1MEAS/MMXU4.TotW.mag.f[MX]"), (Some("gt-m-g2-p"), Some(G2), Some(G2_T1), Some(LinkSource::Name)));
}

#[test]
fn misses_and_ambiguities_are_reported_with_the_reason_and_not_guessed() {
    let model = joined(false);
    assert_eq!(
        reason(&model, "LNode AMS_P1 MEAS/MMXU3 at PP_Amsterdam/220.0/Line_9/NL-Line_9"),
        "no equipment in the CGMES model named `NL-Line_9` at PP_Amsterdam/220.0/Line_9/NL-Line_9 (substation, voltage level, bay and name must match)"
    );
    assert_eq!(cim(&model, "AMS_P1MEAS/MMXU3.TotW.mag.f[MX]"), (None, None, None, None));
    assert_eq!(reason(&model, "LNode AMS_P2 MEAS/MMXU1 at PP_Amsterdam/220.0/Line_9/NL-Line_9"), "IED `AMS_P2` is not in the SCL files");
    assert_eq!(
        reason(&model, "AMS_P1MEAS/MMXU5 (IED AMS_P1, LD MEAS)"),
        "not placed by an LNode in the Substation section and its description (`spare`) names no equipment"
    );
    // Two active power measurements on the transformer: equipment linked, measurement not.
    assert_eq!(cim(&model, "AMS_P1MEAS/MMXU2.TotW.mag.f[MX]"), (None, Some(TR21), None, Some(LinkSource::ScdLnode)));
    assert_eq!(
        reason(&model, "AMS_P1MEAS/MMXU2.TotW"),
        "equipment `NL-TR2_1` has 2 CIM measurements with measurementType ThreePhaseActivePower (gt-m-tr21-p1, gt-m-tr21-p2): give a mapping entry"
    );
    // Phase B current has no CIM counterpart on the load (only phase A has).
    assert!(reason(&model, "AMS_P1MEAS/MMXU1.A.phsB").contains("LineCurrent on phases B"));
    assert_eq!(cim(&model, "AMS_P1MEAS/MMXU1.A.phsB.cVal.mag.f[MX]").0, None);
}

#[test]
fn the_mapping_file_comes_first_and_adds_iec104_addresses() {
    let model = joined(true);
    assert_eq!(
        cim(&model, "AMS_P1MEAS/MMXU2.TotW.mag.f[MX]"),
        (Some("gt-m-tr21-p1"), Some(TR21), Some(TR21_T1), Some(LinkSource::MappingFile))
    );
    assert!(model.unresolved.iter().all(|u| u.subject != "AMS_P1MEAS/MMXU2.TotW"), "{:#?}", model.unresolved);
    let breaker = model.points.iter().find(|(p, _)| p.as_str() == "AMS_P1CTRL/XCBR1.Pos.stVal[ST]").map(|(_, p)| p).unwrap();
    assert_eq!(breaker.link, Some(LinkSource::MappingFile));
    assert!(breaker.addresses.contains(&ProtocolAddress::Iec104 { common_address: 1, ioa: 1010 }), "{:?}", breaker.addresses);
    let kinds: Vec<&str> = model.sources.iter().map(|s| s.kind.as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "mapping").count(), 1);
}

fn mapping_errors(toml: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, toml).unwrap();
    let inputs = ModelInputs { scl: vec![fixture("microgrid_nl.scd")], cgmes: microgrid_nl_measured(), mapping: Some(path) };
    match import(&inputs) {
        Ok(_) => panic!("a bad mapping was accepted"),
        Err(e) => e.errors.iter().map(|e| e.to_string().rsplit_once("bad.toml: ").map_or(e.to_string(), |(_, m)| m.to_owned())).collect(),
    }
}

#[test]
fn mapping_errors_name_the_key_and_check_against_cgmes() {
    let errors = mapping_errors(&format!(
        r#"
        [points."AMS_P1MEAS/MMXU1.TotW"]
        measurement = "gt-m-load3-p"
        equipment = "{B1}"
        [points."AMS_P1MEAS/MMXU1.TotVAr"]
        measurement = "no-such-mrid"
        [points."AMS_P1MEAS/MMXU7.TotW"]
        equipment = "{LOAD3}"
        [points."AMS_P1MEAS/MMXU1.A"]
        iec104 = {{ common_address = 1, ioa = 7 }}
        "#
    ));
    assert_eq!(
        errors,
        [
            "points.\"AMS_P1MEAS/MMXU1.TotVAr\".measurement: `no-such-mrid` is not an Analog, Discrete or Accumulator in the CGMES files"
                .to_owned(),
            format!(
                "points.\"AMS_P1MEAS/MMXU1.TotW\".equipment: `{B1}` is not the resource of measurement `gt-m-load3-p`, which is `{LOAD3}`"
            ),
            "points.\"AMS_P1MEAS/MMXU7.TotW\": matches no point of the SCL files".to_owned(),
            "points.\"AMS_P1MEAS/MMXU1.A\".iec104: an IEC 104 address names one point, this key covers 2".to_owned(),
        ]
    );
}

#[test]
fn a_point_defined_by_two_files_is_an_error() {
    let simple = shared("scl/simpleIO_direct_control.cid");
    let inputs = ModelInputs { scl: vec![simple.clone(), shared("scl/simpleIO_control_tests.cid")], cgmes: vec![], mapping: None };
    let errors = import(&inputs).unwrap_err().errors;
    assert!(!errors.is_empty());
    assert!(errors.iter().all(|e| matches!(e, ModelError::DuplicatePoint { .. })), "{errors:#?}");
    assert!(errors[0].to_string().contains("simpleIO_direct_control.cid and "), "{}", errors[0]);
}
