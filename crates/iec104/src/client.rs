//! The controlling station (IEC 104 client): how the edge talks to RTUs.
//!
//! [`Client::connect`] opens TCP (or TLS), starts data transfer (STARTDT) and returns a
//! [`ClientHandle`] for requests plus a channel of [`ClientEvent`]s carrying every ASDU received,
//! in order. Requests that the standard confirms ([`ClientHandle::send_command`],
//! [`ClientHandle::interrogate`], …) return when the matching ACTCON arrives, as a
//! [`CommandReply`] that can then wait for the ACTTERM.
//!
//! Matching: a confirmation belongs to the outstanding request with the same type, information
//! object address and common address (any common address when the request was broadcast). One
//! request per (type, address) may await its confirmation at a time, as the standard intends.
//!
//! Not here: reconnection. A closed connection ends the event stream with
//! [`ClientEvent::Closed`]; the caller decides when to call [`Client::connect`] again (see
//! [`ClientConfig::reconnect_delay`] for the delay the edge uses between attempts).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use rustls::pki_types::ServerName;
use serde::Deserialize;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_rustls::TlsConnector;

use crate::asdu::{Asdu, AsduEncodeError, Cause, Cot, Element, InformationObject, Qcc, TypeId};
use crate::connection::{AckMode, CloseReason, Event, LinkConfig, Role, de_secs};
use crate::driver::{self, LinkHandle};
use crate::server::BROADCAST_ADDRESS;
use crate::tap::{LinkTap, TapFactory};
use crate::time::Cp56Time2a;

/// Configuration of a controlling station, embeddable in a role's TOML.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientConfig {
    /// Link parameters.
    pub link: LinkConfig,
    /// How long to wait for an ACTCON (seconds).
    #[serde(deserialize_with = "de_secs")]
    pub confirmation_timeout: Duration,
    /// How long [`CommandReply::await_termination`] waits for the ACTTERM (seconds).
    #[serde(deserialize_with = "de_secs")]
    pub termination_timeout: Duration,
    /// Capacity of the event channel; when the application stops reading, the link stops
    /// reading too (back-pressure), and confirmations stall with it.
    pub event_capacity: usize,
    /// Suggested delay between reconnection attempts, for callers that reconnect.
    #[serde(deserialize_with = "de_secs")]
    pub reconnect_delay: Duration,
    /// When received ASDUs are acknowledged to the server. Not a file setting: with
    /// [`AckMode::WhenDurable`] the application must call [`ClientHandle::release`], so only the
    /// application that does can choose it.
    #[serde(skip)]
    pub acknowledge: AckMode,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            link: LinkConfig::default(),
            confirmation_timeout: Duration::from_secs(15),
            termination_timeout: Duration::from_secs(60),
            event_capacity: 1024,
            reconnect_delay: Duration::from_secs(5),
            acknowledge: AckMode::OnReceipt,
        }
    }
}

/// What the server sent, or that the connection ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// An ASDU (monitor data, confirmations and terminations alike), in arrival order.
    Asdu(Asdu),
    /// The connection ended; no more events follow.
    Closed(CloseReason),
}

/// Why a client operation failed.
#[derive(Debug, Error)]
pub enum ClientError {
    /// TCP connect failed.
    #[error("connect: {0}")]
    Connect(std::io::Error),
    /// TLS handshake failed.
    #[error("TLS handshake: {0}")]
    Tls(std::io::Error),
    /// t0 expired while connecting.
    #[error("t0 expired while connecting")]
    ConnectTimeout,
    /// STARTDT was not confirmed.
    #[error("STARTDT failed: {0}")]
    StartFailed(CloseReason),
    /// The connection is closed.
    #[error("connection closed")]
    Closed,
    /// No confirmation or termination in time.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    /// A request of the same type to the same address still awaits its confirmation.
    #[error("a {type_id} request for IOA {ioa} is already outstanding")]
    Busy {
        /// Type of the outstanding request.
        type_id: TypeId,
        /// Its address.
        ioa: u32,
    },
    /// The request cannot be encoded.
    #[error("encoding the request: {0}")]
    Encode(#[from] AsduEncodeError),
    /// The reply was negative, so no termination will follow.
    #[error("the command was refused (cause {0:?})")]
    Refused(Cause),
    /// A later request to the same address replaced this one before its termination came.
    #[error("superseded by a later request to the same address")]
    Superseded,
}

/// Entry point of the client.
#[derive(Debug)]
pub struct Client;

type Key = (TypeId, u32);

struct Pending {
    common_address: u16,
    con: Option<oneshot::Sender<Asdu>>,
    term: Option<oneshot::Sender<Asdu>>,
}

enum Request {
    Send {
        asdu: Bytes,
        key: Option<Key>,
        common_address: u16,
        con: Option<oneshot::Sender<Asdu>>,
        term: Option<oneshot::Sender<Asdu>>,
        accepted: oneshot::Sender<Result<(), ClientError>>,
    },
    /// The first n [`ClientEvent::Asdu`] events are durable.
    Release(u64),
    Close,
}

/// Sends requests on an open connection; cheap to clone.
#[derive(Debug, Clone)]
pub struct ClientHandle {
    requests: mpsc::UnboundedSender<Request>,
    config: ClientConfig,
    peer: SocketAddr,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Request")
    }
}

