//! [`WebError`]: what the web adapter refuses, each variant mapped to one HTTP status.
//!
//! It is the web layer's own error (next to the crate's [`crate::Error`], which it wraps for
//! runtime failures) because every variant must carry its HTTP meaning: a handler returns it and
//! axum turns it into a JSON body `{"error": {"code", "message"}}` with the right status.

use super::limits::{SessionLimit, StreamLimit};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// What the web adapter refuses or fails at.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebError {
    /// No bearer token, or one no tenant owns (HTTP 401).
    #[error("missing or unknown bearer token")]
    Unauthorized,
    /// No session with this id for this tenant (HTTP 404). Another tenant's session gives this
    /// too: the adapter never reveals that it exists.
    #[error("no session `{session_id}`")]
    SessionNotFound {
        /// The id asked for.
        session_id: String,
    },
    /// No pending approval with this id in this tenant's session (HTTP 404); also what another
    /// tenant's request id gives.
    #[error("no approval request `{request_id}` in session `{session_id}`")]
    ApprovalNotFound {
        /// The session.
        session_id: String,
        /// The request id asked for.
        request_id: String,
    },
    /// The approval was already answered, or timed out and got the fail-closed answer
    /// (HTTP 409).
    #[error("approval request `{request_id}` was already answered ({answer})")]
    ApprovalAlreadyAnswered {
        /// The request id.
        request_id: String,
        /// The answer it got (`accept`, `decline`, `cancel` or `timeout`).
        answer: String,
    },
    /// A turn is already running in this session (HTTP 409).
    #[error("session `{session_id}` is already running a turn")]
    TurnInProgress {
        /// The session.
        session_id: String,
    },
    /// The session was closed (HTTP 409).
    #[error("session `{session_id}` is closed")]
    SessionClosed {
        /// The session.
        session_id: String,
    },
    /// The session runs on another instance sharing the store; this one can only replay and
    /// follow it (HTTP 409).
    #[error("session `{session_id}` runs on another instance; start turns there")]
    SessionElsewhere {
        /// The session.
        session_id: String,
    },
    /// The prompt is larger than [`crate::web::WebConfig::max_prompt_bytes`] (HTTP 413).
    #[error("the prompt has {size} bytes, more than the limit of {limit}")]
    PromptTooLarge {
        /// Its size in bytes.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The request body is larger than [`crate::web::WebConfig::max_body_bytes`] (HTTP 413).
    #[error("the request body is larger than the limit of {limit} bytes")]
    BodyTooLarge {
        /// The limit.
        limit: usize,
    },
    /// A request field is missing or invalid (HTTP 400).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// `Last-Event-ID` names an event older than what the adapter still holds and no store is
    /// configured to read it from (HTTP 410).
    #[error(
        "events after {after} are no longer available (oldest kept: {oldest}); reload the session"
    )]
    HistoryGone {
        /// The id asked to resume after.
        after: u64,
        /// The oldest sequence still held.
        oldest: u64,
    },
    /// A session limit of [`crate::web::WebConfig`] is reached: HTTP 429 for the per-tenant
    /// [`SessionLimit::PerTenant`] and [`SessionLimit::RememberedPerTenant`] (that tenant
    /// should close a session or a stream first), HTTP 503 for the instance-wide
    /// [`SessionLimit::Total`] and [`SessionLimit::Remembered`]. The JSON error's `limit`
    /// names the configuration field.
    #[error("too many sessions: the limit {limit} = {max} is reached; close a session first")]
    TooManySessions {
        /// Which limit.
        limit: SessionLimit,
        /// Its configured value.
        max: usize,
    },
    /// A session already has [`crate::web::WebConfig::max_pending_approvals`] approval
    /// requests waiting for an answer (HTTP 429). The request over the limit is declined at once
    /// (fail-closed) and logged as `approval.resolved` answered by `max_pending_approvals`.
    #[error(
        "session `{session_id}` already has {max} approval requests waiting (max_pending_approvals)"
    )]
    TooManyPendingApprovals {
        /// The session.
        session_id: String,
        /// The configured limit.
        max: usize,
    },
    /// A stream limit of [`crate::web::WebConfig`] is reached: HTTP 429 for
    /// [`StreamLimit::PerTenant`] (that tenant should close a stream first), HTTP 503 for the
    /// instance-wide [`StreamLimit::Total`]. The JSON error's `limit` names the configuration
    /// field.
    #[error("too many open event streams: the limit {limit} = {max} is reached")]
    TooManyStreams {
        /// Which limit.
        limit: StreamLimit,
        /// Its configured value.
        max: usize,
    },
    /// The adapter is shutting down (HTTP 503).
    #[error("the web adapter is shutting down")]
    ShuttingDown,
    /// The runtime failed (HTTP 502).
    #[error("runtime: {0}")]
    Runtime(#[from] crate::Error),
    /// The conversation store failed (HTTP 500).
    #[error("store: {0}")]
    Store(#[from] crate::persistence::PersistenceError),
}

impl WebError {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            WebError::Unauthorized => StatusCode::UNAUTHORIZED,
            WebError::SessionNotFound { .. } | WebError::ApprovalNotFound { .. } => {
                StatusCode::NOT_FOUND
            }
            WebError::ApprovalAlreadyAnswered { .. }
            | WebError::TurnInProgress { .. }
            | WebError::SessionClosed { .. }
            | WebError::SessionElsewhere { .. } => StatusCode::CONFLICT,
            WebError::PromptTooLarge { .. } | WebError::BodyTooLarge { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::HistoryGone { .. } => StatusCode::GONE,
            WebError::TooManySessions {
                limit: SessionLimit::PerTenant | SessionLimit::RememberedPerTenant,
                ..
            }
            | WebError::TooManyStreams {
                limit: StreamLimit::PerTenant,
                ..
            }
            | WebError::TooManyPendingApprovals { .. } => StatusCode::TOO_MANY_REQUESTS,
            WebError::TooManySessions { .. }
            | WebError::TooManyStreams { .. }
            | WebError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Runtime(e) if pool_busy(e) => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Runtime(_) => StatusCode::BAD_GATEWAY,
            WebError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A short machine-readable code (`unauthorized`, `session_not_found`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            WebError::Unauthorized => "unauthorized",
            WebError::SessionNotFound { .. } => "session_not_found",
            WebError::ApprovalNotFound { .. } => "approval_not_found",
            WebError::ApprovalAlreadyAnswered { .. } => "approval_already_answered",
            WebError::TurnInProgress { .. } => "turn_in_progress",
            WebError::SessionClosed { .. } => "session_closed",
            WebError::SessionElsewhere { .. } => "session_elsewhere",
            WebError::PromptTooLarge { .. } => "prompt_too_large",
            WebError::BodyTooLarge { .. } => "body_too_large",
            WebError::BadRequest(_) => "bad_request",
            WebError::HistoryGone { .. } => "history_gone",
            WebError::TooManySessions { .. } => "too_many_sessions",
            WebError::TooManyPendingApprovals { .. } => "too_many_pending_approvals",
            WebError::TooManyStreams { .. } => "too_many_streams",
            WebError::ShuttingDown => "shutting_down",
            WebError::Runtime(e) if pool_busy(e) => "runtime_busy",
            WebError::Runtime(_) => "runtime_error",
            WebError::Store(_) => "store_error",
        }
    }

    /// The configuration field whose limit this error reports (`max_sessions`,
    /// `max_sessions_per_tenant`, `max_remembered_sessions`,
    /// `max_remembered_sessions_per_tenant`, `max_streams`, `max_streams_per_tenant`,
    /// `max_pending_approvals`), if any.
    pub fn limit(&self) -> Option<&'static str> {
        match self {
            WebError::TooManySessions { limit, .. } => Some(limit.as_str()),
            WebError::TooManyStreams { limit, .. } => Some(limit.as_str()),
            WebError::TooManyPendingApprovals { .. } => Some("max_pending_approvals"),
            WebError::Runtime(e) if pool_busy(e) => Some("max_processes"),
            _ => None,
        }
    }
}

