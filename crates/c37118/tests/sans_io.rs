//! The client and the PMU state machines driven against each other with a fake clock: no
//! sockets, no sleeps, microseconds per simulated second.

use gridtrust_c37118::client::{Client, ClientConfig, ClientEvent, ClientFailure};
use gridtrust_c37118::command::{Command, CommandFrame};
use gridtrust_c37118::config::{ConfigKind, DataFormat};
use gridtrust_c37118::data::{DataFrame, Stat, StationData};
use gridtrust_c37118::frame::split_frame;
use gridtrust_c37118::server::{MeasurementSource, PmuServer, ServerEvent};
use gridtrust_c37118::sim::{SimSpec, SimStation, ThreePhaseSignal};
use gridtrust_model::Timestamp;

const START: Timestamp = Timestamp(1_700_000_000_123_456_789);
const MS: i64 = 1_000_000;

/// Both ends plus the fake clock; `drop_command` lets a test play a PMU that ignores a request.
struct Pair<S> {
    client: Client,
    server: PmuServer<S>,
    now: Timestamp,
    datagrams: bool,
    drop_command: Option<Command>,
    /// Split server output into chunks of this many bytes (TCP may cut anywhere).
    chunk: usize,
}

impl<S: MeasurementSource> Pair<S> {
    fn new(config: ClientConfig, server: PmuServer<S>) -> Self {
        Self { client: Client::new(config, START), server, now: START, datagrams: false, drop_command: None, chunk: usize::MAX }
    }

    /// Moves bytes both ways until quiet, then advances the clock to the next deadline (at most
    /// `until`), and repeats; returns every client event.
    fn run_until(&mut self, until: Timestamp) -> Vec<ClientEvent> {
        let mut events = Vec::new();
        loop {
            let mut moved = false;
            while let Some(frame) = self.client.poll_transmit() {
                moved = true;
                let cmd = CommandFrame::decode(&split_frame(&frame).unwrap().0).unwrap();
                if Some(cmd.command) == self.drop_command {
                    continue;
                }
                if self.datagrams {
                    self.server.handle_datagram(&frame, self.now)
                } else {
                    self.server.handle_stream_bytes(&frame, self.now)
                }
            }
            while let Some(frame) = self.server.poll_transmit() {
                moved = true;
                if self.datagrams {
                    self.client.handle_datagram(&frame, self.now);
                } else {
                    for chunk in frame.chunks(self.chunk) {
                        self.client.handle_stream_bytes(chunk, self.now);
                    }
                }
            }
            events.extend(std::iter::from_fn(|| self.client.poll_event()));
            if moved {
                continue;
            }
            let next = [self.client.poll_timeout(), self.server.poll_timeout()].into_iter().flatten().min();
            match next {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    self.client.handle_timeout(self.now);
                    self.server.handle_timeout(self.now);
                }
                _ => {
                    self.now = until;
                    return events;
                }
            }
        }
    }
}

fn after(ms: i64) -> Timestamp {
    Timestamp(START.unix_nanos() + ms * MS)
}

fn data(events: &[ClientEvent]) -> Vec<&DataFrame> {
    events.iter().filter_map(|e| if let ClientEvent::Data(d) = e { Some(d) } else { None }).collect()
}

fn config(idcode: u16, kind: ConfigKind) -> ClientConfig {
    ClientConfig { idcode, config_kind: kind, request_header: true, ..ClientConfig::default() }
}

