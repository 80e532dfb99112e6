//! Key stores: where gridtrust's private keys live and how they sign.
//!
//! Every role signs evidence, checkpoints and commands through the [`Signer`] trait of
//! `gridtrust-trust`. This crate provides the two implementations and the configuration that
//! picks one:
//!
//! - [`Pkcs11Signer`]: the production store. The key is generated inside a PKCS#11 token (an HSM;
//!   SoftHSM2 in tests) and never leaves it; the host hashes, the token signs the digest with
//!   `CKM_ECDSA`. A small pool of sessions lets parallel signers proceed side by side.
//! - [`SoftwareSigner`]: a PKCS#8 PEM file on disk, for development and the demo. It says so in the
//!   log every time it is opened.
//!
//! [`KeyConfig`] is the `[key]` table of a role's configuration; [`open`] turns it into a
//! `Arc<dyn Signer>` and [`generate`] creates the key it names. [`spki_der`] and [`spki_pem`] give
//! the public key in the form certificates, `openssl` and operators use. The [`softhsm`] module
//! creates throw-away SoftHSM2 tokens for tests and the demo.
//!
//! Deliberately not here: certificates (see `gridtrust-trust`'s PKI), other algorithms than
//! ECDSA P-256/SHA-256, and PINs in configuration files (a PIN comes from a file or the
//! environment, never from the TOML).

mod config;
mod error;
mod pkcs11;
pub mod softhsm;
mod software;
mod spki;

use std::path::Path;
use std::sync::Arc;

pub use config::{DEFAULT_SESSIONS, KeyConfig, PinSource, Pkcs11Config, TokenSelector, load_key_config};
pub use error::KeyError;
pub use gridtrust_trust::signing::Signer;
pub use pkcs11::{KeyProtection, Pkcs11Signer};
pub use software::SoftwareSigner;
pub use spki::{spki_der, spki_pem};

/// Opens the key store `config` names, so a role can sign without knowing where its key lives.
///
/// Relative paths in `config` are resolved against `base_dir`, the folder of the configuration
/// file, so an installation can be moved as a whole.
pub fn open(config: &KeyConfig, base_dir: &Path) -> Result<Arc<dyn Signer>, KeyError> {
    match config.resolved(base_dir) {
        KeyConfig::Software { path } => Ok(Arc::new(SoftwareSigner::open(&path)?)),
        KeyConfig::Pkcs11(p) => Ok(Arc::new(Pkcs11Signer::open(&p)?)),
    }
}

/// Creates the key `config` names (in the token, or as a new software key file) and opens it, so
/// provisioning a site is one step. Refuses to replace an existing key: a lost key cannot be
/// recovered, and certificates already vouch for it.
pub fn generate(config: &KeyConfig, base_dir: &Path) -> Result<Arc<dyn Signer>, KeyError> {
    match config.resolved(base_dir) {
        KeyConfig::Software { path } => Ok(Arc::new(SoftwareSigner::generate(&path)?)),
        KeyConfig::Pkcs11(p) => Ok(Arc::new(Pkcs11Signer::generate_key(&p)?)),
    }
}
