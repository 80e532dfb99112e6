//! The substation model served as an IEC 104 RTU: a controlled station that sends measurements
//! spontaneously with time tags, answers interrogation, and operates breakers and the tap
//! changer with select-before-operate.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use gridtrust_iec104::asdu::{DoublePointValue, Element, InformationObject, StepCommand};
use gridtrust_iec104::server::{CommandMode, IncomingCommand, Server, ServerConfig, ServerHandle, wall_clock};
use gridtrust_iec104_model::convert::element_from_datum;
use gridtrust_iec104_model::{MappingFile, PointMap};
use gridtrust_model::{Quality, Value};

use crate::substation::{self, Substation as Model, SubstationSpec};

/// A running simulated RTU.
pub struct SubstationRtu {
    /// Where the RTU listens.
    pub addr: SocketAddr,
    /// Its common address.
    pub common_address: u16,
    /// The mapping an edge needs to read it.
    pub mapping: MappingFile,
    handle: ServerHandle,
    model: Arc<Mutex<Model>>,
    tasks: Vec<JoinHandle<()>>,
}

impl SubstationRtu {
    /// Binds `listen` and starts simulating, sending every measurement each `period`.
    pub async fn start(listen: &str, spec: SubstationSpec, period: Duration) -> std::io::Result<Self> {
        let addr: SocketAddr =
            listen.parse().map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("`{listen}`: {e}")))?;
        let common_address = spec.common_address;
        let config = ServerConfig { common_address, ..ServerConfig::default() };
        let (handle, commands) = Server::bind(addr, None, config).await?;
        let model = Model::new(spec);
        let mapping = model.mapping();
        let model = Arc::new(Mutex::new(model));
        let rtu = Self { addr: handle.local_addr(), common_address, mapping, handle, model, tasks: Vec::new() };
        rtu.register().await.map_err(|e| std::io::Error::other(e.to_string()))?;
        let mut rtu = rtu;
        rtu.tasks.push(tokio::spawn(measure_loop(rtu.handle.clone(), rtu.model.clone(), rtu.mapping.clone(), period)));
        rtu.tasks.push(tokio::spawn(command_loop(rtu.handle.clone(), rtu.model.clone(), rtu.mapping.clone(), commands)));
        info!(addr = %rtu.addr, common_address, "simulated substation RTU listening");
        Ok(rtu)
    }

    async fn register(&self) -> Result<(), gridtrust_iec104::server::StationError> {
        let model = self.model.lock().await;
        let mut initial = model.statuses();
        drop(model);
        initial.extend(self.model.lock().await.measure(0.0));
        for (ioa, value) in initial {
            if let Some(obj) = object(&self.mapping, ioa, &value, false) {
                self.handle.register_point(obj, &[]).await?;
            }
        }
        for c in &self.mapping.commands {
            self.handle.register_command(c.ioa, c.kind.type_id(), CommandMode::SelectBeforeOperate).await?;
        }
        Ok(())
    }

    /// The IEC 104 server, for tests that inspect redundancy status.
    pub fn server(&self) -> &ServerHandle {
        &self.handle
    }

    /// Stops the RTU.
    pub async fn shutdown(self) {
        for t in &self.tasks {
            t.abort();
        }
        self.handle.shutdown().await;
    }
}

/// Builds the information object for a simulated value, time-tagged for spontaneous sending.
fn object(mapping: &MappingFile, ioa: u32, value: &Value, with_time: bool) -> Option<InformationObject> {
    let map: &PointMap = mapping.point_at(ioa)?;
    let time = with_time.then(wall_clock);
    element_from_datum(value, Quality::GOOD, time, map).map(|e| InformationObject::new(ioa, e))
}

async fn measure_loop(handle: ServerHandle, model: Arc<Mutex<Model>>, mapping: MappingFile, period: Duration) {
    let start = Instant::now();
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n = 0u64;
    loop {
        tick.tick().await;
        n += 1;
        let t = start.elapsed().as_secs_f64();
        let mut values = model.lock().await.measure(t);
        // The energy counter is reported every tenth period.
        if n.is_multiple_of(10) {
            values.push((substation::ioa::ENERGY, model.lock().await.energy()));
        }
        for (ioa, value) in values {
            if let Some(obj) = object(&mapping, ioa, &value, true)
                && handle.update(obj).await.is_err()
            {
                return;
            }
        }
    }
}

async fn command_loop(
    handle: ServerHandle,
    model: Arc<Mutex<Model>>,
    mapping: MappingFile,
    mut commands: tokio::sync::mpsc::Receiver<IncomingCommand>,
) {
    while let Some(cmd) = commands.recv().await {
        let Some(obj) = cmd.asdu.objects.first().copied() else {
            let _ = cmd.responder.confirm(false);
            continue;
        };
        if cmd.select || cmd.deactivation {
            // The simulated switchgear is always ready to be selected.
            let _ = cmd.responder.confirm(true);
            continue;
        }
        let changed = {
            let mut m = model.lock().await;
            match obj.element {
                Element::DoubleCommand { value: DoublePointValue::On, .. } => m.operate_breaker(obj.ioa, true),
                Element::DoubleCommand { value: DoublePointValue::Off, .. } => m.operate_breaker(obj.ioa, false),
                Element::RegulatingStep { value: StepCommand::Higher, .. } => m.step_tap(true),
                Element::RegulatingStep { value: StepCommand::Lower, .. } => m.step_tap(false),
                _ => None,
            }
        };
        let Some((ioa, value)) = changed else {
            warn!(ioa = obj.ioa, "simulated device cannot do that; refused");
            let _ = cmd.responder.confirm(false);
            continue;
        };
        let _ = cmd.responder.confirm(true);
        info!(ioa, ?value, peer = %cmd.peer, "simulated device operated");
        if let Some(obj) = object(&mapping, ioa, &value, true) {
            let _ = handle.update(obj).await;
        }
        let _ = cmd.responder.terminate();
    }
}
