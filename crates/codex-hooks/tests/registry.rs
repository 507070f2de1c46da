//! The `Hooks` registry: matching, ordering, patch merging, blocking, failures, panics and
//! registration timeouts.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use codex_hooks::{
    Attachment, HookAction, HookContext, HookFuture, HookIssue, HookIssueKind, HookMatcher,
    HookPatch, HookPhase, HookRegistration, Hooks, PostHook, PreHook,
};
use serde_json::json;

type Decide = dyn Fn(&HookContext) -> Result<HookAction, HookIssue> + Send + Sync;

/// A hook whose decision is a closure, recording every context it was called with.
#[derive(Clone)]
struct FnHook {
    name: &'static str,
    decide: Arc<Decide>,
    seen: Arc<Mutex<Vec<HookContext>>>,
}

impl FnHook {
    fn new(
        name: &'static str,
        decide: impl Fn(&HookContext) -> Result<HookAction, HookIssue> + Send + Sync + 'static,
    ) -> Self {
        FnHook {
            name,
            decide: Arc::new(decide),
            seen: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn noop(name: &'static str) -> Self {
        FnHook::new(name, |_| Ok(HookAction::Noop))
    }

    fn calls(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    fn seen(&self) -> Vec<HookContext> {
        self.seen.lock().unwrap().clone()
    }
}

impl PreHook for FnHook {
    fn name(&self) -> &'static str {
        self.name
    }
    fn call<'a>(&'a self, ctx: &'a HookContext) -> HookFuture<'a, Result<HookAction, HookIssue>> {
        Box::pin(async move {
            self.seen.lock().unwrap().push(ctx.clone());
            (self.decide)(ctx)
        })
    }
}

impl PostHook for FnHook {
    fn name(&self) -> &'static str {
        self.name
    }
    fn call<'a>(&'a self, ctx: &'a HookContext) -> HookFuture<'a, Result<HookAction, HookIssue>> {
        PreHook::call(self, ctx)
    }
}

fn on(matcher: HookMatcher) -> HookRegistration {
    HookRegistration {
        matcher,
        ..Default::default()
    }
}

fn tool_ctx(phase: HookPhase, cwd: &str, tool: Option<&str>) -> HookContext {
    let ctx = HookContext::new(phase, cwd);
    match tool {
        Some(tool) => ctx.with_tool_name(tool),
        None => ctx,
    }
}

#[tokio::test]
async fn a_phase_matcher_runs_the_hook_in_exactly_that_phase() {
    for registered in HookPhase::ALL {
        let hook = FnHook::noop("phase-only");
        let mut hooks = Hooks::new();
        hooks.add_pre_with(hook.clone(), on(HookMatcher::any().phase(registered)));
        hooks.add_post_with(hook.clone(), on(HookMatcher::any().phase(registered)));
        for fired in HookPhase::ALL {
            let ctx = HookContext::new(fired, "/w");
            let before = hook.calls();
            if fired.is_pre() {
                hooks.run_pre(&ctx).await;
            } else {
                hooks.run_post(&ctx).await;
            }
            let ran = hook.calls() > before;
            assert_eq!(
                ran,
                fired == registered,
                "registered {registered}, fired {fired}"
            );
        }
    }
}

#[tokio::test]
async fn matcher_any_runs_in_every_phase_and_phase_sets_select_several() {
    let any = FnHook::noop("any");
    let turns = FnHook::noop("turns");
    let mut hooks = Hooks::new();
    hooks.add_pre(any.clone()).add_post(any.clone());
    hooks.add_pre_with(
        turns.clone(),
        on(HookMatcher::any().phases([HookPhase::PreTurn, HookPhase::PostTurn])),
    );
    hooks.add_post_with(
        turns.clone(),
        on(HookMatcher::any().phases([HookPhase::PreTurn, HookPhase::PostTurn])),
    );
    for phase in HookPhase::ALL {
        let ctx = HookContext::new(phase, "/w");
        if phase.is_pre() {
            hooks.run_pre(&ctx).await;
        } else {
            hooks.run_post(&ctx).await;
        }
    }
    assert_eq!(any.calls(), 8);
    let turn_phases: Vec<_> = turns.seen().iter().map(|c| c.phase).collect();
    assert_eq!(turn_phases, [HookPhase::PreTurn, HookPhase::PostTurn]);
}

#[tokio::test]
async fn tool_and_cwd_matchers() {
    let cases: &[(HookMatcher, HookContext, bool)] = &[
        // Tool patterns: alternatives, wildcards, missing tool name.
        (
            HookMatcher::any().tools("exec_command|apply_patch"),
            tool_ctx(HookPhase::PreToolUse, "/w", Some("apply_patch")),
            true,
        ),
        (
            HookMatcher::any().tools("exec_command|apply_patch"),
            tool_ctx(HookPhase::PreToolUse, "/w", Some("exec")),
            false,
        ),
        (
            HookMatcher::any().tools("mcp__github__*"),
            tool_ctx(
                HookPhase::PostToolUse,
                "/w",
                Some("mcp__github__create_issue"),
            ),
            true,
        ),
        (
            HookMatcher::any().tools("*"),
            tool_ctx(HookPhase::PreTurn, "/w", None),
            false,
        ),
        // Cwd prefixes are component-aware.
        (
            HookMatcher::any().cwd_prefix("/a/b"),
            tool_ctx(HookPhase::PreTurn, "/a/b", None),
            true,
        ),
        (
            HookMatcher::any().cwd_prefix("/a/b"),
            tool_ctx(HookPhase::PreTurn, "/a/b/c/d", None),
            true,
        ),
        (
            HookMatcher::any().cwd_prefix("/a/b"),
            tool_ctx(HookPhase::PreTurn, "/a/bc", None),
            false,
        ),
        (
            HookMatcher::any().cwd_prefix("/a/b/"),
            tool_ctx(HookPhase::PreTurn, "/a/b/c", None),
            true,
        ),
        // All conditions together must hold.
        (
            HookMatcher::any()
                .phase(HookPhase::PreToolUse)
                .tools("exec_command")
                .cwd_prefix("/repo"),
            tool_ctx(HookPhase::PreToolUse, "/repo/x", Some("exec_command")),
            true,
        ),
        (
            HookMatcher::any()
                .phase(HookPhase::PreToolUse)
                .tools("exec_command")
                .cwd_prefix("/repo"),
            tool_ctx(HookPhase::PostToolUse, "/repo/x", Some("exec_command")),
            false,
        ),
        (
            HookMatcher::any()
                .phase(HookPhase::PreToolUse)
                .tools("exec_command")
                .cwd_prefix("/repo"),
            tool_ctx(HookPhase::PreToolUse, "/elsewhere", Some("exec_command")),
            false,
        ),
    ];
    for (matcher, ctx, expected) in cases {
        assert_eq!(matcher.matches(ctx), *expected, "{matcher:?} on {ctx:?}");
        // The registry runs the hook exactly when the matcher matches.
        let hook = FnHook::noop("m");
        let mut hooks = Hooks::new();
        hooks.add_pre_with(hook.clone(), on(matcher.clone()));
        assert_eq!(hooks.has_pre_for(ctx), *expected);
        hooks.run_pre(ctx).await;
        assert_eq!(hook.calls() == 1, *expected, "{matcher:?} on {ctx:?}");
    }
}

#[tokio::test]
async fn later_hooks_see_earlier_patches_and_the_outcome_merges_them_in_order() {
    let first = FnHook::new("first", |ctx| {
        Ok(HookAction::Mutate(
            HookPatch::new()
                .with_prompt(format!("{} +first", ctx.prompt.as_deref().unwrap_or("")))
                .with_model("model-1")
                .with_attachment(Attachment::Path("one.md".into()))
                .with_metadata("by", json!("first"))
                .with_metadata("first", json!(true)),
        ))
    });
    let second = FnHook::new("second", |ctx| {
        Ok(HookAction::Mutate(
            HookPatch::new()
                .with_prompt(format!("{} +second", ctx.prompt.as_deref().unwrap_or("")))
                .with_attachment(Attachment::ImageUrl("https://img".into()))
                .with_metadata("by", json!("second")),
        ))
    });
    let third = FnHook::noop("third");
    let mut hooks = Hooks::new();
    hooks
        .add_pre(first.clone())
        .add_pre(second.clone())
        .add_pre(third.clone());

    let ctx = HookContext::new(HookPhase::PreTurn, "/w")
        .with_prompt("base")
        .with_model("model-0");
    let outcome = hooks.run_pre(&ctx).await;

    assert!(outcome.blocked.is_none());
    assert!(outcome.issues.is_empty());
    assert_eq!(outcome.patch.prompt.as_deref(), Some("base +first +second"));
    assert_eq!(outcome.patch.model.as_deref(), Some("model-1"));
    assert_eq!(
        outcome.patch.attachments,
        [
            Attachment::Path("one.md".into()),
            Attachment::ImageUrl("https://img".into())
        ]
    );
    assert_eq!(outcome.patch.metadata["by"], json!("second"));
    assert_eq!(outcome.patch.metadata["first"], json!(true));

    // What each hook saw.
    assert_eq!(first.seen()[0], ctx);
    let seen_by_second = &second.seen()[0];
    assert_eq!(seen_by_second.prompt.as_deref(), Some("base +first"));
    assert_eq!(seen_by_second.model.as_deref(), Some("model-1"));
    let seen_by_third = &third.seen()[0];
    assert_eq!(seen_by_third.prompt.as_deref(), Some("base +first +second"));
    assert_eq!(seen_by_third.attachments.len(), 2);

    // Applying the outcome's patch to the original context gives what the last hook saw.
    let mut applied = ctx.clone();
    outcome.patch.apply_to(&mut applied);
    assert_eq!(&applied, seen_by_third);
}

#[tokio::test]
async fn the_first_block_wins_and_stops_the_chain() {
    let mutate = FnHook::new("mutate", |_| {
        Ok(HookAction::Mutate(HookPatch::new().with_prompt("changed")))
    });
    let blocker = FnHook::new("blocker", |_| Ok(HookAction::Block("not today".into())));
    let second_blocker = FnHook::new("second-blocker", |_| Ok(HookAction::Block("other".into())));
    let mut hooks = Hooks::new();
    hooks
        .add_pre(mutate.clone())
        .add_pre(blocker.clone())
        .add_pre(second_blocker.clone());

    let outcome = hooks
        .run_pre(&HookContext::new(HookPhase::PreRun, "/w").with_prompt("p"))
        .await;
    let blocked = outcome.blocked.expect("blocked");
    assert_eq!(blocked.hook, "blocker");
    assert_eq!(blocked.reason, "not today");
    assert_eq!(second_blocker.calls(), 0);
    assert_eq!(mutate.calls(), 1);
    assert_eq!(outcome.patch.prompt.as_deref(), Some("changed"));
    assert!(outcome.issues.is_empty());
}

#[tokio::test]
async fn a_failure_is_recorded_and_blocks_only_with_block_on_failure() {
    let failing = FnHook::new("flaky", |ctx| {
        Err(HookIssue::failed(
            "flaky",
            ctx.phase,
            "database unreachable",
        ))
    });
    let after = FnHook::new("after", |_| {
        Ok(HookAction::Mutate(HookPatch::new().with_model("m")))
    });
    let ctx = HookContext::new(HookPhase::PreSessionStart, "/w");

    let mut lenient = Hooks::new();
    lenient.add_pre(failing.clone()).add_pre(after.clone());
    let outcome = lenient.run_pre(&ctx).await;
    assert!(outcome.blocked.is_none());
    assert_eq!(outcome.issues.len(), 1);
    assert_eq!(outcome.issues[0].kind, HookIssueKind::Failed);
    assert_eq!(outcome.issues[0].hook, "flaky");
    assert_eq!(outcome.issues[0].message, "database unreachable");
    assert_eq!(after.calls(), 1);
    assert_eq!(outcome.patch.model.as_deref(), Some("m"));

    let mut strict = Hooks::new();
    strict
        .add_pre_with(
            failing.clone(),
            HookRegistration {
                block_on_failure: true,
                ..Default::default()
            },
        )
        .add_pre(after.clone());
    let outcome = strict.run_pre(&ctx).await;
    let blocked = outcome.blocked.expect("blocked on failure");
    assert_eq!(blocked.hook, "flaky");
    assert!(
        blocked.reason.contains("database unreachable"),
        "{}",
        blocked.reason
    );
    assert_eq!(outcome.issues.len(), 1);
    assert_eq!(
        after.calls(),
        1,
        "the hook after a blocking failure does not run"
    );
    assert!(outcome.patch.is_empty());
}

/// A hook that panics while polled, or before it even returns its future.
struct Panicky {
    in_future: bool,
}

impl PreHook for Panicky {
    fn name(&self) -> &'static str {
        "panicky"
    }
    fn call<'a>(&'a self, _ctx: &'a HookContext) -> HookFuture<'a, Result<HookAction, HookIssue>> {
        if !self.in_future {
            panic!("panicked before the future");
        }
        Box::pin(async move {
            tokio::task::yield_now().await;
            panic!("panicked inside the future: {}", 42)
        })
    }
}

