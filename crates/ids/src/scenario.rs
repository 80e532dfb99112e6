//! A deterministic generator of labelled IEC 104 traffic, for measuring the detector.
//!
//! The plant: a controlling station (SCADA, 10.0.0.5) holds one connection to each of two RTUs
//! (10.0.1.10 common address 1, 10.0.1.11 common address 2). Each RTU sends five measurements
//! (two feeder currents, busbar voltage, feeder power, frequency) periodically every 2 s, answers
//! a general interrogation every 15 minutes with its measurements, three double points (two
//! breakers, one disconnector) and three single-point alarms, reports alarm changes
//! spontaneously, and accepts time-tagged commands on two known targets (the disconnector and an
//! alarm reset) every few minutes, with confirmation, termination and the resulting status
//! change. Values follow a slow daily-like swing plus noise. The controlling station
//! acknowledges every eight I-frames with an S-frame.
//!
//! Attacks are injected as episodes with known start and end; faults that are not attacks
//! (a breaker trip, a drifting sensor, a lost link) change the plant or the link but carry no
//! episode, so any alert they cause is a false alarm. The same seed gives the same bytes.

use std::net::Ipv4Addr;

use gridtrust_iec104::apci::{Apdu, UFunction};
use gridtrust_iec104::asdu::{Asdu, Cause, Cot, DoublePointValue, Element, InformationObject, Qds, TypeId};
use gridtrust_iec104::time::Cp56Time2a;

use crate::event::{Direction, Endpoint, Event, EventKind, Flow, Protocol};
use crate::packet::{ACK, FIN, SYN, Segment, encode_tcp};

/// The attacks of the suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Attack {
    /// An unknown host connects to an RTU and sends a command.
    CommandInjection,
    /// The controlling station's connection carries a command to a target never commanded.
    UnknownCommandTarget,
    /// An earlier command frame is sent again on the same connection.
    Replay,
    /// Connection attempts to many RTU addresses, or interrogations of many station addresses.
    HorizontalScan,
    /// Reads of many information objects of one RTU.
    VerticalScan,
    /// Interrogation commands at 200 per second.
    Flood,
    /// A device with a new address and station number reports data.
    RogueDevice,
    /// A man in the middle raises a current by a quarter for a minute.
    MitmValueChange,
    /// A third party injects a measurement into the RTU's stream under the RTU's IP address.
    FalseDataInjection,
}

/// Faults that are not attacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// Protection opens a breaker: spontaneous status, alarm, the feeder's current and power
    /// fall to zero; the breaker closes again minutes later.
    BreakerTrip,
    /// The busbar voltage sensor of RTU 2 drifts up by a fifth over the hour.
    SensorDrift,
    /// The link to RTU 1 is lost twice; the controlling station reconnects, starts data transfer
    /// and interrogates.
    LostLink,
}

/// One scenario of the suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScenarioKind {
    /// Normal operation only.
    Normal,
    /// Normal operation with attack episodes.
    Attack(Attack),
    /// Normal operation with a fault that is not an attack.
    Fault(Fault),
}

impl ScenarioKind {
    /// Every scenario of the suite, normal first.
    pub const ALL: [ScenarioKind; 13] = [
        ScenarioKind::Normal,
        ScenarioKind::Attack(Attack::CommandInjection),
        ScenarioKind::Attack(Attack::UnknownCommandTarget),
        ScenarioKind::Attack(Attack::Replay),
        ScenarioKind::Attack(Attack::HorizontalScan),
        ScenarioKind::Attack(Attack::VerticalScan),
        ScenarioKind::Attack(Attack::Flood),
        ScenarioKind::Attack(Attack::RogueDevice),
        ScenarioKind::Attack(Attack::MitmValueChange),
        ScenarioKind::Attack(Attack::FalseDataInjection),
        ScenarioKind::Fault(Fault::BreakerTrip),
        ScenarioKind::Fault(Fault::SensorDrift),
        ScenarioKind::Fault(Fault::LostLink),
    ];

