//! The controlled station (IEC 104 server): what the cc role shows to SCADA and what the RTU
//! simulator is built on.
//!
//! Two layers:
//! - [`Station`]: the sans-IO station logic. It holds the point image, the command registry,
//!   the redundancy groups with their priority queues, and select-before-operate state. Link
//!   events and application calls go in; ASDUs to send and commands for the application come
//!   out. It never touches a socket or a clock, so redundancy switchover, priority and SBO are
//!   unit-tested without ports.
//! - [`Server`]: binds a TCP listener (optionally TLS), runs one [`crate::driver`] per client and
//!   one task around the [`Station`], and hands commands to the application as
//!   [`IncomingCommand`]s it answers later through a [`CommandResponder`].
//!
//! Redundancy (IEC 60870-5-104 Ed. 2 §10): connections from the addresses of one
//! [`RedundancyGroup`] share one event queue. Only the connection that last sent STARTDT gets
//! data; the others stay connected as standby and are only probed with TESTFR. An ASDU leaves the
//! group's queue only when the active connection's peer has acknowledged it, so when the active
//! connection fails, everything unacknowledged goes to the next connection that sends STARTDT:
//! nothing is lost, at the price of possible duplicates.
//!
//! Priority: status changes (single/double point, step position, bitstring) and command
//! confirmations overtake queued measurements.
//!
//! Not here: mapping points to gridtrust's model, and what a command does — the application
//! decides and answers asynchronously.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::Deserialize;
use thiserror::Error;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_rustls::TlsAcceptor;

use crate::asdu::{
    Asdu, AsduEncodeError, Cause, Cot, Element, InformationObject, TypeId, negative_reply,
};
use crate::connection::{CloseReason, Connection, Event, LinkConfig, Role, de_secs};
use crate::driver::{self, Command};
use crate::time::Cp56Time2a;

/// Common address that addresses every station (global address, §7.2.4).
pub const BROADCAST_ADDRESS: u16 = 0xFFFF;

/// Configuration of a controlled station, embeddable in a role's TOML.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Our common address of ASDU; requests for others are refused with COT 46.
    pub common_address: u16,
    /// Link parameters for every connection.
    pub link: LinkConfig,
    /// Connections from these address sets share one event queue (see the module doc).
    pub redundancy_groups: Vec<RedundancyGroup>,
    /// Longest each of a group's two queues (status, measurements) may grow; beyond it the
    /// oldest entries are dropped and counted, so a group nobody serves cannot exhaust memory.
    pub max_queue: usize,
    /// How long a successful select stays valid for the execute that must follow (seconds).
    #[serde(deserialize_with = "de_secs")]
    pub select_timeout: Duration,
    /// Capacity of the channel of [`IncomingCommand`]s; when it is full, further commands are
    /// refused with a negative confirmation rather than left unanswered.
    pub command_capacity: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            common_address: 1,
            link: LinkConfig::default(),
            redundancy_groups: Vec::new(),
            max_queue: 10_000,
            select_timeout: Duration::from_secs(10),
            command_capacity: 64,
        }
    }
}

/// A set of client addresses that form one redundancy group.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedundancyGroup {
    /// Name, for logs and for [`IncomingCommand::group`].
    pub name: String,
    /// Client addresses; empty matches any address (useful on loopback). A connection from an
    /// address in no group gets a private group of its own.
    #[serde(default)]
    pub members: Vec<IpAddr>,
}

/// Whether an execute needs a preceding select (IEC 60870-5-101 §7.4.4 select-before-operate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandMode {
    /// An execute is refused unless the same connection selected the same command within the
    /// select timeout and the application confirmed the select.
    SelectBeforeOperate,
    /// Executes are passed to the application directly.
    DirectExecute,
}

/// Identifies one connection within a [`Station`].
pub type ConnId = u64;

/// Identifies one redundancy group within a [`Station`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupKey {
    /// Index into [`ServerConfig::redundancy_groups`].
    Configured(usize),
    /// The private group of a connection whose address is in no configured group.
    Private(ConnId),
}

/// Why an application call on the station failed.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum StationError {
    /// The object cannot be encoded as a monitor-direction ASDU.
    #[error("cannot encode information object {ioa}: {source}")]
    Encode {
        /// Its address.
        ioa: u32,
        /// Why.
        source: AsduEncodeError,
    },
    /// Only monitor-direction elements belong in the point image.
    #[error("information object {ioa}: {kind} is not a monitor-direction element")]
    NotMonitor {
        /// Its address.
        ioa: u32,
        /// The element kind.
        kind: &'static str,
    },
    /// Only process commands (types 45..=63) can be registered.
    #[error("{0} is not a process command type")]
    NotACommand(TypeId),
    /// Group numbers run 1..=16.
    #[error("interrogation group {0} is outside 1..=16")]
    BadGroup(u8),
    /// The server task has ended.
    #[error("server stopped")]
    Stopped,
}

