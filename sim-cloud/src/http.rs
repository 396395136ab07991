//! The HTTP surface: route table, handlers, authentication and JSON
//! plumbing. Every handler calls the same [`SimAdmin`] function the
//! in-process helpers use.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::handler::Handler;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::{middleware, Json, Router};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use smartcontrol_cloud_api::{
    JobKind, JobStatus, LoginRequest, PushActionsRequest, RefreshRequest, ACTIONS_PATH,
    CHANGES_PATH, HELD_GRANTS_PARAM, HELD_REVOCATIONS_PARAM, LOGIN_PATH, MAX_CHANGES_PAGE,
    REFRESH_PATH, VEHICLE_MODELS_PATH,
};
use tower_http::compression::CompressionLayer;
use tower_http::decompression::RequestDecompressionLayer;

use crate::domain::Held;
use crate::error::{SimError, SimResult};
use crate::faults::{fault_layer, stats_layer, FaultConfig, FaultState, SharedFaults, Stats};
use crate::model::{
    CompanyRef, CompleteRegistration, JobFilter, NewJob, NewPartnerInvitation, NewUser,
    NewUserInvitation, RegisteredDevice, UserPatch,
};
use crate::{AuthUser, SimAdmin};

/// The OpenAPI 3 document of every route, served at `/openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("../../docs/sim-cloud-openapi.json");

/// Shared state of the handlers.
#[derive(Clone)]
pub(crate) struct AppState {
    pub admin: SimAdmin,
    pub faults: SharedFaults,
    pub stats: Arc<Stats>,
    /// See [`crate::SimCloud::set_streamed_changes`].
    pub streamed_changes: Arc<std::sync::atomic::AtomicBool>,
}

impl AppState {
    pub(crate) fn new(admin: SimAdmin, faults: FaultConfig) -> Self {
        AppState {
            admin,
            faults: Arc::new(std::sync::Mutex::new(FaultState::new(faults))),
            stats: Arc::new(Stats::default()),
            streamed_changes: Arc::new(std::sync::atomic::AtomicBool::new(true)),
        }
    }
}

/// Which middleware a route gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    /// Technician-facing (`/api/v1/auth/*`, `/api/v1/technician/*`): faults apply.
    Technician,
    /// Everything else.
    Other,
}

struct RouteDef {
    method: &'static str,
    path: &'static str,
    group: Group,
    router: MethodRouter<AppState>,
}

fn filter(method: &str) -> MethodFilter {
    match method {
        "GET" => MethodFilter::GET,
        "POST" => MethodFilter::POST,
        "PUT" => MethodFilter::PUT,
        "PATCH" => MethodFilter::PATCH,
        _ => MethodFilter::DELETE,
    }
}

fn r<H, T>(method: &'static str, path: &'static str, group: Group, handler: H) -> RouteDef
where
    H: Handler<T, AppState>,
    T: 'static,
{
    RouteDef {
        method,
        path,
        group,
        router: on(filter(method), handler),
    }
}

