//! The CA's operations and the validation every role runs, end to end through files.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::{DAY, anchors, issue, issue_for, signer_ca};
use gridtrust_pki::{
    Ca, CertRef, DevPki, IdentityKind, IssueRequest, PkiError, PublicKey, Purpose, RevocationReason, Role, SignerKey, TrustAnchors,
    validate,
};
use gridtrust_trust::signing::{EphemeralSigner, Signer, certificate_id};

#[test]
fn issued_certificate_validates_with_kind_name_roles_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let ca = signer_ca(dir.path(), "test operator CA");
    let edge = issue(&ca, IdentityKind::Edge, "edge-1", &[Role::Operator, Role::Viewer]);
    let anchors = anchors(&ca);
    for purpose in [Purpose::TlsClient, Purpose::TlsServer, Purpose::Signing] {
        let id = validate(&anchors, &edge.chain(), SystemTime::now(), purpose).unwrap();
        assert_eq!(id.kind, IdentityKind::Edge);
        assert_eq!(id.name, "edge-1");
        assert_eq!(id.roles, vec![Role::Viewer, Role::Operator]);
        assert_eq!(id.serial.as_u64(), Some(edge.issued.serial));
        assert_eq!(id.certificate_id, certificate_id(&edge.issued.der));
        assert_eq!(id.public_key, edge.signer.public_key());
    }
}

#[test]
fn viewer_role_is_parsed_from_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = signer_ca(dir.path(), "test operator CA");
    let op = issue(&ca, IdentityKind::Operator, "alice", &[Role::Viewer]);
    let id = validate(&anchors(&ca), &op.chain(), SystemTime::now(), Purpose::TlsClient).unwrap();
    assert_eq!((id.kind, id.roles.as_slice()), (IdentityKind::Operator, &[Role::Viewer][..]));
    assert!(id.has_role(Role::Viewer) && !id.has_role(Role::Operator));
}

#[test]
fn expired_and_not_yet_valid_certificates_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = signer_ca(dir.path(), "test operator CA");
    let hub = issue_for(&ca, IdentityKind::Hub, "hub", &[Role::Operator], Duration::from_secs(3600));
    let anchors = anchors(&ca);
    let later = SystemTime::now() + Duration::from_secs(2 * 3600);
    assert!(matches!(validate(&anchors, &hub.chain(), later, Purpose::TlsServer), Err(PkiError::Expired { not_after: Some(_) })));
    // Back-dated by BACKDATE so a clock stepped back by an hour still accepts it; further back, not.
    let stepped_back = SystemTime::now() - Duration::from_secs(3600);
    assert!(validate(&anchors, &hub.chain(), stepped_back, Purpose::TlsServer).is_ok());
    let earlier = SystemTime::now() - gridtrust_pki::ca::BACKDATE - Duration::from_secs(3600);
    assert!(matches!(validate(&anchors, &hub.chain(), earlier, Purpose::TlsServer), Err(PkiError::NotYetValid { .. })));
}

#[test]
fn certificate_from_another_ca_is_refused_even_with_the_same_ca_name() {
    let ours = tempfile::tempdir().unwrap();
    let theirs = tempfile::tempdir().unwrap();
    let ca = signer_ca(ours.path(), "test operator CA");
    // An impostor CA with exactly our CA's name: only the signature can tell them apart.
    let impostor = signer_ca(theirs.path(), "test operator CA");
    let foreign = issue(&impostor, IdentityKind::Cc, "cc", &[Role::Operator]);
    let err = validate(&anchors(&ca), &foreign.chain(), SystemTime::now(), Purpose::TlsClient).unwrap_err();
    assert!(matches!(err, PkiError::UnknownIssuer), "{err}");

    let other = tempfile::tempdir().unwrap();
    let different = signer_ca(other.path(), "another CA");
    let foreign = issue(&different, IdentityKind::Cc, "cc", &[Role::Operator]);
    let err = validate(&anchors(&ca), &foreign.chain(), SystemTime::now(), Purpose::TlsClient).unwrap_err();
    assert!(matches!(err, PkiError::UnknownIssuer), "{err}");
}

