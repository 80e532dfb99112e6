//! Hand-written node-breaker documents for what the conformity models in the test data do not
//! contain (bays, disconnectors, measurements, voltage and power limits, zip archives) and for
//! bad input: each error names file, line and element.

use std::io::Write;

use gridtrust_cgmes::{
    CgmesError, CgmesObject, DiagnosticKind, Importer, LimitKind, MeasurementKind, ProgressUpdate, RdfProblem, SwitchKind,
};

const HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rdf:RDF xmlns:cim="http://iec.ch/TC57/2013/CIM-schema-cim16#" xmlns:entsoe="http://entsoe.eu/CIM/SchemaExtension/3/1#" xmlns:md="http://iec.ch/TC57/61970-552/ModelDescription/1#" xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
"#;

fn eq() -> String {
    format!(
        r##"{HEAD}  <md:FullModel rdf:about="urn:uuid:eq-1">
    <md:Model.profile>http://entsoe.eu/CIM/EquipmentCore/3/1</md:Model.profile>
    <md:Model.modelingAuthoritySet>http://gridtrust.example/test</md:Model.modelingAuthoritySet>
  </md:FullModel>
  <cim:BaseVoltage rdf:ID="_bv20"><cim:BaseVoltage.nominalVoltage>20</cim:BaseVoltage.nominalVoltage></cim:BaseVoltage>
  <cim:Substation rdf:ID="_ss1"><cim:IdentifiedObject.name>Nord &amp; S&#252;d</cim:IdentifiedObject.name></cim:Substation>
  <cim:VoltageLevel rdf:ID="_vl1">
    <cim:IdentifiedObject.name>20kV</cim:IdentifiedObject.name>
    <cim:VoltageLevel.Substation rdf:resource="#_ss1"/>
    <cim:VoltageLevel.BaseVoltage rdf:resource="#_bv20"/>
  </cim:VoltageLevel>
  <cim:Bay rdf:ID="_bay1"><cim:IdentifiedObject.name>Feeder 1</cim:IdentifiedObject.name><cim:Bay.VoltageLevel rdf:resource="#_vl1"/></cim:Bay>
  <cim:BusbarSection rdf:ID="_bb1"><cim:IdentifiedObject.name>BB1</cim:IdentifiedObject.name><cim:Equipment.EquipmentContainer rdf:resource="#_vl1"/></cim:BusbarSection>
  <cim:Breaker rdf:ID="_cb1">
    <cim:IdentifiedObject.name>CB1</cim:IdentifiedObject.name>
    <cim:Equipment.EquipmentContainer rdf:resource="#_bay1"/>
    <cim:Switch.normalOpen>false</cim:Switch.normalOpen>
  </cim:Breaker>
  <cim:Disconnector rdf:ID="_ds1"><cim:Equipment.EquipmentContainer rdf:resource="#_bay1"/><cim:Switch.normalOpen>true</cim:Switch.normalOpen></cim:Disconnector>
  <cim:ConformLoad rdf:ID="_ld1"><cim:Equipment.EquipmentContainer rdf:resource="#_bay1"/></cim:ConformLoad>
  <cim:ConnectivityNode rdf:ID="_cn1"><cim:ConnectivityNode.ConnectivityNodeContainer rdf:resource="#_vl1"/></cim:ConnectivityNode>
  <cim:ConnectivityNode rdf:ID="_cn2"><cim:ConnectivityNode.ConnectivityNodeContainer rdf:resource="#_bay1"/></cim:ConnectivityNode>
  <cim:Terminal rdf:ID="_t_bb1"><cim:Terminal.ConductingEquipment rdf:resource="#_bb1"/><cim:Terminal.ConnectivityNode rdf:resource="#_cn1"/><cim:ACDCTerminal.sequenceNumber>1</cim:ACDCTerminal.sequenceNumber></cim:Terminal>
  <cim:Terminal rdf:ID="_t_cb1_2"><cim:Terminal.ConductingEquipment rdf:resource="#_cb1"/><cim:Terminal.ConnectivityNode rdf:resource="#_cn2"/><cim:ACDCTerminal.sequenceNumber>2</cim:ACDCTerminal.sequenceNumber></cim:Terminal>
  <cim:Terminal rdf:ID="_t_cb1_1"><cim:Terminal.ConductingEquipment rdf:resource="#_cb1"/><cim:Terminal.ConnectivityNode rdf:resource="#_cn1"/><cim:ACDCTerminal.sequenceNumber>1</cim:ACDCTerminal.sequenceNumber></cim:Terminal>
  <cim:Analog rdf:ID="_m_p">
    <cim:IdentifiedObject.name>P feeder 1</cim:IdentifiedObject.name>
    <cim:Measurement.measurementType>ThreePhaseActivePower</cim:Measurement.measurementType>
    <cim:Measurement.phases rdf:resource="http://iec.ch/TC57/2013/CIM-schema-cim16#PhaseCode.ABC"/>
    <cim:Measurement.unitSymbol rdf:resource="http://iec.ch/TC57/2013/CIM-schema-cim16#UnitSymbol.W"/>
    <cim:Measurement.unitMultiplier rdf:resource="http://iec.ch/TC57/2013/CIM-schema-cim16#UnitMultiplier.M"/>
    <cim:Measurement.PowerSystemResource rdf:resource="#_cb1"/>
    <cim:Measurement.Terminal rdf:resource="#_t_cb1_2"/>
    <cim:Analog.positiveFlowIn>true</cim:Analog.positiveFlowIn>
  </cim:Analog>
  <cim:Discrete rdf:ID="_m_pos">
    <cim:Measurement.measurementType>SwitchPosition</cim:Measurement.measurementType>
    <cim:Measurement.phases rdf:resource="http://iec.ch/TC57/2013/CIM-schema-cim16#PhaseCode.A"/>
    <cim:Measurement.PowerSystemResource rdf:resource="#_cb1"/>
  </cim:Discrete>
  <cim:OperationalLimitType rdf:ID="_olt_high">
    <cim:OperationalLimitType.direction rdf:resource="http://iec.ch/TC57/2013/CIM-schema-cim16#OperationalLimitDirectionKind.high"/>
    <entsoe:OperationalLimitType.limitType rdf:resource="http://entsoe.eu/CIM/SchemaExtension/3/1#LimitTypeKind.highVoltage"/>
  </cim:OperationalLimitType>
  <cim:OperationalLimitSet rdf:ID="_ols1"><cim:OperationalLimitSet.Equipment rdf:resource="#_bb1"/></cim:OperationalLimitSet>
  <cim:VoltageLimit rdf:ID="_vlim"><cim:OperationalLimit.OperationalLimitSet rdf:resource="#_ols1"/><cim:OperationalLimit.OperationalLimitType rdf:resource="#_olt_high"/><cim:VoltageLimit.value>22</cim:VoltageLimit.value></cim:VoltageLimit>
  <cim:ActivePowerLimit rdf:ID="_plim"><cim:OperationalLimit.OperationalLimitSet rdf:resource="#_ols1"/><cim:ActivePowerLimit.value>12.5</cim:ActivePowerLimit.value></cim:ActivePowerLimit>
</rdf:RDF>
"##
    )
}

