//! The HTTP API ([`crate::web::WebAdapter::router`]), all under `/api/`:
//!
//! | method | path | does |
//! |---|---|---|
//! | `POST` | `/api/sessions` | create a session (`{"name"?}`) → 201 + [`SessionInfo`] |
//! | `GET` | `/api/sessions` | the tenant's sessions |
//! | `GET` | `/api/sessions/{id}` | one session |
//! | `DELETE` | `/api/sessions/{id}` | close it → 204 |
//! | `POST` | `/api/sessions/{id}/turns` | start a turn (`{"prompt"}`) → 202 |
//! | `GET` | `/api/sessions/{id}/events` | SSE of every event; `Last-Event-ID` resumes |
//! | `GET` | `/api/sessions/{id}/approvals` | SSE of `approval.*` events |
//! | `POST` | `/api/sessions/{id}/approvals/{request_id}` | answer (`{"decision": "accept"\|"decline"\|"cancel"}`) → 204 |
//!
//! Every route needs `Authorization: Bearer <token>` (401 otherwise). Errors are JSON
//! `{"error": {"code", "message"}}` with the status of [`WebError::status`].

use super::adapter::{SessionInfo, WebAdapter};
use super::approvals::WebDecision;
use super::auth::{bearer_token, TenantId};
use super::error::WebError;
use super::sse::KEEPALIVE;
use super::subscriber::{Delivery, Filter, Subscriber, SESSION_CLOSED};
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;
use std::convert::Infallible;

/// The API router of `adapter`.
pub(crate) fn api_router(adapter: WebAdapter) -> Router {
    let config = adapter.config().clone();
    let router = Router::new()
        .route("/api/sessions", get(list_sessions).post(create_session))
        .route(
            "/api/sessions/{id}",
            get(show_session).delete(close_session),
        )
        .route("/api/sessions/{id}/turns", post(create_turn))
        .route("/api/sessions/{id}/events", get(events))
        .route("/api/sessions/{id}/approvals", get(approvals))
        .route(
            "/api/sessions/{id}/approvals/{request_id}",
            post(post_approval),
        )
        // Layers run outside in: authentication first, then the declared-size check.
        .route_layer(middleware::from_fn_with_state(
            adapter.clone(),
            refuse_declared_oversize,
        ))
        .route_layer(middleware::from_fn_with_state(
            adapter.clone(),
            authenticate,
        ))
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .with_state(adapter);
    if config.cors_origins.is_empty() {
        return router;
    }
    let origins: Vec<HeaderValue> = config
        .cors_origins
        .iter()
        .filter_map(|o| match HeaderValue::from_str(o) {
            Ok(v) => Some(v),
            Err(_) => {
                tracing::warn!(origin = %o, "ignoring a CORS origin that is not a header value");
                None
            }
        })
        .collect();
    router.layer(
        tower_http::cors::CorsLayer::new()
            .allow_origin(origins)
            .allow_methods([
                axum::http::Method::GET,
                axum::http::Method::POST,
                axum::http::Method::DELETE,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::HeaderName::from_static("last-event-id"),
            ]),
    )
}

/// The most of an oversize body that is read (and discarded) before answering 413.
const OVERSIZE_DRAIN_LIMIT: u64 = 32 * 1024 * 1024;

/// How long reading an oversize body (to discard it) may take.
const OVERSIZE_DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Answers 413 to an authenticated request whose `Content-Length` is over the body limit.
///
/// The body is read and discarded first (up to [`OVERSIZE_DRAIN_LIMIT`] within
/// [`OVERSIZE_DRAIN_TIMEOUT`]): a client still sending when the answer is written would otherwise
/// see its connection reset instead of the 413. Bodies without a declared length are cut at the
/// limit by `DefaultBodyLimit` in the handlers.
async fn refuse_declared_oversize(
    State(adapter): State<WebAdapter>,
    request: Request,
    next: Next,
) -> Response {
    let limit = adapter.config().max_body_bytes;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let Some(declared) = declared.filter(|len| *len > limit as u64) else {
        return next.run(request).await;
    };
    if declared <= OVERSIZE_DRAIN_LIMIT {
        let mut body = request.into_body().into_data_stream();
        let drain = async { while let Some(Ok(_)) = futures::StreamExt::next(&mut body).await {} };
        if tokio::time::timeout(OVERSIZE_DRAIN_TIMEOUT, drain)
            .await
            .is_err()
        {
            tracing::debug!(declared, "gave up reading an oversize body");
        }
    }
    WebError::BodyTooLarge { limit }.into_response()
}

/// Resolves the bearer token to a tenant, or answers 401.
async fn authenticate(
    State(adapter): State<WebAdapter>,
    mut request: Request,
    next: Next,
) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token);
    let tenant = match token {
        Some(token) => {
            let auth = &adapter.config().authenticator;
            super::auth::authenticate_fail_closed(auth, token, super::auth::AUTHENTICATE_TIMEOUT)
                .await
        }
        None => None,
    };
    match tenant {
        Some(tenant) => {
            request.extensions_mut().insert(tenant);
            next.run(request).await
        }
        None => WebError::Unauthorized.into_response(),
    }
}

