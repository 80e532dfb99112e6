//! The sans-IO station: interrogation, negative confirmations, select-before-operate, priority
//! and redundancy, all without sockets and with a fake clock.

#![cfg(feature = "tokio")]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gridtrust_iec104::asdu::{Asdu, Cause, Cot, Element, InformationObject, Qds, TypeId};
use gridtrust_iec104::connection::{CloseReason, Event, LinkConfig};
use gridtrust_iec104::server::{
    ClientRange, ClientRangeError, CommandMode, ConnId, ConnectionRefused, GroupKey, Output, RedundancyGroup, ServerConfig, Station,
    UnlistedClients, wall_clock,
};

fn peer(n: u8) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, n], 40000))
}

/// Every loopback address: the tests' clients, in one group.
fn loopback() -> ClientRange {
    "127.0.0.0/8".parse().unwrap()
}

fn sp(ioa: u32, value: bool) -> InformationObject {
    InformationObject::new(ioa, Element::SinglePoint { value, quality: Qds::default(), time: None })
}

fn mv(ioa: u32, value: f32) -> InformationObject {
    InformationObject::new(ioa, Element::ShortFloat { value, quality: Qds::default(), time: None })
}

fn sc(ioa: u32, value: bool, select: bool) -> Element {
    let _ = ioa;
    Element::SingleCommand { value, qualifier: 0, select, time: None }
}

fn request(type_id: TypeId, cause: Cause, ca: u16, ioa: u32, element: Element) -> Event {
    let asdu = Asdu::single(type_id, Cot::new(cause), ca, vec![InformationObject::new(ioa, element)]);
    Event::Asdu(Bytes::from(asdu.to_bytes().unwrap()))
}

struct Harness {
    station: Station,
    now: Instant,
}

impl Harness {
    fn new(config: ServerConfig) -> Self {
        Harness { station: Station::new(config), now: Instant::now() }
    }

    fn event(&mut self, conn: ConnId, ev: Event) {
        self.station.handle_link_event(conn, ev, self.now, wall_clock());
    }

    /// Every output so far: sends decoded, per connection.
    fn outputs(&mut self) -> Vec<Output> {
        std::iter::from_fn(|| self.station.poll_output()).collect()
    }

    fn sent(&mut self) -> Vec<(ConnId, Asdu)> {
        self.outputs()
            .into_iter()
            .filter_map(|o| match o {
                Output::Send { conn, asdu } => Some((conn, Asdu::decode(&asdu).unwrap())),
                _ => None,
            })
            .collect()
    }

    fn started(mut self, conn: ConnId, n: u8) -> Self {
        self.station.connection_opened(conn, peer(n), None).unwrap();
        self.event(conn, Event::Started);
        self
    }
}

#[test]
fn station_interrogation_sends_actcon_values_actterm() {
    let mut h = Harness::new(ServerConfig::default());
    h.station.register_point(sp(10, true), &[1]).unwrap();
    h.station.register_point(mv(20, 1.5), &[]).unwrap();
    h.station.update(mv(21, 2.5)).unwrap();
    let mut h = h.started(1, 1);
    // The spontaneous update was queued before the connection existed: private groups start empty.
    h.event(1, request(TypeId::CIcNa1, Cause::Activation, 1, 0, Element::Interrogation { qoi: 20 }));
    let sent: Vec<Asdu> = h.sent().into_iter().map(|(_, a)| a).collect();
    let causes: Vec<(TypeId, Cause)> = sent.iter().map(|a| (a.type_id, a.cot.cause)).collect();
    assert_eq!(
        causes,
        vec![
            (TypeId::CIcNa1, Cause::ActivationCon),
            (TypeId::MSpNa1, Cause::Interrogated),
            (TypeId::MMeNc1, Cause::Interrogated),
            (TypeId::CIcNa1, Cause::ActivationTerm),
        ]
    );
    assert_eq!(sent[2].objects.len(), 2, "both measurements packed into one ASDU");
}