#[tokio::test]
async fn panics_are_caught_and_recorded() {
    for (in_future, expected) in [
        (true, "panicked inside the future: 42"),
        (false, "panicked before the future"),
    ] {
        let after = FnHook::noop("after");
        let mut hooks = Hooks::new();
        hooks.add_pre(Panicky { in_future }).add_pre(after.clone());
        let outcome = hooks
            .run_pre(&HookContext::new(HookPhase::PreToolUse, "/w"))
            .await;
        assert!(outcome.blocked.is_none());
        assert_eq!(outcome.issues.len(), 1);
        let issue = &outcome.issues[0];
        assert_eq!(issue.kind, HookIssueKind::Panicked);
        assert_eq!(issue.hook, "panicky");
        assert_eq!(issue.phase, HookPhase::PreToolUse);
        assert_eq!(issue.message, expected);
        assert_eq!(after.calls(), 1);
    }
}

/// A hook that never finishes on its own.
struct Stuck {
    started: Arc<AtomicUsize>,
}

impl PostHook for Stuck {
    fn name(&self) -> &'static str {
        "stuck"
    }
    fn call<'a>(&'a self, _ctx: &'a HookContext) -> HookFuture<'a, Result<HookAction, HookIssue>> {
        Box::pin(async move {
            self.started.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(HookAction::Noop)
        })
    }
}