#[test]
fn client_gets_configuration_then_one_frame_per_slot_of_a_plausible_50_hz_signal() {
    let spec = SimSpec::single(7, "FEEDER 1", 50);
    let mut pair = Pair::new(config(7, ConfigKind::Cfg2), spec.server());
    pair.chunk = 5; // TCP may cut frames anywhere
    let events = pair.run_until(after(1_000));
    let cfg = events.iter().find_map(|e| if let ClientEvent::Config(c) = e { Some(c.clone()) } else { None }).expect("configuration");
    assert_eq!((cfg.kind, cfg.idcode, cfg.stations[0].name.as_str(), cfg.stations[0].phasors.len()), (ConfigKind::Cfg2, 7, "FEEDER 1", 6));
    assert!(events.iter().any(|e| matches!(e, ClientEvent::Header(h) if h.contains("simulator"))));
    let frames = data(&events);
    // Slots every 20 ms from the first one after START (…123 ms) up to 1 s later.
    assert_eq!(frames.len(), 50, "one frame per 20 ms slot");
    for pair in frames.windows(2) {
        let (a, b) = (pair[0].time.to_timestamp(cfg.time_base), pair[1].time.to_timestamp(cfg.time_base));
        assert_eq!(b.unix_nanos() - a.unix_nanos(), 20 * MS);
    }
    let s = &frames[0].stations[0];
    assert!((s.frequency - 50.0).abs() < 0.06, "frequency {}", s.frequency);
    assert!((s.phasors[0].magnitude - 11_547.0).abs() < 1.0);
    let ab = (s.phasors[0].angle - s.phasors[1].angle).to_degrees().rem_euclid(360.0);
    assert!((ab - 120.0).abs() < 0.01, "VA leads VB by {ab}°");
    assert!(events.iter().all(|e| !matches!(e, ClientEvent::Skipped(_) | ClientEvent::Failed(_))), "{events:?}");
}

#[test]
fn pdc_stream_with_mixed_formats_decodes_every_pmu() {
    let formats = [
        DataFormat { polar: true, phasors_float: true, analogs_float: true, frequency_float: true },
        DataFormat { polar: false, phasors_float: false, analogs_float: false, frequency_float: false },
        DataFormat { polar: true, phasors_float: false, analogs_float: true, frequency_float: false },
    ];
    let stations =
        formats.iter().enumerate().map(|(i, f)| SimStation { name: format!("PMU{}", i + 1), idcode: 100 + i as u16, format: *f }).collect();
    let spec = SimSpec { idcode: 99, data_rate: 25, stations };
    let mut pair = Pair::new(config(99, ConfigKind::Cfg3), spec.server());
    let events = pair.run_until(after(400));
    let frames = data(&events);
    assert_eq!(frames.len(), 10);
    let last = frames.last().unwrap();
    assert_eq!(last.stations.len(), 3);
    // Integer formats round: 1 V per bit, 0.01 A per bit, 1 mHz, 0.01 Hz/s, 1e-4 rad.
    let (float, rect, polar) = (&last.stations[0], &last.stations[1], &last.stations[2]);
    assert!((float.phasors[3].magnitude - 150.0).abs() < 11.0);
    assert!((rect.phasors[0].magnitude - float.phasors[0].magnitude * 0.995).abs() < 2.0);
    assert!((polar.frequency - float.frequency).abs() <= 0.0011);
    // P = 3·|V|·|I|·cos φ in kW, from the same block's own (rounded) phasors.
    let p = 3.0 * rect.phasors[0].magnitude * rect.phasors[3].magnitude * 0.2f32.cos() / 1000.0;
    assert!((rect.analogs[0] - p).abs() < 2.0, "P {} kW, phasors say {p}", rect.analogs[0]);
    assert_eq!(float.digitals, vec![1]);
}

#[test]
fn cfg3_request_falls_back_to_cfg2_for_a_pmu_that_ignores_it() {
    let spec = SimSpec::single(3, "OLD PMU", 10);
    let mut pair = Pair::new(ClientConfig { config_attempts: 4, ..config(3, ConfigKind::Cfg3) }, spec.server());
    pair.drop_command = Some(Command::SendConfig3);
    let events = pair.run_until(after(10_000));
    let cfg =
        events.iter().find_map(|e| if let ClientEvent::Config(c) = e { Some(c.clone()) } else { None }).expect("CFG-2 after fallback");
    assert_eq!(cfg.kind, ConfigKind::Cfg2);
    assert!(!data(&events).is_empty());
}

#[test]
fn cfg3_is_used_when_the_pmu_answers_it() {
    let spec = SimSpec::single(3, "NEW PMU", 10);
    let mut pair = Pair::new(config(3, ConfigKind::Cfg3), spec.server());
    let events = pair.run_until(after(500));
    let cfg = events.iter().find_map(|e| if let ClientEvent::Config(c) = e { Some(c.clone()) } else { None }).unwrap();
    assert_eq!(cfg.kind, ConfigKind::Cfg3);
    assert_eq!(cfg.stations[0].extras.as_ref().map(|e| e.service_class), Some(b'M'));
    assert!((cfg.stations[0].phasors[0].magnitude_scale() - 1.0).abs() < 1e-6);
}

