//! The fault-injection harness: runs the real `gridtrust` roles (hub, edge, cc) as processes on
//! loopback, feeds the edge from an IEC 104 RTU that counts 1, 2, 3, … with time tags, watches
//! the numbered point as a SCADA client on the cc, and breaks things the way a substation, a
//! cloud and a control-centre network break: SIGKILL and SIGTERM of each role at random
//! moments, links cut, blackholed (sockets open, bytes dropped) and delayed by a proxy. At the
//! end it checks, from the hub's store and transparency log and from what SCADA saw:
//!
//! - every number the RTU saw acknowledged is stored at the hub exactly once (lost, doubled);
//! - every stored batch is in the transparency log;
//! - during an outage, SCADA sees the point lose its good quality within the cc's staleness bound;
//! - a command given during an outage is never executed, not even after recovery;
//! - after each fault, SCADA gets a fresh good value within the recovery bound (measured);
//! - a SIGTERM ends every role with exit 0 within its stop bound.
//!
//! When it may mount (root), the edge's and the hub's data folders are small tmpfs mounts that it
//! fills to the last byte (ENOSPC) and frees again. When libfaketime is installed (Debian
//! `faketime`), every role runs under it and the harness steps a running role's wall clock by
//! ±1 h and back.
//!
//! `.ci/run` runs [`Plan::ci`] (through `crates/gridtrust/tests/faults_harness.rs`); the
//! `gridtrust-faults` binary runs the same for longer (`--rounds`, soak) and prints the table
//! of the closing note.
//!
//! Not here (yet): I/O errors other than a full disk, a slow HSM,
//! MQTT and MMS sources. It tests the roles; it is not a library the roles use.

pub mod disk;
pub mod process;
pub mod proxy;
pub mod scada;
pub mod scenario;
pub mod setup;
pub mod source;

pub use scenario::{Fault, Plan, Report, run};
