//! The edge adapter for one PMU or PDC stream: connects (TCP or UDP), asks for CFG-2 or CFG-3,
//! turns data on, and turns every data frame into [`Datum`]s — phasor magnitudes and angles,
//! frequency, ROCOF, analogs and digitals — with the frame's SOC/FRACSEC as source time and the
//! STAT word mapped onto IEC 61850 quality. When the stream ends (silent for `data_timeout_ms`,
//! closed, refused) every point it reported is sent again as invalid (lost link). Reconnects
//! with exponential backoff. PMUs take no commands, so every command is refused with a reason.
//!
//! Point ids are `<LD>/<LN>.<DO>...` references: by default derived from the station and channel
//! names (see [`points`]), or given explicitly per channel in the configuration.

pub mod points;

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use gridtrust_adapter::{AdapterIo, Datum, LastValues};
use gridtrust_model::{PointId, Timestamp};

use crate::client::{ClientConfig, ClientEvent};
use crate::config::ConfigKind;
use crate::driver::{Transport, spawn_client};
pub use points::PointMap;

/// Why PMUs refuse commands.
pub const NO_COMMANDS: &str = "a C37.118 PMU stream is measurement-only: it has no controllable points";

/// Which configuration frame to ask the PMU for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfigVersion {
    /// CFG-2, which every PMU answers.
    #[default]
    Cfg2,
    /// CFG-3 (C37.118.2-2011), falling back to CFG-2 when the PMU does not answer it.
    Cfg3,
}

/// What a mapped channel value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quantity {
    /// A phasor's magnitude (V or A).
    Magnitude,
    /// A phasor's angle (radians).
    Angle,
    /// The PMU's frequency (Hz); no channel.
    Frequency,
    /// The PMU's rate of change of frequency (Hz/s); no channel.
    Rocof,
    /// An analog channel.
    Analog,
    /// One named bit of a digital status word, as a single point.
    Digital,
}

impl Quantity {
    /// Whether the mapping names a channel.
    pub const fn needs_channel(self) -> bool {
        !matches!(self, Self::Frequency | Self::Rocof)
    }
}

/// One explicit channel-to-point binding.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointMapping {
    /// Station name (STN) in a PDC stream; may be left out when the stream has one PMU.
    #[serde(default)]
    pub station: Option<String>,
    /// Channel name (CHNAM) as the PMU sends it, trailing spaces ignored.
    #[serde(default)]
    pub channel: Option<String>,
    pub quantity: Quantity,
    /// The IEC 61850 object reference the value is reported as.
    pub point: String,
}

/// One PMU (or PDC) stream behind this edge, as `[[pmu]]` in the edge configuration.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PmuConfig {
    /// A name for logs.
    pub name: String,
    /// `host:port` of the PMU (4712 is usual for TCP, 4713 for UDP).
    pub address: String,
    #[serde(default)]
    pub transport: Transport,
    /// IDCODE of the stream (the PDC's own for a PDC).
    pub idcode: u16,
    #[serde(default)]
    pub configuration: ConfigVersion,
    /// Prefix of the derived logical-device names: LD = prefix + sanitised station name.
    #[serde(default)]
    pub logical_device_prefix: String,
    /// Explicit bindings; channels not listed get derived names unless `only_mapped`.
    #[serde(default)]
    pub points: Vec<PointMapping>,
    /// Report only the channels listed in `points`.
    #[serde(default)]
    pub only_mapped: bool,
    /// Wait before the first reconnect, doubled up to `reconnect_max_ms`.
    #[serde(default = "default_reconnect_min_ms")]
    pub reconnect_min_ms: u64,
    #[serde(default = "default_reconnect_max_ms")]
    pub reconnect_max_ms: u64,
    /// How long to wait for the configuration (and a TCP connect) before asking again.
    #[serde(default = "default_response_timeout_ms")]
    pub response_timeout_ms: u64,
    /// Silence after which the stream is considered dead and reconnected.
    #[serde(default = "default_data_timeout_ms")]
    pub data_timeout_ms: u64,
}

fn default_reconnect_min_ms() -> u64 {
    500
}
fn default_reconnect_max_ms() -> u64 {
    30_000
}
fn default_response_timeout_ms() -> u64 {
    2_000
}
fn default_data_timeout_ms() -> u64 {
    5_000
}

