//! Wire shapes: classifying inbound lines and writing outbound ones.
//!
//! codex speaks JSON-RPC 2.0 without the `"jsonrpc"` field, one object per line. Inbound lines
//! are parsed once into a borrowed `Envelope` (params stay raw), so the typed decode of a
//! notification's params reads the bytes exactly once.

use super::lazy_delta::LazyDelta;
use codex_runtime_protocol::{RequestId, ServerNotification};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::sync::OnceLock;

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

/// One server notification, as delivered to subscribers.
///
/// The streaming deltas (`item/agentMessage/delta`, `item/plan/delta`,
/// `item/commandExecution/outputDelta`, `item/fileChange/outputDelta`,
/// `item/reasoning/textDelta`, `item/reasoning/summaryTextDelta`), which are nearly all of a
/// busy connection's traffic, are **decoded lazily**: the connection's reader checks their
/// shape and reads the routing ids from the envelope, and the typed form is built the first
/// time [`Event::notification`] is called, on the consumer's thread (then cached), from the
/// pieces the reader found, without parsing the params again (`rpc/lazy_delta.rs`). Every other
/// notification is decoded by the reader. Either way the typed form is the same.
#[derive(Clone)]
pub struct Event {
    body: Body,
    /// The server's `emittedAtMs` timestamp, when present.
    pub emitted_at_ms: Option<i64>,
    /// Position of this notification in the connection's inbound order (1-based).
    pub seq: u64,
}

/// What an [`Event`] holds: the typed notification, or a delta's wire params and the typed
/// form once someone has read it.
#[derive(Clone)]
enum Body {
    /// Decoded by the reader.
    Decoded(ServerNotification),
    /// A delta decoded on first read ([`Event::notification`]), then cached.
    Lazy {
        /// Boxed: an event's size counts against the queue budget (`EVENT_OVERHEAD_BYTES`),
        /// and the typed cache beside it is already as large as a decoded notification.
        raw: Box<LazyDelta>,
        decoded: OnceLock<ServerNotification>,
    },
}

impl Event {
    /// An event holding an already decoded notification.
    pub fn new(notification: ServerNotification, emitted_at_ms: Option<i64>, seq: u64) -> Event {
        Event {
            body: Body::Decoded(notification),
            emitted_at_ms,
            seq,
        }
    }

    /// An event for a delta whose params were checked against the typed shape, kept raw until
    /// read; `None` when `method` is not decoded lazily or `params` does not have the shape (the
    /// caller then decodes it, reporting a fallback as usual).
    pub(crate) fn lazy_delta(
        method: &str,
        params: &RawValue,
        emitted_at_ms: Option<i64>,
        seq: u64,
    ) -> Option<Event> {
        Some(Event {
            body: Body::Lazy {
                raw: Box::new(LazyDelta::read(method, params)?),
                decoded: OnceLock::new(),
            },
            emitted_at_ms,
            seq,
        })
    }

    /// The typed notification. Unknown methods (or params this SDK cannot decode) arrive as
    /// `ServerNotification::Unknown` with the raw params: nothing is dropped. A lazily decoded
    /// delta is decoded on the first call (on the caller's thread) and cached.
    pub fn notification(&self) -> &ServerNotification {
        let (raw, decoded) = match &self.body {
            Body::Decoded(n) => return n,
            Body::Lazy { raw, decoded } => (raw, decoded),
        };
        decoded.get_or_init(|| raw.decode())
    }

    /// The wire params of a delta not decoded by the reader.
    fn lazy(&self) -> Option<&LazyDelta> {
        match &self.body {
            Body::Decoded(_) => None,
            Body::Lazy { raw, .. } => Some(raw),
        }
    }

    /// The notification method, e.g. `turn/completed`.
    pub fn method(&self) -> &str {
        match self.lazy() {
            Some(raw) => raw.method(),
            None => self.notification().method(),
        }
    }

    /// The thread this notification belongs to, when it has one.
    ///
    /// For a notification delivered as `ServerNotification::Unknown` (a method this SDK does
    /// not know, or params that did not fit the typed shape) this is read from the raw params:
    /// `threadId`, else `thread.id`. Such events are therefore routed to thread subscribers too.
    pub fn thread_id(&self) -> Option<&str> {
        if let Some(raw) = self.lazy() {
            return Some(raw.thread_id());
        }
        match self.notification() {
            ServerNotification::Unknown { params, .. } => raw_id(params, "threadId", "thread"),
            n => n.thread_id(),
        }
    }

    /// The turn this notification belongs to, when it has one (for `Unknown`, read from the raw
    /// params: `turnId`, else `turn.id`).
    pub fn turn_id(&self) -> Option<&str> {
        if let Some(raw) = self.lazy() {
            return Some(raw.turn_id());
        }
        match self.notification() {
            ServerNotification::Unknown { params, .. } => raw_id(params, "turnId", "turn"),
            n => n.turn_id(),
        }
    }
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("notification", self.notification())
            .field("emitted_at_ms", &self.emitted_at_ms)
            .field("seq", &self.seq)
            .finish()
    }
}

