//! What the hub's API tests share: one HTTP/1.1 exchange and a login.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_secs(30);

/// One HTTP/1.1 exchange (`Connection: close`); returns status, headers and body.
pub async fn http(addr: SocketAddr, method: &str, path: &str, cookie: Option<&str>, body: Option<&str>) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n");
    if let Some(c) = cookie {
        // A browser session sends the CSRF header on every request that changes something.
        req.push_str(&format!("Cookie: {c}\r\nX-Gridtrust-CSRF: 1\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", b.len()));
    }
    req.push_str("\r\n");
    req.push_str(body.unwrap_or(""));
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(TIMEOUT, s.read_to_end(&mut raw)).await.unwrap().unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (headers, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(!headers.to_ascii_lowercase().contains("transfer-encoding: chunked"), "{headers}");
    (headers.split(' ').nth(1).unwrap().parse().unwrap(), headers.to_owned(), body.to_owned())
}

/// Logs in as `user` of the tests' hub configuration (password `<user>-pw`); returns the
/// session cookie.
pub async fn login(api: SocketAddr, user: &str) -> String {
    let (status, headers, body) =
        http(api, "POST", "/api/login", None, Some(&json!({"username": user, "password": format!("{user}-pw")}).to_string())).await;
    assert_eq!(status, 200, "{body}");
    headers
        .lines()
        .find_map(|l| l.to_ascii_lowercase().starts_with("set-cookie:").then(|| l[11..].trim().split(';').next().unwrap().to_owned()))
        .unwrap()
}
