//! A `ConversationStore` wrapper that counts deletions and can hang them (a worker stuck
//! mid-job), for the job-claim tests.

use codex_runtime::persistence::{
    Conversation, ConversationPage, ConversationStore, Durability, EventRecord, ItemPage,
    JobRecord, LeaseAcquire, ListConversations, Millis, NewConversation, Record, RowCounts, Scope,
    ServerRequestRecord, SessionLease, StoreFuture, TurnRecord,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Counts `delete_conversation` calls per conversation id; hangs them while `hang` is set.
pub struct CountingStore {
    pub inner: Arc<dyn ConversationStore>,
    pub deletes: Mutex<HashMap<String, usize>>,
    pub hang: AtomicBool,
}

impl CountingStore {
    pub fn new(inner: Arc<dyn ConversationStore>) -> Arc<CountingStore> {
        Arc::new(CountingStore {
            inner,
            deletes: Mutex::new(HashMap::new()),
            hang: AtomicBool::new(false),
        })
    }

    /// `delete_conversation` calls per conversation id so far.
    pub fn deletes(&self) -> HashMap<String, usize> {
        self.deletes.lock().expect("counts").clone()
    }
}

impl ConversationStore for CountingStore {
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
        id: &'a str,
    ) -> StoreFuture<'a, Option<Conversation>> {
        self.inner.conversation(scope, id)
    }
    fn list_conversations<'a>(
        &'a self,
        scope: &'a Scope,
        query: ListConversations,
    ) -> StoreFuture<'a, ConversationPage> {
        self.inner.list_conversations(scope, query)
    }
    fn set_archived<'a>(&'a self, s: &'a Scope, id: &'a str, a: bool) -> StoreFuture<'a, ()> {
        self.inner.set_archived(s, id, a)
    }
    fn set_name<'a>(
        &'a self,
        s: &'a Scope,
        id: &'a str,
        name: Option<String>,
    ) -> StoreFuture<'a, ()> {
        self.inner.set_name(s, id, name)
    }
    fn bind_thread<'a>(&'a self, s: &'a Scope, id: &'a str, t: &'a str) -> StoreFuture<'a, ()> {
        self.inner.bind_thread(s, id, t)
    }
    fn append<'a>(
        &'a self,
        s: &'a Scope,
        id: &'a str,
        records: Vec<Record>,
    ) -> StoreFuture<'a, Vec<EventRecord>> {
        self.inner.append(s, id, records)
    }
    fn read_turns<'a>(&'a self, s: &'a Scope, id: &'a str) -> StoreFuture<'a, Vec<TurnRecord>> {
        self.inner.read_turns(s, id)
    }
    fn read_items<'a>(
        &'a self,
        s: &'a Scope,
        id: &'a str,
        after: i64,
        limit: u32,
    ) -> StoreFuture<'a, ItemPage> {
        self.inner.read_items(s, id, after, limit)
    }
    fn read_events<'a>(
        &'a self,
        s: &'a Scope,
        id: &'a str,
        after: i64,
        limit: u32,
    ) -> StoreFuture<'a, Vec<EventRecord>> {
        self.inner.read_events(s, id, after, limit)
    }
    fn server_requests<'a>(
        &'a self,
        s: &'a Scope,
        id: &'a str,
    ) -> StoreFuture<'a, Vec<ServerRequestRecord>> {
        self.inner.server_requests(s, id)
    }
    fn pending_server_requests<'a>(
        &'a self,
        s: &'a Scope,
        id: &'a str,
    ) -> StoreFuture<'a, Vec<ServerRequestRecord>> {
        self.inner.pending_server_requests(s, id)
    }
    fn abandon_open_turns<'a>(&'a self, s: &'a Scope, id: &'a str) -> StoreFuture<'a, Vec<String>> {
        self.inner.abandon_open_turns(s, id)
    }
    fn delete_conversation<'a>(&'a self, s: &'a Scope, id: &'a str) -> StoreFuture<'a, u64> {
        *self
            .deletes
            .lock()
            .expect("counts")
            .entry(id.to_string())
            .or_default() += 1;
        if self.hang.load(Ordering::SeqCst) {
            return Box::pin(std::future::pending());
        }
        self.inner.delete_conversation(s, id)
    }
    fn delete_turn<'a>(&'a self, s: &'a Scope, id: &'a str, t: &'a str) -> StoreFuture<'a, u64> {
        self.inner.delete_turn(s, id, t)
    }
    fn purge_actor<'a>(&'a self, s: &'a Scope) -> StoreFuture<'a, u64> {
        self.inner.purge_actor(s)
    }
    fn count_rows<'a>(&'a self, s: Option<&'a Scope>) -> StoreFuture<'a, RowCounts> {
        self.inner.count_rows(s)
    }
    fn insert_job<'a>(&'a self, job: &'a JobRecord) -> StoreFuture<'a, ()> {
        self.inner.insert_job(job)
    }
    fn update_job<'a>(&'a self, job: &'a JobRecord) -> StoreFuture<'a, bool> {
        self.inner.update_job(job)
    }
    fn job<'a>(&'a self, s: &'a Scope, id: &'a str) -> StoreFuture<'a, Option<JobRecord>> {
        self.inner.job(s, id)
    }
    fn cancel_job<'a>(&'a self, s: &'a Scope, id: &'a str) -> StoreFuture<'a, Option<JobRecord>> {
        self.inner.cancel_job(s, id)
    }
    fn claim_job<'a>(
        &'a self,
        s: &'a Scope,
        id: &'a str,
        owner: &'a str,
        now: Millis,
        lease: Millis,
    ) -> StoreFuture<'a, Option<JobRecord>> {
        self.inner.claim_job(s, id, owner, now, lease)
    }
    fn claim_next_job<'a>(
        &'a self,
        owner: &'a str,
        now: Millis,
        lease: Millis,
    ) -> StoreFuture<'a, Option<JobRecord>> {
        self.inner.claim_next_job(owner, now, lease)
    }
    fn renew_job_lease<'a>(
        &'a self,
        id: &'a str,
        claim: i64,
        owner: &'a str,
        now: Millis,
        lease: Millis,
    ) -> StoreFuture<'a, bool> {
        self.inner.renew_job_lease(id, claim, owner, now, lease)
    }
    fn session_lease<'a>(
        &'a self,
        s: &'a Scope,
        id: &'a str,
    ) -> StoreFuture<'a, Option<SessionLease>> {
        self.inner.session_lease(s, id)
    }
    fn acquire_session_lease<'a>(
        &'a self,
        s: &'a Scope,
        id: &'a str,
        owner: &'a str,
        now: Millis,
        ttl: Millis,
    ) -> StoreFuture<'a, LeaseAcquire> {
        self.inner.acquire_session_lease(s, id, owner, now, ttl)
    }
    fn renew_session_lease<'a>(
        &'a self,
        s: &'a Scope,
        id: &'a str,
        owner: &'a str,
        token: i64,
        now: Millis,
        ttl: Millis,
    ) -> StoreFuture<'a, Option<SessionLease>> {
        self.inner
            .renew_session_lease(s, id, owner, token, now, ttl)
    }
    fn release_session_lease<'a>(
        &'a self,
        s: &'a Scope,
        id: &'a str,
        owner: &'a str,
        token: i64,
    ) -> StoreFuture<'a, bool> {
        self.inner.release_session_lease(s, id, owner, token)
    }
}