impl PartialEq for Event {
    fn eq(&self, other: &Event) -> bool {
        self.seq == other.seq
            && self.emitted_at_ms == other.emitted_at_ms
            && self.notification() == other.notification()
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
        let ev = |params: serde_json::Value| {
            Event::new(
                ServerNotification::Unknown {
                    method: "turn/completed".into(),
                    params,
                },
                None,
                1,
            )
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

    fn raw(v: serde_json::Value) -> Box<RawValue> {
        serde_json::value::to_raw_value(&v).unwrap()
    }

    const DELTAS: [&str; 6] = [
        "item/agentMessage/delta",
        "item/plan/delta",
        "item/commandExecution/outputDelta",
        "item/fileChange/outputDelta",
        "item/reasoning/textDelta",
        "item/reasoning/summaryTextDelta",
    ];

    #[test]
    fn lazy_deltas_decode_exactly_like_the_reader() {
        // Plain strings; escapes in the delta and in the item id (unescaped on decode); `\u`
        // escapes, raw non-ASCII and a field the typed structs do not have.
        let variants = [
            r#"{"threadId": "th-1", "turnId": "tu-1", "itemId": "it-1", "delta": "token 1 ", "contentIndex": 0, "summaryIndex": 2}"#,
            r#"{"threadId":"th-1","turnId":"tu-1","itemId":"it-\"1\"","delta":"a \"quoted\" \u00e9\n delta","contentIndex":3,"summaryIndex":0}"#,
            r#"{"delta": "caf\u00e9 é", "newField": {"x": [1, "y"]}, "summaryIndex": 7, "contentIndex": -1, "itemId": "", "turnId": "tu-1", "threadId": "th-1"}"#,
        ];
        for text in variants {
            let params = RawValue::from_string(text.to_owned()).unwrap();
            for method in DELTAS {
                let lazy = Event::lazy_delta(method, &params, Some(9), 4)
                    .unwrap_or_else(|| panic!("{method} is decoded lazily: {text}"));
                let eager = Event::new(
                    ServerNotification::decode(method, &params).unwrap(),
                    Some(9),
                    4,
                );
                // Routing reads the ids without decoding.
                let undecoded = |e: &Event| matches!(&e.body, Body::Lazy { decoded, .. } if decoded.get().is_none());
                assert!(undecoded(&lazy), "{method}");
                assert_eq!(lazy.method(), method);
                assert_eq!(lazy.thread_id(), Some("th-1"));
                assert_eq!(lazy.turn_id(), Some("tu-1"));
                assert!(undecoded(&lazy), "{method}: ids need no decode");
                assert!(!matches!(
                    lazy.notification(),
                    ServerNotification::Unknown { .. }
                ));
                assert_eq!(lazy, eager, "{method}: {text}");
                assert_eq!(lazy.clone(), eager);
                assert_eq!(lazy.thread_id(), eager.thread_id());
                assert_eq!(lazy.turn_id(), eager.turn_id());
            }
        }
    }

    #[test]
    fn an_event_stays_small() {
        // Every queued event counts `size_of::<Event>()` against its subscriber's byte budget
        // (`EVENT_OVERHEAD_BYTES`), so growing it changes how many events a budget holds, and
        // with that when a slow consumer lags. A lazy delta's pieces are boxed for this.
        assert!(
            std::mem::size_of::<Event>() <= 160,
            "{}",
            std::mem::size_of::<Event>()
        );
        // The box a lazy delta's pieces live in is not counted; keep it small too.
        let lazy = std::mem::size_of::<LazyDelta>();
        assert!(lazy <= 72, "{lazy}");
    }

    #[test]
    fn params_without_the_delta_shape_go_through_the_readers_decode() {
        let delta = "item/agentMessage/delta";
        let cases = [
            // An id with an escape cannot be borrowed.
            serde_json::json!({"threadId": "t\\h", "turnId": "tu", "itemId": "i", "delta": "x"}),
            // A missing or mistyped field would not decode.
            serde_json::json!({"threadId": "th", "turnId": "tu", "itemId": "i"}),
            serde_json::json!({"threadId": "th", "turnId": "tu", "itemId": "i", "delta": 5}),
            serde_json::json!(["not", "an", "object"]),
            // An array fills a struct's fields in declaration order: not the same on both paths.
            serde_json::json!(["th", "tu", "i", "x"]),
        ];
        for params in cases {
            assert!(
                Event::lazy_delta(delta, &raw(params.clone()), None, 1).is_none(),
                "{params}"
            );
        }
        // A lone surrogate escape passes the parser's scan of the token but not a `String`.
        let lone = r#"{"threadId": "th", "turnId": "tu", "itemId": "i", "delta": "\ud800"}"#;
        let lone = RawValue::from_string(lone.to_owned()).unwrap();
        assert!(ServerNotification::decode(delta, &lone).is_err());
        assert!(Event::lazy_delta(delta, &lone, None, 1).is_none());
        let good =
            raw(serde_json::json!({"threadId": "th", "turnId": "tu", "itemId": "i", "delta": "x"}));
        // The indexed reasoning deltas need their index; other methods are decoded by the reader.
        assert!(Event::lazy_delta("item/reasoning/textDelta", &good, None, 1).is_none());
        assert!(Event::lazy_delta("item/reasoning/summaryTextDelta", &good, None, 1).is_none());
        assert!(Event::lazy_delta("turn/completed", &good, None, 1).is_none());
        assert!(Event::lazy_delta(delta, &good, None, 1).is_some());
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
