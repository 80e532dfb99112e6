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

    fn enhanced(self) -> bool {
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
    fn name(&self, fc: &str, attribute: &str) -> ObjectName {
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

impl MmsClient {
    /// The control model of an object (reads `CF` `ctlModel`).
    pub async fn control_model(&self, object: &ControlObject) -> Result<ControlModel, ControlError> {
        let code = self.read_value(&object.name("CF", "ctlModel")).await?.as_i64().ok_or(ServiceFailure::UnexpectedResponse("ctlModel"))?;
        ControlModel::from_code(code).filter(|m| *m != ControlModel::StatusOnly).ok_or_else(|| ControlError::NotControllable(object.clone(), code))
    }

    /// Operates a control object with `value` (its ctlVal), following the object's own control
    /// model: select first for SBO, wait for the CommandTermination for enhanced security.
    pub async fn operate(&self, object: &ControlObject, value: Data, params: &ControlParameters) -> Result<ControlOutcome, ControlError> {
        let model = self.control_model(object).await?;
        let oper = object.name("CO", "Oper");
        let ty = self.variable_type(&oper).await?;
        let ctl_num = CTL_NUM.fetch_add(1, Ordering::Relaxed);
        // Subscribe before writing: LastApplError precedes the write response on the wire.
        let mut reports = self.subscribe();
        match model {
            ControlModel::SboNormal => {
                let selected = self.read_value(&object.name("CO", "SBO")).await?;
                if selected.as_str().is_none_or(str::is_empty) {
                    return Err(ControlError::SelectRefused { last_appl_error: None });
                }
            }
            ControlModel::SboEnhanced => {
                let sbow = control_value(&ty, &value, ctl_num, params)?;
                match self.write_value(&object.name("CO", "SBOw"), sbow).await {
                    Ok(()) => {}
                    Err(ServiceFailure::Access { .. }) => {
                        return Err(ControlError::SelectRefused { last_appl_error: drain_last_appl_error(&mut reports) });
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            ControlModel::DirectNormal | ControlModel::DirectEnhanced | ControlModel::StatusOnly => {}
        }
        match self.write_value(&oper, control_value(&ty, &value, ctl_num, params)?).await {
            Ok(()) => {}
            Err(ServiceFailure::Access { error, .. }) => {
                return Err(ControlError::OperateRefused { access: error, last_appl_error: drain_last_appl_error(&mut reports) });
            }
            Err(e) => return Err(e.into()),
        }
        if !model.enhanced() {
            return Ok(ControlOutcome { model, ctl_num, terminated: false });
        }
        let termination = async {
            loop {
                let report = match reports.recv().await {
                    Ok(report) => report,
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return Err(ControlError::TerminationTimeout),
                };
                let VariableAccess::List(names) = &report.variables else { continue };
                if !names.contains(&oper) {
                    continue;
                }
                return match LastApplError::decode(&report) {
                    Some(error) => Err(ControlError::TerminatedWithError(error)),
                    None => Ok(ControlOutcome { model, ctl_num, terminated: true }),
                };
            }
        };
        tokio::time::timeout(params.termination_timeout, termination).await.map_err(|_| ControlError::TerminationTimeout)?
    }
}
