//! One tool call: `PreToolUse` hooks, argument decoding, the tool on its own task under its
//! timeout. Every way it can go wrong ends as an error message for the model.

use super::output::ToolOutput;
use super::tool::Tool;
use crate::plugin::{HookContext, HookPhase, Hooks};
use serde_json::Value;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::OnceLock;

/// What a call needs from its session: the hooks, the cwd, and (once the thread exists) the
/// thread id and the running turn.
pub(crate) struct CallEnv {
    pub(crate) hooks: Hooks,
    pub(crate) cwd: PathBuf,
    pub(crate) link: OnceLock<SessionLink>,
}

/// The session a server serves, set once its thread is started.
pub(crate) struct SessionLink {
    pub(crate) thread_id: String,
    /// The id of the running turn, if any.
    pub(crate) turn_id: Box<dyn Fn() -> Option<String> + Send + Sync>,
}

/// Aborts the tool's task when the call is dropped (codex cancelled it, the server stopped).
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `tool` for one call named `qualified` (`mcp__<server>__<tool>`, the name hooks see).
/// `Err` is the message of the error result the model gets.
pub(crate) async fn run(
    tool: &Tool,
    qualified: &str,
    args: Value,
    env: &CallEnv,
) -> Result<ToolOutput, String> {
    let name = tool.name();
    let mut ctx = HookContext::new(HookPhase::PreToolUse, env.cwd.clone());
    if let Some(link) = env.link.get() {
        ctx.thread_id = Some(link.thread_id.clone());
        ctx.turn_id = (link.turn_id)();
    }
    ctx.tool_name = Some(qualified.to_string());
    ctx.tool_input = Some(args.clone());
    let pre = env.hooks.run_pre(&ctx).await;
    for issue in &pre.issues {
        tracing::warn!(hook = %issue.hook, tool = name, "hook issue: {}", issue.message);
    }
    if let Some(b) = pre.blocked {
        tracing::info!(hook = %b.hook, tool = name, "PreToolUse hook blocked the call: {}", b.reason);
        return Err(format!(
            "refused: the call to `{name}` was blocked by the PreToolUse hook `{}`: {}",
            b.hook, b.reason
        ));
    }
    let started = std::panic::catch_unwind(AssertUnwindSafe(|| tool.start(args)));
    let fut = match started {
        Err(_) => return Err(format!("tool `{name}` panicked")),
        Ok(Err(e)) => return Err(format!("invalid arguments for tool `{name}`: {e}")),
        Ok(Ok(fut)) => fut,
    };
    let mut handle = tokio::spawn(fut);
    let _abort = AbortOnDrop(handle.abort_handle());
    let timeout = tool.timeout();
    match tokio::time::timeout(timeout, &mut handle).await {
        Err(_) => {
            tracing::warn!(tool = name, ?timeout, "tool call timed out");
            Err(format!("tool `{name}` did not finish within {timeout:?}"))
        }
        Ok(Err(join)) if join.is_panic() => {
            tracing::warn!(tool = name, "tool panicked");
            Err(format!("tool `{name}` panicked"))
        }
        Ok(Err(_)) => Err(format!("tool `{name}` was cancelled")),
        Ok(Ok(Err(e))) => Err(format!("tool `{name}` failed: {e}")),
        Ok(Ok(Ok(out))) => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::{HookAction, HookFuture, HookIssue, PreHook};
    use crate::tools::ToolError;
    use serde_json::json;
    use std::time::Duration;

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct Args {
        n: i64,
    }

    fn env(hooks: Hooks) -> CallEnv {
        CallEnv {
            hooks,
            cwd: PathBuf::from("/"),
            link: OnceLock::new(),
        }
    }

    fn tool(f: fn(i64) -> Result<ToolOutput, ToolError>) -> Tool {
        Tool::new("t", "d", move |a: Args| async move { f(a.n) })
    }

    #[tokio::test]
    async fn each_failure_is_an_error_message() {
        let e = env(Hooks::default());
        let ok = tool(|n| Ok(ToolOutput::text(format!("n={n}"))));
        let out = run(&ok, "q", json!({"n": 2}), &e).await.unwrap();
        assert_eq!(out.text_part(), Some("n=2"));
        let bad = run(&ok, "q", json!({"n": "two"}), &e).await.unwrap_err();
        assert!(
            bad.contains("invalid arguments") && bad.contains("field `n`"),
            "{bad}"
        );
        let failing = tool(|_| Err(ToolError::new("no such ticket")));
        let err = run(&failing, "q", json!({"n": 1}), &e).await.unwrap_err();
        assert_eq!(err, "tool `t` failed: no such ticket");
        let panics = tool(|_| panic!("boom"));
        let err = run(&panics, "q", json!({"n": 1}), &e).await.unwrap_err();
        assert_eq!(err, "tool `t` panicked");
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_past_its_timeout_is_an_error() {
        let slow = Tool::new("slow", "d", |_: Args| async {
            std::future::pending::<()>().await;
            Ok::<_, ToolError>(ToolOutput::text("never"))
        })
        .with_timeout(Duration::from_secs(5));
        let err = run(&slow, "q", json!({"n": 1}), &env(Hooks::default()))
            .await
            .unwrap_err();
        assert_eq!(err, "tool `slow` did not finish within 5s");
    }

    struct Refuse;
    impl PreHook for Refuse {
        fn name(&self) -> &'static str {
            "refuse"
        }
        fn call<'a>(
            &'a self,
            ctx: &'a HookContext,
        ) -> HookFuture<'a, Result<HookAction, HookIssue>> {
            let tool = ctx.tool_name.clone();
            Box::pin(async move {
                assert_eq!(tool.as_deref(), Some("mcp__s__t"));
                Ok(HookAction::Block("not today".into()))
            })
        }
    }

    #[tokio::test]
    async fn a_blocking_pre_tool_use_hook_is_a_refusal_and_the_tool_does_not_run() {
        let mut hooks = Hooks::default();
        hooks.add_pre(Refuse);
        let ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = ran.clone();
        let t = Tool::new("t", "d", move |_: Args| {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            async { Ok::<_, ToolError>(ToolOutput::text("ran")) }
        });
        let err = run(&t, "mcp__s__t", json!({"n": 1}), &env(hooks))
            .await
            .unwrap_err();
        assert!(
            err.starts_with("refused:") && err.contains("not today"),
            "{err}"
        );
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
    }
}
