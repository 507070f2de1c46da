//! Tools written in Rust, end to end on the real codex (the binary `CODEX_BIN` selects, so
//! `scripts/test-matrix.sh` runs this per version) + the mock model: the mock calls the tool,
//! the tool runs once with the decoded arguments, its output is in the model's next request,
//! the call is an `mcpToolCall` item of the turn, and the turn completes.

mod tools_support;

use codex_mock_model::{Reply, Scenario};
use codex_runtime::runtime::{Client, ThreadItem, TurnEvent, TurnStatus};
use codex_runtime::tools::TOOLS_SERVER_NAME;
use codex_runtime::{Workflow, WorkflowConfig};
use codex_test_support::CodexTestEnv;
use futures::StreamExt;
use serde_json::json;
use tools_support::{call_output_text, lookup_tool, Lookup};

#[tokio::test]
async fn the_model_calls_a_rust_tool_once_and_sees_its_output() {
    let env = CodexTestEnv::start(Scenario::new([
        Reply::mcp_tool_call(
            TOOLS_SERVER_NAME,
            "lookup_ticket",
            json!({"id": "ABC-123", "lines": 3}),
        ),
        Reply::text("ABC-123 is open"),
    ]))
    .await
    .unwrap();
    let (tool, calls) = lookup_tool();
    let client = Client::connect(env.client_config()).await.unwrap();
    let session = client
        .start_session(env.session_config().with_tool(tool))
        .await
        .unwrap();
    let out = session.ask("What is the state of ABC-123?").await.unwrap();
    assert_eq!(out.status, TurnStatus::Completed);
    assert_eq!(out.assistant_text, "ABC-123 is open");
    assert_eq!(
        *calls.lock().unwrap(),
        vec![Lookup {
            id: "ABC-123".into(),
            lines: 3
        }]
    );
    let bodies = env.mock.response_requests();
    assert_eq!(bodies.len(), 2, "one request for the call, one after it");
    let first = bodies[0]["tools"].to_string();
    assert!(
        first.contains("lookup_ticket"),
        "the tool is offered: {first}"
    );
    let output = call_output_text(&bodies[1]);
    assert!(
        output.contains("ticket ABC-123 is open (3 lines)"),
        "{output}"
    );
    let item = out
        .items
        .iter()
        .find_map(|i| match i {
            ThreadItem::McpToolCall(m) => Some(m),
            _ => None,
        })
        .expect("an mcpToolCall item");
    assert_eq!(item.server, "codex_runtime");
    assert_eq!(item.tool, "lookup_ticket");
    session.close().await.unwrap();
    client.shutdown().await.unwrap();
    env.assert_no_leftover_processes().await;
}

#[tokio::test]
async fn a_workflow_run_offers_the_tools_of_its_profile() {
    let env = CodexTestEnv::start(Scenario::new([
        Reply::mcp_tool_call(
            TOOLS_SERVER_NAME,
            "lookup_ticket",
            json!({"id": "WF-9", "lines": 1}),
        ),
        Reply::text("WF-9 is open"),
    ]))
    .await
    .unwrap();
    let (tool, calls) = lookup_tool();
    let config = WorkflowConfig::new(env.workdir())
        .with_client_config(env.client_config())
        .with_tool(tool);
    let wf = Workflow::connect(config).await.unwrap();
    let out = wf.run("state of WF-9?").await.unwrap();
    assert_eq!(out.assistant_text, "WF-9 is open");
    assert_eq!(calls.lock().unwrap().len(), 1);
    let output = call_output_text(&env.mock.response_requests()[1]);
    assert!(output.contains("ticket WF-9 is open (1 lines)"), "{output}");
    wf.shutdown().await.unwrap();
    env.assert_no_leftover_processes().await;
}

#[tokio::test]
async fn ask_stream_reports_the_tool_call_as_item_events() {
    let env = CodexTestEnv::start(Scenario::new([
        Reply::mcp_tool_call(
            TOOLS_SERVER_NAME,
            "lookup_ticket",
            json!({"id": "S-1", "lines": 2}),
        ),
        Reply::text("S-1 is open"),
    ]))
    .await
    .unwrap();
    let (tool, calls) = lookup_tool();
    let client = Client::connect(env.client_config()).await.unwrap();
    let session = client
        .start_session(env.session_config().with_tool(tool))
        .await
        .unwrap();
    let mut stream = Box::pin(session.ask_stream("state of S-1?"));
    let (mut started, mut completed, mut done) = (0, None, None);
    while let Some(ev) = stream.next().await {
        match ev.unwrap() {
            TurnEvent::ItemStarted(ThreadItem::McpToolCall(_)) => started += 1,
            TurnEvent::ItemCompleted(ThreadItem::McpToolCall(m)) => completed = Some(m),
            TurnEvent::Completed(out) => done = Some(out),
            _ => {}
        }
    }
    assert_eq!(started, 1);
    let call = completed.expect("an ItemCompleted event for the call");
    assert_eq!(
        (call.server.as_str(), call.tool.as_str()),
        ("codex_runtime", "lookup_ticket")
    );
    assert_eq!(call.arguments["id"], "S-1");
    let result = serde_json::to_string(&call.result).unwrap();
    assert!(result.contains("ticket S-1 is open (2 lines)"), "{result}");
    assert_eq!(
        done.expect("the turn completes").assistant_text,
        "S-1 is open"
    );
    assert_eq!(calls.lock().unwrap().len(), 1);
    session.close().await.unwrap();
    client.shutdown().await.unwrap();
    env.assert_no_leftover_processes().await;
}
