//! [`WebConfig`]: sessions, auth, limits, CORS and buffering of a [`crate::web::WebAdapter`].

use super::auth::{Authenticator, SharedAuthenticator, TenantTokens};
use crate::persistence::ConversationStore;
use crate::runtime::SessionConfig;
use std::sync::Arc;
use std::time::Duration;

/// Configuration of a [`crate::web::WebAdapter`].
#[derive(Clone)]
#[non_exhaustive]
pub struct WebConfig {
    /// The template of every web session (cwd, run profile, approval timeout). The adapter
    /// installs its own approval handler on it, so approvals are answered through
    /// [`crate::web::WebAdapter::post_approval`]; the template's approval timeout and timeout
    /// action (the SDK's fail-closed default: decline after 60 s) still apply.
    pub session: SessionConfig,
    /// Who may call, and as which tenant.
    pub authenticator: SharedAuthenticator,
    /// Largest request body, in bytes (default 1 MiB); larger bodies get HTTP 413.
    pub max_body_bytes: usize,
    /// Largest prompt, in bytes (default 256 KiB); larger prompts get HTTP 413.
    pub max_prompt_bytes: usize,
    /// Origins allowed by CORS; empty (the default) = no CORS headers at all.
    pub cors_origins: Vec<String>,
    /// Events of each session kept in memory for live subscribers that fall behind and for
    /// `Last-Event-ID` resumes (default 8192). Older events come from the store, when one is
    /// configured.
    pub replay_buffer: usize,
    /// Interval of SSE keep-alive comments (default 15 s).
    pub keepalive: Duration,
    /// Where sessions and their event logs are kept (default: none, memory only). With a
    /// store, a `Last-Event-ID` older than the in-memory buffer is read from it, sessions are
    /// listed from it, and another instance sharing it can replay a session.
    pub store: Option<Arc<dyn ConversationStore>>,
    /// PostgreSQL to carry the live tail between instances sharing the store
    /// (`LISTEN`/`NOTIFY`); see [`WebConfig::with_postgres_live_tail`].
    pub live_tail: Option<codex_db::RedactedUrl>,
    /// How often followed sessions are read from the store even without a notification (the
    /// safety net for a lost `NOTIFY`; default 2 s).
    pub live_tail_catch_up: Duration,
    /// Most sessions this instance runs at once, all tenants together (default
    /// [`WebConfig::DEFAULT_MAX_SESSIONS`] = 1000). Closed sessions do not count. One more is
    /// refused with HTTP 503 [`crate::web::WebError::TooManySessions`] (`limit: max_sessions`).
    pub max_sessions: usize,
    /// Most sessions one tenant runs at once on this instance (default
    /// [`WebConfig::DEFAULT_MAX_SESSIONS_PER_TENANT`] = 100). One more is refused with HTTP 429
    /// [`crate::web::WebError::TooManySessions`] (`limit: max_sessions_per_tenant`).
    pub max_sessions_per_tenant: usize,
    /// Most sessions kept in memory that this instance does not run: sessions of other
    /// instances it follows from the store, and closed sessions (default
    /// [`WebConfig::DEFAULT_MAX_REMEMBERED_SESSIONS`] = 1000). Past it, the oldest ones no
    /// client follows are forgotten (with a store they are read again when asked for; without
    /// one a forgotten closed session is 404); when every one has a client, following one more
    /// is refused with HTTP 503 (`limit: max_remembered_sessions`).
    pub max_remembered_sessions: usize,
    /// Most remembered sessions (see [`WebConfig::max_remembered_sessions`]) one tenant may
    /// hold (default [`WebConfig::DEFAULT_MAX_REMEMBERED_SESSIONS_PER_TENANT`] = 100), so one
    /// tenant cannot fill the instance's share: past it, that tenant's oldest ones no client
    /// follows are forgotten first; when every one has a client, following one more is refused
    /// with HTTP 429 (`limit: max_remembered_sessions_per_tenant`).
    pub max_remembered_sessions_per_tenant: usize,
    /// Most SSE streams (`/events` and `/approvals`) open at once, all tenants together
    /// (default [`WebConfig::DEFAULT_MAX_STREAMS`] = 4096). One more is refused with HTTP 503
    /// [`crate::web::WebError::TooManyStreams`] (`limit: max_streams`).
    pub max_streams: usize,
    /// Most SSE streams one tenant has open at once (default
    /// [`WebConfig::DEFAULT_MAX_STREAMS_PER_TENANT`] = 256). One more is refused with HTTP 429
    /// (`limit: max_streams_per_tenant`).
    pub max_streams_per_tenant: usize,
    /// Most approval requests of one session waiting for an answer at once (default
    /// [`WebConfig::DEFAULT_MAX_PENDING_APPROVALS`] = 16). A request over it is declined at once
    /// (fail-closed) and logged as `approval.resolved` with `answered_by:
    /// "max_pending_approvals"`; answering it later is HTTP 409. Answered requests are
    /// remembered (to refuse a second answer) up to [`WebConfig::ANSWERED_APPROVALS_KEPT`] per
    /// session; older ones are forgotten (a late answer to those is HTTP 404).
    pub max_pending_approvals: usize,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("session", &self.session)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_prompt_bytes", &self.max_prompt_bytes)
            .field("cors_origins", &self.cors_origins)
            .field("replay_buffer", &self.replay_buffer)
            .field("keepalive", &self.keepalive)
            .field("store", &self.store.as_ref().map(|s| s.backend()))
            .field("live_tail", &self.live_tail)
            .field("max_sessions", &self.max_sessions)
            .field("max_sessions_per_tenant", &self.max_sessions_per_tenant)
            .field("max_remembered_sessions", &self.max_remembered_sessions)
            .field(
                "max_remembered_sessions_per_tenant",
                &self.max_remembered_sessions_per_tenant,
            )
            .field("max_streams", &self.max_streams)
            .field("max_streams_per_tenant", &self.max_streams_per_tenant)
            .field("max_pending_approvals", &self.max_pending_approvals)
            .finish_non_exhaustive()
    }
}

