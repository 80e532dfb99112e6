//! The hub's command policy (sans-IO): who may operate what, and how often. The hub countersigns
//! only commands that pass; the edge refuses any command without that countersignature.
//!
//! Checks, in order: the issuer is a control-centre connector, a person signing with their passkey
//! or the hub's console (both operator certificates) holding an operating role (IEC 62351-8
//! OPERATOR or ENGINEER); the command names that issuer (a person: their certificate's name; the
//! console: `<console>/<person>` with the person's operating role); the point is not blocked
//! (maintenance, interlock set by the operator); the issuer stays within its rate limit.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde::Deserialize;

use gridtrust_model::{Command, PointId};
use gridtrust_pki::{IdentityKind, PeerIdentity, Role, authorize, check_command_issuer};
use gridtrust_trust::command::IssuerProof;

/// The `[policy]` table of the hub configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Points no command may operate (under maintenance, interlocked).
    pub blocked_points: Vec<PointId>,
    /// Commands one issuer may send per minute (select and execute count separately).
    pub max_commands_per_minute: u32,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self { blocked_points: Vec::new(), max_commands_per_minute: 120 }
    }
}

/// The policy state: configuration plus each issuer's recent commands.
pub struct Policy {
    config: PolicyConfig,
    recent: HashMap<String, VecDeque<Instant>>,
}

impl Policy {
    /// A policy with no history.
    pub fn new(config: PolicyConfig) -> Self {
        Self { config, recent: HashMap::new() }
    }

    /// Decides on one command from `issuer` (whose certificate and signature or assertion,
    /// `proof`, were already verified); a refusal says why.
    pub fn check(&mut self, issuer: &PeerIdentity, proof: &IssuerProof, command: &Command, now: Instant) -> Result<(), String> {
        authorize(issuer, &[IdentityKind::Cc, IdentityKind::Operator], Role::OPERATING).map_err(|e| e.to_string())?;
        check_command_issuer(issuer, proof, &command.issuer, &command.role).map_err(|e| e.to_string())?;
        if self.config.blocked_points.contains(&command.point) {
            return Err(format!("point {} is blocked", command.point));
        }
        let window = self.recent.entry(issuer.name.clone()).or_default();
        while window.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60)) {
            window.pop_front();
        }
        if window.len() >= self.config.max_commands_per_minute as usize {
            return Err(format!("rate limit: {} commands per minute", self.config.max_commands_per_minute));
        }
        window.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridtrust_model::{CommandAction, CommandValue, Timestamp};
    use gridtrust_pki::Serial;

    fn identity(kind: IdentityKind, roles: Vec<Role>) -> PeerIdentity {
        PeerIdentity {
            kind,
            name: "cc-1".into(),
            roles,
            serial: Serial::from_be_bytes(&[1]),
            certificate_id: [0; 32],
            public_key: vec![4; 65],
            not_after: std::time::SystemTime::now(),
        }
    }

    fn command(point: &str) -> Command {
        Command {
            id: 1,
            nonce: [0; 16],
            point: PointId::new(point).unwrap(),
            edge: "edge-1".into(),
            action: CommandAction::Execute,
            value: CommandValue::Single(true),
            issuer: "cc-1/scada:scada-1".into(),
            role: "OPERATOR".into(),
            issued_at: Timestamp(0),
            expires_at: Timestamp(1),
        }
    }

    impl Policy {
        /// A command signed with a key (the proof is not looked at beyond its kind).
        fn check_key(&mut self, issuer: &PeerIdentity, command: &Command, now: Instant) -> Result<(), String> {
            let key = IssuerProof::Key(gridtrust_trust::command::Endorsement {
                signature: gridtrust_trust::evidence::Signature { algorithm: String::new(), signer: [0; 32], bytes: vec![] },
                certificate: vec![],
            });
            self.check(issuer, &key, command, now)
        }
    }

    #[test]
    fn viewer_edge_blocked_and_rate_limit_are_refused() {
        let mut policy =
            Policy::new(PolicyConfig { blocked_points: vec![PointId::new("E1/XCBR2.Pos").unwrap()], max_commands_per_minute: 2 });
        let now = Instant::now();
        let operator = identity(IdentityKind::Cc, vec![Role::Operator]);
        assert!(policy.check_key(&identity(IdentityKind::Cc, vec![Role::Viewer]), &command("E1/XCBR1.Pos"), now).is_err());
        assert!(policy.check_key(&identity(IdentityKind::Edge, vec![Role::Operator]), &command("E1/XCBR1.Pos"), now).is_err());
        // The console signs for a person, who must be named and hold an operating role.
        let mut console = identity(IdentityKind::Operator, vec![Role::Operator]);
        console.name = "console".into();
        let mut for_person = command("E1/XCBR1.Pos");
        assert!(policy.check_key(&console, &for_person, now).unwrap_err().contains("signed by console"));
        for_person.issuer = "console".into();
        assert!(policy.check_key(&console, &for_person, now).unwrap_err().contains("<person>"));
        for_person.issuer = "console/alice".into();
        for_person.role = "VIEWER".into();
        assert!(policy.check_key(&console, &for_person, now).unwrap_err().contains("may not operate"));
        for_person.role = "OPERATOR".into();
        assert_eq!(policy.check_key(&console, &for_person, now), Ok(()));
        assert!(policy.check_key(&operator, &command("E1/XCBR2.Pos"), now).unwrap_err().contains("blocked"));
        assert_eq!(policy.check_key(&operator, &command("E1/XCBR1.Pos"), now), Ok(()));
        assert_eq!(policy.check_key(&operator, &command("E1/XCBR1.Pos"), now), Ok(()));
        assert!(policy.check_key(&operator, &command("E1/XCBR1.Pos"), now).unwrap_err().contains("rate limit"));
        assert_eq!(policy.check_key(&operator, &command("E1/XCBR1.Pos"), now + Duration::from_secs(61)), Ok(()));
    }
}
