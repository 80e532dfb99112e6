//! Commands from people, through the API.
//!
//! A person signs each command with their **passkey** (see [`crate::enrol`]): the hub composes
//! the command ([`Console::compose`]), the UI shows it and asks the passkey for an assertion over
//! its digest, and the command then takes the same path as a control-centre command: the hub
//! verifies the assertion, checks policy and countersigns; the edge verifies the assertion and
//! the person's certificate itself, freshness and replay.
//!
//! **Fallback, off by default:** with `[api.console]` the hub holds a console identity (an
//! operator certificate with its own key) and signs commands sent without an assertion, naming
//! the person `<console>/<username>`. That key sits at the hub, so a compromised hub can issue
//! commands with it; edges accept them only with `[commands] console_fallback = true`, and both
//! sides say so loudly at start.
//!
//! States follow the results: `pending` until the first result, `confirmed` (device accepted
//! the select or the execute), `terminated` (execution finished), `refused` (by hub, edge or
//! device, with the reason), `timeout` (no result before the command expired).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

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
use gridtrust_trust::decision::SignedDecision;
use gridtrust_trust::issue::{Intent, SystemRandomness};

/// How long a web command stays valid (the edge refuses it afterwards).
pub const COMMAND_VALIDITY_NS: i64 = 30_000_000_000;
/// How long after expiry a command without any result is declared timed out.
const TIMEOUT_GRACE_NS: i64 = 5_000_000_000;

/// The commands people issued, and the console key if the fallback is configured.
pub struct Console {
    key: Option<Arc<Identity>>,
    book: Mutex<Book>,
    live: broadcast::Sender<LiveEvent>,
    random: SystemRandomness,
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
    /// Tracks people's commands; `key` (an Operator certificate) signs those without an
    /// assertion, if given.
    pub fn new(key: Option<Arc<Identity>>, live: broadcast::Sender<LiveEvent>) -> Self {
        Self { key, book: Mutex::default(), live, random: SystemRandomness::default() }
    }

    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Signs a command for `person` with the console key (blocking: the key may be in an HSM)
    /// and starts tracking it. `edge` is the point's owner in the point registry.
    pub fn sign(&self, req: &CommandRequest, edge: &str, person: &Actor) -> Result<(SignedCommand, CommandItem), ApiError> {
        let key = self.key.as_ref().ok_or_else(|| {
            ApiError::BadRequest(
                "assertion: sign the command with your passkey (POST /api/commands/prepare); this hub has no console key".into(),
            )
        })?;
        let role = person
            .roles
            .iter()
            .find(|r| Role::OPERATING.contains(r))
            .ok_or_else(|| ApiError::Forbidden(format!("{} holds no role that may operate", person.name)))?;
        let command =
            self.compose(req, edge, CommandIssuer::Person { console: key.me.name.clone(), person: person.name.clone() }, *role)?;
        let signed = SignedCommand::issue(&command, key.signer.as_ref(), &key.certificate)
            .map_err(|e| ApiError::Unavailable(format!("the console key cannot sign: {e}")))?;
        let item = self.track(&signed, &command, req, &person.name);
        Ok((signed, item))
    }

    /// A new command as `req` asks for `edge` (the point's owner), naming `issuer` acting as
    /// `role`: a fresh id and nonce, valid for [`COMMAND_VALIDITY_NS`] from now.
    pub fn compose(&self, req: &CommandRequest, edge: &str, issuer: CommandIssuer, role: Role) -> Result<Command, ApiError> {
        let (point, action, value) = parse_request(req)?;
        let intent = Intent { point, edge: edge.to_owned(), action, value, issuer: issuer.to_string(), role: role.name().to_owned() };
        intent.issue(&self.random, Timestamp::now(), COMMAND_VALIDITY_NS).map_err(|e| ApiError::Internal(e.to_string()))
    }

    /// A fresh nonce for a decision (see [`gridtrust_trust::issue`]).
    pub fn nonce(&self) -> Result<[u8; 16], ApiError> {
        gridtrust_trust::issue::nonce(&self.random).map_err(|e| ApiError::Internal(e.to_string()))
    }

    /// Signs an encoded decision with the console key, when the fallback is configured
    /// (blocking: the key may be in an HSM).
    pub fn sign_decision(&self, decision: Vec<u8>) -> Option<Result<SignedDecision, ApiError>> {
        let key = self.key.as_ref()?;
        Some(
            SignedDecision::sign(decision, key.signer.as_ref(), &key.certificate)
                .map_err(|e| ApiError::Unavailable(format!("the console key cannot sign: {e}"))),
        )
    }

    /// Starts tracking `signed` (whose decoded form is `command`), issued by `person` as `req`
    /// asked.
    pub fn track(&self, signed: &SignedCommand, command: &Command, req: &CommandRequest, person: &str) -> CommandItem {
        let item = CommandItem {
            id: command.id,
            point: req.point.clone(),
            action: action_name(command.action).into(),
            value: CommandValueDto { kind: req.value.kind.clone(), value: req.value.value.clone() },
            issuer: person.to_owned(),
            role: command.role.clone(),
            state: "pending".into(),
            outcome_reason: None,
            refused_by: None,
            issued_at: rfc3339(command.issued_at.0),
            updated_at: rfc3339(command.issued_at.0),
        };
        let mut book = self.book();
        book.by_digest.insert(signed.digest(), command.id);
        book.by_id.insert(command.id, Tracked { item: item.clone(), expires_at: command.expires_at });
        drop(book);
        let _ = self.live.send(LiveEvent::Command(Box::new(item.clone())));
        item
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
