//! The sans-IO link layer of IEC 60870-5-104 (§5): one side of one TCP connection.
//!
//! [`Connection`] never touches a socket or a clock. Bytes and the current time go in
//! ([`Connection::handle_bytes`], [`Connection::handle_timeout`]); bytes to send
//! ([`Connection::poll_transmit`]), the next deadline ([`Connection::poll_timeout`]) and events
//! ([`Connection::poll_event`]) come out. This makes every timer and window rule testable with a
//! fake clock, and [`crate::driver`] is only a short tokio loop around it.
//!
//! What it enforces: STARTDT/STOPDT/TESTFR handshakes, the k and w windows, t1 (unacknowledged
//! I-frame or U-activation → close), t2 (acknowledge received I-frames with an S-frame), t3 (probe
//! an idle link with TESTFR), the receive sequence (a wrong N(S) is fatal), the acknowledgement
//! range (acknowledging an I-frame that was never sent is fatal), and data transfer only while
//! started. t0 (connection establishment) is the driver's business.
//!
//! What it leaves to the station layers above: queueing and prioritising ASDUs. [`Connection::
//! send_asdu`] refuses when the k window is full instead of queueing, so the layer that knows
//! which ASDU matters most decides what goes next. [`Connection::acked_count`] and
//! [`Event::Acked`] tell that layer which I-frames the peer has confirmed, which is what
//! redundancy without loss is built on.
//!
//! Receiving, the application chooses when a received I-frame counts as acknowledgeable
//! ([`AckMode`]): at once (the standard's behaviour, for stations that keep nothing), or only once
//! the application says its content is durable ([`Connection::mark_durable`]): the gridtrust edge
//! acknowledges to an RTU only what is committed to its queue, so an RTU never discards an ASDU a
//! crash of the edge could still lose. The w window and t2 then count durable frames only.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Deserialize;
use thiserror::Error;

use crate::apci::{ApciError, Apdu, MAX_ASDU_LEN, SEQ_MODULUS, UFunction};

/// Link parameters (IEC 60870-5-104 §9.6), embeddable in a role's TOML configuration.
///
/// Times are written in seconds (integer or fractional) in configuration files.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinkConfig {
    /// Maximum number of I-frames sent and not yet acknowledged (default 12).
    pub k: u16,
    /// Acknowledge at the latest after this many received I-frames (default 8).
    pub w: u16,
    /// Connection establishment timeout (default 30 s); applied by the driver and client.
    #[serde(deserialize_with = "de_secs")]
    pub t0: Duration,
    /// Timeout for the acknowledgement of a sent I-frame or U-activation (default 15 s).
    #[serde(deserialize_with = "de_secs")]
    pub t1: Duration,
    /// Acknowledge received I-frames at the latest after this time (default 10 s, < t1).
    #[serde(deserialize_with = "de_secs")]
    pub t2: Duration,
    /// Send TESTFR act after this long without receiving anything (default 20 s).
    #[serde(deserialize_with = "de_secs")]
    pub t3: Duration,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            k: 12,
            w: 8,
            t0: Duration::from_secs(30),
            t1: Duration::from_secs(15),
            t2: Duration::from_secs(10),
            t3: Duration::from_secs(20),
        }
    }
}

/// A [`LinkConfig`] that breaks a rule of §9.6.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// k must be 1..=32767.
    #[error("k = {0} is outside 1..=32767")]
    K(u16),
    /// w must be 1..=k.
    #[error("w = {w} is outside 1..=k (k = {k})")]
    W {
        /// Offending w.
        w: u16,
        /// Configured k.
        k: u16,
    },
    /// t2 must be shorter than t1, or the peer times out before we acknowledge.
    #[error("t2 ({t2:?}) must be shorter than t1 ({t1:?})")]
    T2NotBelowT1 {
        /// Configured t1.
        t1: Duration,
        /// Configured t2.
        t2: Duration,
    },
}

impl LinkConfig {
    /// Checks the rules of §9.6 so a bad configuration fails at start-up, not on the wire.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.k == 0 || self.k >= SEQ_MODULUS {
            return Err(ConfigError::K(self.k));
        }
        if self.w == 0 || self.w > self.k {
            return Err(ConfigError::W { w: self.w, k: self.k });
        }
        if self.t2 >= self.t1 {
            return Err(ConfigError::T2NotBelowT1 { t1: self.t1, t2: self.t2 });
        }
        Ok(())
    }
}