impl WebConfig {
    /// Default of [`WebConfig::max_sessions`].
    pub const DEFAULT_MAX_SESSIONS: usize = 1000;
    /// Default of [`WebConfig::max_sessions_per_tenant`].
    pub const DEFAULT_MAX_SESSIONS_PER_TENANT: usize = 100;
    /// Default of [`WebConfig::max_remembered_sessions`].
    pub const DEFAULT_MAX_REMEMBERED_SESSIONS: usize = 1000;
    /// Default of [`WebConfig::max_remembered_sessions_per_tenant`].
    pub const DEFAULT_MAX_REMEMBERED_SESSIONS_PER_TENANT: usize = 100;
    /// Default of [`WebConfig::max_streams`].
    pub const DEFAULT_MAX_STREAMS: usize = 4096;
    /// Default of [`WebConfig::max_streams_per_tenant`].
    pub const DEFAULT_MAX_STREAMS_PER_TENANT: usize = 256;
    /// Default of [`WebConfig::max_pending_approvals`].
    pub const DEFAULT_MAX_PENDING_APPROVALS: usize = 16;
    /// Answered approval requests remembered per session (see
    /// [`WebConfig::max_pending_approvals`]).
    pub const ANSWERED_APPROVALS_KEPT: usize = 256;

    /// Sessions from `session`, callers authenticated by `tokens`, default limits.
    pub fn new(session: SessionConfig, tokens: TenantTokens) -> Self {
        Self::with_authenticator(session, tokens)
    }

