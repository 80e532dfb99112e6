//! Attacks by and on people at the hub's web UI and API, on the real chain (simulated RTU ->
//! edge -> hub -> cc): password guessing (locked out per name and per address, audited, with an
//! alarm), a login flood (ingestion and `/healthz` keep their pace), plain HTTP off loopback
//! (refused at start) and HTTPS with the operator CA's certificate (`Secure` cookies, HSTS), and
//! a VIEWER flooding evidence lookups (the edge's batches keep being acknowledged at pace).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use gridtrust::chain::{Chain, ChainOptions};
use gridtrust_hub::{Hub, HubConfig};
use gridtrust_model::AlarmKind;
use gridtrust_store::translog::TransparencyLog;
use gridtrust_trust::checkpoint::LogEntry;

/// The flood tests time the hub against its own quiet baseline; a second chain of another test
/// in this file on the same 2 cores would skew both. Every test here runs alone.
static ALONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Resp {
    status: u16,
    headers: String,
    body: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    fn header(&self, name: &str) -> Option<String> {
        self.headers.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
    fn cookie(&self) -> Option<String> {
        Some(self.header("set-cookie")?.split(';').next()?.to_owned())
    }
}

fn dechunk(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(std::str::from_utf8(&rest[..i]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.extend_from_slice(&rest[i + 2..i + 2 + size]);
        rest = &rest[i + 2 + size + 2..];
    }
    out
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, method: &str, path: &str, cookie: Option<&str>, body: Option<&str>) -> Resp {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n");
    if let Some(c) = cookie {
        req.push_str(&format!("Cookie: {c}\r\n"));
    }
    if method != "GET" {
        req.push_str("X-Gridtrust-CSRF: 1\r\n");
    }
    if let Some(b) = body {
        req.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", b.len()));
    }
    req.push_str("\r\n");
    req.push_str(body.unwrap_or(""));
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), s.read_to_end(&mut raw)).await.expect("answer in time").unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("headers");
    let headers = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = headers.split(' ').nth(1).unwrap().parse().unwrap();
    let mut body = raw[split + 4..].to_vec();
    if headers.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    Resp { status, headers, body: String::from_utf8_lossy(&body).into_owned() }
}

/// One plain HTTP request to `addr` from the local address `from` (any of 127/8 on Linux).
async fn call_from(from: [u8; 4], addr: SocketAddr, method: &str, path: &str, cookie: Option<&str>, body: Option<&str>) -> Resp {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    exchange(socket.connect(addr).await.unwrap(), method, path, cookie, body).await
}

async fn call(addr: SocketAddr, method: &str, path: &str, cookie: Option<&str>, body: Option<&str>) -> Resp {
    exchange(TcpStream::connect(addr).await.unwrap(), method, path, cookie, body).await
}

fn login_body(user: &str, password: &str) -> String {
    json!({"username": user, "password": password}).to_string()
}

