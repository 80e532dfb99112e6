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
use gridtrust_api::dto::{CommandItem, CommandRequest, CommandValueDto, LiveEvent};
use gridtrust_api::timefmt::rfc3339;
use gridtrust_model::{Command, CommandAction, CommandOutcome, CommandResult, CommandValue, DoublePoint, PointId, Timestamp};
use gridtrust_pki::Role;
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

/// Parses the request's action and value; errors name the field.
pub fn parse_request(req: &CommandRequest) -> Result<(PointId, CommandAction, CommandValue), ApiError> {
    let point = PointId::new(req.point.as_str()).map_err(|e| ApiError::BadRequest(format!("point: {e}")))?;
    let action = match req.action.as_str() {
        "select" => CommandAction::Select,
        "execute" => CommandAction::Execute,
        "cancel" => CommandAction::Cancel,
        other => return Err(ApiError::BadRequest(format!("action must be select, execute or cancel, got `{other}`"))),
    };
    let v = &req.value.value;
    let bad = |what: &str| ApiError::BadRequest(format!("value.value for kind {}: {what}, got {v}", req.value.kind));
    let value = match req.value.kind.as_str() {
        "single" => CommandValue::Single(v.as_bool().ok_or_else(|| bad("expected true or false"))?),
        "double" => CommandValue::Double(match (v.as_str(), v.as_bool()) {
            (Some("closed" | "close" | "on"), _) | (_, Some(true)) => DoublePoint::On,
            (Some("open" | "off"), _) | (_, Some(false)) => DoublePoint::Off,
            _ => return Err(bad("expected \"open\" or \"closed\"")),
        }),
        "step" => CommandValue::Step {
            raise: match v.as_str() {
                Some("raise") => true,
                Some("lower") => false,
                _ => return Err(bad("expected \"raise\" or \"lower\"")),
            },
        },
        "setpoint" => {
            let x = v.as_f64().filter(|x| x.is_finite() && x.abs() <= f64::from(f32::MAX)).ok_or_else(|| bad("expected a finite number"))?;
            #[allow(clippy::cast_possible_truncation)] // range checked above; f32 precision is the protocol's
            CommandValue::SetpointFloat(x as f32)
        }
        other => return Err(ApiError::BadRequest(format!("value.kind must be single, double, step or setpoint, got `{other}`"))),
    };
    Ok((point, action, value))
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
    pub fn sign(&self, req: &CommandRequest, person: &Actor, operating_roles: &[Role]) -> Result<(SignedCommand, CommandItem), ApiError> {
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
            action,
            value,
            issuer: format!("{}/{}", self.identity.me.name, person.name),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn req(kind: &str, value: serde_json::Value, action: &str) -> CommandRequest {
        CommandRequest { point: "F1/XCBR1.Pos".into(), action: action.into(), value: CommandValueDto { kind: kind.into(), value } }
    }

    #[test]
    fn request_values_parse_or_say_what_is_wrong() {
        let ok = |k, v| parse_request(&req(k, v, "select")).unwrap().2;
        assert_eq!(ok("double", serde_json::json!("closed")), CommandValue::Double(DoublePoint::On));
        assert_eq!(ok("double", serde_json::json!(false)), CommandValue::Double(DoublePoint::Off));
        assert_eq!(ok("single", serde_json::json!(true)), CommandValue::Single(true));
        assert_eq!(ok("step", serde_json::json!("lower")), CommandValue::Step { raise: false });
        assert_eq!(ok("setpoint", serde_json::json!(1.5)), CommandValue::SetpointFloat(1.5));
        let err = |r: CommandRequest| parse_request(&r).unwrap_err().to_string();
        assert!(err(req("double", serde_json::json!("ajar"), "select")).contains("\"open\" or \"closed\""));
        assert!(err(req("setpoint", serde_json::json!(1e300), "select")).contains("finite"));
        assert!(err(req("dial", serde_json::json!(1), "select")).contains("value.kind"));
        assert!(err(req("single", serde_json::json!(true), "jump")).contains("action"));
        let mut bad_point = req("single", serde_json::json!(true), "select");
        bad_point.point = String::new();
        assert!(err(bad_point).starts_with("point:"));
    }
}
