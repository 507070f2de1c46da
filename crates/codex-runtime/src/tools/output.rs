//! [`ToolOutput`] and [`ToolError`]: what a tool gives back to the model.

use serde_json::Value;

/// What a tool returns on success: text, JSON, or both.
///
/// Text reaches the model as a text content block. JSON goes out as the MCP result's
/// `structuredContent` and, since codex shows the model the content blocks, also as a text block
/// holding the serialised value (unless the output has its own text).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    text: Option<String>,
    json: Option<Value>,
}

impl ToolOutput {
    /// A plain text result.
    pub fn text(text: impl Into<String>) -> Self {
        ToolOutput {
            text: Some(text.into()),
            json: None,
        }
    }

    /// A JSON result (sent as `structuredContent` and as its serialised text).
    pub fn json(value: impl Into<Value>) -> Self {
        ToolOutput {
            text: None,
            json: Some(value.into()),
        }
    }

    /// A JSON value serialised from `value`; a value that does not serialise is a [`ToolError`].
    pub fn json_from<T: serde::Serialize>(value: &T) -> Result<Self, ToolError> {
        serde_json::to_value(value)
            .map(Self::json)
            .map_err(|e| ToolError::new(format!("the tool's output does not serialise: {e}")))
    }

    /// Both: `text` for the model to read and `value` as the structured result.
    pub fn text_and_json(text: impl Into<String>, value: impl Into<Value>) -> Self {
        ToolOutput {
            text: Some(text.into()),
            json: Some(value.into()),
        }
    }

    /// The text part.
    pub fn text_part(&self) -> Option<&str> {
        self.text.as_deref()
    }

    /// The JSON part.
    pub fn json_part(&self) -> Option<&Value> {
        self.json.as_ref()
    }

    /// The text the model reads: the text part, else the JSON serialised.
    pub(crate) fn model_text(&self) -> String {
        match (&self.text, &self.json) {
            (Some(t), _) => t.clone(),
            (None, Some(v)) => v.to_string(),
            (None, None) => String::new(),
        }
    }
}

/// A tool's failure. It reaches the model as an error result (`isError: true`) with this
/// message; the turn goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolError {
    message: String,
}

impl ToolError {
    /// An error with `message` (shown to the model: keep secrets out of it).
    pub fn new(message: impl Into<String>) -> Self {
        ToolError {
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for ToolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ToolError {}

impl From<String> for ToolError {
    fn from(message: String) -> Self {
        ToolError::new(message)
    }
}

impl From<&str> for ToolError {
    fn from(message: &str) -> Self {
        ToolError::new(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_model_reads_the_text_else_the_serialised_json() {
        assert_eq!(ToolOutput::text("hi").model_text(), "hi");
        assert_eq!(ToolOutput::json(json!({"a": 1})).model_text(), r#"{"a":1}"#);
        let both = ToolOutput::text_and_json("one", json!(1));
        assert_eq!(both.model_text(), "one");
        assert_eq!(both.json_part(), Some(&json!(1)));
    }

    #[test]
    fn json_from_serialises_a_value() {
        #[derive(serde::Serialize)]
        struct S {
            n: u32,
        }
        let out = ToolOutput::json_from(&S { n: 3 }).unwrap();
        assert_eq!(out.json_part(), Some(&json!({"n": 3})));
    }
}