    /// A short name.
    pub fn name(self) -> &'static str {
        match self {
            ScenarioKind::Normal => "normal",
            ScenarioKind::Attack(Attack::CommandInjection) => "command-injection",
            ScenarioKind::Attack(Attack::UnknownCommandTarget) => "unknown-command-target",
            ScenarioKind::Attack(Attack::Replay) => "replay",
            ScenarioKind::Attack(Attack::HorizontalScan) => "horizontal-scan",
            ScenarioKind::Attack(Attack::VerticalScan) => "vertical-scan",
            ScenarioKind::Attack(Attack::Flood) => "flood",
            ScenarioKind::Attack(Attack::RogueDevice) => "rogue-device",
            ScenarioKind::Attack(Attack::MitmValueChange) => "mitm-value-change",
            ScenarioKind::Attack(Attack::FalseDataInjection) => "false-data-injection",
            ScenarioKind::Fault(Fault::BreakerTrip) => "fault-breaker-trip",
            ScenarioKind::Fault(Fault::SensorDrift) => "fault-sensor-drift",
            ScenarioKind::Fault(Fault::LostLink) => "fault-lost-link",
        }
    }
}

/// An attack episode: when it ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Episode {
    /// First attack frame, microseconds.
    pub start_us: i64,
    /// Last attack frame, microseconds.
    pub end_us: i64,
}

/// Generated traffic with its ground truth.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Which scenario.
    pub kind: ScenarioKind,
    /// The events in time order.
    pub events: Vec<Event>,
    /// Per event: the episode it belongs to, if it is attack traffic.
    pub labels: Vec<Option<usize>>,
    /// The attack episodes.
    pub episodes: Vec<Episode>,
    /// Hours of traffic.
    pub hours: f64,
}

/// SplitMix64: small, deterministic, good enough for traffic shapes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.unit() * (hi - lo) as f64) as i64
    }

    fn gauss(&mut self) -> f64 {
        let u1 = self.unit().max(1e-12);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

const SEC: i64 = 1_000_000;
/// Scenario time starts at 2026-01-01T00:00:00Z.
const EPOCH_US: i64 = 1_767_225_600 * SEC;
const SCADA: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 5);
const SCADA_MAC: [u8; 6] = [2, 0, 0, 0, 0, 5];
const ATTACKER: Ipv4Addr = Ipv4Addr::new(10, 0, 9, 66);
const ATTACKER_MAC: [u8; 6] = [2, 0, 0, 0, 9, 66];
const PERIOD_US: i64 = 2 * SEC;
const GI_US: i64 = 15 * 60 * SEC;

/// The measured points: IOA and nominal value; index 0 and 3 belong to the feeder behind breaker
/// 2001.
const MEASUREMENTS: [(u32, f64, f64); 5] =
    [(1001, 400.0, 2.0), (1002, 250.0, 1.5), (1003, 20_000.0, 40.0), (1004, 13_000.0, 60.0), (1005, 50.0, 0.01)];
const BREAKERS: [u32; 3] = [2001, 2002, 2003];
const ALARMS: [u32; 3] = [3001, 3002, 3003];
/// Known command targets: the disconnector (double command) and an alarm reset (single command).
const DISCONNECTOR_CMD: u32 = 5003;
const RESET_CMD: u32 = 5101;

#[derive(Clone, Copy)]
struct Rtu {
    ip: Ipv4Addr,
    mac: [u8; 6],
    ca: u16,
}

const RTUS: [Rtu; 2] = [
    Rtu { ip: Ipv4Addr::new(10, 0, 1, 10), mac: [2, 0, 0, 0, 1, 10], ca: 1 },
    Rtu { ip: Ipv4Addr::new(10, 0, 1, 11), mac: [2, 0, 0, 0, 1, 11], ca: 2 },
];

enum Payload {
    Asdu(Asdu),
    U(UFunction),
    Open,
    Close,
    /// The last process command sent on the connection, again, with its old numbers.
    ReplayLastCommand,
    /// An I-frame with the sender's current N(S), not advancing it, from another MAC.
    Injected(Asdu, [u8; 6]),
}

struct Msg {
    t: i64,
    conn: usize,
    dir: Direction,
    payload: Payload,
    episode: Option<usize>,
}

struct Conn {
    flow: Flow,
    client_mac: [u8; 6],
    server_mac: [u8; 6],
    /// Next N(S) client → server and server → client.
    ns: [u16; 2],
    unacked: u16,
    last_command: Option<Apdu>,
}

/// When the connection to each RTU is up: (from, to, connection index).
type Uptime = Vec<(i64, i64, usize)>;

struct Gen {
    rng: Rng,
    msgs: Vec<Msg>,
    conns: Vec<Conn>,
    uptime: [Uptime; 2],
    end: i64,
    episodes: Vec<Episode>,
    /// Breaker 2001 of RTU 1 is open between these times (breaker-trip fault).
    trips: Vec<(i64, i64)>,
}

