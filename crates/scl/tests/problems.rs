//! Broken SCL gets specific errors naming line and element, several at once; hostile templates
//! (cycles, deep chains, multiplying fan-out) fail cleanly; deviations with one clear reading are
//! warnings that say how they were read, and errors in strict mode; the Substation section is
//! read and mapped to logical nodes.

use gridtrust_scl::{Import, Mode, Problem, SclErrors, TypeKind, Warning, import_bytes, import_bytes_as};

/// A small valid CID; tests replace parts of it. Line numbers below refer to this text.
const BASE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<SCL xmlns="http://www.iec.ch/61850/2003/SCL">
  <Header id="t"/>
  <IED name="IED1">
    <AccessPoint name="AP1"><Server>
      <LDevice inst="LD1">
        <LN0 lnClass="LLN0" inst="" lnType="LLN0_T">
          <DataSet name="DS1"><FCDA ldInst="LD1" lnClass="GGIO" lnInst="1" doName="Ind1" daName="stVal" fc="ST"/></DataSet>
          <ReportControl name="RCB1" datSet="DS1" rptID="r1"><TrgOps dchg="true"/><RptEnabled max="2"/></ReportControl>
        </LN0>
        <LN lnClass="GGIO" inst="1" lnType="GGIO_T">
          <DOI name="Mod"><DAI name="ctlModel"><Val>status-only</Val></DAI></DOI>
        </LN>
      </LDevice>
    </Server></AccessPoint>
  </IED>
  <DataTypeTemplates>
    <LNodeType id="LLN0_T" lnClass="LLN0"><DO name="Mod" type="INC_T"/></LNodeType>
    <LNodeType id="GGIO_T" lnClass="GGIO"><DO name="Mod" type="INC_T"/><DO name="Ind1" type="SPS_T"/></LNodeType>
    <DOType id="INC_T" cdc="INC"><DA name="stVal" bType="INT32" fc="ST"/><DA name="ctlModel" bType="Enum" type="CtlModels" fc="CF"/></DOType>
    <DOType id="SPS_T" cdc="SPS"><DA name="stVal" bType="BOOLEAN" fc="ST"/><DA name="q" bType="Quality" fc="ST"/></DOType>
    <EnumType id="CtlModels"><EnumVal ord="0">status-only</EnumVal><EnumVal ord="1">direct-with-normal-security</EnumVal></EnumType>
  </DataTypeTemplates>
</SCL>
"#;

fn with(replacements: &[(&str, &str)]) -> String {
    let mut text = BASE.to_owned();
    for (from, to) in replacements {
        assert!(text.contains(from), "fixture contains {from}");
        text = text.replacen(from, to, 1);
    }
    text
}

fn errors_of(text: &str) -> SclErrors {
    import_bytes("t.cid", text.as_bytes()).expect_err("must fail")
}

/// `(line, element, message)` of each error, for compact assertions.
fn summary(errors: &SclErrors) -> Vec<(u32, &'static str, String)> {
    errors.errors.iter().map(|e| (e.location.line, e.location.element, e.problem.to_string())).collect()
}

/// Imports `text` tolerantly, checks that it warns exactly `expected` (`line:column <element>
/// message`), and that strict mode refuses it with the same deviations as errors.
fn tolerated(text: &str, expected: &[&str]) -> Import {
    let import = import_bytes("t.cid", text.as_bytes()).unwrap_or_else(|e| panic!("tolerated: {e}"));
    let warnings: Vec<String> = import
        .warnings
        .iter()
        .map(|w| format!("{}:{} <{}> {}", w.location.line, w.location.column, w.location.element, w.warning))
        .collect();
    assert_eq!(warnings, expected);
    let errors = import_bytes_as("t.cid", text.as_bytes(), Mode::Strict).expect_err("strict refuses deviations");
    let strict: Vec<&Warning> = errors
        .errors
        .iter()
        .map(|e| match &e.problem {
            Problem::Strict(warning) => warning.as_ref(),
            other => panic!("only deviations are errors in strict mode, not {other}"),
        })
        .collect();
    assert_eq!(strict, import.warnings.iter().map(|w| &w.warning).collect::<Vec<_>>());
    import
}