fn route_table() -> Vec<RouteDef> {
    use Group::{Other as O, Technician as T};
    vec![
        r("POST", LOGIN_PATH, T, login),
        r("POST", REFRESH_PATH, T, refresh),
        r("GET", CHANGES_PATH, T, changes),
        r("POST", ACTIONS_PATH, T, push_actions),
        r("GET", VEHICLE_MODELS_PATH, T, vehicle_models),
        r(
            "GET",
            "/api/v1/devices/{serial}/revocation-list",
            O,
            device_revocation_list,
        ),
        r(
            "GET",
            "/api/v1/provider/fleets/{fleet_id}/devices",
            O,
            provider_list_devices,
        ),
        r(
            "POST",
            "/api/v1/provider/fleets/{fleet_id}/devices",
            O,
            provider_register_device,
        ),
        r("GET", "/api/v1/provider/vehicles", O, provider_vehicles),
        r(
            "GET",
            "/api/v1/provider/vehicles/{vin}",
            O,
            provider_vehicle,
        ),
        r(
            "DELETE",
            "/api/v1/partner/users/{id}",
            O,
            partner_remove_user,
        ),
        r("GET", "/api/v1/provider/fleets", O, provider_fleets),
        r(
            "GET",
            "/api/v1/provider/devices/{serial}/revocations",
            O,
            provider_device_revocations,
        ),
        r(
            "POST",
            "/api/v1/provider/fleets/{fleet_id}/invitations",
            O,
            provider_invite,
        ),
        r(
            "GET",
            "/api/v1/provider/connections",
            O,
            provider_connections,
        ),
        r("GET", "/api/v1/provider/jobs", O, provider_list_jobs),
        r("POST", "/api/v1/provider/jobs", O, provider_create_job),
        r("POST", "/api/v1/provider/jobs/import", O, provider_import),
        r("GET", "/api/v1/provider/jobs/{id}", O, provider_get_job),
        r(
            "PATCH",
            "/api/v1/provider/jobs/{id}",
            O,
            provider_update_job,
        ),
        r(
            "DELETE",
            "/api/v1/provider/jobs/{id}",
            O,
            provider_delete_job,
        ),
        r(
            "POST",
            "/api/v1/provider/jobs/{id}/assign",
            O,
            provider_assign,
        ),
        r(
            "POST",
            "/api/v1/provider/jobs/{id}/unassign",
            O,
            provider_unassign,
        ),
        r("GET", "/api/v1/partner/connections", O, partner_connections),
        r(
            "POST",
            "/api/v1/partner/connections/{id}/accept",
            O,
            partner_accept,
        ),
        r(
            "POST",
            "/api/v1/partner/connections/{id}/decline",
            O,
            partner_decline,
        ),
        r(
            "DELETE",
            "/api/v1/partner/connections/{id}",
            O,
            partner_delete_connection,
        ),
        r(
            "POST",
            "/api/v1/provider/fleets/{fleet_id}/partner-invitations",
            O,
            provider_invite_partner,
        ),
        r(
            "GET",
            "/api/v1/provider/partner-invitations",
            O,
            provider_partner_invitations,
        ),
        r("GET", "/api/v1/partner/invitations", O, partner_invitations),
        r(
            "POST",
            "/api/v1/partner/invitations",
            O,
            partner_invite_user,
        ),
        r(
            "PATCH",
            "/api/v1/partner/users/{id}",
            O,
            partner_update_user,
        ),
        r("GET", "/api/v1/registrations/{token}", O, registration_get),
        r(
            "POST",
            "/api/v1/registrations/{token}/complete",
            O,
            registration_complete,
        ),
        r(
            "POST",
            "/api/v1/registrations/{token}/decline",
            O,
            registration_decline,
        ),
        r("GET", "/api/v1/partner/users", O, partner_users),
        r("POST", "/api/v1/partner/users", O, partner_create_user),
        r("GET", "/api/v1/partner/settings", O, partner_settings),
        r("PUT", "/api/v1/partner/settings", O, partner_put_settings),
        r(
            "DELETE",
            "/api/v1/partner/company",
            O,
            partner_delete_company,
        ),
        r("GET", "/openapi.json", O, openapi),
        r("GET", "/_sim/faults", O, sim_get_faults),
        r("POST", "/_sim/faults", O, sim_set_faults),
        r("GET", "/_sim/stats", O, sim_stats),
        r("POST", "/_sim/stats/reset", O, sim_reset_stats),
        r("GET", "/_sim/clock", O, sim_get_clock),
        r("POST", "/_sim/clock", O, sim_set_clock),
        r("POST", "/_sim/providers", O, sim_create_provider),
        r("GET", "/_sim/emails", O, sim_emails),
    ]
}

/// Every `(METHOD, path)` the router serves (paths in OpenAPI `{param}`
/// syntax).
pub fn routes() -> Vec<(&'static str, &'static str)> {
    route_table()
        .into_iter()
        .map(|d| (d.method, d.path))
        .collect()
}

