//! Layer 1: `quick_run` end to end on the real codex + mock model. `quick_run` takes its codex
//! from the process environment (`CODEX_BIN`, `CODEX_HOME`), so this file holds one test.

use codex_mock_model::{Reply, Scenario};
use codex_runtime::runtime::{Effort, RunProfile, TurnStatus};
use codex_runtime::{quick_run, quick_run_with_profile, Error};
use codex_test_support::CodexTestEnv;

#[tokio::test]
async fn quick_run_returns_the_text_and_a_failing_turn_is_a_typed_error_with_no_process_left() {
    let env = CodexTestEnv::start(Scenario::new([
        Reply::text("quick hello"),
        Reply::http_error(
            500,
            serde_json::json!({"error": {"message": "mock outage"}}),
        ),
        Reply::text("high effort"),
    ]))
    .await
    .unwrap();
    for (k, v) in env.env_vars() {
        std::env::set_var(k, v);
    }
    std::env::set_var("CODEX_BIN", &env.bin);

    let out = quick_run(env.workdir(), "hello?").await.unwrap();
    assert_eq!(out.assistant_text, "quick hello");
    assert_eq!(out.status, TurnStatus::Completed);
    assert!(!out.thread_id.is_empty() && !out.turn_id.is_empty());
    env.assert_no_leftover_processes().await;

    let err = quick_run(env.workdir(), "fail please").await.unwrap_err();
    match &err {
        Error::TurnFailed { message, .. } => assert!(!message.is_empty()),
        other => panic!("expected TurnFailed, got {other}"),
    }
    // Shutdown also happened on failure: no codex is left.
    env.assert_no_leftover_processes().await;

    let out = quick_run_with_profile(
        env.workdir(),
        "think hard",
        RunProfile::new().with_effort(Effort::High),
    )
    .await
    .unwrap();
    assert_eq!(out.assistant_text, "high effort");
    let bodies = env.mock.response_requests();
    assert_eq!(bodies.last().unwrap()["reasoning"]["effort"], "high");
    env.assert_no_leftover_processes().await;
}
