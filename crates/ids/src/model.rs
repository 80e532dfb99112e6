//! The baseline learned from normal traffic, and how it is learned.
//!
//! Sets (peers, stations, type × cause per direction, information objects, command targets,
//! which MAC addresses send for an IP address) are learned exactly: what was never seen in normal
//! operation is news. Quantities (frames per second per connection direction, connection attempts
//! per ten seconds per server, the step between consecutive values of a measured point, the
//! interval between its reports, the age of a command's time tag) are learned as an
//! [`Envelope`]: sample count, median, median absolute deviation and maximum. The detector's
//! limit is the learned maximum widened by [`TOLERANCE`] robust standard deviations, so every
//! limit comes from the data; the one constant is how many deviations of slack the maximum gets.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use gridtrust_iec104::apci::Apdu;
use gridtrust_iec104::asdu::{Asdu, AsduHeader, Element, TypeId};
use serde::{Deserialize, Serialize};

use crate::event::{Direction, Endpoint, Event, EventKind, Flow, Protocol};

/// Robust standard deviations of slack above a learned maximum.
pub const TOLERANCE: f64 = 3.0;
/// Length of the rate window, microseconds.
pub const RATE_WINDOW_US: i64 = 1_000_000;
/// Length of the connection-attempt window, microseconds.
pub const OPEN_WINDOW_US: i64 = 10_000_000;
/// Format version written into model files.
pub const FORMAT: u32 = 1;

/// A learned distribution, summarised robustly.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Samples learned.
    pub n: u64,
    /// Median.
    pub median: f64,
    /// Median absolute deviation from the median.
    pub mad: f64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
}

impl Envelope {
    /// Summarises samples; `None` when there are none.
    pub fn of(samples: &[f64]) -> Option<Envelope> {
        let mut s: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
        if s.is_empty() {
            return None;
        }
        s.sort_by(f64::total_cmp);
        let median = median_sorted(&s);
        let mut dev: Vec<f64> = s.iter().map(|x| (x - median).abs()).collect();
        dev.sort_by(f64::total_cmp);
        Some(Envelope {
            n: u64::try_from(s.len()).unwrap_or(u64::MAX),
            median,
            mad: median_sorted(&dev),
            min: s.first().copied().unwrap_or(median),
            max: s.last().copied().unwrap_or(median),
        })
    }

    /// The largest value still normal: the learned maximum plus [`TOLERANCE`] robust standard
    /// deviations (1.4826 × MAD), with `resolution` as the smallest deviation that counts.
    pub fn limit(&self, resolution: f64) -> f64 {
        self.max + TOLERANCE * (1.4826 * self.mad).max(resolution)
    }
}

fn median_sorted(s: &[f64]) -> f64 {
    let mid = s.len() / 2;
    match (s.get(mid), s.len() % 2) {
        (Some(&m), 1) => m,
        (Some(&m), _) => (m + s.get(mid.wrapping_sub(1)).copied().unwrap_or(m)) / 2.0,
        (None, _) => 0.0,
    }
}

/// A pair that talked in normal operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Peer {
    /// The client's address (its port changes per connection).
    pub client: Ipv4Addr,
    /// The server.
    pub server: Endpoint,
    /// The protocol.
    pub protocol: Protocol,
}

/// A type (without its time-tag variant) and cause seen in one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TypeCause {
    /// Direction.
    pub direction: Direction,
    /// IEC 104 type id (time-tagged types folded onto their untagged base) or Modbus function.
    pub type_code: u8,
    /// IEC 104 cause of transmission (with the P/N bit as +64); Modbus: 0 request, 1 response.
    pub cause: u8,
}

/// An information object (IEC 104) or start address (Modbus) used with one type in one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectKey {
    /// Direction.
    pub direction: Direction,
    /// Base type code.
    pub type_code: u8,
    /// Information object address or register address.
    pub ioa: u32,
}

/// What is learned about one measured point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointModel {
    /// Information object address.
    pub ioa: u32,
    /// Absolute step between consecutive values.
    pub step: Envelope,
    /// Interval between consecutive reports, microseconds.
    pub interval: Option<Envelope>,
}

