//! TLS listeners for axum: people's HTTPS and the machines' mutual TLS share one accept loop.
//! Handshakes run in their own tasks with a deadline and a cap on how many run at once, so a
//! stalled client holds up nobody and a handshake flood cannot take the CPU, and
//! every HTTPS response carries HSTS so a browser that once reached the hub never falls back to
//! plain HTTP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::serve::IncomingStream;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tracing::warn;

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshakes in progress at once per listener: each costs a signature, so a flood of them
/// waits in the TCP backlog instead of taking the CPU from ingestion.
const MAX_HANDSHAKES: usize = 64;

/// HSTS for one year. No `includeSubDomains`: the hub's name says nothing about its siblings.
pub const HSTS: &str = "max-age=31536000";

/// Names the peer of a finished handshake (its address, and for machines its certificate).
pub type Identify<A> = Arc<dyn Fn(&rustls::ServerConnection, SocketAddr) -> A + Send + Sync>;

/// Accepts TLS connections and hands them to axum with the address type `A`.
pub struct TlsListener<A> {
    local: A,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, A)>,
    accept_task: tokio::task::JoinHandle<()>,
}

impl<A> Drop for TlsListener<A> {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

impl<A: Clone + Send + Sync + 'static> TlsListener<A> {
    /// Starts accepting on `tcp` with `tls`; `local` is what [`axum::serve::Listener::local_addr`]
    /// reports.
    pub fn new(tcp: TcpListener, tls: Arc<rustls::ServerConfig>, local: A, identify: Identify<A>) -> Self {
        let (tx, ready) = mpsc::channel(64);
        let acceptor = TlsAcceptor::from(tls);
        let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
        let accept_task = tokio::spawn(async move {
            loop {
                let Ok(slot) = handshakes.clone().acquire_owned().await else { return };
                let (stream, addr) = match tcp.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        warn!(error = %e, "TLS listener accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let (acceptor, identify, tx) = (acceptor.clone(), identify.clone(), tx.clone());
                tokio::spawn(async move {
                    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await;
                    drop(slot);
                    let tls = match handshake {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(e)) => return warn!(%addr, error = %e, "TLS handshake refused"),
                        Err(_) => return warn!(%addr, "TLS handshake timed out"),
                    };
                    let peer = identify(tls.get_ref().1, addr);
                    let _ = tx.send((tls, peer)).await;
                });
            }
        });
        Self { local, ready, accept_task }
    }
}

impl<A: Clone + Send + Sync + 'static> axum::serve::Listener for TlsListener<A> {
    type Io = TlsStream<TcpStream>;
    type Addr = A;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(c) => c,
            // The accept task only ends when aborted, i.e. when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<A> {
        Ok(self.local.clone())
    }
}

/// The client address of a people's HTTPS connection (a type of its own, because axum's
/// `ConnectInfo<SocketAddr>` is tied to its plain TCP listener).
#[derive(Clone, Copy, Debug)]
pub struct HttpsPeer(pub SocketAddr);

impl Connected<IncomingStream<'_, TlsListener<HttpsPeer>>> for HttpsPeer {
    fn connect_info(stream: IncomingStream<'_, TlsListener<HttpsPeer>>) -> Self {
        *stream.remote_addr()
    }
}

/// Adds `Strict-Transport-Security` to a response served over HTTPS.
pub async fn add_hsts(mut response: Response) -> Response {
    response.headers_mut().insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    response
}
