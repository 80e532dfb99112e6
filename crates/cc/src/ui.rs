//! The control-room web UI served from the control-centre side (`[ui]`).
//!
//! People sign commands with their passkey in the web UI, and what they sign is shown to them
//! by the page's script: whoever serves that script could show one command and have another
//! signed. Served by the hub, a hostile cloud hub could do so; served here, the pages, the
//! scripts and the API reference come from the binary the control centre runs
//! ([`gridtrust_web::router`]), and the hub only answers data.
//!
//! Only `/api/...` requests (except the `/api/docs` page) are forwarded, one connection each,
//! to the hub's API: over HTTPS with the hub's certificate checked against the operator CA, the
//! CRL in use and `hub_api_name`; the method, path and query, the body and the few headers a
//! browser session needs go on, `X-Forwarded-For` names the browser (the hub believes it with
//! `[api] trusted_proxies`), and the answer comes back streamed (the event stream stays live).
//! Every forwarded answer carries a sandboxing Content-Security-Policy, so even an HTML page the
//! hub might return under `/api/` runs no script in this origin. An unreachable or unverifiable
//! hub is a 502 with the API's error body.
//!
//! Browsers get HTTPS with the connector's own certificate, or plain HTTP on a loopback address
//! when configured so (the rule of the hub's `[api]`, [`gridtrust_api::plain_http_allowed`]).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use gridtrust_api::dto::ErrorBody;
use gridtrust_api::tls::{HttpsPeer, TlsListener, add_hsts};
use gridtrust_config::ConfigError;
use gridtrust_pki::PeerCertificate;
use gridtrust_transport::identity::Identity;

use crate::config::{HubApiTransport, UiConfig};

/// How long connecting to the hub, its TLS handshake and its response head may take.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);

/// Request headers that go on to the hub: the session cookie, the CSRF header of mutating
/// requests, the body's type and length, and what the event stream needs to resume.
const REQUEST_HEADERS: [HeaderName; 6] = [
    header::COOKIE,
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
    header::ACCEPT,
    HeaderName::from_static("last-event-id"),
    HeaderName::from_static("x-gridtrust-csrf"),
];

/// Response headers that come back from the hub; everything else (its HSTS, its policies) is
/// the connector's to set.
const RESPONSE_HEADERS: [HeaderName; 5] =
    [header::CONTENT_TYPE, header::CONTENT_LENGTH, header::SET_COOKIE, header::CACHE_CONTROL, header::RETRY_AFTER];

/// The policy of every forwarded answer: data, never a document that runs anything here.
const FORWARDED_POLICY: &str = "default-src 'none'; frame-ancestors 'none'; sandbox";

/// Why the UI did not start.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: String, source: std::io::Error },
    #[error("HTTPS with the connector's identity: {0}")]
    Https(#[from] gridtrust_transport::identity::IdentityError),
    #[error("TLS towards the hub's API: {0}")]
    HubTls(String),
}

/// The running UI listener; dropping it stops it.
pub struct UiServer {
    /// Where browsers connect (useful with port 0).
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for UiServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The hub's API as this connector reaches it.
struct HubApi {
    address: String,
    tls: Option<(tokio_rustls::TlsConnector, rustls::pki_types::ServerName<'static>)>,
}

/// Why a request could not be forwarded.
#[derive(Debug, thiserror::Error)]
enum ForwardError {
    #[error("cannot connect: {0}")]
    Connect(std::io::Error),
    #[error("TLS refused (is it the hub, with a certificate of the operator CA?): {0}")]
    Tls(std::io::Error),
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    #[error("no answer within {} s", UPSTREAM_TIMEOUT.as_secs())]
    Timeout,
}

/// Starts the UI listener. `path` names the configuration in errors (`[ui]` when it was built
/// in code).
pub async fn start(config: &UiConfig, identity: &Identity, path: &Path) -> Result<UiServer, UiError> {
    let plain = config.plain_http(path)?;
    let tls = match config.hub_api_transport(path)? {
        HubApiTransport::PlainLoopback => None,
        HubApiTransport::Https { server_name } => Some((tokio_rustls::TlsConnector::from(hub_client_config(identity)?), server_name)),
    };
    let hub = Arc::new(HubApi { address: config.hub_api.clone(), tls });
    let people_tls = if plain { None } else { Some(identity.https_server_config()?) };
    let app = app(hub);
    let listener = TcpListener::bind(&config.listen).await.map_err(|source| UiError::Listen { addr: config.listen.clone(), source })?;
    let addr = listener.local_addr().map_err(|source| UiError::Listen { addr: config.listen.clone(), source })?;
    let task = match people_tls {
        None => {
            warn!(%addr, "web UI serves plain HTTP (ui.plain_http_on_loopback): loopback only");
            let service = app.into_make_service_with_connect_info::<SocketAddr>();
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, service).await {
                    warn!(error = %e, "web UI listener stopped");
                }
            })
        }
        Some(tls) => {
            let identify = Arc::new(|_: &rustls::ServerConnection, peer: SocketAddr| HttpsPeer(peer));
            let listener = TlsListener::new(listener, tls, HttpsPeer(addr), identify);
            let service = app.layer(axum::middleware::map_response(add_hsts)).into_make_service_with_connect_info::<HttpsPeer>();
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, service).await {
                    warn!(error = %e, "web UI listener stopped");
                }
            })
        }
    };
    info!(%addr, hub_api = %config.hub_api, "web UI served by the connector; /api/ forwarded to the hub");
    Ok(UiServer { addr, task })
}

