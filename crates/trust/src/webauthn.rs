//! Verification of a WebAuthn assertion (a passkey's signature) over a challenge: how a person
//! signs a command with a key only their authenticator holds, so that neither the hub nor the
//! server of the web page can issue a command in their name.
//!
//! What is checked ([W3C WebAuthn Level 3 §7.2], the parts that matter without a server session):
//! - authenticator data: the SHA-256 of the relying party id, the user-present (UP) and
//!   user-verified (UV) flags (a person was there and unlocked the key: PIN or biometric), no
//!   attested credential data, no trailing bytes unless the extensions flag says so;
//! - client data JSON: `type` is `webauthn.get`, `challenge` is the base64url (no padding) of
//!   the expected challenge (for commands: the command digest), `origin` is in the allowed
//!   list, and the assertion was not made inside a cross-origin frame;
//! - the ECDSA P-256 / SHA-256 signature (DER, as authenticators return it) over
//!   `authenticatorData || SHA-256(clientDataJSON)` with the person's public key.
//!
//! Deliberately not checked: the signature counter (many passkeys report 0, and a cloned key
//! shows only when both copies are compared at one verifier; the edges verify independently),
//! and attestation (the key is bound to the person by the operator CA's certificate instead).
//! Every input is bounded and every failure is a [`WebAuthnError`]; nothing here panics.
//!
//! [W3C WebAuthn Level 3 §7.2]: https://www.w3.org/TR/webauthn-3/#sctn-verifying-assertion

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::merkle::Hash;

/// Longest client data JSON accepted (browsers send about 150 bytes).
pub const MAX_CLIENT_DATA_LEN: usize = 4096;
/// Longest authenticator data accepted (37 bytes plus extensions).
pub const MAX_AUTHENTICATOR_DATA_LEN: usize = 1024;
/// Longest DER signature accepted (a P-256 ECDSA signature is at most 72 bytes).
pub const MAX_SIGNATURE_LEN: usize = 80;

/// rpIdHash (32) + flags (1) + signCount (4).
const AUTHENTICATOR_DATA_MIN: usize = 37;
const FLAG_UP: u8 = 0x01;
const FLAG_UV: u8 = 0x04;
const FLAG_AT: u8 = 0x40;
const FLAG_ED: u8 = 0x80;

/// Why an assertion does not hold up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebAuthnError {
    #[error("{field} is {len} bytes, longer than {max}")]
    TooLong { field: &'static str, len: usize, max: usize },
    #[error("authenticator data is {0} bytes, shorter than 37")]
    AuthenticatorDataTooShort(usize),
    #[error("authenticator data has {0} bytes after the sign count without the extensions flag")]
    TrailingAuthenticatorData(usize),
    #[error("authenticator data carries attested credential data, which an assertion must not")]
    AttestedCredentialData,
    #[error("authenticator data is for another relying party id")]
    RpIdMismatch,
    #[error("the authenticator did not see the user present (UP flag not set)")]
    UserNotPresent,
    #[error("the authenticator did not verify the user (UV flag not set)")]
    UserNotVerified,
    #[error("client data is not the expected JSON: {0}")]
    ClientData(String),
    #[error("client data type is {0:?}, not \"webauthn.get\"")]
    WrongType(String),
    #[error("client data challenge is not the expected one (signed for another command?)")]
    ChallengeMismatch,
    #[error("origin {0:?} is not allowed")]
    OriginNotAllowed(String),
    #[error("the assertion was made in a cross-origin frame")]
    CrossOrigin,
    #[error("the public key is not an uncompressed P-256 point")]
    PublicKey,
    #[error("the assertion signature does not verify")]
    Signature,
}

/// Whom assertions must be for: the relying party id (a domain, e.g. `scada.example`) and the
/// web origins the UI is served from. The default allows nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RelyingParty {
    /// SHA-256 of the relying party id.
    pub rp_id_hash: Option<Hash>,
    /// Exact origins (`https://scada.example`, `http://localhost:8080`).
    pub origins: Vec<String>,
}

impl RelyingParty {
    /// The relying party `rp_id` served from `origins`.
    pub fn new(rp_id: &str, origins: Vec<String>) -> Self {
        Self { rp_id_hash: Some(Sha256::digest(rp_id.as_bytes()).into()), origins }
    }
}

