//! What the hub does when trust changes under running sessions, and with peers it turns away.
//!
//! - A new CRL ([`on_crl_event`]): every alarm of the CRL watch is raised in the registry, and
//!   each command still waiting for its result whose issuer is now refused gets a signed
//!   refusal and is forgotten, so a late result cannot complete it.
//! - A revoked peer in session ([`guard`]): edge and connector sessions are closed as soon as
//!   the CRL that revokes them is loaded.
//! - Refused peers ([`refused`]): one alarm per remote address and reason per window, however
//!   many source ports it tries, with the count of the rest.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use gridtrust_api::timefmt::rfc3339_system;
use gridtrust_model::{CommandOutcome, CommandResult, Timestamp};
use gridtrust_pki::{CrlEvent, PeerIdentity, Purpose};
use gridtrust_transport::identity::SessionGuard;
use gridtrust_transport::{Closer, RefusalReason};
use gridtrust_trust::Hash;

use crate::alarms::{AlarmKind, Severity};
use crate::pending::PendingCommand;
use crate::server::{State, lock, refuse_signed};

/// Raises the CRL watch's alarms; after a reload, refuses pending commands of revoked issuers.
pub(crate) fn on_crl_event(state: &Arc<State>, event: &CrlEvent) {
    let (severity, message) = match event {
        CrlEvent::Reloaded { .. } => {
            tokio::spawn(refuse_revoked_pending(state.clone()));
            return;
        }
        CrlEvent::Refused { path, reason } => {
            (Severity::Critical, format!("new CRL {} refused, the previous CRL stays in use: {reason}", path.display()))
        }
        CrlEvent::NextUpdateNear { next_update } => {
            (Severity::Major, format!("the CRL's nextUpdate ({}) is near: publish a new CRL", rfc3339_system(*next_update)))
        }
        CrlEvent::NextUpdatePassed { next_update } => (
            Severity::Critical,
            format!(
                "the CRL expired at its nextUpdate ({}): every peer is refused until a new CRL is published",
                rfc3339_system(*next_update)
            ),
        ),
    };
    state.alarm(severity, "hub", AlarmKind::Crl, message, None);
}

/// Answers every pending command whose issuer no longer validates with a refusal signed by the
/// hub, and forgets it.
async fn refuse_revoked_pending(state: Arc<State>) {
    let refused: Vec<(Hash, PendingCommand, String)> =
        lock(&state.pending).take_where(|p| state.identity.validate(&p.issuer).err().map(|e| e.to_string()));
    for (digest, p, reason) in refused {
        let reason = format!("issuer certificate no longer valid while the command was pending: {reason}");
        state.alarm(Severity::Major, "hub", AlarmKind::Command, format!("pending command {} refused: {reason}", p.command_id), None);
        let result = CommandResult {
            command_id: p.command_id,
            edge: p.edge.clone(),
            action: p.action,
            outcome: CommandOutcome::Refused { by: "hub".into(), reason },
            at: Timestamp::now(),
        };
        refuse_signed(&state, &p.reply, digest, result).await;
    }
}

/// Closes the session of `peer` when its certificate stops validating, with an alarm.
pub(crate) fn guard(
    state: &Arc<State>,
    peer_certificates: Vec<rustls_pki_types::CertificateDer<'static>>,
    closer: Closer,
    peer: &PeerIdentity,
) -> SessionGuard {
    let (st, name, who) = (state.clone(), peer.name.clone(), peer.to_string());
    state.identity.guard(peer_certificates, Purpose::TlsClient, closer, move |reason| {
        st.alarm(
            Severity::Major,
            &name,
            AlarmKind::Peer,
            format!("{who} disconnected: its certificate no longer validates: {reason}"),
            None,
        );
    })
}

/// Notes a peer turned away; raises an alarm only when the [`gridtrust_transport::RefusalLog`]
/// says so.
pub(crate) fn refused(state: &State, peer: SocketAddr, reason: RefusalReason, detail: &str) {
    state.stats.peers_refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let Some(silent) = lock(&state.refusals).note(peer.ip(), reason, Instant::now()) else {
        tracing::debug!(%peer, reason = reason.as_str(), detail, "peer refused (counted, alarm already raised)");
        return;
    };
    let ip = peer.ip();
    let more = if silent > 0 { format!(" ({silent} more refused for this reason since the last alarm)") } else { String::new() };
    state.alarm(Severity::Major, "hub", AlarmKind::Peer, format!("peer {ip} refused: {}: {detail}{more}", reason.as_str()), None);
}
