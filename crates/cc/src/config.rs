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
    /// IEC 62351-3 TLS towards SCADA with the connector's identity: SCADA presents a `scada`
    /// certificate from the operator CA, whose IEC 62351-8 role decides whether it may command
    /// (see [`crate::scada`]). Plain TCP when false: the address allow-list is then the only
    /// control, and commands are signed on behalf of the client's address.
    #[serde(default)]
    pub tls: bool,
    /// Station parameters: common address, link timers, redundancy groups, queue sizes. The
    /// redundancy groups' `members` are the allow-list of SCADA client addresses (required,
    /// none empty; every other connection is refused).
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
        let groups = &c.iec104.station.redundancy_groups;
        if groups.is_empty() {
            return Err(ConfigError::invalid(
                path,
                "iec104.station.redundancy_groups",
                "no SCADA client may connect: list the SCADA front-ends' addresses as a group's members (an allow-list; \
                 every other connection is refused). members = [\"0.0.0.0/0\"] admits any IPv4 address",
            ));
        }
        if let Some(i) = groups.iter().position(|g| g.members.is_empty()) {
            return Err(ConfigError::invalid(
                path,
                format!("iec104.station.redundancy_groups[{i}].members"),
                "empty: a group admits only the client addresses or blocks it lists",
            ));
        }
        if c.command_ttl_s == 0 {
            return Err(ConfigError::invalid(path, "command_ttl_s", "must be at least 1"));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loads a cc.toml whose `[iec104.station]` part is `station`.
    fn load(station: &str) -> Result<CcConfig, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cc.toml");
        std::fs::write(
            &path,
            format!(
                "cc_id = \"cc-1\"\ndata_dir = \"cc-data\"\n\n[identity]\nca = \"ca.pem\"\ncertificate = \"cc.pem\"\ncrl = \"crl.pem\"\nkey = {{ kind = \"software\", path = \"cc.key\" }}\n\n[hub]\naddress = \"127.0.0.1:1\"\n\n[iec104]\nlisten = \"127.0.0.1:0\"\nmapping = \"map.toml\"\n\n[iec104.station]\n{station}"
            ),
        )
        .unwrap();
        CcConfig::load(&path)
    }

    fn invalid_key(result: Result<CcConfig, ConfigError>) -> String {
        match result {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected an invalid key, got {other:?}"),
        }
    }

    #[test]
    fn the_scada_allow_list_is_required_and_no_group_may_be_empty() {
        assert_eq!(invalid_key(load("common_address = 1\n")), "iec104.station.redundancy_groups");
        let empty = "[[iec104.station.redundancy_groups]]\nname = \"a\"\nmembers = [\"10.0.0.1\"]\n[[iec104.station.redundancy_groups]]\nname = \"b\"\nmembers = []\n";
        assert_eq!(invalid_key(load(empty)), "iec104.station.redundancy_groups[1].members");
        let listed = "[[iec104.station.redundancy_groups]]\nname = \"scada\"\nmembers = [\"10.1.0.5\", \"10.2.0.0/24\", \"::1\"]\n";
        let config = load(listed).unwrap();
        let members = &config.iec104.station.redundancy_groups[0].members;
        assert!(members[1].contains("10.2.0.9".parse().unwrap()) && !members[0].contains("10.1.0.6".parse().unwrap()));
    }

    #[test]
    fn a_bad_client_address_is_an_error_that_points_at_it() {
        let bad = "[[iec104.station.redundancy_groups]]\nname = \"scada\"\nmembers = [\"10.1.0.5\", \"10.2.0.7/24\"]\n";
        let Err(ConfigError::Parse { message, .. }) = load(bad) else { panic!("a host address with a prefix must not load") };
        assert!(message.contains("10.2.0.7/24") && message.contains("10.2.0.0/24") && message.contains("members"), "{message}");
        let unlisted = "unlisted_clients = \"own_group\"\n[[iec104.station.redundancy_groups]]\nname = \"scada\"\nmembers = [\"10.1.0.5\"]\n";
        assert!(matches!(load(unlisted), Err(ConfigError::Parse { .. })), "the cc's allow-list cannot be switched off in its file");
    }
}
