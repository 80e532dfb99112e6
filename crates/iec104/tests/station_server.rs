//! Our client against our server over real loopback sockets (port 0): interrogation, spontaneous
//! data, select-before-operate, negative confirmations, redundancy switchover and mutual TLS.

#![cfg(feature = "tokio")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gridtrust_iec104::apci::{Apdu, UFunction};
use gridtrust_iec104::asdu::{Asdu, Cause, Cot, Element, InformationObject, Qds, TypeId};
use gridtrust_iec104::client::{Client, ClientConfig, ClientError, ClientEvent};
use gridtrust_iec104::driver::{tls_client_config, tls_server_config};
use gridtrust_iec104::server::{
    CommandMode, ConnectionRefused, IncomingCommand, RedundancyGroup, Server, ServerConfig, ServerHandle, UnlistedClients,
};
use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(5);

fn any_addr() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn sp(ioa: u32, value: bool) -> InformationObject {
    InformationObject::new(ioa, Element::SinglePoint { value, quality: Qds::default(), time: None })
}

fn mv(ioa: u32, value: f32) -> InformationObject {
    InformationObject::new(ioa, Element::ShortFloat { value, quality: Qds::default(), time: None })
}

fn sc(ca: u16, ioa: u32, value: bool, select: bool) -> Asdu {
    Asdu::single(
        TypeId::CScNa1,
        Cot::new(Cause::Activation),
        ca,
        vec![InformationObject::new(ioa, Element::SingleCommand { value, qualifier: 0, select, time: None })],
    )
}

async fn next_asdu(rx: &mut mpsc::Receiver<ClientEvent>) -> Asdu {
    match tokio::time::timeout(WAIT, rx.recv()).await {
        Ok(Some(ClientEvent::Asdu(a))) => a,
        other => panic!("expected an ASDU, got {other:?}"),
    }
}

/// Answers every command positively; executes are terminated after a short delay.
fn spawn_application(mut commands: mpsc::Receiver<IncomingCommand>) {
    tokio::spawn(async move {
        while let Some(cmd) = commands.recv().await {
            cmd.responder.confirm(true).unwrap();
            if !cmd.select && !cmd.deactivation {
                let r = cmd.responder.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    r.terminate().unwrap();
                });
            }
        }
    });
}

async fn server(config: ServerConfig) -> ServerHandle {
    let (handle, commands) = Server::bind(any_addr(), None, config).await.unwrap();
    spawn_application(commands);
    handle
}

#[tokio::test]
async fn interrogation_and_spontaneous_data_reach_the_client() {
    let srv = server(ServerConfig::default()).await;
    srv.register_point(sp(10, true), &[]).await.unwrap();
    srv.register_point(mv(20, 230.5), &[]).await.unwrap();
    let (client, mut events) = Client::connect(srv.local_addr(), None, ClientConfig::default()).await.unwrap();
    let reply = client.interrogate(1, 20).await.unwrap();
    assert!(reply.is_positive());
    reply.await_termination().await.unwrap();
    let mut values = Vec::new();
    loop {
        let a = next_asdu(&mut events).await;
        if a.cot.cause == Cause::ActivationTerm {
            break;
        }
        if a.cot.cause == Cause::Interrogated {
            values.extend(a.objects);
        }
    }
    assert_eq!(values, vec![sp(10, true), mv(20, 230.5)]);
    srv.update(mv(20, 231.0)).await.unwrap();
    let a = next_asdu(&mut events).await;
    assert_eq!(a.cot.cause, Cause::Spontaneous);
    assert_eq!(a.objects, vec![mv(20, 231.0)]);
}

#[tokio::test]
async fn select_before_operate_gets_actcon_and_actterm() {
    let srv = server(ServerConfig::default()).await;
    srv.register_command(100, TypeId::CScNa1, CommandMode::SelectBeforeOperate).await.unwrap();
    let (client, _events) = Client::connect(srv.local_addr(), None, ClientConfig::default()).await.unwrap();
    // Execute without select: refused by the station itself.
    let refused = client.send_command(sc(1, 100, true, false)).await.unwrap();
    assert!(!refused.is_positive());
    assert!(matches!(refused.await_termination().await, Err(ClientError::Refused(_))));
    let select = client.send_command(sc(1, 100, true, true)).await.unwrap();
    assert!(select.is_positive());
    let exec = client.send_command(sc(1, 100, true, false)).await.unwrap();
    assert!(exec.is_positive());
    let term = exec.await_termination().await.unwrap();
    assert_eq!(term.cot.cause, Cause::ActivationTerm);
}

