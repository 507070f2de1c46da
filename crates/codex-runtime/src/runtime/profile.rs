//! Run settings with safe defaults: approval `never`, sandbox `read-only`, effort `medium`,
//! timeout 120 s, privileged escalation off. Every default can be overridden per session
//! ([`crate::runtime::SessionConfig`]) and per turn ([`TurnOverrides`]).

use codex_runtime_protocol::{
    AskForApproval, ReadOnlySandboxPolicy, SandboxMode, SandboxPolicy, WorkspaceWriteSandboxPolicy,
};
use std::path::PathBuf;
use std::time::Duration;

pub use codex_hooks::Attachment;

/// When codex asks the client before acting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
#[non_exhaustive]
pub enum ApprovalMode {
    /// Never ask; what the sandbox forbids fails (the safe default).
    #[default]
    Never,
    /// The model may ask for approval (e.g. to escalate out of the sandbox).
    OnRequest,
    /// Ask before every command and patch that is not known-safe.
    Untrusted,
}

impl ApprovalMode {
    /// The protocol value.
    pub fn to_protocol(self) -> AskForApproval {
        match self {
            ApprovalMode::Never => AskForApproval::Never,
            ApprovalMode::OnRequest => AskForApproval::OnRequest,
            ApprovalMode::Untrusted => AskForApproval::Untrusted,
        }
    }
}

/// What commands may touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
#[non_exhaustive]
pub enum Sandbox {
    /// Read anything, write nothing (the safe default).
    #[default]
    ReadOnly,
    /// Write inside the working directory (and configured roots).
    WorkspaceWrite,
    /// No sandbox. Needs [`RunProfile::allow_privileged_escalation`].
    DangerFullAccess,
}

impl Sandbox {
    /// The thread-level protocol value.
    pub fn to_mode(self) -> SandboxMode {
        match self {
            Sandbox::ReadOnly => SandboxMode::ReadOnly,
            Sandbox::WorkspaceWrite => SandboxMode::WorkspaceWrite,
            Sandbox::DangerFullAccess => SandboxMode::DangerFullAccess,
        }
    }

    /// The turn-level protocol value.
    pub fn to_policy(self) -> SandboxPolicy {
        match self {
            Sandbox::ReadOnly => SandboxPolicy::ReadOnly(ReadOnlySandboxPolicy::default()),
            Sandbox::WorkspaceWrite => {
                SandboxPolicy::WorkspaceWrite(WorkspaceWriteSandboxPolicy::default())
            }
            Sandbox::DangerFullAccess => SandboxPolicy::DangerFullAccess,
        }
    }
}

/// Reasoning effort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
#[non_exhaustive]
pub enum Effort {
    /// Fastest.
    Minimal,
    /// Low.
    Low,
    /// Medium (the default).
    #[default]
    Medium,
    /// High.
    High,
    /// Extra high.
    XHigh,
}

impl Effort {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Effort::Minimal => "minimal",
            Effort::Low => "low",
            Effort::Medium => "medium",
            Effort::High => "high",
            Effort::XHigh => "xhigh",
        }
    }
}

/// Settings for runs: model, effort, approval, sandbox, timeout, attachments.
///
/// ```
/// use codex_runtime::runtime::{RunProfile, ApprovalMode, Sandbox, Effort};
/// let p = RunProfile::default();
/// assert_eq!(p.approval, ApprovalMode::Never);
/// assert_eq!(p.sandbox, Sandbox::ReadOnly);
/// assert_eq!(p.effort, Effort::Medium);
/// assert_eq!(p.timeout, std::time::Duration::from_secs(120));
/// assert_eq!(p.watchdog, std::time::Duration::from_secs(20));
/// assert!(!p.privileged_escalation);
/// let p = RunProfile::new().with_model("gpt-5").with_sandbox(Sandbox::WorkspaceWrite);
/// # let _ = p;
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RunProfile {
    /// Model; `None` uses codex's configured model.
    pub model: Option<String>,
    /// Reasoning effort.
    pub effort: Effort,
    /// Approval policy.
    pub approval: ApprovalMode,
    /// Sandbox.
    pub sandbox: Sandbox,
    /// How long one turn may take before it is interrupted and reported as a timeout.
    pub timeout: Duration,
    /// The turn watchdog (default 20 s): after the turn's last item completed, this long
    /// without any event makes the driver read the thread (`thread/read`). When codex's record
    /// says the turn ended, it finishes from the record (a `turn/completed` that never came);
    /// otherwise the driver waits up to [`RunProfile::timeout`], then interrupts the turn and
    /// fails it with [`crate::Error::TurnStalled`].
    pub watchdog: Duration,
    /// Allow `danger-full-access` and approvals of escalated (out-of-sandbox) requests.
    pub privileged_escalation: bool,
    /// Files, images and skills attached to every prompt.
    pub attachments: Vec<Attachment>,
    /// Tools written in Rust that the model can call (cargo feature `tools`; see
    /// [`crate::tools`]). Each session gets its own MCP server for them.
    #[cfg(feature = "tools")]
    pub tools: Vec<crate::tools::Tool>,
}