/// Whether `s` can be part of an IEC 61850 name.
fn is_name_part(s: &str) -> bool {
    s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl PmuConfig {
    /// Checks what serde cannot; the error names the key (`points[2].point`) and says why.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let err = |key: &str, msg: &str| Err((key.to_owned(), msg.to_owned()));
        if self.name.trim().is_empty() {
            return err("name", "must not be empty");
        }
        match self.address.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => {}
            _ => return err("address", "must be host:port with a port in 1..=65535"),
        }
        if !is_name_part(&self.logical_device_prefix) {
            return err("logical_device_prefix", "may only contain ASCII letters, digits and '_'");
        }
        if self.reconnect_min_ms == 0 || self.reconnect_min_ms > self.reconnect_max_ms {
            return err("reconnect_min_ms", "must be at least 1 and at most reconnect_max_ms");
        }
        for (key, v) in [("response_timeout_ms", self.response_timeout_ms), ("data_timeout_ms", self.data_timeout_ms)] {
            if v == 0 {
                return err(key, "must be at least 1");
            }
        }
        if self.only_mapped && self.points.is_empty() {
            return err("only_mapped", "is set but no points are mapped");
        }
        let mut seen = std::collections::HashSet::new();
        for (i, m) in self.points.iter().enumerate() {
            if let Err(e) = PointId::new(m.point.as_str()) {
                return Err((format!("points[{i}].point"), e.to_string()));
            }
            if !seen.insert((m.point.as_str(), m.quantity)) {
                return Err((format!("points[{i}].point"), format!("`{}` is mapped twice", m.point)));
            }
            match (&m.channel, m.quantity.needs_channel()) {
                (None, true) => return Err((format!("points[{i}].channel"), format!("a {:?} mapping needs a channel name", m.quantity))),
                (Some(_), false) => return Err((format!("points[{i}].channel"), format!("a {:?} mapping takes no channel", m.quantity))),
                _ => {}
            }
        }
        Ok(())
    }

    /// Points this adapter can operate: none, PMUs only measure.
    pub fn operated_points(&self) -> Vec<PointId> {
        Vec::new()
    }

    fn client_config(&self) -> ClientConfig {
        ClientConfig {
            idcode: self.idcode,
            config_kind: match self.configuration {
                ConfigVersion::Cfg2 => ConfigKind::Cfg2,
                ConfigVersion::Cfg3 => ConfigKind::Cfg3,
            },
            request_header: true,
            response_timeout: Duration::from_millis(self.response_timeout_ms),
            config_attempts: 4,
            data_timeout: Duration::from_millis(self.data_timeout_ms),
        }
    }
}

/// Reads the stream until the edge stops (its data channel closes).
pub async fn run(config: PmuConfig, mut io: AdapterIo) {
    let min = Duration::from_millis(config.reconnect_min_ms);
    let max = Duration::from_millis(config.reconnect_max_ms);
    let mut backoff = min;
    loop {
        match resolve(&config.address).await {
            Some(addr) => match session(&config, addr, &mut io).await {
                SessionEnd::EdgeGone => return,
                SessionEnd::Streamed => backoff = min,
                SessionEnd::NeverStreamed => {}
            },
            None => warn!(pmu = %config.name, address = %config.address, "PMU address does not resolve"),
        }
        debug!(pmu = %config.name, wait_ms = backoff.as_millis(), "reconnecting to PMU");
        let wait = tokio::time::sleep(backoff);
        tokio::pin!(wait);
        loop {
            tokio::select! {
                () = &mut wait => break,
                Some(cmd) = io.commands.recv() => cmd.refuse(NO_COMMANDS).await,
            }
        }
        backoff = (backoff * 2).min(max);
    }
}

async fn resolve(address: &str) -> Option<SocketAddr> {
    tokio::net::lookup_host(address).await.ok()?.next()
}

enum SessionEnd {
    /// The edge dropped the data channel: stop for good.
    EdgeGone,
    /// Data flowed before the session ended: reconnect soon.
    Streamed,
    NeverStreamed,
}

async fn session(config: &PmuConfig, addr: SocketAddr, io: &mut AdapterIo) -> SessionEnd {
    let mut events = spawn_client(addr, config.transport, config.client_config());
    let mut map: Option<PointMap> = None;
    let mut streamed = false;
    let mut batch = Vec::new();
    let mut last = LastValues::default();
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Some(ClientEvent::Config(c)) => {
                    let (m, warnings) = PointMap::new(config, &c);
                    for w in warnings {
                        warn!(pmu = %config.name, "{w}");
                    }
                    info!(pmu = %config.name, %addr, stations = c.stations.len(), points = m.len(), rate = c.data_rate, "PMU configuration received");
                    map = Some(m);
                }
                Some(ClientEvent::Data(frame)) => {
                    let Some(m) = &map else { continue };
                    streamed = true;
                    batch.clear();
                    m.datums(&frame, Timestamp::now(), &mut batch);
                    batch.iter().for_each(|d| last.remember(d));
                    if !send_all(&io.data, &mut batch).await {
                        return SessionEnd::EdgeGone;
                    }
                }
                Some(ClientEvent::Header(text)) => info!(pmu = %config.name, header = %text.trim(), "PMU header"),
                Some(ClientEvent::Skipped(e)) => debug!(pmu = %config.name, error = %e, "frame skipped"),
                Some(ClientEvent::Failed(f)) => {
                    info!(pmu = %config.name, %addr, reason = %f, "PMU session ended");
                    break;
                }
                None => break,
            },
            Some(cmd) = io.commands.recv() => cmd.refuse(NO_COMMANDS).await,
        }
    }
    // The stream is gone (data timeout, closed, refused): SCADA must see IV, not the last phasors.
    if last.invalidate(&io.data).await.is_none() {
        return SessionEnd::EdgeGone;
    }
    if streamed { SessionEnd::Streamed } else { SessionEnd::NeverStreamed }
}

