//! The assistant on the demo grid (Northfield: feeders F1 and F2, tie switch TS1 between them).

use std::collections::BTreeMap;

use gridtrust_assist::{Action, AlarmIn, Assistant, Estimated, FlowModel, GridIndex, Incident, Situation, WINDOW_S};
use gridtrust_cgmes::CgmesModel;
use gridtrust_model::{AlarmKind, Severity, Timestamp};
use gridtrust_sim::grid::DemoGrid;

const S: i64 = 1_000_000_000;

fn assistant_with_loads(scale: f64) -> Assistant {
    let mut grid = DemoGrid::load().unwrap();
    for load in &mut grid.cgmes.loads {
        load.p_mw = load.p_mw.map(|p| p * scale);
        load.q_mvar = load.q_mvar.map(|q| q * scale);
    }
    Assistant::new(GridIndex::new(grid.joined), Some(FlowModel::new(grid.cgmes, grid.untyped)), WINDOW_S)
}

fn alarm(id: u64, at_s: i64, kind: AlarmKind, source: &str, point: Option<&str>) -> AlarmIn {
    let severity = match kind {
        AlarmKind::Trust => Severity::Critical,
        AlarmKind::BadData | AlarmKind::Command => Severity::Major,
        _ => Severity::Minor,
    };
    AlarmIn {
        id,
        at: Timestamp(1_800_000_000 * S + at_s * S),
        severity,
        source: source.into(),
        kind,
        message: "test".into(),
        point: point.map(Into::into),
    }
}

fn f1_breaker_open(a: &Assistant) -> BTreeMap<String, bool> {
    let breaker = a.index().feeders[0].breaker.clone().unwrap();
    BTreeMap::from([(breaker, true)])
}

fn kinds(incident: &Incident) -> Vec<&'static str> {
    incident.recommendations.iter().map(|r| r.action.kind()).collect()
}

#[test]
fn a_signature_failure_and_bad_data_on_f1_within_a_minute_are_one_incident_that_blocks_the_point_first() {
    let a = assistant_with_loads(1.0);
    let alarms =
        [alarm(7, 0, AlarmKind::Trust, "edge-1", Some("F1/MMXU1.TotW")), alarm(8, 12, AlarmKind::BadData, "hub", Some("F1/MMXU1.TotW"))];
    let estimates =
        [Estimated { point: "F1/MMXU1.TotW".into(), value_pu: 0.062, estimate_pu: Some(0.031), normalised_residual: Some(41.5) }];
    let incidents = a.incidents(&alarms, &Situation { estimates: &estimates, ..Situation::default() });
    assert_eq!(incidents.len(), 1);
    let incident = &incidents[0];
    assert_eq!(incident.id, 7);
    assert_eq!(incident.alarms, [7, 8]);
    assert_eq!(incident.severity, Severity::Critical);
    assert!(incident.escalated, "trust and a grid anomaly together");
    assert_eq!(incident.feeders, ["F1"]);
    let first = &incident.recommendations[0];
    assert_eq!(first.action, Action::BlockPoint { point: "F1/MMXU1.TotW".into() });
    assert_eq!(first.rank, 1);
    assert!(first.reason.contains("41.5") && first.reason.contains("+100 %"), "{}", first.reason);
    assert!(first.effect.contains("0.0310 pu"), "{}", first.effect);
    // The edge is a suspect with one point; the bay's breaker commands want a second person.
    assert!(kinds(incident).contains(&"isolate-edge"));
    assert!(kinds(incident).contains(&"second-person"));
    // F1 is supplied: no crew for supply, no re-route.
    assert!(!kinds(incident).contains(&"reroute"));
    assert_eq!(incident.supply.unsupplied_mw, 0.0);
    assert!((incident.supply.total_mw - 3.1).abs() < 1e-9, "{}", incident.supply.total_mw);
}

#[test]
fn bad_data_alone_is_not_escalated_and_blocks_the_point() {
    let a = assistant_with_loads(1.0);
    let incidents = a.incidents(&[alarm(1, 0, AlarmKind::BadData, "hub", Some("F2/MMXU1.TotVAr"))], &Situation::default());
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0].severity, Severity::Major);
    assert!(!incidents[0].escalated);
    assert_eq!(kinds(&incidents[0]), ["block-point"]);
    assert_eq!(incidents[0].recommendations[0].priority, 70);
}