#[tokio::test]
async fn bad_requests_get_negative_confirmations_44_to_47() {
    let srv = server(ServerConfig::default()).await;
    srv.register_command(100, TypeId::CScNa1, CommandMode::DirectExecute).await.unwrap();
    let (client, _events) = Client::connect(srv.local_addr(), None, ClientConfig::default()).await.unwrap();
    let wrong_ca = client.send_command(sc(9, 100, true, false)).await.unwrap();
    assert_eq!((wrong_ca.confirmation.cot.cause, wrong_ca.confirmation.cot.negative), (Cause::UnknownCommonAddress, true));
    let wrong_ioa = client.send_command(sc(1, 101, true, false)).await.unwrap();
    assert_eq!((wrong_ioa.confirmation.cot.cause, wrong_ioa.confirmation.cot.negative), (Cause::UnknownObjectAddress, true));
    let mut wrong_cause = sc(1, 100, true, false);
    wrong_cause.cot.cause = Cause::Spontaneous;
    let r = client.send_command(wrong_cause).await.unwrap();
    assert_eq!(r.confirmation.cot.cause, Cause::UnknownCause);
    let dc = Asdu::single(
        TypeId::CDcNa1,
        Cot::new(Cause::Activation),
        1,
        vec![InformationObject::new(
            100,
            Element::DoubleCommand { value: gridtrust_iec104::asdu::DoublePointValue::On, qualifier: 0, select: false, time: None },
        )],
    );
    let r = client.send_command(dc).await.unwrap();
    assert_eq!((r.confirmation.cot.cause, r.confirmation.cot.negative), (Cause::UnknownType, true));
}

/// A controlling station that sends STARTDT and then never acknowledges anything.
async fn silent_client(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut buf = Vec::new();
    Apdu::U(UFunction::StartDtAct).encode(&mut buf).unwrap();
    s.write_all(&buf).await.unwrap();
    let mut con = [0u8; 6];
    s.read_exact(&mut con).await.unwrap();
    assert_eq!(Apdu::decode(&con).unwrap().0, Apdu::U(UFunction::StartDtCon));
    s
}

#[tokio::test]
async fn redundancy_switchover_loses_nothing() {
    let config = ServerConfig {
        redundancy_groups: vec![RedundancyGroup { name: "scada".into(), members: vec!["127.0.0.0/8".parse().unwrap()] }],
        ..ServerConfig::default()
    };
    let srv = server(config).await;
    let mut a = silent_client(srv.local_addr()).await;
    for i in 0..5 {
        srv.update(mv(i, i as f32)).await.unwrap();
    }
    // A receives all five (k = 12) but acknowledges none, then dies.
    let mut got = 0;
    let mut buf = vec![0u8; 4096];
    let mut data = Vec::new();
    while got < 5 {
        let n = tokio::time::timeout(WAIT, a.read(&mut buf)).await.unwrap().unwrap();
        data.extend_from_slice(&buf[..n]);
        got = 0;
        let mut rest = &data[..];
        while let Ok((_, used)) = Apdu::decode(rest) {
            got += 1;
            rest = &rest[used..];
        }
    }
    drop(a);
    // Queued while nobody is active.
    srv.update(mv(5, 5.0)).await.unwrap();
    let (_b, mut events) = Client::connect(srv.local_addr(), None, ClientConfig::default()).await.unwrap();
    let mut ioas = Vec::new();
    while ioas.len() < 6 {
        let asdu = next_asdu(&mut events).await;
        ioas.extend(asdu.objects.iter().map(|o| o.ioa));
    }
    assert_eq!(ioas, vec![0, 1, 2, 3, 4, 5]);
    let status = srv.status().await.unwrap();
    assert_eq!(status[0].name, "scada");
    assert!(status[0].active.is_some());
}

#[tokio::test]
async fn standby_connection_receives_no_data_until_it_starts() {
    let config = ServerConfig {
        redundancy_groups: vec![RedundancyGroup { name: "scada".into(), members: vec!["127.0.0.0/8".parse().unwrap()] }],
        ..ServerConfig::default()
    };
    let srv = server(config).await;
    let (_active, mut active_events) = Client::connect(srv.local_addr(), None, ClientConfig::default()).await.unwrap();
    // A standby: connected, no STARTDT.
    let mut standby = TcpStream::connect(srv.local_addr()).await.unwrap();
    // Wait until the server has seen both connections.
    for _ in 0..100 {
        if srv.status().await.unwrap()[0].connections.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    srv.update(sp(1, true)).await.unwrap();
    assert_eq!(next_asdu(&mut active_events).await.objects, vec![sp(1, true)]);
    let mut buf = [0u8; 16];
    let r = tokio::time::timeout(Duration::from_millis(200), standby.read(&mut buf)).await;
    assert!(r.is_err(), "standby got bytes: {r:?}");
}

struct Pki {
    ca: RootCertStore,
    server: (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>),
    client: (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>),
}

fn issue(name: &str, issuer: &rcgen::Issuer<'_, rcgen::KeyPair>) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    (vec![cert.der().clone()], PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())))
}

fn make_pki() -> Pki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let mut ca = RootCertStore::empty();
    ca.add(ca_cert.der().clone()).unwrap();
    Pki { ca, server: issue("localhost", &issuer), client: issue("scada-1", &issuer) }
}

