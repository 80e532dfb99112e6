//! Length-prefixed postcard frames over mutual TLS.
//!
//! Frame: 4-byte big-endian length, then that many bytes of postcard. Frames larger than
//! [`MAX_FRAME`] are refused before allocating, so a peer cannot exhaust memory.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Largest frame accepted: a batch of tens of thousands of records fits comfortably.
pub const MAX_FRAME: usize = 16 * 1024 * 1024;

/// Why a frame could not be sent or received.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("connection I/O failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("peer sent a frame of {0} bytes, more than the {MAX_FRAME} allowed")]
    TooLarge(usize),
    #[error("frame does not decode as the expected message: {0}")]
    Decode(postcard::Error),
    #[error("message does not encode: {0}")]
    Encode(postcard::Error),
    #[error("TLS handshake with {peer} failed: {reason}")]
    Handshake { peer: String, reason: String },
    #[error("TLS handshake with {peer} not finished within {after:?}; dropped")]
    HandshakeTimeout { peer: String, after: std::time::Duration },
    #[error("invalid server name `{0}`")]
    ServerName(String),
}

/// Reads whole frames and decodes them.
pub struct FramedReader<R> {
    inner: R,
    buf: Vec<u8>,
}

/// Encodes messages into frames and writes them.
pub struct FramedWriter<W> {
    inner: W,
    buf: Vec<u8>,
}

impl<R: AsyncRead + Unpin> FramedReader<R> {
    /// Wraps a byte stream.
    pub fn new(inner: R) -> Self {
        Self { inner, buf: Vec::new() }
    }

    /// The next message, or `None` when the peer closed the connection cleanly between frames.
    pub async fn recv<T: DeserializeOwned>(&mut self) -> Result<Option<T>, FrameError> {
        let mut len = [0u8; 4];
        match self.inner.read_exact(&mut len).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        let len = usize::try_from(u32::from_be_bytes(len)).unwrap_or(usize::MAX);
        if len > MAX_FRAME {
            return Err(FrameError::TooLarge(len));
        }
        self.buf.resize(len, 0);
        self.inner.read_exact(&mut self.buf).await?;
        postcard::from_bytes(&self.buf).map(Some).map_err(FrameError::Decode)
    }
}

impl<R: AsyncRead + Unpin + Send + 'static> FramedReader<R> {
    /// Moves the reader into a task that decodes every message into `tx`, so a role's main loop
    /// can `select!` over messages without cancelling a half-read frame. The task ends with the
    /// connection (`Ok`), a frame error, or when `tx` is dropped.
    pub fn spawn_into<T: DeserializeOwned + Send + 'static>(
        mut self,
        tx: tokio::sync::mpsc::Sender<T>,
    ) -> tokio::task::JoinHandle<Result<(), FrameError>> {
        tokio::spawn(async move {
            while let Some(m) = self.recv::<T>().await? {
                if tx.send(m).await.is_err() {
                    break;
                }
            }
            Ok(())
        })
    }
}

impl<W: AsyncWrite + Unpin> FramedWriter<W> {
    /// Wraps a byte stream.
    pub fn new(inner: W) -> Self {
        Self { inner, buf: Vec::new() }
    }

    /// Encodes and writes one message, flushing it to the peer.
    pub async fn send<T: Serialize>(&mut self, msg: &T) -> Result<(), FrameError> {
        let buf = encode_frame_into(msg, std::mem::take(&mut self.buf))?;
        let result = self.inner.write_all(&buf).await;
        self.buf = buf;
        result?;
        self.inner.flush().await?;
        Ok(())
    }
}

/// The frame of `msg` exactly as [`FramedWriter::send`] writes it: 4-byte big-endian length,
/// then postcard. The one place a message becomes bytes on the wire, so the golden tests
/// (`tests/wire_golden.rs`) pin what peers actually receive.
pub fn encode_frame<T: Serialize>(msg: &T) -> Result<Vec<u8>, FrameError> {
    encode_frame_into(msg, Vec::new())
}

