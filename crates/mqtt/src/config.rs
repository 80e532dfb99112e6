//! The `[[mqtt]]` adapter's configuration: which broker, how to authenticate, and which topics
//! carry which payload format mapped to which points.
//!
//! ```toml
//! name = "meters"
//! host = "broker.site.local"
//! port = 8883
//! client_id = "edge-1-meters"      # stable: the broker keeps this session's queue
//! qos = 1
//! [tls]
//! ca = "pki/broker-ca.pem"
//! crl = "pki/broker-ca.crl.pem"   # required: the broker's certificate is checked against it
//! certificate = "pki/edge-1.pem"
//! key = "pki/edge-1.key"
//!
//! [[topic]]
//! filter = "meters/+/senml"
//! format = "senml"
//! [[topic.point]]
//! name = "urn:dev:mac:0024befffe804ff1:energy"   # resolved SenML name
//! point = "MTR1/MMTR1.TotWh.actVal"
//! unit = "Wh"                                     # kWh in the pack is scaled to Wh
//!
//! [[topic]]
//! filter = "meters/MTR2/json"
//! format = "json"
//! time = "/ts"                                    # JSON Pointer of the time member
//! [[topic.point]]
//! name = "/energy/import_wh"                      # JSON Pointer of the value
//! point = "MTR2/MMTR1.TotWh.actVal"
//!
//! [[topic]]
//! filter = "ami/readings/#"
//! format = "cim"
//! [[topic.point]]
//! name = "0.0.0.1.1.1.12.0.0.0.0.0.0.0.0.3.72.0"  # ReadingType code
//! meter = "11111111"                              # optional: only this meter's readings
//! point = "MTR3/MMTR1.TotWh.actVal"
//! unit = "Wh"
//! ```

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use gridtrust_model::PointId;
use serde::Deserialize;

use crate::units::Unit;

/// One MQTT broker connection of an edge and what to read from it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// A name for logs and metrics.
    pub name: String,
    /// The broker's host name or IP address; with TLS, the name its certificate must carry.
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    /// Must stay the same across restarts: the broker keeps the persistent session, and the
    /// QoS 1 messages queued while the edge is away, under this id.
    pub client_id: String,
    /// Mutual TLS 1.3; plain TCP when absent.
    #[serde(default)]
    pub tls: Option<TlsFiles>,
    /// Subscription QoS: 1 (the default) for no loss, 0 where losing a reading is acceptable.
    #[serde(default = "default_qos")]
    pub qos: u8,
    /// MQTT keep-alive, seconds.
    #[serde(default = "default_keep_alive")]
    pub keep_alive_s: u64,
    /// The largest PUBLISH accepted; CIM messages with many intervals are larger than the
    /// client library's 10 KiB default.
    #[serde(default = "default_max_payload")]
    pub max_payload_bytes: usize,
    /// The longest wait between reconnection attempts (the wait doubles from 100 ms).
    #[serde(default = "default_reconnect_max")]
    pub reconnect_max_ms: u64,
    #[serde(rename = "topic")]
    pub topics: Vec<TopicConfig>,
}

/// Client certificate, its key, the CA the broker's certificate must chain to and that CA's CRL
/// (PEM files, relative to the configuration file).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    pub ca: PathBuf,
    /// Required, as on every other hop: a revoked broker certificate is refused, and the file
    /// is re-read while the adapter runs.
    pub crl: PathBuf,
    pub certificate: PathBuf,
    pub key: PathBuf,
}

/// The payload format a topic carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PayloadFormat {
    /// One JSON object, values selected by JSON Pointer ([`crate::json`]).
    Json,
    /// An RFC 8428 SenML JSON pack ([`crate::senml`]).
    Senml,
    /// A CIM IEC 61968-9 MeterReadings XML message ([`crate::cim`]).
    Cim,
}

impl PayloadFormat {
    /// The name used in configuration, logs and statistics.
    pub fn name(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Senml => "senml",
            Self::Cim => "cim",
        }
    }
}

/// A topic filter, its payload format and the points its readings feed.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicConfig {
    /// MQTT topic filter; `+` and `#` wildcards allowed.
    pub filter: String,
    pub format: PayloadFormat,
    /// JSON only: JSON Pointer of the time member (default `/time`).
    #[serde(default)]
    pub time: Option<String>,
    #[serde(rename = "point")]
    pub points: Vec<PointMapping>,
}

