//! [`Reply`]: one scripted answer to one `POST /v1/responses`, as plain data.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One scripted answer of the mock model to one `POST /v1/responses` request.
///
/// Replies are data (serde, tagged by `"kind"`), so a scenario can live in a JSON file:
/// `{"kind":"text","text":"hi"}`, `{"kind":"shell","cmd":"ls"}`, `{"kind":"http_error","status":500}`.
/// Every streamed reply starts with `response.created` and ends with `response.completed`
/// (carrying `usage`), except [`Reply::HttpError`] which is a plain HTTP error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Reply {
    /// One complete assistant message (`response.output_item.done`).
    Text {
        /// The message text.
        text: String,
    },
    /// `response.output_item.added`, one `response.output_text.delta` per entry, then the final
    /// message whose text is the concatenation of the deltas.
    Deltas {
        /// The streamed pieces, in order.
        deltas: Vec<String>,
    },
    /// Like [`Reply::Deltas`], but the server waits `delay_ms` before each delta.
    Slow {
        /// The streamed pieces, in order.
        deltas: Vec<String>,
        /// Pause before each delta, in milliseconds.
        delay_ms: u64,
    },
    /// A reasoning item (summary parts streamed as `response.reasoning_summary_text.delta`),
    /// followed by an assistant message.
    Reasoning {
        /// The summary parts.
        summary: Vec<String>,
        /// The assistant message that follows.
        text: String,
    },
    /// An `exec_command` function call running `cmd`. Codex answers it in its next request with
    /// a `function_call_output`, which the next reply of the scenario answers.
    Shell {
        /// The shell command line.
        cmd: String,
        /// When set, the call asks for `sandbox_permissions: "require_escalated"` with this
        /// justification (codex then asks the client for approval under `on-request`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        escalation_justification: Option<String>,
    },
    /// An `exec_command` call whose command is `apply_patch` with a heredoc: codex intercepts
    /// it and applies the patch as a `fileChange` item.
    ApplyPatch {
        /// The patch body between `*** Begin Patch` and `*** End Patch` (exclusive), e.g.
        /// `"*** Add File: x.txt\n+hi\n"`. The markers are added when missing.
        patch: String,
    },
    /// A `request_user_input` function call asking the given questions.
    RequestUserInput {
        /// One to three questions.
        questions: Vec<UserInputQuestion>,
    },
    /// Any function call: `name` with `arguments` (sent as a JSON string, as the API does).
    FunctionCall {
        /// The tool name, e.g. `"view_image"`.
        name: String,
        /// The arguments object.
        arguments: Value,
    },
    /// A call of the tool `tool` of the MCP server `server`, named the way the request offers
    /// it: inside the `namespace` tool `mcp__<server>` when there is one (codex 0.171), else as
    /// the function `mcp__<server>__<tool>` (older codex). A request that offers neither gets
    /// an HTTP 500 saying so.
    McpToolCall {
        /// The MCP server's name in codex's config (`mcp_servers.<server>`).
        server: String,
        /// The tool's name on that server.
        tool: String,
        /// The arguments object.
        arguments: Value,
    },
    /// An assistant message that echoes the text of the last user message of the request,
    /// after `prefix` (for concurrent sessions, each of which must get its own answer).
    Echo {
        /// Put before the echoed text.
        #[serde(default)]
        prefix: String,
    },
    /// An assistant message whose text is `value` serialised as JSON (for `outputSchema` turns).
    Json {
        /// The structured answer.
        value: Value,
    },
    /// An assistant message holding a minimal JSON instance of the `text.format.schema` found
    /// in the request (see [`crate::instance_from_schema`]). A request without a schema gets an
    /// HTTP 500 saying so.
    JsonFromSchema,
    /// `response.created` and the prefix deltas, then the stream is held open with
    /// `: keepalive` comments until [`crate::MockModel::release_stall`] is called (the stream
    /// then completes with the message made of the deltas) or the client disconnects.
    Stall {
        /// Deltas sent before the stall.
        prefix_deltas: Vec<String>,
    },
    /// A plain HTTP error response (no stream).
    HttpError {
        /// The HTTP status, e.g. 429 or 500.
        status: u16,
        /// The JSON body; defaults to an OpenAI-style error object.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<Value>,
    },
}

/// One question of a `request_user_input` call, in the shape codex 0.169.0 declares for the tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserInputQuestion {
    /// Stable identifier that the answer is keyed by.
    pub id: String,
    /// Short header label.
    pub header: String,
    /// The question itself.
    pub question: String,
    /// Two or three choices.
    #[serde(default)]
    pub options: Vec<UserInputOption>,
}