/// SSH written with another prefix for the CIM namespace: names are canonical whatever the file
/// calls its prefixes.
const SSH: &str = r##"<?xml version="1.0" encoding="UTF-8"?>
<rdf:RDF xmlns:c16="http://iec.ch/TC57/2013/CIM-schema-cim16#" xmlns:md="http://iec.ch/TC57/61970-552/ModelDescription/1#" xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <md:FullModel rdf:about="urn:uuid:ssh-1"><md:Model.DependentOn rdf:resource="urn:uuid:eq-1"/></md:FullModel>
  <c16:Breaker rdf:about="#_cb1"><c16:Switch.open>true</c16:Switch.open></c16:Breaker>
  <c16:ConformLoad rdf:about="#_ld1"><c16:EnergyConsumer.p>4.5</c16:EnergyConsumer.p><c16:EnergyConsumer.q>-1.25</c16:EnergyConsumer.q></c16:ConformLoad>
  <c16:Terminal rdf:about="#_t_cb1_1"><c16:ACDCTerminal.connected>true</c16:ACDCTerminal.connected></c16:Terminal>
</rdf:RDF>
"##;

fn node_breaker() -> gridtrust_cgmes::CgmesModel {
    Importer::new()
        .add_bytes("nb_EQ.xml", eq().as_bytes())
        .and_then(|i| i.add_bytes("nb_SSH.xml", SSH.as_bytes()))
        .and_then(Importer::finish)
        .expect("imports")
}

