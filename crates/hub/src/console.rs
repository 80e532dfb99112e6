//! Commands from people, through the API.
//!
//! People are not PKI identities: they log in with a password. So the hub holds a **console
//! identity**, an operator certificate (kind Operator, role OPERATOR) with its own key, and
//! signs each web command with it, naming the person as `<console>/<username>` and the role
//! they act in. The command then takes the same path as a control-centre command: the hub's
//! policy checks it and countersigns, the edge checks both signatures, freshness and replay.
//!
//! **The trade-off:** the console key sits at the hub, so a compromised hub can issue
//! commands that the edge will accept, which it cannot do with connector commands (signed
//! with a key at the control centre). The edge still sees and logs which console signed, the
//! hub logs every command in the transparency log, and the console certificate can be revoked
//! on its own (CRL) without touching the hub's. Sites that do not accept this run without
//! `[api.console]`: the API then refuses commands (503) and operators use SCADA.
//!
//! States follow the results: `pending` until the first result, `confirmed` (device accepted
//! the select or the execute), `terminated` (execution finished), `refused` (by hub, edge or
//! device, with the reason), `timeout` (no result before the command expired).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use ring::rand::{SecureRandom, SystemRandom};
use tokio::sync::broadcast;

use gridtrust_api::ApiError;
use gridtrust_api::backend::Actor;
use gridtrust_api::command::parse_request;
use gridtrust_api::dto::{CommandItem, CommandRequest, CommandValueDto, LiveEvent};
use gridtrust_api::timefmt::rfc3339;
use gridtrust_model::{Command, CommandAction, CommandOutcome, CommandResult, Timestamp};
use gridtrust_pki::{CommandIssuer, Role};
use gridtrust_transport::identity::Identity;
use gridtrust_trust::Hash;
use gridtrust_trust::command::SignedCommand;

/// How long a web command stays valid (the edge refuses it afterwards).
pub const COMMAND_VALIDITY_NS: i64 = 30_000_000_000;
/// How long after expiry a command without any result is declared timed out.
const TIMEOUT_GRACE_NS: i64 = 5_000_000_000;

/// The console identity and the commands it signed.
pub struct Console {
    identity: Arc<Identity>,
    book: Mutex<Book>,
    live: broadcast::Sender<LiveEvent>,
    random: SystemRandom,
}

#[derive(Default)]
struct Book {
    by_id: BTreeMap<u64, Tracked>,
    by_digest: HashMap<Hash, u64>,
}

struct Tracked {
    item: CommandItem,
    expires_at: Timestamp,
}

fn action_name(a: CommandAction) -> &'static str {
    match a {
        CommandAction::Select => "select",
        CommandAction::Execute => "execute",
        CommandAction::Cancel => "cancel",
    }
}

impl Console {
    /// A console signing with `identity` (an Operator certificate).
    pub fn new(identity: Arc<Identity>, live: broadcast::Sender<LiveEvent>) -> Self {
        Self { identity, book: Mutex::default(), live, random: SystemRandom::new() }
    }

    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The console's certificate name.
    pub fn name(&self) -> &str {
        &self.identity.me.name
    }

