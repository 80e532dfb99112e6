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
//! An ASDU the RTU sends again (it keeps what was not acknowledged and resends it on the next
//! connection) is recognised and not stored twice: the digests of the last k data ASDUs are the
//! RTU's source mark, committed with their data, and a new connection's first ASDUs that repeat
//! the end of that list are acknowledged without being stored ([`Redelivery`]).
//!
//! When the link to the RTU drops, every mapped point the adapter has a value for is sent again
//! with the invalid quality, so the control centre shows IV rather than a frozen value as good
//! (as the Modbus adapter does for a device that stops answering).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use gridtrust_adapter::{LastValues, RecentMessages};
use gridtrust_iec104::asdu::{Asdu, Cause, Cot, InformationObject, QOI_STATION};
use gridtrust_iec104::client::{Client, ClientConfig, ClientEvent, ClientHandle};
use gridtrust_iec104::connection::AckMode;
use gridtrust_iec104::tap::TapFactory;
use gridtrust_iec104_model::MappingFile;
use gridtrust_iec104_model::convert::{datum_from_element, element_from_command};
use gridtrust_model::{CommandAction, CommandOutcome, Timestamp};

use crate::adapter::{AdapterIo, DeviceCommand};
use crate::batcher::Datum;
use crate::config::RtuConfig;