#[test]
fn alarms_on_two_unrelated_feeders_are_two_incidents() {
    let a = assistant_with_loads(1.0);
    let alarms =
        [alarm(1, 0, AlarmKind::BadData, "hub", Some("F1/MMXU1.TotW")), alarm(2, 5, AlarmKind::BadData, "hub", Some("F2/MMXU1.TotW"))];
    let incidents = a.incidents(&alarms, &Situation::default());
    assert_eq!(incidents.len(), 2);
    let feeders: Vec<&[String]> = incidents.iter().map(|i| i.feeders.as_slice()).collect();
    assert_eq!(feeders, [["F2".to_owned()], ["F1".to_owned()]], "newest first");
}

#[test]
fn related_alarms_further_apart_than_the_window_are_two_incidents() {
    let a = assistant_with_loads(1.0);
    let alarms = [
        alarm(1, 0, AlarmKind::BadData, "hub", Some("F1/MMXU1.TotW")),
        alarm(2, WINDOW_S + 1, AlarmKind::BadData, "hub", Some("F1/MMXU1.TotW")),
    ];
    assert_eq!(a.incidents(&alarms, &Situation::default()).len(), 2);
    // A third alarm in between links them: one incident.
    let linked = [alarms[0].clone(), alarms[1].clone(), alarm(3, WINDOW_S / 2, AlarmKind::Profile, "hub", Some("F1/MMXU1.A.phsA"))];
    let incidents = a.incidents(&linked, &Situation::default());
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0].alarms, [1, 3, 2]);
}

#[test]
fn one_edge_failing_on_two_feeders_is_one_incident_that_isolates_the_edge() {
    let a = assistant_with_loads(1.0);
    let alarms =
        [alarm(1, 0, AlarmKind::Trust, "edge-1", Some("F1/MMXU1.TotW")), alarm(2, 3, AlarmKind::Trust, "edge-1", Some("F2/MMXU1.TotW"))];
    let incidents = a.incidents(&alarms, &Situation::default());
    assert_eq!(incidents.len(), 1);
    let isolate = incidents[0].recommendations.iter().find(|r| r.action == Action::IsolateEdge { edge: "edge-1".into() }).unwrap();
    assert_eq!(isolate.priority, 80);
    assert!(isolate.reason.contains("2 points"), "{}", isolate.reason);
}

#[test]
fn repeated_alarms_on_a_point_are_summed_up_in_the_reason() {
    let a = assistant_with_loads(1.0);
    let alarms: Vec<AlarmIn> = (0..4).map(|i| alarm(i + 1, i as i64 * 15, AlarmKind::Trust, "edge-1", Some("F2/MMXU1.TotW"))).collect();
    let incidents = a.incidents(&alarms, &Situation::default());
    assert_eq!(incidents.len(), 1);
    let block = &incidents[0].recommendations[0];
    assert_eq!(block.action, Action::BlockPoint { point: "F2/MMXU1.TotW".into() });
    assert!(
        block.reason.contains("failed verification from edge-1 4 times (alarms 1, 2, 3, 4; at the start to 45 s later)"),
        "{}",
        block.reason
    );
}

#[test]
fn an_open_feeder_gets_the_tie_switch_when_the_power_flow_passes() {
    let a = assistant_with_loads(1.0);
    let open = f1_breaker_open(&a);
    let incidents =
        a.incidents(&[alarm(1, 0, AlarmKind::Command, "hub", Some("F1/XCBR1.Pos"))], &Situation { open, ..Situation::default() });
    let incident = &incidents[0];
    assert!((incident.supply.unsupplied_mw - 3.1).abs() < 1e-9, "{:?}", incident.supply);
    let first = &incident.recommendations[0];
    assert_eq!(first.action.kind(), "reroute");
    assert_eq!(a.index().equipment_name(first.action.target()), "TS1");
    assert!(first.reason.contains("lowest voltage") && first.reason.contains("% of its 400 A limit"), "{}", first.reason);
    assert!(kinds(incident).contains(&"dispatch-crew"));
    assert!(incident.notes.is_empty(), "{:?}", incident.notes);
}

