//! The hub behind the HTTP API: [`gridtrust_api::Backend`] over the hub's state.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rustls_pki_types::CertificateDer;
use tokio::sync::broadcast;

use gridtrust_api::ApiError;
use gridtrust_api::backend::{Actor, ApiAlarm, Backend};
use gridtrust_api::dto::*;
use gridtrust_api::metrics::Exposition;
use gridtrust_api::timefmt::rfc3339;
use gridtrust_model::{Decision, DecisionStep, DoublePoint, PointId, Record, Timestamp, Validity, Value};
use gridtrust_pki::Role;
use gridtrust_store::StoreError;
use gridtrust_trust::checkpoint::{LogEntry, SignedCheckpoint};
use gridtrust_trust::command::{PasskeyAssertion, SignedCommand, decode_command, encode_command, hex};
use gridtrust_trust::decision::{SignedDecision, challenge as decision_challenge, decode_decision, encode_decision};
use gridtrust_trust::evidence::header_signing_input;
use gridtrust_trust::merkle;
use gridtrust_trust::webauthn::base64url;
use sha2::Digest as _;

use crate::evidence::{ValueProofError, prove_entry};
use crate::grid_model::ServedModel;
use crate::incidents::{Incidents, Proof};

/// What incidents are made of: the alarms, the latest values, the latest estimate.
type IncidentInputs = (Vec<crate::alarms::Alarm>, Vec<Record>, Option<EstimationReport>);
use crate::model::{KnownPoint, model, point_info};
use crate::server::{Quarantined, State, lock, route_command};

/// Decodes a base64url field (padding optional), naming it when it does not decode.
fn from_base64url(field: &str, text: &str) -> Result<Vec<u8>, ApiError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|e| ApiError::BadRequest(format!("{field}: not base64url: {e}")))
}

/// The API's view of a running hub.
pub(crate) struct HubApi {
    state: Arc<State>,
    /// The imported grid model (`[model]`); without it the model is derived from references.
    grid_model: Option<Arc<ServedModel>>,
}

impl HubApi {
    pub(crate) fn new(state: Arc<State>, grid_model: Option<Arc<ServedModel>>) -> Self {
        Self { state, grid_model }
    }

    /// The incident desk and what incidents are made of now: alarms, latest values, estimate.
    fn incident_inputs(&self) -> Result<(&Incidents, IncidentInputs), ApiError> {
        let desk = self
            .state
            .incidents
            .as_deref()
            .ok_or_else(|| ApiError::NotFound("this hub serves no imported grid model (no [model] file): incidents need it".into()))?;
        let latest = self.state.store.latest_all().map_err(store_err)?;
        let estimation = lock(&self.state.estimation).clone();
        Ok((desk, (self.state.alarms.list(false), latest, estimation)))
    }

    /// A decision on incident `id` as `request` describes it, for `by` in `role` now.
    fn compose_decision(&self, id: u64, request: &DecisionRequest, by: &Actor, role: Role) -> Result<(Decision, &Incidents), ApiError> {
        let (desk, (alarms, latest, estimation)) = self.incident_inputs()?;
        let (step, count) = desk.step((&alarms, &latest, estimation.as_ref()), id, request.step, request.rank)?;
        let decision = Decision {
            incident: id,
            alarms: count,
            step,
            person: by.name.clone(),
            role: role.name().to_owned(),
            at: Timestamp::now(),
            nonce: self.state.console.nonce()?,
        };
        Ok((decision, desk))
    }

    /// The person's passkey decision: the bytes they signed, which must be the decision the
    /// request describes, on this incident, by them, with one of their approved passkeys.
    fn passkey_decision(
        &self,
        id: u64,
        request: &DecisionRequest,
        assertion: &DecisionAssertion,
        by: &Actor,
    ) -> Result<SignedDecision, ApiError> {
        let bytes = from_base64url("assertion.decision", &assertion.decision)?;
        let decision = decode_decision(&bytes).map_err(|e| ApiError::BadRequest(format!("assertion.decision: {e}")))?;
        let (desk, (alarms, latest, estimation)) = self.incident_inputs()?;
        let (step, _) = desk.step((&alarms, &latest, estimation.as_ref()), id, request.step, request.rank)?;
        if decision.incident != id || decision.step != step {
            return Err(ApiError::BadRequest("assertion.decision is not the decision the request describes".into()));
        }
        if decision.person != by.name {
            return Err(ApiError::Forbidden(format!("the signed decision names {}, not {}", decision.person, by.name)));
        }
        let fields = [&assertion.credential_id, &assertion.authenticator_data, &assertion.client_data_json, &assertion.signature];
        Ok(SignedDecision::from_passkey(bytes, self.persons_assertion(by, fields.map(String::as_str))?))
    }

    fn current_incidents(&self) -> Result<(&Incidents, Vec<IncidentItem>), ApiError> {
        let (desk, (alarms, latest, estimation)) = self.incident_inputs()?;
        Ok((desk, desk.list(&alarms, &latest, estimation.as_ref())))
    }

