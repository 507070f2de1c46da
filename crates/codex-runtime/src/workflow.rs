//! Layers 1 and 2: [`quick_run`] for one prompt, [`Workflow`] for repeated runs in one working
//! directory.
//!
//! A *run* is one prompt on a fresh thread: `PreRun` hooks, session start (`PreSessionStart`,
//! `PostSessionStart`), one turn (`PreTurn`, `PreToolUse`/`PostToolUse` for the tools it uses,
//! `PostTurn`), then `PostRun`.

use crate::error::{Error, Result};
use crate::plugin::{
    FailureMode, HookContext, HookMatcher, HookPhase, HookRegistration, Hooks, PostHook, PreHook,
    ShellCommandHook,
};
use crate::rpc::TimeoutAction;
use crate::runtime::{
    ApprovalConfig, ApprovalHandler, ApprovalMode, Client, ClientConfig, Effort, RunProfile,
    Sandbox, Session, SessionConfig, TurnOutput,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The result of one run: the turn output plus where it ran.
pub type RunOutput = TurnOutput;

/// Configuration of a [`Workflow`]: the working directory, the run profile (safe defaults),
/// how to reach codex, and hooks.
///
/// ```
/// use codex_runtime::WorkflowConfig;
/// use codex_runtime::runtime::{Effort, Sandbox};
/// let cfg = WorkflowConfig::new("/tmp/project")
///     .with_model("gpt-5")
///     .with_effort(Effort::High)
///     .with_sandbox(Sandbox::WorkspaceWrite)
///     .with_timeout(std::time::Duration::from_secs(300))
///     .attach_path("README.md")
///     .with_shell_pre_hook(["./scripts/policy-check.sh"]);
/// # let _ = cfg;
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WorkflowConfig {
    /// Working directory of every run.
    pub cwd: PathBuf,
    /// Model, effort, approval, sandbox, timeout, attachments.
    pub profile: RunProfile,
    /// How to reach codex, plus client-wide hooks and approvals.
    pub client: ClientConfig,
    /// Hooks that fire only at `PreRun` / `PostRun`.
    pub run_hooks: Hooks,
    /// Timeout of shell hooks added with `with_shell_*_hook`.
    pub shell_hook_timeout: Duration,
    /// What a failure of a shell hook added with `with_shell_*_hook` (missing script, exit
    /// code other than 0 and 2, signal, invalid output, timeout) does: [`FailureMode::Open`]
    /// (the default) records it in `TurnOutput::hook_issues` and lets the run go on;
    /// [`FailureMode::Closed`] blocks like exit 2 ([`Error::HookBlocked`]).
    pub shell_hook_failure_mode: FailureMode,
    shell_pre: Vec<Vec<String>>,
    shell_post: Vec<Vec<String>>,
    /// Approval handling for every run.
    pub approvals: Option<ApprovalConfig>,
}

fn phases(list: &[HookPhase]) -> HookRegistration {
    HookRegistration {
        matcher: HookMatcher::any().phases(list.iter().copied()),
        ..HookRegistration::default()
    }
}

impl WorkflowConfig {
    /// Runs in `cwd` with the safe defaults.
    pub fn new(cwd: impl Into<PathBuf>) -> Self {
        WorkflowConfig {
            cwd: cwd.into(),
            profile: RunProfile::default(),
            client: ClientConfig::new(),
            run_hooks: Hooks::default(),
            shell_hook_timeout: Duration::from_secs(30),
            shell_hook_failure_mode: FailureMode::Open,
            shell_pre: Vec::new(),
            shell_post: Vec::new(),
            approvals: None,
        }
    }
    /// Sets the model.
    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.profile.model = Some(model.into());
        self
    }
    /// Sets the reasoning effort.
    pub fn with_effort(mut self, effort: Effort) -> Self {
        self.profile.effort = effort;
        self
    }
    /// Sets the sandbox.
    pub fn with_sandbox(mut self, sandbox: Sandbox) -> Self {
        self.profile.sandbox = sandbox;
        self
    }
    /// Sets the approval policy.
    pub fn with_approval(mut self, approval: ApprovalMode) -> Self {
        self.profile.approval = approval;
        self
    }
    /// Adds a tool the model can call in every run (cargo feature `tools`).
    #[cfg(feature = "tools")]
    pub fn with_tool(mut self, tool: crate::tools::Tool) -> Self {
        self.profile.tools.push(tool);
        self
    }
    /// Sets the per-turn timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.profile.timeout = timeout;
        self
    }
    /// Attaches a file (an `@path` mention) to every prompt.
    pub fn attach_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.profile = self.profile.attach_path(path);
        self
    }
    /// Uses this codex binary.
    pub fn with_cli_bin(mut self, bin: impl Into<PathBuf>) -> Self {
        self.client = self.client.with_cli_bin(bin);
        self
    }
    /// Opts in to the experimental API.
    pub fn enable_experimental_api(mut self) -> Self {
        self.client = self.client.enable_experimental_api();
        self
    }
    /// Allows `danger-full-access` and approving escalated requests.
    pub fn allow_privileged_escalation(mut self) -> Self {
        self.profile.privileged_escalation = true;
        self
    }
    /// Replaces the client configuration (binary, `CODEX_HOME`, env, attach...).
    pub fn with_client_config(mut self, client: ClientConfig) -> Self {
        self.client = client;
        self
    }
    /// Replaces the run profile.
    pub fn with_profile(mut self, profile: RunProfile) -> Self {
        self.profile = profile;
        self
    }
    /// Sets the approval handler for every run.
    pub fn with_approval_handler(mut self, handler: impl ApprovalHandler) -> Self {
        let mut a = self.approvals.take().unwrap_or_default();
        a.handler = Some(Arc::new(handler));
        self.approvals = Some(a);
        self
    }
    /// Sets the approval handler timeout and what a late answer becomes.
    pub fn with_approval_timeout(mut self, timeout: Duration, action: TimeoutAction) -> Self {
        let mut a = self.approvals.take().unwrap_or_default();
        a.timeout = timeout;
        a.timeout_action = action;
        self.approvals = Some(a);
        self
    }
    /// A pre hook for every phase (filter inside the hook, or use the registration helpers of
    /// [`Hooks`] through [`WorkflowConfig::client`]).
    pub fn with_global_pre_hook(mut self, hook: impl PreHook + 'static) -> Self {
        self.client.hooks.add_pre(hook);
        self
    }
    /// A post hook for every phase.
    pub fn with_global_post_hook(mut self, hook: impl PostHook + 'static) -> Self {
        self.client.hooks.add_post(hook);
        self
    }
    /// A pre hook that fires only at `PreToolUse` (approval-gated tool requests); it can block
    /// them.
    pub fn with_global_pre_tool_use_hook(mut self, hook: impl PreHook + 'static) -> Self {
        self.client
            .hooks
            .add_pre_with(hook, phases(&[HookPhase::PreToolUse]));
        self
    }
    /// A pre hook that fires only at `PreRun`.
    pub fn with_run_pre_hook(mut self, hook: impl PreHook + 'static) -> Self {
        self.run_hooks
            .add_pre_with(hook, phases(&[HookPhase::PreRun]));
        self
    }
    /// A post hook that fires only at `PostRun`.
    pub fn with_run_post_hook(mut self, hook: impl PostHook + 'static) -> Self {
        self.run_hooks
            .add_post_with(hook, phases(&[HookPhase::PostRun]));
        self
    }
    /// A shell command run as a pre hook at every pre phase: the hook context arrives as JSON on
    /// stdin; exit 2 blocks, JSON on stdout is a patch.
    pub fn with_shell_pre_hook<I, S>(mut self, argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.shell_pre
            .push(argv.into_iter().map(Into::into).collect());
        self
    }
    /// A shell command run as a post hook at every post phase.
    pub fn with_shell_post_hook<I, S>(mut self, argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.shell_post
            .push(argv.into_iter().map(Into::into).collect());
        self
    }
    /// Timeout of the shell hooks (the child's process group is killed when it passes).
    pub fn with_shell_pre_hook_timeout(mut self, timeout: Duration) -> Self {
        self.shell_hook_timeout = timeout;
        self
    }

    /// Whether shell hooks fail open (the default: a failing script is recorded in
    /// `TurnOutput::hook_issues` and the run goes on) or closed (a failing script blocks, like
    /// exit 2).
    ///
    /// ```
    /// use codex_runtime::plugin::FailureMode;
    /// use codex_runtime::WorkflowConfig;
    /// let cfg = WorkflowConfig::new("/tmp/project")
    ///     .with_shell_pre_hook(["./scripts/policy-check.sh"])
    ///     .with_shell_hook_failure_mode(FailureMode::Closed);
    /// assert_eq!(cfg.shell_hook_failure_mode, FailureMode::Closed);
    /// ```
    pub fn with_shell_hook_failure_mode(mut self, mode: FailureMode) -> Self {
        self.shell_hook_failure_mode = mode;
        self
    }

    fn build_client_config(&self) -> ClientConfig {
        let mut client = self.client.clone();
        for argv in &self.shell_pre {
            client.hooks.add_pre(
                ShellCommandHook::new("shell-pre-hook", argv.clone())
                    .with_timeout(self.shell_hook_timeout)
                    .with_failure_mode(self.shell_hook_failure_mode),
            );
        }
        for argv in &self.shell_post {
            client.hooks.add_post(
                ShellCommandHook::new("shell-post-hook", argv.clone())
                    .with_timeout(self.shell_hook_timeout)
                    .with_failure_mode(self.shell_hook_failure_mode),
            );
        }
        client
    }
}

