//! The data model: what a [`super::ConversationStore`] keeps, every key scoped by tenant and
//! actor.

use super::error::{require_id, PersistResult, PersistenceError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Who owns the data: every row is keyed by `tenant` and `actor` first, so one actor never sees
/// (or deletes) another's conversations.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Scope {
    /// The tenant (organisation, workspace, deployment...).
    pub tenant: String,
    /// The actor (user) inside the tenant.
    pub actor: String,
}

impl Scope {
    /// A scope; both parts must be non-empty.
    pub fn new(tenant: impl Into<String>, actor: impl Into<String>) -> PersistResult<Scope> {
        let scope = Scope {
            tenant: tenant.into(),
            actor: actor.into(),
        };
        require_id("tenant", &scope.tenant)?;
        require_id("actor", &scope.actor)?;
        Ok(scope)
    }
}

/// Milliseconds since the Unix epoch (how every time in the store is kept).
pub type Millis = i64;

/// The current time in [`Millis`].
pub fn now_millis() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// One conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Conversation {
    /// The owner.
    pub scope: Scope,
    /// Its id (chosen by the application, unique per tenant and actor).
    pub conversation_id: String,
    /// The codex thread it is bound to, if any.
    pub thread_id: Option<String>,
    /// A display name.
    pub name: Option<String>,
    /// The first user message (truncated to [`PREVIEW_CHARS`] characters).
    pub preview: String,
    /// Hidden from [`super::ConversationStore::list_conversations`] unless asked for.
    pub archived: bool,
    /// User and agent messages stored.
    pub message_count: i64,
    /// The last event sequence number (0 before the first event).
    pub last_seq: i64,
    /// The conversation it was forked from.
    pub forked_from: Option<String>,
    /// Created, in [`Millis`].
    pub created_at: Millis,
    /// Last changed, in [`Millis`].
    pub updated_at: Millis,
}

/// How many characters of the first user message make the preview.
pub const PREVIEW_CHARS: usize = 200;

/// A new conversation for [`super::ConversationStore::create_conversation`].
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct NewConversation {
    /// Its id (non-empty).
    pub conversation_id: String,
    /// The bound codex thread.
    pub thread_id: Option<String>,
    /// A name.
    pub name: Option<String>,
    /// The conversation it forks.
    pub forked_from: Option<String>,
}

impl NewConversation {
    /// A conversation with this id.
    pub fn new(conversation_id: impl Into<String>) -> Self {
        NewConversation {
            conversation_id: conversation_id.into(),
            ..Default::default()
        }
    }
    /// Bound to this codex thread.
    pub fn with_thread(mut self, thread_id: impl Into<String>) -> Self {
        self.thread_id = Some(thread_id.into());
        self
    }
    /// Named.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    /// Forked from another conversation.
    pub fn forked_from(mut self, conversation_id: impl Into<String>) -> Self {
        self.forked_from = Some(conversation_id.into());
        self
    }
}

/// One line of [`ConversationPage`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ConversationSummary {
    /// The conversation.
    pub conversation_id: String,
    /// The first user message, truncated.
    pub preview: String,
    /// Last changed, in [`Millis`].
    pub updated_at: Millis,
    /// User and agent messages stored.
    pub message_count: i64,
    /// Its name.
    pub name: Option<String>,
    /// Archived or not.
    pub archived: bool,
}

/// A page of conversations, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ConversationPage {
    /// The conversations.
    pub data: Vec<ConversationSummary>,
    /// Pass back to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// Which conversations [`super::ConversationStore::list_conversations`] returns.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct ListConversations {
    /// The cursor of the previous page.
    pub cursor: Option<String>,
    /// Page size (1..=[`MAX_PAGE`]); 0 means [`DEFAULT_PAGE`].
    pub limit: u32,
    /// Include archived conversations.
    pub include_archived: bool,
}

impl ListConversations {
    /// The first page of `limit`.
    pub fn first(limit: u32) -> Self {
        ListConversations {
            limit,
            ..Default::default()
        }
    }
    /// The page after `cursor`.
    pub fn after(cursor: impl Into<String>, limit: u32) -> Self {
        ListConversations {
            cursor: Some(cursor.into()),
            limit,
            include_archived: false,
        }
    }
    /// Includes archived conversations.
    pub fn with_archived(mut self) -> Self {
        self.include_archived = true;
        self
    }
}

/// Default page size.
pub const DEFAULT_PAGE: u32 = 50;
/// Largest page size.
pub const MAX_PAGE: u32 = 1000;

pub(crate) fn page_limit(limit: u32) -> PersistResult<i64> {
    match limit {
        0 => Ok(DEFAULT_PAGE as i64),
        n if n <= MAX_PAGE => Ok(n as i64),
        n => Err(PersistenceError::Invalid {
            what: "limit",
            message: format!("{n} is above the maximum page size {MAX_PAGE}"),
        }),
    }
}

