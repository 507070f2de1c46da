//! A [`ConversationStore`] that forwards to a real one and fails chosen calls on demand.

use codex_runtime::persistence::{
    Conversation, ConversationPage, ConversationStore, Durability, EventRecord, ItemPage,
    JobRecord, LeaseAcquire, ListConversations, Millis, NewConversation, PersistenceError, Record,
    RowCounts, Scope, ServerRequestRecord, SessionLease, StoreFuture, TurnRecord,
};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// The text of every injected failure: it must never reach an HTTP client.
pub const INJECTED: &str = "injected failure: relation \"codex_events\" at /srv/secret/db";

/// Forwards to `inner`; `set_archived` fails `fail_archive` more times, `append` fails while
/// `fail_append` is set, and `read_events` calls are counted and take `read_delay_ms` longer
/// (a slow store).
pub struct FaultyStore {
    pub inner: Arc<dyn ConversationStore>,
    pub fail_archive: AtomicU32,
    pub fail_append: AtomicBool,
    pub read_events_calls: AtomicU32,
    pub read_delay_ms: AtomicU64,
}

impl FaultyStore {
    pub fn new(inner: Arc<dyn ConversationStore>) -> Arc<FaultyStore> {
        Arc::new(FaultyStore {
            inner,
            fail_archive: AtomicU32::new(0),
            fail_append: AtomicBool::new(false),
            read_events_calls: AtomicU32::new(0),
            read_delay_ms: AtomicU64::new(0),
        })
    }
}

fn injected(operation: &str) -> PersistenceError {
    PersistenceError::Store {
        store: "faulty",
        operation: operation.to_string(),
        message: INJECTED.to_string(),
    }
}