    /// Every point's metadata: the imported model's and those it does not know, or the derived.
    fn point_infos(&self) -> Result<Vec<PointInfo>, ApiError> {
        let known = self.known_points()?;
        Ok(match &self.grid_model {
            Some(grid) => grid.points(&known),
            None => known.iter().map(point_info).collect(),
        })
    }

    /// With a model, the points whose tree bay is `bay` (`None` without a model: the derived bay
    /// is the point's logical device).
    fn bay_members(&self, bay: &str) -> Result<Option<std::collections::HashSet<String>>, ApiError> {
        if self.grid_model.is_none() {
            return Ok(None);
        }
        Ok(Some(self.point_infos()?.into_iter().filter(|p| p.bay.as_deref() == Some(bay)).map(|p| p.id).collect()))
    }

    fn known_points(&self) -> Result<Vec<KnownPoint>, ApiError> {
        let records = self.state.store.latest_all().map_err(store_err)?;
        let registry = &self.state.registry.registry;
        Ok(records
            .into_iter()
            .map(|r| KnownPoint { edge: registry.owner(&r.point).map(str::to_owned), id: r.point, value: r.value })
            .collect())
    }

    /// The edge a command for point `id` goes to (its owner in the point registry); refuses
    /// points that do not exist, cannot be operated or belong to no edge.
    fn target_edge(&self, id: &str) -> Result<String, ApiError> {
        let point = self.point(id)?;
        let operable = match &self.grid_model {
            Some(_) => self.point_infos()?.iter().any(|p| p.id == point.as_str() && p.operable),
            None => crate::model::command_kind(point.as_str()).is_some(),
        };
        if !operable {
            return Err(ApiError::BadRequest(format!("point {point} is not operable")));
        }
        let registry = &self.state.registry.registry;
        registry
            .owner(&point)
            .map(str::to_owned)
            .ok_or_else(|| ApiError::BadRequest(format!("point {point} belongs to no edge in point registry version {}", registry.version)))
    }

    /// The command a person signed with their passkey: the prepared bytes, which must say what
    /// the request says and name the person, with the assertion and the person's certificate
    /// for the credential. The assertion itself is verified by the policy decision.
    fn passkey_command(&self, request: &CommandRequest, assertion: &CommandAssertion, by: &Actor) -> Result<SignedCommand, ApiError> {
        let bytes = from_base64url("assertion.command", &assertion.command)?;
        let command = decode_command(&bytes).map_err(|e| ApiError::BadRequest(format!("assertion.command: {e}")))?;
        let (point, action, value) = gridtrust_api::command::parse_request(request)?;
        if (&command.point, command.action, &command.value) != (&point, action, &value) {
            return Err(ApiError::BadRequest("assertion.command is not the command the request describes".into()));
        }
        if command.issuer != by.name {
            return Err(ApiError::Forbidden(format!("the signed command names {}, not {}", command.issuer, by.name)));
        }
        let fields = [&assertion.credential_id, &assertion.authenticator_data, &assertion.client_data_json, &assertion.signature];
        Ok(SignedCommand::from_passkey(bytes, self.persons_assertion(by, fields.map(String::as_str))?))
    }

    /// A passkey assertion (its fields base64url: credential id, authenticator data, client
    /// data, signature) of one of `by`'s approved passkeys, with the certificate that binds it.
    fn persons_assertion(
        &self,
        by: &Actor,
        [credential_id, authenticator_data, client_data_json, signature]: [&str; 4],
    ) -> Result<PasskeyAssertion, ApiError> {
        let credential_id = from_base64url("assertion.credential_id", credential_id)?;
        let credential = self
            .state
            .enrolments
            .credentials(&by.name)
            .into_iter()
            .find(|c| c.credential_id == credential_id)
            .ok_or_else(|| ApiError::Forbidden(format!("{} has no approved passkey with this credential id", by.name)))?;
        Ok(PasskeyAssertion {
            authenticator_data: from_base64url("assertion.authenticator_data", authenticator_data)?,
            client_data_json: from_base64url("assertion.client_data_json", client_data_json)?,
            signature: from_base64url("assertion.signature", signature)?,
            certificate: credential.certificate,
        })
    }

    /// The relying party, and `by`'s approved passkeys for one operating role (that role, and
    /// their credential ids in base64url): what a person signs with.
    fn persons_passkeys(&self, by: &Actor) -> Result<(String, Role, Vec<String>), ApiError> {
        let rp_id = self.state.rp_id.clone().ok_or_else(|| ApiError::Unavailable("this hub has no [webauthn] configuration".into()))?;
        let credentials: Vec<_> =
            self.state.enrolments.credentials(&by.name).into_iter().filter(|c| Role::OPERATING.contains(&c.role)).collect();
        let role = credentials
            .first()
            .map(|c| c.role)
            .ok_or_else(|| ApiError::Conflict(format!("{} has no approved passkey for an operating role; enrol one first", by.name)))?;
        let ids = credentials.iter().filter(|c| c.role == role).map(|c| base64url(&c.credential_id)).collect();
        Ok((rp_id, role, ids))
    }

