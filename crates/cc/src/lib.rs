//! The control-centre connector: what the existing SCADA sees. It is an IEC 104 server with its
//! own addressing, fed by batches from the hub that it verifies again itself ([`verify`]): a
//! value reaches SCADA as good only if its field evidence holds; otherwise it is served with IV
//! set and an alarm names the edge, the batch and the reason. Commands from SCADA are turned into
//! model commands and sent to the hub; the device's confirmations come back as ACTCON/ACTTERM,
//! so select-before-operate holds end to end. Who may connect and command on the SCADA side,
//! and on whose behalf the connector signs, is [`scada`]'s. With `[ui]`, the connector also serves
//! the control-room web UI itself ([`ui`]), so a hub cannot change the scripts people sign with.
//! With `[ids]`, every SCADA connection is watched by the protocol intrusion detector ([`ids`]).

pub mod alarm_list;
mod config;
pub mod ids;
pub mod position;
mod runtime;
pub mod scada;
pub mod staleness;
pub mod ui;
pub mod verify;
pub mod watchdog;

pub use config::{CcConfig, CheckpointsConfig, CommandsConfig, HubApiTransport, IdsConfig, Iec104Side, StalenessConfig, UiConfig};
pub use runtime::{Cc, CcError, CcStats};
pub use verify::Alarm;
