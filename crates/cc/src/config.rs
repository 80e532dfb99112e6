use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use gridtrust_ids::service::IdsConfig;

use gridtrust_config::{ConfigError, base_dir, read_toml, resolve};
use gridtrust_iec104::server::ServerConfig;
use gridtrust_transport::Upstream;
use gridtrust_transport::identity::{Evidence, IdentityConfig};
use gridtrust_trust::Hash;
use gridtrust_trust::checkpoint::PinnedTree;

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
    /// Batch signatures are always required; only the chain benchmark turns them off, in
    /// code. Not a configuration key: a file with `[evidence]` is refused.
    #[doc(hidden)]
    #[serde(skip)]
    pub evidence: Evidence,
    /// How the hub's log checkpoints are followed.
    #[serde(default)]
    pub checkpoints: CheckpointsConfig,
    pub iec104: Iec104Side,
    /// `[staleness]`: when SCADA sees an edge's points as not topical, then invalid.
    #[serde(default)]
    pub staleness: StalenessConfig,
    /// `[commands]`: how long a SCADA command may wait for the hub.
    #[serde(default)]
    pub commands: CommandsConfig,
    /// `[ui]`: serve the control-room web UI from here (see [`crate::ui`]).
    #[serde(default)]
    pub ui: Option<UiConfig>,
    /// `[ids]`: intrusion detection on the SCADA side (see [`crate::ids`]).
    #[serde(default)]
    pub ids: Option<IdsConfig>,
}

/// `[ui]`: the control-room web UI served by the connector, on the control-centre side, so the
/// scripts that show people what they sign with their passkey never come from the hub. Only
/// `/api/...` requests go on to the hub's API.
///
/// ```toml
/// [ui]
/// listen = "0.0.0.0:8443"          # HTTPS with the connector's own certificate ([identity])
/// hub_api = "hub.example:8443"     # the hub's [api] listen address, HTTPS with its identity
/// hub_api_name = "hub"             # the name the hub's certificate must carry (default "hub")
/// # plain_http_on_loopback = true  # plain HTTP to browsers, allowed only when listen is loopback
/// # hub_api_plain_http_on_loopback = true  # plain HTTP to the hub, only to a loopback hub_api
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UiConfig {
    /// `ip:port` where browsers connect.
    pub listen: String,
    /// `host:port` of the hub's API for people (its `[api] listen`).
    pub hub_api: String,
    /// The name the hub API's certificate must carry; it must also chain to the operator CA in
    /// `[identity]` and not be revoked.
    #[serde(default = "default_hub_api_name")]
    pub hub_api_name: String,
    /// Serve browsers plain HTTP; refused unless `listen` is a loopback address (the same rule
    /// as the hub's `[api]`).
    #[serde(default)]
    pub plain_http_on_loopback: bool,
    /// Reach the hub's API over plain HTTP; refused unless `hub_api` is a loopback `ip:port`
    /// (the single-machine demo, whose hub serves plain HTTP on loopback).
    #[serde(default)]
    pub hub_api_plain_http_on_loopback: bool,
}

fn default_hub_api_name() -> String {
    "hub".to_owned()
}

/// How the connector reaches the hub's API, decided by [`UiConfig::hub_api_transport`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HubApiTransport {
    /// HTTPS, the certificate verified against the operator CA and `hub_api_name`.
    Https { server_name: rustls::pki_types::ServerName<'static> },
    /// Plain HTTP to a loopback address, as configured.
    PlainLoopback,
}

impl UiConfig {
    /// Whether browsers get plain HTTP (the rule shared with the hub's `[api]`).
    pub fn plain_http(&self, path: &Path) -> Result<bool, ConfigError> {
        gridtrust_api::plain_http_allowed(path, "ui", &self.listen, self.plain_http_on_loopback)
    }

