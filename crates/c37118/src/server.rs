//! The sans-IO PMU side: answers command frames (data on/off, CFG-1/2/3, header) and, while data
//! is on, produces one data frame per reporting slot of the configured rate, timestamped at the
//! slot (so frames sit on the second's grid as C37.118.1 requires). Measurements come from a
//! [`MeasurementSource`].

use std::collections::VecDeque;

use gridtrust_model::Timestamp;
use tracing::debug;

use crate::command::{Command, CommandFrame, HeaderFrame};
use crate::config::{ConfigFrame, ConfigKind};
use crate::data::{DataFrame, StationData};
use crate::frame::{DecodeError, FrameReader, FrameTime, FrameType, MessageTimeQuality};

/// Fills in the measurements of every PMU block for one reporting instant.
pub trait MeasurementSource {
    /// Writes values for `at` into `stations` (shaped as the configuration says).
    fn measure(&mut self, at: Timestamp, stations: &mut [StationData]);
}

/// What the server noticed, for logs and tests.
#[derive(Clone, Debug, PartialEq)]
pub enum ServerEvent {
    Command(Command),
    /// A command for another IDCODE, ignored.
    ForeignCommand {
        idcode: u16,
    },
    Skipped(DecodeError),
}

const NS_PER_S: i64 = 1_000_000_000;

/// One reporting slot: a second and the index of the frame within it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slot {
    soc: i64,
    index: i64,
}

/// The PMU state machine for one client connection (or one UDP peer).
pub struct PmuServer<S> {
    config: ConfigFrame,
    header_text: String,
    source: S,
    reader: FrameReader,
    transmit: VecDeque<Vec<u8>>,
    events: VecDeque<ServerEvent>,
    next_slot: Option<Slot>,
    frame: DataFrame,
    /// Data frames produced so far.
    pub frames_sent: u64,
}

impl<S: MeasurementSource> PmuServer<S> {
    /// A PMU that describes itself with `config` (its kind is ignored: each request gets the kind
    /// it asks for) and `header_text`.
    pub fn new(config: ConfigFrame, header_text: impl Into<String>, source: S) -> Self {
        let stations = config
            .stations
            .iter()
            .map(|s| StationData {
                phasors: vec![Default::default(); s.phasors.len()],
                analogs: vec![0.0; s.analogs.len()],
                digitals: vec![0; s.digitals.len()],
                ..Default::default()
            })
            .collect();
        let frame = DataFrame { idcode: config.idcode, time: FrameTime::default(), stations };
        Self {
            config,
            header_text: header_text.into(),
            source,
            reader: FrameReader::default(),
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            next_slot: None,
            frame,
            frames_sent: 0,
        }
    }

    /// Whether data frames are being sent.
    pub fn is_streaming(&self) -> bool {
        self.next_slot.is_some()
    }

    /// Frames per second (at least one frame per `-rate` seconds for negative rates).
    fn frames_per_second(&self) -> i64 {
        i64::from(self.config.data_rate.max(1))
    }

    /// Seconds between frames for negative DATA_RATE, else 1.
    fn seconds_per_frame(&self) -> i64 {
        if self.config.data_rate < 0 { -i64::from(self.config.data_rate) } else { 1 }
    }

    fn slot_time(&self, s: Slot) -> Timestamp {
        Timestamp(s.soc * NS_PER_S + s.index * NS_PER_S / self.frames_per_second())
    }

    /// The first slot at or after `now`.
    fn slot_at_or_after(&self, now: Timestamp) -> Slot {
        let ns = now.unix_nanos();
        let (soc, sub) = (ns.div_euclid(NS_PER_S), ns.rem_euclid(NS_PER_S));
        if self.config.data_rate < 0 {
            let step = self.seconds_per_frame();
            let soc = if sub == 0 && soc % step == 0 { soc } else { (soc / step + 1) * step };
            return Slot { soc, index: 0 };
        }
        let fps = self.frames_per_second();
        // ceil(sub * fps / 1e9)
        let index = (sub * fps + NS_PER_S - 1) / NS_PER_S;
        if index >= fps { Slot { soc: soc + 1, index: 0 } } else { Slot { soc, index } }
    }

