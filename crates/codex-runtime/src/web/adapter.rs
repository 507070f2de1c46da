//! [`WebAdapter`]: runtime sessions bridged into tenant-scoped web sessions.

use super::approvals::{answered, ApprovalBridge, SessionApprovals, WebDecision, CLOSED_ANSWERER};
use super::auth::TenantId;
use super::config::WebConfig;
use super::error::WebError;
use super::hub::Hub;
pub use super::info::{SessionInfo, TurnAccepted};
use super::limits::{Counted, Slots};
use super::live_tail::{self, Notifier};
pub use super::runtime_adapter::RuntimeAdapter;
use super::sse::SseEnvelope;
use super::store::{scope_of, SessionKey};
use super::subscriber::{Delivery, Filter, Subscriber};
use super::turns::RunningTurn;
use super::web_session::WebSession;
use crate::persistence::{now_millis, Conversation, ListConversations, NewConversation};
use crate::runtime::{Client, Session};
use futures::Stream;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

pub(crate) struct AdapterInner {
    pub(crate) config: WebConfig,
    runtime: Arc<dyn RuntimeAdapter>,
    /// Keyed by tenant and id: session ids are unique per tenant only.
    pub(super) sessions: Mutex<HashMap<SessionKey, Arc<WebSession>>>,
    approvals: Arc<ApprovalBridge>,
    slots: Slots,
    streams: Slots,
    pub(crate) shutdown: CancellationToken,
    notifier: Option<Notifier>,
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

impl WebAdapter {
    /// An adapter whose sessions start on `client`.
    pub fn spawn(client: Client, config: WebConfig) -> WebAdapter {
        Self::spawn_with_adapter(Arc::new(client), config)
    }

    /// An adapter whose sessions are opened by `runtime`.
    ///
    /// Call it inside a tokio runtime: with [`WebConfig::with_postgres_live_tail`] it spawns the
    /// task that listens for other instances' events.
    pub fn spawn_with_adapter(runtime: Arc<dyn RuntimeAdapter>, config: WebConfig) -> WebAdapter {
        // The listener task starts only once the adapter exists. (It used to be spawned from
        // inside `Arc::new_cyclic`; when a worker thread ran it before the `Arc` was complete,
        // its first `Weak::upgrade` failed and it quit for good: that instance then never
        // followed other instances live, nor sent its own notifications.)
        let (notifier, outbox) = match &config.live_tail {
            Some(_) => {
                let (notifier, outbox) = live_tail::channel();
                (Some(notifier), Some(outbox))
            }
            None => (None, None),
        };
        let live_tail_url = config.live_tail.clone();
        let slots = Slots::new(
            Counted::Sessions,
            config.max_sessions,
            config.max_sessions_per_tenant,
        );
        let streams = Slots::new(
            Counted::Streams,
            config.max_streams,
            config.max_streams_per_tenant,
        );
        let inner = Arc::new(AdapterInner {
            notifier,
            slots,
            streams,
            config,
            runtime,
            sessions: Mutex::new(HashMap::new()),
            approvals: Arc::new(ApprovalBridge::default()),
            shutdown: CancellationToken::new(),
        });
        if let (Some(url), Some(outbox)) = (live_tail_url, outbox) {
            live_tail::spawn(url, Arc::downgrade(&inner), outbox, inner.shutdown.clone());
        }
        WebAdapter { inner }
    }

