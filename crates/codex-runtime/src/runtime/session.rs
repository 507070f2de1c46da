//! Layer 3: [`Session`], one codex thread with an explicit lifecycle.
//!
//! A session runs one turn at a time (`ask`, `ask_stream`, `ask_typed`, `ask_with`); `steer`,
//! `interrupt` and `close` may be called from other tasks while a turn runs (the session is
//! cheap to clone). The turn's status comes from `turn/completed.turn.status`; its items are
//! accumulated from the `item/*` stream.

use super::approvals::{ApprovalConfig, ApprovalDecision, ApprovalHandler};
use super::client::Client;
use super::profile::{ApprovalMode, Attachment, Effort, RunProfile, Sandbox, TurnOverrides};
use super::raw::Runtime;
use super::schema::strict_output_schema;
use super::turn::{TurnAccumulator, TurnEvent, TurnOutput};
use crate::error::{Error, Result};
use crate::plugin::{HookContext, HookIssue, HookPhase, Hooks, PostHook, PreHook, ToolResult};
use crate::rpc::RpcErrorObject;
use crate::rpc::{
    IncomingServerRequest, RecvError, ServerRequestHandler, ServerRequestReply, TimeoutAction,
};
use codex_runtime_protocol::{
    ServerRequest, ThreadArchiveParams, ThreadCompactStartParams, ThreadForkParams, ThreadItem,
    ThreadReadParams, ThreadReadResponse, ThreadResumeParams, ThreadRevertParams,
    ThreadSetNameParams, ThreadStartParams, TurnInterruptParams, TurnStartParams, TurnStatus,
    TurnSteerParams, UserInput,
};
use futures::future::BoxFuture;
use futures::Stream;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

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
}

pub(crate) enum SessionStart {
    New,
    Resume(String),
    Fork(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum TurnState {
    Idle,
    Starting,
    Running(String),
}

struct Inner {
    runtime: Runtime,
    thread_id: String,
    config: SessionConfig,
    hooks: Hooks,
    approvals: ApprovalConfig,
    state: watch::Sender<TurnState>,
    gate: tokio::sync::Mutex<()>,
    closed: AtomicBool,
    stream: Mutex<Option<mpsc::Sender<Result<TurnEvent>>>>,
    issues: Mutex<Vec<HookIssue>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.runtime.set_thread_handler(&self.thread_id, None);
    }
}

/// One codex thread. Cheap to clone; clones share the thread.
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("thread_id", &self.inner.thread_id)
            .field("cwd", &self.inner.config.cwd)
            .finish_non_exhaustive()
    }
}

