//! `ShellCommandHook` against real `sh -c` processes.

use std::path::Path;
use std::time::{Duration, Instant};

use codex_hooks::{
    Attachment, HookAction, HookContext, HookIssueKind, HookMatcher, HookPhase, HookRegistration,
    Hooks, PostHook, PreHook, ShellCommandHook, ToolResult,
};
use serde_json::json;

fn sh(name: &'static str, script: &str) -> ShellCommandHook {
    ShellCommandHook::new(name, ["sh", "-c", script])
}

fn ctx_in(dir: &Path, phase: HookPhase) -> HookContext {
    HookContext::new(phase, dir)
}

async fn pre(
    hook: &ShellCommandHook,
    ctx: &HookContext,
) -> Result<HookAction, codex_hooks::HookIssue> {
    PreHook::call(hook, ctx).await
}

/// Reads a pid a script wrote into `dir/file`.
fn read_pid(dir: &Path, file: &str) -> i32 {
    let text = std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|err| panic!("the script did not write {file}: {err}"));
    text.trim()
        .parse()
        .unwrap_or_else(|err| panic!("{file} holds {text:?}: {err}"))
}

/// Whether `pid` is gone or a zombie (dead, waiting to be reaped by whoever adopted it).
fn is_dead(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
    }
}

/// Waits (bounded) for the processes to die; SIGKILL delivery is asynchronous. Panics with the
/// survivors' command lines.
fn assert_all_dead(pids: &[i32]) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !pids.iter().all(|&pid| is_dead(pid)) {
        if Instant::now() > deadline {
            let alive: Vec<String> = pids
                .iter()
                .filter(|&&pid| !is_dead(pid))
                .map(|pid| {
                    let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                    format!(
                        "{pid}: {}",
                        String::from_utf8_lossy(&cmd).replace('\0', " ")
                    )
                })
                .collect();
            panic!("processes left behind: {alive:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn the_command_receives_the_context_as_json_on_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("stdin.json");
    let hook = sh("capture", "cat > \"$OUT\"").with_env("OUT", &out);
    let ctx = ctx_in(dir.path(), HookPhase::PostToolUse)
        .with_thread_id("thr_1")
        .with_turn_id("turn_1")
        .with_tool_name("exec_command")
        .with_tool_input(json!({"command": ["cargo", "test"], "cwd": "/x"}))
        .with_tool_result(
            ToolResult::new("completed")
                .with_exit_code(0)
                .with_output("ok"),
        )
        .with_attachment(Attachment::Image("shot.png".into()))
        .with_metadata("ticket", json!("ENG-1"));

    let action = PostHook::call(&hook, &ctx).await.unwrap();
    assert_eq!(action, HookAction::Noop);

    let received: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(received, serde_json::to_value(&ctx).unwrap());
    assert_eq!(received["phase"], "postToolUse");
    assert_eq!(received["toolResult"]["exitCode"], 0);
    let back: HookContext = serde_json::from_value(received).unwrap();
    assert_eq!(back, ctx);
}

#[tokio::test]
async fn environment_and_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let script = r#"printf '{"metadata": {"phase": "%s", "name": "%s", "extra": "%s", "pwd": "%s"}}' "$CODEX_HOOK_PHASE" "$CODEX_HOOK_NAME" "$EXTRA" "$(pwd -P)""#;
    let hook = sh("env-check", script).with_env("EXTRA", "value with spaces");

    let ctx = ctx_in(dir.path(), HookPhase::PreSessionStart);
    let HookAction::Mutate(patch) = pre(&hook, &ctx).await.unwrap() else {
        panic!("expected a patch")
    };
    assert_eq!(patch.metadata["phase"], "preSessionStart");
    assert_eq!(patch.metadata["name"], "env-check");
    assert_eq!(patch.metadata["extra"], "value with spaces");
    let canonical = dir.path().canonicalize().unwrap();
    assert_eq!(patch.metadata["pwd"], canonical.to_str().unwrap());

    let moved = hook.with_cwd(other.path());
    let HookAction::Mutate(patch) = pre(&moved, &ctx).await.unwrap() else {
        panic!("expected a patch")
    };
    let canonical = other.path().canonicalize().unwrap();
    assert_eq!(patch.metadata["pwd"], canonical.to_str().unwrap());
}

#[tokio::test]
async fn json_stdout_is_a_patch() {
    let dir = tempfile::tempdir().unwrap();
    let script = r#"cat >/dev/null; echo '{"prompt": "rewritten", "model": "m2",
      "attachments": [{"type": "path", "path": "a.md"}, {"type": "skill", "name": "s", "path": "/s/SKILL.md"}],
      "metadata": {"n": 1}}'"#;
    let action = pre(
        &sh("patcher", script),
        &ctx_in(dir.path(), HookPhase::PreTurn),
    )
    .await
    .unwrap();
    let HookAction::Mutate(patch) = action else {
        panic!("expected a patch, got {action:?}")
    };
    assert_eq!(patch.prompt.as_deref(), Some("rewritten"));
    assert_eq!(patch.model.as_deref(), Some("m2"));
    assert_eq!(
        patch.attachments,
        [
            Attachment::Path("a.md".into()),
            Attachment::Skill {
                name: "s".into(),
                path: "/s/SKILL.md".into()
            }
        ]
    );
    assert_eq!(patch.metadata["n"], 1);

    // Blank stdout is a noop.
    let action = pre(
        &sh("blank", "echo; echo '  '"),
        &ctx_in(dir.path(), HookPhase::PreTurn),
    )
    .await
    .unwrap();
    assert_eq!(action, HookAction::Noop);
}

