//! The detector: sans-IO, events in, alerts out. It holds a learned [`Model`] and a little state
//! per connection (sequence numbers, rate windows, last values) and decides, per event, in this
//! order:
//!
//! 1. **Peer**: a client–server pair never seen talking is an unknown peer; a sender whose MAC
//!    address was never seen for its IP address is a spoofed source.
//! 2. **Rates**: frames per second per pair and direction, and connection attempts per ten
//!    seconds per server, against the learned envelope's limit (flood, DoS).
//! 3. **Malformed bytes** on a pair that never had any.
//! 4. **Sequence** (IEC 104): an I-frame whose N(S) is behind the next expected one repeats or
//!    reorders frames already delivered (replay); an I- or S-frame whose N(R) is behind its
//!    sender's latest acknowledges less than before (an old frame again). A forward jump is
//!    capture loss, not an alert.
//! 5. **Content**: unknown station address, type × cause never seen in that direction (file
//!    transfer types get their own kind), unknown information object or command target, a
//!    command whose time tag is older than any learned, and a measured value whose step from
//!    its previous value exceeds the learned step envelope, unless a double point (switchgear
//!    position) of the same station changed within two learned report intervals of that point
//!    before (a breaker trip moves currents).
//! 6. **Cadence**: more of one request (interrogation, counter interrogation, clock
//!    synchronisation, read; Modbus read of one address) on the connection within its learned
//!    period (median interval) than the learned envelope of requests per period allows, when
//!    normal operation had at least [`MIN_CADENCE_SAMPLES`] intervals of it. Such an alert is not
//!    repeated within the period.
//! 7. **Scans**: one client touching three or more distinct unknown servers or stations
//!    (horizontal) or unknown objects of one station (vertical) within ten seconds.
//!
//! An alert is raised once per kind and subject within [`HOLD_US`]; repeats are counted, not
//! printed again.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::net::Ipv4Addr;

use gridtrust_iec104::apci::{Apdu, SEQ_MODULUS};

use crate::event::{Direction, Endpoint, Event, EventKind, Flow, Malformed, Protocol};
use crate::model::{
    self, Envelope, MIN_CADENCE_SAMPLES, Model, OPEN_WINDOW_US, ObjectKey, Peer, RATE_WINDOW_US, RequestKey, TypeCause, Unit, Value,
};

/// How long an alert of the same kind and subject is not repeated, microseconds.
pub const HOLD_US: i64 = 60_000_000;
/// Window in which distinct unknown targets of one client make a scan, microseconds.
pub const SCAN_WINDOW_US: i64 = 10_000_000;
/// Distinct unknown targets within [`SCAN_WINDOW_US`] that make a scan.
pub const SCAN_TARGETS: usize = 3;

/// Whether a scan went across devices or down into one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScanScope {
    /// Many servers or station addresses.
    Horizontal,
    /// Many objects or types of one station.
    Vertical,
}

