//! Layer 3: [`Session`], one codex thread with an explicit lifecycle.
//!
//! A session runs one turn at a time (`ask`, `ask_stream`, `ask_typed`, `ask_with`); `steer`,
//! `interrupt` and `close` may be called from other tasks while a turn runs (the session is
//! cheap to clone). The turn's status comes from `turn/completed.turn.status`; its items are
//! accumulated from the `item/*` stream.

mod config;
mod driver;
mod events;
mod input;
mod requests;
mod watchdog;

pub use config::SessionConfig;

use super::approvals::ApprovalConfig;
use super::client::Client;
use super::profile::{ApprovalMode, TurnOverrides};
use super::raw::Runtime;
use super::schema::strict_output_schema;
use super::turn::{TurnEvent, TurnOutput};
use crate::error::{Error, Result};
use crate::plugin::{HookContext, HookIssue, HookPhase, Hooks};
use codex_runtime_protocol::{
    ThreadArchiveParams, ThreadCompactStartParams, ThreadForkParams, ThreadReadParams,
    ThreadReadResponse, ThreadResumeParams, ThreadRevertParams, ThreadSetNameParams,
    ThreadStartParams, TurnInterruptParams, TurnSteerParams, UserInput,
};
use events::EventQueue;
use futures::Stream;
use requests::SessionRequests;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

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
    /// The session's turn: idle, starting, or running with its id. Set by the turn driver,
    /// which outlives the `ask` future.
    state: watch::Sender<TurnState>,
    /// Held by the driver of the running turn: one turn at a time.
    gate: Arc<tokio::sync::Mutex<()>>,
    closed: AtomicBool,
    /// The running turn's `ask_stream` queue, for approval events.
    stream: Mutex<Option<Arc<EventQueue>>>,
    /// The approval policy in effect for the running turn (a per-turn override wins).
    turn_approval: Mutex<Option<ApprovalMode>>,
    /// The runtime connection generation the thread was last opened or resumed on.
    generation: AtomicU64,
    issues: Mutex<Vec<HookIssue>>,
    /// The embedded MCP server of the session's tools.
    #[cfg(feature = "tools")]
    tools: Option<crate::tools::ToolServer>,
}

impl Inner {
    /// The approval policy of the running turn, else the session's.
    fn effective_approval(&self) -> ApprovalMode {
        self.turn_approval
            .lock()
            .ok()
            .and_then(|p| *p)
            .unwrap_or(self.config.profile.approval)
    }
}

impl Inner {
    /// The `config` entries of `thread/start` and `thread/resume` (the tools' MCP server).
    fn thread_config(&self) -> Option<BTreeMap<String, serde_json::Value>> {
        #[cfg(feature = "tools")]
        if let Some(t) = &self.tools {
            return Some(t.thread_config());
        }
        None
    }
}