/// The `webauthn` table of the hub's and the edge's configuration: the relying party id and the
/// origins the control-room UI is served from.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebAuthnConfig {
    /// The relying party id passkeys are registered for: the UI's host name (`scada.example`).
    pub rp_id: String,
    /// Exact origins the UI is served from (`https://scada.example`); at least one.
    pub origins: Vec<String>,
}

impl WebAuthnConfig {
    /// Checks the values; the error names the key.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.rp_id.is_empty() || self.rp_id.contains(['/', ':']) {
            return Err(("rp_id", format!("`{}` must be a host name (no scheme, port or path)", self.rp_id)));
        }
        if self.origins.is_empty() {
            return Err(("origins", "list at least one origin the UI is served from".into()));
        }
        for o in &self.origins {
            let host = o.strip_prefix("https://").or_else(|| o.strip_prefix("http://")).map(|h| h.split(':').next().unwrap_or(h));
            if host.is_none_or(|h| h != self.rp_id && !h.ends_with(&format!(".{}", self.rp_id))) {
                return Err(("origins", format!("`{o}` is not an http(s) origin on {} or a subdomain of it", self.rp_id)));
            }
        }
        Ok(())
    }

    /// The relying party assertions are checked against.
    pub fn relying_party(&self) -> RelyingParty {
        RelyingParty::new(&self.rp_id, self.origins.clone())
    }
}

/// A WebAuthn assertion as the browser returns it (`AuthenticatorAssertionResponse`).
#[derive(Clone, Copy, Debug)]
pub struct Assertion<'a> {
    pub authenticator_data: &'a [u8],
    pub client_data_json: &'a [u8],
    /// DER `Ecdsa-Sig-Value`.
    pub signature: &'a [u8],
}

/// What a verified assertion says beyond "valid".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The authenticator's signature counter (0 for many passkeys).
    pub sign_count: u32,
}

/// The fields of client data that are checked; others (`topOrigin`, vendor additions) are
/// ignored as the specification requires, a repeated field is an error.
#[derive(Deserialize)]
struct ClientData {
    #[serde(rename = "type")]
    kind: String,
    challenge: String,
    origin: String,
    #[serde(rename = "crossOrigin", default)]
    cross_origin: bool,
}

/// Base64url without padding (RFC 4648 §5), as WebAuthn encodes the challenge.
// The alphabet's index is six bits (masked with 63) into 64 entries: always in range.
#[allow(clippy::indexing_slicing)]
pub fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [0, 1, 2].map(|i| chunk.get(i).copied().unwrap_or(0));
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

fn bounded(field: &'static str, bytes: &[u8], max: usize) -> Result<(), WebAuthnError> {
    if bytes.len() > max {
        return Err(WebAuthnError::TooLong { field, len: bytes.len(), max });
    }
    Ok(())
}

