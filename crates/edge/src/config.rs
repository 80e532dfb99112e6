//! The edge's TOML configuration, validated at start with errors that name the key.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use gridtrust_adapter::DeviceConfig;
use gridtrust_c37118::adapter::PmuConfig;
use gridtrust_config::{ConfigError, base_dir, read_toml, resolve};
use gridtrust_iec104::connection::LinkConfig;
use gridtrust_mms::adapter::IedConfig;
use gridtrust_mms::tls::{IedTlsConfig, TlsConfigError};
use gridtrust_modbus::adapter::ModbusDeviceConfig;
use gridtrust_mqtt::MqttConfig;
use gridtrust_transport::Upstream;
use gridtrust_transport::identity::{Evidence, IdentityConfig};
use rustls::pki_types::ServerName;

/// Everything `gridtrust edge --config FILE` needs.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeConfig {
    /// This edge's identity; must match its certificate and stays stable for its lifetime,
    /// because sequence numbers and the hash chain hang off it.
    pub edge_id: String,
    /// Where the durable queue lives.
    pub data_dir: PathBuf,
    pub hub: Upstream,
    /// This edge's certificate, key (HSM or development file) and trust anchors.
    pub identity: IdentityConfig,
    #[serde(default)]
    pub batch: BatchConfig,
    /// How much the durable queue may hold while the hub is unreachable (`[queue] max_bytes`,
    /// `max_batches`; default 1 GiB and a million batches). When it is full the edge stops taking
    /// data from its devices, which then keep it (an RTU's unacknowledged frames): nothing is
    /// dropped.
    #[serde(default)]
    pub queue: gridtrust_store::QueueConfig,
    /// Batches are always signed; only the chain benchmark turns signing off, in code. Not a
    /// configuration key: a file with `[evidence]` is refused.
    #[doc(hidden)]
    #[serde(skip)]
    pub evidence: Evidence,
    /// The IEC 104 RTUs this edge polls.
    #[serde(default, rename = "rtu")]
    pub rtus: Vec<RtuConfig>,
    /// IEC 61850 IEDs, read through their reports over MMS and configured from their SCL files.
    #[serde(default, rename = "ied")]
    pub ieds: Vec<IedConfig>,
    /// Modbus TCP devices (SunSpec inverters, batteries, meters, or plain register maps).
    #[serde(default)]
    pub modbus: Vec<ModbusDeviceConfig>,
    /// MQTT brokers that meters publish to (JSON, SenML, CIM IEC 61968-9 MeterReadings).
    #[serde(default)]
    pub mqtt: Vec<MqttConfig>,
    /// IEEE C37.118 PMUs and PDCs.
    #[serde(default, rename = "pmu")]
    pub pmus: Vec<PmuConfig>,
    /// Whose command signatures are accepted besides control-centre connectors'.
    #[serde(default)]
    pub commands: crate::gate::CommandsConfig,
    /// `[ids]`: intrusion detection on the links to the RTUs (see [`crate::ids`]).
    #[serde(default)]
    pub ids: Option<gridtrust_ids::service::IdsConfig>,
}

/// When the edge closes a batch.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// Close after this many records.
    pub max_records: usize,
    /// Close at the latest this long after the first record, in milliseconds.
    pub max_delay_ms: u64,
    /// Batches sent to the hub and not yet acknowledged.
    pub max_in_flight: usize,
    /// After this many seconds without a batch, the edge closes an empty one (a signed header
    /// that continues the chain): the heartbeat that lets the cc tell an idle edge from one whose
    /// batches are withheld, and gives the hub link traffic to time out on. Keep it well below
    /// the cc's `[staleness] not_topical_s` (15 s by default) and the hub's `edge_silence_s`.
    pub heartbeat_s: u64,
    /// A batch sent to the hub and not acknowledged within this many seconds (the hub answers
    /// each in milliseconds) means the link is dead though its socket is open (a blackholed
    /// path): it is dropped and dialled again, and the unacknowledged batches are sent again
    /// from the durable queue. With heartbeats, an idle edge notices within
    /// `heartbeat_s + ack_timeout_s`.
    pub ack_timeout_s: u64,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self { max_records: 1000, max_delay_ms: 10, max_in_flight: 64, heartbeat_s: 3, ack_timeout_s: 10 }
    }
}

/// One RTU behind this edge.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RtuConfig {
    /// A name for logs and metrics.
    pub name: String,
    /// `host:port` of the RTU's IEC 104 server.
    pub address: String,
    /// The RTU's common address (ASDU address).
    pub common_address: u16,
    /// The mapping file that binds (CA, IOA, type) to points; relative to the config file.
    pub mapping: PathBuf,
    /// Period of the station interrogation that refreshes every point, in seconds.
    #[serde(default = "default_gi_period")]
    pub interrogation_period_s: u64,
    #[serde(default)]
    pub link: LinkConfig,
    /// IEC 104 over TLS (IEC 62351-3, mutual): the same table as an IED's `[ied.tls]` (CA and CRL
    /// the RTU's certificate must pass, the edge's client certificate and key, the name to
    /// verify). Absent: plain TCP.
    #[serde(default)]
    pub tls: Option<IedTlsConfig>,
}

