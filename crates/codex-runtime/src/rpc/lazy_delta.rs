//! Streaming deltas kept as their wire params until someone reads them.
//!
//! The six delta notifications are nearly all of a busy connection's traffic. The reader parses
//! each one once, into [`DeltaShape`]: the fields whose presence and types make the typed decode
//! succeed, borrowed from the line. It keeps the params and where the strings lie in them; the
//! typed notification is built from those pieces when [`LazyDelta::decode`] is called, on the
//! consumer's thread, without parsing the params again. A string with escapes arrives unescaped
//! from the parse and is kept as such.

use codex_runtime_protocol::{
    AgentMessageDeltaNotification, CommandExecutionOutputDeltaNotification,
    FileChangeOutputDeltaNotification, PlanDeltaNotification,
    ReasoningSummaryTextDeltaNotification, ReasoningTextDeltaNotification, ServerNotification,
};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::ops::Range;

/// Which delta: one per lazily decoded method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DeltaKind {
    AgentMessage,
    Plan,
    CommandOutput,
    FileChangeOutput,
    ReasoningText,
    ReasoningSummaryText,
}

impl DeltaKind {
    /// Every kind, with its method.
    const ALL: [(DeltaKind, &'static str); 6] = [
        (DeltaKind::AgentMessage, "item/agentMessage/delta"),
        (DeltaKind::Plan, "item/plan/delta"),
        (
            DeltaKind::CommandOutput,
            "item/commandExecution/outputDelta",
        ),
        (DeltaKind::FileChangeOutput, "item/fileChange/outputDelta"),
        (DeltaKind::ReasoningText, "item/reasoning/textDelta"),
        (
            DeltaKind::ReasoningSummaryText,
            "item/reasoning/summaryTextDelta",
        ),
    ];

    fn of(method: &str) -> Option<(DeltaKind, &'static str)> {
        DeltaKind::ALL.into_iter().find(|(_, m)| *m == method)
    }
}

/// The fields of a delta whose presence and types make its typed decode succeed (the typed
/// structs have exactly these fields). The ids must be borrowed: an id with escapes falls back
/// to the reader's typed decode.
#[derive(Deserialize)]
struct DeltaShape<'a> {
    #[serde(rename = "threadId", borrow)]
    thread_id: &'a str,
    #[serde(rename = "turnId", borrow)]
    turn_id: &'a str,
    #[serde(rename = "itemId", borrow)]
    item_id: Cow<'a, str>,
    #[serde(rename = "delta", borrow)]
    delta: Cow<'a, str>,
    #[serde(rename = "contentIndex", default)]
    content_index: Option<i64>,
    #[serde(rename = "summaryIndex", default)]
    summary_index: Option<i64>,
}

/// A string of the params: where it lies in them, or its unescaped text when it had escapes.
#[derive(Clone)]
enum Piece {
    At(Range<u32>),
    Unescaped(String),
}

/// A delta as the reader keeps it.
#[derive(Clone)]
pub(crate) struct LazyDelta {
    kind: DeltaKind,
    method: &'static str,
    params: Box<RawValue>,
    thread: Range<u32>,
    turn: Range<u32>,
    item: Piece,
    delta: Piece,
    /// `contentIndex` or `summaryIndex` for the reasoning deltas.
    index: i64,
}

impl LazyDelta {
    /// Reads a delta's params; `None` when `method` is not decoded lazily or `params` does not
    /// have the typed shape (the caller then decodes it, reporting a fallback as usual).
    pub(crate) fn read(method: &str, params: &RawValue) -> Option<LazyDelta> {
        let (kind, method) = DeltaKind::of(method)?;
        let text = params.get();
        let shape: DeltaShape<'_> = serde_json::from_str(text).ok()?;
        let index = match kind {
            DeltaKind::ReasoningText => shape.content_index?,
            DeltaKind::ReasoningSummaryText => shape.summary_index?,
            _ => 0,
        };
        let range = |part: &str| -> Option<Range<u32>> {
            let start = (part.as_ptr() as usize).checked_sub(text.as_ptr() as usize)?;
            let end = start.checked_add(part.len())?;
            (end <= text.len()).then_some(u32::try_from(start).ok()?..u32::try_from(end).ok()?)
        };
        let piece = |part: Cow<'_, str>| -> Option<Piece> {
            Some(match part {
                Cow::Borrowed(s) => Piece::At(range(s)?),
                Cow::Owned(s) => Piece::Unescaped(s),
            })
        };
        Some(LazyDelta {
            kind,
            method,
            thread: range(shape.thread_id)?,
            turn: range(shape.turn_id)?,
            item: piece(shape.item_id)?,
            delta: piece(shape.delta)?,
            index,
            params: params.to_owned(),
        })
    }

    /// The method, e.g. `item/agentMessage/delta`.
    pub(crate) fn method(&self) -> &'static str {
        self.method
    }

    fn at(&self, range: &Range<u32>) -> &str {
        // The ranges were taken from these params' text, on character boundaries.
        self.params
            .get()
            .get(range.start as usize..range.end as usize)
            .unwrap_or_default()
    }

    fn text(&self, piece: &Piece) -> String {
        match piece {
            Piece::At(range) => self.at(range).to_owned(),
            Piece::Unescaped(s) => s.clone(),
        }
    }

    /// `threadId`.
    pub(crate) fn thread_id(&self) -> &str {
        self.at(&self.thread)
    }

    /// `turnId`.
    pub(crate) fn turn_id(&self) -> &str {
        self.at(&self.turn)
    }

    /// The typed notification, exactly what `ServerNotification::decode` makes of the params.
    /// The structs are built field by field (no `..Default`), so a field added to the protocol
    /// does not compile until it is read here too.
    pub(crate) fn decode(&self) -> ServerNotification {
        let thread_id = self.thread_id().to_owned();
        let turn_id = self.turn_id().to_owned();
        let item_id = self.text(&self.item);
        let delta = self.text(&self.delta);
        match self.kind {
            DeltaKind::AgentMessage => {
                ServerNotification::ItemAgentMessageDelta(AgentMessageDeltaNotification {
                    delta,
                    item_id,
                    thread_id,
                    turn_id,
                })
            }
            DeltaKind::Plan => ServerNotification::ItemPlanDelta(PlanDeltaNotification {
                delta,
                item_id,
                thread_id,
                turn_id,
            }),
            DeltaKind::CommandOutput => ServerNotification::ItemCommandExecutionOutputDelta(
                CommandExecutionOutputDeltaNotification {
                    delta,
                    item_id,
                    thread_id,
                    turn_id,
                },
            ),
            DeltaKind::FileChangeOutput => {
                ServerNotification::ItemFileChangeOutputDelta(FileChangeOutputDeltaNotification {
                    delta,
                    item_id,
                    thread_id,
                    turn_id,
                })
            }
            DeltaKind::ReasoningText => {
                ServerNotification::ItemReasoningTextDelta(ReasoningTextDeltaNotification {
                    content_index: self.index,
                    delta,
                    item_id,
                    thread_id,
                    turn_id,
                })
            }
            DeltaKind::ReasoningSummaryText => ServerNotification::ItemReasoningSummaryTextDelta(
                ReasoningSummaryTextDeltaNotification {
                    delta,
                    item_id,
                    summary_index: self.index,
                    thread_id,
                    turn_id,
                },
            ),
        }
    }
}
