//! CGMES 3.0 (CIM 100) files give the same typed model as CGMES 2.4.15 files saying the same
//! thing, and every file names its edition.
//!
//! The fixture in `fixtures/cgmes3_two_substations` is a hand-written CGMES 3.0 model (EQ with
//! the Operation profile, SSH, TP, SV, DL, GL). The 2.4.15 twin is derived from it here, by the
//! rewrite a CGMES 3.0 → 2.4.15 exporter does for the subset the fixture uses (namespaces,
//! profile URIs, `eu:OperationalLimitType.kind` → `entsoe:OperationalLimitType.limitType`,
//! limits' `normalValue` → `value`, and dropping what 2.4.15 does not have).

use std::path::PathBuf;

use gridtrust_cgmes::{CgmesModel, CgmesObject, CgmesVersion, Importer, LimitKind, LoadKind, SwitchKind};

const PROFILES: [&str; 6] = ["EQ", "SSH", "TP", "SV", "DL", "GL"];

fn fixture(profile: &str) -> (String, String) {
    let name = format!("TwoSubstations_{profile}.xml");
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests/fixtures/cgmes3_two_substations", &name].iter().collect();
    (name, std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

/// The same file as CGMES 2.4.15 would write it.
fn as_cgmes_2_4_15(cgmes3: &str) -> String {
    const PROFILE_URIS: [(&str, &str); 7] = [
        ("http://iec.ch/TC57/ns/CIM/CoreEquipment-EU/3.0", "http://entsoe.eu/CIM/EquipmentCore/3/1"),
        ("http://iec.ch/TC57/ns/CIM/Operation-EU/3.0", "http://entsoe.eu/CIM/EquipmentOperation/3/1"),
        ("http://iec.ch/TC57/ns/CIM/SteadyStateHypothesis-EU/3.0", "http://entsoe.eu/CIM/SteadyStateHypothesis/1/1"),
        ("http://iec.ch/TC57/ns/CIM/Topology-EU/3.0", "http://entsoe.eu/CIM/Topology/4/1"),
        ("http://iec.ch/TC57/ns/CIM/StateVariables-EU/3.0", "http://entsoe.eu/CIM/StateVariables/4/1"),
        ("http://iec.ch/TC57/ns/CIM/DiagramLayout-EU/3.0", "http://entsoe.eu/CIM/DiagramLayout/3/1"),
        ("http://iec.ch/TC57/ns/CIM/GeographicalLocation-EU/3.0", "http://entsoe.eu/CIM/GeographicalLocation/2/1"),
    ];
    // What 2.4.15 does not have: SSH limit values, in-service flags, infinite duration, switch
    // locks, solved switch states (every line of an SvSwitch element names the class).
    const CGMES3_ONLY: [&str; 6] = [
        "Limit.value>",
        "Equipment.inService",
        "Equipment.normallyInService",
        "OperationalLimitType.isInfiniteDuration",
        "Switch.locked",
        "SvSwitch",
    ];
    let kept: Vec<&str> = cgmes3.lines().filter(|line| !CGMES3_ONLY.iter().any(|p| line.contains(p))).collect();
    let mut text = kept.join("\n");
    for (new, old) in PROFILE_URIS {
        text = text.replace(new, old);
    }
    text.replace("http://iec.ch/TC57/CIM100-European#LimitKind.", "http://entsoe.eu/CIM/SchemaExtension/3/1#LimitTypeKind.")
        .replace("http://iec.ch/TC57/CIM100-European#", "http://entsoe.eu/CIM/SchemaExtension/3/1#")
        .replace("http://iec.ch/TC57/CIM100#", "http://iec.ch/TC57/2013/CIM-schema-cim16#")
        .replace("OperationalLimitType.kind", "OperationalLimitType.limitType")
        .replace("Limit.normalValue", "Limit.value")
}

fn import(rewrite: impl Fn(&str) -> String) -> CgmesModel {
    let mut importer = Importer::new();
    for profile in PROFILES {
        let (name, text) = fixture(profile);
        importer = importer.add_bytes(&name, rewrite(&text).as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    importer.finish().expect("the fixture builds")
}

fn cgmes3() -> CgmesModel {
    import(str::to_owned)
}

#[test]
fn cgmes3_files_are_recognised_by_namespace_and_profile_and_say_so() {
    let m = cgmes3();
    assert_eq!(m.files.len(), 6);
    for file in &m.files {
        assert_eq!(file.version, Some(CgmesVersion::V3_0), "{}", file.name);
        let header = file.header.as_ref().expect("every fixture file has a header");
        assert!(header.profiles.iter().all(|p| p.starts_with("http://iec.ch/TC57/ns/CIM/") && p.ends_with("-EU/3.0")));
    }
    assert_eq!(m.versions(), [CgmesVersion::V3_0]);
    assert_eq!(m.versions()[0].to_string(), "CGMES 3.0");
    assert!(m.diagnostics.is_empty(), "{:#?}", m.diagnostics);
    let twin = import(as_cgmes_2_4_15);
    assert!(twin.files.iter().all(|f| f.version == Some(CgmesVersion::V2_4_15)));
    assert_eq!(twin.versions(), [CgmesVersion::V2_4_15]);
}

#[test]
fn cgmes3_fixture_gives_typed_equipment_topology_measurements_and_state() {
    let m = cgmes3();
    let summary = m.summary();
    assert_eq!(
        (summary.substations, summary.voltage_levels, summary.bays, summary.busbar_sections, summary.ac_line_segments),
        (2, 3, 1, 3, 1)
    );
    assert_eq!((summary.power_transformers, summary.power_transformer_ends, summary.switches, summary.loads), (1, 2, 2, 2));
    assert_eq!((summary.other_equipment, summary.terminals, summary.connectivity_nodes, summary.topological_nodes), (1, 14, 5, 4));
    assert_eq!(summary.measurements, 3);

    let alpha = m.substation_named("Alpha").expect("Alpha");
    assert_eq!(alpha.identity.short_name.as_deref(), Some("ALP"), "eu:IdentifiedObject.shortName");
    assert_eq!(m.lines[0].identity.energy_ident_code_eic.as_deref(), Some("10T-FIX-AB-0001"));
    let levels: Vec<_> = m.voltage_levels_of(&alpha.identity.mrid).iter().map(|l| l.nominal_kv).collect();
    assert_eq!(levels, [Some(110.0), Some(20.0)]);

    let transformer = &m.power_transformers[0];
    let ends = m.ends_of(transformer);
    assert_eq!(ends.iter().map(|e| (e.end_number, e.rated_u_kv)).collect::<Vec<_>>(), [(Some(1), Some(110.0)), (Some(2), Some(20.5))]);
    assert_eq!(ends[0].connection_kind.as_deref(), Some("Yn"), "CIM 100 enumeration IRIs lose namespace and type");

    let disconnector = m.switches.iter().find(|s| s.kind == SwitchKind::Disconnector).expect("disconnector");
    assert_eq!((disconnector.normal_open, disconnector.open, disconnector.solved_open), (Some(false), Some(true), Some(true)));
    let town = m.loads.iter().find(|l| l.kind == LoadKind::ConformLoad).expect("Beta town");
    assert_eq!((town.p_mw, town.q_mvar), (Some(8.0), Some(2.5)));
    assert_eq!(town.equipment.in_service, Some(false), "Equipment.inService from SSH");
    assert_eq!(town.equipment.solved_in_service, Some(false), "SvStatus.inService from SV");
    let segment = &m.ac_line_segments[0];
    assert_eq!(
        (segment.equipment.normally_in_service, segment.equipment.in_service, segment.equipment.solved_in_service),
        (Some(true), Some(true), Some(true))
    );
    assert_eq!(m.location_of(&segment.equipment.identity.mrid).line.as_deref(), Some("line-ab"));

    let at_alpha = m.terminals_of(&segment.equipment.identity.mrid)[0];
    assert_eq!(at_alpha.topological_node.as_deref(), Some("tn-alpha-20"));
    assert_eq!(at_alpha.power_flow.and_then(|f| f.q_mvar), Some(-0.01));
    assert_eq!(m.measurements_at_terminal(&at_alpha.identity.mrid)[0].unit_multiplier.as_deref(), Some("M"));
    assert!(matches!(m.get("tn-alpha-20"), Some(CgmesObject::TopologicalNode(n)) if n.voltage.and_then(|v| v.v_kv) == Some(20.31)));
}

#[test]
fn cgmes3_limits_keep_normal_and_current_values_and_the_european_limit_kind() {
    let m = cgmes3();
    let sets = m.limit_sets_of("t-acls-1");
    assert_eq!(sets.len(), 1);
    let limits = m.limits_in(sets[0]);
    let read: Vec<_> = limits
        .iter()
        .map(|(l, t)| {
            let t = t.expect("limit type resolves");
            (l.kind, l.normal_value, l.value, t.limit_type.as_deref(), t.acceptable_duration_s, t.is_infinite_duration)
        })
        .collect();
    assert_eq!(
        read,
        [
            (LimitKind::Current, Some(500.0), Some(450.0), Some("patl"), None, Some(true)),
            (LimitKind::Current, Some(650.0), Some(650.0), Some("tatl"), Some(600.0), Some(false)),
        ],
        "PATL: normalValue 500 A in EQ, value 450 A in SSH; TATL: no SSH value, so the normal one is in force"
    );
    let voltage = m.limits_in(m.limit_sets_of("bbs-beta-20")[0]);
    assert_eq!(voltage.len(), 1);
    assert_eq!((voltage[0].0.kind, voltage[0].0.value), (LimitKind::Voltage, Some(22.0)));
    assert_eq!(voltage[0].1.and_then(|t| t.limit_type.as_deref()), Some("highVoltage"));
    assert_eq!(voltage[0].1.and_then(|t| t.is_infinite_duration), None);
}

/// The typed model as JSON, without what legitimately differs between the editions: the files
/// (names, versions, headers) and the properties only CGMES 3.0 has.
fn comparable(model: &CgmesModel) -> serde_json::Value {
    fn strip(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                for key in ["in_service", "normally_in_service", "solved_open"] {
                    map.remove(key);
                }
                // The 2.4.15 value is the normal value; 3.0 may override it in SSH.
                if let Some(normal) = map.get("normal_value").cloned() {
                    map.insert("value".to_owned(), normal);
                }
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut json = serde_json::to_value(model).expect("the model serialises");
    if let serde_json::Value::Object(map) = &mut json {
        map.remove("files");
    }
    strip(&mut json);
    json
}

#[test]
fn cgmes3_and_its_2_4_15_twin_give_the_same_typed_model() {
    let v3 = cgmes3();
    let v2 = import(as_cgmes_2_4_15);
    assert!(v2.diagnostics.is_empty(), "{:#?}", v2.diagnostics);
    assert_eq!(v3.summary(), v2.summary());
    assert_eq!(comparable(&v3), comparable(&v2));
    // What only 3.0 says is there in 3.0 and absent in 2.4.15.
    assert!(v3.all_equipment().any(|e| e.in_service.is_some()));
    assert!(v2.all_equipment().all(|e| e.in_service.is_none() && e.normally_in_service.is_none()));
    assert!(v3.switches.iter().all(|s| s.solved_open.is_some()) && v2.switches.iter().all(|s| s.solved_open.is_none()));
    // 2.4.15 has no isInfiniteDuration; PATL and TATL say it through the limit type.
    let infinite = |m: &CgmesModel| m.operational_limit_types.iter().map(|t| t.is_infinite_duration).collect::<Vec<_>>();
    assert_eq!(infinite(&v3), infinite(&v2));
}

#[test]
fn cgmes3_diagram_and_geographical_layout_attach_ordered_points_to_their_objects() {
    let m = cgmes3();
    assert_eq!((m.diagrams.len(), m.diagram_objects.len(), m.coordinate_systems.len(), m.locations.len()), (1, 4, 1, 2));
    assert_eq!(m.diagrams[0].orientation.as_deref(), Some("negative"));

    let busbar = m.diagram_objects_of("bbs-alpha-20");
    assert_eq!(busbar.len(), 1);
    let xy: Vec<_> = busbar[0].points.iter().map(|p| (p.sequence_number, p.x, p.y)).collect();
    assert_eq!(xy, [(Some(1), Some(40.0), Some(200.0)), (Some(2), Some(160.0), Some(200.0))], "points by sequence number, not file order");
    let line = m.diagram_objects_of("_acls-ab");
    assert_eq!(line[0].points.len(), 3);
    let breaker = m.diagram_objects_of("brk-feeder");
    assert_eq!((breaker[0].rotation_deg, breaker[0].points.len()), (Some(90.0), 1));
    let label = m.diagram_objects_of("ss-alpha");
    assert_eq!(label[0].text.as_deref(), Some("Alpha"));
    assert_eq!(m.diagram_objects_in("dg-overview").len(), 4);
    assert!(matches!(m.get("do-brk-feeder"), Some(CgmesObject::DiagramObject(_))));

    let route = m.locations_of("acls-ab");
    assert_eq!(route.len(), 1);
    let lon_lat: Vec<_> = route[0].points.iter().map(|p| (p.x, p.y)).collect();
    assert_eq!(lon_lat, [(Some(7.4474), Some(46.948)), (Some(7.5012), Some(46.9301))]);
    let system = route[0].coordinate_system.as_deref().and_then(|c| m.get(c));
    assert!(matches!(system, Some(CgmesObject::CoordinateSystem(c)) if c.crs_urn.as_deref() == Some("urn:ogc:def:crs:EPSG::4326")));
}

#[test]
fn a_file_mixing_editions_is_read_with_its_object_namespace_and_reported() {
    let mixed = r##"<?xml version="1.0" encoding="UTF-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:cim="http://iec.ch/TC57/2013/CIM-schema-cim16#"
         xmlns:md="http://iec.ch/TC57/61970-552/ModelDescription/1#">
  <md:FullModel rdf:about="urn:uuid:mixed">
    <md:Model.profile>http://iec.ch/TC57/ns/CIM/CoreEquipment-EU/3.0</md:Model.profile>
  </md:FullModel>
  <cim:Substation rdf:ID="_s1"><cim:IdentifiedObject.name>S1</cim:IdentifiedObject.name></cim:Substation>
</rdf:RDF>"##;
    let m = Importer::new().add_bytes("mixed.xml", mixed.as_bytes()).and_then(Importer::finish).expect("imports");
    assert_eq!(m.files[0].version, Some(CgmesVersion::V2_4_15));
    assert_eq!(m.substations.len(), 1);
    let reported: Vec<String> = m.diagnostics.iter().map(ToString::to_string).collect();
    assert_eq!(reported, ["mixed.xml:4: <rdf:RDF>: the file mixes CGMES 2.4.15 and CGMES 3.0; read as CGMES 2.4.15"]);
}

#[test]
fn cgmes3_boundary_points_mark_their_connectivity_nodes_like_the_2_4_15_flag() {
    let boundary = r##"<?xml version="1.0" encoding="UTF-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:cim="http://iec.ch/TC57/CIM100#"
         xmlns:eu="http://iec.ch/TC57/CIM100-European#" xmlns:md="http://iec.ch/TC57/61970-552/ModelDescription/1#">
  <md:FullModel rdf:about="urn:uuid:boundary">
    <md:Model.profile>http://iec.ch/TC57/ns/CIM/EquipmentBoundary-EU/3.0</md:Model.profile>
  </md:FullModel>
  <cim:ConnectivityNode rdf:ID="_xnode"><cim:IdentifiedObject.name>X-node</cim:IdentifiedObject.name></cim:ConnectivityNode>
  <cim:ConnectivityNode rdf:ID="_inner"/>
  <eu:BoundaryPoint rdf:ID="_bp">
    <eu:BoundaryPoint.ConnectivityNode rdf:resource="#_xnode"/>
    <eu:BoundaryPoint.fromEndIsoCode>AA</eu:BoundaryPoint.fromEndIsoCode>
  </eu:BoundaryPoint>
</rdf:RDF>"##;
    let m = Importer::new().add_bytes("EQ_BD.xml", boundary.as_bytes()).and_then(Importer::finish).expect("imports");
    assert_eq!(m.files[0].version, Some(CgmesVersion::V3_0));
    let flags: Vec<_> = m.connectivity_nodes.iter().map(|n| (n.identity.mrid.as_str(), n.boundary_point)).collect();
    assert_eq!(flags, [("xnode", Some(true)), ("inner", None)]);
}