    /// The configuration.
    pub fn config(&self) -> &WebConfig {
        &self.inner.config
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<SessionKey, Arc<WebSession>>> {
        self.inner
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn not_found(session_id: &str) -> WebError {
        WebError::SessionNotFound {
            session_id: session_id.to_string(),
        }
    }

    /// The tenant's session: known here, or (with a store) followed from the store.
    async fn session(
        &self,
        tenant: &TenantId,
        session_id: &str,
    ) -> Result<Arc<WebSession>, WebError> {
        let wanted = SessionKey {
            tenant: tenant.clone(),
            session_id: session_id.to_string(),
        };
        let known = self.sessions().get(&wanted).cloned();
        if let Some(web) = known {
            return Ok(web);
        }
        let Some(store) = &self.inner.config.store else {
            return Err(Self::not_found(session_id));
        };
        if session_id.trim().is_empty() {
            return Err(Self::not_found(session_id));
        }
        let scope = scope_of(tenant)?;
        let Some(conversation) = store.conversation(&scope, session_id).await? else {
            return Err(Self::not_found(session_id));
        };
        let web = Arc::new(self.followed(tenant, conversation)?);
        let web = {
            let mut sessions = self.sessions();
            if !sessions.contains_key(&wanted) {
                self.make_room(&mut sessions, tenant)?;
            }
            Arc::clone(sessions.entry(wanted).or_insert(web))
        };
        if &web.key.tenant != tenant {
            // Unreachable (the map is keyed by tenant too); refused rather than trusted.
            return Err(Self::not_found(session_id));
        }
        // Events appended between reading the conversation and registering it: no
        // notification will name them again.
        web.hub.catch_up().await?;
        Ok(web)
    }

    /// A session of another instance, followed from the store.
    fn followed(
        &self,
        tenant: &TenantId,
        conversation: Conversation,
    ) -> Result<WebSession, WebError> {
        let key = SessionKey {
            tenant: tenant.clone(),
            session_id: conversation.conversation_id.clone(),
        };
        let hub = Hub::new(
            key.clone(),
            // Nothing in memory: every resume reads the store first.
            u64::try_from(conversation.last_seq).unwrap_or(0),
            self.inner.config.replay_buffer,
            self.inner.config.store.clone(),
            None,
        )?;
        Ok(WebSession {
            key,
            session: None,
            thread_id: conversation.thread_id,
            hub: Arc::new(hub),
            name: conversation.name,
            created_at_ms: conversation.created_at,
            closed: AtomicBool::new(conversation.archived),
            archived: AtomicBool::new(conversation.archived),
            turn: Mutex::new(None),
            slot: Mutex::new(None),
        })
    }

    /// See [`super::remembered::make_room`].
    fn make_room(
        &self,
        sessions: &mut HashMap<SessionKey, Arc<WebSession>>,
        tenant: &TenantId,
    ) -> Result<(), WebError> {
        super::remembered::make_room(&self.inner.config, sessions, tenant)
    }

    fn check_running(&self) -> Result<(), WebError> {
        if self.inner.shutdown.is_cancelled() {
            return Err(WebError::ShuttingDown);
        }
        Ok(())
    }

    /// Opens a runtime session for `tenant` and returns its web session (stored as a
    /// conversation when a store is configured).
    pub async fn create_session(
        &self,
        tenant: &TenantId,
        name: Option<String>,
    ) -> Result<SessionInfo, WebError> {
        self.check_running()?;
        // Taken before the session opens, so concurrent creates cannot overshoot the caps.
        let slot = self.inner.slots.take(tenant)?;
        let key = SessionKey {
            tenant: tenant.clone(),
            session_id: super::new_session_id(),
        };
        let hub = Arc::new(Hub::new(
            key.clone(),
            0,
            self.inner.config.replay_buffer,
            self.inner.config.store.clone(),
            self.inner.notifier.clone(),
        )?);
        let mut config =
            self.inner
                .config
                .session
                .clone()
                .with_approval_handler(SessionApprovals {
                    bridge: Arc::clone(&self.inner.approvals),
                    key: key.clone(),
                    hub: Arc::downgrade(&hub),
                    max_pending: self.inner.config.max_pending_approvals,
                });
        if let Some(n) = &name {
            config = config.with_name(n.clone());
        }
        let session = self.inner.runtime.open_session(tenant, config).await?;
        let thread_id = session.thread_id().to_string();
        if let Some(store) = &self.inner.config.store {
            let mut new = NewConversation::new(key.session_id.clone()).with_thread(&thread_id);
            if let Some(n) = &name {
                new = new.with_name(n.clone());
            }
            if let Err(err) = store.create_conversation(&key.scope()?, new).await {
                if let Err(close) = session.close().await {
                    tracing::debug!("closing a session that could not be stored: {close}");
                }
                return Err(err.into());
            }
        }
        let web = Arc::new(WebSession {
            key: key.clone(),
            hub,
            session: Some(session),
            thread_id: Some(thread_id),
            name,
            created_at_ms: now_millis(),
            closed: AtomicBool::new(false),
            archived: AtomicBool::new(false),
            turn: Mutex::new(None),
            slot: Mutex::new(Some(slot)),
        });
        let info = web.info();
        self.sessions().insert(key.clone(), web);
        tracing::info!(tenant = %tenant, session = %key.session_id, "web session created");
        Ok(info)
    }

    /// The sessions of `tenant`, newest first (from the store when one is configured, so
    /// sessions of other instances are listed too; at most 200).
    pub async fn list_sessions(&self, tenant: &TenantId) -> Result<Vec<SessionInfo>, WebError> {
        let local: HashMap<String, SessionInfo> = self
            .sessions()
            .values()
            .filter(|s| &s.key.tenant == tenant)
            .map(|s| (s.key.session_id.clone(), s.info()))
            .collect();
        let mut list: Vec<SessionInfo> = match &self.inner.config.store {
            None => local.into_values().collect(),
            Some(store) => {
                let scope = scope_of(tenant)?;
                let page = store
                    .list_conversations(&scope, ListConversations::first(200).with_archived())
                    .await?;
                let mut list = Vec::with_capacity(page.data.len());
                for summary in page.data {
                    if let Some(info) = local.get(&summary.conversation_id) {
                        list.push(info.clone());
                        continue;
                    }
                    if let Some(c) = store.conversation(&scope, &summary.conversation_id).await? {
                        list.push(SessionInfo {
                            id: c.conversation_id,
                            thread_id: c.thread_id,
                            name: c.name,
                            created_at_ms: c.created_at,
                            closed: c.archived,
                            running: false,
                            live_here: false,
                            last_event_id: u64::try_from(c.last_seq).unwrap_or(0),
                        });
                    }
                }
                list
            }
        };
        list.sort_by(|a, b| b.created_at_ms.cmp(&a.created_at_ms).then(b.id.cmp(&a.id)));
        Ok(list)
    }

    /// One session of `tenant`.
    pub async fn session_info(
        &self,
        tenant: &TenantId,
        session_id: &str,
    ) -> Result<SessionInfo, WebError> {
        Ok(self.session(tenant, session_id).await?.info())
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
        let web = self.session(tenant, session_id).await?;
        if web.closed.load(Ordering::SeqCst) {
            return Err(WebError::SessionClosed {
                session_id: session_id.to_string(),
            });
        }
        let Some(session) = web.session.clone() else {
            return Err(WebError::SessionElsewhere {
                session_id: session_id.to_string(),
            });
        };
        let previous = {
            let mut slot = web.turn.lock().unwrap_or_else(|e| e.into_inner());
            match slot.take() {
                Some(turn) if turn.busy() => {
                    *slot = Some(turn);
                    return Err(WebError::TurnInProgress {
                        session_id: session_id.to_string(),
                    });
                }
                previous => previous,
            }
        };
        if let Some(turn) = previous {
            // It already published (or is publishing) `turn.completed`: a client that saw it may
            // go on at once. Let its task end first so the log stays in order.
            turn.finish().await;
        }
        // Hold the slot while the turn is registered so two requests cannot both start one.
        let mut slot = web.turn.lock().unwrap_or_else(|e| e.into_inner());
        if slot.as_ref().is_some_and(RunningTurn::is_running) {
            return Err(WebError::TurnInProgress {
                session_id: session_id.to_string(),
            });
        }
        let hub = Arc::clone(&web.hub);
        let after_event_id = hub.last_seq();
        *slot = Some(RunningTurn::start(session, hub, prompt));
        Ok(TurnAccepted {
            session_id: session_id.to_string(),
            after_event_id,
        })
    }

    /// Closes a session: the runtime session closes, pending approvals get the fail-closed
    /// answer, the stored conversation is archived, and subscribers receive `session.closed`
    /// and end.
    pub async fn close_session(&self, tenant: &TenantId, session_id: &str) -> Result<(), WebError> {
        let web = self.session(tenant, session_id).await?;
        let Some(session) = web.session.clone() else {
            return Err(WebError::SessionElsewhere {
                session_id: session_id.to_string(),
            });
        };
        self.close(&web, &session).await
    }

    /// Closes `web`: the first call closes the runtime session and declines its pending
    /// approvals; every call until one succeeds archives the stored conversation (so a close
    /// that failed on the store can be retried); the streams end and the live slot is freed
    /// whatever the store answers.
    async fn close(&self, web: &Arc<WebSession>, session: &Session) -> Result<(), WebError> {
        let first = !web.closed.swap(true, Ordering::SeqCst);
        if !first && web.archived.load(Ordering::SeqCst) {
            return Ok(());
        }
        let mut closed = Ok(());
        if first {
            let pending = self.inner.approvals.forget(&web.key);
            if web.running() {
                if let Err(err) = session.interrupt().await {
                    tracing::debug!("interrupting the turn of a closing session: {err}");
                }
            }
            closed = session.close().await;
            // The requests still pending got the fail-closed answer: say so in the log.
            let records: Vec<_> = pending
                .iter()
                .map(|id| answered(id, WebDecision::Decline.as_str(), CLOSED_ANSWERER))
                .collect();
            if let Err(err) = web.hub.publish(records).await {
                tracing::warn!(session = %web.key.session_id, "cannot log the approvals declined by the close: {err}");
            }
        }
        let archived = match &self.inner.config.store {
            Some(store) => store
                .set_archived(&web.key.scope()?, &web.key.session_id, true)
                .await
                .map_err(WebError::from),
            None => Ok(()),
        };
        if archived.is_ok() {
            web.archived.store(true, Ordering::SeqCst);
        }
        web.hub.closed().cancel();
        // The live slot is free again; the closed session is remembered while there is room.
        drop(web.slot.lock().unwrap_or_else(|e| e.into_inner()).take());
        if first {
            let mut sessions = self.sessions();
            if let Some(mine) = sessions.remove(&web.key) {
                if self.make_room(&mut sessions, &web.key.tenant).is_ok() {
                    sessions.insert(web.key.clone(), mine);
                }
            }
        }
        archived?;
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
    /// `approval.resolved`.
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
        // Taken first: a refused stream costs no store read.
        let slot = self.inner.streams.take(tenant)?;
        let web = self.session(tenant, session_id).await?;
        let every = keepalive.then_some(self.inner.config.keepalive);
        let sub = Subscriber::start(
            Arc::clone(&web.hub),
            after.unwrap_or(0),
            filter,
            self.inner.shutdown.child_token(),
            every,
            Some(slot),
        )
        .await?;
        if web.closed.load(Ordering::SeqCst) && web.session.is_none() {
            // A closed session of another instance: replay, then end.
            web.hub.closed().cancel();
        }
        Ok(sub)
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
        let web = self.session(tenant, session_id).await?;
        // Logged before codex gets it: an answer the log does not hold is never applied.
        let claimed = self.inner.approvals.claim(&web.key, request_id, decision)?;
        let by = format!("web:{tenant}");
        if let Err(err) = web
            .hub
            .publish(vec![answered(request_id, decision.as_str(), &by)])
            .await
        {
            claimed.decline();
            self.inner
                .approvals
                .settle(&web.key, request_id, WebDecision::Decline.as_str());
            tracing::warn!(request = %request_id, "cannot log an approval answer; declined it: {err}");
            return Err(err);
        }
        if !claimed.deliver() {
            // The approval timeout fired while the answer was logged: codex got the
            // fail-closed answer, and the request's waiting side logged `timeout` after it.
            self.inner.approvals.settle(&web.key, request_id, "timeout");
            return Err(WebError::ApprovalAlreadyAnswered {
                request_id: request_id.to_string(),
                answer: "timeout".to_string(),
            });
        }
        Ok(())
    }

    /// Request ids of a session's approvals still waiting for an answer.
    pub async fn pending_approvals(
        &self,
        tenant: &TenantId,
        session_id: &str,
    ) -> Result<Vec<String>, WebError> {
        let web = self.session(tenant, session_id).await?;
        Ok(self.inner.approvals.pending(&web.key))
    }

    /// Stops the adapter: new requests get 503, every SSE stream ends (so a graceful HTTP
    /// shutdown does not wait on them) and every session of this instance closes.
    pub async fn shutdown(&self) {
        self.inner.shutdown.cancel();
        let sessions: Vec<Arc<WebSession>> = self.sessions().values().cloned().collect();
        for web in sessions {
            let Some(session) = web.session.clone() else {
                continue;
            };
            if let Err(err) = self.close(&web, &session).await {
                tracing::debug!(session = %web.key.session_id, "closing at shutdown: {err}");
            }
        }
    }

    /// A future that resolves once [`WebAdapter::shutdown`] has been called.
    pub fn shutdown_started(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.inner.shutdown.clone().cancelled_owned()
    }
}

fn envelopes(
    sub: Subscriber,
) -> impl Stream<Item = Result<SseEnvelope, WebError>> + Send + 'static {
    futures::stream::unfold(sub, |mut sub| async move {
        loop {
            match sub.next().await? {
                Delivery::Event(ev) => return Some((Ok(ev.envelope.clone()), sub)),
                Delivery::Failed(err) => return Some((Err(err), sub)),
                Delivery::KeepAlive | Delivery::Closed => continue,
            }
        }
    })
}
