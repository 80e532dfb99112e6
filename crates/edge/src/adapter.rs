//! What every southbound adapter (IEC 104 today; MMS, Modbus, MQTT, C37.118 later) gets from the
//! edge and gives back: a channel for data and a channel of verified commands to execute.

use tokio::sync::mpsc;

use gridtrust_model::{Command, CommandResult, PointId};

use crate::batcher::Datum;

/// A command the edge has accepted for execution, with where to report each stage.
#[derive(Debug)]
pub struct DeviceCommand {
    pub command: Command,
    pub results: mpsc::Sender<CommandResult>,
}

/// The adapter's ends of its channels.
pub struct AdapterIo {
    /// Every datum read from the device.
    pub data: mpsc::Sender<Datum>,
    /// Commands for points this adapter operates.
    pub commands: mpsc::Receiver<DeviceCommand>,
}

/// The edge's ends of one adapter's channels, and which points it operates.
pub struct AdapterPort {
    pub name: String,
    pub operates: Vec<PointId>,
    pub commands: mpsc::Sender<DeviceCommand>,
}
