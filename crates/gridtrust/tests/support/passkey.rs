//! An emulated platform authenticator for tests: a P-256 key, and assertions built as a browser
//! and an authenticator build them (the format is pinned by the Chromium golden vector in
//! `gridtrust_trust::webauthn`). Include with `#[path = "support/passkey.rs"] mod passkey;`.

use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use sha2::{Digest, Sha256};

use gridtrust_trust::webauthn::base64url;

/// User present and user verified.
pub const UP_UV: u8 = 0x05;

/// What the browser and the authenticator put in an assertion.
#[derive(Clone, Copy)]
pub struct Ceremony<'a> {
    pub rp_id: &'a str,
    pub origin: &'a str,
    pub flags: u8,
}

/// An assertion's three parts.
pub struct Assertion {
    pub authenticator_data: Vec<u8>,
    pub client_data_json: Vec<u8>,
    /// DER.
    pub signature: Vec<u8>,
}

/// One credential.
pub struct Passkey {
    pair: EcdsaKeyPair,
}

impl Passkey {
    /// A new credential (`navigator.credentials.create` with ES256).
    pub fn generate() -> Self {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        Self { pair: EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).unwrap() }
    }

    /// The public key as an uncompressed SEC1 point.
    pub fn public_key(&self) -> Vec<u8> {
        self.pair.public_key().as_ref().to_vec()
    }

    /// `navigator.credentials.get` with `challenge`, as browser and authenticator answer it.
    pub fn assert(&self, challenge: &[u8], c: Ceremony<'_>) -> Assertion {
        let mut authenticator_data = Sha256::digest(c.rp_id.as_bytes()).to_vec();
        authenticator_data.push(c.flags);
        authenticator_data.extend_from_slice(&7u32.to_be_bytes());
        let client_data_json =
            format!(r#"{{"type":"webauthn.get","challenge":"{}","origin":"{}","crossOrigin":false}}"#, base64url(challenge), c.origin)
                .into_bytes();
        let mut message = authenticator_data.clone();
        message.extend_from_slice(&Sha256::digest(&client_data_json));
        let signature = self.pair.sign(&ring::rand::SystemRandom::new(), &message).unwrap().as_ref().to_vec();
        Assertion { authenticator_data, client_data_json, signature }
    }
}