/// Status of a stored turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum TurnStatus {
    /// Started, not finished.
    InProgress,
    /// Completed normally.
    Completed,
    /// Interrupted by the user or a timeout.
    Interrupted,
    /// Failed (see the turn's error).
    Failed,
    /// The process recording it died before the turn ended (set when the conversation is
    /// resumed or recovered).
    Abandoned,
}

impl TurnStatus {
    /// The stored string.
    pub fn as_str(self) -> &'static str {
        match self {
            TurnStatus::InProgress => "inProgress",
            TurnStatus::Completed => "completed",
            TurnStatus::Interrupted => "interrupted",
            TurnStatus::Failed => "failed",
            TurnStatus::Abandoned => "abandoned",
        }
    }
    /// Parses the stored string.
    pub fn parse(s: &str) -> Option<TurnStatus> {
        Some(match s {
            "inProgress" => TurnStatus::InProgress,
            "completed" => TurnStatus::Completed,
            "interrupted" => TurnStatus::Interrupted,
            "failed" => TurnStatus::Failed,
            "abandoned" => TurnStatus::Abandoned,
            _ => return None,
        })
    }
    /// The status of a codex turn.
    pub fn from_protocol(s: &codex_runtime_protocol::TurnStatus) -> TurnStatus {
        use codex_runtime_protocol::TurnStatus as P;
        match s {
            P::Completed => TurnStatus::Completed,
            P::Interrupted => TurnStatus::Interrupted,
            P::Failed => TurnStatus::Failed,
            _ => TurnStatus::InProgress,
        }
    }
}

/// One stored turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TurnRecord {
    /// The codex turn id.
    pub turn_id: String,
    /// Its place in the conversation (1, 2, ...).
    pub position: i64,
    /// Its status.
    pub status: TurnStatus,
    /// The prompt, when recorded.
    pub prompt: Option<String>,
    /// The error (codex's `TurnError` JSON, or a message), when it failed.
    pub error: Option<Value>,
    /// Token usage (codex's `ThreadTokenUsage` JSON).
    pub usage: Option<Value>,
    /// Started, in [`Millis`].
    pub started_at: Millis,
    /// Ended, in [`Millis`].
    pub completed_at: Option<Millis>,
}

/// One stored item (a completed codex `ThreadItem`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ItemRecord {
    /// The turn it belongs to.
    pub turn_id: String,
    /// The codex item id.
    pub item_id: String,
    /// Its place in the conversation (1, 2, ...): items read back in this order.
    pub position: i64,
    /// The item's `type` (`userMessage`, `agentMessage`, `commandExecution`, ...).
    pub kind: String,
    /// Its text (message text, reasoning summary, command line...), empty when it has none.
    pub text: String,
    /// The whole item as codex sent it.
    pub raw: Value,
}

/// A page of items, in conversation order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ItemPage {
    /// The items.
    pub items: Vec<ItemRecord>,
    /// The position to pass as `after` for the next page; `None` on the last page.
    pub next_after: Option<i64>,
}

/// State of a stored server request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum ServerRequestStatus {
    /// Asked, no answer yet.
    Pending,
    /// Answered.
    Answered,
}

/// One server request codex made (approval, user input, ...), with its answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServerRequestRecord {
    /// Its id (unique in the conversation).
    pub request_id: String,
    /// The turn it belongs to.
    pub turn_id: Option<String>,
    /// The item it is about.
    pub item_id: Option<String>,
    /// The server-request method (`item/commandExecution/requestApproval`, ...).
    pub method: String,
    /// Its params.
    pub params: Value,
    /// Pending or answered.
    pub status: ServerRequestStatus,
    /// The answer sent to codex.
    pub answer: Option<Value>,
    /// Who answered (`handler`, `policy`, a user id...).
    pub answered_by: Option<String>,
    /// Asked, in [`Millis`].
    pub created_at: Millis,
    /// Answered, in [`Millis`].
    pub answered_at: Option<Millis>,
}

