//! [`HookContext`]: what a hook is told about the moment it fires, and [`ToolResult`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Attachment, HookPhase};

/// What a hook is told about the moment it fires.
///
/// Which fields are set depends on the phase: `prompt`, `model` and `attachments` around turns
/// and runs, `thread_id` once a session exists, `turn_id` inside a turn, `tool_name` and
/// `tool_input` for tool phases, `tool_result` for [`HookPhase::PostToolUse`]. `metadata` carries
/// free-form values the caller (or earlier hooks, through [`HookPatch::metadata`]) attached.
///
/// Serialized as camelCase JSON (unset fields as `null`); that is what a
/// [`ShellCommandHook`](crate::ShellCommandHook) receives on stdin.
///
/// The struct is `#[non_exhaustive]`: read its fields, build it with [`HookContext::new`] and
/// the `with_*` methods.
///
/// [`HookPatch::metadata`]: crate::HookPatch::metadata
///
/// ```
/// use codex_hooks::{HookContext, HookPhase};
/// use serde_json::json;
///
/// let ctx = HookContext::new(HookPhase::PreToolUse, "/repo")
///     .with_tool_name("exec_command")
///     .with_tool_input(json!({"command": ["cargo", "test"]}));
/// let wire = serde_json::to_value(&ctx).unwrap();
/// assert_eq!(wire["phase"], "preToolUse");
/// assert_eq!(wire["toolName"], "exec_command");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct HookContext {
    /// The phase the hook fires in.
    pub phase: HookPhase,
    /// The working directory of the run (codex's cwd for the session).
    pub cwd: PathBuf,
    /// The prompt of the run or turn, when there is one.
    pub prompt: Option<String>,
    /// The codex thread id, once the session exists.
    pub thread_id: Option<String>,
    /// The codex turn id, inside a turn.
    pub turn_id: Option<String>,
    /// The model the run or turn uses, when known.
    pub model: Option<String>,
    /// The attachments of the turn so far (including those earlier hooks added).
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    /// The tool's name, for tool phases (e.g. `exec_command`, `apply_patch`, an MCP tool).
    pub tool_name: Option<String>,
    /// The tool's input (command, patch, MCP arguments…), for tool phases.
    pub tool_input: Option<Value>,
    /// How the tool call ended, for [`HookPhase::PostToolUse`].
    pub tool_result: Option<ToolResult>,
    /// Free-form values attached by the caller or by earlier hooks.
    #[serde(default)]
    pub metadata: BTreeMap<String, Value>,
}

impl HookContext {
    /// A context for `phase` in `cwd`, with every optional field unset.
    pub fn new(phase: HookPhase, cwd: impl Into<PathBuf>) -> Self {
        HookContext {
            phase,
            cwd: cwd.into(),
            prompt: None,
            thread_id: None,
            turn_id: None,
            model: None,
            attachments: Vec::new(),
            tool_name: None,
            tool_input: None,
            tool_result: None,
            metadata: BTreeMap::new(),
        }
    }

    /// Sets the prompt.
    pub fn with_prompt(mut self, prompt: impl Into<String>) -> Self {
        self.prompt = Some(prompt.into());
        self
    }

    /// Sets the codex thread id.
    pub fn with_thread_id(mut self, thread_id: impl Into<String>) -> Self {
        self.thread_id = Some(thread_id.into());
        self
    }

    /// Sets the codex turn id.
    pub fn with_turn_id(mut self, turn_id: impl Into<String>) -> Self {
        self.turn_id = Some(turn_id.into());
        self
    }

    /// Sets the model.
    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// Appends an attachment.
    pub fn with_attachment(mut self, attachment: Attachment) -> Self {
        self.attachments.push(attachment);
        self
    }

    /// Sets the tool name.
    pub fn with_tool_name(mut self, tool_name: impl Into<String>) -> Self {
        self.tool_name = Some(tool_name.into());
        self
    }

    /// Sets the tool input.
    pub fn with_tool_input(mut self, tool_input: Value) -> Self {
        self.tool_input = Some(tool_input);
        self
    }

    /// Sets the tool result.
    pub fn with_tool_result(mut self, tool_result: ToolResult) -> Self {
        self.tool_result = Some(tool_result);
        self
    }

    /// Sets one metadata entry (replacing an existing value under `key`).
    pub fn with_metadata(mut self, key: impl Into<String>, value: Value) -> Self {
        self.metadata.insert(key.into(), value);
        self
    }

    /// The same context in another phase (e.g. the post phase matching a pre phase).
    pub fn with_phase(mut self, phase: HookPhase) -> Self {
        self.phase = phase;
        self
    }
}

/// How a tool call ended, for [`HookPhase::PostToolUse`].
///
/// ```
/// use codex_hooks::ToolResult;
///
/// let r = ToolResult::new("completed").with_exit_code(0).with_output("ok\n");
/// assert_eq!(serde_json::to_value(&r).unwrap()["exitCode"], 0);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolResult {
    /// The item's final status as codex reports it (e.g. `completed`, `failed`, `declined`).
    pub status: String,
    /// The exit code, for commands.
    pub exit_code: Option<i32>,
    /// The (aggregated) output, when codex reports one.
    pub output: Option<String>,
}

impl ToolResult {
    /// A result with `status` and no exit code or output.
    pub fn new(status: impl Into<String>) -> Self {
        ToolResult {
            status: status.into(),
            exit_code: None,
            output: None,
        }
    }

    /// Sets the exit code.
    pub fn with_exit_code(mut self, exit_code: i32) -> Self {
        self.exit_code = Some(exit_code);
        self
    }

    /// Sets the output.
    pub fn with_output(mut self, output: impl Into<String>) -> Self {
        self.output = Some(output.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn serializes_every_field_in_camel_case() {
        let ctx = HookContext::new(HookPhase::PostToolUse, "/w")
            .with_prompt("p")
            .with_thread_id("t1")
            .with_turn_id("u1")
            .with_model("m")
            .with_attachment(Attachment::Path("f".into()))
            .with_tool_name("exec_command")
            .with_tool_input(json!({"command": "ls"}))
            .with_tool_result(ToolResult::new("completed").with_exit_code(3))
            .with_metadata("k", json!(1));
        assert_eq!(
            serde_json::to_value(&ctx).unwrap(),
            json!({
                "phase": "postToolUse",
                "cwd": "/w",
                "prompt": "p",
                "threadId": "t1",
                "turnId": "u1",
                "model": "m",
                "attachments": [{"type": "path", "path": "f"}],
                "toolName": "exec_command",
                "toolInput": {"command": "ls"},
                "toolResult": {"status": "completed", "exitCode": 3, "output": null},
                "metadata": {"k": 1}
            })
        );
        let back: HookContext =
            serde_json::from_value(serde_json::to_value(&ctx).unwrap()).unwrap();
        assert_eq!(back, ctx);
    }

    #[test]
    fn new_leaves_optional_fields_unset() {
        let ctx = HookContext::new(HookPhase::PreRun, "/w");
        let wire = serde_json::to_value(&ctx).unwrap();
        assert_eq!(wire["prompt"], Value::Null);
        assert_eq!(wire["toolResult"], Value::Null);
        assert_eq!(wire["attachments"], json!([]));
        assert_eq!(ctx.with_phase(HookPhase::PostRun).phase, HookPhase::PostRun);
    }
}
