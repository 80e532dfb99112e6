//! The hub's HTTP API: the REST endpoints of `/work/api-contract.md`, the live stream (SSE),
//! `/metrics` and `/healthz`, and the OpenAPI 3.1 document generated from the handlers
//! (`/api/openapi.json`; the web crate serves the browsable page at `/api/docs`).
//!
//! - [`dto`]: the JSON shapes and their schemas.
//! - [`backend::Backend`]: what the API asks of the hub; the hub implements it, so this crate
//!   knows nothing of stores, logs or connections and the hub nothing of HTTP.
//! - [`auth`]: people (local users file, Argon2id hashes, sessions with expiry behind an
//!   HttpOnly SameSite=Strict cookie, a CSRF header on mutating requests).
//! - [`command`]: a command request's JSON decoded into the model's terms.
//! - [`login`]: password guessing and login floods (lockouts per name and per address, audited
//!   with an alarm; Argon2 checks under a semaphore).
//! - [`machine`]: machines (a second listener with mutual TLS; the client certificate's
//!   identity and IEC 62351-8 roles replace the login).
//! - [`tls`]: the TLS listeners; people's listener speaks HTTPS (the hub's own certificate or a
//!   configured file pair) with HSTS and `Secure` cookies, plain HTTP only on loopback when
//!   configured so ([`Transport`]).
//! - [`routes`]: the handlers and the role each needs (table in its docs); every refusal is
//!   `{"error","message"}` with a 4xx status, and logins, commands and acknowledgements go to
//!   the audit trail ([`backend::Backend::record_audit`]) and to `tracing` (target `audit`).
//! - [`metrics`]: the Prometheus text format for the hub's counters and latency histograms.
//!
//! Deliberately not here: users administration (the file is written by tools or the demo),
//! persistent sessions.

pub mod auth;
pub mod backend;
pub mod command;
pub mod dto;
pub mod error;
pub mod login;
pub mod machine;
pub mod metrics;
pub mod routes;
pub mod timefmt;
pub mod tls;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use serde::Deserialize;
use tokio::net::TcpListener;
use tracing::{info, warn};

use gridtrust_config::{ConfigError, resolve};
use gridtrust_transport::identity::IdentityConfig;

pub use backend::{Actor, ApiAlarm, Backend};
pub use error::ApiError;
pub use login::LoginConfig;
pub use routes::{ApiDoc, ApiState};

/// The `[api]` table of the hub configuration.
///
/// ```toml
/// [api]
/// listen = "0.0.0.0:8443"          # HTTPS with the hub's own certificate ([identity])
/// users = "users.toml"
/// tls = { certificate = "web.crt.pem", key = "web.key.pem" }   # optional: another certificate
/// # plain_http_on_loopback = true  # plain HTTP instead, allowed only when listen is loopback
/// # trusted_proxies = ["127.0.0.1"] # the cc serving the UI: its X-Forwarded-For is believed
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// `host:port` of the listener for people (the web UI and the API): HTTPS.
    pub listen: String,
    /// The certificate people's browsers see; absent: the hub's own identity, issued by the
    /// operator CA.
    #[serde(default)]
    pub tls: Option<TlsFiles>,
    /// Serve plain HTTP instead of HTTPS. Passwords and session cookies would cross the network
    /// in clear, so it is refused unless `listen` is a loopback address (the demo, or a reverse
    /// proxy on the same host that terminates TLS).
    #[serde(default)]
    pub plain_http_on_loopback: bool,
    /// Login throttling (`[api.login]`).
    #[serde(default)]
    pub login: LoginConfig,
    /// `host:port` of an HTTPS listener for machines, with client certificates required.
    #[serde(default)]
    pub machine_listen: Option<String>,
    /// Addresses of reverse proxies on the people's side (the cc serving the UI, see the cc's
    /// `[ui]`) whose `X-Forwarded-For` names the browser: logins are then throttled and audited
    /// per the browser's address instead of the proxy's. From any other peer the header is
    /// ignored, so a browser cannot choose the address it is counted under.
    #[serde(default)]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// The users file (see [`auth`]).
    pub users: PathBuf,
    /// Session lifetime in seconds (default 8 hours).
    #[serde(default = "default_session_ttl")]
    pub session_ttl_s: u64,
    /// The console identity (an operator certificate and key) that signs commands issued
    /// through the API; without it the API refuses commands.
    #[serde(default)]
    pub console: Option<IdentityConfig>,
}

fn default_session_ttl() -> u64 {
    8 * 3600
}

/// `[api] tls`: a certificate chain and its private key, PEM files.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub certificate: PathBuf,
    /// The private key (PKCS#8, SEC1 or PKCS#1).
    pub key: PathBuf,
}

/// How people's listener speaks, decided from the configuration by [`ApiConfig::transport`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transport {
    /// HTTPS with the hub's own identity.
    HttpsOwnIdentity,
    /// HTTPS with the configured files.
    HttpsFiles(PathBuf, PathBuf),
    /// Plain HTTP on a loopback address, as configured.
    PlainLoopback,
}

