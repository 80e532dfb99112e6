//! The edge's command gate: the last check before a command reaches a device, and the one that
//! must hold even if the hub is compromised.
//!
//! A command passes only if all of these hold, checked in this order:
//! 1. the issuer certificate is valid (chain to the operator CA, validity, not revoked), holds a
//!    role that may operate (OPERATOR, ENGINEER), and is a control-centre connector signing with
//!    its key, or a person (operator certificate) signing with their passkey, or, only where
//!    `[commands] console_fallback` allows it, the hub's console key signing for a person;
//! 2. the issuer's signature verifies, or the person's WebAuthn assertion does: for the
//!    configured relying party id and origins, user present and verified, the command digest
//!    as its challenge (see [`gridtrust_trust::webauthn`]);
//! 3. the hub's authorisation is present, its certificate is a valid hub certificate, and its
//!    countersignature verifies;
//! 4. the authorised command is in the hub's transparency log: its inclusion proof leads to a
//!    checkpoint signed by that same hub certificate, and the checkpoint extends the last one
//!    this edge accepted (kept on disk; a hub that keeps a command out of its log, or shows
//!    this edge another history than connectors see, cannot have it executed);
//! 5. the command decodes, names this edge as its target (a command for another edge's point
//!    is never executed here, even with the same point id), is not expired, was not issued in
//!    the future (beyond the allowed skew), and its validity is no longer than the edge allows
//!    (which bounds the replay cache);
//! 6. its nonce was never seen and it expires after the replay cache's low-water mark: the
//!    nonce is recorded durably before the command is released.
//!
//! Every refusal is logged with its reason (target `alarm`) and answered with a signed result.

use std::time::Duration;

use serde::Deserialize;
use tracing::{info, warn};

use std::sync::Mutex;

use gridtrust_model::{Command, Timestamp};
use gridtrust_pki::{IdentityKind, PeerIdentity, Role, authorize, check_command_issuer};
use gridtrust_store::{Admission, CheckpointFile, ReplayCache};
use gridtrust_trust::checkpoint::{CheckpointTracker, EntryInLog};
use gridtrust_trust::command::{IssuerProof, SignedCommand};
use gridtrust_trust::webauthn::{RelyingParty, WebAuthnConfig};

/// How the gate validates certificates: the edge's trust anchors (CA and CRL).
pub trait CertificateCheck: Send + Sync {
    /// Validates a DER certificate for signing use now and says whom it identifies.
    fn check(&self, certificate: &[u8]) -> Result<PeerIdentity, String>;
}

/// Limits on command freshness.
#[derive(Clone, Copy, Debug)]
pub struct Freshness {
    /// Clock difference tolerated between cc and edge.
    pub max_skew: Duration,
    /// Longest validity (expires_at − issued_at) accepted.
    pub max_validity: Duration,
}

impl Default for Freshness {
    fn default() -> Self {
        Self { max_skew: Duration::from_secs(5), max_validity: Duration::from_secs(300) }
    }
}

/// The `[commands]` table of the edge configuration: whose signatures the gate accepts besides
/// control-centre connectors'.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CommandsConfig {
    /// People's passkey assertions: for which relying party and origins (absent: refused).
    pub webauthn: Option<WebAuthnConfig>,
    /// Accepts commands signed with the hub's console key (an operator certificate whose key
    /// sits at the hub). Off by default: a hub that is taken over could sign any command with it.
    pub console_fallback: bool,
}

/// Checks signed commands and remembers their nonces.
pub struct CommandGate {
    /// This edge: the only target it executes commands for.
    edge_id: String,
    certificates: std::sync::Arc<dyn CertificateCheck>,
    replay: ReplayCache,
    freshness: Freshness,
    /// The last log checkpoint this edge accepted, and where it is kept.
    log: Mutex<CheckpointTracker>,
    checkpoint_file: CheckpointFile,
    relying_party: RelyingParty,
    console_fallback: bool,
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

impl CommandGate {
    /// A gate for `edge_id` over the given replay cache; `log` is the tracker resumed from
    /// `checkpoint_file` ([`CheckpointFile::load`]); `commands` says whose signatures it takes
    /// besides control-centre connectors'.
    pub fn new(
        edge_id: String,
        certificates: std::sync::Arc<dyn CertificateCheck>,
        replay: ReplayCache,
        freshness: Freshness,
        log: CheckpointTracker,
        checkpoint_file: CheckpointFile,
        commands: &CommandsConfig,
    ) -> Self {
        if commands.console_fallback {
            warn!(target: "alarm", "[commands] console_fallback is on: commands signed with the hub's console key are accepted, \
                 so a hub that is taken over can operate this edge's devices");
        }
        let relying_party = commands.webauthn.as_ref().map(WebAuthnConfig::relying_party).unwrap_or_default();
        Self {
            edge_id,
            certificates,
            replay,
            freshness,
            log: Mutex::new(log),
            checkpoint_file,
            relying_party,
            console_fallback: commands.console_fallback,
        }
    }

