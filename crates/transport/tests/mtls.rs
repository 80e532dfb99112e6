//! Frames cross a mutual-TLS connection; a client from another CA is refused.

use gridtrust_pki::{DevPki, IdentityKind, Role};
use gridtrust_transport::{EdgeToHub, Listener, connect, stream::handshake};

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
    let listener = Listener::bind("127.0.0.1:0", gridtrust_pki::server_config(&anchors, chain, key).unwrap()).await.unwrap();
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
        (first, rogue.is_err())
    });

    let (chain, key) = pki.tls_identity("edge-1").unwrap();
    let client_tls = gridtrust_pki::client_config(&anchors, chain, key).unwrap();
    let (_r, mut w) = connect(&addr, "hub", client_tls).await.unwrap();
    let hello = EdgeToHub::Hello { edge_id: "edge-1".into(), protocol: 1, checkpoint_size: None };
    w.send(&hello).await.unwrap();

    // The rogue trusts the real hub's CA (it knows the server) but has a certificate of its own CA.
    let (rogue_chain, rogue_key) = rogue_pki.tls_identity("edge-1").unwrap();
    let rogue_tls = gridtrust_pki::client_config(&rogue_pki.anchors().unwrap(), rogue_chain, rogue_key).unwrap();
    let rogue = connect(&addr, "hub", rogue_tls).await;
    if let Ok((mut r, _w)) = rogue {
        // TLS 1.3 client finishes before the server checks its certificate; the server's
        // refusal shows as a closed or failed read.
        assert!(!matches!(r.recv::<EdgeToHub>().await, Ok(Some(_))));
    }
    let (first, rogue_refused) = server.await.unwrap();
    assert_eq!(first, hello);
    assert!(rogue_refused, "a certificate from another CA must fail the handshake");
}
