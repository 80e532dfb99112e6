//! The routes, their access rules and the OpenAPI document generated from them.
//!
//! | route | roles |
//! |---|---|
//! | `POST /api/login`, `/healthz`, `/metrics`, `/api/openapi.json` | anyone |
//! | `GET` model (also `/api/model/full`, `/api/model/diagram`), points, values, history, estimation, alarms, commands, evidence, checkpoints, events | any role |
//! | `POST /api/commands`, `POST /api/commands/prepare`, `POST /api/alarms/{id}/ack`, `POST /api/demo/tamper` | OPERATOR, ENGINEER |
//! | `GET`, `POST /api/enrolments` (a person's own passkeys) | any person |
//! | `POST /api/enrolments/{id}/approve`, `GET /api/enrolments?all=true` | SECADM |
//! | `GET /api/log/entries` | SECAUD |
//! | `GET /api/audit` | SECAUD, SECADM |

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::BroadcastStream;
use tracing::{info, warn};
use utoipa::OpenApi;

use gridtrust_pki::Role;

use crate::auth::{Sessions, Users};
use crate::backend::{Actor, ApiAlarm, Backend};
use crate::dto::*;
use crate::error::ApiError;
use crate::login::{Admission, LoginConfig, LoginGuard};
use crate::machine::MachinePeer;
use crate::metrics::{Exposition, Histogram};
use crate::timefmt::{parse_rfc3339, rfc3339_system};
use crate::tls::HttpsPeer;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "gridtrust_session";
/// The header a cookie-session client must send on every mutating request (CSRF defence: a
/// cross-site form cannot set it, and SameSite=Strict already keeps the cookie home).
pub const CSRF_HEADER: &str = "x-gridtrust-csrf";

/// Roles that may read the transparency log entries.
pub const LOG_READERS: &[Role] = &[Role::SecAud];
/// Roles that may read the audit trail.
pub const AUDIT_READERS: &[Role] = &[Role::SecAud, Role::SecAdm];
/// Roles that approve passkey enrolments (bind a key to a person and role).
pub const ENROLMENT_APPROVERS: &[Role] = &[Role::SecAdm];

/// HTTP request figures for `/metrics`.
#[derive(Debug, Default)]
pub struct HttpStats {
    latency: Histogram,
    by_class: [std::sync::atomic::AtomicU64; 5],
    logins_failed: std::sync::atomic::AtomicU64,
    logins_refused: std::sync::atomic::AtomicU64,
}

/// What every handler shares.
#[derive(Clone)]
pub struct ApiState {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) users: Arc<Users>,
    pub(crate) sessions: Arc<Sessions>,
    pub(crate) http: Arc<HttpStats>,
    pub(crate) login: Arc<LoginGuard>,
    /// Whether people reach this API over HTTPS (cookies then carry `Secure`).
    pub(crate) https: bool,
    /// Peers whose `X-Forwarded-For` names the client (`[api] trusted_proxies`).
    pub(crate) trusted_proxies: Arc<[IpAddr]>,
}

impl ApiState {
    /// State for a backend with these users and sessions, default login limits, plain HTTP.
    pub fn new(backend: Arc<dyn Backend>, users: Users, sessions: Sessions) -> Self {
        Self {
            backend,
            users: Arc::new(users),
            sessions: Arc::new(sessions),
            http: Arc::default(),
            login: Arc::new(LoginGuard::new(&LoginConfig::default())),
            https: false,
            trusted_proxies: Arc::new([]),
        }
    }

    /// With these login limits.
    pub fn with_login(self, config: &LoginConfig) -> Self {
        Self { login: Arc::new(LoginGuard::new(config)), ..self }
    }

    /// Served over HTTPS (or not).
    pub fn with_https(self, https: bool) -> Self {
        Self { https, ..self }
    }

    /// Believing `X-Forwarded-For` from these peers.
    pub fn with_trusted_proxies(self, proxies: Vec<IpAddr>) -> Self {
        Self { trusted_proxies: proxies.into(), ..self }
    }

    /// The attributes every session cookie carries.
    fn cookie_attributes(&self) -> &'static str {
        if self.https { "HttpOnly; SameSite=Strict; Secure; Path=/" } else { "HttpOnly; SameSite=Strict; Path=/" }
    }
}

/// The authenticated caller of a request.
pub struct Authed(pub Actor);

fn session_token(headers: &HeaderMap) -> Option<&str> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k == SESSION_COOKIE).then_some(v)
    })
}

impl FromRequestParts<ApiState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        if let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<MachinePeer>>() {
            return match &peer.identity {
                Ok(actor) => Ok(Authed(actor.clone())),
                Err(reason) => Err(ApiError::Unauthenticated(format!("client certificate refused: {reason}"))),
            };
        }
        let token = session_token(&parts.headers).ok_or_else(|| ApiError::Unauthenticated("log in first (no session cookie)".into()))?;
        let session = state
            .sessions
            .get(token, SystemTime::now())
            .ok_or_else(|| ApiError::Unauthenticated("the session has expired or was closed; log in again".into()))?;
        let mutating = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if mutating && parts.headers.get(CSRF_HEADER).is_none_or(|v| v.as_bytes() != b"1") {
            return Err(ApiError::Forbidden(format!("a request that changes something must carry the header {CSRF_HEADER}: 1")));
        }
        Ok(Authed(Actor { name: session.username, roles: session.roles, machine: false }))
    }
}

