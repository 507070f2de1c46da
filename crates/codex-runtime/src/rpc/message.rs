//! Wire shapes: classifying inbound lines and writing outbound ones.
//!
//! codex speaks JSON-RPC 2.0 without the `"jsonrpc"` field, one object per line. Inbound lines
//! are parsed once into a borrowed `Envelope` (params stay raw), so the typed decode of a
//! notification's params reads the bytes exactly once.

use codex_runtime_protocol::{RequestId, ServerNotification};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RpcErrorObject {
    /// Error code.
    pub code: i64,
    /// Error message.
    pub message: String,
    /// Optional data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

/// An inbound line, parsed without copying params or results.
#[derive(Debug, Deserialize)]
pub(crate) struct Envelope<'a> {
    #[serde(default, borrow)]
    pub id: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub method: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub params: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub result: Option<&'a RawValue>,
    #[serde(default)]
    pub error: Option<RpcErrorObject>,
    #[serde(default, rename = "emittedAtMs")]
    pub emitted_at_ms: Option<i64>,
}

/// What an inbound line is.
#[derive(Debug)]
pub(crate) enum Inbound<'a> {
    Response {
        id: RequestId,
        outcome: Result<&'a RawValue, RpcErrorObject>,
    },
    Notification {
        method: Cow<'a, str>,
        params: &'a RawValue,
        emitted_at_ms: Option<i64>,
    },
    Request {
        id: RequestId,
        method: Cow<'a, str>,
        params: &'a RawValue,
    },
}

/// `{}` as a raw value, for messages without `params`.
fn empty_params() -> &'static RawValue {
    static EMPTY: std::sync::OnceLock<Box<RawValue>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(|| RawValue::from_string("{}".to_owned()).expect("`{}` is valid JSON"))
}

/// Parses one inbound line.
pub(crate) fn classify(line: &[u8]) -> Result<Inbound<'_>, String> {
    let env: Envelope<'_> =
        serde_json::from_slice(line).map_err(|e| format!("not a JSON-RPC object: {e}"))?;
    let id = match env.id {
        Some(raw) => parse_id(raw)?,
        None => None,
    };
    match (env.method, id) {
        (Some(method), Some(id)) => Ok(Inbound::Request {
            id,
            method,
            params: env.params.unwrap_or_else(|| empty_params()),
        }),
        (Some(method), None) => Ok(Inbound::Notification {
            method,
            params: env.params.unwrap_or_else(|| empty_params()),
            emitted_at_ms: env.emitted_at_ms,
        }),
        (None, Some(id)) => {
            let outcome = match (env.result, env.error) {
                (_, Some(err)) => Err(err),
                (Some(r), None) => Ok(r),
                (None, None) => return Err(format!("response {id} has neither result nor error")),
            };
            Ok(Inbound::Response { id, outcome })
        }
        (None, None) => Err("message has neither method nor id".to_string()),
    }
}

/// Parses an id: string or integer; `null` means "no id".
fn parse_id(raw: &RawValue) -> Result<Option<RequestId>, String> {
    let text = raw.get();
    if text == "null" {
        return Ok(None);
    }
    if text.starts_with('"') {
        let s: String = serde_json::from_str(text).map_err(|e| format!("bad id {text}: {e}"))?;
        return Ok(Some(RequestId::String(s)));
    }
    match text.parse::<i64>() {
        Ok(n) => Ok(Some(RequestId::Integer(n))),
        Err(_) => Err(format!(
            "unsupported id {text} (must be a string or an integer)"
        )),
    }
}

#[derive(Serialize)]
struct OutRequest<'a, P: Serialize + ?Sized> {
    id: &'a RequestId,
    method: &'a str,
    params: &'a P,
}

#[derive(Serialize)]
struct OutNotification<'a, P: Serialize + ?Sized> {
    method: &'a str,
    params: &'a P,
}

#[derive(Serialize)]
struct OutResult<'a, R: Serialize + ?Sized> {
    id: &'a RequestId,
    result: &'a R,
}

#[derive(Serialize)]
struct OutError<'a> {
    id: &'a RequestId,
    error: &'a RpcErrorObject,
}

/// Serializes a request line.
pub(crate) fn encode_request<P: Serialize + ?Sized>(
    id: &RequestId,
    method: &str,
    params: &P,
) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(&OutRequest { id, method, params })
}

/// Serializes a notification line.
pub(crate) fn encode_notification<P: Serialize + ?Sized>(
    method: &str,
    params: &P,
) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(&OutNotification { method, params })
}

/// Serializes a response line.
pub(crate) fn encode_response(
    id: &RequestId,
    outcome: &Result<serde_json::Value, RpcErrorObject>,
) -> serde_json::Result<Vec<u8>> {
    match outcome {
        Ok(result) => serde_json::to_vec(&OutResult { id, result }),
        Err(error) => serde_json::to_vec(&OutError { id, error }),
    }
}