/// What to append to a conversation ([`super::ConversationStore::append`]). Each record that
/// changes something becomes one event; a record that repeats what is stored (the same item
/// again, a turn started twice) changes nothing and adds no event, which makes imports and
/// retries idempotent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Record {
    /// A turn started.
    TurnStarted {
        /// Its id.
        turn_id: String,
        /// The prompt.
        prompt: Option<String>,
    },
    /// An item completed (the raw codex `ThreadItem` JSON; it must have an `id`).
    ItemCompleted {
        /// The turn.
        turn_id: String,
        /// The item.
        item: Value,
    },
    /// Streamed text of one item, coalesced (many deltas, one record).
    Deltas {
        /// The turn.
        turn_id: String,
        /// The item.
        item_id: String,
        /// `agentMessage`, `reasoning`, `commandOutput` or `fileChange`.
        stream: String,
        /// The text of the coalesced deltas, in order.
        text: String,
    },
    /// Codex asked something.
    ServerRequest {
        /// The turn.
        turn_id: Option<String>,
        /// Unique in the conversation.
        request_id: String,
        /// The method.
        method: String,
        /// The item it is about.
        item_id: Option<String>,
        /// The params.
        params: Value,
    },
    /// A server request was answered.
    ServerRequestAnswered {
        /// The request.
        request_id: String,
        /// The answer.
        answer: Value,
        /// Who answered.
        answered_by: String,
    },
    /// A turn ended.
    TurnCompleted {
        /// The turn.
        turn_id: String,
        /// Its status.
        status: TurnStatus,
        /// The error, when it failed.
        error: Option<Value>,
        /// Token usage.
        usage: Option<Value>,
    },
    /// An error (of codex, the SDK or the recorder).
    Error {
        /// The turn, if any.
        turn_id: Option<String>,
        /// The message.
        message: String,
    },
    /// Events were dropped before they could be recorded (a slow reader or a store failure).
    Lagged {
        /// The turn, if any.
        turn_id: Option<String>,
        /// How many.
        dropped: u64,
    },
}

impl Record {
    /// The event kind this record becomes (`turn_started`, `item_completed`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Record::TurnStarted { .. } => "turn_started",
            Record::ItemCompleted { .. } => "item_completed",
            Record::Deltas { .. } => "deltas",
            Record::ServerRequest { .. } => "server_request",
            Record::ServerRequestAnswered { .. } => "server_request_answered",
            Record::TurnCompleted { .. } => "turn_completed",
            Record::Error { .. } => "error",
            Record::Lagged { .. } => "lagged",
        }
    }
    /// The turn this record is about.
    pub fn turn_id(&self) -> Option<&str> {
        match self {
            Record::TurnStarted { turn_id, .. }
            | Record::ItemCompleted { turn_id, .. }
            | Record::Deltas { turn_id, .. }
            | Record::TurnCompleted { turn_id, .. } => Some(turn_id),
            Record::ServerRequest { turn_id, .. }
            | Record::Error { turn_id, .. }
            | Record::Lagged { turn_id, .. } => turn_id.as_deref(),
            Record::ServerRequestAnswered { .. } => None,
        }
    }
}

/// One entry of a conversation's append-only event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EventRecord {
    /// The owner.
    pub scope: Scope,
    /// The conversation.
    pub conversation_id: String,
    /// 1, 2, 3, ... without gaps, per conversation (an SSE `id:`).
    pub seq: i64,
    /// The record that made it.
    pub record: Record,
    /// Stored, in [`Millis`].
    pub created_at: Millis,
}

/// Rows per table, as counted by [`super::ConversationStore::count_rows`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RowCounts {
    /// Conversations.
    pub conversations: i64,
    /// Turns.
    pub turns: i64,
    /// Items.
    pub items: i64,
    /// Server requests.
    pub server_requests: i64,
    /// Events.
    pub events: i64,
    /// Jobs.
    pub jobs: i64,
}

impl RowCounts {
    /// Rows of conversation data (everything but jobs).
    pub fn data_rows(&self) -> i64 {
        self.conversations + self.turns + self.items + self.server_requests + self.events
    }
}

/// Whether a store survives a crash of the process (and of the machine).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Durability {
    /// Committed writes survive (a WAL file with `synchronous=FULL`, or PostgreSQL).
    Durable,
    /// Writes live in memory or without sync; why.
    Volatile(String),
}

/// The item id of a raw `ThreadItem`.
pub(crate) fn item_id(item: &Value) -> Option<&str> {
    item.get("id").and_then(Value::as_str)
}

/// The `type` of a raw `ThreadItem`.
pub(crate) fn item_kind(item: &Value) -> &str {
    item.get("type")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
}

/// The readable text of a raw `ThreadItem`.
pub(crate) fn item_text(item: &Value) -> String {
    let join = |v: Option<&Value>, field: &str| -> String {
        v.and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| match x {
                        Value::String(s) => Some(s.as_str()),
                        other => other.get(field).and_then(Value::as_str),
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default()
    };
    match item_kind(item) {
        "userMessage" => join(item.get("content"), "text"),
        "reasoning" => join(item.get("summary"), "text"),
        "commandExecution" => item
            .get("command")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        _ => item
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    }
}

/// True for the items that count as messages.
pub(crate) fn is_message(kind: &str) -> bool {
    kind == "userMessage" || kind == "agentMessage"
}