/// Which reading feeds which point.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointMapping {
    /// The reading's name: a JSON Pointer (json), the resolved SenML name (senml), or the
    /// ReadingType code (cim).
    pub name: String,
    /// CIM only: take the reading only from this meter (mRID or name); any meter when absent.
    #[serde(default)]
    pub meter: Option<String>,
    pub point: PointId,
    /// The point's unit. A reading that states a unit is scaled into it (kWh → Wh) and refused
    /// when it measures something else; a reading without one is taken to be in it.
    #[serde(default)]
    pub unit: Option<String>,
}

fn default_port() -> u16 {
    1883
}
fn default_qos() -> u8 {
    1
}
fn default_keep_alive() -> u64 {
    30
}
fn default_max_payload() -> usize {
    1024 * 1024
}
fn default_reconnect_max() -> u64 {
    10_000
}

impl MqttConfig {
    /// Makes relative TLS file paths relative to `base` (the configuration file's folder).
    pub fn resolve(&mut self, base: &Path) {
        if let Some(tls) = &mut self.tls {
            for p in [&mut tls.ca, &mut tls.crl, &mut tls.certificate, &mut tls.key] {
                gridtrust_config::resolve(base, p);
            }
        }
    }

    /// Meters take no commands: this adapter operates no point.
    pub fn operated_points(&self) -> Vec<PointId> {
        Vec::new()
    }

    /// Checks what serde cannot; the error is (key, message), the key relative to this table.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let fail = |key: String, message: &str| Err((key, message.to_owned()));
        if self.name.trim().is_empty() {
            return fail("name".into(), "must not be empty");
        }
        if self.host.trim().is_empty() {
            return fail("host".into(), "must not be empty");
        }
        if self.port == 0 {
            return fail("port".into(), "must be 1..=65535");
        }
        if self.client_id.is_empty() || self.client_id.len() > 65_535 {
            return fail("client_id".into(), "must not be empty (a persistent session needs a stable id)");
        }
        if self.qos > 1 {
            return fail("qos".into(), "must be 0 or 1 (QoS 1 with acknowledgement after hand-off to the edge gives no loss)");
        }
        if !(5..=3600).contains(&self.keep_alive_s) {
            return fail("keep_alive_s".into(), "must be 5..=3600");
        }
        if !(1024..=256 * 1024 * 1024).contains(&self.max_payload_bytes) {
            return fail("max_payload_bytes".into(), "must be 1024..=268435456 (the MQTT maximum)");
        }
        if !(100..=600_000).contains(&self.reconnect_max_ms) {
            return fail("reconnect_max_ms".into(), "must be 100..=600000");
        }
        if self.topics.is_empty() {
            return fail("topic".into(), "at least one [[topic]] is needed");
        }
        let mut filters = HashSet::new();
        for (t, topic) in self.topics.iter().enumerate() {
            let key = |k: &str| format!("topic[{t}].{k}");
            if !rumqttc::valid_filter(&topic.filter) {
                return fail(key("filter"), "not a valid MQTT topic filter (`+` and `#` must fill a whole level, `#` only last)");
            }
            if !filters.insert(topic.filter.as_str()) {
                return fail(key("filter"), "the same filter appears twice");
            }
            match (&topic.time, topic.format) {
                (Some(p), PayloadFormat::Json) if !p.starts_with('/') => return fail(key("time"), "must be a JSON Pointer such as /time"),
                (Some(_), PayloadFormat::Senml | PayloadFormat::Cim) => {
                    return fail(key("time"), "only json topics take a time pointer (SenML and CIM carry their own times)");
                }
                _ => {}
            }
            if topic.points.is_empty() {
                return fail(key("point"), "at least one [[topic.point]] is needed");
            }
            let mut names = HashSet::new();
            for (p, m) in topic.points.iter().enumerate() {
                let key = |k: &str| format!("topic[{t}].point[{p}].{k}");
                Self::validate_name(topic.format, &m.name).map_err(|msg| (key("name"), msg))?;
                if m.meter.is_some() && topic.format != PayloadFormat::Cim {
                    return fail(key("meter"), "only cim topics name meters (other formats name the device in the reading's name)");
                }
                if !names.insert((m.name.as_str(), m.meter.as_deref())) {
                    return fail(key("name"), "this reading is mapped twice on this topic");
                }
                if m.unit.as_deref().is_some_and(|u| u.trim().is_empty()) {
                    return fail(key("unit"), "must not be empty");
                }
            }
        }
        Ok(())
    }

    fn validate_name(format: PayloadFormat, name: &str) -> Result<(), String> {
        match format {
            PayloadFormat::Json if !name.starts_with('/') => Err("must be a JSON Pointer such as /energy/import_wh".into()),
            PayloadFormat::Senml if !crate::senml::valid_name(name) => {
                Err("not a SenML name (A-Z a-z 0-9 - : . / _, starting with a letter or digit)".into())
            }
            PayloadFormat::Cim if crate::cim::unit_of_reading_type(name).is_none() => {
                Err("not a ReadingType code (dotted numbers ending in multiplier.unit.currency)".into())
            }
            _ => Ok(()),
        }
    }
}