/// Polls one RTU until the edge stops; `taps` (the edge's `[ids]`) watch every connection to it.
pub async fn run_rtu(rtu: RtuConfig, mapping: MappingFile, mut io: AdapterIo, taps: Option<Arc<dyn TapFactory>>) {
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
    let k = usize::from(rtu.link.k);
    let mut state = Intake {
        sent: 0,
        last: LastValues::default(),
        recent: io.durability.stored_mark().map_or_else(|| RecentMessages::new(k), |m| RecentMessages::from_mark(k, m)),
    };
    loop {
        match Client::connect_tapped(addr, tls.clone(), config.clone(), taps.as_deref()).await {
            Ok((client, events)) => {
                backoff = Duration::from_millis(200);
                info!(rtu = %rtu.name, %addr, "connected to RTU");
                if session(&rtu, &mapping, client, events, &mut io, &mut state).await == Ended::EdgeStopped {
                    return;
                }
                info!(rtu = %rtu.name, "RTU connection ended");
                match state.last.invalidate(&io.data).await {
                    Some(n) => state.sent += n,
                    None => return,
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

/// What the adapter keeps across connections to its RTU.
struct Intake {
    /// Data sent to the edge since the adapter started, the count the durability receipt uses.
    sent: u64,
    /// The last value of each point while the link is up: what is marked invalid when it drops.
    last: LastValues,
    /// Digests of the last k data ASDUs received, the RTU's source mark.
    recent: RecentMessages,
}

/// Recognises, at the start of a connection, the ASDUs the RTU sends again because their
/// acknowledgement did not reach it: they are the end of the list of ASDUs already received
/// ([`Intake::recent`]), in the same order, before anything new. A new connection's data ASDUs
/// are held while they could still be such a repeat; once that is decided, the repeats are
/// dropped and the rest forwarded in order. Interrogation answers and confirmations are
/// forwarded as they come and take no part: a new interrogation repeats the same answers.
///
/// Limit: a spontaneous ASDU byte-identical to the last ones received (same value, quality and
/// cause, no time tag) arriving first on a new connection is taken for a repeat.
struct Redelivery {
    tail: Vec<[u8; 16]>,
    /// Positions in `tail` where the data ASDUs seen so far could have started.
    candidates: Vec<usize>,
    /// Data ASDUs seen while undecided.
    seen: usize,
    /// The longest run seen that reached the end of `tail`.
    repeats: usize,
    held: Vec<(Asdu, Option<[u8; 16]>)>,
    /// Beyond this many held ASDUs decide anyway: the RTU stops at k unacknowledged.
    max_held: usize,
    decided: bool,
}

impl Redelivery {
    fn new(recent: &RecentMessages, max_held: usize) -> Self {
        let tail: Vec<_> = recent.digests().iter().copied().collect();
        Self {
            candidates: (0..tail.len()).collect(),
            decided: tail.is_empty(),
            tail,
            seen: 0,
            repeats: 0,
            held: Vec::new(),
            max_held: max_held.max(1),
        }
    }

    /// Takes one ASDU (`digest` when it is data that can be repeated); returns those to process
    /// now, in order, each with whether it is a repeat.
    fn feed(&mut self, asdu: Asdu, digest: Option<[u8; 16]>) -> Vec<(Asdu, Option<[u8; 16]>, bool)> {
        if self.decided {
            return vec![(asdu, digest, false)];
        }
        self.held.push((asdu, digest));
        if let Some(d) = digest {
            let (i, tail) = (self.seen, &self.tail);
            self.candidates.retain(|&p| tail.get(p + i) == Some(&d));
            self.seen += 1;
            if self.candidates.iter().any(|&p| p + self.seen == self.tail.len()) {
                self.repeats = self.seen;
            }
        }
        let open = self.candidates.iter().any(|&p| p + self.seen < self.tail.len());
        if open && self.held.len() < self.max_held {
            return Vec::new();
        }
        self.decided = true;
        let mut repeats = self.repeats;
        std::mem::take(&mut self.held)
            .into_iter()
            .map(|(asdu, digest)| {
                let repeat = digest.is_some() && repeats > 0;
                if repeat {
                    repeats -= 1;
                }
                (asdu, digest, repeat)
            })
            .collect()
    }
}

/// The digest of a data ASDU that a retransmission would repeat; `None` for interrogation answers
/// and confirmations.
fn repeatable_digest(asdu: &Asdu) -> Option<[u8; 16]> {
    let data = asdu.type_id.is_monitor()
        && !matches!(asdu.cot.cause, Cause::Interrogated | Cause::InterrogatedGroup(_) | Cause::CounterInterrogated);
    if !data {
        return None;
    }
    asdu.to_bytes().ok().map(|b| RecentMessages::digest(&[&b]))
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
    state: &mut Intake,
) -> Ended {
    let w = usize::from(rtu.link.w);
    let mut unreleased = Unreleased::default();
    let mut redelivery = Redelivery::new(&state.recent, w);
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
                    let digest = repeatable_digest(&asdu);
                    let waiting = unreleased.marks.len();
                    for (asdu, digest, repeat) in redelivery.feed(asdu, digest) {
                        if repeat {
                            debug!(rtu = %rtu.name, "ASDU sent again by the RTU; already stored");
                        } else {
                            let data = mapped(rtu, mapping, &asdu);
                            // The digest goes with the ASDU's data: marked before they are sent,
                            // so no commit can take the data without it.
                            if let Some(d) = digest {
                                state.recent.push_digest(d);
                                io.durability.mark(state.sent + data.len() as u64, state.recent.to_mark());
                            }
                            if !forward(data, &io.data, &mut state.sent, &mut state.last).await {
                                return Ended::EdgeStopped;
                            }
                        }
                        unreleased.marks.push_back(state.sent);
                    }
                    if let Some(n) = unreleased.release(io.durability.committed()) {
                        client.release(n);
                    }
                    // The RTU stops at k unacknowledged ASDUs; commit now rather than at the
                    // batch deadline.
                    if waiting < w && unreleased.marks.len() >= w {
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

/// The data of every mapped monitor object of `asdu`.
fn mapped(rtu: &RtuConfig, mapping: &MappingFile, asdu: &Asdu) -> Vec<Datum> {
    if !asdu.type_id.is_monitor() || asdu.common_address != rtu.common_address || asdu.cot.negative {
        return Vec::new();
    }
    let received_at = Timestamp::now();
    let mut out = Vec::with_capacity(asdu.objects.len());
    for obj in &asdu.objects {
        let Some(map) = mapping.point_at(obj.ioa) else {
            debug!(rtu = %rtu.name, ioa = obj.ioa, "unmapped information object ignored");
            continue;
        };
        let Some((value, quality, source_time)) = datum_from_element(&obj.element, map) else {
            warn!(rtu = %rtu.name, ioa = obj.ioa, got = obj.element.kind_name(), expected = ?map.kind, "type does not match the mapping");
            continue;
        };
        out.push(Datum { point: map.id.clone(), value, quality, source_time, received_at });
    }
    out
}

/// Sends `data` to the edge, counting them in `sent` and remembering each point's value in
/// `last`; false when the edge has stopped.
async fn forward(data: Vec<Datum>, to: &mpsc::Sender<Datum>, sent: &mut u64, last: &mut LastValues) -> bool {
    for datum in data {
        last.remember(&datum);
        if to.send(datum).await.is_err() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use gridtrust_iec104::asdu::{Element, Qds, TypeId};

    fn spontaneous(v: f32) -> Asdu {
        let element = Element::ShortFloat { value: v, quality: Qds::GOOD, time: None };
        Asdu::single(TypeId::MMeNc1, Cot::new(Cause::Spontaneous), 1, vec![InformationObject::new(1, element)])
    }

    fn interrogated(v: f32) -> Asdu {
        let element = Element::ShortFloat { value: v, quality: Qds::GOOD, time: None };
        Asdu::single(TypeId::MMeNc1, Cot::new(Cause::Interrogated), 1, vec![InformationObject::new(1, element)])
    }

    /// Feeds `values` to a fresh connection after `received`; which were taken for repeats.
    fn repeats(received: &[f32], values: &[Asdu]) -> Vec<bool> {
        let mut recent = RecentMessages::new(12);
        for v in received {
            recent.push_digest(repeatable_digest(&spontaneous(*v)).unwrap());
        }
        let mut r = Redelivery::new(&recent, 8);
        let mut out = Vec::new();
        for a in values {
            out.extend(r.feed(a.clone(), repeatable_digest(a)).into_iter().map(|(_, _, repeat)| repeat));
        }
        out
    }

    #[test]
    fn the_resent_end_of_what_was_received_is_recognised_and_what_follows_is_not() {
        let got = repeats(&[1.0, 2.0, 3.0], &[spontaneous(2.0), spontaneous(3.0), spontaneous(4.0)]);
        assert_eq!(got, vec![true, true, false]);
    }

    #[test]
    fn a_run_that_does_not_reach_the_end_of_what_was_received_is_new_data() {
        // 1, 2 was received but 3 came after it: a connection starting 1, 2, 5 is new data.
        let got = repeats(&[1.0, 2.0, 3.0], &[spontaneous(1.0), spontaneous(2.0), spontaneous(5.0)]);
        assert_eq!(got, vec![false, false, false]);
        // With a repeating pattern the longest run that reaches the end wins.
        let got = repeats(&[1.0, 2.0, 1.0], &[spontaneous(1.0), spontaneous(7.0)]);
        assert_eq!(got, vec![true, false]);
    }

    #[test]
    fn interrogation_answers_are_never_repeats_and_keep_their_order() {
        let got = repeats(&[5.0], &[interrogated(5.0), spontaneous(5.0), interrogated(6.0)]);
        assert_eq!(got, vec![false, true, false]);
        let got = repeats(&[], &[spontaneous(5.0)]);
        assert_eq!(got, vec![false]);
    }
}