fn require(actor: &Actor, roles: &[Role], what: &str) -> Result<(), ApiError> {
    if actor.has_any(roles) {
        return Ok(());
    }
    let needed: Vec<&str> = roles.iter().map(|r| r.name()).collect();
    Err(ApiError::Forbidden(format!(
        "{what} needs one of the roles {}; {} has {}",
        needed.join(", "),
        actor.name,
        role_names(&actor.roles).join(", ")
    )))
}

fn role_names(roles: &[Role]) -> Vec<String> {
    roles.iter().map(|r| r.name().to_owned()).collect()
}

/// JSON body whose rejection is an [`ApiError`] (JSON, naming the problem) instead of text.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Self(v)),
            Err(e) => Err(json_rejection(e)),
        }
    }
}

fn json_rejection(e: JsonRejection) -> ApiError {
    ApiError::BadRequest(format!("request body: {}", e.body_text()))
}

/// Query string whose rejection is an [`ApiError`].
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Self(v)),
            Err(e) => Err(query_rejection(e)),
        }
    }
}

fn query_rejection(e: QueryRejection) -> ApiError {
    ApiError::BadRequest(format!("query string: {}", e.body_text()))
}

/// A path segment whose rejection (bad percent-encoding) is an [`ApiError`].
pub struct ApiPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ApiPath {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(Self(v)),
            Err(e) => Err(ApiError::BadRequest(format!("path: {}", e.body_text()))),
        }
    }
}

/// Runs a backend call on the blocking pool (store reads, proofs).
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, ApiError> + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::Internal(format!("request task failed: {e}")))?
}

/// Records an audit event durably on the blocking pool (the store write may wait for an fsync;
/// an async thread must not).
async fn audit(state: &ApiState, actor: &str, action: &str, outcome: &str, detail: String, remote: Option<SocketAddr>) {
    info!(target: "audit", actor, action, outcome, %detail, "audit");
    let event = AuditEvent {
        id: 0,
        at: rfc3339_system(SystemTime::now()),
        actor: actor.to_owned(),
        action: action.to_owned(),
        outcome: outcome.to_owned(),
        detail,
        remote: remote.map(|r| r.to_string()),
    };
    let backend = state.backend.clone();
    if let Err(e) = blocking(move || backend.record_audit(event)).await {
        warn!(target: "alarm", error = %e, "audit event not recorded durably");
    }
}

/// The peer address of a request served by one of the listeners of [`crate::start`] (or by a
/// listener built the same way, like the cc's UI): plain TCP, HTTPS or mutual TLS.
pub fn remote_of(parts: &axum::http::Extensions) -> Option<SocketAddr> {
    parts
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
        .or_else(|| parts.get::<ConnectInfo<HttpsPeer>>().map(|c| c.0.0))
        .or_else(|| parts.get::<ConnectInfo<MachinePeer>>().map(|c| c.0.addr))
}

/// The client a request is counted and audited under: the peer, or, when the peer is a trusted
/// proxy, the address its `X-Forwarded-For` ends with (the one that proxy added; earlier entries
/// came from the client and prove nothing). The forwarded address has no port (0).
fn client_of(peer: Option<SocketAddr>, headers: &HeaderMap, trusted_proxies: &[IpAddr]) -> Option<SocketAddr> {
    let Some(proxy) = peer.filter(|p| trusted_proxies.contains(&p.ip())) else { return peer };
    let forwarded = headers.get_all("x-forwarded-for").iter().next_back().and_then(|v| v.to_str().ok());
    match forwarded.and_then(|v| v.rsplit(',').next()).map(|a| a.trim().parse::<IpAddr>()) {
        Some(Ok(ip)) => Some(SocketAddr::new(ip, 0)),
        _ => Some(proxy),
    }
}

#[utoipa::path(post, path = "/api/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = SessionInfo, description = "Logged in; sets the gridtrust_session cookie"),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody, description = "Wrong username or password"),
              (status = 429, body = ErrorBody, description = "The name or the address is locked out after failed logins; see Retry-After"),
              (status = 503, body = ErrorBody, description = "Too many logins at once; see Retry-After")))]
