//! Layer 4 end to end: three scheduled turns on one session, on the real codex + mock model.

use codex_mock_model::{Reply, Scenario};
use codex_runtime::automation::{
    spawn, spawn_with, AutomationOptions, AutomationSpec, AutomationState, StopMode,
};
use codex_runtime::runtime::Client;
use codex_test_support::CodexTestEnv;
use std::time::Duration;

#[tokio::test]
async fn three_scheduled_turns_share_one_session_history() {
    let env = CodexTestEnv::start(Scenario::new([
        Reply::text("run one done"),
        Reply::text("run two done"),
        Reply::text("run three done"),
    ]))
    .await
    .unwrap();
    let client = Client::connect(env.client_config()).await.unwrap();
    let session = client.start_session(env.session_config()).await.unwrap();
    let thread = session.thread_id().to_string();
    let handle = spawn(
        session,
        AutomationSpec {
            prompt: "reduce the backlog by one item".to_string(),
            start_at: None,
            every: Duration::from_millis(200),
            stop_at: None,
            max_runs: Some(3),
        },
    );
    let status = tokio::time::timeout(Duration::from_secs(60), handle.wait())
        .await
        .expect("automation finished");
    assert_eq!(status.state, AutomationState::Finished, "{status:?}");
    assert_eq!(status.runs_done, 3);
    let last = status.last_outcome.expect("an outcome");
    assert_eq!(last.assistant_text, "run three done");
    assert_eq!(last.thread_id, thread);
    let bodies = env.mock.response_requests();
    assert_eq!(bodies.len(), 3);
    let third = bodies[2]["input"].to_string();
    assert!(
        third.contains("run one done") && third.contains("run two done"),
        "{third}"
    );
    client.shutdown().await.unwrap();
    env.assert_no_leftover_processes().await;
}

#[tokio::test]
async fn stop_with_interrupt_ends_a_stalled_scheduled_turn() {
    let env = CodexTestEnv::start(Scenario::new([Reply::stall(["working "])]))
        .await
        .unwrap();
    let client = Client::connect(env.client_config()).await.unwrap();
    let session = client.start_session(env.session_config()).await.unwrap();
    let handle = spawn_with(
        session,
        AutomationSpec {
            prompt: "long job".to_string(),
            start_at: None,
            every: Duration::from_secs(3600),
            stop_at: None,
            max_runs: None,
        },
        AutomationOptions::new(),
    );
    env.mock
        .wait_for_stall(Duration::from_secs(20))
        .await
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), handle.stop(StopMode::Interrupt))
        .await
        .expect("stop returned");
    assert_eq!(status.state, AutomationState::Stopped, "{status:?}");
    assert_eq!(status.runs_done, 1);
    client.shutdown().await.unwrap();
}