fn asdu(type_id: TypeId, cause: Cause, ca: u16, objects: Vec<InformationObject>) -> Asdu {
    Asdu { type_id, sequence: false, cot: Cot::new(cause), common_address: ca, objects }
}

fn cp56(t_us: i64) -> Option<Cp56Time2a> {
    Cp56Time2a::from_unix_ms(t_us / 1000).ok()
}

impl Gen {
    fn add_conn(&mut self, client: Endpoint, client_mac: [u8; 6], server: Endpoint, server_mac: [u8; 6]) -> usize {
        self.conns.push(Conn { flow: Flow { client, server }, client_mac, server_mac, ns: [0, 0], unacked: 0, last_command: None });
        self.conns.len() - 1
    }

    fn push(&mut self, t: i64, conn: usize, dir: Direction, payload: Payload, episode: Option<usize>) {
        self.msgs.push(Msg { t, conn, dir, payload, episode });
    }

    fn conn_at(&self, rtu: usize, t: i64) -> Option<usize> {
        self.uptime.get(rtu)?.iter().find(|(from, to, _)| (*from..*to).contains(&t)).map(|u| u.2)
    }

    /// Open, start data transfer and interrogate: what the controlling station does on every
    /// (re)connection.
    fn connect(&mut self, rtu: usize, t: i64, until: i64, port: u16) {
        let r = RTUS[rtu];
        let c = self.add_conn(Endpoint { ip: SCADA, port }, SCADA_MAC, Endpoint { ip: r.ip, port: 2404 }, r.mac);
        self.uptime[rtu].push((t, until, c));
        self.push(t, c, Direction::ToServer, Payload::Open, None);
        self.push(t + 2_000, c, Direction::ToServer, Payload::U(UFunction::StartDtAct), None);
        self.push(t + 4_000, c, Direction::ToClient, Payload::U(UFunction::StartDtCon), None);
        self.interrogation(rtu, c, t + 10_000);
        if until < self.end {
            self.push(until, c, Direction::ToServer, Payload::Close, None);
        }
    }

    fn interrogation(&mut self, rtu: usize, c: usize, t: i64) {
        let ca = RTUS[rtu].ca;
        let gi = |cause| asdu(TypeId::CIcNa1, cause, ca, vec![InformationObject::new(0, Element::Interrogation { qoi: 20 })]);
        self.push(t, c, Direction::ToServer, Payload::Asdu(gi(Cause::Activation)), None);
        self.push(t + 20_000, c, Direction::ToClient, Payload::Asdu(gi(Cause::ActivationCon)), None);
        let meas = self.measurements(rtu, t + 40_000);
        self.push(t + 40_000, c, Direction::ToClient, Payload::Asdu(asdu(TypeId::MMeNc1, Cause::Interrogated, ca, meas)), None);
        let tripped = rtu == 0 && self.trips.iter().any(|&(from, to)| (from..to).contains(&t));
        let state = |ioa| if tripped && ioa == 2001 { DoublePointValue::Off } else { DoublePointValue::On };
        let dps = BREAKERS
            .iter()
            .map(|&ioa| InformationObject::new(ioa, Element::DoublePoint { value: state(ioa), quality: Qds::GOOD, time: None }))
            .collect();
        self.push(t + 50_000, c, Direction::ToClient, Payload::Asdu(asdu(TypeId::MDpNa1, Cause::Interrogated, ca, dps)), None);
        let sps = ALARMS
            .iter()
            .map(|&ioa| InformationObject::new(ioa, Element::SinglePoint { value: false, quality: Qds::GOOD, time: None }))
            .collect();
        self.push(t + 60_000, c, Direction::ToClient, Payload::Asdu(asdu(TypeId::MSpNa1, Cause::Interrogated, ca, sps)), None);
        self.push(t + 70_000, c, Direction::ToClient, Payload::Asdu(gi(Cause::ActivationTerm)), None);
    }

    /// The RTU's measurements at time `t` (the plant state is applied later, in `values`).
    fn measurements(&mut self, rtu: usize, t: i64) -> Vec<InformationObject> {
        MEASUREMENTS
            .iter()
            .map(|&(ioa, nominal, noise)| {
                // Marker values: the plant model in `finish` replaces them by the physical value.
                let swing = 1.0 + 0.05 * (std::f64::consts::TAU * ((t - EPOCH_US) as f64 / (3600.0 * SEC as f64)) + rtu as f64).sin();
                let v = nominal * swing + noise * self.rng.gauss();
                InformationObject::new(ioa, Element::ShortFloat { value: v as f32, quality: Qds::GOOD, time: None })
            })
            .collect()
    }

