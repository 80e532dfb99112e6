//! The tokio driver: runs a [`ClientConnection`] over any byte stream (TCP, TLS) in one task and
//! offers an async request/response API plus a stream of information reports.

use crate::client::{ClientConfig, ClientConnection, ClientError, Event, RequestError};
use crate::pdu::{ConfirmedRequest, ConfirmedResponse, InformationReport, InitiateParams};
use crate::tls::TlsSession;
use rustls::pki_types::ServerName;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{broadcast, mpsc, oneshot};

/// Errors of the async client API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriverError {
    /// Could not open the transport.
    #[error("connect: {0}")]
    Connect(String),
    /// The association failed.
    #[error("{0}")]
    Association(#[from] ClientError),
    /// A request failed.
    #[error("{0}")]
    Request(#[from] RequestError),
    /// The TLS handshake failed (certificate refused by either side, no common version or suite).
    #[error("TLS: {0}")]
    Tls(String),
    /// The transport failed.
    #[error("I/O: {0}")]
    Io(String),
    /// The driver task has ended.
    #[error("connection closed")]
    Closed,
}

enum Command {
    Request(ConfirmedRequest, oneshot::Sender<Result<ConfirmedResponse, RequestError>>),
    Release(oneshot::Sender<()>),
}

/// An associated MMS client. Cloning shares the association.
#[derive(Clone)]
pub struct MmsClient {
    commands: mpsc::Sender<Command>,
    reports: broadcast::Sender<Arc<InformationReport>>,
    server: Arc<InitiateParams>,
    tls: Option<Arc<TlsSession>>,
}

impl std::fmt::Debug for MmsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MmsClient").field("server", &self.server).finish_non_exhaustive()
    }
}

impl MmsClient {
    /// Connects over TCP and associates.
    pub async fn connect(addr: std::net::SocketAddr, config: ClientConfig) -> Result<MmsClient, DriverError> {
        let stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| DriverError::Connect(e.to_string()))?;
        let _ = stream.set_nodelay(true);
        MmsClient::associate(stream, config).await
    }

    /// Connects over TLS (IEC 62351-4 with the IEC 62351-3 profile, see [`crate::tls`]),
    /// verifying the server as `server_name`, and associates over the encrypted stream.
    pub async fn connect_tls(
        addr: std::net::SocketAddr,
        server_name: ServerName<'static>,
        tls: Arc<rustls::ClientConfig>,
        config: ClientConfig,
    ) -> Result<MmsClient, DriverError> {
        let stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| DriverError::Connect(e.to_string()))?;
        let _ = stream.set_nodelay(true);
        let stream = tokio_rustls::TlsConnector::from(tls).connect(server_name, stream).await.map_err(|e| {
            tracing::warn!(%addr, error = %e, "MMS TLS handshake failed");
            DriverError::Tls(e.to_string())
        })?;
        let session = TlsSession::of(stream.get_ref().1);
        tracing::info!(%addr, version = %session.version, cipher_suite = %session.cipher_suite, resumed = session.resumed, "MMS TLS session established");
        let mut client = MmsClient::associate(stream, config).await?;
        client.tls = Some(Arc::new(session));
        Ok(client)
    }

    /// Associates over an already open byte stream (e.g. a TLS stream per IEC 62351-4).
    pub async fn associate<S>(stream: S, config: ClientConfig) -> Result<MmsClient, DriverError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (commands, command_rx) = mpsc::channel(64);
        let (reports, _) = broadcast::channel(1024);
        let (ready_tx, ready_rx) = oneshot::channel();
        let connection = ClientConnection::new(config, Instant::now());
        tokio::spawn(run(stream, connection, command_rx, reports.clone(), ready_tx));
        let server = ready_rx.await.map_err(|_| DriverError::Closed)??;
        Ok(MmsClient { commands, reports, server: Arc::new(server), tls: None })
    }

    /// What the TLS handshake negotiated; None over plain TCP or a stream passed to
    /// [`MmsClient::associate`].
    pub fn tls_session(&self) -> Option<&TlsSession> {
        self.tls.as_deref()
    }

    /// The server's initiate-Response (negotiated limits, services supported).
    pub fn server_parameters(&self) -> &InitiateParams {
        &self.server
    }

    /// Sends one confirmed request and waits for its response.
    pub async fn request(&self, request: ConfirmedRequest) -> Result<ConfirmedResponse, DriverError> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(Command::Request(request, tx)).await.map_err(|_| DriverError::Closed)?;
        Ok(rx.await.map_err(|_| DriverError::Closed)??)
    }

    /// Information reports from now on (reports, LastApplError, CommandTermination). Each
    /// subscriber sees every report; a subscriber that falls 1024 behind loses the oldest.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<InformationReport>> {
        self.reports.subscribe()
    }

    /// Resolves once the association has ended (released, aborted or the transport lost), so a
    /// long-lived user such as the edge adapter notices a dead connection without polling.
    pub async fn closed(&self) {
        self.commands.closed().await;
    }

    /// Concludes and releases the association.
    pub async fn release(&self) -> Result<(), DriverError> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(Command::Release(tx)).await.map_err(|_| DriverError::Closed)?;
        rx.await.map_err(|_| DriverError::Closed)
    }
}