    /// The one place that decides how the hub's API is reached; errors name the key.
    pub fn hub_api_transport(&self, path: &Path) -> Result<HubApiTransport, ConfigError> {
        let port = self.hub_api.rsplit_once(':').filter(|(host, _)| !host.is_empty()).map(|(_, port)| port.parse::<u16>());
        if !matches!(port, Some(Ok(_))) {
            return Err(ConfigError::invalid(path, "ui.hub_api", format!("`{}` is not a host:port address", self.hub_api)));
        }
        if self.hub_api_plain_http_on_loopback {
            return match self.hub_api.parse::<std::net::SocketAddr>() {
                Ok(addr) if addr.ip().is_loopback() => Ok(HubApiTransport::PlainLoopback),
                _ => Err(ConfigError::invalid(
                    path,
                    "ui.hub_api_plain_http_on_loopback",
                    format!("plain HTTP to the hub is allowed only to a loopback ip:port, but ui.hub_api is {}", self.hub_api),
                )),
            };
        }
        let server_name = rustls::pki_types::ServerName::try_from(self.hub_api_name.clone()).map_err(|e| {
            ConfigError::invalid(path, "ui.hub_api_name", format!("`{}` is not a DNS name or IP address: {e}", self.hub_api_name))
        })?;
        Ok(HubApiTransport::Https { server_name })
    }

    /// Checks every key; errors name it.
    pub fn check(&self, path: &Path) -> Result<(), ConfigError> {
        self.plain_http(path)?;
        self.hub_api_transport(path)?;
        Ok(())
    }
}

/// `[staleness]`: how long an edge may be silent (no verified batch of it reached the cc,
/// whatever the cause: the edge, the hub or the link to the hub) before SCADA sees its points
/// not topical (NT), then invalid (IV). An idle edge sends a signed heartbeat every
/// `[batch] heartbeat_s` (3 s by default), so the bounds must exceed that, not the devices'
/// reporting period.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StalenessConfig {
    /// Seconds of silence after which the edge's points are served with NT.
    #[serde(default = "default_not_topical")]
    pub not_topical_s: u64,
    /// Seconds of silence after which they are served with IV (and NT); above `not_topical_s`.
    #[serde(default = "default_invalid")]
    pub invalid_s: u64,
    /// Seconds without any message from the hub after which the cc drops the link and dials
    /// again: the hub sends a checkpoint every second, so silence means a blackholed path or a
    /// stalled hub, which TCP alone would notice only after many minutes.
    #[serde(default = "default_hub_silence")]
    pub hub_silence_s: u64,
}

impl Default for StalenessConfig {
    fn default() -> Self {
        Self { not_topical_s: default_not_topical(), invalid_s: default_invalid(), hub_silence_s: default_hub_silence() }
    }
}

fn default_not_topical() -> u64 {
    15
}

fn default_invalid() -> u64 {
    60
}

fn default_hub_silence() -> u64 {
    30
}

/// `[commands]`: a SCADA command is answered with a negative ACTCON when it cannot be sent to
/// the hub, or its confirmation does not come back, within `forward_timeout_ms` of its arrival;
/// it is never sent later (no command is queued across an outage), and the signed command
/// expires at that same moment, so no edge executes it after SCADA was told it failed.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CommandsConfig {
    /// Milliseconds from the command's arrival: both SCADA's deadline and the command's
    /// validity. At most [`MAX_FORWARD_TIMEOUT_MS`].
    #[serde(default = "default_forward_timeout")]
    pub forward_timeout_ms: u64,
}

impl Default for CommandsConfig {
    fn default() -> Self {
        Self { forward_timeout_ms: default_forward_timeout() }
    }
}

fn default_forward_timeout() -> u64 {
    3000
}

/// The longest command validity edges accept by default (their `max_validity`, 300 s).
pub const MAX_FORWARD_TIMEOUT_MS: u64 = 300_000;

