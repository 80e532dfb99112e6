//! The JSON shapes of the API (see `/work/api-contract.md`), with their OpenAPI schemas. The
//! hub fills them; this crate only moves them. Times are RFC 3339 strings, byte strings hex or
//! base64 as named.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Every 4xx/5xx body: a stable code for programs and a sentence for people.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// `unauthenticated`, `forbidden`, `bad_request`, `not_found`, `conflict`, `unavailable`, `internal`.
    pub error: String,
    /// What went wrong, for a person.
    pub message: String,
}

/// `POST /api/login` body.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

/// Who is logged in, and until when.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionInfo {
    pub username: String,
    /// IEC 62351-8 role names.
    pub roles: Vec<String>,
    /// RFC 3339; machines (certificate sessions) give the certificate's expiry.
    pub expires_at: String,
}

/// The grid model as the hub knows it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct Model {
    pub substations: Vec<Substation>,
}

/// A substation.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Substation {
    pub id: String,
    pub name: String,
    pub mrid: Option<String>,
    pub voltage_levels: Vec<VoltageLevel>,
}

/// A voltage level of a substation.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct VoltageLevel {
    pub id: String,
    pub name: String,
    pub nominal_kv: Option<f64>,
    pub bays: Vec<Bay>,
}

/// A bay.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Bay {
    pub id: String,
    pub name: String,
    pub equipment: Vec<Equipment>,
}

/// A piece of equipment and the points measured on or operating it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Equipment {
    pub id: String,
    pub name: String,
    /// `Breaker`, `Disconnector`, `PowerTransformer`, `Line`, `Meter`, `Inverter`, `Pmu`, ...
    pub kind: String,
    pub mrid: Option<String>,
    /// Point ids (IEC 61850 references).
    pub points: Vec<String>,
}

/// `GET /api/model/diagram`: the one-line diagram of the served model, with what is energised
/// now. Coordinates are in diagram units with y growing downwards (an SVG `viewBox` fits them);
/// `energised` and the switch states are computed by the hub from the latest values when the
/// request is answered, so a client re-reads the diagram when a switch position changes.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct OneLine {
    pub layout: OneLineLayout,
    /// The DL diagram's name, when `layout` is `dl`.
    pub diagram_name: Option<String>,
    pub nodes: Vec<OneLineNode>,
    pub equipment: Vec<OneLineEquipment>,
}

/// Where the coordinates come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OneLineLayout {
    /// The CGMES diagram layout (DL) profile of the model.
    Dl,
    /// Laid out by the hub: a tree from the sources outwards.
    Automatic,
}

/// A point of a drawing.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OneLineXY {
    pub x: f64,
    pub y: f64,
}

/// A CIM node (connectivity or topological node).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct OneLineNode {
    /// The mRID.
    pub id: String,
    pub name: Option<String>,
    pub nominal_kv: Option<f64>,
    /// A busbar section sits on this node: drawn as a thick line.
    pub busbar: bool,
    /// One point (a junction) or a polyline; empty when the DL diagram does not draw it.
    pub points: Vec<OneLineXY>,
    pub energised: bool,
}

/// What a piece of equipment is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum OneLineKind {
    BusbarSection,
    Line,
    Transformer,
    Breaker,
    Disconnector,
    LoadBreakSwitch,
    Switch,
    Fuse,
    Load,
    Generator,
    Inverter,
    /// External network or equivalent injection.
    Injection,
    ShuntCompensator,
    Other,
}

/// A piece of equipment on the diagram.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct OneLineEquipment {
    /// The model's equipment id (as in `GET /api/model`).
    pub id: String,
    pub name: String,
    pub kind: OneLineKind,
    /// The id of the bay of `GET /api/model` that lists it (the bay view), if any.
    pub bay: Option<String>,
    /// The nodes of its terminals, in terminal order.
    pub nodes: Vec<String>,
    /// One point (a symbol) or a polyline; empty when the DL diagram does not draw it.
    pub points: Vec<OneLineXY>,
    /// Clockwise rotation of the symbol in degrees (DL).
    pub rotation_deg: Option<f64>,
    /// Straight segments (two points each) from the equipment to its nodes.
    pub connectors: Vec<Vec<OneLineXY>>,
    /// Its points (live values via `GET /api/values`).
    pub point_ids: Vec<String>,
    /// For a Breaker, Disconnector, LoadBreakSwitch or Switch: its position.
    pub switch: Option<OneLineSwitch>,
    /// One of its nodes is energised.
    pub energised: bool,
}

