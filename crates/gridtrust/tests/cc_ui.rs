//! The control-room web UI served by the cc (`[ui]`), so a hub cannot change the scripts people
//! sign commands with: pages and assets come from the cc's binary, only `/api/...` goes on to
//! the hub's API, the hub's certificate is checked against the operator CA and the configured
//! name, the browser's session (cookie, event stream) works through it, and the hub counts
//! failed logins per the browser's address, not the cc's.

#[path = "support/common.rs"]
mod common;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use gridtrust::chain::{Chain, ChainOptions, DEMO_USERS, IDENTITIES};
use gridtrust_cc::UiConfig;
use gridtrust_cc::ui::UiServer;
use gridtrust_pki::DevPki;
use gridtrust_transport::identity::Identity;

/// What the fake hub answers every request with, so a forwarded answer is recognisable.
const FAKE_HUB_BODY: &str = "{\"from\":\"fake-hub\"}";

struct Resp {
    status: u16,
    headers: String,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn cookie(&self) -> Option<String> {
        Some(self.header("set-cookie")?.split(';').next()?.to_owned())
    }
}

/// Connects to `to` from the loopback address `from` (a browser on its own address).
async fn connect(from: &str, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    socket.connect(to).await.unwrap()
}

fn request(method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> String {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", b.len()));
    }
    req.push_str("\r\n");
    req.push_str(body.unwrap_or(""));
    req
}

/// One request on its own connection from `from`, read to the end.
async fn http(from: &str, to: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Resp {
    let mut s = connect(from, to).await;
    s.write_all(request(method, path, headers, body).as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut raw)).await.expect("answer in time").unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("headers");
    let headers = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = headers.split(' ').nth(1).unwrap().parse().unwrap();
    let mut body = raw[split + 4..].to_vec();
    if headers.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    Resp { status, headers, body }
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

/// An HTTPS server presenting `identity`'s certificate that records the request line of every
/// request it reads and answers each with [`FAKE_HUB_BODY`].
async fn fake_hub(identity: &Identity) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let acceptor = tokio_rustls::TlsAcceptor::from(identity.https_server_config().unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, record) = (acceptor.clone(), record.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if tls.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let line = String::from_utf8_lossy(&head).lines().next().unwrap_or_default().to_owned();
                record.lock().unwrap().push(line);
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{FAKE_HUB_BODY}",
                    FAKE_HUB_BODY.len()
                );
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (addr, seen)
}

/// The operator PKI of the chain (`pki/`), and the cc's UI on plain HTTP on loopback in front of
/// an HTTPS hub API at `hub_api` that must carry `hub_api_name`.
async fn cc_ui(pki: &Path, hub_api: SocketAddr, hub_api_name: &str) -> UiServer {
    let config = UiConfig {
        listen: "127.0.0.1:0".into(),
        hub_api: hub_api.to_string(),
        hub_api_name: hub_api_name.into(),
        plain_http_on_loopback: true,
        hub_api_plain_http_on_loopback: false,
    };
    gridtrust_cc::ui::start(&config, &common::identity_in(pki, "cc-1"), Path::new("cc.toml")).await.unwrap()
}

fn web_asset(path: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/assets").join(path)).unwrap()
}

#[tokio::test]
async fn the_cc_serves_the_embedded_ui_itself_and_forwards_only_api_paths() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    DevPki::generate(&pki, &IDENTITIES).unwrap();
    let (hub_addr, seen) = fake_hub(&common::identity_in(&pki, "hub")).await;
    let ui = cc_ui(&pki, hub_addr, "hub").await;

    let page = http("127.0.0.1", ui.addr, "GET", "/", &[], None).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.body, web_asset("index.html"), "the page is the embedded bundle's");
    assert_eq!(page.header("content-security-policy"), Some(gridtrust_web::CONTENT_SECURITY_POLICY));
    let script = page.text().split("src=\"/assets/").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let asset = http("127.0.0.1", ui.addr, "GET", &format!("/assets/{script}"), &[], None).await;
    assert_eq!(asset.status, 200);
    assert_eq!(asset.body, web_asset(&format!("assets/{script}")), "the script is the embedded bundle's");
    assert_eq!(asset.header("content-security-policy"), Some(gridtrust_web::CONTENT_SECURITY_POLICY));
    let docs = http("127.0.0.1", ui.addr, "GET", "/api/docs", &[], None).await;
    assert_eq!((docs.status, docs.body), (200, web_asset("docs.html")), "the API reference page is the cc's too");

    for (method, path) in
        [("GET", "/index.html"), ("GET", "/nothing"), ("GET", "/healthz"), ("GET", "/metrics"), ("POST", "/"), ("GET", "/api")]
    {
        let r = http("127.0.0.1", ui.addr, method, path, &[], (method == "POST").then_some("{}")).await;
        assert!(!r.text().contains("fake-hub"), "{method} {path} was answered by the hub: {}", r.text());
    }
    let data = http("127.0.0.1", ui.addr, "GET", "/api/values?limit=1", &[("X-Forwarded-For", "203.0.113.1")], None).await;
    assert_eq!((data.status, data.text().as_str()), (200, FAKE_HUB_BODY), "an API path goes to the hub");
    assert!(data.header("content-security-policy").is_some_and(|p| p.contains("sandbox")), "{}", data.headers);
    let login = http("127.0.0.1", ui.addr, "POST", "/api/login", &[], Some("{}")).await;
    assert_eq!(login.text(), FAKE_HUB_BODY);

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen, ["GET /api/values?limit=1 HTTP/1.1", "POST /api/login HTTP/1.1"], "only /api/ requests reach the hub");
}