/// The customer counts the CGMES model gives the loads of a feeder (by index), found by mRID.
fn model_customers(a: &Assistant, cgmes: &CgmesModel, feeder: usize) -> Vec<Option<u32>> {
    a.index().feeders[feeder]
        .loads
        .iter()
        .map(|id| {
            let mrid = a.index().mrid(id).expect("a demo load has an mRID");
            let load = cgmes.loads.iter().find(|l| mrid.trim_start_matches('_') == l.equipment.identity.mrid).expect("in the CGMES model");
            load.customers
        })
        .collect()
}

#[test]
fn an_open_feeder_counts_its_customers_without_supply_and_says_so_in_the_recommendations() {
    let a = assistant_with_loads(1.0);
    let cgmes = DemoGrid::load().unwrap().cgmes;
    let f1: Vec<u32> = model_customers(&a, &cgmes, 0).into_iter().map(|c| c.expect("every demo load has a count")).collect();
    let f1_customers: u32 = f1.iter().sum();
    assert_eq!(f1.len(), 3);

    let open = f1_breaker_open(&a);
    let incidents =
        a.incidents(&[alarm(1, 0, AlarmKind::Command, "hub", Some("F1/XCBR1.Pos"))], &Situation { open, ..Situation::default() });
    let supply = &incidents[0].supply;
    let counted: Vec<Option<u32>> = supply.loads.iter().map(|l| l.customers).collect();
    assert_eq!(counted, f1.iter().copied().map(Some).collect::<Vec<_>>());
    assert_eq!((supply.total_customers, supply.unsupplied_customers), (f1_customers, f1_customers));
    let words = format!("(3.10 MW, {f1_customers} customers)");
    let reroute = incidents[0].recommendations.iter().find(|r| r.action.kind() == "reroute").expect("re-route");
    assert!(reroute.effect.contains(&format!("supplies SS11 load, SS12 load, SS13 load {words}")), "{}", reroute.effect);
    let crew_to_f1 = Action::DispatchCrew { to: a.index().feeders[0].bay.clone() };
    let crew = incidents[0].recommendations.iter().find(|r| r.action == crew_to_f1).expect("crew");
    assert!(crew.reason.contains(&format!("(3.10 MW, {f1_customers} customers in the model)")), "{}", crew.reason);

    // Supplied, the same feeder has all its customers and none without supply.
    let supplied = &a.incidents(&[alarm(1, 0, AlarmKind::BadData, "hub", Some("F1/MMXU1.TotW"))], &Situation::default())[0].supply;
    assert_eq!((supplied.total_customers, supplied.unsupplied_customers), (f1_customers, 0));
}

#[test]
fn a_load_without_a_customer_count_is_left_out_of_the_sums_and_the_words_say_at_least() {
    let mut grid = DemoGrid::load().unwrap();
    let ss11 = grid.cgmes.loads.iter_mut().find(|l| l.equipment.identity.name.as_deref() == Some("SS11 load")).expect("SS11 load");
    assert!(ss11.customers.take().is_some());
    let cgmes = grid.cgmes.clone();
    let a = Assistant::new(GridIndex::new(grid.joined), Some(FlowModel::new(grid.cgmes, grid.untyped)), WINDOW_S);
    let known: u32 = model_customers(&a, &cgmes, 0).into_iter().flatten().sum();
    let open = f1_breaker_open(&a);
    let incidents =
        a.incidents(&[alarm(1, 0, AlarmKind::Command, "hub", Some("F1/XCBR1.Pos"))], &Situation { open, ..Situation::default() });
    let supply = &incidents[0].supply;
    let unknown: Vec<&str> = supply.loads.iter().filter(|l| l.customers.is_none()).map(|l| l.name.as_str()).collect();
    assert_eq!(unknown, ["SS11 load"]);
    assert_eq!((supply.total_customers, supply.unsupplied_customers), (known, known));
    let crew = incidents[0].recommendations.iter().find(|r| r.action.kind() == "dispatch-crew").expect("crew");
    assert!(crew.reason.contains(&format!("(3.10 MW, at least {known} customers in the model)")), "{}", crew.reason);
}

