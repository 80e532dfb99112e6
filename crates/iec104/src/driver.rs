//! The thin tokio loop around a [`Connection`], and TLS configuration per IEC 62351-3.
//!
//! [`run`] owns one stream (plain TCP or a tokio-rustls stream; anything `AsyncRead +
//! AsyncWrite`) and one [`Connection`]: it feeds received bytes and elapsed timers in, writes
//! what the connection wants sent, and forwards link events to a channel. Commands arrive on
//! another channel. Everything protocol-related stays in the sans-IO connection, so this file has
//! no protocol logic to test beyond "bytes and time get through".
//!
//! ASDUs handed to the driver are queued and released as the k window allows; callers that care
//! about priorities (the server) keep their own queues and hand over at most a window's worth.
//!
//! The TLS helpers build rustls configurations with the ring provider, TLS 1.2 and 1.3, and
//! mutual authentication: a server refuses clients without a certificate from the configured CA.

use std::collections::VecDeque;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::connection::{AckMode, CloseReason, Connection, Event, LinkConfig, Role};
use crate::tap::LinkTap;

/// What the station layer asks the driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Send an ASDU (queued until data transfer is started and the k window has room).
    Send(Bytes),
    /// Controlling side: send STARTDT act.
    Start,
    /// Controlling side: send STOPDT act.
    Stop,
    /// Close the connection.
    Close,
    /// The first n received I-frames are durable ([`Connection::mark_durable`]).
    Durable(u64),
}

/// Runs `conn` over `stream` until the connection closes; returns why.
///
/// Every link event is passed through `wrap` and sent on `events` (the last one is always
/// [`Event::Closed`]). If the event receiver is dropped the connection is closed locally; if
/// the command sender is dropped likewise. A `tap` sees the bytes both ways.
pub async fn run<S, E, F>(
    mut stream: S,
    mut conn: Connection,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::Sender<E>,
    mut wrap: F,
    mut tap: Option<Box<dyn LinkTap>>,
) -> CloseReason
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnMut(Event) -> E,
{
    let mut queue: VecDeque<Bytes> = VecDeque::new();
    let mut rbuf = vec![0u8; 4096];
    let mut wbuf = Vec::new();
    let mut events_open = true;
    loop {
        let now = Instant::now();
        while conn.can_send() {
            let Some(asdu) = queue.pop_front() else { break };
            if let Err(e) = conn.send_asdu(now, asdu) {
                tracing::warn!(error = %e, "IEC 104 driver dropped an ASDU it could not send");
            }
        }
        conn.poll_transmit(&mut wbuf);
        if !wbuf.is_empty() {
            let written = async {
                stream.write_all(&wbuf).await?;
                stream.flush().await
            }
            .await;
            if written.is_ok()
                && let Some(tap) = tap.as_mut()
            {
                tap.sent(&wbuf);
            }
            wbuf.clear();
            if let Err(e) = written {
                conn.transport_closed(CloseReason::Io(e.to_string()));
            }
        }
        let mut closed = None;
        while let Some(ev) = conn.poll_event() {
            match &ev {
                Event::Closed(reason) => closed = Some(reason.clone()),
                // The station layer re-sends from its own queues after a stop; sending the
                // driver's leftovers after a later restart would duplicate them.
                Event::Stopped => queue.clear(),
                _ => {}
            }
            if events_open && events.send(wrap(ev)).await.is_err() {
                events_open = false;
                conn.close();
            }
        }
        if let Some(reason) = closed {
            if let Some(tap) = tap.as_mut() {
                tap.closed();
            }
            // Anything the connection queued just before closing (none today) is best effort.
            let _ = stream.shutdown().await;
            return reason;
        }
        let deadline = conn.poll_timeout();
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            read = stream.read(&mut rbuf) => match read {
                Ok(0) => conn.transport_closed(CloseReason::PeerClosed),
                Ok(n) => {
                    if let Some(data) = rbuf.get(..n) {
                        if let Some(tap) = tap.as_mut() {
                            tap.received(data);
                        }
                        conn.handle_bytes(Instant::now(), data);
                    }
                }
                Err(e) => conn.transport_closed(CloseReason::Io(e.to_string())),
            },
            () = sleep => conn.handle_timeout(Instant::now()),
            cmd = commands.recv() => match cmd {
                Some(Command::Send(asdu)) => queue.push_back(asdu),
                Some(Command::Start) => {
                    if let Err(e) = conn.start(Instant::now()) {
                        tracing::warn!(error = %e, "STARTDT refused");
                    }
                }
                Some(Command::Stop) => {
                    if let Err(e) = conn.stop(Instant::now()) {
                        tracing::warn!(error = %e, "STOPDT refused");
                    }
                }
                Some(Command::Durable(n)) => conn.mark_durable(Instant::now(), n),
                Some(Command::Close) | None => conn.close(),
            },
        }
    }
}

