//! The edge's TOML configuration, validated at start with errors that name the key.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use gridtrust_config::{ConfigError, base_dir, read_toml, resolve};
use gridtrust_iec104::connection::LinkConfig;
use gridtrust_transport::Upstream;
use gridtrust_transport::identity::{EvidenceConfig, IdentityConfig};

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
    /// Whether batches are signed (always, except in benchmarks that measure the cost).
    #[serde(default)]
    pub evidence: EvidenceConfig,
    /// The IEC 104 RTUs this edge polls.
    #[serde(default, rename = "rtu")]
    pub rtus: Vec<RtuConfig>,
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
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self { max_records: 1000, max_delay_ms: 10, max_in_flight: 64 }
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
        for r in &mut self.rtus {
            fix(&mut r.mapping);
        }
    }

    /// Checks values serde cannot, naming the key.
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::invalid(path, key, message);
        gridtrust_trust::evidence::validate_edge_id(&self.edge_id).map_err(|e| invalid("edge_id", e.to_string()))?;
        if self.batch.max_records == 0 || self.batch.max_records > 100_000 {
            return Err(invalid("batch.max_records", "must be 1..=100000".into()));
        }
        if self.batch.max_in_flight == 0 {
            return Err(invalid("batch.max_in_flight", "must be at least 1".into()));
        }
        for (i, r) in self.rtus.iter().enumerate() {
            r.link.validate().map_err(|e| invalid(&format!("rtu[{i}].link"), e.to_string()))?;
        }
        Ok(())
    }
}
