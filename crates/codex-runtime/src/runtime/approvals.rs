//! Approvals: async handlers, per request kind, for what codex asks the client.
//!
//! Implement [`ApprovalHandler`] (every method defaults to the fail-closed answer) or build one
//! from closures with [`Approvals`]. With no handler, approvals are declined and other requests
//! answered with an error. A handler that does not answer within
//! [`ApprovalConfig::timeout`] gets [`ApprovalConfig::timeout_action`] (decline, cancel or
//! error). Handlers run on their own tasks, so a slow handler on one thread delays no other.
//! A handler that panics (in the call or in its future) fails closed: the request gets the
//! fail-closed answer at once and the turn goes on; `ask_stream` shows a
//! [`TurnEvent::HandlerPanicked`](crate::runtime::TurnEvent::HandlerPanicked) and the runtime a
//! [`ProtocolIssueKind::HandlerPanicked`](crate::rpc::connection::ProtocolIssueKind::HandlerPanicked).
//!
//! Privileged escalation (a command asking to leave the sandbox, extra permissions, network
//! access) is declined before any handler sees it unless the profile says
//! [`crate::runtime::RunProfile::allow_privileged_escalation`].

use crate::rpc::TimeoutAction;
use codex_runtime_protocol::{
    CommandExecutionRequestApprovalParams, DynamicToolCallParams, DynamicToolCallResponse,
    FileChangeRequestApprovalParams, McpServerElicitationRequestParams,
    PermissionsRequestApprovalParams, PermissionsRequestApprovalResponse,
    ToolRequestUserInputParams, ToolRequestUserInputResponse,
};
use futures::future::BoxFuture;
use serde_json::{json, Value};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// A decision on a command, file change or MCP elicitation.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ApprovalDecision {
    /// Allow this once.
    Accept,
    /// Allow this and similar requests for the rest of the session.
    AcceptForSession,
    /// Refuse; the turn continues (the item ends `declined`).
    Decline,
    /// Refuse and stop the turn (it ends `interrupted`).
    Cancel,
    /// A raw protocol decision value, e.g. `{"acceptWithExecpolicyAmendment": {...}}`.
    Custom(Value),
}

impl ApprovalDecision {
    /// The `decision` value for command and file-change approvals.
    pub fn to_decision_value(&self) -> Value {
        match self {
            ApprovalDecision::Accept => json!("accept"),
            ApprovalDecision::AcceptForSession => json!("acceptForSession"),
            ApprovalDecision::Decline => json!("decline"),
            ApprovalDecision::Cancel => json!("cancel"),
            ApprovalDecision::Custom(v) => v.clone(),
        }
    }

    /// The `action` value for MCP elicitations.
    pub fn to_elicitation_action(&self) -> Value {
        match self {
            ApprovalDecision::Accept | ApprovalDecision::AcceptForSession => json!("accept"),
            ApprovalDecision::Cancel => json!("cancel"),
            ApprovalDecision::Decline => json!("decline"),
            ApprovalDecision::Custom(v) => v.clone(),
        }
    }
}