#[tokio::test(start_paused = true)]
async fn a_registration_timeout_is_an_issue_and_can_block() {
    let started = Arc::new(AtomicUsize::new(0));
    let after = FnHook::noop("after");
    let ctx = HookContext::new(HookPhase::PostTurn, "/w");

    let mut hooks = Hooks::new();
    hooks
        .add_post_with(
            Stuck {
                started: started.clone(),
            },
            HookRegistration {
                timeout: Some(Duration::from_secs(2)),
                ..Default::default()
            },
        )
        .add_post(after.clone());
    let outcome = hooks.run_post(&ctx).await;
    assert_eq!(started.load(Ordering::SeqCst), 1);
    assert!(outcome.blocked.is_none());
    assert_eq!(outcome.issues.len(), 1);
    assert_eq!(outcome.issues[0].kind, HookIssueKind::TimedOut);
    assert!(
        outcome.issues[0].message.contains("2s"),
        "{}",
        outcome.issues[0].message
    );
    assert_eq!(after.calls(), 1);

    let mut strict = Hooks::new();
    strict.add_post_with(
        Stuck {
            started: started.clone(),
        },
        HookRegistration {
            timeout: Some(Duration::from_secs(2)),
            block_on_failure: true,
            ..Default::default()
        },
    );
    let outcome = strict.run_post(&ctx).await;
    assert_eq!(outcome.blocked.expect("blocked").hook, "stuck");
}