/// Tells the session's tool server its thread and running turn (for `PreToolUse` hook
/// contexts), and stops it when the client's runtime shuts down.
#[cfg(feature = "tools")]
fn link_tools(inner: &Arc<Inner>) {
    let Some(server) = &inner.tools else {
        return;
    };
    let weak = Arc::downgrade(inner);
    let turn_id = move || match weak.upgrade()?.state.borrow().clone() {
        TurnState::Running(id) => Some(id),
        _ => None,
    };
    let _ = server.env.link.set(crate::tools::SessionLink {
        thread_id: inner.thread_id.clone(),
        turn_id: Box::new(turn_id),
    });
    let runtime = inner.runtime.clone();
    server.stop_on(async move { runtime.shutdown_requested().await });
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

/// `thread/resume` for `thread_id` with the session's settings.
fn resume_params(
    config: &SessionConfig,
    thread_id: String,
    extra: Option<BTreeMap<String, serde_json::Value>>,
) -> ThreadResumeParams {
    let p = &config.profile;
    ThreadResumeParams {
        thread_id,
        config: extra,
        cwd: Some(cwd_string(&config.cwd)),
        model: p.model.clone(),
        approval_policy: Some(p.approval.to_protocol()),
        sandbox: Some(p.sandbox.to_mode()),
        base_instructions: config.base_instructions.clone(),
        developer_instructions: config.developer_instructions.clone(),
        ..ThreadResumeParams::default()
    }
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

        #[cfg(feature = "tools")]
        let tool_server = crate::tools::serve(&config.profile.tools, &hooks, &config.cwd).await?;
        #[cfg(feature = "tools")]
        let thread_config = tool_server.as_ref().map(|s| s.thread_config());
        #[cfg(not(feature = "tools"))]
        let thread_config: Option<BTreeMap<String, serde_json::Value>> = None;

        let p = &config.profile;
        let generation = runtime.generation();
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
                    config: thread_config,
                    ..ThreadStartParams::default()
                };
                runtime.request(&params).await?.thread.id
            }
            SessionStart::Resume(id) => {
                let params = resume_params(&config, id, thread_config);
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
                    config: thread_config,
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
            gate: Arc::new(tokio::sync::Mutex::new(())),
            closed: AtomicBool::new(false),
            stream: Mutex::new(None),
            turn_approval: Mutex::new(None),
            generation: AtomicU64::new(generation),
            issues: Mutex::new(Vec::new()),
            #[cfg(feature = "tools")]
            tools: tool_server,
        });
        #[cfg(feature = "tools")]
        link_tools(&inner);
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
            if i.kind == crate::plugin::HookIssueKind::Panicked {
                tracing::error!(hook = %i.hook, phase = ?i.phase, "hook panicked: {}", i.message);
            } else {
                tracing::warn!(hook = %i.hook, "hook issue: {}", i.message);
            }
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
    /// A session runs one turn at a time: while an earlier turn is still live (another task's,
    /// or one whose `ask` was dropped), this waits for it to end, then starts a new turn.
    ///
    /// # Cancel safety
    /// Dropping the future stops waiting, not the turn: the session keeps tracking it, its
    /// timeout still applies, [`Session::interrupt`] interrupts it, and the next `ask` waits
    /// for it instead of being steered into it. A future dropped before its turn started
    /// (still waiting for the previous one) starts nothing.
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
    /// A slow reader never slows the turn down: unread deltas (text, reasoning, output, diff,
    /// usage) past 1024 become one [`TurnEvent::Lagged`]; items and approvals are never dropped;
    /// the turn's deadline holds whatever the reader does.
    ///
    /// # Cancel safety
    /// Dropping the stream stops the events, not the turn (as for [`Session::ask`]); a stream
    /// dropped before its turn started starts nothing.
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
        let queue = EventQueue::new(events::DELTA_CAPACITY, events::LIFECYCLE_CAPACITY);
        let session = self.clone();
        let prompt = prompt.into();
        let driver_queue = Arc::clone(&queue);
        // Boxed before it is spawned, like the driver in `run_turn` (a future is moved through
        // several stack frames on its way into a task).
        tokio::spawn(Box::pin(async move {
            let result = session
                .run_turn(prompt, overrides, Some(Arc::clone(&driver_queue)))
                .await;
            driver_queue.finish(result.map(|out| TurnEvent::Completed(Box::new(out))));
        }));
        events::stream(queue)
    }

    /// Resumes the thread (`thread/resume`) when the runtime restarted its app-server since the
    /// thread was opened here: a new server knows no thread until one is resumed on it.
    async fn ensure_on_current_server(&self) -> Result<()> {
        let inner = &self.inner;
        // A parked or crashed server of an on-demand runtime starts again here.
        inner.runtime.ensure_connected().await?;
        let current = inner.runtime.generation();
        if inner.generation.load(Ordering::SeqCst) == current {
            return Ok(());
        }
        tracing::info!(thread = %inner.thread_id, generation = current, "resuming the thread on the restarted app-server");
        let params = resume_params(
            &inner.config,
            inner.thread_id.clone(),
            inner.thread_config(),
        );
        inner.runtime.request(&params).await?;
        inner.generation.store(current, Ordering::SeqCst);
        Ok(())
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
        self.ensure_on_current_server().await?;
        let params = ThreadCompactStartParams {
            thread_id: self.inner.thread_id.clone(),
        };
        self.inner.runtime.request(&params).await.map(|_| ())
    }

    /// Reverts the thread to before `turn_id` (`thread/revert`).
    pub async fn revert(&self, before_turn_id: impl Into<String>) -> Result<()> {
        self.ensure_on_current_server().await?;
        let params = ThreadRevertParams {
            thread_id: self.inner.thread_id.clone(),
            before_turn_id: before_turn_id.into(),
        };
        self.inner.runtime.request(&params).await.map(|_| ())
    }

    /// Names the thread (`thread/name/set`).
    pub async fn set_name(&self, name: impl Into<String>) -> Result<()> {
        self.ensure_on_current_server().await?;
        let params = ThreadSetNameParams {
            thread_id: self.inner.thread_id.clone(),
            name: name.into(),
        };
        self.inner.runtime.request(&params).await.map(|_| ())
    }

    /// Reads the thread with its turns (`thread/read`).
    pub async fn read(&self) -> Result<ThreadReadResponse> {
        self.ensure_on_current_server().await?;
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
        let archived = self.inner.runtime.request(&params).await.map(|_| ());
        #[cfg(feature = "tools")]
        if let Some(t) = &self.inner.tools {
            t.stop().await;
        }
        archived
    }

    /// Where the session's tools are served (cargo feature `tools`; `None` without tools):
    /// the URL and bearer token of its MCP server, e.g. to list the tools with your own client.
    #[cfg(feature = "tools")]
    pub fn tool_endpoint(&self) -> Option<&crate::tools::ToolEndpoint> {
        self.inner.tools.as_ref().map(|t| t.endpoint())
    }

    /// True once [`Session::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::SeqCst)
    }

    /// True while a turn (or another operation that waits for the previous turn) runs on
    /// this session.
    pub fn in_turn(&self) -> bool {
        self.inner.gate.try_lock().is_err()
    }
}