fn cwd_string(p: &Path) -> String {
    std::path::absolute(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .to_string_lossy()
        .into_owned()
}

fn hook_ctx(phase: HookPhase, cwd: &Path) -> HookContext {
    HookContext::new(phase, cwd.to_path_buf())
}

fn blocked(b: crate::plugin::Blocked) -> Error {
    Error::HookBlocked {
        hook: b.hook,
        reason: b.reason,
    }
}

impl Session {
    pub(crate) async fn open(
        client: &Client,
        mut config: SessionConfig,
        start: SessionStart,
    ) -> Result<Session> {
        config.profile.validate()?;
        let runtime = client.runtime().clone();
        let hooks = client.config().hooks.merge(&config.hooks);
        let approvals = config
            .approvals
            .clone()
            .unwrap_or_else(|| client.config().approvals.clone());
        let cwd = cwd_string(&config.cwd);

        let mut ctx = hook_ctx(HookPhase::PreSessionStart, &config.cwd);
        ctx.model = config.profile.model.clone();
        let pre = hooks.run_pre(&ctx).await;
        let mut issues = pre.issues;
        if let Some(b) = pre.blocked {
            return Err(blocked(b));
        }
        if let Some(m) = pre.patch.model {
            config.profile.model = Some(m);
        }
        config.profile.attachments.extend(pre.patch.attachments);

        let p = &config.profile;
        let thread_id = match start {
            SessionStart::New => {
                let params = ThreadStartParams {
                    cwd: Some(cwd.clone()),
                    model: p.model.clone(),
                    approval_policy: Some(p.approval.to_protocol()),
                    sandbox: Some(p.sandbox.to_mode()),
                    base_instructions: config.base_instructions.clone(),
                    developer_instructions: config.developer_instructions.clone(),
                    ephemeral: config.ephemeral.then_some(true),
                    ..ThreadStartParams::default()
                };
                runtime.request(&params).await?.thread.id
            }
            SessionStart::Resume(id) => {
                let params = ThreadResumeParams {
                    thread_id: id,
                    cwd: Some(cwd.clone()),
                    model: p.model.clone(),
                    approval_policy: Some(p.approval.to_protocol()),
                    sandbox: Some(p.sandbox.to_mode()),
                    base_instructions: config.base_instructions.clone(),
                    developer_instructions: config.developer_instructions.clone(),
                    ..ThreadResumeParams::default()
                };
                runtime.request(&params).await?.thread.id
            }
            SessionStart::Fork(id) => {
                let params = ThreadForkParams {
                    thread_id: id,
                    cwd: Some(cwd.clone()),
                    model: p.model.clone(),
                    approval_policy: Some(p.approval.to_protocol()),
                    sandbox: Some(p.sandbox.to_mode()),
                    ephemeral: config.ephemeral.then_some(true),
                    ..ThreadForkParams::default()
                };
                runtime.request(&params).await?.thread.id
            }
        };

        let inner = Arc::new(Inner {
            runtime: runtime.clone(),
            thread_id: thread_id.clone(),
            config,
            hooks,
            approvals,
            state: watch::channel(TurnState::Idle).0,
            gate: tokio::sync::Mutex::new(()),
            closed: AtomicBool::new(false),
            stream: Mutex::new(None),
            issues: Mutex::new(Vec::new()),
        });
        runtime.set_thread_handler(
            &thread_id,
            Some(Arc::new(SessionRequests {
                inner: Arc::downgrade(&inner),
            })),
        );
        let session = Session { inner };
        if let Some(name) = session.inner.config.name.clone() {
            session.set_name(name).await?;
        }
        let mut ctx = hook_ctx(HookPhase::PostSessionStart, &session.inner.config.cwd);
        ctx.thread_id = Some(thread_id);
        ctx.model = session.inner.config.profile.model.clone();
        let post = session.inner.hooks.run_post(&ctx).await;
        issues.extend(post.issues);
        if let Some(b) = post.blocked {
            return Err(blocked(b));
        }
        session.push_issues(issues);
        Ok(session)
    }

    /// The thread id.
    pub fn thread_id(&self) -> &str {
        &self.inner.thread_id
    }

    /// The session's configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.inner.config
    }

    /// The runtime underneath.
    pub fn runtime(&self) -> &Runtime {
        &self.inner.runtime
    }

    fn push_issues(&self, issues: Vec<HookIssue>) {
        if issues.is_empty() {
            return;
        }
        for i in &issues {
            tracing::warn!(hook = %i.hook, "hook issue: {}", i.message);
        }
        if let Ok(mut v) = self.inner.issues.lock() {
            v.extend(issues);
        }
    }

    fn take_issues(&self) -> Vec<HookIssue> {
        self.inner
            .issues
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }

    /// Runs one turn and returns its output.
    ///
    /// A turn that ends `failed` is an [`Error::TurnFailed`]; `interrupted` is a normal output.
    ///
    /// # Cancel safety
    /// Dropping the future stops waiting but does not stop the turn; call
    /// [`Session::interrupt`] for that.
    #[tracing::instrument(level = "debug", skip(self, prompt), fields(thread = %self.inner.thread_id))]
    pub async fn ask(&self, prompt: impl Into<String>) -> Result<TurnOutput> {
        self.run_turn(prompt.into(), TurnOverrides::default(), None)
            .await
    }

    /// Runs one turn with per-turn overrides (model, effort, sandbox, attachments, schema...).
    pub async fn ask_with(
        &self,
        prompt: impl Into<String>,
        overrides: TurnOverrides,
    ) -> Result<TurnOutput> {
        self.run_turn(prompt.into(), overrides, None).await
    }

    /// Runs one turn whose answer must be a `T`: the strict JSON Schema of `T` is sent as the
    /// turn's `outputSchema` and the final message is parsed. Unparseable output is
    /// [`Error::OutputParse`] carrying the raw text.
    pub async fn ask_typed<T: JsonSchema + DeserializeOwned>(
        &self,
        prompt: impl Into<String>,
    ) -> Result<T> {
        let schema = strict_output_schema::<T>();
        let out = self
            .run_turn(
                prompt.into(),
                TurnOverrides::default().with_output_schema(schema),
                None,
            )
            .await?;
        serde_json::from_str(out.assistant_text.trim()).map_err(|source| Error::OutputParse {
            type_name: std::any::type_name::<T>(),
            source,
            raw: out.assistant_text,
        })
    }

    /// Runs one turn as a stream of [`TurnEvent`]s that ends with
    /// [`TurnEvent::Completed`] (or an error).
    ///
    /// # Cancel safety
    /// Dropping the stream stops the events, not the turn.
    pub fn ask_stream(
        &self,
        prompt: impl Into<String>,
    ) -> impl Stream<Item = Result<TurnEvent>> + Send + 'static {
        self.ask_stream_with(prompt, TurnOverrides::default())
    }

    /// [`Session::ask_stream`] with per-turn overrides.
    pub fn ask_stream_with(
        &self,
        prompt: impl Into<String>,
        overrides: TurnOverrides,
    ) -> impl Stream<Item = Result<TurnEvent>> + Send + 'static {
        let (tx, rx) = mpsc::channel(1024);
        let session = self.clone();
        let prompt = prompt.into();
        tokio::spawn(async move {
            let result = session.run_turn(prompt, overrides, Some(tx.clone())).await;
            let last = match result {
                Ok(out) => Ok(TurnEvent::Completed(Box::new(out))),
                Err(e) => Err(e),
            };
            let _ = tx.send(last).await;
        });
        futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        })
    }

    async fn run_turn(
        &self,
        prompt: String,
        overrides: TurnOverrides,
        events: Option<mpsc::Sender<Result<TurnEvent>>>,
    ) -> Result<TurnOutput> {
        let inner = &self.inner;
        let _gate = inner.gate.lock().await;
        if inner.closed.load(Ordering::SeqCst) {
            return Err(Error::Config(format!(
                "session {} is closed",
                inner.thread_id
            )));
        }
        let _ = self.take_issues();
        let mut profile = overrides.apply(&inner.config.profile);
        profile.validate()?;

        // PreTurn hooks may block or rewrite the prompt, model and attachments.
        let mut ctx = hook_ctx(HookPhase::PreTurn, &inner.config.cwd);
        ctx.prompt = Some(prompt.clone());
        ctx.thread_id = Some(inner.thread_id.clone());
        ctx.model = profile.model.clone();
        let pre = inner.hooks.run_pre(&ctx).await;
        self.push_issues(pre.issues);
        if let Some(b) = pre.blocked {
            return Err(blocked(b));
        }
        let prompt = pre.patch.prompt.unwrap_or(prompt);
        if let Some(m) = pre.patch.model {
            profile.model = Some(m);
        }
        profile.attachments.extend(pre.patch.attachments);
        let metadata = pre.patch.metadata;

        let mut input = vec![UserInput::Text(codex_runtime_protocol::TextUserInput {
            text: prompt.clone(),
            ..Default::default()
        })];
        input.extend(profile.attachments.iter().map(attachment_input));
        let params = TurnStartParams {
            thread_id: inner.thread_id.clone(),
            input,
            model: profile.model.clone(),
            effort: Some(profile.effort.as_str().to_string()),
            approval_policy: Some(profile.approval.to_protocol()),
            sandbox_policy: Some(profile.sandbox.to_policy()),
            output_schema: overrides.output_schema.clone(),
            cwd: Some(cwd_string(&inner.config.cwd)),
            ..TurnStartParams::default()
        };

        if let Some(tx) = &events {
            if let Ok(mut s) = inner.stream.lock() {
                *s = Some(tx.clone());
            }
        }
        let _reset = StateReset {
            inner: Arc::clone(inner),
        };
        inner.state.send_replace(TurnState::Starting);
        let mut sub = inner.runtime.subscribe_thread(&inner.thread_id);
        let started = inner.runtime.request(&params).await?;
        let turn_id = started.turn.id.clone();
        inner
            .state
            .send_replace(TurnState::Running(turn_id.clone()));
        let mut acc = TurnAccumulator::new(&inner.thread_id, &turn_id);
        let deadline = Instant::now() + profile.timeout;

        while !acc.done {
            let next = tokio::select! {
                ev = sub.recv() => ev,
                _ = tokio::time::sleep_until(deadline) => {
                    tracing::warn!(turn = %turn_id, timeout = ?profile.timeout, "turn timed out; interrupting");
                    let _ = self.interrupt_turn(&turn_id).await;
                    let grace = Instant::now() + Duration::from_secs(10);
                    while !acc.done {
                        match tokio::time::timeout_at(grace, sub.recv()).await {
                            Ok(Ok(ev)) if acc.concerns(&ev) => { acc.apply(&ev); }
                            Ok(Ok(_)) | Ok(Err(RecvError::Lagged(_))) => {}
                            _ => break,
                        }
                    }
                    return Err(Error::TurnTimeout { thread_id: inner.thread_id.clone(), timeout: profile.timeout });
                }
            };
            match next {
                Ok(ev) => {
                    if !acc.concerns(&ev) {
                        continue;
                    }
                    let emitted = acc.apply(&ev);
                    if let Some(TurnEvent::ItemCompleted(item)) = &emitted {
                        if let Some(b) = self.post_tool_use(item, &turn_id, &metadata).await {
                            let _ = self.interrupt_turn(&turn_id).await;
                            return Err(blocked(b));
                        }
                    }
                    if let (Some(tx), Some(e)) = (&events, emitted) {
                        let _ = tx.send(Ok(e)).await;
                    }
                }
                Err(RecvError::Lagged(n)) => {
                    if let Some(tx) = &events {
                        let _ = tx.send(Ok(TurnEvent::Lagged(n))).await;
                    }
                }
                Err(RecvError::Closed(_)) => {
                    let err = tokio::time::timeout(Duration::from_secs(2), inner.runtime.closed())
                        .await
                        .unwrap_or(Error::Shutdown);
                    return Err(err);
                }
            }
        }
        drop(sub);
        let mut output = acc.output;

        output.metadata = metadata.clone();
        let mut ctx = hook_ctx(HookPhase::PostTurn, &inner.config.cwd);
        ctx.metadata = metadata;
        ctx.prompt = Some(prompt);
        ctx.thread_id = Some(inner.thread_id.clone());
        ctx.turn_id = Some(turn_id.clone());
        ctx.model = profile.model.clone();
        let post = inner.hooks.run_post(&ctx).await;
        self.push_issues(post.issues);
        output.hook_issues = self.take_issues();
        if let Some(b) = post.blocked {
            return Err(blocked(b));
        }
        if output.status == TurnStatus::Failed {
            let (message, details) = match &output.error {
                Some(e) => (e.message.clone(), serde_json::to_value(e).ok()),
                None => ("turn failed without an error message".to_string(), None),
            };
            return Err(Error::TurnFailed {
                thread_id: output.thread_id,
                turn_id: output.turn_id,
                message,
                details,
            });
        }
        Ok(output)
    }

    async fn post_tool_use(
        &self,
        item: &ThreadItem,
        turn_id: &str,
        metadata: &std::collections::BTreeMap<String, Value>,
    ) -> Option<crate::plugin::Blocked> {
        let (tool, input, result) = match item {
            ThreadItem::CommandExecution(c) => (
                "exec_command".to_string(),
                json!({"command": c.command, "cwd": c.cwd}),
                tool_result(c.status.as_str(), c.exit_code, c.aggregated_output.clone()),
            ),
            ThreadItem::FileChange(f) => (
                "apply_patch".to_string(),
                serde_json::to_value(&f.changes).unwrap_or(Value::Null),
                tool_result(f.status.as_str(), None, None),
            ),
            ThreadItem::McpToolCall(m) => (
                format!("mcp__{}__{}", m.server, m.tool),
                m.arguments.clone(),
                tool_result(
                    m.status.as_str(),
                    None,
                    m.result
                        .as_ref()
                        .and_then(|r| serde_json::to_string(r).ok()),
                ),
            ),
            ThreadItem::DynamicToolCall(d) => (
                d.tool.clone(),
                d.arguments.clone(),
                tool_result(
                    d.status.as_str(),
                    None,
                    d.content_items
                        .as_ref()
                        .and_then(|r| serde_json::to_string(r).ok()),
                ),
            ),
            _ => return None,
        };
        let mut ctx = hook_ctx(HookPhase::PostToolUse, &self.inner.config.cwd);
        ctx.thread_id = Some(self.inner.thread_id.clone());
        ctx.turn_id = Some(turn_id.to_string());
        ctx.tool_name = Some(tool);
        ctx.tool_input = Some(input);
        ctx.tool_result = Some(result);
        ctx.metadata = metadata.clone();
        let post = self.inner.hooks.run_post(&ctx).await;
        self.push_issues(post.issues);
        post.blocked
    }

    async fn interrupt_turn(&self, turn_id: &str) -> Result<()> {
        let params = TurnInterruptParams {
            thread_id: self.inner.thread_id.clone(),
            turn_id: turn_id.to_string(),
        };
        self.inner.runtime.request(&params).await.map(|_| ())
    }

    /// Interrupts the running turn and returns once it has completed as `interrupted` (at once
    /// when no turn runs). A turn that is still starting is awaited first.
    pub async fn interrupt(&self) -> Result<()> {
        let (mut rx, state) = self.settled_state().await?;
        let TurnState::Running(turn_id) = state else {
            return Ok(());
        };
        self.interrupt_turn(&turn_id).await?;
        let running = TurnState::Running(turn_id);
        let finished = tokio::time::timeout(Duration::from_secs(30), async {
            rx.wait_for(|s| *s != running).await.is_ok()
        })
        .await;
        match finished {
            Ok(_) => Ok(()),
            Err(_) => Err(Error::Timeout {
                method: "turn/interrupt".into(),
                elapsed: Duration::from_secs(30),
            }),
        }
    }

    /// Waits until a turn that is starting has its id (or failed to start), and returns the
    /// state with a receiver for later changes.
    async fn settled_state(&self) -> Result<(watch::Receiver<TurnState>, TurnState)> {
        let mut rx = self.inner.state.subscribe();
        let wait = self.inner.runtime.config().request_timeout;
        let state =
            match tokio::time::timeout(wait, rx.wait_for(|s| *s != TurnState::Starting)).await {
                Ok(Ok(s)) => s.clone(),
                _ => {
                    return Err(Error::Timeout {
                        method: "turn/start".into(),
                        elapsed: wait,
                    })
                }
            };
        Ok((rx, state))
    }

    /// Sends `turn/interrupt` for the running turn and returns without waiting for it to end
    /// (the task driving `ask` sees it complete as `interrupted`). Returns `false` when no turn
    /// was running.
    pub async fn send_interrupt(&self) -> Result<bool> {
        let (_, state) = self.settled_state().await?;
        match state {
            TurnState::Running(turn_id) => self.interrupt_turn(&turn_id).await.map(|_| true),
            _ => Ok(false),
        }
    }

    /// Adds input to the running turn (`turn/steer`). Errors when no turn runs.
    pub async fn steer(&self, prompt: impl Into<String>) -> Result<()> {
        let state = self.inner.state.borrow().clone();
        let TurnState::Running(turn_id) = state else {
            return Err(Error::Config(format!(
                "no running turn to steer on thread {}",
                self.inner.thread_id
            )));
        };
        let params = TurnSteerParams {
            thread_id: self.inner.thread_id.clone(),
            expected_turn_id: turn_id,
            input: vec![UserInput::Text(codex_runtime_protocol::TextUserInput {
                text: prompt.into(),
                ..Default::default()
            })],
            ..TurnSteerParams::default()
        };
        self.inner.runtime.request(&params).await.map(|_| ())
    }

    /// Starts compacting the thread's history (`thread/compact/start`).
    pub async fn compact(&self) -> Result<()> {
        let params = ThreadCompactStartParams {
            thread_id: self.inner.thread_id.clone(),
        };
        self.inner.runtime.request(&params).await.map(|_| ())
    }

    /// Reverts the thread to before `turn_id` (`thread/revert`).
    pub async fn revert(&self, before_turn_id: impl Into<String>) -> Result<()> {
        let params = ThreadRevertParams {
            thread_id: self.inner.thread_id.clone(),
            before_turn_id: before_turn_id.into(),
        };
        self.inner.runtime.request(&params).await.map(|_| ())
    }

    /// Names the thread (`thread/name/set`).
    pub async fn set_name(&self, name: impl Into<String>) -> Result<()> {
        let params = ThreadSetNameParams {
            thread_id: self.inner.thread_id.clone(),
            name: name.into(),
        };
        self.inner.runtime.request(&params).await.map(|_| ())
    }

    /// Reads the thread with its turns (`thread/read`).
    pub async fn read(&self) -> Result<ThreadReadResponse> {
        let params = ThreadReadParams {
            thread_id: self.inner.thread_id.clone(),
            include_turns: Some(true),
        };
        self.inner.runtime.request(&params).await
    }

    /// Archives the thread and ends the session. Idempotent.
    pub async fn close(&self) -> Result<()> {
        if self.inner.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.inner
            .runtime
            .set_thread_handler(&self.inner.thread_id, None);
        let params = ThreadArchiveParams {
            thread_id: self.inner.thread_id.clone(),
        };
        self.inner.runtime.request(&params).await.map(|_| ())
    }

    /// True once [`Session::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::SeqCst)
    }
}