/// Repeated runs in one working directory on one app-server.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use codex_runtime::{Workflow, WorkflowConfig};
/// let wf = Workflow::connect(WorkflowConfig::new(".")).await?;
/// let out = wf.run("List the crates of this workspace.").await?;
/// println!("{}", out.assistant_text);
/// wf.shutdown().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Workflow {
    client: Client,
    config: Arc<WorkflowConfig>,
}

impl Workflow {
    /// Connects per `config`.
    pub async fn connect(config: WorkflowConfig) -> Result<Workflow> {
        config.profile.validate()?;
        let client = Client::connect(config.build_client_config()).await?;
        Ok(Workflow {
            client,
            config: Arc::new(config),
        })
    }

    /// Connects with the defaults in `cwd` (codex from `CODEX_BIN` or `PATH`).
    pub async fn connect_default(cwd: impl Into<PathBuf>) -> Result<Workflow> {
        Self::connect(WorkflowConfig::new(cwd)).await
    }

    /// The client underneath.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// A session in the workflow's directory with its profile, approvals and hooks.
    pub async fn setup_session(&self) -> Result<Session> {
        let mut cfg =
            SessionConfig::new(&self.config.cwd).with_profile(self.config.profile.clone());
        cfg.approvals = self.config.approvals.clone();
        self.client.start_session(cfg).await
    }

