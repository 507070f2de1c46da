//! [`Recorder`]: records a session's turns into a conversation as they happen.
//!
//! Built on the session's public stream ([`Session::ask_stream_with`]): every event is stored
//! before it is handed on, so nothing the caller has seen is missing from the store. Deltas
//! are coalesced: buffered per item and stored as one [`Record::Deltas`] when the buffer is
//! old or large (for a crash mid-item), and dropped once the completed item (which holds the
//! whole text) is stored. A store failure reaches the caller as
//! [`PersistenceError::RecordingFailed`], and the next successful write starts with a
//! [`Record::Lagged`] marker counting what was lost.

mod turn;

use super::error::{require_id, PersistResult, PersistenceError};
use super::model::{EventRecord, Record, Scope};
use super::state::{RuntimePhase, RuntimeStateSource, RuntimeStatus};
use super::store::ConversationStore;
use crate::runtime::{Session, TurnEvent, TurnOutput, TurnOverrides};
use crate::Error;
use futures::{FutureExt, Stream, StreamExt};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use turn::TurnRecording;

/// Most session events taken from the stream at once (one transaction when stored at once).
const MAX_BATCH: usize = 64;
/// Most events [`Recorder::ask`] holds before storing them, whatever their age.
const MAX_HELD: usize = 1024;

/// How a [`Recorder`] coalesces deltas.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RecorderOptions {
    /// Store the buffered deltas of an item once they are this old (default 250 ms).
    pub delta_flush_interval: Duration,
    /// ... or this large, in bytes (default 8 KiB).
    pub delta_flush_bytes: usize,
    /// How long [`Recorder::ask`] may hold a turn's records before it stores them with later
    /// ones (default 250 ms). Approvals and the turn's end are stored at once, and everything
    /// before `ask` returns, so a caller never holds an answer the store lacks; a turn lands in
    /// a few transactions instead of one per event. A process that dies mid-turn loses at most
    /// this much of what it had not yet returned: a turn that ran longer is stored as started
    /// and marked abandoned on resume. The runtime status ([`Recorder::with_status`]) follows
    /// the turn as it happens either way. `Duration::ZERO` stores every event as it arrives;
    /// `Duration::MAX` holds everything but approvals to the turn's end.
    /// The streaming methods ([`Recorder::ask_stream`]) always store each event before
    /// yielding it.
    pub ask_flush_interval: Duration,
    /// Record into a store that is not durable (tests only; off by default: fail closed).
    pub allow_volatile: bool,
}

impl Default for RecorderOptions {
    fn default() -> Self {
        RecorderOptions {
            delta_flush_interval: Duration::from_millis(250),
            delta_flush_bytes: 8 * 1024,
            ask_flush_interval: Duration::from_millis(250),
            allow_volatile: false,
        }
    }
}

/// One streamed event, after it was stored.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RecordedEvent {
    /// The session's event.
    pub event: TurnEvent,
    /// The log entries it became (empty for deltas still buffered, and for events that are
    /// not recorded: plan and diff updates, item starts).
    pub stored: Vec<EventRecord>,
}

