//! The point registry a role holds: verified with the role's own trust anchors, never rolled
//! back, and kept on disk so a restart cannot be talked into an older version.
//!
//! The hub offers the registry from its configuration, the cc and the offline verifier the one
//! the hub sends or exports; each runs [`gridtrust_pki::verify_registry`] itself (signer is an
//! ENGINEER or SECADM operator certificate valid under this role's CA and CRL) and
//! [`check_succession`] against what it accepted before.

use std::path::{Path, PathBuf};

use gridtrust_pki::{PeerIdentity, RegistryRefusal, verify_registry};
use gridtrust_trust::Hash;
use gridtrust_trust::registry::{PointRegistry, RegistryError, SignedRegistry, Succession, check_succession};

use crate::identity::Identity;

/// A registry this role has verified.
#[derive(Clone, Debug)]
pub struct AcceptedRegistry {
    pub registry: PointRegistry,
    pub signed: SignedRegistry,
    /// Who signed it.
    pub signer: PeerIdentity,
    /// [`SignedRegistry::digest`].
    pub digest: Hash,
}

/// Why a registry was not taken.
#[derive(Debug, thiserror::Error)]
pub enum AuthorityError {
    #[error("{0}")]
    Refused(#[from] RegistryRefusal),
    #[error("{0}")]
    Succession(#[from] RegistryError),
    #[error("cannot read the registry {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("the registry file {path} is not a signed registry: {reason}")]
    Format { path: PathBuf, reason: RegistryError },
    #[error("cannot keep the accepted registry in {path}: {source}")]
    Persist { path: PathBuf, source: std::io::Error },
}

/// Verifies a signed registry with `identity`'s trust anchors.
pub fn verify(identity: &Identity, signed: SignedRegistry) -> Result<AcceptedRegistry, RegistryRefusal> {
    let (registry, signer) = verify_registry(&signed, |der| identity.validate(der))?;
    Ok(AcceptedRegistry { digest: signed.digest(), registry, signed, signer })
}

/// Reads a signed registry file (as `gridtrust registry sign` writes it).
pub fn read_signed(path: &Path) -> Result<SignedRegistry, AuthorityError> {
    let bytes = std::fs::read(path).map_err(|source| AuthorityError::Read { path: path.to_owned(), source })?;
    SignedRegistry::from_bytes(&bytes).map_err(|reason| AuthorityError::Format { path: path.to_owned(), reason })
}

/// The registry a role holds, persisted at `path` once accepted.
pub struct RegistryHolder {
    path: PathBuf,
    current: Option<AcceptedRegistry>,
}

impl RegistryHolder {
    /// Opens the holder; a registry kept at `path` by an earlier run is verified again (a
    /// since-revoked signer's registry is not held).
    pub fn open(path: PathBuf, identity: &Identity) -> Result<Self, AuthorityError> {
        let current = if path.exists() { Some(verify(identity, read_signed(&path)?)?) } else { None };
        Ok(Self { path, current })
    }

    /// The registry held, if any.
    pub fn current(&self) -> Option<&AcceptedRegistry> {
        self.current.as_ref()
    }

    /// Verifies `signed` and takes it if it is newer than the one held; persists it first.
    pub fn offer(&mut self, identity: &Identity, signed: SignedRegistry) -> Result<Succession, AuthorityError> {
        let offered = verify(identity, signed)?;
        let succession = check_succession(self.current.as_ref().map(|c| (&c.registry, c.digest)), (&offered.registry, offered.digest))?;
        if succession == Succession::Newer {
            let tmp = self.path.with_extension("tmp");
            offered
                .signed
                .to_bytes()
                .map_err(std::io::Error::other)
                .and_then(|bytes| std::fs::write(&tmp, bytes))
                .and_then(|()| std::fs::rename(&tmp, &self.path))
                .map_err(|source| AuthorityError::Persist { path: self.path.clone(), source })?;
            self.current = Some(offered);
        }
        Ok(succession)
    }
}

/// Verifies a command result as every receiver must: the signer's certificate is valid under
/// `identity`'s anchors, the signature holds, the result decodes, and the signer may answer for
/// a command that was for `target_edge` ([`gridtrust_pki::check_result_signer`]).
pub fn verify_result(
    identity: &Identity,
    signed: &gridtrust_trust::command::SignedResult,
    target_edge: &str,
) -> Result<gridtrust_model::CommandResult, String> {
    let signer = identity.validate(&signed.signer.certificate).map_err(|e| format!("result signer certificate: {e}"))?;
    signed.verify(&signer.public_key).map_err(|e| e.to_string())?;
    let result = signed.result().map_err(|e| e.to_string())?;
    gridtrust_pki::check_result_signer(&signer, &result, target_edge)?;
    Ok(result)
}

/// The engineering identity that signs registries in a development PKI (tests and the demo).
pub const DEV_ENGINEER: &str = "engineer";

/// Signs `registry` as the development PKI's engineer (an operator certificate with ENGINEER,
/// issued on first use) and writes it to `path`: what `gridtrust registry sign` does with a
/// real engineer's key, for tests and the demo.
pub fn sign_as_dev_engineer(
    pki: &gridtrust_pki::DevPki,
    registry: &PointRegistry,
    path: &Path,
) -> Result<SignedRegistry, Box<dyn std::error::Error + Send + Sync>> {
    let files = pki.ensure_identity(gridtrust_pki::IdentityKind::Operator, DEV_ENGINEER, &[gridtrust_pki::Role::Engineer])?;
    let engineer = Identity::load(&crate::identity::IdentityConfig::new(
        pki.ca_cert(),
        files.cert,
        pki.crl(),
        gridtrust_keys::KeyConfig::Software { path: files.key },
    ))?;
    let signed = SignedRegistry::sign(registry, engineer.signer.as_ref(), &engineer.certificate)?;
    std::fs::write(path, signed.to_bytes().map_err(std::io::Error::other)?)?;
    Ok(signed)
}