/// What was detected, with the evidence.
#[derive(Debug, Clone, PartialEq)]
pub enum AlertKind {
    /// The pair never talked in normal operation.
    UnknownPeer {
        /// The protocol.
        protocol: Protocol,
    },
    /// The sender's MAC address was never seen for its IP address.
    SpoofedSource {
        /// The IP address.
        ip: Ipv4Addr,
        /// MAC addresses learned for it.
        learned: Vec<[u8; 6]>,
        /// MAC address seen.
        seen: [u8; 6],
    },
    /// Frames per window above the learned limit.
    RateExceeded {
        /// Direction.
        direction: Direction,
        /// Frames in the current window.
        frames: u32,
        /// Learned maximum.
        learned_max: f64,
        /// Limit.
        limit: f64,
    },
    /// Connection attempts per window above the learned limit.
    ConnectionFlood {
        /// Attempts in the current window.
        attempts: u32,
        /// Learned limit (0 when the server never saw attempts).
        limit: f64,
    },
    /// Bytes that are not the protocol, on a pair that never had any.
    MalformedTraffic {
        /// Why.
        reason: Malformed,
    },
    /// An I-frame's N(S) is behind the next expected number.
    SequenceBackwards {
        /// Direction.
        direction: Direction,
        /// The next expected N(S).
        expected: u16,
        /// N(S) seen.
        seen: u16,
    },
    /// An I- or S-frame's N(R) is behind the N(R) its sender already sent: it acknowledges less
    /// than before, as a frame replayed from earlier in the connection does.
    AcknowledgementBackwards {
        /// Direction.
        direction: Direction,
        /// The sender's latest N(R).
        latest: u16,
        /// N(R) seen.
        seen: u16,
    },
    /// A station address never seen at this server.
    UnknownStation {
        /// Common address or unit id.
        address: u16,
    },
    /// A type and cause never seen in this direction at this station.
    UnexpectedType {
        /// Station.
        address: u16,
        /// Type and cause.
        kind: TypeCause,
    },
    /// IEC 104 file transfer (types 120–127) where none was learned.
    FileTransfer {
        /// Station.
        address: u16,
        /// Type id.
        type_code: u8,
    },
    /// An object never seen with this type and direction.
    UnknownObject {
        /// Station.
        address: u16,
        /// The object.
        object: ObjectKey,
    },
    /// A command to a target never commanded in normal operation.
    UnknownCommandTarget {
        /// Station.
        address: u16,
        /// The target.
        object: ObjectKey,
    },
    /// A time-tagged command whose tag is further from capture time than any learned.
    StaleCommand {
        /// Station.
        address: u16,
        /// Object.
        ioa: u32,
        /// |capture time − time tag|, ms.
        age_ms: i64,
        /// Learned limit, ms (0 when no time-tagged command was learned).
        limit_ms: f64,
    },
    /// A measured value jumped further than its learned step envelope allows.
    ValueJump {
        /// Station.
        address: u16,
        /// Object.
        ioa: u32,
        /// Previous value.
        previous: f64,
        /// This value.
        value: f64,
        /// Learned largest step.
        learned_max: f64,
        /// Limit.
        limit: f64,
    },
    /// More of one request (interrogation, read, clock sync, Modbus read) within its learned
    /// period on the connection than normal operation had.
    Cadence {
        /// Station.
        address: u16,
        /// Base type code or Modbus function.
        type_code: u8,
        /// Object or start address.
        ioa: u32,
        /// Requests within the period ending now.
        requests: usize,
        /// The learned period (median interval), ms.
        period_ms: f64,
        /// Learned most requests per period.
        learned_max: f64,
        /// Limit.
        limit: f64,
    },
    /// One client touched many unknown targets.
    Scan {
        /// Across or into.
        scope: ScanScope,
        /// Distinct unknown targets in the window.
        targets: usize,
    },
}

impl AlertKind {
    /// A short stable name for the kind (for counting and tables).
    pub fn name(&self) -> &'static str {
        match self {
            AlertKind::UnknownPeer { .. } => "unknown-peer",
            AlertKind::SpoofedSource { .. } => "spoofed-source",
            AlertKind::RateExceeded { .. } => "rate",
            AlertKind::ConnectionFlood { .. } => "connection-flood",
            AlertKind::MalformedTraffic { .. } => "malformed",
            AlertKind::SequenceBackwards { .. } | AlertKind::AcknowledgementBackwards { .. } => "sequence",
            AlertKind::UnknownStation { .. } => "unknown-station",
            AlertKind::UnexpectedType { .. } => "unexpected-type",
            AlertKind::FileTransfer { .. } => "file-transfer",
            AlertKind::UnknownObject { .. } => "unknown-object",
            AlertKind::UnknownCommandTarget { .. } => "unknown-command-target",
            AlertKind::StaleCommand { .. } => "stale-command",
            AlertKind::ValueJump { .. } => "value-jump",
            AlertKind::Cadence { .. } => "cadence",
            AlertKind::Scan { .. } => "scan",
        }
    }

    /// What identifies "the same alert" for [`HOLD_US`].
    fn subject(&self) -> (u32, u32, u32) {
        match *self {
            AlertKind::UnknownStation { address } => (u32::from(address), 0, 0),
            AlertKind::UnexpectedType { address, kind } => (
                u32::from(address),
                u32::from(kind.type_code),
                u32::from(kind.cause) << 1 | u32::from(kind.direction == Direction::ToClient),
            ),
            AlertKind::FileTransfer { address, type_code } => (u32::from(address), u32::from(type_code), 0),
            AlertKind::UnknownObject { address, object } | AlertKind::UnknownCommandTarget { address, object } => {
                (u32::from(address), u32::from(object.type_code), object.ioa)
            }
            AlertKind::StaleCommand { address, ioa, .. } | AlertKind::ValueJump { address, ioa, .. } => (u32::from(address), ioa, 0),
            AlertKind::Cadence { address, type_code, ioa, .. } => (u32::from(address), u32::from(type_code), ioa),
            AlertKind::RateExceeded { direction, .. } | AlertKind::SequenceBackwards { direction, .. } => {
                (u32::from(direction == Direction::ToClient), 0, 0)
            }
            AlertKind::AcknowledgementBackwards { direction, .. } => (u32::from(direction == Direction::ToClient), 1, 0),
            AlertKind::Scan { scope, .. } => (u32::from(scope == ScanScope::Vertical), 0, 0),
            _ => (0, 0, 0),
        }
    }
}

