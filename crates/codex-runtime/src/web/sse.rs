//! The SSE wire format: [`SseEnvelope`] and [`serialize_sse_envelope`].
//!
//! Every event of a session is one envelope: `id:` is the conversation's event sequence (what a
//! client sends back as `Last-Event-ID` to resume), `event:` its kind (`agent.delta`,
//! `item.completed`, `approval.requested`, ...), `data:` its JSON payload on one line.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One event of a session as sent over SSE.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SseEnvelope {
    /// The conversation's event sequence (1, 2, 3, ... with no gap).
    pub id: u64,
    /// The event kind, e.g. `agent.delta`.
    pub event: String,
    /// The payload.
    pub data: Value,
}

/// The SSE text of `envelope`: `id:`, `event:` and one `data:` line, ended by a blank line.
///
/// The data is compact JSON, which never holds a raw newline (JSON escapes them inside
/// strings), so one `data:` line always carries the whole payload. Characters that would end
/// the `event:` field (CR, LF) are replaced by `_`.
///
/// ```
/// use codex_runtime::web::{serialize_sse_envelope, SseEnvelope};
/// let text = serialize_sse_envelope(&SseEnvelope {
///     id: 7,
///     event: "agent.delta".into(),
///     data: serde_json::json!({"delta": "two\nlines"}),
/// });
/// assert_eq!(text, "id: 7\nevent: agent.delta\ndata: {\"delta\":\"two\\nlines\"}\n\n");
/// ```
pub fn serialize_sse_envelope(envelope: &SseEnvelope) -> String {
    let event: String = envelope
        .event
        .chars()
        .map(|c| if c == '\n' || c == '\r' { '_' } else { c })
        .collect();
    // Serializing a `Value` cannot fail (its map keys are strings).
    let data = serde_json::to_string(&envelope.data).unwrap_or_else(|_| "null".to_string());
    format!("id: {}\nevent: {event}\ndata: {data}\n\n", envelope.id)
}

/// A comment line that keeps idle connections open through proxies.
pub(crate) const KEEPALIVE: &str = ": keep-alive\n\n";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn newlines_never_split_a_field() {
        let text = serialize_sse_envelope(&SseEnvelope {
            id: 1,
            event: "bad\nkind".into(),
            data: json!({"text": "a\r\nb", "nested": {"x": [1, 2]}}),
        });
        let lines: Vec<&str> = text.trim_end().lines().collect();
        assert_eq!(lines.len(), 3, "{text:?}");
        assert_eq!(lines[1], "event: bad_kind");
        let data: Value = serde_json::from_str(lines[2].trim_start_matches("data: ")).unwrap();
        assert_eq!(data["text"], "a\r\nb");
    }
}
