//! Why a key store could not be opened or a key not generated.

use std::path::PathBuf;

/// Why a key store could not be opened or a key could not be generated. Each variant names what
/// an operator has to look at: the file, the module, the token, the key label.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A configuration file could not be read or its key table is invalid.
    #[error(transparent)]
    Config(#[from] gridtrust_config::ConfigError),
    /// A configuration built in code (not read from a file) is invalid.
    #[error("key configuration: `{key}` {message}")]
    InvalidConfig { key: String, message: String },
    /// A key file could not be read or written.
    #[error("key file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A key file does not hold a PKCS#8 ECDSA P-256 private key.
    #[error("key file {}: not a PKCS#8 PEM ECDSA P-256 private key: {reason}", path.display())]
    KeyFile { path: PathBuf, reason: String },
    /// Generating would overwrite an existing key file.
    #[error("key file {} already exists; refusing to overwrite a key", path.display())]
    KeyFileExists { path: PathBuf },
    /// The PIN could not be read from where the configuration says.
    #[error("{from}: {reason}")]
    Pin { from: String, reason: String },
    /// The PKCS#11 module could not be loaded or initialised.
    #[error("PKCS#11 module {}: {reason}", module.display())]
    Module { module: PathBuf, reason: String },
    /// No token matches the configured label or slot.
    #[error("PKCS#11 module {}: no {token} (tokens present: {present})", module.display())]
    TokenNotFound { module: PathBuf, token: String, present: String },
    /// More than one token carries the configured label, so the choice would be a guess.
    #[error("PKCS#11 module {}: {count} tokens match {token}; select one with `slot`", module.display())]
    TokenAmbiguous { module: PathBuf, token: String, count: usize },
    /// The token refused the user PIN.
    #[error("PKCS#11 module {}: {token}: wrong user PIN", module.display())]
    WrongPin { module: PathBuf, token: String },
    /// The user PIN is locked after too many wrong attempts; the security officer must reset it.
    #[error("PKCS#11 module {}: {token}: user PIN is locked", module.display())]
    PinLocked { module: PathBuf, token: String },
    /// No EC private key carries the configured label.
    #[error("{token}: no EC private key labelled '{key}'")]
    KeyNotFound { token: String, key: String },
    /// More than one EC private key carries the configured label.
    #[error("{token}: {count} EC private keys labelled '{key}'; labels must be unique")]
    KeyAmbiguous { token: String, key: String, count: usize },
    /// Generating would create a second key with a label already in use.
    #[error("{token}: a key labelled '{key}' already exists; refusing to generate another")]
    KeyExists { token: String, key: String },
    /// The key exists but cannot serve as an ECDSA P-256 signing key (public key missing or
    /// malformed, wrong curve, or a test signature did not verify).
    #[error("{token}: key '{key}' is unusable: {reason}")]
    KeyUnusable { token: String, key: String, reason: String },
    /// A PKCS#11 call failed for a reason not covered above.
    #[error("{token}: {operation} failed: {source}")]
    Pkcs11 {
        token: String,
        operation: &'static str,
        #[source]
        source: cryptoki::error::Error,
    },
}