    fn normal_operation(&mut self, start: i64) {
        for (rtu, station) in RTUS.iter().enumerate() {
            // Periodic measurements.
            let mut t = start + 200_000 + rtu as i64 * 300_000;
            while t < self.end {
                if let Some(c) = self.conn_at(rtu, t) {
                    let meas = self.measurements(rtu, t);
                    self.push(t, c, Direction::ToClient, Payload::Asdu(asdu(TypeId::MMeNc1, Cause::Periodic, station.ca, meas)), None);
                }
                t += PERIOD_US + self.rng.range(-20_000, 20_000);
            }
            // General interrogation every 15 minutes.
            let mut t = start + GI_US;
            while t < self.end {
                if let Some(c) = self.conn_at(rtu, t) {
                    self.interrogation(rtu, c, t);
                }
                t += GI_US;
            }
            // Commands: the first after one minute (so a replay has something to replay), then
            // every few minutes, alternating the two known targets.
            let mut t = start + 60 * SEC + rtu as i64 * 7 * SEC;
            let mut k = 0;
            while t < self.end {
                if let Some(c) = self.conn_at(rtu, t) {
                    self.command(rtu, c, t, k % 2 == 0, None);
                }
                k += 1;
                t += self.rng.range(3 * 60 * SEC, 7 * 60 * SEC);
            }
            // Alarms come and go.
            let mut t = start + self.rng.range(60 * SEC, 600 * SEC);
            let mut on = false;
            while t < self.end {
                on = !on;
                let ioa = ALARMS[self.rng.range(0, 3) as usize % 3];
                if let Some(c) = self.conn_at(rtu, t) {
                    let sp = Element::SinglePoint { value: on, quality: Qds::GOOD, time: cp56(t) };
                    self.push(
                        t,
                        c,
                        Direction::ToClient,
                        Payload::Asdu(asdu(TypeId::MSpTb1, Cause::Spontaneous, station.ca, vec![InformationObject::new(ioa, sp)])),
                        None,
                    );
                }
                t += self.rng.range(2 * 60 * SEC, 12 * 60 * SEC);
            }
        }
    }

    /// A time-tagged command with confirmation, termination and the status change it causes.
    fn command(&mut self, rtu: usize, c: usize, t: i64, disconnector: bool, episode: Option<usize>) {
        let ca = RTUS[rtu].ca;
        let tag = cp56(t - self.rng.range(5_000, 150_000));
        let (type_id, ioa, element) = if disconnector {
            let value = if self.rng.unit() < 0.5 { DoublePointValue::Off } else { DoublePointValue::On };
            (TypeId::CDcTa1, DISCONNECTOR_CMD, Element::DoubleCommand { value, qualifier: 0, select: false, time: tag })
        } else {
            (TypeId::CScTa1, RESET_CMD, Element::SingleCommand { value: true, qualifier: 0, select: false, time: tag })
        };
        let cmd = |cause| asdu(type_id, cause, ca, vec![InformationObject::new(ioa, element)]);
        self.push(t, c, Direction::ToServer, Payload::Asdu(cmd(Cause::Activation)), episode);
        self.push(t + 30_000, c, Direction::ToClient, Payload::Asdu(cmd(Cause::ActivationCon)), episode);
        if disconnector && let Element::DoubleCommand { value, .. } = element {
            let dp = Element::DoublePoint { value, quality: Qds::GOOD, time: cp56(t + 900_000) };
            self.push(
                t + 900_000,
                c,
                Direction::ToClient,
                Payload::Asdu(asdu(TypeId::MDpTb1, Cause::Spontaneous, ca, vec![InformationObject::new(2003, dp)])),
                episode,
            );
        }
        self.push(t + 1_000_000, c, Direction::ToClient, Payload::Asdu(cmd(Cause::ActivationTerm)), episode);
    }

    /// Episode start times: `n` of them, at least eight minutes apart, inside the hour.
    fn episode_starts(&mut self, start: i64, n: usize) -> Vec<i64> {
        let span = self.end - start;
        (0..n).map(|i| start + span * (2 * i as i64 + 1) / (2 * n as i64) + self.rng.range(-60 * SEC, 60 * SEC)).collect()
    }

    fn episode(&mut self, start_us: i64, end_us: i64) -> usize {
        self.episodes.push(Episode { start_us, end_us });
        self.episodes.len() - 1
    }

