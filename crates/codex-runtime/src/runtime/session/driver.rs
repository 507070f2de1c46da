//! The turn driver: one task per turn that owns the turn from `turn/start` to its end.
//!
//! `ask`, `ask_with`, `ask_typed` and `ask_stream` prepare a turn (gate, `PreTurn` hooks, input)
//! and hand it to a spawned driver, then wait for its result. The driver holds the session's
//! turn gate and its state (the running turn id) until the server turn has completed, so:
//!
//! - dropping the caller's future (a `tokio::time::timeout`, a `select!`, an automation run
//!   timeout) does not forget the turn: [`Session::interrupt`] still finds and interrupts it,
//!   its deadline still holds, and the next `ask` waits for it to end instead of being steered
//!   into it by codex;
//! - a slow `ask_stream` reader never holds the turn past its deadline (see [`super::events`]);
//! - a turn whose `turn/completed` never comes is caught by the watchdog (see
//!   [`super::watchdog`]).

use super::events::EventQueue;
use super::input::turn_input;
use super::watchdog::{self, Watchdog};
use super::{blocked, cwd_string, hook_ctx, Inner, Session, TurnState};
use crate::error::{Error, Result};
use crate::plugin::{Blocked, HookPhase, ToolResult};
use crate::rpc::{RecvError, Subscription};
use crate::runtime::profile::{RunProfile, TurnOverrides};
use crate::runtime::turn::{TurnAccumulator, TurnEvent, TurnOutput};
use codex_runtime_protocol::{ThreadItem, TurnStartParams, TurnStatus};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, OwnedMutexGuard};
use tokio::time::Instant;

/// How long a turn that was interrupted (deadline, hook block) may take to report
/// `turn/completed` before the driver gives up on it.
const SETTLE_GRACE: Duration = Duration::from_secs(10);
/// Most streamed output kept per running command for its `PostToolUse` hooks (used when codex
/// completes the item without `aggregatedOutput`).
const HOOK_OUTPUT_CAP: usize = 64 * 1024;

/// The streamed output of one turn's running commands, for their `PostToolUse` hooks (used when
/// codex completes a command without `aggregatedOutput`).
#[derive(Debug, Default)]
struct StreamedOutputs {
    commands: BTreeMap<String, StreamedOutput>,
    /// Deltas were dropped this turn (`Lagged`): nothing more is collected.
    lagged: bool,
}

impl StreamedOutputs {
    fn push(&mut self, item_id: &str, delta: &str) {
        if self.lagged {
            return;
        }
        match self.commands.get_mut(item_id) {
            Some(kept) => kept.push(delta),
            None => self
                .commands
                .entry(item_id.to_owned())
                .or_default()
                .push(delta),
        }
    }

    /// Output deltas were dropped, and `Lagged` does not say whose: each command keeps what it
    /// streamed before (a prefix), and nothing more is collected this turn, since a later delta
    /// might follow a gap.
    fn lagged(&mut self) {
        self.lagged = true;
    }

    /// The output kept for a completed command.
    fn take(&mut self, item_id: &str) -> Option<String> {
        self.commands.remove(item_id).map(|kept| kept.text)
    }
}

/// A running command's streamed output, as its `PostToolUse` hooks may see it: always a prefix
/// of what was streamed, at most [`HOOK_OUTPUT_CAP`] bytes (cut on a character boundary).
#[derive(Debug, Default)]
struct StreamedOutput {
    text: String,
    /// The cap was reached: later deltas are not kept (the text must not have a gap).
    full: bool,
}

impl StreamedOutput {
    fn push(&mut self, delta: &str) {
        if self.full {
            return;
        }
        let room = HOOK_OUTPUT_CAP - self.text.len();
        if delta.len() <= room {
            self.text.push_str(delta);
            return;
        }
        let mut end = room;
        while !delta.is_char_boundary(end) {
            end -= 1;
        }
        self.text.push_str(&delta[..end]);
        self.full = true;
    }
}

/// A turn ready to start.
struct Prepared {
    params: TurnStartParams,
    profile: RunProfile,
    prompt: String,
    metadata: BTreeMap<String, Value>,
}

