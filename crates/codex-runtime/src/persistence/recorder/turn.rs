//! [`TurnRecording`]: the state of one recorded turn, what each session event becomes in the
//! log, and the writes that store it.

use super::{RecordedEvent, Recorder};
use crate::persistence::error::{PersistResult, PersistenceError};
use crate::persistence::model::{EventRecord, Record, TurnStatus};
use crate::persistence::state::{RuntimePhase, RuntimeStateSource};
use crate::runtime::TurnEvent;
use crate::Error;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use tokio::time::Instant;

/// The state of one recorded turn.
pub(super) struct TurnRecording {
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
    pub(super) fn new(recorder: Recorder, thread_id: String, prompt: String) -> Self {
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

    pub(super) fn status(
        &self,
        phase: RuntimePhase,
        source: RuntimeStateSource,
        message: Option<String>,
    ) {
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
    pub(super) fn observe(&mut self, event: &crate::Result<TurnEvent>) {
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
                let id = crate::persistence::model::item_id(&value).map(str::to_string);
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
                    let seen = crate::persistence::model::item_id(&value)
                        .is_some_and(|i| self.items.contains(i));
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
    pub(super) async fn handle_batch(
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
            Error::TurnTimeout { .. } | Error::TurnStalled { .. } => Some(TurnStatus::Interrupted),
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
            Error::TurnFailed { .. } | Error::TurnTimeout { .. } | Error::TurnStalled { .. } => {
                RuntimeStateSource::Runtime
            }
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