#[test]
fn group_interrogation_answers_only_group_members() {
    let mut h = Harness::new(ServerConfig::default());
    h.station.register_point(sp(10, true), &[2]).unwrap();
    h.station.register_point(sp(11, false), &[3]).unwrap();
    let mut h = h.started(1, 1);
    h.event(1, request(TypeId::CIcNa1, Cause::Activation, 1, 0, Element::Interrogation { qoi: 22 }));
    let sent = h.sent();
    assert_eq!(sent[1].1.cot.cause, Cause::InterrogatedGroup(2));
    assert_eq!(sent[1].1.objects, vec![sp(10, true)]);
    assert_eq!(sent.len(), 3);
}

#[test]
fn counter_interrogation_answers_integrated_totals_with_cot_37() {
    use gridtrust_iec104::asdu::{Bcr, Qcc};
    let mut h = Harness::new(ServerConfig::default());
    let it = InformationObject::new(30, Element::IntegratedTotals { counter: Bcr { value: 42, ..Bcr::default() }, time: None });
    h.station.register_point(it, &[]).unwrap();
    h.station.register_point(sp(10, true), &[]).unwrap();
    let mut h = h.started(1, 1);
    h.event(1, request(TypeId::CCiNa1, Cause::Activation, 1, 0, Element::CounterInterrogation { qcc: Qcc { request: 5, freeze: 0 } }));
    let sent = h.sent();
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[1].1.cot.cause, Cause::CounterInterrogated);
    assert_eq!(sent[1].1.objects, vec![it]);
}

#[test]
fn read_returns_one_value_with_cot_5() {
    let mut h = Harness::new(ServerConfig::default());
    h.station.register_point(mv(20, 3.0), &[]).unwrap();
    let mut h = h.started(1, 1);
    h.event(1, request(TypeId::CRdNa1, Cause::Request, 1, 20, Element::Read));
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1.cot.cause, Cause::Request);
    assert_eq!(sent[0].1.objects, vec![mv(20, 3.0)]);
}

#[test]
fn requests_are_refused_with_cot_44_to_47() {
    let mut h = Harness::new(ServerConfig::default());
    h.station.register_command(100, TypeId::CScNa1, CommandMode::SelectBeforeOperate).unwrap();
    let mut h = h.started(1, 1);
    let cases = [
        // Registered address, wrong command type.
        (
            request(
                TypeId::CDcNa1,
                Cause::Activation,
                1,
                100,
                Element::DoubleCommand { value: gridtrust_iec104::asdu::DoublePointValue::On, qualifier: 0, select: true, time: None },
            ),
            Cause::UnknownType,
        ),
        // Monitor-direction type sent to a controlled station.
        (request(TypeId::MSpNa1, Cause::Activation, 1, 100, sp(100, true).element), Cause::UnknownType),
        (request(TypeId::CScNa1, Cause::Spontaneous, 1, 100, sc(100, true, true)), Cause::UnknownCause),
        (request(TypeId::CScNa1, Cause::Activation, 7, 100, sc(100, true, true)), Cause::UnknownCommonAddress),
        (request(TypeId::CScNa1, Cause::Activation, 1, 101, sc(101, true, true)), Cause::UnknownObjectAddress),
    ];
    for (ev, cause) in cases {
        h.event(1, ev);
        let sent = h.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].1.cot.cause, cause);
        assert!(sent[0].1.cot.negative, "P/N set for {cause:?}");
        assert!(h.outputs().is_empty(), "nothing reaches the application");
    }
    // A type the codec does not know at all is mirrored with COT 44 from raw bytes.
    let raw = Bytes::from_static(&[0x7E, 0x01, 0x06, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01]);
    h.event(1, Event::Asdu(raw));
    let out = h.outputs();
    match &out[..] {
        [Output::Send { asdu, .. }] => {
            assert_eq!(asdu[0], 0x7E);
            assert_eq!(asdu[2], 0x40 | 44);
        }
        other => panic!("unexpected {other:?}"),
    }
}