/// [`encode_frame`] into `buf` (cleared first), so a writer reuses one allocation.
fn encode_frame_into<T: Serialize>(msg: &T, mut buf: Vec<u8>) -> Result<Vec<u8>, FrameError> {
    buf.clear();
    buf.extend_from_slice(&[0; 4]);
    let mut buf = postcard::to_extend(msg, buf).map_err(FrameError::Encode)?;
    let len = buf.len() - 4;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge(len));
    }
    buf[..4].copy_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
    Ok(buf)
}

/// A TLS stream split into a framed reader and writer.
pub type Split<S> = (FramedReader<ReadHalf<S>>, FramedWriter<WriteHalf<S>>);

/// The client side of a mutual-TLS connection.
pub type ClientStream = tokio_rustls::client::TlsStream<TcpStream>;

/// Closes a connection from outside the tasks that read and write it: both directions are
/// shut down, so a pending read ends and the next write fails. Used to cut off a peer whose
/// certificate was revoked while connected. It holds a second handle on the socket, so drop
/// every clone with the session.
#[derive(Clone, Debug)]
pub struct Closer(Arc<std::net::TcpStream>);

impl Closer {
    /// Shuts the connection down in both directions.
    pub fn close(&self) {
        let _ = self.0.shutdown(std::net::Shutdown::Both);
    }
}

/// `tcp` and a [`Closer`] for it.
fn closable(tcp: TcpStream) -> std::io::Result<(TcpStream, Closer)> {
    let std = tcp.into_std()?;
    let twin = std.try_clone()?;
    Ok((TcpStream::from_std(std)?, Closer(Arc::new(twin))))
}

/// A dialled connection: the framed halves, the server's verified certificate chain and a
/// [`Closer`].
pub struct Connected {
    pub reader: FramedReader<ReadHalf<ClientStream>>,
    pub writer: FramedWriter<WriteHalf<ClientStream>>,
    pub peer_certificates: Vec<rustls::pki_types::CertificateDer<'static>>,
    pub closer: Closer,
}

/// Dials `addr` with mutual TLS, verifying the server as `server_name`.
pub async fn connect(addr: &str, server_name: &str, tls: Arc<rustls::ClientConfig>) -> Result<Split<ClientStream>, FrameError> {
    let connected = connect_closable(addr, server_name, tls).await?;
    Ok((connected.reader, connected.writer))
}

/// [`connect`], keeping what a caller needs to re-check the server later and cut it off.
pub async fn connect_closable(addr: &str, server_name: &str, tls: Arc<rustls::ClientConfig>) -> Result<Connected, FrameError> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let (tcp, closer) = closable(tcp)?;
    let name =
        rustls::pki_types::ServerName::try_from(server_name.to_owned()).map_err(|_| FrameError::ServerName(server_name.to_owned()))?;
    let stream = TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .map_err(|e| FrameError::Handshake { peer: addr.to_owned(), reason: e.to_string() })?;
    let peer_certificates = certificates_of(stream.get_ref().1.peer_certificates());
    let (r, w) = tokio::io::split(stream);
    Ok(Connected { reader: FramedReader::new(r), writer: FramedWriter::new(w), peer_certificates, closer })
}

fn certificates_of(certs: Option<&[rustls::pki_types::CertificateDer<'_>]>) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    certs.map(|c| c.iter().map(|c| c.clone().into_owned()).collect()).unwrap_or_default()
}

/// Accepts mutual-TLS connections; clients without a certificate from the operator CA are
/// refused during the handshake. [`Self::accept`] holds at most
/// [`ListenerLimits::max_connections`] connections at once and gives each
/// [`ListenerLimits::handshake_timeout_ms`] to finish its handshake.
pub struct Listener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    slots: Arc<Semaphore>,
    handshake_timeout: Duration,
}

impl Listener {
    /// Binds `addr` (port 0 picks a free port) with the default [`ListenerLimits`].
    pub async fn bind(addr: &str, tls: Arc<rustls::ServerConfig>) -> std::io::Result<Self> {
        Self::bind_with(addr, tls, &ListenerLimits::default()).await
    }

    /// Binds `addr` with `limits`.
    pub async fn bind_with(addr: &str, tls: Arc<rustls::ServerConfig>, limits: &ListenerLimits) -> std::io::Result<Self> {
        Ok(Self {
            tcp: TcpListener::bind(addr).await?,
            acceptor: TlsAcceptor::from(tls),
            slots: Arc::new(Semaphore::new(limits.max_connections)),
            handshake_timeout: limits.handshake_timeout(),
        })
    }

