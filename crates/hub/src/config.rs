use std::path::{Path, PathBuf};

use serde::Deserialize;

use gridtrust_config::{ConfigError, base_dir, read_toml, resolve};
use gridtrust_trust::pki::TlsFiles;

/// Everything `gridtrust hub --config FILE` needs.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubConfig {
    /// Where the store lives.
    pub data_dir: PathBuf,
    /// `host:port` edges dial (mutual TLS).
    pub edge_listen: String,
    /// `host:port` control-centre connectors dial (mutual TLS).
    pub cc_listen: String,
    pub tls: TlsFiles,
}

impl HubConfig {
    /// Loads the file and resolves relative paths against its folder.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let mut c: Self = read_toml(path)?;
        let base = base_dir(path);
        for p in [&mut c.data_dir, &mut c.tls.ca, &mut c.tls.cert, &mut c.tls.key] {
            resolve(base, p);
        }
        for (key, addr) in [("edge_listen", &c.edge_listen), ("cc_listen", &c.cc_listen)] {
            if addr.parse::<std::net::SocketAddr>().is_err() {
                return Err(ConfigError::invalid(path, key, format!("`{addr}` is not an ip:port address")));
            }
        }
        Ok(c)
    }
}