    fn point(&self, id: &str) -> Result<PointId, ApiError> {
        let point = PointId::new(id).map_err(|e| ApiError::BadRequest(format!("point `{id}`: {e}")))?;
        match self.state.store.latest(&point).map_err(store_err)? {
            Some(_) => Ok(point),
            None if lock(&self.state.quarantine).contains_key(&point) => Ok(point),
            None => Err(ApiError::NotFound(format!("no point {id}"))),
        }
    }
}

fn store_err(e: StoreError) -> ApiError {
    ApiError::Internal(format!("store: {e}"))
}

/// Trust status of a stored (hence verified, or accepted unsigned) value.
pub(crate) fn trust_of(signed_and_checked: bool) -> TrustInfo {
    if signed_and_checked {
        TrustInfo { status: "verified".into(), reason: None }
    } else {
        TrustInfo { status: "unverified".into(), reason: Some("evidence is off: signatures are not required".into()) }
    }
}

fn quality_info(r: &Record) -> QualityInfo {
    let q = r.quality;
    let validity = match q.validity() {
        Validity::Good => "good",
        Validity::Invalid => "invalid",
        Validity::Questionable => "questionable",
        Validity::Reserved => "reserved",
    };
    let flags = [
        (q.overflow(), "overflow"),
        (q.out_of_range(), "out_of_range"),
        (q.bad_reference(), "bad_reference"),
        (q.oscillatory(), "oscillatory"),
        (q.failure(), "failure"),
        (q.old_data(), "old_data"),
        (q.inconsistent(), "inconsistent"),
        (q.inaccurate(), "inaccurate"),
        (q.substituted(), "substituted"),
        (q.test(), "test"),
        (q.operator_blocked(), "operator_blocked"),
    ]
    .into_iter()
    .filter(|(on, _)| *on)
    .map(|(_, name)| name.to_owned())
    .collect();
    QualityInfo { good: q.is_good(), validity: validity.into(), flags }
}

fn value_json(v: &Value) -> (serde_json::Value, String) {
    match *v {
        Value::Single(b) => (b.into(), if b { "ON".into() } else { "OFF".into() }),
        Value::Double(d) => {
            let text = match d {
                DoublePoint::On => "CLOSED",
                DoublePoint::Off => "OPEN",
                DoublePoint::Intermediate => "INTERMEDIATE",
                DoublePoint::Indeterminate => "BAD",
            };
            (text.into(), text.into())
        }
        Value::Float(f) => (serde_json::Number::from_f64(f64::from(f)).map_or(serde_json::Value::Null, Into::into), format!("{f}")),
        other => {
            let x = other.as_f64();
            (serde_json::Number::from_f64(x).map_or(serde_json::Value::Null, Into::into), format!("{x}"))
        }
    }
}

/// The API form of one record.
pub(crate) fn value_item(r: &Record, edge: &str, batch_seq: Option<u64>, trust: TrustInfo) -> ValueItem {
    let (value, value_text) = value_json(&r.value);
    ValueItem {
        point: r.point.to_string(),
        value,
        value_text,
        quality: quality_info(r),
        source_time: r.source_time.map(|(t, _)| rfc3339(t.0)),
        received_at: rfc3339(r.received_at.0),
        edge: edge.to_owned(),
        seq: r.seq,
        batch_seq,
        trust,
    }
}

/// The API form of a quarantined value: marked invalid, trust failed with the reason.
pub(crate) fn quarantined_item(q: &Quarantined) -> ValueItem {
    let mut item =
        value_item(&q.record, &q.edge_id, Some(q.batch_seq), TrustInfo { status: "failed".into(), reason: Some(q.reason.clone()) });
    item.quality.good = false;
    item.quality.validity = "invalid".into();
    item
}

fn spki_and_subject(der: &[u8]) -> (String, String) {
    match x509_parser::parse_x509_certificate(der) {
        Ok((_, cert)) => (B64.encode(cert.public_key().raw), cert.subject().to_string()),
        Err(_) => (String::new(), String::new()),
    }
}

fn checkpoint_item(c: &SignedCheckpoint, hub_certificate: &[u8]) -> CheckpointItem {
    CheckpointItem {
        size: c.checkpoint.tree_size,
        root_hex: hex(&c.checkpoint.root),
        timestamp: rfc3339(c.checkpoint.timestamp.0),
        signed_hex: hex(&c.checkpoint.signing_input()),
        signature_hex: hex(&c.signature.bytes),
        hub_spki_der_b64: spki_and_subject(hub_certificate).0,
    }
}

