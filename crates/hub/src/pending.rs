//! Commands the hub sent to an edge and awaits results for, bounded in time and in number.
//!
//! An entry ends with the command's last result (a refusal, a select's confirmation, an
//! execute's termination), or [`PENDING_GRACE_NS`] after the command's own expiry: an edge that
//! died between confirming and terminating must not keep it forever. At most [`MAX_PENDING`]
//! are held; beyond that the hub refuses new commands (counted and alarmed by the caller) rather
//! than grow without bound.

use std::collections::HashMap;

use gridtrust_model::{CommandAction, Timestamp};
use gridtrust_trust::Hash;
use tokio::sync::mpsc;

use gridtrust_transport::HubToCc;

/// Commands awaiting a result at once, across all edges. SCADA operators issue a few per
/// minute; a full table means results are not coming back.
pub const MAX_PENDING: usize = 4096;

/// How long after its expiry a command may still be terminated by the device (a slow breaker
/// or tap changer): 5 minutes.
pub const PENDING_GRACE_NS: i64 = 300_000_000_000;

/// One command awaiting its result.
#[derive(Clone, Debug)]
pub(crate) struct PendingCommand {
    pub reply: mpsc::Sender<HubToCc>,
    pub edge: String,
    /// The issuer's certificate (DER), checked again when the CRL changes.
    pub issuer: Vec<u8>,
    pub command_id: u64,
    pub action: CommandAction,
    /// The command's own expiry; the entry is dropped [`PENDING_GRACE_NS`] after it.
    pub expires_at: Timestamp,
}

/// The table is full: the command is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{MAX_PENDING} commands already await a result; refused until results come back")]
pub(crate) struct PendingFull;

/// Pending commands by command digest.
#[derive(Debug, Default)]
pub(crate) struct PendingCommands {
    by_digest: HashMap<Hash, PendingCommand>,
}

impl PendingCommands {
    /// Adds a command sent now, first dropping those past their grace.
    pub fn insert(&mut self, digest: Hash, command: PendingCommand, now: Timestamp) -> Result<(), PendingFull> {
        self.prune(now);
        if self.by_digest.len() >= MAX_PENDING && !self.by_digest.contains_key(&digest) {
            return Err(PendingFull);
        }
        self.by_digest.insert(digest, command);
        Ok(())
    }

    /// Drops the commands whose grace after expiry has passed; returns how many.
    pub fn prune(&mut self, now: Timestamp) -> usize {
        let before = self.by_digest.len();
        self.by_digest.retain(|_, p| p.expires_at.0.saturating_add(PENDING_GRACE_NS) > now.0);
        before - self.by_digest.len()
    }

    pub fn get(&self, digest: &Hash) -> Option<&PendingCommand> {
        self.by_digest.get(digest)
    }

    pub fn remove(&mut self, digest: &Hash) -> Option<PendingCommand> {
        self.by_digest.remove(digest)
    }

    /// Removes and returns every command `refuse` names a reason for.
    pub fn take_where(&mut self, mut refuse: impl FnMut(&PendingCommand) -> Option<String>) -> Vec<(Hash, PendingCommand, String)> {
        let chosen: Vec<(Hash, String)> = self.by_digest.iter().filter_map(|(d, p)| refuse(p).map(|r| (*d, r))).collect();
        chosen.into_iter().filter_map(|(d, r)| self.by_digest.remove(&d).map(|p| (d, p, r))).collect()
    }

    pub fn len(&self) -> usize {
        self.by_digest.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn command(expires_at: i64) -> PendingCommand {
        let (reply, _) = mpsc::channel(1);
        PendingCommand {
            reply,
            edge: "edge-1".into(),
            issuer: vec![],
            command_id: 1,
            action: CommandAction::Execute,
            expires_at: Timestamp(expires_at),
        }
    }

    fn digest(i: usize) -> Hash {
        let mut d = [0; 32];
        d[..8].copy_from_slice(&(i as u64).to_be_bytes());
        d
    }

    #[test]
    fn a_command_never_terminated_is_dropped_after_its_grace() {
        let mut p = PendingCommands::default();
        p.insert(digest(1), command(10 * S), Timestamp(0)).unwrap();
        assert_eq!(p.prune(Timestamp(10 * S + PENDING_GRACE_NS - 1)), 0, "still within its grace");
        assert!(p.get(&digest(1)).is_some());
        assert_eq!(p.prune(Timestamp(10 * S + PENDING_GRACE_NS)), 1);
        assert_eq!(p.len(), 0);
    }

    #[test]
    fn the_table_is_bounded_and_frees_up_as_commands_expire() {
        let mut p = PendingCommands::default();
        for i in 0..MAX_PENDING {
            p.insert(digest(i), command(10 * S), Timestamp(0)).unwrap();
        }
        assert_eq!(p.insert(digest(MAX_PENDING), command(10 * S), Timestamp(S)), Err(PendingFull));
        assert_eq!(p.len(), MAX_PENDING);
        // Past their grace, the old ones make room.
        p.insert(digest(MAX_PENDING), command(20 * PENDING_GRACE_NS), Timestamp(10 * S + PENDING_GRACE_NS)).unwrap();
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn take_where_removes_only_the_chosen() {
        let mut p = PendingCommands::default();
        for i in 0..3 {
            p.insert(digest(i), PendingCommand { command_id: i as u64, ..command(10 * S) }, Timestamp(0)).unwrap();
        }
        let taken = p.take_where(|c| (c.command_id == 1).then(|| "revoked".to_owned()));
        assert_eq!(taken.len(), 1);
        assert_eq!((taken[0].1.command_id, taken[0].2.as_str()), (1, "revoked"));
        assert_eq!(p.len(), 2);
    }
}