/// Records a [`Session`]'s turns into one conversation. Cheap to clone.
///
/// ```no_run
/// # async fn demo(session: codex_runtime::Session) -> Result<(), Box<dyn std::error::Error>> {
/// use codex_runtime::persistence::{ConversationStore, NewConversation, Recorder, Scope, SqliteStore};
/// use std::sync::Arc;
/// let store = Arc::new(SqliteStore::open("conversations.db").await?);
/// let scope = Scope::new("acme", "alice")?;
/// store.create_conversation(&scope, NewConversation::new("c1").with_thread(session.thread_id())).await?;
/// let recorder = Recorder::new(store, scope, "c1").await?;
/// let out = recorder.ask(&session, "Hello").await?;
/// println!("{}", out.assistant_text);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Recorder {
    store: Arc<dyn ConversationStore>,
    scope: Scope,
    conversation_id: String,
    options: RecorderOptions,
    status: Option<RuntimeStatus>,
    /// Records that could not be stored since the last successful write (shared by clones:
    /// the next write of any turn starts with a `Lagged` marker).
    lost: Arc<AtomicU64>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("store", &self.store.backend())
            .field("scope", &self.scope)
            .field("conversation_id", &self.conversation_id)
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// A recorder into an existing conversation, with the default options. Fails closed on a
    /// store that is not durable.
    pub async fn new(
        store: Arc<dyn ConversationStore>,
        scope: Scope,
        conversation_id: impl Into<String>,
    ) -> PersistResult<Recorder> {
        Self::with_options(store, scope, conversation_id, RecorderOptions::default()).await
    }

    /// [`Recorder::new`] with options.
    pub async fn with_options(
        store: Arc<dyn ConversationStore>,
        scope: Scope,
        conversation_id: impl Into<String>,
        options: RecorderOptions,
    ) -> PersistResult<Recorder> {
        let conversation_id = conversation_id.into();
        require_id("conversation_id", &conversation_id)?;
        if !options.allow_volatile {
            super::require_durable(store.as_ref(), "recording")?;
        }
        if store
            .conversation(&scope, &conversation_id)
            .await?
            .is_none()
        {
            return Err(PersistenceError::ConversationNotFound {
                tenant: scope.tenant,
                actor: scope.actor,
                conversation_id,
            });
        }
        Ok(Recorder {
            store,
            scope,
            conversation_id,
            options,
            status: None,
            lost: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Reports the turns' lifecycle on `status` too.
    pub fn with_status(mut self, status: RuntimeStatus) -> Recorder {
        self.status = Some(status);
        self
    }

    /// The conversation.
    pub fn conversation_id(&self) -> &str {
        &self.conversation_id
    }

    /// The scope.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn ConversationStore> {
        &self.store
    }

    /// Appends records to the conversation (for events outside a turn).
    pub async fn record(&self, records: Vec<Record>) -> PersistResult<Vec<EventRecord>> {
        self.store
            .append(&self.scope, &self.conversation_id, records)
            .await
    }

    /// Runs one turn, recorded, and returns its output once everything is stored. A failed
    /// turn is recorded and returned as the SDK's error; a store failure is
    /// [`PersistenceError::RecordingFailed`].
    pub async fn ask(
        &self,
        session: &Session,
        prompt: impl Into<String>,
    ) -> PersistResult<TurnOutput> {
        self.ask_with(session, prompt, TurnOverrides::default())
            .await
    }

    /// [`Recorder::ask`] with per-turn overrides.
    pub async fn ask_with(
        &self,
        session: &Session,
        prompt: impl Into<String>,
        overrides: TurnOverrides,
    ) -> PersistResult<TurnOutput> {
        let hold = self.options.ask_flush_interval;
        let mut stream = Box::pin(self.recorded_stream(session, prompt.into(), overrides, hold));
        let mut failure = None;
        let mut output = None;
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(RecordedEvent {
                    event: TurnEvent::Completed(out),
                    ..
                }) => output = Some(*out),
                Ok(_) => {}
                Err(e @ PersistenceError::RecordingFailed { .. }) => {
                    failure.get_or_insert(e);
                }
                Err(e) => return Err(e),
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        output.ok_or_else(|| {
            PersistenceError::Runtime(Error::Config(
                "the turn stream ended without its output".into(),
            ))
        })
    }

    /// Runs one turn as a stream of [`RecordedEvent`]s; each is stored before it is yielded.
    ///
    /// # Cancel safety
    /// Dropping the stream stops the events, not the turn nor its recording: the turn is
    /// recorded to its end in the background.
    pub fn ask_stream(
        &self,
        session: &Session,
        prompt: impl Into<String>,
    ) -> impl Stream<Item = PersistResult<RecordedEvent>> + Send + 'static {
        self.ask_stream_with(session, prompt, TurnOverrides::default())
    }

    /// [`Recorder::ask_stream`] with per-turn overrides.
    pub fn ask_stream_with(
        &self,
        session: &Session,
        prompt: impl Into<String>,
        overrides: TurnOverrides,
    ) -> impl Stream<Item = PersistResult<RecordedEvent>> + Send + 'static {
        self.recorded_stream(session, prompt.into(), overrides, Duration::ZERO)
    }

    /// Runs one turn in a task that records it; `hold`: how long item, delta and error records
    /// may wait to be stored with later ones (zero: each batch is stored as it arrives).
    fn recorded_stream(
        &self,
        session: &Session,
        prompt: String,
        overrides: TurnOverrides,
        hold: Duration,
    ) -> impl Stream<Item = PersistResult<RecordedEvent>> + Send + 'static {
        let (tx, rx) = mpsc::channel(MAX_HELD + MAX_BATCH);
        let events = session.ask_stream_with(prompt.clone(), overrides);
        let mut turn = TurnRecording::new(self.clone(), session.thread_id().to_string(), prompt);
        tokio::spawn(async move {
            turn.status(RuntimePhase::Starting, RuntimeStateSource::Runtime, None);
            let mut events = Box::pin(events.fuse());
            let mut held: Vec<crate::Result<TurnEvent>> = Vec::new();
            let mut held_since = None;
            loop {
                // No deadline past the clock's range (`Duration::MAX`: held to the turn's end).
                let due = held_since.and_then(|since: Instant| since.checked_add(hold));
                let next = match due {
                    Some(due) => tokio::select! {
                        ev = events.next() => Some(ev),
                        () = tokio::time::sleep_until(due) => None,
                    },
                    None => Some(events.next().await),
                };
                let first = match next {
                    Some(Some(ev)) => ev,
                    // The held records are due, or the stream ended: store what is held.
                    Some(None) | None => {
                        held_since = None;
                        for out in turn.handle_batch(std::mem::take(&mut held)).await {
                            let _ = tx.send(out).await;
                        }
                        if next.is_some() {
                            break;
                        }
                        continue;
                    }
                };
                // Group commit: the events that arrived during the last write go in one.
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match events.next().now_or_never() {
                        Some(Some(ev)) => batch.push(ev),
                        _ => break,
                    }
                }
                batch.iter().for_each(|ev| turn.observe(ev));
                let store_now = hold.is_zero()
                    || held.len() + batch.len() >= MAX_HELD
                    || batch.iter().any(stored_at_once);
                held.extend(batch);
                if !store_now {
                    held_since.get_or_insert_with(Instant::now);
                    continue;
                }
                held_since = None;
                for out in turn.handle_batch(std::mem::take(&mut held)).await {
                    // A dropped receiver stops the events, not the recording.
                    let _ = tx.send(out).await;
                }
            }
        });
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|i| (i, rx)) })
    }
}

/// The events [`Recorder::ask`] stores as soon as they arrive (with what it holds): its
/// approvals and the turn's end.
fn stored_at_once(ev: &crate::Result<TurnEvent>) -> bool {
    matches!(
        ev,
        Err(_) | Ok(TurnEvent::ApprovalRequested { .. } | TurnEvent::Completed(_))
    )
}