/// Answers what codex asks. Every method defaults to the fail-closed answer.
pub trait ApprovalHandler: Send + Sync + 'static {
    /// A command wants to run (`item/commandExecution/requestApproval`).
    fn command(
        &self,
        request: CommandExecutionRequestApprovalParams,
    ) -> BoxFuture<'static, ApprovalDecision> {
        let _ = request;
        Box::pin(async { ApprovalDecision::Decline })
    }
    /// A patch wants to be applied (`item/fileChange/requestApproval`).
    fn file_change(
        &self,
        request: FileChangeRequestApprovalParams,
    ) -> BoxFuture<'static, ApprovalDecision> {
        let _ = request;
        Box::pin(async { ApprovalDecision::Decline })
    }
    /// The model asks the user questions (`item/tool/requestUserInput`). `None` = error reply.
    fn user_input(
        &self,
        request: ToolRequestUserInputParams,
    ) -> BoxFuture<'static, Option<ToolRequestUserInputResponse>> {
        let _ = request;
        Box::pin(async { None })
    }
    /// Extra permissions are requested (`item/permissions/requestApproval`). `None` = grant nothing.
    fn permissions(
        &self,
        request: PermissionsRequestApprovalParams,
    ) -> BoxFuture<'static, Option<PermissionsRequestApprovalResponse>> {
        let _ = request;
        Box::pin(async { None })
    }
    /// An MCP server asks for input (`mcpServer/elicitation/request`). Content for `accept`
    /// goes in the second tuple field.
    fn mcp_elicitation(
        &self,
        request: McpServerElicitationRequestParams,
    ) -> BoxFuture<'static, (ApprovalDecision, Option<Value>)> {
        let _ = request;
        Box::pin(async { (ApprovalDecision::Decline, None) })
    }
    /// A dynamic tool is called (`item/tool/call`, experimental). `None` = error reply.
    fn dynamic_tool_call(
        &self,
        request: DynamicToolCallParams,
    ) -> BoxFuture<'static, Option<DynamicToolCallResponse>> {
        let _ = request;
        Box::pin(async { None })
    }
    /// `true` for a handler that accepts every command without looking at it
    /// ([`Approvals::accept_all`]; default `false`). Under the `untrusted` policy such a
    /// handler's command approvals are declined unless privileged escalation is allowed:
    /// codex's request does not say whether the command asked to run outside the sandbox.
    fn accepts_every_command(&self) -> bool {
        false
    }
}

type Handler<P, R> = Arc<dyn Fn(P) -> BoxFuture<'static, R> + Send + Sync>;

/// An [`ApprovalHandler`] built from closures, one per request kind; kinds without a closure
/// keep the fail-closed default.
///
/// ```
/// use codex_runtime::runtime::{Approvals, ApprovalDecision};
/// let approvals = Approvals::new()
///     .on_command(|req| async move {
///         if req.command.as_deref().is_some_and(|c| c.starts_with("ls")) {
///             ApprovalDecision::Accept
///         } else {
///             ApprovalDecision::Decline
///         }
///     })
///     .on_file_change(|_req| async { ApprovalDecision::Accept });
/// # let _ = approvals;
/// ```
#[derive(Clone, Default)]
pub struct Approvals {
    command: Option<Handler<CommandExecutionRequestApprovalParams, ApprovalDecision>>,
    file_change: Option<Handler<FileChangeRequestApprovalParams, ApprovalDecision>>,
    user_input: Option<Handler<ToolRequestUserInputParams, Option<ToolRequestUserInputResponse>>>,
    permissions: Option<
        Handler<PermissionsRequestApprovalParams, Option<PermissionsRequestApprovalResponse>>,
    >,
    dynamic_tool_call: Option<Handler<DynamicToolCallParams, Option<DynamicToolCallResponse>>>,
    /// Set by [`Approvals::accept_all`] (its command closure accepts without looking); cleared
    /// by [`Approvals::on_command`].
    blind_commands: bool,
}

impl std::fmt::Debug for Approvals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Approvals")
            .field("command", &self.command.is_some())
            .field("file_change", &self.file_change.is_some())
            .field("user_input", &self.user_input.is_some())
            .field("permissions", &self.permissions.is_some())
            .field("dynamic_tool_call", &self.dynamic_tool_call.is_some())
            .field("accepts_every_command", &self.blind_commands)
            .finish()
    }
}

fn boxed<P, R, F, Fut>(f: F) -> Handler<P, R>
where
    F: Fn(P) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
{
    Arc::new(move |p| Box::pin(f(p)))
}

