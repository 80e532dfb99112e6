//! The IEC 104 adapter: a controlling station towards one RTU. It interrogates on connect and
//! periodically, turns every mapped monitor object into a [`Datum`], executes verified commands
//! with the RTU's own select-before-operate, and reconnects with backoff when the RTU goes away.
//!
//! An ASDU is acknowledged to the RTU only once its data is committed to the edge's queue (the
//! durability receipt): the RTU keeps what is not acknowledged and sends it again after a
//! reconnect, so a crash of the edge loses nothing the RTU let go of. The RTU's k window then
//! bounds how much waits for a commit, so when w ASDUs wait the adapter asks the edge to commit
//! its open batch at once instead of at the batch deadline.
//!
//! When the link to the RTU drops, every mapped point the adapter has a value for is sent again
//! with the invalid quality, so the control centre shows IV rather than a frozen value as good
//! (as the Modbus adapter does for a device that stops answering).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use gridtrust_iec104::asdu::{Asdu, Cause, Cot, InformationObject, QOI_STATION};
use gridtrust_iec104::client::{Client, ClientConfig, ClientEvent, ClientHandle};
use gridtrust_iec104::connection::AckMode;
use gridtrust_iec104_model::MappingFile;
use gridtrust_iec104_model::convert::{datum_from_element, element_from_command};
use gridtrust_model::{CommandAction, CommandOutcome, PointId, Quality, Timestamp, Validity, Value};

use crate::adapter::{AdapterIo, DeviceCommand};
use crate::batcher::Datum;
use crate::config::RtuConfig;

/// Polls one RTU until the edge stops.
pub async fn run_rtu(rtu: RtuConfig, mapping: MappingFile, mut io: AdapterIo) {
    let mapping = Arc::new(mapping);
    let addr: SocketAddr = match rtu.address.parse() {
        Ok(a) => a,
        Err(e) => {
            warn!(rtu = %rtu.name, address = %rtu.address, error = %e, "RTU address unusable; adapter stopped");
            return;
        }
    };
    let config = ClientConfig { link: rtu.link.clone(), acknowledge: AckMode::WhenDurable, ..ClientConfig::default() };
    // Built once: its verifier reads the CRL as reloaded, so every reconnect checks the RTU's
    // certificate against the newest CRL.
    let tls = match rtu.tls.as_ref().map(|t| rtu.tls_connector(t)).transpose() {
        Ok(tls) => tls,
        Err(e) => {
            warn!(target: "alarm", rtu = %rtu.name, error = %e, "RTU TLS configuration unusable; adapter stopped");
            return;
        }
    };
    let mut backoff = Duration::from_millis(200);
    // Data sent to the edge since the adapter started, the count the durability receipt uses.
    let mut sent = 0u64;
    // The last value of each point while the link is up: what is marked invalid when it drops.
    let mut last = HashMap::new();
    loop {
        match Client::connect(addr, tls.clone(), config.clone()).await {
            Ok((client, events)) => {
                backoff = Duration::from_millis(200);
                info!(rtu = %rtu.name, %addr, "connected to RTU");
                if session(&rtu, &mapping, client, events, &mut io, &mut sent, &mut last).await == Ended::EdgeStopped {
                    return;
                }
                info!(rtu = %rtu.name, "RTU connection ended");
                if !invalidate(&mut last, &io.data, &mut sent).await {
                    return;
                }
            }
            Err(e) if tls.is_some() => warn!(rtu = %rtu.name, %addr, error = %e, "RTU not reachable or its TLS handshake failed"),
            Err(e) => debug!(rtu = %rtu.name, %addr, error = %e, "RTU not reachable"),
        }
        // Commands that arrive while the RTU is away are refused now rather than executed late.
        while let Ok(cmd) = io.commands.try_recv() {
            cmd.refuse("RTU not connected").await;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Why a session with the RTU ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// The link closed; reconnect.
    LinkClosed,
    /// The edge stopped; so does the adapter.
    EdgeStopped,
}

/// ASDUs received on one connection and not yet released for acknowledgement, each with the
/// adapter's data count once its data was sent: it may be acknowledged when the edge's committed
/// count reaches that.
#[derive(Debug, Default)]
struct Unreleased {
    marks: VecDeque<u64>,
    released: u64,
}

impl Unreleased {
    /// Releases every ASDU whose data is committed; the new released count, if it grew.
    fn release(&mut self, committed: u64) -> Option<u64> {
        let before = self.released;
        while self.marks.front().is_some_and(|&m| m <= committed) {
            self.marks.pop_front();
            self.released += 1;
        }
        (self.released > before).then_some(self.released)
    }
}

async fn session(
    rtu: &RtuConfig,
    mapping: &Arc<MappingFile>,
    client: ClientHandle,
    mut events: mpsc::Receiver<ClientEvent>,
    io: &mut AdapterIo,
    sent: &mut u64,
    last: &mut HashMap<PointId, Value>,
) -> Ended {
    let w = usize::from(rtu.link.w);
    let mut unreleased = Unreleased::default();
    let gi = |client: ClientHandle, ca: u16| async move {
        if let Err(e) = client.interrogate(ca, QOI_STATION).await {
            warn!(error = %e, "station interrogation failed");
        }
    };
    tokio::spawn(gi(client.clone(), rtu.common_address));
    let mut gi_tick = tokio::time::interval(Duration::from_secs(rtu.interrogation_period_s.max(1)));
    gi_tick.tick().await;
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Some(ClientEvent::Asdu(asdu)) => {
                    if !forward(rtu, mapping, &asdu, &io.data, sent, last).await {
                        return Ended::EdgeStopped;
                    }
                    unreleased.marks.push_back(*sent);
                    if let Some(n) = unreleased.release(io.durability.committed()) {
                        client.release(n);
                    }
                    // The RTU stops at k unacknowledged ASDUs; commit now rather than at the
                    // batch deadline.
                    if unreleased.marks.len() == w {
                        io.durability.close_batch();
                    }
                }
                Some(ClientEvent::Closed(reason)) => {
                    info!(rtu = %rtu.name, %reason, "RTU link closed");
                    return Ended::LinkClosed;
                }
                None => return Ended::LinkClosed,
            },
            committed = io.durability.changed() => match committed {
                Some(c) => {
                    if let Some(n) = unreleased.release(c) {
                        client.release(n);
                    }
                }
                None => return Ended::EdgeStopped,
            },
            Some(cmd) = io.commands.recv() => {
                tokio::spawn(execute(client.clone(), rtu.common_address, mapping.clone(), cmd));
            }
            _ = gi_tick.tick() => {
                tokio::spawn(gi(client.clone(), rtu.common_address));
            }
        }
    }
}

