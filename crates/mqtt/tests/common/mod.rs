//! Peers for the MQTT tests and the end-to-end benchmark: a Debian `mosquitto` broker started
//! from a configuration written to a temporary folder (a plain listener, optionally a mutual
//! TLS 1.3 listener, persistence in the folder), test certificates, and the Eclipse Paho Python
//! publisher in `tests/peers/`. Everything started here is stopped when dropped.
#![allow(dead_code)] // Each test binary uses a different part.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gridtrust_mqtt::config::TlsFiles;

/// How long a broker may take to accept connections.
const READY: Duration = Duration::from_secs(20);

/// Whether `program --help`-style probing finds the peer; without it, the test skips with a
/// notice unless GRIDTRUST_REQUIRE_PEERS is set, in which case it fails.
pub fn peer_available(test: &str, what: &str, probe: &mut Command) -> bool {
    let ok = probe.stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("GRIDTRUST_REQUIRE_PEERS").is_none(),
            "{test}: {what} is required (GRIDTRUST_REQUIRE_PEERS) but not installed"
        );
        eprintln!("SKIPPED {test}: {what} is not installed");
    }
    ok
}

/// True when the mosquitto broker can be run.
pub fn mosquitto_available(test: &str) -> bool {
    peer_available(test, "mosquitto (apt install mosquitto)", Command::new("sh").args(["-c", "command -v mosquitto"]))
}

/// True when the Paho Python client is installed.
pub fn paho_available(test: &str) -> bool {
    peer_available(test, "paho-mqtt (pip install paho-mqtt)", Command::new("python3").args(["-c", "import paho.mqtt.client"]))
}

/// A free TCP port on 127.0.0.1 (the OS picks one; it is released for the peer to bind).
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// Certificates for a TLS listener and its clients.
pub struct TestPki {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// A client certificate from the broker's CA.
    pub client: TlsFiles,
    /// A client certificate from another CA (which the broker does not trust); its `ca` and
    /// `crl` are the foreign CA's.
    pub foreign_client: TlsFiles,
    /// A CRL of the broker's CA, newer than `client.crl`, that revokes the broker's certificate.
    pub crl_revoking_broker: PathBuf,
}

impl TestPki {
    /// Generates a CA, a server certificate for 127.0.0.1/localhost and client certificates
    /// (ECDSA P-256) into `dir`.
    pub fn generate(dir: &Path) -> TestPki {
        use rcgen::{
            BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
            KeyIdMethod, KeyPair, KeyUsagePurpose, RevocationReason, RevokedCertParams, SerialNumber,
        };
        let write = |name: &str, text: String| {
            let p = dir.join(name);
            std::fs::write(&p, text).expect("write PEM");
            p
        };
        let make_ca = |cn: &str| {
            let key = KeyPair::generate().expect("key");
            let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.distinguished_name.push(DnType::CommonName, cn);
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
            let cert = params.self_signed(&key).expect("CA certificate");
            (cert.pem(), Issuer::new(params, key))
        };
        const BROKER_SERIAL: u64 = 7;
        let leaf = |issuer: &Issuer<'_, KeyPair>, names: Vec<String>, cn: &str, usage: ExtendedKeyUsagePurpose| {
            let key = KeyPair::generate().expect("key");
            let mut params = CertificateParams::new(names).expect("params");
            if cn == "broker" {
                params.serial_number = Some(SerialNumber::from(BROKER_SERIAL));
            }
            params.distinguished_name.push(DnType::CommonName, cn);
            params.extended_key_usages = vec![usage];
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            (params.signed_by(&key, issuer).expect("certificate").pem(), key.serialize_pem())
        };
        let (ca_pem, ca) = make_ca("gridtrust MQTT test CA");
        let (foreign_pem, foreign) = make_ca("somebody else's CA");
        let (server_pem, server_key) =
            leaf(&ca, vec!["127.0.0.1".into(), "localhost".into()], "broker", ExtendedKeyUsagePurpose::ServerAuth);
        let (client_pem, client_key) = leaf(&ca, vec![], "edge-1", ExtendedKeyUsagePurpose::ClientAuth);
        let (foreign_client_pem, foreign_client_key) = leaf(&foreign, vec![], "intruder", ExtendedKeyUsagePurpose::ClientAuth);
        // CRLs: none revoked (now), and a later one revoking the broker.
        let now = time::OffsetDateTime::now_utc();
        let crl = |issuer: &Issuer<'_, KeyPair>, number: u64, this_update: time::OffsetDateTime, revoked: Option<u64>| {
            let params = CertificateRevocationListParams {
                this_update,
                next_update: this_update + time::Duration::days(30),
                crl_number: SerialNumber::from(number),
                issuing_distribution_point: None,
                revoked_certs: revoked
                    .map(|serial| RevokedCertParams {
                        serial_number: SerialNumber::from(serial),
                        revocation_time: this_update,
                        reason_code: Some(RevocationReason::KeyCompromise),
                        invalidity_date: None,
                    })
                    .into_iter()
                    .collect(),
                key_identifier_method: KeyIdMethod::Sha256,
            };
            params.signed_by(issuer).expect("CRL").pem().expect("CRL PEM")
        };
        let ca_crl = write("ca.crl.pem", crl(&ca, 1, now - time::Duration::minutes(1), None));
        let crl_revoking_broker = write("ca-revoking-broker.crl.pem", crl(&ca, 2, now, Some(BROKER_SERIAL)));
        let foreign_crl = write("foreign-ca.crl.pem", crl(&foreign, 1, now, None));
        let ca = write("ca.pem", ca_pem);
        let foreign_ca = write("foreign-ca.pem", foreign_pem);
        TestPki {
            server_cert: write("server.pem", server_pem),
            server_key: write("server.key", server_key),
            client: TlsFiles {
                ca: ca.clone(),
                crl: ca_crl,
                certificate: write("client.pem", client_pem),
                key: write("client.key", client_key),
            },
            foreign_client: TlsFiles {
                ca: foreign_ca,
                crl: foreign_crl,
                certificate: write("foreign-client.pem", foreign_client_pem),
                key: write("foreign-client.key", foreign_client_key),
            },
            ca,
            crl_revoking_broker,
        }
    }
}