/// The position of a switch and where it comes from.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct OneLineSwitch {
    /// The point holding the position (`...Pos.stVal[ST]`), if the model links one.
    pub position_point: Option<String>,
    /// The operable point a command to this switch goes to (the command dialog's point), if any.
    pub command_point: Option<String>,
    pub state: SwitchPosition,
    pub state_from: PositionSource,
}

/// A switch's position as the energising walk uses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SwitchPosition {
    Open,
    Closed,
}

/// Where a switch's position comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PositionSource {
    /// The latest value of its position point (off or moving: open; on: closed).
    Live,
    /// No usable live value: the model's `Switch.normalOpen`.
    Normal,
    /// Neither: assumed closed.
    Assumed,
}

/// CIM identities of a point.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct CimRefs {
    pub measurement: Option<String>,
    pub equipment: Option<String>,
    pub terminal: Option<String>,
}

/// One point of the model.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PointInfo {
    /// IEC 61850 object reference.
    pub id: String,
    pub unit: Option<String>,
    /// `analog`, `status`, `counter`, `text`, ...
    pub kind: String,
    pub description: Option<String>,
    pub bay: Option<String>,
    pub equipment: Option<String>,
    pub cim: CimRefs,
    pub operable: bool,
    /// `single`, `double`, `step`, `setpoint` when operable.
    pub command_kind: Option<String>,
}

/// IEC 61850 quality in words.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct QualityInfo {
    pub good: bool,
    /// `good`, `invalid`, `questionable`, `reserved`.
    pub validity: String,
    /// Detail, source, test and blocked flags that are set.
    pub flags: Vec<String>,
}

/// What the hub could establish about a value's origin.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TrustInfo {
    /// `verified`, `unverified` or `failed`.
    pub status: String,
    pub reason: Option<String>,
}

/// The latest value of a point.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ValueItem {
    pub point: String,
    /// Number, boolean or string.
    pub value: serde_json::Value,
    /// The value as a person reads it (`CLOSED`, `12.3`).
    pub value_text: String,
    pub quality: QualityInfo,
    pub source_time: Option<String>,
    pub received_at: String,
    pub edge: String,
    pub seq: u64,
    pub batch_seq: Option<u64>,
    pub trust: TrustInfo,
}

/// `GET /api/values` filters.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ValuesQuery {
    /// Only points of this bay.
    pub bay: Option<String>,
    /// Only this point.
    pub point: Option<String>,
}

/// `GET /api/points/{id}/history` parameters.
#[derive(Clone, Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// RFC 3339 start (inclusive).
    pub from: String,
    /// RFC 3339 end (exclusive).
    pub to: String,
    /// At most this many buckets (1..=10000, default 1000).
    #[param(minimum = 1, maximum = 10000)]
    pub max_points: Option<u32>,
}

/// One downsampled interval.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Sample {
    /// Start of the bucket (RFC 3339).
    pub t: String,
    pub min: f64,
    pub max: f64,
    pub avg: f64,
    pub last: f64,
    pub count: u64,
}

/// A point's history in equal buckets (empty buckets left out).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct History {
    pub point: String,
    pub from: String,
    pub to: String,
    /// Width of each bucket: a whole multiple of the store's roll-up slot.
    pub bucket_ms: u64,
    pub samples: Vec<Sample>,
}

/// Who acknowledged an alarm, and when.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AckInfo {
    pub by: String,
    pub at: String,
}

/// An alarm.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AlarmItem {
    pub id: u64,
    pub raised_at: String,
    /// `critical`, `major`, `minor`, `info`.
    pub severity: String,
    /// `hub`, an edge id or a connector id.
    pub source: String,
    /// `trust`, `chain`, `command`, `peer`, `log`, ...
    pub kind: String,
    pub message: String,
    pub point: Option<String>,
    pub acknowledged: Option<AckInfo>,
}

/// `GET /api/alarms` parameters.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AlarmsQuery {
    /// `active` (default: not acknowledged) or `all`.
    #[param(inline)]
    pub state: Option<AlarmState>,
}

/// Which alarms to list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AlarmState {
    /// Not acknowledged.
    Active,
    /// Every alarm.
    All,
}