impl RtuConfig {
    /// The TLS connector and the name the RTU's certificate must carry (loads the certificates
    /// and opens the key store).
    pub fn tls_connector(&self, tls: &IedTlsConfig) -> Result<(tokio_rustls::TlsConnector, ServerName<'static>), TlsConfigError> {
        let name = tls.server_name(&self.address)?;
        Ok((tokio_rustls::TlsConnector::from(tls.client_config()?), name))
    }
}

fn default_gi_period() -> u64 {
    300
}

impl EdgeConfig {
    /// Loads and validates; relative paths are resolved against the file's folder.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let mut c: Self = read_toml(path)?;
        c.resolve(base_dir(path));
        c.validate(path)?;
        Ok(c)
    }

    /// Makes relative paths relative to `base`.
    pub fn resolve(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| resolve(base, p);
        fix(&mut self.data_dir);
        self.identity.resolve(base);
        if let Some(ids) = &mut self.ids {
            ids.resolve(base);
        }
        for r in &mut self.rtus {
            fix(&mut r.mapping);
            if let Some(tls) = &mut r.tls {
                tls.resolve(base);
            }
        }
        for m in &mut self.mqtt {
            m.resolve(base);
        }
        for ied in &mut self.ieds {
            ied.resolve(base);
            // Buffered-report positions live beside the queue unless the IED says otherwise.
            ied.state_dir.get_or_insert_with(|| self.data_dir.clone());
        }
    }

    /// Checks values serde cannot, naming the key.
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::invalid(path, key, message);
        gridtrust_trust::evidence::validate_edge_id(&self.edge_id).map_err(|e| invalid("edge_id", e.to_string()))?;
        if let Some(ids) = &self.ids {
            ids.validate(path)?;
        }
        if self.batch.max_records == 0 || self.batch.max_records > 100_000 {
            return Err(invalid("batch.max_records", "must be 1..=100000".into()));
        }
        if self.batch.max_in_flight == 0 {
            return Err(invalid("batch.max_in_flight", "must be at least 1".into()));
        }
        // A queue that cannot hold one full batch would stop the edge at its first outage.
        if self.queue.max_bytes < 1 << 20 {
            return Err(invalid("queue.max_bytes", "must be at least 1048576 (1 MiB)".into()));
        }
        if self.queue.max_batches < 16 {
            return Err(invalid("queue.max_batches", "must be at least 16".into()));
        }
        if self.batch.heartbeat_s == 0 {
            return Err(invalid("batch.heartbeat_s", "must be at least 1".into()));
        }
        if self.batch.ack_timeout_s == 0 {
            return Err(invalid("batch.ack_timeout_s", "must be at least 1".into()));
        }
        for (i, r) in self.rtus.iter().enumerate() {
            r.link.validate().map_err(|e| invalid(&format!("rtu[{i}].link"), e.to_string()))?;
            if let Some(tls) = &r.tls {
                r.tls_connector(tls).map_err(|e| invalid(&format!("rtu[{i}].tls.{}", e.key()), e.to_string()))?;
            }
        }
        if let Some(w) = &self.commands.webauthn {
            w.check().map_err(|(key, message)| invalid(&format!("commands.webauthn.{key}"), message))?;
        }
        check_devices(&self.ieds, &invalid)?;
        check_devices(&self.modbus, &invalid)?;
        check_devices(&self.mqtt, &invalid)?;
        check_devices(&self.pmus, &invalid)?;
        let mut names = std::collections::HashSet::new();
        let adapters = self
            .rtus
            .iter()
            .map(|r| ("rtu", r.name.as_str()))
            .chain(device_names(&self.ieds))
            .chain(device_names(&self.modbus))
            .chain(device_names(&self.mqtt))
            .chain(device_names(&self.pmus));
        for (table, name) in adapters {
            if !names.insert(name) {
                return Err(invalid(
                    &format!("{table}.name"),
                    format!("`{name}` names another adapter too; names must be unique in logs and metrics"),
                ));
            }
        }
        Ok(())
    }
}

/// Validates every entry of one device table, naming `table[i].key` on error.
fn check_devices<C: DeviceConfig>(devices: &[C], invalid: &impl Fn(&str, String) -> ConfigError) -> Result<(), ConfigError> {
    for (i, d) in devices.iter().enumerate() {
        d.validate().map_err(|(key, message)| invalid(&format!("{}[{i}].{key}", C::TABLE), message))?;
    }
    Ok(())
}

