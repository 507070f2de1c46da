//! `FLOW_RESULT`: what a step reports, and how it is read from a step's output.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::error::{FlowError, Result};
use crate::event::FlowEvent;

/// The marker a step prints before its result JSON.
pub const FLOW_RESULT_MARKER: &str = "FLOW_RESULT ";

/// A step's semantic outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FlowResultStatus {
    /// Nothing to do.
    Skipped,
    /// Done, nothing changed.
    Completed,
    /// Done, something changed.
    Changed,
    /// A person must look at it.
    NeedsIntervention,
    /// Cannot go on until something else happens.
    Blocked,
    /// The step failed.
    Failed,
}

impl FlowResultStatus {
    /// All statuses, in contract order.
    pub const ALL: [FlowResultStatus; 6] = [
        FlowResultStatus::Skipped,
        FlowResultStatus::Completed,
        FlowResultStatus::Changed,
        FlowResultStatus::NeedsIntervention,
        FlowResultStatus::Blocked,
        FlowResultStatus::Failed,
    ];

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            FlowResultStatus::Skipped => "skipped",
            FlowResultStatus::Completed => "completed",
            FlowResultStatus::Changed => "changed",
            FlowResultStatus::NeedsIntervention => "needs_intervention",
            FlowResultStatus::Blocked => "blocked",
            FlowResultStatus::Failed => "failed",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// `{ status, message?, artifacts?, next?: FlowEvent[], ...extra }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "FLOW_RESULT", description = "What a flow step reports")]
pub struct FlowResult {
    /// The semantic outcome.
    pub status: FlowResultStatus,
    /// A human summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Anything the step produced (paths, URLs, records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifacts: Option<Value>,
    /// Events to dispatch after this step (only when the client enables it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<Vec<FlowEvent>>,
    /// Any other keys, kept.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl FlowResult {
    /// A result with only a status.
    pub fn with_status(status: FlowResultStatus) -> Self {
        FlowResult {
            status,
            message: None,
            artifacts: None,
            next: None,
            extra: Map::new(),
        }
    }

    /// Reads a FLOW_RESULT value, with the contract's errors.
    pub fn from_value(value: Value) -> Result<Self> {
        let Value::Object(map) = value else {
            return Err(FlowError::FlowResultNotObject);
        };
        match map.get("status").and_then(Value::as_str) {
            Some(s) if FlowResultStatus::parse(s).is_some() => {}
            _ => return Err(FlowError::FlowResultStatus),
        }
        let result: FlowResult = serde_path_to_error::deserialize(Value::Object(map))
            .map_err(|e| FlowError::FlowResultShape(format!("{}: {}", e.path(), e.inner())))?;
        if let Some(next) = &result.next {
            for (i, event) in next.iter().enumerate() {
                event
                    .validate()
                    .map_err(|e| FlowError::FlowResultShape(format!("next[{i}]: {e}")))?;
            }
        }
        Ok(result)
    }

    /// Reads the FLOW_RESULT from a step's stdout: lines are scanned from the last backwards and
    /// the first line containing `FLOW_RESULT ` wins; the rest of that line is the JSON.
    ///
    /// ```
    /// use codex_flow::{FlowResult, FlowResultStatus};
    /// let out = "working\nFLOW_RESULT {\"status\":\"changed\",\"message\":\"bumped\"}\n";
    /// let result = FlowResult::parse_output(out)?;
    /// assert_eq!(result.status, FlowResultStatus::Changed);
    /// # Ok::<(), codex_flow::FlowError>(())
    /// ```
    pub fn parse_output(stdout: &str) -> Result<Self> {
        let json_text = stdout
            .lines()
            .rev()
            .find_map(|line| {
                line.find(FLOW_RESULT_MARKER)
                    .map(|at| &line[at + FLOW_RESULT_MARKER.len()..])
            })
            .ok_or(FlowError::MissingFlowResult)?;
        let value: Value = serde_json::from_str(json_text.trim())
            .map_err(|e| FlowError::FlowResultJson(e.to_string()))?;
        Self::from_value(value)
    }

