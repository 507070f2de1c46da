//! Durable conversations (feature `persistence`): threads, turns, items, approvals and an
//! append-only event log per conversation, in SQLite by default and PostgreSQL across
//! processes and machines.
//!
//! - [`ConversationStore`]: the async trait; [`SqliteStore`] (one file, the embedded default)
//!   and [`PostgresStore`] (a pool; migrations under an advisory lock) implement it.
//! - [`Record`] / [`EventRecord`]: what is appended, and the log entry it becomes, with a
//!   gap-free `seq` per conversation (replay, resume, SSE `Last-Event-ID`).
//! - [`Recorder`]: records a [`crate::Session`]'s turns as they happen.
//! - [`Conversations`]: open (start / resume / fork), list, archive, name, read.
//! - [`Jobs`]: imports of codex threads and deletions (conversation, turn, actor) as jobs with
//!   a pollable status, cancel and run-now.
//! - [`RuntimeStatus`]: the lifecycle state of a runtime, as a snapshot and a push stream.
//!
//! Every key is scoped by [`Scope`] (tenant and actor). Operations that promise durability
//! fail closed ([`PersistenceError::NotDurable`]) on a store that cannot give it.
//!
//! See `docs/guide/persistence.md` for a walk-through.

mod control;
mod error;
mod import;
mod job_lease;
mod jobs;
pub mod lease;
mod model;
mod postgres;
mod queries;
mod recorder;
mod schema;
pub(crate) mod sql;
mod sqlite;
mod state;
mod store;
mod store_impl;

pub use control::{ConversationRead, Conversations, OpenConversation, OpenedConversation};
pub use error::{PersistResult, PersistenceError};
pub use jobs::{
    JobKind, JobProgress, JobRecord, JobState, Jobs, WorkerHandle, DEFAULT_JOB_LEASE, MIN_JOB_LEASE,
};
pub use lease::{LeaseAcquire, SessionLease, SessionLeaseGuard, DEFAULT_SESSION_LEASE};
pub use model::{
    now_millis, Conversation, ConversationPage, ConversationSummary, Durability, EventRecord,
    ItemPage, ItemRecord, ListConversations, Millis, NewConversation, Record, RowCounts, Scope,
    ServerRequestRecord, ServerRequestStatus, TurnRecord, TurnStatus, DEFAULT_PAGE, MAX_PAGE,
    PREVIEW_CHARS,
};
pub use postgres::PostgresStore;
pub use recorder::{RecordedEvent, Recorder, RecorderOptions};
pub use sqlite::SqliteStore;
pub use state::{RuntimePhase, RuntimeState, RuntimeStateSource, RuntimeStatus};
pub use store::{ConversationStore, StoreFuture, FEED_CAPACITY};

/// Refuses a store that is not durable (fail closed).
pub(crate) fn require_durable(
    store: &dyn ConversationStore,
    operation: &'static str,
) -> PersistResult<()> {
    match store.durability() {
        Durability::Durable => Ok(()),
        Durability::Volatile(reason) => Err(PersistenceError::NotDurable {
            operation,
            store: store.backend().to_string(),
            reason,
        }),
    }
}