impl ApiConfig {
    /// The one place that decides HTTPS or plain HTTP: plain only when asked for and only on a
    /// loopback address. `path` names the configuration file in the error.
    pub fn transport(&self, path: &Path) -> Result<Transport, ConfigError> {
        let plain = plain_http_allowed(path, "api", &self.listen, self.plain_http_on_loopback)?;
        match (plain, &self.tls) {
            (true, Some(_)) => {
                Err(ConfigError::invalid(path, "api.tls", "a certificate for plain HTTP: remove api.tls or api.plain_http_on_loopback"))
            }
            (true, None) => Ok(Transport::PlainLoopback),
            (false, Some(files)) => Ok(Transport::HttpsFiles(files.certificate.clone(), files.key.clone())),
            (false, None) => Ok(Transport::HttpsOwnIdentity),
        }
    }

    /// Resolves relative paths against `base` and checks the values; errors name the key.
    pub fn resolve_and_check(&mut self, path: &Path, base: &Path) -> Result<(), ConfigError> {
        resolve(base, &mut self.users);
        if let Some(c) = &mut self.console {
            c.resolve(base);
        }
        if let Some(t) = &mut self.tls {
            resolve(base, &mut t.certificate);
            resolve(base, &mut t.key);
        }
        self.transport(path)?;
        self.login.check(path)?;
        let addresses = [("api.listen", Some(&self.listen)), ("api.machine_listen", self.machine_listen.as_ref())];
        for (key, addr) in addresses {
            if let Some(addr) = addr
                && addr.parse::<SocketAddr>().is_err()
            {
                return Err(ConfigError::invalid(path, key, format!("`{addr}` is not an ip:port address")));
            }
        }
        if !(60..=7 * 86_400).contains(&self.session_ttl_s) {
            return Err(ConfigError::invalid(path, "api.session_ttl_s", "must be 60 s to 7 days"));
        }
        Ok(())
    }
}

/// Whether a listener for people (the table `table`, with keys `listen` and
/// `plain_http_on_loopback`) serves plain HTTP: only when asked for and only on a loopback
/// address, since passwords and session cookies would otherwise cross the network in clear. The
/// hub's `[api]` and the cc's `[ui]` both decide here. `path` names the configuration file.
pub fn plain_http_allowed(path: &Path, table: &str, listen: &str, plain_http_on_loopback: bool) -> Result<bool, ConfigError> {
    let addr: SocketAddr = listen
        .parse()
        .map_err(|_| ConfigError::invalid(path, format!("{table}.listen"), format!("`{listen}` is not an ip:port address")))?;
    if plain_http_on_loopback && !addr.ip().is_loopback() {
        return Err(ConfigError::invalid(
            path,
            format!("{table}.plain_http_on_loopback"),
            format!("plain HTTP is allowed only on a loopback address, but {table}.listen is {addr}: remove the key to serve HTTPS"),
        ));
    }
    Ok(plain_http_on_loopback)
}

/// Why the API did not start.
#[derive(Debug, thiserror::Error)]
pub enum ApiStartError {
    #[error("users file: {0}")]
    Users(ConfigError),
    #[error("{0}")]
    Config(ConfigError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: String, source: std::io::Error },
    #[error("api.tls: {0}")]
    TlsFiles(gridtrust_pki::PkiError),
    #[error("HTTPS with the hub's identity: {0}")]
    TlsIdentity(String),
}