/// Sets the turn state back to idle and drops the stream sender when a turn ends, whatever
/// the path out of `run_turn`.
struct StateReset {
    inner: Arc<Inner>,
}

impl Drop for StateReset {
    fn drop(&mut self) {
        self.inner.state.send_replace(TurnState::Idle);
        if let Ok(mut s) = self.inner.stream.lock() {
            *s = None;
        }
    }
}

fn tool_result(status: &str, exit_code: Option<i32>, output: Option<String>) -> ToolResult {
    let mut r = ToolResult::new(status);
    if let Some(c) = exit_code {
        r = r.with_exit_code(c);
    }
    if let Some(o) = output {
        r = r.with_output(o);
    }
    r
}

fn attachment_input(a: &Attachment) -> UserInput {
    use codex_runtime_protocol::{
        ImageUserInput, LocalImageUserInput, MentionUserInput, SkillUserInput,
    };
    match a {
        Attachment::Path(p) => UserInput::Mention(MentionUserInput {
            name: p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.to_string_lossy().into_owned()),
            path: p.to_string_lossy().into_owned(),
        }),
        Attachment::Image(p) => UserInput::LocalImage(LocalImageUserInput {
            path: p.to_string_lossy().into_owned(),
            ..Default::default()
        }),
        Attachment::ImageUrl(url) => UserInput::Image(ImageUserInput {
            url: Some(url.clone()),
            ..Default::default()
        }),
        Attachment::Skill { name, path } => UserInput::Skill(SkillUserInput {
            name: name.clone(),
            path: path.to_string_lossy().into_owned(),
        }),
        #[allow(unreachable_patterns)]
        other => UserInput::Unknown(serde_json::to_value(other).unwrap_or(Value::Null)),
    }
}