/// The ACTCON of a request, and the way to wait for its ACTTERM.
#[derive(Debug)]
pub struct CommandReply {
    /// The confirmation as received (cause ACTCON/DEACTCON, or 44–47 when refused).
    pub confirmation: Asdu,
    termination: Option<oneshot::Receiver<Asdu>>,
    timeout: Duration,
}

impl CommandReply {
    /// Whether the server accepted the request (positive ACTCON or DEACTCON).
    pub fn is_positive(&self) -> bool {
        !self.confirmation.cot.negative && matches!(self.confirmation.cot.cause, Cause::ActivationCon | Cause::DeactivationCon)
    }

    /// Waits for the ACTTERM that ends a positively confirmed interrogation or execute.
    pub async fn await_termination(self) -> Result<Asdu, ClientError> {
        if !self.is_positive() {
            return Err(ClientError::Refused(self.confirmation.cot.cause));
        }
        let Some(rx) = self.termination else {
            return Err(ClientError::Timeout("ACTTERM (none expected for this request)"));
        };
        match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(asdu)) => Ok(asdu),
            Ok(Err(_)) => Err(ClientError::Superseded),
            Err(_) => Err(ClientError::Timeout("ACTTERM")),
        }
    }
}

impl Client {
    /// Connects to `addr` (over TLS when `tls` names a connector and the server's name), starts
    /// data transfer and returns the handle and the event stream. Fails if t0 expires or the
    /// server does not confirm STARTDT.
    pub async fn connect(
        addr: SocketAddr,
        tls: Option<(TlsConnector, ServerName<'static>)>,
        config: ClientConfig,
    ) -> Result<(ClientHandle, mpsc::Receiver<ClientEvent>), ClientError> {
        Self::connect_tapped(addr, tls, config, None).await
    }

    /// [`Client::connect`], with a tap on the connection (see [`LinkTap`]): it sees the
    /// bytes after TLS, from STARTDT on.
    pub async fn connect_tapped(
        addr: SocketAddr,
        tls: Option<(TlsConnector, ServerName<'static>)>,
        config: ClientConfig,
        taps: Option<&dyn TapFactory>,
    ) -> Result<(ClientHandle, mpsc::Receiver<ClientEvent>), ClientError> {
        let t0 = config.link.t0;
        let tcp = tokio::time::timeout(t0, TcpStream::connect(addr))
            .await
            .map_err(|_| ClientError::ConnectTimeout)?
            .map_err(ClientError::Connect)?;
        let _ = tcp.set_nodelay(true);
        let tap = match (taps, tcp.local_addr()) {
            (Some(taps), Ok(local)) => taps.open(addr, local),
            _ => None,
        };
        match tls {
            None => Self::run(tcp, addr, config, tap).await,
            Some((connector, name)) => {
                let stream = tokio::time::timeout(t0, connector.connect(name, tcp))
                    .await
                    .map_err(|_| ClientError::ConnectTimeout)?
                    .map_err(ClientError::Tls)?;
                Self::run(stream, addr, config, tap).await
            }
        }
    }

    /// Runs the client over an already established stream (for transports this crate does not
    /// open itself).
    pub async fn start<S>(
        stream: S,
        peer: SocketAddr,
        config: ClientConfig,
    ) -> Result<(ClientHandle, mpsc::Receiver<ClientEvent>), ClientError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        Self::run(stream, peer, config, None).await
    }

    async fn run<S>(
        stream: S,
        peer: SocketAddr,
        config: ClientConfig,
        tap: Option<Box<dyn LinkTap>>,
    ) -> Result<(ClientHandle, mpsc::Receiver<ClientEvent>), ClientError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (link, mut events) = driver::spawn(stream, Role::Controlling, config.link.clone(), config.acknowledge, 256, tap);
        link.start();
        loop {
            match events.recv().await {
                Some(Event::Started) => break,
                Some(Event::Closed(reason)) => return Err(ClientError::StartFailed(reason)),
                Some(_) => {}
                None => return Err(ClientError::Closed),
            }
        }
        let (req_tx, req_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::channel(config.event_capacity.max(1));
        tokio::spawn(actor(link, events, req_rx, ev_tx, config.acknowledge));
        Ok((ClientHandle { requests: req_tx, config, peer }, ev_rx))
    }
}

impl ClientHandle {
    /// The server's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.requests.is_closed()
    }