/// Sets the turn state back to idle and forgets the turn's policy and stream when the driver
/// ends, whatever the path out (panics included).
struct StateReset {
    inner: Arc<Inner>,
}

impl Drop for StateReset {
    fn drop(&mut self) {
        self.inner.state.send_replace(TurnState::Idle);
        if let Ok(mut s) = self.inner.stream.lock() {
            *s = None;
        }
        if let Ok(mut p) = self.inner.turn_approval.lock() {
            *p = None;
        }
    }
}

impl Session {
    /// Prepares a turn and runs it on a driver task; returns the driver's result.
    pub(super) async fn run_turn(
        &self,
        prompt: String,
        overrides: TurnOverrides,
        events: Option<Arc<EventQueue>>,
    ) -> Result<TurnOutput> {
        let inner = &self.inner;
        // Waits for the previous turn of this session (also one whose `ask` was dropped).
        let gate = Arc::clone(&inner.gate).lock_owned().await;
        if inner.closed.load(std::sync::atomic::Ordering::SeqCst) {
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
        self.ensure_on_current_server().await?;
        if events.as_ref().is_some_and(|q| q.is_abandoned()) {
            return Err(Error::Config(
                "the ask_stream reader went away before the turn started; it was not started"
                    .into(),
            ));
        }

        let params = TurnStartParams {
            thread_id: inner.thread_id.clone(),
            input: turn_input(&prompt, &profile.attachments),
            model: profile.model.clone(),
            effort: Some(profile.effort.as_str().to_string()),
            approval_policy: Some(profile.approval.to_protocol()),
            sandbox_policy: Some(profile.sandbox.to_policy()),
            output_schema: overrides.output_schema.clone(),
            cwd: Some(cwd_string(&inner.config.cwd)),
            ..TurnStartParams::default()
        };
        let prepared = Prepared {
            params,
            profile,
            prompt,
            metadata: pre.patch.metadata,
        };

        // From here on the turn belongs to the session, not to this future.
        inner.state.send_replace(TurnState::Starting);
        if let Ok(mut p) = inner.turn_approval.lock() {
            *p = Some(prepared.profile.approval);
        }
        if let Some(q) = &events {
            if let Ok(mut s) = inner.stream.lock() {
                *s = Some(Arc::clone(q));
            }
        }
        let sub = inner.runtime.subscribe_thread(&inner.thread_id);
        let (tx, rx) = oneshot::channel();
        let session = self.clone();
        // Boxed before it is spawned: the driver future is ~7.5 KB and `tokio::spawn` moves it
        // through several frames before it reaches the task's allocation; unboxed, that cost
        // the caller's thread ~42 KB of stack on the first turn.
        tokio::spawn(Box::pin(async move {
            let result = drive(session, gate, sub, events, prepared).await;
            let _ = tx.send(result);
        }));
        rx.await.unwrap_or_else(|_| {
            Err(Error::Protocol(
                "the turn driver ended without a result (it panicked)".into(),
            ))
        })
    }
}

async fn drive(
    session: Session,
    gate: OwnedMutexGuard<()>,
    sub: Subscription,
    events: Option<Arc<EventQueue>>,
    prepared: Prepared,
) -> Result<TurnOutput> {
    let reset = StateReset {
        inner: Arc::clone(&session.inner),
    };
    let result = drive_turn(&session, sub, events, prepared).await;
    // Idle first, then the gate: a waiting `ask` sees an idle session.
    drop(reset);
    drop(gate);
    result
}

async fn drive_turn(
    session: &Session,
    mut sub: Subscription,
    events: Option<Arc<EventQueue>>,
    prepared: Prepared,
) -> Result<TurnOutput> {
    let inner = &session.inner;
    let Prepared {
        params,
        profile,
        prompt,
        metadata,
    } = prepared;
    let runtime = inner.runtime.clone();
    // Resolves when the connection this turn runs on closes (a crash under a restart policy
    // keeps the subscription open, so this is how the turn learns it is lost).
    let connection_lost = runtime.closed();
    tokio::pin!(connection_lost);

    let started = runtime.request(&params).await?;
    let turn_id = started.turn.id.clone();
    inner
        .state
        .send_replace(TurnState::Running(turn_id.clone()));
    let mut acc = TurnAccumulator::new(&inner.thread_id, &turn_id);
    // Streamed command output by item, for post hooks when the completed item lacks it (kept
    // only when a post hook is registered).
    let mut streamed = StreamedOutputs::default();
    let keep_streamed = inner.hooks.has_post();
    let deadline = Instant::now() + profile.timeout;
    let mut watch = Watchdog::new(profile.watchdog);

    while !acc.done {
        let room = events.as_ref().is_none_or(|q| q.has_room());
        let next = tokio::select! {
            biased;
            _ = tokio::time::sleep_until(deadline) => {
                // A full `ask_stream` queue is a slow reader, not a silent turn.
                if room && watch.stalled() {
                    // Silent since its last item: one more look at codex's record first.
                    let limit = watch.silence().min(SETTLE_GRACE);
                    if let Some(turn) = watchdog::read_turn(session, &turn_id, limit).await {
                        if watchdog::ended(&turn) {
                            tracing::warn!(turn = %turn_id, "turn/completed never came; the thread record says the turn ended");
                            watchdog::finish_from_record(&mut acc, turn);
                            continue;
                        }
                    }
                    let silent_for = watch.silent_for();
                    tracing::error!(turn = %turn_id, ?silent_for, timeout = ?profile.timeout, "turn stalled (silent, still in progress per thread/read); interrupting");
                    interrupt_and_settle(session, &turn_id, &mut sub, &mut acc, watch.silence().min(SETTLE_GRACE)).await;
                    return Err(Error::TurnStalled {
                        thread_id: inner.thread_id.clone(),
                        turn_id: turn_id.clone(),
                        silent_for,
                    });
                }
                tracing::warn!(turn = %turn_id, timeout = ?profile.timeout, "turn timed out; interrupting");
                interrupt_and_settle(session, &turn_id, &mut sub, &mut acc, SETTLE_GRACE).await;
                return Err(Error::TurnTimeout {
                    thread_id: inner.thread_id.clone(),
                    timeout: profile.timeout,
                });
            }
            _ = tokio::time::sleep_until(watch.fires_at()), if room && watch.armed() => {
                let limit = deadline.saturating_duration_since(Instant::now());
                match watchdog::read_turn(session, &turn_id, limit).await {
                    Some(turn) if watchdog::ended(&turn) => {
                        tracing::warn!(turn = %turn_id, silent_for = ?watch.silent_for(), status = ?turn.status, "turn/completed never came; finishing the turn from the thread record");
                        watchdog::finish_from_record(&mut acc, turn);
                    }
                    _ => {
                        tracing::info!(turn = %turn_id, silent_for = ?watch.silent_for(), "watchdog: the turn is silent but still in progress; waiting");
                        watch.checked();
                    }
                }
                continue;
            }
            lost = &mut connection_lost => {
                tracing::warn!(turn = %turn_id, "the app-server connection closed mid-turn: {lost}");
                return Err(lost);
            }
            ev = sub.recv(), if room => ev,
            _ = wait_for_room(&events), if !room => {
                // Events may have queued up unread meanwhile: the silence starts over.
                watch.touch();
                continue;
            }
        };
        match next {
            Ok(ev) => {
                if !acc.concerns(&ev) {
                    continue;
                }
                watch.saw(&ev);
                let emitted = acc.apply(&ev);
                if let (true, Some(TurnEvent::CommandOutputDelta { item_id, delta })) =
                    (keep_streamed, &emitted)
                {
                    streamed.push(item_id, delta);
                }
                if let Some(TurnEvent::ItemCompleted(item)) = &emitted {
                    let output = match item {
                        ThreadItem::CommandExecution(c) => streamed.take(&c.id),
                        _ => None,
                    };
                    if let Some(b) = session
                        .post_tool_use(item, output, &turn_id, &metadata)
                        .await
                    {
                        interrupt_and_settle(session, &turn_id, &mut sub, &mut acc, SETTLE_GRACE)
                            .await;
                        return Err(blocked(b));
                    }
                }
                if let (Some(q), Some(e)) = (&events, emitted) {
                    q.push(e);
                }
            }
            Err(RecvError::Lagged(n)) => {
                watch.touch();
                streamed.lagged();
                if let Some(q) = &events {
                    q.push_lagged(n);
                }
            }
            Err(RecvError::Closed(_)) => {
                let err = tokio::time::timeout(Duration::from_secs(2), runtime.closed())
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
    session.push_issues(post.issues);
    output.hook_issues = session.take_issues();
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

async fn wait_for_room(events: &Option<Arc<EventQueue>>) {
    match events {
        Some(q) => q.room().await,
        None => std::future::pending().await,
    }
}

/// Sends `turn/interrupt` and waits (at most `grace`, [`SETTLE_GRACE`] but for a stalled turn)
/// for the turn to complete, so the session's next turn starts on an idle thread.
async fn interrupt_and_settle(
    session: &Session,
    turn_id: &str,
    sub: &mut Subscription,
    acc: &mut TurnAccumulator,
    grace: Duration,
) {
    if let Err(e) = session.interrupt_turn(turn_id).await {
        tracing::warn!(turn = %turn_id, "turn/interrupt failed: {e}");
    }
    let settle = grace;
    let grace = Instant::now() + grace;
    while !acc.done {
        match tokio::time::timeout_at(grace, sub.recv()).await {
            Ok(Ok(ev)) if acc.concerns(&ev) => {
                acc.apply(&ev);
            }
            Ok(Ok(_)) | Ok(Err(RecvError::Lagged(_))) => {}
            _ => {
                tracing::warn!(turn = %turn_id, "the interrupted turn did not complete within {settle:?}");
                break;
            }
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

impl Session {
    /// Runs the `PostToolUse` hooks for a completed tool item; `Some` when one blocked.
    /// `streamed`: the command's output as it was streamed, used when codex completes the item
    /// without `aggregatedOutput` (seen under load).
    async fn post_tool_use(
        &self,
        item: &ThreadItem,
        streamed: Option<String>,
        turn_id: &str,
        metadata: &BTreeMap<String, Value>,
    ) -> Option<Blocked> {
        let (tool, input, result) = match item {
            ThreadItem::CommandExecution(c) => (
                "exec_command".to_string(),
                json!({"command": c.command, "cwd": c.cwd}),
                tool_result(
                    c.status.as_str(),
                    c.exit_code,
                    c.aggregated_output.clone().or(streamed),
                ),
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
}

#[cfg(test)]
mod tests {
    use super::{StreamedOutput, StreamedOutputs, HOOK_OUTPUT_CAP};

    #[test]
    fn streamed_output_is_a_prefix_of_what_was_streamed_without_gaps() {
        let mut out = StreamedOutput::default();
        out.push(&"a".repeat(HOOK_OUTPUT_CAP - 2));
        out.push("ééé"); // 6 bytes, room for 2: one `é`
        out.push("b"); // would fit, but follows a cut
        assert_eq!(out.text.len(), HOOK_OUTPUT_CAP);
        assert!(out.text.ends_with("aé"));

        let mut out = StreamedOutput::default();
        out.push(&"a".repeat(HOOK_OUTPUT_CAP - 1));
        out.push("é"); // 2 bytes, room for 1: the cut falls inside the character
        out.push("b");
        assert_eq!(out.text, "a".repeat(HOOK_OUTPUT_CAP - 1));

        let mut out = StreamedOutput::default();
        for part in ["one ", "two ", "three"] {
            out.push(part);
        }
        assert_eq!(out.text, "one two three");
    }

    #[test]
    fn after_a_lag_each_command_keeps_only_what_came_before() {
        let mut outputs = StreamedOutputs::default();
        outputs.push("a", "a1 ");
        outputs.push("b", "b1 ");
        outputs.lagged();
        outputs.push("a", "a3 "); // a2 may have been dropped
        outputs.push("c", "c2 "); // c1 may have been dropped
        assert_eq!(outputs.take("a").as_deref(), Some("a1 "));
        assert_eq!(outputs.take("b").as_deref(), Some("b1 "));
        assert_eq!(outputs.take("c"), None);
        assert_eq!(outputs.take("a"), None, "taken once");
    }
}
