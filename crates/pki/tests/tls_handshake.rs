//! Real TLS 1.3 handshakes over an in-memory duplex with our configurations: keys in external
//! signers (as in an HSM), CRLs honoured on both sides, identities read back afterwards.

mod common;

use std::sync::Arc;

use common::{Identity, anchors, issue, signer_ca};
use gridtrust_pki::{
    ClientAdmission, IdentityKind, LiveAnchors, PeerIdentity, Refusal, Role, TrustAnchors, authorize, client_config, peer_identity,
    server_config, server_config_admitting,
};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Outcome {
    server: Result<PeerIdentity, String>,
    client: Result<PeerIdentity, String>,
}

/// Runs one handshake plus a one-byte exchange; returns what each side saw of the other.
async fn handshake(
    server_anchors: &TrustAnchors,
    server: &Identity,
    client_anchors: &TrustAnchors,
    client: &Identity,
    dial: &str,
) -> Outcome {
    let client_cfg = client_config(&client_anchors.clone().into(), client.chain(), client.tls_key()).unwrap();
    handshake_with(server_anchors, server, client_cfg, dial).await
}

/// [`handshake`] with any client configuration, for clients that do not play by our rules.
async fn handshake_with(server_anchors: &TrustAnchors, server: &Identity, client_cfg: Arc<rustls::ClientConfig>, dial: &str) -> Outcome {
    let server_cfg = server_config(&server_anchors.clone().into(), server.chain(), server.tls_key()).unwrap();
    exchange(server_cfg, client_cfg, dial).await
}

/// One handshake plus a one-byte exchange between any two configurations.
async fn exchange(server_cfg: Arc<rustls::ServerConfig>, client_cfg: Arc<rustls::ClientConfig>, dial: &str) -> Outcome {
    let (a, b) = tokio::io::duplex(16 * 1024);
    let acceptor = tokio_rustls::TlsAcceptor::from(server_cfg);
    let connector = tokio_rustls::TlsConnector::from(client_cfg);
    let name = ServerName::try_from(dial.to_owned()).unwrap();
    let server_side = async move {
        let mut tls = acceptor.accept(a).await.map_err(|e| e.to_string())?;
        let (_, conn) = tls.get_ref();
        assert_eq!(conn.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_3));
        let peer = peer_identity(conn.peer_certificates()).map_err(|e| e.to_string())?;
        let mut byte = [0u8; 1];
        tls.read_exact(&mut byte).await.map_err(|e| e.to_string())?;
        tls.write_all(&byte).await.map_err(|e| e.to_string())?;
        tls.flush().await.map_err(|e| e.to_string())?;
        Ok(peer)
    };
    let client_side = async move {
        let mut tls = connector.connect(name, b).await.map_err(|e| e.to_string())?;
        // In TLS 1.3 the server judges the client certificate after the client's handshake
        // completes, so a refusal shows on the first read.
        tls.write_all(b"x").await.map_err(|e| e.to_string())?;
        tls.flush().await.map_err(|e| e.to_string())?;
        let mut byte = [0u8; 1];
        tls.read_exact(&mut byte).await.map_err(|e| e.to_string())?;
        let (_, conn) = tls.get_ref();
        peer_identity(conn.peer_certificates()).map_err(|e| e.to_string())
    };
    let (server, client) = tokio::join!(server_side, client_side);
    Outcome { server, client }
}

#[tokio::test]
async fn good_certificates_connect_and_each_side_reads_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let ca = signer_ca(dir.path(), "test operator CA");
    let hub = issue(&ca, IdentityKind::Hub, "hub", &[Role::Operator]);
    let edge = issue(&ca, IdentityKind::Edge, "edge-1", &[Role::Operator, Role::Viewer]);
    let anchors = anchors(&ca);
    for dial in ["hub", "localhost", "127.0.0.1"] {
        let out = handshake(&anchors, &hub, &anchors, &edge, dial).await;
        let seen_by_hub = out.server.unwrap();
        assert_eq!((seen_by_hub.kind, seen_by_hub.name.as_str()), (IdentityKind::Edge, "edge-1"));
        assert_eq!(seen_by_hub.roles, vec![Role::Viewer, Role::Operator]);
        authorize(&seen_by_hub, &[IdentityKind::Edge], &[Role::Operator]).unwrap();
        let seen_by_edge = out.client.unwrap();
        assert_eq!((seen_by_edge.kind, seen_by_edge.name.as_str()), (IdentityKind::Hub, "hub"));
    }
}

