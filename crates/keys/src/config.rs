//! The `[key]` table of a role's configuration.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

use crate::KeyError;

/// Sessions a [`crate::Pkcs11Signer`] keeps open when the configuration does not say: two lets a
/// batch signer and a command signer proceed side by side without holding many token resources.
pub const DEFAULT_SESSIONS: usize = 2;

/// Where a role's private key lives.
///
/// ```toml
/// [key]
/// kind = "pkcs11"
/// module = "/usr/lib/softhsm/libsofthsm2.so"
/// token_label = "edge-1"
/// key_label = "evidence"
/// pin_file = "hsm.pin"      # or: pin_env = "GRIDTRUST_HSM_PIN"
/// ```
///
/// ```toml
/// [key]
/// kind = "software"          # development and the demo only
/// path = "edge-key.pem"
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum KeyConfig {
    /// A PKCS#8 PEM private key file: convenient, and as safe as the file system it sits on, which
    /// is why it is for development and the demo only.
    Software {
        /// The key file (as written by `rcgen::KeyPair::serialize_pem` or [`crate::generate`]).
        path: PathBuf,
    },
    /// A key inside a PKCS#11 token: the production store.
    Pkcs11(Pkcs11Config),
}

impl KeyConfig {
    /// The same configuration with relative paths made relative to `base_dir` (the configuration
    /// file's folder), so an installation can be moved with its files.
    ///
    /// A module given as a bare file name (`libsofthsm2.so`) is left to the dynamic loader's search
    /// path, as `dlopen` would treat it.
    pub fn resolved(&self, base_dir: &Path) -> KeyConfig {
        let resolve = |p: &Path| if p.is_relative() { base_dir.join(p) } else { p.to_owned() };
        match self {
            KeyConfig::Software { path } => KeyConfig::Software { path: resolve(path) },
            KeyConfig::Pkcs11(p) => {
                let mut p = p.clone();
                if p.module.components().count() > 1 {
                    p.module = resolve(&p.module);
                }
                if let PinSource::File(f) = &p.pin {
                    p.pin = PinSource::File(resolve(f));
                }
                KeyConfig::Pkcs11(p)
            }
        }
    }
}

/// A key in a PKCS#11 token, named by labels rather than handles or slot numbers so the
/// configuration survives re-plugging the token and re-ordering of slots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Pkcs11Toml", into = "Pkcs11Toml")]
pub struct Pkcs11Config {
    /// The vendor's PKCS#11 library (`/usr/lib/softhsm/libsofthsm2.so` for SoftHSM2).
    pub module: PathBuf,
    /// Which token in the module holds the key.
    pub token: TokenSelector,
    /// The `CKA_LABEL` of the private key (and of its public key).
    pub key_label: String,
    /// Where the user PIN comes from; never the configuration file itself.
    pub pin: PinSource,
    /// How many sessions to keep open: each signs one message at a time, so this bounds how many
    /// signatures are in the token at once.
    pub sessions: usize,
}

impl Pkcs11Config {
    /// A configuration with the default session count, for code that provisions keys (the demo,
    /// tests) rather than reading them from a file.
    pub fn new(module: impl Into<PathBuf>, token: TokenSelector, key_label: impl Into<String>, pin: PinSource) -> Self {
        Self { module: module.into(), token, key_label: key_label.into(), pin, sessions: DEFAULT_SESSIONS }
    }

    /// Checks what serde cannot (also for configurations built in code).
    pub(crate) fn validate(&self) -> Result<(), KeyError> {
        let invalid = |key: &str, message: &str| Err(KeyError::InvalidConfig { key: key.to_owned(), message: message.to_owned() });
        if self.key_label.is_empty() {
            return invalid("key_label", "must not be empty");
        }
        if self.sessions == 0 {
            return invalid("sessions", "must be at least 1");
        }
        if matches!(&self.token, TokenSelector::Label(l) if l.is_empty()) {
            return invalid("token_label", "must not be empty");
        }
        if matches!(&self.pin, PinSource::Env(v) if v.is_empty()) {
            return invalid("pin_env", "must name an environment variable");
        }
        Ok(())
    }
}

/// How to find the token: by its label (stable across re-plugging) or by slot id (for modules
/// whose tokens share a label).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSelector {
    /// The token's `CK_TOKEN_INFO.label`.
    Label(String),
    /// The PKCS#11 slot id.
    Slot(u64),
}

impl fmt::Display for TokenSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenSelector::Label(l) => write!(f, "token '{l}'"),
            TokenSelector::Slot(s) => write!(f, "token in slot {s}"),
        }
    }
}

