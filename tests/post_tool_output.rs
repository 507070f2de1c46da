//! What `PostToolUse` hooks see as a command's output when codex completes the command item
//! without `aggregatedOutput`. codex 0.171 does that now and then under load (about one run in
//! ten of `e2e_session::every_hook_phase_fires_in_order_on_a_tool_using_run`), so the real
//! server cannot be made to show it on demand. The fake app-server replays four cases
//! (`FAKE_REPLAY`), one turn each, through `Session::ask`:
//! 1. `aggregatedOutput: null` after two output deltas: the hook sees the streamed output;
//! 2. `aggregatedOutput` set after deltas that differ from it: the hook sees what codex reported;
//! 3. `aggregatedOutput: null` and no delta: the hook sees no output (none is invented);
//! 4. `aggregatedOutput: null` after more than 64 KiB of deltas: the hook sees the first 64 KiB
//!    of what was streamed, without a gap.

use codex_runtime::plugin::{HookAction, HookContext, HookFuture, HookIssue, Hooks, PostHook};
use codex_runtime::runtime::{Client, ClientConfig, RuntimeConfig, SessionConfig, ThreadItem};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const FAKE: &str = env!("CARGO_BIN_EXE_fake-app-server");
const THREAD: &str = "thr_replay";

/// Every `PostToolUse` result: (tool, exit code, output).
type Seen = Arc<Mutex<Vec<(Option<String>, Option<i32>, Option<String>)>>>;

struct RecordToolResults(Seen);

impl PostHook for RecordToolResults {
    fn name(&self) -> &'static str {
        "record-tool-results"
    }
    fn call<'a>(&'a self, ctx: &'a HookContext) -> HookFuture<'a, Result<HookAction, HookIssue>> {
        Box::pin(async move {
            if let Some(r) = &ctx.tool_result {
                self.0.lock().expect("not poisoned").push((
                    ctx.tool_name.clone(),
                    r.exit_code,
                    r.output.clone(),
                ));
            }
            Ok(HookAction::Noop)
        })
    }
}

fn note(method: &str, params: Value) -> Value {
    json!({"method": method, "params": params})
}

fn command_item(id: &str, status: &str, aggregated: Option<&str>) -> Value {
    let mut item = json!({"type": "commandExecution", "id": id, "command": "echo out",
        "commandActions": [], "cwd": "/tmp", "status": status});
    if status != "inProgress" {
        item["exitCode"] = json!(0);
        item["aggregatedOutput"] = json!(aggregated);
    }
    item
}

/// One replayed `turn/start`: the command streams `deltas`, completes with `aggregated`, then
/// an agent message says `answer`.
fn turn(n: u32, deltas: &[String], aggregated: Option<&str>, answer: &str) -> Value {
    let turn_id = format!("turn_{n}");
    let cmd = format!("cmd_{n}");
    let turn = |status: &str| json!({"id": turn_id, "items": [], "status": status});
    let mut notes = vec![
        note(
            "turn/started",
            json!({"threadId": THREAD, "turn": turn("inProgress")}),
        ),
        note(
            "item/started",
            json!({"threadId": THREAD, "turnId": turn_id, "startedAtMs": 0,
                "item": command_item(&cmd, "inProgress", None)}),
        ),
    ];
    for d in deltas {
        notes.push(note(
            "item/commandExecution/outputDelta",
            json!({"threadId": THREAD, "turnId": turn_id, "itemId": cmd, "delta": d}),
        ));
    }
    notes.push(note(
        "item/completed",
        json!({"threadId": THREAD, "turnId": turn_id, "completedAtMs": 0,
            "item": command_item(&cmd, "completed", aggregated)}),
    ));
    notes.push(note(
        "item/completed",
        json!({"threadId": THREAD, "turnId": turn_id, "completedAtMs": 0, "item": {
            "type": "agentMessage", "id": format!("msg_{n}"), "text": answer}}),
    ));
    notes.push(note(
        "turn/completed",
        json!({"threadId": THREAD, "turn": turn("completed")}),
    ));
    json!({"request": "turn/start", "result": {"turn": turn("inProgress")}, "notifications": notes})
}