async fn login(
    State(state): State<ApiState>,
    ext: axum::Extension<Extensions>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let remote = ext.0.remote;
    let ip = remote.map(|r| r.ip());
    let admission = state.login.throttle().admit(&req.username, ip, Instant::now());
    if let Admission::Locked { subject, retry_after } = admission {
        state.http.logins_refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let retry_after_s = retry_after.as_secs().max(1);
        let message = format!("too many failed logins: {subject} is locked out for {retry_after_s} s more");
        return Err(ApiError::LockedOut { message, retry_after_s });
    }
    let Ok(slot) = state.login.check_slot().await else {
        state.http.logins_refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Err(ApiError::Busy { message: "too many logins at once; try again in a moment".into(), retry_after_s: 1 });
    };
    let users = state.users.clone();
    let (name, password) = (req.username.clone(), req.password);
    let user = tokio::task::spawn_blocking(move || users.verify(&name, &password).cloned())
        .await
        .map_err(|e| ApiError::Internal(format!("password check failed: {e}")))?;
    drop(slot);
    let Some(user) = user else {
        state.http.logins_failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let started = state.login.throttle().failed(&req.username, ip, Instant::now());
        audit(&state, &req.username, "login", "failed", "wrong username or password".into(), remote).await;
        for lockout in started {
            let message =
                format!("{} locked out for {} s after {} failed logins", lockout.subject, lockout.duration.as_secs(), lockout.failures);
            audit(&state, &req.username, "login_lockout", "started", message.clone(), remote).await;
            let backend = state.backend.clone();
            let raised = blocking(move || {
                backend.raise_alarm(ApiAlarm::LoginLockout, message);
                Ok(())
            });
            if let Err(e) = raised.await {
                warn!(target: "alarm", error = %e, "login lockout alarm not raised");
            }
        }
        return Err(ApiError::Unauthenticated("wrong username or password".into()));
    };
    state.login.throttle().succeeded(&user.name);
    let (token, session) =
        state.sessions.create(&user, SystemTime::now()).ok_or_else(|| ApiError::Internal("no randomness for a session token".into()))?;
    audit(&state, &user.name, "login", "ok", format!("roles {}", role_names(&user.roles).join(",")), remote).await;
    let cookie = format!("{SESSION_COOKIE}={token}; {}; Max-Age={}", state.cookie_attributes(), state.sessions_ttl_secs());
    let body =
        SessionInfo { username: session.username, roles: role_names(&session.roles), expires_at: rfc3339_system(session.expires_at) };
    let mut response = Json(body).into_response();
    let value = HeaderValue::from_str(&cookie).map_err(|e| ApiError::Internal(format!("cookie: {e}")))?;
    response.headers_mut().insert(header::SET_COOKIE, value);
    Ok(response)
}

/// Writes the audit entry of every lockout when it ends (with how many logins it refused), for
/// as long as the API runs.
pub(crate) async fn lockout_ends(state: ApiState) {
    loop {
        let next = state.login.throttle().next_expiry();
        let second = Instant::now() + std::time::Duration::from_secs(1);
        let wake = next.map_or(second, |n| n.min(second));
        tokio::time::sleep_until(wake.into()).await;
        let ended = state.login.throttle().expire(Instant::now());
        for end in ended {
            let actor = match &end.subject {
                crate::login::Subject::User(name) => name.clone(),
                crate::login::Subject::Address(_) => "-".to_owned(),
            };
            let detail = format!("{} no longer locked out; {} logins refused during the lockout", end.subject, end.refused);
            audit(&state, &actor, "login_lockout", "ended", detail, None).await;
        }
    }
}

impl ApiState {
    fn sessions_ttl_secs(&self) -> u64 {
        self.sessions.ttl().as_secs()
    }
}

#[utoipa::path(post, path = "/api/logout", tag = "auth",
    responses((status = 204, description = "Session closed; cookie cleared"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn logout(State(state): State<ApiState>, Authed(actor): Authed, headers: HeaderMap, ext: axum::Extension<Extensions>) -> Response {
    if let Some(token) = session_token(&headers) {
        state.sessions.remove(token);
    }
    audit(&state, &actor.name, "logout", "ok", String::new(), ext.0.remote).await;
    let mut r = StatusCode::NO_CONTENT.into_response();
    let cookie = format!("{SESSION_COOKIE}=; {}; Max-Age=0", state.cookie_attributes());
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

#[utoipa::path(get, path = "/api/me", tag = "auth", responses((status = 200, body = SessionInfo), (status = 401, body = ErrorBody)))]
async fn me(State(state): State<ApiState>, headers: HeaderMap, Authed(actor): Authed) -> Json<SessionInfo> {
    let expires = session_token(&headers).and_then(|t| state.sessions.get(t, SystemTime::now())).map(|s| rfc3339_system(s.expires_at));
    Json(SessionInfo { username: actor.name, roles: role_names(&actor.roles), expires_at: expires.unwrap_or_default() })
}

#[utoipa::path(get, path = "/api/model", tag = "model", responses((status = 200, body = Model), (status = 401, body = ErrorBody)))]
async fn model(State(state): State<ApiState>, Authed(_caller): Authed) -> Result<Json<Model>, ApiError> {
    let b = state.backend.clone();
    blocking(move || b.model()).await.map(Json)
}

#[utoipa::path(get, path = "/api/model/full", tag = "model",
    responses((status = 200, content_type = "application/json", body = Object,
               description = "The joined IEC 61850 / CIM model exactly as `gridtrust model import` wrote it (gridtrust-gridmodel `GridModel`, format 1): \
                              `format`, `substations` (voltage levels, bays, equipment with terminals and CIM measurements), `lines`, `uncontained`, \
                              `points` by IEC 61850 reference (CIM identities, link rule, protocol addresses), `unresolved` links with the reason, \
                              `sources` with SHA-256, `nodes` (the CIM nodes terminals connect to, `terminals[].node`) and `diagram` (DL placements)"),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody, description = "The hub serves no imported model (no `[model]` file)")))]
async fn full_model(State(state): State<ApiState>, Authed(_caller): Authed) -> Result<Response, ApiError> {
    let b = state.backend.clone();
    let json = blocking(move || b.full_model()).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], json).into_response())
}