#[test]
fn revoked_certificate_is_refused_once_the_new_crl_is_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let ca = signer_ca(dir.path(), "test operator CA");
    let edge = issue(&ca, IdentityKind::Edge, "edge-1", &[Role::Operator]);
    let other = issue(&ca, IdentityKind::Edge, "edge-2", &[Role::Operator]);
    let before = anchors(&ca);

    let entry = ca.revoke(edge.issued.serial, RevocationReason::KeyCompromise).unwrap();
    assert_eq!(entry.revoked.as_ref().unwrap().reason, RevocationReason::KeyCompromise);
    // The index changed, but peers only learn from the CRL.
    validate(&before, &edge.chain(), SystemTime::now(), Purpose::TlsClient).unwrap();
    ca.crl(7 * DAY).unwrap();
    let after = anchors(&ca);
    match validate(&after, &edge.chain(), SystemTime::now(), Purpose::TlsClient) {
        Err(PkiError::Revoked { serial }) => assert_eq!(serial.as_u64(), Some(edge.issued.serial)),
        other => panic!("expected Revoked, got {other:?}"),
    }
    validate(&after, &other.chain(), SystemTime::now(), Purpose::TlsClient).unwrap();
    assert!(matches!(ca.revoke(edge.issued.serial, RevocationReason::Superseded), Err(PkiError::AlreadyRevoked(_))));
    assert!(matches!(ca.revoke(999, RevocationReason::Superseded), Err(PkiError::NotFound(_))));
}

#[test]
fn missing_or_expired_crl_fails_closed() {
    let dir = tempfile::tempdir().unwrap();
    let ca = signer_ca(dir.path(), "test operator CA");
    let edge = issue(&ca, IdentityKind::Edge, "edge-1", &[Role::Operator]);
    let no_crl = TrustAnchors::new(vec![ca.certificate_der().clone()], vec![]).unwrap();
    assert!(matches!(validate(&no_crl, &edge.chain(), SystemTime::now(), Purpose::TlsClient), Err(PkiError::RevocationUnknown)));
    // A CRL of another CA does not vouch for ours: refused at load.
    let other_dir = tempfile::tempdir().unwrap();
    signer_ca(other_dir.path(), "another CA");
    let foreign_crl = TrustAnchors::from_pem_files(&[dir.path().join("ca.crt.pem")], &[other_dir.path().join("crl.pem")]);
    assert!(matches!(foreign_crl, Err(PkiError::Malformed { what: "CRL", .. })));
    // Past nextUpdate (30 days for the first CRL).
    let later = SystemTime::now() + 31 * DAY;
    let anchors = anchors(&ca);
    let long = issue_for(&ca, IdentityKind::Edge, "edge-2", &[Role::Operator], 60 * DAY);
    assert!(matches!(validate(&anchors, &long.chain(), later, Purpose::TlsClient), Err(PkiError::CrlExpired)));
    // Explaining tools may opt out, by name.
    let unchecked = anchors.without_revocation();
    validate(&unchecked, &long.chain(), later, Purpose::TlsClient).unwrap();
}

#[test]
fn crl_numbers_increase() {
    let dir = tempfile::tempdir().unwrap();
    let ca = signer_ca(dir.path(), "test operator CA");
    let number = |pem: &str| {
        let der = rustls::pki_types::CertificateRevocationListDer::from_pem_slice(pem.as_bytes()).unwrap();
        let (_, crl) = x509_parser::parse_x509_crl(&der).unwrap();
        crl.crl_number().unwrap().clone()
    };
    use rustls::pki_types::pem::PemObject;
    let first = number(&std::fs::read_to_string(dir.path().join("crl.pem")).unwrap());
    let second = number(&ca.crl(DAY).unwrap());
    let third = number(&ca.crl(DAY).unwrap());
    assert!(first < second && second < third, "{first} {second} {third}");
}

#[test]
fn operator_certificate_is_not_a_tls_server() {
    let dir = tempfile::tempdir().unwrap();
    let ca = signer_ca(dir.path(), "test operator CA");
    let op = issue(&ca, IdentityKind::Operator, "alice", &[Role::Operator]);
    let err = validate(&anchors(&ca), &op.chain(), SystemTime::now(), Purpose::TlsServer).unwrap_err();
    assert!(matches!(err, PkiError::WrongPurpose { .. }), "{err}");
    validate(&anchors(&ca), &op.chain(), SystemTime::now(), Purpose::Signing).unwrap();
}

