//! A man-in-the-middle on one hop between roles, for attack tests.
//!
//! The hops are framed postcard messages over mutual TLS 1.3 ([`gridtrust_transport::stream`]),
//! so a passive tap sees nothing: the attacker this module plays holds a key the hop trusts. A
//! compromised hub, for example, owns the hub's key and certificate, so it can terminate the
//! connector's TLS as "hub" and talk to the real hub with a connector certificate; everything it
//! then changes in transit must be caught by the evidence (edge signatures, hash chain, signed
//! log checkpoints), not by TLS.
//!
//! [`Mitm::start`] listens with one identity, and for every client that connects, dials the
//! upstream role with another. Each frame is decoded as the hop's message type (`Up`: what the
//! client sends, e.g. [`CcToHub`]; `Down`: what the upstream answers, e.g. [`HubToCc`]) and
//! passed through a [`Tap`] of its direction: a closure that returns the messages to forward in
//! its place, so it can pass, alter, drop (empty), duplicate or replace it. Taps can be changed
//! at any time (let traffic through, then attack), apply to every connection through the MITM
//! (also after the client reconnects), and can inject messages of their own with
//! [`Tap::inject`].
//!
//! ```ignore
//! let mitm = Mitm::<CcToHub, HubToCc>::start("127.0.0.1:0", &hub_identity, &hub_cc_addr, "hub", &cc_identity).await?;
//! // point the cc at mitm.addr; later:
//! mitm.down.once(|m| match m {
//!     HubToCc::Batch(_) => Ok(vec![]), // swallow the next batch
//!     other => Err(other),             // everything before it passes
//! });
//! ```
//!
//! The message types are bound by [`Message`], implemented here for the four hop enums: the
//! tests' crate depends neither on serde nor on rustls, so the MITM takes [`Identity`]s rather
//! than TLS configurations and decodes through the concrete types.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

use gridtrust_transport::identity::Identity;
use gridtrust_transport::{CcToHub, EdgeToHub, FrameError, FramedReader, FramedWriter, HubToCc, HubToEdge, Listener, connect, handshake};

/// A message of one hop direction that the MITM can decode from and encode into frames.
pub trait Message: Clone + std::fmt::Debug + Send + 'static {
    /// The next message, `None` when the peer closed between frames.
    fn recv<R: AsyncRead + Unpin + Send>(r: &mut FramedReader<R>) -> impl Future<Output = Result<Option<Self>, FrameError>> + Send;
    /// Sends one message.
    fn send<W: AsyncWrite + Unpin + Send>(w: &mut FramedWriter<W>, msg: &Self) -> impl Future<Output = Result<(), FrameError>> + Send;
}

macro_rules! message {
    ($($t:ty),*) => {$(
        impl Message for $t {
            fn recv<R: AsyncRead + Unpin + Send>(r: &mut FramedReader<R>) -> impl Future<Output = Result<Option<Self>, FrameError>> + Send {
                r.recv::<$t>()
            }
            fn send<W: AsyncWrite + Unpin + Send>(w: &mut FramedWriter<W>, msg: &Self) -> impl Future<Output = Result<(), FrameError>> + Send {
                w.send(msg)
            }
        }
    )*};
}

message!(CcToHub, HubToCc, EdgeToHub, HubToEdge);

/// What a tap does with each message: returns the messages to forward instead (none to drop it,
/// several to duplicate or add).
pub type Rewrite<M> = Box<dyn FnMut(M) -> Vec<M> + Send>;

/// One direction's rewrite, shared by every connection through the MITM. Cloning gives another
/// handle to the same tap.
pub struct Tap<M> {
    rewrite: Arc<Mutex<Rewrite<M>>>,
    /// Injection channels of the live connections.
    live: Arc<Mutex<Vec<mpsc::UnboundedSender<M>>>>,
    /// Messages received from the sending side (before rewriting).
    seen: Arc<AtomicU64>,
}