/// An incident: alarms that belong together (close in time, related by point, bay, feeder or
/// edge), with what they affect and the ranked recommended actions (see docs/incidents.md).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct IncidentItem {
    /// Its first alarm's id.
    pub id: u64,
    pub title: String,
    /// `critical`, `major`, `minor`, `info`.
    pub severity: String,
    /// Raised to critical because failed verification and grid anomalies combine.
    pub escalated: bool,
    pub first_at: String,
    pub last_at: String,
    /// Who acknowledged it, and when.
    pub acknowledged: Option<AckInfo>,
    /// Alarms that joined after the acknowledgement.
    pub new_since_ack: usize,
    /// The signed decisions on it (acknowledgements, actions carried out), oldest first, each in
    /// the transparency log.
    pub decisions: Vec<IncidentDecision>,
    /// The member alarms in time order: the timeline and the evidence.
    pub alarms: Vec<IncidentAlarm>,
    pub points: Vec<String>,
    pub equipment: Vec<IncidentEquipment>,
    /// Feeder names.
    pub feeders: Vec<String>,
    pub supply: IncidentSupply,
    /// Best first.
    pub recommendations: Vec<IncidentRecommendation>,
    /// What was considered and not proposed, and why.
    pub notes: Vec<String>,
}

/// A signed decision on an incident, as logged.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct IncidentDecision {
    pub step: DecisionStepKind,
    /// For `execute`: the action's kind (`reroute`, ...) and the id of what it acts on.
    pub action: Option<String>,
    pub target: Option<String>,
    /// The person and the role they decided in.
    pub by: String,
    pub role: String,
    pub at: String,
    /// What vouches for the person: `passkey` (their own signature), `console` (the hub's
    /// console key, an explicit fallback) or `hub` (the hub's key: only the hub's word that the
    /// logged-in person decided; acknowledgements only).
    pub proof: String,
    /// The decision's entry in the transparency log (`GET /api/log/entries`).
    pub log_index: u64,
    /// The decision in one line, as logged.
    pub summary: String,
}

/// What a decision does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DecisionStepKind {
    /// The incident is seen and being handled.
    Acknowledge,
    /// One recommended action (`rank`) is carried out.
    Execute,
}

/// `POST /api/incidents/{id}/prepare` and `POST /api/incidents/{id}/decide` body.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    pub step: DecisionStepKind,
    /// For `execute`: the recommendation's rank (1 is the first).
    #[serde(default)]
    pub rank: Option<usize>,
    /// The person's passkey assertion over the prepared decision. Absent: the hub's console key
    /// signs where that fallback is configured; else, for `acknowledge` only, the hub's own key.
    #[serde(default)]
    pub assertion: Option<DecisionAssertion>,
}

/// A passkey assertion over a prepared decision; every field is base64url without padding.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionAssertion {
    /// The decision bytes exactly as `POST /api/incidents/{id}/prepare` returned them.
    pub decision: String,
    pub credential_id: String,
    pub authenticator_data: String,
    pub client_data_json: String,
    /// DER ECDSA signature.
    pub signature: String,
}

/// What the person is asked to sign for a decision.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PreparedDecision {
    pub incident: u64,
    /// The decision in one line.
    pub summary: String,
    /// The encoded decision (base64url): send it back unchanged with the assertion.
    pub decision: String,
    /// SHA-256 over the decision context and the bytes (base64url): the challenge to sign.
    pub challenge: String,
    pub rp_id: String,
    /// The person's approved passkeys (credential ids, base64url).
    pub credential_ids: Vec<String>,
}

/// An alarm of an incident, with where its evidence is.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct IncidentAlarm {
    #[serde(flatten)]
    pub alarm: AlarmItem,
    /// `GET` this for the signed value's evidence (points only).
    pub evidence: Option<String>,
}

/// A piece of equipment an incident's alarms name.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct IncidentEquipment {
    /// Model tree id.
    pub id: String,
    pub name: String,
    pub bay: Option<String>,
    pub feeders: Vec<String>,
}

/// The loads of an incident's feeders.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct IncidentSupply {
    pub loads: Vec<IncidentLoad>,
    /// The loads' model power, MW.
    pub total_mw: f64,
    /// Of that, without supply with the live switch positions.
    pub unsupplied_mw: f64,
    /// The loads' customers, summed over the loads whose model gives a count (the others are
    /// not in it).
    pub total_customers: u32,
    /// Of that, without supply with the live switch positions.
    pub unsupplied_customers: u32,
}

