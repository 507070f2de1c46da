//! Running one step (command or Code Mode) and turning what it did into an outcome: process
//! status, FLOW_RESULT, error and captured output.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::catalog::{LoadedFlow, LoadedStep};
use crate::code_mode::{
    code_mode_enabled, CodeModeDefaults, CodeModeExecutor, CodeModeRequest, DEFAULT_APPROVAL,
    DEFAULT_SANDBOX,
};
use crate::command_runner::{env_lists, inherited_env, run_command, CommandEnd, CommandLaunch};
use crate::context::{RuntimeMetadata, StepContext};
use crate::error::FlowError;
use crate::event::FlowEvent;
use crate::flow_result::{code_mode_output_schema, FlowResult};
use crate::manifest::RunnerKind;
use crate::output_capture::{CapturedOutput, OutputTail, DEFAULT_OUTPUT_LIMIT};
use crate::progress::{OutputStream, ProgressEvent, ProgressSink};
use crate::run_view::ProcessStatus;

/// Largest accepted Code Mode instructions file, 1 MiB.
pub const MAX_INSTRUCTIONS_BYTES: u64 = 1024 * 1024;

/// How steps are run.
#[derive(Clone)]
pub struct RunnerConfig {
    /// Extra environment for command steps. It is also where the Code Mode gate is read
    /// (`CODEX_FLOWS_ENABLE_CODE_MODE`, `CODEX_FLOWS_MODE`): callers pass it explicitly.
    pub env: BTreeMap<String, String>,
    /// Names of this process's variables command steps inherit besides the default allow-list
    /// (`PATH`, `HOME`, `USER`, `LOGNAME`, `SHELL`, `LANG`, `LANGUAGE`, `TERM`, `TZ`, `TMPDIR`,
    /// `LC_*`). Everything else (backend tokens, model API keys) is not passed on.
    pub env_passthrough: Vec<String>,
    /// The Code Mode executor (the SDK adapter), if any.
    pub code_mode: Option<Arc<dyn CodeModeExecutor>>,
    /// Client-level Code Mode defaults.
    pub code_mode_defaults: CodeModeDefaults,
    /// Bound of each captured stream.
    pub output_limit: usize,
    /// Time between SIGTERM and SIGKILL when a step is stopped.
    pub kill_grace: Duration,
    /// `runtime.launchedBy` / `CODEX_FLOW_LAUNCHED_BY`.
    pub launched_by: Option<String>,
    /// `runtime.workspaceBackendUrl` / `CODEX_WORKSPACE_BACKEND_WS_URL`.
    pub workspace_backend_url: Option<String>,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            env: BTreeMap::new(),
            env_passthrough: Vec::new(),
            code_mode: None,
            code_mode_defaults: CodeModeDefaults::default(),
            output_limit: DEFAULT_OUTPUT_LIMIT,
            kill_grace: Duration::from_secs(2),
            launched_by: None,
            workspace_backend_url: None,
        }
    }
}

impl std::fmt::Debug for RunnerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunnerConfig")
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("env_passthrough", &self.env_passthrough)
            .field("code_mode", &self.code_mode.is_some())
            .field("code_mode_defaults", &self.code_mode_defaults)
            .field("output_limit", &self.output_limit)
            .field("kill_grace", &self.kill_grace)
            .field("launched_by", &self.launched_by)
            .field("workspace_backend_url", &self.workspace_backend_url)
            .finish()
    }
}

/// What one step execution produced.
#[derive(Debug)]
pub struct StepOutcome {
    /// `completed` (a valid FLOW_RESULT and a clean end), `failed` or `canceled`.
    pub process_status: ProcessStatus,
    /// The FLOW_RESULT, when one was read.
    pub result: Option<FlowResult>,
    /// Why the step failed or was canceled.
    pub error: Option<FlowError>,
    /// The exit code of a command step.
    pub exit_code: Option<i32>,
    /// Captured stdout (agent text for Code Mode).
    pub stdout: CapturedOutput,
    /// Captured stderr.
    pub stderr: CapturedOutput,
}

