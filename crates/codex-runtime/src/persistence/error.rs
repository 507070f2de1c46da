//! The error type of [`crate::persistence`].

/// Result alias of the persistence module.
pub type PersistResult<T> = std::result::Result<T, PersistenceError>;

/// Everything that can go wrong storing or reading conversations.
///
/// `#[non_exhaustive]`: match what you care about and keep a `_` arm. No variant ever carries a
/// database password (URLs are redacted before they reach an error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PersistenceError {
    /// An id (conversation, thread, turn...) was empty or only whitespace.
    #[error("{what} must not be empty or whitespace")]
    EmptyId {
        /// Which id (`conversation_id`, `thread_id`, ...).
        what: &'static str,
    },
    /// A value given by the caller is not acceptable.
    #[error("invalid {what}: {message}")]
    Invalid {
        /// What was invalid (`cursor`, `limit`, `tenant`...).
        what: &'static str,
        /// Why.
        message: String,
    },
    /// The conversation does not exist for this tenant and actor.
    #[error("conversation `{conversation_id}` not found for tenant `{tenant}`, actor `{actor}`")]
    ConversationNotFound {
        /// Tenant of the lookup.
        tenant: String,
        /// Actor of the lookup.
        actor: String,
        /// The conversation id.
        conversation_id: String,
    },
    /// `open_conversation(start)` with an id that is already taken.
    #[error("conversation `{conversation_id}` already exists")]
    ConversationExists {
        /// The conversation id.
        conversation_id: String,
    },
    /// The conversation has no bound codex thread (resume/fork need one).
    #[error("conversation `{conversation_id}` has no bound codex thread")]
    NoThread {
        /// The conversation id.
        conversation_id: String,
    },
    /// Another instance holds a live ownership lease on the conversation (see
    /// [`crate::persistence::lease`]); retry after `expires_at` if that owner died.
    #[error(
        "conversation `{conversation_id}` runs on another instance (`{owner}`), whose lease \
         ends at {expires_at} ms"
    )]
    SessionElsewhere {
        /// The conversation id.
        conversation_id: String,
        /// The instance holding the lease.
        owner: String,
        /// When its lease ends unless renewed ([`crate::persistence::Millis`]).
        expires_at: i64,
    },
    /// No job with this id.
    #[error("job `{job_id}` not found")]
    JobNotFound {
        /// The job id.
        job_id: String,
    },
    /// The operation needs a durable store and this one is not (fail closed: nothing is kept
    /// in memory instead).
    #[error("{operation} needs a durable store, but {store} is not durable: {reason}")]
    NotDurable {
        /// What was attempted.
        operation: &'static str,
        /// Which store.
        store: String,
        /// Why it is not durable.
        reason: String,
    },
    /// The database failed (SQL error, lost connection, constraint...).
    #[error("{store} store: {operation} failed: {message}")]
    Store {
        /// `sqlite` or `postgres`.
        store: &'static str,
        /// What was being done.
        operation: String,
        /// The database's message (never a password).
        message: String,
    },
    /// A stored row could not be decoded (schema drift or manual edits).
    #[error("corrupt row in {table}: {message}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// What was wrong.
        message: String,
    },
    /// Recording fell behind or failed: these events of the session could not be stored. The
    /// session went on; the store is missing them, which is why this is an error, not a log line.
    #[error(
        "recording conversation `{conversation_id}` failed; {lost} event(s) not stored: {message}"
    )]
    RecordingFailed {
        /// The conversation.
        conversation_id: String,
        /// How many events were not stored.
        lost: u64,
        /// The store's error.
        message: String,
    },
    /// An import verified the store against the thread and found a difference.
    #[error("import of thread `{thread_id}` failed verification: {message}")]
    VerificationFailed {
        /// The codex thread.
        thread_id: String,
        /// What differs.
        message: String,
    },
    /// The job was cancelled while it ran.
    #[error("job `{job_id}` was cancelled")]
    Cancelled {
        /// The job id.
        job_id: String,
    },
    /// The SDK failed (codex, transport, protocol).
    #[error(transparent)]
    Runtime(#[from] crate::Error),
    /// JSON could not be encoded or decoded.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

impl PersistenceError {
    pub(crate) fn store(
        store: &'static str,
        operation: impl Into<String>,
        e: impl std::fmt::Display,
    ) -> Self {
        PersistenceError::Store {
            store,
            operation: operation.into(),
            message: e.to_string(),
        }
    }
}

/// Refuses an empty or whitespace-only id.
pub(crate) fn require_id(what: &'static str, id: &str) -> PersistResult<()> {
    if id.trim().is_empty() {
        Err(PersistenceError::EmptyId { what })
    } else {
        Ok(())
    }
}
