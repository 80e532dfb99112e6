use std::path::{Path, PathBuf};

use serde::Deserialize;

use gridtrust_config::{ConfigError, base_dir, read_toml, resolve};
use gridtrust_iec104::server::ServerConfig;
use gridtrust_transport::Upstream;
use gridtrust_transport::identity::{EvidenceConfig, IdentityConfig};

/// Everything `gridtrust cc --config FILE` needs.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CcConfig {
    /// This connector's identity, as in its certificate.
    pub cc_id: String,
    /// Where the connector keeps the last log checkpoint it accepted.
    pub data_dir: PathBuf,
    pub hub: Upstream,
    /// This connector's certificate, key and trust anchors.
    pub identity: IdentityConfig,
    /// Whether batch signatures are required (always, except in benchmarks).
    #[serde(default)]
    pub evidence: EvidenceConfig,
    pub iec104: Iec104Side,
    /// How long a command stays valid after SCADA issued it, in seconds.
    #[serde(default = "default_command_ttl")]
    pub command_ttl_s: u64,
}

fn default_command_ttl() -> u64 {
    30
}

/// The IEC 104 server SCADA connects to.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Iec104Side {
    /// `ip:port`; 127.0.0.1:2404 in the demo.
    pub listen: String,
    /// The SCADA-side addressing: which IOA carries which point (mapping file format of
    /// `gridtrust_iec104_model::mapping`).
    pub mapping: PathBuf,
    /// IEC 62351-3 TLS towards SCADA with the connector's identity (SCADA presents a
    /// certificate from the operator CA); plain TCP when false.
    #[serde(default)]
    pub tls: bool,
    /// Station parameters: common address, link timers, redundancy groups, queue sizes.
    #[serde(default)]
    pub station: ServerConfig,
}

impl CcConfig {
    /// Loads and validates; relative paths are resolved against the file's folder.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let mut c: Self = read_toml(path)?;
        let base = base_dir(path);
        c.identity.resolve(base);
        resolve(base, &mut c.data_dir);
        resolve(base, &mut c.iec104.mapping);
        if c.iec104.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError::invalid(path, "iec104.listen", format!("`{}` is not an ip:port address", c.iec104.listen)));
        }
        c.iec104.station.link.validate().map_err(|e| ConfigError::invalid(path, "iec104.station.link", e))?;
        if c.command_ttl_s == 0 {
            return Err(ConfigError::invalid(path, "command_ttl_s", "must be at least 1"));
        }
        Ok(c)
    }
}
