//! The field side of the harness: an IEC 104 RTU (our controlled station, the same one the
//! simulator uses) whose feeder-1 active power counts 1, 2, 3, … with a time tag on every
//! spontaneous value, so every value the chain stores can be matched to the one the RTU sent.
//!
//! The station keeps every ASDU until the edge acknowledges it (and sends what was not
//! acknowledged again on the next connection), so "the source saw it acknowledged" is exactly
//! "it left the station's queue": every number sent must end up at the hub once.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use gridtrust_iec104::asdu::{Element, InformationObject};
use gridtrust_iec104::server::{
    ClientRange, CommandMode, IncomingCommand, RedundancyGroup, Server, ServerConfig, ServerHandle, wall_clock,
};
use gridtrust_iec104_model::MappingFile;
use gridtrust_iec104_model::convert::element_from_datum;
use gridtrust_model::{Quality, Value};
use gridtrust_sim::substation::{Substation, SubstationSpec, ioa};

/// IOA of the numbered point (feeder 1 active power in the simulator's address plan).
pub const NUMBERED_IOA: u32 = 1000 + ioa::P;
/// IOA of the command the harness gives (feeder 1 breaker, select-before-operate).
pub const COMMAND_IOA: u32 = 1000 + ioa::BREAKER_COMMAND;

/// A command execution the RTU received.
#[derive(Clone, Copy, Debug)]
pub struct Executed {
    pub at: Instant,
    pub ioa: u32,
}

/// The running RTU.
pub struct NumberedRtu {
    pub addr: SocketAddr,
    pub common_address: u16,
    /// The mapping the edge reads it with (the simulator's).
    pub mapping: MappingFile,
    handle: ServerHandle,
    sent: Arc<AtomicU64>,
    paused: Arc<AtomicBool>,
    /// When each number was handed to the station: `sent_at[n - 1]`.
    sent_at: Arc<Mutex<Vec<Instant>>>,
    executed: Arc<Mutex<Vec<Executed>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl NumberedRtu {
    /// Binds `listen` and sends the next number every `period`.
    pub async fn start(listen: SocketAddr, period: Duration) -> std::io::Result<Self> {
        let spec = SubstationSpec::default();
        let common_address = spec.common_address;
        let model = Substation::new(spec);
        let mapping = model.mapping();
        // The edge's connections form one redundancy group, so what one connection left
        // unacknowledged goes to the next; every number waits there however long the edge is away.
        let config = ServerConfig {
            common_address,
            max_queue: 10_000_000,
            redundancy_groups: vec![RedundancyGroup {
                name: "edge".into(),
                members: vec![ClientRange::single(listen.ip())],
            }],
            ..ServerConfig::default()
        };
        let (handle, commands) = Server::bind(listen, None, config).await?;
        let mut initial = model.statuses();
        initial.extend(Substation::new(SubstationSpec::default()).measure(0.0));
        for (ioa, value) in initial {
            if let Some(obj) = object(&mapping, ioa, &value, false) {
                handle.register_point(obj, &[]).await.map_err(std::io::Error::other)?;
            }
        }
        for c in &mapping.commands {
            handle
                .register_command(c.ioa, c.kind.type_id(), CommandMode::SelectBeforeOperate)
                .await
                .map_err(std::io::Error::other)?;
        }
        let mut rtu = Self {
            addr: handle.local_addr(),
            common_address,
            mapping,
            handle,
            sent: Arc::default(),
            paused: Arc::default(),
            sent_at: Arc::default(),
            executed: Arc::default(),
            tasks: Vec::new(),
        };
        rtu.tasks.push(tokio::spawn(count_loop(
            rtu.handle.clone(),
            rtu.mapping.clone(),
            period,
            rtu.sent.clone(),
            rtu.paused.clone(),
            rtu.sent_at.clone(),
        )));
        rtu.tasks.push(tokio::spawn(command_loop(commands, rtu.executed.clone())));
        Ok(rtu)
    }

    /// Numbers handed to the station so far (1..=sent).
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Acquire)
    }

    /// When number `n` was handed to the station.
    pub fn sent_at(&self, n: u64) -> Option<Instant> {
        let i = usize::try_from(n.checked_sub(1)?).ok()?;
        self.sent_at.lock().ok()?.get(i).copied()
    }

    /// Stops or resumes counting (the values already sent still wait for their acknowledgement).
    pub fn pause(&self, paused: bool) {
        self.paused.store(paused, Ordering::Release);
    }

    /// Command executions received so far.
    pub fn executed(&self) -> Vec<Executed> {
        self.executed.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

impl Drop for NumberedRtu {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn object(mapping: &MappingFile, ioa: u32, value: &Value, with_time: bool) -> Option<InformationObject> {
    let map = mapping.point_at(ioa)?;
    element_from_datum(value, Quality::GOOD, with_time.then(wall_clock), map).map(|e| InformationObject::new(ioa, e))
}

async fn count_loop(
    handle: ServerHandle,
    mapping: MappingFile,
    period: Duration,
    sent: Arc<AtomicU64>,
    paused: Arc<AtomicBool>,
    sent_at: Arc<Mutex<Vec<Instant>>>,
) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if paused.load(Ordering::Acquire) {
            continue;
        }
        let n = sent.load(Ordering::Acquire) + 1;
        // f32 holds every integer up to 2^24 exactly: far more numbers than a run sends.
        let Some(obj) = object(&mapping, NUMBERED_IOA, &Value::Float(n as f32), true) else {
            return;
        };
        if handle.update(obj).await.is_err() {
            return;
        }
        if let Ok(mut at) = sent_at.lock() {
            at.push(Instant::now());
        }
        sent.store(n, Ordering::Release);
    }
}

/// Confirms selects and records executions; the harness only checks which executions arrived.
async fn command_loop(mut commands: tokio::sync::mpsc::Receiver<IncomingCommand>, executed: Arc<Mutex<Vec<Executed>>>) {
    while let Some(cmd) = commands.recv().await {
        let ioa = cmd.asdu.objects.first().map_or(0, |o| o.ioa);
        if !cmd.select
            && !cmd.deactivation
            && matches!(cmd.asdu.objects.first().map(|o| o.element), Some(Element::DoubleCommand { .. }))
            && let Ok(mut e) = executed.lock()
        {
            e.push(Executed { at: Instant::now(), ioa });
        }
        let _ = cmd.responder.confirm(true);
        if !cmd.select && !cmd.deactivation {
            let _ = cmd.responder.terminate();
        }
    }
}