/// Builds the router over `state`.
pub(crate) fn router(state: AppState) -> Router {
    let mut technician = Router::new();
    let mut other = Router::new();
    for d in route_table() {
        match d.group {
            Group::Technician => technician = technician.route(d.path, d.router),
            Group::Other => other = other.route(d.path, d.router),
        }
    }
    let technician = technician.layer(middleware::from_fn_with_state(
        state.faults.clone(),
        fault_layer,
    ));
    technician
        .merge(other)
        .fallback(|| async { SimError::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            SimError::new(
                405,
                "method_not_allowed",
                "method not allowed on this route",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        // Bytes on the wire (phones on cellular, in garages): request bodies
        // sent with `Content-Encoding: zstd` or `gzip` are decompressed
        // before the handlers (and the body limit above, which counts the
        // decompressed bytes) see them; responses are compressed with zstd
        // or gzip when the request's `Accept-Encoding` offers one. The JSON
        // itself is unchanged. `json_errors` sits between the two, so that
        // a body that does not decode is an ApiError too and error bodies
        // are compressed like any other.
        .layer(RequestDecompressionLayer::new().gzip(true).zstd(true))
        .layer(middleware::from_fn(json_errors))
        .layer(CompressionLayer::new().gzip(true).zstd(true))
        .layer(middleware::from_fn_with_state(
            state.stats.clone(),
            stats_layer,
        ))
        .with_state(state)
}

/// Largest request body accepted (413 `payload_too_large` beyond).
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// The `ApiError` code of a non-JSON error answer with `status` (axum's
/// own rejections: body limit, invalid UTF-8, path parameters).
fn code_for_status(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        409 => "conflict",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        422 => "bad_request",
        503 => "unavailable",
        s if s >= 500 => "internal",
        _ => "bad_request",
    }
}

/// Middleware: every error answer is an `ApiError` JSON body. Error
/// answers that are not JSON (axum's rejections) are rewritten with their
/// status, a code for it and their text as the message.
async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = match axum::body::to_bytes(body, 64 * 1024).await {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_owned(),
        Err(e) => format!("error body unreadable: {e}"),
    };
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_owned()
    } else {
        text
    };
    tracing::debug!(%status, %message, "non-JSON error answer rewritten as ApiError");
    let mut out = SimError::new(status.as_u16(), code_for_status(status), message).into_response();
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}

/// JSON body extractor whose rejection is an `ApiError` body.
pub(crate) struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = SimError;
    async fn from_request(req: Request, state: &S) -> Result<Self, SimError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(e) => Err(json_rejection(e)),
        }
    }
}

/// A JSON body rejection as an `ApiError`: 413 `payload_too_large`, 415
/// `unsupported_media_type` (no `Content-Type: application/json`), else
/// 400 `bad_request` (malformed JSON or a wrong shape).
fn json_rejection(e: JsonRejection) -> SimError {
    let status = match e.status() {
        StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
        s => s,
    };
    SimError::new(status.as_u16(), code_for_status(status), e.body_text())
}

/// The authenticated user (Bearer access token).
pub(crate) struct Auth(pub AuthUser);

impl FromRequestParts<AppState> for Auth {
    type Rejection = SimError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, SimError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| {
                s.strip_prefix("Bearer ")
                    .or_else(|| s.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or_else(|| SimError::unauthorized("missing bearer token"))?;
        state.admin.authenticate(token).map(Auth)
    }
}

/// Runs a domain call on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> SimResult<T> + Send + 'static,
) -> SimResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| SimError::internal(format!("task failed: {e}")))?
}

type Q = Query<HashMap<String, String>>;