impl PointMapping {
    /// The point's unit, parsed.
    pub(crate) fn unit(&self) -> Option<Unit> {
        self.unit.as_deref().map(Unit::parse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
        name = "meters"
        host = "127.0.0.1"
        client_id = "edge-1-meters"
        [[topic]]
        filter = "meters/+/senml"
        format = "senml"
        [[topic.point]]
        name = "urn:dev:mac:0024befffe804ff1:energy"
        point = "MTR1/MMTR1.TotWh.actVal"
        unit = "Wh"
        [[topic]]
        filter = "meters/MTR2/json"
        format = "json"
        time = "/ts"
        [[topic.point]]
        name = "/energy/import_wh"
        point = "MTR2/MMTR1.TotWh.actVal"
        [[topic]]
        filter = "ami/readings/#"
        format = "cim"
        [[topic.point]]
        name = "0.0.0.1.1.1.12.0.0.0.0.0.0.0.0.3.72.0"
        meter = "11111111"
        point = "MTR3/MMTR1.TotWh.actVal"
    "#;

    fn example() -> MqttConfig {
        toml::from_str(EXAMPLE).unwrap()
    }

    #[test]
    fn the_documented_example_is_valid_with_defaults() {
        let c = example();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!((c.port, c.qos, c.keep_alive_s), (1883, 1, 30));
        assert!(c.operated_points().is_empty());
    }

    #[test]
    fn typos_and_bad_points_are_parse_errors() {
        assert!(toml::from_str::<MqttConfig>(&EXAMPLE.replace("client_id", "clientid")).is_err());
        assert!(toml::from_str::<MqttConfig>(&EXAMPLE.replace("format = \"cim\"", "format = \"xml\"")).is_err());
        let err = toml::from_str::<MqttConfig>(&EXAMPLE.replace("MTR1/MMTR1.TotWh.actVal", "MMTR1.TotWh")).unwrap_err();
        assert!(err.to_string().contains("no `/`"), "{err}");
    }

    #[test]
    fn invalid_values_name_their_key() {
        let check = |edit: fn(&mut MqttConfig), key: &str| {
            let mut c = example();
            edit(&mut c);
            let (k, _) = c.validate().unwrap_err();
            assert_eq!(k, key);
        };
        check(|c| c.qos = 2, "qos");
        check(|c| c.client_id.clear(), "client_id");
        check(|c| c.topics[0].filter = "meters/#/x".into(), "topic[0].filter");
        check(|c| c.topics[1].filter = "meters/+/senml".into(), "topic[1].filter");
        check(|c| c.topics[1].points[0].name = "energy".into(), "topic[1].point[0].name");
        check(|c| c.topics[0].points[0].name = "bad name".into(), "topic[0].point[0].name");
        check(|c| c.topics[2].points[0].name = "kWh".into(), "topic[2].point[0].name");
        check(|c| c.topics[0].points[0].meter = Some("x".into()), "topic[0].point[0].meter");
        check(|c| c.topics[0].time = Some("/t".into()), "topic[0].time");
        check(|c| c.topics[2].points.clear(), "topic[2].point");
        check(
            |c| {
                let dup = c.topics[0].points[0].clone();
                c.topics[0].points.push(dup);
            },
            "topic[0].point[1].name",
        );
    }

    #[test]
    fn tls_paths_resolve_against_the_config_folder() {
        let mut c = example();
        c.tls = Some(TlsFiles { ca: "ca.pem".into(), crl: "crl.pem".into(), certificate: "/abs/c.pem".into(), key: "k.pem".into() });
        c.resolve(Path::new("/etc/gridtrust"));
        let tls = c.tls.unwrap();
        assert_eq!(tls.ca, Path::new("/etc/gridtrust/ca.pem"));
        assert_eq!(tls.certificate, Path::new("/abs/c.pem"));
    }
}