impl WebError {
    /// What an HTTP client is told: the error's own text, except for failures inside the
    /// adapter (store, runtime: their text can carry SQL errors, paths or codex's stderr),
    /// which get a generic text naming an error id; the full error is logged (`tracing`, at
    /// `error`) with that id.
    pub fn public_message(&self) -> String {
        match self {
            // Every process of the pool stayed busy: the client's own condition, and the text
            // names only the pool's cap, the wait and the tenant's own key.
            WebError::Runtime(crate::Error::Pool(busy)) if pool_busy_error(busy) => {
                busy.to_string()
            }
            WebError::Runtime(_) | WebError::Store(_) => {
                let id = super::new_session_id();
                tracing::error!(error_id = %id, code = self.code(), "web request failed: {self}");
                format!("internal error (error id {id}); the server's log has the details")
            }
            other => other.to_string(),
        }
    }
}

/// Whether `err` is the runtime pool's "every process stayed busy" refusal (HTTP 503
/// `runtime_busy`, `limit: max_processes`), which a client may retry.
fn pool_busy(err: &crate::Error) -> bool {
    matches!(err, crate::Error::Pool(e) if pool_busy_error(e))
}

fn pool_busy_error(err: &crate::runtime::pool::PoolError) -> bool {
    matches!(err, crate::runtime::pool::PoolError::NoSlot { .. })
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = self.public_message();
        if status.is_server_error() {
            tracing::warn!(code = self.code(), "web request failed: {message}");
        }
        let mut error = json!({"code": self.code(), "message": message});
        if let Some(limit) = self.limit() {
            error["limit"] = json!(limit);
        }
        let body = axum::Json(json!({ "error": error }));
        let mut response = (status, body).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_failures_reach_clients_as_a_generic_message_with_an_error_id() {
        let secret = "relation \"codex_events\" does not exist at /srv/secret/path";
        let err = WebError::Runtime(crate::Error::Protocol(secret.to_string()));
        let message = err.public_message();
        assert!(!message.contains("secret"), "{message}");
        assert!(message.contains("error id "), "{message}");
        let refused = WebError::BadRequest("missing field `prompt`".into());
        assert_eq!(refused.public_message(), refused.to_string());
    }
}
