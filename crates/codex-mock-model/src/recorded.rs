//! [`RecordedRequest`]: what the mock model saw.

use serde::Serialize;
use serde_json::Value;

/// One HTTP request received by the mock model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedRequest {
    /// HTTP method, e.g. `"POST"`.
    pub method: String,
    /// Request path, e.g. `"/v1/responses"` (no query string).
    pub path: String,
    /// The body parsed as JSON; `Null` when empty, a JSON string holding the (lossy UTF-8) text
    /// when the body is not JSON.
    pub body: Value,
    /// Request headers (names lower-case, values lossy UTF-8), in arrival order.
    pub headers: Vec<(String, String)>,
}

impl RecordedRequest {
    /// Whether this is a `POST /v1/responses` (a model turn).
    pub fn is_responses_call(&self) -> bool {
        self.method == "POST" && self.path == crate::routes::RESPONSES_PATH
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The `input` items of a responses call whose `type` is `item_type`
    /// (e.g. `"function_call_output"`).
    pub fn input_items_of_type(&self, item_type: &str) -> Vec<&Value> {
        input_items_of_type(&self.body, item_type)
    }
}

/// The `input` items of a responses request body whose `type` is `item_type`.
pub fn input_items_of_type<'a>(body: &'a Value, item_type: &str) -> Vec<&'a Value> {
    body.get("input")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter(|item| item.get("type").and_then(Value::as_str) == Some(item_type))
                .collect()
        })
        .unwrap_or_default()
}