    /// With [`AckMode::WhenDurable`]: the first `asdus` [`ClientEvent::Asdu`] events of this
    /// connection are durable, so the I-frames that carried them (and undecodable frames between
    /// them, which carry nothing to keep) may be acknowledged to the server.
    pub fn release(&self, asdus: u64) {
        let _ = self.requests.send(Request::Release(asdus));
    }

    /// Closes the connection; the event stream ends with [`ClientEvent::Closed`].
    pub fn close(&self) {
        let _ = self.requests.send(Request::Close);
    }

    /// Sends an ASDU without waiting for anything (answers arrive as events).
    pub async fn send_asdu(&self, asdu: &Asdu) -> Result<(), ClientError> {
        let bytes = Bytes::from(asdu.to_bytes()?);
        let (accepted, rx) = oneshot::channel();
        self.requests
            .send(Request::Send { asdu: bytes, key: None, common_address: asdu.common_address, con: None, term: None, accepted })
            .map_err(|_| ClientError::Closed)?;
        rx.await.map_err(|_| ClientError::Closed)?
    }

    /// Station (QOI 20) or group (21..=36) interrogation; the values arrive as events, then the
    /// termination.
    pub async fn interrogate(&self, common_address: u16, qoi: u8) -> Result<CommandReply, ClientError> {
        let asdu = Asdu::single(
            TypeId::CIcNa1,
            Cot::new(Cause::Activation),
            common_address,
            vec![InformationObject::new(0, Element::Interrogation { qoi })],
        );
        self.request(asdu, true).await
    }

    /// Counter interrogation; the integrated totals arrive as events, then the termination.
    pub async fn counter_interrogate(&self, common_address: u16, qcc: Qcc) -> Result<CommandReply, ClientError> {
        let asdu = Asdu::single(
            TypeId::CCiNa1,
            Cot::new(Cause::Activation),
            common_address,
            vec![InformationObject::new(0, Element::CounterInterrogation { qcc })],
        );
        self.request(asdu, true).await
    }

    /// Clock synchronisation; the confirmation carries the server's time.
    pub async fn clock_sync(&self, common_address: u16, time: Cp56Time2a) -> Result<CommandReply, ClientError> {
        let asdu = Asdu::single(
            TypeId::CCsNa1,
            Cot::new(Cause::Activation),
            common_address,
            vec![InformationObject::new(0, Element::ClockSync { time })],
        );
        self.request(asdu, false).await
    }

    /// Read request (C_RD_NA_1); the value arrives as an event with COT 5.
    pub async fn read(&self, common_address: u16, ioa: u32) -> Result<(), ClientError> {
        let asdu = Asdu::single(TypeId::CRdNa1, Cot::new(Cause::Request), common_address, vec![InformationObject::new(ioa, Element::Read)]);
        self.send_asdu(&asdu).await
    }

    /// Sends a process command (select, execute or, with COT 8, deactivation) and waits for
    /// its confirmation. Executes and interrogations can then wait for their termination.
    pub async fn send_command(&self, asdu: Asdu) -> Result<CommandReply, ClientError> {
        let is_select = asdu.objects.first().and_then(|o| o.element.select()).unwrap_or(false);
        let expects_term = asdu.cot.cause == Cause::Activation && !is_select;
        self.request(asdu, expects_term).await
    }

    async fn request(&self, asdu: Asdu, expects_term: bool) -> Result<CommandReply, ClientError> {
        let bytes = Bytes::from(asdu.to_bytes()?);
        let ioa = asdu.objects.first().map_or(0, |o| o.ioa);
        let (con_tx, con_rx) = oneshot::channel();
        let (term_tx, term_rx) = if expects_term {
            let (t, r) = oneshot::channel();
            (Some(t), Some(r))
        } else {
            (None, None)
        };
        let (accepted, acc_rx) = oneshot::channel();
        self.requests
            .send(Request::Send {
                asdu: bytes,
                key: Some((asdu.type_id, ioa)),
                common_address: asdu.common_address,
                con: Some(con_tx),
                term: term_tx,
                accepted,
            })
            .map_err(|_| ClientError::Closed)?;
        acc_rx.await.map_err(|_| ClientError::Closed)??;
        let confirmation = match tokio::time::timeout(self.config.confirmation_timeout, con_rx).await {
            Ok(Ok(a)) => a,
            Ok(Err(_)) => return Err(ClientError::Closed),
            Err(_) => return Err(ClientError::Timeout("ACTCON")),
        };
        Ok(CommandReply { confirmation, termination: term_rx, timeout: self.config.termination_timeout })
    }
}

