//! The sans-IO client: what a PDC or the edge does towards one PMU (or PDC) stream.
//!
//! On start it turns data off, asks for the configuration (CFG-2, or CFG-3 with a fall-back to
//! CFG-2 for PMUs that predate 2011) and, once it has one, turns data on. Data frames are decoded
//! with that configuration. It fails the session when no configuration comes or data stops, and
//! fetches the configuration again when a PMU announces a change (STAT bit 10) or a frame no
//! longer matches it. Time is passed in; nothing here touches a socket or a clock.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use gridtrust_model::Timestamp;

use crate::command::{Command, CommandFrame, HeaderFrame};
use crate::config::{ConfigFrame, ConfigKind};
use crate::data::DataFrame;
use crate::frame::{DecodeError, FrameReader, FrameTime, FrameType, MessageTimeQuality, RawFrame};

/// What the client asks for and how long it waits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// IDCODE of the stream (the PMU's, or the PDC's when it aggregates).
    pub idcode: u16,
    /// CFG-2 or CFG-3.
    pub config_kind: ConfigKind,
    /// Ask for the header frame too (logged; PMUs describe themselves there).
    pub request_header: bool,
    /// How long to wait for a configuration before asking again.
    pub response_timeout: Duration,
    /// How many times to ask before the session fails (CFG-3 falls back to CFG-2 halfway).
    pub config_attempts: u32,
    /// Silence after which a streaming session fails.
    pub data_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            idcode: 1,
            config_kind: ConfigKind::Cfg2,
            request_header: false,
            response_timeout: Duration::from_secs(2),
            config_attempts: 4,
            data_timeout: Duration::from_secs(5),
        }
    }
}

/// Why a session ended.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClientFailure {
    #[error("no configuration frame after {attempts} requests")]
    NoConfiguration { attempts: u32 },
    #[error("no data frame for {silent_ms} ms")]
    DataTimeout { silent_ms: u64 },
    /// Set by the driver: connect failed, the peer closed, or an I/O error.
    #[error("transport: {0}")]
    Transport(String),
}

/// What the client reports.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientEvent {
    /// A (new) configuration; data frames after it are decoded with it.
    Config(Arc<ConfigFrame>),
    Data(DataFrame),
    Header(String),
    /// Bytes that were not a usable frame, skipped; the session goes on.
    Skipped(DecodeError),
    /// The session is over; the driver closes the connection.
    Failed(ClientFailure),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    AwaitingConfig { deadline: Timestamp, attempts: u32, kind: ConfigKind },
    Streaming { deadline: Timestamp },
    Failed,
}

/// The client state machine for one stream.
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    phase: Phase,
    reader: FrameReader,
    stream_config: Option<Arc<ConfigFrame>>,
    transmit: VecDeque<Vec<u8>>,
    events: VecDeque<ClientEvent>,
    /// A configuration was asked for while streaming and has not come yet.
    refresh_pending: bool,
    /// STAT bit 10 in the previous data frame, so a change is acted on once, not per frame.
    change_flag_seen: bool,
    /// Data frames dropped because no configuration was known yet.
    pub data_before_config: u64,
}

fn add(t: Timestamp, d: Duration) -> Timestamp {
    Timestamp(t.unix_nanos().saturating_add(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)))
}

fn request_of(kind: ConfigKind) -> Command {
    match kind {
        ConfigKind::Cfg1 => Command::SendConfig1,
        ConfigKind::Cfg2 => Command::SendConfig2,
        ConfigKind::Cfg3 => Command::SendConfig3,
    }
}

impl Client {
    /// Starts a session at `now`: queues "data off", the header request if wanted, and the
    /// configuration request.
    pub fn new(config: ClientConfig, now: Timestamp) -> Self {
        let kind = config.config_kind;
        let mut c = Self {
            phase: Phase::AwaitingConfig { deadline: add(now, config.response_timeout), attempts: 1, kind },
            config,
            reader: FrameReader::default(),
            stream_config: None,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            refresh_pending: false,
            change_flag_seen: false,
            data_before_config: 0,
        };
        c.send(Command::DataOff, now);
        if c.config.request_header {
            c.send(Command::SendHeader, now);
        }
        c.send(request_of(kind), now);
        c
    }

    /// The configuration data frames are decoded with, once known.
    pub fn stream_config(&self) -> Option<&Arc<ConfigFrame>> {
        self.stream_config.as_ref()
    }

    /// True once the session has failed; the driver should close it.
    pub fn is_failed(&self) -> bool {
        self.phase == Phase::Failed
    }

    /// Queues "data off", for a polite end of the session.
    pub fn stop(&mut self, now: Timestamp) {
        self.send(Command::DataOff, now);
    }

    fn send(&mut self, command: Command, now: Timestamp) {
        let time = FrameTime::from_timestamp(now, 1_000_000, MessageTimeQuality::default());
        let mut out = Vec::with_capacity(18);
        // A command frame has no variable part that could fail to encode.
        if CommandFrame::new(self.config.idcode, time, command).encode(&mut out).is_ok() {
            self.transmit.push_back(out);
        }
    }

