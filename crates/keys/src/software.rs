//! A private key in a file: for development and the demo, where an HSM is not at hand.

use std::io::Write;
use std::path::{Path, PathBuf};

use gridtrust_trust::signing::{SignError, Signer};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};

use crate::KeyError;

/// The PEM label of a PKCS#8 private key (what `rcgen` and `openssl genpkey` write).
const PEM_TAG: &str = "PRIVATE KEY";

/// An ECDSA P-256 key read from a PKCS#8 PEM file.
///
/// Anyone who can read the file can sign as this role, and a copy of the file is a copy of the
/// identity. That is acceptable on a developer's machine and in the demo, nowhere else; the
/// store logs a warning every time it is opened and describes itself as a development store.
pub struct SoftwareSigner {
    key: EcdsaKeyPair,
    rng: SystemRandom,
    path: PathBuf,
}

impl SoftwareSigner {
    /// Opens the key file at `path` (PKCS#8 PEM, as `rcgen::KeyPair::serialize_pem` writes it).
    pub fn open(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read(path).map_err(|source| KeyError::Io { path: path.to_owned(), source })?;
        let signer = Self::from_pem(path, &text)?;
        warn_development(path);
        warn_if_readable_by_others(path);
        Ok(signer)
    }

    /// Creates a new random key, writes it to `path` (PKCS#8 PEM, mode 0600 on Unix, parent folders
    /// created) and opens it. Refuses to overwrite an existing file.
    pub fn generate(path: &Path) -> Result<Self, KeyError> {
        let io = |source| KeyError::Io { path: path.to_owned(), source };
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| KeyError::KeyFile { path: path.to_owned(), reason: "the system random generator failed".into() })?;
        let pem =
            pem::encode_config(&pem::Pem::new(PEM_TAG, pkcs8.as_ref()), pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF));
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(|source| match source.kind() {
            std::io::ErrorKind::AlreadyExists => KeyError::KeyFileExists { path: path.to_owned() },
            _ => io(source),
        })?;
        file.write_all(pem.as_bytes()).and_then(|()| file.sync_all()).map_err(io)?;
        tracing::info!(path = %path.display(), "generated a software ECDSA P-256 key");
        let signer = Self::from_pem(path, pem.as_bytes())?;
        warn_development(path);
        Ok(signer)
    }

    /// Parses PEM text; `path` only names the source in errors.
    fn from_pem(path: &Path, text: &[u8]) -> Result<Self, KeyError> {
        let bad = |reason: String| KeyError::KeyFile { path: path.to_owned(), reason };
        let block = pem::parse(text).map_err(|e| bad(format!("PEM: {e}")))?;
        if block.tag() != PEM_TAG {
            return Err(bad(format!("PEM block is '{}', expected '{PEM_TAG}'", block.tag())));
        }
        let rng = SystemRandom::new();
        let key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, block.contents(), &rng).map_err(|e| bad(format!("PKCS#8: {e}")))?;
        Ok(Self { key, rng, path: path.to_owned() })
    }

    /// The key file, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn warn_development(path: &Path) {
    tracing::warn!(
        path = %path.display(),
        "software key store: a development key store, not for production (the private key is a plain file); \
         use kind = \"pkcs11\" with an HSM in production"
    );
}

/// A key file others can read is a key others can copy; say so, but do not refuse (the demo runs
/// from whatever umask the user has).
fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), mode = format!("{:o}", meta.permissions().mode() & 0o777), "key file is accessible to group or others");
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

impl Signer for SoftwareSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        let signature =
            self.key.sign(&self.rng, message).map_err(|_| SignError::KeyStore(format!("{}: signing failed", self.describe())))?;
        Ok(signature.as_ref().to_vec())
    }

    fn public_key(&self) -> Vec<u8> {
        self.key.public_key().as_ref().to_vec()
    }

    fn describe(&self) -> String {
        format!("software key {} (development only)", self.path.display())
    }
}

impl std::fmt::Debug for SoftwareSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftwareSigner").field("path", &self.path).finish_non_exhaustive()
    }
}
