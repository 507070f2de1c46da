//! [`SessionConfig`]: the settings of one session.

use crate::plugin::{Hooks, PostHook, PreHook};
use crate::rpc::TimeoutAction;
use crate::runtime::approvals::{ApprovalConfig, ApprovalHandler};
use crate::runtime::profile::{ApprovalMode, Attachment, Effort, RunProfile, Sandbox};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Settings of one session. `SessionConfig::new(cwd)` has the safe defaults of
/// [`RunProfile`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SessionConfig {
    /// Working directory of the thread.
    pub cwd: PathBuf,
    /// Model, effort, approval, sandbox, timeout, attachments.
    pub profile: RunProfile,
    /// Approval handling (falls back to the client's).
    pub approvals: Option<ApprovalConfig>,
    /// Session hooks (run after the client's).
    pub hooks: Hooks,
    /// Replaces codex's base instructions.
    pub base_instructions: Option<String>,
    /// Extra developer instructions.
    pub developer_instructions: Option<String>,
    /// Do not persist the thread.
    pub ephemeral: bool,
    /// A name for the thread.
    pub name: Option<String>,
}

impl SessionConfig {
    /// A session in `cwd` with the safe defaults.
    pub fn new(cwd: impl Into<PathBuf>) -> Self {
        SessionConfig {
            cwd: cwd.into(),
            profile: RunProfile::default(),
            approvals: None,
            hooks: Hooks::default(),
            base_instructions: None,
            developer_instructions: None,
            ephemeral: false,
            name: None,
        }
    }
    /// Replaces the run profile.
    pub fn with_profile(mut self, profile: RunProfile) -> Self {
        self.profile = profile;
        self
    }
    /// Sets the model.
    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.profile.model = Some(model.into());
        self
    }
    /// Sets the effort.
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
    /// Sets the turn timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.profile.timeout = timeout;
        self
    }
    /// Sets the turn watchdog's silence (default 20 s; see
    /// [`RunProfile::watchdog`](crate::runtime::RunProfile::watchdog)).
    pub fn with_watchdog(mut self, silence: Duration) -> Self {
        self.profile.watchdog = silence;
        self
    }
    /// Allows `danger-full-access` and approving escalated requests.
    pub fn allow_privileged_escalation(mut self) -> Self {
        self.profile.privileged_escalation = true;
        self
    }
    /// Attaches a file to every prompt.
    pub fn attach_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.profile.attachments.push(Attachment::Path(path.into()));
        self
    }
    /// Sets the approval handler.
    pub fn with_approval_handler(mut self, handler: impl ApprovalHandler) -> Self {
        let mut a = self.approvals.take().unwrap_or_default();
        a.handler = Some(Arc::new(handler));
        self.approvals = Some(a);
        self
    }
    /// Sets how long the approval handler may take and what a late answer becomes.
    pub fn with_approval_timeout(mut self, timeout: Duration, action: TimeoutAction) -> Self {
        let mut a = self.approvals.take().unwrap_or_default();
        a.timeout = timeout;
        a.timeout_action = action;
        self.approvals = Some(a);
        self
    }
    /// Adds a session pre hook.
    pub fn with_pre_hook(mut self, hook: impl PreHook + 'static) -> Self {
        self.hooks.add_pre(hook);
        self
    }
    /// Adds a session post hook.
    pub fn with_post_hook(mut self, hook: impl PostHook + 'static) -> Self {
        self.hooks.add_post(hook);
        self
    }
    /// Replaces the session hooks.
    pub fn with_hooks(mut self, hooks: Hooks) -> Self {
        self.hooks = hooks;
        self
    }
    /// Sets developer instructions.
    pub fn with_developer_instructions(mut self, text: impl Into<String>) -> Self {
        self.developer_instructions = Some(text.into());
        self
    }
    /// Replaces the base instructions.
    pub fn with_base_instructions(mut self, text: impl Into<String>) -> Self {
        self.base_instructions = Some(text.into());
        self
    }
    /// Does not persist the thread.
    pub fn ephemeral(mut self) -> Self {
        self.ephemeral = true;
        self
    }
    /// Names the thread.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    /// Adds a tool the model can call (cargo feature `tools`; see [`crate::tools`]).
    #[cfg(feature = "tools")]
    pub fn with_tool(mut self, tool: crate::tools::Tool) -> Self {
        self.profile.tools.push(tool);
        self
    }
    /// Adds several tools (cargo feature `tools`).
    #[cfg(feature = "tools")]
    pub fn with_tools(mut self, tools: impl IntoIterator<Item = crate::tools::Tool>) -> Self {
        self.profile.tools.extend(tools);
        self
    }
}
