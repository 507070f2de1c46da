//! A program that runs flows hands its Rust tools to Code Mode steps
//! (`SessionCodeModeExecutor::with_tools`, feature `tools`): on the real codex + the mock model,
//! the step's turn calls the tool, the tool runs once, and the step completes with its
//! FLOW_RESULT.

mod support;

use std::sync::{Arc, Mutex};

use codex_flow::{DispatchOptions, FlowClient, LocalHooks, ProcessStatus, SessionCodeModeExecutor};
use codex_mock_model::{Reply, Scenario};
use codex_runtime::tools::{Tool, ToolError, ToolOutput, TOOLS_SERVER_NAME};
use codex_test_support::CodexTestEnv;
use serde_json::json;
use support::{env, FlowTree};

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Severity {
    /// The issue id.
    issue: String,
}

#[tokio::test]
async fn a_code_mode_step_calls_a_tool_the_program_handed_over() {
    let codex = CodexTestEnv::start(Scenario::new([
        Reply::mcp_tool_call(TOOLS_SERVER_NAME, "severity", json!({"issue": "issue-7"})),
        Reply::json(
            json!({"status": "completed", "message": "sev2", "artifacts": [], "next": null}),
        ),
    ]))
    .await
    .unwrap();
    let tree = FlowTree::new();
    tree.file(
        "flows/triage/flow.toml",
        "name = \"triage\"\nversion = 1\n[[steps]]\nname = \"rate\"\nrunner = \"code-mode\"\nscript = \"rate.md\"\ntimeout_ms = 60000\n[steps.trigger]\ntype = \"issue.opened\"\n",
    );
    tree.file(
        "flows/triage/rate.md",
        "Rate the issue with the severity tool.\n",
    );

    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let tool = Tool::new(
        "severity",
        "The severity of an issue",
        move |a: Severity| {
            record.lock().unwrap().push(a.issue);
            async { Ok::<_, ToolError>(ToolOutput::text("sev2")) }
        },
    );
    let executor = Arc::new(SessionCodeModeExecutor::new(codex.client_config()).with_tools([tool]));
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
            json!({"id": "issue-7", "type": "issue.opened", "payload": {"title": "slow"}}),
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
    assert_eq!(*seen.lock().unwrap(), ["issue-7"]);
    let bodies = codex.mock.response_requests();
    assert_eq!(bodies.len(), 2);
    assert!(bodies[1]["input"].to_string().contains("sev2"));

    executor.shutdown().await.unwrap();
    codex.assert_no_leftover_processes().await;
}
