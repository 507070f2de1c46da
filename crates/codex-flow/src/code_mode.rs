//! Code Mode: a step that runs as a Codex turn. This crate does not talk to Codex itself; the
//! SDK adapter (a `codex_runtime` `Session`) implements [`CodeModeExecutor`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::FlowError;
use crate::manifest::{ApprovalPolicy, SandboxMode};

/// Env var that enables Code Mode steps when `1`, `true`, `yes` or `on`.
pub const ENV_ENABLE_CODE_MODE: &str = "CODEX_FLOWS_ENABLE_CODE_MODE";
/// Env var that enables Code Mode steps when `code-mode`.
pub const ENV_FLOWS_MODE: &str = "CODEX_FLOWS_MODE";
/// Sandbox of a turn when neither the step nor the client configuration names one.
pub const DEFAULT_SANDBOX: SandboxMode = SandboxMode::ReadOnly;
/// Approval policy of a turn when neither the step nor the client configuration names one.
pub const DEFAULT_APPROVAL: ApprovalPolicy = ApprovalPolicy::Never;

/// Whether Code Mode is enabled by `env` (`CODEX_FLOWS_ENABLE_CODE_MODE=1|true|yes|on` or
/// `CODEX_FLOWS_MODE=code-mode`). The map is explicit so callers decide where it comes from.
///
/// ```
/// let mut env = std::collections::BTreeMap::new();
/// assert!(!codex_flow::code_mode_enabled(&env));
/// env.insert("CODEX_FLOWS_MODE".to_string(), "code-mode".to_string());
/// assert!(codex_flow::code_mode_enabled(&env));
/// ```
pub fn code_mode_enabled(env: &BTreeMap<String, String>) -> bool {
    let flag = env
        .get(ENV_ENABLE_CODE_MODE)
        .map(|v| v.trim().to_ascii_lowercase())
        .is_some_and(|v| matches!(v.as_str(), "1" | "true" | "yes" | "on"));
    let mode = env
        .get(ENV_FLOWS_MODE)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("code-mode"));
    flag || mode
}

/// The two gate variables of the current process, for callers that take the gate from there.
pub fn code_mode_env_from_process() -> BTreeMap<String, String> {
    [ENV_ENABLE_CODE_MODE, ENV_FLOWS_MODE]
        .into_iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
        .collect()
}

/// One Code Mode step to execute as a Codex turn.
#[derive(Debug, Clone, PartialEq)]
pub struct CodeModeRequest {
    /// The step file's content: the turn's instructions.
    pub instructions: String,
    /// The step context (`{flow, runtime}`), to travel with the turn.
    pub context: Value,
    /// The step's working directory.
    pub cwd: PathBuf,
    /// The turn's output schema ([`crate::code_mode_output_schema`]).
    pub output_schema: Value,
    /// The model, when the step or the configuration names one.
    pub model: Option<String>,
    /// The sandbox (`read-only`, `workspace-write`, `danger-full-access`); always resolved.
    pub sandbox: Option<String>,
    /// The approval policy (`never`, `on-request`, `on-failure`, `untrusted`); always resolved.
    pub approval: Option<String>,
    /// The step's timeout; the runner also enforces it.
    pub timeout: Duration,
    /// The flow name.
    pub flow: String,
    /// The step name.
    pub step: String,
}

/// What the turn produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CodeModeReply {
    /// The turn's structured output, if any.
    pub structured: Option<Value>,
    /// The agent's final text (searched for a `FLOW_RESULT ` line when there is no structured
    /// output).
    pub agent_text: String,
}

/// Executes one Code Mode step as a Codex turn. The SDK adapter (codex_runtime `Session`)
/// implements it; tests use fakes.
pub trait CodeModeExecutor: Send + Sync {
    /// Runs the turn. Dropping the future must abandon (interrupt) the turn.
    fn execute<'a>(
        &'a self,
        request: CodeModeRequest,
    ) -> BoxFuture<'a, Result<CodeModeReply, FlowError>>;
}

/// Client-level defaults for Code Mode turns; a step's own keys win.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CodeModeDefaults {
    /// Default model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Default sandbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxMode>,
    /// Default approval policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalPolicy>,
}