/// One station (IEC 104 common address or Modbus unit) at one server address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StationModel {
    /// The server's IP address.
    pub server: Ipv4Addr,
    /// The protocol.
    pub protocol: Protocol,
    /// Common address of ASDU or Modbus unit id.
    pub address: u16,
    /// Types and causes seen.
    pub kinds: Vec<TypeCause>,
    /// Objects seen, per direction and type.
    pub objects: Vec<ObjectKey>,
    /// Measured points with value statistics.
    pub points: Vec<PointModel>,
    /// |capture time − time tag| of time-tagged commands, milliseconds.
    pub command_age_ms: Option<Envelope>,
}

/// The frame rate of one client–server pair in one direction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateModel {
    /// The client's address.
    pub client: Ipv4Addr,
    /// The server.
    pub server: Endpoint,
    /// Direction.
    pub direction: Direction,
    /// Frames per [`RATE_WINDOW_US`] window (windows with traffic).
    pub per_window: Envelope,
}

/// How often a client asks a station for the same thing (interrogation, counter interrogation,
/// clock synchronisation, reads; Modbus reads of one address), measured within one connection:
/// the interval between requests, and how many requests fall within one period (the median
/// interval) ending at each request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CadenceModel {
    /// The client's address.
    pub client: Ipv4Addr,
    /// The server.
    pub server: Endpoint,
    /// Station.
    pub address: u16,
    /// Base type code or Modbus function.
    pub type_code: u8,
    /// Object (IOA 0 for station-wide requests) or start address.
    pub ioa: u32,
    /// Interval between requests, microseconds.
    pub interval: Envelope,
    /// Requests within one period (the median interval) ending at a request, itself included.
    pub per_period: Envelope,
}

/// Requests of one kind learned fewer times than this have no cadence to check.
pub const MIN_CADENCE_SAMPLES: u64 = 3;

/// Connection attempts to one server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenModel {
    /// The server.
    pub server: Endpoint,
    /// Attempts per [`OPEN_WINDOW_US`] window (windows with attempts).
    pub per_window: Envelope,
}

/// The MAC addresses an IP address sent from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostModel {
    /// The address.
    pub ip: Ipv4Addr,
    /// Its MAC addresses.
    pub macs: Vec<[u8; 6]>,
}

/// The learned baseline, written to and read from a JSON file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// [`FORMAT`].
    pub format: u32,
    /// Events learned from.
    pub events: u64,
    /// Hours of traffic learned from (first to last event).
    pub hours: f64,
    /// Pairs that talked.
    pub peers: Vec<Peer>,
    /// Hosts and their MAC addresses.
    pub hosts: Vec<HostModel>,
    /// Stations.
    pub stations: Vec<StationModel>,
    /// Frame rates.
    pub rates: Vec<RateModel>,
    /// Connection attempts.
    pub opens: Vec<OpenModel>,
    /// Request cadences.
    pub cadences: Vec<CadenceModel>,
    /// Client–server pairs whose streams had malformed or missing bytes in normal operation.
    pub malformed: Vec<Peer>,
}

/// A value a monitored object carried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value {
    /// No value we track.
    None,
    /// A double point state (switchgear position).
    Switch(u8),
    /// An analogue value.
    Analog(f64),
}

/// One object of an application unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Object {
    pub ioa: u32,
    pub value: Value,
    /// The element's time tag, Unix milliseconds.
    pub time_ms: Option<i64>,
}

/// An application unit seen the same way for both protocols: an IEC 104 ASDU or a Modbus PDU.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Unit {
    pub address: u16,
    /// Type code as on the wire.
    pub wire_type: u8,
    pub kind: TypeCause,
    pub command: bool,
    pub objects: Vec<Object>,
}

/// Folds a time-tagged type onto its base type, so that a point reported with and without a time
/// tag is one object.
pub(crate) fn base_type(code: u8) -> u8 {
    TypeId::try_from(code).map_or(code, |t| t.without_time().code())
}