#[test]
fn renew_gives_a_new_serial_and_both_validate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = signer_ca(dir.path(), "test operator CA");
    let hub = issue(&ca, IdentityKind::Hub, "hub", &[Role::Operator, Role::SecAud]);
    let renewed = ca.renew(&CertRef::Name("hub".into()), 90 * DAY).unwrap();
    assert_ne!(renewed.serial, hub.issued.serial);
    assert!(renewed.not_after > hub.issued.not_after);
    let anchors = anchors(&ca);
    let old = validate(&anchors, &hub.chain(), SystemTime::now(), Purpose::TlsServer).unwrap();
    let new = validate(&anchors, std::slice::from_ref(&renewed.der), SystemTime::now(), Purpose::TlsServer).unwrap();
    assert_eq!((new.kind, &new.name, &new.roles, &new.public_key), (old.kind, &old.name, &old.roles, &old.public_key));
    let index = ca.list().unwrap();
    assert_eq!(index.last().unwrap().renews, Some(hub.issued.serial));
    // Renewing by serial works too, and a revoked certificate is not renewed.
    ca.renew(&CertRef::Serial(hub.issued.serial), DAY).unwrap();
    ca.revoke(renewed.serial, RevocationReason::Superseded).unwrap();
    assert!(matches!(ca.renew(&CertRef::Serial(renewed.serial), DAY), Err(PkiError::AlreadyRevoked(_))));
    assert!(matches!(ca.renew(&CertRef::Name("nobody".into()), DAY), Err(PkiError::NotFound(_))));
}

#[test]
fn serials_are_unique_and_the_index_records_every_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = signer_ca(dir.path(), "test operator CA");
    let a = issue(&ca, IdentityKind::Edge, "edge-1", &[Role::Operator]);
    let b = issue(&ca, IdentityKind::Cc, "cc-1", &[Role::Engineer]);
    let c = issue(&ca, IdentityKind::Operator, "bob", &[Role::SecAdm, Role::RbacMnt]);
    let serials = [a.issued.serial, b.issued.serial, c.issued.serial];
    assert_eq!(serials, [1, 2, 3]);
    let index = ca.list().unwrap();
    assert_eq!(index.iter().map(|e| e.serial).collect::<Vec<_>>(), serials);
    assert_eq!(index[2].kind, IdentityKind::Operator);
    assert_eq!(index[2].roles, vec![Role::SecAdm, Role::RbacMnt]);
    assert_eq!(index[0].certificate_id.len(), 64);
    assert!(dir.path().join("certs/2.crt.pem").exists());
    // The index is plain TOML an operator can read.
    let text = std::fs::read_to_string(dir.path().join("index.toml")).unwrap();
    assert!(text.contains("[[cert]]") && text.contains("kind = \"cc\"") && text.contains("\"SECADM\""), "{text}");
}

#[test]
fn bad_requests_are_refused_without_issuing() {
    let dir = tempfile::tempdir().unwrap();
    let ca = signer_ca(dir.path(), "test operator CA");
    let key = PublicKey::from_signer(&EphemeralSigner::generate()).unwrap();
    let request = |kind, name: &str, roles: Vec<Role>, sans: Vec<&str>, validity| IssueRequest {
        kind,
        name: name.into(),
        roles,
        validity,
        public_key: key.clone(),
        extra_sans: sans.into_iter().map(String::from).collect(),
    };
    assert!(matches!(ca.issue(&request(IdentityKind::Edge, "Edge 1", vec![Role::Viewer], vec![], DAY)), Err(PkiError::InvalidName { .. })));
    assert!(matches!(ca.issue(&request(IdentityKind::Edge, "edge", vec![], vec![], DAY)), Err(PkiError::NoRoles)));
    assert!(matches!(
        ca.issue(&request(IdentityKind::Edge, "edge", vec![Role::Viewer], vec!["bad name!"], DAY)),
        Err(PkiError::InvalidSan(_))
    ));
    assert!(matches!(
        ca.issue(&request(IdentityKind::Operator, "op", vec![Role::Viewer], vec!["host"], DAY)),
        Err(PkiError::InvalidSan(_))
    ));
    assert!(matches!(
        ca.issue(&request(IdentityKind::Edge, "edge", vec![Role::Viewer], vec![], Duration::ZERO)),
        Err(PkiError::Validity(_))
    ));
    // The test CA is valid for a year: nothing it signs may outlive it.
    assert!(matches!(ca.issue(&request(IdentityKind::Edge, "edge", vec![Role::Viewer], vec![], 400 * DAY)), Err(PkiError::Validity(_))));
    assert!(ca.list().unwrap().is_empty());
    // Extra names are carried and kept on renewal.
    let ok = ca.issue(&request(IdentityKind::Hub, "hub", vec![Role::Viewer], vec!["hub.example.net", "10.0.0.7"], DAY)).unwrap();
    let renewed = ca.renew(&CertRef::Serial(ok.serial), DAY).unwrap();
    let text = gridtrust_pki::show(renewed.pem.as_bytes()).unwrap();
    assert!(text.contains("DNS:hub.example.net") && text.contains("IP:10.0.0.7"), "{text}");
}