    /// One run: a fresh thread, one turn, `PreRun`/`PostRun` hooks around it. The thread stays
    /// stored (resume it with [`Client::resume_session`] and the output's `thread_id`).
    #[tracing::instrument(level = "debug", skip(self, prompt))]
    pub async fn run(&self, prompt: impl Into<String>) -> Result<RunOutput> {
        let mut prompt = prompt.into();
        let cwd = &self.config.cwd;
        let run_hooks = self.client.config().hooks.merge(&self.config.run_hooks);
        let ctx = HookContext::new(HookPhase::PreRun, cwd.clone()).with_prompt(prompt.clone());
        let pre = run_hooks.run_pre(&ctx).await;
        let mut issues = pre.issues;
        if let Some(b) = pre.blocked {
            return Err(Error::HookBlocked {
                hook: b.hook,
                reason: b.reason,
            });
        }
        if let Some(p) = pre.patch.prompt {
            prompt = p;
        }
        let session = self.setup_session().await?;
        let result = session.ask(prompt.clone()).await;
        let mut ctx = HookContext::new(HookPhase::PostRun, cwd.clone()).with_prompt(prompt);
        ctx.thread_id = Some(session.thread_id().to_string());
        if let Ok(out) = &result {
            ctx.turn_id = Some(out.turn_id.clone());
        }
        let post = run_hooks.run_post(&ctx).await;
        issues.extend(post.issues);
        let mut out = result?;
        issues.append(&mut out.hook_issues);
        out.hook_issues = issues;
        if let Some(b) = post.blocked {
            return Err(Error::HookBlocked {
                hook: b.hook,
                reason: b.reason,
            });
        }
        Ok(out)
    }

    /// Graceful stop of the app-server.
    pub async fn shutdown(&self) -> Result<()> {
        self.client.shutdown().await
    }
}

/// Layer 1: one prompt on a disposable session with the safe defaults. Connects (codex from
/// `CODEX_BIN` or `PATH`), runs one turn on a new thread, and shuts down, also when the turn
/// fails.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let out = codex_runtime::quick_run(".", "What does this project do?").await?;
/// println!("{} ({}/{})", out.assistant_text, out.thread_id, out.turn_id);
/// # Ok(()) }
/// ```
pub async fn quick_run(cwd: impl AsRef<Path>, prompt: impl Into<String>) -> Result<RunOutput> {
    quick_run_with_profile(cwd, prompt, RunProfile::default()).await
}

/// [`quick_run`] with a [`RunProfile`].
pub async fn quick_run_with_profile(
    cwd: impl AsRef<Path>,
    prompt: impl Into<String>,
    profile: RunProfile,
) -> Result<RunOutput> {
    let config = WorkflowConfig::new(cwd.as_ref()).with_profile(profile);
    let wf = Workflow::connect(config).await?;
    let result = wf.run(prompt).await;
    let shutdown = wf.shutdown().await;
    let out = result?;
    shutdown?;
    Ok(out)
}