    fn attack(&mut self, attack: Attack, start: i64) {
        let starts = self.episode_starts(start, 4);
        for (i, t) in starts.into_iter().enumerate() {
            let rtu = i % 2;
            let r = RTUS[rtu];
            let Some(c) = self.conn_at(rtu, t) else { continue };
            match attack {
                Attack::CommandInjection => {
                    let e = self.episode(t, t + 1_100_000);
                    let a = self.add_conn(
                        Endpoint { ip: ATTACKER, port: 40_000 + i as u16 },
                        ATTACKER_MAC,
                        Endpoint { ip: r.ip, port: 2404 },
                        r.mac,
                    );
                    self.push(t, a, Direction::ToServer, Payload::Open, Some(e));
                    self.push(t + 2_000, a, Direction::ToServer, Payload::U(UFunction::StartDtAct), Some(e));
                    self.push(t + 4_000, a, Direction::ToClient, Payload::U(UFunction::StartDtCon), Some(e));
                    self.command(rtu, a, t + 50_000, false, Some(e));
                    self.push(t + 1_100_000, a, Direction::ToServer, Payload::Close, Some(e));
                }
                Attack::UnknownCommandTarget => {
                    let e = self.episode(t, t + 30_000);
                    let tag = cp56(t - 20_000);
                    let cmd = |cause, negative| Asdu {
                        cot: Cot { negative, ..Cot::new(cause) },
                        ..asdu(
                            TypeId::CDcTa1,
                            cause,
                            r.ca,
                            vec![InformationObject::new(
                                5999,
                                Element::DoubleCommand { value: DoublePointValue::Off, qualifier: 0, select: false, time: tag },
                            )],
                        )
                    };
                    self.push(t, c, Direction::ToServer, Payload::Asdu(cmd(Cause::Activation, false)), Some(e));
                    self.push(t + 30_000, c, Direction::ToClient, Payload::Asdu(cmd(Cause::UnknownObjectAddress, true)), Some(e));
                }
                Attack::Replay => {
                    let e = self.episode(t, t);
                    self.push(t, c, Direction::ToServer, Payload::ReplayLastCommand, Some(e));
                }
                Attack::HorizontalScan => {
                    let e = self.episode(t, t + 19 * 100_000);
                    for k in 0..20u16 {
                        let tk = t + i64::from(k) * 100_000;
                        if i % 2 == 0 {
                            let target = Endpoint { ip: Ipv4Addr::new(10, 0, 1, 20 + k as u8), port: 2404 };
                            let s =
                                self.add_conn(Endpoint { ip: SCADA, port: 45_000 + k }, SCADA_MAC, target, [2, 0, 0, 0, 1, 20 + k as u8]);
                            self.push(tk, s, Direction::ToServer, Payload::Open, Some(e));
                        } else {
                            let gi = asdu(
                                TypeId::CIcNa1,
                                Cause::Activation,
                                3 + k,
                                vec![InformationObject::new(0, Element::Interrogation { qoi: 20 })],
                            );
                            self.push(tk, c, Direction::ToServer, Payload::Asdu(gi), Some(e));
                        }
                    }
                }
                Attack::VerticalScan => {
                    let e = self.episode(t, t + 39 * 100_000 + 20_000);
                    for k in 0..40u32 {
                        let tk = t + i64::from(k) * 100_000;
                        let read = |cause, negative| Asdu {
                            cot: Cot { negative, ..Cot::new(cause) },
                            ..asdu(TypeId::CRdNa1, cause, r.ca, vec![InformationObject::new(1 + k, Element::Read)])
                        };
                        self.push(tk, c, Direction::ToServer, Payload::Asdu(read(Cause::Request, false)), Some(e));
                        self.push(tk + 20_000, c, Direction::ToClient, Payload::Asdu(read(Cause::UnknownObjectAddress, true)), Some(e));
                    }
                }
                Attack::Flood => {
                    let e = self.episode(t, t + 3 * SEC);
                    for k in 0..600i64 {
                        let gi = asdu(
                            TypeId::CIcNa1,
                            Cause::Activation,
                            r.ca,
                            vec![InformationObject::new(0, Element::Interrogation { qoi: 20 })],
                        );
                        self.push(t + k * 5_000, c, Direction::ToServer, Payload::Asdu(gi), Some(e));
                    }
                }
                Attack::RogueDevice => {
                    let e = self.episode(t, t + 10 * SEC);
                    let rogue = Endpoint { ip: Ipv4Addr::new(10, 0, 1, 99), port: 2404 };
                    let s = self.add_conn(Endpoint { ip: SCADA, port: 46_000 + i as u16 }, SCADA_MAC, rogue, [2, 0, 0, 0, 1, 99]);
                    self.push(t, s, Direction::ToServer, Payload::Open, Some(e));
                    self.push(t + 2_000, s, Direction::ToServer, Payload::U(UFunction::StartDtAct), Some(e));
                    self.push(t + 4_000, s, Direction::ToClient, Payload::U(UFunction::StartDtCon), Some(e));
                    for k in 0..5 {
                        let meas = self.measurements(0, t);
                        self.push(
                            t + 10_000 + k * 2 * SEC,
                            s,
                            Direction::ToClient,
                            Payload::Asdu(asdu(TypeId::MMeNc1, Cause::Periodic, 7, meas)),
                            Some(e),
                        );
                    }
                }
                Attack::MitmValueChange => {
                    // The man in the middle rewrites IOA 1001 of this RTU for one minute; the
                    // frames it rewrites are labelled in `finish`.
                    self.episode(t, t + 60 * SEC);
                }
                Attack::FalseDataInjection => {
                    let e = self.episode(t, t + 2 * SEC);
                    let fake = InformationObject::new(1003, Element::ShortFloat { value: 15_000.0, quality: Qds::GOOD, time: None });
                    self.push(
                        t,
                        c,
                        Direction::ToClient,
                        Payload::Injected(asdu(TypeId::MMeNc1, Cause::Spontaneous, r.ca, vec![fake]), ATTACKER_MAC),
                        Some(e),
                    );
                }
            }
        }
    }
}

