//! What SCL says beyond data models and reporting: log control blocks, setting groups, inputs
//! (ExtRef), array elements (`ix`, and FCDAs naming `name(index)`), and logical nodes placed in
//! functions and on general equipment. Our own fixture, `fixtures/sections.scd`, has each of them.

use gridtrust_scl::{FunctionalConstraint as Fc, Import, InstanceValue, LogicalNode, Problem, import_bytes, import_file};

fn fixture_text() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sections.scd")).expect("fixture")
}

fn fixture() -> Import {
    import_file(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sections.scd")).unwrap_or_else(|e| panic!("fixture imports: {e}"))
}

fn ln0<'a>(import: &'a Import, ied: &str) -> &'a LogicalNode {
    let ied = import.document.ied(ied).expect("IED");
    ied.logical_devices().next().and_then(|ld| ld.ln0.as_ref()).expect("LN0")
}

fn warnings(import: &Import) -> Vec<String> {
    import.warnings.iter().map(|w| format!("{} <{}> {}", w.location.line, w.location.element, w.warning)).collect()
}

#[test]
fn log_controls_are_read_and_checked_like_other_control_blocks() {
    let import = fixture();
    let [log, unused] = &ln0(&import, "SUB").log_controls[..] else { panic!("two LogControls") };
    assert_eq!((log.name.as_str(), log.dat_set.as_deref(), log.log_name.as_deref()), ("EventLog", Some("Events"), Some("Events")));
    assert_eq!((log.ln_class.as_str(), log.log_ena, log.reason_code, log.buf_time_ms), ("LLN0", true, false, 10));
    assert!(log.trg_ops.dchg && !log.trg_ops.gi);
    // libiec61850's examples write `datSet="" logName=""` for a block that logs nothing.
    assert_eq!((unused.dat_set.as_deref(), unused.log_name.as_deref(), unused.log_ena), (None, None, false));
    let expected = [
        "67 <LogControl> LogControl has an empty datSet; read as a control block without a data set",
        "67 <LogControl> LogControl has an empty logName; read as a log control block that logs nowhere",
    ];
    assert_eq!(warnings(&import)[..2], expected);

    let dangling = fixture_text().replace(r#"datSet="Events" logName="Events""#, r#"datSet="Evnts" logName="Events""#);
    let errors = import_bytes("t.scd", dangling.as_bytes()).expect_err("a LogControl naming a missing data set");
    assert_eq!(errors.errors[0].problem, Problem::UnknownDataSet { name: "Evnts".to_owned() });
}

#[test]
fn setting_groups_give_each_setting_its_value_per_group() {
    let import = fixture();
    let control = ln0(&import, "SUB").setting_control.as_ref().expect("SettingControl");
    assert_eq!((control.num_of_sgs, control.act_sg, control.desc.as_deref()), (2, 2, Some("parameter sets")));
    let ied = import.ied("SUB").expect("SUB");
    let setting = ied.attribute("LD1/PTOC1.StrVal.setMag.f").expect("setting");
    assert_eq!(setting.fc, Fc::Sg);
    let per_group: Vec<(Option<u32>, &str)> = setting.instance_values.iter().map(|v| (v.s_group, v.value.as_str())).collect();
    assert_eq!(per_group, [(Some(1), "100"), (Some(2), "120")]);
    // Group 3 does not exist: a warning, and the value is not kept.
    assert!(
        warnings(&import).contains(
            &"80 <DAI> Val for setting group 3, which does not exist (the LD's SettingControl has numOfSGs 2); ignored".to_owned()
        )
    );

    let wrong = fixture_text().replace(r#"numOfSGs="2" actSG="2""#, r#"numOfSGs="2" actSG="3""#);
    let errors = import_bytes("t.scd", wrong.as_bytes()).expect_err("actSG outside the groups");
    assert_eq!(
        errors.errors[0].to_string(),
        "t.scd:68:9: <SettingControl>: attribute `actSG` has the invalid value `3`: the LD has setting groups 1 to 2 (numOfSGs)"
    );

    // sg_demo.cid from libiec61850's setting group example.
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/testdata/scl/sg_demo.cid");
    let demo = import_file(path).expect("sg_demo imports");
    let control = ln0(&demo, "DEMO").setting_control.as_ref().expect("SettingControl");
    assert_eq!((control.num_of_sgs, control.act_sg), (5, 1));
}

#[test]
fn inputs_are_read_and_bindings_that_lead_nowhere_are_read_as_unbound() {
    let import = fixture();
    let inputs = &ln0(&import, "SUB").inputs;
    assert_eq!(inputs.len(), 5);
    let bound = &inputs[0];
    assert_eq!(bound.source_reference().as_deref(), Some("LD1/ZBAT1.Ind.stVal"));
    assert_eq!(
        (bound.ied_name.as_deref(), bound.service_type.as_deref(), bound.src_cb_name.as_deref()),
        (Some("PUB"), Some("GOOSE"), Some("gcb1"))
    );
    assert_eq!(bound.int_addr.as_deref(), Some("BatteryAlarm"));
    // Not bound yet (later binding): no source.
    assert_eq!((inputs[4].source_reference(), inputs[4].int_addr.as_deref()), (None, Some("NotBoundYet")));
    let found = warnings(&import);
    assert!(
        found.contains(
            &"71 <ExtRef> ExtRef is bound to `LD1/ZBAT2.Ind` of IED `PUB`, which that IED does not have; read as not bound".to_owned()
        ),
        "{found:?}"
    );
    assert!(found.contains(&"72 <ExtRef> ExtRef names control block `LD1/LLN0.gcb9` of IED `PUB` as its source, which that IED does not have; read without source control block".to_owned()), "{found:?}");
    // Bindings to an IED that is not in the file (OTHER) are not checked.
    assert_eq!(found.iter().filter(|w| w.contains("ExtRef")).count(), 2, "{found:?}");
}

#[test]
fn array_elements_are_addressed_by_ix_and_by_index_in_fcdas() {
    let import = fixture();
    let ied = import.ied("PUB").expect("PUB");
    let magnitude = ied.attribute("LD1/MHAI1.HA.phsAHar.cVal.mag.f").expect("array attribute");
    assert_eq!((magnitude.count, &magnitude.arrays[..]), (16, &[(1, 16)][..]));
    // `<SDI name="phsAHar" ix="3">` sets element 3 only; the array has no single value.
    assert_eq!(magnitude.value, None);
    let element = InstanceValue { reference: "LD1/MHAI1.HA.phsAHar(3).cVal.mag.f".to_owned(), s_group: None, value: "0.5".to_owned() };
    assert_eq!(magnitude.instance_values, [element]);
    assert_eq!(ied.attribute("LD1/MHAI1.HA.numHar").and_then(|a| a.value.as_deref()), Some("16"));

    // An FCDA naming an array element covers the array's attributes with that fc (arrays are
    // not expanded into elements).
    let members: Vec<(&str, usize)> = ied.data_sets[0].members.iter().map(|m| (m.reference.as_str(), m.attributes.len())).collect();
    assert_eq!(members, [("LD1/ZBAT1.Ind.stVal", 1), ("LD1/MHAI1.HA.phsAHar(7)", 3), ("LD1/MHAI1.HA.phsAHar(15).cVal.mag", 1)]);

    for (from, to, message) in [
        (
            r#"daName="phsAHar(7)""#,
            r#"daName="phsAHar(16)""#,
            "t.scd:42:11: <FCDA>: `LD1/MHAI1.HA.phsAHar(16)`: index 16 is outside the array of 16",
        ),
        (
            r#"<SDI name="phsAHar" ix="3">"#,
            r#"<SDI name="phsAHar" ix="20">"#,
            "t.scd:51:46: <DAI>: `HA.phsAHar(20).cVal.mag.f`: index 20 is outside the array of 16",
        ),
        (r#"<DAI name="numHar">"#, r#"<DAI name="numHar" ix="1">"#, "t.scd:53:11: <DAI>: `HA.numHar(1)`: `numHar` is not an array"),
        (
            r#"<SDI name="phsAHar" ix="3">"#,
            r#"<SDI name="phsAHar" ix="three">"#,
            "t.scd:50:11: <SDI>: attribute `ix` has the invalid value `three`: expected an array index",
        ),
    ] {
        let text = fixture_text().replace(from, to);
        let errors = import_bytes("t.scd", text.as_bytes()).expect_err(message);
        assert_eq!(errors.errors[0].to_string(), message);
    }
}

#[test]
fn lnodes_in_functions_and_on_general_equipment_are_placed() {
    let import = fixture();
    let placements: Vec<(String, String, Option<String>)> =
        import.document.lnode_placements().iter().map(|p| (p.ln_reference().1, p.path.clone(), p.equipment_type.clone())).collect();
    let expected = [
        ("LD1/PTOC1", "S1/E1/Q01/QA1/Protection", Some("CBR")),
        ("LD1/ZBAT1", "S1/E1/Q01/BAT1", Some("BAT")),
        ("LD1/MHAI1", "S1/E1/Q01/BAT1/Monitoring/Harmonics", Some("BAT")),
        ("LD1/GAPC1", "S1/E1/Q01/Interlocking/FAN1", Some("FAN")),
        ("LD1/LLN0", "S1/Supervision", None),
        ("LD1/GAPC1", "S1/Supervision/Logging", None),
    ];
    let expected: Vec<(String, String, Option<String>)> =
        expected.into_iter().map(|(ln, path, kind)| (ln.to_owned(), path.to_owned(), kind.map(str::to_owned))).collect();
    let mut sorted = placements.clone();
    sorted.sort();
    let mut expected_sorted = expected.clone();
    expected_sorted.sort();
    assert_eq!(sorted, expected_sorted);
    let bay = &import.document.substations[0].voltage_levels[0].bays[0];
    assert_eq!((bay.general_equipment[0].name.as_str(), bay.general_equipment[0].equipment_type.as_str()), ("BAT1", "BAT"));
    assert_eq!(bay.functions[0].general_equipment[0].name, "FAN1");

    // An LNode in a function is checked like any other.
    let text = fixture_text().replace(r#"lnClass="MHAI" lnInst="1"/>"#, r#"lnClass="MHAI" lnInst="2"/>"#);
    let moved = import_bytes("t.scd", text.as_bytes()).expect("tolerated");
    assert!(
        moved.warnings.iter().any(|w| w.location.line == 25 && w.to_string().contains("`LD1/MHAI2` of IED `PUB`")),
        "{:?}",
        moved.warnings
    );
}

#[test]
fn equipment_functions_on_windings_tap_changers_and_sub_equipment_are_placed() {
    // OpenSCD's editors/substation/TransformerWinding.scd has EqFunctions in windings (Ed.2.1).
    let ssd = r#"<SCL xmlns="http://www.iec.ch/61850/2003/SCL"><Header id="ssd"/>
      <Substation name="S1"><VoltageLevel name="D1"><Bay name="T1">
        <PowerTransformer name="TR1" type="PTR">
          <TransformerWinding name="W1" type="PTW">
            <EqFunction name="Regulation"><LNode iedName="None" lnClass="ATCC" lnInst="1"/></EqFunction>
            <TapChanger name="LTC" type="LTC">
              <EqFunction name="Position"><EqSubFunction name="Count"><LNode iedName="None" lnClass="YLTC" lnInst="1"/></EqSubFunction></EqFunction>
            </TapChanger>
          </TransformerWinding>
        </PowerTransformer>
        <ConductingEquipment name="BA1" type="CTR">
          <SubEquipment name="A" phase="A"><EqFunction name="Metering"><LNode iedName="None" lnClass="TCTR" lnInst="1"/></EqFunction></SubEquipment>
        </ConductingEquipment>
      </Bay></VoltageLevel></Substation></SCL>"#;
    let import = import_bytes("ssd.ssd", ssd.as_bytes()).expect("imports");
    let paths: Vec<(String, String)> = import.document.lnode_placements().iter().map(|p| (p.lnode.ln_name(), p.path.clone())).collect();
    let expected =
        [("ATCC1", "S1/D1/T1/TR1/W1/Regulation"), ("YLTC1", "S1/D1/T1/TR1/W1/LTC/Position/Count"), ("TCTR1", "S1/D1/T1/BA1/A/Metering")];
    assert_eq!(paths, expected.map(|(ln, path)| (ln.to_owned(), path.to_owned())));
}