/// The application unit an event carries, if any.
pub(crate) fn unit_of(event: &Event) -> Option<Unit> {
    match &event.kind {
        EventKind::Iec104(Apdu::I { asdu, .. }) => Some(match Asdu::decode(asdu) {
            Ok(a) => {
                let code = a.type_id.code();
                Unit {
                    address: a.common_address,
                    wire_type: code,
                    kind: TypeCause {
                        direction: event.direction,
                        type_code: base_type(code),
                        cause: cot_code(a.cot.cause.code(), a.cot.negative),
                    },
                    command: a.type_id.is_process_command(),
                    objects: a
                        .objects
                        .iter()
                        .map(|o| Object {
                            ioa: o.ioa,
                            value: value_of(&o.element),
                            time_ms: o.element.time().and_then(|t| t.to_unix_ms().ok()),
                        })
                        .collect(),
                }
            }
            Err(_) => {
                let h = AsduHeader::peek(asdu).ok()?;
                Unit {
                    address: h.common_address,
                    wire_type: h.type_code,
                    kind: TypeCause {
                        direction: event.direction,
                        type_code: base_type(h.type_code),
                        cause: cot_code(h.cot.cause.code(), h.cot.negative),
                    },
                    command: (45..=63).contains(&h.type_code),
                    objects: h.first_ioa.map(|ioa| Object { ioa, value: Value::None, time_ms: None }).into_iter().collect(),
                }
            }
        }),
        EventKind::Modbus { header, pdu } => {
            let function = *pdu.first()?;
            let (cause, objects) = match event.direction {
                Direction::ToServer => (
                    0,
                    pdu.get(1..3)
                        .map(|a| Object { ioa: u32::from(u16::from_be_bytes([a[0], a[1]])), value: Value::None, time_ms: None })
                        .into_iter()
                        .collect(),
                ),
                Direction::ToClient => (if function & 0x80 != 0 { 2 } else { 1 }, Vec::new()),
            };
            Some(Unit {
                address: u16::from(header.unit),
                wire_type: function,
                kind: TypeCause { direction: event.direction, type_code: function, cause },
                command: event.direction == Direction::ToServer && matches!(function, 5 | 6 | 15 | 16),
                objects,
            })
        }
        _ => None,
    }
}

fn cot_code(code: Option<u8>, negative: bool) -> u8 {
    code.unwrap_or(63) | (u8::from(negative) << 6)
}

fn value_of(e: &Element) -> Value {
    match *e {
        Element::DoublePoint { value, .. } => Value::Switch(value as u8),
        Element::Normalized { value, .. } => Value::Analog(f64::from(value) / 32768.0),
        Element::Scaled { value, .. } => Value::Analog(f64::from(value)),
        Element::ShortFloat { value, .. } => Value::Analog(f64::from(value)),
        Element::StepPosition { value, .. } => Value::Analog(f64::from(value)),
        _ => Value::None,
    }
}

#[derive(Default)]
struct PointLearn {
    last: Option<(f64, i64)>,
    steps: Vec<f64>,
    intervals: Vec<f64>,
}

#[derive(Default)]
struct StationLearn {
    kinds: BTreeSet<TypeCause>,
    objects: BTreeSet<ObjectKey>,
    points: BTreeMap<u32, PointLearn>,
    ages: Vec<f64>,
}

#[derive(Default)]
struct Counter {
    window: i64,
    count: u32,
    samples: Vec<f64>,
}

impl Counter {
    fn add(&mut self, time_us: i64, window_us: i64) {
        let w = time_us.div_euclid(window_us);
        if w != self.window && self.count > 0 {
            self.samples.push(f64::from(self.count));
            self.count = 0;
        }
        self.window = w;
        self.count = self.count.saturating_add(1);
    }

    fn finish(mut self) -> Option<Envelope> {
        if self.count > 0 {
            self.samples.push(f64::from(self.count));
        }
        Envelope::of(&self.samples)
    }
}

/// Why a model file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a model.
    #[error("{path}: not an IDS model: {source}")]
    Parse {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: serde_json::Error,
    },
    /// The model was written in a format this version does not read.
    #[error("{path}: model format {found}, this version reads format {FORMAT}; learn the model again")]
    Format {
        /// The file.
        path: std::path::PathBuf,
        /// The format it declares.
        found: u32,
    },
}

impl Model {
    /// Reads a model file, refusing one of another format.
    pub fn read(path: &std::path::Path) -> Result<Model, ModelFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelFileError::Io { path: path.to_owned(), source })?;
        let model: Model = serde_json::from_str(&text).map_err(|source| ModelFileError::Parse { path: path.to_owned(), source })?;
        if model.format != FORMAT {
            return Err(ModelFileError::Format { path: path.to_owned(), found: model.format });
        }
        Ok(model)
    }

    /// Writes the model as JSON, through a temporary file and a rename so that a crash leaves
    /// the old file or the new one, never half of one.
    pub fn write(&self, path: &std::path::Path) -> Result<(), ModelFileError> {
        let io = |source| ModelFileError::Io { path: path.to_owned(), source };
        let text = serde_json::to_string_pretty(self).map_err(|source| ModelFileError::Parse { path: path.to_owned(), source })?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }
}