    /// Feeds bytes read from a TCP stream (any split).
    pub fn handle_stream_bytes(&mut self, bytes: &[u8], now: Timestamp) {
        self.reader.push(bytes);
        self.drain_frames(now);
    }

    /// Feeds one UDP datagram (frames never span datagrams).
    pub fn handle_datagram(&mut self, datagram: &[u8], now: Timestamp) {
        self.reader.clear();
        self.reader.push(datagram);
        self.drain_frames(now);
        let left = self.reader.buffered();
        if left > 0 {
            self.events.push_back(ClientEvent::Skipped(DecodeError::Incomplete { needed: left }));
            self.reader.clear();
        }
    }

    fn drain_frames(&mut self, now: Timestamp) {
        if self.phase == Phase::Failed {
            return;
        }
        let mut reader = std::mem::take(&mut self.reader);
        while let Some(frame) = reader.next_frame() {
            match frame {
                Ok(raw) => self.handle_frame(&raw, now),
                Err(e) => self.events.push_back(ClientEvent::Skipped(e)),
            }
        }
        self.reader = reader;
    }

    fn handle_frame(&mut self, raw: &RawFrame<'_>, now: Timestamp) {
        let result = match raw.header.frame_type {
            FrameType::Config2 | FrameType::Config3 => ConfigFrame::decode(raw).map(|c| self.on_config(c, now)),
            // CFG-1 says what the PMU could send, not what it sends: not used to decode data.
            FrameType::Config1 | FrameType::Command => Ok(()),
            FrameType::Header => HeaderFrame::decode(raw).map(|h| self.events.push_back(ClientEvent::Header(h.text))),
            FrameType::Data => self.on_data(raw, now),
        };
        if let Err(e) = result {
            self.events.push_back(ClientEvent::Skipped(e));
        }
    }

    fn on_config(&mut self, config: ConfigFrame, now: Timestamp) {
        if config.idcode != self.config.idcode {
            self.events.push_back(ClientEvent::Skipped(DecodeError::IdcodeMismatch { expected: self.config.idcode, got: config.idcode }));
            return;
        }
        let config = Arc::new(config);
        self.stream_config = Some(config.clone());
        self.refresh_pending = false;
        self.events.push_back(ClientEvent::Config(config));
        if let Phase::AwaitingConfig { .. } = self.phase {
            self.send(Command::DataOn, now);
            self.phase = Phase::Streaming { deadline: add(now, self.config.data_timeout) };
        }
    }

    fn on_data(&mut self, raw: &RawFrame<'_>, now: Timestamp) -> Result<(), DecodeError> {
        let Some(config) = self.stream_config.clone() else {
            self.data_before_config += 1;
            return Ok(());
        };
        let frame = match DataFrame::decode(raw, &config) {
            Ok(f) => f,
            Err(e) => {
                if matches!(e, DecodeError::DataSizeMismatch { .. }) {
                    self.refresh_config(now);
                }
                return Err(e);
            }
        };
        if let Phase::Streaming { deadline } = &mut self.phase {
            *deadline = add(now, self.config.data_timeout);
        }
        let change = frame.stations.iter().any(|s| s.stat.config_change_pending());
        if change && !self.change_flag_seen {
            self.refresh_config(now);
        }
        self.change_flag_seen = change;
        self.events.push_back(ClientEvent::Data(frame));
        Ok(())
    }

    fn refresh_config(&mut self, now: Timestamp) {
        if !self.refresh_pending {
            self.refresh_pending = true;
            let kind = self.stream_config.as_ref().map_or(self.config.config_kind, |c| c.kind);
            self.send(request_of(kind), now);
        }
    }

    /// Tells the client that time has passed; call when [`Self::poll_timeout`] is reached.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        match self.phase {
            Phase::AwaitingConfig { deadline, attempts, kind } if now >= deadline => {
                if attempts >= self.config.config_attempts {
                    self.fail(ClientFailure::NoConfiguration { attempts });
                    return;
                }
                // A PMU from before 2011 ignores the CFG-3 request: try CFG-2 for the second half.
                let kind = if kind == ConfigKind::Cfg3 && attempts * 2 >= self.config.config_attempts { ConfigKind::Cfg2 } else { kind };
                self.send(request_of(kind), now);
                self.phase = Phase::AwaitingConfig { deadline: add(now, self.config.response_timeout), attempts: attempts + 1, kind };
            }
            Phase::Streaming { deadline } if now >= deadline => {
                let silent_ms = u64::try_from(self.config.data_timeout.as_millis()).unwrap_or(u64::MAX);
                self.fail(ClientFailure::DataTimeout { silent_ms });
            }
            _ => {}
        }
    }

    fn fail(&mut self, failure: ClientFailure) {
        self.phase = Phase::Failed;
        self.events.push_back(ClientEvent::Failed(failure));
    }

    /// When [`Self::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        match self.phase {
            Phase::AwaitingConfig { deadline, .. } | Phase::Streaming { deadline } => Some(deadline),
            Phase::Failed => None,
        }
    }

    /// The next frame to send to the PMU.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }
}