#[test]
fn ca_refuses_a_second_init_and_a_foreign_key() {
    let dir = tempfile::tempdir().unwrap();
    signer_ca(dir.path(), "test operator CA");
    let key = || SignerKey::new(Arc::new(EphemeralSigner::generate()) as Arc<dyn Signer>).unwrap();
    assert!(matches!(Ca::init(dir.path(), "again", DAY, key()), Err(PkiError::AlreadyExists { .. })));
    assert!(matches!(Ca::open(dir.path(), key()), Err(PkiError::KeyMismatch { .. })));
}

#[test]
fn ca_directory_is_locked_while_it_changes() {
    let dir = tempfile::tempdir().unwrap();
    let ca = signer_ca(dir.path(), "test operator CA");
    std::fs::write(dir.path().join(".lock"), b"").unwrap();
    assert!(matches!(ca.crl(DAY), Err(PkiError::Locked { .. })));
    std::fs::remove_file(dir.path().join(".lock")).unwrap();
    ca.crl(DAY).unwrap();
}

#[test]
fn dev_pki_writes_software_keys_and_replaces_only_a_dev_ca() {
    let dir = tempfile::tempdir().unwrap();
    let roles: &[Role] = &[Role::Operator];
    let pki = DevPki::generate(dir.path(), &[(IdentityKind::Hub, "hub", roles), (IdentityKind::Edge, "edge-1", roles)]).unwrap();
    let anchors = pki.anchors().unwrap();
    let (chain, _key) = pki.tls_identity("edge-1").unwrap();
    let id = validate(&anchors, &chain, SystemTime::now(), Purpose::TlsClient).unwrap();
    assert_eq!((id.kind, id.name.as_str()), (IdentityKind::Edge, "edge-1"));
    let key_pem = std::fs::read_to_string(pki.files("hub").key).unwrap();
    assert!(key_pem.starts_with("-----BEGIN PRIVATE KEY-----"), "PKCS#8 PEM");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(pki.files("hub").key).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "keys are owner-only");
    }
    // The dev CA can revoke through its software key.
    pki.ca().unwrap().revoke(1, RevocationReason::CessationOfOperation).unwrap();
    // Regenerating replaces the development PKI...
    DevPki::generate(dir.path(), &[(IdentityKind::Cc, "cc", roles)]).unwrap();
    assert!(!pki.files("hub").cert.exists() && pki.files("cc").cert.exists());
    // ...but never an operator's CA.
    let real = tempfile::tempdir().unwrap();
    signer_ca(real.path(), "operator CA");
    assert!(matches!(DevPki::generate(real.path(), &[]), Err(PkiError::AlreadyExists { .. })));
}

