//! Signing and verification of evidence, checkpoints and commands.
//!
//! One algorithm: ECDSA over P-256 with SHA-256. It is the usual IEC 62351 choice, every PKCS#11
//! token and TLS stack supports it, and the same key can sign X.509 certificates, TLS handshakes
//! and evidence. Ed25519 would sign faster, but one signature covers a whole batch, so signing
//! rate is not what limits throughput (see the chain benchmark).
//!
//! Signatures are carried in the fixed form `r || s` (64 bytes), which is what PKCS#11's
//! `CKM_ECDSA` returns; [`raw_to_der`] and [`der_to_raw`] convert to and from the DER
//! `Ecdsa-Sig-Value` that X.509, TLS and `openssl` use.
//!
//! Key stores (the HSM through PKCS#11, software keys for the demo) implement [`Signer`].

use sha2::{Digest, Sha256};

use crate::merkle::Hash;

/// The one signature algorithm gridtrust uses, named in every [`crate::evidence::Signature`].
pub const ECDSA_P256_SHA256: &str = "ecdsa-p256-sha256";

/// Why a signature could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("key store refused to sign: {0}")]
    KeyStore(String),
    #[error("{0}")]
    Encode(#[from] crate::encoding::EncodeError),
}

/// Why a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("unsupported signature algorithm {0:?}")]
    Algorithm(String),
    #[error("public key is not an uncompressed P-256 point")]
    PublicKey,
    #[error("signature is malformed")]
    Malformed,
    #[error("signature does not match the message and key")]
    Mismatch,
}

/// A private key that signs with ECDSA P-256/SHA-256 and never shows its private part.
///
/// Implementations hash the message themselves (SoftHSM has no `CKM_ECDSA_SHA256`, so the HSM
/// implementation hashes on the host and signs the digest with `CKM_ECDSA`).
pub trait Signer: Send + Sync {
    /// Signs `message`, returning the fixed `r || s` form (64 bytes).
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError>;
    /// The public key as an uncompressed SEC1 point (65 bytes, starting with 0x04).
    fn public_key(&self) -> Vec<u8>;
    /// A short description for logs (`"pkcs11 token 'edge' key 'evidence'"`, `"software key FILE"`).
    fn describe(&self) -> String;
}

/// Verifies a fixed-form ECDSA P-256/SHA-256 signature over `message` with an uncompressed SEC1
/// public key.
pub fn verify(public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), VerifyError> {
    if public_key.len() != 65 || public_key.first() != Some(&0x04) {
        return Err(VerifyError::PublicKey);
    }
    if signature.len() != 64 {
        return Err(VerifyError::Malformed);
    }
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, public_key)
        .verify(message, signature)
        .map_err(|_| VerifyError::Mismatch)
}

/// Verifies a signature that names its algorithm (as carried in evidence).
pub fn verify_named(algorithm: &str, public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), VerifyError> {
    if algorithm != ECDSA_P256_SHA256 {
        return Err(VerifyError::Algorithm(algorithm.to_owned()));
    }
    verify(public_key, message, signature)
}

/// The identifier of a signer in evidence: SHA-256 of its certificate (DER), so a receiver finds
/// the certificate, and with it the identity and role, that vouches for the key.
pub fn certificate_id(certificate_der: &[u8]) -> Hash {
    Sha256::digest(certificate_der).into()
}

/// Converts a fixed `r || s` signature to the DER `Ecdsa-Sig-Value` (for X.509, TLS, openssl).
pub fn raw_to_der(raw: &[u8]) -> Result<Vec<u8>, VerifyError> {
    if raw.len() != 64 {
        return Err(VerifyError::Malformed);
    }
    fn integer(out: &mut Vec<u8>, bytes: &[u8]) {
        // Leading zeros dropped (one kept), a zero pad when the top bit is set.
        let mut trimmed = bytes;
        while let Some((0, rest)) = trimmed.split_first().filter(|(_, rest)| !rest.is_empty()) {
            trimmed = rest;
        }
        let pad = trimmed.first().is_some_and(|b| b & 0x80 != 0);
        out.push(0x02);
        // At most 32 bytes and a pad: nothing saturates.
        out.push(u8::try_from(trimmed.len() + usize::from(pad)).unwrap_or(u8::MAX));
        if pad {
            out.push(0);
        }
        out.extend_from_slice(trimmed);
    }
    let (r, s) = raw.split_at_checked(32).ok_or(VerifyError::Malformed)?;
    let mut body = Vec::with_capacity(72);
    integer(&mut body, r);
    integer(&mut body, s);
    let mut der = Vec::with_capacity(body.len() + 2);
    der.push(0x30);
    der.push(u8::try_from(body.len()).map_err(|_| VerifyError::Malformed)?);
    der.extend_from_slice(&body);
    Ok(der)
}

