//! The web's event vocabulary: each logged [`Record`] of a conversation becomes one SSE event.
//!
//! | record | `event:` | `data:` |
//! |---|---|---|
//! | `TurnStarted` | `turn.started` | `{turn_id, prompt}` |
//! | `Deltas` (agentMessage) | `agent.delta` | `{turn_id, item_id, delta}` |
//! | `Deltas` (commandOutput) | `command.output` | same |
//! | `Deltas` (fileChange) | `file_change.output` | same |
//! | `Deltas` (reasoning) | `reasoning.delta` | same |
//! | `ItemCompleted` | `item.completed` | `{turn_id, item}` (codex's `ThreadItem` JSON) |
//! | `ServerRequest` | `approval.requested` | `{request_id, method, turn_id, item_id, kind, command?, cwd?, reason?}` |
//! | `ServerRequestAnswered` | `approval.resolved` | `{request_id, decision, answered_by}` |
//! | `TurnCompleted` | `turn.completed` | `{turn_id, status, error, usage}` |
//! | `Error` | `turn.failed` | `{turn_id, error}` |
//! | `Lagged` | `lagged` | `{turn_id, dropped}` |
//!
//! The `id:` is the record's gap-free sequence in the conversation. Besides these, a stream
//! ends with `session.closed` (no `id:`) when the session closes, and a failure to follow the
//! log is an `error` event (no `id:`).

use super::sse::SseEnvelope;
use crate::persistence::{EventRecord, Record};
use serde_json::{json, Value};

/// The SSE envelope of a logged event.
pub(crate) fn envelope(event: &EventRecord) -> SseEnvelope {
    let (kind, data) = kind_and_data(&event.record);
    SseEnvelope {
        id: u64::try_from(event.seq).unwrap_or(0),
        event: kind.to_string(),
        data,
    }
}

/// The `event:` name of a delta stream.
fn delta_kind(stream: &str) -> &'static str {
    match stream {
        "agentMessage" => "agent.delta",
        "commandOutput" => "command.output",
        "fileChange" => "file_change.output",
        "reasoning" => "reasoning.delta",
        _ => "delta",
    }
}

fn kind_and_data(record: &Record) -> (&'static str, Value) {
    match record {
        Record::TurnStarted { turn_id, prompt } => (
            "turn.started",
            json!({"turn_id": turn_id, "prompt": prompt}),
        ),
        Record::ItemCompleted { turn_id, item } => {
            ("item.completed", json!({"turn_id": turn_id, "item": item}))
        }
        Record::Deltas {
            turn_id,
            item_id,
            stream,
            text,
        } => (
            delta_kind(stream),
            json!({"turn_id": turn_id, "item_id": item_id, "delta": text}),
        ),
        Record::ServerRequest {
            turn_id,
            request_id,
            method,
            item_id,
            params,
        } => {
            let mut data = match params {
                Value::Object(_) => params.clone(),
                other => json!({ "params": other }),
            };
            data["request_id"] = json!(request_id);
            data["method"] = json!(method);
            data["turn_id"] = json!(turn_id);
            data["item_id"] = json!(item_id);
            ("approval.requested", data)
        }
        Record::ServerRequestAnswered {
            request_id,
            answer,
            answered_by,
        } => (
            "approval.resolved",
            json!({"request_id": request_id, "decision": answer, "answered_by": answered_by}),
        ),
        Record::TurnCompleted {
            turn_id,
            status,
            error,
            usage,
        } => (
            "turn.completed",
            json!({"turn_id": turn_id, "status": status.as_str(), "error": error, "usage": usage}),
        ),
        Record::Error { turn_id, message } => {
            ("turn.failed", json!({"turn_id": turn_id, "error": message}))
        }
        Record::Lagged { turn_id, dropped } => {
            ("lagged", json!({"turn_id": turn_id, "dropped": dropped}))
        }
    }
}