/// Runs steps with a [`RunnerConfig`].
#[derive(Debug, Clone, Default)]
pub struct StepRunner {
    config: RunnerConfig,
}

impl StepRunner {
    /// A runner with this configuration.
    pub fn new(config: RunnerConfig) -> Self {
        StepRunner { config }
    }

    /// The configuration.
    pub fn config(&self) -> &RunnerConfig {
        &self.config
    }

    /// Runs `step` of `flow` for `event`. `runtime` carries the ids; its `launchedBy` and
    /// `workspaceBackendUrl` default to the configuration's.
    pub async fn run(
        &self,
        flow: &LoadedFlow,
        step: &LoadedStep,
        event: &FlowEvent,
        mut runtime: RuntimeMetadata,
        cancel: &CancellationToken,
        progress: &ProgressSink,
    ) -> StepOutcome {
        if runtime.launched_by.is_none() {
            runtime.launched_by = self.config.launched_by.clone();
        }
        if runtime.workspace_backend_url.is_none() {
            runtime.workspace_backend_url = self.config.workspace_backend_url.clone();
        }
        let context = StepContext::new(flow, step, event, runtime.clone());
        match step.manifest.runner {
            RunnerKind::CodeMode => {
                self.run_code_mode(flow, step, &context, cancel, progress)
                    .await
            }
            _ => {
                self.run_command_step(flow, step, &context, cancel, progress)
                    .await
            }
        }
    }

    async fn run_command_step(
        &self,
        flow: &LoadedFlow,
        step: &LoadedStep,
        context: &StepContext,
        cancel: &CancellationToken,
        progress: &ProgressSink,
    ) -> StepOutcome {
        let stdin = serde_json::to_vec(context).unwrap_or_default();
        let (env_set, env_remove) = env_lists(&self.config.env, context.runtime.env_vars());
        let launch = CommandLaunch {
            flow: flow.name(),
            step,
            run_id: context.runtime.run_id.as_deref(),
            stdin,
            env_inherit: inherited_env(&self.config.env_passthrough),
            env_set,
            env_remove,
            path_var: self.config.env.get("PATH").cloned(),
            output_limit: self.config.output_limit,
            kill_grace: self.config.kill_grace,
            drain_timeout: Duration::from_secs(2),
        };
        let outcome = match run_command(launch, cancel, progress).await {
            Ok(outcome) => outcome,
            Err(error) => return failed(error),
        };
        let parsed = FlowResult::parse_output(&outcome.stdout.text);
        let (status, result, error, exit_code) = match outcome.end {
            CommandEnd::Exited(0) => match parsed {
                Ok(result) => (ProcessStatus::Completed, Some(result), None, Some(0)),
                Err(e) => (ProcessStatus::Failed, None, Some(e), Some(0)),
            },
            CommandEnd::Exited(code) => (
                ProcessStatus::Failed,
                parsed.ok(),
                Some(FlowError::StepExit {
                    flow: flow.name().to_string(),
                    step: step.name().to_string(),
                    status: format!("exit code {code}"),
                }),
                Some(code),
            ),
            CommandEnd::Signaled(sig) => (
                ProcessStatus::Failed,
                None,
                Some(FlowError::StepExit {
                    flow: flow.name().to_string(),
                    step: step.name().to_string(),
                    status: format!("signal {sig}"),
                }),
                None,
            ),
            CommandEnd::TimedOut => (
                ProcessStatus::Failed,
                None,
                Some(self.timeout_error(flow, step)),
                None,
            ),
            CommandEnd::Canceled => (
                ProcessStatus::Canceled,
                None,
                Some(FlowError::Canceled {
                    flow: flow.name().to_string(),
                    step: step.name().to_string(),
                }),
                None,
            ),
        };
        StepOutcome {
            process_status: status,
            result,
            error,
            exit_code,
            stdout: outcome.stdout,
            stderr: outcome.stderr,
        }
    }

    fn timeout_error(&self, flow: &LoadedFlow, step: &LoadedStep) -> FlowError {
        FlowError::Timeout {
            flow: flow.name().to_string(),
            step: step.name().to_string(),
            timeout_ms: step.manifest.timeout_ms(),
        }
    }

