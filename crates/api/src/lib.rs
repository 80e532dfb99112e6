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
//! - [`machine`]: machines (a second listener with mutual TLS; the client certificate's
//!   identity and IEC 62351-8 roles replace the login).
//! - [`routes`]: the handlers and the role each needs (table in its docs); every refusal is
//!   `{"error","message"}` with a 4xx status, and logins, commands and acknowledgements go to
//!   the audit trail ([`backend::Backend::record_audit`]) and to `tracing` (target `audit`).
//! - [`metrics`]: the Prometheus text format for the hub's counters and latency histograms.
//!
//! Deliberately not here: users administration (the file is written by tools or the demo),
//! persistent sessions, rate limiting of logins beyond Argon2's cost.

pub mod auth;
pub mod backend;
pub mod command;
pub mod dto;
pub mod error;
pub mod machine;
pub mod metrics;
pub mod routes;
pub mod timefmt;

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

pub use backend::{Actor, Backend};
pub use error::ApiError;
pub use routes::{ApiDoc, ApiState};

/// The `[api]` table of the hub configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// `host:port` of the HTTP listener for people (the web UI and the API).
    pub listen: String,
    /// `host:port` of an HTTPS listener for machines, with client certificates required.
    #[serde(default)]
    pub machine_listen: Option<String>,
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

impl ApiConfig {
    /// Resolves relative paths against `base` and checks the values; errors name the key.
    pub fn resolve_and_check(&mut self, path: &Path, base: &Path) -> Result<(), ConfigError> {
        resolve(base, &mut self.users);
        if let Some(c) = &mut self.console {
            c.resolve(base);
        }
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

/// Why the API did not start.
#[derive(Debug, thiserror::Error)]
pub enum ApiStartError {
    #[error("users file: {0}")]
    Users(#[from] ConfigError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: String, source: std::io::Error },
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

/// Loads the users and starts the listeners. `machine_tls` must require client certificates
/// (the hub passes its mutual-TLS server configuration).
pub async fn start(
    config: &ApiConfig,
    backend: Arc<dyn Backend>,
    machine_tls: Option<Arc<rustls::ServerConfig>>,
    web: Router,
) -> Result<ApiServer, ApiStartError> {
    let users = auth::Users::load(&config.users)?;
    let state = ApiState::new(backend.clone(), users, auth::Sessions::new(Duration::from_secs(config.session_ttl_s)));
    let app = app(state, web);
    let bind = |addr: String| async move {
        let l = TcpListener::bind(&addr).await.map_err(|source| ApiStartError::Listen { addr: addr.clone(), source })?;
        let local = l.local_addr().map_err(|source| ApiStartError::Listen { addr, source })?;
        Ok::<_, ApiStartError>((l, local))
    };
    let (listener, addr) = bind(config.listen.clone()).await?;
    let mut tasks = Vec::new();
    let people = app.clone().into_make_service_with_connect_info::<SocketAddr>();
    tasks.push(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, people).await {
            warn!(error = %e, "API listener stopped");
        }
    }));
    let mut machine_addr = None;
    if let (Some(listen), Some(tls)) = (&config.machine_listen, machine_tls) {
        let (tcp, local) = bind(listen.clone()).await?;
        let mut tls = (*tls).clone();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let listener = machine::MachineListener::new(tcp, Arc::new(tls), backend)
            .map_err(|source| ApiStartError::Listen { addr: listen.clone(), source })?;
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
