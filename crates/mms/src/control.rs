//! IEC 61850 controls over MMS (IEC 61850-8-1 clause 20) for the four control models:
//! direct and select-before-operate, each with normal or enhanced security. Enhanced security
//! waits for the CommandTermination; a refused select or operate, or a negative termination,
//! comes back with the server's LastApplError and its AddCause.

use crate::ber::BitString;
use crate::data::{Data, ObjectName, TypeSpec, UtcTime};
use crate::driver::MmsClient;
use crate::pdu::{DataAccessError, InformationReport, VariableAccess};
use crate::services::ServiceFailure;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;
use tokio::sync::broadcast;

/// ctlModel values (IEC 61850-7-2/-7-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlModel {
    /// 0: not controllable.
    StatusOnly,
    /// 1: direct-with-normal-security.
    DirectNormal,
    /// 2: sbo-with-normal-security.
    SboNormal,
    /// 3: direct-with-enhanced-security.
    DirectEnhanced,
    /// 4: sbo-with-enhanced-security.
    SboEnhanced,
}

impl ControlModel {
    /// From the ctlModel integer.
    pub fn from_code(code: i64) -> Option<ControlModel> {
        Some(match code {
            0 => ControlModel::StatusOnly,
            1 => ControlModel::DirectNormal,
            2 => ControlModel::SboNormal,
            3 => ControlModel::DirectEnhanced,
            4 => ControlModel::SboEnhanced,
            _ => return None,
        })
    }

    /// Enhanced security: the server sends a CommandTermination after the operate.
    pub fn enhanced(self) -> bool {
        matches!(self, ControlModel::DirectEnhanced | ControlModel::SboEnhanced)
    }
}

/// A controllable data object, e.g. `simpleIOGenericIO` / `GGIO1` / `SPCSO1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlObject {
    /// Logical device.
    pub logical_device: String,
    /// Logical node.
    pub logical_node: String,
    /// Data object.
    pub data_object: String,
}

impl ControlObject {
    /// The MMS name of one of the object's attributes (`CO` `Oper`, `CF` `ctlModel`, ...).
    pub fn name(&self, fc: &str, attribute: &str) -> ObjectName {
        ObjectName::domain(&self.logical_device, format!("{}${fc}${}${attribute}", self.logical_node, self.data_object))
    }
}

/// Who operates and with which checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlParameters {
    /// orCat (3 = remote-control).
    pub origin_category: i64,
    /// orIdent.
    pub origin_identifier: Vec<u8>,
    /// Test flag.
    pub test: bool,
    /// Ask the server to check interlocking.
    pub interlock_check: bool,
    /// Ask the server to check synchronism.
    pub synchro_check: bool,
    /// How long to wait for the CommandTermination (enhanced security).
    pub termination_timeout: Duration,
}

impl Default for ControlParameters {
    fn default() -> ControlParameters {
        ControlParameters {
            origin_category: 3,
            origin_identifier: b"gridtrust".to_vec(),
            test: false,
            interlock_check: false,
            synchro_check: false,
            termination_timeout: Duration::from_secs(10),
        }
    }
}

/// The server's LastApplError for a refused or failed control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastApplError {
    /// The control object reference.
    pub control_object: String,
    /// Error (0 no error, 1 unknown, 2 timeout test not ok, 3 operator test not ok).
    pub error: i64,
    /// ctlNum of the command concerned.
    pub ctl_num: u64,
    /// AddCause (IEC 61850-7-2), e.g. 9 blocked-by-process, 10 blocked-by-interlocking.
    pub add_cause: i64,
}

impl LastApplError {
    fn decode(report: &InformationReport) -> Option<LastApplError> {
        let VariableAccess::List(names) = &report.variables else { return None };
        let at = names.iter().position(|n| *n == ObjectName::Vmd("LastApplError".into()))?;
        let fields = report.results.get(at)?.as_ref().ok()?.members()?;
        Some(LastApplError {
            control_object: fields.first()?.as_str()?.to_owned(),
            error: fields.get(1)?.as_i64()?,
            ctl_num: u64::try_from(fields.get(3)?.as_i64()?).ok()?,
            add_cause: fields.get(4)?.as_i64()?,
        })
    }
}

