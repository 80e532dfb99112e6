//! The one vendor-agnostic data model every part of gridtrust speaks.
//!
//! A field datum, whatever protocol it arrived on, becomes a [`Record`]: the [`PointId`] it
//! belongs to (an IEC 61850 object reference, optionally joined to CIM identities), a typed
//! [`Value`], IEC 61850 [`Quality`] bits, the source [`Timestamp`] with its [`TimeQuality`], the
//! edge's receive time and the edge's sequence number.
//!
//! Records have exactly one byte encoding ([`Record::encode_canonical`], documented in
//! [`canonical`]) because the chain of trust hashes and signs them: two parties that agree on a
//! record agree on its bytes.
//!
//! It also holds the alarm vocabulary ([`AlarmKind`], [`Severity`]) that every role raises in and
//! every service reads.
//!
//! This crate deliberately knows nothing about protocols, transports or keys.

mod alarm;
pub mod canonical;
mod command;
mod decision;
pub mod num;
mod point;
mod quality;
mod record;
mod time;
mod value;

pub use alarm::{AlarmKind, Severity, UnknownAlarmKind};
pub use canonical::DecodeError;
pub use command::{Command, CommandAction, CommandOutcome, CommandResult, CommandValue};
pub use decision::{Action, Decision, DecisionStep};
pub use point::{CimIdentity, PointId, PointIdError};
pub use quality::{Quality, Validity};
pub use record::Record;
pub use time::{TimeQuality, Timestamp};
pub use value::{DoublePoint, Value};