/// Certificates our CA key signed but that do not follow the identity profile: a role without
/// its extension, a kind whose name is not the subject's, a key without digitalSignature.
#[test]
fn certificates_outside_the_identity_profile_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = SignerKey::new(Arc::new(EphemeralSigner::generate()) as Arc<dyn Signer>).unwrap();
    let ca = Ca::init(dir.path(), "test operator CA", 365 * DAY, key.clone()).unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_der(ca.certificate_der(), &key).unwrap();
    let subject = PublicKey::from_signer(&EphemeralSigner::generate()).unwrap();
    let make = |cn: &str, urn: &str, roles: bool, ku: Vec<rcgen::KeyUsagePurpose>, serial: u64| {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(rcgen::DnType::CommonName, cn);
        params.serial_number = Some(rcgen::SerialNumber::from(serial));
        params.not_before = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
        params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(1);
        params.is_ca = rcgen::IsCa::ExplicitNoCa;
        params.key_usages = ku;
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        params.subject_alt_names = vec![rcgen::SanType::URI(urn.try_into().unwrap())];
        if roles {
            let ext = gridtrust_pki::UserRoles::standard(&[Role::Operator]).encode().unwrap();
            params.custom_extensions = vec![rcgen::CustomExtension::from_oid_content(gridtrust_pki::role::ROLE_EXTENSION_OID, ext)];
        }
        vec![params.signed_by(&subject, &issuer).unwrap().der().clone()]
    };
    let ds = || vec![rcgen::KeyUsagePurpose::DigitalSignature];
    let anchors = TrustAnchors::from_ca_dir(dir.path()).unwrap();
    let check = |chain: Vec<rustls::pki_types::CertificateDer<'static>>| validate(&anchors, &chain, SystemTime::now(), Purpose::TlsClient);

    // The control: the same construction with everything in place is accepted.
    let good = check(make("alice", "urn:gridtrust:operator:alice", true, ds(), 100)).unwrap();
    assert_eq!((good.kind, good.roles.as_slice()), (IdentityKind::Operator, &[Role::Operator][..]));
    for (chain, what) in [
        (make("alice", "urn:gridtrust:operator:alice", false, ds(), 101), "no role extension"),
        (make("alice", "urn:gridtrust:operator:mallory", true, ds(), 102), "URN name is not the CN"),
        (make("alice", "urn:gridtrust:admin:alice", true, ds(), 103), "unknown kind"),
        (make("alice", "https://example.net/alice", true, ds(), 104), "no gridtrust URN"),
    ] {
        assert!(matches!(check(chain), Err(PkiError::NotAnIdentity(_))), "{what}");
    }
    let no_ds = make("alice", "urn:gridtrust:operator:alice", true, vec![rcgen::KeyUsagePurpose::KeyAgreement], 105);
    assert!(matches!(check(no_ds), Err(PkiError::WrongPurpose { .. })));
}

/// A signer that always fails, as an HSM does when its session is gone.
struct FailingSigner(Vec<u8>);

impl Signer for FailingSigner {
    fn sign(&self, _message: &[u8]) -> Result<Vec<u8>, gridtrust_trust::signing::SignError> {
        Err(gridtrust_trust::signing::SignError::KeyStore("token removed".into()))
    }
    fn public_key(&self) -> Vec<u8> {
        self.0.clone()
    }
    fn describe(&self) -> String {
        "failing test signer".into()
    }
}

#[test]
fn a_failing_ca_key_issues_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let signer = EphemeralSigner::generate();
    let public = signer.public_key();
    let ca = Ca::init(dir.path(), "test operator CA", 365 * DAY, SignerKey::new(Arc::new(signer) as Arc<dyn Signer>).unwrap()).unwrap();
    drop(ca);
    let broken = Ca::open(dir.path(), SignerKey::new(Arc::new(FailingSigner(public)) as Arc<dyn Signer>).unwrap()).unwrap();
    let request = IssueRequest {
        kind: IdentityKind::Edge,
        name: "edge-1".into(),
        roles: vec![Role::Operator],
        validity: DAY,
        public_key: PublicKey::from_signer(&EphemeralSigner::generate()).unwrap(),
        extra_sans: vec![],
    };
    assert!(matches!(broken.issue(&request), Err(PkiError::Generate(rcgen::Error::RemoteKeyError))));
    assert!(matches!(broken.crl(DAY), Err(PkiError::Generate(_))));
    assert!(broken.list().unwrap().is_empty(), "nothing recorded for a certificate that was not made");
    assert!(!dir.path().join(".lock").exists(), "the lock is released on failure");
}