async fn login(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> SimResult<Response> {
    let t = blocking(move || s.admin.login(&req)).await?;
    Ok(Json(t).into_response())
}

async fn refresh(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> SimResult<Response> {
    let t = blocking(move || s.admin.refresh(&req.refresh_token)).await?;
    Ok(Json(t).into_response())
}

async fn changes(State(s): State<AppState>, Auth(u): Auth, Query(q): Q) -> SimResult<Response> {
    let limit = match q.get("limit").filter(|l| !l.is_empty()) {
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=MAX_CHANGES_PAGE).contains(&n) => Some(n),
            _ => {
                return Err(SimError::bad_request(format!(
                    "limit {l:?}: give a page size from 1 to {MAX_CHANGES_PAGE}"
                )))
            }
        },
        None => None,
    };
    let since = q.get("since").cloned();
    if let Some(c) = since.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        if c.parse::<u64>().is_err() || c.parse::<i64>().is_err() {
            return Err(SimError::bad_request(format!(
                "since {c:?} is not a cursor: give the cursor of the previous answer, or omit it to start over"
            )));
        }
    }
    let held = Held::parse(
        q.get(HELD_GRANTS_PARAM).map(String::as_str),
        q.get(HELD_REVOCATIONS_PARAM).map(String::as_str),
    )?;
    u.require_technician()?;
    if !s
        .streamed_changes
        .load(std::sync::atomic::Ordering::Relaxed)
    {
        let c =
            blocking(move || s.admin.changes_holding(&u, since.as_deref(), limit, &held)).await?;
        return Ok(Json(c).into_response());
    }
    // The page goes on the wire while it is read, as a server streaming its
    // answer would: the rows are read and serialised at full speed in a
    // blocking task (never waiting for a slow client, so the database is
    // held no longer than the reading takes; at most a page waits in
    // memory), and the compression layer compresses each piece as it comes.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<SimResult<Bytes>>();
    tokio::task::spawn_blocking(move || {
        let mut send = |piece: Vec<u8>| {
            // The client went away: the rest of the page is not wanted.
            let _ = tx.send(Ok(Bytes::from(piece)));
        };
        if let Err(e) = s.admin.changes_json(
            &u,
            since.as_deref(),
            limit,
            &held,
            CHANGES_PIECE_BYTES,
            &mut send,
        ) {
            let _ = tx.send(Err(e));
        }
    });
    // An error before the first piece (a cursor, the database) is an
    // answer of its own; after it the status is sent, and an error cuts the
    // answer short (the client sees a broken transfer and asks again).
    let first = match rx.recv().await {
        Some(Ok(piece)) => piece,
        Some(Err(e)) => return Err(e),
        None => {
            return Err(SimError::internal(
                "the changes feed stopped before answering",
            ))
        }
    };
    // (`poll_fn`, not `unfold`: the compression layer polls again after the end.)
    let rest = futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx)
            .map(|item| item.map(|r| r.map_err(|e| std::io::Error::other(e.to_string()))))
    });
    let pieces = futures_util::stream::once(std::future::ready(Ok(first))).chain(rest);
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        axum::body::Body::from_stream(pieces),
    )
        .into_response())
}

/// Bytes of JSON per piece of a streamed changes page (about 50 jobs): small
/// enough that the first bytes leave within a millisecond or two of the
/// request, large enough that each piece's compression flush costs little.
const CHANGES_PIECE_BYTES: usize = 64 * 1024;

async fn vehicle_models(State(s): State<AppState>, Auth(u): Auth) -> SimResult<Response> {
    Ok(Json(s.admin.vehicle_models(&u)?).into_response())
}

async fn device_revocation_list(
    State(s): State<AppState>,
    Path(serial): Path<String>,
) -> SimResult<Response> {
    Ok(Json(blocking(move || s.admin.device_revocation_list(&serial)).await?).into_response())
}

async fn provider_list_devices(
    State(s): State<AppState>,
    Auth(u): Auth,
    Path(fleet_id): Path<String>,
) -> SimResult<Response> {
    let p = u.provider()?.to_owned();
    Ok(Json(blocking(move || s.admin.list_devices(&p, &fleet_id)).await?).into_response())
}

async fn provider_register_device(
    State(s): State<AppState>,
    Auth(u): Auth,
    Path(fleet_id): Path<String>,
    ApiJson(device): ApiJson<RegisteredDevice>,
) -> SimResult<Response> {
    let p = u.provider()?.to_owned();
    let d = blocking(move || s.admin.register_device(&p, &fleet_id, &device)).await?;
    Ok((StatusCode::CREATED, Json(d)).into_response())
}

async fn provider_vehicles(State(s): State<AppState>, Auth(u): Auth) -> SimResult<Response> {
    let p = u.provider()?.to_owned();
    Ok(Json(blocking(move || s.admin.list_vehicles(&p)).await?).into_response())
}

async fn provider_vehicle(
    State(s): State<AppState>,
    Auth(u): Auth,
    Path(vin): Path<String>,
) -> SimResult<Response> {
    let p = u.provider()?.to_owned();
    Ok(Json(blocking(move || s.admin.vehicle(&p, &vin)).await?).into_response())
}