/// One server notification, decoded into its typed form, as delivered to subscribers.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The typed notification. Unknown methods (or params this SDK cannot decode) arrive as
    /// `ServerNotification::Unknown` with the raw params: nothing is dropped.
    pub notification: ServerNotification,
    /// The server's `emittedAtMs` timestamp, when present.
    pub emitted_at_ms: Option<i64>,
    /// Position of this notification in the connection's inbound order (1-based).
    pub seq: u64,
}

impl Event {
    /// The notification method, e.g. `turn/completed`.
    pub fn method(&self) -> &str {
        self.notification.method()
    }

    /// The thread this notification belongs to, when it has one.
    ///
    /// For a notification delivered as `ServerNotification::Unknown` (a method this SDK does
    /// not know, or params that did not fit the typed shape) this is read from the raw params:
    /// `threadId`, else `thread.id`. Such events are therefore routed to thread subscribers too.
    pub fn thread_id(&self) -> Option<&str> {
        match &self.notification {
            ServerNotification::Unknown { params, .. } => raw_id(params, "threadId", "thread"),
            n => n.thread_id(),
        }
    }

    /// The turn this notification belongs to, when it has one (for `Unknown`, read from the raw
    /// params: `turnId`, else `turn.id`).
    pub fn turn_id(&self) -> Option<&str> {
        match &self.notification {
            ServerNotification::Unknown { params, .. } => raw_id(params, "turnId", "turn"),
            n => n.turn_id(),
        }
    }
}

/// `params[key]`, else `params[object].id`, as a string.
fn raw_id<'a>(params: &'a serde_json::Value, key: &str, object: &str) -> Option<&'a str> {
    params
        .get(key)
        .and_then(serde_json::Value::as_str)
        .or_else(|| params.get(object)?.get("id")?.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_keep_one_and_string_one_distinct() {
        let a = classify(br#"{"id":1,"result":{}}"#).unwrap();
        let b = classify(br#"{"id":"1","result":{}}"#).unwrap();
        match (a, b) {
            (Inbound::Response { id: x, .. }, Inbound::Response { id: y, .. }) => {
                assert_eq!(x, RequestId::Integer(1));
                assert_eq!(y, RequestId::String("1".into()));
                assert_ne!(x, y);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn classifies_each_kind() {
        assert!(matches!(
            classify(br#"{"method":"turn/started","params":{"x":1},"emittedAtMs":5}"#).unwrap(),
            Inbound::Notification {
                emitted_at_ms: Some(5),
                ..
            }
        ));
        assert!(matches!(
            classify(br#"{"id":0,"method":"item/tool/call","params":{}}"#).unwrap(),
            Inbound::Request { .. }
        ));
        match classify(br#"{"id":3,"error":{"code":-32001,"message":"busy"}}"#).unwrap() {
            Inbound::Response {
                outcome: Err(e), ..
            } => assert_eq!(e.code, -32001),
            other => panic!("{other:?}"),
        }
        // A null id is a notification.
        assert!(matches!(
            classify(br#"{"id":null,"method":"x"}"#).unwrap(),
            Inbound::Notification { .. }
        ));
    }

    #[test]
    fn malformed_lines_say_what_is_wrong() {
        assert!(classify(b"garbage")
            .unwrap_err()
            .contains("not a JSON-RPC object"));
        assert!(classify(br#"{"id":1.5,"result":1}"#)
            .unwrap_err()
            .contains("unsupported id"));
        assert!(classify(br#"{"id":2}"#)
            .unwrap_err()
            .contains("neither result nor error"));
        assert!(classify(br#"{}"#)
            .unwrap_err()
            .contains("neither method nor id"));
    }

    #[test]
    fn unknown_notifications_keep_their_thread_and_turn() {
        let ev = |params: serde_json::Value| Event {
            notification: ServerNotification::Unknown {
                method: "turn/completed".into(),
                params,
            },
            emitted_at_ms: None,
            seq: 1,
        };
        let flat = ev(serde_json::json!({"threadId": "th", "turnId": "tu"}));
        assert_eq!((flat.thread_id(), flat.turn_id()), (Some("th"), Some("tu")));
        let nested = ev(serde_json::json!({"threadId": "th", "turn": {"id": "tu", "status": 7}}));
        assert_eq!(nested.turn_id(), Some("tu"));
        let thread = ev(serde_json::json!({"thread": {"id": "th"}}));
        assert_eq!((thread.thread_id(), thread.turn_id()), (Some("th"), None));
        let none = ev(serde_json::json!([1, 2]));
        assert_eq!((none.thread_id(), none.turn_id()), (None, None));
    }

    #[test]
    fn encodes_without_jsonrpc_field() {
        let line = encode_request(
            &RequestId::Integer(7),
            "thread/start",
            &serde_json::json!({}),
        )
        .unwrap();
        assert_eq!(line, br#"{"id":7,"method":"thread/start","params":{}}"#);
    }
}