impl<M> Clone for Tap<M> {
    fn clone(&self) -> Self {
        Self { rewrite: self.rewrite.clone(), live: self.live.clone(), seen: self.seen.clone() }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<M: Message> Tap<M> {
    /// A tap that passes everything unchanged.
    pub fn pass() -> Self {
        Self { rewrite: Arc::new(Mutex::new(Box::new(|m| vec![m]))), live: Arc::default(), seen: Arc::default() }
    }

    /// Replaces the rewrite; it applies from the next message on.
    pub fn set(&self, rewrite: impl FnMut(M) -> Vec<M> + Send + 'static) {
        *lock(&self.rewrite) = Box::new(rewrite);
    }

    /// Passes everything unchanged from now on.
    pub fn pass_all(&self) {
        self.set(|m| vec![m]);
    }

    /// Attacks once: `attack` sees each message and returns `Err(message)` to let it pass
    /// unchanged, or `Ok(replacement)` for the one it attacks; after that, everything passes.
    /// The returned flag turns true when the attack has happened.
    pub fn once(&self, mut attack: impl FnMut(M) -> Result<Vec<M>, M> + Send + 'static) -> Arc<AtomicBool> {
        let fired = Arc::new(AtomicBool::new(false));
        let flag = fired.clone();
        self.set(move |m| {
            if flag.load(Ordering::SeqCst) {
                return vec![m];
            }
            match attack(m) {
                Ok(out) => {
                    flag.store(true, Ordering::SeqCst);
                    out
                }
                Err(m) => vec![m],
            }
        });
        fired
    }

    /// Sends `msg` on every live connection in this direction, as if the sending side had sent
    /// it (it does not pass through the rewrite). Returns how many connections it went to.
    pub fn inject(&self, msg: M) -> usize {
        let mut live = lock(&self.live);
        live.retain(|tx| !tx.is_closed());
        live.iter().filter(|tx| tx.send(msg.clone()).is_ok()).count()
    }

    /// Messages received in this direction so far, before rewriting.
    pub fn seen(&self) -> u64 {
        self.seen.load(Ordering::SeqCst)
    }

    fn apply(&self, m: M) -> Vec<M> {
        self.seen.fetch_add(1, Ordering::SeqCst);
        (lock(&self.rewrite))(m)
    }

    fn attach(&self) -> mpsc::UnboundedReceiver<M> {
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.live).push(tx);
        rx
    }
}

/// A running man-in-the-middle. Dropping it (or [`Mitm::shutdown`]) stops listening and cuts
/// every connection through it.
pub struct Mitm<Up: Message, Down: Message> {
    /// Where clients connect instead of the upstream role.
    pub addr: SocketAddr,
    /// What the client sends upstream.
    pub up: Tap<Up>,
    /// What the upstream role sends back.
    pub down: Tap<Down>,
    /// Client connections accepted whose upstream connection was also established.
    pub connections: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl<Up: Message, Down: Message> Mitm<Up, Down> {
    /// Listens on `listen` (port 0: a free one) presenting `listen_as` to clients (who must
    /// present a certificate of the same CA), and for each client dials `upstream` (expecting
    /// its certificate to name `upstream_name`) presenting `connect_as`. Both taps start
    /// passing everything.
    pub async fn start(
        listen: &str,
        listen_as: &Identity,
        upstream: &str,
        upstream_name: &str,
        connect_as: &Identity,
    ) -> std::io::Result<Self> {
        let server_tls = listen_as.server_config().map_err(std::io::Error::other)?;
        let client_tls = connect_as.client_config().map_err(std::io::Error::other)?;
        let listener = Listener::bind(listen, server_tls).await?;
        let addr = listener.local_addr()?;
        let (up, down) = (Tap::<Up>::pass(), Tap::<Down>::pass());
        let connections = Arc::new(AtomicU64::new(0));
        let task = {
            let (up, down, connections) = (up.clone(), down.clone(), connections.clone());
            let (upstream, upstream_name) = (upstream.to_owned(), upstream_name.to_owned());
            tokio::spawn(async move {
                let acceptor = listener.acceptor();
                // Connection tasks live in this set, so aborting the accept task cuts them too.
                let mut conns = JoinSet::new();
                loop {
                    let (tcp, peer) = tokio::select! {
                        accepted = listener.accept_tcp() => match accepted {
                            Ok(c) => c,
                            Err(_) => continue,
                        },
                        Some(_) = conns.join_next() => continue,
                    };
                    let (acceptor, client_tls) = (acceptor.clone(), client_tls.clone());
                    let (up, down, connections) = (up.clone(), down.clone(), connections.clone());
                    let (upstream, upstream_name) = (upstream.clone(), upstream_name.clone());
                    conns.spawn(async move {
                        let Ok(client) = handshake(&acceptor, tcp, peer).await else { return };
                        let Ok((up_reader, up_writer)) = connect(&upstream, &upstream_name, client_tls).await else { return };
                        connections.fetch_add(1, Ordering::SeqCst);
                        // Either direction ending ends the connection: dropping both pumps
                        // closes both sockets.
                        tokio::select! {
                            () = pump(client.reader, up_writer, up) => {}
                            () = pump(up_reader, client.writer, down) => {}
                        }
                    });
                }
            })
        };
        Ok(Self { addr, up, down, connections, task })
    }

    /// Stops listening and cuts every connection.
    pub fn shutdown(self) {}
}

impl<Up: Message, Down: Message> Drop for Mitm<Up, Down> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Forwards one direction: decodes each frame, rewrites it through `tap`, sends the result, and
/// sends injected messages as they come. Ends when either side closes or fails.
async fn pump<M, R, W>(reader: FramedReader<R>, mut writer: FramedWriter<W>, tap: Tap<M>)
where
    M: Message,
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send,
{
    // The reader runs in its own task so that waiting for injections never cancels a
    // half-read frame; it is aborted with this future, which releases its half of the socket.
    let (tx, mut rx) = mpsc::channel::<M>(1024);
    let _reader = AbortOnDrop(tokio::spawn(async move {
        let mut reader = reader;
        while let Ok(Some(m)) = M::recv(&mut reader).await {
            if tx.send(m).await.is_err() {
                break;
            }
        }
    }));
    let mut injected = tap.attach();
    loop {
        let out = tokio::select! {
            m = rx.recv() => match m {
                Some(m) => tap.apply(m),
                None => return,
            },
            Some(m) = injected.recv() => vec![m],
        };
        for m in out {
            if M::send(&mut writer, &m).await.is_err() {
                return;
            }
        }
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