fn mac(m: &[u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

fn type_name(code: u8) -> String {
    gridtrust_iec104::asdu::TypeId::try_from(code).map_or_else(|_| format!("type {code}"), |t| format!("{} ({code})", t.name()))
}

impl fmt::Display for AlertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AlertKind::UnknownPeer { protocol } => {
                write!(f, "unknown peer: this client and server never exchanged {protocol:?} traffic in normal operation")
            }
            AlertKind::SpoofedSource { ip, learned, seen } => write!(
                f,
                "spoofed source: {ip} sent from MAC {}, normal operation saw it only from {}",
                mac(seen),
                learned.iter().map(mac).collect::<Vec<_>>().join(", ")
            ),
            AlertKind::RateExceeded { direction, frames, learned_max, limit } => {
                write!(f, "flood: {frames} {direction} frames in one second, normal operation had at most {learned_max} (limit {limit:.1})")
            }
            AlertKind::ConnectionFlood { attempts, limit } => {
                write!(f, "connection flood: {attempts} connection attempts in ten seconds, limit {limit:.1} from normal operation")
            }
            AlertKind::MalformedTraffic { reason } => write!(f, "malformed traffic on a pair that never had any: {reason}"),
            AlertKind::SequenceBackwards { direction, expected, seen } => {
                write!(
                    f,
                    "replayed or reordered {direction} I-frame: N(S) {seen} when {expected} was next; the number was already used on this connection"
                )
            }
            AlertKind::AcknowledgementBackwards { direction, latest, seen } => {
                write!(
                    f,
                    "replayed or reordered {direction} frame: N(R) {seen} acknowledges less than the {latest} its sender already acknowledged on this connection"
                )
            }
            AlertKind::UnknownStation { address } => {
                write!(f, "unknown station: common address / unit {address} never seen at this server")
            }
            AlertKind::UnexpectedType { address, kind } => write!(
                f,
                "unexpected {} {} with cause {}{} at station {address}: never seen in that direction",
                kind.direction,
                type_name(kind.type_code),
                kind.cause & 0x3f,
                if kind.cause & 0x40 != 0 { " (negative)" } else { "" }
            ),
            AlertKind::FileTransfer { address, type_code } => {
                write!(f, "file transfer service {} at station {address}, never used in normal operation", type_name(*type_code))
            }
            AlertKind::UnknownObject { address, object } => {
                write!(
                    f,
                    "unknown object: {} {} at IOA {} of station {address} never seen",
                    object.direction,
                    type_name(object.type_code),
                    object.ioa
                )
            }
            AlertKind::UnknownCommandTarget { address, object } => {
                write!(
                    f,
                    "unexpected command target: {} to IOA {} of station {address}, never commanded in normal operation",
                    type_name(object.type_code),
                    object.ioa
                )
            }
            AlertKind::StaleCommand { address, ioa, age_ms, limit_ms } => write!(
                f,
                "stale command (replay?): time tag of the command to IOA {ioa} of station {address} is {age_ms} ms from capture time, normal commands stay within {limit_ms:.0} ms"
            ),
            AlertKind::ValueJump { address, ioa, previous, value, learned_max, limit } => write!(
                f,
                "value inconsistent with history: IOA {ioa} of station {address} went from {previous} to {value} (step {:.3}), learned steps are at most {learned_max:.3} (limit {limit:.3}) and no switchgear position of the station changed just before",
                (value - previous).abs()
            ),
            AlertKind::Cadence { address, type_code, ioa, requests, period_ms, learned_max, limit } => write!(
                f,
                "request cadence: {requests} {} to IOA {ioa} of station {address} within {:.1} s, its learned period; normal operation had at most {learned_max} (limit {limit:.1})",
                type_name(*type_code),
                period_ms / 1000.0
            ),
            AlertKind::Scan { scope: ScanScope::Horizontal, targets } => {
                write!(f, "horizontal scan: {targets} distinct unknown servers or stations within ten seconds")
            }
            AlertKind::Scan { scope: ScanScope::Vertical, targets } => {
                write!(f, "vertical scan: {targets} distinct unknown objects or types of one station within ten seconds")
            }
        }
    }
}

