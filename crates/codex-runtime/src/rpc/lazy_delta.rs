//! Streaming deltas kept as their wire params until someone reads them.
//!
//! The six delta notifications are nearly all of a busy connection's traffic. The reader parses
//! each one once, into [`DeltaShape`]: the fields whose presence and types make the typed decode
//! succeed, borrowed from the line. It keeps the params and where the strings lie in them; the
//! typed notification is built from those pieces when [`LazyDelta::decode`] is called, on the
//! consumer's thread, without parsing the params again: a string without escapes is copied from
//! between its quotes, one with escapes is unescaped from its span (checked when it was read).

use codex_runtime_protocol::{
    AgentMessageDeltaNotification, CommandExecutionOutputDeltaNotification,
    FileChangeOutputDeltaNotification, PlanDeltaNotification,
    ReasoningSummaryTextDeltaNotification, ReasoningTextDeltaNotification, ServerNotification,
};
use serde::Deserialize;
use serde_json::value::RawValue;
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

/// Each kind with its method, in `DeltaKind` order (the names are the protocol crate's).
const KINDS: [(DeltaKind, &str); 6] = {
    use codex_runtime_protocol::notification_methods as m;
    [
        (DeltaKind::AgentMessage, m::ITEM_AGENT_MESSAGE_DELTA),
        (DeltaKind::Plan, m::ITEM_PLAN_DELTA),
        (
            DeltaKind::CommandOutput,
            m::ITEM_COMMAND_EXECUTION_OUTPUT_DELTA,
        ),
        (
            DeltaKind::FileChangeOutput,
            m::ITEM_FILE_CHANGE_OUTPUT_DELTA,
        ),
        (DeltaKind::ReasoningText, m::ITEM_REASONING_TEXT_DELTA),
        (
            DeltaKind::ReasoningSummaryText,
            m::ITEM_REASONING_SUMMARY_TEXT_DELTA,
        ),
    ]
};

impl DeltaKind {
    fn of(method: &str) -> Option<DeltaKind> {
        KINDS
            .iter()
            .find(|(_, m)| *m == method)
            .map(|(kind, _)| *kind)
    }

    fn method(self) -> &'static str {
        KINDS[self as usize].1
    }
}

/// The fields of a delta whose presence and types make its typed decode succeed (the typed
/// structs have exactly these fields). `threadId` and `turnId` must be borrowed: one with
/// escapes falls back to the reader's typed decode. `itemId` and `delta` are kept as their JSON
/// spans; [`string`] checks that each is a string.
#[derive(Deserialize)]
struct DeltaShape<'a> {
    #[serde(rename = "threadId", borrow)]
    thread_id: &'a str,
    #[serde(rename = "turnId", borrow)]
    turn_id: &'a str,
    #[serde(rename = "itemId", borrow)]
    item_id: &'a RawValue,
    #[serde(rename = "delta", borrow)]
    delta: &'a RawValue,
    #[serde(rename = "contentIndex", default)]
    content_index: Option<i64>,
    #[serde(rename = "summaryIndex", default)]
    summary_index: Option<i64>,
}

/// A JSON string of the params: the span of its token, quotes included.
#[derive(Clone)]
struct Piece {
    span: Range<u32>,
    /// The token has escapes: it is unescaped on decode (else copied from between the quotes).
    escaped: bool,
}

/// `Some` when `raw` is a JSON string the typed decode accepts (with escapes, unescaping it is
/// the check: `\ud800` alone passes the parser's scan but not a `String`'s decode).
fn string(raw: &RawValue) -> Option<bool> {
    let token = raw.get();
    if !token.starts_with('"') {
        return None;
    }
    let escaped = memchr::memchr(b'\\', token.as_bytes()).is_some();
    if escaped {
        serde_json::from_str::<String>(token).ok()?;
    }
    Some(escaped)
}

/// A delta as the reader keeps it.
#[derive(Clone)]
pub(crate) struct LazyDelta {
    kind: DeltaKind,
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
        let kind = DeltaKind::of(method)?;
        let text = params.get();
        // An array would fill the shape's fields in declaration order, which is not the typed
        // structs' order.
        if !text.starts_with('{') {
            return None;
        }
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
        let piece = |raw: &RawValue| -> Option<Piece> {
            Some(Piece {
                escaped: string(raw)?,
                span: range(raw.get())?,
            })
        };
        Some(LazyDelta {
            kind,
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
        self.kind.method()
    }

    fn at(&self, range: &Range<u32>) -> &str {
        // The ranges were taken from these params' text, on character boundaries.
        self.params
            .get()
            .get(range.start as usize..range.end as usize)
            .unwrap_or_default()
    }

    /// The string `piece` holds; `None` only if unescaping fails, which [`string`] ruled out.
    fn text(&self, piece: &Piece) -> Option<String> {
        let token = self.at(&piece.span);
        if piece.escaped {
            serde_json::from_str(token).ok()
        } else {
            Some(token.get(1..token.len().saturating_sub(1))?.to_owned())
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
        let (Some(item_id), Some(delta)) = (self.text(&self.item), self.text(&self.delta)) else {
            return self.decode_params();
        };
        let thread_id = self.thread_id().to_owned();
        let turn_id = self.turn_id().to_owned();
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

    /// The typed decode of the params, as the reader would have done it (not reached: the pieces
    /// were checked when the delta was read).
    fn decode_params(&self) -> ServerNotification {
        let method = self.method();
        ServerNotification::decode(method, &self.params).unwrap_or_else(|e| {
            tracing::warn!(
                method,
                "delta params did not fit the typed shape ({e}); delivered as Unknown"
            );
            ServerNotification::Unknown {
                method: method.to_string(),
                params: serde_json::from_str(self.params.get()).unwrap_or(serde_json::Value::Null),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{DeltaKind, KINDS};

    #[test]
    fn the_kind_table_is_in_kind_order() {
        for (i, (kind, method)) in KINDS.iter().enumerate() {
            assert_eq!(*kind as usize, i);
            assert_eq!(DeltaKind::of(method), Some(*kind));
            assert_eq!(kind.method(), *method);
        }
        assert_eq!(DeltaKind::of("turn/completed"), None);
    }
}
