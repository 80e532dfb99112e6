//! What the API needs from the hub. The hub implements [`Backend`]; this crate knows nothing of
//! its stores, logs or connections, which keeps the HTTP layer testable on its own and the hub
//! free of HTTP.

use gridtrust_pki::Role;
use rustls_pki_types::CertificateDer;
use tokio::sync::broadcast;

use crate::dto::{
    AlarmItem, ApproveRequest, AuditEvent, CheckpointItem, CommandItem, CommandRequest, DecisionRequest, EnrolmentItem, EnrolmentRequest,
    EstimationReport, Evidence, Health, History, IncidentItem, LiveEvent, LogEntryItem, Model, OneLine, PointInfo, PreparedCommand,
    PreparedDecision, TamperResult, ValueItem,
};
use crate::error::ApiError;

/// Who acts: a person logged in with a password, or a machine with a client certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// Username, or the certificate's name.
    pub name: String,
    /// IEC 62351-8 roles.
    pub roles: Vec<Role>,
    /// True for a client certificate.
    pub machine: bool,
}

impl Actor {
    /// Whether the actor holds one of `roles`.
    pub fn has_any(&self, roles: &[Role]) -> bool {
        self.roles.iter().any(|r| roles.contains(r))
    }
}

/// Alarms the API raises itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiAlarm {
    /// A name or an address was locked out after failed logins (password guessing).
    LoginLockout,
}

/// The hub as the API sees it. Methods may block briefly (store reads); the API calls the
/// heavier ones (history, evidence, log) on the blocking pool.
pub trait Backend: Send + Sync + 'static {
    /// The grid model: substations down to points.
    fn model(&self) -> Result<Model, ApiError>;
    /// Every point with its metadata.
    fn points(&self) -> Result<Vec<PointInfo>, ApiError>;
    /// The whole imported grid model as its JSON document (gridtrust-gridmodel `GridModel`,
    /// with unresolved links and source digests), for parts that need more than the tree;
    /// [`ApiError::NotFound`] when the hub serves none. JSON text, so this crate need not know
    /// the model's types.
    fn full_model(&self) -> Result<String, ApiError>;
    /// The one-line diagram of the imported model with what is energised now;
    /// [`ApiError::NotFound`] when the hub serves no model.
    fn one_line(&self) -> Result<OneLine, ApiError>;
    /// Latest values, optionally only of one bay or one point (unknown ones: [`ApiError::NotFound`]).
    fn values(&self, bay: Option<&str>, point: Option<&str>) -> Result<Vec<ValueItem>, ApiError>;
    /// Downsampled history of `point` over `[from_ns, to_ns)` in at most `max_points` buckets.
    fn history(&self, point: &str, from_ns: i64, to_ns: i64, max_points: usize) -> Result<History, ApiError>;
    /// The latest run of the measurement checks (state estimation, bad-data test, security
    /// index, learned profiles); [`ApiError::NotFound`] when the hub runs none (`[estimation]`
    /// absent) or none has run yet.
    fn estimation(&self) -> Result<EstimationReport, ApiError>;
    /// Alarms, newest first; only unacknowledged ones when `active_only`.
    fn alarms(&self, active_only: bool) -> Result<Vec<AlarmItem>, ApiError>;
    /// Acknowledges an alarm ([`ApiError::Conflict`] if it already was).
    fn acknowledge(&self, id: u64, by: &Actor) -> Result<AlarmItem, ApiError>;
    /// Incidents made from the alarms, newest first; [`ApiError::NotFound`] when the hub serves
    /// no grid model (correlation needs it).
    fn incidents(&self) -> Result<Vec<IncidentItem>, ApiError>;
    /// The decision `request` describes on incident `id`, encoded for the person's passkey to
    /// sign ([`ApiError::Conflict`] when they have no approved passkey).
    fn prepare_decision(&self, id: u64, request: &DecisionRequest, by: &Actor) -> Result<PreparedDecision, ApiError>;
    /// Checks the signed decision, appends it to the transparency log and applies it
    /// (acknowledging again: [`ApiError::Conflict`] unless alarms joined since).
    fn decide_incident(&self, id: u64, request: &DecisionRequest, by: &Actor) -> Result<IncidentItem, ApiError>;
    /// Checks and starts a command; it continues in the background (state via [`Backend::command`]).
    fn issue_command(&self, request: &CommandRequest, by: &Actor) -> Result<CommandItem, ApiError>;
    /// Builds the command a person is to sign with their passkey (nothing is sent yet).
    fn prepare_command(&self, request: &CommandRequest, by: &Actor) -> Result<PreparedCommand, ApiError>;
    /// Records a pending passkey enrolment of `by`.
    fn request_enrolment(&self, request: &EnrolmentRequest, by: &Actor) -> Result<EnrolmentItem, ApiError>;
    /// Every enrolment (`all`), or `by`'s own.
    fn enrolments(&self, by: &Actor, all: bool) -> Result<Vec<EnrolmentItem>, ApiError>;
    /// Approves enrolment `id` with the operator certificate that binds its key (SECADM only).
    fn approve_enrolment(&self, id: u64, request: &ApproveRequest, by: &Actor) -> Result<EnrolmentItem, ApiError>;
    /// Commands issued through the API, newest first.
    fn commands(&self, limit: usize) -> Result<Vec<CommandItem>, ApiError>;
    /// One command.
    fn command(&self, id: u64) -> Result<CommandItem, ApiError>;
    /// Evidence for the value of `point` with record seq `seq` (latest when `None`).
    fn evidence(&self, point: &str, seq: Option<u64>) -> Result<Evidence, ApiError>;
    /// The latest signed checkpoint.
    fn latest_checkpoint(&self) -> Result<CheckpointItem, ApiError>;
    /// Transparency log entries `from..from+count`.
    fn log_entries(&self, from: u64, count: u64) -> Result<Vec<LogEntryItem>, ApiError>;
    /// Records an audit event durably (and traces it).
    fn record_audit(&self, event: AuditEvent) -> Result<(), ApiError>;
    /// Raises an alarm (durably, blocking: called on the blocking pool).
    fn raise_alarm(&self, alarm: ApiAlarm, message: String);
    /// The audit trail, newest first.
    fn audit_trail(&self, limit: usize) -> Result<Vec<AuditEvent>, ApiError>;
    /// Hub metrics in the Prometheus text format.
    fn metrics(&self) -> String;
    /// Liveness and a few figures.
    fn health(&self) -> Health;
    /// Value, alarm and command changes as they happen.
    fn subscribe(&self) -> broadcast::Receiver<LiveEvent>;
    /// Demo fault injection; `None` when the hub does not run inside the demo.
    fn tamper(&self) -> Option<Result<TamperResult, ApiError>>;
    /// Validates a machine's TLS client certificate chain (CA, CRL) and names it.
    fn machine_identity(&self, chain: &[CertificateDer<'static>]) -> Result<Actor, String>;
}
