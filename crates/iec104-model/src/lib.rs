//! Where IEC 60870-5-104 meets gridtrust's model, used on both sides of the chain: the edge
//! (device side, IEC 104 addresses of an RTU) and the control-centre connector (SCADA side, its
//! own addressing). Both describe their addressing in a [`mapping::MappingFile`] and convert with
//! the functions of [`convert`].

pub mod convert;
pub mod mapping;

pub use mapping::{CommandKind, CommandMap, MappingFile, MonitorKind, PointMap};
