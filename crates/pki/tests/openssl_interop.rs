//! openssl, a peer we did not write, reads our certificates and CRLs the way we do: it sees the
//! role extension and the identity names, accepts a good certificate, refuses a revoked one,
//! and verifies certificates signed by a CA whose key is an external signer.
//!
//! Skips (with a SKIP line) only when openssl is missing and GRIDTRUST_REQUIRE_PEERS is unset.

mod common;

use std::path::Path;
use std::process::Command;

use common::{have_peer, issue, signer_ca};
use gridtrust_pki::{IdentityKind, RevocationReason, Role};

fn openssl(args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl").args(args).output().expect("openssl runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn verify(ca_dir: &Path, cert: &Path, purpose: &str) -> (bool, String) {
    let ca = ca_dir.join("ca.crt.pem");
    let crl = ca_dir.join("crl.pem");
    openssl(&[
        "verify",
        "-x509_strict",
        "-crl_check",
        "-purpose",
        purpose,
        "-CAfile",
        ca.to_str().unwrap(),
        "-CRLfile",
        crl.to_str().unwrap(),
        cert.to_str().unwrap(),
    ])
}

#[test]
fn openssl_agrees_on_a_good_and_a_revoked_certificate() {
    if !have_peer("openssl", "openssl_agrees_on_a_good_and_a_revoked_certificate") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ca = signer_ca(dir.path(), "test operator CA");
    let good = issue(&ca, IdentityKind::Edge, "edge-1", &[Role::Operator, Role::Viewer]);
    let bad = issue(&ca, IdentityKind::Edge, "edge-2", &[Role::Operator]);
    ca.revoke(bad.issued.serial, RevocationReason::KeyCompromise).unwrap();
    ca.crl(common::DAY).unwrap();

    for purpose in ["sslclient", "sslserver"] {
        let (ok, text) = verify(dir.path(), &good.issued.path, purpose);
        assert!(ok && text.contains(": OK"), "good certificate, {purpose}: {text}");
    }
    let (ok, text) = verify(dir.path(), &bad.issued.path, "sslclient");
    assert!(!ok && text.contains("certificate revoked"), "revoked certificate: {text}");

    // The CRL itself: signed by the CA, listing the revoked serial with its reason.
    let crl = dir.path().join("crl.pem");
    let ca_cert = dir.path().join("ca.crt.pem");
    let (ok, text) = openssl(&["crl", "-in", crl.to_str().unwrap(), "-noout", "-text", "-CAfile", ca_cert.to_str().unwrap()]);
    assert!(ok && text.contains("verify OK"), "{text}");
    assert!(text.contains("Serial Number: 02") && text.contains("Key Compromise"), "{text}");
}

#[test]
fn openssl_text_shows_the_role_extension_names_and_usages() {
    if !have_peer("openssl", "openssl_text_shows_the_role_extension_names_and_usages") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ca = signer_ca(dir.path(), "test operator CA");
    let hub = issue(&ca, IdentityKind::Hub, "hub", &[Role::SecAdm]);
    let (ok, text) = openssl(&["x509", "-in", hub.issued.path.to_str().unwrap(), "-noout", "-text"]);
    assert!(ok, "{text}");
    for expected in [
        "Subject: CN = hub",
        "1.2.840.10070.8.1",
        "URI:urn:gridtrust:hub:hub",
        "DNS:hub",
        "DNS:localhost",
        "IP Address:127.0.0.1",
        "Digital Signature",
        "TLS Web Server Authentication",
        "TLS Web Client Authentication",
        "CA:FALSE",
        "ecdsa-with-SHA256",
        "NIST CURVE: P-256",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    // openssl's DER parser reads our role extension as the ASN.1 we say it is.
    let der = Command::new("openssl").args(["x509", "-in", hub.issued.path.to_str().unwrap(), "-outform", "DER"]).output().unwrap().stdout;
    let ext = find_role_extension(&der);
    let ext_file = dir.path().join("roles.der");
    std::fs::write(&ext_file, ext).unwrap();
    let (ok, text) = openssl(&["asn1parse", "-inform", "DER", "-in", ext_file.to_str().unwrap()]);
    assert!(ok, "{text}");
    for expected in ["SEQUENCE", "INTEGER           :04", "UTF8STRING        :gridtrust", "UTF8STRING        :IEC62351-8"] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn certificates_signed_through_an_external_signer_verify_with_openssl() {
    if !have_peer("openssl", "certificates_signed_through_an_external_signer_verify_with_openssl") {
        return;
    }
    // signer_ca's key is an EphemeralSigner behind SignerKey: raw r||s converted to DER.
    let dir = tempfile::tempdir().unwrap();
    let ca = signer_ca(dir.path(), "HSM-backed CA");
    let op = issue(&ca, IdentityKind::Operator, "alice", &[Role::Operator]);
    let ca_cert = dir.path().join("ca.crt.pem");
    // The self-signed CA certificate verifies against itself...
    let (ok, text) = openssl(&["verify", "-x509_strict", "-CAfile", ca_cert.to_str().unwrap(), ca_cert.to_str().unwrap()]);
    assert!(ok, "{text}");
    // ...and the issued certificate and the CRL against it.
    let (ok, text) = verify(dir.path(), &op.issued.path, "sslclient");
    assert!(ok, "{text}");
    let (ok, text) = verify(dir.path(), &op.issued.path, "sslserver");
    assert!(!ok, "an operator certificate is no TLS server for openssl either: {text}");
}

/// The extension value of 1.2.840.10070.8.1 in a DER certificate.
fn find_role_extension(der: &[u8]) -> Vec<u8> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap();
    cert.extensions().iter().find(|e| e.oid.to_id_string() == "1.2.840.10070.8.1").unwrap().value.to_vec()
}
