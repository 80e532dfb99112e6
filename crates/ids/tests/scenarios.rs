//! Each generated attack raises the alert kinds that name it, the faults raise none, and a
//! generated scenario survives the trip through a pcap file unchanged.

use std::collections::BTreeSet;

use gridtrust_ids::capture::read_capture;
use gridtrust_ids::detect::score;
use gridtrust_ids::model::learn;
use gridtrust_ids::scenario::{Attack, Fault, ScenarioKind, generate, to_pcap};
use gridtrust_ids::stream::events_of;

fn alert_kinds(kind: ScenarioKind) -> BTreeSet<&'static str> {
    let model = learn(&generate(ScenarioKind::Normal, 1, 2.0).events);
    let s = generate(kind, 2, 1.0);
    assert!(!matches!(kind, ScenarioKind::Attack(_)) || !s.episodes.is_empty(), "{} has episodes", kind.name());
    score(model, &s.events).iter().map(|a| a.kind.name()).collect()
}

fn assert_raises(kind: ScenarioKind, expected: &[&str]) {
    let got = alert_kinds(kind);
    for e in expected {
        assert!(got.contains(e), "{}: expected {e}, got {got:?}", kind.name());
    }
}

#[test]
fn command_injection_from_an_unknown_host_is_an_unknown_peer() {
    assert_raises(ScenarioKind::Attack(Attack::CommandInjection), &["unknown-peer"]);
}

#[test]
fn command_to_a_never_commanded_target_is_reported() {
    assert_raises(ScenarioKind::Attack(Attack::UnknownCommandTarget), &["unknown-command-target"]);
}

#[test]
fn replayed_command_goes_back_in_sequence_and_carries_a_stale_time_tag() {
    assert_raises(ScenarioKind::Attack(Attack::Replay), &["sequence", "stale-command"]);
}

#[test]
fn horizontal_scan_is_named_a_scan() {
    assert_raises(ScenarioKind::Attack(Attack::HorizontalScan), &["scan", "unknown-peer", "unknown-station"]);
}

#[test]
fn vertical_scan_is_named_a_scan() {
    assert_raises(ScenarioKind::Attack(Attack::VerticalScan), &["scan", "unknown-object", "unexpected-type"]);
}

#[test]
fn interrogation_flood_exceeds_the_learned_rate() {
    assert_raises(ScenarioKind::Attack(Attack::Flood), &["rate"]);
}

#[test]
fn rogue_device_is_an_unknown_peer_and_station() {
    assert_raises(ScenarioKind::Attack(Attack::RogueDevice), &["unknown-peer", "unknown-station"]);
}

#[test]
fn man_in_the_middle_value_change_is_a_value_jump() {
    assert_raises(ScenarioKind::Attack(Attack::MitmValueChange), &["value-jump"]);
}

#[test]
fn injected_measurement_is_spoofed_out_of_sequence_and_out_of_history() {
    assert_raises(ScenarioKind::Attack(Attack::FalseDataInjection), &["spoofed-source", "sequence", "value-jump"]);
}

#[test]
fn faults_that_are_not_attacks_raise_nothing() {
    for f in [Fault::BreakerTrip, Fault::SensorDrift, Fault::LostLink] {
        let got = alert_kinds(ScenarioKind::Fault(f));
        assert!(got.is_empty(), "{f:?}: {got:?}");
    }
}

#[test]
fn a_breaker_trip_without_its_status_report_is_a_value_jump() {
    // The same plant change with the spontaneous status report removed: nothing explains the
    // current falling to zero, so the explanation rule is what keeps the real trip quiet.
    let model = learn(&generate(ScenarioKind::Normal, 1, 2.0).events);
    let mut s = generate(ScenarioKind::Fault(Fault::BreakerTrip), 2, 1.0);
    s.events.retain(|e| match &e.kind {
        gridtrust_ids::event::EventKind::Iec104(gridtrust_iec104::apci::Apdu::I { asdu, .. }) => asdu.first() != Some(&31),
        _ => true,
    });
    let kinds: BTreeSet<_> = score(model, &s.events).iter().map(|a| a.kind.name()).collect();
    assert!(kinds.contains("value-jump"), "{kinds:?}");
}

#[test]
fn generation_is_deterministic_and_survives_a_pcap_round_trip() {
    let a = generate(ScenarioKind::Attack(Attack::Replay), 5, 0.25);
    let b = generate(ScenarioKind::Attack(Attack::Replay), 5, 0.25);
    assert_eq!(a.events, b.events);
    let pcap = to_pcap(&a.events);
    let (back, stats) = events_of(&read_capture(&pcap).unwrap());
    assert_eq!(stats.broken, 0);
    assert_eq!(back.len(), a.events.len());
    for (x, y) in a.events.iter().zip(&back) {
        assert_eq!((x.time_us, x.flow, x.direction, &x.kind), (y.time_us, y.flow, y.direction, &y.kind));
    }
}

#[test]
fn interrogations_far_more_often_than_learned_break_the_cadence_below_the_rate_limit() {
    use gridtrust_ids::event::{Direction, Event, EventKind};
    use gridtrust_iec104::apci::Apdu;
    use gridtrust_iec104::asdu::{Asdu, Cause, Cot, Element, InformationObject, TypeId};

    let normal = generate(ScenarioKind::Normal, 1, 2.0);
    let model = learn(&normal.events);
    // A second connection from the controlling station to RTU 1 that interrogates every 10 s:
    // one frame at a time, far below any rate limit, but ninety times the learned cadence.
    let first = normal.events.first().unwrap().clone();
    let flow = gridtrust_ids::event::Flow { client: gridtrust_ids::event::Endpoint { port: 51_000, ..first.flow.client }, ..first.flow };
    let start = normal.events.last().unwrap().time_us + 1_000_000;
    let mut probe = vec![Event { time_us: start, flow, direction: Direction::ToServer, kind: EventKind::Open, ..first.clone() }];
    for k in 0..8u16 {
        let gi = Asdu {
            type_id: TypeId::CIcNa1,
            sequence: false,
            cot: Cot::new(Cause::Activation),
            common_address: 1,
            objects: vec![InformationObject::new(0, Element::Interrogation { qoi: 20 })],
        };
        let apdu = Apdu::I { send_seq: k, recv_seq: 0, asdu: gi.to_bytes().unwrap().into() };
        probe.push(Event {
            time_us: start + i64::from(k) * 10_000_000,
            flow,
            direction: Direction::ToServer,
            kind: EventKind::Iec104(apdu),
            ..first.clone()
        });
    }
    let alerts = score(model, &probe);
    let kinds: BTreeSet<_> = alerts.iter().map(|a| a.kind.name()).collect();
    assert_eq!(kinds, BTreeSet::from(["cadence"]), "{alerts:?}");
}