/// Sends every mapped monitor object of `asdu` on, counting them in `sent` and remembering each
/// point's value in `last`; false when the edge has stopped.
async fn forward(
    rtu: &RtuConfig,
    mapping: &MappingFile,
    asdu: &Asdu,
    data: &mpsc::Sender<Datum>,
    sent: &mut u64,
    last: &mut HashMap<PointId, Value>,
) -> bool {
    if !asdu.type_id.is_monitor() || asdu.common_address != rtu.common_address || asdu.cot.negative {
        return true;
    }
    let received_at = Timestamp::now();
    for obj in &asdu.objects {
        let Some(map) = mapping.point_at(obj.ioa) else {
            debug!(rtu = %rtu.name, ioa = obj.ioa, "unmapped information object ignored");
            continue;
        };
        let Some((value, quality, source_time)) = datum_from_element(&obj.element, map) else {
            warn!(rtu = %rtu.name, ioa = obj.ioa, got = obj.element.kind_name(), expected = ?map.kind, "type does not match the mapping");
            continue;
        };
        last.insert(map.id.clone(), value);
        let datum = Datum { point: map.id.clone(), value, quality, source_time, received_at };
        if data.send(datum).await.is_err() {
            return false;
        }
        *sent += 1;
    }
    true
}

/// The link dropped: sends each point's last value again as invalid, once; false when the edge
/// has stopped.
async fn invalidate(last: &mut HashMap<PointId, Value>, data: &mpsc::Sender<Datum>, sent: &mut u64) -> bool {
    let received_at = Timestamp::now();
    let quality = Quality::GOOD.with_validity(Validity::Invalid);
    for (point, value) in last.drain() {
        if data.send(Datum { point, value, quality, source_time: None, received_at }).await.is_err() {
            return false;
        }
        *sent += 1;
    }
    true
}

/// Executes one command stage on the RTU and reports ACTCON and ACTTERM as results.
async fn execute(client: ClientHandle, common_address: u16, mapping: Arc<MappingFile>, cmd: DeviceCommand) {
    let c = &cmd.command;
    let Some(map) = mapping.command(&c.point) else {
        cmd.refuse("point has no command mapping").await;
        return;
    };
    let element = match element_from_command(c, map.kind, None) {
        Ok(e) => e,
        Err(e) => {
            cmd.refuse(&e.to_string()).await;
            return;
        }
    };
    let cause = if c.action == CommandAction::Cancel { Cause::Deactivation } else { Cause::Activation };
    let asdu = Asdu::single(map.kind.type_id(), Cot::new(cause), common_address, vec![InformationObject::new(map.ioa, element)]);
    let reply = match client.send_command(asdu).await {
        Ok(r) => r,
        Err(e) => {
            cmd.report(CommandOutcome::Refused { by: "device".into(), reason: e.to_string() }).await;
            return;
        }
    };
    if !reply.is_positive() {
        let reason = format!("negative confirmation ({:?})", reply.confirmation.cot.cause);
        info!(command_id = c.id, point = %c.point, %reason, "device refused command");
        cmd.report(CommandOutcome::Refused { by: "device".into(), reason }).await;
        return;
    }
    info!(command_id = c.id, point = %c.point, action = ?c.action, "device confirmed command");
    cmd.report(CommandOutcome::Confirmed).await;
    if c.action == CommandAction::Execute {
        match reply.await_termination().await {
            Ok(_) => cmd.report(CommandOutcome::Terminated).await,
            Err(e) => warn!(command_id = c.id, error = %e, "no termination from device"),
        }
    }
}