#[utoipa::path(get, path = "/api/model/diagram", tag = "model",
    responses((status = 200, body = OneLine,
               description = "The one-line diagram: nodes and equipment with coordinates (from the model's DL profile, else an automatic layout), \
                              switch positions (live, else the model's normal state) and what is energised, computed when the request is answered"),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody, description = "The hub serves no imported model (no `[model]` file)")))]
async fn one_line(State(state): State<ApiState>, Authed(_caller): Authed) -> Result<Json<OneLine>, ApiError> {
    let b = state.backend.clone();
    blocking(move || b.one_line()).await.map(Json)
}

#[utoipa::path(get, path = "/api/points", tag = "model", responses((status = 200, body = Vec<PointInfo>), (status = 401, body = ErrorBody)))]
async fn points(State(state): State<ApiState>, Authed(_caller): Authed) -> Result<Json<Vec<PointInfo>>, ApiError> {
    let b = state.backend.clone();
    blocking(move || b.points()).await.map(Json)
}

#[utoipa::path(get, path = "/api/values", tag = "values", params(ValuesQuery),
    responses((status = 200, body = Vec<ValueItem>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn values(
    State(state): State<ApiState>,
    Authed(_caller): Authed,
    ApiQuery(q): ApiQuery<ValuesQuery>,
) -> Result<Json<Vec<ValueItem>>, ApiError> {
    let b = state.backend.clone();
    blocking(move || b.values(q.bay.as_deref(), q.point.as_deref())).await.map(Json)
}

/// Longest history range one request may ask for.
pub const MAX_HISTORY_RANGE_NS: i64 = 400 * 86_400 * 1_000_000_000;

#[utoipa::path(get, path = "/api/points/{id}/history", tag = "values",
    params(("id" = String, Path, description = "Point id, percent-encoded (contains / and .)"), HistoryQuery),
    responses((status = 200, body = History), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn history(
    State(state): State<ApiState>,
    Authed(_caller): Authed,
    ApiPath(id): ApiPath,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<Json<History>, ApiError> {
    let from = parse_rfc3339(&q.from).map_err(|e| ApiError::BadRequest(format!("from: {e}")))?;
    let to = parse_rfc3339(&q.to).map_err(|e| ApiError::BadRequest(format!("to: {e}")))?;
    if to <= from {
        return Err(ApiError::BadRequest(format!("to ({}) must be after from ({})", q.to, q.from)));
    }
    if to - from > MAX_HISTORY_RANGE_NS {
        return Err(ApiError::BadRequest("the range may span at most 400 days".into()));
    }
    let max_points = q.max_points.unwrap_or(1000);
    if !(1..=10_000).contains(&max_points) {
        return Err(ApiError::BadRequest(format!("max_points must be 1 to 10000, got {max_points}")));
    }
    let b = state.backend.clone();
    blocking(move || b.history(&id, from, to, max_points as usize)).await.map(Json)
}

#[utoipa::path(get, path = "/api/estimation", tag = "estimation",
    responses((status = 200, body = EstimationReport), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn estimation(State(state): State<ApiState>, Authed(_caller): Authed) -> Result<Json<EstimationReport>, ApiError> {
    let b = state.backend.clone();
    blocking(move || b.estimation()).await.map(Json)
}

#[utoipa::path(get, path = "/api/alarms", tag = "alarms", params(AlarmsQuery),
    responses((status = 200, body = Vec<AlarmItem>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn alarms(
    State(state): State<ApiState>,
    Authed(_caller): Authed,
    ApiQuery(q): ApiQuery<AlarmsQuery>,
) -> Result<Json<Vec<AlarmItem>>, ApiError> {
    let active_only = q.state != Some(AlarmState::All);
    let b = state.backend.clone();
    blocking(move || b.alarms(active_only)).await.map(Json)
}

#[utoipa::path(post, path = "/api/alarms/{id}/ack", tag = "alarms", params(("id" = u64, Path)),
    responses((status = 200, body = AlarmItem), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "Already acknowledged")))]
async fn acknowledge(
    State(state): State<ApiState>,
    Authed(actor): Authed,
    ext: axum::Extension<Extensions>,
    ApiPath(id): ApiPath,
) -> Result<Json<AlarmItem>, ApiError> {
    let id: u64 = id.parse().map_err(|_| ApiError::BadRequest(format!("alarm id must be a number, got `{id}`")))?;
    if let Err(e) = require(&actor, Role::OPERATING, "acknowledging an alarm") {
        audit(&state, &actor.name, "alarm_ack", "refused", format!("alarm {id}: {e}"), ext.0.remote).await;
        return Err(e);
    }
    let (b, a) = (state.backend.clone(), actor.clone());
    let result = blocking(move || b.acknowledge(id, &a)).await;
    let outcome = if result.is_ok() { "ok" } else { "failed" };
    audit(
        &state,
        &actor.name,
        "alarm_ack",
        outcome,
        format!("alarm {id}{}", result.as_ref().err().map(|e| format!(": {e}")).unwrap_or_default()),
        ext.0.remote,
    )
    .await;
    result.map(Json)
}

#[utoipa::path(get, path = "/api/incidents", tag = "incidents",
    responses((status = 200, body = Vec<IncidentItem>), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "The hub serves no grid model")))]
async fn incidents(State(state): State<ApiState>, Authed(_caller): Authed) -> Result<Json<Vec<IncidentItem>>, ApiError> {
    let b = state.backend.clone();
    blocking(move || b.incidents()).await.map(Json)
}

#[utoipa::path(post, path = "/api/incidents/{id}/prepare", tag = "incidents", params(("id" = u64, Path)), request_body = DecisionRequest,
    responses((status = 200, body = PreparedDecision, description = "The decision to sign with the person's passkey, and its challenge"),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "The person has no approved passkey"),
              (status = 503, body = ErrorBody, description = "The hub has no [webauthn] configuration")))]