/// `[checkpoints]`: how the connector follows the hub's transparency log.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointsConfig {
    /// An alarm is raised when no new log checkpoint arrived for this many seconds (and another
    /// when they resume). The hub signs one per `checkpoint_interval_ms` (1 s by default) while
    /// its log grows and re-signs an unchanged log every few seconds; keep this well above both.
    #[serde(default = "default_max_silence")]
    pub max_silence_s: u64,
    /// `[checkpoints.pinned]` (`tree_size`, `root` as 64 hex digits): a checkpoint of the hub's
    /// log the operator vouches for, e.g. the `summary` of a `gridtrust export checkpoint` file
    /// an auditor verified. A connector that holds no checkpoint of its own yet accepts only a
    /// log proven consistent with it, instead of trusting the first checkpoint it is shown.
    #[serde(default, deserialize_with = "pinned_tree")]
    pub pinned: Option<PinnedTree>,
}

impl Default for CheckpointsConfig {
    fn default() -> Self {
        Self { max_silence_s: default_max_silence(), pinned: None }
    }
}

fn default_max_silence() -> u64 {
    10
}

/// `[checkpoints.pinned]` as written in the file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PinnedToml {
    tree_size: u64,
    root: String,
}

fn pinned_tree<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<PinnedTree>, D::Error> {
    use serde::de::Error;
    let Some(pin) = Option::<PinnedToml>::deserialize(d)? else { return Ok(None) };
    let root = parse_root(&pin.root).ok_or_else(|| D::Error::custom("checkpoints.pinned.root must be 64 hex digits"))?;
    PinnedTree::new(pin.tree_size, root).map(Some).map_err(|e| D::Error::custom(format!("checkpoints.pinned: {e}")))
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
        if let Some(ids) = c.ids.as_mut() {
            ids.resolve(base);
            ids.validate(path)?;
        }
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
        if c.checkpoints.max_silence_s == 0 {
            return Err(ConfigError::invalid(path, "checkpoints.max_silence_s", "must be at least 1"));
        }
        if c.staleness.not_topical_s == 0 {
            return Err(ConfigError::invalid(path, "staleness.not_topical_s", "must be at least 1"));
        }
        if c.staleness.invalid_s <= c.staleness.not_topical_s {
            return Err(ConfigError::invalid(
                path,
                "staleness.invalid_s",
                format!("must be above staleness.not_topical_s ({})", c.staleness.not_topical_s),
            ));
        }
        if c.staleness.hub_silence_s == 0 {
            return Err(ConfigError::invalid(path, "staleness.hub_silence_s", "must be at least 1"));
        }
        if c.commands.forward_timeout_ms == 0 {
            return Err(ConfigError::invalid(path, "commands.forward_timeout_ms", "must be at least 1"));
        }
        if c.commands.forward_timeout_ms > MAX_FORWARD_TIMEOUT_MS {
            return Err(ConfigError::invalid(
                path,
                "commands.forward_timeout_ms",
                format!("at most {MAX_FORWARD_TIMEOUT_MS}: it is also the command's validity, and edges refuse longer ones"),
            ));
        }
        if let Some(ui) = &c.ui {
            ui.check(path)?;
        }
        Ok(c)
    }
}

