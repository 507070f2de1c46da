//! Rust tools on the surfaces that take a prepared `Session` or a session template: automation
//! (scheduled turns on one session) and the web adapter (every web session opened from the
//! template). On the real codex + the mock model: the mock calls the tool, it runs once with
//! the decoded arguments, and its output is in the model's next request.

mod tools_support;
mod web_support;

use codex_mock_model::{Reply, Scenario};
use codex_runtime::automation::{spawn, AutomationSpec, AutomationState};
use codex_runtime::runtime::Client;
use codex_runtime::tools::TOOLS_SERVER_NAME;
use codex_runtime::web::{WebAdapter, WebConfig};
use codex_test_support::CodexTestEnv;
use serde_json::json;
use std::time::Duration;
use tokio::sync::oneshot;
use tools_support::{call_output_text, lookup_tool, Lookup};
use web_support::{sse_at, tokens, ALICE, WAIT};

#[tokio::test]
async fn an_automation_run_calls_the_tools_of_its_session() {
    let env = CodexTestEnv::start(Scenario::new([
        Reply::mcp_tool_call(
            TOOLS_SERVER_NAME,
            "lookup_ticket",
            json!({"id": "AU-7", "lines": 2}),
        ),
        Reply::text("AU-7 is open"),
    ]))
    .await
    .unwrap();
    let (tool, calls) = lookup_tool();
    let client = Client::connect(env.client_config()).await.unwrap();
    let session = client
        .start_session(env.session_config().with_tool(tool))
        .await
        .unwrap();
    let handle = spawn(
        session,
        AutomationSpec {
            prompt: "check AU-7".to_string(),
            start_at: None,
            every: Duration::from_millis(200),
            stop_at: None,
            max_runs: Some(1),
        },
    );
    let status = tokio::time::timeout(WAIT, handle.wait())
        .await
        .expect("the automation finished");
    assert_eq!(status.state, AutomationState::Finished, "{status:?}");
    assert_eq!(status.runs_done, 1);
    let outcome = status.last_outcome.expect("an outcome");
    assert_eq!(outcome.assistant_text, "AU-7 is open");
    assert_eq!(
        *calls.lock().unwrap(),
        vec![Lookup {
            id: "AU-7".into(),
            lines: 2
        }]
    );
    let output = call_output_text(&env.mock.response_requests()[1]);
    assert!(output.contains("ticket AU-7 is open (2 lines)"), "{output}");
    client.shutdown().await.unwrap();
    env.assert_no_leftover_processes().await;
}

#[tokio::test]
async fn every_web_session_gets_the_tools_of_the_template() {
    let env = CodexTestEnv::start(Scenario::new([
        Reply::mcp_tool_call(
            TOOLS_SERVER_NAME,
            "lookup_ticket",
            json!({"id": "WEB-3", "lines": 5}),
        ),
        Reply::text("WEB-3 is open"),
    ]))
    .await
    .unwrap();
    let (tool, calls) = lookup_tool();
    let client = Client::connect(env.client_config()).await.unwrap();
    let template = env.session_config().with_tool(tool);
    let adapter = WebAdapter::spawn(client.clone(), WebConfig::new(template, tokens()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let served = adapter.clone();
    let server = tokio::spawn(async move {
        served
            .serve(listener, async move {
                let _ = stopped.await;
            })
            .await
    });
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();

    let created = http
        .post(format!("{base}/api/sessions"))
        .bearer_auth(ALICE)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201, "{:?}", created.text().await);
    let id = created.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut events = sse_at(
        &http,
        &format!("{base}/api/sessions/{id}/events"),
        ALICE,
        None,
    )
    .await;
    let turn = http
        .post(format!("{base}/api/sessions/{id}/turns"))
        .bearer_auth(ALICE)
        .json(&json!({"prompt": "state of WEB-3?"}))
        .send()
        .await
        .unwrap();
    assert_eq!(turn.status(), 202, "{:?}", turn.text().await);
    let all = tokio::time::timeout(WAIT, events.until("turn.completed"))
        .await
        .expect("the turn completed");
    assert!(
        all.iter()
            .any(|e| e.data.to_string().contains("WEB-3 is open")),
        "{all:#?}"
    );
    assert_eq!(
        *calls.lock().unwrap(),
        vec![Lookup {
            id: "WEB-3".into(),
            lines: 5
        }]
    );
    let output = call_output_text(&env.mock.response_requests()[1]);
    assert!(
        output.contains("ticket WEB-3 is open (5 lines)"),
        "{output}"
    );

    let _ = stop.send(());
    let _ = server.await;
    adapter.shutdown().await;
    client.shutdown().await.unwrap();
    env.assert_no_leftover_processes().await;
}