/// (table, name) of every entry of one device table.
fn device_names<C: DeviceConfig>(devices: &[C]) -> impl Iterator<Item = (&'static str, &str)> {
    devices.iter().map(|d| (C::TABLE, d.name()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
edge_id = "edge-1"
data_dir = "data"
[hub]
address = "127.0.0.1:4000"
server_name = "hub"
[identity]
ca = "ca.pem"
certificate = "edge.pem"
crl = "crl.pem"
key = { kind = "software", path = "edge.key" }
"#;

    fn load(extra: &str) -> Result<EdgeConfig, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("edge.toml");
        std::fs::write(&path, format!("{BASE}{extra}")).unwrap();
        EdgeConfig::load(&path)
    }

    #[test]
    fn modbus_and_pmu_tables_are_read() {
        let c = load(
            r#"
[[modbus]]
name = "pv-1"
address = "127.0.0.1:1502"
logical_device = "PV1"
sunspec = true

[[pmu]]
name = "pmu-1"
address = "127.0.0.1:4712"
idcode = 7

[[mqtt]]
name = "meters"
host = "127.0.0.1"
client_id = "edge-1-meters"
tls = { ca = "pki/ca.pem", crl = "pki/ca.crl.pem", certificate = "pki/edge.pem", key = "pki/edge.key" }
[[mqtt.topic]]
filter = "meters/+/senml"
format = "senml"
[[mqtt.topic.point]]
name = "urn:dev:mac:0024befffe804ff1:energy"
point = "MTR1/MMTR1.TotWh.actVal"
unit = "Wh"
"#,
        )
        .unwrap();
        assert_eq!(c.modbus.len(), 1);
        assert_eq!(c.pmus[0].idcode, 7);
        assert!(!c.modbus[0].operated_points().is_empty(), "SunSpec controls are operable");
        let tls = c.mqtt[0].tls.as_ref().unwrap();
        assert!(tls.ca.is_absolute(), "MQTT TLS files are resolved against the config's folder");
    }

    #[test]
    fn an_adapter_error_names_its_table_index_and_key() {
        let e = load("[[modbus]]\nname = \"pv-1\"\naddress = \"nowhere\"\nlogical_device = \"PV1\"\nsunspec = true\n").unwrap_err();
        assert!(e.to_string().contains("modbus[0].address"), "{e}");
        let e = load("[[pmu]]\nname = \"pmu-1\"\naddress = \"127.0.0.1:4712\"\nidcode = 7\nbogus = 1\n").unwrap_err();
        assert!(e.to_string().contains("bogus"), "{e}");
    }

    #[test]
    fn an_ied_is_configured_from_its_scl_file_and_keeps_report_positions_in_the_data_dir() {
        let scl = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/testdata/scl/simpleIO_control_tests.cid");
        let c = load(&format!("[[ied]]\nname = \"ied-1\"\nscl = \"{scl}\"\naddress = \"127.0.0.1:10102\"\n")).unwrap();
        assert!(c.ieds[0].state_dir.as_ref().is_some_and(|d| d.ends_with("data")), "{:?}", c.ieds[0].state_dir);
        assert!(c.ieds[0].operated_points().iter().any(|p| p.as_str().ends_with("GGIO1.SPCSO1")), "{:?}", c.ieds[0].operated_points());
        let e = load(&format!("[[ied]]\nname = \"ied-1\"\nscl = \"{scl}\"\ncontrols = [\"nowhere/GGIO1.X\"]\n")).unwrap_err();
        assert!(e.to_string().contains("ied[0].controls[0]"), "{e}");
    }

    #[test]
    fn adapter_names_must_be_unique() {
        let two = "[[pmu]]\nname = \"x\"\naddress = \"127.0.0.1:4712\"\nidcode = 7\n[[modbus]]\nname = \"x\"\naddress = \"127.0.0.1:502\"\nlogical_device = \"PV1\"\nsunspec = true\n";
        let e = load(two).unwrap_err();
        assert!(e.to_string().contains("names another adapter"), "{e}");
    }

    #[test]
    fn the_queue_bound_is_a_key_with_defaults_and_a_floor() {
        let c = load("[queue]\nmax_bytes = 2097152\n").unwrap();
        assert_eq!((c.queue.max_bytes, c.queue.max_batches), (2_097_152, gridtrust_store::QueueConfig::default().max_batches));
        let e = load("[queue]\nmax_bytes = 1000\n").unwrap_err();
        assert!(e.to_string().contains("queue.max_bytes"), "{e}");
        let e = load("[queue]\nmax_pages = 1\n").unwrap_err();
        assert!(e.to_string().contains("max_pages"), "{e}");
    }
}