async fn login(addr: SocketAddr, user: &str, password: &str) -> String {
    let r = call(addr, "POST", "/api/login", None, Some(&login_body(user, password))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.cookie().expect("session cookie")
}

/// The audit trail as stored by the hub, oldest first.
fn audit(hub: &Hub) -> Vec<Value> {
    let mut rows: Vec<Value> = hub.store().audit_newest(1000).unwrap().iter().map(|(_, b)| serde_json::from_slice(b).unwrap()).collect();
    rows.reverse();
    rows
}

fn audited(hub: &Hub, action: &str, outcome: &str, detail: &str) -> Option<Value> {
    audit(hub)
        .into_iter()
        .find(|e| e["action"] == action && e["outcome"] == outcome && e["detail"].as_str().is_some_and(|d| d.contains(detail)))
}

async fn eventually<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_guessing_is_locked_out_per_user_and_per_address_audited_with_an_alarm() {
    let _alone = ALONE.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let options = ChainOptions { api_extra: "login.lockout_s = 3".into(), ..ChainOptions::for_tests(dir.path()) };
    let chain = Chain::start(&options).await.unwrap();
    let api = chain.hub.api_addr.expect("api");

    // Per user: five wrong guesses, then even the right password is refused, without a check.
    for guess in 0..5 {
        let r = call(api, "POST", "/api/login", None, Some(&login_body("viewer", &format!("guess-{guess}")))).await;
        assert_eq!(r.status, 401, "guess {guess}: {}", r.body);
    }
    let r = call(api, "POST", "/api/login", None, Some(&login_body("viewer", "viewer-demo"))).await;
    assert_eq!(r.status, 429, "the right password during the lockout: {}", r.body);
    assert_eq!(r.json()["error"], "locked_out");
    assert!(r.header("retry-after").is_some_and(|s| s.parse::<u64>().is_ok_and(|s| (1..=3).contains(&s))), "{}", r.headers);
    let started = audited(&chain.hub, "login_lockout", "started", "user viewer").expect("lockout start audited");
    assert_eq!(started["remote"].as_str().map(|r| r.starts_with("127.0.0.1:")), Some(true), "{started}");
    let alarm = chain
        .hub
        .alarms(true)
        .into_iter()
        .find(|a| a.kind == AlarmKind::Login && a.message.contains("user viewer"))
        .expect("lockout alarm");
    assert_eq!(alarm.source, "api");

    // The end is audited with what the lockout refused; then the right password works again.
    let ended = eventually("the end of the lockout in the audit trail", Duration::from_secs(10), || {
        audited(&chain.hub, "login_lockout", "ended", "user viewer")
    })
    .await;
    assert!(ended["detail"].as_str().unwrap().contains("1 logins refused"), "{ended}");
    login(api, "viewer", "viewer-demo").await;

    // Per address: twenty failures from 127.0.0.1 (five above, fifteen spread over names so that
    // no name reaches its own limit) lock the address out, whatever name it tries next.
    for i in 0..15 {
        let user = ["operator", "auditor", "engineer", "viewer"][i % 4];
        let r = call(api, "POST", "/api/login", None, Some(&login_body(user, "wrong"))).await;
        assert_eq!(r.status, 401, "failure {i}: {}", r.body);
    }
    let r = call(api, "POST", "/api/login", None, Some(&login_body("auditor", "auditor-demo"))).await;
    assert_eq!(r.status, 429, "a right password from the locked-out address: {}", r.body);
    assert!(r.json()["message"].as_str().unwrap().contains("address 127.0.0.1"), "{}", r.body);
    assert!(audited(&chain.hub, "login_lockout", "started", "address 127.0.0.1").is_some(), "address lockout audited");
    assert!(
        chain.hub.alarms(true).iter().any(|a| a.kind == AlarmKind::Login && a.message.contains("address 127.0.0.1")),
        "address lockout alarm"
    );
    // Another address is not affected.
    let r = call_from([127, 0, 0, 2], api, "POST", "/api/login", None, Some(&login_body("auditor", "auditor-demo"))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    chain.shutdown().await;
}

/// Polls `/healthz` and `/metrics` in turn and, beside them, the hub's applied-batch counter
/// every 20 ms while `running`; returns the slowest of those answers and the longest time no
/// batch was applied.
async fn watch(chain: &Chain, running: Arc<AtomicBool>) -> (Duration, Duration) {
    let api = chain.hub.api_addr.expect("api");
    let batches = async {
        let mut last_count = chain.hub.stats().batches_applied.load(Ordering::Relaxed);
        let mut last_change = Instant::now();
        let mut longest_stall = Duration::ZERO;
        while running.load(Ordering::Relaxed) {
            let count = chain.hub.stats().batches_applied.load(Ordering::Relaxed);
            if count != last_count {
                last_count = count;
                last_change = Instant::now();
            }
            longest_stall = longest_stall.max(last_change.elapsed());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        longest_stall
    };
    let health = async {
        let mut slowest = Duration::ZERO;
        for path in ["/healthz", "/metrics"].into_iter().cycle() {
            if !running.load(Ordering::Relaxed) {
                break;
            }
            let asked = Instant::now();
            let r = call(api, "GET", path, None, None).await;
            assert_eq!(r.status, 200, "{path}");
            slowest = slowest.max(asked.elapsed());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        slowest
    };
    let (stall, slowest) = tokio::join!(batches, health);
    (slowest, stall)
}

/// Measures for `quiet` with nothing else going on, then while `attack` runs.
async fn baseline_then_under<F: Future<Output = ()>>(
    chain: &Chain,
    quiet: Duration,
    attack: F,
) -> ((Duration, Duration), (Duration, Duration)) {
    let running = Arc::new(AtomicBool::new(true));
    let stop = running.clone();
    let (baseline, ()) = tokio::join!(watch(chain, running.clone()), async move {
        tokio::time::sleep(quiet).await;
        stop.store(false, Ordering::Relaxed);
    });
    let running = Arc::new(AtomicBool::new(true));
    let stop = running.clone();
    let (under, ()) = tokio::join!(watch(chain, running.clone()), async move {
        attack.await;
        stop.store(false, Ordering::Relaxed);
    });
    (baseline, under)
}

async fn batches_flowing(chain: &Chain) {
    let applied = || chain.hub.stats().batches_applied.load(Ordering::Relaxed);
    let before = eventually("the first batches", Duration::from_secs(30), || (applied() > 0).then(applied)).await;
    eventually("more batches", Duration::from_secs(30), || (applied() > before + 3).then_some(())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_flood_does_not_starve_ingestion_or_healthz() {
    let _alone = ALONE.lock().await;
    let dir = tempfile::tempdir().unwrap();
    // Limits out of reach: the flood stands for many names from many addresses, so only the
    // bounded verification keeps the hub responsive.
    let extra = "login.max_failures_per_user = 100000\nlogin.max_failures_per_address = 100000";
    let chain = Chain::start(&ChainOptions { api_extra: extra.into(), ..ChainOptions::for_tests(dir.path()) }).await.unwrap();
    let api = chain.hub.api_addr.expect("api");
    batches_flowing(&chain).await;

    let flood = async {
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                tokio::spawn(async move {
                    let user = ["viewer", "operator", "auditor", "engineer"][i % 4];
                    call(api, "POST", "/api/login", None, Some(&login_body(user, &format!("wrong-{i}")))).await.status
                })
            })
            .collect();
        let mut statuses = Vec::new();
        for t in tasks {
            statuses.push(t.await.unwrap());
        }
        statuses
    };
    let statuses = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = statuses.clone();
    let ((base_health, base_stall), (health, stall)) =
        baseline_then_under(&chain, Duration::from_secs(3), async move { *sink.lock().unwrap() = flood.await }).await;
    let statuses = statuses.lock().unwrap().clone();
    eprintln!("quiet: /healthz {base_health:?}, stall {base_stall:?}; 200 wrong logins: /healthz {health:?}, stall {stall:?}");
    assert_eq!(statuses.len(), 200);
    assert!(statuses.iter().all(|s| [401, 503].contains(s)), "wrong logins are refused or shed: {statuses:?}");
    assert!(health < Duration::from_millis(500), "/healthz or /metrics took {health:?} during the login flood (quiet: {base_health:?})");
    assert!(
        stall < base_stall * 2 + Duration::from_millis(750),
        "no batch applied for {stall:?} during the login flood (quiet: {base_stall:?})"
    );
    // A person with the right password still gets in once the flood has passed.
    login(api, "viewer", "viewer-demo").await;
    chain.shutdown().await;
}

/// A copy of the chain's hub configuration with its own data folder, for a second hub.
fn second_hub_config(chain: &Chain, name: &str, edit: impl Fn(String) -> String) -> std::path::PathBuf {
    let text = std::fs::read_to_string(chain.config_dir.join("hub.toml")).unwrap();
    let text = text.replace("data_dir = \"hub-data\"", &format!("data_dir = \"{name}-data\""));
    // The chain's hub listens on fixed ports (its passkey origin and its edge's and cc's files
    // name them): the second hub listens on any.
    let any_port = |l: &str| {
        for key in ["listen", "edge_listen", "cc_listen"] {
            if l.starts_with(&format!("{key} = \"127.0.0.1:")) {
                return format!("{key} = \"127.0.0.1:0\"");
            }
        }
        l.to_owned()
    };
    let text = text.lines().map(any_port).collect::<Vec<_>>().join("\n");
    let path = chain.config_dir.join(format!("{name}.toml"));
    std::fs::write(&path, edit(text)).unwrap();
    path
}

fn without_plain_http(text: String) -> String {
    text.lines().filter(|l| !l.starts_with("plain_http_on_loopback")).collect::<Vec<_>>().join("\n")
}

async fn https_call(
    connector: &tokio_rustls::TlsConnector,
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    body: Option<&str>,
) -> Result<Resp, std::io::Error> {
    let tcp = TcpStream::connect(addr).await?;
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await?;
    Ok(exchange(tls, method, path, cookie, body).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_off_loopback_refuses_to_start_and_https_serves_secure_cookies_with_hsts() {
    let _alone = ALONE.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let chain = Chain::start(&ChainOptions::for_tests(dir.path())).await.unwrap();

    // Plain HTTP asked for on every interface: a start error naming the key.
    let path = second_hub_config(&chain, "open-hub", |text| {
        without_plain_http(text).replacen("\nlisten = \"127.0.0.1:0\"", "\nlisten = \"0.0.0.0:0\"\nplain_http_on_loopback = true", 1)
    });
    let err = match HubConfig::load(&path) {
        Err(e) => e.to_string(),
        Ok(config) => match Hub::start(&config).await {
            Err(e) => e.to_string(),
            Ok(hub) => {
                let at = hub.api_addr;
                hub.shutdown();
                panic!("a hub serving plain HTTP on {at:?} started");
            }
        },
    };
    assert!(err.contains("api.plain_http_on_loopback") && err.contains("loopback address"), "{err}");

    // Without the key the listener speaks HTTPS with the hub's certificate from the operator CA.
    let path = second_hub_config(&chain, "https-hub", without_plain_http);
    let hub = Hub::start(&HubConfig::load(&path).unwrap()).await.unwrap();
    let api = hub.api_addr.expect("api");
    let mut plain = TcpStream::connect(api).await.unwrap();
    plain.write_all(b"GET /healthz HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), plain.read_to_end(&mut answer)).await;
    assert!(!answer.starts_with(b"HTTP/"), "plain HTTP answered on the HTTPS listener: {}", String::from_utf8_lossy(&answer));

    let mut roots = rustls::RootCertStore::empty();
    let ca = gridtrust_pki::load_chain(&chain.config_dir.join("pki/ca.crt.pem")).unwrap();
    roots.add(ca[0].clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let r = https_call(&connector, api, "GET", "/healthz", None, None).await.expect("HTTPS with the operator CA");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("strict-transport-security").as_deref(), Some("max-age=31536000"), "{}", r.headers);
    let r = https_call(&connector, api, "GET", "/", None, None).await.unwrap();
    assert!(r.header("strict-transport-security").is_some(), "the web UI carries HSTS too: {}", r.headers);
    let r = https_call(&connector, api, "POST", "/api/login", None, Some(&login_body("viewer", "viewer-demo"))).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let cookie = r.header("set-cookie").unwrap();
    assert!(cookie.split(';').any(|a| a.trim() == "Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let me = https_call(&connector, api, "GET", "/api/me", Some(&r.cookie().unwrap()), None).await.unwrap();
    assert_eq!(me.json()["username"], "viewer");

    // A client that does not trust the operator CA is refused by its own TLS, as a browser would warn.
    let stranger = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    assert!(https_call(&tokio_rustls::TlsConnector::from(Arc::new(stranger)), api, "GET", "/healthz", None, None).await.is_err());
    hub.shutdown();

    // `[api] tls` names another certificate (a public CA's, say): browsers see that one.
    let web = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(chain.config_dir.join("web.crt.pem"), web.cert.pem()).unwrap();
    std::fs::write(chain.config_dir.join("web.key.pem"), web.signing_key.serialize_pem()).unwrap();
    let path = second_hub_config(&chain, "web-cert-hub", |text| {
        without_plain_http(text).replacen(
            "\nusers = \"users.toml\"",
            "\nusers = \"users.toml\"\ntls = { certificate = \"web.crt.pem\", key = \"web.key.pem\" }",
            1,
        )
    });
    let hub = Hub::start(&HubConfig::load(&path).unwrap()).await.unwrap();
    let api = hub.api_addr.expect("api");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(web.cert.der().clone()).unwrap();
    let trusts_web = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let r = https_call(&tokio_rustls::TlsConnector::from(Arc::new(trusts_web)), api, "GET", "/healthz", None, None)
        .await
        .expect("HTTPS with the file pair");
    assert_eq!((r.status, r.header("strict-transport-security").is_some()), (200, true), "{}", r.headers);
    assert!(https_call(&connector, api, "GET", "/healthz", None, None).await.is_err(), "the hub's identity is not what it serves now");
    hub.shutdown();
    chain.shutdown().await;
}

/// A year of history, roughly: entries the hub's log already holds when it starts, so that a
/// lookup that walks the log has far to go.
fn prefill_log(dir: &Path, entries: u64) {
    std::fs::create_dir_all(dir.join("hub-data")).unwrap();
    let mut log = TransparencyLog::open(dir.join("hub-data/log.redb")).unwrap();
    let filler: Vec<Vec<u8>> =
        (0..entries).map(|i| LogEntry::ConfigChange { key: "history".into(), value: format!("earlier entry {i}") }.encode()).collect();
    log.append_many(&filler).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_flooding_evidence_lookups_does_not_slow_the_edges_acknowledgements() {
    let _alone = ALONE.lock().await;
    let dir = tempfile::tempdir().unwrap();
    prefill_log(dir.path(), 50_000);
    let chain = Chain::start(&ChainOptions::for_tests(dir.path())).await.unwrap();
    let api = chain.hub.api_addr.expect("api");
    batches_flowing(&chain).await;
    let viewer = login(api, "viewer", "viewer-demo").await;
    let path = "/api/evidence?point=F1%2FMMXU1.TotW";
    let first = call(api, "GET", path, Some(&viewer), None).await;
    assert_eq!(first.status, 200, "{}", first.body);

    let lookups = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = lookups.clone();
    let viewer2 = viewer.clone();
    let flood = async move {
        let until = Instant::now() + Duration::from_secs(5);
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (cookie, counted) = (viewer2.clone(), counted.clone());
                tokio::spawn(async move {
                    while Instant::now() < until {
                        let r = call(api, "GET", path, Some(&cookie), None).await;
                        assert_eq!(r.status, 200, "{}", r.body);
                        counted.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    };
    let ((base_health, base_stall), (health, stall)) = baseline_then_under(&chain, Duration::from_secs(4), flood).await;
    let lookups = lookups.load(Ordering::Relaxed);
    eprintln!("quiet: /healthz {base_health:?}, stall {base_stall:?}; {lookups} evidence lookups: /healthz {health:?}, stall {stall:?}");
    assert!(
        stall < base_stall * 2 + Duration::from_millis(750),
        "no batch applied for {stall:?} during the lookups (quiet: {base_stall:?})"
    );
    assert!(health < Duration::from_millis(500), "/healthz or /metrics took {health:?} during the lookups (quiet: {base_health:?})");

    // The lookups found their headers in the log by the index: once a checkpoint covers the
    // value's batch, its evidence carries the log inclusion.
    let mut proven = None;
    for _ in 0..50 {
        let ev = call(api, "GET", path, Some(&viewer), None).await.json();
        if ev["log"].is_object() {
            proven = Some(ev);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ev = proven.expect("evidence with a log inclusion");
    assert!(ev["log"]["leaf_index"].as_u64().unwrap() >= 50_000, "the header is after the prefilled history: {}", ev["log"]);
    chain.shutdown().await;
}
