//! A TCP proxy between two roles that the harness switches between passing, cutting,
//! blackholing and delaying: how a network between a substation, a cloud and a control centre
//! fails.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the proxy does with connections and bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkMode {
    /// Forwards both ways.
    Pass,
    /// Closes every connection and refuses new ones (a router that sends resets).
    Cut,
    /// Keeps every socket open and drops every byte (a path that silently loses packets: only
    /// keepalives and read timeouts notice).
    Blackhole,
    /// Forwards each chunk after this delay.
    Delay(Duration),
}

/// A running proxy; stops when dropped.
pub struct Proxy {
    /// Where the role that dials through the proxy connects.
    pub addr: SocketAddr,
    mode: Arc<watch::Sender<LinkMode>>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<Self> {
        Self::start_on("127.0.0.1:0".parse().expect("loopback address"), upstream).await
    }

    /// Listens on `listen` and forwards to `upstream`.
    pub async fn start_on(listen: SocketAddr, upstream: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let mode = Arc::new(watch::channel(LinkMode::Pass).0);
        let task = tokio::spawn(accept_loop(listener, upstream, mode.clone()));
        Ok(Self { addr, mode, task })
    }

    /// Switches every open and future connection to `mode`.
    pub fn set(&self, mode: LinkMode) {
        self.mode.send_replace(mode);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, upstream: SocketAddr, mode: Arc<watch::Sender<LinkMode>>) {
    while let Ok((client, _)) = listener.accept().await {
        let rx = mode.subscribe();
        tokio::spawn(async move {
            if *rx.borrow() == LinkMode::Cut {
                return;
            }
            // A blackholed path also swallows the connection attempt: hold the socket, send nothing.
            let Ok(server) = TcpStream::connect(upstream).await else { return };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            tokio::select! {
                _ = pump(cr, sw, rx.clone()) => {}
                _ = pump(sr, cw, rx) => {}
            }
        });
    }
}

/// Copies `from` to `to` as the mode says; ends when either side closes or the link is cut.
async fn pump(mut from: tokio::net::tcp::OwnedReadHalf, mut to: tokio::net::tcp::OwnedWriteHalf, mut mode: watch::Receiver<LinkMode>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if *mode.borrow_and_update() == LinkMode::Cut {
            return;
        }
        let n = tokio::select! {
            read = from.read(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            changed = mode.changed() => {
                if changed.is_err() {
                    return;
                }
                continue;
            }
        };
        let current = *mode.borrow();
        match current {
            LinkMode::Cut => return,
            LinkMode::Blackhole => continue,
            LinkMode::Delay(d) => tokio::time::sleep(d).await,
            LinkMode::Pass => {}
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