/// Learns a [`Model`] from events of normal operation.
#[derive(Default)]
pub struct Learner {
    events: u64,
    first_us: Option<i64>,
    last_us: i64,
    peers: BTreeSet<Peer>,
    hosts: BTreeMap<Ipv4Addr, BTreeSet<[u8; 6]>>,
    stations: BTreeMap<(Ipv4Addr, Protocol, u16), StationLearn>,
    rates: BTreeMap<(Ipv4Addr, Endpoint, Direction), Counter>,
    opens: BTreeMap<Endpoint, Counter>,
    malformed: BTreeSet<Peer>,
    /// Request times per connection and request; connections that ended move to `past_requests`.
    requests: BTreeMap<(Flow, RequestKey), Vec<i64>>,
    past_requests: Vec<((Flow, RequestKey), Vec<i64>)>,
}

/// Station, base type and object of a request.
pub(crate) type RequestKey = (u16, u8, u32);

/// The requests of a unit whose cadence is learned: control direction, not a process command
/// (operators give those when they choose), one key per object.
pub(crate) fn requests(unit: &Unit) -> impl Iterator<Item = RequestKey> + '_ {
    let asks = unit.kind.direction == Direction::ToServer && !unit.command;
    unit.objects.iter().filter(move |_| asks).map(|o| (unit.address, unit.kind.type_code, o.ioa))
}

impl Learner {
    /// An empty learner.
    pub fn new() -> Self {
        Self::default()
    }

    /// Learns from one event.
    pub fn observe(&mut self, event: &Event) {
        self.events += 1;
        self.first_us.get_or_insert(event.time_us);
        self.last_us = self.last_us.max(event.time_us);
        let peer = Peer { client: event.flow.client.ip, server: event.flow.server, protocol: event.protocol };
        self.peers.insert(peer);
        if let Some(mac) = event.src_mac {
            self.hosts.entry(event.sender().ip).or_default().insert(mac);
        }
        match &event.kind {
            EventKind::Open => {
                self.opens.entry(event.flow.server).or_default().add(event.time_us, OPEN_WINDOW_US);
                let ended: Vec<_> = self.requests.keys().filter(|(f, _)| *f == event.flow).copied().collect();
                for k in ended {
                    if let Some(times) = self.requests.remove(&k) {
                        self.past_requests.push((k, times));
                    }
                }
            }
            EventKind::Close => {}
            EventKind::Malformed(_) => {
                self.malformed.insert(peer);
            }
            EventKind::Iec104(_) | EventKind::Modbus { .. } => {
                self.rates
                    .entry((event.flow.client.ip, event.flow.server, event.direction))
                    .or_default()
                    .add(event.time_us, RATE_WINDOW_US);
            }
        }
        let Some(unit) = unit_of(event) else { return };
        for key in requests(&unit) {
            self.requests.entry((event.flow, key)).or_default().push(event.time_us);
        }
        let station = self.stations.entry((event.flow.server.ip, event.protocol, unit.address)).or_default();
        station.kinds.insert(unit.kind);
        for o in &unit.objects {
            station.objects.insert(ObjectKey { direction: unit.kind.direction, type_code: unit.kind.type_code, ioa: o.ioa });
            if unit.command
                && let Some(t) = o.time_ms
            {
                station.ages.push((event.time_us / 1000 - t).unsigned_abs() as f64);
            }
            if let Value::Analog(v) = o.value {
                let p = station.points.entry(o.ioa).or_default();
                if let Some((last, at)) = p.last {
                    p.steps.push((v - last).abs());
                    p.intervals.push((event.time_us - at) as f64);
                }
                p.last = Some((v, event.time_us));
            }
        }
    }