async fn partner_remove_user(
    State(s): State<AppState>,
    Auth(u): Auth,
    Path(id): Path<String>,
) -> SimResult<Response> {
    let c = u.admin_company()?.to_owned();
    let me = u.id.clone();
    blocking(move || s.admin.remove_company_user(&c, &me, &id)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn push_actions(
    State(s): State<AppState>,
    Auth(u): Auth,
    ApiJson(req): ApiJson<PushActionsRequest>,
) -> SimResult<Response> {
    let out = blocking(move || s.admin.push_actions(&u, &req)).await?;
    Ok(Json(out).into_response())
}

async fn provider_fleets(State(s): State<AppState>, Auth(u): Auth) -> SimResult<Response> {
    let p = u.provider()?.to_owned();
    Ok(Json(blocking(move || s.admin.list_fleets(&p)).await?).into_response())
}

async fn provider_device_revocations(
    State(s): State<AppState>,
    Auth(u): Auth,
    Path(serial): Path<String>,
) -> SimResult<Response> {
    let p = u.provider()?.to_owned();
    Ok(Json(blocking(move || s.admin.device_revocations(&p, &serial)).await?).into_response())
}

async fn provider_invite(
    State(s): State<AppState>,
    Auth(u): Auth,
    Path(fleet_id): Path<String>,
    ApiJson(body): ApiJson<CompanyRef>,
) -> SimResult<Response> {
    let p = u.provider()?.to_owned();
    let c = blocking(move || s.admin.invite(&p, &fleet_id, &body.company_id)).await?;
    Ok((StatusCode::CREATED, Json(c)).into_response())
}

async fn provider_connections(State(s): State<AppState>, Auth(u): Auth) -> SimResult<Response> {
    let p = u.provider()?.to_owned();
    Ok(Json(blocking(move || s.admin.list_provider_connections(&p)).await?).into_response())
}

async fn provider_list_jobs(
    State(s): State<AppState>,
    Auth(u): Auth,
    Query(q): Q,
) -> SimResult<Response> {
    let p = u.provider()?.to_owned();
    let filter = JobFilter {
        status: q
            .get("status")
            .filter(|v| !v.is_empty())
            .map(|v| JobStatus::from(v.as_str())),
        company_id: q.get("company_id").filter(|v| !v.is_empty()).cloned(),
        fleet_id: q.get("fleet_id").filter(|v| !v.is_empty()).cloned(),
    };
    Ok(Json(blocking(move || s.admin.list_jobs(&p, &filter)).await?).into_response())
}

async fn provider_create_job(
    State(s): State<AppState>,
    Auth(u): Auth,
    ApiJson(job): ApiJson<NewJob>,
) -> SimResult<Response> {
    let p = u.provider()?.to_owned();
    let j = blocking(move || s.admin.create_job(&p, job)).await?;
    Ok((StatusCode::CREATED, Json(j)).into_response())
}

/// Whether the request's `Content-Type` is `text/csv` (parameters such as
/// `charset` allowed).
fn is_csv(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("text/csv"))
}

async fn provider_import(
    State(s): State<AppState>,
    Auth(u): Auth,
    Query(q): Q,
    headers: HeaderMap,
    body: Bytes,
) -> SimResult<Response> {
    let p = u.provider()?.to_owned();
    if !is_csv(&headers) {
        return Err(SimError::unsupported_media_type(
            "send the CSV with Content-Type: text/csv",
        ));
    }
    let body = String::from_utf8(body.to_vec())
        .map_err(|e| SimError::bad_request(format!("the CSV is not valid UTF-8: {e}")))?;
    let fleet_id = q
        .get("fleet_id")
        .filter(|v| !v.is_empty())
        .cloned()
        .ok_or_else(|| SimError::bad_request("query parameter fleet_id is required"))?;
    let kind = q
        .get("kind")
        .filter(|v| !v.is_empty())
        .map(|k| JobKind::from(k.as_str()));
    let out = blocking(move || s.admin.import_csv(&p, &fleet_id, kind, &body)).await?;
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

async fn provider_get_job(
    State(s): State<AppState>,
    Auth(u): Auth,
    Path(id): Path<String>,
) -> SimResult<Response> {
    let p = u.provider()?.to_owned();
    Ok(Json(blocking(move || s.admin.get_job(&p, &id)).await?).into_response())
}

async fn provider_update_job(
    State(s): State<AppState>,
    Auth(u): Auth,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<serde_json::Value>,
) -> SimResult<Response> {
    let p = u.provider()?.to_owned();
    Ok(Json(blocking(move || s.admin.update_job(&p, &id, &patch)).await?).into_response())
}

async fn provider_delete_job(
    State(s): State<AppState>,
    Auth(u): Auth,
    Path(id): Path<String>,
) -> SimResult<Response> {
    let p = u.provider()?.to_owned();
    blocking(move || s.admin.delete_job(&p, &id)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn provider_assign(
    State(s): State<AppState>,
    Auth(u): Auth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CompanyRef>,
) -> SimResult<Response> {
    let p = u.provider()?.to_owned();
    Ok(
        Json(blocking(move || s.admin.assign_job(&p, &id, &body.company_id)).await?)
            .into_response(),
    )
}

async fn provider_unassign(
    State(s): State<AppState>,
    Auth(u): Auth,
    Path(id): Path<String>,
) -> SimResult<Response> {
    let p = u.provider()?.to_owned();
    Ok(Json(blocking(move || s.admin.unassign_job(&p, &id)).await?).into_response())
}

async fn partner_connections(State(s): State<AppState>, Auth(u): Auth) -> SimResult<Response> {
    let c = u.admin_company()?.to_owned();
    Ok(Json(blocking(move || s.admin.list_company_connections(&c)).await?).into_response())
}

async fn partner_accept(
    State(s): State<AppState>,
    Auth(u): Auth,
    Path(id): Path<String>,
) -> SimResult<Response> {
    let c = u.admin_company()?.to_owned();
    Ok(Json(blocking(move || s.admin.accept_connection(&c, &id)).await?).into_response())
}

async fn partner_decline(
    State(s): State<AppState>,
    Auth(u): Auth,
    Path(id): Path<String>,
) -> SimResult<Response> {
    let c = u.admin_company()?.to_owned();
    Ok(Json(blocking(move || s.admin.decline_connection(&c, &id)).await?).into_response())
}

async fn partner_delete_connection(
    State(s): State<AppState>,
    Auth(u): Auth,
    Path(id): Path<String>,
) -> SimResult<Response> {
    let c = u.admin_company()?.to_owned();
    Ok(Json(blocking(move || s.admin.delete_connection(&c, &id)).await?).into_response())
}

async fn provider_invite_partner(
    State(s): State<AppState>,
    Auth(u): Auth,
    Path(fleet_id): Path<String>,
    ApiJson(body): ApiJson<NewPartnerInvitation>,
) -> SimResult<Response> {
    let p = u.provider()?.to_owned();
    let inv = blocking(move || s.admin.invite_partner(&p, &u.id, &fleet_id, &body)).await?;
    Ok((StatusCode::CREATED, Json(inv)).into_response())
}

async fn provider_partner_invitations(
    State(s): State<AppState>,
    Auth(u): Auth,
) -> SimResult<Response> {
    let p = u.provider()?.to_owned();
    Ok(Json(blocking(move || s.admin.list_provider_invitations(&p)).await?).into_response())
}

async fn partner_invitations(State(s): State<AppState>, Auth(u): Auth) -> SimResult<Response> {
    let c = u.admin_company()?.to_owned();
    Ok(Json(blocking(move || s.admin.list_company_invitations(&c)).await?).into_response())
}

async fn partner_invite_user(
    State(s): State<AppState>,
    Auth(u): Auth,
    ApiJson(body): ApiJson<NewUserInvitation>,
) -> SimResult<Response> {
    let c = u.admin_company()?.to_owned();
    let inv = blocking(move || s.admin.invite_user(&c, &u.id, &body)).await?;
    Ok((StatusCode::CREATED, Json(inv)).into_response())
}

async fn partner_update_user(
    State(s): State<AppState>,
    Auth(u): Auth,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<UserPatch>,
) -> SimResult<Response> {
    let c = u.admin_company()?.to_owned();
    let me = u.id.clone();
    Ok(
        Json(blocking(move || s.admin.update_company_user(&c, &me, &id, &patch)).await?)
            .into_response(),
    )
}

async fn registration_get(
    State(s): State<AppState>,
    Path(token): Path<String>,
) -> SimResult<Response> {
    Ok(Json(blocking(move || s.admin.registration(&token)).await?).into_response())
}

async fn registration_complete(
    State(s): State<AppState>,
    Path(token): Path<String>,
    ApiJson(body): ApiJson<CompleteRegistration>,
) -> SimResult<Response> {
    let out = blocking(move || s.admin.complete_registration(&token, &body)).await?;
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

async fn registration_decline(
    State(s): State<AppState>,
    Path(token): Path<String>,
) -> SimResult<Response> {
    Ok(Json(blocking(move || s.admin.decline_registration(&token)).await?).into_response())
}

async fn partner_users(State(s): State<AppState>, Auth(u): Auth) -> SimResult<Response> {
    let c = u.admin_company()?.to_owned();
    Ok(Json(blocking(move || s.admin.list_company_users(&c)).await?).into_response())
}

async fn partner_create_user(
    State(s): State<AppState>,
    Auth(u): Auth,
    ApiJson(user): ApiJson<NewUser>,
) -> SimResult<Response> {
    let c = u.admin_company()?.to_owned();
    let out = blocking(move || s.admin.create_company_user(&c, &user)).await?;
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

async fn partner_settings(State(s): State<AppState>, Auth(u): Auth) -> SimResult<Response> {
    let c = u.admin_company()?.to_owned();
    Ok(Json(blocking(move || s.admin.company_settings(&c)).await?).into_response())
}

async fn partner_put_settings(
    State(s): State<AppState>,
    Auth(u): Auth,
    ApiJson(v): ApiJson<serde_json::Value>,
) -> SimResult<Response> {
    let c = u.admin_company()?.to_owned();
    Ok(Json(blocking(move || s.admin.put_company_settings(&c, &v)).await?).into_response())
}

async fn partner_delete_company(State(s): State<AppState>, Auth(u): Auth) -> SimResult<Response> {
    let c = u.admin_company()?.to_owned();
    blocking(move || s.admin.delete_company(&c)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON).into_response()
}

async fn sim_get_faults(State(s): State<AppState>) -> Response {
    let cfg = s
        .faults
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .config();
    Json(cfg).into_response()
}

async fn sim_set_faults(
    State(s): State<AppState>,
    ApiJson(cfg): ApiJson<FaultConfig>,
) -> SimResult<Response> {
    cfg.validate()?;
    tracing::info!(?cfg, "faults set over HTTP");
    *s.faults
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = FaultState::new(cfg.clone());
    Ok(Json(cfg).into_response())
}

/// `GET /_sim/clock` and `POST /_sim/clock` answer.
#[derive(Debug, Serialize)]
struct ClockState {
    /// The simulated "now" (RFC 3339).
    now: String,
    /// Seconds the simulated clock is ahead of the wall clock.
    offset_secs: i64,
}

/// `POST /_sim/clock` body: exactly one of the fields.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockChange {
    /// Move the clock by this many seconds (negative: back).
    advance_secs: Option<i64>,
    /// Set the clock to this RFC 3339 time.
    now: Option<String>,
}

/// Furthest the simulated clock may be moved from the wall clock.
pub const MAX_CLOCK_OFFSET_SECS: i64 = 10 * 366 * 24 * 3600;

fn clock_state(admin: &SimAdmin) -> ClockState {
    ClockState {
        now: crate::domain::rfc3339(admin.now()),
        offset_secs: admin.clock_offset(),
    }
}

async fn sim_get_clock(State(s): State<AppState>) -> Response {
    Json(clock_state(&s.admin)).into_response()
}

async fn sim_set_clock(
    State(s): State<AppState>,
    ApiJson(change): ApiJson<ClockChange>,
) -> SimResult<Response> {
    let out_of_range = || {
        SimError::bad_request(format!(
            "the simulated clock may be at most {MAX_CLOCK_OFFSET_SECS} s from the wall clock"
        ))
    };
    match (change.advance_secs, change.now.as_deref()) {
        (Some(secs), None) => {
            let offset = s
                .admin
                .clock_offset()
                .checked_add(secs)
                .ok_or_else(out_of_range)?;
            if offset.abs() > MAX_CLOCK_OFFSET_SECS {
                return Err(out_of_range());
            }
            s.admin.advance_clock(secs);
        }
        (None, Some(t)) => {
            let target = chrono::DateTime::parse_from_rfc3339(t)
            .map_err(|e| {
                SimError::bad_request(format!(
                    "now {t:?} is not an RFC 3339 time ({e}), e.g. 2026-05-04T10:15:00Z"
                ))
            })?
            .with_timezone(&chrono::Utc);
            if (target - chrono::Utc::now()).num_seconds().abs() > MAX_CLOCK_OFFSET_SECS {
                return Err(out_of_range());
            }
            s.admin.set_clock(target);
        }
        _ => {
            return Err(SimError::bad_request(
                "give exactly one of advance_secs (seconds to move the clock) or now (RFC 3339 time to set)",
            ))
        }
    }
    Ok(Json(clock_state(&s.admin)).into_response())
}

/// `POST /_sim/providers` body.
#[derive(Debug, Deserialize)]
struct NewProvider {
    name: String,
    email: String,
    password: String,
    #[serde(default)]
    user_name: String,
    /// Names of fleets to create for it (each with a random signing key).
    #[serde(default)]
    fleets: Vec<String>,
}

/// `POST /_sim/providers` answer.
#[derive(Debug, Serialize)]
struct CreatedProvider {
    provider_id: String,
    user: crate::model::UserSummary,
    /// The fleets created, in the order the request named them.
    fleets: Vec<crate::model::Fleet>,
}

async fn sim_create_provider(
    State(s): State<AppState>,
    ApiJson(p): ApiJson<NewProvider>,
) -> SimResult<Response> {
    let (provider_id, user, fleets) = blocking(move || {
        s.admin
            .create_provider_account(&p.name, &p.email, &p.user_name, &p.password, &p.fleets)
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedProvider {
            provider_id,
            user,
            fleets,
        }),
    )
        .into_response())
}

async fn sim_emails(State(s): State<AppState>, Query(q): Q) -> SimResult<Response> {
    let to = q
        .get("to")
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    Ok(Json(blocking(move || s.admin.sent_emails(to.as_deref())).await?).into_response())
}

async fn sim_stats(State(s): State<AppState>) -> Response {
    Json(s.stats.snapshot()).into_response()
}

async fn sim_reset_stats(State(s): State<AppState>) -> Response {
    s.stats.reset();
    Json(s.stats.snapshot()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_route_is_documented_and_every_documented_route_exists() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI_JSON).expect("valid JSON");
        let paths = doc["paths"].as_object().expect("paths object");
        let documented: BTreeSet<(String, String)> = paths
            .iter()
            .flat_map(|(path, ops)| {
                ops.as_object()
                    .into_iter()
                    .flat_map(|o| o.keys())
                    .filter(|m| ["get", "post", "put", "patch", "delete"].contains(&m.as_str()))
                    .map(move |m| (m.to_uppercase(), path.clone()))
            })
            .collect();
        let served: BTreeSet<(String, String)> = routes()
            .into_iter()
            .map(|(m, p)| (m.to_owned(), p.to_owned()))
            .collect();
        assert_eq!(served.len(), routes().len(), "duplicate route in the table");
        let undocumented: Vec<_> = served.difference(&documented).collect();
        let missing: Vec<_> = documented.difference(&served).collect();
        assert!(
            undocumented.is_empty(),
            "routes missing from docs/sim-cloud-openapi.json: {undocumented:?}"
        );
        assert!(
            missing.is_empty(),
            "documented routes the router lacks: {missing:?}"
        );
    }

    #[test]
    fn router_builds_without_conflicts() {
        let conn = crate::db::open(None).expect("db");
        let state = AppState::new(SimAdmin::new(conn, 60), FaultConfig::default());
        let _ = router(state);
    }
}
