//! The machine listener: HTTPS with a required client certificate (validated against the
//! operator CA and CRL by rustls), whose identity and IEC 62351-8 roles stand in for a login.
//! Handshakes run in their own tasks with a deadline, so a stalled client holds up nobody.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tracing::{debug, warn};

use crate::backend::{Actor, Backend};

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Who is on the other end of a machine connection.
#[derive(Clone, Debug)]
pub struct MachinePeer {
    /// Client address.
    pub addr: SocketAddr,
    /// The certificate's identity, or why it is not accepted.
    pub identity: Result<Actor, String>,
}

/// Accepts TLS connections and hands them to axum with their [`MachinePeer`].
pub struct MachineListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, MachinePeer)>,
    accept_task: tokio::task::JoinHandle<()>,
}

impl Drop for MachineListener {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

impl MachineListener {
    /// Starts accepting on `tcp` with `tls` (which must require client certificates).
    pub fn new(tcp: TcpListener, tls: Arc<rustls::ServerConfig>, backend: Arc<dyn Backend>) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        let acceptor = TlsAcceptor::from(tls);
        let accept_task = tokio::spawn(async move {
            loop {
                let (stream, addr) = match tcp.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        warn!(error = %e, "machine listener accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let (acceptor, backend, tx) = (acceptor.clone(), backend.clone(), tx.clone());
                tokio::spawn(async move {
                    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(e)) => return warn!(%addr, error = %e, "machine TLS handshake refused"),
                        Err(_) => return warn!(%addr, "machine TLS handshake timed out"),
                    };
                    let chain = tls.get_ref().1.peer_certificates().map(<[_]>::to_vec).unwrap_or_default();
                    let identity = backend.machine_identity(&chain);
                    debug!(%addr, ?identity, "machine connected");
                    let _ = tx.send((tls, MachinePeer { addr, identity })).await;
                });
            }
        });
        Ok(Self { local, ready, accept_task })
    }
}

impl axum::serve::Listener for MachineListener {
    type Io = TlsStream<TcpStream>;
    type Addr = MachinePeer;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(c) => c,
            // The accept task only ends when aborted, i.e. when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<MachinePeer> {
        Ok(MachinePeer { addr: self.local, identity: Err("the listener itself".into()) })
    }
}

impl Connected<IncomingStream<'_, MachineListener>> for MachinePeer {
    fn connect_info(stream: IncomingStream<'_, MachineListener>) -> Self {
        stream.remote_addr().clone()
    }
}
