//! WebAuthn assertions, as the edge and the hub receive them inside a signed command: the
//! verifier never panics on any authenticator data, client data JSON or signature, and nothing
//! but the one genuine assertion verifies.
//!
//! Input: one byte with the length of the authenticator data, one with the length of the
//! signature, then authenticator data, signature, and the rest as client data JSON. The key,
//! relying party and challenge are those of the Chromium golden vector in
//! `gridtrust_trust::webauthn` (the seed is that assertion), so the fuzzer starts past every
//! check and mutates from there.
#![no_main]

use gridtrust_trust::webauthn::{Assertion, RelyingParty, verify};
use libfuzzer_sys::fuzz_target;

/// The golden vector's P-256 public key (SEC1, uncompressed).
const PUBLIC_KEY: [u8; 65] = [
    0x04, 0xd6, 0x56, 0xdd, 0x94, 0xca, 0xdb, 0xc7, 0xa2, 0x0e, 0x7d, 0x8d, 0x5f, 0xd8, 0xdd, 0xc5, 0xc1, 0x0d, 0x5b, 0xad, 0x24, 0x90,
    0x48, 0xec, 0x1b, 0x32, 0x5a, 0x6d, 0x1e, 0x08, 0x2b, 0x25, 0xeb, 0xd5, 0xd2, 0x36, 0x78, 0x59, 0xc7, 0x16, 0xb4, 0x60, 0xf0, 0xa1,
    0xba, 0x44, 0x3b, 0x66, 0x99, 0xf9, 0x06, 0x24, 0x5e, 0x50, 0xa3, 0xee, 0x4a, 0x9d, 0x0a, 0x53, 0x6f, 0x19, 0xc3, 0xbe, 0xe8,
];
/// SHA-256("gridtrust golden command").
const CHALLENGE: [u8; 32] = [
    0xe0, 0x5f, 0xfc, 0x1c, 0x47, 0x41, 0x41, 0xa1, 0xc1, 0xc8, 0xc5, 0x66, 0x26, 0x68, 0x81, 0x9a, 0xd8, 0x1d, 0xda, 0xa4, 0x71, 0x46,
    0x1d, 0x70, 0x71, 0x18, 0xcb, 0xaf, 0x46, 0x12, 0xb4, 0xed,
];

fuzz_target!(|data: &[u8]| {
    let [auth_len, sig_len, rest @ ..] = data else { return };
    let (auth_len, sig_len) = (usize::from(*auth_len), usize::from(*sig_len));
    if rest.len() < auth_len + sig_len {
        return;
    }
    let (authenticator_data, rest) = rest.split_at(auth_len);
    let (signature, client_data_json) = rest.split_at(sig_len);
    let assertion = Assertion { authenticator_data, client_data_json, signature };
    let rp = RelyingParty::new("localhost", vec!["http://localhost:8765".into()]);
    if let Err(e) = verify(&assertion, &rp, &CHALLENGE, &PUBLIC_KEY) {
        let _ = e.to_string();
    }
    let _ = verify(&assertion, &RelyingParty::default(), &CHALLENGE, &data[..data.len().min(65)]);
});