fn take_command(h: &mut Harness) -> gridtrust_iec104::server::CommandRequest {
    let mut cmds: Vec<_> = h
        .outputs()
        .into_iter()
        .filter_map(|o| match o {
            Output::Command(c) => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(cmds.len(), 1, "one command for the application");
    cmds.remove(0)
}

#[test]
fn execute_without_select_is_refused_by_the_station() {
    let mut h = Harness::new(ServerConfig::default());
    h.station.register_command(100, TypeId::CScNa1, CommandMode::SelectBeforeOperate).unwrap();
    let mut h = h.started(1, 1);
    h.event(1, request(TypeId::CScNa1, Cause::Activation, 1, 100, sc(100, true, false)));
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1.cot.cause, Cause::ActivationCon);
    assert!(sent[0].1.cot.negative);
}

#[test]
fn select_then_execute_reaches_the_application() {
    let mut h = Harness::new(ServerConfig::default());
    h.station.register_command(100, TypeId::CScNa1, CommandMode::SelectBeforeOperate).unwrap();
    let mut h = h.started(1, 1);
    h.event(1, request(TypeId::CScNa1, Cause::Activation, 1, 100, sc(100, true, true)));
    let select = take_command(&mut h);
    assert!(select.select && !select.deactivation);
    h.station.respond(&select, Cause::ActivationCon, false, h.now);
    assert_eq!(h.sent()[0].1.cot.cause, Cause::ActivationCon);
    h.now += Duration::from_secs(3);
    h.event(1, request(TypeId::CScNa1, Cause::Activation, 1, 100, sc(100, true, false)));
    let exec = take_command(&mut h);
    assert!(!exec.select);
    h.station.respond(&exec, Cause::ActivationCon, false, h.now);
    h.station.respond(&exec, Cause::ActivationTerm, false, h.now);
    let causes: Vec<Cause> = h.sent().into_iter().map(|(_, a)| a.cot.cause).collect();
    assert_eq!(causes, vec![Cause::ActivationCon, Cause::ActivationTerm]);
    // The selection was consumed: a second execute needs a new select.
    h.event(1, request(TypeId::CScNa1, Cause::Activation, 1, 100, sc(100, true, false)));
    assert!(h.sent()[0].1.cot.negative);
}

#[test]
fn select_expires_after_the_select_timeout() {
    let mut h = Harness::new(ServerConfig::default());
    h.station.register_command(100, TypeId::CScNa1, CommandMode::SelectBeforeOperate).unwrap();
    let mut h = h.started(1, 1);
    h.event(1, request(TypeId::CScNa1, Cause::Activation, 1, 100, sc(100, true, true)));
    let select = take_command(&mut h);
    h.station.respond(&select, Cause::ActivationCon, false, h.now);
    h.sent();
    h.now += Duration::from_secs(11);
    h.event(1, request(TypeId::CScNa1, Cause::Activation, 1, 100, sc(100, true, false)));
    let sent = h.sent();
    assert!(sent[0].1.cot.negative);
}

#[test]
fn execute_must_match_the_selected_value_and_connection() {
    let config = ServerConfig {
        redundancy_groups: vec![RedundancyGroup { name: "any".into(), members: vec![loopback()] }],
        ..ServerConfig::default()
    };
    let mut h = Harness::new(config);
    h.station.register_command(100, TypeId::CScNa1, CommandMode::SelectBeforeOperate).unwrap();
    let mut h = h.started(1, 1);
    h.event(1, request(TypeId::CScNa1, Cause::Activation, 1, 100, sc(100, true, true)));
    let select = take_command(&mut h);
    h.station.respond(&select, Cause::ActivationCon, false, h.now);
    h.sent();
    // Different value: refused (and the selection is gone).
    h.event(1, request(TypeId::CScNa1, Cause::Activation, 1, 100, sc(100, false, false)));
    assert!(h.sent()[0].1.cot.negative);
}

#[test]
fn refused_select_does_not_arm_execute() {
    let mut h = Harness::new(ServerConfig::default());
    h.station.register_command(100, TypeId::CScNa1, CommandMode::SelectBeforeOperate).unwrap();
    let mut h = h.started(1, 1);
    h.event(1, request(TypeId::CScNa1, Cause::Activation, 1, 100, sc(100, true, true)));
    let select = take_command(&mut h);
    h.station.respond(&select, Cause::ActivationCon, true, h.now);
    h.sent();
    h.event(1, request(TypeId::CScNa1, Cause::Activation, 1, 100, sc(100, true, false)));
    assert!(h.sent()[0].1.cot.negative);
}

#[test]
fn direct_execute_commands_need_no_select() {
    let mut h = Harness::new(ServerConfig::default());
    h.station.register_command(200, TypeId::CSeNc1, CommandMode::DirectExecute).unwrap();
    let mut h = h.started(1, 1);
    let el = Element::SetpointFloat { value: 5.0, qualifier: 0, select: false, time: None };
    h.event(1, request(TypeId::CSeNc1, Cause::Activation, 1, 200, el));
    let cmd = take_command(&mut h);
    assert_eq!(cmd.asdu.objects[0].element, el);
    // The time-tagged variant of the registered type is accepted too.
    let tagged = el.with_time(wall_clock());
    h.event(1, request(TypeId::CSeTc1, Cause::Activation, 1, 200, tagged));
    take_command(&mut h);
}

#[test]
fn status_changes_overtake_queued_measurements() {
    let config = ServerConfig {
        redundancy_groups: vec![RedundancyGroup { name: "scada".into(), members: vec![loopback()] }],
        link: LinkConfig { k: 2, w: 1, ..LinkConfig::default() },
        ..ServerConfig::default()
    };
    let mut h = Harness::new(config);
    for i in 0..10 {
        h.station.update(mv(1000 + i, i as f32)).unwrap();
    }
    h.station.update(sp(1, true)).unwrap();
    let mut h = h.started(1, 1);
    let sent = h.sent();
    assert_eq!(sent.len(), 2, "k = 2 limits what is in flight");
    assert_eq!(sent[0].1.type_id, TypeId::MSpNa1, "the status change goes first");
    // Another status change while measurements wait overtakes them too.
    h.station.update(sp(2, false)).unwrap();
    assert!(h.sent().is_empty(), "window full");
    h.event(1, Event::Acked(1));
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1.objects, vec![sp(2, false)]);
}

