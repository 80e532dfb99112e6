//! Keys as the PKI sees them: public keys to certify, and adapters that let a
//! [`gridtrust_trust::signing::Signer`] (an HSM key, or any key store) sign certificates, CRLs
//! and TLS handshakes without the private key ever reaching this process.
//!
//! Software keys in PEM files exist here only for development and the demo; every loader says
//! so in the log.

use std::path::Path;
use std::sync::Arc;

use gridtrust_trust::signing::{Signer, raw_to_der};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{PrivateKeyDer, SubjectPublicKeyInfoDer};

use crate::error::PkiError;

/// The DER prefix of a P-256 SubjectPublicKeyInfo up to the uncompressed point: SEQUENCE {
/// SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING (0 unused bits) ... }. DER is unique, so
/// comparing the prefix is the whole algorithm check.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01,
    0x07, 0x03, 0x42, 0x00,
];

/// A P-256 public key to certify: all a CA needs from a subject, so keys generated in an HSM
/// can be certified without their private part.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    sec1: Vec<u8>,
}

impl PublicKey {
    /// From an uncompressed SEC1 point (65 bytes, 0x04 first), as
    /// [`Signer::public_key`](gridtrust_trust::signing::Signer::public_key) returns it.
    ///
    /// The point is checked to lie on the curve, so a certificate can never certify garbage.
    pub fn from_sec1(point: &[u8]) -> Result<Self, PkiError> {
        if point.len() != 65 || point[0] != 0x04 {
            return Err(PkiError::PublicKey);
        }
        if !on_curve(point) {
            return Err(PkiError::PublicKey);
        }
        Ok(Self { sec1: point.to_vec() })
    }

    /// From a DER SubjectPublicKeyInfo (id-ecPublicKey, prime256v1, uncompressed point).
    pub fn from_spki_der(spki: &[u8]) -> Result<Self, PkiError> {
        match spki.strip_prefix(&P256_SPKI_PREFIX[..]) {
            Some(point) => Self::from_sec1(point),
            None => Err(PkiError::PublicKey),
        }
    }

    /// From a PEM `PUBLIC KEY` (SubjectPublicKeyInfo), as `openssl pkey -pubout` writes it.
    pub fn from_pem(pem: &str) -> Result<Self, PkiError> {
        let der = SubjectPublicKeyInfoDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| PkiError::Malformed { what: "public key PEM", reason: e.to_string() })?;
        Self::from_spki_der(der.as_ref())
    }

    /// The public key of a signer (an HSM key, a software key).
    pub fn from_signer(signer: &dyn Signer) -> Result<Self, PkiError> {
        Self::from_sec1(&signer.public_key())
    }

    /// The uncompressed SEC1 point.
    pub fn sec1(&self) -> &[u8] {
        &self.sec1
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> Vec<u8> {
        let mut spki = P256_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(&self.sec1);
        spki
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey(p256 {})", crate::identity::hex(&self.sec1))
    }
}

impl rcgen::PublicKeyData for PublicKey {
    fn der_bytes(&self) -> &[u8] {
        &self.sec1
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

/// Whether an uncompressed point is a valid P-256 public key. ring has no direct check, but
/// ECDH validates the peer's point (on the curve, not the identity) before using it, so one
/// ephemeral agreement answers the question.
fn on_curve(point: &[u8]) -> bool {
    use ring::agreement;
    let rng = ring::rand::SystemRandom::new();
    let Ok(ours) = agreement::EphemeralPrivateKey::generate(&agreement::ECDH_P256, &rng) else {
        return false;
    };
    agreement::agree_ephemeral(ours, &agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, point), |_| ()).is_ok()
}

/// An rcgen signing key backed by a [`Signer`]: lets a CA key live in an HSM.
///
/// rcgen asks for a DER ECDSA signature; the signer returns `r || s`, converted with
/// [`raw_to_der`]. A signer failure is logged with its reason (rcgen's error type has no room
/// for it) and surfaces as [`rcgen::Error::RemoteKeyError`].
#[derive(Clone)]
pub struct SignerKey {
    signer: Arc<dyn Signer>,
    public: PublicKey,
}

impl SignerKey {
    /// Wraps `signer`; fails if its public key is not a P-256 point.
    pub fn new(signer: Arc<dyn Signer>) -> Result<Self, PkiError> {
        let public = PublicKey::from_signer(signer.as_ref())?;
        Ok(Self { signer, public })
    }

    /// The signer's public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }
}

impl std::fmt::Debug for SignerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SignerKey({})", self.signer.describe())
    }
}

impl rcgen::PublicKeyData for SignerKey {
    fn der_bytes(&self) -> &[u8] {
        self.public.sec1()
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

impl rcgen::SigningKey for SignerKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        let raw = self.signer.sign(msg).map_err(|e| {
            tracing::error!(key = %self.signer.describe(), error = %e, "CA signing key failed");
            rcgen::Error::RemoteKeyError
        })?;
        raw_to_der(&raw).map_err(|e| {
            tracing::error!(key = %self.signer.describe(), error = %e, "CA signing key returned a malformed signature");
            rcgen::Error::RemoteKeyError
        })
    }
}

/// A rustls signing key backed by a [`Signer`]: lets a TLS key live in an HSM.
///
/// Offers only `ecdsa_secp256r1_sha256`, the one TLS 1.3 scheme for a P-256 key; the signer
/// hashes the handshake transcript itself.
#[derive(Clone)]
pub struct TlsSigningKey {
    signer: Arc<dyn Signer>,
    spki: Vec<u8>,
}

