//! Watching a link without standing in its path: what the drivers call with the bytes they read
//! and write. No runtime here, so a monitor (the intrusion detector) needs none either.

/// Sees every byte a link receives and sends, in order, after TLS: how a monitor (the intrusion
/// detector at the cc) watches a connection without standing in its path. Called on the link's
/// task, so it must be quick; it cannot change or hold up what is sent.
pub trait LinkTap: Send {
    /// Bytes read from the peer.
    fn received(&mut self, bytes: &[u8]);
    /// Bytes written to the peer.
    fn sent(&mut self, bytes: &[u8]);
    /// The connection is closed; nothing more follows.
    fn closed(&mut self);
}

/// Makes a [`LinkTap`] for each connection a server accepts or a client opens.
pub trait TapFactory: Send + Sync {
    /// A tap for the connection between `local` and `peer`, or none when this one is not watched.
    fn open(&self, peer: std::net::SocketAddr, local: std::net::SocketAddr) -> Option<Box<dyn LinkTap>>;
}