/// One alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Time of the event that raised it, microseconds since the Unix epoch.
    pub time_us: i64,
    /// The connection.
    pub flow: Flow,
    /// What and why.
    pub kind: AlertKind,
}

impl fmt::Display for Alert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.time_us.div_euclid(1_000_000);
        let micros = self.time_us.rem_euclid(1_000_000);
        write!(f, "{secs}.{micros:06} {} [{}] {}", self.flow, self.kind.name(), self.kind)
    }
}

#[derive(Default)]
struct Window {
    window: i64,
    count: u32,
}

impl Window {
    fn add(&mut self, time_us: i64, window_us: i64) -> u32 {
        let w = time_us.div_euclid(window_us);
        if w != self.window {
            self.window = w;
            self.count = 0;
        }
        self.count = self.count.saturating_add(1);
        self.count
    }
}

#[derive(Default)]
struct Indexed {
    peers: HashSet<Peer>,
    hosts: HashMap<Ipv4Addr, Vec<[u8; 6]>>,
    stations: HashMap<(Ipv4Addr, Protocol, u16), usize>,
    station_kinds: HashSet<(usize, TypeCause)>,
    station_objects: HashSet<(usize, ObjectKey)>,
    points: HashMap<(usize, u32), (Envelope, Option<Envelope>)>,
    command_age: HashMap<usize, Envelope>,
    rates: HashMap<(Ipv4Addr, Endpoint, Direction), (f64, f64)>,
    opens: HashMap<Endpoint, f64>,
    malformed: HashSet<Peer>,
    /// Learned request cadence (enough samples only): (period µs, learned max, limit).
    cadences: HashMap<(Ipv4Addr, Endpoint, RequestKey), (i64, f64, f64)>,
}