type Pending = HashMap<u32, oneshot::Sender<Result<ConfirmedResponse, RequestError>>>;

async fn run<S>(
    stream: S,
    mut connection: ClientConnection,
    mut commands: mpsc::Receiver<Command>,
    reports: broadcast::Sender<Arc<InformationReport>>,
    ready: oneshot::Sender<Result<InitiateParams, DriverError>>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut ready = Some(ready);
    let mut pending: Pending = HashMap::new();
    let mut release_waiters: Vec<oneshot::Sender<()>> = Vec::new();
    let mut buf = vec![0u8; 16384];
    let mut commands_open = true;
    loop {
        while let Some(bytes) = connection.poll_transmit() {
            if let Err(e) = writer.write_all(&bytes).await {
                tracing::warn!(error = %e, "MMS transport write failed");
                connection.handle_transport_closed();
                break;
            }
        }
        while let Some(event) = connection.poll_event() {
            match event {
                Event::Associated(params) => {
                    if let Some(tx) = ready.take() {
                        let _ = tx.send(Ok(params));
                    }
                }
                Event::Response { invoke_id, result } => {
                    if let Some(tx) = pending.remove(&invoke_id) {
                        let _ = tx.send(result);
                    }
                }
                Event::Report(report) => {
                    let _ = reports.send(Arc::new(report));
                }
                Event::Released => release_waiters.drain(..).for_each(|tx| {
                    let _ = tx.send(());
                }),
                Event::Failed(error) => {
                    if let Some(tx) = ready.take() {
                        let _ = tx.send(Err(error.into()));
                    }
                }
            }
        }
        if connection.is_closed() {
            let _ = writer.shutdown().await;
            return;
        }
        let deadline = connection.poll_timeout();
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            read = reader.read(&mut buf) => match read {
                Ok(0) | Err(_) => connection.handle_transport_closed(),
                Ok(n) => {
                    let _ = connection.handle_input(buf.get(..n).unwrap_or_default(), Instant::now());
                }
            },
            command = commands.recv(), if commands_open => match command {
                Some(Command::Request(request, tx)) => match connection.request(request, Instant::now()) {
                    Ok(invoke_id) => {
                        pending.insert(invoke_id, tx);
                    }
                    Err(_) => {
                        let _ = tx.send(Err(RequestError::Closed));
                    }
                },
                Some(Command::Release(tx)) => {
                    release_waiters.push(tx);
                    connection.release(Instant::now());
                }
                None => {
                    // Every handle dropped: release politely.
                    commands_open = false;
                    connection.release(Instant::now());
                }
            },
            () = sleep => connection.handle_timeout(Instant::now()),
        }
    }
}