impl Approvals {
    /// Everything fail-closed until a closure is set.
    pub fn new() -> Self {
        Self::default()
    }
    /// Decides commands.
    pub fn on_command<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(CommandExecutionRequestApprovalParams) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ApprovalDecision> + Send + 'static,
    {
        self.command = Some(boxed(f));
        self.blind_commands = false;
        self
    }
    /// Decides file changes.
    pub fn on_file_change<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(FileChangeRequestApprovalParams) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ApprovalDecision> + Send + 'static,
    {
        self.file_change = Some(boxed(f));
        self
    }
    /// Answers user-input questions.
    pub fn on_user_input<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(ToolRequestUserInputParams) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Option<ToolRequestUserInputResponse>> + Send + 'static,
    {
        self.user_input = Some(boxed(f));
        self
    }
    /// Grants permissions.
    pub fn on_permissions<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(PermissionsRequestApprovalParams) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Option<PermissionsRequestApprovalResponse>> + Send + 'static,
    {
        self.permissions = Some(boxed(f));
        self
    }
    /// Runs dynamic tools.
    pub fn on_dynamic_tool_call<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(DynamicToolCallParams) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Option<DynamicToolCallResponse>> + Send + 'static,
    {
        self.dynamic_tool_call = Some(boxed(f));
        self
    }
    /// Accepts every command and file change (for trusted automation in a sandbox you control).
    ///
    /// Under the `untrusted` approval policy its command approvals are declined unless the
    /// session allows privileged escalation
    /// ([`crate::runtime::SessionConfig::allow_privileged_escalation`]): there, codex asks
    /// before every command, and a command the model asked to run outside the sandbox
    /// (`require_escalated`) without a justification arrives looking exactly like a plain one,
    /// so accepting blindly could run it unsandboxed. For unattended runs inside the sandbox,
    /// use the `never` policy (commands run sandboxed without asking; the escalation gate
    /// declines every command approval there), or decide commands with
    /// [`Approvals::on_command`] (which replaces this closure).
    pub fn accept_all() -> Self {
        let mut approvals = Self::new()
            .on_command(|_| async { ApprovalDecision::Accept })
            .on_file_change(|_| async { ApprovalDecision::Accept });
        approvals.blind_commands = true;
        approvals
    }
}

impl ApprovalHandler for Approvals {
    fn accepts_every_command(&self) -> bool {
        self.blind_commands && self.command.is_some()
    }
    fn command(
        &self,
        request: CommandExecutionRequestApprovalParams,
    ) -> BoxFuture<'static, ApprovalDecision> {
        match &self.command {
            Some(f) => f(request),
            None => Box::pin(async { ApprovalDecision::Decline }),
        }
    }
    fn file_change(
        &self,
        request: FileChangeRequestApprovalParams,
    ) -> BoxFuture<'static, ApprovalDecision> {
        match &self.file_change {
            Some(f) => f(request),
            None => Box::pin(async { ApprovalDecision::Decline }),
        }
    }
    fn user_input(
        &self,
        request: ToolRequestUserInputParams,
    ) -> BoxFuture<'static, Option<ToolRequestUserInputResponse>> {
        match &self.user_input {
            Some(f) => f(request),
            None => Box::pin(async { None }),
        }
    }
    fn permissions(
        &self,
        request: PermissionsRequestApprovalParams,
    ) -> BoxFuture<'static, Option<PermissionsRequestApprovalResponse>> {
        match &self.permissions {
            Some(f) => f(request),
            None => Box::pin(async { None }),
        }
    }
    fn dynamic_tool_call(
        &self,
        request: DynamicToolCallParams,
    ) -> BoxFuture<'static, Option<DynamicToolCallResponse>> {
        match &self.dynamic_tool_call {
            Some(f) => f(request),
            None => Box::pin(async { None }),
        }
    }
}

/// Which handler answers, how long it may take, and what a late one gets.
#[derive(Clone)]
#[non_exhaustive]
pub struct ApprovalConfig {
    /// The handler; `None` = fail-closed.
    pub handler: Option<Arc<dyn ApprovalHandler>>,
    /// How long the handler may take (default 60 s).
    pub timeout: Duration,
    /// What a timed-out request gets (default: decline).
    pub timeout_action: TimeoutAction,
}

impl std::fmt::Debug for ApprovalConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApprovalConfig")
            .field("handler", &self.handler.is_some())
            .field("timeout", &self.timeout)
            .field("timeout_action", &self.timeout_action)
            .finish()
    }
}

impl Default for ApprovalConfig {
    fn default() -> Self {
        ApprovalConfig {
            handler: None,
            timeout: Duration::from_secs(60),
            timeout_action: TimeoutAction::Decline,
        }
    }
}
