//! [`WebAdapter`]: runtime sessions bridged into tenant-scoped web sessions.

use super::approvals::{ApprovalBridge, SessionApprovals, WebDecision};
use super::auth::TenantId;
use super::config::WebConfig;
use super::error::WebError;
use super::hub::{Hub, Logged};
use super::sse::SseEnvelope;
use super::store::{EventStore, SessionKey};
use super::subscriber::{Delivery, Filter, Subscriber, SESSION_CLOSED};
use super::turns;
use crate::runtime::{Client, Session, SessionConfig};
use futures::future::BoxFuture;
use futures::Stream;
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How the adapter opens the runtime session behind a web session. [`Client`] implements it
/// (`start_session`); implement it to choose a working directory or profile per tenant.
pub trait RuntimeAdapter: Send + Sync + 'static {
    /// Opens a session for `tenant` with `config` (the adapter's template, with the approvals
    /// bridge installed).
    fn open_session(
        &self,
        tenant: &TenantId,
        config: SessionConfig,
    ) -> BoxFuture<'static, crate::Result<Session>>;
}

impl RuntimeAdapter for Client {
    fn open_session(
        &self,
        _tenant: &TenantId,
        config: SessionConfig,
    ) -> BoxFuture<'static, crate::Result<Session>> {
        let client = self.clone();
        Box::pin(async move { client.start_session(config).await })
    }
}

/// A web session as the API lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SessionInfo {
    /// The web session id.
    pub id: String,
    /// The codex thread behind it.
    pub thread_id: String,
    /// Its name, if given.
    pub name: Option<String>,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_at_ms: u64,
    /// True once closed.
    pub closed: bool,
    /// True while a turn runs.
    pub running: bool,
    /// The sequence of its last event (`Last-Event-ID` of a client that saw everything).
    pub last_event_id: u64,
}

/// What [`WebAdapter::create_turn`] answers: the turn was accepted and runs in the background.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct TurnAccepted {
    /// The session.
    pub session_id: String,
    /// The sequence of the turn's `turn.requested` event; the turn's events follow it.
    pub event_id: u64,
}

struct WebSession {
    key: SessionKey,
    session: Session,
    hub: Arc<Hub>,
    name: Option<String>,
    created_at_ms: u64,
    closed: AtomicBool,
    turn: Mutex<Option<JoinHandle<()>>>,
}

impl WebSession {
    fn running(&self) -> bool {
        self.turn
            .lock()
            .map(|t| t.as_ref().is_some_and(|h| !h.is_finished()))
            .unwrap_or(false)
    }
    fn info(&self) -> SessionInfo {
        SessionInfo {
            id: self.key.session_id.clone(),
            thread_id: self.session.thread_id().to_string(),
            name: self.name.clone(),
            created_at_ms: self.created_at_ms,
            closed: self.closed.load(Ordering::SeqCst),
            running: self.running(),
            last_event_id: self.hub.last_seq(),
        }
    }
}

pub(crate) struct AdapterInner {
    pub(crate) config: WebConfig,
    runtime: Arc<dyn RuntimeAdapter>,
    sessions: Mutex<HashMap<String, Arc<WebSession>>>,
    approvals: Arc<ApprovalBridge>,
    store: Option<Arc<dyn EventStore>>,
    pub(crate) shutdown: CancellationToken,
}

/// Bridges runtime sessions into tenant- and session-scoped web sessions. Cheap to clone.
///
/// Every operation takes the calling tenant: a session of another tenant is
/// [`WebError::SessionNotFound`] (HTTP 404), exactly like one that does not exist. Approval
/// requests are answered only through [`WebAdapter::post_approval`].
#[derive(Clone)]
pub struct WebAdapter {
    pub(crate) inner: Arc<AdapterInner>,
}

