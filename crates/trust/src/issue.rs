//! Where every new command and decision gets its id and nonce: one place, failing closed. A
//! command's nonce is what makes a replay recognisable and its id what results refer to; without
//! randomness there is no command, never a predictable or time-derived id or nonce.

use gridtrust_model::{Command, CommandAction, CommandValue, PointId, Timestamp};

/// The system has no randomness to give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no randomness for an id or nonce: nothing is issued")]
pub struct NoRandomness;

/// A source of unpredictable bytes: the system's, or in tests one that fails.
pub trait Randomness: Send + Sync {
    fn fill(&self, dest: &mut [u8]) -> Result<(), NoRandomness>;
}

/// The operating system's generator.
#[derive(Debug)]
pub struct SystemRandomness(ring::rand::SystemRandom);

impl Default for SystemRandomness {
    fn default() -> Self {
        Self(ring::rand::SystemRandom::new())
    }
}

impl Randomness for SystemRandomness {
    fn fill(&self, dest: &mut [u8]) -> Result<(), NoRandomness> {
        ring::rand::SecureRandom::fill(&self.0, dest).map_err(|_| NoRandomness)
    }
}

/// A fresh 16-byte nonce.
pub fn nonce(random: &dyn Randomness) -> Result<[u8; 16], NoRandomness> {
    let mut nonce = [0u8; 16];
    random.fill(&mut nonce)?;
    Ok(nonce)
}

/// What a new command asks; [`Intent::issue`] makes it a command.
#[derive(Clone, Debug, PartialEq)]
pub struct Intent {
    pub point: PointId,
    /// The edge that must execute it (the point's owner in the point registry).
    pub edge: String,
    pub action: CommandAction,
    pub value: CommandValue,
    /// On whose behalf ([`gridtrust_pki`]'s `CommandIssuer` text) and in which role.
    pub issuer: String,
    pub role: String,
}

impl Intent {
    /// The command, issued `now` and void `validity_ns` later, with a fresh random id (53 bits,
    /// so it survives a JavaScript number) and nonce.
    pub fn issue(self, random: &dyn Randomness, now: Timestamp, validity_ns: i64) -> Result<Command, NoRandomness> {
        let mut id = [0u8; 8];
        random.fill(&mut id)?;
        Ok(Command {
            id: u64::from_be_bytes(id) & ((1 << 53) - 1),
            nonce: nonce(random)?,
            point: self.point,
            edge: self.edge,
            action: self.action,
            value: self.value,
            issuer: self.issuer,
            role: self.role,
            issued_at: now,
            expires_at: Timestamp(now.0.saturating_add(validity_ns)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Broken;

    impl Randomness for Broken {
        fn fill(&self, _: &mut [u8]) -> Result<(), NoRandomness> {
            Err(NoRandomness)
        }
    }

    fn intent() -> Intent {
        Intent {
            point: PointId::new("F1/XCBR1.Pos").unwrap(),
            edge: "edge-1".into(),
            action: CommandAction::Select,
            value: CommandValue::Single(true),
            issuer: "cc-1/scada-ip:10.0.0.5".into(),
            role: "OPERATOR".into(),
        }
    }

    #[test]
    fn without_randomness_nothing_is_issued() {
        assert_eq!(intent().issue(&Broken, Timestamp(1), 10), Err(NoRandomness));
        assert_eq!(nonce(&Broken), Err(NoRandomness));
    }

    #[test]
    fn commands_get_distinct_ids_and_nonces_that_fit_a_javascript_number() {
        let random = SystemRandomness::default();
        let (a, b) = (intent().issue(&random, Timestamp(1), 10).unwrap(), intent().issue(&random, Timestamp(1), 10).unwrap());
        assert_ne!((a.id, a.nonce), (b.id, b.nonce));
        assert!(a.id < 1 << 53 && b.id < 1 << 53);
        assert_eq!(a.expires_at, Timestamp(11));
    }
}