#[tokio::test]
async fn post_tool_use_sees_the_streamed_output_when_codex_reports_none() {
    let dir = tempfile::tempdir().unwrap();
    let parts = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // 80,000 bytes before the tail: past the 64 KiB a hook is given.
    let (big_x, big_y) = ("x".repeat(40_000), "y".repeat(40_000));
    let thread = json!({"request": "thread/start", "result": {
        "approvalPolicy": "never", "approvalsReviewer": "user", "cwd": "/tmp",
        "model": "fake-model", "modelProvider": "fake", "sandbox": {"type": "dangerFullAccess"},
        "thread": {"cliVersion": "0.171.0", "createdAt": 0, "cwd": "/tmp", "ephemeral": true,
            "id": THREAD, "modelProvider": "fake", "preview": "", "projectId": null,
            "sessionId": "ses_replay", "source": "appServer", "status": {"type": "idle"},
            "turns": [], "updatedAt": 0}}});
    let lines = [
        thread,
        turn(1, &parts(&["streamed ", "output\n"]), None, "one"),
        turn(2, &parts(&["partial"]), Some("reported output\n"), "two"),
        turn(3, &[], None, "three"),
        turn(
            4,
            &[big_x.clone(), big_y.clone(), "tail".into()],
            None,
            "four",
        ),
        json!({"request": "thread/archive", "result": {}, "notifications": []}),
    ];
    let fixture = dir.path().join("replay.jsonl");
    let text: Vec<String> = lines.iter().map(Value::to_string).collect();
    std::fs::write(&fixture, text.join("\n")).unwrap();

    let runtime = RuntimeConfig::new()
        .with_cli_bin(FAKE)
        .with_env("FAKE_VERSION", "0.171.0")
        .with_env("FAKE_REPLAY", fixture.display().to_string())
        .with_request_timeout(Duration::from_secs(10));
    let client = Client::connect(ClientConfig::new().with_runtime(runtime))
        .await
        .unwrap();
    let seen: Seen = Arc::default();
    let mut hooks = Hooks::new();
    hooks.add_post(RecordToolResults(Arc::clone(&seen)));
    let session = client
        .start_session(SessionConfig::new(dir.path()).with_hooks(hooks))
        .await
        .unwrap();

    for (answer, reported) in [
        ("one", None),
        ("two", Some("reported output\n")),
        ("three", None),
        ("four", None),
    ] {
        let out = session.ask(format!("turn {answer}")).await.unwrap();
        assert!(out.is_completed(), "{:?}", out.status);
        assert_eq!(out.assistant_text, answer);
        let item = out
            .items
            .iter()
            .find_map(|i| match i {
                ThreadItem::CommandExecution(c) => Some(c),
                _ => None,
            })
            .unwrap_or_else(|| panic!("the turn has its command item: {:?}", out.items));
        assert_eq!(item.aggregated_output.as_deref(), reported, "turn {answer}");
    }

    // The replayed shapes are the typed ones (no fallback), as from a real codex.
    assert_eq!(client.runtime().metrics().decode_fallbacks, 0);
    let seen = seen.lock().unwrap().clone();
    let tool = Some("exec_command".to_string());
    assert_eq!(
        seen,
        vec![
            (tool.clone(), Some(0), Some("streamed output\n".to_string())),
            (tool.clone(), Some(0), Some("reported output\n".to_string())),
            (tool.clone(), Some(0), None),
            (
                tool,
                Some(0),
                Some(format!("{big_x}{}", &big_y[..64 * 1024 - 40_000]))
            ),
        ],
        "PostToolUse saw: streamed output when none was reported, the reported output over \
         the deltas, nothing when there was neither, and the first 64 KiB of a longer stream"
    );
    session.close().await.unwrap();
    client.shutdown().await.unwrap();
}