#[test]
fn node_breaker_model_has_bays_switch_states_loads_and_names_with_entities() {
    let m = node_breaker();
    assert!(m.diagnostics.is_empty(), "{:#?}", m.diagnostics);
    assert_eq!(m.substations[0].identity.name.as_deref(), Some("Nord & Süd"));
    assert_eq!(m.voltage_levels[0].nominal_kv, Some(20.0));
    let breaker = m.switches.iter().find(|s| s.kind == SwitchKind::Breaker).expect("breaker");
    assert_eq!((breaker.normal_open, breaker.open), (Some(false), Some(true)));
    let disconnector = m.switches.iter().find(|s| s.kind == SwitchKind::Disconnector).expect("disconnector");
    assert_eq!((disconnector.normal_open, disconnector.open), (Some(true), None));
    assert_eq!((m.loads[0].p_mw, m.loads[0].q_mvar), (Some(4.5), Some(-1.25)));
    let headers: Vec<_> = m.files.iter().filter_map(|f| f.header.as_ref()).collect();
    assert_eq!(headers[0].modeling_authority_set.as_deref(), Some("http://gridtrust.example/test"));
    assert_eq!(headers[1].dependent_on, ["eq-1"]);
}

#[test]
fn containment_goes_substation_voltage_level_bay_equipment_and_equipment_directly_under_a_level() {
    let m = node_breaker();
    let tree = m.containment();
    assert_eq!(tree.substations.len(), 1);
    let level = &tree.substations[0].voltage_levels[0];
    assert_eq!(level.equipment.iter().map(|e| e.mrid.as_str()).collect::<Vec<_>>(), ["bb1"]);
    assert_eq!(level.bays.len(), 1);
    let mut in_bay: Vec<_> = level.bays[0].equipment.iter().map(|e| e.mrid.as_str()).collect();
    in_bay.sort_unstable();
    assert_eq!(in_bay, ["cb1", "ds1", "ld1"]);
    assert!(tree.uncontained.is_empty());
    let path = m.location_of("_cb1");
    assert_eq!((path.bay.as_deref(), path.voltage_level.as_deref(), path.substation.as_deref()), (Some("bay1"), Some("vl1"), Some("ss1")));
    assert_eq!(m.bays_of("vl1").len(), 1);
    assert_eq!(m.voltage_levels_of("#_ss1").len(), 1);
}

#[test]
fn terminals_come_by_sequence_number_and_measurements_by_equipment_and_terminal() {
    let m = node_breaker();
    let terminals: Vec<_> = m.terminals_of("cb1").iter().map(|t| t.identity.mrid.as_str()).collect();
    assert_eq!(terminals, ["t_cb1_1", "t_cb1_2"]);
    assert_eq!(m.terminals_of("cb1")[0].connected, Some(true));
    let measurements = m.measurements_of("cb1");
    assert_eq!(measurements.len(), 2);
    let analog = measurements.iter().find(|x| x.kind == MeasurementKind::Analog).expect("analog");
    assert_eq!(analog.measurement_type.as_deref(), Some("ThreePhaseActivePower"));
    assert_eq!(
        (analog.phases.as_deref(), analog.unit_symbol.as_deref(), analog.unit_multiplier.as_deref()),
        (Some("ABC"), Some("W"), Some("M"))
    );
    assert_eq!(analog.positive_flow_in, Some(true));
    let discrete = measurements.iter().find(|x| x.kind == MeasurementKind::Discrete).expect("discrete");
    assert_eq!(
        (discrete.measurement_type.as_deref(), discrete.phases.as_deref(), discrete.terminal.as_deref()),
        (Some("SwitchPosition"), Some("A"), None)
    );
    assert_eq!(m.measurements_at_terminal("t_cb1_2").iter().map(|x| x.identity.mrid.as_str()).collect::<Vec<_>>(), ["m_p"]);
    assert!(matches!(m.get("_m_pos"), Some(CgmesObject::Measurement(_))));
}