/// One load of an incident's feeders.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct IncidentLoad {
    pub id: String,
    pub name: String,
    pub feeder: String,
    pub p_mw: Option<f64>,
    /// How many customers it supplies (the model's `EnergyConsumer.customerCount`), when known.
    pub customers: Option<u32>,
    pub supplied: bool,
}

/// A ranked recommended action with its reason and expected effect, in words made from the data.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct IncidentRecommendation {
    /// 1 is the first thing to do.
    pub rank: usize,
    /// `block-point`, `reroute`, `isolate-edge`, `second-person`, `dispatch-crew`.
    pub action: String,
    /// The action in words.
    pub title: String,
    /// What it acts on: a point, a model tree id or an edge id.
    pub target: String,
    /// The same, by name.
    pub target_name: String,
    pub priority: u32,
    pub reason: String,
    pub effect: String,
}

/// A command's value.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandValueDto {
    /// `single`, `double`, `step` or `setpoint`.
    pub kind: String,
    /// single: bool; double: `"open"`/`"closed"` (or bool, true = closed); step: `"raise"`/`"lower"`; setpoint: number.
    pub value: serde_json::Value,
}

/// `POST /api/commands` and `POST /api/commands/prepare` body.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandRequest {
    pub point: String,
    /// `select`, `execute` or `cancel`.
    pub action: String,
    pub value: CommandValueDto,
    /// The person's passkey assertion over the prepared command (absent: the hub's console key
    /// signs, where that fallback is configured).
    #[serde(default)]
    pub assertion: Option<CommandAssertion>,
}

/// A passkey assertion (`navigator.credentials.get`) over a prepared command; every field is
/// base64url without padding.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandAssertion {
    /// The command bytes exactly as `POST /api/commands/prepare` returned them.
    pub command: String,
    pub credential_id: String,
    pub authenticator_data: String,
    pub client_data_json: String,
    /// DER ECDSA signature.
    pub signature: String,
}

/// What the person is asked to sign: the command as the edge will check it, and its digest, the
/// WebAuthn challenge.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PreparedCommand {
    pub id: u64,
    pub point: String,
    pub action: String,
    pub value: CommandValueDto,
    /// The person, as the command names them (their certificate's name).
    pub issuer: String,
    pub role: String,
    /// The edge that must execute it (the point's owner in the point registry); signed.
    pub target: String,
    /// RFC 3339: the edge refuses the command afterwards.
    pub expires_at: String,
    /// The encoded command (base64url): send it back unchanged with the assertion.
    pub command: String,
    /// SHA-256 of the command bytes (base64url): the challenge to sign.
    pub digest: String,
    /// The relying party id to ask the passkey for.
    pub rp_id: String,
    /// The person's approved passkeys (credential ids, base64url).
    pub credential_ids: Vec<String>,
}

/// `POST /api/enrolments` body: a passkey the person just registered.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrolmentRequest {
    /// The IEC 62351-8 role to certify (OPERATOR or ENGINEER to operate).
    pub role: String,
    /// base64url.
    pub credential_id: String,
    /// The passkey's public key, SPKI DER (`getPublicKey()`), base64url; P-256 only.
    pub public_key: String,
}

/// A passkey enrolment and whether a SECADM approved it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct EnrolmentItem {
    pub id: u64,
    pub name: String,
    pub role: String,
    pub credential_id: String,
    /// `pending` or `approved`.
    pub state: String,
    pub requested_at: String,
    pub approved_by: Option<String>,
    pub approved_at: Option<String>,
    /// Serial of the operator certificate that binds the key (hex).
    pub certificate_serial: Option<String>,
}

/// `POST /api/enrolments/{id}/approve` body.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveRequest {
    /// The operator certificate (PEM) the CA issued for the enrolment's key, person and role.
    /// Absent: only a demo hub, whose development CA then issues it.
    #[serde(default)]
    pub certificate_pem: Option<String>,
}