pub(crate) fn de_secs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let secs = f64::deserialize(d)?;
    Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
}

/// When a received I-frame may be acknowledged to the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AckMode {
    /// As soon as it arrived (after w frames or t2, as the standard says).
    #[default]
    OnReceipt,
    /// Only once the application marked it durable ([`Connection::mark_durable`]); w and t2 then
    /// apply to durable frames. The peer's k window bounds how many wait.
    WhenDurable,
}

/// Which side of the link this is; the standard gives the two sides different duties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The client (SCADA master, gridtrust edge towards an RTU): sends STARTDT/STOPDT.
    Controlling,
    /// The server (RTU, gridtrust cc): answers STARTDT/STOPDT, sends data only when started.
    Controlled,
}

/// Data-transfer state (§5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataState {
    /// No I-frames may be exchanged.
    Stopped,
    /// Controlling side: STARTDT act sent, confirmation awaited.
    Starting,
    /// I-frames flow both ways.
    Started,
    /// STOPDT act sent (controlling) or received (controlled), confirmation not yet sent or seen.
    Stopping,
}

/// Which confirmation did not arrive within t1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutKind {
    /// A sent I-frame was not acknowledged.
    IFrameAck,
    /// A U-activation (STARTDT, STOPDT, TESTFR) was not confirmed.
    UConfirmation(UFunction),
}

/// The peer broke a rule of the link layer; the connection is closed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Violation {
    /// The bytes were not a valid APDU; the stream cannot be resynchronised.
    #[error("undecodable APDU: {0}")]
    Decode(ApciError),
    /// An I-frame arrived with a send sequence number other than the one expected.
    #[error("I-frame with N(S) = {received}, expected {expected}")]
    UnexpectedSendSeq {
        /// Our V(R).
        expected: u16,
        /// The N(S) received.
        received: u16,
    },
    /// The peer acknowledged an I-frame that was never sent.
    #[error("N(R) = {recv_seq} acknowledges unsent I-frames (oldest unacked {oldest_unacked}, next send {next_send})")]
    AckOfUnsent {
        /// The N(R) received.
        recv_seq: u16,
        /// Our oldest unacknowledged send sequence number.
        oldest_unacked: u16,
        /// Our V(S).
        next_send: u16,
    },
    /// The peer sent more I-frames without our acknowledgement than N(R) can count.
    #[error("more received I-frames wait for acknowledgement than sequence numbers exist")]
    ReceiveWindowOverrun,
    /// An I-frame arrived while data transfer was not started.
    #[error("I-frame received while data transfer is {0:?}")]
    IFrameWhileStopped(DataState),
    /// A U-frame that this side must never receive in its role or state.
    #[error("unexpected {function:?} for a {role:?} station in state {state:?}")]
    UnexpectedU {
        /// The function received.
        function: UFunction,
        /// Our role.
        role: Role,
        /// Our data state.
        state: DataState,
    },
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// t1 expired.
    Timeout(TimeoutKind),
    /// The peer broke a rule.
    ProtocolViolation(Violation),
    /// The local application closed it.
    Local,
    /// The peer closed the TCP connection.
    PeerClosed,
    /// A read or write failed (set by the driver).
    Io(String),
    /// t0 expired while establishing the connection (set by the driver or client).
    ConnectTimeout,
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::Timeout(TimeoutKind::IFrameAck) => {
                write!(f, "t1 expired: I-frame not acknowledged")
            }
            CloseReason::Timeout(TimeoutKind::UConfirmation(u)) => {
                write!(f, "t1 expired: {u:?} not confirmed")
            }
            CloseReason::ProtocolViolation(v) => write!(f, "protocol violation: {v}"),
            CloseReason::Local => write!(f, "closed locally"),
            CloseReason::PeerClosed => write!(f, "closed by peer"),
            CloseReason::Io(e) => write!(f, "I/O error: {e}"),
            CloseReason::ConnectTimeout => write!(f, "t0 expired: connection not established"),
        }
    }
}

/// What happened on the link, for the station layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Data transfer started (controlled: STARTDT act received; controlling: con received).
    Started,
    /// Data transfer stopped.
    Stopped,
    /// An ASDU arrived (raw; decode with [`crate::asdu`]).
    Asdu(Bytes),
    /// The peer acknowledged more I-frames; the value is the total since the connection began.
    Acked(u64),
    /// The connection is finished; nothing more will happen on it.
    Closed(CloseReason),
}