    /// Waits for the next TCP connection. Over the connection cap it is closed at once and
    /// reported as [`Admission::Refused`]; otherwise it holds a slot until the session ends.
    pub async fn accept(&self) -> std::io::Result<Admission> {
        let (tcp, peer) = self.accept_tcp().await?;
        Ok(match self.slots.clone().try_acquire_owned() {
            Ok(permit) => Admission::Admitted(Incoming {
                tcp,
                peer,
                slot: ConnectionSlot { _permit: permit },
                acceptor: self.acceptor.clone(),
                timeout: self.handshake_timeout,
            }),
            Err(_) => Admission::Refused { peer, reason: RefusalReason::ConnectionCap },
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// Waits for a TCP connection; the TLS handshake is run by [`Self::handshake`] so that a slow
    /// or hostile client does not block the accept loop.
    pub async fn accept_tcp(&self) -> std::io::Result<(TcpStream, SocketAddr)> {
        let (tcp, peer) = self.tcp.accept().await?;
        tcp.set_nodelay(true)?;
        Ok((tcp, peer))
    }

    /// A handle to run handshakes on accepted connections.
    pub fn acceptor(&self) -> TlsAcceptor {
        self.acceptor.clone()
    }
}

/// What [`Listener::accept`] did with a connection.
pub enum Admission {
    /// Within the cap: run its handshake.
    Admitted(Incoming),
    /// Closed at once.
    Refused { peer: SocketAddr, reason: RefusalReason },
}

/// Why a listener turned a peer away before or during the TLS handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RefusalReason {
    /// [`ListenerLimits::max_connections`] connections were open already.
    ConnectionCap,
    /// The handshake did not finish within [`ListenerLimits::handshake_timeout_ms`].
    HandshakeTimeout,
    /// The handshake failed (a foreign, revoked or expired certificate, or none; not TLS).
    HandshakeFailed,
    /// The certificate validated but is not one this listener admits (kind, name).
    Certificate,
}

impl RefusalReason {
    /// For alarms.
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalReason::ConnectionCap => "connection cap reached",
            RefusalReason::HandshakeTimeout => "TLS handshake timed out",
            RefusalReason::HandshakeFailed => "TLS handshake failed",
            RefusalReason::Certificate => "certificate not admitted",
        }
    }
}

/// A connection slot of a listener; the slot is free again when this is dropped.
#[derive(Debug)]
pub struct ConnectionSlot {
    _permit: OwnedSemaphorePermit,
}

/// A TCP connection within the cap, its handshake still to run.
pub struct Incoming {
    tcp: TcpStream,
    peer: SocketAddr,
    slot: ConnectionSlot,
    acceptor: TlsAcceptor,
    timeout: Duration,
}

impl Incoming {
    /// The remote address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Runs the TLS handshake, dropping a peer that does not finish it in time (a slowloris
    /// holding a connection open without ever authenticating). Hold the slot for as long as the
    /// session runs.
    pub async fn handshake(self) -> Result<(Accepted, ConnectionSlot), FrameError> {
        let Self { tcp, peer, slot, acceptor, timeout } = self;
        match tokio::time::timeout(timeout, handshake(&acceptor, tcp, peer)).await {
            Ok(accepted) => Ok((accepted?, slot)),
            Err(_) => Err(FrameError::HandshakeTimeout { peer: peer.to_string(), after: timeout }),
        }
    }
}

/// Limits of each mutual-TLS listener (the hub's `[listeners]` table).
///
/// ```toml
/// [listeners]
/// handshake_timeout_ms = 5000     # a peer must finish TLS within this (default 5 s)
/// max_connections = 256           # per listener; more are closed at once (default 256)
/// refusal_alarm_window_s = 300    # one alarm per remote IP and reason in this window (default 5 min)
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListenerLimits {
    /// Milliseconds a peer has to finish the TLS handshake.
    pub handshake_timeout_ms: u64,
    /// Connections open at once on one listener (handshaking or in session).
    pub max_connections: usize,
    /// Seconds during which further refusals of one remote IP for one reason are only counted.
    pub refusal_alarm_window_s: u64,
}

