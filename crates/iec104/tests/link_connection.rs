//! Two sans-IO connections driven against each other with a fake clock: no sockets, no sleeps.

use std::time::{Duration, Instant};

use bytes::Bytes;
use gridtrust_iec104::apci::{Apdu, UFunction};
use gridtrust_iec104::connection::{
    AckMode, CloseReason, Connection, DataState, Event, LinkConfig, Role, SendError, TimeoutKind, Violation,
};

struct Pair {
    now: Instant,
    client: Connection,
    server: Connection,
    /// Every frame the client sent, decoded, in order.
    client_sent: Vec<Apdu>,
    /// Every frame the server sent, decoded, in order.
    server_sent: Vec<Apdu>,
}

fn decode_all(mut bytes: &[u8]) -> Vec<Apdu> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (apdu, used) = Apdu::decode(bytes).expect("valid frame");
        out.push(apdu);
        bytes = &bytes[used..];
    }
    out
}

impl Pair {
    fn new(config: LinkConfig) -> Self {
        let now = Instant::now();
        Pair {
            now,
            client: Connection::new(Role::Controlling, config.clone(), now),
            server: Connection::new(Role::Controlled, config, now),
            client_sent: Vec::new(),
            server_sent: Vec::new(),
        }
    }

    /// Delivers bytes both ways until nothing is left to send.
    fn pump(&mut self) {
        loop {
            let mut buf = Vec::new();
            let a = self.client.poll_transmit(&mut buf);
            if a > 0 {
                self.client_sent.extend(decode_all(&buf));
                self.server.handle_bytes(self.now, &buf);
            }
            buf.clear();
            let b = self.server.poll_transmit(&mut buf);
            if b > 0 {
                self.server_sent.extend(decode_all(&buf));
                self.client.handle_bytes(self.now, &buf);
            }
            if a == 0 && b == 0 {
                break;
            }
        }
    }

    /// Advances the fake clock, firing timers on both sides (without delivering).
    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
    }

    fn start(&mut self) {
        self.client.start(self.now).unwrap();
        self.pump();
        assert_eq!(self.client.state(), DataState::Started);
        assert_eq!(self.server.state(), DataState::Started);
        assert_eq!(events(&mut self.client), vec![Event::Started]);
        assert_eq!(events(&mut self.server), vec![Event::Started]);
    }
}