#[tokio::test]
async fn mutual_tls_carries_the_session_and_refuses_untrusted_clients() {
    let pki = make_pki();
    let server_tls = tls_server_config(pki.server.0, pki.server.1, pki.ca.clone(), vec![]).unwrap();
    let (srv, commands) =
        Server::bind(any_addr(), Some(tokio_rustls::TlsAcceptor::from(server_tls)), ServerConfig::default()).await.unwrap();
    spawn_application(commands);
    srv.register_point(sp(7, true), &[]).await.unwrap();

    let client_tls = tls_client_config(pki.client.0, pki.client.1, pki.ca.clone()).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let (client, mut events) =
        Client::connect(srv.local_addr(), Some((tokio_rustls::TlsConnector::from(client_tls), name.clone())), ClientConfig::default())
            .await
            .unwrap();
    client.interrogate(1, 20).await.unwrap().await_termination().await.unwrap();
    let mut seen = false;
    while let Ok(Some(ClientEvent::Asdu(a))) = tokio::time::timeout(Duration::from_millis(200), events.recv()).await {
        seen |= a.objects.contains(&sp(7, true));
    }
    assert!(seen);

    // A client whose certificate comes from another CA is refused.
    let rogue = make_pki();
    let rogue_tls = tls_client_config(rogue.client.0, rogue.client.1, pki.ca.clone()).unwrap();
    let result =
        Client::connect(srv.local_addr(), Some((tokio_rustls::TlsConnector::from(rogue_tls), name.clone())), ClientConfig::default()).await;
    assert!(result.is_err(), "untrusted client was accepted");

    // A client without any certificate is refused too.
    let anon = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(pki.ca.clone())
        .with_no_client_auth();
    let result =
        Client::connect(srv.local_addr(), Some((tokio_rustls::TlsConnector::from(Arc::new(anon)), name)), ClientConfig::default()).await;
    assert!(result.is_err(), "client without certificate was accepted");
}

#[tokio::test]
async fn an_unlisted_address_is_closed_at_once_and_reported() {
    let config = ServerConfig {
        redundancy_groups: vec![RedundancyGroup { name: "scada".into(), members: vec!["127.0.0.2".parse().unwrap()] }],
        unlisted_clients: UnlistedClients::Refuse,
        ..ServerConfig::default()
    };
    let srv = server(config).await;
    let mut refusals = srv.refusals();
    // From 127.0.0.1: closed before STARTDT is answered.
    let mut s = TcpStream::connect(srv.local_addr()).await.unwrap();
    let mut buf = Vec::new();
    Apdu::U(UFunction::StartDtAct).encode(&mut buf).unwrap();
    let _ = s.write_all(&buf).await;
    let mut answer = [0u8; 6];
    let read = tokio::time::timeout(WAIT, s.read(&mut answer)).await.expect("closed, not left hanging");
    assert!(matches!(read, Ok(0) | Err(_)), "the refused client got bytes: {read:?}");
    let refused = tokio::time::timeout(WAIT, refusals.recv()).await.unwrap().unwrap();
    assert_eq!(refused.reason, ConnectionRefused::NotListed("127.0.0.1".parse().unwrap()));
    assert!(srv.status().await.unwrap().iter().all(|g| g.connections.is_empty()));
    // From the listed address: served.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut listed = socket.connect(srv.local_addr()).await.unwrap();
    listed.write_all(&buf).await.unwrap();
    tokio::time::timeout(WAIT, listed.read_exact(&mut answer)).await.unwrap().unwrap();
    assert_eq!(Apdu::decode(&answer).unwrap().0, Apdu::U(UFunction::StartDtCon));
}

#[tokio::test]
async fn tls_commands_carry_the_client_certificate_and_failed_handshakes_are_reported() {
    let pki = make_pki();
    let server_tls = tls_server_config(pki.server.0, pki.server.1, pki.ca.clone(), vec![]).unwrap();
    let (srv, mut commands) =
        Server::bind(any_addr(), Some(tokio_rustls::TlsAcceptor::from(server_tls)), ServerConfig::default()).await.unwrap();
    let mut refusals = srv.refusals();
    srv.register_command(100, TypeId::CScNa1, CommandMode::DirectExecute).await.unwrap();
    let client_der = pki.client.0[0].to_vec();
    let client_tls = tls_client_config(pki.client.0, pki.client.1, pki.ca.clone()).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let (client, _events) =
        Client::connect(srv.local_addr(), Some((tokio_rustls::TlsConnector::from(client_tls), name.clone())), ClientConfig::default())
            .await
            .unwrap();
    let sent = tokio::spawn(async move { client.send_command(sc(1, 100, true, false)).await });
    let cmd = tokio::time::timeout(WAIT, commands.recv()).await.unwrap().unwrap();
    assert_eq!(cmd.peer_certificate.as_deref(), Some(client_der.as_slice()));
    cmd.responder.confirm(true).unwrap();
    assert!(sent.await.unwrap().unwrap().is_positive());

    let rogue = make_pki();
    let rogue_tls = tls_client_config(rogue.client.0, rogue.client.1, pki.ca.clone()).unwrap();
    let result =
        Client::connect(srv.local_addr(), Some((tokio_rustls::TlsConnector::from(rogue_tls), name)), ClientConfig::default()).await;
    assert!(result.is_err(), "untrusted client was accepted");
    let refused = tokio::time::timeout(WAIT, refusals.recv()).await.unwrap().unwrap();
    assert!(matches!(refused.reason, ConnectionRefused::Handshake(_)), "{refused:?}");
}