/// Why [`Connection::send_asdu`] could not send.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SendError {
    /// k I-frames are unacknowledged; wait for [`Event::Acked`].
    #[error("k window full")]
    WindowFull,
    /// Data transfer is not started.
    #[error("data transfer not started")]
    NotStarted,
    /// The connection is closed.
    #[error("connection closed")]
    Closed,
    /// The ASDU does not fit in one APDU.
    #[error("ASDU of {0} bytes exceeds {MAX_ASDU_LEN}")]
    TooLong(usize),
}

/// Misuse of [`Connection::start`] / [`Connection::stop`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ControlError {
    /// Only the controlling station starts and stops data transfer.
    #[error("only the controlling station may send STARTDT/STOPDT")]
    WrongRole,
    /// The request does not fit the current state (e.g. STOPDT while stopped).
    #[error("not possible in data state {0:?}")]
    WrongState(DataState),
    /// The connection is closed.
    #[error("connection closed")]
    Closed,
}

/// One side of one IEC 104 link, as a pure state machine.
#[derive(Debug)]
pub struct Connection {
    role: Role,
    config: LinkConfig,
    state: DataState,
    closed: bool,
    rx: Vec<u8>,
    tx: Vec<u8>,
    events: VecDeque<Event>,
    /// V(S): next send sequence number.
    vs: u16,
    /// V(R): next expected receive sequence number.
    vr: u16,
    /// Oldest unacknowledged send sequence number (the peer's last N(R)).
    ack: u16,
    /// Send times of unacknowledged I-frames, oldest first (for t1).
    unacked: VecDeque<Instant>,
    /// When each received I-frame not yet acknowledged by us arrived, oldest first (for t2).
    recv_unacked: VecDeque<Instant>,
    /// How many of the oldest of those may be acknowledged now.
    ackable: usize,
    ack_mode: AckMode,
    /// I-frames received since the connection began.
    received_total: u64,
    /// Of those, how many the application has marked durable (in [`AckMode::WhenDurable`]).
    durable_total: u64,
    /// STARTDT/STOPDT activation awaiting confirmation.
    pending_u: Option<(UFunction, Instant)>,
    /// TESTFR act sent at this time, awaiting confirmation.
    testfr_since: Option<Instant>,
    /// Last time anything was received (for t3).
    last_rx: Instant,
    sent_total: u64,
    acked_total: u64,
}

fn seq_add(a: u16, b: u16) -> u16 {
    a.wrapping_add(b) % SEQ_MODULUS
}

fn seq_diff(later: u16, earlier: u16) -> u16 {
    later.wrapping_sub(earlier) % SEQ_MODULUS
}

impl Connection {
    /// A fresh connection, just after the TCP (or TLS) connection was established at `now`.
    ///
    /// The configuration is used as given; call [`LinkConfig::validate`] when loading it.
    pub fn new(role: Role, config: LinkConfig, now: Instant) -> Self {
        Connection {
            role,
            config,
            state: DataState::Stopped,
            closed: false,
            rx: Vec::new(),
            tx: Vec::new(),
            events: VecDeque::new(),
            vs: 0,
            vr: 0,
            ack: 0,
            unacked: VecDeque::new(),
            recv_unacked: VecDeque::new(),
            ackable: 0,
            ack_mode: AckMode::OnReceipt,
            received_total: 0,
            durable_total: 0,
            pending_u: None,
            testfr_since: None,
            last_rx: now,
            sent_total: 0,
            acked_total: 0,
        }
    }

    /// This side's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The link parameters in force.
    pub fn config(&self) -> &LinkConfig {
        &self.config
    }

