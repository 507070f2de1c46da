//! The Code Mode executor over `codex_runtime`: each Code Mode step is one Codex turn on its own
//! [`Session`], all sessions on one shared [`Client`] (one `codex app-server`, started lazily on
//! the first Code Mode step).
//!
//! The step file becomes the thread's developer instructions; the step context travels in the
//! prompt as JSON; the FLOW_RESULT comes back through the turn's output schema (the runner falls
//! back to a `FLOW_RESULT ` line in the agent text). Model, sandbox and approval come from the
//! step or the client configuration, with the SDK's safe defaults (read-only, never).

use crate::code_mode::{CodeModeExecutor, CodeModeReply, CodeModeRequest};
use crate::error::FlowError;
use codex_runtime::runtime::{
    ApprovalMode, Client, ClientConfig, Sandbox, Session, SessionConfig, TurnOverrides,
};
use futures::future::BoxFuture;
use tokio::sync::OnceCell;

/// Runs Code Mode steps as Codex turns through this project's own `Session`.
///
/// ```no_run
/// use codex_flow::SessionCodeModeExecutor;
/// use codex_runtime::runtime::ClientConfig;
/// let executor = SessionCodeModeExecutor::new(ClientConfig::new());
/// # let _ = executor;
/// ```
pub struct SessionCodeModeExecutor {
    config: ClientConfig,
    client: OnceCell<Client>,
    /// Rust tools every step's session offers the model (cargo feature `tools`).
    #[cfg(feature = "tools")]
    tools: Vec<codex_runtime::tools::Tool>,
}

impl std::fmt::Debug for SessionCodeModeExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCodeModeExecutor")
            .field("connected", &self.client.initialized())
            .finish_non_exhaustive()
    }
}

impl SessionCodeModeExecutor {
    /// An executor that connects with `config` on its first step.
    pub fn new(config: ClientConfig) -> Self {
        SessionCodeModeExecutor {
            config,
            client: OnceCell::new(),
            #[cfg(feature = "tools")]
            tools: Vec::new(),
        }
    }

    /// Hands these Rust tools to every Code Mode step (cargo feature `tools`): a flow package
    /// cannot define Rust tools, the program that runs the flows can.
    #[cfg(feature = "tools")]
    pub fn with_tools(
        mut self,
        tools: impl IntoIterator<Item = codex_runtime::tools::Tool>,
    ) -> Self {
        self.tools.extend(tools);
        self
    }

    /// An executor over an already connected client.
    pub fn with_client(client: Client) -> Self {
        SessionCodeModeExecutor {
            config: client.config().clone(),
            client: OnceCell::new_with(Some(client)),
            #[cfg(feature = "tools")]
            tools: Vec::new(),
        }
    }

    async fn client(&self) -> Result<&Client, FlowError> {
        self.client
            .get_or_try_init(|| Client::connect(self.config.clone()))
            .await
            .map_err(|e| FlowError::CodeMode(format!("cannot start codex: {e}")))
    }

    /// Shuts the app-server down, if one was started.
    pub async fn shutdown(&self) -> Result<(), FlowError> {
        if let Some(client) = self.client.get() {
            client
                .shutdown()
                .await
                .map_err(|e| FlowError::CodeMode(e.to_string()))?;
        }
        Ok(())
    }
}

fn sandbox(value: Option<&str>) -> Result<(Sandbox, bool), FlowError> {
    match value.unwrap_or("read-only") {
        "read-only" => Ok((Sandbox::ReadOnly, false)),
        "workspace-write" => Ok((Sandbox::WorkspaceWrite, false)),
        // A step that names danger-full-access asked for it explicitly.
        "danger-full-access" => Ok((Sandbox::DangerFullAccess, true)),
        other => Err(FlowError::CodeMode(format!("unknown sandbox `{other}`"))),
    }
}

fn approval(value: Option<&str>) -> Result<ApprovalMode, FlowError> {
    match value.unwrap_or("never") {
        "never" => Ok(ApprovalMode::Never),
        "on-request" | "on-failure" => Ok(ApprovalMode::OnRequest),
        "untrusted" => Ok(ApprovalMode::Untrusted),
        other => Err(FlowError::CodeMode(format!(
            "unknown approval policy `{other}`"
        ))),
    }
}

fn prompt(req: &CodeModeRequest) -> String {
    let context = serde_json::to_string_pretty(&req.context).unwrap_or_else(|_| "{}".into());
    format!(
        "Run the flow step `{}/{}` as your instructions describe.\n\n\
         Flow context (JSON):\n```json\n{context}\n```\n\n\
         Finish with the FLOW_RESULT object the output schema describes.",
        req.flow, req.step
    )
}

/// Interrupts the step's turn when the executing future is dropped (cancel, timeout).
struct InterruptOnDrop(Option<Session>);

impl Drop for InterruptOnDrop {
    fn drop(&mut self) {
        if let Some(session) = self.0.take() {
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    let _ = session.send_interrupt().await;
                });
            }
        }
    }
}

impl CodeModeExecutor for SessionCodeModeExecutor {
    fn execute<'a>(
        &'a self,
        req: CodeModeRequest,
    ) -> BoxFuture<'a, Result<CodeModeReply, FlowError>> {
        Box::pin(async move {
            let (sandbox, privileged) = sandbox(req.sandbox.as_deref())?;
            let mut config = SessionConfig::new(&req.cwd)
                .with_sandbox(sandbox)
                .with_approval(approval(req.approval.as_deref())?)
                .with_timeout(req.timeout)
                .with_developer_instructions(req.instructions.clone())
                .ephemeral();
            if privileged {
                config = config.allow_privileged_escalation();
            }
            if let Some(model) = &req.model {
                config = config.with_model(model.clone());
            }
            #[cfg(feature = "tools")]
            {
                config = config.with_tools(self.tools.iter().cloned());
            }
            let client = self.client().await?;
            let session = client.start_session(config).await.map_err(|e| {
                FlowError::CodeMode(format!("cannot start the step's session: {e}"))
            })?;
            let mut guard = InterruptOnDrop(Some(session.clone()));
            let overrides = TurnOverrides::new()
                .with_output_schema(req.output_schema.clone())
                .with_timeout(req.timeout);
            let result = session.ask_with(prompt(&req), overrides).await;
            guard.0 = None;
            let out = result.map_err(|e| FlowError::CodeMode(e.to_string()))?;
            let structured = serde_json::from_str(out.assistant_text.trim()).ok();
            Ok(CodeModeReply {
                structured,
                agent_text: out.assistant_text,
            })
        })
    }
}