/// A command the station accepted and passes to the application (sans-IO form).
#[derive(Debug, Clone, PartialEq)]
pub struct CommandRequest {
    /// Connection it came from.
    pub conn: ConnId,
    /// Its redundancy group.
    pub group: GroupKey,
    /// Group name (a private group is named after the peer address).
    pub group_name: String,
    /// The peer address.
    pub peer: SocketAddr,
    /// The command as decoded.
    pub asdu: Asdu,
    /// S/E = 1: select only.
    pub select: bool,
    /// COT 8: the client cancels a select or a running command.
    pub deactivation: bool,
}

/// What the [`Station`] wants done.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send this ASDU on this connection (the station stays within the k window).
    Send {
        /// Target connection.
        conn: ConnId,
        /// Encoded ASDU.
        asdu: Bytes,
    },
    /// Hand this command to the application, which must answer through [`Station::respond`].
    Command(CommandRequest),
    /// A clock synchronisation was received (already confirmed); the application may set its
    /// clock or just record it.
    ClockSync {
        /// Connection it came from.
        conn: ConnId,
        /// The time the client sent.
        time: Cp56Time2a,
    },
}

/// A snapshot of one redundancy group, for monitoring and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupStatus {
    /// Group name.
    pub name: String,
    /// Peer address of the active connection.
    pub active: Option<SocketAddr>,
    /// Peer addresses of every connection in the group (active and standby).
    pub connections: Vec<SocketAddr>,
    /// ASDUs waiting to be sent (status, measurements, re-sends).
    pub queued: usize,
    /// ASDUs sent to the active connection and not yet acknowledged.
    pub in_flight: usize,
    /// ASDUs dropped because a queue passed [`ServerConfig::max_queue`].
    pub dropped: u64,
}

#[derive(Debug, Clone)]
struct Point {
    element: Element,
    /// Bit g−1 set: member of interrogation group g.
    groups: u16,
}

#[derive(Debug, Default)]
struct GroupState {
    name: String,
    active: Option<ConnId>,
    resend: VecDeque<Bytes>,
    high: VecDeque<Bytes>,
    low: VecDeque<Bytes>,
    in_flight: VecDeque<Bytes>,
    dropped: u64,
}

impl GroupState {
    fn push(&mut self, high: bool, asdu: Bytes, max: usize) {
        let q = if high { &mut self.high } else { &mut self.low };
        q.push_back(asdu);
        while q.len() > max.max(1) {
            q.pop_front();
            self.dropped = self.dropped.saturating_add(1);
            if self.dropped.is_power_of_two() {
                tracing::warn!(group = %self.name, dropped = self.dropped, "IEC 104 group queue full, oldest ASDUs dropped");
            }
        }
    }

    fn requeue_in_flight(&mut self) {
        while let Some(a) = self.in_flight.pop_back() {
            self.resend.push_front(a);
        }
    }

    fn next(&mut self) -> Option<Bytes> {
        self.resend
            .pop_front()
            .or_else(|| self.high.pop_front())
            .or_else(|| self.low.pop_front())
    }
}

#[derive(Debug)]
struct ConnState {
    peer: SocketAddr,
    group: GroupKey,
    acked: u64,
}

#[derive(Debug, Clone, Copy)]
struct Selection {
    at: Instant,
    element: Element,
}

/// The sans-IO controlled station: see the module documentation.
#[derive(Debug)]
pub struct Station {
    config: ServerConfig,
    image: BTreeMap<u32, Point>,
    commands: HashMap<u32, (TypeId, CommandMode)>,
    groups: HashMap<GroupKey, GroupState>,
    conns: HashMap<ConnId, ConnState>,
    selections: HashMap<(ConnId, u32), Selection>,
    outputs: VecDeque<Output>,
}