fn entry_summary(entry: &LogEntry) -> (&'static str, String) {
    match entry {
        LogEntry::BatchHeader(b) => match gridtrust_trust::evidence::decode_sealed(b) {
            Ok((h, sig)) => (
                "batch_header",
                format!(
                    "edge {} batch {} records {}..{} {}",
                    h.edge_id,
                    h.batch_seq,
                    h.first_seq,
                    h.first_seq + u64::from(h.count),
                    if sig.is_some() { "signed" } else { "unsigned" }
                ),
            ),
            Err(e) => ("batch_header", format!("undecodable header: {e}")),
        },
        LogEntry::Command(b) => (
            "command",
            match postcard::from_bytes::<gridtrust_trust::command::SignedCommand>(b).ok().and_then(|s| s.command().ok()) {
                Some(c) => format!("{:?} {} by {} ({})", c.action, c.point, c.issuer, c.role),
                None => "undecodable command".into(),
            },
        ),
        LogEntry::CommandResult(b) => (
            "command_result",
            match postcard::from_bytes::<gridtrust_trust::command::SignedResult>(b).ok().and_then(|s| s.result().ok()) {
                Some(r) => format!("command {} {:?}: {:?}", r.command_id, r.action, r.outcome),
                None => "undecodable result".into(),
            },
        ),
        LogEntry::ConfigChange { key, value } => ("config_change", format!("{key} = {value}")),
        LogEntry::Certificate(der) => ("certificate", spki_and_subject(der).1),
        LogEntry::PointRegistry(b) => (
            "point_registry",
            match gridtrust_trust::registry::SignedRegistry::from_bytes(b)
                .and_then(|s| gridtrust_trust::registry::PointRegistry::decode(&s.registry))
            {
                Ok(r) => format!("version {} with {} grants", r.version, r.grants.len()),
                Err(e) => format!("undecodable registry: {e}"),
            },
        ),
        LogEntry::Decision(b) => (
            "decision",
            match postcard::from_bytes::<gridtrust_trust::decision::SignedDecision>(b).ok().and_then(|s| s.decision().ok()) {
                Some(d) => d.to_string(),
                None => "undecodable decision".into(),
            },
        ),
    }
}

impl Backend for HubApi {
    fn estimation(&self) -> Result<EstimationReport, ApiError> {
        crate::server::lock(&self.state.estimation)
            .clone()
            .ok_or_else(|| ApiError::NotFound("no measurement check has run (is [estimation] configured?)".into()))
    }

    fn model(&self) -> Result<Model, ApiError> {
        let known = self.known_points()?;
        Ok(match &self.grid_model {
            Some(grid) => grid.tree(&known),
            None => model(&known),
        })
    }

    fn points(&self) -> Result<Vec<PointInfo>, ApiError> {
        self.point_infos()
    }

    fn full_model(&self) -> Result<String, ApiError> {
        match &self.grid_model {
            Some(grid) => Ok(grid.full_json().to_owned()),
            None => Err(ApiError::NotFound("this hub serves no imported grid model (no [model] file in its configuration)".into())),
        }
    }

    fn one_line(&self) -> Result<OneLine, ApiError> {
        let Some(grid) = &self.grid_model else {
            return Err(ApiError::NotFound("this hub serves no imported grid model (no [model] file in its configuration)".into()));
        };
        // Quarantined values failed verification: the model's normal state is used instead.
        let quarantined: std::collections::HashSet<PointId> = lock(&self.state.quarantine).keys().cloned().collect();
        Ok(grid.one_line(&self.known_points()?, |point| !quarantined.contains(point)))
    }

    fn values(&self, bay: Option<&str>, point: Option<&str>) -> Result<Vec<ValueItem>, ApiError> {
        let wanted = point.map(|p| self.point(p)).transpose()?;
        let records = match &wanted {
            Some(p) => self.state.store.latest(p).map_err(store_err)?.into_iter().collect(),
            None => self.state.store.latest_all().map_err(store_err)?,
        };
        let members = bay.map(|b| self.bay_members(b)).transpose()?.flatten();
        let in_bay = |r: &Record| match (bay, &members) {
            (None, _) => true,
            (Some(_), Some(members)) => members.contains(r.point.as_str()),
            (Some(b), None) => r.point.logical_device() == b,
        };
        if let Some(b) = bay {
            // A model bay exists when it lists points, with data or not; a derived one only with data.
            let exists = members.as_ref().map_or_else(|| records.iter().any(in_bay), |m| !m.is_empty());
            if !exists {
                return Err(ApiError::NotFound(format!("no bay {b}")));
            }
        }
        let registry = &self.state.registry.registry;
        let latest = lock(&self.state.latest);
        let quarantine = lock(&self.state.quarantine);
        Ok(records
            .iter()
            .filter(|r| in_bay(r))
            .map(|r| match quarantine.get(&r.point) {
                Some(q) => quarantined_item(q),
                None => {
                    let batch = latest.get(&r.point);
                    let signed = self.state.require_signatures && batch.is_none_or(|b| b.signature.is_some());
                    let edge = registry.owner(&r.point).unwrap_or_default();
                    value_item(r, edge, batch.map(|b| b.header.batch_seq), trust_of(signed))
                }
            })
            .collect())
    }

    fn history(&self, point: &str, from_ns: i64, to_ns: i64, max_points: usize) -> Result<History, ApiError> {
        let p = self.point(point)?;
        let (width, buckets) = self.state.store.history_buckets(&p, Timestamp(from_ns), Timestamp(to_ns), max_points).map_err(store_err)?;
        Ok(History {
            point: point.to_owned(),
            from: rfc3339(from_ns),
            to: rfc3339(to_ns),
            bucket_ms: u64::try_from(width / 1_000_000).unwrap_or(0),
            samples: buckets
                .into_iter()
                .map(|b| Sample { t: rfc3339(b.start.0), min: b.min, max: b.max, avg: b.mean, last: b.last, count: b.count })
                .collect(),
        })
    }

