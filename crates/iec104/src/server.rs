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
//! Who may connect: a [`RedundancyGroup`] lists its clients' addresses (single addresses or
//! CIDR blocks, [`ClientRange`]). A connection from an address in no group is, as the embedding
//! application decides ([`UnlistedClients`]), either refused at once (closed before any TLS or
//! IEC 104 byte, and reported as a [`RefusedConnection`]) or served in a private group of its
//! own. With TLS, the client's verified certificate (DER) travels with every command
//! ([`IncomingCommand::peer_certificate`]); what it may do is the application's decision, this
//! crate does not interpret certificates.
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
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_rustls::TlsAcceptor;

use crate::asdu::{Asdu, AsduEncodeError, Cause, Cot, Element, InformationObject, TypeId, negative_reply};
use crate::connection::{Connection, Event, LinkConfig, Role, de_secs};
use crate::driver::{self, Command};
use crate::tap::TapFactory;
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
    /// What happens to a connection from an address in no group. Not read from configuration
    /// files: the application embedding the station decides (the cc refuses, the RTU
    /// simulator serves anyone).
    #[serde(skip)]
    pub unlisted_clients: UnlistedClients,
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
            unlisted_clients: UnlistedClients::OwnGroup,
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
    /// Client addresses or blocks (`"10.1.0.5"`, `"10.1.0.0/24"`). An empty list matches no
    /// address: "any" must be said, as `0.0.0.0/0` and `::/0`. A connection joins the first
    /// group that lists its address.
    #[serde(default)]
    pub members: Vec<ClientRange>,
}

/// What the station does with a connection whose address no [`RedundancyGroup`] lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnlistedClients {
    /// Close it at once and report it ([`ServerHandle::refusals`]): the groups' members are an
    /// allow-list.
    Refuse,
    /// Serve it in a private group of its own (an RTU that answers whoever polls it).
    #[default]
    OwnGroup,
}

/// One IP address, or a block of them in CIDR notation, as a [`RedundancyGroup`] lists its
/// clients. IPv4-mapped IPv6 peers (`::ffff:a.b.c.d`, from a dual-stack listener) match as the
/// IPv4 address they are, so write IPv4 blocks in IPv4 notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientRange {
    network: IpAddr,
    prefix: u8,
}

/// Why a string is not a [`ClientRange`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ClientRangeError {
    /// The address part does not parse.
    #[error("`{0}` is not an IP address")]
    Address(String),
    /// The prefix length is not a number within the address family's bits.
    #[error("`{0}` is not a prefix length of this address family")]
    Prefix(String),
    /// Bits set after the prefix: probably a typo for another block (write the network).
    #[error("`{range}` has host bits set after the prefix; did you mean `{network}`?")]
    HostBits {
        /// As written.
        range: String,
        /// The block it lies in.
        network: String,
    },
}

impl ClientRange {
    /// The block `network/prefix`; `None` if the prefix is too long or host bits are set.
    pub fn new(network: IpAddr, prefix: u8) -> Option<Self> {
        (prefix <= max_prefix(network) && network_of(network, prefix) == network).then_some(ClientRange { network, prefix })
    }

    /// Exactly one address.
    pub fn single(address: IpAddr) -> Self {
        let address = address.to_canonical();
        ClientRange { network: address, prefix: max_prefix(address) }
    }

    /// Whether `address` lies in this block.
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        match (self.network, address) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => network_of(address, self.prefix) == self.network,
            _ => false,
        }
    }
}

fn max_prefix(address: IpAddr) -> u8 {
    if address.is_ipv4() { 32 } else { 128 }
}

/// `address` with every bit after `prefix` cleared.
fn network_of(address: IpAddr, prefix: u8) -> IpAddr {
    match address {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix.min(32))).unwrap_or(0);
            IpAddr::V4((u32::from(a) & mask).into())
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix.min(128))).unwrap_or(0);
            IpAddr::V6((u128::from(a) & mask).into())
        }
    }
}