/// Client, server, alert kind name and subject: what makes two alerts "the same".
type AlertKey = (Ipv4Addr, Endpoint, &'static str, (u32, u32, u32));

/// The detector.
pub struct Detector {
    model: Model,
    index: Indexed,
    /// Next expected N(S) per connection and direction.
    next_seq: HashMap<(Flow, Direction), u16>,
    /// Latest N(R) per connection and direction.
    last_ack: HashMap<(Flow, Direction), u16>,
    /// Recent request times per connection and request (within the request's period).
    last_request: HashMap<(Flow, RequestKey), VecDeque<i64>>,
    rate: HashMap<(Ipv4Addr, Endpoint, Direction), Window>,
    opens: HashMap<Endpoint, Window>,
    /// Last value per (server, station, ioa), with its time.
    last: HashMap<(Ipv4Addr, u16, u32), f64>,
    /// Last switchgear position change per (server, station).
    status_change: HashMap<(Ipv4Addr, u16), i64>,
    /// Last switchgear position per (server, station, ioa).
    status: HashMap<(Ipv4Addr, u16, u32), u8>,
    /// Unknown targets per client: (time, horizontal?, target).
    unknown: HashMap<Ipv4Addr, VecDeque<(i64, ScanScope, u64)>>,
    /// When each alert (by client, server, kind and subject) was last raised.
    raised: HashMap<AlertKey, i64>,
    suppressed: u64,
    out: VecDeque<Alert>,
}

impl Detector {
    /// A detector for a learned model.
    pub fn new(model: Model) -> Self {
        let mut index = Indexed {
            peers: model.peers.iter().copied().collect(),
            hosts: model.hosts.iter().map(|h| (h.ip, h.macs.clone())).collect(),
            rates: model.rates.iter().map(|r| ((r.client, r.server, r.direction), (r.per_window.max, r.per_window.limit(1.0)))).collect(),
            opens: model.opens.iter().map(|o| (o.server, o.per_window.limit(1.0))).collect(),
            malformed: model.malformed.iter().copied().collect(),
            cadences: model
                .cadences
                .iter()
                .filter(|c| c.interval.n >= MIN_CADENCE_SAMPLES)
                .map(|c| {
                    (
                        (c.client, c.server, (c.address, c.type_code, c.ioa)),
                        (c.interval.median as i64, c.per_period.max, c.per_period.limit(1.0)),
                    )
                })
                .collect(),
            ..Indexed::default()
        };
        for (i, s) in model.stations.iter().enumerate() {
            index.stations.insert((s.server, s.protocol, s.address), i);
            index.station_kinds.extend(s.kinds.iter().map(|k| (i, *k)));
            index.station_objects.extend(s.objects.iter().map(|o| (i, *o)));
            index.points.extend(s.points.iter().map(|p| ((i, p.ioa), (p.step, p.interval))));
            if let Some(a) = s.command_age_ms {
                index.command_age.insert(i, a);
            }
        }
        Detector {
            model,
            index,
            next_seq: HashMap::new(),
            last_request: HashMap::new(),
            last_ack: HashMap::new(),
            rate: HashMap::new(),
            opens: HashMap::new(),
            last: HashMap::new(),
            status_change: HashMap::new(),
            status: HashMap::new(),
            unknown: HashMap::new(),
            raised: HashMap::new(),
            suppressed: 0,
            out: VecDeque::new(),
        }
    }

    /// The model this detector checks against.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Alerts not printed again because the same one was raised within [`HOLD_US`].
    pub fn suppressed(&self) -> u64 {
        self.suppressed
    }

    /// The next alert, if any.
    pub fn poll_alert(&mut self) -> Option<Alert> {
        self.out.pop_front()
    }

    fn raise(&mut self, event: &Event, kind: AlertKind) {
        self.raise_held(event, kind, HOLD_US);
    }

    fn raise_held(&mut self, event: &Event, kind: AlertKind, hold_us: i64) {
        let key = (event.flow.client.ip, event.flow.server, kind.name(), kind.subject());
        if let Some(&at) = self.raised.get(&key)
            && event.time_us - at < hold_us
        {
            self.suppressed += 1;
            return;
        }
        self.raised.insert(key, event.time_us);
        self.out.push_back(Alert { time_us: event.time_us, flow: event.flow, kind });
    }

    fn note_unknown(&mut self, event: &Event, scope: ScanScope, target: u64) {
        let q = self.unknown.entry(event.flow.client.ip).or_default();
        while q.front().is_some_and(|(t, _, _)| event.time_us - t > SCAN_WINDOW_US) {
            q.pop_front();
        }
        if !q.iter().any(|&(_, s, t)| s == scope && t == target) {
            q.push_back((event.time_us, scope, target));
        }
        let targets = q.iter().filter(|(_, s, _)| *s == scope).count();
        if targets >= SCAN_TARGETS {
            self.raise(event, AlertKind::Scan { scope, targets });
        }
    }

    /// Checks one event; alerts it raises are queued for [`poll_alert`](Self::poll_alert).
    pub fn handle_event(&mut self, event: &Event) {
        let flow = event.flow;
        let peer = Peer { client: flow.client.ip, server: flow.server, protocol: event.protocol };
        // 1. Peer and source.
        if !self.index.peers.contains(&peer) {
            self.raise(event, AlertKind::UnknownPeer { protocol: event.protocol });
            let server_known = self.model.peers.iter().any(|p| p.server == flow.server);
            self.note_unknown(
                event,
                ScanScope::Horizontal,
                u64::from(flow.server.ip.to_bits()) << 16 | u64::from(flow.server.port) | u64::from(server_known) << 63,
            );
        }
        if let Some(seen) = event.src_mac {
            let ip = event.sender().ip;
            if let Some(learned) = self.index.hosts.get(&ip)
                && !learned.contains(&seen)
            {
                let learned = learned.clone();
                self.raise(event, AlertKind::SpoofedSource { ip, learned, seen });
            }
        }
        // 2. Rates.
        match &event.kind {
            EventKind::Open => {
                let attempts = self.opens.entry(flow.server).or_default().add(event.time_us, OPEN_WINDOW_US);
                let limit = self.index.opens.get(&flow.server).copied().unwrap_or(0.0);
                if f64::from(attempts) > limit && self.index.peers.contains(&peer) {
                    self.raise(event, AlertKind::ConnectionFlood { attempts, limit });
                }
                self.forget(flow);
            }
            EventKind::Close => self.forget(flow),
            EventKind::Malformed(reason) => {
                if !self.index.malformed.contains(&peer) {
                    self.raise(event, AlertKind::MalformedTraffic { reason: reason.clone() });
                }
            }
            EventKind::Iec104(_) | EventKind::Modbus { .. } => {
                let key = (flow.client.ip, flow.server, event.direction);
                let frames = self.rate.entry(key).or_default().add(event.time_us, RATE_WINDOW_US);
                if let Some(&(learned_max, limit)) = self.index.rates.get(&key)
                    && f64::from(frames) > limit
                {
                    self.raise(event, AlertKind::RateExceeded { direction: event.direction, frames, learned_max, limit });
                }
            }
        }
        // 4. Sequence numbers: N(S) against the next expected, N(R) against the sender's latest.
        let recv_seq = match &event.kind {
            EventKind::Iec104(Apdu::I { recv_seq, .. } | Apdu::S { recv_seq }) => Some(*recv_seq),
            _ => None,
        };
        if let Some(seen) = recv_seq {
            let key = (flow, event.direction);
            match self.last_ack.get(&key).copied() {
                Some(latest) if behind(latest, seen) => {
                    self.raise(event, AlertKind::AcknowledgementBackwards { direction: event.direction, latest, seen });
                }
                _ => {
                    self.last_ack.insert(key, seen);
                }
            }
        }
        if let EventKind::Iec104(Apdu::I { send_seq, .. }) = &event.kind {
            let key = (flow, event.direction);
            match self.next_seq.get(&key).copied() {
                // Behind: a number already used. The expectation stays, so the sender's next
                // genuine frame is not reported too.
                Some(expected) if behind(expected, *send_seq) => {
                    self.raise(event, AlertKind::SequenceBackwards { direction: event.direction, expected, seen: *send_seq });
                }
                // In order, or ahead (capture loss).
                _ => {
                    self.next_seq.insert(key, (send_seq + 1) % SEQ_MODULUS);
                }
            }
        }
        // 5. Content.
        if let Some(unit) = model::unit_of(event) {
            self.check_cadence(event, &unit);
            self.check_unit(event, &unit);
        }
    }

    /// Drops a connection's per-connection state (it opened anew or closed).
    fn forget(&mut self, flow: Flow) {
        self.next_seq.retain(|(f, _), _| *f != flow);
        self.last_ack.retain(|(f, _), _| *f != flow);
        self.last_request.retain(|(f, _), _| *f != flow);
    }

    fn check_cadence(&mut self, event: &Event, unit: &Unit) {
        for key in model::requests(unit) {
            let Some(&(period, learned_max, limit)) = self.index.cadences.get(&(event.flow.client.ip, event.flow.server, key)) else {
                continue;
            };
            let recent = self.last_request.entry((event.flow, key)).or_default();
            recent.push_back(event.time_us);
            while recent.front().is_some_and(|&f| event.time_us - f >= period) {
                recent.pop_front();
            }
            let requests = recent.len();
            if requests as f64 > limit {
                let (address, type_code, ioa) = key;
                // Not repeated within the request's own period: the requests that made this alert
                // stay in the window that long.
                self.raise_held(
                    event,
                    AlertKind::Cadence { address, type_code, ioa, requests, period_ms: period as f64 / 1000.0, learned_max, limit },
                    period.max(HOLD_US),
                );
            }
        }
    }

    fn check_unit(&mut self, event: &Event, unit: &Unit) {
        let server = event.flow.server.ip;
        let Some(&si) = self.index.stations.get(&(server, event.protocol, unit.address)) else {
            self.raise(event, AlertKind::UnknownStation { address: unit.address });
            self.note_unknown(event, ScanScope::Horizontal, u64::from(server.to_bits()) << 16 | u64::from(unit.address) | 1 << 62);
            return;
        };
        let address = unit.address;
        if !self.index.station_kinds.contains(&(si, unit.kind)) {
            if event.protocol == Protocol::Iec104 && (120..=127).contains(&unit.wire_type) {
                self.raise(event, AlertKind::FileTransfer { address, type_code: unit.wire_type });
            } else {
                self.raise(event, AlertKind::UnexpectedType { address, kind: unit.kind });
            }
            self.note_unknown(event, ScanScope::Vertical, u64::from(unit.kind.type_code) << 40 | 1 << 63);
        }
        for o in &unit.objects {
            let object = ObjectKey { direction: unit.kind.direction, type_code: unit.kind.type_code, ioa: o.ioa };
            if !self.index.station_objects.contains(&(si, object)) {
                if unit.command {
                    self.raise(event, AlertKind::UnknownCommandTarget { address, object });
                } else {
                    self.raise(event, AlertKind::UnknownObject { address, object });
                }
                self.note_unknown(event, ScanScope::Vertical, u64::from(object.type_code) << 40 | u64::from(object.ioa));
            }
            if unit.command
                && let Some(t) = o.time_ms
            {
                let age_ms = i64::try_from((event.time_us / 1000 - t).unsigned_abs()).unwrap_or(i64::MAX);
                let limit_ms = self.index.command_age.get(&si).map_or(0.0, |e| e.limit(1.0));
                if age_ms as f64 > limit_ms {
                    self.raise(event, AlertKind::StaleCommand { address, ioa: o.ioa, age_ms, limit_ms });
                }
            }
            match o.value {
                Value::Switch(v) => {
                    if let Some(old) = self.status.insert((server, address, o.ioa), v)
                        && old != v
                    {
                        self.status_change.insert((server, address), event.time_us);
                    }
                }
                Value::Analog(v) => self.check_value(event, si, address, o.ioa, v),
                Value::None => {}
            }
        }
    }

    fn check_value(&mut self, event: &Event, si: usize, address: u16, ioa: u32, value: f64) {
        let server = event.flow.server.ip;
        let Some(previous) = self.last.insert((server, address, ioa), value) else { return };
        let Some(&(step, interval)) = self.index.points.get(&(si, ioa)) else { return };
        // Resolution: a millionth of the value's magnitude, so a constant point may still wobble
        // by float rounding.
        let resolution = previous.abs().max(value.abs()) * 1e-6;
        let limit = step.limit(resolution);
        if (value - previous).abs() <= limit {
            return;
        }
        let window = interval.map_or(0.0, |i| 2.0 * i.median);
        let explained = self.status_change.get(&(server, address)).is_some_and(|&at| ((event.time_us - at) as f64) <= window);
        if !explained {
            self.raise(event, AlertKind::ValueJump { address, ioa, previous, value, learned_max: step.max, limit });
        }
    }
}

/// Whether sequence number `seen` is behind `reference` (modulo 2^15, by at most half the range).
fn behind(reference: u16, seen: u16) -> bool {
    let d = reference.wrapping_sub(seen) % SEQ_MODULUS;
    d > 0 && d <= SEQ_MODULUS / 2
}

/// Scores a sequence of events against a model, returning every alert in order.
pub fn score<'a>(model: Model, events: impl IntoIterator<Item = &'a Event>) -> Vec<Alert> {
    let mut d = Detector::new(model);
    let mut alerts = Vec::new();
    for e in events {
        d.handle_event(e);
        while let Some(a) = d.poll_alert() {
            alerts.push(a);
        }
    }
    alerts
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use gridtrust_iec104::asdu::{Asdu, Cause, Cot, Element, InformationObject, Qds, TypeId};

    use super::*;

    fn frame(t: i64, send_seq: u16, value: f32) -> Event {
        let asdu = Asdu {
            type_id: TypeId::MMeNc1,
            sequence: false,
            cot: Cot::new(Cause::Periodic),
            common_address: 1,
            objects: vec![InformationObject::new(1001, Element::ShortFloat { value, quality: Qds::GOOD, time: None })],
        };
        Event {
            time_us: t,
            flow: Flow {
                client: Endpoint { ip: Ipv4Addr::new(10, 0, 0, 5), port: 50000 },
                server: Endpoint { ip: Ipv4Addr::new(10, 0, 1, 10), port: 2404 },
            },
            direction: Direction::ToClient,
            src_mac: Some([2, 0, 0, 0, 1, 10]),
            protocol: Protocol::Iec104,
            kind: EventKind::Iec104(Apdu::I { send_seq, recv_seq: 0, asdu: asdu.to_bytes().unwrap().into() }),
        }
    }

    fn normal() -> Vec<Event> {
        (0..100u16).map(|k| frame(i64::from(k) * 2_000_000, k, 100.0 + f32::from(k % 3))).collect()
    }

    fn alerts(events: &[Event]) -> Vec<&'static str> {
        score(model::learn(&normal()), events).iter().map(|a| a.kind.name()).collect()
    }

    #[test]
    fn sequence_numbers_wrap_at_32768_without_alert() {
        let t = 300_000_000;
        assert!(alerts(&[frame(t, 32766, 100.0), frame(t + 2_000_000, 32767, 101.0), frame(t + 4_000_000, 0, 100.0)]).is_empty());
    }

    #[test]
    fn a_repeated_number_across_the_wrap_is_a_replay_and_a_forward_gap_is_not() {
        let t = 300_000_000;
        assert_eq!(alerts(&[frame(t, 0, 100.0), frame(t + 2_000_000, 32767, 101.0)]), vec!["sequence"]);
        assert!(alerts(&[frame(t, 10, 100.0), frame(t + 2_000_000, 500, 101.0)]).is_empty());
    }

    #[test]
    fn a_jump_beyond_the_learned_steps_is_reported_once_within_the_hold() {
        let t = 300_000_000;
        let got =
            alerts(&[frame(t, 0, 100.0), frame(t + 2_000_000, 1, 150.0), frame(t + 4_000_000, 2, 100.0), frame(t + 6_000_000, 3, 150.0)]);
        assert_eq!(got, vec!["value-jump"]);
    }

    #[test]
    fn an_acknowledgement_that_goes_back_is_a_replay() {
        let with_ack = |mut e: Event, ack: u16| {
            if let EventKind::Iec104(Apdu::I { recv_seq, .. }) = &mut e.kind {
                *recv_seq = ack;
            }
            e
        };
        let t = 300_000_000;
        let got = alerts(&[
            with_ack(frame(t, 0, 100.0), 5),
            with_ack(frame(t + 2_000_000, 1, 101.0), 7),
            with_ack(frame(t + 4_000_000, 2, 100.0), 6),
        ]);
        assert_eq!(got, vec!["sequence"]);
    }

    #[test]
    fn a_new_source_mac_for_a_known_address_is_spoofing() {
        let mut e = frame(300_000_000, 0, 100.0);
        e.src_mac = Some([2, 0, 0, 0, 9, 66]);
        assert_eq!(alerts(&[e]), vec!["spoofed-source"]);
    }
}
