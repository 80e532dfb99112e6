//! The hub's HTTP API on the real chain (simulated RTU -> edge -> hub -> cc): every endpoint,
//! as each role, with the refusals (401 without a session, 403 for a missing role or CSRF
//! header, 400 with a message for bad input, 404 for unknown things) and never a 5xx; the
//! evidence re-checked here as the browser would; a passkey enrolled and approved by a SECADM, and
//! a web command with select-before-operate signed by it (an emulated authenticator) followed to
//! the device; the machine listener with a client certificate; and a tampered
//! batch shown as trust=failed with an alarm, then recovered.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use gridtrust::chain::{Chain, ChainOptions, DEMO_RP_ID};
use gridtrust_pki::{DevPki, IdentityKind, IssueRequest, PublicKey, Role};
use gridtrust_trust::merkle;
use gridtrust_trust::webauthn::base64url;

#[path = "support/passkey.rs"]
mod passkey;
use passkey::{Ceremony, Passkey, UP_UV};

struct Resp {
    status: u16,
    headers: String,
    body: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    fn cookie(&self) -> Option<String> {
        self.headers.lines().find_map(|l| {
            let v = l.strip_prefix("set-cookie: ").or_else(|| l.strip_prefix("Set-Cookie: "))?;
            Some(v.split(';').next()?.to_owned())
        })
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

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    csrf: bool,
    body: Option<&str>,
) -> Resp {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n");
    if let Some(c) = cookie {
        req.push_str(&format!("Cookie: {c}\r\n"));
    }
    if csrf {
        req.push_str("X-Gridtrust-CSRF: 1\r\n");
    }
    if let Some(b) = body {
        req.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", b.len()));
    }
    req.push_str("\r\n");
    req.push_str(body.unwrap_or(""));
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut raw)).await.expect("answer in time").unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("headers");
    let headers = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = headers.split(' ').nth(1).unwrap().parse().unwrap();
    let mut body = raw[split + 4..].to_vec();
    if headers.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    Resp { status, headers, body: String::from_utf8_lossy(&body).into_owned() }
}

/// An HTTP/1.1 client for the people's listener that records every status it saw.
struct Client {
    addr: SocketAddr,
    seen: std::sync::Mutex<Vec<(u16, String)>>,
}

impl Client {
    async fn call(&self, method: &str, path: &str, cookie: Option<&str>, body: Option<&str>) -> Resp {
        let csrf = method != "GET";
        self.raw(method, path, cookie, csrf, body).await
    }
    async fn raw(&self, method: &str, path: &str, cookie: Option<&str>, csrf: bool, body: Option<&str>) -> Resp {
        let r = exchange(TcpStream::connect(self.addr).await.unwrap(), method, path, cookie, csrf, body).await;
        self.seen.lock().unwrap().push((r.status, format!("{method} {path}")));
        r
    }
    async fn get(&self, path: &str, cookie: &str) -> Resp {
        self.call("GET", path, Some(cookie), None).await
    }
    async fn login(&self, user: &str, password: &str) -> String {
        let r = self.call("POST", "/api/login", None, Some(&json!({"username": user, "password": password}).to_string())).await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.cookie().expect("session cookie")
    }
    /// Asserts a JSON error with this status and code, and a message.
    async fn refused(&self, method: &str, path: &str, cookie: Option<&str>, body: Option<&str>, status: u16, code: &str) -> String {
        let r = self.call(method, path, cookie, body).await;
        assert_eq!(r.status, status, "{method} {path}: {}", r.body);
        let j = r.json();
        assert_eq!(j["error"], code, "{method} {path}: {}", r.body);
        let message = j["message"].as_str().unwrap().to_owned();
        assert!(!message.is_empty());
        message
    }
    fn assert_no_server_errors(&self) {
        let seen = self.seen.lock().unwrap();
        let bad: Vec<_> = seen.iter().filter(|(s, _)| *s >= 500).collect();
        assert!(bad.is_empty(), "5xx answers: {bad:?}");
    }
}