/// 64 hex digits as a hash.
fn parse_root(hex: &str) -> Option<Hash> {
    let digits = hex.as_bytes();
    if digits.len() != 64 {
        return None;
    }
    let mut root = [0u8; 32];
    for (byte, pair) in root.iter_mut().zip(digits.chunks_exact(2)) {
        let nibble = |d: u8| char::from(d).to_digit(16);
        *byte = u8::try_from(nibble(pair[0])? * 16 + nibble(pair[1])?).ok()?;
    }
    Some(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(extra: &str) -> Result<CcConfig, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cc.toml");
        let base = "cc_id = \"cc-1\"\ndata_dir = \"cc-data\"\n\n[identity]\nca = \"ca.pem\"\ncrl = \"crl.pem\"\ncertificate = \"cc.pem\"\nkey = { kind = \"software\", path = \"cc.key\" }\n\n[hub]\naddress = \"127.0.0.1:1\"\n\n[iec104]\nlisten = \"127.0.0.1:2404\"\nmapping = \"map.toml\"\n";
        std::fs::write(&path, format!("{base}\n{extra}")).unwrap();
        CcConfig::load(&path)
    }

    #[test]
    fn checkpoints_default_to_a_ten_second_silence_bound_and_no_pin() {
        let c = load(SCADA_GROUP).unwrap();
        assert_eq!(c.checkpoints.max_silence_s, 10);
        assert_eq!(c.checkpoints.pinned, None);
        assert_eq!(c.evidence, Evidence::Signed);
    }

    #[test]
    fn a_pin_is_read_and_a_bad_one_is_refused_naming_the_key() {
        let root = "ab".repeat(32);
        let c = load(&format!("{SCADA_GROUP}[checkpoints]\nmax_silence_s = 3\n[checkpoints.pinned]\ntree_size = 7\nroot = \"{root}\"\n"))
            .unwrap();
        assert_eq!(c.checkpoints.max_silence_s, 3);
        assert_eq!(c.checkpoints.pinned, Some(PinnedTree::new(7, [0xab; 32]).unwrap()));
        for (bad, key) in [
            ("[checkpoints.pinned]\ntree_size = 7\nroot = \"abc\"\n", "checkpoints.pinned.root"),
            (&format!("[checkpoints.pinned]\ntree_size = 0\nroot = \"{root}\"\n"), "checkpoints.pinned"),
            ("[checkpoints]\nmax_silence_s = 0\n", "checkpoints.max_silence_s"),
            ("[checkpoints]\nmax_silence = 5\n", "max_silence"),
            ("[evidence]\nsignatures = false\n", "evidence"),
        ] {
            let e = load(&format!("{SCADA_GROUP}{bad}")).expect_err(bad).to_string();
            assert!(e.contains(key), "{bad}: {e}");
        }
    }

    #[test]
    fn the_ui_table_is_optional_and_checked_naming_the_key() {
        assert!(load(SCADA_GROUP).unwrap().ui.is_none());
        let ui = load(&format!("{SCADA_GROUP}[ui]\nlisten = \"0.0.0.0:8443\"\nhub_api = \"hub.example:8443\"\n")).unwrap().ui.unwrap();
        assert_eq!(ui.hub_api_name, "hub");
        assert!(matches!(ui.hub_api_transport(Path::new("cc.toml")).unwrap(), HubApiTransport::Https { .. }));
        for (bad, key) in [
            ("listen = \"0.0.0.0:8080\"\nhub_api = \"hub:8443\"\nplain_http_on_loopback = true\n", "ui.plain_http_on_loopback"),
            ("listen = \"localhost:8080\"\nhub_api = \"hub:8443\"\n", "ui.listen"),
            ("listen = \"127.0.0.1:8080\"\nhub_api = \"hub\"\n", "ui.hub_api"),
            ("listen = \"127.0.0.1:8080\"\nhub_api = \"hub:8443\"\nhub_api_name = \"not a name\"\n", "ui.hub_api_name"),
            (
                "listen = \"127.0.0.1:8080\"\nhub_api = \"10.0.0.1:8080\"\nhub_api_plain_http_on_loopback = true\n",
                "ui.hub_api_plain_http_on_loopback",
            ),
        ] {
            assert_eq!(invalid_key(load(&format!("{SCADA_GROUP}[ui]\n{bad}"))), key, "{bad}");
        }
        let e = load(&format!("{SCADA_GROUP}[ui]\nlisten = \"127.0.0.1:1\"\nhub_api = \"hub:1\"\nhub = 1\n")).unwrap_err().to_string();
        assert!(e.contains("hub"), "{e}");
    }

    /// Loads a cc.toml whose `[iec104.station]` part is `station`.
    fn load_station(station: &str) -> Result<CcConfig, ConfigError> {
        load(&format!("[iec104.station]\n{station}"))
    }

    /// A SCADA allow-list, which every cc.toml needs.
    const SCADA_GROUP: &str = "[[iec104.station.redundancy_groups]]\nname = \"scada\"\nmembers = [\"127.0.0.1\"]\n";

    fn invalid_key(result: Result<CcConfig, ConfigError>) -> String {
        match result {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected an invalid key, got {other:?}"),
        }
    }

    #[test]
    fn the_scada_allow_list_is_required_and_no_group_may_be_empty() {
        assert_eq!(invalid_key(load_station("common_address = 1\n")), "iec104.station.redundancy_groups");
        let empty = "[[iec104.station.redundancy_groups]]\nname = \"a\"\nmembers = [\"10.0.0.1\"]\n[[iec104.station.redundancy_groups]]\nname = \"b\"\nmembers = []\n";
        assert_eq!(invalid_key(load_station(empty)), "iec104.station.redundancy_groups[1].members");
        let listed = "[[iec104.station.redundancy_groups]]\nname = \"scada\"\nmembers = [\"10.1.0.5\", \"10.2.0.0/24\", \"::1\"]\n";
        let config = load_station(listed).unwrap();
        let members = &config.iec104.station.redundancy_groups[0].members;
        assert!(members[1].contains("10.2.0.9".parse().unwrap()) && !members[0].contains("10.1.0.6".parse().unwrap()));
    }

    #[test]
    fn a_bad_client_address_is_an_error_that_points_at_it() {
        let bad = "[[iec104.station.redundancy_groups]]\nname = \"scada\"\nmembers = [\"10.1.0.5\", \"10.2.0.7/24\"]\n";
        let Err(ConfigError::Parse { message, .. }) = load_station(bad) else { panic!("a host address with a prefix must not load") };
        assert!(message.contains("10.2.0.7/24") && message.contains("10.2.0.0/24") && message.contains("members"), "{message}");
        let unlisted =
            "unlisted_clients = \"own_group\"\n[[iec104.station.redundancy_groups]]\nname = \"scada\"\nmembers = [\"10.1.0.5\"]\n";
        assert!(matches!(load_station(unlisted), Err(ConfigError::Parse { .. })), "the cc's allow-list cannot be switched off in its file");
    }

    #[test]
    fn staleness_and_command_bounds_default_to_scada_seconds_and_are_checked_naming_the_key() {
        let c = load(SCADA_GROUP).unwrap();
        assert_eq!(c.staleness, StalenessConfig { not_topical_s: 15, invalid_s: 60, hub_silence_s: 30 });
        assert_eq!(c.commands.forward_timeout_ms, 3000);
        let c =
            load(&format!("{SCADA_GROUP}[staleness]\nnot_topical_s = 2\ninvalid_s = 4\n[commands]\nforward_timeout_ms = 500\n")).unwrap();
        assert_eq!((c.staleness.not_topical_s, c.staleness.invalid_s, c.commands.forward_timeout_ms), (2, 4, 500));
        for (extra, key) in [
            ("[staleness]\nnot_topical_s = 0\n", "staleness.not_topical_s"),
            ("[staleness]\nnot_topical_s = 5\ninvalid_s = 5\n", "staleness.invalid_s"),
            ("[staleness]\nhub_silence_s = 0\n", "staleness.hub_silence_s"),
            ("[commands]\nforward_timeout_ms = 0\n", "commands.forward_timeout_ms"),
            // Longer than edges accept a command's validity.
            ("[commands]\nforward_timeout_ms = 300001\n", "commands.forward_timeout_ms"),
        ] {
            assert_eq!(invalid_key(load(&format!("{SCADA_GROUP}{extra}"))), key, "{extra}");
        }
    }
}