#[tokio::test]
async fn a_hub_api_with_a_certificate_of_another_ca_or_another_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (pki, other) = (dir.path().join("pki"), dir.path().join("other-pki"));
    DevPki::generate(&pki, &IDENTITIES).unwrap();
    DevPki::generate(&other, &IDENTITIES).unwrap();
    for (hub_pki, name, why) in
        [(&other, "hub", "a hub certificate from another CA"), (&pki, "hub-2", "a certificate without the configured name")]
    {
        let (hub_addr, seen) = fake_hub(&common::identity_in(hub_pki, "hub")).await;
        let ui = cc_ui(&pki, hub_addr, name).await;
        let r = http("127.0.0.1", ui.addr, "GET", "/api/me", &[("Cookie", "gridtrust_session=secret")], None).await;
        assert_eq!(r.status, 502, "{why}: {}", r.text());
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["error"], "bad_gateway", "{why}");
        assert!(seen.lock().unwrap().is_empty(), "{why}: the request reached it: {:?}", seen.lock().unwrap());
    }
}

#[tokio::test]
async fn plain_http_off_loopback_refuses_to_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    DevPki::generate(&pki, &IDENTITIES).unwrap();
    let config = UiConfig {
        listen: "0.0.0.0:0".into(),
        hub_api: "127.0.0.1:1".into(),
        hub_api_name: "hub".into(),
        plain_http_on_loopback: true,
        hub_api_plain_http_on_loopback: false,
    };
    let Err(e) = gridtrust_cc::ui::start(&config, &common::identity_in(&pki, "cc-1"), Path::new("cc.toml")).await else {
        panic!("plain HTTP on 0.0.0.0 started");
    };
    let e = e.to_string();
    assert!(e.contains("ui.plain_http_on_loopback") && e.contains("0.0.0.0"), "{e}");
}

#[tokio::test]
async fn a_browser_session_works_through_the_cc_and_logins_are_counted_per_browser_address() {
    let dir = tempfile::tempdir().unwrap();
    let extra = "login.max_failures_per_address = 2\nlogin.max_failures_per_user = 50\n";
    let options = ChainOptions { cc_ui_listen: Some("127.0.0.1:0".into()), api_extra: extra.into(), ..ChainOptions::for_tests(dir.path()) };
    let chain = Chain::start(&options).await.unwrap();
    let ui = chain.cc.ui_addr().expect("the chain's cc serves the UI");
    let (name, password) = (DEMO_USERS[1].0, DEMO_USERS[1].1);
    let login = |user: &str, pass: &str| format!("{{\"username\":\"{user}\",\"password\":\"{pass}\"}}");

    // Logged in through the cc, from the browser's own address.
    let ok = http("127.0.0.2", ui, "POST", "/api/login", &[], Some(&login(name, password))).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    let cookie = ok.cookie().expect("the hub's session cookie passes through the cc");
    assert!(cookie.starts_with("gridtrust_session="), "{cookie}");
    let me = http("127.0.0.2", ui, "GET", "/api/me", &[("Cookie", &cookie)], None).await;
    assert_eq!(me.status, 200, "{}", me.text());
    assert!(me.text().contains(name));
    let values = http("127.0.0.2", ui, "GET", "/api/values", &[("Cookie", &cookie)], None).await;
    assert_eq!(values.status, 200, "{}", values.text());
    assert!(serde_json::from_slice::<serde_json::Value>(&values.body).is_ok());

    // The event stream streams: events arrive while the response is still open.
    let mut stream = connect("127.0.0.2", ui).await;
    let sse = request("GET", "/api/events", &[("Cookie", &cookie), ("Accept", "text/event-stream")], None);
    stream.write_all(sse.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(20), async {
        while !String::from_utf8_lossy(&got).contains("event: value") {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "the stream closed: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
    });
    read.await.expect("a value event through the cc within 20 s");
    assert!(String::from_utf8_lossy(&got).to_ascii_lowercase().contains("content-type: text/event-stream"));
    drop(stream);

    // Two failed logins from 127.0.0.2 lock that address out, not the cc's.
    for user in ["nobody-1", "nobody-2"] {
        let r = http("127.0.0.2", ui, "POST", "/api/login", &[], Some(&login(user, "wrong"))).await;
        assert_eq!(r.status, 401, "{}", r.text());
    }
    let locked = http("127.0.0.2", ui, "POST", "/api/login", &[], Some(&login(name, password))).await;
    assert_eq!(locked.status, 429, "{}", locked.text());
    assert!(locked.text().contains("address 127.0.0.2"), "{}", locked.text());
    // Another browser is not locked out with it, and cannot claim another address either.
    let other = http("127.0.0.3", ui, "POST", "/api/login", &[("X-Forwarded-For", "127.0.0.2")], Some(&login(name, password))).await;
    assert_eq!(other.status, 200, "another browser behind the same cc: {}", other.text());
    chain.shutdown().await;
}
