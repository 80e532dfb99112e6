//! MMS over TLS (IEC 62351-4 with the IEC 62351-3 profile) against libiec61850 1.6's own TLS
//! server (PyPI pyiec61850-ng: `TLSConfiguration` + `IedServer_createWithTlsSupport`, mbedtls
//! inside), with certificates from a development PKI of ours (DevPki) and a second, foreign one:
//! - our client associates, reads and receives reports over TLS 1.3 and over TLS 1.2 (the
//!   version 62351-3 Ed. 2 requires), with an ECDHE AES-GCM suite, and resumes a TLS 1.2 session;
//! - libiec61850 refuses our client when its certificate is foreign or revoked;
//! - our client refuses an IED whose certificate is foreign, revoked or for another name;
//! - the edge adapter, configured with `[tls]`, turns reports into datums over TLS;
//! - tshark sees a TLS handshake on port 3782 (when free) and no malformed frame.
//!
//! Skips with a notice when pyiec61850-ng (or tshark) is missing, unless GRIDTRUST_REQUIRE_PEERS
//! is set.

mod common;

use std::ffi::OsStr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::peer::{Iec61850Server, LD};
use common::tshark::Capture;
use gridtrust_keys::KeyConfig;
use gridtrust_mms::adapter::IedConfig;
use gridtrust_mms::data::{Data, ObjectName};
use gridtrust_mms::report::{Report, ReportControlBlock, ReportSettings, ReportStream, trigger};
use gridtrust_mms::tls::{IEC62351_MMS_TLS_PORT, IedTlsConfig};
use gridtrust_mms::{ClientConfig, DriverError, MmsClient};
use gridtrust_pki::{DEV_VALIDITY, DevPki, IdentityKind, RevocationReason, Role};
use rustls::pki_types::ServerName;

const CID: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peer/simpleIO_peer.cid");

/// Our PKI (with a revoked client and a revoked IED) and a foreign one with the same names.
struct Pkis {
    _dir: tempfile::TempDir,
    ours: DevPki,
    foreign: DevPki,
}

fn pkis() -> Pkis {
    let dir = tempfile::tempdir().unwrap();
    let roles: &[Role] = &[Role::Viewer, Role::Operator];
    let names = ["edge-1", "ied-1", "revoked-edge", "revoked-ied"];
    let identities: Vec<_> = names.iter().map(|n| (IdentityKind::Edge, *n, roles)).collect();
    let ours = DevPki::generate(&dir.path().join("ours"), &identities).unwrap();
    let ca = ours.ca().unwrap();
    for entry in ca.list().unwrap().into_iter().filter(|e| e.name.starts_with("revoked-")) {
        ca.revoke(entry.serial, RevocationReason::KeyCompromise).unwrap();
    }
    ca.crl(DEV_VALIDITY).unwrap();
    let foreign = DevPki::generate(&dir.path().join("foreign"), &identities[..2]).unwrap();
    Pkis { _dir: dir, ours, foreign }
}

/// The `[tls]` table for client `name` of `pki`, trusting `pki`'s CA.
fn tls_config(pki: &DevPki, name: &str) -> IedTlsConfig {
    let files = pki.files(name);
    IedTlsConfig::new(pki.ca_cert(), pki.crl(), files.cert, KeyConfig::Software { path: files.key }, None)
}

/// A libiec61850 TLS server presenting `name` of `pki` and trusting `pki`'s CA and CRL.
fn tls_server(test: &str, pki: &DevPki, name: &str, version: Option<&str>, port: Option<u16>) -> Option<Iec61850Server> {
    let files = pki.files(name);
    let (ca, crl) = (pki.ca_cert(), pki.crl());
    let mut args: Vec<&OsStr> = vec!["--tls".as_ref(), ca.as_ref(), crl.as_ref(), files.cert.as_ref(), files.key.as_ref()];
    if let Some(version) = version {
        args.extend(["--tls-version".as_ref(), OsStr::new(version)]);
    }
    Iec61850Server::start_with(test, port, &args)
}