/// Converts a DER `Ecdsa-Sig-Value` to the fixed `r || s` form. Strict: refuses trailing bytes,
/// long-form lengths and integers wider than 32 bytes.
pub fn der_to_raw(der: &[u8]) -> Result<Vec<u8>, VerifyError> {
    fn integer<'a>(input: &mut &'a [u8]) -> Result<&'a [u8], VerifyError> {
        let &[0x02, len, ref rest @ ..] = *input else { return Err(VerifyError::Malformed) };
        let len = usize::from(len);
        if len == 0 || len > 33 || rest.len() < len {
            return Err(VerifyError::Malformed);
        }
        let (value, tail) = rest.split_at(len);
        *input = tail;
        match value.split_first() {
            Some((0, rest)) if len == 33 => Ok(rest),
            _ if len == 33 => Err(VerifyError::Malformed),
            _ => Ok(value),
        }
    }
    /// A 32-byte big-endian integer of at most 32 bytes, zeros on the left.
    fn left_padded(value: &[u8]) -> Result<[u8; 32], VerifyError> {
        let mut out = [0u8; 32];
        let at = out.len().checked_sub(value.len()).ok_or(VerifyError::Malformed)?;
        out.get_mut(at..).ok_or(VerifyError::Malformed)?.copy_from_slice(value);
        Ok(out)
    }
    let [0x30, len, body @ ..] = der else { return Err(VerifyError::Malformed) };
    if usize::from(*len) != body.len() {
        return Err(VerifyError::Malformed);
    }
    let mut input = body;
    let r = integer(&mut input)?;
    let s = integer(&mut input)?;
    if !input.is_empty() {
        return Err(VerifyError::Malformed);
    }
    let mut raw = Vec::with_capacity(64);
    raw.extend_from_slice(&left_padded(r)?);
    raw.extend_from_slice(&left_padded(s)?);
    Ok(raw)
}

/// An in-memory P-256 key that exists only for the life of the process: for tests and
/// benchmarks that need real signatures without a key store. Not a key store: it cannot be
/// saved, so nothing can come to depend on it.
pub struct EphemeralSigner {
    pair: ring::signature::EcdsaKeyPair,
}

impl EphemeralSigner {
    /// A fresh random key.
    // Panics only when the OS has no randomness or ring cannot read its own fresh PKCS#8: a key
    // for tests and benchmarks, never fed outside bytes.
    #[allow(clippy::expect_used)]
    pub fn generate() -> Self {
        let rng = ring::rand::SystemRandom::new();
        let alg = &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).expect("the system RNG works");
        let pair = ring::signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).expect("ring parses its own PKCS#8");
        Self { pair }
    }
}

impl Signer for EphemeralSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        let rng = ring::rand::SystemRandom::new();
        self.pair.sign(&rng, message).map(|s| s.as_ref().to_vec()).map_err(|_| SignError::KeyStore("ring refused to sign".into()))
    }

    fn public_key(&self) -> Vec<u8> {
        use ring::signature::KeyPair;
        self.pair.public_key().as_ref().to_vec()
    }

    fn describe(&self) -> String {
        "ephemeral in-memory key (tests only)".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn der_round_trip_with_high_bits_and_leading_zeros() {
        let mut raw = vec![0u8; 64];
        raw[0] = 0x80; // r needs a zero pad byte
        raw[33] = 0x01; // s starts with a zero byte
        raw[63] = 0x7f;
        let der = raw_to_der(&raw).unwrap();
        assert_eq!(der_to_raw(&der).unwrap(), raw);
    }

    #[test]
    fn der_of_zero_integers_keeps_one_octet_each_and_round_trips() {
        let der = raw_to_der(&[0u8; 64]).unwrap();
        assert_eq!(der, [0x30, 6, 0x02, 1, 0, 0x02, 1, 0]);
        assert_eq!(der_to_raw(&der).unwrap(), vec![0u8; 64]);
    }

    #[test]
    fn der_refuses_a_33_byte_integer_without_its_zero_pad() {
        let mut der = vec![0x30, 38, 0x02, 33, 0x01];
        der.extend_from_slice(&[0xff; 32]);
        der.extend_from_slice(&[0x02, 1, 1]);
        assert_eq!(der_to_raw(&der), Err(VerifyError::Malformed));
        der[4] = 0;
        assert!(der_to_raw(&der).is_ok());
    }

    #[test]
    fn der_refuses_trailing_bytes() {
        let mut der = raw_to_der(&[1u8; 64]).unwrap();
        der.push(0);
        assert_eq!(der_to_raw(&der), Err(VerifyError::Malformed));
    }

    #[test]
    fn verify_refuses_wrong_lengths() {
        assert_eq!(verify(&[4u8; 64], b"m", &[0; 64]), Err(VerifyError::PublicKey));
        assert_eq!(verify(&[4u8; 65], b"m", &[0; 63]), Err(VerifyError::Malformed));
        assert_eq!(verify_named("rsa", &[4u8; 65], b"m", &[0; 64]), Err(VerifyError::Algorithm("rsa".into())));
    }

    #[test]
    fn ephemeral_signature_verifies_and_detects_changes() {
        let key = EphemeralSigner::generate();
        let sig = key.sign(b"hello").unwrap();
        assert_eq!(verify(&key.public_key(), b"hello", &sig), Ok(()));
        assert_eq!(verify(&key.public_key(), b"hellO", &sig), Err(VerifyError::Mismatch));
        let other = EphemeralSigner::generate();
        assert_eq!(verify(&other.public_key(), b"hello", &sig), Err(VerifyError::Mismatch));
    }

    proptest! {
        #[test]
        fn der_to_raw_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = der_to_raw(&bytes);
        }

        #[test]
        fn der_round_trips(raw in proptest::collection::vec(any::<u8>(), 64)) {
            let der = raw_to_der(&raw).unwrap();
            prop_assert_eq!(der_to_raw(&der).unwrap(), raw);
        }
    }
}