    /// Sessions from `session`, callers authenticated by `authenticator`.
    pub fn with_authenticator(session: SessionConfig, authenticator: impl Authenticator) -> Self {
        WebConfig {
            session,
            authenticator: Arc::new(authenticator),
            max_body_bytes: 1024 * 1024,
            max_prompt_bytes: 256 * 1024,
            cors_origins: Vec::new(),
            replay_buffer: 8192,
            keepalive: Duration::from_secs(15),
            store: None,
            live_tail: None,
            live_tail_catch_up: Duration::from_secs(2),
            max_sessions: Self::DEFAULT_MAX_SESSIONS,
            max_sessions_per_tenant: Self::DEFAULT_MAX_SESSIONS_PER_TENANT,
            max_remembered_sessions: Self::DEFAULT_MAX_REMEMBERED_SESSIONS,
            max_remembered_sessions_per_tenant: Self::DEFAULT_MAX_REMEMBERED_SESSIONS_PER_TENANT,
            max_streams: Self::DEFAULT_MAX_STREAMS,
            max_streams_per_tenant: Self::DEFAULT_MAX_STREAMS_PER_TENANT,
            max_pending_approvals: Self::DEFAULT_MAX_PENDING_APPROVALS,
        }
    }

    /// Follows sessions of other instances live through PostgreSQL `LISTEN`/`NOTIFY` on `url`
    /// (normally the database of a shared [`crate::persistence::PostgresStore`]): events a
    /// session appends on one instance reach subscribers on every other instance.
    pub fn with_postgres_live_tail(mut self, url: &str) -> Self {
        self.live_tail = Some(codex_db::RedactedUrl::new(url));
        self
    }

    /// Keeps sessions and their event logs in `store`.
    pub fn with_store(mut self, store: Arc<dyn ConversationStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Sets the largest request body.
    pub fn with_max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Sets the largest prompt.
    pub fn with_max_prompt_bytes(mut self, bytes: usize) -> Self {
        self.max_prompt_bytes = bytes;
        self
    }

    /// Allows CORS from `origin` (e.g. `https://app.example.com`).
    pub fn allow_origin(mut self, origin: impl Into<String>) -> Self {
        self.cors_origins.push(origin.into());
        self
    }

    /// Sets how many events per session stay in memory.
    pub fn with_replay_buffer(mut self, events: usize) -> Self {
        self.replay_buffer = events.max(16);
        self
    }

    /// Sets how often followed sessions are caught up without a notification.
    pub fn with_live_tail_catch_up(mut self, every: Duration) -> Self {
        self.live_tail_catch_up = every;
        self
    }

    /// Sets [`WebConfig::max_sessions`] and [`WebConfig::max_sessions_per_tenant`].
    pub fn with_max_sessions(mut self, total: usize, per_tenant: usize) -> Self {
        self.max_sessions = total;
        self.max_sessions_per_tenant = per_tenant;
        self
    }

    /// Sets [`WebConfig::max_remembered_sessions`].
    pub fn with_max_remembered_sessions(mut self, sessions: usize) -> Self {
        self.max_remembered_sessions = sessions;
        self
    }

    /// Sets [`WebConfig::max_remembered_sessions_per_tenant`].
    pub fn with_max_remembered_sessions_per_tenant(mut self, sessions: usize) -> Self {
        self.max_remembered_sessions_per_tenant = sessions;
        self
    }

    /// Sets [`WebConfig::max_streams`] and [`WebConfig::max_streams_per_tenant`].
    pub fn with_max_streams(mut self, total: usize, per_tenant: usize) -> Self {
        self.max_streams = total;
        self.max_streams_per_tenant = per_tenant;
        self
    }

    /// Sets [`WebConfig::max_pending_approvals`] (0 declines every approval request at once).
    pub fn with_max_pending_approvals(mut self, approvals: usize) -> Self {
        self.max_pending_approvals = approvals;
        self
    }

    /// Sets the keep-alive interval.
    pub fn with_keepalive(mut self, every: Duration) -> Self {
        self.keepalive = every;
        self
    }
}
