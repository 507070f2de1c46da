//! `WorkflowConfig`'s shell hooks on the real codex with the mock model: a failing script
//! (missing, exit 1, timeout) lets the run go on by default (fail open, recorded in
//! `hook_issues`), and stops it before anything reaches the model with
//! `with_shell_hook_failure_mode(FailureMode::Closed)`.

use std::time::Duration;

use codex_mock_model::{Reply, Scenario};
use codex_runtime::plugin::FailureMode;
use codex_runtime::{Error, Workflow, WorkflowConfig};
use codex_test_support::CodexTestEnv;

fn failing_scripts(env: &CodexTestEnv) -> Vec<(&'static str, Vec<String>)> {
    vec![
        (
            "missing script",
            vec![env
                .workdir()
                .join("no-such-policy.sh")
                .display()
                .to_string()],
        ),
        ("exit 1", vec!["sh".into(), "-c".into(), "exit 1".into()]),
        ("timeout", vec!["sh".into(), "-c".into(), "sleep 30".into()]),
    ]
}

fn config(env: &CodexTestEnv, argv: Vec<String>) -> WorkflowConfig {
    WorkflowConfig::new(env.workdir())
        .with_client_config(env.client_config())
        .with_shell_pre_hook(argv)
        .with_shell_pre_hook_timeout(Duration::from_millis(500))
}

#[tokio::test]
async fn shell_hook_failures_fail_open_by_default_and_closed_when_asked() {
    let env = CodexTestEnv::start(Scenario::empty().with_fallback(Reply::text("went on")))
        .await
        .unwrap();
    for (kind, argv) in failing_scripts(&env) {
        // Default: open. The run reaches the model and the failure is reported.
        let cfg = config(&env, argv.clone());
        assert_eq!(cfg.shell_hook_failure_mode, FailureMode::Open);
        let wf = Workflow::connect(cfg).await.unwrap();
        let before = env.mock.response_requests().len();
        let out = wf.run("go").await.unwrap();
        assert_eq!(out.assistant_text, "went on", "{kind}");
        assert!(
            out.hook_issues.iter().any(|i| i.hook == "shell-pre-hook"),
            "{kind}: {:?}",
            out.hook_issues
        );
        assert!(env.mock.response_requests().len() > before, "{kind}");
        wf.shutdown().await.unwrap();

        // Closed: the run is blocked and the model never sees a request.
        let wf =
            Workflow::connect(config(&env, argv).with_shell_hook_failure_mode(FailureMode::Closed))
                .await
                .unwrap();
        let before = env.mock.response_requests().len();
        match wf.run("go").await {
            Err(Error::HookBlocked { hook, reason }) => {
                assert_eq!(hook, "shell-pre-hook", "{kind}");
                assert!(!reason.is_empty(), "{kind}");
            }
            other => panic!("{kind}: expected HookBlocked, got {other:?}"),
        }
        assert_eq!(env.mock.response_requests().len(), before, "{kind}");
        wf.shutdown().await.unwrap();
    }
    env.assert_no_leftover_processes().await;
}