/// Verifies `assertion` as a signature by `public_key` (uncompressed SEC1 P-256 point) over
/// `challenge`, for `relying_party`.
pub fn verify(
    assertion: &Assertion<'_>,
    relying_party: &RelyingParty,
    challenge: &[u8],
    public_key: &[u8],
) -> Result<Verified, WebAuthnError> {
    bounded("authenticator data", assertion.authenticator_data, MAX_AUTHENTICATOR_DATA_LEN)?;
    bounded("client data", assertion.client_data_json, MAX_CLIENT_DATA_LEN)?;
    bounded("signature", assertion.signature, MAX_SIGNATURE_LEN)?;
    let data = assertion.authenticator_data;
    let [rp_id_hash @ .., flags, c0, c1, c2, c3] =
        data.get(..AUTHENTICATOR_DATA_MIN).ok_or(WebAuthnError::AuthenticatorDataTooShort(data.len()))?
    else {
        return Err(WebAuthnError::AuthenticatorDataTooShort(data.len()));
    };
    let extra = data.len() - AUTHENTICATOR_DATA_MIN;
    if flags & FLAG_AT != 0 {
        return Err(WebAuthnError::AttestedCredentialData);
    }
    if extra > 0 && flags & FLAG_ED == 0 {
        return Err(WebAuthnError::TrailingAuthenticatorData(extra));
    }
    if relying_party.rp_id_hash.as_ref().map(|h| &h[..]) != Some(rp_id_hash) {
        return Err(WebAuthnError::RpIdMismatch);
    }
    if flags & FLAG_UP == 0 {
        return Err(WebAuthnError::UserNotPresent);
    }
    if flags & FLAG_UV == 0 {
        return Err(WebAuthnError::UserNotVerified);
    }
    let client: ClientData = serde_json::from_slice(assertion.client_data_json).map_err(|e| WebAuthnError::ClientData(e.to_string()))?;
    if client.kind != "webauthn.get" {
        return Err(WebAuthnError::WrongType(client.kind));
    }
    if client.challenge != base64url(challenge) {
        return Err(WebAuthnError::ChallengeMismatch);
    }
    if !relying_party.origins.contains(&client.origin) {
        return Err(WebAuthnError::OriginNotAllowed(client.origin));
    }
    if client.cross_origin {
        return Err(WebAuthnError::CrossOrigin);
    }
    if public_key.len() != 65 || public_key.first() != Some(&0x04) {
        return Err(WebAuthnError::PublicKey);
    }
    let mut message = Vec::with_capacity(data.len() + 32);
    message.extend_from_slice(data);
    message.extend_from_slice(&Sha256::digest(assertion.client_data_json));
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, public_key)
        .verify(&message, assertion.signature)
        .map_err(|_| WebAuthnError::Signature)?;
    Ok(Verified { sign_count: u32::from_be_bytes([*c0, *c1, *c2, *c3]) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    // Captured from Chromium 148's virtual authenticator (CDP WebAuthn.addVirtualAuthenticator,
    // ctap2, internal, user verified) on http://localhost:8765 by web/scripts/webauthn-golden.mjs:
    // navigator.credentials.create (ES256), then navigator.credentials.get with the challenge
    // SHA-256("gridtrust golden command").
    const SPKI: &str = "3059301306072a8648ce3d020106082a8648ce3d03010703420004d656dd94cadbc7a20e7d8d5fd8ddc5c10d5bad249048ec1b325a6d1e082b25ebd5d2367859c716b460f0a1ba443b6699f906245e50a3ee4a9d0a536f19c3bee8";
    const AUTHENTICATOR_DATA: &str = "49960de5880e8c687434170f6476605b8fe4aeb9a28632c7995cf3ba831d97630500000002";
    const CLIENT_DATA_JSON: &str = r#"{"type":"webauthn.get","challenge":"4F_8HEdBQaHByMVmJmiBmtgd2qRxRh1wcRjLr0YStO0","origin":"http://localhost:8765","crossOrigin":false}"#;
    const SIGNATURE: &str = "3045022100efe477718c57823f14511e9823577ff684825c72f63f32a71ba98348a66fcbe502200b5284f8389e3c42ad45062fb017bf1faef0937d176b7a42d068a455affe1698";

    struct Golden {
        public_key: Vec<u8>,
        authenticator_data: Vec<u8>,
        client_data_json: Vec<u8>,
        signature: Vec<u8>,
        challenge: Hash,
    }

    impl Golden {
        fn new() -> Self {
            let spki = unhex(SPKI);
            Self {
                // The P-256 SPKI header is fixed (26 bytes); the point follows.
                public_key: spki[26..].to_vec(),
                authenticator_data: unhex(AUTHENTICATOR_DATA),
                client_data_json: CLIENT_DATA_JSON.as_bytes().to_vec(),
                signature: unhex(SIGNATURE),
                challenge: Sha256::digest(b"gridtrust golden command").into(),
            }
        }

        fn assertion(&self) -> Assertion<'_> {
            Assertion { authenticator_data: &self.authenticator_data, client_data_json: &self.client_data_json, signature: &self.signature }
        }
    }

    fn localhost() -> RelyingParty {
        RelyingParty::new("localhost", vec!["http://localhost:8765".into()])
    }

    #[test]
    fn chromium_assertion_verifies() {
        let g = Golden::new();
        assert_eq!(verify(&g.assertion(), &localhost(), &g.challenge, &g.public_key), Ok(Verified { sign_count: 2 }));
    }

    #[test]
    fn chromium_assertion_is_refused_for_anything_else() {
        let g = Golden::new();
        let a = g.assertion();
        let other_rp = RelyingParty::new("scada.example", vec!["http://localhost:8765".into()]);
        assert_eq!(verify(&a, &other_rp, &g.challenge, &g.public_key), Err(WebAuthnError::RpIdMismatch));
        assert_eq!(verify(&a, &RelyingParty::default(), &g.challenge, &g.public_key), Err(WebAuthnError::RpIdMismatch));
        let other_origin = RelyingParty::new("localhost", vec!["https://localhost:8765".into()]);
        assert_eq!(
            verify(&a, &other_origin, &g.challenge, &g.public_key),
            Err(WebAuthnError::OriginNotAllowed("http://localhost:8765".into()))
        );
        assert_eq!(verify(&a, &localhost(), &[0; 32], &g.public_key), Err(WebAuthnError::ChallengeMismatch));
        let mut other_key = g.public_key.clone();
        other_key[64] ^= 1;
        assert_eq!(verify(&a, &localhost(), &g.challenge, &other_key), Err(WebAuthnError::Signature));
        // Flags are signed: clearing UV by hand is caught by the flag check, and forging it back
        // on breaks the signature.
        let mut no_uv = g.authenticator_data.clone();
        no_uv[32] &= !FLAG_UV;
        let a2 = Assertion { authenticator_data: &no_uv, ..a };
        assert_eq!(verify(&a2, &localhost(), &g.challenge, &g.public_key), Err(WebAuthnError::UserNotVerified));
        let mut counter = g.authenticator_data.clone();
        counter[36] = 9;
        let a3 = Assertion { authenticator_data: &counter, ..a };
        assert_eq!(verify(&a3, &localhost(), &g.challenge, &g.public_key), Err(WebAuthnError::Signature));
        let created = CLIENT_DATA_JSON.replace("webauthn.get", "webauthn.create");
        let a4 = Assertion { client_data_json: created.as_bytes(), ..a };
        assert_eq!(verify(&a4, &localhost(), &g.challenge, &g.public_key), Err(WebAuthnError::WrongType("webauthn.create".into())));
        let framed = CLIENT_DATA_JSON.replace("\"crossOrigin\":false", "\"crossOrigin\":true");
        let a5 = Assertion { client_data_json: framed.as_bytes(), ..a };
        assert_eq!(verify(&a5, &localhost(), &g.challenge, &g.public_key), Err(WebAuthnError::CrossOrigin));
        let doubled = CLIENT_DATA_JSON.replace("{\"type\"", "{\"origin\":\"https://evil.example\",\"type\"");
        let a6 = Assertion { client_data_json: doubled.as_bytes(), ..a };
        assert!(matches!(verify(&a6, &localhost(), &g.challenge, &g.public_key), Err(WebAuthnError::ClientData(_))));
    }

    #[test]
    fn base64url_matches_rfc4648_without_padding() {
        assert_eq!(base64url(b""), "");
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(base64url(b"foob"), "Zm9vYg");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
        assert_eq!(base64url(&Golden::new().challenge), "4F_8HEdBQaHByMVmJmiBmtgd2qRxRh1wcRjLr0YStO0");
    }

    proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..80), json in proptest::collection::vec(any::<u8>(), 0..200),
                        sig in proptest::collection::vec(any::<u8>(), 0..90), key in proptest::collection::vec(any::<u8>(), 0..70)) {
            let a = Assertion { authenticator_data: &data, client_data_json: &json, signature: &sig };
            let _ = verify(&a, &localhost(), b"c", &key);
        }

        #[test]
        fn mutated_golden_assertions_never_verify_or_panic(which in 0usize..3, at in any::<prop::sample::Index>(), bit in 0u8..8) {
            let mut g = Golden::new();
            let field = match which { 0 => &mut g.authenticator_data, 1 => &mut g.client_data_json, _ => &mut g.signature };
            let i = at.index(field.len());
            field[i] ^= 1 << bit;
            prop_assert!(verify(&g.assertion(), &localhost(), &g.challenge, &g.public_key).is_err());
        }
    }
}