    fn alarms(&self, active_only: bool) -> Result<Vec<AlarmItem>, ApiError> {
        Ok(self.state.alarms.list(active_only).iter().map(|a| a.to_item()).collect())
    }

    fn acknowledge(&self, id: u64, by: &Actor) -> Result<AlarmItem, ApiError> {
        use crate::alarms::AckError;
        match self.state.alarms.acknowledge(&self.state.store, id, &by.name) {
            Ok(a) => Ok(a.to_item()),
            Err(AckError::Unknown(_)) => Err(ApiError::NotFound(format!("no alarm {id}"))),
            Err(e @ AckError::Already { .. }) => Err(ApiError::Conflict(e.to_string())),
            Err(AckError::Store(e)) => Err(store_err(e)),
        }
    }

    fn incidents(&self) -> Result<Vec<IncidentItem>, ApiError> {
        self.current_incidents().map(|(_, list)| list)
    }

    fn prepare_decision(&self, id: u64, request: &DecisionRequest, by: &Actor) -> Result<PreparedDecision, ApiError> {
        let (rp_id, role, credential_ids) = self.persons_passkeys(by)?;
        let (decision, _) = self.compose_decision(id, request, by, role)?;
        let bytes = encode_decision(&decision).map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(PreparedDecision {
            incident: id,
            summary: decision.to_string(),
            decision: base64url(&bytes),
            challenge: base64url(&decision_challenge(&bytes)),
            rp_id,
            credential_ids,
        })
    }

    fn decide_incident(&self, id: u64, request: &DecisionRequest, by: &Actor) -> Result<IncidentItem, ApiError> {
        let (signed, proof) = match &request.assertion {
            Some(assertion) => (self.passkey_decision(id, request, assertion, by)?, Proof::Passkey),
            None => {
                let role = by
                    .roles
                    .iter()
                    .find(|r| Role::OPERATING.contains(r))
                    .copied()
                    .ok_or_else(|| ApiError::Forbidden(format!("{} holds no role that may operate", by.name)))?;
                let (decision, _) = self.compose_decision(id, request, by, role)?;
                let bytes = encode_decision(&decision).map_err(|e| ApiError::Internal(e.to_string()))?;
                match self.state.console.sign_decision(bytes.clone()) {
                    Some(signed) => (signed?, Proof::Console),
                    // An acknowledgement changes nothing in the grid: the hub may vouch for the
                    // logged-in person itself, and the log says it was only the hub's word.
                    None if decision.step == DecisionStep::Acknowledge => {
                        let identity = &self.state.identity;
                        let signed = SignedDecision::sign(bytes, identity.signer.as_ref(), &identity.certificate)
                            .map_err(|e| ApiError::Unavailable(format!("the hub key cannot sign: {e}")))?;
                        (signed, Proof::Hub)
                    }
                    None => {
                        return Err(ApiError::BadRequest(format!(
                            "assertion: carrying out an action needs your passkey's signature (POST /api/incidents/{id}/prepare); \
                             this hub has no console key"
                        )));
                    }
                }
            }
        };
        // The checks every holder of the log can repeat: the certificate, the signature, and
        // that a passkey is the person's own, in a role that may operate.
        let issuer = self.state.identity.validate(signed.issuer.certificate()).map_err(|e| ApiError::Forbidden(format!("signer: {e}")))?;
        signed.verify_issuer(&issuer.public_key, &self.state.relying_party).map_err(|e| ApiError::Forbidden(e.to_string()))?;
        let decision = signed.decision().map_err(|e| ApiError::BadRequest(format!("decision: {e}")))?;
        if proof == Proof::Passkey {
            gridtrust_pki::identity::check_command_issuer(&issuer, &signed.issuer, &decision.person, &decision.role)
                .map_err(|e| ApiError::Forbidden(e.to_string()))?;
        }
        let (desk, current) = self.current_incidents()?;
        desk.check(&current, &decision, Timestamp::now())?;
        let entry = signed.log_entry().map_err(|e| ApiError::Internal(e.to_string()))?;
        let index = self.state.ledger.append(&[entry]).map_err(|e| ApiError::Unavailable(format!("transparency log: {e}")))?;
        self.state.stats.log_entries.fetch_add(1, Ordering::Relaxed);
        tracing::info!(incident = id, log_index = index, proof = ?proof, "{decision}");
        desk.record(current, decision, proof, index)
    }

    fn issue_command(&self, request: &CommandRequest, by: &Actor) -> Result<CommandItem, ApiError> {
        gridtrust_api::command::parse_request(request)?;
        let edge = self.target_edge(&request.point)?;
        let console = &self.state.console;
        let (signed, item) = match &request.assertion {
            None => console.sign(request, &edge, by)?,
            Some(assertion) => {
                let signed = self.passkey_command(request, assertion, by)?;
                let command = signed.command().map_err(|e| ApiError::BadRequest(format!("assertion.command: {e}")))?;
                let item = console.track(&signed, &command, request, &by.name);
                (signed, item)
            }
        };
        let state = self.state.clone();
        let reply = state.console_results.clone();
        // Called on the blocking pool of the runtime: hand routing back to the runtime.
        tokio::runtime::Handle::current().spawn(async move { route_command(&state, signed, &reply).await });
        Ok(item)
    }

