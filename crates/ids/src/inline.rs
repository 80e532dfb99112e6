//! The detector inside a running role: the bytes of each connection as the role reads and writes
//! them (no capture and no TCP reassembly needed: they arrive in order, after TLS), framed with the
//! protocol's own codec, learned from or checked against a model. Sans-IO: bytes and time in,
//! events, alerts and the learned model out; the role's driver feeds it (see the cc's `ids`).
//!
//! A [`Monitor`] is one per listening service: it either checks against a model given to it
//! (learned offline with `gridtrust ids learn`, or earlier by this monitor) or first learns one
//! from the live traffic of a stated period and then checks. A [`LinkObserver`] is one per
//! connection: it frames each direction's bytes into [`Event`]s for the monitor.
//!
//! Not here: IPv6 peers (the model's endpoints are IPv4; [`LinkObserver::new`] says so by
//! returning `None`, and the role leaves such a connection unmonitored and says so).

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};

use crate::detect::{Alert, Detector};
use crate::event::{Direction, Endpoint, Event, EventKind, Flow, Protocol};
use crate::model::{Learner, Model};
use crate::stream::Framer;

/// Learning or checking.
enum Phase {
    /// Learning until the first event at or after `until_us`.
    Learning { learner: Box<Learner>, until_us: i64 },
    /// Checking against a model.
    Detecting(Box<Detector>),
}

/// The detector for one service, learning first when it has no model.
pub struct Monitor {
    phase: Phase,
}

impl Monitor {
    /// Checks against `model` from the first event on.
    pub fn detecting(model: Model) -> Self {
        Self { phase: Phase::Detecting(Box::new(Detector::new(model))) }
    }

    /// Learns from every event before `until_us` (microseconds since the Unix epoch), then checks.
    pub fn learning(until_us: i64) -> Self {
        Self { phase: Phase::Learning { learner: Box::default(), until_us } }
    }

    /// Whether it is still learning.
    pub fn is_learning(&self) -> bool {
        matches!(self.phase, Phase::Learning { .. })
    }

    /// Learns from or checks one event. Returns the model when this event ended the learning
    /// period (the event itself is the first one checked), so the role can keep it.
    pub fn handle(&mut self, event: &Event) -> Option<Model> {
        let mut learned = None;
        if let Phase::Learning { learner, until_us } = &mut self.phase {
            if event.time_us < *until_us {
                learner.observe(event);
                return None;
            }
            let model = std::mem::take(learner.as_mut()).finish();
            self.phase = Phase::Detecting(Box::new(Detector::new(model.clone())));
            learned = Some(model);
        }
        if let Phase::Detecting(detector) = &mut self.phase {
            detector.handle_event(event);
        }
        learned
    }

    /// The next alert, if any.
    pub fn poll_alert(&mut self) -> Option<Alert> {
        match &mut self.phase {
            Phase::Learning { .. } => None,
            Phase::Detecting(detector) => detector.poll_alert(),
        }
    }
}

/// Frames one connection's bytes into events.
#[derive(Debug)]
pub struct LinkObserver {
    flow: Flow,
    protocol: Protocol,
    /// Whether this side is the server (the bytes it receives go to the server).
    local_is_server: bool,
    received: Framer,
    sent: Framer,
}

impl LinkObserver {
    /// An observer for a connection between `local` and `peer`, `local` being the server when
    /// `local_is_server`. `None` for IPv6 addresses, which the model cannot name.
    pub fn new(protocol: Protocol, local: SocketAddr, peer: SocketAddr, local_is_server: bool) -> Option<Self> {
        let (local, peer) = (endpoint(local)?, endpoint(peer)?);
        let flow = if local_is_server { Flow { client: peer, server: local } } else { Flow { client: local, server: peer } };
        Some(Self { flow, protocol, local_is_server, received: Framer::default(), sent: Framer::default() })
    }

    fn event(&self, time_us: i64, direction: Direction, kind: EventKind) -> Event {
        Event { time_us, flow: self.flow, direction, src_mac: None, protocol: self.protocol, kind }
    }

