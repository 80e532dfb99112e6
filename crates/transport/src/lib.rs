//! How the roles talk to each other: the [`messages`] each hop carries and the [`stream`] that
//! carries them (length-prefixed frames over mutual TLS 1.3), and the point registry each role
//! holds and checks itself ([`authority`]).
//!
//! Evidence is end to end: a [`gridtrust_trust::SignedBatch`] crosses the hub unchanged, so the
//! transport only has to deliver it (at least once; the hub applies idempotently by edge and
//! sequence). Other transports (NATS JetStream, MQTT, XMPP) will carry the same messages.

pub mod authority;
pub mod identity;
pub mod messages;
pub mod stream;

pub use messages::{CcToHub, EdgeToHub, HubToCc, HubToEdge, PROTOCOL_VERSION};
pub use stream::{
    Accepted, Admission, Closer, Connected, ConnectionSlot, FrameError, FramedReader, FramedWriter, Incoming, Listener, ListenerLimits,
    RefusalLog, RefusalReason, connect, connect_closable, encode_frame, handshake,
};

/// How a role reaches the role upstream of it (edge → hub, cc → hub): address and the name in
/// the peer's certificate. The role's own certificate and key come from its
/// [`identity::IdentityConfig`].
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upstream {
    /// `host:port`.
    pub address: String,
    /// The name the peer's certificate must carry.
    #[serde(default = "default_upstream_name")]
    pub server_name: String,
}

fn default_upstream_name() -> String {
    "hub".to_owned()
}