impl std::fmt::Debug for WebAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebAdapter")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl WebAdapter {
    /// An adapter whose sessions start on `client`.
    pub fn spawn(client: Client, config: WebConfig) -> WebAdapter {
        Self::spawn_with_adapter(Arc::new(client), config)
    }

    /// An adapter whose sessions are opened by `runtime`.
    pub fn spawn_with_adapter(runtime: Arc<dyn RuntimeAdapter>, config: WebConfig) -> WebAdapter {
        WebAdapter {
            inner: Arc::new(AdapterInner {
                config,
                runtime,
                sessions: Mutex::new(HashMap::new()),
                approvals: Arc::new(ApprovalBridge::default()),
                store: None,
                shutdown: CancellationToken::new(),
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &WebConfig {
        &self.inner.config
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<WebSession>>> {
        self.inner.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn session(&self, tenant: &TenantId, session_id: &str) -> Result<Arc<WebSession>, WebError> {
        self.sessions()
            .get(session_id)
            .filter(|s| &s.key.tenant == tenant)
            .cloned()
            .ok_or_else(|| WebError::SessionNotFound {
                session_id: session_id.to_string(),
            })
    }

    fn check_running(&self) -> Result<(), WebError> {
        if self.inner.shutdown.is_cancelled() {
            return Err(WebError::ShuttingDown);
        }
        Ok(())
    }

    /// Opens a runtime session for `tenant` and returns its web session.
    pub async fn create_session(
        &self,
        tenant: &TenantId,
        name: Option<String>,
    ) -> Result<SessionInfo, WebError> {
        self.check_running()?;
        let key = SessionKey {
            tenant: tenant.clone(),
            session_id: super::new_session_id(),
        };
        let hub = Arc::new(Hub::new(
            key.clone(),
            0,
            self.inner.config.replay_buffer,
            self.inner.store.clone(),
        ));
        let mut config = self
            .inner
            .config
            .session
            .clone()
            .with_approval_handler(SessionApprovals {
                bridge: Arc::clone(&self.inner.approvals),
                key: key.clone(),
                hub: Arc::downgrade(&hub),
            });
        if let Some(n) = &name {
            config = config.with_name(n.clone());
        }
        let session = self.inner.runtime.open_session(tenant, config).await?;
        let web = Arc::new(WebSession {
            key: key.clone(),
            hub: Arc::clone(&hub),
            session,
            name,
            created_at_ms: now_ms(),
            closed: AtomicBool::new(false),
            turn: Mutex::new(None),
        });
        hub.publish(vec![(
            "session.created".to_string(),
            json!({"session_id": key.session_id, "thread_id": web.session.thread_id(), "name": web.name}),
        )])
        .await?;
        let info = web.info();
        self.sessions().insert(key.session_id.clone(), web);
        tracing::info!(tenant = %tenant, session = %key.session_id, "web session created");
        Ok(info)
    }

    /// The sessions of `tenant`, newest first.
    pub fn list_sessions(&self, tenant: &TenantId) -> Vec<SessionInfo> {
        let mut list: Vec<SessionInfo> = self
            .sessions()
            .values()
            .filter(|s| &s.key.tenant == tenant)
            .map(|s| s.info())
            .collect();
        list.sort_by(|a, b| b.created_at_ms.cmp(&a.created_at_ms).then(b.id.cmp(&a.id)));
        list
    }

    /// One session of `tenant`.
    pub fn session_info(&self, tenant: &TenantId, session_id: &str) -> Result<SessionInfo, WebError> {
        Ok(self.session(tenant, session_id)?.info())
    }

    /// Starts a turn with `prompt`; its events follow on the session's event stream. One turn
    /// at a time per session ([`WebError::TurnInProgress`] otherwise).
    pub async fn create_turn(
        &self,
        tenant: &TenantId,
        session_id: &str,
        prompt: String,
    ) -> Result<TurnAccepted, WebError> {
        self.check_running()?;
        let limit = self.inner.config.max_prompt_bytes;
        if prompt.len() > limit {
            return Err(WebError::PromptTooLarge {
                size: prompt.len(),
                limit,
            });
        }
        if prompt.trim().is_empty() {
            return Err(WebError::BadRequest("the prompt is empty".into()));
        }
        let web = self.session(tenant, session_id)?;
        if web.closed.load(Ordering::SeqCst) {
            return Err(WebError::SessionClosed {
                session_id: session_id.to_string(),
            });
        }
        let accepted_rx = {
            // Hold the slot while the turn is registered so two requests cannot both start one.
            let mut slot = web.turn.lock().unwrap_or_else(|e| e.into_inner());
            if slot.as_ref().is_some_and(|h| !h.is_finished()) {
                return Err(WebError::TurnInProgress {
                    session_id: session_id.to_string(),
                });
            }
            let hub = Arc::clone(&web.hub);
            let session = web.session.clone();
            let (accepted_tx, accepted_rx) = tokio::sync::oneshot::channel();
            *slot = Some(tokio::spawn(async move {
                let requested = hub
                    .publish(vec![("turn.requested".to_string(), json!({"prompt": prompt}))])
                    .await;
                let ok = requested.is_ok();
                let _ = accepted_tx.send(requested);
                if ok {
                    turns::drive(session, hub, prompt).await;
                }
            }));
            accepted_rx
        };
        let event_id = accepted_rx
            .await
            .map_err(|_| WebError::ShuttingDown)??;
        Ok(TurnAccepted {
            session_id: session_id.to_string(),
            event_id,
        })
    }

    /// Closes a session: the runtime session closes, pending approvals get the fail-closed
    /// answer, and subscribers receive `session.closed` and end.
    pub async fn close_session(&self, tenant: &TenantId, session_id: &str) -> Result<(), WebError> {
        let web = self.session(tenant, session_id)?;
        self.close(&web).await
    }

    async fn close(&self, web: &Arc<WebSession>) -> Result<(), WebError> {
        if web.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.inner.approvals.forget(&web.key);
        if web.running() {
            if let Err(err) = web.session.interrupt().await {
                tracing::debug!("interrupting the turn of a closing session: {err}");
            }
        }
        let closed = web.session.close().await;
        web.hub
            .publish(vec![(SESSION_CLOSED.to_string(), json!({"session_id": web.key.session_id}))])
            .await?;
        closed?;
        Ok(())
    }

    /// The events of a session after `after` (a `Last-Event-ID`; `None` = from the start), then
    /// live, until the session closes or the adapter shuts down.
    pub async fn subscribe_session_events(
        &self,
        tenant: &TenantId,
        session_id: &str,
        after: Option<u64>,
    ) -> Result<impl Stream<Item = Result<SseEnvelope, WebError>> + Send + 'static, WebError> {
        let sub = self
            .subscriber(tenant, session_id, after, Filter::All, false)
            .await?;
        Ok(envelopes(sub))
    }

    /// Like [`WebAdapter::subscribe_session_events`], only `approval.requested` and
    /// `approval.resolved` (plus `session.closed`).
    pub async fn subscribe_session_approvals(
        &self,
        tenant: &TenantId,
        session_id: &str,
        after: Option<u64>,
    ) -> Result<impl Stream<Item = Result<SseEnvelope, WebError>> + Send + 'static, WebError> {
        let sub = self
            .subscriber(tenant, session_id, after, Filter::Approvals, false)
            .await?;
        Ok(envelopes(sub))
    }

    pub(crate) async fn subscriber(
        &self,
        tenant: &TenantId,
        session_id: &str,
        after: Option<u64>,
        filter: Filter,
        keepalive: bool,
    ) -> Result<Subscriber, WebError> {
        self.check_running()?;
        let web = self.session(tenant, session_id)?;
        let every = keepalive.then_some(self.inner.config.keepalive);
        Subscriber::start(
            Arc::clone(&web.hub),
            after.unwrap_or(0),
            filter,
            self.inner.shutdown.child_token(),
            every,
        )
        .await
    }

    /// Answers approval request `request_id` of a session: the only way approvals are
    /// answered. Another tenant's or session's request is [`WebError::ApprovalNotFound`]; one
    /// already answered (or timed out) is [`WebError::ApprovalAlreadyAnswered`].
    pub async fn post_approval(
        &self,
        tenant: &TenantId,
        session_id: &str,
        request_id: &str,
        decision: WebDecision,
    ) -> Result<(), WebError> {
        let web = self.session(tenant, session_id)?;
        self.inner.approvals.answer(&web.key, request_id, decision)?;
        web.hub
            .publish(vec![(
                "approval.resolved".to_string(),
                json!({"request_id": request_id, "decision": decision}),
            )])
            .await?;
        Ok(())
    }

    /// Request ids of a session's approvals still waiting for an answer.
    pub fn pending_approvals(&self, tenant: &TenantId, session_id: &str) -> Result<Vec<String>, WebError> {
        let web = self.session(tenant, session_id)?;
        Ok(self.inner.approvals.pending(&web.key))
    }

    /// Stops the adapter: new requests get 503, every SSE stream ends (so a graceful HTTP
    /// shutdown does not wait on them) and every session closes.
    pub async fn shutdown(&self) {
        self.inner.shutdown.cancel();
        let sessions: Vec<Arc<WebSession>> = self.sessions().values().cloned().collect();
        for web in sessions {
            if let Err(err) = self.close(&web).await {
                tracing::debug!(session = %web.key.session_id, "closing at shutdown: {err}");
            }
        }
    }

    /// A future that resolves once [`WebAdapter::shutdown`] has been called.
    pub fn shutdown_started(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.inner.shutdown.clone().cancelled_owned()
    }
}

fn envelopes(sub: Subscriber) -> impl Stream<Item = Result<SseEnvelope, WebError>> + Send + 'static {
    futures::stream::unfold(sub, |mut sub| async move {
        loop {
            match sub.next().await? {
                Delivery::Event(ev) => return Some((Ok(logged_envelope(&ev)), sub)),
                Delivery::Failed(err) => return Some((Err(err), sub)),
                Delivery::KeepAlive => continue,
            }
        }
    })
}

fn logged_envelope(ev: &Logged) -> SseEnvelope {
    ev.envelope.clone()
}
