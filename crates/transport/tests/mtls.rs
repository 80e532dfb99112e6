//! Frames cross a mutual-TLS connection; a client from another CA is refused.

use gridtrust_transport::{EdgeToHub, Listener, connect, stream::handshake};
use gridtrust_trust::pki::{DevPki, TlsFiles};

#[tokio::test]
async fn frames_cross_mutual_tls_and_a_foreign_ca_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    DevPki::generate(dir.path(), &["hub", "edge-1"]).unwrap();
    let rogue_dir = tempfile::tempdir().unwrap();
    DevPki::generate(rogue_dir.path(), &["edge-1"]).unwrap();

    let listener = Listener::bind("127.0.0.1:0", TlsFiles::in_dir(dir.path(), "hub").server_config().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = tokio::spawn(async move {
        let acceptor = listener.acceptor();
        let (tcp, peer) = listener.accept_tcp().await.unwrap();
        let (mut r, _w) = handshake(&acceptor, tcp, peer).await.unwrap();
        let first: EdgeToHub = r.recv().await.unwrap().unwrap();
        let (tcp, peer) = listener.accept_tcp().await.unwrap();
        let rogue = handshake(&acceptor, tcp, peer).await;
        (first, rogue.is_err())
    });

    let client_tls = TlsFiles::in_dir(dir.path(), "edge-1").client_config().unwrap();
    let (_r, mut w) = connect(&addr, "hub", client_tls).await.unwrap();
    let hello = EdgeToHub::Hello { edge_id: "edge-1".into(), protocol: 1 };
    w.send(&hello).await.unwrap();

    // The rogue trusts the real hub's CA (it knows the server) but has a certificate of its own CA.
    let rogue_files = TlsFiles { ca: dir.path().join("ca.crt.pem"), ..TlsFiles::in_dir(rogue_dir.path(), "edge-1") };
    let rogue = connect(&addr, "hub", rogue_files.client_config().unwrap()).await;
    if let Ok((mut r, _w)) = rogue {
        // TLS 1.3 client finishes before the server checks its certificate; the server's
        // refusal shows as a closed or failed read.
        assert!(!matches!(r.recv::<EdgeToHub>().await, Ok(Some(_))));
    }
    let (first, rogue_refused) = server.await.unwrap();
    assert_eq!(first, hello);
    assert!(rogue_refused, "a certificate from another CA must fail the handshake");
}