impl std::str::FromStr for ClientRange {
    type Err = ClientRangeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (address, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let address: IpAddr = address.trim().parse().map_err(|_| ClientRangeError::Address(address.to_owned()))?;
        let Some(prefix) = prefix else {
            return Ok(ClientRange::single(address));
        };
        let prefix: u8 =
            prefix.trim().parse().ok().filter(|p| *p <= max_prefix(address)).ok_or_else(|| ClientRangeError::Prefix(prefix.to_owned()))?;
        ClientRange::new(address, prefix)
            .ok_or_else(|| ClientRangeError::HostBits { range: s.to_owned(), network: format!("{}/{prefix}", network_of(address, prefix)) })
    }
}

impl std::fmt::Display for ClientRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.prefix == max_prefix(self.network) { write!(f, "{}", self.network) } else { write!(f, "{}/{}", self.network, self.prefix) }
    }
}

impl<'de> Deserialize<'de> for ClientRange {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Why the station refused a connection.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConnectionRefused {
    /// The address is in no redundancy group and [`UnlistedClients::Refuse`] is in force.
    #[error("{0} is not in any redundancy group's members")]
    NotListed(IpAddr),
    /// The TLS handshake failed (no, untrusted or refused client certificate, ...).
    #[error("TLS handshake failed: {0}")]
    Handshake(String),
    /// No TLS handshake within t0.
    #[error("no TLS handshake within t0")]
    HandshakeTimeout,
}

/// A connection the server closed without serving it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedConnection {
    /// Who connected.
    pub peer: SocketAddr,
    /// Why it was closed.
    pub reason: ConnectionRefused,
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
    /// The client's TLS certificate (DER) as the handshake verified it; `None` on plain TCP.
    pub peer_certificate: Option<Bytes>,
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
        self.resend.pop_front().or_else(|| self.high.pop_front()).or_else(|| self.low.pop_front())
    }
}

#[derive(Debug)]
struct ConnState {
    peer: SocketAddr,
    certificate: Option<Bytes>,
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
            .map(|(i, g)| (GroupKey::Configured(i), GroupState { name: g.name.clone(), ..GroupState::default() }))
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
    pub fn register_command(&mut self, ioa: u32, type_id: TypeId, mode: CommandMode) -> Result<(), StationError> {
        if !type_id.is_process_command() {
            return Err(StationError::NotACommand(type_id));
        }
        self.commands.insert(ioa, (type_id.without_time(), mode));
        Ok(())
    }

    /// Puts a point in the image (without sending anything) and assigns it to interrogation
    /// groups 1..=16, so group interrogations (QOI 21..=36) include it.
    pub fn register_point(&mut self, object: InformationObject, groups: &[u8]) -> Result<(), StationError> {
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
        .map_err(|source| StationError::Encode { ioa: object.ioa, source })?;
        self.image.insert(object.ioa, Point { element, groups: mask });
        Ok(())
    }

    /// Records a new value and queues it spontaneously (COT 3) to every redundancy group. The
    /// ASDU type follows the element: with a time tag it goes out time-tagged.
    pub fn update(&mut self, object: InformationObject) -> Result<(), StationError> {
        self.update_many(vec![object])
    }

    /// Records new values and queues them spontaneously (COT 3) to every redundancy group,
    /// packed ([`Asdu::pack`]): per type, in the order given, runs of consecutive addresses as
    /// SQ=1 ASDUs and the rest in shared SQ=0 ASDUs; status types go to the high-priority queue,
    /// so they are sent before measurements. A value that is refused (not a monitor type, or not
    /// encodable) is left out and the first refusal returned; the others are recorded and sent.
    /// Each packed ASDU is encoded once; only one that fails is taken apart to find the culprit.
    pub fn update_many(&mut self, objects: Vec<InformationObject>) -> Result<(), StationError> {
        let mut refused = None;
        let mut by_type: BTreeMap<TypeId, Vec<InformationObject>> = BTreeMap::new();
        for object in objects {
            match check_monitor(&object) {
                Ok(()) => by_type.entry(object.element.type_id()).or_default().push(object),
                Err(e) => {
                    refused.get_or_insert(e);
                }
            }
        }
        let cot = Cot::new(Cause::Spontaneous);
        let ca = self.config.common_address;
        let mut encoded = Vec::new();
        let mut accepted = Vec::new();
        for (type_id, objects) in by_type {
            let high = type_id.is_monitor_status();
            for asdu in Asdu::pack(type_id, cot, ca, objects) {
                if let Ok(bytes) = encode(&asdu) {
                    encoded.push((high, bytes));
                    accepted.extend(asdu.objects);
                    continue;
                }
                for object in asdu.objects {
                    match encode(&Asdu::single(type_id, cot, ca, vec![object])) {
                        Ok(bytes) => {
                            encoded.push((high, bytes));
                            accepted.push(object);
                        }
                        Err(source) => {
                            refused.get_or_insert(StationError::Encode { ioa: object.ioa, source });
                        }
                    }
                }
            }
        }
        for object in accepted {
            let element = object.element.without_time();
            self.image.entry(object.ioa).and_modify(|p| p.element = element).or_insert(Point { element, groups: 0 });
        }
        let max = self.config.max_queue;
        for g in self.groups.values_mut() {
            for (high, asdu) in &encoded {
                g.push(*high, asdu.clone(), max);
            }
        }
        self.pump_all();
        refused.map_or(Ok(()), Err)
    }

