//! Fail open (the default) versus fail closed, for every way a shell hook can fail, through the
//! `Hooks` registry as sessions and workflows use it, in pre and post phases.

use std::time::Duration;

use codex_hooks::{
    FailureMode, FilteredPostHook, FilteredPreHook, HookAction, HookContext, HookIssueKind,
    HookMatcher, HookPhase, Hooks, PreHook, ShellCommandHook,
};

/// The ways a shell hook fails: each hook, and the kind of issue it leaves.
fn failing_hooks(dir: &std::path::Path) -> Vec<(ShellCommandHook, HookIssueKind, &'static str)> {
    vec![
        (
            ShellCommandHook::new("missing-script", [dir.join("no-such-policy.sh")]),
            HookIssueKind::Failed,
            "could not start",
        ),
        (
            ShellCommandHook::new("exit-1", ["sh", "-c", "echo 'policy crashed' >&2; exit 1"]),
            HookIssueKind::Failed,
            "exited with code 1",
        ),
        (
            ShellCommandHook::new("times-out", ["sh", "-c", "sleep 30"])
                .with_timeout(Duration::from_millis(200)),
            HookIssueKind::TimedOut,
            "did not finish within",
        ),
        (
            ShellCommandHook::new("killed", ["sh", "-c", "kill -9 $$"]),
            HookIssueKind::Failed,
            "was killed by signal 9",
        ),
        (
            ShellCommandHook::new("bad-output", ["sh", "-c", "echo 'not a patch'"]),
            HookIssueKind::InvalidOutput,
            "not JSON",
        ),
    ]
}

#[tokio::test]
async fn by_default_a_failing_shell_hook_is_recorded_and_the_turn_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    for (hook, kind, message) in failing_hooks(dir.path()) {
        let name = hook.name();
        assert_eq!(hook.failure_mode(), FailureMode::Open, "{name}");
        let mut hooks = Hooks::new();
        hooks.add_pre(hook.clone());
        hooks.add_post(hook);
        let ctx = HookContext::new(HookPhase::PreTurn, dir.path()).with_prompt("hi");
        let pre = hooks.run_pre(&ctx).await;
        assert!(pre.blocked.is_none(), "{name}: {:?}", pre.blocked);
        assert_eq!(pre.issues.len(), 1, "{name}");
        assert_eq!(pre.issues[0].kind, kind, "{name}");
        assert!(
            pre.issues[0].message.contains(message),
            "{name}: {}",
            pre.issues[0].message
        );
        let post = hooks
            .run_post(&HookContext::new(HookPhase::PostTurn, dir.path()))
            .await;
        assert!(post.blocked.is_none(), "{name}");
        assert_eq!(post.issues.len(), 1, "{name}");
    }
}

#[tokio::test]
async fn a_fail_closed_shell_hook_blocks_on_every_kind_of_failure() {
    let dir = tempfile::tempdir().unwrap();
    for (hook, kind, message) in failing_hooks(dir.path()) {
        let hook = hook.with_failure_mode(FailureMode::Closed);
        let name = hook.name();
        let mut hooks = Hooks::new();
        hooks.add_pre(hook.clone());
        // A later hook never runs once the chain is blocked.
        hooks.add_pre(ShellCommandHook::new(
            "later",
            ["sh", "-c", r#"echo '{"model": "m"}'"#],
        ));
        hooks.add_post(hook);
        let ctx = HookContext::new(HookPhase::PreTurn, dir.path()).with_prompt("hi");
        let pre = hooks.run_pre(&ctx).await;
        let blocked = pre
            .blocked
            .unwrap_or_else(|| panic!("{name}: a failure must block"));
        assert_eq!(blocked.hook, name);
        assert!(
            blocked.reason.contains(message),
            "{name}: {}",
            blocked.reason
        );
        assert_eq!(pre.issues.len(), 1, "{name}: the failure is still recorded");
        assert_eq!(pre.issues[0].kind, kind, "{name}");
        assert_eq!(pre.patch.model, None, "{name}: the later hook ran");

        let post = hooks
            .run_post(&HookContext::new(HookPhase::PostTurn, dir.path()))
            .await;
        assert_eq!(post.blocked.expect("post block").hook, name);
    }
}

#[tokio::test]
async fn fail_closed_only_concerns_failures_not_decisions() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = HookContext::new(HookPhase::PreTurn, dir.path()).with_prompt("hi");
    let mut hooks = Hooks::new();
    hooks.add_pre(
        ShellCommandHook::new("fine", ["sh", "-c", r#"echo '{"model": "m"}'"#])
            .with_failure_mode(FailureMode::Closed),
    );
    let outcome = hooks.run_pre(&ctx).await;
    assert!(outcome.blocked.is_none() && outcome.issues.is_empty());
    assert_eq!(outcome.patch.model.as_deref(), Some("m"));
}

#[tokio::test]
async fn filtered_hooks_run_only_where_their_matcher_matches_and_keep_the_failure_mode() {
    let dir = tempfile::tempdir().unwrap();
    let failing = ShellCommandHook::new("exit-1", ["sh", "-c", "exit 1"])
        .with_failure_mode(FailureMode::Closed);
    let only_tools = HookMatcher::any().phases([HookPhase::PreToolUse, HookPhase::PostToolUse]);
    let pre = FilteredPreHook::new(only_tools.clone(), failing.clone());
    assert_eq!(PreHook::name(&pre), "exit-1");
    assert_eq!(PreHook::failure_mode(&pre), FailureMode::Closed);
    let mut hooks = Hooks::new();
    hooks.add_pre(pre);
    hooks.add_post(FilteredPostHook::new(only_tools, failing));

    let turn = HookContext::new(HookPhase::PreTurn, dir.path());
    let outcome = hooks.run_pre(&turn).await;
    assert!(outcome.blocked.is_none() && outcome.issues.is_empty());
    let post_turn = HookContext::new(HookPhase::PostTurn, dir.path());
    assert!(hooks.run_post(&post_turn).await.issues.is_empty());

    let tool = HookContext::new(HookPhase::PreToolUse, dir.path()).with_tool_name("exec_command");
    assert_eq!(
        hooks.run_pre(&tool).await.blocked.expect("blocked").hook,
        "exit-1"
    );
    let post_tool = HookContext::new(HookPhase::PostToolUse, dir.path());
    assert!(hooks.run_post(&post_tool).await.blocked.is_some());
}

#[tokio::test]
async fn exit_2_still_blocks_with_a_block_reason() {
    let dir = tempfile::tempdir().unwrap();
    let hook = ShellCommandHook::new("deny", ["sh", "-c", "echo nope >&2; exit 2"]);
    let action = PreHook::call(&hook, &HookContext::new(HookPhase::PreTurn, dir.path()))
        .await
        .unwrap();
    let HookAction::Block(reason) = action else {
        panic!("expected a block, got {action:?}")
    };
    assert_eq!(reason, "nope");
    assert_eq!(reason.as_str(), "nope");
}