/// The JSON body of a request; an empty body is `T::default()`.
fn parse_body<T: DeserializeOwned + Default>(
    adapter: &WebAdapter,
    body: Result<Bytes, BytesRejection>,
) -> Result<T, WebError> {
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            WebError::BodyTooLarge {
                limit: adapter.config().max_body_bytes,
            }
        } else {
            WebError::BadRequest(rejection.body_text())
        }
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| WebError::BadRequest(format!("the body is not the expected JSON: {e}")))
}

#[derive(Debug, Default, Deserialize)]
struct CreateSessionBody {
    name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct CreateTurnBody {
    prompt: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ApprovalBody {
    decision: Option<WebDecision>,
}

async fn list_sessions(
    State(adapter): State<WebAdapter>,
    Extension(tenant): Extension<TenantId>,
) -> Result<Json<serde_json::Value>, WebError> {
    let sessions: Vec<SessionInfo> = adapter.list_sessions(&tenant).await?;
    Ok(Json(json!({ "data": sessions })))
}

async fn create_session(
    State(adapter): State<WebAdapter>,
    Extension(tenant): Extension<TenantId>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, WebError> {
    let body: CreateSessionBody = parse_body(&adapter, body)?;
    let info = adapter.create_session(&tenant, body.name).await?;
    Ok((StatusCode::CREATED, Json(info)).into_response())
}

async fn show_session(
    State(adapter): State<WebAdapter>,
    Extension(tenant): Extension<TenantId>,
    Path(id): Path<String>,
) -> Result<Json<SessionInfo>, WebError> {
    Ok(Json(adapter.session_info(&tenant, &id).await?))
}

async fn close_session(
    State(adapter): State<WebAdapter>,
    Extension(tenant): Extension<TenantId>,
    Path(id): Path<String>,
) -> Result<StatusCode, WebError> {
    adapter.close_session(&tenant, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn create_turn(
    State(adapter): State<WebAdapter>,
    Extension(tenant): Extension<TenantId>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, WebError> {
    let body: CreateTurnBody = parse_body(&adapter, body)?;
    let prompt = body
        .prompt
        .ok_or_else(|| WebError::BadRequest("missing field `prompt`".into()))?;
    let accepted = adapter.create_turn(&tenant, &id, prompt).await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)).into_response())
}

async fn post_approval(
    State(adapter): State<WebAdapter>,
    Extension(tenant): Extension<TenantId>,
    Path((id, request_id)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, WebError> {
    let body: ApprovalBody = parse_body(&adapter, body)?;
    let decision = body.decision.ok_or_else(|| {
        WebError::BadRequest("missing field `decision` (accept, decline or cancel)".into())
    })?;
    adapter
        .post_approval(&tenant, &id, &request_id, decision)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The resume point: the `Last-Event-ID` header (a decimal sequence).
fn last_event_id(headers: &HeaderMap) -> Result<Option<u64>, WebError> {
    let Some(value) = headers.get("last-event-id") else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| WebError::BadRequest("Last-Event-ID is not text".into()))?;
    text.trim().parse::<u64>().map(Some).map_err(|_| {
        WebError::BadRequest(format!("Last-Event-ID `{text}` is not an event sequence"))
    })
}

async fn events(
    State(adapter): State<WebAdapter>,
    Extension(tenant): Extension<TenantId>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let after = last_event_id(&headers)?;
    let sub = adapter
        .subscriber(&tenant, &id, after, Filter::All, true)
        .await?;
    Ok(sse_response(sub))
}

async fn approvals(
    State(adapter): State<WebAdapter>,
    Extension(tenant): Extension<TenantId>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let after = last_event_id(&headers)?;
    let sub = adapter
        .subscriber(&tenant, &id, after, Filter::Approvals, true)
        .await?;
    Ok(sse_response(sub))
}

/// A `text/event-stream` response following `sub`. A failure is sent as an `error` event
/// without an `id:` (so the client's resume point stays on the last real event).
fn sse_response(sub: Subscriber) -> Response {
    let stream = futures::stream::unfold(sub, |mut sub| async move {
        let bytes = match sub.next().await? {
            Delivery::Event(ev) => ev.wire.clone(),
            Delivery::KeepAlive => Bytes::from_static(KEEPALIVE.as_bytes()),
            Delivery::Closed => Bytes::from(format!("event: {SESSION_CLOSED}\ndata: {{}}\n\n")),
            Delivery::Failed(err) => {
                let data = json!({"code": err.code(), "message": err.public_message()});
                Bytes::from(format!("event: error\ndata: {data}\n\n"))
            }
        };
        Some((Ok::<Bytes, Infallible>(bytes), sub))
    });
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}