    /// The latest value of a point, without time tag.
    pub fn point(&self, ioa: u32) -> Option<Element> {
        self.image.get(&ioa).map(|p| p.element)
    }

    /// Whether a client at `peer` may connect: its address is in a group's members, or
    /// unlisted clients get their own group. Checked before anything else happens on the
    /// connection (before a TLS handshake).
    pub fn check_client(&self, peer: SocketAddr) -> Result<(), ConnectionRefused> {
        match (self.group_of(peer), self.config.unlisted_clients) {
            (None, UnlistedClients::Refuse) => Err(ConnectionRefused::NotListed(peer.ip().to_canonical())),
            _ => Ok(()),
        }
    }

    fn group_of(&self, peer: SocketAddr) -> Option<usize> {
        self.config.redundancy_groups.iter().position(|g| g.members.iter().any(|m| m.contains(peer.ip())))
    }

    /// A new connection from `peer` (with its verified TLS certificate, if any): joins the
    /// first configured group listing its address, else a private group, unless
    /// [`Station::check_client`] refuses it. Returns the group.
    pub fn connection_opened(&mut self, conn: ConnId, peer: SocketAddr, certificate: Option<Bytes>) -> Result<GroupKey, ConnectionRefused> {
        self.check_client(peer)?;
        let key = self.group_of(peer).map_or(GroupKey::Private(conn), GroupKey::Configured);
        if let GroupKey::Private(_) = key {
            self.groups.insert(key, GroupState { name: peer.to_string(), ..GroupState::default() });
        }
        self.conns.insert(conn, ConnState { peer, certificate, group: key, acked: 0 });
        Ok(key)
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
                        let reply =
                            Asdu::single(p.element.type_id(), Cot::new(Cause::Request), ca, vec![InformationObject::new(ioa, p.element)]);
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
        let mode = self.commands.get(&ioa).map_or(CommandMode::SelectBeforeOperate, |(_, m)| *m);
        if deactivation {
            self.selections.remove(&(conn, ioa));
        } else if !select && mode == CommandMode::SelectBeforeOperate {
            let selected = self.selections.remove(&(conn, ioa));
            let valid = selected.is_some_and(|s| {
                now.saturating_duration_since(s.at) <= self.config.select_timeout && normalise(&s.element) == normalise(&object.element)
            });
            if !valid {
                tracing::warn!(conn, ioa, "IEC 104 execute without a valid select refused");
                self.queue_asdu(key, true, &asdu.reply(Cause::ActivationCon, true));
                return;
            }
        }
        let (group_name, peer, peer_certificate) = match (self.groups.get(&key), self.conns.get(&conn)) {
            (Some(g), Some(c)) => (g.name.clone(), c.peer, c.certificate.clone()),
            _ => return,
        };
        self.outputs.push_back(Output::Command(CommandRequest {
            conn,
            group: key,
            group_name,
            peer,
            peer_certificate,
            asdu,
            select,
            deactivation,
        }));
    }