    fn after(&self, s: Slot) -> Slot {
        if self.config.data_rate < 0 {
            return Slot { soc: s.soc + self.seconds_per_frame(), index: 0 };
        }
        if s.index + 1 >= self.frames_per_second() { Slot { soc: s.soc + 1, index: 0 } } else { Slot { soc: s.soc, index: s.index + 1 } }
    }

    /// Feeds bytes from a TCP stream.
    pub fn handle_stream_bytes(&mut self, bytes: &[u8], now: Timestamp) {
        self.reader.push(bytes);
        self.drain(now);
    }

    /// Feeds one UDP datagram.
    pub fn handle_datagram(&mut self, datagram: &[u8], now: Timestamp) {
        self.reader.clear();
        self.reader.push(datagram);
        self.drain(now);
        self.reader.clear();
    }

    fn drain(&mut self, now: Timestamp) {
        let mut reader = std::mem::take(&mut self.reader);
        while let Some(frame) = reader.next_frame() {
            let command = frame.and_then(|raw| match raw.header.frame_type {
                FrameType::Command => CommandFrame::decode(&raw),
                got => Err(DecodeError::WrongFrameType { expected: "command", got }),
            });
            match command {
                Ok(c) if c.idcode != self.config.idcode => self.events.push_back(ServerEvent::ForeignCommand { idcode: c.idcode }),
                Ok(c) => self.on_command(c.command, now),
                Err(e) => self.events.push_back(ServerEvent::Skipped(e)),
            }
        }
        self.reader = reader;
    }

    fn on_command(&mut self, command: Command, now: Timestamp) {
        debug!(?command, idcode = self.config.idcode, "PMU command");
        self.events.push_back(ServerEvent::Command(command));
        let time = FrameTime::from_timestamp(now, self.config.time_base, MessageTimeQuality::default());
        let mut out = Vec::new();
        let encoded = match command {
            Command::DataOn => {
                if self.next_slot.is_none() {
                    self.next_slot = Some(self.slot_at_or_after(now));
                }
                return;
            }
            Command::DataOff => {
                self.next_slot = None;
                return;
            }
            Command::SendConfig1 | Command::SendConfig2 | Command::SendConfig3 => {
                let kind = match command {
                    Command::SendConfig1 => ConfigKind::Cfg1,
                    Command::SendConfig2 => ConfigKind::Cfg2,
                    _ => ConfigKind::Cfg3,
                };
                ConfigFrame { kind, time, ..self.config.clone() }.encode(&mut out)
            }
            Command::SendHeader => HeaderFrame { idcode: self.config.idcode, time, text: self.header_text.clone() }.encode(&mut out),
            Command::Extended | Command::Other(_) => return,
        };
        match encoded {
            Ok(()) => self.transmit.push_back(out),
            Err(e) => debug!(error = %e, "configuration does not encode; request ignored"),
        }
    }

    /// Produces the data frames whose slots have come; call at [`Self::poll_timeout`].
    pub fn handle_timeout(&mut self, now: Timestamp) {
        let Some(mut slot) = self.next_slot else { return };
        // More than a second behind (a stalled task): skip ahead rather than burst.
        if now.unix_nanos() - self.slot_time(slot).unix_nanos() > NS_PER_S {
            slot = self.slot_at_or_after(Timestamp(now.unix_nanos() - NS_PER_S / self.frames_per_second()));
        }
        while self.slot_time(slot) <= now {
            let at = self.slot_time(slot);
            self.source.measure(at, &mut self.frame.stations);
            self.frame.time = FrameTime::from_timestamp(at, self.config.time_base, MessageTimeQuality::default());
            let mut out = Vec::with_capacity(self.config.data_body_len() + 16);
            match self.frame.encode(&self.config, &mut out) {
                Ok(()) => {
                    self.transmit.push_back(out);
                    self.frames_sent += 1;
                }
                Err(e) => debug!(error = %e, "data frame does not encode"),
            }
            slot = self.after(slot);
        }
        self.next_slot = Some(slot);
    }

    /// When the next data frame is due.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.next_slot.map(|s| self.slot_time(s))
    }

    /// The next frame to send.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    /// The next thing the server noticed.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }
}
