//! The machine listener: HTTPS with a required client certificate (validated against the
//! operator CA and CRL by rustls), whose identity and IEC 62351-8 roles stand in for a login.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use tokio::net::TcpListener;
use tracing::debug;

use crate::backend::{Actor, Backend};
use crate::tls::TlsListener;

/// Who is on the other end of a machine connection.
#[derive(Clone, Debug)]
pub struct MachinePeer {
    /// Client address.
    pub addr: SocketAddr,
    /// The certificate's identity, or why it is not accepted.
    pub identity: Result<Actor, String>,
}

/// Accepts mutual-TLS connections and hands them to axum with their [`MachinePeer`].
pub type MachineListener = TlsListener<MachinePeer>;

/// Starts accepting on `tcp` with `tls` (which must require client certificates).
pub fn listen(tcp: TcpListener, tls: Arc<rustls::ServerConfig>, backend: Arc<dyn Backend>) -> std::io::Result<MachineListener> {
    let local = MachinePeer { addr: tcp.local_addr()?, identity: Err("the listener itself".into()) };
    let identify = Arc::new(move |conn: &rustls::ServerConnection, addr: SocketAddr| {
        let chain = conn.peer_certificates().map(<[_]>::to_vec).unwrap_or_default();
        let identity = backend.machine_identity(&chain);
        debug!(%addr, ?identity, "machine connected");
        MachinePeer { addr, identity }
    });
    Ok(TlsListener::new(tcp, tls, local, identify))
}

impl Connected<IncomingStream<'_, MachineListener>> for MachinePeer {
    fn connect_info(stream: IncomingStream<'_, MachineListener>) -> Self {
        stream.remote_addr().clone()
    }
}
