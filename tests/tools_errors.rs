//! Tools that go wrong, on the real codex + the mock model: arguments that do not decode, a
//! tool error, a panic, a timeout and a blocking `PreToolUse` hook each reach the model as an
//! error result in its next request, and the turn completes. `PostToolUse` hooks see the call.

mod tools_support;

use codex_mock_model::{Reply, Scenario};
use codex_runtime::plugin::{HookAction, HookContext, HookFuture, HookIssue, PostHook, PreHook};
use codex_runtime::runtime::{Client, SessionConfig, ThreadItem, TurnOutput, TurnStatus};
use codex_runtime::tools::{function_name, Tool, ToolError, ToolOutput, TOOLS_SERVER_NAME};
use codex_test_support::CodexTestEnv;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tools_support::{call_output_text, lookup_tool, Lookup};

/// Runs one turn in which the mock calls `tool` with `args`, then answers "done". Returns the
/// turn and the text of the tool output the model got.
async fn one_call(
    tool: Tool,
    args: Value,
    config: impl FnOnce(SessionConfig) -> SessionConfig,
) -> (TurnOutput, String) {
    let name = tool.name().to_string();
    let env = CodexTestEnv::start(Scenario::new([
        Reply::mcp_tool_call(TOOLS_SERVER_NAME, name, args),
        Reply::text("done"),
    ]))
    .await
    .unwrap();
    let client = Client::connect(env.client_config()).await.unwrap();
    let session = client
        .start_session(config(env.session_config().with_tool(tool)))
        .await
        .unwrap();
    let out = tokio::time::timeout(Duration::from_secs(60), session.ask("go"))
        .await
        .expect("the turn does not hang")
        .expect("the turn completes");
    assert_eq!(out.status, TurnStatus::Completed);
    assert_eq!(out.assistant_text, "done");
    assert!(
        out.items
            .iter()
            .any(|i| matches!(i, ThreadItem::McpToolCall(_))),
        "the call is an item of the turn"
    );
    let bodies = env.mock.response_requests();
    assert_eq!(bodies.len(), 2);
    let output = call_output_text(&bodies[1]);
    session.close().await.unwrap();
    client.shutdown().await.unwrap();
    env.assert_no_leftover_processes().await;
    (out, output)
}

#[tokio::test]
async fn arguments_that_do_not_decode_are_an_error_naming_the_field() {
    let (tool, calls) = lookup_tool();
    let (_, output) = one_call(tool, json!({"id": "A-1", "lines": "three"}), |c| c).await;
    assert!(
        output.contains("invalid arguments for tool `lookup_ticket`"),
        "{output}"
    );
    assert!(output.contains("field `lines`"), "{output}");
    assert!(calls.lock().unwrap().is_empty(), "the tool did not run");
}

#[tokio::test]
async fn a_tool_error_reaches_the_model() {
    let tool = Tool::new("failing", "Always fails", |_: Lookup| async {
        Err::<ToolOutput, _>(ToolError::new("ticket store unreachable"))
    });
    let (_, output) = one_call(tool, json!({"id": "A-1", "lines": 1}), |c| c).await;
    assert!(
        output.contains("tool `failing` failed: ticket store unreachable"),
        "{output}"
    );
}

#[tokio::test]
async fn a_panicking_tool_is_an_error_result() {
    let tool = Tool::new("panics", "Panics", |args: Lookup| async move {
        if args.lines > 0 {
            panic!("tool bug");
        }
        Ok::<_, ToolError>(ToolOutput::text("unreachable"))
    });
    let (_, output) = one_call(tool, json!({"id": "A-1", "lines": 1}), |c| c).await;
    assert!(output.contains("tool `panics` panicked"), "{output}");
}

#[tokio::test]
async fn a_tool_past_its_timeout_is_an_error_result() {
    let tool = Tool::new("hangs", "Never answers", |_: Lookup| async {
        std::future::pending::<()>().await;
        Ok::<_, ToolError>(ToolOutput::text("never"))
    })
    .with_timeout(Duration::from_millis(500));
    let (_, output) = one_call(tool, json!({"id": "A-1", "lines": 1}), |c| c).await;
    assert!(
        output.contains("tool `hangs` did not finish within 500ms"),
        "{output}"
    );
}

/// Blocks every call of `lookup_ticket` and counts the `PreToolUse` contexts it sees.
struct BlockLookups(Arc<AtomicUsize>);

impl PreHook for BlockLookups {
    fn name(&self) -> &'static str {
        "no-lookups"
    }
    fn call<'a>(&'a self, ctx: &'a HookContext) -> HookFuture<'a, Result<HookAction, HookIssue>> {
        Box::pin(async move {
            if ctx.tool_name.as_deref() == Some(function_name("lookup_ticket").as_str()) {
                assert!(ctx.thread_id.is_some() && ctx.turn_id.is_some(), "{ctx:?}");
                assert_eq!(ctx.tool_input.as_ref().unwrap()["id"], "A-1");
                self.0.fetch_add(1, Ordering::SeqCst);
                return Ok(HookAction::Block("lookups are off today".into()));
            }
            Ok(HookAction::Noop)
        })
    }
}

/// (tool name, status) of every `PostToolUse`.
type PostSeen = Arc<Mutex<Vec<(Option<String>, String)>>>;

/// Records the tool name and status of every `PostToolUse`.
struct RecordPost(PostSeen);

impl PostHook for RecordPost {
    fn name(&self) -> &'static str {
        "record-post"
    }
    fn call<'a>(&'a self, ctx: &'a HookContext) -> HookFuture<'a, Result<HookAction, HookIssue>> {
        Box::pin(async move {
            if let Some(r) = &ctx.tool_result {
                self.0
                    .lock()
                    .unwrap()
                    .push((ctx.tool_name.clone(), r.status.clone()));
            }
            Ok(HookAction::Noop)
        })
    }
}

#[tokio::test]
async fn a_blocking_pre_tool_use_hook_is_a_refusal_and_post_tool_use_sees_the_call() {
    let (tool, calls) = lookup_tool();
    let blocked = Arc::new(AtomicUsize::new(0));
    let post: PostSeen = Arc::default();
    let (b, p) = (blocked.clone(), post.clone());
    let (_, output) = one_call(tool, json!({"id": "A-1", "lines": 1}), move |c| {
        c.with_pre_hook(BlockLookups(b))
            .with_post_hook(RecordPost(p))
    })
    .await;
    assert!(output.contains("refused"), "{output}");
    assert!(output.contains("lookups are off today"), "{output}");
    assert_eq!(blocked.load(Ordering::SeqCst), 1);
    assert!(
        calls.lock().unwrap().is_empty(),
        "a blocked tool does not run"
    );
    let post = post.lock().unwrap();
    assert_eq!(post.len(), 1, "{post:?}");
    assert_eq!(
        post[0].0.as_deref(),
        Some(function_name("lookup_ticket").as_str())
    );
}
