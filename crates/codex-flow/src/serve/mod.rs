//! `codex-flow serve`: the flow backend [`crate::HttpFlowClient`] speaks, on a
//! [`PostgresFlowStore`]. Dispatch only records (the event and its queued runs in one
//! transaction); `codex-flow worker` processes execute the runs.
//!
//! Routes: `POST /events` (202), `POST /events/{id}/replay` (202), `GET /events`,
//! `GET /events/{id}`, `GET /runs`, `GET /runs/{id}`, `POST /runs/{id}/cancel`; unauthenticated
//! `GET /healthz`, `GET /readyz` and `GET /metrics` (Prometheus text).

mod auth;

pub use auth::{AuthFailure, ServeAuth};

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::catalog::FlowCatalog;
use crate::error::{FlowError, Result};
use crate::event::{FlowEvent, MAX_EVENT_BYTES};
use crate::manifest::RetryPolicy;
use crate::state::{Claim, EventFilter, RunFilter};
use crate::store::{package_hashes, queued_dispatch, FlowStore, PostgresFlowStore, ReplayPlan};

/// Default largest request body, the event size limit.
pub const DEFAULT_BODY_LIMIT: usize = MAX_EVENT_BYTES as usize;

/// The flow backend.
#[derive(Debug)]
pub struct FlowServer {
    store: PostgresFlowStore,
    catalog: FlowCatalog,
    packages: HashMap<String, String>,
    auth: ServeAuth,
    body_limit: usize,
}

type Shared = Arc<FlowServer>;

impl FlowServer {
    /// A server for the flows of `catalog` (each package hashed now; runs record the hash).
    pub fn new(
        store: PostgresFlowStore,
        catalog: FlowCatalog,
        auth: ServeAuth,
        body_limit: usize,
    ) -> Result<Self> {
        auth.validate().map_err(|message| FlowError::Service {
            role: "serve",
            message,
        })?;
        let packages = package_hashes(&catalog)?;
        Ok(FlowServer {
            store,
            catalog,
            packages,
            auth,
            body_limit,
        })
    }

    /// The axum router.
    pub fn router(self) -> Router {
        let shared: Shared = Arc::new(self);
        let api = Router::new()
            .route("/events", post(dispatch).get(list_events))
            .route("/events/{id}", get(get_event))
            .route("/events/{id}/replay", post(replay))
            .route("/runs", get(list_runs))
            .route("/runs/{id}", get(get_run))
            .route("/runs/{id}/cancel", post(cancel))
            .layer(axum::middleware::from_fn_with_state(
                shared.clone(),
                authenticate,
            ));
        Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/readyz", get(ready))
            .route("/metrics", get(metrics))
            .merge(api)
            .with_state(shared)
    }