#[test]
fn voltage_and_active_power_limits_attach_to_equipment_with_their_types() {
    let m = node_breaker();
    let sets = m.limit_sets_of("bb1");
    assert_eq!(sets.len(), 1);
    let limits = m.limits_in(sets[0]);
    let voltage = limits.iter().find(|(l, _)| l.kind == LimitKind::Voltage).expect("voltage limit");
    assert_eq!(voltage.0.value, Some(22.0));
    let limit_type = voltage.1.expect("type resolves");
    assert_eq!((limit_type.direction.as_deref(), limit_type.limit_type.as_deref()), (Some("high"), Some("highVoltage")));
    let power = limits.iter().find(|(l, _)| l.kind == LimitKind::ActivePower).expect("power limit");
    assert_eq!((power.0.value, power.1), (Some(12.5), None));
}

#[test]
fn a_dangling_reference_and_a_never_defined_object_are_reported_with_file_and_line() {
    let ssh = SSH.replace(
        r##"<c16:Terminal rdf:about="#_t_cb1_1">"##,
        "<c16:Terminal rdf:about=\"#_t_gone\">\n<c16:Terminal.ConnectivityNode rdf:resource=\"#_cn_gone\"/>",
    );
    let m = Importer::new()
        .add_bytes("nb_EQ.xml", eq().as_bytes())
        .and_then(|i| i.add_bytes("bad_SSH.xml", ssh.as_bytes()))
        .and_then(Importer::finish)
        .expect("imports");
    let not_defined =
        m.diagnostics.iter().find(|d| matches!(&d.kind, DiagnosticKind::NotDefined { mrid, .. } if mrid == "t_gone")).expect("not defined");
    assert_eq!(not_defined.file, "bad_SSH.xml");
    let dangling = m
        .diagnostics
        .iter()
        .find(|d| matches!(&d.kind, DiagnosticKind::UnresolvedReference { missing, .. } if missing == "cn_gone"))
        .expect("dangling");
    assert_eq!((dangling.file.as_str(), dangling.line, dangling.element.as_str()), ("bad_SSH.xml", 7, "cim:Terminal.ConnectivityNode"));
    assert!(dangling.to_string().starts_with("bad_SSH.xml:7: <cim:Terminal.ConnectivityNode>"));
}

#[test]
fn a_second_definition_of_an_mrid_is_reported() {
    let m = Importer::new()
        .add_bytes("a.xml", eq().as_bytes())
        .and_then(|i| i.add_bytes("b.xml", eq().as_bytes()))
        .and_then(Importer::finish)
        .expect("imports");
    assert!(m.diagnostics.iter().any(|d| d.file == "b.xml"
        && matches!(&d.kind, DiagnosticKind::DuplicateDefinition { mrid, first_file, .. } if mrid == "ss1" && first_file == "a.xml")));
}

fn import_error(document: &str) -> CgmesError {
    match Importer::new().add_bytes("bad.xml", document.as_bytes()).and_then(Importer::finish) {
        Ok(_) => panic!("imports but should not: {document}"),
        Err(e) => e,
    }
}

#[test]
fn a_bad_float_names_file_line_element_and_object() {
    let document = eq().replace("<cim:VoltageLimit.value>22<", "<cim:VoltageLimit.value>22 kV<");
    let line = document.lines().position(|l| l.contains("22 kV")).expect("line") as u64 + 1;
    match import_error(&document) {
        CgmesError::InvalidValue { file, line: at, element, mrid, value, expected } => {
            assert_eq!(
                (file.as_str(), at, element.as_str(), mrid.as_str(), value.as_str(), expected),
                ("bad.xml", line, "cim:VoltageLimit.value", "vlim", "22 kV", "float")
            );
        }
        other => panic!("unexpected {other}"),
    }
}

