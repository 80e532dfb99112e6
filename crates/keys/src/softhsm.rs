//! Throw-away SoftHSM2 tokens, for tests and the demo only.
//!
//! SoftHSM2 is a PKCS#11 module that keeps its tokens in files. It lets tests and the demo use
//! the real PKCS#11 path ([`crate::Pkcs11Signer`]) without hardware, but its keys are only as safe
//! as those files and the PINs passed here on `softhsm2-util`'s command line are visible to other
//! local users: never use it for production keys.
//!
//! SoftHSM2 reads the location of its configuration from the `SOFTHSM2_CONF` environment
//! variable, once, when the module is initialised (`C_Initialize`, on the first
//! [`crate::Pkcs11Signer::open`] of the process). This module sets the variable only for the
//! `softhsm2-util` child process. **Callers must set `SOFTHSM2_CONF` to [`SoftHsmToken::conf`]
//! in their own process before the first key store opens the module**, and since that happens
//! once per process, all tokens a process uses must live under one configuration: call
//! [`init_softhsm_token`] with the same `dir` and a different label for each token. Tests should
//! create their tokens and set the variable once per test binary (for example in a
//! `std::sync::OnceLock`), before any test opens a key store.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where Debian and Ubuntu install the SoftHSM2 module.
const MODULE_CANDIDATES: [&str; 2] = ["/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"];

/// The environment variable SoftHSM2 reads its configuration path from.
pub const CONF_ENV: &str = "SOFTHSM2_CONF";

/// A SoftHSM2 token created by [`init_softhsm_token`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoftHsmToken {
    /// The `softhsm2.conf` to put in `SOFTHSM2_CONF` (for this process and for `pkcs11-tool`).
    pub conf: PathBuf,
    /// The SoftHSM2 PKCS#11 module, for [`crate::Pkcs11Config::module`].
    pub module: PathBuf,
    /// The token's label, for [`crate::TokenSelector::Label`].
    pub label: String,
}

/// Why a SoftHSM2 token could not be created.
#[derive(Debug, thiserror::Error)]
pub enum SoftHsmError {
    /// Neither known module path exists (Debian: `apt-get install softhsm2`).
    #[error("SoftHSM2 module not found (looked at {}); install softhsm2", MODULE_CANDIDATES.join(", "))]
    ModuleMissing,
    /// `softhsm2-util` could not be started (Debian: `apt-get install softhsm2`).
    #[error("cannot run softhsm2-util (install softhsm2): {0}")]
    UtilMissing(#[source] std::io::Error),
    /// Writing the configuration or the token folder failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A label or PIN SoftHSM2 would refuse or misread.
    #[error("invalid {what}: {reason}")]
    Invalid { what: &'static str, reason: &'static str },
    /// `softhsm2-util --init-token` failed.
    #[error("softhsm2-util --init-token --label {label} failed ({status}): {stderr}")]
    InitToken { label: String, status: std::process::ExitStatus, stderr: String },
}

/// The installed SoftHSM2 module, if any.
pub fn module_path() -> Option<PathBuf> {
    MODULE_CANDIDATES.iter().map(PathBuf::from).find(|p| p.exists())
}

/// True when `softhsm2-util` can be run, so tests can skip with a reason instead of failing.
pub fn util_available() -> bool {
    Command::new("softhsm2-util").arg("--version").output().is_ok_and(|o| o.status.success())
}

/// Creates a SoftHSM2 token labelled `label` in the first free slot, with its files under
/// `dir/tokens` and its configuration at `dir/softhsm2.conf` (written if absent), and returns
/// where the configuration and module are.
///
/// For tests and the demo only; see the module documentation for `SOFTHSM2_CONF`.
pub fn init_softhsm_token(dir: &Path, label: &str, so_pin: &str, user_pin: &str) -> Result<SoftHsmToken, SoftHsmError> {
    if label.is_empty() || label.len() > 32 {
        return Err(SoftHsmError::Invalid { what: "token label", reason: "must be 1 to 32 bytes" });
    }
    for (what, pin) in [("SO PIN", so_pin), ("user PIN", user_pin)] {
        if pin.len() < 4 || pin.len() > 255 {
            return Err(SoftHsmError::Invalid { what, reason: "SoftHSM2 needs 4 to 255 bytes" });
        }
    }
    let module = module_path().ok_or(SoftHsmError::ModuleMissing)?;
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| SoftHsmError::Io { path, source }
    };
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).map_err(io(&tokens))?;
    let tokens = tokens.canonicalize().map_err(io(&tokens))?;
    let conf = tokens.with_file_name("softhsm2.conf");
    let text = format!(
        "# Written by gridtrust-keys for tests and the demo.\n\
         directories.tokendir = {}\n\
         objectstore.backend = file\n\
         log.level = ERROR\n\
         slots.removable = false\n",
        tokens.display()
    );
    if std::fs::read_to_string(&conf).ok().as_deref() != Some(text.as_str()) {
        // Write then rename, so a concurrent caller never reads half a file.
        let partial = conf.with_extension(format!("conf.{}", std::process::id()));
        std::fs::write(&partial, &text).map_err(io(&partial))?;
        std::fs::rename(&partial, &conf).map_err(io(&conf))?;
    }
    let output = Command::new("softhsm2-util")
        .env(CONF_ENV, &conf)
        .args(["--init-token", "--free", "--label", label, "--so-pin", so_pin, "--pin", user_pin])
        .output()
        .map_err(SoftHsmError::UtilMissing)?;
    if !output.status.success() {
        return Err(SoftHsmError::InitToken {
            label: label.to_owned(),
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    tracing::info!(label, conf = %conf.display(), "initialised SoftHSM2 token (tests and demo only)");
    Ok(SoftHsmToken { conf, module, label: label.to_owned() })
}