    fn prepare_command(&self, request: &CommandRequest, by: &Actor) -> Result<PreparedCommand, ApiError> {
        let (rp_id, role, credential_ids) = self.persons_passkeys(by)?;
        let edge = self.target_edge(&request.point)?;
        let command =
            self.state.console.compose(request, &edge, gridtrust_pki::CommandIssuer::Passkey { person: by.name.clone() }, role)?;
        let bytes = encode_command(&command).map_err(|e| ApiError::Internal(e.to_string()))?;
        let digest: [u8; 32] = sha2::Sha256::digest(&bytes).into();
        Ok(PreparedCommand {
            id: command.id,
            point: request.point.clone(),
            action: request.action.clone(),
            value: CommandValueDto { kind: request.value.kind.clone(), value: request.value.value.clone() },
            issuer: command.issuer,
            role: command.role,
            target: edge,
            expires_at: rfc3339(command.expires_at.0),
            command: base64url(&bytes),
            digest: base64url(&digest),
            rp_id,
            credential_ids,
        })
    }

    fn request_enrolment(&self, request: &EnrolmentRequest, by: &Actor) -> Result<EnrolmentItem, ApiError> {
        let role: Role = request.role.parse().map_err(|e| ApiError::BadRequest(format!("role: {e}")))?;
        if !by.roles.contains(&role) {
            return Err(ApiError::Forbidden(format!("{} does not hold {}, so cannot ask for it", by.name, role.name())));
        }
        gridtrust_pki::identity::check_name(&by.name)
            .map_err(|e| ApiError::BadRequest(format!("{} cannot name a certificate: {e}", by.name)))?;
        let credential_id = from_base64url("credential_id", &request.credential_id)?;
        let public_key = from_base64url("public_key", &request.public_key)?;
        self.state.enrolments.request(&by.name, role, credential_id, public_key)
    }

    fn enrolments(&self, by: &Actor, all: bool) -> Result<Vec<EnrolmentItem>, ApiError> {
        Ok(self.state.enrolments.list((!all).then_some(by.name.as_str())))
    }

    fn approve_enrolment(&self, id: u64, request: &ApproveRequest, by: &Actor) -> Result<EnrolmentItem, ApiError> {
        let certificate = match (&request.certificate_pem, &self.state.demo_enrolment_ca) {
            (Some(pem), _) => <CertificateDer as rustls_pki_types::pem::PemObject>::from_pem_slice(pem.as_bytes())
                .map_err(|e| ApiError::BadRequest(format!("certificate_pem: {e}")))?
                .to_vec(),
            (None, Some(ca)) => {
                let (name, role, spki) = self.state.enrolments.pending(id)?;
                tracing::warn!(enrolment = id, person = %name, role = role.name(), approved_by = %by.name, "DEMO: the development CA issues the passkey certificate");
                ca.issue(&name, role, &spki).map_err(ApiError::Internal)?
            }
            (None, None) => {
                return Err(ApiError::BadRequest("certificate_pem: the operator CA's certificate for this enrolment is required".into()));
            }
        };
        let validated = self.state.identity.validate(&certificate).map_err(|e| ApiError::BadRequest(format!("certificate: {e}")))?;
        // The certificate and who approved what, in the log (we are on the blocking pool already).
        let log = |item: &EnrolmentItem, certificate: &[u8]| {
            let approval = LogEntry::ConfigChange {
                key: "enrolment.approved".into(),
                value: format!(
                    "enrolment={id} person={} role={} credential={} certificate={} approved_by={}",
                    item.name,
                    item.role,
                    item.credential_id,
                    hex(&validated.certificate_id),
                    by.name
                ),
            };
            self.state
                .ledger
                .append(&[LogEntry::Certificate(certificate.to_vec()), approval])
                .map_err(|e| format!("transparency log: {e}"))?;
            self.state.stats.log_entries.fetch_add(2, Ordering::Relaxed);
            Ok(())
        };
        let item = self.state.enrolments.approve(id, certificate, &validated, &by.name, log)?;
        tracing::info!(enrolment = id, person = %item.name, role = %item.role, approved_by = %by.name, "passkey enrolment approved");
        Ok(item)
    }

    fn commands(&self, limit: usize) -> Result<Vec<CommandItem>, ApiError> {
        Ok(self.state.console.list(limit))
    }

    fn command(&self, id: u64) -> Result<CommandItem, ApiError> {
        self.state.console.get(id).ok_or_else(|| ApiError::NotFound(format!("no command {id}")))
    }