/// A command issued through the API and how far it got.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CommandItem {
    pub id: u64,
    pub point: String,
    pub action: String,
    pub value: CommandValueDto,
    /// The person (or machine) who issued it.
    pub issuer: String,
    pub role: String,
    /// `pending`, `confirmed`, `terminated`, `refused`, `timeout`.
    pub state: String,
    pub outcome_reason: Option<String>,
    /// `hub`, `edge` or `device` when refused.
    pub refused_by: Option<String>,
    pub issued_at: String,
    pub updated_at: String,
}

/// `GET /api/commands` parameters.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CommandsQuery {
    /// Newest first, at most this many (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// `GET /api/enrolments` parameters.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EnrolmentsQuery {
    /// Every person's enrolments (SECADM), not only the caller's.
    pub all: Option<bool>,
}

/// `GET /api/evidence` parameters.
#[derive(Clone, Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EvidenceQuery {
    pub point: String,
    /// Record seq of the value (default: the point's latest value).
    #[param(minimum = 0)]
    pub seq: Option<u64>,
}

/// The record as hashed.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RecordBytes {
    /// Canonical record bytes; leaf = SHA-256(0x00 || bytes).
    pub canonical_hex: String,
}

/// The signed batch that covers the record.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BatchProof {
    pub batch_seq: u64,
    /// Encoded header (what the edge signed, after the context).
    pub header_hex: String,
    pub root_hex: String,
    /// Byte offset of the 32-byte Merkle root inside `header_hex`.
    pub root_offset: usize,
    pub record_count: u32,
    pub first_seq: u64,
    /// ECDSA P-256 SHA-256, raw r||s (64 bytes).
    pub signature_hex: String,
    /// Signing context followed by the header bytes.
    pub signing_input_hex: String,
}

/// An RFC 9162 inclusion proof of the record in its batch.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RecordProof {
    pub leaf_index: u64,
    pub tree_size: u64,
    pub path_hex: Vec<String>,
}

/// The certificate that signed the batch.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SignerInfo {
    pub certificate_der_b64: String,
    pub spki_der_b64: String,
    pub subject: String,
    /// Valid now against the hub's CA and CRL.
    pub valid: bool,
}

/// A signed checkpoint of the transparency log.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CheckpointItem {
    pub size: u64,
    pub root_hex: String,
    /// RFC 3339.
    pub timestamp: String,
    /// The bytes the hub signed (context included).
    pub signed_hex: String,
    /// ECDSA P-256 SHA-256, raw r||s.
    pub signature_hex: String,
    pub hub_spki_der_b64: String,
}

/// The batch header's place in the transparency log.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct LogProof {
    /// The log leaf (entry bytes) of the batch header.
    pub leaf_hex: String,
    pub leaf_index: u64,
    pub tree_size: u64,
    pub path_hex: Vec<String>,
    pub checkpoint: CheckpointItem,
}

/// Everything a browser needs to re-check one value.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Evidence {
    pub point: String,
    pub edge: String,
    pub seq: u64,
    pub record: RecordBytes,
    pub batch: BatchProof,
    pub record_proof: RecordProof,
    pub signer: SignerInfo,
    /// Null until a signed checkpoint covers the batch header.
    pub log: Option<LogProof>,
    pub hub_verdict: TrustInfo,
}

/// `GET /api/log/entries` parameters.
#[derive(Clone, Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// First index (default 0).
    pub from: Option<u64>,
    /// At most this many (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub count: Option<u32>,
}

/// One transparency log entry.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct LogEntryItem {
    pub index: u64,
    /// `batch_header`, `command`, `command_result`, `config_change`, `certificate`, `point_registry`, `decision`.
    pub kind: String,
    pub summary: String,
    /// The entry bytes (the log leaf before hashing).
    pub leaf_hex: String,
}

/// `GET /api/audit` parameters.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Newest first, at most this many (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// One audit trail event: a login, command or acknowledgement.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditEvent {
    /// Assigned by the trail; 0 before it is recorded.
    pub id: u64,
    pub at: String,
    /// Username or machine certificate name.
    pub actor: String,
    /// `login`, `logout`, `command`, `alarm_ack`, `tamper`.
    pub action: String,
    /// `ok`, `failed`, `refused`.
    pub outcome: String,
    pub detail: String,
    /// Client address, when known.
    pub remote: Option<String>,
}

/// `GET /healthz`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok` or `degraded`.
    pub status: String,
    pub edges_connected: u64,
    pub connectors_connected: u64,
    pub log_size: u64,
    pub checkpoint_age_ms: Option<u64>,
}