#[tokio::test]
async fn role_in_the_certificate_decides_what_the_peer_may_do() {
    let dir = tempfile::tempdir().unwrap();
    let ca = signer_ca(dir.path(), "test operator CA");
    let hub = issue(&ca, IdentityKind::Hub, "hub", &[Role::Operator]);
    let viewer = issue(&ca, IdentityKind::Operator, "vera", &[Role::Viewer]);
    let anchors = anchors(&ca);
    let out = handshake(&anchors, &hub, &anchors, &viewer, "hub").await;
    let peer = out.server.unwrap();
    authorize(&peer, &[IdentityKind::Operator], &[Role::Viewer]).unwrap();
    assert!(matches!(authorize(&peer, &[IdentityKind::Operator], &[Role::Operator]), Err(Refusal::Role { .. })));
    assert!(matches!(authorize(&peer, &[IdentityKind::Edge], &Role::ALL), Err(Refusal::Kind { .. })));
}

#[tokio::test]
async fn revoked_client_certificate_is_refused_by_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let ca = signer_ca(dir.path(), "test operator CA");
    let hub = issue(&ca, IdentityKind::Hub, "hub", &[Role::Operator]);
    let edge = issue(&ca, IdentityKind::Edge, "edge-1", &[Role::Operator]);
    // The client built its configuration while it was still good.
    let before = anchors(&ca);
    let client_cfg_anchors = before.clone();
    ca.revoke(edge.issued.serial, gridtrust_pki::RevocationReason::KeyCompromise).unwrap();
    ca.crl(common::DAY).unwrap();
    let after = anchors(&ca);
    let out = handshake(&after, &hub, &client_cfg_anchors, &edge, "hub").await;
    let err = out.server.unwrap_err();
    assert!(err.to_lowercase().contains("revoked"), "server error: {err}");
    assert!(out.client.is_err(), "the client must not get a working connection");
}

#[tokio::test]
async fn revoked_server_certificate_is_refused_by_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let ca = signer_ca(dir.path(), "test operator CA");
    let hub = issue(&ca, IdentityKind::Hub, "hub", &[Role::Operator]);
    let edge = issue(&ca, IdentityKind::Edge, "edge-1", &[Role::Operator]);
    let before = anchors(&ca);
    ca.revoke(hub.issued.serial, gridtrust_pki::RevocationReason::KeyCompromise).unwrap();
    ca.crl(common::DAY).unwrap();
    let after = anchors(&ca);
    let out = handshake(&before, &hub, &after, &edge, "hub").await;
    let err = out.client.unwrap_err();
    assert!(err.to_lowercase().contains("revoked"), "client error: {err}");
    assert!(out.server.is_err());
}

#[tokio::test]
async fn client_certificate_from_another_ca_is_refused() {
    let ours = tempfile::tempdir().unwrap();
    let theirs = tempfile::tempdir().unwrap();
    let ca = signer_ca(ours.path(), "test operator CA");
    let other = signer_ca(theirs.path(), "intruder CA");
    let hub = issue(&ca, IdentityKind::Hub, "hub", &[Role::Operator]);
    let intruder = issue(&other, IdentityKind::Edge, "edge-1", &[Role::Operator]);
    // The intruder trusts our CA (it knows whom it calls); its own certificate is foreign.
    let server_side = anchors(&ca);
    let client_side = TrustAnchors::new(
        vec![ca.certificate_der().clone(), other.certificate_der().clone()],
        vec![pem_crl(ca.dir()), pem_crl(other.dir())],
    )
    .unwrap();
    let out = handshake(&server_side, &hub, &client_side, &intruder, "hub").await;
    let err = out.server.unwrap_err();
    assert!(err.contains("UnknownIssuer") || err.to_lowercase().contains("unknown issuer") || err.contains("BadSignature"), "{err}");
    assert!(out.client.is_err());
}

#[tokio::test]
async fn server_with_a_name_it_does_not_carry_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = signer_ca(dir.path(), "test operator CA");
    let hub = issue(&ca, IdentityKind::Hub, "hub", &[Role::Operator]);
    let edge = issue(&ca, IdentityKind::Edge, "edge-1", &[Role::Operator]);
    let anchors = anchors(&ca);
    let out = handshake(&anchors, &hub, &anchors, &edge, "elsewhere.example").await;
    assert!(out.client.unwrap_err().to_lowercase().contains("name"));
}