fn consumers(count: &str) -> String {
    format!(
        r##"{HEAD}  <cim:EnergyConsumer rdf:ID="_counted"><cim:EnergyConsumer.customerCount>{count}</cim:EnergyConsumer.customerCount></cim:EnergyConsumer>
  <cim:EnergyConsumer rdf:ID="_uncounted"><cim:IdentifiedObject.name>no count</cim:IdentifiedObject.name></cim:EnergyConsumer>
</rdf:RDF>
"##
    )
}

#[test]
fn a_consumers_customer_count_is_read_and_a_missing_one_stays_unknown() {
    let m = Importer::new().add_bytes("eq.xml", consumers(" 420 ").as_bytes()).and_then(Importer::finish).expect("imports");
    let count = |mrid: &str| m.loads.iter().find(|l| l.equipment.identity.mrid == mrid).map(|l| l.customers);
    assert_eq!((count("counted"), count("uncounted")), (Some(Some(420)), Some(None)));
}

#[test]
fn a_negative_or_fractional_customer_count_is_an_invalid_value() {
    for bad in ["-3", "12.5", "many"] {
        match import_error(&consumers(bad)) {
            CgmesError::InvalidValue { line, element, mrid, value, expected, .. } => assert_eq!(
                (line, element.as_str(), mrid.as_str(), value.as_str(), expected),
                (3, "cim:EnergyConsumer.customerCount", "counted", bad, "non-negative integer")
            ),
            other => panic!("unexpected {other}"),
        }
    }
}

