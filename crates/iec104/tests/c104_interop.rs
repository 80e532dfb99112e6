//! Interoperability with an implementation we did not write: PyPI `c104` (lib60870-C inside).
//!
//! (a) a c104 client against our server: connect, STARTDT, station interrogation, a spontaneous
//!     change, a select-before-operate single command with ACTCON/ACTTERM;
//! (b) our client against a c104 server: interrogation, a spontaneous change, a command.
//!
//! The Python peers live in `tests/peers/`. When `python3 -c "import c104"` fails the tests print
//! why and pass without running (CI installs c104).

#![cfg(feature = "tokio")]

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use gridtrust_iec104::asdu::{Asdu, Cause, Cot, Element, InformationObject, Qds, TypeId};
use gridtrust_iec104::client::{Client, ClientConfig, ClientEvent};
use gridtrust_iec104::server::{CommandMode, Server, ServerConfig};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::mpsc;

const STEP: Duration = Duration::from_secs(20);

fn c104_available(test: &str) -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import c104"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("GRIDTRUST_REQUIRE_PEERS").is_none(),
            "{test}: c104 is required (GRIDTRUST_REQUIRE_PEERS) but not installed"
        );
        eprintln!("SKIPPED {test}: python3 module c104 is not installed (pip install c104)");
    }
    ok
}

/// A Python peer; killed when dropped, so a failing test leaves nothing running.
struct Peer {
    _child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Peer {
    fn spawn(script: &str, port: u16) -> Peer {
        let path = format!("{}/tests/peers/{script}", env!("CARGO_MANIFEST_DIR"));
        let mut child = Command::new("python3")
            .arg("-u")
            .arg(path)
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 starts");
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Peer { _child: child, stdin, lines }
    }

    /// Waits for a line starting with `prefix`; panics on FAIL, EOF or timeout.
    async fn expect(&mut self, prefix: &str) -> String {
        loop {
            let line = tokio::time::timeout(STEP, self.lines.next_line())
                .await
                .unwrap_or_else(|_| panic!("timeout waiting for {prefix} from the c104 peer"))
                .expect("reading peer output")
                .unwrap_or_else(|| panic!("c104 peer exited before {prefix}"));
            eprintln!("peer: {line}");
            if line.starts_with("FAIL") {
                panic!("c104 peer: {line}");
            }
            if line.starts_with(prefix) {
                return line;
            }
        }
    }

    async fn send(&mut self, line: &str) {
        self.stdin.write_all(format!("{line}\n").as_bytes()).await.unwrap();
        self.stdin.flush().await.unwrap();
    }
}

fn sp(ioa: u32, value: bool) -> InformationObject {
    InformationObject::new(ioa, Element::SinglePoint { value, quality: Qds::default(), time: None })
}

fn mv(ioa: u32, value: f32) -> InformationObject {
    InformationObject::new(ioa, Element::ShortFloat { value, quality: Qds::default(), time: None })
}

#[tokio::test]
async fn c104_client_against_our_server() {
    if !c104_available("c104_client_against_our_server") {
        return;
    }
    let (srv, mut commands) = Server::bind("127.0.0.1:0".parse().unwrap(), None, ServerConfig::default()).await.unwrap();
    srv.register_point(sp(10, true), &[]).await.unwrap();
    srv.register_point(mv(20, 1.5), &[]).await.unwrap();
    srv.register_command(100, TypeId::CScNa1, CommandMode::SelectBeforeOperate).await.unwrap();
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(cmd) = commands.recv().await {
            let _ = seen_tx.send((cmd.select, cmd.asdu.objects[0].element));
            // c104 2.2.1 sometimes misses a confirmation that arrives within microseconds of its
            // request (seen on the wire, reported as a failure). In gridtrust the answer comes
            // from a remote RTU anyway, so answer after a realistic delay.
            tokio::time::sleep(Duration::from_millis(100)).await;
            cmd.responder.confirm(true).unwrap();
            if !cmd.select {
                cmd.responder.terminate().unwrap();
            }
        }
    });

    let mut peer = Peer::spawn("c104_client_peer.py", srv.local_addr().port());
    peer.expect("OPEN").await;
    let gi = peer.expect("GI_OK").await;
    assert_eq!(gi, "GI_OK True 1.5");
    srv.update(mv(20, 2.5)).await.unwrap();
    peer.send("SPONT").await;
    peer.expect("SPONT_OK").await;
    let cmd = peer.expect("CMD_").await;
    assert_eq!(cmd, "CMD_OK");
    let (select, _) = seen.recv().await.unwrap();
    let (execute, element) = seen.recv().await.unwrap();
    assert!(select && !execute, "select then execute");
    assert!(matches!(element, Element::SingleCommand { value: true, .. }));
    peer.send("DONE").await;
}