/// Sends every datum on; false once the edge has stopped.
async fn send_all(data: &mpsc::Sender<Datum>, batch: &mut Vec<Datum>) -> bool {
    for d in batch.drain(..) {
        if data.send(d).await.is_err() {
            return false;
        }
    }
    true
}

impl gridtrust_adapter::DeviceConfig for PmuConfig {
    const TABLE: &'static str = "pmu";
    fn name(&self) -> &str {
        &self.name
    }
    fn validate(&self) -> Result<(), (String, String)> {
        PmuConfig::validate(self)
    }
    fn operated_points(&self) -> Vec<PointId> {
        PmuConfig::operated_points(self)
    }
    fn run(self, io: AdapterIo) -> gridtrust_adapter::AdapterTask {
        Box::pin(run(self, io))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Stat;
    use crate::frame::{FrameTime, MessageTimeQuality};
    use gridtrust_model::Validity;

    fn parse(extra: &str) -> Result<PmuConfig, String> {
        toml::from_str(&format!("name = \"p\"\naddress = \"10.0.0.5:4712\"\nidcode = 7\n{extra}")).map_err(|e| e.to_string())
    }

    #[test]
    fn unknown_keys_are_refused_and_defaults_apply() {
        assert!(parse("idcod = 3").unwrap_err().contains("idcod"));
        let c = parse("").unwrap();
        assert_eq!((c.transport, c.configuration, c.reconnect_min_ms), (Transport::Tcp, ConfigVersion::Cfg2, 500));
        assert_eq!(c.validate(), Ok(()));
        assert!(c.operated_points().is_empty());
    }

    #[test]
    fn validation_names_the_key() {
        let key = |extra: &str, addr: Option<&str>| {
            let mut c = parse(extra).unwrap();
            if let Some(a) = addr {
                c.address = a.into();
            }
            c.validate().unwrap_err().0
        };
        assert_eq!(key("", Some("no-port")), "address");
        assert_eq!(key("logical_device_prefix = \"a/b\"", None), "logical_device_prefix");
        assert_eq!(key("reconnect_min_ms = 10\nreconnect_max_ms = 5", None), "reconnect_min_ms");
        assert_eq!(key("only_mapped = true", None), "only_mapped");
        assert_eq!(key("[[points]]\nchannel = \"VA\"\nquantity = \"magnitude\"\npoint = \"no slash\"", None), "points[0].point");
        assert_eq!(key("[[points]]\nquantity = \"angle\"\npoint = \"LD/MMXU1.PhV.phsA.cVal.ang.f\"", None), "points[0].channel");
        assert_eq!(key("[[points]]\nchannel = \"x\"\nquantity = \"frequency\"\npoint = \"LD/MMXU1.Hz.mag.f\"", None), "points[0].channel");
    }

    #[test]
    fn stat_bits_map_onto_iec_61850_quality() {
        assert!(points::stat_quality(Stat(0)).is_good());
        let pmu_error = points::stat_quality(Stat(0xc000));
        assert!(pmu_error.validity() == Validity::Invalid && pmu_error.failure());
        let test = points::stat_quality(Stat(0x8000));
        assert!(test.validity() == Validity::Invalid && test.test());
        assert_eq!(points::stat_quality(Stat(0x2000)).validity(), Validity::Invalid);
        assert!(points::stat_quality(Stat(0x0200)).substituted());
    }

    #[test]
    fn time_quality_joins_the_fracsec_byte_and_stat() {
        let t = |code, stat| {
            points::time_quality(FrameTime { quality: MessageTimeQuality { code, ..Default::default() }, ..Default::default() }, Stat(stat))
        };
        let locked = t(0, 0);
        assert!(!locked.invalid && !locked.not_synchronized && locked.leap_seconds_known);
        assert_eq!(locked.accuracy_bits, gridtrust_model::TimeQuality::UNSPECIFIED_ACCURACY);
        // STAT 010: within 1 µs → 19 significant bits (2^-19 s ≈ 1.9 µs ≥ 1 µs > 2^-20 s).
        assert_eq!(t(0, 0b010 << 6).accuracy_bits, 19);
        // Unlocked within 1 ms (code 7), sync lost in STAT.
        let unlocked = t(7, 0x2000);
        assert!(unlocked.not_synchronized && !unlocked.leap_seconds_known);
        assert_eq!(unlocked.accuracy_bits, 9);
        assert!(t(0xf, 0).invalid);
    }
}