async fn connect(server: &Iec61850Server, client: &IedTlsConfig, name: &str) -> Result<MmsClient, DriverError> {
    let config = client.client_config().expect("client TLS configuration");
    connect_with(server, config, name).await
}

async fn connect_with(server: &Iec61850Server, config: Arc<rustls::ClientConfig>, name: &str) -> Result<MmsClient, DriverError> {
    let server_name = ServerName::try_from(name.to_owned()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), MmsClient::connect_tls(server.addr, server_name, config, ClientConfig::default()))
        .await
        .expect("connect_tls ends within 10 s")
}

async fn next_report(reports: &mut ReportStream) -> Report {
    tokio::time::timeout(Duration::from_secs(10), reports.next())
        .await
        .expect("a report within 10 s")
        .expect("association open")
        .expect("report decodes")
}

/// Reads a value, enables the unbuffered RCB and checks the GI report and a data-change report.
async fn read_and_report(server: &mut Iec61850Server, client: &MmsClient) {
    let value = client.read_value(&ObjectName::domain(LD, "GGIO1$ST$SPCSO1$stVal")).await.unwrap();
    assert_eq!(value, Data::Boolean(false));
    let mut reports = client.reports();
    let rcb = ReportControlBlock { logical_device: LD.into(), logical_node: "LLN0".into(), name: "EventsRCB01".into(), buffered: false };
    client.enable_report(&rcb, &ReportSettings::default()).await.unwrap();
    let gi = next_report(&mut reports).await;
    assert_eq!(gi.entries.len(), 4);
    server.command(&format!("bool {LD}/GGIO1.SPCSO1.stVal 1"));
    let change = next_report(&mut reports).await;
    assert_eq!((change.entries[0].index, &change.entries[0].value), (0, &Data::Boolean(true)));
    assert!(change.entries[0].reason.as_ref().is_some_and(|r| r.get(trigger::DATA_CHANGE)));
    client.release().await.unwrap();
}

#[tokio::test]
async fn tls13_association_reads_and_receives_reports() {
    let test = "tls13_association_reads_and_receives_reports";
    let pkis = pkis();
    let Some(mut server) = tls_server(test, &pkis.ours, "ied-1", None, None) else { return };
    let client = connect(&server, &tls_config(&pkis.ours, "edge-1"), "ied-1").await.unwrap();
    let session = client.tls_session().expect("a TLS association").clone();
    assert_eq!(session.version, "TLSv1_3");
    assert!(session.cipher_suite.contains("AES") && session.cipher_suite.contains("GCM"), "{session:?}");
    assert!(!session.resumed);
    read_and_report(&mut server, &client).await;
}

#[tokio::test]
async fn tls12_association_uses_ecdhe_ecdsa_aes_gcm_and_resumes() {
    let test = "tls12_association_uses_ecdhe_ecdsa_aes_gcm_and_resumes";
    let pkis = pkis();
    let Some(mut server) = tls_server(test, &pkis.ours, "ied-1", Some("1.2"), None) else { return };
    let config = tls_config(&pkis.ours, "edge-1").client_config().unwrap();
    let client = connect_with(&server, config.clone(), "ied-1").await.unwrap();
    let session = client.tls_session().unwrap().clone();
    assert_eq!(session.version, "TLSv1_2");
    assert!(session.cipher_suite.starts_with("TLS_ECDHE_ECDSA_WITH_AES_") && session.cipher_suite.contains("GCM"), "{session:?}");
    read_and_report(&mut server, &client).await;
    // A second association with the same configuration resumes the TLS session (libiec61850's
    // session cache; it issues no TLS 1.3 tickets, so over 1.3 every handshake is a full one).
    let again = connect_with(&server, config, "ied-1").await.unwrap();
    assert!(again.tls_session().unwrap().resumed, "second handshake resumed: {:?}", again.tls_session());
    again.identify().await.unwrap();
    again.release().await.unwrap();
}

