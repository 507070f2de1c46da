//! `FlowEvent`: what a product emits and flows react to.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{FlowError, Result};
use crate::timestamp::now_rfc3339;

/// Largest accepted event, serialized, 4 MiB. Bigger events are refused with
/// [`FlowError::EventTooLarge`].
pub const MAX_EVENT_BYTES: u64 = 4 * 1024 * 1024;

/// An event: `{ id, type, source?, occurredAt?, receivedAt, payload, ...extra }`.
///
/// `id` is the caller's idempotency key. Build events from untrusted JSON with
/// [`FlowEvent::from_value`], which applies the contract's defaults and errors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlowEvent {
    /// The idempotency key, e.g. `patch:upstream.release:openai/codex:rust-v1.2.3`.
    pub id: String,
    /// The event type that triggers match exactly.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Who emitted the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// When it happened (free text, usually RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<String>,
    /// When it was received; defaults to now.
    #[serde(default = "now_rfc3339")]
    pub received_at: String,
    /// The payload trigger schemas validate; defaults to `{}`.
    #[serde(default = "empty_object")]
    pub payload: Value,
    /// Any other keys, kept as they are.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

impl FlowEvent {
    /// A new event with `receivedAt` now and the given payload.
    pub fn new(id: impl Into<String>, event_type: impl Into<String>, payload: Value) -> Self {
        FlowEvent {
            id: id.into(),
            event_type: event_type.into(),
            source: None,
            occurred_at: None,
            received_at: now_rfc3339(),
            payload,
            extra: Map::new(),
        }
    }

    /// Intake of untrusted JSON: `id` and `type` must be non-empty strings
    /// (`FlowEvent requires string id and type`), `receivedAt` defaults to now, `payload` to `{}`,
    /// extra keys are kept. Events over [`MAX_EVENT_BYTES`] are refused.
    ///
    /// ```
    /// let event = codex_flow::FlowEvent::from_value(serde_json::json!({
    ///     "id": "evt-1", "type": "upstream.release", "channel": "stable"
    /// }))?;
    /// assert_eq!(event.payload, serde_json::json!({}));
    /// assert_eq!(event.extra["channel"], "stable");
    /// # Ok::<(), codex_flow::FlowError>(())
    /// ```
    pub fn from_value(value: Value) -> Result<Self> {
        let size = json_size_capped(&value, MAX_EVENT_BYTES);
        if size > MAX_EVENT_BYTES {
            return Err(FlowError::EventTooLarge {
                size,
                limit: MAX_EVENT_BYTES,
            });
        }
        let Value::Object(mut map) = value else {
            return Err(FlowError::InvalidEvent);
        };
        let id = take_required(&mut map, "id")?;
        let event_type = take_required(&mut map, "type")?;
        let source = take_optional_string(&mut map, "source")?;
        let occurred_at = take_optional_string(&mut map, "occurredAt")?;
        let received_at = take_optional_string(&mut map, "receivedAt")?.unwrap_or_else(now_rfc3339);
        let payload = match map.remove("payload") {
            None | Some(Value::Null) => empty_object(),
            Some(p) => p,
        };
        Ok(FlowEvent {
            id,
            event_type,
            source,
            occurred_at,
            received_at,
            payload,
            extra: map,
        })
    }

    /// Parses event JSON text (see [`FlowEvent::from_value`]); refuses text over
    /// [`MAX_EVENT_BYTES`] before parsing it.
    pub fn from_json_slice(bytes: &[u8]) -> Result<Self> {
        if bytes.len() as u64 > MAX_EVENT_BYTES {
            return Err(FlowError::EventTooLarge {
                size: bytes.len() as u64,
                limit: MAX_EVENT_BYTES,
            });
        }
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| FlowError::InvalidEventField(format!("not JSON: {e}")))?;
        Self::from_value(value)
    }

    /// Checks an event that was built or deserialized directly (e.g. a FLOW_RESULT `next` entry)
    /// against the same rules as [`FlowEvent::from_value`].
    pub fn validate(&self) -> Result<()> {
        if self.id.trim().is_empty() || self.event_type.trim().is_empty() {
            return Err(FlowError::InvalidEvent);
        }
        let size = json_size_capped(&self.payload, MAX_EVENT_BYTES);
        if size > MAX_EVENT_BYTES {
            return Err(FlowError::EventTooLarge {
                size,
                limit: MAX_EVENT_BYTES,
            });
        }
        Ok(())
    }

    /// The event as JSON.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

fn take_required(map: &mut Map<String, Value>, key: &str) -> Result<String> {
    match map.remove(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
        _ => Err(FlowError::InvalidEvent),
    }
}

fn take_optional_string(map: &mut Map<String, Value>, key: &str) -> Result<Option<String>> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(FlowError::InvalidEventField(format!(
            "`{key}` must be a string, got {}",
            kind_of(&other)
        ))),
    }
}

pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The serialized size of `value`, counting stops shortly after `cap`.
pub(crate) fn json_size_capped(value: &Value, cap: u64) -> u64 {
    struct Counter {
        n: u64,
        cap: u64,
    }
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.n += buf.len() as u64;
            if self.n > self.cap {
                return Err(std::io::Error::other("over cap"));
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter { n: 0, cap };
    let _ = serde_json::to_writer(&mut counter, value);
    counter.n
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn intake_defaults_and_errors() {
        let e = FlowEvent::from_value(json!({"id":"a","type":"t","x":1,"payload":null})).unwrap();
        assert_eq!(e.payload, json!({}));
        assert!(!e.received_at.is_empty());
        assert_eq!(e.to_value()["x"], 1);
        for bad in [
            json!({"type":"t"}),
            json!({"id":"a"}),
            json!({"id":1,"type":"t"}),
            json!({"id":"","type":"t"}),
            json!([1]),
        ] {
            assert_eq!(
                FlowEvent::from_value(bad).unwrap_err().to_string(),
                "FlowEvent requires string id and type"
            );
        }
        let err = FlowEvent::from_value(json!({"id":"a","type":"t","source":3})).unwrap_err();
        assert!(err.to_string().contains("`source` must be a string"));
    }

    #[test]
    fn ten_megabyte_payload_is_refused_by_the_limit() {
        let big = "x".repeat(10 * 1024 * 1024);
        let err = FlowEvent::from_value(json!({"id":"a","type":"t","payload":{"blob": big}}))
            .unwrap_err();
        assert!(matches!(
            err,
            FlowError::EventTooLarge {
                limit: MAX_EVENT_BYTES,
                ..
            }
        ));
        let bytes = serde_json::to_vec(
            &json!({"id":"a","type":"t","payload":{"blob": "x".repeat(10 * 1024 * 1024)}}),
        )
        .unwrap();
        assert!(matches!(
            FlowEvent::from_json_slice(&bytes).unwrap_err(),
            FlowError::EventTooLarge { .. }
        ));
    }
}