#[tokio::test]
async fn invalid_stdout_is_an_invalid_output_issue() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = ctx_in(dir.path(), HookPhase::PreTurn);
    for (script, needle) in [
        ("echo 'this is not json'", "not JSON"),
        ("echo '[1, 2]'", "not an object"),
        (r#"echo '{"promt": "typo"}'"#, "promt"),
        (r#"echo '{"attachments": [{"type": "video"}]}'"#, "video"),
    ] {
        let issue = pre(&sh("bad-output", script), &ctx).await.unwrap_err();
        assert_eq!(issue.kind, HookIssueKind::InvalidOutput, "{script}");
        assert_eq!(issue.hook, "bad-output");
        assert_eq!(issue.phase, HookPhase::PreTurn);
        assert!(
            issue.message.contains(needle),
            "{script}: {}",
            issue.message
        );
    }

    // Stdout beyond the bound cannot be a patch.
    let big = sh("big", "head -c 5000 /dev/zero | tr '\\0' ' '; echo '{}'")
        .with_output_limits(1000, 1000);
    let issue = pre(&big, &ctx).await.unwrap_err();
    assert_eq!(issue.kind, HookIssueKind::InvalidOutput);
    assert!(issue.message.contains("1000 bytes"), "{}", issue.message);
}

#[tokio::test]
async fn exit_2_blocks_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = ctx_in(dir.path(), HookPhase::PreToolUse);
    for (script, reason) in [
        (
            "echo 'out text'; echo '  rm -rf is not allowed \n' >&2; exit 2",
            "rm -rf is not allowed",
        ),
        ("echo ' only stdout '; exit 2", "only stdout"),
        ("exit 2", "blocked by guard"),
    ] {
        let action = pre(&sh("guard", script), &ctx).await.unwrap();
        assert_eq!(action, HookAction::Block(reason.into()), "{script}");
    }
}

#[tokio::test]
async fn other_exits_are_failures_with_code_and_stderr_tail() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = ctx_in(dir.path(), HookPhase::PostRun);
    let issue = PostHook::call(
        &sh(
            "broken",
            "echo 'first line' >&2; echo 'disk full' >&2; exit 3",
        ),
        &ctx,
    )
    .await
    .unwrap_err();
    assert_eq!(issue.kind, HookIssueKind::Failed);
    assert!(
        issue.message.contains("exited with code 3"),
        "{}",
        issue.message
    );
    assert!(issue.message.contains("disk full"), "{}", issue.message);

    // Only the tail of a long stderr is kept.
    let noisy = sh(
        "noisy",
        "head -c 100000 /dev/zero | tr '\\0' 'x' >&2; echo ' the cause' >&2; exit 1",
    )
    .with_output_limits(1000, 100);
    let issue = PostHook::call(&noisy, &ctx).await.unwrap_err();
    assert!(issue.message.ends_with("the cause"), "{}", issue.message);
    assert!(issue.message.len() < 300, "{}", issue.message);

    // Killed by a signal.
    let issue = PostHook::call(&sh("suicide", "kill -TERM $$"), &ctx)
        .await
        .unwrap_err();
    assert_eq!(issue.kind, HookIssueKind::Failed);
    assert!(issue.message.contains("signal 15"), "{}", issue.message);
}

