//! The control-room web UI, embedded in the binary so the hub serves it with no network access
//! and no separate web server.
//!
//! - The UI's sources live in `web/` (TypeScript, Preact, uPlot; see `web/README.md`).
//!   `web/build.sh` builds them with Vite and copies the minified bundle into `assets/` here, which
//!   is committed: `cargo build` needs no Node.js and no `node_modules`. `bundle-source.sha256`
//!   records the hash of the sources the bundle was built from; a test refuses a stale bundle.
//! - `build.rs` turns `assets/` into a table of `include_bytes!` with ETags.
//! - [`router`] serves it: `/` the UI, `/api/docs` the API reference (swagger-ui, reading
//!   `/api/openapi.json`), `/assets/...` content-hashed files cached for a year. Every response
//!   carries a Content-Security-Policy without inline scripts and with `connect-src 'self'`.
//!   Unknown `/api/...` paths get the API's JSON error body, so the hub can merge this router as
//!   its fallback.
//!
//! Deliberately not here: the REST API and the event stream (crate `gridtrust-api`).

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

/// One file of the built UI, with the ETag computed at build time.
struct EmbeddedFile {
    path: &'static str,
    bytes: &'static [u8],
    etag: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

/// The policy for every page: scripts and styles only from the hub itself (no inline script or
/// style element, no CDN), API calls and the event stream only to the hub. uPlot and swagger-ui
/// set element styles through the CSSOM, which this policy allows; the browser tests fail on any
/// CSP violation report.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
frame-ancestors 'none'; form-action 'self'";

/// Serves the UI's pages and assets. It is a single fallback handler, so the hub can either
/// `merge` it beside the API routes or install it as the fallback of its own router.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().fallback(serve)
}

/// How long a browser may keep a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caching {
    /// Pages: always revalidate (cheap with the ETag), so a new hub version shows at once.
    Revalidate,
    /// Content-hashed files under `/assets/`: a changed file gets a new name.
    Immutable,
    /// Other static files (icon): a day.
    Day,
}

/// The embedded file a URL path names, and how to cache it.
fn resolve(path: &str) -> Option<(&'static EmbeddedFile, Caching)> {
    let (file, caching) = match path {
        "/" | "/index.html" => ("/index.html", Caching::Revalidate),
        "/api/docs" | "/api/docs/" => ("/docs.html", Caching::Revalidate),
        p if p.starts_with("/assets/") => (p, Caching::Immutable),
        p if p.ends_with(".html") => return None,
        p => (p, Caching::Day),
    };
    FILES.binary_search_by(|f| f.path.cmp(file)).ok().and_then(|i| FILES.get(i)).map(|f| (f, caching))
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json" | "map") => "application/json",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

async fn serve(method: Method, uri: Uri, request_headers: HeaderMap) -> Response {
    let path = uri.path();
    let mut response = if method != Method::GET && method != Method::HEAD {
        error(path, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", format!("{method} is not allowed on {path}"))
    } else {
        match resolve(path) {
            None => error(path, StatusCode::NOT_FOUND, "not_found", format!("nothing at {path}")),
            Some((file, caching)) => file_response(&method, file, caching, &request_headers),
        }
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

fn file_response(method: &Method, file: &'static EmbeddedFile, caching: Caching, request_headers: &HeaderMap) -> Response {
    let cache_control = match caching {
        Caching::Revalidate => "no-cache",
        Caching::Immutable => "public, max-age=31536000, immutable",
        Caching::Day => "public, max-age=86400",
    };
    let not_modified = request_headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == file.etag || t.trim() == "*"));
    let (status, body) = if not_modified {
        (StatusCode::NOT_MODIFIED, Body::empty())
    } else if method == Method::HEAD {
        (StatusCode::OK, Body::empty())
    } else {
        (StatusCode::OK, Body::from(file.bytes))
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(file.path)));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache_control));
    headers.insert(header::ETAG, HeaderValue::from_static(file.etag));
    response
}

/// Under `/api/` the API's error body (`{"error", "message"}`), elsewhere plain text.
fn error(path: &str, status: StatusCode, code: &str, message: String) -> Response {
    if path.starts_with("/api/") {
        let body = format!("{{\"error\":{},\"message\":{}}}", json_string(code), json_string(&message));
        (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
    } else {
        (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], message).into_response()
    }
}

/// A JSON string literal (the message contains the request path, which is attacker-chosen).
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests;