#[test]
fn standby_connection_gets_unacknowledged_events_after_switchover() {
    let config = ServerConfig {
        redundancy_groups: vec![RedundancyGroup { name: "scada".into(), members: vec![loopback()] }],
        ..ServerConfig::default()
    };
    let mut h = Harness::new(config).started(1, 1);
    h.station.connection_opened(2, peer(2), None).unwrap();
    for i in 0..5 {
        h.station.update(mv(i, i as f32)).unwrap();
    }
    let sent = h.sent();
    assert!(sent.iter().all(|(c, _)| *c == 1), "standby gets no data");
    assert_eq!(sent.len(), 5);
    h.event(1, Event::Acked(2));
    h.event(1, Event::Closed(CloseReason::PeerClosed));
    h.station.update(mv(5, 5.0)).unwrap();
    assert!(h.sent().is_empty(), "no active connection");
    h.event(2, Event::Started);
    let ioas: Vec<u32> = h
        .sent()
        .into_iter()
        .map(|(c, a)| {
            assert_eq!(c, 2);
            a.objects[0].ioa
        })
        .collect();
    assert_eq!(ioas, vec![2, 3, 4, 5]);
    let status = h.station.group_status();
    assert_eq!(status[0].active, Some(peer(2)));
}

#[test]
fn connections_outside_every_group_get_private_queues() {
    let config = ServerConfig {
        redundancy_groups: vec![RedundancyGroup { name: "a".into(), members: vec![ClientRange::single(peer(9).ip())] }],
        ..ServerConfig::default()
    };
    let mut h = Harness::new(config).started(1, 1).started(2, 2);
    h.station.update(sp(1, true)).unwrap();
    let mut to: Vec<ConnId> = h.sent().into_iter().map(|(c, _)| c).collect();
    to.sort();
    assert_eq!(to, vec![1, 2], "each private group gets its copy");
    assert_eq!(h.station.group_status().len(), 3);
    h.event(2, Event::Closed(CloseReason::PeerClosed));
    assert_eq!(h.station.group_status().len(), 2);
}