/// Why a control did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// Reading the model or writing failed below the control logic.
    #[error("{0}")]
    Service(#[from] ServiceFailure),
    /// The object's ctlModel is status-only or unknown.
    #[error("{0:?} is not controllable (ctlModel {1})")]
    NotControllable(ControlObject, i64),
    /// The Oper/SBOw structure has a component this client cannot fill.
    #[error("unsupported component {0} in the control structure")]
    UnsupportedStructure(String),
    /// Select refused (SBO) with the server's reason.
    #[error("select refused: {last_appl_error:?}")]
    SelectRefused {
        /// LastApplError sent with the refusal (enhanced security).
        last_appl_error: Option<LastApplError>,
    },
    /// Operate refused.
    #[error("operate refused ({access}): {last_appl_error:?}")]
    OperateRefused {
        /// The write's access error.
        access: DataAccessError,
        /// LastApplError sent with the refusal.
        last_appl_error: Option<LastApplError>,
    },
    /// Cancel refused.
    #[error("cancel refused ({access}): {last_appl_error:?}")]
    CancelRefused {
        /// The write's access error.
        access: DataAccessError,
        /// LastApplError sent with the refusal.
        last_appl_error: Option<LastApplError>,
    },
    /// Enhanced security: the command was accepted but its execution failed.
    #[error("command terminated with error: {0:?}")]
    TerminatedWithError(LastApplError),
    /// Enhanced security: no CommandTermination in time.
    #[error("no CommandTermination within the timeout")]
    TerminationTimeout,
}

/// A successful control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlOutcome {
    /// The object's control model.
    pub model: ControlModel,
    /// ctlNum used.
    pub ctl_num: u8,
    /// Enhanced security: a positive CommandTermination was received.
    pub terminated: bool,
}

/// ctlNum shared by every control of this process, so select and operate of one command match
/// and successive commands differ.
static CTL_NUM: AtomicU8 = AtomicU8::new(0);

fn now_utc() -> UtcTime {
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    UtcTime::from_unix_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}

fn control_value(ty: &TypeSpec, value: &Data, ctl_num: u8, params: &ControlParameters) -> Result<Data, ControlError> {
    let t = now_utc();
    let mut fields = Vec::new();
    for (name, _) in ty.components() {
        fields.push(match name.as_str() {
            "ctlVal" => value.clone(),
            "operTm" => Data::UtcTime(t),
            "origin" => Data::Structure(vec![Data::Integer(params.origin_category), Data::OctetString(params.origin_identifier.clone())]),
            "ctlNum" => Data::Unsigned(u64::from(ctl_num)),
            "T" => Data::UtcTime(t),
            "Test" => Data::Boolean(params.test),
            "Check" => {
                let mut bits = BitString::zeros(2);
                bits.set(0, params.synchro_check);
                bits.set(1, params.interlock_check);
                Data::BitString(bits)
            }
            other => return Err(ControlError::UnsupportedStructure(other.to_owned())),
        });
    }
    Ok(Data::Structure(fields))
}

fn drain_last_appl_error(reports: &mut broadcast::Receiver<Arc<InformationReport>>) -> Option<LastApplError> {
    let mut found = None;
    while let Ok(report) = reports.try_recv() {
        found = LastApplError::decode(&report).or(found);
    }
    found
}

/// The next ctlNum: shared by every control of this process, so successive commands differ. A
/// select and the operate or cancel that follows it must use the same one.
pub fn next_ctl_num() -> u8 {
    CTL_NUM.fetch_add(1, Ordering::Relaxed)
}

/// The IEC 61850-7-2 name of an AddCause, for logs and refusal reasons.
pub fn add_cause_name(code: i64) -> &'static str {
    const NAMES: [&str; 28] = [
        "unknown",
        "not-supported",
        "blocked-by-switching-hierarchy",
        "select-failed",
        "invalid-position",
        "position-reached",
        "parameter-change-in-execution",
        "step-limit",
        "blocked-by-mode",
        "blocked-by-process",
        "blocked-by-interlocking",
        "blocked-by-synchrocheck",
        "command-already-in-execution",
        "blocked-by-health",
        "1-of-n-control",
        "abortion-by-cancel",
        "time-limit-over",
        "abortion-by-trip",
        "object-not-selected",
        "object-already-selected",
        "no-access-authority",
        "ended-with-overshoot",
        "abortion-due-to-deviation",
        "abortion-by-communication-loss",
        "blocked-by-command",
        "none",
        "inconsistent-parameters",
        "locked-by-other-client",
    ];
    usize::try_from(code).ok().and_then(|i| NAMES.get(i)).copied().unwrap_or("unassigned")
}

/// An accepted Oper whose CommandTermination (enhanced security) is still to come.
#[derive(Debug)]
pub struct PendingTermination {
    oper: ObjectName,
    reports: broadcast::Receiver<Arc<InformationReport>>,
}

impl PendingTermination {
    /// Waits for the CommandTermination: Ok for a positive one, the LastApplError for a
    /// negative one.
    pub async fn wait(mut self, timeout: Duration) -> Result<(), ControlError> {
        let termination = async {
            loop {
                let report = match self.reports.recv().await {
                    Ok(report) => report,
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return Err(ControlError::TerminationTimeout),
                };
                let VariableAccess::List(names) = &report.variables else { continue };
                if !names.contains(&self.oper) {
                    continue;
                }
                return match LastApplError::decode(&report) {
                    Some(error) => Err(ControlError::TerminatedWithError(error)),
                    None => Ok(()),
                };
            }
        };
        tokio::time::timeout(timeout, termination).await.map_err(|_| ControlError::TerminationTimeout)?
    }
}

