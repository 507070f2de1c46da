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