async fn prepare_decision(
    State(state): State<ApiState>,
    Authed(actor): Authed,
    ApiPath(id): ApiPath,
    ApiJson(req): ApiJson<DecisionRequest>,
) -> Result<Json<PreparedDecision>, ApiError> {
    let id = incident_id(&id)?;
    require(&actor, Role::OPERATING, "deciding on an incident")?;
    let (b, a) = (state.backend.clone(), actor.clone());
    blocking(move || b.prepare_decision(id, &req, &a)).await.map(Json)
}

#[utoipa::path(post, path = "/api/incidents/{id}/decide", tag = "incidents", params(("id" = u64, Path)), request_body = DecisionRequest,
    responses((status = 200, body = IncidentItem, description = "Signed, in the transparency log, and applied"),
              (status = 400, body = ErrorBody, description = "Bad input; or an action without a passkey assertion and the hub has no console fallback"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "Already acknowledged")))]
async fn decide_incident(
    State(state): State<ApiState>,
    Authed(actor): Authed,
    ext: axum::Extension<Extensions>,
    ApiPath(id): ApiPath,
    ApiJson(req): ApiJson<DecisionRequest>,
) -> Result<Json<IncidentItem>, ApiError> {
    let id = incident_id(&id)?;
    if let Err(e) = require(&actor, Role::OPERATING, "deciding on an incident") {
        audit(&state, &actor.name, "incident_decision", "refused", format!("incident {id}: {e}"), ext.0.remote).await;
        return Err(e);
    }
    let (b, a) = (state.backend.clone(), actor.clone());
    let result = blocking(move || b.decide_incident(id, &req, &a)).await;
    let outcome = if result.is_ok() { "ok" } else { "failed" };
    let detail = match &result {
        Ok(i) => i.decisions.last().map_or_else(|| format!("incident {id}"), |d| format!("{} (log entry {})", d.summary, d.log_index)),
        Err(e) => format!("incident {id}: {e}"),
    };
    audit(&state, &actor.name, "incident_decision", outcome, detail, ext.0.remote).await;
    result.map(Json)
}

fn incident_id(id: &str) -> Result<u64, ApiError> {
    id.parse().map_err(|_| ApiError::BadRequest(format!("incident id must be a number, got `{id}`")))
}

#[utoipa::path(post, path = "/api/commands/prepare", tag = "commands", request_body = CommandRequest,
    responses((status = 200, body = PreparedCommand, description = "The command to sign with the person's passkey, and its digest (the challenge)"),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "The person has no approved passkey"),
              (status = 503, body = ErrorBody, description = "The hub has no [webauthn] configuration")))]
async fn prepare_command(
    State(state): State<ApiState>,
    Authed(actor): Authed,
    ApiJson(req): ApiJson<CommandRequest>,
) -> Result<Json<PreparedCommand>, ApiError> {
    require(&actor, Role::OPERATING, "issuing a command")?;
    let (b, a) = (state.backend.clone(), actor.clone());
    blocking(move || b.prepare_command(&req, &a)).await.map(Json)
}