#[tokio::test]
async fn post_hooks_report_blocks_and_unappliable_patches() {
    let patcher = FnHook::new("patcher", |_| {
        Ok(HookAction::Mutate(HookPatch::new().with_prompt("too late")))
    });
    let empty_patch = FnHook::new("empty-patch", |_| Ok(HookAction::Mutate(HookPatch::new())));
    let blocker = FnHook::new("stop", |ctx| {
        let code = ctx
            .tool_result
            .as_ref()
            .and_then(|r| r.exit_code)
            .unwrap_or_default();
        Ok(HookAction::Block(
            format!("command exited with {code}").into(),
        ))
    });
    let never = FnHook::noop("never");
    let mut hooks = Hooks::new();
    hooks
        .add_post(patcher.clone())
        .add_post(empty_patch.clone())
        .add_post(blocker.clone())
        .add_post(never.clone());

    let ctx = HookContext::new(HookPhase::PostToolUse, "/w")
        .with_tool_name("exec_command")
        .with_tool_result(codex_hooks::ToolResult::new("failed").with_exit_code(7));
    let outcome = hooks.run_post(&ctx).await;
    assert_eq!(outcome.issues.len(), 1);
    assert_eq!(outcome.issues[0].hook, "patcher");
    assert_eq!(outcome.issues[0].kind, HookIssueKind::InvalidOutput);
    let blocked = outcome.blocked.expect("blocked");
    assert_eq!(
        (blocked.hook.as_str(), blocked.reason.as_str()),
        ("stop", "command exited with 7")
    );
    assert_eq!(never.calls(), 0);
    assert_eq!(empty_patch.calls(), 1);
}