    /// The connection was opened (by the client).
    pub fn opened(&self, time_us: i64) -> Event {
        self.event(time_us, Direction::ToServer, EventKind::Open)
    }

    /// Bytes this side received: the frames they complete are appended to `out`.
    pub fn received(&mut self, time_us: i64, bytes: &[u8], out: &mut Vec<Event>) {
        let direction = if self.local_is_server { Direction::ToServer } else { Direction::ToClient };
        self.received.push(bytes);
        let (flow, protocol) = (self.flow, self.protocol);
        self.received.frame(protocol, |kind| out.push(Event { time_us, flow, direction, src_mac: None, protocol, kind }));
    }

    /// Bytes this side sent: the frames they complete are appended to `out`.
    pub fn sent(&mut self, time_us: i64, bytes: &[u8], out: &mut Vec<Event>) {
        let direction = if self.local_is_server { Direction::ToClient } else { Direction::ToServer };
        self.sent.push(bytes);
        let (flow, protocol) = (self.flow, self.protocol);
        self.sent.frame(protocol, |kind| out.push(Event { time_us, flow, direction, src_mac: None, protocol, kind }));
    }

    /// The connection closed.
    pub fn closed(&self, time_us: i64) -> Event {
        self.event(time_us, Direction::ToServer, EventKind::Close)
    }
}

fn endpoint(addr: SocketAddr) -> Option<Endpoint> {
    match addr.ip().to_canonical() {
        IpAddr::V4(ip) => Some(Endpoint { ip, port: addr.port() }),
        IpAddr::V6(_) => None,
    }
}

/// Alerts the monitor raised but the role has not taken yet, bounded: a flood of alerts must not
/// grow memory. The oldest are dropped and counted.
#[derive(Debug, Default)]
pub struct AlertQueue {
    alerts: VecDeque<Alert>,
    dropped: u64,
}

/// Alerts kept for the role between its reads.
pub const MAX_QUEUED_ALERTS: usize = 1024;

impl AlertQueue {
    /// Takes every alert the monitor has ready.
    pub fn take_from(&mut self, monitor: &mut Monitor) {
        while let Some(alert) = monitor.poll_alert() {
            if self.alerts.len() == MAX_QUEUED_ALERTS {
                self.alerts.pop_front();
                self.dropped += 1;
            }
            self.alerts.push_back(alert);
        }
    }

