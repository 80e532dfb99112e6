//! How the roles talk to each other: the [`messages`] each hop carries and the [`stream`] that
//! carries them (length-prefixed frames over mutual TLS 1.3).
//!
//! Evidence is end to end: a [`gridtrust_trust::SignedBatch`] crosses the hub unchanged, so the
//! transport only has to deliver it (at least once; the hub applies idempotently by edge and
//! sequence). Other transports (NATS JetStream, MQTT, XMPP) will carry the same messages.

pub mod messages;
pub mod stream;

pub use messages::{CcToHub, EdgeToHub, HubToCc, HubToEdge, PROTOCOL_VERSION};
pub use stream::{FrameError, FramedReader, FramedWriter, Listener, connect, handshake};