#[test]
fn clock_sync_is_confirmed_with_station_time_and_reported() {
    let mut h = Harness::new(ServerConfig::default()).started(1, 1);
    let sent_time = gridtrust_iec104::time::Cp56Time2a::from_unix_ms(1_700_000_000_000).unwrap();
    h.event(1, request(TypeId::CCsNa1, Cause::Activation, 1, 0, Element::ClockSync { time: sent_time }));
    let out = h.outputs();
    assert!(out.iter().any(|o| matches!(o, Output::ClockSync { time, .. } if *time == sent_time)));
    let con = out
        .iter()
        .find_map(|o| match o {
            Output::Send { asdu, .. } => Some(Asdu::decode(asdu).unwrap()),
            _ => None,
        })
        .unwrap();
    assert_eq!(con.cot.cause, Cause::ActivationCon);
    assert_ne!(con.objects[0].element, Element::ClockSync { time: sent_time });
}

#[test]
fn client_ranges_parse_strictly_and_match_their_block() {
    let block: ClientRange = "10.1.0.0/24".parse().unwrap();
    assert!(block.contains("10.1.0.77".parse().unwrap()));
    assert!(!block.contains("10.1.1.1".parse().unwrap()));
    // A dual-stack listener reports IPv4 peers as IPv4-mapped IPv6 addresses.
    assert!(block.contains("::ffff:10.1.0.5".parse().unwrap()));
    assert!(!block.contains("::1".parse().unwrap()));
    let single: ClientRange = "127.0.0.2".parse().unwrap();
    assert!(single.contains("127.0.0.2".parse().unwrap()) && !single.contains("127.0.0.1".parse().unwrap()));
    assert_eq!(single.to_string(), "127.0.0.2");
    assert_eq!(block.to_string(), "10.1.0.0/24");
    let any4: ClientRange = "0.0.0.0/0".parse().unwrap();
    assert!(any4.contains("192.0.2.1".parse().unwrap()) && !any4.contains("2001:db8::1".parse().unwrap()));
    let any6: ClientRange = "::/0".parse().unwrap();
    assert!(any6.contains("2001:db8::1".parse().unwrap()));
    assert!(matches!("10.1.0.5/24".parse::<ClientRange>(), Err(ClientRangeError::HostBits { network, .. }) if network == "10.1.0.0/24"));
    assert!(matches!("10.0.0.0/33".parse::<ClientRange>(), Err(ClientRangeError::Prefix(_))));
    assert!(matches!("10.0.0.0/x".parse::<ClientRange>(), Err(ClientRangeError::Prefix(_))));
    assert!(matches!("scada-1".parse::<ClientRange>(), Err(ClientRangeError::Address(_))));
}

#[test]
fn with_refuse_only_listed_addresses_connect_and_an_empty_list_admits_nobody() {
    let config = ServerConfig {
        redundancy_groups: vec![
            RedundancyGroup { name: "nobody".into(), members: vec![] },
            RedundancyGroup { name: "scada".into(), members: vec!["127.0.0.2".parse().unwrap(), "10.1.0.0/24".parse().unwrap()] },
        ],
        unlisted_clients: UnlistedClients::Refuse,
        ..ServerConfig::default()
    };
    let mut station = Station::new(config);
    assert_eq!(station.check_client(peer(1)), Err(ConnectionRefused::NotListed(peer(1).ip())));
    assert_eq!(station.connection_opened(1, peer(1), None), Err(ConnectionRefused::NotListed(peer(1).ip())));
    assert!(station.group_status().iter().all(|g| g.connections.is_empty()), "a refused connection joins no group");
    assert_eq!(station.connection_opened(2, peer(2), None), Ok(GroupKey::Configured(1)));
    assert_eq!(station.connection_opened(3, SocketAddr::from(([10, 1, 0, 9], 2404)), None), Ok(GroupKey::Configured(1)));
    // The default (an RTU) serves anyone in a group of its own.
    let mut rtu = Station::new(ServerConfig::default());
    assert_eq!(rtu.connection_opened(1, peer(1), None), Ok(GroupKey::Private(1)));
}

