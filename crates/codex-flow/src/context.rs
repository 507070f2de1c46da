//! The context every step receives (stdin JSON for command steps, turn context for Code Mode) and
//! the matching environment variables.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::catalog::{LoadedFlow, LoadedStep};
use crate::event::FlowEvent;

/// Env var: the event id.
pub const ENV_EVENT_ID: &str = "CODEX_FLOW_EVENT_ID";
/// Env var: the run id.
pub const ENV_RUN_ID: &str = "CODEX_FLOW_RUN_ID";
/// Env var: the attempt id.
pub const ENV_ATTEMPT_ID: &str = "CODEX_FLOW_ATTEMPT_ID";
/// Env var: `1` for a replay, else `0`.
pub const ENV_REPLAY: &str = "CODEX_FLOW_REPLAY";
/// Env var: the workspace backend URL.
pub const ENV_BACKEND_URL: &str = "CODEX_WORKSPACE_BACKEND_WS_URL";
/// Env var: who launched the run.
pub const ENV_LAUNCHED_BY: &str = "CODEX_FLOW_LAUNCHED_BY";

/// Runtime metadata of one step execution.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeMetadata {
    /// The event id.
    pub event_id: String,
    /// The run id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// The attempt id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt_id: Option<String>,
    /// Whether this run is a replay.
    pub replay: bool,
    /// The workspace backend URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_backend_url: Option<String>,
    /// Who launched the run (e.g. `codex-flow`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launched_by: Option<String>,
}

impl RuntimeMetadata {
    /// The environment variables for a step: `(name, Some(value))` to set, `(name, None)` to
    /// remove (so a stale value of the parent process never leaks in).
    pub fn env_vars(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            (ENV_EVENT_ID, Some(self.event_id.clone())),
            (ENV_RUN_ID, self.run_id.clone()),
            (ENV_ATTEMPT_ID, self.attempt_id.clone()),
            (
                ENV_REPLAY,
                Some(if self.replay { "1" } else { "0" }.to_string()),
            ),
            (ENV_BACKEND_URL, self.workspace_backend_url.clone()),
            (ENV_LAUNCHED_BY, self.launched_by.clone()),
        ]
    }
}

/// `flow` part of the context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlowContext {
    /// The flow name.
    pub name: String,
    /// The flow version.
    pub version: serde_json::Number,
    /// The flow folder.
    pub root: String,
    /// The step name.
    pub step: String,
    /// The flow's `[config]` table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Map<String, Value>>,
    /// The event.
    pub event: FlowEvent,
}

/// `{ flow: {name, version, root, step, config?, event}, runtime: {...} }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepContext {
    /// Flow, step and event.
    pub flow: FlowContext,
    /// Runtime metadata.
    pub runtime: RuntimeMetadata,
}

impl StepContext {
    /// Builds the context of `step` of `flow` for `event`.
    pub fn new(
        flow: &LoadedFlow,
        step: &LoadedStep,
        event: &FlowEvent,
        runtime: RuntimeMetadata,
    ) -> Self {
        StepContext {
            flow: FlowContext {
                name: flow.manifest.name.clone(),
                version: flow.manifest.version.clone(),
                root: flow.root.display().to_string(),
                step: step.manifest.name.clone(),
                config: flow.manifest.config.clone(),
                event: event.clone(),
            },
            runtime,
        }
    }

    /// The context as JSON.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}
