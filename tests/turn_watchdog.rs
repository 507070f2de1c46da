//! The turn watchdog on the scripted fake app-server (`FAKE_TURN`, tests/fake_app_server): the
//! real codex cannot be made to leave out `turn/completed` on demand. The fake streams one
//! completed agent message and never sends `turn/completed`; its `thread/read` shows the turn
//! completed (with a final text the stream never had) or still in progress.

use codex_runtime::runtime::{Client, ClientConfig, RuntimeConfig, SessionConfig, TurnStatus};
use codex_runtime::Error;
use serde_json::json;
use std::time::{Duration, Instant};

const FAKE: &str = env!("CARGO_BIN_EXE_fake-app-server");
const WATCHDOG: Duration = Duration::from_millis(500);

async fn client(mode: &str) -> Client {
    let runtime = RuntimeConfig::new()
        .with_cli_bin(FAKE)
        .with_env("FAKE_TURN", mode)
        .with_request_timeout(Duration::from_secs(10));
    Client::connect(ClientConfig::new().with_runtime(runtime))
        .await
        .unwrap()
}

/// The request methods the fake has received.
async fn calls(client: &Client) -> Vec<String> {
    let r = client
        .runtime()
        .call("fake/calls", json!({}))
        .await
        .unwrap();
    serde_json::from_value(r["methods"].clone()).unwrap()
}

#[tokio::test]
async fn a_turn_whose_record_says_completed_ends_completed_from_the_record() {
    let client = client("stall-completed").await;
    let session = client
        .start_session(
            SessionConfig::new(std::env::temp_dir())
                .with_watchdog(WATCHDOG)
                .with_timeout(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    let started = Instant::now();
    let out = session.ask("hello").await.unwrap();
    let took = started.elapsed();
    eprintln!("the stalled turn ended from its record after {took:?}");
    assert_eq!(out.status, TurnStatus::Completed);
    // The record's items and text, not the stream's.
    assert_eq!(out.assistant_text, "final answer from the thread record");
    assert_eq!(out.items.len(), 2, "{:#?}", out.items);
    assert!(took >= WATCHDOG, "read only after the silence: {took:?}");
    assert!(
        took < WATCHDOG + Duration::from_secs(1),
        "must end within the watchdog time + 1 s, took {took:?}"
    );
    let seen = calls(&client).await;
    assert!(seen.iter().any(|m| m == "thread/read"), "{seen:?}");
    assert!(!seen.iter().any(|m| m == "turn/interrupt"), "{seen:?}");
    client.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_turn_whose_record_says_in_progress_is_interrupted_and_stalls_at_the_timeout() {
    let client = client("stall-in-progress").await;
    let timeout = Duration::from_secs(3);
    let session = client
        .start_session(
            SessionConfig::new(std::env::temp_dir())
                .with_watchdog(WATCHDOG)
                .with_timeout(timeout),
        )
        .await
        .unwrap();
    let started = Instant::now();
    let err = session.ask("hello").await.unwrap_err();
    let took = started.elapsed();
    eprintln!("the stalled turn failed after {took:?}: {err}");
    match &err {
        Error::TurnStalled {
            thread_id,
            turn_id,
            silent_for,
        } => {
            assert_eq!(thread_id, "thr_fake");
            assert_eq!(turn_id, "turn_fake");
            assert!(*silent_for >= timeout - WATCHDOG, "{silent_for:?}");
        }
        other => panic!("expected TurnStalled, got {other:?}"),
    }
    assert!(took >= timeout, "not before the turn timeout: {took:?}");
    assert!(took < timeout + Duration::from_secs(5), "{took:?}");
    let seen = calls(&client).await;
    assert!(seen.iter().any(|m| m == "turn/interrupt"), "{seen:?}");
    let reads = seen.iter().filter(|m| *m == "thread/read").count();
    assert!(
        reads >= 2,
        "one read at the silence, one at the timeout: {seen:?}"
    );
    client.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_zero_watchdog_is_refused() {
    let client = client("stall-completed").await;
    let err = client
        .start_session(SessionConfig::new(std::env::temp_dir()).with_watchdog(Duration::ZERO))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("watchdog"), "{err}");
    client.shutdown().await.unwrap();
}

/// On the real codex: a turn that goes quiet after a command (the model takes a while to answer)
/// is read by the watchdog, found in progress, and completes normally. codex's record of a
/// running turn carries its id and `inProgress`, which is what the watchdog relies on.
#[tokio::test]
async fn on_the_real_codex_a_slow_answer_after_a_tool_call_is_waited_for() {
    use codex_runtime::runtime::{ThreadItem, TurnEvent};
    use codex_test_support::codex_mock_model::{Reply, Scenario};
    use futures::StreamExt;
    let env = codex_test_support::CodexTestEnv::start(Scenario::new([
        Reply::shell("echo quiet"),
        Reply::slow(["all ", "done"], Duration::from_millis(1500)),
    ]))
    .await
    .unwrap();
    let client = Client::connect(env.client_config()).await.unwrap();
    let session = client
        .start_session(
            env.session_config()
                .with_watchdog(Duration::from_millis(300))
                .with_timeout(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    let mut stream = Box::pin(session.ask_stream("run it"));
    let mut record_mid_turn = None;
    let mut output = None;
    while let Some(event) = tokio::time::timeout(Duration::from_secs(120), stream.next())
        .await
        .expect("the turn must not hang")
    {
        match event.unwrap() {
            TurnEvent::ItemCompleted(ThreadItem::CommandExecution(_)) => {
                record_mid_turn = Some(session.read().await.unwrap());
            }
            TurnEvent::Completed(out) => output = Some(out),
            _ => {}
        }
    }
    let out = output.expect("the turn completed");
    assert_eq!(out.status, TurnStatus::Completed);
    assert_eq!(out.assistant_text, "all done");
    let record = record_mid_turn.expect("the command completed");
    let turn = record
        .thread
        .turns
        .iter()
        .find(|t| t.id == out.turn_id)
        .unwrap_or_else(|| panic!("no record of the running turn: {:?}", record.thread.turns));
    assert_eq!(turn.status, TurnStatus::InProgress);
    client.shutdown().await.unwrap();
    env.assert_no_leftover_processes().await;
}