/// The plant's state over time, applied to measurement values as frames are emitted.
#[derive(Default)]
struct Plant {
    /// Breaker 2001 of RTU 1 open between these times.
    trips: Vec<(i64, i64)>,
    /// Drift of RTU 2's voltage: fraction per hour from this start.
    drift_from: Option<i64>,
    /// IOA 1001 of RTU n (by episode parity) scaled by 1.25 inside these episodes.
    mitm: Vec<(usize, i64, i64, usize)>,
}

/// Generates one scenario of `hours` of traffic (attack episodes spread over it).
pub fn generate(kind: ScenarioKind, seed: u64, hours: f64) -> Scenario {
    let start = EPOCH_US;
    let end = start + (hours * 3600.0 * SEC as f64) as i64;
    let mut g = Gen {
        rng: Rng(seed),
        msgs: Vec::new(),
        conns: Vec::new(),
        uptime: [Vec::new(), Vec::new()],
        end,
        episodes: Vec::new(),
        trips: Vec::new(),
    };
    let mut plant = Plant::default();
    if kind == ScenarioKind::Fault(Fault::BreakerTrip) {
        for t in g.episode_starts(start, 2) {
            let back = t + g.rng.range(3 * 60 * SEC, 5 * 60 * SEC);
            g.trips.push((t, back));
        }
        plant.trips = g.trips.clone();
    }
    // Connections, with outages for the lost-link fault.
    for rtu in 0..RTUS.len() {
        let t0 = start + rtu as i64 * 50_000;
        if kind == ScenarioKind::Fault(Fault::LostLink) && rtu == 0 {
            let outages = g.episode_starts(start, 2);
            let mut from = t0;
            for (k, lost) in outages.into_iter().enumerate() {
                g.connect(rtu, from, lost, 50_000 + k as u16);
                from = lost + g.rng.range(20 * SEC, 60 * SEC);
            }
            g.connect(rtu, from, end, 50_010);
        } else {
            g.connect(rtu, t0, end, 50_000 + 100 * rtu as u16);
        }
    }
    g.normal_operation(start);
    match kind {
        ScenarioKind::Normal => {}
        ScenarioKind::Attack(a) => g.attack(a, start),
        ScenarioKind::Fault(Fault::BreakerTrip) => {
            for (t, back) in g.trips.clone() {
                if let Some(c) = g.conn_at(0, t) {
                    let dp = |value, at| Element::DoublePoint { value, quality: Qds::GOOD, time: cp56(at) };
                    g.push(
                        t,
                        c,
                        Direction::ToClient,
                        Payload::Asdu(asdu(
                            TypeId::MDpTb1,
                            Cause::Spontaneous,
                            1,
                            vec![InformationObject::new(2001, dp(DoublePointValue::Off, t))],
                        )),
                        None,
                    );
                    let sp = Element::SinglePoint { value: true, quality: Qds::GOOD, time: cp56(t + 5_000) };
                    g.push(
                        t + 5_000,
                        c,
                        Direction::ToClient,
                        Payload::Asdu(asdu(TypeId::MSpTb1, Cause::Spontaneous, 1, vec![InformationObject::new(3001, sp)])),
                        None,
                    );
                    g.push(
                        back,
                        c,
                        Direction::ToClient,
                        Payload::Asdu(asdu(
                            TypeId::MDpTb1,
                            Cause::Spontaneous,
                            1,
                            vec![InformationObject::new(2001, dp(DoublePointValue::On, back))],
                        )),
                        None,
                    );
                }
            }
        }
        ScenarioKind::Fault(Fault::SensorDrift) => plant.drift_from = Some(start),
        ScenarioKind::Fault(Fault::LostLink) => {}
    }
    if kind == ScenarioKind::Attack(Attack::MitmValueChange) {
        plant.mitm = g.episodes.iter().enumerate().map(|(i, e)| (i % 2, e.start_us, e.end_us, i)).collect();
    }
    finish(kind, g, &plant, hours)
}