/// A mosquitto broker of our own, on loopback ports, persisting its sessions and queued QoS 1
/// messages in a temporary folder so that they survive [`Mosquitto::restart`].
pub struct Mosquitto {
    dir: tempfile::TempDir,
    child: Option<Child>,
    pub port: u16,
    pub tls_port: Option<u16>,
}

impl Mosquitto {
    /// Starts a broker with a plain listener and, with `pki`, a TLS 1.3 listener that requires a
    /// client certificate from `pki.ca`; returns when both accept connections.
    pub fn start(pki: Option<&TestPki>) -> Mosquitto {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let tls_port = pki.map(|_| free_port());
        let mut conf = format!(
            "# Written by the gridtrust MQTT tests.\n\
             # As root, stay root so the broker can read the test's private files (no effect otherwise).\n\
             user root\n\
             per_listener_settings true\n\
             persistence true\n\
             persistence_location {}/\n\
             log_dest stderr\n\
             log_type error\n\
             log_type warning\n\
             max_queued_messages 1000000\n\
             listener {port} 127.0.0.1\n\
             allow_anonymous true\n",
            dir.path().display()
        );
        if let (Some(pki), Some(tls_port)) = (pki, tls_port) {
            conf.push_str(&format!(
                "listener {tls_port} 127.0.0.1\n\
                 allow_anonymous true\n\
                 cafile {}\n\
                 certfile {}\n\
                 keyfile {}\n\
                 require_certificate true\n\
                 tls_version tlsv1.3\n",
                pki.ca.display(),
                pki.server_cert.display(),
                pki.server_key.display()
            ));
        }
        std::fs::write(dir.path().join("mosquitto.conf"), conf).expect("write mosquitto.conf");
        let mut broker = Mosquitto { dir, child: None, port, tls_port };
        broker.launch();
        broker
    }

    fn launch(&mut self) {
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(self.dir.path().join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("mosquitto starts");
        self.child = Some(child);
        for port in std::iter::once(self.port).chain(self.tls_port) {
            self.wait_listening(port);
        }
    }

    /// Polls until the broker accepts TCP connections on `port` (readiness, not a fixed sleep).
    fn wait_listening(&mut self, port: u16) {
        let deadline = Instant::now() + READY;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("mosquitto exited with {status} before listening on {port}");
            }
            assert!(Instant::now() < deadline, "mosquitto did not listen on {port} within {READY:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the broker with SIGTERM (it saves sessions and queued messages on the way out)
    /// and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let deadline = Instant::now() + READY;
            while child.try_wait().ok().flatten().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    /// Stops the broker and starts it again on the same ports with the same persistence.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The Paho publisher script (`tests/peers/paho_meter.py`), killed when dropped.
pub struct Paho(pub tokio::process::Child);

impl Paho {
    /// Runs `paho_meter.py` with `args` (see the script), its stdout piped for progress lines.
    pub fn spawn(args: &[&str]) -> Paho {
        let script = format!("{}/tests/peers/paho_meter.py", env!("CARGO_MANIFEST_DIR"));
        let child = tokio::process::Command::new("python3")
            .arg("-u")
            .arg(script)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 starts");
        Paho(child)
    }

    /// Waits for the script to end and returns its stdout; panics when it failed.
    pub async fn finish(self, within: Duration) -> String {
        let out = tokio::time::timeout(within, self.0.wait_with_output())
            .await
            .expect("paho publisher finishes in time")
            .expect("paho publisher output");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "paho publisher failed: {stdout}");
        stdout
    }
}

/// An adapter's channels with this function standing in for the edge: a datum counts as
/// committed once the test's receiver (of `capacity`) took it, so the adapter acknowledges what
/// the test holds and nothing else. Returns the adapter's ends, the data and the command sender.
pub fn edge_stand_in(
    capacity: usize,
) -> (
    gridtrust_adapter::AdapterIo,
    tokio::sync::mpsc::Receiver<gridtrust_adapter::Datum>,
    tokio::sync::mpsc::Sender<gridtrust_adapter::DeviceCommand>,
) {
    let ((port, mut from_adapter), io) = gridtrust_adapter::adapter_channels("stand-in", Vec::new());
    let (to_test, data) = tokio::sync::mpsc::channel(capacity.max(1));
    tokio::spawn(async move {
        let mut committed = 0u64;
        while let Some(d) = from_adapter.recv().await {
            if to_test.send(d).await.is_err() {
                return;
            }
            committed += 1;
            port.durability.committed(committed);
        }
    });
    (io, data, port.commands)
}