#[tokio::test]
async fn commands_that_cannot_start_are_failures() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = ctx_in(dir.path(), HookPhase::PreRun);
    let issue = pre(&ShellCommandHook::new("empty", Vec::<String>::new()), &ctx)
        .await
        .unwrap_err();
    assert_eq!(issue.kind, HookIssueKind::Failed);
    assert!(issue.message.contains("empty"), "{}", issue.message);

    let missing = ShellCommandHook::new("missing", ["/nonexistent/hook-binary"]);
    let issue = pre(&missing, &ctx).await.unwrap_err();
    assert_eq!(issue.kind, HookIssueKind::Failed);
    assert!(
        issue.message.contains("/nonexistent/hook-binary"),
        "{}",
        issue.message
    );

    let bad_cwd = sh("bad-cwd", "true").with_cwd(dir.path().join("no-such-dir"));
    let issue = pre(&bad_cwd, &ctx).await.unwrap_err();
    assert!(issue.message.contains("no-such-dir"), "{}", issue.message);
}

#[tokio::test]
async fn a_command_ignoring_a_large_stdin_does_not_hang() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = ctx_in(dir.path(), HookPhase::PreTurn).with_prompt("x".repeat(2 * 1024 * 1024));
    let action = pre(&sh("ignores-stdin", "exit 0"), &ctx).await.unwrap();
    assert_eq!(action, HookAction::Noop);
}

#[tokio::test]
async fn a_hanging_command_is_killed_with_its_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let script = r#"echo $$ > sh.pid; sleep 100 & echo $! > bg.pid; sleep 100"#;
    let hook = sh("hangs", script).with_timeout(Duration::from_millis(300));
    let issue = pre(&hook, &ctx_in(dir.path(), HookPhase::PreToolUse))
        .await
        .unwrap_err();
    assert_eq!(issue.kind, HookIssueKind::TimedOut);
    assert!(issue.message.contains("300ms"), "{}", issue.message);
    assert_all_dead(&[
        read_pid(dir.path(), "sh.pid"),
        read_pid(dir.path(), "bg.pid"),
    ]);
}

#[tokio::test]
async fn a_registration_timeout_also_kills_the_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let script = r#"echo $$ > sh.pid; sleep 100 & echo $! > bg.pid; sleep 100"#;
    let mut hooks = Hooks::new();
    hooks.add_pre_with(
        sh("hangs", script),
        HookRegistration {
            matcher: HookMatcher::any(),
            block_on_failure: true,
            timeout: Some(Duration::from_millis(300)),
        },
    );
    let outcome = hooks.run_pre(&ctx_in(dir.path(), HookPhase::PreTurn)).await;
    assert_eq!(outcome.issues[0].kind, HookIssueKind::TimedOut);
    assert_eq!(outcome.blocked.expect("blocked").hook, "hangs");
    assert_all_dead(&[
        read_pid(dir.path(), "sh.pid"),
        read_pid(dir.path(), "bg.pid"),
    ]);
}

#[tokio::test]
async fn background_processes_left_by_a_finished_command_are_killed() {
    let dir = tempfile::tempdir().unwrap();
    // The background sleep keeps stdout open; the hook must not wait for it.
    let script = r#"sleep 100 & echo $! > bg.pid; echo '{"model": "m"}'"#;
    let action = pre(
        &sh("leaves-child", script),
        &ctx_in(dir.path(), HookPhase::PreTurn),
    )
    .await
    .unwrap();
    assert_eq!(
        action,
        HookAction::Mutate(codex_hooks::HookPatch::new().with_model("m"))
    );
    assert_all_dead(&[read_pid(dir.path(), "bg.pid")]);
}

#[tokio::test]
async fn shell_hooks_in_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    let mut hooks = Hooks::new();
    hooks
        .add_pre_with(
            sh("prefix", r#"echo '{"prompt": "[ENG-1] fix it"}'"#),
            HookRegistration {
                matcher: HookMatcher::any().phase(HookPhase::PreTurn),
                ..Default::default()
            },
        )
        .add_pre_with(
            // Sees the patched prompt on stdin.
            sh(
                "check",
                "grep -q 'ENG-1' || { echo 'no ticket' >&2; exit 2; }",
            ),
            HookRegistration {
                matcher: HookMatcher::any().phase(HookPhase::PreTurn),
                ..Default::default()
            },
        )
        .add_post(sh("audit", "echo 'audit failed' >&2; exit 1"));

    let ctx = ctx_in(dir.path(), HookPhase::PreTurn).with_prompt("fix it");
    let outcome = hooks.run_pre(&ctx).await;
    assert!(outcome.blocked.is_none(), "{:?}", outcome.blocked);
    assert!(outcome.issues.is_empty(), "{:?}", outcome.issues);
    assert_eq!(outcome.patch.prompt.as_deref(), Some("[ENG-1] fix it"));

    let post = hooks
        .run_post(&ctx.clone().with_phase(HookPhase::PostTurn))
        .await;
    assert!(post.blocked.is_none());
    assert_eq!(post.issues.len(), 1);
    assert_eq!(post.issues[0].hook, "audit");
    assert!(post.issues[0].message.contains("audit failed"));
}