    fn evidence(&self, point: &str, seq: Option<u64>) -> Result<Evidence, ApiError> {
        let p = self.point(point)?;
        let store = &self.state.store;
        let entry = match seq {
            None => store.record_at(&p, Timestamp(i64::MAX)).map_err(store_err)?,
            Some(seq) => store.find_record(&p, None, seq).map_err(store_err)?,
        }
        .ok_or_else(|| {
            ApiError::NotFound(format!("no stored value of {point}{}", seq.map(|s| format!(" with seq {s}")).unwrap_or_default()))
        })?;
        let proof = prove_entry(store, entry).map_err(|e| match e {
            ValueProofError::Store(e) => store_err(e),
            ValueProofError::Unsigned { .. } => ApiError::NotFound(format!("no evidence: {e}")),
            other => ApiError::Internal(other.to_string()),
        })?;
        let certificate = lock(&self.state.certificates).get(&proof.signature.signer).cloned();
        let (certificate_der, signer_identity) = match certificate {
            Some(c) => c,
            None => {
                return Err(ApiError::Internal(format!(
                    "the certificate that signed batch {} is not known to the hub",
                    proof.batch.batch_seq
                )));
            }
        };
        let valid_now = self.state.identity.validate(&certificate_der);
        let (spki, subject) = spki_and_subject(&certificate_der);
        let header_bytes = proof.header.encode_canonical();
        let leaf = merkle::leaf_hash(&proof.entry.record_bytes);
        let verdict = {
            let included = merkle::verify_inclusion(
                &leaf,
                proof.record_index,
                proof.batch.leaves.len() as u64,
                &proof.record_proof,
                &proof.header.merkle_root,
            );
            let signature = proof.header.verify_signature(&proof.signature, &signer_identity.public_key);
            match (included, signature, &valid_now) {
                (Ok(()), Ok(()), Ok(_)) => TrustInfo { status: "verified".into(), reason: None },
                (Err(e), _, _) => TrustInfo { status: "failed".into(), reason: Some(format!("record not in its batch: {e}")) },
                (_, Err(e), _) => TrustInfo { status: "failed".into(), reason: Some(format!("batch signature: {e}")) },
                (_, _, Err(e)) => TrustInfo { status: "failed".into(), reason: Some(format!("signer certificate: {e}")) },
            }
        };
        let log = self.state.ledger.prove_header(&proof.batch.sealed_header).map_err(|e| ApiError::Internal(e.to_string()))?.map(|found| {
            LogProof {
                leaf_hex: hex(&LogEntry::BatchHeader(proof.batch.sealed_header.clone()).encode()),
                leaf_index: found.index,
                tree_size: found.checkpoint.checkpoint.tree_size,
                path_hex: found.proof.iter().map(|h| hex(h)).collect(),
                checkpoint: checkpoint_item(&found.checkpoint, &self.state.identity.certificate),
            }
        });
        Ok(Evidence {
            point: point.to_owned(),
            edge: proof.entry.edge_id.clone(),
            seq: proof.entry.seq,
            record: RecordBytes { canonical_hex: hex(&proof.entry.record_bytes) },
            batch: BatchProof {
                batch_seq: proof.batch.batch_seq,
                root_hex: hex(&proof.header.merkle_root),
                root_offset: 22 + proof.header.edge_id.len(),
                header_hex: hex(&header_bytes),
                record_count: proof.header.count,
                first_seq: proof.header.first_seq,
                signature_hex: hex(&proof.signature.bytes),
                signing_input_hex: hex(&header_signing_input(&proof.header)),
            },
            record_proof: RecordProof {
                leaf_index: proof.record_index,
                tree_size: proof.batch.leaves.len() as u64,
                path_hex: proof.record_proof.iter().map(|h| hex(h)).collect(),
            },
            signer: SignerInfo { certificate_der_b64: B64.encode(&certificate_der), spki_der_b64: spki, subject, valid: valid_now.is_ok() },
            log,
            hub_verdict: verdict,
        })
    }

    fn latest_checkpoint(&self) -> Result<CheckpointItem, ApiError> {
        let c = self.state.ledger.latest().ok_or_else(|| ApiError::NotFound("no checkpoint signed yet".into()))?;
        Ok(checkpoint_item(&c, &self.state.identity.certificate))
    }

    fn log_entries(&self, from: u64, count: u64) -> Result<Vec<LogEntryItem>, ApiError> {
        let entries = self.state.ledger.entries(from, count).map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(entries
            .into_iter()
            .map(|(index, bytes)| {
                let (kind, summary) = match LogEntry::decode(&bytes) {
                    Ok(e) => entry_summary(&e),
                    Err(e) => ("undecodable", e.to_string()),
                };
                LogEntryItem { index, kind: kind.into(), summary, leaf_hex: hex(&bytes) }
            })
            .collect())
    }

    fn record_audit(&self, event: AuditEvent) -> Result<(), ApiError> {
        let bytes = serde_json::to_vec(&event).map_err(|e| ApiError::Internal(format!("audit event: {e}")))?;
        self.state.store.append_audit(&bytes).map(|_| ()).map_err(store_err)
    }