    /// The model learned so far.
    pub fn finish(self) -> Model {
        let hours = (self.last_us - self.first_us.unwrap_or(self.last_us)) as f64 / 3.6e9;
        Model {
            format: FORMAT,
            events: self.events,
            hours,
            peers: self.peers.into_iter().collect(),
            hosts: self.hosts.into_iter().map(|(ip, macs)| HostModel { ip, macs: macs.into_iter().collect() }).collect(),
            stations: self
                .stations
                .into_iter()
                .map(|((server, protocol, address), s)| StationModel {
                    server,
                    protocol,
                    address,
                    kinds: s.kinds.into_iter().collect(),
                    objects: s.objects.into_iter().collect(),
                    points: s
                        .points
                        .into_iter()
                        .filter_map(|(ioa, p)| {
                            Some(PointModel { ioa, step: Envelope::of(&p.steps)?, interval: Envelope::of(&p.intervals) })
                        })
                        .collect(),
                    command_age_ms: Envelope::of(&s.ages),
                })
                .collect(),
            rates: self
                .rates
                .into_iter()
                .filter_map(|((client, server, direction), c)| Some(RateModel { client, server, direction, per_window: c.finish()? }))
                .collect(),
            opens: self.opens.into_iter().filter_map(|(server, c)| Some(OpenModel { server, per_window: c.finish()? })).collect(),
            malformed: self.malformed.into_iter().collect(),
            cadences: cadences(self.requests.into_iter().chain(self.past_requests)),
        }
    }
}

/// Request times per connection → cadence per client, server and request.
fn cadences(per_connection: impl Iterator<Item = ((Flow, RequestKey), Vec<i64>)>) -> Vec<CadenceModel> {
    let mut grouped: BTreeMap<(Ipv4Addr, Endpoint, RequestKey), Vec<Vec<i64>>> = BTreeMap::new();
    for ((flow, key), times) in per_connection {
        grouped.entry((flow.client.ip, flow.server, key)).or_default().push(times);
    }
    grouped
        .into_iter()
        .filter_map(|((client, server, (address, type_code, ioa)), connections)| {
            let intervals: Vec<f64> = connections.iter().flat_map(|t| t.windows(2).map(|w| (w[1] - w[0]) as f64)).collect();
            let interval = Envelope::of(&intervals)?;
            let period = interval.median as i64;
            let counts: Vec<f64> = connections.iter().flat_map(|t| requests_per_period(t, period)).collect();
            Some(CadenceModel { client, server, address, type_code, ioa, interval, per_period: Envelope::of(&counts)? })
        })
        .collect()
}

/// For each request time, how many requests fall in the period ending at it (itself included).
fn requests_per_period(times: &[i64], period: i64) -> Vec<f64> {
    let mut from = 0;
    times
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            while times.get(from).is_some_and(|&f| t - f >= period) {
                from += 1;
            }
            (i + 1 - from.min(i)) as f64
        })
        .collect()
}

/// Learns a model from a sequence of events.
pub fn learn<'a>(events: impl IntoIterator<Item = &'a Event>) -> Model {
    let mut l = Learner::new();
    for e in events {
        l.observe(e);
    }
    l.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_is_robust_and_limit_widens_the_maximum() {
        let e = Envelope::of(&[1.0, 2.0, 2.0, 3.0, 100.0]).unwrap();
        assert_eq!((e.n, e.median, e.mad, e.min, e.max), (5, 2.0, 1.0, 1.0, 100.0));
        assert!((e.limit(0.0) - (100.0 + 3.0 * 1.4826)).abs() < 1e-9);
        assert_eq!(Envelope::of(&[]), None);
        assert_eq!(Envelope::of(&[4.0, 6.0]).unwrap().median, 5.0);
    }

    #[test]
    fn a_written_model_reads_back_and_another_format_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.json");
        let model = learn(std::iter::empty());
        model.write(&path).unwrap();
        assert_eq!(Model::read(&path).unwrap(), model);
        Model { format: FORMAT + 1, ..model }.write(&path).unwrap();
        let refused = Model::read(&path).unwrap_err();
        assert!(matches!(refused, ModelFileError::Format { found, .. } if found == FORMAT + 1), "{refused}");
        std::fs::write(&path, "{").unwrap();
        assert!(matches!(Model::read(&path), Err(ModelFileError::Parse { .. })));
    }
}

#[cfg(test)]
mod cadence_tests {
    use super::requests_per_period;

    #[test]
    fn requests_per_period_counts_the_window_ending_at_each_request() {
        assert_eq!(requests_per_period(&[0, 100, 200, 205, 210, 500], 100), vec![1.0, 1.0, 1.0, 2.0, 3.0, 1.0]);
        assert_eq!(requests_per_period(&[], 100), Vec::<f64>::new());
    }
}
