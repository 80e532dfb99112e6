use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use tower::ServiceExt;

use super::*;

async fn get(path: &str, extra: Option<(header::HeaderName, &str)>) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut request = Request::builder().uri(path);
    if let Some((name, value)) = extra {
        request = request.header(name, value);
    }
    let response = router::<()>().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    let (parts, body) = response.into_parts();
    (parts.status, parts.headers, body.collect().await.unwrap().to_bytes().to_vec())
}

fn first_asset(suffix: &str) -> &'static str {
    FILES.iter().map(|f| f.path).find(|p| p.starts_with("/assets/index-") && p.ends_with(suffix)).unwrap()
}

#[tokio::test]
async fn the_ui_page_is_html_with_a_strict_policy_and_revalidates() {
    let (status, headers, body) = get("/", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("script-src 'self';") && csp.contains("connect-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-eval") && !csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    let html = String::from_utf8(body).unwrap();
    assert!(html.contains("id=\"app\""));
    assert!(html.contains(first_asset(".js")), "the page loads the embedded script");
}

#[tokio::test]
async fn pages_have_no_inline_scripts_and_load_nothing_from_elsewhere() {
    for page in ["/index.html", "/docs.html"] {
        let file = FILES.iter().find(|f| f.path == page).unwrap();
        let html = std::str::from_utf8(file.bytes).unwrap();
        for tag in html.split("<script").skip(1) {
            let open = tag.split('>').next().unwrap();
            assert!(open.contains("src=\"/assets/"), "{page}: inline or foreign script: <script{open}>");
        }
        assert!(!html.contains("http://") && !html.contains("https://"), "{page} references another origin");
    }
}

#[test]
fn every_file_a_page_references_is_embedded() {
    for page in ["/index.html", "/docs.html"] {
        let html = std::str::from_utf8(FILES.iter().find(|f| f.path == page).unwrap().bytes).unwrap();
        let references: Vec<&str> = html.split("=\"/").skip(1).filter_map(|rest| rest.split('"').next()).collect();
        assert!(references.iter().any(|r| r.ends_with(".js")), "{page} loads a script");
        for reference in references {
            let path = format!("/{reference}");
            assert!(FILES.iter().any(|f| f.path == path), "{page} references {path}, which is not in crates/web/assets (git add it)");
        }
    }
}

#[tokio::test]
async fn hashed_assets_are_immutable_with_their_content_type() {
    for (suffix, content_type) in [(".js", "text/javascript; charset=utf-8"), (".css", "text/css; charset=utf-8")] {
        let path = first_asset(suffix);
        let (status, headers, body) = get(path, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], content_type);
        assert_eq!(headers[header::CACHE_CONTROL], "public, max-age=31536000, immutable");
        assert!(!body.is_empty());
    }
}

#[tokio::test]
async fn api_docs_page_is_served_from_the_binary() {
    let (status, headers, body) = get("/api/docs", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    let html = String::from_utf8(body).unwrap();
    let script = html.split("src=\"").nth(1).unwrap().split('"').next().unwrap();
    let (status, _, js) = get(script, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&js).contains("/api/openapi.json"), "the docs script reads the API's OpenAPI document");
}

#[tokio::test]
async fn a_matching_etag_answers_not_modified() {
    let (_, headers, _) = get("/", None).await;
    let etag = headers[header::ETAG].to_str().unwrap().to_owned();
    let (status, _, body) = get("/", Some((header::IF_NONE_MATCH, &etag))).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
    let (status, _, _) = get("/", Some((header::IF_NONE_MATCH, "\"other\""))).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_api_paths_get_the_api_error_body() {
    let (status, headers, body) = get("/api/nothing\"here", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"], "not_found");
    assert!(v["message"].as_str().unwrap().contains("/api/nothing"));
    let (status, _, _) = get("/nothing.html", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn other_methods_are_refused() {
    let request = Request::builder().method(Method::POST).uri("/").body(Body::empty()).unwrap();
    let response = router::<()>().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[test]
fn json_string_escapes_quotes_backslashes_and_controls() {
    assert_eq!(json_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
}

/// The hash of web/'s build inputs, computed as web/scripts/source-hash.mjs does.
fn web_source_hash(web: &std::path::Path) -> String {
    fn walk(web: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(web, &path, out);
            } else {
                let rel = path.strip_prefix(web).unwrap();
                out.push(rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/"));
            }
        }
    }
    let mut files: Vec<String> =
        ["index.html", "docs.html", "package.json", "package-lock.json", "tsconfig.json", "vite.config.ts"].map(String::from).to_vec();
    walk(web, &web.join("src"), &mut files);
    walk(web, &web.join("public"), &mut files);
    files.sort();
    let mut h = Sha256::new();
    for f in &files {
        let content = std::fs::read(web.join(f)).unwrap();
        h.update(f.as_bytes());
        h.update([0]);
        h.update(content.len().to_string().as_bytes());
        h.update([0]);
        h.update(&content);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn committed_bundle_was_built_from_the_current_sources() {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let recorded = std::fs::read_to_string(manifest.join("assets.sha256")).unwrap();
    let current = web_source_hash(&manifest.join("../../web"));
    assert_eq!(
        recorded.trim(),
        current,
        "crates/web/assets is stale: web/ changed since the bundle was built; run web/build.sh and commit"
    );
}