    async fn run_code_mode(
        &self,
        flow: &LoadedFlow,
        step: &LoadedStep,
        context: &StepContext,
        cancel: &CancellationToken,
        progress: &ProgressSink,
    ) -> StepOutcome {
        let names = || (flow.name().to_string(), step.name().to_string());
        if !code_mode_enabled(&self.config.env) {
            let (flow, step) = names();
            return failed(FlowError::CodeModeDisabled { flow, step });
        }
        let Some(executor) = self.config.code_mode.clone() else {
            let (flow, step) = names();
            return failed(FlowError::NoCodeModeExecutor { flow, step });
        };
        let instructions = match read_instructions(step) {
            Ok(text) => text,
            Err(e) => return failed(e),
        };
        let defaults = &self.config.code_mode_defaults;
        let request = CodeModeRequest {
            instructions,
            context: context.to_value(),
            cwd: step.cwd.clone(),
            output_schema: code_mode_output_schema(),
            model: step
                .manifest
                .model
                .clone()
                .or_else(|| defaults.model.clone()),
            sandbox: Some(
                step.manifest
                    .sandbox
                    .or(defaults.sandbox)
                    .unwrap_or(DEFAULT_SANDBOX)
                    .as_str()
                    .to_string(),
            ),
            approval: Some(
                step.manifest
                    .approval
                    .or(defaults.approval)
                    .unwrap_or(DEFAULT_APPROVAL)
                    .as_str()
                    .to_string(),
            ),
            timeout: step.timeout,
            flow: flow.name().to_string(),
            step: step.name().to_string(),
        };
        let reply = tokio::select! {
            reply = executor.execute(request) => reply,
            _ = tokio::time::sleep(step.timeout) => Err(self.timeout_error(flow, step)),
            _ = cancel.cancelled() => {
                let (flow, step) = names();
                return StepOutcome {
                    process_status: ProcessStatus::Canceled,
                    ..failed(FlowError::Canceled { flow, step })
                };
            }
        };
        let reply = match reply {
            Ok(reply) => reply,
            Err(e) => return failed(e),
        };
        let mut tail = OutputTail::new(self.config.output_limit);
        tail.push(reply.agent_text.as_bytes());
        for line in reply.agent_text.lines() {
            progress(&ProgressEvent::Output {
                run_id: context.runtime.run_id.clone(),
                flow: flow.name().to_string(),
                step: step.name().to_string(),
                stream: OutputStream::Agent,
                line: line.to_string(),
            });
        }
        let parsed = match reply.structured {
            Some(value) => FlowResult::from_code_mode_output(value),
            None => FlowResult::parse_output(&reply.agent_text),
        };
        let (process_status, result, error) = match parsed {
            Ok(result) => (ProcessStatus::Completed, Some(result), None),
            Err(e) => (ProcessStatus::Failed, None, Some(e)),
        };
        StepOutcome {
            process_status,
            result,
            error,
            exit_code: None,
            stdout: tail.snapshot(),
            stderr: CapturedOutput::default(),
        }
    }
}

fn read_instructions(step: &LoadedStep) -> Result<String, FlowError> {
    let path = &step.script_path;
    let meta = std::fs::metadata(path)
        .map_err(|e| FlowError::io(format!("cannot read {}", path.display()), e))?;
    if meta.len() > MAX_INSTRUCTIONS_BYTES {
        return Err(FlowError::CodeMode(format!(
            "instructions {} are {} bytes, over the limit of {MAX_INSTRUCTIONS_BYTES}",
            path.display(),
            meta.len()
        )));
    }
    std::fs::read_to_string(path)
        .map_err(|e| FlowError::io(format!("cannot read {}", path.display()), e))
}

fn failed(error: FlowError) -> StepOutcome {
    StepOutcome {
        process_status: ProcessStatus::Failed,
        result: None,
        error: Some(error),
        exit_code: None,
        stdout: CapturedOutput::default(),
        stderr: CapturedOutput::default(),
    }
}