async fn connect_with_retry(addr: SocketAddr) -> (gridtrust_iec104::client::ClientHandle, mpsc::Receiver<ClientEvent>) {
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        match Client::connect(addr, None, ClientConfig::default()).await {
            Ok(c) => return c,
            Err(e) if tokio::time::Instant::now() < deadline => {
                eprintln!("retrying connect: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("cannot connect to the c104 server: {e}"),
        }
    }
}

async fn next_asdu(events: &mut mpsc::Receiver<ClientEvent>) -> Asdu {
    match tokio::time::timeout(STEP, events.recv()).await {
        Ok(Some(ClientEvent::Asdu(a))) => a,
        other => panic!("expected an ASDU, got {other:?}"),
    }
}

#[tokio::test]
async fn our_client_against_c104_server() {
    if !c104_available("our_client_against_c104_server") {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut peer = Peer::spawn("c104_server_peer.py", port);
    peer.expect("READY").await;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let (client, mut events) = connect_with_retry(addr).await;

    let reply = client.interrogate(1, 20).await.unwrap();
    assert!(reply.is_positive());
    let mut values = Vec::new();
    loop {
        let a = next_asdu(&mut events).await;
        if a.type_id == TypeId::CIcNa1 && a.cot.cause == Cause::ActivationTerm {
            break;
        }
        if a.cot.cause == Cause::Interrogated {
            values.extend(a.objects.iter().map(|o| (o.ioa, o.element)));
        }
    }
    values.sort_by_key(|(ioa, _)| *ioa);
    assert!(
        matches!(values[..], [
        (10, Element::SinglePoint { value: true, .. }),
        (20, Element::ShortFloat { value, .. }),
    ] if value == 1.5),
        "GI values: {values:?}"
    );

    peer.send("SPONT").await;
    loop {
        let a = next_asdu(&mut events).await;
        if a.cot.cause == Cause::Spontaneous && a.objects[0].ioa == 20 {
            assert!(matches!(a.objects[0].element, Element::ShortFloat { value, .. } if value == 2.5));
            break;
        }
    }

    let command = Asdu::single(
        TypeId::CScNa1,
        Cot::new(Cause::Activation),
        1,
        vec![InformationObject::new(100, Element::SingleCommand { value: true, qualifier: 0, select: false, time: None })],
    );
    let reply = client.send_command(command).await.unwrap();
    assert!(reply.is_positive(), "command refused: {:?}", reply.confirmation);
    assert_eq!(peer.expect("CMD").await, "CMD True");
    peer.send("QUIT").await;
    client.close();
}

/// Our server packs a burst of spontaneous values (SQ=1 runs of consecutive addresses, SQ=0 for
/// the rest, status first); lib60870 reads every value as sent.
#[tokio::test]
async fn c104_client_reads_every_value_of_packed_asdus() {
    if !c104_available("c104_client_reads_every_value_of_packed_asdus") {
        return;
    }
    let (srv, _commands) = Server::bind("127.0.0.1:0".parse().unwrap(), None, ServerConfig::default()).await.unwrap();
    let mut peer = Peer::spawn("c104_packed_peer.py", srv.local_addr().port());
    peer.expect("OPEN").await;
    let mut burst: Vec<InformationObject> = (1000..1200).map(|a| mv(a, a as f32 / 2.0)).collect();
    burst.extend((0..10).map(|i| sp(10 + 2 * i, i % 2 == 1)));
    srv.update_many(burst).await.unwrap();
    peer.send("GO").await;
    assert_eq!(peer.expect("PACKED_OK").await, "PACKED_OK 200 10");
    peer.send("DONE").await;
}
