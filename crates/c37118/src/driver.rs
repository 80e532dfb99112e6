//! Thin tokio loops around the sans-IO [`Client`] and [`PmuServer`]: read the socket, feed the
//! state machine, sleep until its next deadline, write what it queued. TCP carries a byte stream;
//! UDP one frame per datagram (the client's socket is connected to the PMU; the UDP server
//! answers whoever sent the last command).

use std::io;
use std::net::SocketAddr;

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use gridtrust_model::Timestamp;

use crate::client::{Client, ClientConfig, ClientEvent, ClientFailure};
use crate::server::{MeasurementSource, PmuServer};

/// How frames travel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    #[default]
    Tcp,
    Udp,
}

/// What the loop needs from a state machine; the client and the PMU side both fit.
trait Machine {
    fn handle_input(&mut self, bytes: &[u8], datagram: bool, now: Timestamp);
    fn handle_timeout(&mut self, now: Timestamp);
    fn poll_timeout(&self) -> Option<Timestamp>;
    fn poll_transmit(&mut self) -> Option<Vec<u8>>;
}

impl Machine for Client {
    fn handle_input(&mut self, bytes: &[u8], datagram: bool, now: Timestamp) {
        if datagram { self.handle_datagram(bytes, now) } else { self.handle_stream_bytes(bytes, now) }
    }
    fn handle_timeout(&mut self, now: Timestamp) {
        Client::handle_timeout(self, now)
    }
    fn poll_timeout(&self) -> Option<Timestamp> {
        Client::poll_timeout(self)
    }
    fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        Client::poll_transmit(self)
    }
}

impl<S: MeasurementSource> Machine for PmuServer<S> {
    fn handle_input(&mut self, bytes: &[u8], datagram: bool, now: Timestamp) {
        if datagram { self.handle_datagram(bytes, now) } else { self.handle_stream_bytes(bytes, now) }
    }
    fn handle_timeout(&mut self, now: Timestamp) {
        PmuServer::handle_timeout(self, now)
    }
    fn poll_timeout(&self) -> Option<Timestamp> {
        PmuServer::poll_timeout(self)
    }
    fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        PmuServer::poll_transmit(self)
    }
}

/// A connected TCP stream, a UDP socket connected to one peer, or a UDP socket that answers the
/// last sender.
enum Link {
    Tcp(TcpStream),
    UdpConnected(UdpSocket),
    UdpAnswering { socket: UdpSocket, peer: Option<SocketAddr> },
}

impl Link {
    fn is_datagram(&self) -> bool {
        !matches!(self, Self::Tcp(_))
    }

    async fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        match self {
            Self::Tcp(s) => s.write_all(frame).await,
            Self::UdpConnected(s) => s.send(frame).await.map(drop),
            Self::UdpAnswering { socket, peer: Some(peer) } => socket.send_to(frame, *peer).await.map(drop),
            Self::UdpAnswering { peer: None, .. } => Ok(()),
        }
    }

    /// Reads what arrived; `Ok(0)` on a TCP stream means the peer closed it.
    async fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Tcp(s) => s.read(buf).await,
            Self::UdpConnected(s) => s.recv(buf).await,
            Self::UdpAnswering { socket, peer } => {
                let (n, from) = socket.recv_from(buf).await?;
                *peer = Some(from);
                Ok(n)
            }
        }
    }
}

/// Sleeps until `deadline` (UTC), or forever when there is none.
async fn sleep_until(deadline: Option<Timestamp>) {
    match deadline {
        Some(d) => {
            let wait = d.unix_nanos().saturating_sub(Timestamp::now().unix_nanos()).max(0);
            tokio::time::sleep(std::time::Duration::from_nanos(u64::try_from(wait).unwrap_or(0))).await;
        }
        None => std::future::pending().await,
    }
}