/// Answers the server requests of one session's thread: PreToolUse hooks, the escalation
/// gate, then the approval handler with its timeout.
struct SessionRequests {
    inner: Weak<Inner>,
}

impl ServerRequestHandler for SessionRequests {
    fn handle(&self, request: IncomingServerRequest) -> BoxFuture<'static, ServerRequestReply> {
        let inner = self.inner.upgrade();
        Box::pin(async move {
            let Some(inner) = inner else {
                return ServerRequestReply::Decline;
            };
            let method = request.method.clone();
            let item_id = request
                .params
                .get("itemId")
                .and_then(Value::as_str)
                .map(str::to_string);
            let reply = answer(&inner, request).await;
            let decision = match &reply {
                ServerRequestReply::Result(v) => v.clone(),
                ServerRequestReply::Error(e) => json!({"error": e.message}),
                ServerRequestReply::Decline => json!("decline"),
                ServerRequestReply::Cancel => json!("cancel"),
                #[allow(unreachable_patterns)]
                _ => Value::Null,
            };
            let tx = inner.stream.lock().ok().and_then(|s| s.clone());
            if let Some(tx) = tx {
                let _ = tx.try_send(Ok(TurnEvent::ApprovalRequested {
                    method,
                    item_id,
                    decision,
                }));
            }
            reply
        })
    }
}