    /// The tree size of the last log checkpoint this edge accepted: the hub proves consistency
    /// from there.
    pub fn checkpoint_size(&self) -> Option<u64> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).last().map(|c| c.checkpoint.tree_size)
    }

    /// Runs every check; returns the command to execute or the reason to refuse.
    pub fn admit(&self, signed: &SignedCommand, in_log: &EntryInLog, now: Timestamp) -> Result<Command, String> {
        let issuer = self.certificates.check(signed.issuer.certificate()).map_err(|e| format!("issuer certificate: {e}"))?;
        let kinds: &[IdentityKind] = match &signed.issuer {
            IssuerProof::Passkey(_) => &[IdentityKind::Operator],
            IssuerProof::Key(_) if self.console_fallback => &[IdentityKind::Cc, IdentityKind::Operator],
            IssuerProof::Key(_) => &[IdentityKind::Cc],
        };
        authorize(&issuer, kinds, Role::OPERATING).map_err(|e| format!("issuer not allowed: {e}"))?;
        signed.verify_issuer(&issuer.public_key, &self.relying_party).map_err(|e| e.to_string())?;
        let auth = signed.authorization.as_ref().ok_or("no hub authorisation")?;
        let hub = self.certificates.check(&auth.certificate).map_err(|e| format!("hub certificate: {e}"))?;
        authorize(&hub, &[IdentityKind::Hub], &Role::ALL).map_err(|e| format!("authoriser not allowed: {e}"))?;
        signed.verify_authorization(&hub.public_key).map_err(|e| e.to_string())?;
        self.check_in_log(signed, in_log, &hub)?;
        let command = signed.command().map_err(|e| e.to_string())?;
        if command.edge != self.edge_id {
            return Err(format!("command is for edge {}, not for this edge {}", command.edge, self.edge_id));
        }
        if command.expires_at.0 < now.0 {
            return Err(format!("command expired {} ms ago", (now.0 - command.expires_at.0) / 1_000_000));
        }
        if command.issued_at.0 > now.0.saturating_add(nanos(self.freshness.max_skew)) {
            return Err("command issued in the future (clock skew too large)".into());
        }
        if command.expires_at.0.saturating_sub(command.issued_at.0) > nanos(self.freshness.max_validity) {
            return Err(format!("command validity exceeds {} s", self.freshness.max_validity.as_secs()));
        }
        check_command_issuer(&issuer, &signed.issuer, &command.issuer, &command.role).map_err(|e| e.to_string())?;
        // Recorded before release: a crash after this can lose the command, never repeat it.
        match self.replay.admit(&command.nonce, command.expires_at) {
            Ok(Admission::Fresh) => {}
            Ok(Admission::Replayed) => return Err("replayed command (nonce seen before)".into()),
            Ok(Admission::BeforeMemory { low_water }) => {
                return Err(format!("command expires before the replay cache's low-water mark {} ns (clock stepped back?)", low_water.0));
            }
            Err(e) => return Err(format!("replay cache unavailable: {e}")),
        }
        info!(command_id = command.id, point = %command.point, issuer = %issuer, hub = %hub.name, "command admitted");
        Ok(command)
    }

    /// Step 4: the authorised command's log entry is included under a checkpoint signed by the
    /// authorising hub, consistent with the last one accepted here, which is then kept.
    fn check_in_log(&self, signed: &SignedCommand, in_log: &EntryInLog, hub: &PeerIdentity) -> Result<(), String> {
        if in_log.checkpoint.signature.signer != hub.certificate_id {
            return Err("log checkpoint is not signed by the hub that authorised the command".into());
        }
        let entry = signed.log_entry().map_err(|e| e.to_string())?;
        let mut tracker = self.log.lock().unwrap_or_else(|p| p.into_inner());
        in_log.verify(&entry, &mut tracker, &hub.public_key).map_err(|e| format!("command not proven in the hub's log: {e}"))?;
        if let Some(last) = tracker.last() {
            self.checkpoint_file.save(last).map_err(|e| format!("cannot keep the log checkpoint: {e}"))?;
        }
        Ok(())
    }

    /// Drops nonces whose commands can no longer be accepted anyway.
    pub fn prune(&self, now: Timestamp) {
        let before = Timestamp(now.0.saturating_sub(nanos(self.freshness.max_skew)));
        if let Err(e) = self.replay.prune(before) {
            warn!(error = %e, "replay cache prune failed");
        }
    }
}