    fn raise_alarm(&self, alarm: ApiAlarm, message: String) {
        let (severity, kind) = match alarm {
            ApiAlarm::LoginLockout => (crate::alarms::Severity::Major, crate::alarms::AlarmKind::Login),
        };
        self.state.alarm(severity, "api", kind, message, None);
    }

    fn audit_trail(&self, limit: usize) -> Result<Vec<AuditEvent>, ApiError> {
        let rows = self.state.store.audit_newest(limit).map_err(store_err)?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, bytes)| serde_json::from_slice::<AuditEvent>(&bytes).ok().map(|e| AuditEvent { id, ..e }))
            .collect())
    }

    fn metrics(&self) -> String {
        let s = &self.state.stats;
        let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        let mut e = Exposition::default();
        e.counter("gridtrust_hub_records_in_total", "Records verified and stored.", &[(&[], get(&s.records_applied))])
            .counter("gridtrust_hub_records_out_total", "Records forwarded to connectors.", &[(&[], get(&s.records_forwarded))])
            .counter(
                "gridtrust_hub_batches_replayed_total",
                "Stored batches replayed to connectors from their positions.",
                &[(&[], get(&s.batches_replayed))],
            )
            .counter(
                "gridtrust_hub_edge_sessions_silent_total",
                "Edge sessions closed after edge_silence_s without a message.",
                &[(&[], get(&s.edges_silent))],
            )
            .counter(
                "gridtrust_hub_connectors_lagged_total",
                "Connector sessions closed because they fell behind the live stream (they reconnect and are replayed).",
                &[(&[], get(&s.connectors_lagged))],
            )
            .counter(
                "gridtrust_hub_batches_total",
                "Batches by outcome.",
                &[(&[("outcome", "applied")], get(&s.batches_applied)), (&[("outcome", "duplicate")], get(&s.batches_duplicate))],
            )
            .counter(
                "gridtrust_hub_verification_failures_total",
                "Batches refused by verification.",
                &[(&[("check", "integrity")], get(&s.integrity_failures)), (&[("check", "signature")], get(&s.signature_failures))],
            )
            .counter("gridtrust_hub_chain_alarms_total", "Gaps and broken hash chains.", &[(&[], get(&s.chain_alarms))])
            .counter("gridtrust_hub_peers_refused_total", "Connections refused by certificate.", &[(&[], get(&s.peers_refused))])
            .counter(
                "gridtrust_hub_commands_total",
                "Commands by hub decision.",
                &[(&[("decision", "authorized")], get(&s.commands_authorized)), (&[("decision", "refused")], get(&s.commands_refused))],
            )
            .counter("gridtrust_hub_log_entries_total", "Transparency log entries appended.", &[(&[], get(&s.log_entries))])
            .counter("gridtrust_hub_checkpoints_signed_total", "Checkpoints signed.", &[(&[], get(&s.checkpoints_signed))])
            .gauge("gridtrust_hub_edges_connected", "Edges connected.", lock(&self.state.edges).len() as f64)
            .gauge("gridtrust_hub_connectors_connected", "Connectors connected.", get(&self.state.connectors) as f64)
            .gauge("gridtrust_hub_connector_queue_depth", "Events waiting for the slowest connector.", self.state.events.len() as f64)
            .gauge("gridtrust_hub_live_queue_depth", "Events waiting for the slowest live API stream.", self.state.live.len() as f64)
            .gauge("gridtrust_hub_commands_pending", "Commands awaiting a result.", lock(&self.state.pending).len() as f64)
            .gauge(
                "gridtrust_hub_quarantined_points",
                "Points whose latest batch failed verification.",
                lock(&self.state.quarantine).len() as f64,
            )
            .gauge("gridtrust_hub_alarms_active", "Unacknowledged alarms.", self.state.alarms.active() as f64)
            .gauge("gridtrust_hub_log_size", "Entries in the transparency log.", self.state.ledger.size() as f64)
            .histogram("gridtrust_hub_batch_apply_seconds", "Verify, store and log time per batch group.", &self.state.apply_latency);
        e.finish()
    }

    fn health(&self) -> Health {
        let age = self.state.ledger.latest().map(|c| {
            let ms = (Timestamp::now().0 - c.checkpoint.timestamp.0) / 1_000_000;
            u64::try_from(ms).unwrap_or(0)
        });
        Health {
            status: "ok".into(),
            edges_connected: lock(&self.state.edges).len() as u64,
            connectors_connected: self.state.connectors.load(Ordering::Relaxed),
            log_size: self.state.ledger.size(),
            checkpoint_age_ms: age,
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.state.live.subscribe()
    }

    fn tamper(&self) -> Option<Result<TamperResult, ApiError>> {
        let flag = self.state.demo_tamper.as_ref()?;
        flag.store(true, Ordering::Relaxed);
        Some(Ok(TamperResult { message: "the next batch an edge sends will be altered before the hub verifies it".into() }))
    }

    fn machine_identity(&self, chain: &[CertificateDer<'static>]) -> Result<Actor, String> {
        let peer = self.state.identity.peer(chain).map_err(|e| e.to_string())?;
        Ok(Actor { name: peer.name, roles: peer.roles, machine: true })
    }
}