fn error_reply(message: String) -> ServerRequestReply {
    ServerRequestReply::Error(RpcErrorObject {
        code: crate::rpc::server_requests::UNHANDLED_CODE,
        message,
        data: None,
    })
}

/// The reply for handlers that may have no answer: the serialized answer, or `none`.
fn optional_reply<T: serde::Serialize>(
    answer: std::result::Result<Option<T>, ServerRequestReply>,
    none: ServerRequestReply,
) -> ServerRequestReply {
    match answer {
        Ok(Some(r)) => match serde_json::to_value(r) {
            Ok(v) => ServerRequestReply::Result(v),
            Err(e) => error_reply(format!("cannot encode the handler's answer: {e}")),
        },
        Ok(None) => none,
        Err(timed_out) => timed_out,
    }
}

async fn with_timeout<T>(
    cfg: &ApprovalConfig,
    method: &str,
    fut: BoxFuture<'static, T>,
) -> std::result::Result<T, ServerRequestReply> {
    match tokio::time::timeout(cfg.timeout, fut).await {
        Ok(v) => Ok(v),
        Err(_) => {
            tracing::warn!(%method, timeout = ?cfg.timeout, action = ?cfg.timeout_action, "approval handler timed out");
            Err(match cfg.timeout_action {
                TimeoutAction::Cancel => ServerRequestReply::Cancel,
                TimeoutAction::Error => error_reply(format!(
                    "approval handler for `{method}` timed out after {:?}",
                    cfg.timeout
                )),
                _ => ServerRequestReply::Decline,
            })
        }
    }
}

