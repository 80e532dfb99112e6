//! Who may sign the point registry, and the one check every receiver runs on it.
//!
//! The registry decides which edge may report a point and be commanded for it, so it is
//! engineering data: only an operator certificate holding ENGINEER or SECADM may sign it. The
//! hub, the cc, the edge and the offline verifier all call [`verify_registry`] with their own
//! certificate validation (their own CA and CRL), so none of them takes another's word for it.

use gridtrust_trust::registry::{PointRegistry, RegistryError, SignedRegistry};

use crate::{IdentityKind, PeerIdentity, PkiError, Refusal, Role, authorize};

/// Roles that may sign the point registry (IEC 62351-8: engineering and security administration).
pub const REGISTRY_ROLES: &[Role] = &[Role::Engineer, Role::SecAdm];

/// Why a signed registry is not accepted.
#[derive(Debug, thiserror::Error)]
pub enum RegistryRefusal {
    /// The signer's certificate does not validate (chain, validity, revocation).
    #[error("registry signer certificate: {0}")]
    Certificate(PkiError),
    /// The signer is not an engineering identity.
    #[error("registry signer not allowed: {0}")]
    Signer(Refusal),
    /// The signature or the registry bytes do not hold up.
    #[error("{0}")]
    Registry(#[from] RegistryError),
}

/// Validates the signer's certificate with `validate`, checks it may sign registries, verifies
/// the signature and decodes the registry.
pub fn verify_registry(
    signed: &SignedRegistry,
    validate: impl FnOnce(&[u8]) -> Result<PeerIdentity, PkiError>,
) -> Result<(PointRegistry, PeerIdentity), RegistryRefusal> {
    let signer = validate(&signed.signer.certificate).map_err(RegistryRefusal::Certificate)?;
    authorize(&signer, &[IdentityKind::Operator], REGISTRY_ROLES).map_err(RegistryRefusal::Signer)?;
    let registry = signed.verify(&signer.public_key)?;
    Ok((registry, signer))
}