impl TlsSigningKey {
    /// Wraps `signer`; fails if its public key is not a P-256 point.
    pub fn new(signer: Arc<dyn Signer>) -> Result<Self, PkiError> {
        let spki = PublicKey::from_signer(signer.as_ref())?.spki_der();
        Ok(Self { signer, spki })
    }
}

impl std::fmt::Debug for TlsSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TlsSigningKey({})", self.signer.describe())
    }
}

impl rustls::sign::SigningKey for TlsSigningKey {
    fn choose_scheme(&self, offered: &[rustls::SignatureScheme]) -> Option<Box<dyn rustls::sign::Signer>> {
        offered.contains(&rustls::SignatureScheme::ECDSA_NISTP256_SHA256).then(|| Box::new(self.clone()) as Box<dyn rustls::sign::Signer>)
    }

    fn public_key(&self) -> Option<SubjectPublicKeyInfoDer<'_>> {
        Some(SubjectPublicKeyInfoDer::from(self.spki.as_slice()))
    }

    fn algorithm(&self) -> rustls::SignatureAlgorithm {
        rustls::SignatureAlgorithm::ECDSA
    }
}

impl rustls::sign::Signer for TlsSigningKey {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        let raw = self.signer.sign(message).map_err(|e| {
            tracing::error!(key = %self.signer.describe(), error = %e, "TLS signing key failed");
            rustls::Error::General(format!("TLS signing key failed: {e}"))
        })?;
        raw_to_der(&raw).map_err(|e| rustls::Error::General(format!("TLS signing key returned a malformed signature: {e}")))
    }

    fn scheme(&self) -> rustls::SignatureScheme {
        rustls::SignatureScheme::ECDSA_NISTP256_SHA256
    }
}

/// Loads a PKCS#8 PEM software key (as [`generate_software_key`] and rcgen write it) as a
/// rustls signing key. Development key store: logged as such.
pub fn load_software_tls_key(path: &Path) -> Result<Arc<dyn rustls::sign::SigningKey>, PkiError> {
    let der = PrivateKeyDer::from_pem_file(path).map_err(|e| PkiError::Read { path: path.to_owned(), reason: e.to_string() })?;
    tracing::warn!(path = %path.display(), "TLS key from a software key file: development key store, not for production");
    rustls::crypto::ring::sign::any_ecdsa_type(&der).map_err(|e| PkiError::Read { path: path.to_owned(), reason: e.to_string() })
}

/// A software key pair (development key store): what [`generate_software_key`] and
/// [`load_software_ca_key`] return, and a CA key type that needs no HSM.
pub type SoftwareKey = rcgen::KeyPair;

/// Loads a PKCS#8 PEM software key as an rcgen key pair (for a development CA). Logged as a
/// development key store.
pub fn load_software_ca_key(path: &Path) -> Result<SoftwareKey, PkiError> {
    let pem = std::fs::read_to_string(path).map_err(|e| PkiError::Read { path: path.to_owned(), reason: e.to_string() })?;
    tracing::warn!(path = %path.display(), "CA key from a software key file: development key store, not for production");
    let key = rcgen::KeyPair::from_pem(&pem).map_err(|e| PkiError::Read { path: path.to_owned(), reason: e.to_string() })?;
    if !key.is_compatible(&rcgen::PKCS_ECDSA_P256_SHA256) {
        return Err(PkiError::Read { path: path.to_owned(), reason: "not an ECDSA P-256 key".into() });
    }
    Ok(key)
}

/// Generates a P-256 key, writes it to `path` as PKCS#8 PEM (owner-only permissions on Unix;
/// refuses to overwrite) and returns it. Development key store: the key exists in a file.
pub fn generate_software_key(path: &Path) -> Result<SoftwareKey, PkiError> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    write_private(path, key.serialize_pem().as_bytes())?;
    tracing::warn!(path = %path.display(), "generated a software key file: development key store, not for production");
    Ok(key)
}

/// Writes a new file readable only by its owner; refuses to replace an existing file.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), PkiError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let write_err = |source| PkiError::Write { path: path.to_owned(), source };
    let mut file = options.open(path).map_err(write_err)?;
    file.write_all(bytes).map_err(write_err)?;
    file.sync_all().map_err(write_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridtrust_trust::signing::EphemeralSigner;

    #[test]
    fn real_points_are_on_the_curve_and_others_are_not() {
        let signer = EphemeralSigner::generate();
        let point = signer.public_key();
        assert!(on_curve(&point));
        PublicKey::from_sec1(&point).unwrap();
        let mut bad = point.clone();
        bad[64] ^= 1;
        assert!(!on_curve(&bad));
        assert!(matches!(PublicKey::from_sec1(&bad), Err(PkiError::PublicKey)));
        assert!(matches!(PublicKey::from_sec1(&point[..64]), Err(PkiError::PublicKey)));
    }

    #[test]
    fn spki_round_trips() {
        let key = PublicKey::from_signer(&EphemeralSigner::generate()).unwrap();
        assert_eq!(PublicKey::from_spki_der(&key.spki_der()).unwrap(), key);
        let rcgen_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let from_pem = PublicKey::from_pem(&rcgen_key.public_key_pem()).unwrap();
        assert_eq!(from_pem.sec1(), rcgen_key.public_key_raw());
    }
}