impl Default for RunProfile {
    fn default() -> Self {
        RunProfile {
            model: None,
            effort: Effort::Medium,
            approval: ApprovalMode::Never,
            sandbox: Sandbox::ReadOnly,
            timeout: Duration::from_secs(120),
            watchdog: Duration::from_secs(20),
            privileged_escalation: false,
            attachments: Vec::new(),
            #[cfg(feature = "tools")]
            tools: Vec::new(),
        }
    }
}

impl RunProfile {
    /// The safe defaults.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the model.
    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }
    /// Sets the effort.
    pub fn with_effort(mut self, effort: Effort) -> Self {
        self.effort = effort;
        self
    }
    /// Sets the approval policy.
    pub fn with_approval(mut self, approval: ApprovalMode) -> Self {
        self.approval = approval;
        self
    }
    /// Adds a tool the model can call (cargo feature `tools`).
    #[cfg(feature = "tools")]
    pub fn with_tool(mut self, tool: crate::tools::Tool) -> Self {
        self.tools.push(tool);
        self
    }
    /// Sets the sandbox.
    pub fn with_sandbox(mut self, sandbox: Sandbox) -> Self {
        self.sandbox = sandbox;
        self
    }
    /// Sets the turn timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    /// Sets the turn watchdog's silence (see [`RunProfile::watchdog`]).
    pub fn with_watchdog(mut self, silence: Duration) -> Self {
        self.watchdog = silence;
        self
    }
    /// Allows `danger-full-access` and approving escalated requests.
    pub fn allow_privileged_escalation(mut self) -> Self {
        self.privileged_escalation = true;
        self
    }
    /// Attaches a file to every prompt (`@path` in the prompt text, as codex clients do).
    pub fn attach_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.attachments.push(Attachment::Path(path.into()));
        self
    }
    /// Attaches an attachment to every prompt.
    pub fn attach(mut self, attachment: Attachment) -> Self {
        self.attachments.push(attachment);
        self
    }

    /// Refuses settings that need privileged escalation when it was not allowed.
    pub fn validate(&self) -> crate::Result<()> {
        if self.sandbox == Sandbox::DangerFullAccess && !self.privileged_escalation {
            return Err(crate::Error::Config(
                "sandbox `danger-full-access` requires RunProfile::allow_privileged_escalation()"
                    .to_string(),
            ));
        }
        if self.timeout.is_zero() {
            return Err(crate::Error::Config(
                "turn timeout must be greater than zero".to_string(),
            ));
        }
        if self.watchdog.is_zero() {
            return Err(crate::Error::Config(
                "turn watchdog (RunProfile::watchdog) must be greater than zero".to_string(),
            ));
        }
        Ok(())
    }
}

/// Per-turn overrides of the session's profile (`None` keeps the session's value).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct TurnOverrides {
    /// Model for this turn.
    pub model: Option<String>,
    /// Effort for this turn.
    pub effort: Option<Effort>,
    /// Approval policy for this turn.
    pub approval: Option<ApprovalMode>,
    /// Sandbox for this turn.
    pub sandbox: Option<Sandbox>,
    /// Timeout for this turn.
    pub timeout: Option<Duration>,
    /// Watchdog silence for this turn (see [`RunProfile::watchdog`]).
    pub watchdog: Option<Duration>,
    /// Extra attachments for this turn.
    pub attachments: Vec<Attachment>,
    /// JSON Schema the final answer must obey (sent as `outputSchema`).
    pub output_schema: Option<serde_json::Value>,
}

impl TurnOverrides {
    /// No overrides.
    pub fn new() -> Self {
        Self::default()
    }
    /// Model for this turn.
    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }
    /// Effort for this turn.
    pub fn with_effort(mut self, effort: Effort) -> Self {
        self.effort = Some(effort);
        self
    }
    /// Approval for this turn.
    pub fn with_approval(mut self, approval: ApprovalMode) -> Self {
        self.approval = Some(approval);
        self
    }
    /// Sandbox for this turn.
    pub fn with_sandbox(mut self, sandbox: Sandbox) -> Self {
        self.sandbox = Some(sandbox);
        self
    }
    /// Timeout for this turn.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
    /// Watchdog silence for this turn (see [`RunProfile::watchdog`]).
    pub fn with_watchdog(mut self, silence: Duration) -> Self {
        self.watchdog = Some(silence);
        self
    }
    /// Adds an attachment for this turn.
    pub fn attach(mut self, attachment: Attachment) -> Self {
        self.attachments.push(attachment);
        self
    }
    /// Requires the answer to obey this JSON Schema.
    pub fn with_output_schema(mut self, schema: serde_json::Value) -> Self {
        self.output_schema = Some(schema);
        self
    }

    /// The profile with these overrides applied.
    pub fn apply(&self, base: &RunProfile) -> RunProfile {
        let mut p = base.clone();
        if let Some(m) = &self.model {
            p.model = Some(m.clone());
        }
        if let Some(e) = self.effort {
            p.effort = e;
        }
        if let Some(a) = self.approval {
            p.approval = a;
        }
        if let Some(s) = self.sandbox {
            p.sandbox = s;
        }
        if let Some(t) = self.timeout {
            p.timeout = t;
        }
        if let Some(w) = self.watchdog {
            p.watchdog = w;
        }
        p.attachments.extend(self.attachments.iter().cloned());
        p
    }
}