/// An Oper the server accepted.
#[derive(Debug)]
pub struct Executed {
    /// ctlNum used.
    pub ctl_num: u8,
    /// Enhanced security: where the CommandTermination will arrive; None for normal security,
    /// where the positive Oper response ends the service.
    pub termination: Option<PendingTermination>,
}

impl MmsClient {
    /// The control model of an object (reads `CF` `ctlModel`).
    pub async fn control_model(&self, object: &ControlObject) -> Result<ControlModel, ControlError> {
        let code = self.read_value(&object.name("CF", "ctlModel")).await?.as_i64().ok_or(ServiceFailure::UnexpectedResponse("ctlModel"))?;
        ControlModel::from_code(code)
            .filter(|m| *m != ControlModel::StatusOnly)
            .ok_or_else(|| ControlError::NotControllable(object.clone(), code))
    }

    /// Selects an SBO object: reads `SBO` (normal security) or writes `SBOw` with `value`
    /// (enhanced security). Direct models need no select: Ok without a request.
    pub async fn select(
        &self,
        object: &ControlObject,
        model: ControlModel,
        value: &Data,
        ctl_num: u8,
        params: &ControlParameters,
    ) -> Result<(), ControlError> {
        match model {
            ControlModel::SboNormal => {
                let selected = self.read_value(&object.name("CO", "SBO")).await?;
                if selected.as_str().is_none_or(str::is_empty) {
                    return Err(ControlError::SelectRefused { last_appl_error: None });
                }
                Ok(())
            }
            ControlModel::SboEnhanced => {
                let sbow = object.name("CO", "SBOw");
                let ty = self.variable_type(&sbow).await?;
                let mut reports = self.subscribe();
                match self.write_value(&sbow, control_value(&ty, value, ctl_num, params)?).await {
                    Ok(()) => Ok(()),
                    Err(ServiceFailure::Access { .. }) => {
                        Err(ControlError::SelectRefused { last_appl_error: drain_last_appl_error(&mut reports) })
                    }
                    Err(e) => Err(e.into()),
                }
            }
            ControlModel::DirectNormal | ControlModel::DirectEnhanced | ControlModel::StatusOnly => Ok(()),
        }
    }

    /// Writes `Oper` with `value` (after [`MmsClient::select`] for SBO models, with the same
    /// ctlNum). Enhanced security returns the pending CommandTermination.
    pub async fn execute(
        &self,
        object: &ControlObject,
        model: ControlModel,
        value: &Data,
        ctl_num: u8,
        params: &ControlParameters,
    ) -> Result<Executed, ControlError> {
        let oper = object.name("CO", "Oper");
        let ty = self.variable_type(&oper).await?;
        // Subscribe before writing: LastApplError and CommandTermination can precede the
        // write response on the wire.
        let mut reports = self.subscribe();
        match self.write_value(&oper, control_value(&ty, value, ctl_num, params)?).await {
            Ok(()) => {}
            Err(ServiceFailure::Access { error, .. }) => {
                return Err(ControlError::OperateRefused { access: error, last_appl_error: drain_last_appl_error(&mut reports) });
            }
            Err(e) => return Err(e.into()),
        }
        let termination = model.enhanced().then(|| PendingTermination { oper, reports });
        Ok(Executed { ctl_num, termination })
    }

    /// Cancels a selection (or an operate still waiting for its time), writing `Cancel` with
    /// the ctlNum and value of the select.
    pub async fn cancel(&self, object: &ControlObject, value: &Data, ctl_num: u8, params: &ControlParameters) -> Result<(), ControlError> {
        let cancel = object.name("CO", "Cancel");
        let ty = self.variable_type(&cancel).await?;
        let mut reports = self.subscribe();
        match self.write_value(&cancel, control_value(&ty, value, ctl_num, params)?).await {
            Ok(()) => Ok(()),
            Err(ServiceFailure::Access { error, .. }) => {
                Err(ControlError::CancelRefused { access: error, last_appl_error: drain_last_appl_error(&mut reports) })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Operates a control object with `value` (its ctlVal), following the object's own control
    /// model: select first for SBO, wait for the CommandTermination for enhanced security.
    pub async fn operate(&self, object: &ControlObject, value: Data, params: &ControlParameters) -> Result<ControlOutcome, ControlError> {
        let model = self.control_model(object).await?;
        let ctl_num = next_ctl_num();
        self.select(object, model, &value, ctl_num, params).await?;
        let executed = self.execute(object, model, &value, ctl_num, params).await?;
        let terminated = match executed.termination {
            Some(pending) => {
                pending.wait(params.termination_timeout).await?;
                true
            }
            None => false,
        };
        Ok(ControlOutcome { model, ctl_num, terminated })
    }
}