async fn actor(
    link: LinkHandle,
    mut events: mpsc::Receiver<Event>,
    mut requests: mpsc::UnboundedReceiver<Request>,
    out: mpsc::Sender<ClientEvent>,
    acknowledge: AckMode,
) {
    let mut pending: HashMap<Key, Pending> = HashMap::new();
    let mut requests_open = true;
    let mut durable = Releases::default();
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Some(Event::Asdu(bytes)) => match Asdu::decode(&bytes) {
                    Ok(asdu) => {
                        if acknowledge == AckMode::WhenDurable {
                            durable.delivered();
                        }
                        let _ = out.send(ClientEvent::Asdu(asdu.clone())).await;
                        resolve(&mut pending, asdu);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "IEC 104 client ignored an undecodable ASDU");
                        if acknowledge == AckMode::WhenDurable
                            && let Some(through) = durable.skipped()
                        {
                            link.mark_durable(through);
                        }
                    }
                },
                Some(Event::Closed(reason)) => {
                    let _ = out.send(ClientEvent::Closed(reason)).await;
                    return;
                }
                Some(Event::Started | Event::Stopped | Event::Acked(_)) => {}
                None => {
                    let _ = out.send(ClientEvent::Closed(CloseReason::Local)).await;
                    return;
                }
            },
            req = requests.recv(), if requests_open => match req {
                Some(Request::Send { asdu, key, common_address, con, term, accepted }) => {
                    if let Some(key) = key {
                        let live = pending.get(&key).is_some_and(|p| p.con.as_ref().is_some_and(|c| !c.is_closed()));
                        if live {
                            let _ = accepted.send(Err(ClientError::Busy { type_id: key.0, ioa: key.1 }));
                            continue;
                        }
                        pending.insert(key, Pending { common_address, con, term });
                    }
                    let ok = link.send_asdu(asdu);
                    let _ = accepted.send(if ok { Ok(()) } else { Err(ClientError::Closed) });
                }
                Some(Request::Release(asdus)) => {
                    if let Some(through) = durable.release(asdus) {
                        link.mark_durable(through);
                    }
                }
                Some(Request::Close) => link.close(),
                None => {
                    requests_open = false;
                    link.close();
                }
            },
        }
    }
}

/// Translates "the first n ASDU events are durable" into "the first m received I-frames are",
/// since undecodable frames are received but never delivered.
#[derive(Debug, Default)]
struct Releases {
    /// I-frames received.
    frames: u64,
    /// Events delivered and already released.
    released: u64,
    /// For each delivered event not yet released, oldest first: the I-frame count through it.
    /// The server's k window bounds its length.
    waiting: VecDeque<u64>,
}

impl Releases {
    fn delivered(&mut self) {
        self.frames += 1;
        self.waiting.push_back(self.frames);
    }

    /// An undecodable frame: durable at once when nothing delivered before it still waits.
    fn skipped(&mut self) -> Option<u64> {
        self.frames += 1;
        self.waiting.is_empty().then_some(self.frames)
    }

    /// The first `events` delivered events are durable: the I-frame count that covers, if it grew.
    fn release(&mut self, events: u64) -> Option<u64> {
        let mut through = None;
        while self.released < events {
            let Some(frames) = self.waiting.pop_front() else { break };
            self.released += 1;
            through = Some(frames);
        }
        // Undecodable frames after the last released event carry nothing either.
        if through.is_some() && self.waiting.is_empty() {
            through = Some(self.frames);
        }
        through
    }
}

fn resolve(pending: &mut HashMap<Key, Pending>, asdu: Asdu) {
    let Some(ioa) = asdu.objects.first().map(|o| o.ioa) else {
        return;
    };
    let key = (asdu.type_id, ioa);
    let Some(p) = pending.get_mut(&key) else {
        return;
    };
    if p.common_address != asdu.common_address && p.common_address != BROADCAST_ADDRESS {
        return;
    }
    match asdu.cot.cause {
        Cause::ActivationCon
        | Cause::DeactivationCon
        | Cause::UnknownType
        | Cause::UnknownCause
        | Cause::UnknownCommonAddress
        | Cause::UnknownObjectAddress => {
            let done = asdu.cot.negative || asdu.cot.cause != Cause::ActivationCon || p.term.is_none();
            if let Some(con) = p.con.take() {
                let _ = con.send(asdu);
            }
            if done {
                pending.remove(&key);
            }
        }
        Cause::ActivationTerm => {
            if let Some(term) = p.term.take() {
                let _ = term.send(asdu);
            }
            pending.remove(&key);
        }
        _ => {}
    }
}