/// One choice of a [`UserInputQuestion`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserInputOption {
    /// User-facing label.
    pub label: String,
    /// One sentence on the choice's impact.
    pub description: String,
}

impl UserInputQuestion {
    /// A question with the given choice labels (each with an empty description).
    pub fn new(
        id: impl Into<String>,
        question: impl Into<String>,
        options: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        let id = id.into();
        Self {
            header: id.chars().take(12).collect(),
            id,
            question: question.into(),
            options: options
                .into_iter()
                .map(|label| UserInputOption {
                    label: label.into(),
                    description: String::new(),
                })
                .collect(),
        }
    }
}

impl Reply {
    /// One complete assistant message.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text { text: text.into() }
    }

    /// A message streamed as the given deltas.
    pub fn deltas(deltas: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self::Deltas {
            deltas: deltas.into_iter().map(Into::into).collect(),
        }
    }

    /// A message streamed as the given deltas, waiting `delay_per_delta` before each one.
    pub fn slow(
        deltas: impl IntoIterator<Item = impl Into<String>>,
        delay_per_delta: Duration,
    ) -> Self {
        Self::Slow {
            deltas: deltas.into_iter().map(Into::into).collect(),
            delay_ms: u64::try_from(delay_per_delta.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// A reasoning item with the given summary parts, then a message.
    pub fn reasoning(
        summary: impl IntoIterator<Item = impl Into<String>>,
        text: impl Into<String>,
    ) -> Self {
        Self::Reasoning {
            summary: summary.into_iter().map(Into::into).collect(),
            text: text.into(),
        }
    }

    /// An `exec_command` call running `cmd`.
    pub fn shell(cmd: impl Into<String>) -> Self {
        Self::Shell {
            cmd: cmd.into(),
            escalation_justification: None,
        }
    }

    /// An `exec_command` call running `cmd` that asks for `require_escalated` permissions.
    pub fn shell_escalated(cmd: impl Into<String>, justification: impl Into<String>) -> Self {
        Self::Shell {
            cmd: cmd.into(),
            escalation_justification: Some(justification.into()),
        }
    }

    /// An `apply_patch` edit (see [`Reply::ApplyPatch`]).
    pub fn apply_patch(patch_body: impl Into<String>) -> Self {
        Self::ApplyPatch {
            patch: patch_body.into(),
        }
    }

    /// A `request_user_input` call.
    pub fn request_user_input(questions: impl IntoIterator<Item = UserInputQuestion>) -> Self {
        Self::RequestUserInput {
            questions: questions.into_iter().collect(),
        }
    }

    /// Any function call.
    pub fn function_call(name: impl Into<String>, arguments: Value) -> Self {
        Self::FunctionCall {
            name: name.into(),
            arguments,
        }
    }

    /// A call of the MCP tool `tool` of `server` (see [`Reply::McpToolCall`]).
    pub fn mcp_tool_call(
        server: impl Into<String>,
        tool: impl Into<String>,
        arguments: Value,
    ) -> Self {
        Self::McpToolCall {
            server: server.into(),
            tool: tool.into(),
            arguments,
        }
    }

    /// A message echoing the last user message's text after `prefix`.
    pub fn echo(prefix: impl Into<String>) -> Self {
        Self::Echo {
            prefix: prefix.into(),
        }
    }

    /// A message with `value` serialised as JSON.
    pub fn json(value: Value) -> Self {
        Self::Json { value }
    }

    /// A message holding a minimal instance of the request's output schema.
    pub fn json_from_schema() -> Self {
        Self::JsonFromSchema
    }

    /// A stream held open after `prefix_deltas` until released.
    pub fn stall(prefix_deltas: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self::Stall {
            prefix_deltas: prefix_deltas.into_iter().map(Into::into).collect(),
        }
    }

    /// A plain HTTP error with a JSON body.
    pub fn http_error(status: u16, body: Value) -> Self {
        Self::HttpError {
            status,
            body: Some(body),
        }
    }

    /// The `exec_command` command line that applies `patch_body` (markers added when missing).
    pub fn apply_patch_command(patch_body: &str) -> String {
        let mut body = String::new();
        if !patch_body.trim_start().starts_with("*** Begin Patch") {
            body.push_str("*** Begin Patch\n");
        }
        body.push_str(patch_body);
        if !body.ends_with('\n') {
            body.push('\n');
        }
        if !patch_body.trim_end().ends_with("*** End Patch") {
            body.push_str("*** End Patch\n");
        }
        format!("apply_patch <<'EOF'\n{body}EOF\n")
    }
}