async fn eventually<T>(what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn hash(s: &str) -> merkle::Hash {
    unhex(s).try_into().unwrap()
}

/// What the browser does with `/api/evidence`: every step, on the bytes alone.
fn check_evidence_like_the_browser(ev: &Value) {
    let record = unhex(ev["record"]["canonical_hex"].as_str().unwrap());
    let leaf = merkle::leaf_hash(&record);
    let b = &ev["batch"];
    let root = hash(b["root_hex"].as_str().unwrap());
    let path: Vec<merkle::Hash> = ev["record_proof"]["path_hex"].as_array().unwrap().iter().map(|h| hash(h.as_str().unwrap())).collect();
    let rp = &ev["record_proof"];
    merkle::verify_inclusion(&leaf, rp["leaf_index"].as_u64().unwrap(), rp["tree_size"].as_u64().unwrap(), &path, &root)
        .expect("record in batch");
    let header = unhex(b["header_hex"].as_str().unwrap());
    let at = b["root_offset"].as_u64().unwrap() as usize;
    assert_eq!(&header[at..at + 32], root.as_slice(), "root inside the header at the documented offset");
    let input = unhex(b["signing_input_hex"].as_str().unwrap());
    assert!(input.ends_with(&header), "signing input ends with the header");
    let spki = base64::engine::general_purpose::STANDARD.decode(ev["signer"]["spki_der_b64"].as_str().unwrap()).unwrap();
    let sec1 = &spki[spki.len() - 65..];
    gridtrust_trust::signing::verify(sec1, &input, &unhex(b["signature_hex"].as_str().unwrap())).expect("edge signature");
    assert_eq!(ev["signer"]["valid"], true);
    assert_eq!(ev["hub_verdict"]["status"], "verified");
    if let Some(log) = ev["log"].as_object() {
        let c = &log["checkpoint"];
        let entry_leaf = merkle::leaf_hash(&unhex(log["leaf_hex"].as_str().unwrap()));
        let path: Vec<merkle::Hash> = log["path_hex"].as_array().unwrap().iter().map(|h| hash(h.as_str().unwrap())).collect();
        merkle::verify_inclusion(
            &entry_leaf,
            log["leaf_index"].as_u64().unwrap(),
            log["tree_size"].as_u64().unwrap(),
            &path,
            &hash(c["root_hex"].as_str().unwrap()),
        )
        .expect("header in the log");
        let hub_spki = base64::engine::general_purpose::STANDARD.decode(c["hub_spki_der_b64"].as_str().unwrap()).unwrap();
        gridtrust_trust::signing::verify(
            &hub_spki[hub_spki.len() - 65..],
            &unhex(c["signed_hex"].as_str().unwrap()),
            &unhex(c["signature_hex"].as_str().unwrap()),
        )
        .expect("checkpoint signature");
    }
}

const POWER: &str = "F1%2FMMXU1.TotW";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_answers_by_role_and_refuses_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let chain = Chain::start(&ChainOptions::for_tests(dir.path())).await.unwrap();
    let c = Client { addr: chain.hub.api_addr.expect("api"), seen: Default::default() };

    // Operations, no login.
    let h = c.call("GET", "/healthz", None, None).await;
    assert_eq!((h.status, h.json()["status"].as_str()), (200, Some("ok")));
    let doc = c.call("GET", "/api/openapi.json", None, None).await.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(doc["paths"]["/api/evidence"]["get"].is_object());

    // No session: 401 everywhere that needs one.
    for path in [
        "/api/model",
        "/api/points",
        "/api/values",
        "/api/alarms",
        "/api/commands",
        "/api/checkpoints/latest",
        "/api/me",
        "/api/events",
        "/api/audit",
    ] {
        c.refused("GET", path, None, None, 401, "unauthenticated").await;
    }
    c.refused("GET", "/api/values", Some("gridtrust_session=forged"), None, 401, "unauthenticated").await;
    // Bad logins.
    c.refused("POST", "/api/login", None, Some(r#"{"username":"viewer","password":"nope"}"#), 401, "unauthenticated").await;
    c.refused("POST", "/api/login", None, Some(r#"{"username":"nobody","password":"x"}"#), 401, "unauthenticated").await;
    assert!(c.refused("POST", "/api/login", None, Some("{not json"), 400, "bad_request").await.contains("request body"));
    c.refused("POST", "/api/login", None, Some(r#"{"username":"viewer","password":"viewer-demo","extra":1}"#), 400, "bad_request").await;

    let viewer = c.login("viewer", "viewer-demo").await;
    let operator = c.login("operator", "operator-demo").await;
    let auditor = c.login("auditor", "auditor-demo").await;
    let me = c.get("/api/me", &viewer).await.json();
    assert_eq!((me["username"].as_str(), me["roles"][0].as_str()), (Some("viewer"), Some("VIEWER")));

    // Values arrive, verified.
    let item = eventually("a verified value", async || {
        let v = c.get(&format!("/api/values?point={POWER}"), &viewer).await;
        (v.status == 200).then(|| v.json()[0].clone()).filter(|i| i.is_object())
    })
    .await;
    assert_eq!(item["trust"]["status"], "verified");
    assert_eq!(item["edge"], "edge-1");
    assert!(item["value"].is_number() && item["quality"]["good"] == true);
    let all = c.get("/api/values?bay=F1", &viewer).await.json();
    assert!(all.as_array().unwrap().iter().all(|v| v["point"].as_str().unwrap().starts_with("F1/")));
    c.refused("GET", "/api/values?point=F9%2FMMXU1.TotW", Some(&viewer), None, 404, "not_found").await;
    c.refused("GET", "/api/values?bay=NOPE", Some(&viewer), None, 404, "not_found").await;
    c.refused("GET", "/api/values?colour=red", Some(&viewer), None, 400, "bad_request").await;

    // Model and points.
    let model = c.get("/api/model", &viewer).await.json();
    let bays = &model["substations"][0]["voltage_levels"][0]["bays"];
    let f1 = bays.as_array().unwrap().iter().find(|b| b["id"] == "F1").expect("bay F1");
    assert!(f1["equipment"].as_array().unwrap().iter().any(|e| e["id"] == "F1/XCBR1" && e["kind"] == "Breaker"));
    let points = c.get("/api/points", &viewer).await.json();
    let breaker = points.as_array().unwrap().iter().find(|p| p["id"] == "F1/XCBR1.Pos").expect("breaker point");
    assert_eq!((breaker["operable"].as_bool(), breaker["command_kind"].as_str()), (Some(true), Some("double")));

    // History.
    let now = time::OffsetDateTime::now_utc();
    let fmt = |t: time::OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).unwrap();
    let (from, to) = (fmt(now - time::Duration::hours(1)), fmt(now + time::Duration::minutes(1)));
    let hist = c.get(&format!("/api/points/{POWER}/history?from={from}&to={to}&max_points=100"), &viewer).await;
    assert_eq!(hist.status, 200, "{}", hist.body);
    let hist = hist.json();
    assert!(hist["bucket_ms"].as_u64().unwrap() >= 36_000);
    assert!(hist["samples"].as_array().unwrap().iter().map(|s| s["count"].as_u64().unwrap()).sum::<u64>() >= 1);
    let bad = |q: &str| format!("/api/points/{POWER}/history?{q}");
    assert!(c.refused("GET", &bad(&format!("from=yesterday&to={to}")), Some(&viewer), None, 400, "bad_request").await.contains("from"));
    c.refused("GET", &bad(&format!("from={to}&to={from}")), Some(&viewer), None, 400, "bad_request").await;
    c.refused("GET", &bad(&format!("from={from}&to={to}&max_points=0")), Some(&viewer), None, 400, "bad_request").await;
    c.refused("GET", &bad(&format!("from={from}")), Some(&viewer), None, 400, "bad_request").await;
    c.refused("GET", &format!("/api/points/F9%2FX.Y/history?from={from}&to={to}"), Some(&viewer), None, 404, "not_found").await;

    // Evidence, checked like the browser does; the log part once a checkpoint covers it.
    let ev = eventually("evidence with log inclusion", async || {
        let r = c.get(&format!("/api/evidence?point={POWER}"), &viewer).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let ev = r.json();
        ev["log"].is_object().then_some(ev)
    })
    .await;
    check_evidence_like_the_browser(&ev);
    let by_seq = c.get(&format!("/api/evidence?point={POWER}&seq={}", ev["seq"]), &viewer).await.json();
    assert_eq!(by_seq["record"], ev["record"]);
    c.refused("GET", &format!("/api/evidence?point={POWER}&seq=99999999"), Some(&viewer), None, 404, "not_found").await;
    c.refused("GET", "/api/evidence?point=", Some(&viewer), None, 400, "bad_request").await;
    c.refused("GET", &format!("/api/evidence?point={POWER}&seq=-1"), Some(&viewer), None, 400, "bad_request").await;
    let cp = c.get("/api/checkpoints/latest", &viewer).await.json();
    assert!(cp["size"].as_u64().unwrap() >= 1);

    // Role refusals.
    let command = |action: &str, value: Value| {
        json!({"point": "F1/XCBR1.Pos", "action": action, "value": {"kind": "double", "value": value}}).to_string()
    };
    assert!(
        c.refused("POST", "/api/commands", Some(&viewer), Some(&command("select", json!("open"))), 403, "forbidden")
            .await
            .contains("OPERATOR")
    );
    c.refused("POST", "/api/alarms/1/ack", Some(&viewer), None, 403, "forbidden").await;
    c.refused("GET", "/api/log/entries", Some(&viewer), None, 403, "forbidden").await;
    c.refused("GET", "/api/audit", Some(&viewer), None, 403, "forbidden").await;
    c.refused("GET", "/api/log/entries", Some(&operator), None, 403, "forbidden").await;
    c.refused("POST", "/api/demo/tamper", Some(&viewer), None, 403, "forbidden").await;
    c.refused("POST", "/api/commands", Some(&auditor), Some(&command("select", json!("open"))), 403, "forbidden").await;
    // A cookie session without the CSRF header may not change anything.
    let no_csrf = c.raw("POST", "/api/commands", Some(&operator), false, Some(&command("select", json!("open")))).await;
    assert_eq!((no_csrf.status, no_csrf.json()["error"].as_str()), (403, Some("forbidden")));
    // Not in the demo: no fault injection.
    c.refused("POST", "/api/demo/tamper", Some(&operator), None, 404, "not_found").await;

    // Bad commands.
    c.refused("POST", "/api/commands", Some(&operator), Some(&command("jump", json!("open"))), 400, "bad_request").await;
    c.refused("POST", "/api/commands", Some(&operator), Some(&command("select", json!("ajar"))), 400, "bad_request").await;
    c.refused("POST", "/api/commands", Some(&operator), Some(r#"{"point":"F1/XCBR1.Pos"}"#), 400, "bad_request").await;
    let not_operable = json!({"point": "F1/MMXU1.TotW", "action": "select", "value": {"kind": "setpoint", "value": 1}}).to_string();
    c.refused("POST", "/api/commands", Some(&operator), Some(&not_operable), 400, "bad_request").await;
    let unknown = json!({"point": "F9/XCBR1.Pos", "action": "select", "value": {"kind": "double", "value": "open"}}).to_string();
    c.refused("POST", "/api/commands", Some(&operator), Some(&unknown), 404, "not_found").await;
    c.refused("GET", "/api/commands/abc", Some(&operator), None, 400, "bad_request").await;
    c.refused("GET", "/api/commands/12345", Some(&operator), None, 404, "not_found").await;
    c.refused("GET", "/api/commands?limit=0", Some(&operator), None, 400, "bad_request").await;

    // The operator registers a passkey; until a SECADM approves it, nothing can be signed.
    let key = Passkey::generate();
    let spki = PublicKey::from_sec1(&key.public_key()).unwrap().spki_der();
    let credential_id = base64url(b"operator's passkey");
    let enrol = json!({"role": "OPERATOR", "credential_id": credential_id, "public_key": base64url(&spki)}).to_string();
    let pending = c.call("POST", "/api/enrolments", Some(&operator), Some(&enrol)).await;
    assert_eq!(pending.status, 201, "{}", pending.body);
    let enrolment = pending.json()["id"].as_u64().unwrap();
    c.refused("POST", "/api/enrolments", Some(&operator), Some(&enrol), 409, "conflict").await;
    let for_auditor = json!({"role": "OPERATOR", "credential_id": "YWJj", "public_key": base64url(&spki)}).to_string();
    c.refused("POST", "/api/enrolments", Some(&auditor), Some(&for_auditor), 403, "forbidden").await;
    c.refused("POST", "/api/commands/prepare", Some(&operator), Some(&command("select", json!("open"))), 409, "conflict").await;
    // The CA certifies the key offline; only a SECADM may approve, with exactly that key.
    let approve = format!("/api/enrolments/{enrolment}/approve");
    let secadm = c.login("secadm", "secadm-demo").await;
    let certify = |name: &str, key: &[u8], role: Role| {
        let ca = DevPki::open(&chain.config_dir.join("pki")).ca().unwrap();
        let request = IssueRequest {
            kind: IdentityKind::Operator,
            name: name.to_owned(),
            roles: vec![role],
            validity: Duration::from_secs(3600),
            public_key: PublicKey::from_sec1(key).unwrap(),
            extra_sans: Vec::new(),
        };
        json!({"certificate_pem": ca.issue(&request).unwrap().pem}).to_string()
    };
    let right = certify("operator", &key.public_key(), Role::Operator);
    c.refused("POST", &approve, Some(&operator), Some(&right), 403, "forbidden").await;
    c.refused("POST", &approve, Some(&secadm), Some("{}"), 400, "bad_request").await;
    let other_key = certify("operator", &Passkey::generate().public_key(), Role::Operator);
    assert!(c.refused("POST", &approve, Some(&secadm), Some(&other_key), 400, "bad_request").await.contains("another public key"));
    let other_person = certify("engineer", &key.public_key(), Role::Operator);
    assert!(c.refused("POST", &approve, Some(&secadm), Some(&other_person), 400, "bad_request").await.contains("names engineer"));
    let approved = c.call("POST", &approve, Some(&secadm), Some(&right)).await;
    assert_eq!((approved.status, approved.json()["state"].as_str()), (200, Some("approved")), "{}", approved.body);
    c.refused("POST", &approve, Some(&secadm), Some(&right), 409, "conflict").await;
    assert_eq!(c.get("/api/enrolments", &operator).await.json()[0]["approved_by"], "secadm");
    c.refused("GET", "/api/enrolments?all=true", Some(&operator), None, 403, "forbidden").await;

    // Select before operate, from the web to the RTU, each signed with the passkey over the
    // prepared command's digest, followed by its state.
    let origin = format!("http://{DEMO_RP_ID}:{}", c.addr.port());
    let signed = async |action: &str, value: Value| {
        let prepared = c.call("POST", "/api/commands/prepare", Some(&operator), Some(&command(action, value.clone()))).await;
        assert_eq!(prepared.status, 200, "{}", prepared.body);
        let p = prepared.json();
        assert_eq!((p["issuer"].as_str(), p["role"].as_str(), p["rp_id"].as_str()), (Some("operator"), Some("OPERATOR"), Some(DEMO_RP_ID)));
        assert_eq!(p["credential_ids"], json!([credential_id]));
        let digest = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p["digest"].as_str().unwrap()).unwrap();
        let a = key.assert(&digest, Ceremony { rp_id: DEMO_RP_ID, origin: &origin, flags: UP_UV });
        let mut body: Value = serde_json::from_str(&command(action, value)).unwrap();
        body["assertion"] = json!({
            "command": p["command"], "credential_id": credential_id, "authenticator_data": base64url(&a.authenticator_data),
            "client_data_json": base64url(&a.client_data_json), "signature": base64url(&a.signature),
        });
        body.to_string()
    };
    // Without an assertion (and no console fallback) the hub cannot sign for the person.
    assert!(
        c.refused("POST", "/api/commands", Some(&operator), Some(&command("select", json!("open"))), 400, "bad_request")
            .await
            .contains("passkey")
    );
    // An assertion for "open" carried with a request to "close" is refused before routing.
    let mut swapped: Value = serde_json::from_str(&signed("select", json!("open")).await).unwrap();
    swapped["value"]["value"] = json!("closed");
    c.refused("POST", "/api/commands", Some(&operator), Some(&swapped.to_string()), 400, "bad_request").await;
    let follow = async |id: u64, want: &str| {
        eventually(&format!("command {id} {want}"), async || {
            let r = c.get(&format!("/api/commands/{id}"), &operator).await.json();
            assert_ne!(r["state"], "refused", "{r}");
            (r["state"] == want).then_some(r)
        })
        .await
    };
    let selected = c.call("POST", "/api/commands", Some(&operator), Some(&signed("select", json!("open")).await)).await;
    assert_eq!(selected.status, 202, "{}", selected.body);
    let sel = selected.json();
    assert_eq!(
        (sel["state"].as_str(), sel["issuer"].as_str(), sel["role"].as_str()),
        (Some("pending"), Some("operator"), Some("OPERATOR"))
    );
    follow(sel["id"].as_u64().unwrap(), "confirmed").await;
    let executed = c.call("POST", "/api/commands", Some(&operator), Some(&signed("execute", json!("open")).await)).await.json();
    follow(executed["id"].as_u64().unwrap(), "terminated").await;
    eventually("breaker reported open", async || {
        let v = c.get("/api/values?point=F1%2FXCBR1.Pos", &viewer).await.json();
        (v[0]["value_text"] == "OPEN").then_some(())
    })
    .await;
    let listed = c.get("/api/commands?limit=10", &viewer).await.json();
    assert_eq!(listed.as_array().unwrap().len(), 2);

    // The auditor reads the log (with the person's command and the enrolment in it) and the audit trail.
    let size = c.get("/api/checkpoints/latest", &auditor).await.json()["size"].as_u64().unwrap();
    let entries = c.get(&format!("/api/log/entries?from=0&count={}", size.min(1000)), &auditor).await.json();
    let kinds: Vec<&str> = entries.as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"batch_header") && kinds.contains(&"config_change"));
    let all_entries = c.get("/api/log/entries?from=0&count=1000", &auditor).await.json();
    let logged = |kind: &str, text: &str| {
        all_entries.as_array().unwrap().iter().any(|e| e["kind"] == kind && e["summary"].as_str().unwrap().contains(text))
    };
    assert!(logged("command", "by operator (OPERATOR)"));
    assert!(logged("config_change", "enrolment.approved = ") && logged("config_change", "person=operator role=OPERATOR"));
    assert!(logged("config_change", "approved_by=secadm") && logged("certificate", "operator"));
    c.refused("GET", "/api/log/entries?count=5000", Some(&auditor), None, 400, "bad_request").await;
    let audit = c.get("/api/audit?limit=1000", &auditor).await.json();
    let has = |action: &str, outcome: &str, actor: &str| {
        audit.as_array().unwrap().iter().any(|e| e["action"] == action && e["outcome"] == outcome && e["actor"] == actor)
    };
    assert!(has("login", "failed", "viewer") && has("login", "failed", "nobody") && has("login", "ok", "operator"));
    assert!(has("command", "ok", "operator") && has("command", "refused", "viewer"));

    // Alarms: the list answers; unknown ids and bad states are refused.
    assert_eq!(c.get("/api/alarms?state=all", &viewer).await.status, 200);
    c.refused("GET", "/api/alarms?state=sometimes", Some(&viewer), None, 400, "bad_request").await;
    c.refused("POST", "/api/alarms/999999/ack", Some(&operator), None, 404, "not_found").await;
    c.refused("POST", "/api/alarms/x/ack", Some(&operator), None, 400, "bad_request").await;

    // Unknown paths and methods are JSON too.
    c.refused("GET", "/api/nothing-here", Some(&viewer), None, 404, "not_found").await;
    c.refused("DELETE", "/api/model", Some(&viewer), None, 405, "method_not_allowed").await;

    // Metrics reflect the traffic.
    let m = c.call("GET", "/metrics", None, None).await;
    assert!(m.headers.contains("text/plain"));
    for name in [
        "gridtrust_hub_records_in_total",
        "gridtrust_hub_verification_failures_total{check=\"signature\"} 0",
        "gridtrust_http_request_seconds_bucket",
        "gridtrust_hub_commands_total{decision=\"authorized\"} 2",
        "gridtrust_logins_failed_total 2",
    ] {
        assert!(m.body.contains(name), "{name} missing from /metrics");
    }

    // Machines: the client certificate is the login.
    let cc_cfg = gridtrust_cc::CcConfig::load(&dir.path().join("cc.toml")).unwrap();
    let cc_identity = gridtrust_transport::identity::Identity::load(&cc_cfg.identity).unwrap();
    let mut tls = (*cc_identity.client_config().unwrap()).clone();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls));
    let machine = chain.hub.api_machine_addr.expect("machine listener");
    let stream = connector
        .connect(rustls_pki_types::ServerName::try_from("hub").unwrap(), TcpStream::connect(machine).await.unwrap())
        .await
        .unwrap();
    let me = exchange(stream, "GET", "/api/me", None, false, None).await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!((me.json()["username"].as_str(), me.json()["roles"][0].as_str()), (Some("cc-1"), Some("OPERATOR")));
    // Without a client certificate the machine listener refuses the handshake.
    let anonymous = rustls::ClientConfig::builder()
        .with_root_certificates({
            let mut roots = rustls::RootCertStore::empty();
            for c in gridtrust_pki::load_chain(&dir.path().join("pki/ca.crt.pem")).unwrap() {
                roots.add(c).unwrap();
            }
            roots
        })
        .with_no_client_auth();
    let refused = tokio_rustls::TlsConnector::from(Arc::new(anonymous))
        .connect(rustls_pki_types::ServerName::try_from("hub").unwrap(), TcpStream::connect(machine).await.unwrap())
        .await;
    if let Ok(mut s) = refused {
        // TLS 1.3: the server's refusal arrives after the client's handshake completes.
        let mut buf = [0u8; 1];
        let _ = s.write_all(b"GET /api/me HTTP/1.1\r\nHost: hub\r\n\r\n").await;
        assert!(matches!(s.read(&mut buf).await, Err(_) | Ok(0)), "no answer without a client certificate");
    }

    // Logout ends the session.
    assert_eq!(c.call("POST", "/api/logout", Some(&viewer), None).await.status, 204);
    c.refused("GET", "/api/me", Some(&viewer), None, 401, "unauthenticated").await;

    c.assert_no_server_errors();
    chain.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_batch_shows_as_failed_raises_an_alarm_and_the_next_good_batch_restores_trust() {
    let dir = tempfile::tempdir().unwrap();
    let chain = Chain::start(&ChainOptions { demo_fault_injection: true, ..ChainOptions::for_tests(dir.path()) }).await.unwrap();
    let c = Client { addr: chain.hub.api_addr.expect("api"), seen: Default::default() };
    let operator = c.login("operator", "operator-demo").await;
    eventually("values", async || (c.get("/api/values", &operator).await.json().as_array().is_some_and(|a| !a.is_empty())).then_some(()))
        .await;

    // Follow the live stream from before the fault.
    let mut sse = TcpStream::connect(c.addr).await.unwrap();
    sse.write_all(format!("GET /api/events HTTP/1.1\r\nHost: hub\r\nCookie: {operator}\r\n\r\n").as_bytes()).await.unwrap();
    let events = tokio::spawn(async move {
        let mut seen = String::new();
        let mut buf = vec![0u8; 65536];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !(seen.contains("event: alarm") && seen.contains("\"status\":\"failed\"")) {
            match tokio::time::timeout_at(deadline, sse.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
                _ => break,
            }
        }
        seen
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let r = c.call("POST", "/api/demo/tamper", Some(&operator), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let failed = eventually("a value with trust failed", async || {
        let v = c.get("/api/values", &operator).await.json();
        v.as_array().unwrap().iter().find(|i| i["trust"]["status"] == "failed").cloned()
    })
    .await;
    assert!(failed["trust"]["reason"].as_str().unwrap().contains("root"), "{failed}");
    assert_eq!((failed["quality"]["good"].as_bool(), failed["quality"]["validity"].as_str()), (Some(false), Some("invalid")));
    let alarms = c.get("/api/alarms", &operator).await.json();
    let alarm = alarms.as_array().unwrap().iter().find(|a| a["kind"] == "trust").expect("trust alarm").clone();
    assert_eq!((alarm["severity"].as_str(), alarm["source"].as_str()), (Some("critical"), Some("edge-1")));

    let streamed = events.await.unwrap();
    assert!(streamed.contains("event: alarm") && streamed.contains("\"status\":\"failed\""), "live stream: {streamed}");

    // The edge resends, the untouched batch verifies, and trust is back.
    eventually("every value verified again", async || {
        let v = c.get("/api/values", &operator).await.json();
        v.as_array().unwrap().iter().all(|i| i["trust"]["status"] == "verified").then_some(())
    })
    .await;
    let m = c.call("GET", "/metrics", None, None).await.body;
    assert!(m.contains("gridtrust_hub_verification_failures_total{check=\"integrity\"} 1"), "{m}");

    // Acknowledge once; twice is a conflict.
    let id = alarm["id"].as_u64().unwrap();
    let acked = c.call("POST", &format!("/api/alarms/{id}/ack"), Some(&operator), None).await;
    assert_eq!(acked.status, 200, "{}", acked.body);
    assert_eq!(acked.json()["acknowledged"]["by"], "operator");
    c.refused("POST", &format!("/api/alarms/{id}/ack"), Some(&operator), None, 409, "conflict").await;
    assert!(c.get("/api/alarms", &operator).await.json().as_array().unwrap().iter().all(|a| a["id"] != id));
    c.assert_no_server_errors();
    chain.shutdown().await;
}

/// The chain with the demo grid's model served (incidents need it), tamper and the development
/// CA for passkey approval; the operator's passkey enrolled and approved.
async fn chain_with_model_and_passkey(dir: &std::path::Path) -> (Chain, Client, Person) {
    let files = gridtrust_sim::grid::write_files(&dir.join("model")).unwrap();
    let inputs = gridtrust_gridmodel::ModelInputs { scl: vec![files.scl.clone()], cgmes: files.cgmes.clone(), mapping: None };
    let imported = gridtrust_gridmodel::import(&inputs).unwrap();
    let model = dir.join("model.json");
    std::fs::write(&model, imported.model.to_json()).unwrap();
    let options = ChainOptions {
        demo_fault_injection: true,
        demo_enrolment_ca: true,
        hub_extra: format!("[model]\nfile = {:?}\n", model.display().to_string()),
        ..ChainOptions::for_tests(&dir.join("chain"))
    };
    let chain = Chain::start(&options).await.unwrap();
    let c = Client { addr: chain.hub.api_addr.expect("api"), seen: Default::default() };
    let (operator, secadm) = (c.login("operator", "operator-demo").await, c.login("secadm", "secadm-demo").await);
    let key = Passkey::generate();
    let spki = PublicKey::from_sec1(&key.public_key()).unwrap().spki_der();
    let credential_id = base64url(b"operator's passkey");
    let enrol = json!({"role": "OPERATOR", "credential_id": credential_id, "public_key": base64url(&spki)}).to_string();
    let enrolment = c.call("POST", "/api/enrolments", Some(&operator), Some(&enrol)).await.json()["id"].as_u64().unwrap();
    let approved = c.call("POST", &format!("/api/enrolments/{enrolment}/approve"), Some(&secadm), Some("{}")).await;
    assert_eq!(approved.status, 200, "{}", approved.body);
    let origin = format!("http://{DEMO_RP_ID}:{}", c.addr.port());
    (chain, c, Person { cookie: operator, key, credential_id, origin })
}

/// A logged-in person with an approved passkey, deciding on incidents as the control room does.
struct Person {
    cookie: String,
    key: Passkey,
    credential_id: String,
    origin: String,
}

impl Person {
    /// The prepared decision to carry out recommendation `rank` of incident `id`: its bytes and
    /// its challenge.
    async fn prepare(&self, c: &Client, id: u64, rank: u64) -> (Vec<u8>, Vec<u8>) {
        let request = json!({"step": "execute", "rank": rank}).to_string();
        let p = c.call("POST", &format!("/api/incidents/{id}/prepare"), Some(&self.cookie), Some(&request)).await;
        assert_eq!(p.status, 200, "{}", p.body);
        let p = p.json();
        assert_eq!(p["credential_ids"], json!([self.credential_id]));
        let b64 = |s: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s.as_str().unwrap()).unwrap();
        (b64(&p["decision"]), b64(&p["challenge"]))
    }

    fn sign(&self, challenge: &[u8]) -> passkey::Assertion {
        self.key.assert(challenge, Ceremony { rp_id: DEMO_RP_ID, origin: &self.origin, flags: UP_UV })
    }

    /// The `decide` body for recommendation `rank` with `decision` and its assertion `a`.
    fn body(&self, rank: u64, decision: &[u8], a: &passkey::Assertion) -> String {
        json!({"step": "execute", "rank": rank, "assertion": {
            "decision": base64url(decision), "credential_id": self.credential_id, "authenticator_data": base64url(&a.authenticator_data),
            "client_data_json": base64url(&a.client_data_json), "signature": base64url(&a.signature),
        }})
        .to_string()
    }

    /// Carries out recommendation `rank` of incident `id`, signed.
    async fn carry_out(&self, c: &Client, id: u64, rank: u64) -> Value {
        let (decision, challenge) = self.prepare(c, id, rank).await;
        let body = self.body(rank, &decision, &self.sign(&challenge));
        let done = c.call("POST", &format!("/api/incidents/{id}/decide"), Some(&self.cookie), Some(&body)).await;
        assert_eq!(done.status, 200, "{}", done.body);
        done.json()
    }
}

/// Tampers with a batch and waits for the incident that recommends `action`: its id and that
/// recommendation's rank.
async fn incident_recommending(c: &Client, cookie: &str, action: &str) -> (u64, u64) {
    eventually("values", async || (c.get("/api/values", cookie).await.json().as_array().is_some_and(|a| !a.is_empty())).then_some(()))
        .await;
    assert_eq!(c.call("POST", "/api/demo/tamper", Some(cookie), None).await.status, 200);
    eventually(&format!("an incident recommending {action}"), async || {
        let list = c.get("/api/incidents", cookie).await.json();
        list.as_array().unwrap().iter().find_map(|i| {
            let r = i["recommendations"].as_array()?.iter().find(|r| r["action"] == action)?;
            Some((i["id"].as_u64()?, r["rank"].as_u64()?))
        })
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_on_an_incident_counts_only_as_its_person_signed_it_and_is_logged_once() {
    let dir = tempfile::tempdir().unwrap();
    let (chain, c, operator) = chain_with_model_and_passkey(dir.path()).await;
    let engineer = c.login("engineer", "engineer-demo").await;
    let (id, rank) = incident_recommending(&c, &operator.cookie, "block-point").await;
    let decide = format!("/api/incidents/{id}/decide");
    let (decision, challenge) = operator.prepare(&c, id, rank).await;
    let signed = operator.sign(&challenge);
    let cookie = Some(operator.cookie.as_str());

    // Carried with a request for another action: not the decision the request describes.
    c.refused("POST", &decide, cookie, Some(&operator.body(rank + 1, &decision, &signed)), 400, "bad_request").await;
    // The decision bytes changed after signing (another nonce): the assertion does not hold.
    let mut altered = decision.clone();
    let last = altered.len() - 1;
    altered[last] ^= 1;
    c.refused("POST", &decide, cookie, Some(&operator.body(rank, &altered, &signed)), 403, "forbidden").await;
    // Another logged-in person presenting the operator's signed decision.
    c.refused("POST", &decide, Some(&engineer), Some(&operator.body(rank, &decision, &signed)), 403, "forbidden").await;
    // An assertion over the bare digest of the bytes (what a command's challenge is) is not a
    // decision's: the context differs.
    let as_command: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(&decision).into();
    c.refused("POST", &decide, cookie, Some(&operator.body(rank, &decision, &operator.sign(&as_command))), 403, "forbidden").await;

    // The real one: applied, with the passkey as proof, in the log at the index it names.
    let done = c.call("POST", &decide, cookie, Some(&operator.body(rank, &decision, &signed))).await;
    assert_eq!(done.status, 200, "{}", done.body);
    let kept = done.json()["decisions"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((kept["step"].as_str(), kept["proof"].as_str(), kept["by"].as_str()), (Some("execute"), Some("passkey"), Some("operator")));
    assert_eq!(kept["action"], "block-point");
    // Once: the same signed decision again is a replay.
    c.refused("POST", &decide, cookie, Some(&operator.body(rank, &decision, &signed)), 409, "conflict").await;
    let auditor = c.login("auditor", "auditor-demo").await;
    let index = kept["log_index"].as_u64().unwrap();
    let entry = c.get(&format!("/api/log/entries?from={index}&count=1"), &auditor).await.json();
    assert_eq!(entry[0]["kind"], "decision", "{entry}");
    assert!(entry[0]["summary"].as_str().unwrap().contains("by operator (OPERATOR)"), "{entry}");
    let logged = c.get("/api/log/entries?count=1000", &auditor).await.json();
    let decisions = logged.as_array().unwrap().iter().filter(|e| e["kind"] == "decision").count();
    assert_eq!(decisions, 1, "only the applied decision is in the log");
    c.assert_no_server_errors();
    drop(chain);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_isolated_by_a_signed_decision_is_refused_until_readmitted_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (chain, c, operator) = chain_with_model_and_passkey(dir.path()).await;
    let (id, rank) = incident_recommending(&c, &operator.cookie, "isolate-edge").await;
    let acked = || chain.edge.stats.batches_acked.load(std::sync::atomic::Ordering::SeqCst);
    let done = operator.carry_out(&c, id, rank).await;
    let isolating = done["decisions"].as_array().unwrap().last().unwrap()["log_index"].as_u64().unwrap();

    // The hub closes the session and refuses the edge's reconnects, with an alarm naming the
    // decision; nothing the edge sends is acknowledged while it is isolated.
    let alarm = format!("edge-1 is isolated by an operator's decision (log entry {isolating})");
    eventually("the isolation alarm", async || {
        let alarms = c.get("/api/alarms", &operator.cookie).await.json();
        alarms.as_array().unwrap().iter().any(|a| a["message"].as_str().is_some_and(|m| m.starts_with(&alarm))).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let during = acked();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(acked(), during, "an isolated edge's batches are not taken");
    assert!(chain.edge.pending_batches() > 0, "the edge keeps what it read");

    // The incident now recommends readmitting it; carried out, the queue drains.
    let readmit = eventually("readmission recommended", async || {
        let list = c.get("/api/incidents", &operator.cookie).await.json();
        let incident = list.as_array().unwrap().iter().find(|i| i["id"] == id)?.clone();
        let r = incident["recommendations"].as_array()?.iter().find(|r| r["action"] == "readmit-edge")?.clone();
        assert!(incident["recommendations"].as_array()?.iter().all(|r| r["action"] != "isolate-edge"), "{incident}");
        r["rank"].as_u64()
    })
    .await;
    operator.carry_out(&c, id, readmit).await;
    eventually("the edge's queue drained after readmission", async || {
        (acked() > during && chain.edge.pending_batches() == 0).then_some(())
    })
    .await;
    c.assert_no_server_errors();
}