    /// Current data-transfer state.
    pub fn state(&self) -> DataState {
        self.state
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Whether [`Connection::send_asdu`] would accept an ASDU now.
    pub fn can_send(&self) -> bool {
        !self.closed && self.state == DataState::Started && self.unacked.len() < usize::from(self.config.k)
    }

    /// Number of I-frames sent since the connection began.
    pub fn sent_count(&self) -> u64 {
        self.sent_total
    }

    /// Number of sent I-frames the peer has acknowledged; they were acknowledged in send order,
    /// so the first `acked_count()` ASDUs handed to [`Connection::send_asdu`] are safe.
    pub fn acked_count(&self) -> u64 {
        self.acked_total
    }

    /// Number of I-frames sent and not yet acknowledged.
    pub fn in_flight(&self) -> usize {
        self.unacked.len()
    }

    /// Sets when received I-frames may be acknowledged; call it before data transfer starts.
    pub fn set_ack_mode(&mut self, mode: AckMode) {
        self.ack_mode = mode;
    }

    /// Number of I-frames received since the connection began; the n-th one received is covered
    /// by `mark_durable(now, n)`.
    pub fn received_count(&self) -> u64 {
        self.received_total
    }

    /// Number of received I-frames not yet acknowledged to the peer (durable or not).
    pub fn unacknowledged_received(&self) -> usize {
        self.recv_unacked.len()
    }

    /// [`AckMode::WhenDurable`]: the first `received_through` I-frames received on this
    /// connection are durable and may be acknowledged. Acknowledges at once when w durable frames
    /// wait; fewer wait for t2. Counts never go backwards and beyond what was received is ignored.
    pub fn mark_durable(&mut self, _now: Instant, received_through: u64) {
        if self.closed || self.ack_mode != AckMode::WhenDurable {
            return;
        }
        let through = received_through.min(self.received_total);
        if through <= self.durable_total {
            return;
        }
        let newly = usize::try_from(through - self.durable_total).unwrap_or(usize::MAX);
        self.durable_total = through;
        self.ackable = self.ackable.saturating_add(newly).min(self.recv_unacked.len());
        if self.ackable >= usize::from(self.config.w) || self.state == DataState::Stopping {
            self.send_s();
        }
    }

    /// Feeds bytes received from the peer at `now`. Frames may be split or coalesced arbitrarily.
    pub fn handle_bytes(&mut self, now: Instant, data: &[u8]) {
        if self.closed {
            return;
        }
        self.rx.extend_from_slice(data);
        let mut offset = 0;
        while !self.closed {
            let Some(rest) = self.rx.get(offset..) else {
                break;
            };
            match Apdu::decode(rest) {
                Ok((apdu, used)) => {
                    offset += used;
                    self.handle_apdu(now, apdu);
                }
                Err(ApciError::Incomplete { .. }) => break,
                Err(e) => {
                    self.violation(Violation::Decode(e));
                    break;
                }
            }
        }
        if self.closed {
            self.rx.clear();
        } else {
            self.rx.drain(..offset.min(self.rx.len()));
        }
    }

    fn handle_apdu(&mut self, now: Instant, apdu: Apdu) {
        self.last_rx = now;
        match apdu {
            Apdu::I { send_seq, recv_seq, asdu } => {
                if !matches!(self.state, DataState::Started | DataState::Stopping) {
                    self.violation(Violation::IFrameWhileStopped(self.state));
                    return;
                }
                if send_seq != self.vr {
                    self.violation(Violation::UnexpectedSendSeq { expected: self.vr, received: send_seq });
                    return;
                }
                if !self.process_ack(recv_seq) {
                    return;
                }
                // More unacknowledged frames than sequence numbers would make N(R) ambiguous; a
                // peer that keeps its k window never gets near.
                if self.recv_unacked.len() >= usize::from(SEQ_MODULUS - 1) {
                    self.violation(Violation::ReceiveWindowOverrun);
                    return;
                }
                self.vr = seq_add(self.vr, 1);
                self.received_total = self.received_total.saturating_add(1);
                self.recv_unacked.push_back(now);
                if self.ack_mode == AckMode::OnReceipt {
                    self.ackable += 1;
                }
                self.events.push_back(Event::Asdu(asdu));
                // While stopping, the peer cannot confirm STOPDT until its I-frames are
                // acknowledged, so acknowledge at once instead of waiting for w or t2.
                if self.ackable >= usize::from(self.config.w) || (self.state == DataState::Stopping && self.ackable > 0) {
                    self.send_s();
                }
            }
            Apdu::S { recv_seq } => {
                self.process_ack(recv_seq);
            }
            Apdu::U(function) => self.handle_u(now, function),
        }
    }

    fn handle_u(&mut self, _now: Instant, function: UFunction) {
        let unexpected = |c: &Connection| Violation::UnexpectedU { function, role: c.role, state: c.state };
        match (function, self.role) {
            (UFunction::TestFrAct, _) => self.send_u(UFunction::TestFrCon),
            (UFunction::TestFrCon, _) => {
                // An unsolicited confirmation is harmless; some stations send them.
                self.testfr_since = None;
            }
            (UFunction::StartDtAct, Role::Controlled) => {
                self.send_u(UFunction::StartDtCon);
                if self.state != DataState::Started {
                    self.state = DataState::Started;
                    self.events.push_back(Event::Started);
                }
            }
            (UFunction::StopDtAct, Role::Controlled) => match self.state {
                DataState::Stopped => self.send_u(UFunction::StopDtCon),
                _ => {
                    if self.ackable > 0 {
                        self.send_s();
                    }
                    self.state = DataState::Stopping;
                    self.maybe_finish_stop();
                }
            },
            (UFunction::StartDtCon, Role::Controlling) if matches!(self.pending_u, Some((UFunction::StartDtAct, _))) => {
                self.pending_u = None;
                self.state = DataState::Started;
                self.events.push_back(Event::Started);
            }
            (UFunction::StopDtCon, Role::Controlling) if matches!(self.pending_u, Some((UFunction::StopDtAct, _))) => {
                self.pending_u = None;
                self.state = DataState::Stopped;
                if self.ackable > 0 {
                    self.send_s();
                }
                self.events.push_back(Event::Stopped);
            }
            _ => {
                let v = unexpected(self);
                self.violation(v);
            }
        }
    }

    /// Applies a received N(R); false if it was a violation (and the connection is now closed).
    fn process_ack(&mut self, recv_seq: u16) -> bool {
        let outstanding = seq_diff(self.vs, self.ack);
        let acked = seq_diff(recv_seq, self.ack);
        if recv_seq >= SEQ_MODULUS || acked > outstanding {
            self.violation(Violation::AckOfUnsent { recv_seq, oldest_unacked: self.ack, next_send: self.vs });
            return false;
        }
        if acked > 0 {
            for _ in 0..acked {
                self.unacked.pop_front();
            }
            self.ack = recv_seq;
            self.acked_total = self.acked_total.saturating_add(u64::from(acked));
            self.events.push_back(Event::Acked(self.acked_total));
            if self.role == Role::Controlled && self.state == DataState::Stopping {
                self.maybe_finish_stop();
            }
        }
        true
    }

    /// Controlled side: confirm STOPDT once every sent I-frame is acknowledged (§5.3).
    fn maybe_finish_stop(&mut self) {
        if self.unacked.is_empty() {
            self.send_u(UFunction::StopDtCon);
            self.state = DataState::Stopped;
            self.events.push_back(Event::Stopped);
        }
    }

    fn send_u(&mut self, f: UFunction) {
        // U-frames always encode.
        let _ = Apdu::U(f).encode(&mut self.tx);
    }

    fn send_s(&mut self) {
        let recv_seq = self.take_ackable();
        let _ = Apdu::S { recv_seq }.encode(&mut self.tx);
    }

    /// The N(R) that acknowledges every ackable received frame and no other; forgets those.
    fn take_ackable(&mut self) -> u16 {
        let held = self.recv_unacked.len().saturating_sub(self.ackable);
        // `held` < SEQ_MODULUS, guarded on receipt.
        let held = u16::try_from(held).unwrap_or(0);
        self.recv_unacked.drain(..self.ackable.min(self.recv_unacked.len()));
        self.ackable = 0;
        seq_diff(self.vr, held)
    }

    fn violation(&mut self, v: Violation) {
        self.close_with(CloseReason::ProtocolViolation(v));
    }

    fn close_with(&mut self, reason: CloseReason) {
        if self.closed {
            return;
        }
        tracing::warn!(role = ?self.role, %reason, "IEC 104 link closed");
        self.closed = true;
        self.events.push_back(Event::Closed(reason));
    }

    /// Closes the connection locally; the driver then shuts the socket down.
    pub fn close(&mut self) {
        self.close_with(CloseReason::Local);
    }

    /// Records that the transport ended for `reason` (peer closed, I/O error); used by drivers.
    pub fn transport_closed(&mut self, reason: CloseReason) {
        self.close_with(reason);
    }

    /// Sends one ASDU as an I-frame at `now`, if the window and the data state allow.
    pub fn send_asdu(&mut self, now: Instant, asdu: Bytes) -> Result<(), SendError> {
        if self.closed {
            return Err(SendError::Closed);
        }
        if self.state != DataState::Started {
            return Err(SendError::NotStarted);
        }
        if self.unacked.len() >= usize::from(self.config.k) {
            return Err(SendError::WindowFull);
        }
        let len = asdu.len();
        if len > MAX_ASDU_LEN {
            return Err(SendError::TooLong(len));
        }
        // The I-frame carries N(R), which acknowledges every ackable frame received so far.
        let recv_seq = self.take_ackable();
        let apdu = Apdu::I { send_seq: self.vs, recv_seq, asdu };
        apdu.encode(&mut self.tx).map_err(|_| SendError::TooLong(len))?;
        self.vs = seq_add(self.vs, 1);
        self.unacked.push_back(now);
        self.sent_total = self.sent_total.saturating_add(1);
        Ok(())
    }

    /// Controlling side: asks the peer to start data transfer (STARTDT act).
    pub fn start(&mut self, now: Instant) -> Result<(), ControlError> {
        self.check_control()?;
        match self.state {
            DataState::Stopped => {
                self.send_u(UFunction::StartDtAct);
                self.pending_u = Some((UFunction::StartDtAct, now));
                self.state = DataState::Starting;
                Ok(())
            }
            s => Err(ControlError::WrongState(s)),
        }
    }

    /// Controlling side: asks the peer to stop data transfer (STOPDT act), after acknowledging
    /// what was received so the peer can confirm.
    pub fn stop(&mut self, now: Instant) -> Result<(), ControlError> {
        self.check_control()?;
        match self.state {
            DataState::Started => {
                if self.ackable > 0 {
                    self.send_s();
                }
                self.send_u(UFunction::StopDtAct);
                self.pending_u = Some((UFunction::StopDtAct, now));
                self.state = DataState::Stopping;
                Ok(())
            }
            s => Err(ControlError::WrongState(s)),
        }
    }

    fn check_control(&self) -> Result<(), ControlError> {
        if self.closed {
            return Err(ControlError::Closed);
        }
        if self.role != Role::Controlling {
            return Err(ControlError::WrongRole);
        }
        Ok(())
    }

    /// Advances timers to `now`: t1 closes, t2 acknowledges, t3 probes.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        let t1 = self.config.t1;
        if self.unacked.front().is_some_and(|&t| due(t, t1, now)) {
            self.close_with(CloseReason::Timeout(TimeoutKind::IFrameAck));
            return;
        }
        if let Some((f, _)) = self.pending_u.filter(|&(_, t)| due(t, t1, now)) {
            self.close_with(CloseReason::Timeout(TimeoutKind::UConfirmation(f)));
            return;
        }
        if self.testfr_since.is_some_and(|t| due(t, t1, now)) {
            self.close_with(CloseReason::Timeout(TimeoutKind::UConfirmation(UFunction::TestFrAct)));
            return;
        }
        if self.ackable > 0 && self.recv_unacked.front().is_some_and(|&t| due(t, self.config.t2, now)) {
            self.send_s();
        }
        if self.testfr_since.is_none() && due(self.last_rx, self.config.t3, now) {
            self.send_u(UFunction::TestFrAct);
            self.testfr_since = Some(now);
        }
    }

    /// When [`Connection::handle_timeout`] must next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        let t1 = self.config.t1;
        let mut next: Option<Instant> = None;
        let mut consider = |at: Option<Instant>| {
            if let Some(at) = at {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        };
        consider(self.unacked.front().and_then(|t| t.checked_add(t1)));
        consider(self.pending_u.and_then(|(_, t)| t.checked_add(t1)));
        consider(self.testfr_since.and_then(|t| t.checked_add(t1)));
        if self.ackable > 0 {
            consider(self.recv_unacked.front().and_then(|t| t.checked_add(self.config.t2)));
        }
        if self.testfr_since.is_none() {
            consider(self.last_rx.checked_add(self.config.t3));
        }
        next
    }

    /// Moves every byte waiting to be sent into `out`; returns how many were appended.
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        let n = self.tx.len();
        out.append(&mut self.tx);
        n
    }

    /// The next event for the station layer.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}

/// Whether a timer started at `start` with length `len` has expired at `now` (never, if the sum
/// overflows the clock).
fn due(start: Instant, len: Duration, now: Instant) -> bool {
    start.checked_add(len).is_some_and(|at| now >= at)
}