/// Writes everything `m` queued, then waits for input or its deadline and feeds that in.
async fn step<M: Machine>(link: &mut Link, m: &mut M, buf: &mut [u8]) -> io::Result<()> {
    while let Some(frame) = m.poll_transmit() {
        link.send(&frame).await?;
    }
    let datagram = link.is_datagram();
    tokio::select! {
        r = link.recv(buf) => {
            let n = r?;
            if n == 0 && !datagram {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "peer closed the connection"));
            }
            m.handle_input(buf.get(..n).unwrap_or_default(), datagram, Timestamp::now());
        }
        () = sleep_until(m.poll_timeout()) => m.handle_timeout(Timestamp::now()),
    }
    Ok(())
}

/// Starts a client session towards `addr` in its own task; its events (ending with one
/// [`ClientEvent::Failed`]) arrive on the returned channel. Dropping the receiver ends it.
pub fn spawn_client(addr: SocketAddr, transport: Transport, config: ClientConfig) -> mpsc::Receiver<ClientEvent> {
    let (tx, rx) = mpsc::channel(1024);
    tokio::spawn(async move {
        let failure = match run_client(addr, transport, config, &tx).await {
            Ok(failure) => failure,
            Err(e) => ClientFailure::Transport(e.to_string()),
        };
        let _ = tx.send(ClientEvent::Failed(failure)).await;
    });
    rx
}

async fn run_client(
    addr: SocketAddr,
    transport: Transport,
    config: ClientConfig,
    tx: &mpsc::Sender<ClientEvent>,
) -> io::Result<ClientFailure> {
    let connect_timeout = config.response_timeout;
    let mut link = match transport {
        Transport::Tcp => {
            let stream = tokio::time::timeout(connect_timeout, TcpStream::connect(addr))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
            stream.set_nodelay(true)?;
            Link::Tcp(stream)
        }
        Transport::Udp => {
            let local: SocketAddr = if addr.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { (std::net::Ipv6Addr::UNSPECIFIED, 0).into() };
            let socket = UdpSocket::bind(local).await?;
            socket.connect(addr).await?;
            Link::UdpConnected(socket)
        }
    };
    debug!(%addr, ?transport, "C37.118 session started");
    let mut client = Client::new(config, Timestamp::now());
    let mut buf = vec![0u8; 65_536];
    loop {
        while let Some(event) = client.poll_event() {
            if let ClientEvent::Failed(f) = event {
                // Polite, best effort: the session is over either way.
                client.stop(Timestamp::now());
                while let Some(frame) = client.poll_transmit() {
                    let _ = link.send(&frame).await;
                }
                return Ok(f);
            }
            if tx.send(event).await.is_err() {
                return Ok(ClientFailure::Transport("receiver dropped".into()));
            }
        }
        tokio::select! {
            r = step(&mut link, &mut client, &mut buf) => r?,
            () = tx.closed() => return Ok(ClientFailure::Transport("receiver dropped".into())),
        }
    }
}

/// Serves the PMU made by `make` to every TCP client of `listener`, each connection with its own
/// state machine, until the task is dropped.
pub async fn serve_tcp<S, F>(listener: TcpListener, make: F) -> io::Result<()>
where
    S: MeasurementSource + Send + 'static,
    F: Fn() -> PmuServer<S>,
{
    loop {
        let (stream, peer) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let mut server = make();
        tokio::spawn(async move {
            let mut link = Link::Tcp(stream);
            let mut buf = vec![0u8; 4096];
            loop {
                if let Err(e) = step(&mut link, &mut server, &mut buf).await {
                    debug!(%peer, error = %e, frames = server.frames_sent, "PMU connection ended");
                    return;
                }
            }
        });
    }
}

/// Serves the PMU over UDP: commands from any peer, answers and data to the last one heard.
pub async fn serve_udp<S: MeasurementSource>(socket: UdpSocket, mut server: PmuServer<S>) -> io::Result<()> {
    let mut link = Link::UdpAnswering { socket, peer: None };
    let mut buf = vec![0u8; 65_536];
    loop {
        if let Err(e) = step(&mut link, &mut server, &mut buf).await {
            // A peer that went away makes the next send fail with "connection refused" on some
            // systems; the PMU keeps serving.
            warn!(error = %e, "PMU UDP send/receive failed");
        }
    }
}