impl Station {
    /// A station with an empty image and no registered commands.
    pub fn new(config: ServerConfig) -> Self {
        let groups = config
            .redundancy_groups
            .iter()
            .enumerate()
            .map(|(i, g)| {
                (
                    GroupKey::Configured(i),
                    GroupState {
                        name: g.name.clone(),
                        ..GroupState::default()
                    },
                )
            })
            .collect();
        Station {
            config,
            image: BTreeMap::new(),
            commands: HashMap::new(),
            groups,
            conns: HashMap::new(),
            selections: HashMap::new(),
            outputs: VecDeque::new(),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Accepts commands of `type_id` (with or without time tag) for `ioa`; anything else
    /// addressed to `ioa` is refused with COT 44, and commands for unregistered addresses with
    /// COT 47.
    pub fn register_command(
        &mut self,
        ioa: u32,
        type_id: TypeId,
        mode: CommandMode,
    ) -> Result<(), StationError> {
        if !type_id.is_process_command() {
            return Err(StationError::NotACommand(type_id));
        }
        self.commands.insert(ioa, (type_id.without_time(), mode));
        Ok(())
    }

    /// Puts a point in the image (without sending anything) and assigns it to interrogation
    /// groups 1..=16, so group interrogations (QOI 21..=36) include it.
    pub fn register_point(
        &mut self,
        object: InformationObject,
        groups: &[u8],
    ) -> Result<(), StationError> {
        let mut mask = 0u16;
        for &g in groups {
            if !(1..=16).contains(&g) {
                return Err(StationError::BadGroup(g));
            }
            mask |= 1 << (g - 1);
        }
        check_monitor(&object)?;
        let element = object.element.without_time();
        // Check it encodes now, so interrogation answers cannot fail later.
        encode(&Asdu::single(
            element.type_id(),
            Cot::new(Cause::Interrogated),
            self.config.common_address,
            vec![InformationObject::new(object.ioa, element)],
        ))
        .map_err(|source| StationError::Encode {
            ioa: object.ioa,
            source,
        })?;
        self.image.insert(
            object.ioa,
            Point {
                element,
                groups: mask,
            },
        );
        Ok(())
    }

    /// Records a new value and queues it spontaneously (COT 3) to every redundancy group. The
    /// ASDU type follows the element: with a time tag it goes out time-tagged.
    pub fn update(&mut self, object: InformationObject) -> Result<(), StationError> {
        check_monitor(&object)?;
        let type_id = object.element.type_id();
        let asdu = encode(&Asdu::single(
            type_id,
            Cot::new(Cause::Spontaneous),
            self.config.common_address,
            vec![object],
        ))
        .map_err(|source| StationError::Encode {
            ioa: object.ioa,
            source,
        })?;
        let element = object.element.without_time();
        self.image
            .entry(object.ioa)
            .and_modify(|p| p.element = element)
            .or_insert(Point { element, groups: 0 });
        let high = type_id.is_monitor_status();
        let max = self.config.max_queue;
        for g in self.groups.values_mut() {
            g.push(high, asdu.clone(), max);
        }
        self.pump_all();
        Ok(())
    }

    /// The latest value of a point, without time tag.
    pub fn point(&self, ioa: u32) -> Option<Element> {
        self.image.get(&ioa).map(|p| p.element)
    }

    /// A new connection from `peer`: joins the first configured group listing its address (or
    /// with no members), else a private group. Returns the group.
    pub fn connection_opened(&mut self, conn: ConnId, peer: SocketAddr) -> GroupKey {
        let key = self
            .config
            .redundancy_groups
            .iter()
            .position(|g| g.members.contains(&peer.ip()))
            .or_else(|| {
                self.config
                    .redundancy_groups
                    .iter()
                    .position(|g| g.members.is_empty())
            })
            .map_or(GroupKey::Private(conn), GroupKey::Configured);
        if let GroupKey::Private(_) = key {
            self.groups.insert(
                key,
                GroupState {
                    name: peer.to_string(),
                    ..GroupState::default()
                },
            );
        }
        self.conns.insert(
            conn,
            ConnState {
                peer,
                group: key,
                acked: 0,
            },
        );
        key
    }

    /// Feeds one link event of connection `conn`. `now` times select-before-operate; `wall` is
    /// the station's clock for the clock-synchronisation confirmation.
    pub fn handle_link_event(&mut self, conn: ConnId, event: Event, now: Instant, wall: Cp56Time2a) {
        let Some(state) = self.conns.get_mut(&conn) else {
            return;
        };
        let key = state.group;
        match event {
            Event::Started => {
                if let Some(g) = self.groups.get_mut(&key).filter(|g| g.active != Some(conn)) {
                    g.requeue_in_flight();
                    if let Some(old) = g.active {
                        tracing::info!(group = %g.name, old, new = conn, "IEC 104 redundancy switchover");
                    }
                    g.active = Some(conn);
                }
                self.pump(key);
            }
            Event::Stopped => self.deactivate(conn, key),
            Event::Acked(total) => {
                let newly = total.saturating_sub(state.acked);
                state.acked = total;
                if let Some(g) = self.groups.get_mut(&key).filter(|g| g.active == Some(conn)) {
                    for _ in 0..newly {
                        g.in_flight.pop_front();
                    }
                }
                self.pump(key);
            }
            Event::Asdu(bytes) => self.handle_request(conn, key, &bytes, now, wall),
            Event::Closed(reason) => {
                tracing::info!(conn, %reason, "IEC 104 server connection closed");
                self.deactivate(conn, key);
                self.conns.remove(&conn);
                self.selections.retain(|(c, _), _| *c != conn);
                if let GroupKey::Private(_) = key {
                    self.groups.remove(&key);
                }
            }
        }
    }

    fn deactivate(&mut self, conn: ConnId, key: GroupKey) {
        if let Some(g) = self.groups.get_mut(&key).filter(|g| g.active == Some(conn)) {
            g.requeue_in_flight();
            g.active = None;
        }
    }

    /// Sends what the active connection's window allows, highest priority first.
    fn pump(&mut self, key: GroupKey) {
        let k = usize::from(self.config.link.k);
        let Some(g) = self.groups.get_mut(&key) else {
            return;
        };
        let Some(conn) = g.active else { return };
        while g.in_flight.len() < k {
            let Some(asdu) = g.next() else { break };
            g.in_flight.push_back(asdu.clone());
            self.outputs.push_back(Output::Send { conn, asdu });
        }
    }

    fn pump_all(&mut self) {
        let keys: Vec<GroupKey> = self.groups.keys().copied().collect();
        for k in keys {
            self.pump(k);
        }
    }

    fn queue(&mut self, key: GroupKey, high: bool, asdu: Bytes) {
        let max = self.config.max_queue;
        if let Some(g) = self.groups.get_mut(&key) {
            g.push(high, asdu, max);
        }
    }

    fn queue_asdu(&mut self, key: GroupKey, high: bool, asdu: &Asdu) {
        match encode(asdu) {
            Ok(b) => self.queue(key, high, b),
            Err(e) => tracing::warn!(error = %e, "IEC 104 station could not encode a reply"),
        }
    }

    fn handle_request(&mut self, conn: ConnId, key: GroupKey, bytes: &[u8], now: Instant, wall: Cp56Time2a) {
        let asdu = match Asdu::decode(bytes) {
            Ok(a) => a,
            Err(e) => {
                match e.negative_cause() {
                    Some(cause) => {
                        let mut out = Vec::new();
                        if negative_reply(bytes, cause, &mut out).is_ok() {
                            self.queue(key, true, Bytes::from(out));
                        }
                    }
                    None => tracing::warn!(conn, error = %e, "IEC 104 undecodable ASDU ignored"),
                }
                self.pump(key);
                return;
            }
        };
        if let Err(cause) = validate_request(&asdu, self.config.common_address, &self.commands) {
            self.queue_asdu(key, true, &asdu.reply(cause, true));
            self.pump(key);
            return;
        }
        let ca = self.config.common_address;
        match asdu.type_id {
            TypeId::CIcNa1 => {
                let qoi = match asdu.objects.first().map(|o| o.element) {
                    Some(Element::Interrogation { qoi }) => qoi,
                    _ => 0,
                };
                let mut con = asdu.reply(Cause::ActivationCon, false);
                con.common_address = ca;
                match (asdu.cot.cause, Cause::for_qoi(qoi)) {
                    (Cause::Activation, Some(cause)) => {
                        self.queue_asdu(key, true, &con);
                        let group_mask = match cause {
                            Cause::InterrogatedGroup(g) => 1u16.checked_shl(u32::from(g) - 1),
                            _ => None,
                        };
                        let points = self
                            .image
                            .iter()
                            .filter(|(_, p)| !p.element.type_id().is_integrated_totals())
                            .filter(|(_, p)| group_mask.is_none_or(|m| p.groups & m != 0))
                            .map(|(&ioa, p)| InformationObject::new(ioa, p.element));
                        for a in interrogation_answer(points, cause, ca) {
                            self.queue_asdu(key, false, &a);
                        }
                        let mut term = con.clone();
                        term.cot.cause = Cause::ActivationTerm;
                        self.queue_asdu(key, false, &term);
                    }
                    (Cause::Deactivation, _) => {
                        let mut dcon = asdu.reply(Cause::DeactivationCon, false);
                        dcon.common_address = ca;
                        self.queue_asdu(key, true, &dcon);
                    }
                    _ => {
                        con.cot.negative = true;
                        self.queue_asdu(key, true, &con);
                    }
                }
            }
            TypeId::CCiNa1 => {
                let rqt = match asdu.objects.first().map(|o| o.element) {
                    Some(Element::CounterInterrogation { qcc }) => qcc.request,
                    _ => 0,
                };
                let mut con = asdu.reply(Cause::ActivationCon, false);
                con.common_address = ca;
                if rqt != 5 || asdu.cot.cause != Cause::Activation {
                    con.cot.negative = true;
                    self.queue_asdu(key, true, &con);
                } else {
                    self.queue_asdu(key, true, &con);
                    let points = self
                        .image
                        .iter()
                        .filter(|(_, p)| p.element.type_id().is_integrated_totals())
                        .map(|(&ioa, p)| InformationObject::new(ioa, p.element));
                    for a in interrogation_answer(points, Cause::CounterInterrogated, ca) {
                        self.queue_asdu(key, false, &a);
                    }
                    let mut term = con.clone();
                    term.cot.cause = Cause::ActivationTerm;
                    self.queue_asdu(key, false, &term);
                }
            }
            TypeId::CRdNa1 => {
                let ioa = asdu.objects.first().map_or(0, |o| o.ioa);
                match self.image.get(&ioa) {
                    Some(p) => {
                        let reply = Asdu::single(
                            p.element.type_id(),
                            Cot::new(Cause::Request),
                            ca,
                            vec![InformationObject::new(ioa, p.element)],
                        );
                        self.queue_asdu(key, true, &reply);
                    }
                    None => {
                        self.queue_asdu(key, true, &asdu.reply(Cause::UnknownObjectAddress, true));
                    }
                }
            }
            TypeId::CCsNa1 => {
                let received = match asdu.objects.first().map(|o| o.element) {
                    Some(Element::ClockSync { time }) => Some(time),
                    _ => None,
                };
                let mut con = asdu.reply(Cause::ActivationCon, false);
                con.common_address = ca;
                if let Some(o) = con.objects.first_mut() {
                    o.element = Element::ClockSync { time: wall };
                }
                self.queue_asdu(key, true, &con);
                if let Some(time) = received {
                    self.outputs.push_back(Output::ClockSync { conn, time });
                }
            }
            TypeId::CTsTa1 => {
                self.queue_asdu(key, true, &asdu.reply(Cause::ActivationCon, false));
            }
            t if t.is_process_command() => self.handle_command(conn, key, asdu, now),
            _ => {
                self.queue_asdu(key, true, &asdu.reply(Cause::UnknownType, true));
            }
        }
        self.pump(key);
    }

    fn handle_command(&mut self, conn: ConnId, key: GroupKey, asdu: Asdu, now: Instant) {
        let Some(object) = asdu.objects.first().copied() else {
            return;
        };
        let ioa = object.ioa;
        let select = object.element.select().unwrap_or(false);
        let deactivation = asdu.cot.cause == Cause::Deactivation;
        let mode = self
            .commands
            .get(&ioa)
            .map_or(CommandMode::SelectBeforeOperate, |(_, m)| *m);
        if deactivation {
            self.selections.remove(&(conn, ioa));
        } else if !select && mode == CommandMode::SelectBeforeOperate {
            let selected = self.selections.remove(&(conn, ioa));
            let valid = selected.is_some_and(|s| {
                now.saturating_duration_since(s.at) <= self.config.select_timeout
                    && normalise(&s.element) == normalise(&object.element)
            });
            if !valid {
                tracing::warn!(conn, ioa, "IEC 104 execute without a valid select refused");
                self.queue_asdu(key, true, &asdu.reply(Cause::ActivationCon, true));
                return;
            }
        }
        let (group_name, peer) = match (self.groups.get(&key), self.conns.get(&conn)) {
            (Some(g), Some(c)) => (g.name.clone(), c.peer),
            _ => return,
        };
        self.outputs.push_back(Output::Command(CommandRequest {
            conn,
            group: key,
            group_name,
            peer,
            asdu,
            select,
            deactivation,
        }));
    }

    /// The application's answer to a [`CommandRequest`]: `cause` is `ActivationCon`,
    /// `DeactivationCon` or `ActivationTerm`. A positive confirmation of a select arms
    /// select-before-operate for that connection and address until the select timeout.
    pub fn respond(&mut self, request: &CommandRequest, cause: Cause, negative: bool, now: Instant) {
        let arms_select = cause == Cause::ActivationCon
            && !negative
            && request.select
            && !request.deactivation
            && self.conns.contains_key(&request.conn);
        if let Some(o) = request.asdu.objects.first().filter(|_| arms_select) {
            self.selections.insert(
                (request.conn, o.ioa),
                Selection {
                    at: now,
                    element: o.element,
                },
            );
        }
        self.queue_asdu(request.group, true, &request.asdu.reply(cause, negative));
        self.pump(request.group);
    }

    /// The next thing to do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// A snapshot of every redundancy group (configured ones first).
    pub fn group_status(&self) -> Vec<GroupStatus> {
        let mut keys: Vec<&GroupKey> = self.groups.keys().collect();
        keys.sort_by_key(|k| match k {
            GroupKey::Configured(i) => (0, *i as u64),
            GroupKey::Private(c) => (1, *c),
        });
        keys.into_iter()
            .filter_map(|k| self.groups.get(k).map(|g| (k, g)))
            .map(|(k, g)| GroupStatus {
                name: g.name.clone(),
                active: g
                    .active
                    .and_then(|c| self.conns.get(&c))
                    .map(|c| c.peer),
                connections: self
                    .conns
                    .values()
                    .filter(|c| c.group == *k)
                    .map(|c| c.peer)
                    .collect(),
                queued: g.resend.len() + g.high.len() + g.low.len(),
                in_flight: g.in_flight.len(),
                dropped: g.dropped,
            })
            .collect()
    }
}

fn encode(asdu: &Asdu) -> Result<Bytes, AsduEncodeError> {
    asdu.to_bytes().map(Bytes::from)
}

fn check_monitor(object: &InformationObject) -> Result<(), StationError> {
    let t = object.element.type_id();
    if t.is_monitor() && t != TypeId::MEiNa1 {
        Ok(())
    } else {
        Err(StationError::NotMonitor {
            ioa: object.ioa,
            kind: object.element.kind_name(),
        })
    }
}

/// Checks a request from a controlling station against the standard's negative confirmations:
/// monitor-direction or unregistered command type → COT 44, cause not allowed for the type → 45,
/// foreign common address → 46, unregistered command address → 47.
pub fn validate_request(
    asdu: &Asdu,
    common_address: u16,
    commands: &HashMap<u32, (TypeId, CommandMode)>,
) -> Result<(), Cause> {
    let t = asdu.type_id;
    if !t.is_command() {
        return Err(Cause::UnknownType);
    }
    let cause = asdu.cot.cause;
    let cause_ok = match t {
        TypeId::CRdNa1 => cause == Cause::Request,
        TypeId::CCsNa1 | TypeId::CTsTa1 | TypeId::CCiNa1 => cause == Cause::Activation,
        _ => matches!(cause, Cause::Activation | Cause::Deactivation),
    };
    if !cause_ok {
        return Err(Cause::UnknownCause);
    }
    let broadcast_ok = matches!(t, TypeId::CIcNa1 | TypeId::CCiNa1 | TypeId::CCsNa1);
    if asdu.common_address != common_address
        && !(broadcast_ok && asdu.common_address == BROADCAST_ADDRESS)
    {
        return Err(Cause::UnknownCommonAddress);
    }
    if t.is_process_command() {
        if asdu.objects.len() != 1 {
            return Err(Cause::UnknownObjectAddress);
        }
        let ioa = asdu.objects.first().map_or(0, |o| o.ioa);
        match commands.get(&ioa) {
            None => return Err(Cause::UnknownObjectAddress),
            Some((registered, _)) if *registered != t.without_time() => {
                return Err(Cause::UnknownType);
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Builds the data part of an interrogation answer: every object as its untagged type with
/// `cause`, grouped by type (in type-code order, addresses ascending as given) and packed into as
/// few SQ=0 ASDUs as fit.
pub fn interrogation_answer(
    objects: impl IntoIterator<Item = InformationObject>,
    cause: Cause,
    common_address: u16,
) -> Vec<Asdu> {
    let mut by_type: BTreeMap<TypeId, Vec<InformationObject>> = BTreeMap::new();
    for o in objects {
        let element = o.element.without_time();
        by_type
            .entry(element.type_id())
            .or_default()
            .push(InformationObject::new(o.ioa, element));
    }
    by_type
        .into_iter()
        .flat_map(|(t, objs)| Asdu::packed(t, Cot::new(cause), common_address, objs))
        .collect()
}

/// The command with S/E and time tag cleared, to check that an execute matches its select.
fn normalise(e: &Element) -> Element {
    let mut e = e.without_time();
    match &mut e {
        Element::SingleCommand { select, .. }
        | Element::DoubleCommand { select, .. }
        | Element::RegulatingStep { select, .. }
        | Element::SetpointNormalized { select, .. }
        | Element::SetpointScaled { select, .. }
        | Element::SetpointFloat { select, .. } => *select = false,
        _ => {}
    }
    e
}

/// The station's wall clock as CP56Time2a (invalid-flagged if the clock is outside 2000..2100).
pub fn wall_clock() -> Cp56Time2a {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .unwrap_or(0);
    Cp56Time2a::from_unix_ms(ms).unwrap_or_else(|_| {
        let mut t = Cp56Time2a::from_unix_ms(946_684_800_000).unwrap_or_default();
        t.invalid = true;
        t
    })
}

// ---------------------------------------------------------------------------------------------
// The tokio server.

/// A command for the application, with the means to answer it later.
#[derive(Debug)]
pub struct IncomingCommand {
    /// The command as decoded (type, COT, common address, the one object).
    pub asdu: Asdu,
    /// S/E = 1: select only; execute follows in another command.
    pub select: bool,
    /// COT 8: the client cancels a select or a running command; answer with
    /// [`CommandResponder::confirm`] (sent as DEACTCON).
    pub deactivation: bool,
    /// The client's address.
    pub peer: SocketAddr,
    /// The client's redundancy group name.
    pub group: String,
    /// Answers the command; may be moved to another task and used much later.
    pub responder: CommandResponder,
}

/// Sends the confirmations of one command back to the client that sent it (or to its redundancy
/// group's active connection, if that has changed meanwhile).
#[derive(Debug, Clone)]
pub struct CommandResponder {
    tx: mpsc::UnboundedSender<Response>,
    request: Arc<CommandRequest>,
}

#[derive(Debug)]
struct Response {
    request: Arc<CommandRequest>,
    cause: Cause,
    negative: bool,
}

impl CommandResponder {
    /// Sends ACTCON (or DEACTCON for a deactivation), positive or negative. A positive
    /// confirmation of a select arms the following execute.
    pub fn confirm(&self, positive: bool) -> Result<(), StationError> {
        let cause = if self.request.deactivation {
            Cause::DeactivationCon
        } else {
            Cause::ActivationCon
        };
        self.send(cause, !positive)
    }

    /// Sends ACTTERM: the command has completed.
    pub fn terminate(&self) -> Result<(), StationError> {
        self.send(Cause::ActivationTerm, false)
    }

    fn send(&self, cause: Cause, negative: bool) -> Result<(), StationError> {
        self.tx
            .send(Response {
                request: self.request.clone(),
                cause,
                negative,
            })
            .map_err(|_| StationError::Stopped)
    }
}

enum Request {
    Update(InformationObject),
    RegisterPoint(InformationObject, Vec<u8>, oneshot::Sender<Result<(), StationError>>),
    RegisterCommand(u32, TypeId, CommandMode, oneshot::Sender<Result<(), StationError>>),
    Status(oneshot::Sender<Vec<GroupStatus>>),
    Shutdown,
}

/// Entry point of the tokio server.
#[derive(Debug)]
pub struct Server;

/// Controls a running server; dropping it (or [`ServerHandle::shutdown`]) stops the server and
/// closes every connection.
#[derive(Debug, Clone)]
pub struct ServerHandle {
    requests: mpsc::Sender<Request>,
    local_addr: SocketAddr,
    clock_syncs: watch::Receiver<Option<Cp56Time2a>>,
    common_address: u16,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Request")
    }
}

impl Server {
    /// Binds `addr` and serves clients (TLS if `tls` is given) until the handle is dropped.
    ///
    /// Commands arrive on the returned receiver; the application must keep reading it (a full
    /// channel makes the station refuse commands negatively).
    pub async fn bind(
        addr: SocketAddr,
        tls: Option<TlsAcceptor>,
        config: ServerConfig,
    ) -> std::io::Result<(ServerHandle, mpsc::Receiver<IncomingCommand>)> {
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let (req_tx, req_rx) = mpsc::channel(1024);
        let (cmd_tx, cmd_rx) = mpsc::channel(config.command_capacity.max(1));
        let (clock_tx, clock_rx) = watch::channel(None);
        let common_address = config.common_address;
        let actor = Actor {
            station: Station::new(config),
            listener,
            tls,
            requests: req_rx,
            commands: cmd_tx,
            clock: clock_tx,
            links: HashMap::new(),
            next_id: 0,
        };
        tokio::spawn(actor.run());
        Ok((
            ServerHandle {
                requests: req_tx,
                local_addr,
                clock_syncs: clock_rx,
                common_address,
            },
            cmd_rx,
        ))
    }
}

impl ServerHandle {
    /// The address actually bound (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Updates the point image and sends the value spontaneously to every redundancy group.
    /// The element's own type decides the ASDU type (time-tagged if it carries a time).
    pub async fn update(&self, object: InformationObject) -> Result<(), StationError> {
        check_monitor(&object)?;
        // Catch unencodable values here, where the caller can still be told.
        encode(&Asdu::single(
            object.element.type_id(),
            Cot::new(Cause::Spontaneous),
            self.common_address,
            vec![object],
        ))
        .map_err(|source| StationError::Encode {
            ioa: object.ioa,
            source,
        })?;
        self.requests
            .send(Request::Update(object))
            .await
            .map_err(|_| StationError::Stopped)
    }

    /// Puts a point in the image without sending it, assigned to interrogation groups 1..=16.
    pub async fn register_point(
        &self,
        object: InformationObject,
        groups: &[u8],
    ) -> Result<(), StationError> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(Request::RegisterPoint(object, groups.to_vec(), tx))
            .await
            .map_err(|_| StationError::Stopped)?;
        rx.await.map_err(|_| StationError::Stopped)?
    }

    /// Accepts commands of `type_id` (with or without time tag) at `ioa`.
    pub async fn register_command(
        &self,
        ioa: u32,
        type_id: TypeId,
        mode: CommandMode,
    ) -> Result<(), StationError> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(Request::RegisterCommand(ioa, type_id, mode, tx))
            .await
            .map_err(|_| StationError::Stopped)?;
        rx.await.map_err(|_| StationError::Stopped)?
    }

    /// A snapshot of the redundancy groups and their connections.
    pub async fn status(&self) -> Result<Vec<GroupStatus>, StationError> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(Request::Status(tx))
            .await
            .map_err(|_| StationError::Stopped)?;
        rx.await.map_err(|_| StationError::Stopped)
    }

    /// The last clock synchronisation received from any client (already confirmed to it).
    pub fn clock_syncs(&self) -> watch::Receiver<Option<Cp56Time2a>> {
        self.clock_syncs.clone()
    }

    /// Stops accepting, closes every connection and ends the server task.
    pub async fn shutdown(&self) {
        let _ = self.requests.send(Request::Shutdown).await;
    }
}

struct Actor {
    station: Station,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    requests: mpsc::Receiver<Request>,
    commands: mpsc::Sender<IncomingCommand>,
    clock: watch::Sender<Option<Cp56Time2a>>,
    links: HashMap<ConnId, mpsc::UnboundedSender<Command>>,
    next_id: ConnId,
}

impl Actor {
    async fn run(mut self) {
        let (ev_tx, mut ev_rx) = mpsc::channel::<(ConnId, Event)>(1024);
        let (resp_tx, mut resp_rx) = mpsc::unbounded_channel::<Response>();
        loop {
            tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, peer)) => self.accept(stream, peer, ev_tx.clone()),
                    Err(e) => tracing::warn!(error = %e, "IEC 104 accept failed"),
                },
                Some((conn, event)) = ev_rx.recv() => {
                    if matches!(event, Event::Closed(_)) {
                        self.links.remove(&conn);
                    }
                    self.station.handle_link_event(conn, event, Instant::now(), wall_clock());
                }
                Some(resp) = resp_rx.recv() => {
                    self.station.respond(&resp.request, resp.cause, resp.negative, Instant::now());
                }
                req = self.requests.recv() => match req {
                    Some(Request::Update(o)) => {
                        if let Err(e) = self.station.update(o) {
                            tracing::warn!(error = %e, "IEC 104 update refused");
                        }
                    }
                    Some(Request::RegisterPoint(o, groups, reply)) => {
                        let _ = reply.send(self.station.register_point(o, &groups));
                    }
                    Some(Request::RegisterCommand(ioa, t, mode, reply)) => {
                        let _ = reply.send(self.station.register_command(ioa, t, mode));
                    }
                    Some(Request::Status(reply)) => {
                        let _ = reply.send(self.station.group_status());
                    }
                    Some(Request::Shutdown) | None => break,
                },
            }
            self.drain(&resp_tx);
        }
        for link in self.links.values() {
            let _ = link.send(Command::Close);
        }
    }

    fn accept(&mut self, stream: TcpStream, peer: SocketAddr, events: mpsc::Sender<(ConnId, Event)>) {
        let id = self.next_id;
        self.next_id += 1;
        let _ = stream.set_nodelay(true);
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        self.links.insert(id, cmd_tx);
        let group = self.station.connection_opened(id, peer);
        tracing::info!(conn = id, %peer, ?group, "IEC 104 client connected");
        let link = self.station.config().link.clone();
        let tls = self.tls.clone();
        tokio::spawn(async move {
            let t0 = link.t0;
            match tls {
                None => {
                    let conn = Connection::new(Role::Controlled, link, Instant::now());
                    driver::run(stream, conn, cmd_rx, events, move |e| (id, e)).await;
                }
                Some(acceptor) => match tokio::time::timeout(t0, acceptor.accept(stream)).await {
                    Ok(Ok(tls_stream)) => {
                        let conn = Connection::new(Role::Controlled, link, Instant::now());
                        driver::run(tls_stream, conn, cmd_rx, events, move |e| (id, e)).await;
                    }
                    Ok(Err(e)) => {
                        let reason = CloseReason::Io(format!("TLS handshake failed: {e}"));
                        let _ = events.send((id, Event::Closed(reason))).await;
                    }
                    Err(_) => {
                        let _ = events.send((id, Event::Closed(CloseReason::ConnectTimeout))).await;
                    }
                },
            }
        });
    }

    fn drain(&mut self, resp_tx: &mpsc::UnboundedSender<Response>) {
        while let Some(out) = self.station.poll_output() {
            match out {
                Output::Send { conn, asdu } => {
                    if let Some(link) = self.links.get(&conn) {
                        let _ = link.send(Command::Send(asdu));
                    }
                }
                Output::ClockSync { time, .. } => {
                    self.clock.send_replace(Some(time));
                }
                Output::Command(request) => {
                    let request = Arc::new(request);
                    let incoming = IncomingCommand {
                        asdu: request.asdu.clone(),
                        select: request.select,
                        deactivation: request.deactivation,
                        peer: request.peer,
                        group: request.group_name.clone(),
                        responder: CommandResponder {
                            tx: resp_tx.clone(),
                            request: request.clone(),
                        },
                    };
                    if self.commands.try_send(incoming).is_err() {
                        tracing::warn!("IEC 104 command channel full or closed; command refused");
                        let cause = if request.deactivation {
                            Cause::DeactivationCon
                        } else {
                            Cause::ActivationCon
                        };
                        self.station.respond(&request, cause, true, Instant::now());
                    }
                }
            }
        }
    }
}
