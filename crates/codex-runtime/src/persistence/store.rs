//! [`ConversationStore`]: the async trait every store implements, and the in-process feed of
//! appended events ([`EventFeed`]).

use super::error::PersistResult;
use super::jobs::JobRecord;
use super::lease::{LeaseAcquire, SessionLease};
use super::model::{
    Conversation, ConversationPage, Durability, EventRecord, ItemPage, ListConversations, Millis,
    NewConversation, Record, RowCounts, Scope, ServerRequestRecord, TurnRecord,
};
use futures::future::BoxFuture;
use std::sync::Arc;
use tokio::sync::broadcast;

/// The future every store method returns.
pub type StoreFuture<'a, T> = BoxFuture<'a, PersistResult<T>>;

/// Where conversations are kept. [`super::SqliteStore`] (one file, the embedded default) and
/// [`super::PostgresStore`] (several processes and machines) implement it and pass the same
/// conformance suite. Every method is scoped by [`Scope`]; nothing crosses tenants or actors.
///
/// The trait is object safe: share a store as `Arc<dyn ConversationStore>`.
pub trait ConversationStore: Send + Sync + 'static {
    /// `sqlite` or `postgres` (for errors and logs).
    fn backend(&self) -> &'static str;

    /// Whether committed writes survive a crash. Recording and imports refuse a store that is
    /// not [`Durability::Durable`] (fail closed) unless explicitly allowed.
    fn durability(&self) -> Durability;

    /// Live feed of the events this store handle appends (a bounded broadcast; a slow receiver
    /// gets `Lagged` and catches up with [`ConversationStore::read_events`]).
    fn subscribe(&self) -> broadcast::Receiver<Arc<EventRecord>>;

    /// Creates a conversation; [`super::PersistenceError::ConversationExists`] when the id is
    /// taken, [`super::PersistenceError::EmptyId`] for an empty or whitespace id.
    fn create_conversation<'a>(
        &'a self,
        scope: &'a Scope,
        new: NewConversation,
    ) -> StoreFuture<'a, Conversation>;

    /// One conversation, or `None`.
    fn conversation<'a>(
        &'a self,
        scope: &'a Scope,
        conversation_id: &'a str,
    ) -> StoreFuture<'a, Option<Conversation>>;

    /// The actor's conversations, most recently updated first, a page at a time.
    fn list_conversations<'a>(
        &'a self,
        scope: &'a Scope,
        query: ListConversations,
    ) -> StoreFuture<'a, ConversationPage>;

    /// Archives (`true`) or unarchives (`false`) a conversation.
    fn set_archived<'a>(
        &'a self,
        scope: &'a Scope,
        conversation_id: &'a str,
        archived: bool,
    ) -> StoreFuture<'a, ()>;

    /// Names (or un-names) a conversation.
    fn set_name<'a>(
        &'a self,
        scope: &'a Scope,
        conversation_id: &'a str,
        name: Option<String>,
    ) -> StoreFuture<'a, ()>;

    /// Binds the conversation to a codex thread.
    fn bind_thread<'a>(
        &'a self,
        scope: &'a Scope,
        conversation_id: &'a str,
        thread_id: &'a str,
    ) -> StoreFuture<'a, ()>;

    /// Appends records in one transaction and returns the events it added, with their gap-free
    /// sequence numbers. Records that repeat stored state add nothing (idempotent).
    fn append<'a>(
        &'a self,
        scope: &'a Scope,
        conversation_id: &'a str,
        records: Vec<Record>,
    ) -> StoreFuture<'a, Vec<EventRecord>>;

    /// The conversation's turns, in order.
    fn read_turns<'a>(
        &'a self,
        scope: &'a Scope,
        conversation_id: &'a str,
    ) -> StoreFuture<'a, Vec<TurnRecord>>;

    /// Items in conversation order, after position `after` (0 for the start), `limit` at a time
    /// (0 = the default page).
    fn read_items<'a>(
        &'a self,
        scope: &'a Scope,
        conversation_id: &'a str,
        after: i64,
        limit: u32,
    ) -> StoreFuture<'a, ItemPage>;

    /// Events with `seq > after_seq`, in order, at most `limit` (0 = the default page).
    fn read_events<'a>(
        &'a self,
        scope: &'a Scope,
        conversation_id: &'a str,
        after_seq: i64,
        limit: u32,
    ) -> StoreFuture<'a, Vec<EventRecord>>;

    /// Every server request of the conversation, oldest first.
    fn server_requests<'a>(
        &'a self,
        scope: &'a Scope,
        conversation_id: &'a str,
    ) -> StoreFuture<'a, Vec<ServerRequestRecord>>;

    /// Server requests still waiting for an answer; `[]` for an unknown conversation.
    fn pending_server_requests<'a>(
        &'a self,
        scope: &'a Scope,
        conversation_id: &'a str,
    ) -> StoreFuture<'a, Vec<ServerRequestRecord>>;

    /// Marks every in-progress turn of the conversation [`super::TurnStatus::Abandoned`] (one
    /// `turn_completed` event each) and returns their ids. Call it when the process that
    /// recorded them is gone (resume does).
    fn abandon_open_turns<'a>(
        &'a self,
        scope: &'a Scope,
        conversation_id: &'a str,
    ) -> StoreFuture<'a, Vec<String>>;

    /// Deletes a conversation with its turns, items, requests and events; returns rows deleted.
    fn delete_conversation<'a>(
        &'a self,
        scope: &'a Scope,
        conversation_id: &'a str,
    ) -> StoreFuture<'a, u64>;

    /// Deletes one turn with its items, requests and events; returns rows deleted. Sequence
    /// numbers of deleted events are not reused.
    fn delete_turn<'a>(
        &'a self,
        scope: &'a Scope,
        conversation_id: &'a str,
        turn_id: &'a str,
    ) -> StoreFuture<'a, u64>;

    /// Deletes every row of the actor (conversations, turns, items, requests, events and the
    /// actor's finished jobs); returns rows deleted.
    fn purge_actor<'a>(&'a self, scope: &'a Scope) -> StoreFuture<'a, u64>;

    /// Rows per table, for one scope or (with `None`) the whole store.
    fn count_rows<'a>(&'a self, scope: Option<&'a Scope>) -> StoreFuture<'a, RowCounts>;

    /// Inserts a job.
    fn insert_job<'a>(&'a self, job: &'a JobRecord) -> StoreFuture<'a, ()>;

    /// Saves a job's state and progress, fenced by its claim: only while `job.claim` is still
    /// the job's current claim held by `job.lease_owner` and the job has not been cancelled
    /// or finished; returns `false` otherwise (the runner stops).
    fn update_job<'a>(&'a self, job: &'a JobRecord) -> StoreFuture<'a, bool>;

    /// One job of `scope`; `None` for an unknown job or one of another scope.
    fn job<'a>(&'a self, scope: &'a Scope, job_id: &'a str) -> StoreFuture<'a, Option<JobRecord>>;

    /// Cancels a job of `scope` that has not finished; returns it as stored afterwards
    /// (`None` for an unknown job or one of another scope).
    fn cancel_job<'a>(
        &'a self,
        scope: &'a Scope,
        job_id: &'a str,
    ) -> StoreFuture<'a, Option<JobRecord>>;

    /// Claims job `job_id` of `scope` for `owner` until `now + lease_ms`, whatever its
    /// `run_at`: only when it is queued (it becomes running) or running with a lease that ran
    /// out. Bumps its fencing token. `None` when not claimable.
    fn claim_job<'a>(
        &'a self,
        scope: &'a Scope,
        job_id: &'a str,
        owner: &'a str,
        now: Millis,
        lease_ms: Millis,
    ) -> StoreFuture<'a, Option<JobRecord>>;

    /// Claims the oldest claimable job (queued and due by `now`, or running with a lease that
    /// ran out) for `owner` until `now + lease_ms`; concurrent claimers never get one job.
    fn claim_next_job<'a>(
        &'a self,
        owner: &'a str,
        now: Millis,
        lease_ms: Millis,
    ) -> StoreFuture<'a, Option<JobRecord>>;

    /// Extends claim `claim` of `owner` on a running job to `now + lease_ms`; `false` when the
    /// claim is not the job's any more or the job ended.
    fn renew_job_lease<'a>(
        &'a self,
        job_id: &'a str,
        claim: i64,
        owner: &'a str,
        now: Millis,
        lease_ms: Millis,
    ) -> StoreFuture<'a, bool>;

    /// The session ownership lease of a conversation, if one was ever taken.
    fn session_lease<'a>(
        &'a self,
        scope: &'a Scope,
        conversation_id: &'a str,
    ) -> StoreFuture<'a, Option<SessionLease>>;

    /// Acquires the conversation's ownership lease for `owner` until `now + ttl_ms` when it is
    /// free, expired or already `owner`'s; [`LeaseAcquire::Held`] with the live holder
    /// otherwise. See [`super::lease`].
    fn acquire_session_lease<'a>(
        &'a self,
        scope: &'a Scope,
        conversation_id: &'a str,
        owner: &'a str,
        now: Millis,
        ttl_ms: Millis,
    ) -> StoreFuture<'a, LeaseAcquire>;

    /// Renews `owner`'s lease with fencing token `token` to `now + ttl_ms`; `None` when the
    /// lease changed hands (the caller must stop driving the session).
    fn renew_session_lease<'a>(
        &'a self,
        scope: &'a Scope,
        conversation_id: &'a str,
        owner: &'a str,
        token: i64,
        now: Millis,
        ttl_ms: Millis,
    ) -> StoreFuture<'a, Option<SessionLease>>;

    /// Ends `owner`'s lease with token `token` now; `false` when it was not theirs any more.
    fn release_session_lease<'a>(
        &'a self,
        scope: &'a Scope,
        conversation_id: &'a str,
        owner: &'a str,
        token: i64,
    ) -> StoreFuture<'a, bool>;
}

/// Bound of the in-process event feed.
pub const FEED_CAPACITY: usize = 1024;

/// The in-process broadcast of appended events that stores share.
#[derive(Debug, Clone)]
pub(crate) struct EventFeed {
    tx: broadcast::Sender<Arc<EventRecord>>,
}

impl EventFeed {
    pub fn new() -> Self {
        EventFeed {
            tx: broadcast::channel(FEED_CAPACITY).0,
        }
    }
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<EventRecord>> {
        self.tx.subscribe()
    }
    pub fn publish(&self, events: &[EventRecord]) {
        if self.tx.receiver_count() == 0 {
            return;
        }
        for e in events {
            let _ = self.tx.send(Arc::new(e.clone()));
        }
    }
}