impl ConversationStore for FaultyStore {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    fn durability(&self) -> Durability {
        self.inner.durability()
    }
    fn subscribe(&self) -> broadcast::Receiver<Arc<EventRecord>> {
        self.inner.subscribe()
    }
    fn create_conversation<'a>(
        &'a self,
        scope: &'a Scope,
        new: NewConversation,
    ) -> StoreFuture<'a, Conversation> {
        self.inner.create_conversation(scope, new)
    }
    fn conversation<'a>(
        &'a self,
        scope: &'a Scope,
        conversation_id: &'a str,
    ) -> StoreFuture<'a, Option<Conversation>> {
        self.inner.conversation(scope, conversation_id)
    }
    fn list_conversations<'a>(
        &'a self,
        scope: &'a Scope,
        query: ListConversations,
    ) -> StoreFuture<'a, ConversationPage> {
        self.inner.list_conversations(scope, query)
    }
    fn set_archived<'a>(
        &'a self,
        scope: &'a Scope,
        conversation_id: &'a str,
        archived: bool,
    ) -> StoreFuture<'a, ()> {
        let fail = self
            .fail_archive
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if fail {
            return Box::pin(async { Err(injected("set_archived")) });
        }
        self.inner.set_archived(scope, conversation_id, archived)
    }
    fn set_name<'a>(
        &'a self,
        scope: &'a Scope,
        conversation_id: &'a str,
        name: Option<String>,
    ) -> StoreFuture<'a, ()> {
        self.inner.set_name(scope, conversation_id, name)
    }
    fn bind_thread<'a>(
        &'a self,
        scope: &'a Scope,
        conversation_id: &'a str,
        thread_id: &'a str,
    ) -> StoreFuture<'a, ()> {
        self.inner.bind_thread(scope, conversation_id, thread_id)
    }
    fn append<'a>(
        &'a self,
        scope: &'a Scope,
        conversation_id: &'a str,
        records: Vec<Record>,
    ) -> StoreFuture<'a, Vec<EventRecord>> {
        if self.fail_append.load(Ordering::SeqCst) {
            return Box::pin(async { Err(injected("append")) });
        }
        self.inner.append(scope, conversation_id, records)
    }
    fn read_turns<'a>(
        &'a self,
        scope: &'a Scope,
        conversation_id: &'a str,
    ) -> StoreFuture<'a, Vec<TurnRecord>> {
        self.inner.read_turns(scope, conversation_id)
    }
    fn read_items<'a>(
        &'a self,
        scope: &'a Scope,
        conversation_id: &'a str,
        after: i64,
        limit: u32,
    ) -> StoreFuture<'a, ItemPage> {
        self.inner.read_items(scope, conversation_id, after, limit)
    }
    fn read_events<'a>(
        &'a self,
        scope: &'a Scope,
        conversation_id: &'a str,
        after_seq: i64,
        limit: u32,
    ) -> StoreFuture<'a, Vec<EventRecord>> {
        self.read_events_calls.fetch_add(1, Ordering::SeqCst);
        let delay = Duration::from_millis(self.read_delay_ms.load(Ordering::SeqCst));
        let read = self
            .inner
            .read_events(scope, conversation_id, after_seq, limit);
        Box::pin(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            read.await
        })
    }
    fn server_requests<'a>(
        &'a self,
        scope: &'a Scope,
        conversation_id: &'a str,
    ) -> StoreFuture<'a, Vec<ServerRequestRecord>> {
        self.inner.server_requests(scope, conversation_id)
    }
    fn pending_server_requests<'a>(
        &'a self,
        scope: &'a Scope,
        conversation_id: &'a str,
    ) -> StoreFuture<'a, Vec<ServerRequestRecord>> {
        self.inner.pending_server_requests(scope, conversation_id)
    }
    fn abandon_open_turns<'a>(
        &'a self,
        scope: &'a Scope,
        conversation_id: &'a str,
    ) -> StoreFuture<'a, Vec<String>> {
        self.inner.abandon_open_turns(scope, conversation_id)
    }
    fn delete_conversation<'a>(
        &'a self,
        scope: &'a Scope,
        conversation_id: &'a str,
    ) -> StoreFuture<'a, u64> {
        self.inner.delete_conversation(scope, conversation_id)
    }
    fn delete_turn<'a>(
        &'a self,
        scope: &'a Scope,
        conversation_id: &'a str,
        turn_id: &'a str,
    ) -> StoreFuture<'a, u64> {
        self.inner.delete_turn(scope, conversation_id, turn_id)
    }
    fn purge_actor<'a>(&'a self, scope: &'a Scope) -> StoreFuture<'a, u64> {
        self.inner.purge_actor(scope)
    }
    fn count_rows<'a>(&'a self, scope: Option<&'a Scope>) -> StoreFuture<'a, RowCounts> {
        self.inner.count_rows(scope)
    }
    fn insert_job<'a>(&'a self, job: &'a JobRecord) -> StoreFuture<'a, ()> {
        self.inner.insert_job(job)
    }
    fn update_job<'a>(&'a self, job: &'a JobRecord) -> StoreFuture<'a, bool> {
        self.inner.update_job(job)
    }
    fn job<'a>(&'a self, scope: &'a Scope, job_id: &'a str) -> StoreFuture<'a, Option<JobRecord>> {
        self.inner.job(scope, job_id)
    }
    fn cancel_job<'a>(
        &'a self,
        scope: &'a Scope,
        job_id: &'a str,
    ) -> StoreFuture<'a, Option<JobRecord>> {
        self.inner.cancel_job(scope, job_id)
    }
    fn claim_job<'a>(
        &'a self,
        scope: &'a Scope,
        job_id: &'a str,
        owner: &'a str,
        now: Millis,
        lease_ms: Millis,
    ) -> StoreFuture<'a, Option<JobRecord>> {
        self.inner.claim_job(scope, job_id, owner, now, lease_ms)
    }
    fn claim_next_job<'a>(
        &'a self,
        owner: &'a str,
        now: Millis,
        lease_ms: Millis,
    ) -> StoreFuture<'a, Option<JobRecord>> {
        self.inner.claim_next_job(owner, now, lease_ms)
    }
    fn renew_job_lease<'a>(
        &'a self,
        job_id: &'a str,
        claim: i64,
        owner: &'a str,
        now: Millis,
        lease_ms: Millis,
    ) -> StoreFuture<'a, bool> {
        self.inner
            .renew_job_lease(job_id, claim, owner, now, lease_ms)
    }
    fn session_lease<'a>(
        &'a self,
        scope: &'a Scope,
        conversation_id: &'a str,
    ) -> StoreFuture<'a, Option<SessionLease>> {
        self.inner.session_lease(scope, conversation_id)
    }
    fn acquire_session_lease<'a>(
        &'a self,
        scope: &'a Scope,
        conversation_id: &'a str,
        owner: &'a str,
        now: Millis,
        ttl_ms: Millis,
    ) -> StoreFuture<'a, LeaseAcquire> {
        self.inner
            .acquire_session_lease(scope, conversation_id, owner, now, ttl_ms)
    }
    fn renew_session_lease<'a>(
        &'a self,
        scope: &'a Scope,
        conversation_id: &'a str,
        owner: &'a str,
        token: i64,
        now: Millis,
        ttl_ms: Millis,
    ) -> StoreFuture<'a, Option<SessionLease>> {
        self.inner
            .renew_session_lease(scope, conversation_id, owner, token, now, ttl_ms)
    }
    fn release_session_lease<'a>(
        &'a self,
        scope: &'a Scope,
        conversation_id: &'a str,
        owner: &'a str,
        token: i64,
    ) -> StoreFuture<'a, bool> {
        self.inner
            .release_session_lease(scope, conversation_id, owner, token)
    }
}