/// `POST /api/demo/tamper` answer.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TamperResult {
    pub message: String,
}

/// What the live stream carries.
#[derive(Clone, Debug)]
pub enum LiveEvent {
    /// A new latest value (or a trust change of one).
    Value(Box<ValueItem>),
    /// An alarm raised or acknowledged.
    Alarm(Box<AlarmItem>),
    /// A command's state changed.
    Command(Box<CommandItem>),
}

/// `GET /api/estimation`: the latest run of the hub's measurement checks (state estimation with
/// the bad-data test, the security index per bus, and each point's learned profile).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct EstimationReport {
    /// When the check ran.
    pub ran_at: String,
    /// How long it took, milliseconds (network build, estimate with bad-data removal, security index).
    pub duration_ms: f64,
    /// Why there is no estimate this time (an unobservable or de-energised network); the
    /// estimate fields are then empty.
    pub error: Option<String>,
    /// Whether the chi-square test passed on every measurement (nothing was removed as bad data).
    pub passed: bool,
    /// A switch or tap position changed since the previous check: the other values may not
    /// follow yet, so bad data found now is reported here but not alarmed.
    pub settling: bool,
    /// J(x̂) of the first estimate, over every measurement (the one the test judged first).
    pub objective: f64,
    /// The chi-square threshold for it (absent without redundancy).
    pub threshold: Option<f64>,
    /// m - n of the first estimate.
    pub degrees_of_freedom: usize,
    /// Every measurement the estimator used: measured points and the pseudo-measurements the hub adds.
    pub measurements: Vec<EstimatedMeasurement>,
    /// The estimated state with the security index of its angle and magnitude.
    pub buses: Vec<BusEstimate>,
    /// Per point: its learned profile for the current time-of-day bucket.
    pub profiles: Vec<PointProfile>,
}

/// Where an estimator measurement comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum MeasurementOrigin {
    /// A point's latest trusted value.
    Measured,
    /// A load's injection from the model (a forecast stand-in, large σ).
    Pseudo,
    /// A bus with nothing connected: zero injection (small σ).
    ZeroInjection,
}

/// One estimator measurement, per unit on the system base.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct EstimatedMeasurement {
    /// The point it comes from (measured ones).
    pub point: Option<String>,
    pub origin: MeasurementOrigin,
    /// What it measures, e.g. `P flow into <branch> at <bus>`.
    pub quantity: String,
    pub value_pu: f64,
    pub sigma_pu: f64,
    /// h(x̂) of the final estimate (absent for one removed as bad data).
    pub estimate_pu: Option<f64>,
    /// |r| / sqrt(Ω): when it was removed as bad data, else in the final estimate (absent for a
    /// critical measurement, whose residual is always zero).
    pub normalised_residual: Option<f64>,
    /// Removed as bad data (in this order: the first is the worst).
    pub bad_data: bool,
    /// Whether an attacker is assumed unable to alter it: signed at the device
    /// (`[estimation] protected`) or computed by the hub itself (pseudo and zero injection).
    pub protected: bool,
}

/// What an undetectable false-data injection (a = Hc) on one state variable costs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum AttackCost {
    /// Every such change shows in a protected measurement.
    Impossible,
    /// Exactly this many unprotected measurements must be altered.
    Exact { measurements: usize },
    /// At most this many (the exact search ran out of budget).
    AtMost { measurements: usize },
    /// Not computed: the grid has more state variables than the hub's search handles per check.
    NotComputed,
}

/// One bus of the estimate.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BusEstimate {
    /// The bus (a TopologicalNode mRID).
    pub bus: String,
    /// Its node's name, when the model gives one.
    pub name: Option<String>,
    pub v_pu: f64,
    pub angle_deg: f64,
    /// Absent at the slack bus, whose angle is the reference.
    pub angle_attack: Option<AttackCost>,
    pub magnitude_attack: AttackCost,
}

/// A point's learned distribution in the current time-of-day bucket.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PointProfile {
    pub point: String,
    /// `weekday-HH` or `weekend-HH` (UTC).
    pub bucket: String,
    pub samples: usize,
    pub median: Option<f64>,
    /// Median absolute deviation.
    pub mad: Option<f64>,
    /// The latest value and its robust score |x - median| / (1.4826 MAD) (absent while warming up).
    pub last: f64,
    pub score: Option<f64>,
}