/// A handle to a link running in its own task (see [`spawn`]).
#[derive(Debug, Clone)]
pub struct LinkHandle {
    commands: mpsc::UnboundedSender<Command>,
}

impl LinkHandle {
    /// Queues an ASDU; false when the link task has ended.
    pub fn send_asdu(&self, asdu: Bytes) -> bool {
        self.commands.send(Command::Send(asdu)).is_ok()
    }

    /// Sends STARTDT act (controlling side); false when the link task has ended.
    pub fn start(&self) -> bool {
        self.commands.send(Command::Start).is_ok()
    }

    /// Sends STOPDT act (controlling side); false when the link task has ended.
    pub fn stop(&self) -> bool {
        self.commands.send(Command::Stop).is_ok()
    }

    /// Marks the first `received_through` received I-frames durable (see [`AckMode::WhenDurable`]).
    pub fn mark_durable(&self, received_through: u64) {
        let _ = self.commands.send(Command::Durable(received_through));
    }

    /// Closes the link.
    pub fn close(&self) {
        let _ = self.commands.send(Command::Close);
    }

    /// Whether the link task has ended.
    pub fn is_closed(&self) -> bool {
        self.commands.is_closed()
    }
}

/// Starts a link over an established stream in a new task: the simplest way to use the driver
/// when one consumer owns the link.
pub fn spawn<S>(
    stream: S,
    role: Role,
    config: LinkConfig,
    ack_mode: AckMode,
    event_capacity: usize,
    tap: Option<Box<dyn LinkTap>>,
) -> (LinkHandle, mpsc::Receiver<Event>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (ev_tx, ev_rx) = mpsc::channel(event_capacity.max(1));
    let mut conn = Connection::new(role, config, Instant::now());
    conn.set_ack_mode(ack_mode);
    tokio::spawn(run(stream, conn, cmd_rx, ev_tx, |e| e, tap));
    (LinkHandle { commands: cmd_tx }, ev_rx)
}

/// Why a TLS configuration could not be built.
#[derive(Debug, Error)]
pub enum TlsError {
    /// A PEM file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A PEM file did not contain what was expected.
    #[error("{path}: {reason}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// rustls refused the certificates, key or versions.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client-certificate verifier could not be built (e.g. no trust anchors).
    #[error("client certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// IEC 62351-3 allows TLS 1.2 and 1.3; nothing older.
const VERSIONS: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];

/// A server configuration that requires a client certificate issued by `client_roots` (mutual
/// authentication) and honours the given CRLs.
pub fn tls_server_config(
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_roots: RootCertStore,
    crls: Vec<CertificateRevocationListDer<'static>>,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(client_roots), provider()).with_crls(crls).build()?;
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(cert_chain, key)?;
    Ok(Arc::new(config))
}

/// A client configuration that presents `cert_chain` and trusts servers issued by `roots`.
pub fn tls_client_config(
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    roots: RootCertStore,
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)?
        .with_root_certificates(roots)
        .with_client_auth_cert(cert_chain, key)?;
    Ok(Arc::new(config))
}

/// [`tls_server_config`] from PEM files: our chain, our key, the CA that issues client certs.
pub fn tls_server_config_from_pem(cert: &Path, key: &Path, client_ca: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    tls_server_config(read_certs(cert)?, read_key(key)?, read_roots(client_ca)?, Vec::new())
}

/// [`tls_client_config`] from PEM files: our chain, our key, the CA that issues server certs.
pub fn tls_client_config_from_pem(cert: &Path, key: &Path, server_ca: &Path) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    tls_client_config(read_certs(cert)?, read_key(key)?, read_roots(server_ca)?)
}

fn read_pem(path: &Path) -> Result<Vec<u8>, TlsError> {
    fs::read(path).map_err(|source| TlsError::Io { path: path.to_owned(), source })
}

/// Reads every certificate in a PEM file; an empty file is an error.
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read_pem(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem { path: path.to_owned(), reason: e.to_string() })?;
    if certs.is_empty() {
        return Err(TlsError::Pem { path: path.to_owned(), reason: "no certificate found".into() });
    }
    Ok(certs)
}

/// Reads the first private key (PKCS#8, PKCS#1 or SEC1) in a PEM file.
pub fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read_pem(path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| TlsError::Pem { path: path.to_owned(), reason: e.to_string() })
}

/// Reads every certificate in a PEM file into a trust store.
pub fn read_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in read_certs(path)? {
        roots.add(cert)?;
    }
    Ok(roots)
}
