//! Frames cross a mutual-TLS connection; a client from another CA is refused by the server.

use std::sync::Arc;

use gridtrust_pki::{DevPki, IdentityKind, Role};
use gridtrust_transport::{EdgeToHub, FrameError, Listener, connect, stream::handshake};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

const IDENTITIES: &[(IdentityKind, &str, &[Role])] =
    &[(IdentityKind::Hub, "hub", &[Role::Viewer]), (IdentityKind::Edge, "edge-1", &[Role::Viewer])];

#[tokio::test]
async fn frames_cross_mutual_tls_and_a_foreign_ca_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pki = DevPki::generate(dir.path(), IDENTITIES).unwrap();
    let rogue_dir = tempfile::tempdir().unwrap();
    let rogue_pki = DevPki::generate(rogue_dir.path(), IDENTITIES).unwrap();
    let anchors = pki.anchors().unwrap();
    let (chain, key) = pki.tls_identity("hub").unwrap();
    let listener = Listener::bind("127.0.0.1:0", gridtrust_pki::server_config(&anchors.clone().into(), chain, key).unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = tokio::spawn(async move {
        let acceptor = listener.acceptor();
        let (tcp, peer) = listener.accept_tcp().await.unwrap();
        let mut accepted = handshake(&acceptor, tcp, peer).await.unwrap();
        let identity = gridtrust_pki::peer_identity(Some(&accepted.peer_certificates)).unwrap();
        assert_eq!((identity.kind, identity.name.as_str()), (IdentityKind::Edge, "edge-1"));
        let first: EdgeToHub = accepted.reader.recv().await.unwrap().unwrap();
        let (tcp, peer) = listener.accept_tcp().await.unwrap();
        let rogue = handshake(&acceptor, tcp, peer).await;
        (first, rogue.err())
    });

    let (chain, key) = pki.tls_identity("edge-1").unwrap();
    let client_tls = gridtrust_pki::client_config(&anchors.into(), chain, key).unwrap();
    let (_r, mut w) = connect(&addr, "hub", client_tls).await.unwrap();
    let hello = EdgeToHub::Hello { edge_id: "edge-1".into(), protocol: 1, checkpoint_size: None };
    w.send(&hello).await.unwrap();

    // The rogue accepts any server certificate, so it never aborts the handshake itself: only
    // the server's check of the client certificate (from another CA) can refuse it.
    let (rogue_chain, rogue_key) = rogue_pki.tls_identity("edge-1").unwrap();
    let rogue_tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServer))
        .with_client_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(rustls::sign::CertifiedKey::new(rogue_chain, rogue_key))));
    // TLS 1.3: the client finishes before the server has checked its certificate, so the
    // server's refusal (an alert) shows as a failed or closed read.
    let (mut r, mut w) = connect(&addr, "hub", Arc::new(rogue_tls)).await.expect("the rogue client accepts the hub, whatever it presents");
    let _ = w.send(&hello).await;
    assert!(!matches!(r.recv::<EdgeToHub>().await, Ok(Some(_))));
    let (first, rogue) = server.await.unwrap();
    assert_eq!(first, hello);
    match rogue {
        Some(FrameError::Handshake { reason, .. }) => {
            // Both development CAs have the same name, so webpki finds the real CA and the
            // signature on the rogue certificate does not verify with its key.
            assert!(reason.contains("invalid peer certificate: BadSignature"), "refused for another reason: {reason}")
        }
        other => panic!("the server must refuse a client certificate from another CA in the handshake, got {other:?}"),
    }
}

/// A client that trusts any server: the rogue of the test above.
#[derive(Debug)]
struct AnyServer;

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::ring::default_provider().signature_verification_algorithms.supported_schemes()
    }
}