#[tokio::test]
async fn ied_refuses_foreign_and_revoked_client_certificates() {
    let test = "ied_refuses_foreign_and_revoked_client_certificates";
    let pkis = pkis();
    for version in ["1.3", "1.2"] {
        let Some(server) = tls_server(test, &pkis.ours, "ied-1", Some(version), None) else { return };
        // Control: the same server accepts our good client.
        let good = connect(&server, &tls_config(&pkis.ours, "edge-1"), "ied-1").await.unwrap();
        good.identify().await.unwrap();
        good.release().await.unwrap();
        // A foreign client that trusts the IED's CA (so only the IED's check can refuse it).
        let foreign = IedTlsConfig { ca: pkis.ours.ca_cert(), crl: pkis.ours.crl(), ..tls_config(&pkis.foreign, "edge-1") };
        let revoked = tls_config(&pkis.ours, "revoked-edge");
        // Over TLS 1.2 the IED's alert names the reason; over 1.3 our side of the handshake is
        // complete before the IED checks our certificate, so the refusal is the IED dropping the
        // connection before the MMS association (the control above shows it is the certificate).
        for (what, client, alert) in [("foreign", foreign, "UnknownCA"), ("revoked", revoked, "CertificateRevoked")] {
            match connect(&server, &client, "ied-1").await {
                Err(DriverError::Tls(message)) if version == "1.2" => assert!(message.contains(alert), "{what}: {message}"),
                Err(e) if version == "1.3" => eprintln!("TLS 1.3, {what} client refused: {e}"),
                other => panic!("TLS {version}: libiec61850 did not refuse a {what} client as expected: {other:?}"),
            }
        }
    }
}