    /// Reads the structured output of a Code Mode turn, which follows
    /// [`code_mode_output_schema`]: `null` fields are dropped and each `next[].payloadJson`
    /// string becomes the event's `payload`. A plain FLOW_RESULT object is accepted too.
    pub fn from_code_mode_output(value: Value) -> Result<Self> {
        let Value::Object(mut map) = value else {
            return Err(FlowError::FlowResultNotObject);
        };
        map.retain(|_, v| !v.is_null());
        if let Some(Value::Array(next)) = map.get_mut("next") {
            for (i, event) in next.iter_mut().enumerate() {
                if let Value::Object(ev) = event {
                    if let Some(Value::String(text)) = ev.remove("payloadJson") {
                        let payload: Value = serde_json::from_str(&text).map_err(|e| {
                            FlowError::FlowResultShape(format!(
                                "next[{i}].payloadJson is not JSON: {e}"
                            ))
                        })?;
                        ev.insert("payload".into(), payload);
                    }
                    ev.retain(|_, v| !v.is_null());
                }
            }
        }
        Self::from_value(Value::Object(map))
    }

    /// The result as JSON.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// The output schema of a Code Mode turn. Codex sends output schemas to the model in strict mode,
/// so every object lists all its properties as required (optional ones are nullable) and forbids
/// extra properties; `next[].payloadJson` carries each next event's payload as a JSON string.
pub fn code_mode_output_schema() -> Value {
    let statuses: Vec<&str> = FlowResultStatus::ALL.iter().map(|s| s.as_str()).collect();
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["status", "message", "artifacts", "next"],
        "properties": {
            "status": {"type": "string", "enum": statuses},
            "message": {"type": ["string", "null"]},
            "artifacts": {"type": ["array", "null"], "items": {"type": "string"}},
            "next": {
                "type": ["array", "null"],
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["id", "type", "payloadJson"],
                    "properties": {
                        "id": {"type": "string"},
                        "type": {"type": "string"},
                        "payloadJson": {"type": "string"}
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_follow_the_contract() {
        let e = |s: &str| FlowResult::parse_output(s).unwrap_err().to_string();
        assert_eq!(e("hello\n"), "Step did not emit FLOW_RESULT");
        assert!(e("FLOW_RESULT {oops").starts_with("FLOW_RESULT is not valid JSON"));
        assert_eq!(e("FLOW_RESULT [1]"), "FLOW_RESULT must be a JSON object");
        assert_eq!(
            e("FLOW_RESULT {\"status\":\"great\"}"),
            "FLOW_RESULT status is invalid"
        );
        assert_eq!(e("FLOW_RESULT {}"), "FLOW_RESULT status is invalid");
        assert!(
            e("FLOW_RESULT {\"status\":\"changed\",\"next\":[{\"type\":\"x\"}]}")
                .starts_with("FLOW_RESULT is invalid")
        );
    }

    #[test]
    fn last_marker_line_wins_and_extra_is_kept() {
        let out = "FLOW_RESULT {\"status\":\"failed\"}\nlog: FLOW_RESULT {\"status\":\"blocked\",\"why\":\"ci\"}\ntrailing\n";
        let r = FlowResult::parse_output(out).unwrap();
        assert_eq!(r.status, FlowResultStatus::Blocked);
        assert_eq!(r.extra["why"], "ci");
    }

    #[test]
    fn code_mode_output_is_normalized() {
        let r = FlowResult::from_code_mode_output(json!({
            "status": "changed", "message": null, "artifacts": ["a.md"],
            "next": [{"id": "n1", "type": "t", "payloadJson": "{\"k\":1}"}]
        }))
        .unwrap();
        assert_eq!(r.message, None);
        let next = r.next.unwrap();
        assert_eq!(next[0].payload, json!({"k": 1}));
    }

    #[test]
    fn code_mode_schema_is_strict() {
        fn check(schema: &Value) {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                assert_eq!(schema["additionalProperties"], false);
                let required: Vec<&str> = schema["required"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect();
                for (key, sub) in props {
                    assert!(required.contains(&key.as_str()), "{key} not required");
                    check(sub);
                }
            }
            if let Some(items) = schema.get("items") {
                check(items);
            }
        }
        check(&code_mode_output_schema());
    }
}
