//! The HTTP routes: `POST /v1/responses`, `GET /v1/models`, and a JSON 404 for the rest.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};

use crate::plan::{plan, Plan};
use crate::state::Shared;
use crate::stream::sse_response;
use crate::{sse, RecordedRequest};

/// Path of the Responses API endpoint.
pub(crate) const RESPONSES_PATH: &str = "/v1/responses";
const MODELS_PATH: &str = "/v1/models";
/// Largest request body accepted (codex sends the whole history each turn).
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// The router serving `shared`.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .fallback(handle)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(shared)
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let parsed = parse_body(&body);
    record(&shared, &method, &path, &headers, parsed.clone());
    match (method.clone(), path.as_str()) {
        (Method::POST, RESPONSES_PATH) => responses(&shared, parsed),
        (Method::GET, MODELS_PATH) => {
            (StatusCode::OK, axum::Json(json!({"models": []}))).into_response()
        }
        (_, RESPONSES_PATH | MODELS_PATH) => json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("mock model: {method} is not allowed on {path}"),
            "method_not_allowed",
        ),
        _ => json_error(
            StatusCode::NOT_FOUND,
            &format!("mock model: no route for {method} {path}"),
            "not_found",
        ),
    }
}

fn parse_body(body: &Bytes) -> Result<Value, Value> {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body)
        .map_err(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

fn record(
    shared: &Shared,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: Result<Value, Value>,
) {
    shared.record(RecordedRequest {
        method: method.to_string(),
        path: path.to_owned(),
        body: body.unwrap_or_else(|raw| raw),
        headers: headers
            .iter()
            .map(|(name, value)| {
                (
                    name.to_string(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
    });
}

fn responses(shared: &Arc<Shared>, body: Result<Value, Value>) -> Response {
    // Number the request and take its reply under one lock so concurrent requests stay ordered.
    let (number, reply) = {
        let mut inner = shared.lock();
        let mut number = 0;
        shared.responses_seen.send_modify(|count| {
            *count += 1;
            number = *count;
        });
        let reply = match &body {
            Ok(_) => inner.queue.pop_front().or_else(|| inner.fallback.clone()),
            Err(_) => None,
        };
        (number, reply)
    };
    let request = match body {
        Ok(request) => request,
        Err(_) => {
            let message = format!(
                "mock model: request #{number} to {RESPONSES_PATH} has a body that is not JSON"
            );
            tracing::warn!("{message}");
            return json_error(StatusCode::BAD_REQUEST, &message, "invalid_request_error");
        }
    };
    let Some(reply) = reply else {
        let message = format!("mock model: no scripted reply left for request #{number}");
        tracing::warn!("{message}");
        return json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &message,
            "mock_model_exhausted",
        );
    };
    match plan(&reply, number, &request) {
        Plan::Error { status, body } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, axum::Json(body)).into_response()
        }
        Plan::Stream(steps) => sse_response(shared, steps),
    }
}

fn json_error(status: StatusCode, message: &str, kind: &str) -> Response {
    (status, axum::Json(sse::error_body(message, kind))).into_response()
}
