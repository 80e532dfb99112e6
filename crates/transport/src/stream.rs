//! Length-prefixed postcard frames over mutual TLS.
//!
//! Frame: 4-byte big-endian length, then that many bytes of postcard. Frames larger than
//! [`MAX_FRAME`] are refused before allocating, so a peer cannot exhaust memory.

use std::net::SocketAddr;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
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
        self.buf.clear();
        self.buf.extend_from_slice(&[0; 4]);
        let buf = std::mem::take(&mut self.buf);
        let mut buf = postcard::to_extend(msg, buf).map_err(FrameError::Encode)?;
        let len = buf.len() - 4;
        if len > MAX_FRAME {
            return Err(FrameError::TooLarge(len));
        }
        buf[..4].copy_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
        let result = self.inner.write_all(&buf).await;
        self.buf = buf;
        result?;
        self.inner.flush().await?;
        Ok(())
    }
}

/// A TLS stream split into a framed reader and writer.
pub type Split<S> = (FramedReader<ReadHalf<S>>, FramedWriter<WriteHalf<S>>);

/// Dials `addr` with mutual TLS, verifying the server as `server_name`.
pub async fn connect(
    addr: &str,
    server_name: &str,
    tls: Arc<rustls::ClientConfig>,
) -> Result<Split<tokio_rustls::client::TlsStream<TcpStream>>, FrameError> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let name = rustls::pki_types::ServerName::try_from(server_name.to_owned())
        .map_err(|_| FrameError::ServerName(server_name.to_owned()))?;
    let stream = TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .map_err(|e| FrameError::Handshake { peer: addr.to_owned(), reason: e.to_string() })?;
    let (r, w) = tokio::io::split(stream);
    Ok((FramedReader::new(r), FramedWriter::new(w)))
}

/// Accepts mutual-TLS connections; clients without a certificate from the operator CA are
/// refused during the handshake.
pub struct Listener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl Listener {
    /// Binds `addr` (port 0 picks a free port).
    pub async fn bind(addr: &str, tls: Arc<rustls::ServerConfig>) -> std::io::Result<Self> {
        Ok(Self { tcp: TcpListener::bind(addr).await?, acceptor: TlsAcceptor::from(tls) })
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

/// An accepted, authenticated connection: the framed halves and the certificate chain the
/// client presented (already verified against the CA and CRL by the TLS layer), from which the
/// server reads the peer's identity and role.
pub struct Accepted {
    pub reader: FramedReader<ReadHalf<tokio_rustls::server::TlsStream<TcpStream>>>,
    pub writer: FramedWriter<WriteHalf<tokio_rustls::server::TlsStream<TcpStream>>>,
    pub peer_certificates: Vec<rustls::pki_types::CertificateDer<'static>>,
}

/// Runs the server side of the TLS handshake on an accepted connection.
pub async fn handshake(acceptor: &TlsAcceptor, tcp: TcpStream, peer: SocketAddr) -> Result<Accepted, FrameError> {
    let stream = acceptor
        .accept(tcp)
        .await
        .map_err(|e| FrameError::Handshake { peer: peer.to_string(), reason: e.to_string() })?;
    let peer_certificates = stream.get_ref().1.peer_certificates().map(|c| c.iter().map(|c| c.clone().into_owned()).collect()).unwrap_or_default();
    let (r, w) = tokio::io::split(stream);
    Ok(Accepted { reader: FramedReader::new(r), writer: FramedWriter::new(w), peer_certificates })
}
