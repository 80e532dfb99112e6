//! Decoders that read bytes from outside never panic, and what we encode we decode.

mod common;

use gridtrust_pki::role::RoleInformation;
use gridtrust_pki::{IdentityKind, Role, UserRoles, show};
use proptest::prelude::*;

fn role_info() -> impl Strategy<Value = RoleInformation> {
    (
        proptest::collection::vec(any::<i16>(), 1..8),
        "[a-zA-Z0-9 äöü-]{1,64}",
        any::<u8>(),
        "[a-zA-Z0-9.-]{1,128}",
        proptest::option::of(any::<u32>()),
        proptest::option::of(any::<u32>()),
    )
        .prop_map(|(role_ids, aor, revision, role_definition, operation, status_change_sequence_number)| RoleInformation {
            role_ids,
            aor,
            revision,
            role_definition,
            operation,
            status_change_sequence_number,
        })
}

fn sample_certificate() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let ca = common::signer_ca(dir.path(), "test operator CA");
    common::issue(&ca, IdentityKind::Edge, "edge-1", &[Role::Operator]).issued.der.to_vec()
}

proptest! {
    #[test]
    fn role_extension_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        // What decodes is canonical DER: it re-encodes to exactly the input (the fuzz target's
        // property too).
        if let Ok(roles) = UserRoles::decode(&bytes) {
            prop_assert_eq!(roles.encode().unwrap(), bytes);
        }
    }

    #[test]
    fn role_extension_round_trips(infos in proptest::collection::vec(role_info(), 1..4)) {
        let roles = UserRoles(infos);
        let der = roles.encode().unwrap();
        prop_assert_eq!(UserRoles::decode(&der).unwrap(), roles);
    }

    #[test]
    fn role_extension_decoder_never_panics_on_mutated_encodings(
        infos in proptest::collection::vec(role_info(), 1..3),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in any::<usize>(),
    ) {
        let mut der = UserRoles(infos).encode().unwrap();
        for (at, value) in flips {
            let len = der.len();
            der[at % len] = value;
        }
        der.truncate(cut % (der.len() + 1));
        if let Ok(roles) = UserRoles::decode(&der) {
            prop_assert_eq!(roles.encode().unwrap(), der);
        }
    }

    #[test]
    fn show_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = show(&bytes);
        let mut pem = b"-----BEGIN CERTIFICATE-----\n".to_vec();
        pem.extend_from_slice(&bytes);
        let _ = show(&pem);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn show_never_panics_on_mutated_certificates(
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in any::<usize>(),
    ) {
        thread_local! { static CERT: Vec<u8> = sample_certificate(); }
        let mut der = CERT.with(|c| c.clone());
        for (at, value) in flips {
            let len = der.len();
            der[at % len] = value;
        }
        der.truncate(cut % (der.len() + 1) + 1);
        let _ = show(&der);
    }
}

#[test]
fn show_explains_a_certificate_and_a_crl() {
    let dir = tempfile::tempdir().unwrap();
    let ca = common::signer_ca(dir.path(), "test operator CA");
    let op = common::issue(&ca, IdentityKind::Operator, "alice", &[Role::Operator, Role::SecAud]);
    ca.revoke(op.issued.serial, gridtrust_pki::RevocationReason::PrivilegeWithdrawn).unwrap();
    let crl = ca.crl(common::DAY).unwrap();
    let text = show(op.issued.pem.as_bytes()).unwrap();
    let id = gridtrust_trust::signing::certificate_id(&op.issued.der);
    let id_hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    for expected in [
        "identity:           operator \"alice\"",
        "OPERATOR (1), SECAUD (5)",
        "area \"gridtrust\", revision 0, definition \"IEC62351-8\"",
        "issuer:             CN=test operator CA",
        "serial:             1 (hex 01)",
        "valid now",
        "clientAuth, documentSigning",
        "CA:false",
        "URI:urn:gridtrust:operator:alice",
        "ECDSA P-256 04",
        &id_hex,
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    let expired = gridtrust_pki::show_at(op.issued.pem.as_bytes(), std::time::SystemTime::now() + 365 * common::DAY).unwrap();
    assert!(expired.contains("EXPIRED"), "{expired}");
    let text = show(crl.as_bytes()).unwrap();
    assert!(text.contains("revoked:            1") && text.contains("serial 1 since"), "{text}");
    let text = show(ca.certificate_pem().as_bytes()).unwrap();
    assert!(text.contains("a CA certificate") && text.contains("CA:true, path length 0"), "{text}");
    assert!(show(b"not a certificate").is_err());
}