#[test]
fn a_pmu_that_never_answers_fails_the_session_after_the_configured_attempts() {
    let spec = SimSpec::single(3, "MUTE", 10);
    let mut pair = Pair::new(ClientConfig { config_attempts: 3, ..config(3, ConfigKind::Cfg2) }, spec.server());
    pair.drop_command = Some(Command::SendConfig2);
    let events = pair.run_until(after(60_000));
    assert_eq!(events.last(), Some(&ClientEvent::Failed(ClientFailure::NoConfiguration { attempts: 3 })));
    // 2 s per attempt: failed at 6 s, not later.
    assert!(pair.client.is_failed());
}

#[test]
fn silence_after_data_on_fails_the_session_after_the_data_timeout() {
    let spec = SimSpec::single(3, "STOPS", 10);
    let mut pair = Pair::new(config(3, ConfigKind::Cfg2), spec.server());
    pair.run_until(after(1_000));
    // The PMU stops (as if its data-off came from elsewhere).
    pair.server.handle_stream_bytes(&command(3, Command::DataOff), pair.now);
    let events = pair.run_until(after(20_000));
    assert_eq!(events, vec![ClientEvent::Failed(ClientFailure::DataTimeout { silent_ms: 5_000 })]);
}

fn command(idcode: u16, c: Command) -> Vec<u8> {
    let mut out = Vec::new();
    CommandFrame::new(idcode, Default::default(), c).encode(&mut out).unwrap();
    out
}

/// The feeder, with STAT bit 10 (configuration change pending) set from 300 ms on.
struct ChangeAnnounced(Timestamp);
impl MeasurementSource for ChangeAnnounced {
    fn measure(&mut self, at: Timestamp, stations: &mut [StationData]) {
        ThreePhaseSignal.measure(at, stations);
        if at >= self.0 {
            stations[0].stat = Stat(0x0400);
        }
    }
}

#[test]
fn configuration_change_bit_makes_the_client_fetch_the_configuration_once() {
    let spec = SimSpec::single(5, "CHANGING", 50);
    let server = PmuServer::new(spec.config(), "h", ChangeAnnounced(after(300)));
    let mut pair = Pair::new(config(5, ConfigKind::Cfg2), server);
    let events = pair.run_until(after(1_000));
    let configs = events.iter().filter(|e| matches!(e, ClientEvent::Config(_))).count();
    assert_eq!(configs, 2, "initial configuration and one refresh, not one per flagged frame");
    let requests = std::iter::from_fn(|| pair.server.poll_event()).filter(|e| *e == ServerEvent::Command(Command::SendConfig2)).count();
    assert_eq!(requests, 2);
}

#[test]
fn datagrams_carry_the_same_session() {
    let spec = SimSpec::single(9, "UDP PMU", 50);
    let mut pair = Pair::new(config(9, ConfigKind::Cfg2), spec.server());
    pair.datagrams = true;
    let events = pair.run_until(after(200));
    assert_eq!(data(&events).len(), 10);
}

#[test]
fn garbage_and_foreign_frames_are_skipped_and_the_stream_recovers() {
    let spec = SimSpec::single(4, "NOISY", 50);
    let mut pair = Pair::new(config(4, ConfigKind::Cfg2), spec.server());
    pair.run_until(after(100));
    // Garbage with a fake SYNC byte, then a frame with a broken CRC, then real frames again.
    let mut junk = vec![0x00, 0xaa, 0x01, 0x02];
    let mut bad = command(4, Command::DataOn);
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    junk.extend_from_slice(&bad);
    pair.client.handle_stream_bytes(&junk, pair.now);
    let events = pair.run_until(after(300));
    assert!(events.iter().any(|e| matches!(e, ClientEvent::Skipped(_))));
    assert_eq!(data(&events).len(), 10, "frames after the garbage still decode");
    // Commands for another IDCODE do not move the PMU.
    pair.server.handle_stream_bytes(&command(77, Command::DataOff), pair.now);
    assert!(pair.server.is_streaming());
}