/// What `PreToolUse` hooks decided about an approval-gated tool request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ToolVerdict {
    /// A hook blocked it: decline.
    Block,
    /// A hook allowed it (`HookPatch` metadata `"decision": "accept"` or
    /// `"acceptForSession"`): approve without asking the handler.
    Allow(ApprovalVerdict),
    /// No opinion: the approval handler decides (fail-closed without one).
    Defer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ApprovalVerdict {
    Once,
    ForSession,
}

/// The metadata key a `PreToolUse` hook sets to allow a request.
const ALLOW_KEY: &str = "decision";

async fn pre_tool_use(inner: &Arc<Inner>, tool: &str, input: Value, turn_id: &str) -> ToolVerdict {
    let mut ctx = hook_ctx(HookPhase::PreToolUse, &inner.config.cwd);
    ctx.thread_id = Some(inner.thread_id.clone());
    ctx.turn_id = Some(turn_id.to_string());
    ctx.tool_name = Some(tool.to_string());
    ctx.tool_input = Some(input);
    let pre = inner.hooks.run_pre(&ctx).await;
    if let Ok(mut v) = inner.issues.lock() {
        v.extend(pre.issues);
    }
    if let Some(b) = &pre.blocked {
        tracing::info!(hook = %b.hook, tool, "PreToolUse hook blocked the request: {}", b.reason);
        return ToolVerdict::Block;
    }
    match pre.patch.metadata.get(ALLOW_KEY).and_then(Value::as_str) {
        Some("accept") => ToolVerdict::Allow(ApprovalVerdict::Once),
        Some("acceptForSession") => ToolVerdict::Allow(ApprovalVerdict::ForSession),
        _ => ToolVerdict::Defer,
    }
}