    /// The queued alerts, oldest first, and how many were dropped since the last drain.
    pub fn drain(&mut self) -> (Vec<Alert>, u64) {
        (self.alerts.drain(..).collect(), std::mem::take(&mut self.dropped))
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use gridtrust_iec104::apci::{Apdu, UFunction};
    use gridtrust_iec104::asdu::{Asdu, Cause, Cot, Element, InformationObject, Qds, TypeId};

    use super::*;
    use crate::detect::AlertKind;

    const SERVER: &str = "127.0.0.1:2404";
    const SCADA: &str = "127.0.0.1:40000";

    fn asdu(type_id: TypeId, cause: Cause, ioa: u32, element: Element) -> Bytes {
        let mut out = Vec::new();
        Asdu { type_id, sequence: false, cot: Cot::new(cause), common_address: 1, objects: vec![InformationObject { ioa, element }] }
            .encode(&mut out)
            .unwrap();
        Bytes::from(out)
    }

    fn i_frame(send: u16, recv: u16, asdu: Bytes) -> Vec<u8> {
        let mut out = Vec::new();
        Apdu::I { send_seq: send, recv_seq: recv, asdu }.encode(&mut out).unwrap();
        out
    }

    /// One SCADA session as the server sees it: STARTDT, an interrogation, its answer.
    fn session(observer: &mut LinkObserver, t: i64, out: &mut Vec<Event>) {
        let mut startdt = Vec::new();
        Apdu::U(UFunction::StartDtAct).encode(&mut startdt).unwrap();
        observer.received(t, &startdt, out);
        let gi = asdu(TypeId::CIcNa1, Cause::Activation, 0, Element::Interrogation { qoi: 20 });
        observer.received(t + 10, &i_frame(0, 0, gi), out);
        let value =
            asdu(TypeId::MMeNc1, Cause::Interrogated, 10001, Element::ShortFloat { value: 230.0, quality: Qds::default(), time: None });
        // A frame split across two writes is framed once, when complete.
        let frame = i_frame(0, 1, value);
        let (a, b) = frame.split_at(5);
        observer.sent(t + 20, a, out);
        observer.sent(t + 21, b, out);
    }

    fn observer(peer: &str) -> LinkObserver {
        LinkObserver::new(Protocol::Iec104, SERVER.parse().unwrap(), peer.parse().unwrap(), true).unwrap()
    }

    #[test]
    fn frames_both_directions_as_the_server_sees_them() {
        let mut o = observer(SCADA);
        let mut out = Vec::new();
        session(&mut o, 1_000, &mut out);
        let directions: Vec<Direction> = out.iter().map(|e| e.direction).collect();
        assert_eq!(directions, [Direction::ToServer, Direction::ToServer, Direction::ToClient]);
        assert!(out.iter().all(|e| e.flow.server.port == 2404 && e.flow.client.port == 40000));
        assert_eq!(out.last().unwrap().time_us, 1_021, "framed when the second half arrived");
    }

    #[test]
    fn learns_until_its_deadline_then_alerts_on_a_peer_it_never_saw() {
        let mut monitor = Monitor::learning(1_000_000);
        let mut known = observer(SCADA);
        let mut events = vec![known.opened(0)];
        session(&mut known, 100, &mut events);
        for e in &events {
            assert!(monitor.handle(e).is_none());
        }
        assert!(monitor.is_learning());
        assert!(monitor.poll_alert().is_none(), "no alerts while learning");

        let intruder = observer("127.0.0.2:40001");
        let learned = monitor.handle(&intruder.opened(2_000_000)).expect("the deadline passed: the model is handed out");
        assert!(learned.peers.iter().any(|p| p.client == std::net::Ipv4Addr::LOCALHOST));
        assert!(!monitor.is_learning());
        let alert = monitor.poll_alert().expect("the event after the deadline is checked");
        assert!(matches!(alert.kind, AlertKind::UnknownPeer { .. }), "{alert}");
    }

    #[test]
    fn a_known_peer_repeating_its_session_raises_nothing() {
        let mut learning = observer(SCADA);
        let mut events = vec![learning.opened(0)];
        session(&mut learning, 100, &mut events);
        let model = crate::model::learn(&events);
        let mut monitor = Monitor::detecting(model);
        let mut again = observer("127.0.0.1:40002");
        let mut later = vec![again.opened(5_000_000)];
        session(&mut again, 5_000_100, &mut later);
        for e in &later {
            monitor.handle(e);
        }
        assert!(monitor.poll_alert().is_none());
    }

    #[test]
    fn ipv6_peers_are_not_observed() {
        assert!(LinkObserver::new(Protocol::Iec104, SERVER.parse().unwrap(), "[2001:db8::1]:4000".parse().unwrap(), true).is_none());
        assert!(LinkObserver::new(Protocol::Iec104, SERVER.parse().unwrap(), "[::ffff:10.0.0.1]:4000".parse().unwrap(), true).is_some());
    }

    #[test]
    fn the_alert_queue_keeps_the_newest_and_counts_the_dropped() {
        let mut monitor = Monitor::detecting(crate::model::learn(std::iter::empty()));
        let mut queue = AlertQueue::default();
        for port in 0..(MAX_QUEUED_ALERTS as u16 + 5) {
            // Every unknown client is an alert of its own.
            monitor.handle(&observer(&format!("10.0.{}.{}:{}", port / 250, port % 250 + 1, 1000 + port)).opened(i64::from(port)));
        }
        queue.take_from(&mut monitor);
        let (alerts, dropped) = queue.drain();
        assert_eq!(alerts.len(), MAX_QUEUED_ALERTS);
        assert!(dropped > 0);
        assert!(queue.is_empty());
    }
}