    /// Signs a command for `person` (blocking: the key may be in an HSM) and starts tracking it.
    /// `edge` is the point's owner in the point registry.
    pub fn sign(
        &self,
        req: &CommandRequest,
        edge: &str,
        person: &Actor,
        operating_roles: &[Role],
    ) -> Result<(SignedCommand, CommandItem), ApiError> {
        let (point, action, value) = parse_request(req)?;
        let role = person
            .roles
            .iter()
            .find(|r| operating_roles.contains(r))
            .ok_or_else(|| ApiError::Forbidden(format!("{} holds no role that may operate", person.name)))?;
        let mut bytes = [0u8; 24];
        self.random.fill(&mut bytes).map_err(|_| ApiError::Internal("no randomness for the command nonce".into()))?;
        let (id_bytes, nonce_bytes) = bytes.split_at(8);
        // 53 bits, so the id survives a JavaScript number.
        let id = u64::from_be_bytes(id_bytes.try_into().unwrap_or_default()) & ((1 << 53) - 1);
        let nonce: [u8; 16] = nonce_bytes.try_into().unwrap_or_default();
        let now = Timestamp::now();
        let command = Command {
            id,
            nonce,
            point,
            edge: edge.to_owned(),
            action,
            value,
            issuer: CommandIssuer::Person { console: self.identity.me.name.clone(), person: person.name.clone() }.to_string(),
            role: role.name().to_owned(),
            issued_at: now,
            expires_at: Timestamp(now.0.saturating_add(COMMAND_VALIDITY_NS)),
        };
        let signed = SignedCommand::issue(&command, self.identity.signer.as_ref(), &self.identity.certificate)
            .map_err(|e| ApiError::Unavailable(format!("the console key cannot sign: {e}")))?;
        let item = CommandItem {
            id,
            point: req.point.clone(),
            action: action_name(action).into(),
            value: CommandValueDto { kind: req.value.kind.clone(), value: req.value.value.clone() },
            issuer: person.name.clone(),
            role: role.name().into(),
            state: "pending".into(),
            outcome_reason: None,
            refused_by: None,
            issued_at: rfc3339(now.0),
            updated_at: rfc3339(now.0),
        };
        let mut book = self.book();
        book.by_digest.insert(signed.digest(), id);
        book.by_id.insert(id, Tracked { item: item.clone(), expires_at: command.expires_at });
        drop(book);
        let _ = self.live.send(LiveEvent::Command(Box::new(item.clone())));
        Ok((signed, item))
    }

    /// Applies a (verified) result to the command it answers; unknown digests are ignored.
    pub fn on_result(&self, digest: &Hash, result: &CommandResult) {
        let item = {
            let mut book = self.book();
            let Some(id) = book.by_digest.get(digest).copied() else { return };
            let Some(t) = book.by_id.get_mut(&id) else { return };
            if t.item.id != result.command_id {
                return;
            }
            match &result.outcome {
                CommandOutcome::Confirmed if t.item.state == "pending" => t.item.state = "confirmed".into(),
                CommandOutcome::Confirmed => return,
                CommandOutcome::Terminated => t.item.state = "terminated".into(),
                CommandOutcome::Refused { by, reason } => {
                    t.item.state = "refused".into();
                    t.item.refused_by = Some(by.clone());
                    t.item.outcome_reason = Some(reason.clone());
                }
            }
            t.item.updated_at = rfc3339(result.at.0);
            t.item.clone()
        };
        let _ = self.live.send(LiveEvent::Command(Box::new(item)));
    }

    /// Marks commands without any result long after their expiry as timed out.
    pub fn expire(&self, now: Timestamp) {
        let expired: Vec<CommandItem> = {
            let mut book = self.book();
            book.by_id
                .values_mut()
                .filter(|t| t.item.state == "pending" && now.0 > t.expires_at.0.saturating_add(TIMEOUT_GRACE_NS))
                .map(|t| {
                    t.item.state = "timeout".into();
                    t.item.outcome_reason = Some("no result before the command expired".into());
                    t.item.updated_at = rfc3339(now.0);
                    t.item.clone()
                })
                .collect()
        };
        for item in expired {
            let _ = self.live.send(LiveEvent::Command(Box::new(item)));
        }
    }

    /// Commands newest first (by issue time).
    pub fn list(&self, limit: usize) -> Vec<CommandItem> {
        let mut all: Vec<CommandItem> = self.book().by_id.values().map(|t| t.item.clone()).collect();
        all.sort_by(|a, b| b.issued_at.cmp(&a.issued_at));
        all.truncate(limit);
        all
    }

    /// One command.
    pub fn get(&self, id: u64) -> Option<CommandItem> {
        self.book().by_id.get(&id).map(|t| t.item.clone())
    }

    /// Commands still waiting for their first result.
    pub fn pending(&self) -> usize {
        self.book().by_id.values().filter(|t| t.item.state == "pending").count()
    }
}
