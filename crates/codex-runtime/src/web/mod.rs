//! `codex_runtime::web` (feature `web`): runtime sessions served to browsers over HTTP and SSE.
//!
//! One [`WebAdapter`] bridges a [`crate::Client`] into tenant- and session-scoped web
//! sessions, and [`WebAdapter::router`] is an axum router applications mount:
//!
//! - sessions: [`WebAdapter::create_session`], [`WebAdapter::list_sessions`],
//!   [`WebAdapter::close_session`]; turns: [`WebAdapter::create_turn`];
//! - events: [`WebAdapter::subscribe_session_events`] and
//!   [`WebAdapter::subscribe_session_approvals`], sent over SSE as [`serialize_sse_envelope`]
//!   writes them (`id:` = the session's event sequence, which `Last-Event-ID` resumes from);
//! - approvals are answered only through [`WebAdapter::post_approval`]; an unanswered one gets
//!   the SDK's fail-closed timeout;
//! - tenants: a bearer token per tenant ([`TenantTokens`], stored hashed) or your own
//!   [`Authenticator`]. Another tenant's session is a 404, never a 403.
//!
//! [`ui::router`] serves a small single-page UI (embedded HTML, CSS and JS) on top of the API;
//! `codex-runtime serve` runs both.
//!
//! Each session's events are the [`crate::persistence`] records of its conversation (turn
//! started, coalesced deltas, items, approvals and their answers, turn completed), numbered
//! without gaps; with [`WebConfig::with_store`] they are appended to the store before any
//! client sees them, so a resume or another instance replays exactly the same events.
//!
//! Modules: [`adapter`] (the adapter), [`runtime_adapter`] (how sessions open), [`config`], [`auth`], [`routes`] (the HTTP API), [`sse`]
//! (the wire format), [`approvals`] (the bridge), [`ui`], [`error`]; inside: `events` (records
//! to SSE events), `hub` (a session's live tail), `subscriber` (one client's ordered view),
//! `turns` (turn events to records), `store` (sessions as stored conversations), `web_session`
//! (one session as the adapter keeps it, live or followed), `live_tail` (LISTEN/NOTIFY and the
//! catch-up of followed sessions).

pub mod adapter;
pub mod approvals;
pub mod auth;
pub mod config;
pub mod error;
mod events;
mod hub;
mod info;
mod limits;
mod live_tail;
mod remembered;
pub mod routes;
pub mod runtime_adapter;
pub mod sse;
mod store;
mod subscriber;
mod turns;
pub mod ui;
mod web_session;

pub use adapter::{RuntimeAdapter, SessionInfo, TurnAccepted, WebAdapter};
pub use approvals::WebDecision;
pub use auth::{hash_token, Authenticator, TenantId, TenantTokens};
pub use config::WebConfig;
pub use error::WebError;
pub use limits::{SessionLimit, StreamLimit};
pub use sse::{serialize_sse_envelope, SseEnvelope};
pub use store::{SessionKey, WEB_ACTOR};

/// A fresh random id (128 bits, 32 hex digits) for a web session or an approval request.
pub fn new_session_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

impl WebAdapter {
    /// The HTTP API (see [`routes`]) as an axum router to mount or serve.
    pub fn router(&self) -> axum::Router {
        routes::api_router(self.clone())
    }

    /// Serves [`WebAdapter::router`] plus the UI ([`ui::router`]) on `listener` until
    /// `shutdown` resolves; then stops accepting, ends every SSE stream and session
    /// ([`WebAdapter::shutdown`]) and waits for open requests to finish.
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let app = self.router().merge(ui::router());
        let adapter = self.clone();
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                shutdown.await;
                adapter.shutdown().await;
            })
            .await
    }
}
