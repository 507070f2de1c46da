//! A Code Mode step through the real codex 0.169.0 + the mock model: the step runs as a Codex
//! turn on our own `Session`, and its FLOW_RESULT comes back through the turn's output schema.

mod support;

use std::sync::Arc;

use codex_flow::{
    code_mode_output_schema, DispatchOptions, EffectiveStatus, FlowClient, LocalHooks,
    ProcessStatus, SessionCodeModeExecutor,
};
use codex_mock_model::{Reply, Scenario};
use codex_test_support::CodexTestEnv;
use serde_json::json;
use support::{env, FlowTree};

#[tokio::test]
async fn a_code_mode_step_returns_its_flow_result_through_the_output_schema() {
    let codex = CodexTestEnv::start(Scenario::new([Reply::json(json!({
        "status": "needs_intervention",
        "message": "labelled as bug; a human must confirm the severity",
        "artifacts": ["label:bug"],
        "next": null
    }))]))
    .await
    .unwrap();
    let tree = FlowTree::new();
    tree.file(
        "flows/triage/flow.toml",
        "name = \"triage\"\nversion = 1\n[[steps]]\nname = \"label\"\nrunner = \"code-mode\"\nscript = \"label.md\"\ntimeout_ms = 60000\n[steps.trigger]\ntype = \"issue.opened\"\n",
    );
    tree.file(
        "flows/triage/label.md",
        "Label the issue described in the context.\n",
    );

    let executor = Arc::new(SessionCodeModeExecutor::new(codex.client_config()));
    let mut config = tree.config();
    config.env = env(&[("CODEX_FLOWS_ENABLE_CODE_MODE", "1")]);
    let client = tree.client_with(
        config,
        LocalHooks {
            code_mode: Some(executor.clone()),
            progress: None,
        },
    );
    let answer = client
        .dispatch_event(
            json!({"id": "issue-42", "type": "issue.opened", "payload": {"title": "crash on start"}}),
            DispatchOptions { wait: true },
        )
        .await
        .unwrap();
    let run = client.get_run(&answer.run_ids[0]).await.unwrap();
    assert_eq!(
        run.process_status,
        Some(ProcessStatus::Completed),
        "{run:#?}"
    );
    assert_eq!(run.effective_status, EffectiveStatus::NeedsIntervention);
    assert!(run.needs_attention);

    // What reached the model: the output schema, the step file as instructions, the context.
    let bodies = codex.mock.response_requests();
    assert_eq!(bodies.len(), 1);
    let body = &bodies[0];
    assert_eq!(body["text"]["format"]["schema"], code_mode_output_schema());
    let text = body.to_string();
    assert!(text.contains("Label the issue described in the context."));
    assert!(text.contains("issue-42") && text.contains("crash on start"));

    executor.shutdown().await.unwrap();
    codex.assert_no_leftover_processes().await;
}