#[test]
fn the_base_fixture_imports() {
    let import = import_bytes("t.cid", BASE.as_bytes()).expect("valid");
    let ied = import.ied("IED1").expect("IED1");
    assert_eq!(ied.attributes.len(), 6);
    assert_eq!(ied.attribute("LD1/GGIO1.Mod.ctlModel").and_then(|a| a.value.as_deref()), Some("status-only"));
}

#[test]
fn unresolved_type_references_name_line_element_and_id() {
    let errors = errors_of(&with(&[
        (r#"lnType="GGIO_T""#, r#"lnType="GGIO_X""#),
        (r#"<DO name="Mod" type="INC_T"/></LNodeType>"#, r#"<DO name="Mod" type="INC_X"/></LNodeType>"#),
        (r#"type="CtlModels" fc="CF""#, r#"type="CtlModelz" fc="CF""#),
    ]));
    assert_eq!(
        summary(&errors),
        [
            (18, "DO", "DOType `INC_X` is not defined in DataTypeTemplates".to_owned()),
            (11, "LN", "LNodeType `GGIO_X` is not defined in DataTypeTemplates".to_owned()),
            // With GGIO1 gone, the data set member no longer resolves.
            (8, "FCDA", "FCDA `LD1/GGIO1.Ind1.stVal` [ST] matches no data attribute of IED `IED1`".to_owned()),
        ]
    );
    // An undefined EnumType has one clear reading (an enumeration whose names are unknown): a warning.
    let warnings: Vec<(u32, &str, String)> =
        errors.warnings.iter().map(|w| (w.location.line, w.location.element, w.warning.to_string())).collect();
    assert_eq!(
        warnings,
        [(
            20,
            "DA",
            "EnumType `CtlModelz` is not defined in DataTypeTemplates; read as an enumeration without names (ordinals only)".to_owned()
        )]
    );
    assert!(matches!(&errors.errors[0].problem, Problem::UnresolvedType { kind: TypeKind::DOType, id } if id == "INC_X"));
}

#[test]
fn several_instance_problems_are_reported_in_one_run() {
    let errors = errors_of(&with(&[
        ("<Val>status-only</Val>", "<Val>sometimes</Val>"),
        (r#"datSet="DS1""#, r#"datSet="DS9""#),
        (r#"<LDevice inst="LD1">"#, r#"<LDevice>"#),
    ]));
    let messages: Vec<String> =
        errors.errors.iter().map(|e| format!("{} <{}> {}", e.location.line, e.location.element, e.problem)).collect();
    assert_eq!(
        messages,
        [
            "6 <LDevice> required attribute `inst` is missing",
            "12 <DAI> value `sometimes` is not valid for Enum: not a value of EnumType `CtlModels` (status-only, direct-with-normal-security)",
            "8 <FCDA> FCDA `LD1/GGIO1.Ind1.stVal` [ST] matches no data attribute of IED `IED1`",
            "9 <ReportControl> data set `DS9` does not exist in this logical node",
        ]
    );
    // Display lists them all with the file name.
    let shown = errors.to_string();
    assert!(shown.starts_with("4 error(s) in SCL\n  t.cid:6:7: <LDevice>: required attribute `inst` is missing"), "{shown}");
}

#[test]
fn bad_attribute_values_are_named() {
    let errors = errors_of(&with(&[
        (r#"bType="BOOLEAN" fc="ST""#, r#"bType="BOOL" fc="ST""#),
        (r#"<DA name="q" bType="Quality" fc="ST"/>"#, r#"<DA name="q" bType="Quality" fc="XY"/>"#),
        (r#"<RptEnabled max="2"/>"#, r#"<RptEnabled max="two"/>"#),
        (r#"<TrgOps dchg="true"/>"#, r#"<TrgOps dchg="yes"/>"#),
    ]));
    let problems: Vec<String> = errors.errors.iter().map(|e| format!("{} {}", e.location.line, e.problem)).collect();
    assert_eq!(
        problems,
        [
            "9 attribute `dchg` has the invalid value `yes`: expected true or false",
            "9 attribute `max` has the invalid value `two`: expected an unsigned number",
            "21 attribute `bType` has the invalid value `BOOL`: not an IEC 61850-6 basic type",
            "21 attribute `fc` has the invalid value `XY`: not a functional constraint (ST, MX, CO, SP, SV, CF, DC, SG, SE, SR, OR, BL, EX)",
            // The attribute with the unknown type cannot be part of the model, so neither can the member.
            "8 FCDA `LD1/GGIO1.Ind1.stVal` [ST] matches no data attribute of IED `IED1`",
        ]
    );
}

#[test]
fn malformed_xml_names_the_line() {
    let errors = errors_of(&with(&[("</LDevice>", "</LDevic>")]));
    let [error] = &errors.errors[..] else { panic!("one syntax error: {errors}") };
    assert!(matches!(&error.problem, Problem::Syntax(message) if message.contains("LDevic")), "{error}");
    assert_eq!(error.location.line, 14);

    let truncated = &BASE[..BASE.find("<DataTypeTemplates>").expect("marker")];
    let errors = errors_of(truncated);
    assert!(matches!(&errors.errors[..], [e] if matches!(e.problem, Problem::Syntax(_))), "{errors}");

    let errors = errors_of("<?xml version=\"1.0\"?><Model/>");
    assert_eq!(summary(&errors), [(1, "element", "the root element is <Model>, an SCL file starts with <SCL>".to_owned())]);
    assert!(matches!(&errors_of("").errors[0].problem, Problem::Syntax(_)));
}

#[test]
fn conflicting_duplicate_types_are_errors_identical_ones_warnings() {
    let sps = r#"<DOType id="SPS_T" cdc="SPS"><DA name="stVal" bType="BOOLEAN" fc="ST"/><DA name="q" bType="Quality" fc="ST"/></DOType>"#;
    let identical = with(&[(sps, &format!("{sps}\n{sps}"))]);
    let import = import_bytes("t.cid", identical.as_bytes()).expect("identical duplicate is fine");
    assert!(matches!(&import.warnings[..], [w] if matches!(w.warning, Warning::IdenticalDuplicate { .. })));

    let different = with(&[(sps, &format!("{sps}\n{}", sps.replace("BOOLEAN", "INT32")))]);
    let errors = errors_of(&different);
    assert_eq!(
        summary(&errors),
        [(22, "DOType", "DOType `SPS_T` is defined again here, differently from its first definition at line 21".to_owned())]
    );
}

#[test]
fn type_cycles_are_errors_not_stack_overflows() {
    let templates =
        r#"<DOType id="SPS_T" cdc="SPS"><DA name="stVal" bType="BOOLEAN" fc="ST"/><DA name="q" bType="Quality" fc="ST"/></DOType>"#;
    let cyclic = r#"<DOType id="SPS_T" cdc="SPS"><DA name="stVal" bType="BOOLEAN" fc="ST"/><DA name="q" bType="Struct" type="A" fc="ST"/><SDO name="again" type="SPS_T"/></DOType>
    <DAType id="A"><BDA name="b" bType="Struct" type="B"/></DAType>
    <DAType id="B"><BDA name="a" bType="Struct" type="A"/></DAType>"#;
    let errors = errors_of(&with(&[(templates, cyclic)]));
    let problems: Vec<String> = errors.errors.iter().map(|e| e.problem.to_string()).collect();
    assert_eq!(problems, ["type reference cycle: A -> B -> A", "type reference cycle: SPS_T -> SPS_T"]);
}

#[test]
fn deep_and_multiplying_templates_hit_limits() {
    // A chain of 500 DATypes: refused at the depth limit, without recursing 500 deep.
    let mut chain = String::new();
    for i in 0..500 {
        chain.push_str(&format!(r#"<DAType id="D{i}"><BDA name="x" bType="Struct" type="D{}"/></DAType>"#, i + 1));
    }
    chain.push_str(r#"<DAType id="D500"><BDA name="x" bType="INT32"/></DAType>"#);
    let deep = with(&[
        (r#"<DA name="q" bType="Quality" fc="ST"/>"#, r#"<DA name="q" bType="Struct" type="D0" fc="ST"/>"#),
        ("</DataTypeTemplates>", &format!("{chain}</DataTypeTemplates>")),
    ]);
    let errors = errors_of(&deep);
    assert!(errors.errors.iter().any(|e| matches!(&e.problem, Problem::NestingTooDeep { limit: 64, .. })), "{errors}");

    // Each type holds 10 of the next, 8 levels: 10^8 leaves would be needed; refused quickly.
    let mut fan = String::new();
    for i in 0..8 {
        let bdas: String = (0..10).map(|j| format!(r#"<BDA name="f{j}" bType="Struct" type="F{}"/>"#, i + 1)).collect();
        fan.push_str(&format!(r#"<DAType id="F{i}">{bdas}</DAType>"#));
    }
    fan.push_str(r#"<DAType id="F8"><BDA name="x" bType="INT32"/></DAType>"#);
    let wide = with(&[
        (r#"<DA name="q" bType="Quality" fc="ST"/>"#, r#"<DA name="q" bType="Struct" type="F0" fc="ST"/>"#),
        ("</DataTypeTemplates>", &format!("{fan}</DataTypeTemplates>")),
    ]);
    let started = std::time::Instant::now();
    let errors = errors_of(&wide);
    assert!(errors.errors.iter().any(|e| matches!(e.problem, Problem::TooManyAttributes { .. })), "{errors}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "refused in {:?}", started.elapsed());
}

#[test]
fn substation_section_and_lnode_placements() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/substation.scd");
    let import = gridtrust_scl::import_file(path).expect("fixture imports");
    let [substation] = &import.document.substations[..] else { panic!("one substation") };
    assert_eq!(substation.name, "S1");
    let [e1, d1] = &substation.voltage_levels[..] else { panic!("two voltage levels") };
    let voltage = e1.voltage.as_ref().expect("voltage");
    assert_eq!(
        (voltage.value, voltage.unit.as_str(), voltage.multiplier.as_str(), voltage.base_value()),
        (110.0, "V", "k", Some(110_000.0))
    );
    let bay = &e1.bays[0];
    let equipment: Vec<(&str, &str, usize)> =
        bay.conducting_equipment.iter().map(|c| (c.name.as_str(), c.equipment_type.as_str(), c.terminals.len())).collect();
    assert_eq!(equipment, [("QA1", "CBR", 2), ("QB1", "DIS", 1), ("BA1", "CTR", 1)]);
    let t2 = &bay.conducting_equipment[0].terminals[1];
    assert_eq!((t2.connectivity_node.as_str(), t2.c_node_name.as_str(), t2.bay_name.as_deref()), ("S1/E1/Q01/L2", "L2", Some("Q01")));
    assert_eq!(bay.connectivity_nodes.iter().map(|n| n.path_name.as_str()).collect::<Vec<_>>(), ["S1/E1/Q01/L1", "S1/E1/Q01/L2"]);
    let transformer = &d1.bays[0].power_transformers[0];
    assert_eq!(transformer.windings.iter().map(|w| w.name.as_str()).collect::<Vec<_>>(), ["W1", "W2"]);
    assert_eq!(transformer.windings[0].tap_changer.as_ref().map(|t| t.name.as_str()), Some("LTC"));

    let placements: Vec<(String, String, Option<String>)> =
        import.document.lnode_placements().iter().map(|p| (p.ln_reference().1, p.path.clone(), p.equipment_type.clone())).collect();
    let expected: Vec<(String, String, Option<String>)> = [
        ("CTRL/LLN0", "S1", None),
        ("CTRL/LPHD1", "S1/E1/Q01", None),
        ("CTRL/XCBR1", "S1/E1/Q01/QA1", Some("CBR")),
        ("CTRL/Q0CSWI1", "S1/E1/Q01/QA1", Some("CBR")),
        ("MEAS/TCTR1", "S1/E1/Q01/BA1/A", Some("CTR")),
        ("MEAS/YPTR1", "S1/D1/T1/TR1", Some("PTR")),
        ("MEAS/YLTC1", "S1/D1/T1/TR1/W1/LTC", Some("PTR")),
    ]
    .into_iter()
    .map(|(ln, path, kind)| (ln.to_owned(), path.to_owned(), kind.map(str::to_owned)))
    .collect();
    assert_eq!(placements, expected);
    assert_eq!(import.document.mms_endpoints("BCU1")[0].port, 10102);

    // An LNode naming a logical node the IED does not have is a warning at the LNode.
    let text = std::fs::read_to_string(path).expect("read").replace(r#"lnClass="XCBR" lnInst="1"/>"#, r#"lnClass="XCBR" lnInst="2"/>"#);
    let import = import_bytes("t.scd", text.as_bytes()).expect("tolerated");
    let warnings: Vec<String> =
        import.warnings.iter().map(|w| format!("{} <{}> {}", w.location.line, w.location.element, w.warning)).collect();
    assert_eq!(
        warnings,
        ["15 <LNode> LNode refers to logical node `CTRL/XCBR2` of IED `BCU1`, which that IED does not have; it places nothing"]
    );
}

// Deviations seen in files that open-source tools write and load (the file each pattern was
// found in is named; the fixtures here are our own).

#[test]
fn missing_header_is_read_as_an_empty_header() {
    // libiec61850 tools/model_generator/genericIO.icd has no <Header>.
    let import = tolerated(&with(&[(r#"<Header id="t"/>"#, "")]), &["2:1 <SCL> the file has no <Header>; read with an empty header id"]);
    assert_eq!(import.document.header.id, "");
}

#[test]
fn an_undefined_enum_type_reads_as_an_enumeration_without_names() {
    // OpenSCD's valid2003.scd and others name EnumTypes their templates do not define.
    let import = tolerated(
        &with(&[(r#"type="CtlModels" fc="CF""#, r#"type="CtlModelz" fc="CF""#)]),
        &["20:74 <DA> EnumType `CtlModelz` is not defined in DataTypeTemplates; read as an enumeration without names (ordinals only)"],
    );
    let ied = import.ied("IED1").expect("IED1");
    let ctl = ied.attribute("LD1/GGIO1.Mod.ctlModel").expect("the attribute is still there");
    assert_eq!(ctl.value.as_deref(), Some("status-only"), "its value is kept as written");
}

#[test]
fn fcda_ld_inst_with_the_ied_name_in_front_reads_as_the_ld() {
    // libiec61850 tools/model_generator/complexModel.icd: ldInst="ied1Inverter" for IED ied1, LD Inverter.
    let import = tolerated(
        &with(&[(r#"<FCDA ldInst="LD1""#, r#"<FCDA ldInst="IED1LD1""#)]),
        &["8:31 <FCDA> FCDA ldInst `IED1LD1` is the LD's full name; read as LD `LD1`"],
    );
    let ied = import.ied("IED1").expect("IED1");
    assert_eq!(ied.data_sets[0].members[0].reference, "LD1/GGIO1.Ind1.stVal");
    assert_eq!(ied.data_sets[0].members[0].attributes.len(), 1);
    // The document keeps what was written.
    assert_eq!(
        import.document.ieds[0]
            .logical_devices()
            .next()
            .and_then(|ld| ld.ln0.as_ref())
            .map(|ln0| ln0.data_sets[0].fcdas[0].ld_inst.as_str()),
        Some("IED1LD1")
    );

    // An ldName counts as the LD's full name too; a name that is neither is still an error.
    let named = with(&[
        (r#"<LDevice inst="LD1">"#, r#"<LDevice inst="LD1" ldName="Bay1Ctrl">"#),
        (r#"<FCDA ldInst="LD1""#, r#"<FCDA ldInst="Bay1Ctrl""#),
    ]);
    tolerated(&named, &["8:31 <FCDA> FCDA ldInst `Bay1Ctrl` is the LD's full name; read as LD `LD1`"]);
    let errors = errors_of(&with(&[(r#"<FCDA ldInst="LD1""#, r#"<FCDA ldInst="IED2LD1""#)]));
    assert_eq!(summary(&errors), [(8, "FCDA", "FCDA `IED2LD1/GGIO1.Ind1.stVal` [ST] matches no data attribute of IED `IED1`".to_owned())]);
}

#[test]
fn fcda_naming_lln0_with_an_instance_reads_as_lln0() {
    // libiec61850 dotnet/tests/simpleIO_control_tests.scd: lnClass="LLN0" lnInst="1".
    let text = with(&[(
        r#"<FCDA ldInst="LD1" lnClass="GGIO" lnInst="1" doName="Ind1" daName="stVal" fc="ST"/>"#,
        r#"<FCDA ldInst="LD1" lnClass="LLN0" lnInst="1" doName="Mod" daName="stVal" fc="ST"/>"#,
    )]);
    let import = tolerated(&text, &["8:31 <FCDA> FCDA names LLN0 with lnInst `1`; LLN0 has no instance number, read as LLN0"]);
    assert_eq!(import.ied("IED1").expect("IED1").data_sets[0].members[0].reference, "LD1/LLN0.Mod.stVal");
}

#[test]
fn empty_dat_set_reads_as_a_control_block_without_data_set() {
    // libiec61850 examples/server_example_substitution/substitution_example.cid: datSet="".
    let import = tolerated(
        &with(&[(r#"datSet="DS1""#, r#"datSet="""#)]),
        &["9:11 <ReportControl> ReportControl has an empty datSet; read as a control block without a data set"],
    );
    let ln0 = import.document.ieds[0].logical_devices().next().and_then(|ld| ld.ln0.as_ref()).expect("LN0");
    assert_eq!(ln0.report_controls[0].dat_set, None);
}

#[test]
fn instances_of_what_the_type_does_not_have_are_ignored() {
    // libiec61850 dotnet/tests/test.icd: <DAI name="mag" sAddr="101"/> where mag is a struct;
    // OpenSCD valid2007B4.scd: a DAI `Pos.pulseConfig.numPls` its CSWI type does not have.
    let text = with(&[(
        r#"<DOI name="Mod">"#,
        r#"<DOI name="Ind1"><DAI name="nope"/><DAI name="x"><Val>1</Val></DAI></DOI><DOI name="Foo"/><DOI name="Mod">"#,
    )]);
    let import = tolerated(
        &text,
        &[
            "12:28 <DAI> DAI `Ind1.nope` is not a data attribute with a basic type in LNodeType `GGIO_T`; ignored",
            "12:46 <DAI> DAI `Ind1.x` is not a data attribute with a basic type in LNodeType `GGIO_T`; ignored, so its value `1` is not applied",
            "12:84 <DOI> DOI `Foo` is not a data object of LNodeType `GGIO_T`; ignored with its DAIs",
        ],
    );
    assert_eq!(import.ied("IED1").expect("IED1").attributes.len(), 6);
}

#[test]
fn what_places_or_addresses_nothing_is_left_out() {
    // OpenSCD communication/communication.scd: an SMV address for a block the IED does not have;
    // OpenSCD valid2007B4withIEDModifications.scd: an LDevice without LN0.
    let text = with(&[
        (
            "<IED name=",
            r#"<Communication><SubNetwork name="N"><ConnectedAP iedName="IED1" apName="AP1"><SMV ldInst="LD1" cbName="gone"/></ConnectedAP></SubNetwork></Communication><IED name="#,
        ),
        ("</Server>", r#"<LDevice inst="LD2"/></Server>"#),
        (
            r#"<DA name="q" bType="Quality" fc="ST"/>"#,
            r#"<DA name="q" bType="Quality" fc="ST"/><DA name="angRef" bType="Struct" fc="CF"/>"#,
        ),
    ]);
    tolerated(
        &text,
        &[
            "15:5 <LDevice> LDevice has no LN0; read as a logical device without LLN0",
            "21:114 <DA> DA `angRef` is a Struct without `type`; read as a structure with no attributes",
            "4:80 <SMV> SMV address names control block `LD1/gone`, which IED `IED1` does not have; left out",
        ],
    );
}

#[test]
fn ln_class_that_differs_from_its_type_reads_with_the_type() {
    // libiec61850 demos/beaglebone/beagle_demo.icd: an FSCC LN with the LNodeType of FSCH.
    let import = tolerated(
        &with(&[
            (r#"<LN lnClass="GGIO" inst="1" lnType="GGIO_T">"#, r#"<LN lnClass="GAPC" inst="1" lnType="GGIO_T">"#),
            (r#"lnClass="GGIO" lnInst="1""#, r#"lnClass="GAPC" lnInst="1""#),
        ]),
        &["11:9 <LN> LN of class `GAPC` uses LNodeType `GGIO_T`, which is for class `GGIO`; read with that type's data objects"],
    );
    assert!(import.ied("IED1").expect("IED1").attribute("LD1/GAPC1.Ind1.stVal").is_some());
}
