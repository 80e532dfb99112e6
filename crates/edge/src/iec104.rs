//! The IEC 104 adapter: a controlling station towards one RTU.

use gridtrust_iec104_model::MappingFile;

use crate::adapter::AdapterIo;
use crate::config::RtuConfig;

/// Polls one RTU until the edge stops.
pub async fn run_rtu(rtu: RtuConfig, mapping: MappingFile, io: AdapterIo) {
    let _ = (rtu, mapping, io);
}
