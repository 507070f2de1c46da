//! [`Recorder`]: records a session's turns into a conversation as they happen.
//!
//! Built on the session's public stream ([`Session::ask_stream_with`]): every event is stored
//! before it is handed on, so nothing the caller has seen is missing from the store. Deltas
//! are coalesced: buffered per item and stored as one [`Record::Deltas`] when the buffer is
//! old or large (for a crash mid-item), and dropped once the completed item (which holds the
//! whole text) is stored. A store failure reaches the caller as
//! [`PersistenceError::RecordingFailed`], and the next successful write starts with a
//! [`Record::Lagged`] marker counting what was lost.

use super::error::{require_id, PersistResult, PersistenceError};
use super::model::{EventRecord, Record, Scope, TurnStatus};
use super::state::{RuntimePhase, RuntimeStateSource, RuntimeStatus};
use super::store::ConversationStore;
use crate::runtime::{Session, TurnEvent, TurnOutput, TurnOverrides};
use crate::Error;
use futures::{FutureExt, Stream, StreamExt};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

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
    /// the turn as it happens either way. `Duration::ZERO` stores every event as it arrives.
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
                let next = match held_since {
                    Some(since) => tokio::select! {
                        ev = events.next() => Some(ev),
                        () = tokio::time::sleep_until(since + hold) => None,
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

/// The state of one recorded turn.
struct TurnRecording {
    recorder: Recorder,
    thread_id: String,
    prompt: Option<String>,
    turn_id: Option<String>,
    requests: u64,
    /// Buffered deltas: (item, stream, text, first buffered at).
    deltas: Vec<(String, &'static str, String, Instant)>,
    /// Items stored during this turn (the output's items need not be written again).
    items: HashSet<String>,
}

impl TurnRecording {
    fn new(recorder: Recorder, thread_id: String, prompt: String) -> Self {
        TurnRecording {
            recorder,
            thread_id,
            prompt: Some(prompt),
            turn_id: None,
            requests: 0,
            deltas: Vec::new(),
            items: HashSet::new(),
        }
    }

    fn status(&self, phase: RuntimePhase, source: RuntimeStateSource, message: Option<String>) {
        if let Some(s) = &self.recorder.status {
            s.set(
                phase,
                source,
                Some(&self.recorder.conversation_id),
                Some(&self.thread_id),
                match phase {
                    RuntimePhase::Starting | RuntimePhase::Running => self.turn_id.as_deref(),
                    _ => None,
                },
                message,
            );
        }
    }

    /// Follows the turn's lifecycle as events arrive, whenever their records are stored.
    fn observe(&mut self, event: &crate::Result<TurnEvent>) {
        if let Ok(TurnEvent::Started { turn_id }) = event {
            self.turn_id = Some(turn_id.clone());
            self.status(RuntimePhase::Running, RuntimeStateSource::Runtime, None);
        }
    }

    /// Stores `records` (after a `Lagged` marker when earlier writes failed).
    async fn store(&mut self, mut records: Vec<Record>) -> PersistResult<Vec<EventRecord>> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let lost = &self.recorder.lost;
        let dropped = lost.load(Ordering::SeqCst);
        if dropped > 0 {
            records.insert(
                0,
                Record::Lagged {
                    turn_id: self.turn_id.clone(),
                    dropped,
                },
            );
        }
        let n = records.len() as u64 - u64::from(dropped > 0);
        match self.recorder.record(records).await {
            Ok(events) => {
                lost.fetch_sub(dropped, Ordering::SeqCst);
                Ok(events)
            }
            Err(e) => {
                let total = lost.fetch_add(n, Ordering::SeqCst) + n;
                tracing::error!(conversation = %self.recorder.conversation_id, error = %e, "recording failed");
                Err(PersistenceError::RecordingFailed {
                    conversation_id: self.recorder.conversation_id.clone(),
                    lost: total,
                    message: e.to_string(),
                })
            }
        }
    }

    /// Buffers a delta; returns the `Deltas` records due for storing.
    fn buffer_delta(&mut self, item_id: &str, stream: &'static str, delta: &str) -> Vec<Record> {
        let now = Instant::now();
        match self
            .deltas
            .iter_mut()
            .find(|(i, s, _, _)| i == item_id && *s == stream)
        {
            Some((_, _, text, _)) => text.push_str(delta),
            None => self
                .deltas
                .push((item_id.to_string(), stream, delta.to_string(), now)),
        }
        let opts = &self.recorder.options;
        let due = self.deltas.iter().any(|(_, _, text, at)| {
            text.len() >= opts.delta_flush_bytes
                || now.duration_since(*at) >= opts.delta_flush_interval
        });
        if due {
            self.take_deltas(None)
        } else {
            Vec::new()
        }
    }

    /// Takes the buffered deltas (all, or all but those of `skip`, which are dropped).
    fn take_deltas(&mut self, skip: Option<&str>) -> Vec<Record> {
        let turn_id = self.turn_id.clone().unwrap_or_default();
        std::mem::take(&mut self.deltas)
            .into_iter()
            .filter(|(item, _, _, _)| Some(item.as_str()) != skip)
            .map(|(item_id, stream, text, _)| Record::Deltas {
                turn_id: turn_id.clone(),
                item_id,
                stream: stream.to_string(),
                text,
            })
            .collect()
    }

    /// The records of one session event.
    fn records_of(&mut self, event: &TurnEvent) -> Vec<Record> {
        let turn_id = self.turn_id.clone().unwrap_or_default();
        match event {
            TurnEvent::Started { turn_id } => {
                self.turn_id = Some(turn_id.clone());
                vec![Record::TurnStarted {
                    turn_id: turn_id.clone(),
                    prompt: self.prompt.take(),
                }]
            }
            TurnEvent::AgentMessageDelta { item_id, delta } => {
                self.buffer_delta(item_id, "agentMessage", delta)
            }
            TurnEvent::ReasoningDelta { item_id, delta } => {
                self.buffer_delta(item_id, "reasoning", delta)
            }
            TurnEvent::CommandOutputDelta { item_id, delta } => {
                self.buffer_delta(item_id, "commandOutput", delta)
            }
            TurnEvent::FileChangeDelta { item_id, delta } => {
                self.buffer_delta(item_id, "fileChange", delta)
            }
            TurnEvent::ItemCompleted(item) => {
                let value = serde_json::to_value(item).unwrap_or(Value::Null);
                let id = super::model::item_id(&value).map(str::to_string);
                // The completed item holds the whole text: its buffered deltas are dropped.
                let mut records = self.take_deltas(id.as_deref());
                if let Some(id) = id {
                    self.items.insert(id);
                }
                records.push(Record::ItemCompleted {
                    turn_id,
                    item: value,
                });
                records
            }
            TurnEvent::ApprovalRequested {
                method,
                item_id,
                decision,
            } => {
                self.requests += 1;
                let request_id = format!("{turn_id}:{}", self.requests);
                vec![
                    Record::ServerRequest {
                        turn_id: Some(turn_id),
                        request_id: request_id.clone(),
                        method: method.clone(),
                        item_id: item_id.clone(),
                        params: json!({"itemId": item_id}),
                    },
                    Record::ServerRequestAnswered {
                        request_id,
                        answer: decision.clone(),
                        answered_by: "session".into(),
                    },
                ]
            }
            TurnEvent::Lagged(n) => vec![Record::Lagged {
                turn_id: Some(turn_id),
                dropped: *n,
            }],
            TurnEvent::Other(ev) => match ev.notification() {
                codex_runtime_protocol::ServerNotification::Error(n) if !n.will_retry => {
                    vec![Record::Error {
                        turn_id: Some(turn_id),
                        message: n.error.message.clone(),
                    }]
                }
                _ => Vec::new(),
            },
            TurnEvent::Completed(out) => {
                let mut records = Vec::with_capacity(out.items.len() + 1);
                // Items the caller gets in the output are stored (repeats add nothing).
                for item in &out.items {
                    let value = serde_json::to_value(item).unwrap_or(Value::Null);
                    let seen =
                        super::model::item_id(&value).is_some_and(|i| self.items.contains(i));
                    if !seen {
                        records.push(Record::ItemCompleted {
                            turn_id: out.turn_id.clone(),
                            item: value,
                        });
                    }
                }
                self.deltas.clear();
                records.push(Record::TurnCompleted {
                    turn_id: out.turn_id.clone(),
                    status: TurnStatus::from_protocol(&out.status),
                    error: out
                        .error
                        .as_ref()
                        .and_then(|e| serde_json::to_value(e).ok()),
                    usage: out
                        .usage
                        .as_ref()
                        .and_then(|u| serde_json::to_value(u).ok()),
                });
                records
            }
            _ => Vec::new(),
        }
    }

    /// Records items of the session's stream that arrived together, in one transaction per
    /// run of events (an error ends the turn and is recorded on its own); returns what to
    /// yield, in order.
    async fn handle_batch(
        &mut self,
        batch: Vec<crate::Result<TurnEvent>>,
    ) -> Vec<PersistResult<RecordedEvent>> {
        let mut out = Vec::with_capacity(batch.len() + 1);
        let mut events = Vec::new();
        for ev in batch {
            match ev {
                Ok(event) => events.push(event),
                Err(e) => {
                    out.extend(self.store_events(std::mem::take(&mut events)).await);
                    out.extend(self.handle_error(e).await);
                }
            }
        }
        out.extend(self.store_events(events).await);
        out
    }

    /// Stores the records of `events` in one transaction, and gives each event its entries.
    async fn store_events(&mut self, events: Vec<TurnEvent>) -> Vec<PersistResult<RecordedEvent>> {
        if events.is_empty() {
            return Vec::new();
        }
        let per_event: Vec<Vec<Record>> = events.iter().map(|e| self.records_of(e)).collect();
        let completed = events.iter().any(|e| matches!(e, TurnEvent::Completed(_)));
        let stored = self
            .store(per_event.iter().flatten().cloned().collect())
            .await;
        if completed {
            self.status(RuntimePhase::Idle, RuntimeStateSource::Runtime, None);
        }
        match stored {
            Ok(stored) => {
                // The appended events are the changing records, in order: hand them back.
                let mut stored = stored.into_iter().peekable();
                // A `Lagged` marker put before the records goes with the first event.
                let first_record = per_event.iter().flatten().next().cloned();
                let mut lead: Vec<EventRecord> = stored
                    .next_if(|e| {
                        matches!(e.record, Record::Lagged { .. })
                            && first_record.as_ref() != Some(&e.record)
                    })
                    .into_iter()
                    .collect();
                events
                    .into_iter()
                    .zip(per_event)
                    .map(|(event, records)| {
                        let mut mine = std::mem::take(&mut lead);
                        for r in &records {
                            if let Some(e) = stored.next_if(|e| e.record == *r) {
                                mine.push(e);
                            }
                        }
                        Ok(RecordedEvent {
                            event,
                            stored: mine,
                        })
                    })
                    .collect()
            }
            // The error first, then the events: the caller learns they are not stored.
            Err(e) => std::iter::once(Err(e))
                .chain(events.into_iter().map(|event| {
                    Ok(RecordedEvent {
                        event,
                        stored: Vec::new(),
                    })
                }))
                .collect(),
        }
    }

    /// Records the error that ended the turn; returns what to yield.
    async fn handle_error(&mut self, e: Error) -> Vec<PersistResult<RecordedEvent>> {
        let mut records = self.take_deltas(None);
        records.push(Record::Error {
            turn_id: self.turn_id.clone(),
            message: e.to_string(),
        });
        let status = match &e {
            Error::TurnFailed { .. } => Some(TurnStatus::Failed),
            Error::TurnTimeout { .. } => Some(TurnStatus::Interrupted),
            _ => None,
        };
        if let (Some(turn_id), Some(status)) = (self.turn_id.clone(), status) {
            let details = match &e {
                Error::TurnFailed { details, .. } => details.clone(),
                _ => None,
            };
            records.push(Record::TurnCompleted {
                turn_id,
                status,
                error: Some(details.unwrap_or_else(|| json!({"message": e.to_string()}))),
                usage: None,
            });
        }
        let source = match &e {
            Error::TurnFailed { .. } | Error::TurnTimeout { .. } => RuntimeStateSource::Runtime,
            Error::Shutdown | Error::TransportClosed { .. } => RuntimeStateSource::ProcessExit,
            _ => RuntimeStateSource::ProtocolError,
        };
        self.status(RuntimePhase::Error, source, Some(e.to_string()));
        let mut out = Vec::new();
        if let Err(store_err) = self.store(records).await {
            out.push(Err(store_err));
        }
        out.push(Err(PersistenceError::Runtime(e)));
        out
    }
}
