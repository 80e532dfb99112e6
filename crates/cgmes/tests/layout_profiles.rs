//! DL and GL in the test data become typed diagram objects and locations, and their numbers equal
//! a plain count of the object elements in the files (a string scan, independent of the reader).

mod common;

use std::collections::BTreeMap;

use gridtrust_cgmes::{CgmesModel, CgmesVersion};

/// `<cim:Class ` start tags per class in the DL and GL files of a model (the test data binds CIM
/// to the `cim` prefix throughout).
fn scanned(model: &CgmesModel) -> BTreeMap<&'static str, usize> {
    const CLASSES: [&str; 7] =
        ["Diagram", "DiagramObject", "TextDiagramObject", "DiagramObjectPoint", "CoordinateSystem", "Location", "PositionPoint"];
    let mut counts: BTreeMap<&'static str, usize> = CLASSES.iter().map(|c| (*c, 0)).collect();
    for file in model.files.iter().filter(|f| f.name.contains("_DL_") || f.name.contains("_GL_")) {
        let text = std::fs::read_to_string(&file.name).expect("readable test data");
        for class in CLASSES {
            *counts.entry(class).or_default() += text.matches(&format!("<cim:{class} ")).count();
        }
    }
    counts
}

#[test]
fn diagram_and_location_objects_of_every_test_model_match_a_plain_count_of_their_elements() {
    let mut checked = Vec::new();
    for test_model in common::models() {
        let m = common::import(&test_model);
        assert_eq!(m.versions(), [CgmesVersion::V2_4_15], "{}: the test data is CGMES 2.4.15", test_model.name);
        let expected = scanned(&m);
        let points: usize = m.diagram_objects.iter().map(|o| o.points.len()).sum();
        let positions: usize = m.locations.iter().map(|l| l.points.len()).sum();
        assert_eq!(m.diagrams.len(), expected["Diagram"], "{}", test_model.name);
        assert_eq!(m.diagram_objects.len(), expected["DiagramObject"] + expected["TextDiagramObject"], "{}", test_model.name);
        assert_eq!(points, expected["DiagramObjectPoint"], "{}: every point belongs to a diagram object", test_model.name);
        assert_eq!(m.coordinate_systems.len(), expected["CoordinateSystem"], "{}", test_model.name);
        assert_eq!(m.locations.len(), expected["Location"], "{}", test_model.name);
        assert_eq!(positions, expected["PositionPoint"], "{}: every position point belongs to a location", test_model.name);

        // Every point has coordinates, and points follow their sequence numbers.
        for object_points in m.diagram_objects.iter().map(|o| &o.points).chain(m.locations.iter().map(|l| &l.points)) {
            assert!(object_points.iter().all(|p| p.x.is_some() && p.y.is_some()), "{}", test_model.name);
            assert!(object_points.windows(2).all(|w| w[0].sequence_number <= w[1].sequence_number), "{}", test_model.name);
        }
        // The lookups by placed object find every diagram object and location.
        for object in &m.diagram_objects {
            let placed = object.identified_object.as_deref().expect("every test data diagram object places an object");
            assert!(m.diagram_objects_of(placed).iter().any(|o| o.identity.mrid == object.identity.mrid));
        }
        for location in &m.locations {
            for resource in &location.power_system_resources {
                assert!(m.locations_of(resource).iter().any(|l| l.identity.mrid == location.identity.mrid));
            }
        }
        let typed = m.diagram_objects.iter().filter(|o| o.identified_object.as_deref().and_then(|p| m.get(p)).is_some()).count();
        println!(
            "{}: {} diagrams, {} diagram objects ({typed} on typed objects), {points} points; {} locations, {positions} position points",
            test_model.name,
            m.diagrams.len(),
            m.diagram_objects.len(),
            m.locations.len()
        );
        checked.push((test_model.name, m.diagram_objects.len(), m.locations.len()));
    }
    assert_eq!(
        checked,
        [("MicroGrid BE", 108, 9), ("MicroGrid NL", 104, 6), ("MicroGrid Assembled", 207, 15), ("MiniGrid BusBranch", 58, 0)]
    );
}

#[test]
fn microgrid_be_places_its_substations_on_the_map_and_its_equipment_on_the_diagram() {
    let m = common::import(&common::models().into_iter().find(|m| m.name == "MicroGrid BE").expect("MicroGrid BE"));
    assert_eq!(m.coordinate_systems[0].crs_urn.as_deref(), Some("urn:ogc:def:crs:EPSG::4326"));
    let located: Vec<&str> =
        m.locations.iter().flat_map(|l| &l.power_system_resources).filter_map(|r| m.get(r)).map(|o| o.mrid()).collect();
    assert_eq!(located.len(), 9, "every BE location places an object of the model");
    let breaker_or_line = m.ac_line_segments.iter().map(|l| &l.equipment.identity.mrid).find(|id| !m.diagram_objects_of(id).is_empty());
    assert!(breaker_or_line.is_some(), "line segments are drawn");
}