    /// The application's answer to a [`CommandRequest`]: `cause` is `ActivationCon`,
    /// `DeactivationCon` or `ActivationTerm`. A positive confirmation of a select arms
    /// select-before-operate for that connection and address until the select timeout.
    pub fn respond(&mut self, request: &CommandRequest, cause: Cause, negative: bool, now: Instant) {
        let arms_select =
            cause == Cause::ActivationCon && !negative && request.select && !request.deactivation && self.conns.contains_key(&request.conn);
        if let Some(o) = request.asdu.objects.first().filter(|_| arms_select) {
            self.selections.insert((request.conn, o.ioa), Selection { at: now, element: o.element });
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
                active: g.active.and_then(|c| self.conns.get(&c)).map(|c| c.peer),
                connections: self.conns.values().filter(|c| c.group == *k).map(|c| c.peer).collect(),
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
        Err(StationError::NotMonitor { ioa: object.ioa, kind: object.element.kind_name() })
    }
}

/// Checks a request from a controlling station against the standard's negative confirmations:
/// monitor-direction or unregistered command type → COT 44, cause not allowed for the type → 45,
/// foreign common address → 46, unregistered command address → 47.
pub fn validate_request(asdu: &Asdu, common_address: u16, commands: &HashMap<u32, (TypeId, CommandMode)>) -> Result<(), Cause> {
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
    if asdu.common_address != common_address && !(broadcast_ok && asdu.common_address == BROADCAST_ADDRESS) {
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
pub fn interrogation_answer(objects: impl IntoIterator<Item = InformationObject>, cause: Cause, common_address: u16) -> Vec<Asdu> {
    let mut by_type: BTreeMap<TypeId, Vec<InformationObject>> = BTreeMap::new();
    for o in objects {
        let element = o.element.without_time();
        by_type.entry(element.type_id()).or_default().push(InformationObject::new(o.ioa, element));
    }
    by_type.into_iter().flat_map(|(t, objs)| Asdu::packed(t, Cot::new(cause), common_address, objs)).collect()
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
    let ms = SystemTime::now().duration_since(UNIX_EPOCH).ok().and_then(|d| i64::try_from(d.as_millis()).ok()).unwrap_or(0);
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
    /// The client's TLS certificate (DER, end entity) as the handshake verified it against the
    /// acceptor's configuration; `None` on plain TCP. The application decides what it may do.
    pub peer_certificate: Option<Bytes>,
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
        let cause = if self.request.deactivation { Cause::DeactivationCon } else { Cause::ActivationCon };
        self.send(cause, !positive)
    }

    /// Sends ACTTERM: the command has completed.
    pub fn terminate(&self) -> Result<(), StationError> {
        self.send(Cause::ActivationTerm, false)
    }

    fn send(&self, cause: Cause, negative: bool) -> Result<(), StationError> {
        self.tx.send(Response { request: self.request.clone(), cause, negative }).map_err(|_| StationError::Stopped)
    }
}

enum Request {
    Update(Vec<InformationObject>),
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
    refusals: broadcast::Sender<RefusedConnection>,
    local_addr: SocketAddr,
    clock_syncs: watch::Receiver<Option<Cp56Time2a>>,
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
        Self::bind_tapped(addr, tls, config, None).await
    }

    /// [`Server::bind`], with a tap on every connection it serves (see [`crate::tap::LinkTap`]).
    pub async fn bind_tapped(
        addr: SocketAddr,
        tls: Option<TlsAcceptor>,
        config: ServerConfig,
        taps: Option<Arc<dyn TapFactory>>,
    ) -> std::io::Result<(ServerHandle, mpsc::Receiver<IncomingCommand>)> {
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let (req_tx, req_rx) = mpsc::channel(1024);
        let (cmd_tx, cmd_rx) = mpsc::channel(config.command_capacity.max(1));
        let (clock_tx, clock_rx) = watch::channel(None);
        let (refusals, _) = broadcast::channel(REFUSALS_CAPACITY);
        let actor = Actor {
            station: Station::new(config),
            listener,
            tls,
            taps,
            local_addr,
            refusals: refusals.clone(),
            requests: req_rx,
            commands: cmd_tx,
            clock: clock_tx,
            links: HashMap::new(),
            next_id: 0,
        };
        tokio::spawn(actor.run());
        Ok((ServerHandle { requests: req_tx, refusals, local_addr, clock_syncs: clock_rx }, cmd_rx))
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
        self.update_many(vec![object]).await
    }

    /// Updates the point image with several values and sends them spontaneously, packed into
    /// as few ASDUs as fit ([`Station::update_many`]). A value that is not a monitor type is left
    /// out and the first such refusal returned; the others are sent. One that cannot be encoded
    /// is left out by the station and logged (the encoding is done once, there).
    pub async fn update_many(&self, objects: Vec<InformationObject>) -> Result<(), StationError> {
        let mut refused = None;
        let objects: Vec<InformationObject> =
            objects.into_iter().filter(|object| check_monitor(object).map_err(|e| refused.get_or_insert(e)).is_ok()).collect();
        if !objects.is_empty() {
            self.requests.send(Request::Update(objects)).await.map_err(|_| StationError::Stopped)?;
        }
        refused.map_or(Ok(()), Err)
    }

    /// Puts a point in the image without sending it, assigned to interrogation groups 1..=16.
    pub async fn register_point(&self, object: InformationObject, groups: &[u8]) -> Result<(), StationError> {
        let (tx, rx) = oneshot::channel();
        self.requests.send(Request::RegisterPoint(object, groups.to_vec(), tx)).await.map_err(|_| StationError::Stopped)?;
        rx.await.map_err(|_| StationError::Stopped)?
    }

    /// Accepts commands of `type_id` (with or without time tag) at `ioa`.
    pub async fn register_command(&self, ioa: u32, type_id: TypeId, mode: CommandMode) -> Result<(), StationError> {
        let (tx, rx) = oneshot::channel();
        self.requests.send(Request::RegisterCommand(ioa, type_id, mode, tx)).await.map_err(|_| StationError::Stopped)?;
        rx.await.map_err(|_| StationError::Stopped)?
    }

    /// A snapshot of the redundancy groups and their connections.
    pub async fn status(&self) -> Result<Vec<GroupStatus>, StationError> {
        let (tx, rx) = oneshot::channel();
        self.requests.send(Request::Status(tx)).await.map_err(|_| StationError::Stopped)?;
        rx.await.map_err(|_| StationError::Stopped)
    }

    /// Connections closed without being served (address not allowed, failed TLS handshake),
    /// from the moment of subscribing. A subscriber that falls behind by more than
    /// [`REFUSALS_CAPACITY`] learns how many it missed (`RecvError::Lagged`).
    pub fn refusals(&self) -> broadcast::Receiver<RefusedConnection> {
        self.refusals.subscribe()
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

/// How many refusals [`ServerHandle::refusals`] buffers for a slow subscriber.
pub const REFUSALS_CAPACITY: usize = 256;

/// What connection tasks tell the server task, in order per connection.
enum Link {
    /// The connection is ready for IEC 104 (after the TLS handshake, if any).
    Opened(ConnId, SocketAddr, Option<Bytes>),
    /// A link event.
    Event(ConnId, Event),
    /// The TLS handshake failed; the connection is gone.
    Refused(ConnId, SocketAddr, ConnectionRefused),
}

struct Actor {
    station: Station,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    taps: Option<Arc<dyn TapFactory>>,
    local_addr: SocketAddr,
    refusals: broadcast::Sender<RefusedConnection>,
    requests: mpsc::Receiver<Request>,
    commands: mpsc::Sender<IncomingCommand>,
    clock: watch::Sender<Option<Cp56Time2a>>,
    links: HashMap<ConnId, mpsc::UnboundedSender<Command>>,
    next_id: ConnId,
}

impl Actor {
    async fn run(mut self) {
        let (ev_tx, mut ev_rx) = mpsc::channel::<Link>(1024);
        let (resp_tx, mut resp_rx) = mpsc::unbounded_channel::<Response>();
        loop {
            tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, peer)) => self.accept(stream, peer, ev_tx.clone()),
                    Err(e) => tracing::warn!(error = %e, "IEC 104 accept failed"),
                },
                Some(link) = ev_rx.recv() => match link {
                    Link::Opened(conn, peer, certificate) => self.opened(conn, peer, certificate),
                    Link::Event(conn, event) => {
                        if matches!(event, Event::Closed(_)) {
                            self.links.remove(&conn);
                        }
                        self.station.handle_link_event(conn, event, Instant::now(), wall_clock());
                    }
                    Link::Refused(conn, peer, reason) => {
                        self.links.remove(&conn);
                        self.refused(peer, reason);
                    }
                },
                Some(resp) = resp_rx.recv() => {
                    self.station.respond(&resp.request, resp.cause, resp.negative, Instant::now());
                }
                req = self.requests.recv() => match req {
                    Some(Request::Update(objects)) => {
                        if let Err(e) = self.station.update_many(objects) {
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

    fn accept(&mut self, stream: TcpStream, peer: SocketAddr, events: mpsc::Sender<Link>) {
        // Before any byte is read or a handshake is spent on it.
        if let Err(reason) = self.station.check_client(peer) {
            drop(stream);
            self.refused(peer, reason);
            return;
        }
        let id = self.next_id;
        self.next_id += 1;
        let _ = stream.set_nodelay(true);
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        self.links.insert(id, cmd_tx);
        let link = self.station.config().link.clone();
        let tls = self.tls.clone();
        let tap = self.taps.as_ref().and_then(|t| t.open(peer, self.local_addr));
        if tls.is_none() {
            self.opened(id, peer, None);
        }
        tokio::spawn(async move {
            let t0 = link.t0;
            match tls {
                None => {
                    let conn = Connection::new(Role::Controlled, link, Instant::now());
                    driver::run(stream, conn, cmd_rx, events, move |e| Link::Event(id, e), tap).await;
                }
                Some(acceptor) => match tokio::time::timeout(t0, acceptor.accept(stream)).await {
                    Ok(Ok(tls_stream)) => {
                        let certificate =
                            tls_stream.get_ref().1.peer_certificates().and_then(|c| c.first()).map(|c| Bytes::copy_from_slice(c));
                        // Same channel as the link's events, so the station knows the
                        // connection before its first event.
                        if events.send(Link::Opened(id, peer, certificate)).await.is_ok() {
                            let conn = Connection::new(Role::Controlled, link, Instant::now());
                            driver::run(tls_stream, conn, cmd_rx, events, move |e| Link::Event(id, e), tap).await;
                        }
                    }
                    Ok(Err(e)) => {
                        let reason = ConnectionRefused::Handshake(e.to_string());
                        let _ = events.send(Link::Refused(id, peer, reason)).await;
                    }
                    Err(_) => {
                        let reason = ConnectionRefused::HandshakeTimeout;
                        let _ = events.send(Link::Refused(id, peer, reason)).await;
                    }
                },
            }
        });
    }

    /// The connection is ready for IEC 104: the station admits it to a group.
    fn opened(&mut self, id: ConnId, peer: SocketAddr, certificate: Option<Bytes>) {
        match self.station.connection_opened(id, peer, certificate) {
            Ok(group) => tracing::info!(conn = id, %peer, ?group, "IEC 104 client connected"),
            Err(reason) => {
                if let Some(link) = self.links.remove(&id) {
                    let _ = link.send(Command::Close);
                }
                self.refused(peer, reason);
            }
        }
    }

    /// Reports a connection closed without service; the application counts and alarms.
    fn refused(&self, peer: SocketAddr, reason: ConnectionRefused) {
        tracing::debug!(%peer, %reason, "IEC 104 connection refused");
        // No subscriber is not an error: the server works without one.
        let _ = self.refusals.send(RefusedConnection { peer, reason });
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
                        peer_certificate: request.peer_certificate.clone(),
                        group: request.group_name.clone(),
                        responder: CommandResponder { tx: resp_tx.clone(), request: request.clone() },
                    };
                    if self.commands.try_send(incoming).is_err() {
                        tracing::warn!("IEC 104 command channel full or closed; command refused");
                        let cause = if request.deactivation { Cause::DeactivationCon } else { Cause::ActivationCon };
                        self.station.respond(&request, cause, true, Instant::now());
                    }
                }
            }
        }
    }
}