/// TLS towards the hub's API: its certificate must chain to the operator CA, not be revoked
/// (the CRL in use at each handshake) and be a gridtrust identity with the dialled name.
fn hub_client_config(identity: &Identity) -> Result<Arc<rustls::ClientConfig>, UiError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = gridtrust_pki::live_server_verifier(identity.live_anchors(), provider.clone(), PeerCertificate::Identity)
        .map_err(|e| UiError::HubTls(e.to_string()))?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| UiError::HubTls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The pages and assets from the binary; `/api/...` forwarded, except the API reference page.
fn app(hub: Arc<HubApi>) -> Router {
    let web: Router = gridtrust_web::router();
    let forward = move |request: Request| {
        let hub = hub.clone();
        async move { forward(&hub, request).await }
    };
    Router::new()
        .route("/api/{*rest}", axum::routing::any(forward))
        .route("/api/docs", axum::routing::any_service(web.clone()))
        .route("/api/docs/", axum::routing::any_service(web.clone()))
        .fallback_service(web)
}

async fn forward(hub: &HubApi, request: Request) -> Response {
    let browser = gridtrust_api::routes::remote_of(request.extensions());
    let what = format!("{} {}", request.method(), request.uri().path());
    match tokio::time::timeout(UPSTREAM_TIMEOUT, send(hub, request, browser)).await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => bad_gateway(hub, &what, &e),
        Err(_) => bad_gateway(hub, &what, &ForwardError::Timeout),
    }
}

/// Sends one request on a new connection and returns the hub's answer with its body streaming.
async fn send(hub: &HubApi, request: Request, browser: Option<SocketAddr>) -> Result<Response, ForwardError> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut upstream = hyper::Request::builder().method(parts.method.clone()).uri(path);
    for name in &REQUEST_HEADERS {
        for value in parts.headers.get_all(name) {
            upstream = upstream.header(name, value);
        }
    }
    upstream = upstream.header(header::HOST, hub.address.as_str());
    // Replaces whatever the browser sent: the hub must see the address this connection came from.
    if let Some(browser) = browser {
        upstream = upstream.header("x-forwarded-for", browser.ip().to_string());
    }
    let upstream = upstream.body(body).map_err(|e| ForwardError::Connect(std::io::Error::other(e)))?;
    let tcp = TcpStream::connect(hub.address.as_str()).await.map_err(ForwardError::Connect)?;
    let response = match &hub.tls {
        Some((connector, name)) => {
            let tls = connector.connect(name.clone(), tcp).await.map_err(ForwardError::Tls)?;
            exchange(TokioIo::new(tls), upstream).await?
        }
        None => exchange(TokioIo::new(tcp), upstream).await?,
    };
    let (parts, body) = response.into_parts();
    let mut answer = Response::new(Body::new(body));
    *answer.status_mut() = parts.status;
    for name in &RESPONSE_HEADERS {
        for value in parts.headers.get_all(name) {
            answer.headers_mut().append(name, value.clone());
        }
    }
    let headers = answer.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(FORWARDED_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Ok(answer)
}

/// One HTTP/1.1 exchange; the connection lives until the answer's body is read or dropped.
async fn exchange<T>(io: TokioIo<T>, request: hyper::Request<Body>) -> Result<hyper::Response<hyper::body::Incoming>, ForwardError>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "connection to the hub's API ended");
        }
    });
    Ok(sender.send_request(request).await?)
}

fn bad_gateway(hub: &HubApi, what: &str, error: &ForwardError) -> Response {
    warn!(hub_api = %hub.address, request = %what, %error, "request not forwarded to the hub's API");
    let body =
        ErrorBody { error: "bad_gateway".into(), message: format!("the hub's API at {} did not answer {what}: {error}", hub.address) };
    (StatusCode::BAD_GATEWAY, axum::Json(body)).into_response()
}