#[test]
fn the_tie_switch_is_not_proposed_when_the_power_flow_says_it_would_overload() {
    // Two and a half times the load: each feeder alone stays within 400 A, both on F2 do not.
    let a = assistant_with_loads(2.5);
    let open = f1_breaker_open(&a);
    let incidents =
        a.incidents(&[alarm(1, 0, AlarmKind::Command, "hub", Some("F1/XCBR1.Pos"))], &Situation { open, ..Situation::default() });
    let incident = &incidents[0];
    assert!(!kinds(incident).contains(&"reroute"), "{:?}", kinds(incident));
    assert_eq!(incident.notes.len(), 1);
    assert!(incident.notes[0].contains("TS1") && incident.notes[0].contains("of its 400 A limit"), "{}", incident.notes[0]);
    assert_eq!(incident.recommendations[0].action.kind(), "second-person");
}

#[test]
fn without_a_power_flow_model_the_tie_switch_is_not_proposed() {
    let grid = DemoGrid::load().unwrap();
    let a = Assistant::new(GridIndex::new(grid.joined), None, WINDOW_S);
    let open = f1_breaker_open(&a);
    let incidents =
        a.incidents(&[alarm(1, 0, AlarmKind::Command, "hub", Some("F1/XCBR1.Pos"))], &Situation { open, ..Situation::default() });
    assert!(!kinds(&incidents[0]).contains(&"reroute"));
    assert!(incidents[0].notes[0].contains("no power-flow model"), "{:?}", incidents[0].notes);
}

#[test]
fn refused_logins_at_the_hub_group_by_themselves_not_with_grid_alarms() {
    let a = assistant_with_loads(1.0);
    let alarms = [
        alarm(1, 0, AlarmKind::Login, "hub", None),
        alarm(2, 1, AlarmKind::BadData, "hub", Some("F1/MMXU1.TotW")),
        alarm(3, 2, AlarmKind::Login, "hub", None),
    ];
    let incidents = a.incidents(&alarms, &Situation::default());
    let groups: Vec<Vec<u64>> = incidents.iter().map(|i| i.alarms.clone()).collect();
    assert_eq!(groups, [vec![1, 3], vec![2]]);
}

#[test]
fn a_silent_edge_gets_a_crew_and_its_trust_alarms_join_the_same_incident() {
    let a = assistant_with_loads(1.0);
    let mut silent = alarm(1, 0, AlarmKind::Stale, "edge-1", None);
    silent.severity = Severity::Major;
    let alarms = [silent, alarm(2, 20, AlarmKind::Trust, "edge-1", Some("F1/MMXU1.TotW"))];
    let incidents = a.incidents(&alarms, &Situation::default());
    assert_eq!(incidents.len(), 1);
    let crews: Vec<_> = incidents[0].recommendations.iter().filter(|r| r.action == Action::DispatchCrew { to: "edge-1".into() }).collect();
    assert_eq!(crews.len(), 1, "one crew per place");
    assert_eq!(crews[0].priority, 35);
    assert!(crews[0].reason.contains("not heard from (alarm 1"), "{}", crews[0].reason);
    // Heard from again: no crew for silence.
    let mut back = alarm(3, 30, AlarmKind::Stale, "edge-1", None);
    back.severity = Severity::Info;
    let again = a.incidents(&[alarms[0].clone(), back], &Situation::default());
    assert!(again[0].recommendations.is_empty(), "{:?}", again[0].recommendations);
}

#[test]
fn an_isolated_edge_is_recommended_for_readmission_not_for_isolation_again() {
    let a = assistant_with_loads(1.0);
    let alarms = [alarm(7, 0, AlarmKind::Trust, "edge-1", Some("F1/MMXU1.TotW"))];
    let isolated = Situation { isolated: ["edge-1".to_owned()].into(), ..Situation::default() };
    let incident = &a.incidents(&alarms, &isolated)[0];
    assert!(!kinds(incident).contains(&"isolate-edge"), "{:?}", kinds(incident));
    let readmit = incident.recommendations.iter().find(|r| r.action == Action::ReadmitEdge { edge: "edge-1".into() }).expect("readmit");
    assert!(readmit.reason.contains("isolated"), "{}", readmit.reason);
    assert!(kinds(&a.incidents(&alarms, &Situation::default())[0]).contains(&"isolate-edge"), "not isolated: isolate");
}