#[tokio::test]
async fn client_refuses_foreign_revoked_and_misnamed_ied_certificates() {
    let test = "client_refuses_foreign_revoked_and_misnamed_ied_certificates";
    let pkis = pkis();
    let client = tls_config(&pkis.ours, "edge-1");
    let cases = [
        // The foreign CA carries the same name as ours: its signature is what gives it away.
        ("foreign", &pkis.foreign, "ied-1", "ied-1", "BadSignature"),
        ("revoked", &pkis.ours, "revoked-ied", "revoked-ied", "Revoked"),
        ("misnamed", &pkis.ours, "ied-1", "ied-2", "not valid for name \"ied-2\""),
    ];
    for (what, pki, presented, dialled, expected) in cases {
        // The server trusts our client (our CA), so only our client's check can refuse.
        let files = pki.files(presented);
        let (ca, crl) = (pkis.ours.ca_cert(), pkis.ours.crl());
        let args: Vec<&OsStr> = vec!["--tls".as_ref(), ca.as_ref(), crl.as_ref(), files.cert.as_ref(), files.key.as_ref()];
        let Some(server) = Iec61850Server::start_with(test, None, &args) else { return };
        match connect(&server, &client, dialled).await {
            Err(DriverError::Tls(message)) => assert!(message.contains(expected), "{what}: {message}"),
            other => panic!("{what} IED certificate not refused in the handshake: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adapter_reads_an_ied_over_tls() {
    let test = "adapter_reads_an_ied_over_tls";
    let pkis = pkis();
    let Some(server) = tls_server(test, &pkis.ours, "ied-1", None, None) else { return };
    let state = tempfile::tempdir().unwrap();
    let files = pkis.ours.files("edge-1");
    let text = format!(
        "name = \"peer\"\nscl = {CID:?}\naddress = \"{}\"\nstate_dir = {:?}\n[tls]\nca = {:?}\ncrl = {:?}\ncertificate = {:?}\nkey = {{ kind = \"software\", path = {:?} }}\nserver_name = \"ied-1\"\n",
        server.addr,
        state.path(),
        pkis.ours.ca_cert(),
        pkis.ours.crl(),
        files.cert,
        files.key
    );
    let config: IedConfig = toml::from_str(&text).unwrap();
    config.validate().unwrap();
    let ((_port, mut data), io) = gridtrust_adapter::adapter_channels(&config.name, config.operated_points());
    let task = tokio::spawn(gridtrust_mms::adapter::run(config, io));
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 8 {
        let d = tokio::time::timeout(Duration::from_secs(10), data.recv()).await.expect("GI datums over TLS").unwrap();
        seen.insert(d.point.to_string());
    }
    assert!(seen.contains("simpleIOGenericIO/GGIO1.AnIn1.mag.f[MX]"), "{seen:?}");
    task.abort();
    drop(server);
}

#[test]
fn tls_table_errors_name_the_key() {
    let pkis = pkis();
    let base = format!("name = \"peer\"\nscl = {CID:?}\n");
    let validate = |tls: &IedTlsConfig| {
        let mut config: IedConfig = toml::from_str(&base).unwrap();
        config.tls = Some(tls.clone());
        config.validate().unwrap_err()
    };
    let good = tls_config(&pkis.ours, "edge-1");
    let missing = IedTlsConfig { certificate: Path::new("/nonexistent/edge.crt.pem").to_owned(), ..good.clone() };
    assert_eq!(validate(&missing).0, "tls.certificate");
    let wrong_key = IedTlsConfig { key: KeyConfig::Software { path: pkis.ours.files("ied-1").key }, ..good.clone() };
    assert_eq!(validate(&wrong_key).0, "tls.key");
    let no_crl = IedTlsConfig { crl: pkis.ours.dir().join("missing.crl.pem"), ..good.clone() };
    assert_eq!(validate(&no_crl).0, "tls.crl");
    let bad_name = IedTlsConfig { server_name: Some("not a name!".into()), ..good.clone() };
    assert_eq!(validate(&bad_name).0, "tls.server_name");
    let mut config: IedConfig = toml::from_str(&base).unwrap();
    config.tls = Some(good);
    config.validate().unwrap();
    let unknown = format!(
        "{base}[tls]\nca = \"a\"\ncrl = \"b\"\ncertificate = \"c\"\nkey = {{ kind = \"software\", path = \"d\" }}\nsevrer_name = \"x\"\n"
    );
    assert!(toml::from_str::<IedConfig>(&unknown).unwrap_err().to_string().contains("sevrer_name"));
}

#[tokio::test]
async fn tshark_sees_a_tls_handshake_on_the_mms_tls_port() {
    let test = "tshark_sees_a_tls_handshake_on_the_mms_tls_port";
    let pkis = pkis();
    let Some(mut server) = tls_server(test, &pkis.ours, "ied-1", Some("1.2"), Some(IEC62351_MMS_TLS_PORT)) else { return };
    let port = server.addr.port();
    if port != IEC62351_MMS_TLS_PORT {
        eprintln!("{test}: port {IEC62351_MMS_TLS_PORT} is taken, capturing on {port}");
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(mut capture) = Capture::start(port, dir.path()) else { return };
    let client = connect(&server, &tls_config(&pkis.ours, "edge-1"), "ied-1").await.unwrap();
    read_and_report(&mut server, &client).await;
    capture.stop().await;

    let decode = format!("tcp.port=={port},tls");
    let malformed = capture.fields(&decode, "_ws.malformed || _ws.expert.severity >= \"error\"", "frame.number");
    let handshakes = capture.fields(&decode, "tls.handshake.type", "tls.handshake.type");
    let versions = capture.fields(&decode, "tls.handshake.type == 2", "tls.handshake.version");
    let application = capture.fields(&decode, "tls.record.content_type == 23", "frame.number");
    let plain_mms = capture.fields(&format!("tcp.port=={port},tpkt"), "mms", "frame.number");
    assert!(malformed.is_empty(), "malformed or erroneous frames: {malformed:?}");
    let types: Vec<&str> = handshakes.iter().flat_map(|h| h.split(',')).collect();
    // 1 ClientHello, 2 ServerHello, 11 Certificate (both ways), 13 CertificateRequest, 15 CertificateVerify.
    for t in ["1", "2", "11", "13", "15"] {
        assert!(types.contains(&t), "handshake type {t} not seen: {types:?}");
    }
    assert!(types.iter().filter(|t| **t == "11").count() >= 2, "certificates from both sides: {types:?}");
    assert_eq!(versions, ["0x0303"], "one TLS 1.2 ServerHello");
    assert!(application.len() >= 6, "MMS carried as TLS application data: {application:?}");
    assert!(plain_mms.is_empty(), "no MMS readable in clear: frames {plain_mms:?}");
}
