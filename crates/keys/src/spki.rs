//! The public key as X.509 `SubjectPublicKeyInfo`, the form certificates, `openssl` and operators
//! exchange, built by hand because for one curve it is a fixed prefix.

/// `AlgorithmIdentifier { id-ecPublicKey, prime256v1 }` (RFC 5480), DER.
const P256_ALGORITHM: [u8; 21] = [
    0x30, 0x13, // SEQUENCE
    0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, // id-ecPublicKey 1.2.840.10045.2.1
    0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, // prime256v1 1.2.840.10045.3.1.7
];

/// The DER `SubjectPublicKeyInfo` for a P-256 public key given as an uncompressed SEC1 point
/// (what [`crate::Signer::public_key`] returns), for certificate requests and `openssl`.
///
/// The point is wrapped as given: the result is well-formed DER for any input, but it names a
/// usable key only when the input is a 65-byte point on P-256.
pub fn spki_der(public_key_sec1: &[u8]) -> Vec<u8> {
    let mut bit_string = Vec::with_capacity(public_key_sec1.len() + 4);
    bit_string.push(0x03);
    der_length(&mut bit_string, public_key_sec1.len() + 1);
    bit_string.push(0x00); // no unused bits
    bit_string.extend_from_slice(public_key_sec1);
    let mut der = Vec::with_capacity(P256_ALGORITHM.len() + bit_string.len() + 4);
    der.push(0x30);
    der_length(&mut der, P256_ALGORITHM.len() + bit_string.len());
    der.extend_from_slice(&P256_ALGORITHM);
    der.extend_from_slice(&bit_string);
    der
}

/// [`spki_der`] as a `-----BEGIN PUBLIC KEY-----` PEM block, the form `openssl` and operators
/// read.
pub fn spki_pem(public_key_sec1: &[u8]) -> String {
    let block = pem::Pem::new("PUBLIC KEY", spki_der(public_key_sec1));
    pem::encode_config(&block, pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF))
}

/// Appends a DER definite length (short form below 128, long form above).
fn der_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8); // < 0x80, cannot truncate
        return;
    }
    let bytes = len.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    let significant = &bytes[skip..];
    out.push(0x80 | significant.len() as u8); // at most 8 bytes
    out.extend_from_slice(significant);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::PublicKeyData;

    #[test]
    fn spki_matches_rcgen_for_a_p256_key() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        assert_eq!(spki_der(key.public_key_raw()), key.subject_public_key_info());
        assert_eq!(spki_pem(key.public_key_raw()), key.public_key_pem());
    }

    #[test]
    fn odd_inputs_still_give_well_formed_der() {
        assert_eq!(spki_der(&[]), [&[0x30, 0x18][..], &P256_ALGORITHM, &[0x03, 0x01, 0x00]].concat());
        let long = spki_der(&[4u8; 300]);
        assert_eq!(&long[..4], &[0x30, 0x82, 0x01, 0x46]);
        assert_eq!(long.len(), 4 + 0x146);
    }
}
