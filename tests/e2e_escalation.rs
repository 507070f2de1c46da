//! The escalation gate on the real codex + the mock model: with sandbox `workspace-write` and a
//! handler that accepts everything, a command the model runs with
//! `sandbox_permissions: "require_escalated"` is declined before any handler sees it, under the
//! session's `untrusted` policy and under a per-turn `on-request` override, unless
//! `allow_privileged_escalation()` was called. Under `untrusted`, an escalated call without a
//! justification carries no marker at all; `Approvals::accept_all()` then gets no command
//! approval (they are declined) unless escalation is allowed.

use codex_mock_model::{Reply, Scenario, ScratchDir};
use codex_runtime::runtime::{
    ApprovalDecision, ApprovalMode, Approvals, Client, Sandbox, SessionConfig, ThreadItem,
    TurnOverrides,
};
use codex_test_support::CodexTestEnv;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

struct Case {
    env: CodexTestEnv,
    outside: PathBuf,
    _outside_dir: ScratchDir,
    calls: Arc<AtomicUsize>,
}

/// A mock whose model writes a file outside the workspace with an escalated command, and a
/// handler that accepts everything and counts its calls.
async fn case() -> (Case, Approvals) {
    let outside_dir = ScratchDir::create("codex-workdirs", "outside").unwrap();
    let outside = outside_dir.path().join("escalated.txt");
    let env = CodexTestEnv::start(Scenario::new([
        Reply::shell_escalated(
            format!("touch {}", outside.display()),
            "May I write outside the workspace?",
        ),
        Reply::text("ok"),
    ]))
    .await
    .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let approvals = Approvals::accept_all().on_command(move |_req| {
        counted.fetch_add(1, Ordering::SeqCst);
        async { ApprovalDecision::Accept }
    });
    let case = Case {
        env,
        outside,
        _outside_dir: outside_dir,
        calls,
    };
    (case, approvals)
}

fn workspace_write(env: &CodexTestEnv, approval: ApprovalMode) -> SessionConfig {
    env.session_config()
        .with_approval(approval)
        .with_sandbox(Sandbox::WorkspaceWrite)
}

fn assert_declined(case: &Case, items: &[ThreadItem]) {
    assert_eq!(
        case.calls.load(Ordering::SeqCst),
        0,
        "the handler saw the request"
    );
    assert!(
        !case.outside.exists(),
        "{} was written",
        case.outside.display()
    );
    assert!(
        items.iter().any(|i| matches!(i,
            ThreadItem::CommandExecution(c) if c.status.as_str() == "declined")),
        "{items:#?}"
    );
}

#[tokio::test]
async fn under_untrusted_an_escalated_command_is_declined_before_the_handler() {
    let (case, approvals) = case().await;
    let client = Client::connect(case.env.client_config()).await.unwrap();
    let session = client
        .start_session(
            workspace_write(&case.env, ApprovalMode::Untrusted).with_approval_handler(approvals),
        )
        .await
        .unwrap();
    let out = session.ask("escalate").await.unwrap();
    assert_declined(&case, &out.items);
    client.shutdown().await.unwrap();
}

#[tokio::test]
async fn under_a_per_turn_on_request_override_an_escalated_command_is_declined() {
    let (case, approvals) = case().await;
    let client = Client::connect(case.env.client_config()).await.unwrap();
    let session = client
        .start_session(
            workspace_write(&case.env, ApprovalMode::Never).with_approval_handler(approvals),
        )
        .await
        .unwrap();
    let out = session
        .ask_with(
            "escalate",
            TurnOverrides::new().with_approval(ApprovalMode::OnRequest),
        )
        .await
        .unwrap();
    assert_declined(&case, &out.items);
    client.shutdown().await.unwrap();
}

#[tokio::test]
async fn with_privileged_escalation_allowed_the_handler_decides() {
    let (case, approvals) = case().await;
    let client = Client::connect(case.env.client_config()).await.unwrap();
    let session = client
        .start_session(
            workspace_write(&case.env, ApprovalMode::Untrusted)
                .allow_privileged_escalation()
                .with_approval_handler(approvals),
        )
        .await
        .unwrap();
    session.ask("escalate").await.unwrap();
    assert_eq!(case.calls.load(Ordering::SeqCst), 1);
    assert!(case.outside.exists());
    client.shutdown().await.unwrap();
}

/// A mock whose model asks to run `touch <outside>` with `sandbox_permissions:
/// "require_escalated"` and no justification (the H3 case of the 2026-12-07 review).
async fn unjustified_case() -> (CodexTestEnv, PathBuf, ScratchDir) {
    let outside_dir = ScratchDir::create("codex-workdirs", "outside").unwrap();
    let outside = outside_dir.path().join("escalated.txt");
    let env = CodexTestEnv::start(Scenario::new([
        Reply::function_call(
            "exec_command",
            serde_json::json!({
                "cmd": format!("touch {}", outside.display()),
                "sandbox_permissions": "require_escalated",
            }),
        ),
        Reply::text("ok"),
    ]))
    .await
    .unwrap();
    (env, outside, outside_dir)
}

#[tokio::test]
async fn under_untrusted_accept_all_never_accepts_an_unjustified_escalation() {
    let (env, outside, _dir) = unjustified_case().await;
    let client = Client::connect(env.client_config()).await.unwrap();
    let session = client
        .start_session(
            workspace_write(&env, ApprovalMode::Untrusted)
                .with_approval_handler(Approvals::accept_all()),
        )
        .await
        .unwrap();
    let out = session.ask("escalate").await.unwrap();
    assert!(!outside.exists(), "{} was written", outside.display());
    assert!(
        out.items.iter().any(|i| matches!(i,
            ThreadItem::CommandExecution(c) if c.status.as_str() == "declined")),
        "{:#?}",
        out.items
    );
    client.shutdown().await.unwrap();
    env.assert_no_leftover_processes().await;
}

/// The premise, and that the gate is what stops it: codex's request carries no marker (no
/// `reason`), and once escalation is allowed the same command runs and writes outside the
/// workspace.
#[tokio::test]
async fn an_unjustified_escalation_carries_no_reason_and_runs_once_escalation_is_allowed() {
    let (env, outside, _dir) = unjustified_case().await;
    let reasons = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = Arc::clone(&reasons);
    let approvals = Approvals::new().on_command(move |req| {
        seen.lock().unwrap().push(req.reason);
        async { ApprovalDecision::Accept }
    });
    let client = Client::connect(env.client_config()).await.unwrap();
    let session = client
        .start_session(
            workspace_write(&env, ApprovalMode::Untrusted)
                .allow_privileged_escalation()
                .with_approval_handler(approvals),
        )
        .await
        .unwrap();
    session.ask("escalate").await.unwrap();
    assert_eq!(*reasons.lock().unwrap(), vec![None::<String>]);
    assert!(outside.exists(), "{} was not written", outside.display());
    client.shutdown().await.unwrap();
    env.assert_no_leftover_processes().await;
}