impl Default for ListenerLimits {
    fn default() -> Self {
        Self { handshake_timeout_ms: 5000, max_connections: 256, refusal_alarm_window_s: 300 }
    }
}

impl ListenerLimits {
    /// The handshake timeout.
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_millis(self.handshake_timeout_ms)
    }

    /// The refusal alarm window.
    pub fn refusal_alarm_window(&self) -> Duration {
        Duration::from_secs(self.refusal_alarm_window_s)
    }
}

/// Decides which refused peers are worth an alarm: the first refusal of a remote IP for a
/// reason raises one, later ones within the window are counted and reported with the next
/// alarm after it. A peer retrying from new source ports (or a scanner) thus makes one alarm,
/// not one per connection. Sans-IO: the caller passes the time.
#[derive(Debug)]
pub struct RefusalLog {
    window: Duration,
    seen: HashMap<(IpAddr, RefusalReason), (Instant, u64)>,
}

impl RefusalLog {
    /// Alarms at most once per IP and reason per `window`.
    pub fn new(window: Duration) -> Self {
        Self { window, seen: HashMap::new() }
    }

    /// Notes a refusal. `Some(n)` means raise an alarm, saying `n` more were refused silently
    /// since the last one; `None` means only counted.
    pub fn note(&mut self, ip: IpAddr, reason: RefusalReason, now: Instant) -> Option<u64> {
        // Forget quiet sources, so the map stays as small as the set of active offenders.
        let window = self.window;
        self.seen.retain(|_, (since, _)| now.duration_since(*since) < window.saturating_mul(2));
        match self.seen.get_mut(&(ip, reason)) {
            Some((since, counted)) if now.duration_since(*since) < window => {
                *counted += 1;
                None
            }
            Some((since, counted)) => {
                let silent = *counted;
                (*since, *counted) = (now, 0);
                Some(silent)
            }
            None => {
                self.seen.insert((ip, reason), (now, 0));
                Some(0)
            }
        }
    }
}

/// An accepted, authenticated connection: the framed halves and the certificate chain the
/// client presented (already verified against the CA and CRL by the TLS layer), from which the
/// server reads the peer's identity and role, and a [`Closer`] to cut it off later.
pub struct Accepted {
    pub reader: FramedReader<ReadHalf<tokio_rustls::server::TlsStream<TcpStream>>>,
    pub writer: FramedWriter<WriteHalf<tokio_rustls::server::TlsStream<TcpStream>>>,
    pub peer_certificates: Vec<rustls::pki_types::CertificateDer<'static>>,
    pub closer: Closer,
}

/// Runs the server side of the TLS handshake on an accepted connection (no time limit: see
/// [`Incoming::handshake`]).
pub async fn handshake(acceptor: &TlsAcceptor, tcp: TcpStream, peer: SocketAddr) -> Result<Accepted, FrameError> {
    let (tcp, closer) = closable(tcp)?;
    let stream = acceptor.accept(tcp).await.map_err(|e| FrameError::Handshake { peer: peer.to_string(), reason: e.to_string() })?;
    let peer_certificates = certificates_of(stream.get_ref().1.peer_certificates());
    let (r, w) = tokio::io::split(stream);
    Ok(Accepted { reader: FramedReader::new(r), writer: FramedWriter::new(w), peer_certificates, closer })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_of_one_ip_and_reason_alarm_once_per_window_and_count_the_rest() {
        let mut log = RefusalLog::new(Duration::from_secs(60));
        let t0 = Instant::now();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(log.note(ip, RefusalReason::HandshakeFailed, t0), Some(0));
        for i in 1..50 {
            assert_eq!(log.note(ip, RefusalReason::HandshakeFailed, t0 + Duration::from_millis(i)), None);
        }
        // Another reason or another address is news.
        assert_eq!(log.note(ip, RefusalReason::ConnectionCap, t0), Some(0));
        assert_eq!(log.note("192.0.2.8".parse().unwrap(), RefusalReason::HandshakeFailed, t0), Some(0));
        // After the window: one alarm telling how many were only counted.
        assert_eq!(log.note(ip, RefusalReason::HandshakeFailed, t0 + Duration::from_secs(61)), Some(49));
    }
}