fn allowed(v: ApprovalVerdict) -> ApprovalDecision {
    match v {
        ApprovalVerdict::Once => ApprovalDecision::Accept,
        ApprovalVerdict::ForSession => ApprovalDecision::AcceptForSession,
    }
}

async fn answer(inner: &Arc<Inner>, request: IncomingServerRequest) -> ServerRequestReply {
    let cfg = &inner.approvals;
    let handler = cfg.handler.clone();
    let method = request.method.clone();
    let decision = |d: ApprovalDecision| {
        ServerRequestReply::Result(json!({"decision": d.to_decision_value()}))
    };
    match request.request {
        ServerRequest::ItemCommandExecutionRequestApproval(p) => {
            let input = json!({"command": p.command, "cwd": p.cwd, "reason": p.reason});
            let verdict = pre_tool_use(inner, "exec_command", input, &p.turn_id).await;
            if verdict == ToolVerdict::Block {
                return decision(ApprovalDecision::Decline);
            }
            let escalation = p.additional_permissions.is_some()
                || p.network_approval_context.is_some()
                || inner.config.profile.approval == ApprovalMode::OnRequest;
            if escalation && !inner.config.profile.privileged_escalation {
                tracing::info!(
                    "declined a privileged escalation request (allow_privileged_escalation is off)"
                );
                return decision(ApprovalDecision::Decline);
            }
            if let ToolVerdict::Allow(v) = verdict {
                return decision(allowed(v));
            }
            let Some(h) = handler else {
                return ServerRequestReply::Decline;
            };
            match with_timeout(cfg, &method, h.command(*p)).await {
                Ok(d) => decision(d),
                Err(r) => r,
            }
        }
        ServerRequest::ItemFileChangeRequestApproval(p) => {
            let input = json!({"itemId": p.item_id, "reason": p.reason, "grantRoot": p.grant_root});
            let verdict = pre_tool_use(inner, "apply_patch", input, &p.turn_id).await;
            if verdict == ToolVerdict::Block {
                return decision(ApprovalDecision::Decline);
            }
            if p.grant_root.is_some() && !inner.config.profile.privileged_escalation {
                return decision(ApprovalDecision::Decline);
            }
            if let ToolVerdict::Allow(v) = verdict {
                return decision(allowed(v));
            }
            let Some(h) = handler else {
                return ServerRequestReply::Decline;
            };
            match with_timeout(cfg, &method, h.file_change(*p)).await {
                Ok(d) => decision(d),
                Err(r) => r,
            }
        }
        ServerRequest::ItemToolRequestUserInput(p) => {
            let Some(h) = handler else {
                return ServerRequestReply::Decline;
            };
            optional_reply(
                with_timeout(cfg, &method, h.user_input(*p)).await,
                error_reply("the user-input handler gave no answer".into()),
            )
        }
        ServerRequest::ItemPermissionsRequestApproval(p) => {
            if !inner.config.profile.privileged_escalation {
                return ServerRequestReply::Decline;
            }
            let Some(h) = handler else {
                return ServerRequestReply::Decline;
            };
            optional_reply(
                with_timeout(cfg, &method, h.permissions(*p)).await,
                ServerRequestReply::Decline,
            )
        }
        ServerRequest::McpServerElicitationRequest(p) => {
            let Some(h) = handler else {
                return ServerRequestReply::Decline;
            };
            match with_timeout(cfg, &method, h.mcp_elicitation(*p)).await {
                Ok((d, content)) => {
                    let mut v = json!({"action": d.to_elicitation_action()});
                    if let Some(c) = content {
                        v["content"] = c;
                    }
                    ServerRequestReply::Result(v)
                }
                Err(r) => r,
            }
        }
        ServerRequest::ItemToolCall(p) => {
            let Some(h) = handler else {
                return ServerRequestReply::Decline;
            };
            optional_reply(
                with_timeout(cfg, &method, h.dynamic_tool_call(*p)).await,
                error_reply("the dynamic-tool handler gave no answer".into()),
            )
        }
        _ => ServerRequestReply::Decline,
    }
}
