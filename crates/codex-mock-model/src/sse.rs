//! The Responses API stream events the mock sends, and their SSE framing.

use serde_json::{json, Value};

/// Frames one event as `event: <type>\ndata: <json>\n\n`.
pub(crate) fn frame(event: &Value) -> String {
    let kind = event
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("message");
    format!("event: {kind}\ndata: {event}\n\n")
}

/// The SSE comment sent while a stream is stalled.
pub(crate) const KEEPALIVE: &str = ": keepalive\n\n";

pub(crate) fn created(response_id: &str) -> Value {
    json!({"type": "response.created", "response": {"id": response_id}})
}

pub(crate) fn completed(response_id: &str, input_tokens: u64, output_tokens: u64) -> Value {
    json!({
        "type": "response.completed",
        "response": {
            "id": response_id,
            "usage": {
                "input_tokens": input_tokens,
                "input_tokens_details": null,
                "output_tokens": output_tokens,
                "output_tokens_details": null,
                "total_tokens": input_tokens + output_tokens,
            }
        }
    })
}

fn message_item(item_id: &str, text: &str) -> Value {
    json!({
        "type": "message",
        "role": "assistant",
        "id": item_id,
        "content": [{"type": "output_text", "text": text}],
    })
}

pub(crate) fn message_added(item_id: &str) -> Value {
    json!({"type": "response.output_item.added", "output_index": 0, "item": {
        "type": "message", "role": "assistant", "id": item_id, "content": [],
    }})
}

pub(crate) fn message_done(item_id: &str, text: &str) -> Value {
    json!({"type": "response.output_item.done", "item": message_item(item_id, text)})
}

pub(crate) fn text_delta(item_id: &str, delta: &str) -> Value {
    json!({
        "type": "response.output_text.delta",
        "item_id": item_id,
        "output_index": 0,
        "content_index": 0,
        "delta": delta,
    })
}

pub(crate) fn function_call_done(call_id: &str, name: &str, arguments: &Value) -> Value {
    json!({"type": "response.output_item.done", "item": {
        "type": "function_call",
        "call_id": call_id,
        "name": name,
        "arguments": arguments.to_string(),
    }})
}

/// A function call of a tool inside a `namespace` tool (how codex 0.171 offers MCP tools).
pub(crate) fn namespaced_call_done(
    call_id: &str,
    namespace: &str,
    name: &str,
    arguments: &Value,
) -> Value {
    json!({"type": "response.output_item.done", "item": {
        "type": "function_call",
        "call_id": call_id,
        "namespace": namespace,
        "name": name,
        "arguments": arguments.to_string(),
    }})
}

fn summary_parts(summary: &[String]) -> Vec<Value> {
    summary
        .iter()
        .map(|text| json!({"type": "summary_text", "text": text}))
        .collect()
}

pub(crate) fn reasoning_added(item_id: &str) -> Value {
    json!({"type": "response.output_item.added", "item": {
        "type": "reasoning", "id": item_id, "summary": [],
    }})
}

pub(crate) fn reasoning_summary_delta(item_id: &str, summary_index: usize, delta: &str) -> Value {
    json!({
        "type": "response.reasoning_summary_text.delta",
        "item_id": item_id,
        "summary_index": summary_index,
        "delta": delta,
    })
}

pub(crate) fn reasoning_done(item_id: &str, summary: &[String]) -> Value {
    json!({"type": "response.output_item.done", "item": {
        "type": "reasoning", "id": item_id, "summary": summary_parts(summary),
    }})
}

/// An OpenAI-style JSON error body.
pub(crate) fn error_body(message: &str, kind: &str) -> Value {
    json!({"error": {"message": message, "type": kind, "code": null}})
}