#[utoipa::path(get, path = "/api/enrolments", tag = "enrolments", params(EnrolmentsQuery),
    responses((status = 200, body = Vec<EnrolmentItem>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn enrolments(
    State(state): State<ApiState>,
    Authed(actor): Authed,
    ApiQuery(q): ApiQuery<EnrolmentsQuery>,
) -> Result<Json<Vec<EnrolmentItem>>, ApiError> {
    let all = q.all.unwrap_or(false);
    if all {
        require(&actor, ENROLMENT_APPROVERS, "listing every enrolment")?;
    }
    state.backend.enrolments(&actor, all).map(Json)
}

#[utoipa::path(post, path = "/api/enrolments", tag = "enrolments", request_body = EnrolmentRequest,
    responses((status = 201, body = EnrolmentItem, description = "Pending until a SECADM approves it with an operator certificate"),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn request_enrolment(
    State(state): State<ApiState>,
    Authed(actor): Authed,
    ext: axum::Extension<Extensions>,
    ApiJson(req): ApiJson<EnrolmentRequest>,
) -> Result<(StatusCode, Json<EnrolmentItem>), ApiError> {
    if actor.machine {
        return Err(ApiError::Forbidden("machines sign with their certificate's key; passkeys are for people".into()));
    }
    let (b, a) = (state.backend.clone(), actor.clone());
    let result = blocking(move || b.request_enrolment(&req, &a)).await;
    let (outcome, detail) = match &result {
        Ok(item) => ("ok", format!("enrolment {} requested as {}", item.id, item.role)),
        Err(e) => ("refused", e.to_string()),
    };
    audit(&state, &actor.name, "enrolment", outcome, detail, ext.0.remote).await;
    result.map(|item| (StatusCode::CREATED, Json(item)))
}

#[utoipa::path(post, path = "/api/enrolments/{id}/approve", tag = "enrolments", params(("id" = u64, Path)), request_body = ApproveRequest,
    responses((status = 200, body = EnrolmentItem, description = "Approved and appended to the transparency log"),
              (status = 400, body = ErrorBody, description = "The certificate does not validate or does not fit the enrolment"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn approve_enrolment(
    State(state): State<ApiState>,
    Authed(actor): Authed,
    ext: axum::Extension<Extensions>,
    ApiPath(id): ApiPath,
    ApiJson(req): ApiJson<ApproveRequest>,
) -> Result<Json<EnrolmentItem>, ApiError> {
    let id: u64 = id.parse().map_err(|_| ApiError::BadRequest(format!("enrolment id must be a number, got `{id}`")))?;
    if let Err(e) = require(&actor, ENROLMENT_APPROVERS, "approving an enrolment") {
        audit(&state, &actor.name, "enrolment_approve", "refused", format!("enrolment {id}: {e}"), ext.0.remote).await;
        return Err(e);
    }
    let (b, a) = (state.backend.clone(), actor.clone());
    let result = blocking(move || b.approve_enrolment(id, &req, &a)).await;
    let (outcome, detail) = match &result {
        Ok(item) => ("ok", format!("enrolment {id}: {} as {}", item.name, item.role)),
        Err(e) => ("refused", format!("enrolment {id}: {e}")),
    };
    audit(&state, &actor.name, "enrolment_approve", outcome, detail, ext.0.remote).await;
    result.map(Json)
}

#[utoipa::path(post, path = "/api/commands", tag = "commands", request_body = CommandRequest,
    responses((status = 202, body = CommandItem, description = "Signed by the person's passkey (or the console fallback) and routed; follow its state"),
              (status = 400, body = ErrorBody, description = "Bad input; or no assertion, and the hub has no console fallback"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn issue_command(
    State(state): State<ApiState>,
    Authed(actor): Authed,
    ext: axum::Extension<Extensions>,
    ApiJson(req): ApiJson<CommandRequest>,
) -> Result<(StatusCode, Json<CommandItem>), ApiError> {
    let what = format!("{} {} {}={}", req.action, req.point, req.value.kind, req.value.value);
    if let Err(e) = require(&actor, Role::OPERATING, "issuing a command") {
        audit(&state, &actor.name, "command", "refused", format!("{what}: {e}"), ext.0.remote).await;
        return Err(e);
    }
    let (b, a) = (state.backend.clone(), actor.clone());
    let result = blocking(move || b.issue_command(&req, &a)).await;
    match &result {
        Ok(item) => audit(&state, &actor.name, "command", "ok", format!("{what}: command {} issued", item.id), ext.0.remote).await,
        Err(e) => audit(&state, &actor.name, "command", "refused", format!("{what}: {e}"), ext.0.remote).await,
    }
    result.map(|item| (StatusCode::ACCEPTED, Json(item)))
}

#[utoipa::path(get, path = "/api/commands", tag = "commands", params(CommandsQuery),
    responses((status = 200, body = Vec<CommandItem>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn commands(
    State(state): State<ApiState>,
    Authed(_caller): Authed,
    ApiQuery(q): ApiQuery<CommandsQuery>,
) -> Result<Json<Vec<CommandItem>>, ApiError> {
    let limit = bounded_limit(q.limit)?;
    state.backend.commands(limit).map(Json)
}

fn bounded_limit(limit: Option<u32>) -> Result<usize, ApiError> {
    match limit.unwrap_or(100) {
        n @ 1..=1000 => Ok(n as usize),
        n => Err(ApiError::BadRequest(format!("limit must be 1 to 1000, got {n}"))),
    }
}

#[utoipa::path(get, path = "/api/commands/{id}", tag = "commands", params(("id" = u64, Path)),
    responses((status = 200, body = CommandItem), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn command(State(state): State<ApiState>, Authed(_caller): Authed, ApiPath(id): ApiPath) -> Result<Json<CommandItem>, ApiError> {
    let id: u64 = id.parse().map_err(|_| ApiError::BadRequest(format!("command id must be a number, got `{id}`")))?;
    state.backend.command(id).map(Json)
}

#[utoipa::path(get, path = "/api/evidence", tag = "evidence", params(EvidenceQuery),
    responses((status = 200, body = Evidence), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn evidence(
    State(state): State<ApiState>,
    Authed(_caller): Authed,
    ApiQuery(q): ApiQuery<EvidenceQuery>,
) -> Result<Json<Evidence>, ApiError> {
    let b = state.backend.clone();
    blocking(move || b.evidence(&q.point, q.seq)).await.map(Json)
}

#[utoipa::path(get, path = "/api/checkpoints/latest", tag = "evidence",
    responses((status = 200, body = CheckpointItem), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody, description = "No checkpoint signed yet")))]
async fn latest_checkpoint(State(state): State<ApiState>, Authed(_caller): Authed) -> Result<Json<CheckpointItem>, ApiError> {
    state.backend.latest_checkpoint().map(Json)
}

#[utoipa::path(get, path = "/api/log/entries", tag = "evidence", params(LogQuery),
    responses((status = 200, body = Vec<LogEntryItem>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn log_entries(
    State(state): State<ApiState>,
    Authed(actor): Authed,
    ApiQuery(q): ApiQuery<LogQuery>,
) -> Result<Json<Vec<LogEntryItem>>, ApiError> {
    require(&actor, LOG_READERS, "reading the transparency log")?;
    let count = bounded_limit(q.count)? as u64;
    let b = state.backend.clone();
    blocking(move || b.log_entries(q.from.unwrap_or(0), count)).await.map(Json)
}

#[utoipa::path(get, path = "/api/audit", tag = "evidence", params(AuditQuery),
    responses((status = 200, body = Vec<AuditEvent>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn audit_trail(
    State(state): State<ApiState>,
    Authed(actor): Authed,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<Vec<AuditEvent>>, ApiError> {
    require(&actor, AUDIT_READERS, "reading the audit trail")?;
    let limit = bounded_limit(q.limit)?;
    let b = state.backend.clone();
    blocking(move || b.audit_trail(limit)).await.map(Json)
}

#[utoipa::path(get, path = "/api/events", tag = "values",
    responses((status = 200, content_type = "text/event-stream", description = "`event: value|alarm|command`, data: the item as JSON"),
              (status = 401, body = ErrorBody)))]
async fn events(
    State(state): State<ApiState>,
    Authed(_caller): Authed,
) -> Sse<impl tokio_stream::Stream<Item = Result<Event, Infallible>>> {
    let stream = BroadcastStream::new(state.backend.subscribe()).filter_map(|e| {
        let e = e.ok()?;
        let (name, data) = match e {
            LiveEvent::Value(v) => ("value", serde_json::to_string(&v)),
            LiveEvent::Alarm(a) => ("alarm", serde_json::to_string(&a)),
            LiveEvent::Command(c) => ("command", serde_json::to_string(&c)),
        };
        Some(Ok(Event::default().event(name).data(data.ok()?)))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

#[utoipa::path(post, path = "/api/demo/tamper", tag = "demo",
    responses((status = 200, body = TamperResult), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "The hub does not run inside the demo")))]
async fn tamper(
    State(state): State<ApiState>,
    Authed(actor): Authed,
    ext: axum::Extension<Extensions>,
) -> Result<Json<TamperResult>, ApiError> {
    require(&actor, Role::OPERATING, "demo fault injection")?;
    match state.backend.tamper() {
        None => Err(ApiError::NotFound("fault injection exists only in `gridtrust demo`".into())),
        Some(result) => {
            audit(
                &state,
                &actor.name,
                "tamper",
                if result.is_ok() { "ok" } else { "failed" },
                "demo: next batch tampered".into(),
                ext.0.remote,
            )
            .await;
            result.map(Json)
        }
    }
}

#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
async fn healthz(State(state): State<ApiState>) -> Json<Health> {
    Json(state.backend.health())
}

#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, content_type = "text/plain", description = "Prometheus text format 0.0.4")))]
async fn metrics(State(state): State<ApiState>) -> Response {
    let mut text = state.backend.metrics();
    let mut e = Exposition::default();
    let classes: Vec<(String, u64)> = state
        .http
        .by_class
        .iter()
        .enumerate()
        .map(|(i, c)| (format!("{}xx", i + 1), c.load(std::sync::atomic::Ordering::Relaxed)))
        .collect();
    let samples: Vec<([(&str, &str); 1], u64)> = classes.iter().map(|(c, n)| ([("class", c.as_str())], *n)).collect();
    let samples: Vec<(&[(&str, &str)], u64)> = samples.iter().map(|(l, n)| (l.as_slice(), *n)).collect();
    e.counter("gridtrust_http_responses_total", "HTTP responses by status class.", &samples)
        .counter(
            "gridtrust_logins_failed_total",
            "Failed logins.",
            &[(&[], state.http.logins_failed.load(std::sync::atomic::Ordering::Relaxed))],
        )
        .counter(
            "gridtrust_logins_refused_total",
            "Logins refused unchecked: locked out, or too many at once.",
            &[(&[], state.http.logins_refused.load(std::sync::atomic::Ordering::Relaxed))],
        )
        .histogram("gridtrust_http_request_seconds", "HTTP request latency.", &state.http.latency);
    text.push_str(&e.finish());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

#[utoipa::path(get, path = "/api/openapi.json", tag = "operations", responses((status = 200, description = "This document")))]
async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// Request details handlers want besides the body.
#[derive(Clone, Copy, Debug, Default)]
struct Extensions {
    remote: Option<SocketAddr>,
}

/// Counts and times every request and records its client address for audit entries.
async fn observe(State(state): State<ApiState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let peer = remote_of(req.extensions());
    let remote = if state.trusted_proxies.is_empty() { peer } else { client_of(peer, req.headers(), &state.trusted_proxies) };
    req.extensions_mut().insert(Extensions { remote });
    let response = next.run(req).await;
    state.http.latency.observe(started.elapsed());
    let class = usize::from(response.status().as_u16() / 100).saturating_sub(1);
    if let Some(c) = state.http.by_class.get(class) {
        c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    response
}

/// The answer for an `/api/...` path no route matches.
pub async fn api_not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no API endpoint {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> Response {
    let e = ErrorBody { error: "method_not_allowed".into(), message: format!("{method} is not allowed on {}", uri.path()) };
    (StatusCode::METHOD_NOT_ALLOWED, Json(e)).into_response()
}

/// The OpenAPI 3.1 document, generated from the handlers above.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "gridtrust hub API",
        description = "Model, values, history, alarms, commands and evidence of the gridtrust hub. People log in (cookie session, send `X-Gridtrust-CSRF: 1` on POST); machines present a client certificate on the machine listener."
    ),
    paths(
        login,
        logout,
        me,
        model,
        full_model,
        one_line,
        points,
        values,
        history,
        estimation,
        alarms,
        acknowledge,
        incidents,
        prepare_decision,
        decide_incident,
        issue_command,
        prepare_command,
        commands,
        command,
        enrolments,
        request_enrolment,
        approve_enrolment,
        evidence,
        latest_checkpoint,
        log_entries,
        audit_trail,
        events,
        tamper,
        healthz,
        metrics,
        openapi
    ),
    components(schemas(
        ErrorBody,
        LoginRequest,
        SessionInfo,
        Model,
        Substation,
        VoltageLevel,
        Bay,
        Equipment,
        PointInfo,
        CimRefs,
        ValueItem,
        OneLine,
        OneLineLayout,
        OneLineXY,
        OneLineNode,
        OneLineKind,
        OneLineEquipment,
        OneLineSwitch,
        SwitchPosition,
        PositionSource,
        QualityInfo,
        TrustInfo,
        History,
        Sample,
        AlarmItem,
        AckInfo,
        IncidentItem,
        IncidentDecision,
        DecisionStepKind,
        DecisionRequest,
        DecisionAssertion,
        PreparedDecision,
        IncidentAlarm,
        IncidentEquipment,
        IncidentSupply,
        IncidentLoad,
        IncidentRecommendation,
        CommandRequest,
        CommandValueDto,
        CommandItem,
        Evidence,
        CommandAssertion,
        PreparedCommand,
        EnrolmentRequest,
        EnrolmentItem,
        ApproveRequest,
        RecordBytes,
        BatchProof,
        RecordProof,
        SignerInfo,
        LogProof,
        CheckpointItem,
        LogEntryItem,
        AuditEvent,
        Health,
        TamperResult,
        EstimationReport,
        MeasurementOrigin,
        EstimatedMeasurement,
        AttackCost,
        BusEstimate,
        PointProfile
    ))
)]
pub struct ApiDoc;

/// The API's routes (everything under `/api`, `/metrics`, `/healthz`); see [`crate::app`] for
/// unknown paths and the web UI.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/api/login", post(login))
        .route("/api/logout", post(logout))
        .route("/api/me", get(me))
        .route("/api/model", get(model))
        .route("/api/model/full", get(full_model))
        .route("/api/model/diagram", get(one_line))
        .route("/api/points", get(points))
        .route("/api/points/{id}/history", get(history))
        .route("/api/values", get(values))
        .route("/api/events", get(events))
        .route("/api/estimation", get(estimation))
        .route("/api/alarms", get(alarms))
        .route("/api/alarms/{id}/ack", post(acknowledge))
        .route("/api/incidents", get(incidents))
        .route("/api/incidents/{id}/prepare", post(prepare_decision))
        .route("/api/incidents/{id}/decide", post(decide_incident))
        .route("/api/commands", get(commands).post(issue_command))
        .route("/api/commands/prepare", post(prepare_command))
        .route("/api/commands/{id}", get(command))
        .route("/api/enrolments", get(enrolments).post(request_enrolment))
        .route("/api/enrolments/{id}/approve", post(approve_enrolment))
        .route("/api/evidence", get(evidence))
        .route("/api/checkpoints/latest", get(latest_checkpoint))
        .route("/api/log/entries", get(log_entries))
        .route("/api/audit", get(audit_trail))
        .route("/api/demo/tamper", post(tamper))
        .route("/api/openapi.json", get(openapi))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi_lists_every_route_with_its_error_shape() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        for path in [
            "/api/login",
            "/api/model/full",
            "/api/model/diagram",
            "/api/points/{id}/history",
            "/api/alarms/{id}/ack",
            "/api/evidence",
            "/api/log/entries",
            "/metrics",
            "/healthz",
        ] {
            assert!(doc["paths"].get(path).is_some(), "{path} missing from the OpenAPI document");
        }
        assert!(doc["components"]["schemas"]["ErrorBody"]["properties"]["message"].is_object());
    }

    #[test]
    fn only_a_trusted_proxy_names_the_client_and_only_with_the_address_it_added() {
        let proxy: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let browser: SocketAddr = "192.0.2.9:6000".parse().unwrap();
        let trusted: Vec<IpAddr> = vec![proxy.ip()];
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("10.9.9.9, 198.51.100.4"));
        assert_eq!(client_of(Some(proxy), &h, &trusted), Some("198.51.100.4:0".parse().unwrap()));
        assert_eq!(client_of(Some(browser), &h, &trusted), Some(browser), "an untrusted peer's header is ignored");
        h.insert("x-forwarded-for", HeaderValue::from_static("not an address"));
        assert_eq!(client_of(Some(proxy), &h, &trusted), Some(proxy));
        assert_eq!(client_of(Some(proxy), &HeaderMap::new(), &trusted), Some(proxy));
    }

    #[test]
    fn session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; gridtrust_session=abc; b=2"));
        assert_eq!(session_token(&h), Some("abc"));
        h.insert(header::COOKIE, HeaderValue::from_static("gridtrust_sessionx=abc"));
        assert_eq!(session_token(&h), None);
    }
}