#[test]
fn configurations_refuse_an_own_certificate_that_does_not_validate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = signer_ca(dir.path(), "test operator CA");
    let op = issue(&ca, IdentityKind::Operator, "alice", &[Role::Operator]);
    let anchors = anchors(&ca);
    // An operator certificate has no serverAuth: it cannot serve.
    assert!(server_config(&anchors.clone().into(), op.chain(), op.tls_key()).is_err());
    client_config(&anchors.clone().into(), op.chain(), op.tls_key()).unwrap();
    // A key that is not the certificate's.
    let other = issue(&ca, IdentityKind::Operator, "bob", &[Role::Operator]);
    assert!(client_config(&anchors.clone().into(), op.chain(), other.tls_key()).is_err());
}

fn pem_crl(dir: &std::path::Path) -> rustls::pki_types::CertificateRevocationListDer<'static> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateRevocationListDer::from_pem_file(dir.join("crl.pem")).unwrap()
}

/// A certificate our CA key signed, valid for TLS, but carrying no roles: rustls alone would
/// accept it; our verifier refuses it during the handshake.
#[tokio::test]
async fn client_certificate_without_roles_is_refused_in_the_handshake() {
    use gridtrust_pki::{Ca, PublicKey, SignerKey, TlsSigningKey};
    use gridtrust_trust::signing::{EphemeralSigner, Signer};

    let dir = tempfile::tempdir().unwrap();
    let key = SignerKey::new(Arc::new(EphemeralSigner::generate()) as Arc<dyn Signer>).unwrap();
    let ca = Ca::init(dir.path(), "test operator CA", 365 * common::DAY, key.clone()).unwrap();
    let hub = issue(&ca, IdentityKind::Hub, "hub", &[Role::Operator]);

    let client_signer: Arc<dyn Signer> = Arc::new(EphemeralSigner::generate());
    let issuer = rcgen::Issuer::from_ca_cert_der(ca.certificate_der(), &key).unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["edge-1".to_owned()]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, "edge-1");
    params.serial_number = Some(rcgen::SerialNumber::from(77u64));
    params.not_before = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(1);
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    params.subject_alt_names.push(rcgen::SanType::URI("urn:gridtrust:edge:edge-1".try_into().unwrap()));
    let cert = params.signed_by(&PublicKey::from_signer(client_signer.as_ref()).unwrap(), &issuer).unwrap();

    let anchors = anchors(&ca);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certified = rustls::sign::CertifiedKey::new(vec![cert.der().clone()], Arc::new(TlsSigningKey::new(client_signer).unwrap()));
    let client_cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(anchors.root_store())
        .with_client_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(certified)));
    let out = handshake_with(&anchors, &hub, Arc::new(client_cfg), "hub").await;
    let err = out.server.unwrap_err();
    assert!(err.contains("NotAnIdentity") && err.contains("role extension"), "server error: {err}");
    assert!(out.client.is_err());
}

#[tokio::test]
async fn a_server_admitting_only_scada_clients_refuses_other_kinds_and_roles_at_the_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let ca = signer_ca(dir.path(), "test operator CA");
    let cc = issue(&ca, IdentityKind::Cc, "cc-1", &[Role::Operator]);
    let anchors: LiveAnchors = anchors(&ca).into();
    let admission = ClientAdmission { kinds: vec![IdentityKind::Scada], roles: vec![Role::Viewer, Role::Operator] };
    let server_cfg = server_config_admitting(&anchors, cc.chain(), cc.tls_key(), admission).unwrap();
    let connect = |client: &Identity| {
        let client_cfg = client_config(&anchors, client.chain(), client.tls_key()).unwrap();
        exchange(server_cfg.clone(), client_cfg, "cc-1")
    };
    let viewer = issue(&ca, IdentityKind::Scada, "scada-v", &[Role::Viewer]);
    let seen = connect(&viewer).await.server.unwrap();
    assert_eq!((seen.kind, seen.roles.as_slice()), (IdentityKind::Scada, &[Role::Viewer][..]));
    // Valid certificates of the same CA, but another kind, or no admitted role.
    for (kind, name, roles) in [
        (IdentityKind::Operator, "alice", &[Role::Operator][..]),
        (IdentityKind::Edge, "edge-1", &[Role::Viewer][..]),
        (IdentityKind::Scada, "scada-a", &[Role::SecAud][..]),
    ] {
        let out = connect(&issue(&ca, kind, name, roles)).await;
        let refused = out.server.unwrap_err();
        assert!(refused.contains("ApplicationVerificationFailure"), "{name}: {refused}");
        assert!(out.client.unwrap_err().contains("AccessDenied"), "{name}: the client sees access_denied");
    }
}