#[test]
fn malformed_and_non_cgmes_documents_are_typed_errors_with_lines() {
    type Case = (&'static str, u64, fn(&CgmesError) -> bool);
    let cases: [Case; 8] = [
        ("<?xml version=\"1.0\"?>\n<x/>", 2, |e| matches!(e, CgmesError::Rdf { problem: RdfProblem::NotRdfRoot, .. })),
        ("", 1, |e| matches!(e, CgmesError::Rdf { problem: RdfProblem::MissingRoot, .. })),
        (
            "<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\" xmlns:cim=\"c#\">\n\n<cim:A>\n</cim:A></rdf:RDF>",
            3,
            |e| matches!(e, CgmesError::Rdf { problem: RdfProblem::MissingSubject, element, .. } if element == "{c#}A"),
        ),
        (
            "<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n<rdf:D rdf:ID=\"_a\">\n<rdf:p><rdf:Q rdf:ID=\"_b\"/></rdf:p></rdf:D></rdf:RDF>",
            3,
            |e| matches!(e, CgmesError::Rdf { problem: RdfProblem::NestedElement, .. }),
        ),
        (
            "<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n<rdf:D rdf:ID=\"_a\"><rdf:p>&ext;</rdf:p></rdf:D></rdf:RDF>",
            2,
            |e| matches!(e, CgmesError::Rdf { problem: RdfProblem::UnknownEntity(name), .. } if name == "ext"),
        ),
        ("<!DOCTYPE r [<!ENTITY x \"y\">]>\n<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\"/>", 1, |e| {
            matches!(e, CgmesError::Rdf { problem: RdfProblem::Doctype, .. })
        }),
        (
            "<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n<rdf:D rdf:ID=\"_a\">\n<rdf:p>1</rdf:q></rdf:D></rdf:RDF>",
            3,
            |e| matches!(e, CgmesError::Xml { .. }),
        ),
        (
            "<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n<x:D rdf:ID=\"_a\"/></rdf:RDF>",
            2,
            |e| matches!(e, CgmesError::Rdf { problem: RdfProblem::UndeclaredPrefix(p), .. } if p == "x"),
        ),
    ];
    for (document, line, expected) in cases {
        let error = import_error(document);
        assert!(expected(&error), "{document:?}: unexpected {error:?}");
        match &error {
            CgmesError::Rdf { file, line: at, .. } | CgmesError::Xml { file, line: at, .. } => {
                assert_eq!((file.as_str(), *at), ("bad.xml", line), "{document:?}: {error}");
            }
            other => panic!("{other}"),
        }
        assert!(error.to_string().starts_with(&format!("bad.xml:{line}: ")), "{error}");
    }
}

#[test]
fn progress_is_reported_per_file_up_to_its_size() {
    let document = eq();
    let mut updates: Vec<(String, u64, Option<u64>)> = Vec::new();
    Importer::new()
        .with_progress(|u: ProgressUpdate<'_>| updates.push((u.file.to_owned(), u.bytes_read, u.total_bytes)))
        .add_bytes("nb_EQ.xml", document.as_bytes())
        .and_then(|i| i.add_bytes("nb_SSH.xml", SSH.as_bytes()))
        .expect("imports");
    let eq_updates: Vec<_> = updates.iter().filter(|u| u.0 == "nb_EQ.xml").collect();
    assert!(eq_updates.len() > 10, "a 1 % step over {} bytes gives many reports", document.len());
    assert!(eq_updates.windows(2).all(|w| w[0].1 <= w[1].1), "monotonic");
    assert_eq!(eq_updates.first().map(|u| u.1), Some(0));
    assert_eq!(eq_updates.last().map(|u| (u.1, u.2)), Some((document.len() as u64, Some(document.len() as u64))));
    assert_eq!(updates.last().map(|u| (u.0.as_str(), u.1)), Some(("nb_SSH.xml", SSH.len() as u64)));
}

#[test]
fn a_zip_archive_of_profiles_imports_like_the_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("model.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).expect("create"));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, content) in [("nb_EQ.xml", eq()), ("nb_SSH.xml", SSH.to_owned()), ("readme.txt", "not a profile".to_owned())] {
        zip.start_file(name, options).expect("entry");
        zip.write_all(content.as_bytes()).expect("write");
    }
    zip.finish().expect("finish");
    let m = gridtrust_cgmes::import_paths(&[&path]).expect("zip imports");
    assert_eq!(m.files.len(), 2);
    assert!(m.files[0].name.ends_with("model.zip/nb_EQ.xml"));
    assert_eq!(m.switches.iter().find(|s| s.kind == SwitchKind::Breaker).and_then(|s| s.open), Some(true));
    let json = |m: &gridtrust_cgmes::CgmesModel| serde_json::to_value(m).expect("serialises");
    assert_eq!(json(&m), json(&node_breaker_without_file_names(&m)));

    std::fs::write(dir.path().join("broken.zip"), b"PK\x03\x04 not really").expect("write");
    assert!(matches!(gridtrust_cgmes::import_paths(&[dir.path().join("broken.zip")]), Err(CgmesError::Zip { .. })));
    let empty = tempfile::tempdir().expect("tempdir");
    assert!(matches!(gridtrust_cgmes::import_paths(&[empty.path()]), Err(CgmesError::NoFiles { .. })));
}

/// The in-memory import with the zip's file names, to compare everything else.
fn node_breaker_without_file_names(zipped: &gridtrust_cgmes::CgmesModel) -> gridtrust_cgmes::CgmesModel {
    let mut m = node_breaker();
    for (mine, theirs) in m.files.iter_mut().zip(&zipped.files) {
        mine.name.clone_from(&theirs.name);
    }
    m
}

#[test]
fn objects_only_described_by_reference_get_no_typed_object() {
    let ssh = SSH.replace(r##"<c16:Terminal rdf:about="#_t_cb1_1">"##, r##"<c16:Terminal rdf:about="#_t_gone">"##);
    let m = Importer::new()
        .add_bytes("nb_EQ.xml", eq().as_bytes())
        .and_then(|i| i.add_bytes("bad_SSH.xml", ssh.as_bytes()))
        .and_then(Importer::finish)
        .expect("imports");
    assert!(m.get("t_gone").is_none());
    assert_eq!(m.summary().terminals, 3);
    assert_eq!(m.summary().diagnostics, 1);
}