/// Assigns sequence numbers in time order, applies the plant to values, adds the controlling
/// station's S-frames, and labels.
fn finish(kind: ScenarioKind, mut g: Gen, plant: &Plant, hours: f64) -> Scenario {
    g.msgs.sort_by_key(|m| m.t);
    let mut events = Vec::with_capacity(g.msgs.len() * 11 / 10);
    let mut labels = Vec::with_capacity(events.capacity());
    let mut episodes = g.episodes.clone();
    for m in g.msgs {
        let Some(conn) = g.conns.get_mut(m.conn) else { continue };
        let rtu = RTUS.iter().position(|r| r.ip == conn.flow.server.ip);
        let mac = match m.dir {
            Direction::ToServer => conn.client_mac,
            Direction::ToClient => conn.server_mac,
        };
        let (me, other) = match m.dir {
            Direction::ToServer => (0, 1),
            Direction::ToClient => (1, 0),
        };
        let mut episode = m.episode;
        let mut src_mac = mac;
        let kind = match m.payload {
            Payload::Open => {
                conn.ns = [0, 0];
                conn.unacked = 0;
                EventKind::Open
            }
            Payload::Close => EventKind::Close,
            Payload::U(f) => EventKind::Iec104(Apdu::U(f)),
            Payload::ReplayLastCommand => match conn.last_command.clone() {
                Some(apdu) => EventKind::Iec104(apdu),
                None => continue,
            },
            Payload::Injected(a, attacker) => {
                src_mac = attacker;
                let Ok(bytes) = a.to_bytes() else { continue };
                EventKind::Iec104(Apdu::I { send_seq: conn.ns[me], recv_seq: conn.ns[other], asdu: bytes.into() })
            }
            Payload::Asdu(mut a) => {
                if let Some(rtu) = rtu
                    && m.dir == Direction::ToClient
                    && a.type_id == TypeId::MMeNc1
                    && let Some(e) = apply_plant(plant, rtu, m.t, &mut a)
                {
                    episode = Some(e);
                }
                let Ok(bytes) = a.to_bytes() else { continue };
                let apdu = Apdu::I { send_seq: conn.ns[me], recv_seq: conn.ns[other], asdu: bytes.into() };
                conn.ns[me] = (conn.ns[me] + 1) % gridtrust_iec104::apci::SEQ_MODULUS;
                if m.dir == Direction::ToServer && a.type_id.is_process_command() && a.cot.cause == Cause::Activation && m.episode.is_none()
                {
                    conn.last_command = Some(apdu.clone());
                }
                EventKind::Iec104(apdu)
            }
        };
        let is_i = matches!(kind, EventKind::Iec104(Apdu::I { .. }));
        events.push(Event { time_us: m.t, flow: conn.flow, direction: m.dir, src_mac: Some(src_mac), protocol: Protocol::Iec104, kind });
        labels.push(episode);
        if is_i && m.dir == Direction::ToClient {
            conn.unacked += 1;
            if conn.unacked >= 8 {
                conn.unacked = 0;
                events.push(Event {
                    time_us: m.t,
                    flow: conn.flow,
                    direction: Direction::ToServer,
                    src_mac: Some(conn.client_mac),
                    protocol: Protocol::Iec104,
                    kind: EventKind::Iec104(Apdu::S { recv_seq: conn.ns[1] }),
                });
                labels.push(None);
            }
        }
    }
    // An episode runs from its first attack frame as emitted (a man in the middle starts with
    // the first frame it rewrites) to its last, or to when the attacker stops; episodes whose traffic could not be placed (no
    // connection at the time) are dropped.
    let mut span: Vec<Option<(i64, i64)>> = vec![None; episodes.len()];
    for (e, l) in events.iter().zip(&labels) {
        if let Some(slot) = l.and_then(|i| span.get_mut(i)) {
            let (from, to) = slot.get_or_insert((e.time_us, e.time_us));
            *from = (*from).min(e.time_us);
            *to = (*to).max(e.time_us);
        }
    }
    for (ep, sp) in episodes.iter_mut().zip(&span) {
        if let Some((from, to)) = *sp {
            *ep = Episode { start_us: from, end_us: to.max(ep.end_us) };
        }
    }
    let mut placed = vec![false; episodes.len()];
    for e in labels.iter().flatten() {
        if let Some(p) = placed.get_mut(*e) {
            *p = true;
        }
    }
    let renumber: Vec<Option<usize>> = placed
        .iter()
        .scan(0, |n, &p| {
            Some(p.then(|| {
                *n += 1;
                *n - 1
            }))
        })
        .collect();
    for l in labels.iter_mut() {
        *l = l.and_then(|e| renumber.get(e).copied().flatten());
    }
    let mut k = 0;
    episodes.retain(|_| {
        k += 1;
        placed.get(k - 1).copied().unwrap_or(false)
    });
    Scenario { kind, events, labels, episodes, hours }
}