/// Where the user PIN comes from. A PIN in the configuration file would travel with every copy,
/// backup and commit of that file; a PIN file can have its own permissions and an environment
/// variable can come from the service manager's credential store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinSource {
    /// A file holding the PIN (one trailing newline is ignored).
    File(PathBuf),
    /// The name of an environment variable holding the PIN.
    Env(String),
}

impl fmt::Display for PinSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PinSource::File(p) => write!(f, "PIN file {}", p.display()),
            PinSource::Env(v) => write!(f, "environment variable {v}"),
        }
    }
}

/// Why `pin = "..."` is refused; the message names the key and the alternatives.
const PIN_IN_CONFIG: &str = "key `pin` is not accepted: a PIN in the configuration file travels with every copy, backup \
     and commit of that file; put it in a file readable only by the service (`pin_file = \"...\"`) or in an \
     environment variable (`pin_env = \"...\"`)";

/// The TOML shape of [`Pkcs11Config`]: flat optional keys, checked into the typed form.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Pkcs11Toml {
    module: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token_label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    slot: Option<u64>,
    key_label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pin_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pin_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sessions: Option<usize>,
    /// Present only to refuse it with a message better than "unknown field".
    #[serde(default, skip_serializing)]
    pin: Option<RefusedPin>,
}

/// A value that never deserializes: its only purpose is the error message.
struct RefusedPin;

impl<'de> Deserialize<'de> for RefusedPin {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(serde::de::Error::custom(PIN_IN_CONFIG))
    }
}

impl TryFrom<Pkcs11Toml> for Pkcs11Config {
    type Error = String;

    fn try_from(t: Pkcs11Toml) -> Result<Self, String> {
        if t.pin.is_some() {
            return Err(PIN_IN_CONFIG.to_owned());
        }
        let token = match (t.token_label, t.slot) {
            (Some(l), None) => TokenSelector::Label(l),
            (None, Some(s)) => TokenSelector::Slot(s),
            (Some(_), Some(_)) => return Err("set one of `token_label` and `slot`, not both".into()),
            (None, None) => return Err("missing `token_label` (or `slot`): which token holds the key".into()),
        };
        let pin = match (t.pin_file, t.pin_env) {
            (Some(f), None) => PinSource::File(f),
            (None, Some(v)) => PinSource::Env(v),
            (Some(_), Some(_)) => return Err("set one of `pin_file` and `pin_env`, not both".into()),
            (None, None) => return Err("missing `pin_file` (or `pin_env`): where the user PIN comes from".into()),
        };
        let config =
            Pkcs11Config { module: t.module, token, key_label: t.key_label, pin, sessions: t.sessions.unwrap_or(DEFAULT_SESSIONS) };
        config.validate().map_err(|e| e.to_string())?;
        Ok(config)
    }
}

impl From<Pkcs11Config> for Pkcs11Toml {
    fn from(c: Pkcs11Config) -> Self {
        let (token_label, slot) = match c.token {
            TokenSelector::Label(l) => (Some(l), None),
            TokenSelector::Slot(s) => (None, Some(s)),
        };
        let (pin_file, pin_env) = match c.pin {
            PinSource::File(f) => (Some(f), None),
            PinSource::Env(v) => (None, Some(v)),
        };
        let sessions = (c.sessions != DEFAULT_SESSIONS).then_some(c.sessions);
        Pkcs11Toml { module: c.module, token_label, slot, key_label: c.key_label, pin_file, pin_env, sessions, pin: None }
    }
}

/// Reads the key configuration at `table` (a dotted path such as `key` or `edge.key`) of the TOML
/// file at `path`, so tools can find a role's key in the role's own configuration file.
///
/// Errors name the file and the table; relative paths are *not* resolved here (pass
/// `gridtrust_config::base_dir(path)` to [`crate::open`]).
pub fn load_key_config(path: &Path, table: &str) -> Result<KeyConfig, KeyError> {
    let root: toml::Table = gridtrust_config::read_toml(path)?;
    let mut value = toml::Value::Table(root);
    for part in table.split('.') {
        value = match value {
            toml::Value::Table(mut t) => {
                t.remove(part).ok_or_else(|| gridtrust_config::ConfigError::invalid(path, table, "no such table in this file"))?
            }
            _ => return Err(gridtrust_config::ConfigError::invalid(path, table, "not a table").into()),
        };
    }
    KeyConfig::deserialize(value).map_err(|e| gridtrust_config::ConfigError::invalid(path, table, e.to_string().trim_end()).into())
}
