//! Event ingestion with the DEFAULT configuration, on the scripted fake app-server (a real codex
//! cannot be made to flood 200,000 deltas or to send a changed protocol shape on demand):
//!
//! - a burst is delivered whole to consumers that keep up on average, wherever they read;
//! - a notification whose params no longer fit the typed shape still reaches the thread and
//!   turn subscribers, and `ask` still completes when `turn/completed` is one of them.

use codex_runtime::rpc::RecvError;
use codex_runtime::runtime::{
    Client, ClientConfig, Runtime, RuntimeConfig, ServerNotification, SessionConfig, TurnStatus,
};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const FAKE: &str = env!("CARGO_BIN_EXE_fake-app-server");

/// Deltas in the burst.
const BURST: u64 = 200_000;
/// The main-future consumer pauses every this many events...
const PAUSE_EVERY: u64 = 50_000;
/// ...for this long: more than the old fixed queue of 8,192 events absorbed at the reader's
/// rate; what the default byte budget does not hold, the reader's overflow pause absorbs.
const PAUSE: Duration = Duration::from_millis(200);

fn defaults() -> RuntimeConfig {
    // Only the binary and a request timeout long enough for a debug-build flood differ from
    // `RuntimeConfig::new()`; every queue setting is the default.
    RuntimeConfig::new()
        .with_cli_bin(FAKE)
        .with_request_timeout(Duration::from_secs(300))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_that_keep_up_on_average_lose_nothing_of_a_burst_with_defaults() {
    let rt = Arc::new(Runtime::connect(defaults()).await.expect("connect"));
    let mut global = rt.subscribe();
    let mut thread = rt.subscribe_thread("thr_burst");

    // A thread subscriber drained in batches by a spawned task.
    let batched = tokio::spawn(async move {
        let (mut received, mut lagged) = (0u64, 0u64);
        let mut batch = Vec::new();
        while received + lagged < BURST {
            match thread.recv_many(&mut batch, 512).await {
                Ok(n) => {
                    received += n as u64;
                    batch.clear();
                }
                Err(RecvError::Lagged(n)) => lagged += n,
                Err(e) => panic!("thread subscription ended early: {e}"),
            }
        }
        (received, lagged)
    });
    let flood = {
        let rt = Arc::clone(&rt);
        tokio::spawn(async move {
            rt.call(
                "fake/flood",
                json!({"count": BURST, "threadId": "thr_burst", "turnId": "turn_burst"}),
            )
            .await
        })
    };

    // A global subscriber read one event at a time in the test's own future, pausing now and
    // then: it keeps up on average and falls behind during every pause.
    let (mut received, mut lagged, mut last_seq) = (0u64, 0u64, 0u64);
    while received + lagged < BURST {
        match global.recv().await {
            Ok(ev) => {
                assert!(ev.seq > last_seq, "events arrive in order");
                last_seq = ev.seq;
                assert!(matches!(
                    ev.notification(),
                    ServerNotification::ItemAgentMessageDelta(_)
                ));
                received += 1;
                if received % PAUSE_EVERY == 0 {
                    tokio::time::sleep(PAUSE).await;
                }
            }
            Err(RecvError::Lagged(n)) => lagged += n,
            Err(e) => panic!("global subscription ended early: {e}"),
        }
    }
    let reply = flood.await.expect("flood task").expect("fake/flood");
    assert_eq!(reply["sent"], json!(BURST));
    assert_eq!((received, lagged), (BURST, 0), "main-future consumer, recv");
    assert_eq!(
        batched.await.expect("batched consumer"),
        (BURST, 0),
        "spawned consumer, recv_many"
    );
    assert_eq!(rt.metrics().lag_drops, 0);
    rt.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_subscriber_that_stays_behind_gets_lagged_within_its_byte_budget() {
    const COUNT: u64 = 20_000;
    const BUDGET: usize = 256 * 1024;
    let rt = Runtime::connect(defaults().with_queue_budget_bytes(BUDGET))
        .await
        .expect("connect");
    let mut sub = rt.subscribe();
    // Nothing is read until the whole flood has been routed (its reply comes after it): the
    // reader pauses once for this subscriber, then drops what does not fit.
    let reply = rt
        .call("fake/flood", json!({"count": COUNT}))
        .await
        .expect("fake/flood");
    assert_eq!(reply["sent"], json!(COUNT));
    let (mut received, mut lagged) = (0u64, 0u64);
    while received + lagged < COUNT {
        match sub.recv().await {
            Ok(_) => received += 1,
            Err(RecvError::Lagged(n)) => lagged += n,
            Err(e) => panic!("subscription ended early: {e}"),
        }
    }
    // Every event is either delivered or counted; what was queued fit the budget (each delta
    // counts more than 200 bytes).
    assert!(lagged > 0, "received {received}");
    assert!(received <= (BUDGET / 200) as u64, "received {received}");
    let metrics = rt.metrics();
    assert_eq!(metrics.lag_drops, lagged);
    // It had never overflowed before, so the reader paused for it once; after that it was
    // behind, and its deltas were dropped without pausing again.
    assert_eq!(metrics.overflow_pauses, 1);
    // On a current-thread runtime the reader task already runs on the consumer's thread: the
    // consumer never reads the connection itself.
    assert_eq!(metrics.consumer_reads, 0);
    rt.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn undecodable_notifications_still_reach_thread_and_turn_subscribers() {
    let rt = Runtime::connect(defaults()).await.expect("connect");
    let mut thread = rt.subscribe_thread("thr_fake");
    let mut turn = rt.subscribe_turn("turn_fake");
    rt.call("turn/start", json!({"threadId": "thr_fake", "input": []}))
        .await
        .expect("turn/start");
    let methods = |events: Vec<Arc<codex_runtime::rpc::Event>>| {
        events
            .iter()
            .map(|e| e.method().to_string())
            .collect::<Vec<_>>()
    };
    let mut seen = Vec::new();
    for sub in [&mut thread, &mut turn] {
        let mut events = Vec::new();
        while events.len() < 4 {
            let ev = tokio::time::timeout(Duration::from_secs(30), sub.recv())
                .await
                .expect("an event within 30 s")
                .expect("an event");
            events.push(ev);
        }
        // The changed shapes arrive as `Unknown`, with their ids read from the raw params.
        for ev in &events[2..] {
            assert!(
                matches!(ev.notification(), ServerNotification::Unknown { .. }),
                "{ev:?}"
            );
            assert_eq!(ev.thread_id(), Some("thr_fake"));
            assert_eq!(ev.turn_id(), Some("turn_fake"));
        }
        seen.push(methods(events));
    }
    let expected = [
        "turn/started",
        "item/agentMessage/delta",
        "item/completed",
        "turn/completed",
    ];
    assert_eq!(seen, vec![expected.to_vec(), expected.to_vec()]);
    assert_eq!(rt.metrics().decode_fallbacks, 2);
    rt.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn ask_completes_when_turn_completed_and_item_completed_change_shape() {
    let client = Client::connect(
        ClientConfig::new()
            .with_cli_bin(FAKE)
            .with_request_timeout(Duration::from_secs(30)),
    )
    .await
    .expect("connect");
    let session = client
        .start_session(SessionConfig::new(std::env::temp_dir()))
        .await
        .expect("start_session");
    let output = tokio::time::timeout(Duration::from_secs(30), session.ask("hi"))
        .await
        .expect("ask completes instead of waiting for its turn timeout")
        .expect("ask succeeds");
    assert_eq!(output.turn_id, "turn_fake");
    assert_eq!(output.status, TurnStatus::Completed);
    // The undecodable item degrades to what can still be read: its text.
    assert_eq!(output.assistant_text, "hello from a newer codex");
    client.shutdown().await.expect("shutdown");
}