/// The running listeners.
pub struct ApiServer {
    /// Where people connect (useful with port 0).
    pub addr: SocketAddr,
    /// Where machines connect, if configured.
    pub machine_addr: Option<SocketAddr>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl ApiServer {
    /// Stops listening.
    pub fn shutdown(self) {
        for t in self.tasks {
            t.abort();
        }
    }
}

/// The whole HTTP application: the API, and `web` (the UI) for every other path, including
/// `/api/docs`, which the web crate serves. Other unknown `/api/...` paths answer a JSON 404.
pub fn app(state: ApiState, web: Router) -> Router {
    let docs = web.clone();
    let api_fallback = move |req: axum::extract::Request| {
        let docs = docs.clone();
        async move {
            use axum::response::IntoResponse;
            use tower::ServiceExt;
            let path = req.uri().path();
            if path == "/api/docs" || path.starts_with("/api/docs/") {
                return match docs.oneshot(req).await {
                    Ok(r) => r.into_response(),
                    Err(never) => match never {},
                };
            }
            routes::api_not_found(req.uri().clone()).await.into_response()
        }
    };
    routes::router(state).route("/api/{*rest}", axum::routing::any(api_fallback)).fallback_service(web)
}

/// Loads the users and starts the listeners. `own_https` builds the HTTPS configuration from
/// the hub's own identity (used unless `[api] tls` names files or plain HTTP is configured);
/// `machine_tls` must require client certificates (the hub passes its mutual-TLS server
/// configuration).
pub async fn start(
    config: &ApiConfig,
    backend: Arc<dyn Backend>,
    own_https: impl FnOnce() -> Result<Arc<rustls::ServerConfig>, String>,
    machine_tls: Option<Arc<rustls::ServerConfig>>,
    web: Router,
) -> Result<ApiServer, ApiStartError> {
    let users = auth::Users::load(&config.users).map_err(ApiStartError::Users)?;
    let people_tls = match config.transport(Path::new("[api]")).map_err(ApiStartError::Config)? {
        Transport::PlainLoopback => None,
        Transport::HttpsOwnIdentity => Some(own_https().map_err(ApiStartError::TlsIdentity)?),
        Transport::HttpsFiles(certificate, key) => {
            Some(gridtrust_pki::https_server_config_from_files(&certificate, &key).map_err(ApiStartError::TlsFiles)?)
        }
    };
    let sessions = auth::Sessions::new(Duration::from_secs(config.session_ttl_s));
    let state = ApiState::new(backend.clone(), users, sessions)
        .with_login(&config.login)
        .with_https(people_tls.is_some())
        .with_trusted_proxies(config.trusted_proxies.clone());
    let app = app(state.clone(), web);
    let bind = |addr: String| async move {
        let l = TcpListener::bind(&addr).await.map_err(|source| ApiStartError::Listen { addr: addr.clone(), source })?;
        let local = l.local_addr().map_err(|source| ApiStartError::Listen { addr, source })?;
        Ok::<_, ApiStartError>((l, local))
    };
    let (listener, addr) = bind(config.listen.clone()).await?;
    let mut tasks = vec![tokio::spawn(routes::lockout_ends(state))];
    match people_tls {
        None => {
            warn!(%addr, "API serves plain HTTP (api.plain_http_on_loopback): loopback only");
            let people = app.clone().into_make_service_with_connect_info::<SocketAddr>();
            tasks.push(tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, people).await {
                    warn!(error = %e, "API listener stopped");
                }
            }));
        }
        Some(tls) => {
            let identify = Arc::new(|_: &rustls::ServerConnection, peer: SocketAddr| tls::HttpsPeer(peer));
            let listener = tls::TlsListener::new(listener, tls, tls::HttpsPeer(addr), identify);
            let people = app.clone().layer(axum::middleware::map_response(tls::add_hsts));
            let people = people.into_make_service_with_connect_info::<tls::HttpsPeer>();
            tasks.push(tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, people).await {
                    warn!(error = %e, "API listener stopped");
                }
            }));
        }
    }
    let mut machine_addr = None;
    if let (Some(listen), Some(tls)) = (&config.machine_listen, machine_tls) {
        let (tcp, local) = bind(listen.clone()).await?;
        let mut tls = (*tls).clone();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let listener =
            machine::listen(tcp, Arc::new(tls), backend).map_err(|source| ApiStartError::Listen { addr: listen.clone(), source })?;
        let service = app.into_make_service_with_connect_info::<machine::MachinePeer>();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, service).await {
                warn!(error = %e, "machine API listener stopped");
            }
        }));
        machine_addr = Some(local);
    }
    info!(%addr, ?machine_addr, "API listening");
    Ok(ApiServer { addr, machine_addr, tasks })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(listen: &str, plain: bool, tls: bool) -> ApiConfig {
        let mut text = format!("listen = \"{listen}\"\nusers = \"users.toml\"\nplain_http_on_loopback = {plain}\n");
        if tls {
            text.push_str("tls = { certificate = \"c.pem\", key = \"k.pem\" }\n");
        }
        toml::from_str(&text).unwrap()
    }

    #[test]
    fn plain_http_only_on_loopback_and_only_when_asked() {
        let path = Path::new("hub.toml");
        assert_eq!(config("0.0.0.0:8443", false, false).transport(path).unwrap(), Transport::HttpsOwnIdentity);
        assert_eq!(config("127.0.0.1:8080", true, false).transport(path).unwrap(), Transport::PlainLoopback);
        assert_eq!(config("[::1]:8080", true, false).transport(path).unwrap(), Transport::PlainLoopback);
        let err = config("0.0.0.0:8080", true, false).transport(path).unwrap_err().to_string();
        assert!(err.contains("api.plain_http_on_loopback") && err.contains("0.0.0.0:8080"), "{err}");
        let err = config("192.0.2.7:8080", true, false).transport(path).unwrap_err().to_string();
        assert!(err.contains("api.plain_http_on_loopback"), "{err}");
        assert!(config("127.0.0.1:8080", true, true).transport(path).unwrap_err().to_string().contains("api.tls"));
        assert!(matches!(config("10.0.0.1:443", false, true).transport(path).unwrap(), Transport::HttpsFiles(..)));
    }
}
