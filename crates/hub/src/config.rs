use std::path::{Path, PathBuf};

use serde::Deserialize;

use gridtrust_config::{ConfigError, base_dir, read_toml, resolve};
use gridtrust_transport::ListenerLimits;
use gridtrust_transport::identity::{Evidence, IdentityConfig};

use crate::policy::PolicyConfig;

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
    /// Handshake timeout, connection cap and refusal alarms of both listeners.
    #[serde(default)]
    pub listeners: ListenerLimits,
    /// The hub's certificate, key (HSM or development file) and trust anchors.
    pub identity: IdentityConfig,
    /// The signed point registry: which edge may report each point and be commanded for it.
    pub authority: AuthorityConfig,
    /// Which commands the hub countersigns.
    #[serde(default)]
    pub policy: PolicyConfig,
    /// Batch signatures are always required; only the chain benchmark turns them off, in
    /// code. Not a configuration key: a file with `[evidence]` is refused.
    #[doc(hidden)]
    #[serde(skip)]
    pub evidence: Evidence,
    /// How often the hub signs a checkpoint of its transparency log, in milliseconds.
    #[serde(default = "default_checkpoint_interval")]
    pub checkpoint_interval_ms: u64,
    /// An edge session from which nothing arrives for this many seconds is closed (a blackholed
    /// path, a stalled edge): edges send a heartbeat every `[batch] heartbeat_s` (3 s) when idle,
    /// so this must be well above that. Closing frees the edge's command route for its next
    /// connection instead of holding a dead one until TCP gives up.
    #[serde(default = "default_edge_silence")]
    pub edge_silence_s: u64,
    /// Most batches of one edge the hub replays to a connector from the position in its hello
    /// (what it missed while away); a connector further behind gets the latest values instead,
    /// with an alarm. At the edges' default 10 ms batch window a busy edge closes 10,000 batches
    /// in under two minutes, an idle one (a heartbeat every 3 s) in eight hours; replaying more
    /// delays the connector's live view for as long.
    #[serde(default = "default_max_replay_batches")]
    pub max_replay_batches: u64,
    /// How far an edge's clock may be from the hub's before a `clock` alarm: compared with the
    /// signed close time of every batch (heartbeats included) on arrival.
    #[serde(default = "default_max_clock_skew")]
    pub max_clock_skew_s: u64,
    /// The HTTP API and web UI (absent: no HTTP listener).
    #[serde(default)]
    pub api: Option<gridtrust_api::ApiConfig>,
    /// The joined IEC 61850 / CIM grid model the API serves (absent: the model is derived from
    /// point references, see [`crate::model`]).
    #[serde(default)]
    pub model: Option<ModelConfig>,
    /// The measurement checks on the live stream (absent: off); needs `[model]`. See
    /// [`crate::estimation`].
    #[serde(default)]
    pub estimation: Option<crate::estimation::EstimationConfig>,
    /// People's passkeys: the relying party id and the origins the UI is served from (absent:
    /// the hub refuses passkey-signed commands).
    #[serde(default)]
    pub webauthn: Option<gridtrust_trust::webauthn::WebAuthnConfig>,
}

/// `[authority]`: where the signed point registry is.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorityConfig {
    /// A registry signed by an ENGINEER or SECADM identity (`gridtrust registry sign`), relative
    /// to the configuration file. Checked at start; a version older than the one the hub already
    /// accepted is refused.
    pub registry: PathBuf,
}

/// `[model]`: which grid model the hub serves to the web UI and other parts.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// A model JSON written by `gridtrust model import`, relative to the configuration file;
    /// read and checked when the hub starts.
    pub file: PathBuf,
}

fn default_checkpoint_interval() -> u64 {
    1000
}

fn default_edge_silence() -> u64 {
    15
}

/// The skew the edges allow a command's issue time (`gate::Freshness`), so both ends judge time alike.
fn default_max_clock_skew() -> u64 {
    5
}

fn default_max_replay_batches() -> u64 {
    10_000
}

impl HubConfig {
    /// Loads the file and resolves relative paths against its folder.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let mut c: Self = read_toml(path)?;
        let base = base_dir(path);
        resolve(base, &mut c.data_dir);
        c.identity.resolve(base);
        resolve(base, &mut c.authority.registry);
        if let Some(model) = &mut c.model {
            resolve(base, &mut model.file);
        }
        if let Some(e) = &mut c.estimation {
            for f in &mut e.cgmes {
                resolve(base, f);
            }
            if c.model.is_none() {
                return Err(ConfigError::invalid(
                    path,
                    "estimation",
                    "needs [model] file: the points' links to CIM measurements come from it",
                ));
            }
            if e.cgmes.is_empty() {
                return Err(ConfigError::invalid(path, "estimation.cgmes", "names no file (EQ, TP and SSH are needed)"));
            }
            if e.interval_s == 0 {
                return Err(ConfigError::invalid(path, "estimation.interval_s", "must be at least 1"));
            }
            if !(e.confidence > 0.0 && e.confidence < 1.0) {
                return Err(ConfigError::invalid(path, "estimation.confidence", "must be between 0 and 1 (exclusive)"));
            }
        }
        if let Some(api) = &mut c.api {
            api.resolve_and_check(path, base)?;
        }
        if c.listeners.handshake_timeout_ms == 0 {
            return Err(ConfigError::invalid(path, "listeners.handshake_timeout_ms", "must be at least 1"));
        }
        if c.listeners.max_connections == 0 {
            return Err(ConfigError::invalid(path, "listeners.max_connections", "must be at least 1"));
        }
        if let Some(w) = &c.webauthn {
            w.check().map_err(|(key, message)| ConfigError::invalid(path, format!("webauthn.{key}"), message))?;
        }
        if c.checkpoint_interval_ms == 0 {
            return Err(ConfigError::invalid(path, "checkpoint_interval_ms", "must be at least 1"));
        }
        if c.edge_silence_s == 0 {
            return Err(ConfigError::invalid(path, "edge_silence_s", "must be at least 1"));
        }
        if c.max_clock_skew_s == 0 {
            return Err(ConfigError::invalid(path, "max_clock_skew_s", "must be at least 1"));
        }
        if c.max_replay_batches == 0 {
            return Err(ConfigError::invalid(path, "max_replay_batches", "must be at least 1"));
        }
        for (key, addr) in [("edge_listen", &c.edge_listen), ("cc_listen", &c.cc_listen)] {
            if addr.parse::<std::net::SocketAddr>().is_err() {
                return Err(ConfigError::invalid(path, key, format!("`{addr}` is not an ip:port address")));
            }
        }
        Ok(c)
    }
}