#[tokio::test]
async fn merge_runs_global_hooks_first_and_clones_are_independent() {
    let order = Arc::new(Mutex::new(Vec::new()));
    let recorder = |name: &'static str| {
        let order = order.clone();
        FnHook::new(name, move |_| {
            order.lock().unwrap().push(name);
            Ok(HookAction::Noop)
        })
    };
    let mut global = Hooks::new();
    global
        .add_pre(recorder("global-1"))
        .add_pre(recorder("global-2"));
    let mut run = Hooks::new();
    run.add_pre(recorder("run-1"));
    run.add_post(recorder("run-post"));

    let merged = global.merge(&run);
    assert_eq!(merged.pre_names(), ["global-1", "global-2", "run-1"]);
    assert_eq!(merged.post_names(), ["run-post"]);
    merged
        .run_pre(&HookContext::new(HookPhase::PreRun, "/w"))
        .await;
    assert_eq!(*order.lock().unwrap(), ["global-1", "global-2", "run-1"]);

    // Registering on a clone leaves the original alone.
    let mut clone = global.clone();
    clone.add_pre(recorder("extra"));
    assert_eq!(global.pre_names(), ["global-1", "global-2"]);
    assert_eq!(clone.pre_names(), ["global-1", "global-2", "extra"]);
    assert!(Hooks::new().is_empty() && !global.is_empty());
}

#[tokio::test]
async fn shared_trait_objects_can_be_registered() {
    let hook = FnHook::new("shared", |_| Ok(HookAction::Block("stop".into())));
    let shared: Arc<dyn PreHook> = Arc::new(hook.clone());
    let mut hooks = Hooks::new();
    hooks.add_pre(shared.clone()).add_pre(shared);
    let outcome = hooks
        .run_pre(&HookContext::new(HookPhase::PreRun, "/w"))
        .await;
    assert_eq!(outcome.blocked.expect("blocked").hook, "shared");
    assert_eq!(hook.calls(), 1);
}
