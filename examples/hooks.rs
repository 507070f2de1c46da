//! Hooks: a pre hook that rewrites the prompt, a post hook that records the phases it sees, and
//! a shell command hook (context as JSON on stdin) after every run.
//!
//! `cargo run --example hooks`

mod common;

use codex_mock_model::{Reply, Scenario};
use codex_runtime::plugin::{
    HookAction, HookContext, HookFuture, HookIssue, HookMatcher, HookPatch, HookPhase,
    HookRegistration, PostHook, PreHook, ShellCommandHook,
};
use codex_runtime::{Workflow, WorkflowConfig};
use std::sync::{Arc, Mutex};

/// Adds a house rule to every prompt before the turn starts.
struct HouseRules;

impl PreHook for HouseRules {
    fn name(&self) -> &'static str {
        "house-rules"
    }
    fn call<'a>(&'a self, ctx: &'a HookContext) -> HookFuture<'a, Result<HookAction, HookIssue>> {
        Box::pin(async move {
            if ctx.phase != HookPhase::PreTurn {
                return Ok(HookAction::Noop);
            }
            let prompt = ctx.prompt.clone().unwrap_or_default();
            Ok(HookAction::Mutate(HookPatch::new().with_prompt(format!(
                "{prompt}\n(Answer in one sentence.)"
            ))))
        })
    }
}

/// Records every post phase it sees.
#[derive(Clone, Default)]
struct PhaseLog(Arc<Mutex<Vec<HookPhase>>>);

impl PostHook for PhaseLog {
    fn name(&self) -> &'static str {
        "phase-log"
    }
    fn call<'a>(&'a self, ctx: &'a HookContext) -> HookFuture<'a, Result<HookAction, HookIssue>> {
        Box::pin(async move {
            if let Ok(mut phases) = self.0.lock() {
                phases.push(ctx.phase);
            }
            Ok(HookAction::Noop)
        })
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let example = common::setup(
        "hooks",
        Scenario::new([Reply::text(
            "Hooks run around runs, sessions, turns and tools.",
        )]),
    )
    .await?;

    let log = PhaseLog::default();
    let mut config = WorkflowConfig::new(&example.workdir)
        .with_client_config(example.client.clone())
        .with_global_pre_hook(HouseRules)
        .with_global_post_hook(log.clone());
    // A shell hook that only fires at PostRun: it gets the context as JSON on stdin and
    // keeps it as an audit record.
    config.run_hooks.add_post_with(
        ShellCommandHook::new("audit", ["sh", "-c", "cat > audit.json"]).with_cwd(&example.workdir),
        HookRegistration {
            matcher: HookMatcher::any().phase(HookPhase::PostRun),
            ..HookRegistration::default()
        },
    );

    let workflow = Workflow::connect(config).await?;
    let out = workflow.run("What are hooks for?").await?;
    println!("{}", out.assistant_text);
    println!(
        "post phases seen: {:?}",
        log.0.lock().map(|p| p.clone()).unwrap_or_default()
    );
    let audit: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        example.workdir.join("audit.json"),
    )?)?;
    println!("shell hook recorded: {audit}");
    for issue in &out.hook_issues {
        println!("hook issue: {issue:?}");
    }
    workflow.shutdown().await?;
    Ok(())
}