#[test]
fn commands_carry_the_certificate_of_their_connection() {
    let mut h = Harness::new(ServerConfig::default());
    h.station.register_command(100, TypeId::CScNa1, CommandMode::DirectExecute).unwrap();
    let certificate = Bytes::from_static(b"DER of the client certificate");
    h.station.connection_opened(1, peer(1), Some(certificate.clone())).unwrap();
    h.station.connection_opened(2, peer(2), None).unwrap();
    h.event(1, Event::Started);
    h.event(2, Event::Started);
    h.event(1, request(TypeId::CScNa1, Cause::Activation, 1, 100, sc(100, true, false)));
    assert_eq!(take_command(&mut h).peer_certificate, Some(certificate));
    h.event(2, request(TypeId::CScNa1, Cause::Activation, 1, 100, sc(100, true, false)));
    assert_eq!(take_command(&mut h).peer_certificate, None);
}

#[test]
fn a_burst_of_values_goes_out_packed_status_first_in_order_per_address() {
    let mut h = Harness::new(ServerConfig::default()).started(1, 1);
    // 40 consecutive measurements, two values of one address, two status points apart.
    let mut burst: Vec<InformationObject> = (0..40).map(|i| mv(2000 + i, i as f32)).collect();
    burst.push(mv(3000, 1.0));
    burst.push(sp(7, true));
    burst.push(mv(3000, 2.0));
    burst.push(sp(9, false));
    h.station.update_many(burst).unwrap();
    let sent: Vec<Asdu> = h.sent().into_iter().map(|(_, a)| a).collect();
    assert_eq!(sent[0].type_id, TypeId::MSpNa1, "status before measurements");
    assert_eq!((sent[0].sequence, sent[0].objects.clone()), (false, vec![sp(7, true), sp(9, false)]));
    let floats: Vec<&Asdu> = sent.iter().filter(|a| a.type_id == TypeId::MMeNc1).collect();
    assert!(floats[0].sequence, "consecutive addresses share one address (SQ=1)");
    assert_eq!(floats[0].objects.len(), 40);
    assert!(floats[0].encoded_len() <= 253, "an ASDU fits an APDU");
    let ioa_3000: Vec<f32> = floats
        .iter()
        .flat_map(|a| &a.objects)
        .filter(|o| o.ioa == 3000)
        .map(|o| match o.element {
            Element::ShortFloat { value, .. } => value,
            _ => f32::NAN,
        })
        .collect();
    assert_eq!(ioa_3000, vec![1.0, 2.0], "values of one address keep their order");
    assert_eq!(sent.len(), 3, "44 objects in 3 ASDUs, not 44");
    // The image holds the last value of each address.
    assert_eq!(h.station.point(3000), Some(mv(3000, 2.0).element));
}

#[test]
fn a_refused_value_in_a_burst_leaves_the_others_sent() {
    let mut h = Harness::new(ServerConfig::default()).started(1, 1);
    let command = InformationObject::new(5, sc(5, true, false));
    let result = h.station.update_many(vec![mv(1, 1.0), command, mv(2, 2.0)]);
    assert!(result.is_err(), "the command type is refused and said so");
    let sent: Vec<Asdu> = h.sent().into_iter().map(|(_, a)| a).collect();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].objects, vec![mv(1, 1.0), mv(2, 2.0)]);
    assert_eq!(h.station.point(5), None, "nothing recorded for the refused value");
}
