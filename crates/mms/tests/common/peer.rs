//! Starts the libiec61850 server (PyPI pyiec61850-ng, tests/peer/iec61850_server.py) on a free
//! loopback port, waits for its READY line, and stops it on drop (also when a test fails).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

pub struct Iec61850Server {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    pub addr: SocketAddr,
}

/// The logical device name of the server model (IED "simpleIO" + LD inst "GenericIO").
pub const LD: &str = "simpleIOGenericIO";

fn python_has_peer() -> bool {
    Command::new("python3")
        .args(["-c", "import pyiec61850.pyiec61850"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Iec61850Server {
    /// Starts the server, or returns None (after printing a notice) when pyiec61850-ng is not
    /// installed and GRIDTRUST_REQUIRE_PEERS is unset.
    pub fn start(test: &str) -> Option<Iec61850Server> {
        Self::start_with(test, None, &[])
    }

    /// Starts the server with extra arguments (e.g. `--tls CA CRL CERT KEY`), on `port` when it
    /// is given and free, else on a free port.
    pub fn start_with(test: &str, port: Option<u16>, args: &[&std::ffi::OsStr]) -> Option<Iec61850Server> {
        if !python_has_peer() {
            assert!(
                std::env::var_os("GRIDTRUST_REQUIRE_PEERS").is_none(),
                "{test}: pyiec61850-ng is required (GRIDTRUST_REQUIRE_PEERS) but not installed"
            );
            eprintln!("SKIP {test}: pyiec61850-ng is not installed (pip install pyiec61850-ng)");
            return None;
        }
        // Through the crate's own name, so that other crates' tests can include this file too.
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../mms/tests/peer/iec61850_server.py");
        let mut preferred = port.filter(|p| TcpListener::bind(("127.0.0.1", *p)).is_ok());
        for _attempt in 0..5 {
            let port = match preferred.take() {
                Some(port) => port,
                None => TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port"),
            };
            let mut child = Command::new("python3")
                .arg(script)
                .arg(port.to_string())
                .args(args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start python3");
            let stdin = child.stdin.take().expect("stdin");
            let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
            let mut line = String::new();
            let _ = stdout.read_line(&mut line);
            let server = Iec61850Server { child, stdin, stdout, addr: SocketAddr::from(([127, 0, 0, 1], port)) };
            if line.trim() == "READY" {
                return Some(server);
            }
            eprintln!("{test}: server on port {port} did not start ({line:?}), retrying");
        }
        panic!("{test}: the libiec61850 server did not start");
    }

    /// Sends one command line ("float REF VALUE", "bool REF 0|1") and waits for OK.
    pub fn command(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("write to server");
        let mut answer = String::new();
        self.stdout.read_line(&mut answer).expect("read from server");
        assert_eq!(answer.trim(), "OK", "server refused {line:?}");
    }
}

impl Drop for Iec61850Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