    fn retry_of(&self, flow: &str) -> Option<RetryPolicy> {
        self.catalog.flow(flow).and_then(|f| f.manifest.retry)
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

fn flow_error(e: FlowError) -> Response {
    match e {
        FlowError::UnknownRun(id) => error(StatusCode::NOT_FOUND, format!("unknown run {id}")),
        FlowError::UnknownEvent(id) => error(StatusCode::NOT_FOUND, format!("unknown event {id}")),
        FlowError::Database { .. } => {
            tracing::error!(error = %e, "flow store failed");
            error(StatusCode::SERVICE_UNAVAILABLE, "flow store unavailable")
        }
        other => error(StatusCode::BAD_REQUEST, other.to_string()),
    }
}

/// Whether `headers` declare a JSON body (`application/json`, parameters allowed).
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

async fn authenticate(State(server): State<Shared>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    // A body must be declared JSON: a web page can send a `text/plain` POST without a
    // preflight, never an `application/json` one.
    let has_body = parts.method != axum::http::Method::GET
        && parts.method != axum::http::Method::HEAD
        && parts.method != axum::http::Method::DELETE;
    if has_body && !is_json(&parts.headers) {
        tracing::debug!(method = %parts.method, path = %parts.uri.path(), "request refused: not JSON");
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "request bodies must be `content-type: application/json`",
        );
    }
    // Token and API key first: an unauthenticated caller's body is never read.
    if let Err(failure) = server.auth.check_headers(&parts.headers) {
        tracing::debug!(method = %parts.method, path = %parts.uri.path(), ?failure, "request refused");
        return error(StatusCode::UNAUTHORIZED, failure.message());
    }
    let bytes = match axum::body::to_bytes(body, server.body_limit).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body over the limit of {} bytes", server.body_limit),
            )
        }
    };
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| parts.uri.path().to_string());
    let now = chrono::Utc::now().timestamp();
    if let Err(failure) =
        server
            .auth
            .check_signature(&parts.method, &path, &parts.headers, &bytes, now)
    {
        tracing::debug!(method = %parts.method, path, ?failure, "request refused");
        return error(StatusCode::UNAUTHORIZED, failure.message());
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

async fn dispatch(State(server): State<Shared>, body: Bytes) -> Response {
    let event = match FlowEvent::from_json_slice(&body) {
        Ok(event) => event,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let event_id = event.id.clone();
    let (record, runs) = queued_dispatch(&server.catalog, &server.packages, event, 0);
    let run_ids = record.run_ids.clone();
    match server.store.record_event_with_policies(record, runs).await {
        Ok(Claim::Claimed) => (
            StatusCode::ACCEPTED,
            Json(json!({"status": "accepted", "eventId": event_id, "runIds": run_ids, "matched": run_ids.len()})),
        )
            .into_response(),
        Ok(Claim::Duplicate(existing)) => Json(json!({
            "status": "duplicate", "eventId": event_id, "runIds": existing,
            "matched": 0, "idempotent": true
        }))
        .into_response(),
        Err(e) => flow_error(e),
    }
}

async fn replay(State(server): State<Shared>, Path(id): Path<String>) -> Response {
    let record = match server.store.get_event(id.clone()).await {
        Ok(Some(record)) => record,
        Ok(None) => return flow_error(FlowError::UnknownEvent(id)),
        Err(e) => return flow_error(e),
    };
    let plan: Vec<(ReplayPlan, Option<RetryPolicy>)> = server
        .catalog
        .match_event(&record.event)
        .iter()
        .map(|m| {
            (
                ReplayPlan {
                    flow: m.flow.name().to_string(),
                    step: m.step().name().to_string(),
                    package_hash: server.packages.get(m.flow.name()).cloned(),
                },
                server.retry_of(m.flow.name()),
            )
        })
        .collect();
    match server.store.record_replay_with_policies(&id, plan).await {
        Ok(runs) => {
            let run_ids: Vec<&str> = runs.iter().map(|r| r.id.as_str()).collect();
            (
                StatusCode::ACCEPTED,
                Json(json!({"status": "accepted", "eventId": id, "runIds": run_ids, "matched": run_ids.len()})),
            )
                .into_response()
        }
        Err(e) => flow_error(e),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RunsQuery {
    event_id: Option<String>,
    status: Option<String>,
    limit: Option<usize>,
}

async fn list_runs(State(server): State<Shared>, Query(q): Query<RunsQuery>) -> Response {
    let filter = RunFilter {
        event_id: q.event_id,
        status: q.status,
        limit: q.limit,
    };
    match server.store.list_runs(filter).await {
        Ok(runs) => Json(json!({ "runs": runs })).into_response(),
        Err(e) => flow_error(e),
    }
}

async fn get_run(State(server): State<Shared>, Path(id): Path<String>) -> Response {
    match server.store.get_run(id.clone()).await {
        Ok(Some(run)) => Json(json!({ "run": run })).into_response(),
        Ok(None) => flow_error(FlowError::UnknownRun(id)),
        Err(e) => flow_error(e),
    }
}

async fn cancel(State(server): State<Shared>, Path(id): Path<String>) -> Response {
    match server.store.cancel_run(id).await {
        Ok(run) => Json(json!({ "run": run })).into_response(),
        Err(e) => flow_error(e),
    }
}

#[derive(Debug, Deserialize)]
struct EventsQuery {
    #[serde(rename = "type")]
    event_type: Option<String>,
    limit: Option<usize>,
}

async fn list_events(State(server): State<Shared>, Query(q): Query<EventsQuery>) -> Response {
    let filter = EventFilter {
        event_type: q.event_type,
        limit: q.limit,
    };
    match server.store.list_events(filter).await {
        Ok(events) => Json(json!({ "events": events })).into_response(),
        Err(e) => flow_error(e),
    }
}

async fn get_event(State(server): State<Shared>, Path(id): Path<String>) -> Response {
    let record = match server.store.get_event(id.clone()).await {
        Ok(Some(record)) => record,
        Ok(None) => return flow_error(FlowError::UnknownEvent(id)),
        Err(e) => return flow_error(e),
    };
    let filter = RunFilter {
        event_id: Some(id),
        status: None,
        limit: Some(crate::state::MAX_LIST_LIMIT),
    };
    let mut runs = match server.store.list_runs(filter).await {
        Ok(runs) => runs,
        Err(e) => return flow_error(e),
    };
    let order: HashMap<&str, usize> = record
        .run_ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    runs.sort_by_key(|r| order.get(r.id.as_str()).copied().unwrap_or(usize::MAX));
    let mut answer = serde_json::to_value(&record).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut answer {
        map.insert(
            "runs".into(),
            serde_json::to_value(&runs).unwrap_or_default(),
        );
    }
    Json(answer).into_response()
}

async fn ready(State(server): State<Shared>) -> Response {
    match server.store.ping().await {
        Ok(()) => "ready".into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            error(StatusCode::SERVICE_UNAVAILABLE, "flow store unavailable")
        }
    }
}

async fn metrics(State(server): State<Shared>) -> Response {
    match server.store.metrics().await {
        Ok(m) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            format!(
                "# TYPE codex_flow_runs_queued gauge\ncodex_flow_runs_queued {}\n\
                 # TYPE codex_flow_runs_running gauge\ncodex_flow_runs_running {}\n\
                 # TYPE codex_flow_lease_takeovers_total counter\ncodex_flow_lease_takeovers_total {}\n\
                 # TYPE codex_flow_retries_total counter\ncodex_flow_retries_total {}\n\
                 # TYPE codex_flow_dead_letter_total counter\ncodex_flow_dead_letter_total {}\n",
                m.queued, m.running, m.lease_takeovers, m.retries, m.dead_letter
            ),
        )
            .into_response(),
        Err(e) => flow_error(e),
    }
}