/// Sets the physical value of each measurement in `a` (trip, drift, man in the middle); returns
/// the episode when a man in the middle rewrote it.
fn apply_plant(plant: &Plant, rtu: usize, t: i64, a: &mut Asdu) -> Option<usize> {
    let mut rewritten = None;
    let tripped = rtu == 0 && plant.trips.iter().any(|&(from, to)| (from..to).contains(&t));
    for o in a.objects.iter_mut() {
        let Element::ShortFloat { value, .. } = &mut o.element else { continue };
        if tripped && (o.ioa == 1001 || o.ioa == 1004) {
            // No load behind an open breaker: a small residual noise around zero.
            *value = (*value - MEASUREMENTS[if o.ioa == 1001 { 0 } else { 3 }].1 as f32) * 0.01;
        }
        if rtu == 1
            && o.ioa == 1003
            && let Some(from) = plant.drift_from
        {
            *value *= 1.0 + 0.2 * ((t - from) as f64 / (3600.0 * SEC as f64)) as f32;
        }
        for &(r, from, to, episode) in &plant.mitm {
            if r == rtu && o.ioa == 1001 && (from..=to).contains(&t) {
                *value *= 1.25;
                rewritten = Some(episode);
            }
        }
    }
    rewritten
}

/// Writes events as an Ethernet pcap (one TCP segment per event, SYN for opens, FIN for
/// closes), so generated scenarios can be fed to `gridtrust ids learn/score` like a capture.
pub fn to_pcap(events: &[Event]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0]);
    let mut seqs: std::collections::HashMap<(Endpoint, Endpoint), u32> = std::collections::HashMap::new();
    let mut frame = Vec::new();
    let mut payload = Vec::new();
    for e in events {
        let (src, dst) = match e.direction {
            Direction::ToServer => (e.flow.client, e.flow.server),
            Direction::ToClient => (e.flow.server, e.flow.client),
        };
        payload.clear();
        let flags = match &e.kind {
            EventKind::Open => SYN,
            EventKind::Close => FIN | ACK,
            EventKind::Iec104(apdu) => {
                if apdu.encode(&mut payload).is_err() {
                    continue;
                }
                ACK
            }
            EventKind::Modbus { .. } | EventKind::Malformed(_) => continue,
        };
        let seq = seqs.entry((src, dst)).or_insert(1000);
        if flags & SYN != 0 {
            *seq = 1000;
        }
        let seg = Segment {
            src_mac: e.src_mac,
            src: src.ip,
            dst: dst.ip,
            ttl: 64,
            src_port: src.port,
            dst_port: dst.port,
            seq: *seq,
            flags,
            payload: &payload,
        };
        *seq = seq.wrapping_add(u32::try_from(payload.len()).unwrap_or(0)).wrapping_add(u32::from(flags & SYN != 0));
        frame.clear();
        encode_tcp(&seg, [2, 0, 0, 0, 0xff, 0xff], &mut frame);
        let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&u32::try_from(e.time_us.div_euclid(SEC)).unwrap_or(0).to_le_bytes());
        out.extend_from_slice(&u32::try_from(e.time_us.rem_euclid(SEC)).unwrap_or(0).to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&frame);
    }
    out
}