fn events(c: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

fn asdu(n: u8) -> Bytes {
    Bytes::from(vec![n; 6])
}

#[test]
fn startdt_handshake_starts_both_sides() {
    let mut p = Pair::new(LinkConfig::default());
    p.start();
    assert_eq!(p.client_sent, vec![Apdu::U(UFunction::StartDtAct)]);
    assert_eq!(p.server_sent, vec![Apdu::U(UFunction::StartDtCon)]);
}

#[test]
fn controlled_station_sends_no_data_before_startdt() {
    let mut p = Pair::new(LinkConfig::default());
    assert_eq!(p.server.send_asdu(p.now, asdu(1)), Err(SendError::NotStarted));
    assert_eq!(p.client.send_asdu(p.now, asdu(1)), Err(SendError::NotStarted));
}

#[test]
fn i_frame_before_startdt_is_a_violation() {
    let mut p = Pair::new(LinkConfig::default());
    let mut bytes = Vec::new();
    Apdu::I { send_seq: 0, recv_seq: 0, asdu: asdu(1) }.encode(&mut bytes).unwrap();
    p.server.handle_bytes(p.now, &bytes);
    assert_eq!(
        events(&mut p.server),
        vec![Event::Closed(CloseReason::ProtocolViolation(Violation::IFrameWhileStopped(DataState::Stopped)))]
    );
}

#[test]
fn asdus_flow_both_ways_and_are_acknowledged() {
    let mut p = Pair::new(LinkConfig::default());
    p.start();
    p.server.send_asdu(p.now, asdu(7)).unwrap();
    p.pump();
    assert_eq!(events(&mut p.client), vec![Event::Asdu(asdu(7))]);
    // The client answers with an I-frame, which acknowledges the server's.
    p.client.send_asdu(p.now, asdu(8)).unwrap();
    p.pump();
    assert_eq!(events(&mut p.server), vec![Event::Acked(1), Event::Asdu(asdu(8))]);
    assert_eq!(p.server.acked_count(), 1);
    assert_eq!(p.server.in_flight(), 0);
}

#[test]
fn sender_blocks_at_k_unacknowledged_frames() {
    let config = LinkConfig { k: 3, w: 3, ..LinkConfig::default() };
    let mut p = Pair::new(config);
    p.start();
    for i in 0..3 {
        assert!(p.server.can_send());
        p.server.send_asdu(p.now, asdu(i)).unwrap();
    }
    assert!(!p.server.can_send());
    assert_eq!(p.server.send_asdu(p.now, asdu(9)), Err(SendError::WindowFull));
    // Delivering them makes the client acknowledge (w = 3), which opens the window.
    p.pump();
    assert_eq!(p.client_sent.last(), Some(&Apdu::S { recv_seq: 3 }));
    assert!(p.server.can_send());
    assert_eq!(p.server.acked_count(), 3);
}

#[test]
fn receiver_acknowledges_after_w_frames() {
    let mut p = Pair::new(LinkConfig::default()); // w = 8
    p.start();
    for i in 0..7 {
        p.server.send_asdu(p.now, asdu(i)).unwrap();
    }
    p.pump();
    assert!(!p.client_sent.iter().any(|a| matches!(a, Apdu::S { .. })));
    p.server.send_asdu(p.now, asdu(7)).unwrap();
    p.pump();
    assert_eq!(p.client_sent.last(), Some(&Apdu::S { recv_seq: 8 }));
}

#[test]
fn receiver_acknowledges_after_t2() {
    let mut p = Pair::new(LinkConfig::default());
    p.start();
    p.server.send_asdu(p.now, asdu(1)).unwrap();
    p.pump();
    let t2_at = p.client.poll_timeout().unwrap();
    assert_eq!(t2_at, p.now + Duration::from_secs(10));
    p.advance(Duration::from_secs(9));
    p.pump();
    assert!(!p.client_sent.iter().any(|a| matches!(a, Apdu::S { .. })));
    p.advance(Duration::from_secs(1));
    p.pump();
    assert_eq!(p.client_sent.last(), Some(&Apdu::S { recv_seq: 1 }));
    assert_eq!(p.server.in_flight(), 0);
}

fn acks(sent: &[Apdu]) -> Vec<u16> {
    sent.iter()
        .filter_map(|a| match a {
            Apdu::S { recv_seq } => Some(*recv_seq),
            _ => None,
        })
        .collect()
}

/// A started pair whose client (the edge) acknowledges only durable frames.
fn durable_pair() -> Pair {
    let mut p = Pair::new(LinkConfig::default()); // k = 12, w = 8, t2 = 10 s
    p.client.set_ack_mode(AckMode::WhenDurable);
    p.start();
    p
}

#[test]
fn when_durable_nothing_is_acknowledged_before_it_is_marked_durable() {
    let mut p = durable_pair();
    for i in 0..12 {
        p.server.send_asdu(p.now, asdu(i)).unwrap();
    }
    p.pump();
    assert_eq!(p.client.received_count(), 12);
    // w frames arrived, t2 passed: neither acknowledges a frame that is not durable.
    p.advance(Duration::from_secs(11));
    p.pump();
    assert_eq!(acks(&p.client_sent), Vec::<u16>::new());
    assert_eq!(p.server.in_flight(), 12);
    assert_eq!(p.server.send_asdu(p.now, asdu(12)), Err(SendError::WindowFull));
    // Eight durable frames fill w: acknowledged at once, exactly those.
    p.client.mark_durable(p.now, 8);
    p.pump();
    assert_eq!(acks(&p.client_sent), vec![8]);
    assert_eq!(p.server.in_flight(), 4);
    assert_eq!(p.client.unacknowledged_received(), 4);
}

#[test]
fn when_durable_t2_acknowledges_the_durable_frames_only() {
    let mut p = durable_pair();
    for i in 0..3 {
        p.server.send_asdu(p.now, asdu(i)).unwrap();
    }
    p.pump();
    // Nothing durable: no t2 deadline (the link would spin on an expired timer otherwise).
    let next = p.client.poll_timeout().unwrap();
    assert!(next >= p.now + Duration::from_secs(20), "only t3 is due, got {:?}", next - p.now);
    p.client.mark_durable(p.now, 2);
    p.pump();
    assert_eq!(acks(&p.client_sent), Vec::<u16>::new(), "fewer than w durable frames wait for t2");
    assert_eq!(p.client.poll_timeout(), Some(p.now + Duration::from_secs(10)));
    p.advance(Duration::from_secs(10));
    p.pump();
    assert_eq!(acks(&p.client_sent), vec![2]);
    assert_eq!(p.server.in_flight(), 1);
    // Marking the same count again, or more than was received, changes nothing.
    p.client.mark_durable(p.now, 2);
    p.client.mark_durable(p.now, 99);
    // Its t2 ran from its arrival: acknowledged at the next timer, well within the server's t1.
    p.advance(Duration::from_secs(1));
    p.pump();
    assert_eq!(acks(&p.client_sent), vec![2, 3]);
    assert_eq!(p.server.in_flight(), 0);
}

#[test]
fn when_durable_an_outgoing_i_frame_carries_only_the_durable_acknowledgement() {
    let mut p = durable_pair();
    for i in 0..5 {
        p.server.send_asdu(p.now, asdu(i)).unwrap();
    }
    p.pump();
    p.client.mark_durable(p.now, 3);
    p.client.send_asdu(p.now, asdu(50)).unwrap();
    p.pump();
    assert!(matches!(p.client_sent.last(), Some(Apdu::I { recv_seq: 3, .. })));
    assert_eq!(p.server.in_flight(), 2);
}

#[test]
fn on_receipt_mode_ignores_durability_marks() {
    let mut p = Pair::new(LinkConfig::default());
    p.start();
    for i in 0..8 {
        p.server.send_asdu(p.now, asdu(i)).unwrap();
    }
    p.pump();
    assert_eq!(acks(&p.client_sent), vec![8]);
}

#[test]
fn unacknowledged_i_frame_closes_after_t1() {
    let mut p = Pair::new(LinkConfig::default());
    p.start();
    p.server.send_asdu(p.now, asdu(1)).unwrap();
    // The frame is lost: never delivered.
    let mut lost = Vec::new();
    p.server.poll_transmit(&mut lost);
    p.advance(Duration::from_secs(14));
    assert!(!p.server.is_closed());
    p.advance(Duration::from_secs(1));
    assert_eq!(events(&mut p.server), vec![Event::Closed(CloseReason::Timeout(TimeoutKind::IFrameAck))]);
    assert_eq!(p.server.poll_timeout(), None);
}

#[test]
fn unconfirmed_startdt_closes_after_t1() {
    let mut p = Pair::new(LinkConfig::default());
    p.client.start(p.now).unwrap();
    let mut lost = Vec::new();
    p.client.poll_transmit(&mut lost);
    p.advance(Duration::from_secs(15));
    assert_eq!(events(&mut p.client), vec![Event::Closed(CloseReason::Timeout(TimeoutKind::UConfirmation(UFunction::StartDtAct)))]);
}

#[test]
fn idle_link_is_probed_with_testfr_after_t3() {
    let mut p = Pair::new(LinkConfig::default());
    p.start();
    p.advance(Duration::from_secs(20));
    p.pump();
    assert!(p.client_sent.contains(&Apdu::U(UFunction::TestFrAct)));
    assert!(p.server_sent.contains(&Apdu::U(UFunction::TestFrCon)));
    assert!(p.server_sent.contains(&Apdu::U(UFunction::TestFrAct)));
    assert!(p.client_sent.contains(&Apdu::U(UFunction::TestFrCon)));
    assert!(!p.client.is_closed() && !p.server.is_closed());
    // A probe that goes unanswered closes the link after t1.
    p.advance(Duration::from_secs(20));
    let mut lost = Vec::new();
    p.client.poll_transmit(&mut lost);
    p.advance(Duration::from_secs(15));
    assert!(p.client.is_closed());
}

#[test]
fn wrong_send_sequence_closes_with_reason() {
    let mut p = Pair::new(LinkConfig::default());
    p.start();
    let mut bytes = Vec::new();
    Apdu::I { send_seq: 5, recv_seq: 0, asdu: asdu(1) }.encode(&mut bytes).unwrap();
    p.client.handle_bytes(p.now, &bytes);
    assert_eq!(
        events(&mut p.client),
        vec![Event::Closed(CloseReason::ProtocolViolation(Violation::UnexpectedSendSeq { expected: 0, received: 5 }))]
    );
}

#[test]
fn acknowledging_an_unsent_frame_closes_with_reason() {
    let mut p = Pair::new(LinkConfig::default());
    p.start();
    p.server.send_asdu(p.now, asdu(1)).unwrap();
    let mut bytes = Vec::new();
    Apdu::S { recv_seq: 2 }.encode(&mut bytes).unwrap();
    p.server.handle_bytes(p.now, &bytes);
    assert_eq!(
        events(&mut p.server),
        vec![Event::Closed(CloseReason::ProtocolViolation(Violation::AckOfUnsent { recv_seq: 2, oldest_unacked: 0, next_send: 1 }))]
    );
}

#[test]
fn garbage_closes_the_link() {
    let mut p = Pair::new(LinkConfig::default());
    p.server.handle_bytes(p.now, &[0x00, 0x01]);
    assert!(matches!(events(&mut p.server).as_slice(), [Event::Closed(CloseReason::ProtocolViolation(Violation::Decode(_)))]));
}

#[test]
fn frames_split_across_reads_are_reassembled() {
    let mut p = Pair::new(LinkConfig::default());
    let bytes = [0x68, 0x04, 0x07, 0x00, 0x00, 0x00, 0x68, 0x04, 0x43, 0x00, 0x00, 0x00];
    for b in bytes {
        p.server.handle_bytes(p.now, &[b]);
    }
    let mut out = Vec::new();
    p.server.poll_transmit(&mut out);
    assert_eq!(decode_all(&out), vec![Apdu::U(UFunction::StartDtCon), Apdu::U(UFunction::TestFrCon)]);
}

#[test]
fn stopdt_waits_for_outstanding_acknowledgements() {
    let mut p = Pair::new(LinkConfig::default());
    p.start();
    p.server.send_asdu(p.now, asdu(1)).unwrap();
    // The client asks to stop before the server's I-frame arrives.
    p.client.stop(p.now).unwrap();
    p.pump();
    assert_eq!(p.client.state(), DataState::Stopped);
    assert_eq!(p.server.state(), DataState::Stopped);
    assert!(events(&mut p.server).contains(&Event::Stopped));
    let client_events = events(&mut p.client);
    assert!(client_events.contains(&Event::Asdu(asdu(1))));
    assert!(client_events.contains(&Event::Stopped));
    assert_eq!(p.server.acked_count(), 1);
    // Data may start again.
    p.client.start(p.now).unwrap();
    p.pump();
    assert!(p.server.can_send());
}

#[test]
fn sequence_numbers_wrap_at_32768() {
    let config = LinkConfig { k: 100, w: 50, ..LinkConfig::default() };
    let mut p = Pair::new(config);
    p.start();
    for i in 0..33_000u32 {
        p.server.send_asdu(p.now, asdu(i as u8)).unwrap();
        if i % 50 == 49 {
            p.pump();
            while p.client.poll_event().is_some() {}
        }
    }
    p.pump();
    assert!(!p.client.is_closed() && !p.server.is_closed());
}

#[test]
fn link_config_reads_from_toml_and_refuses_unknown_keys() {
    let c: LinkConfig = toml::from_str("k = 20\nw = 10\nt1 = 5\nt2 = 2.5").unwrap();
    assert_eq!(c.k, 20);
    assert_eq!(c.t2, Duration::from_millis(2500));
    assert_eq!(c.t3, Duration::from_secs(20));
    c.validate().unwrap();
    let err = toml::from_str::<LinkConfig>("kk = 1").unwrap_err();
    assert!(err.to_string().contains("kk"));
    assert!(LinkConfig { w: 13, ..LinkConfig::default() }.validate().is_err());
}
