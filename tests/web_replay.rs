//! Replays of `codex_runtime::web` event streams, on the real codex with the mock model: a
//! replay from the store while a turn streams meets the in-memory ring instead of failing with
//! `410 history_gone` (M1 of the 2026-12-07 review), and a `Last-Event-ID` ahead of the log is
//! refused with 400 (L3).

mod web_support;

use codex_runtime::persistence::{ConversationStore, SqliteStore};
use codex_test_support::codex_mock_model::{Reply, ScratchDir};
use eventsource_stream::Eventsource;
use serde_json::Value;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use web_support::faulty::FaultyStore;
use web_support::{assert_gap_free, Ev, Harness, Sse, ALICE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_from_the_store_while_a_turn_streams_never_fail_with_history_gone() {
    let dir = ScratchDir::create("web-replay", "sqlite").unwrap();
    let sqlite: Arc<dyn ConversationStore> =
        Arc::new(SqliteStore::open(dir.path().join("web.db")).await.unwrap());
    let store = FaultyStore::new(sqlite);
    let h = Harness::start(
        vec![Reply::slow(
            (0..200).map(|i| format!("part-{i} ")),
            Duration::from_millis(25),
        )],
        {
            let store = store.clone();
            |c| c.with_store(store).with_replay_buffer(16)
        },
    )
    .await;
    let session = h.create_session(ALICE).await;
    let mut witness = h.events(ALICE, &session, None).await;
    h.turn(ALICE, &session, "many parts").await;
    // The ring (16 events) is long full once event 40 is out.
    let mut seen: Vec<Ev> = Vec::new();
    while seen.last().is_none_or(|e| e.id < 40) {
        seen.push(witness.next().await.expect("the turn streams"));
    }
    // From now on every store read takes longer than the gap between two events, so the ring
    // always moves on while a replay reads the store.
    store.read_delay_ms.store(60, Ordering::SeqCst);
    let url = h.url(&format!("/api/sessions/{session}/events"));
    let mut statuses = Vec::new();
    let mut readers = Vec::new();
    for _ in 0..6 {
        let res = h.http.get(&url).bearer_auth(ALICE).send().await.unwrap();
        let status = res.status().as_u16();
        if status == 200 {
            let mut sse = Sse::from(res.bytes_stream().eventsource());
            readers.push(tokio::spawn(
                async move { sse.until("turn.completed").await },
            ));
        } else {
            let body: Value = res.json().await.unwrap_or_default();
            statuses.push((status, body));
            continue;
        }
        statuses.push((status, Value::Null));
        // Spread the attempts over the turn.
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let still_streaming = seen.len();
    seen.extend(witness.until("turn.completed").await);
    assert!(
        seen.len() > still_streaming + 5,
        "the attempts were made while the turn streamed"
    );
    assert_gap_free(&seen, 1);
    assert!(
        statuses.iter().all(|(s, _)| *s == 200),
        "every replay opened although the ring had moved on: {statuses:?}"
    );
    for reader in readers {
        let replayed = reader.await.unwrap();
        assert_eq!(replayed, seen, "each replay is the whole log, in order");
    }
    assert!(store.read_events_calls.load(Ordering::SeqCst) >= 6);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_last_event_id_ahead_of_the_log_is_refused_with_400() {
    let h = Harness::start(vec![Reply::text("hi")], |c| c).await;
    let session = h.create_session(ALICE).await;
    let mut events = h.events(ALICE, &session, None).await;
    h.turn(ALICE, &session, "hello").await;
    let all = events.until("turn.completed").await;
    let last = all.last().unwrap().id;
    let url = h.url(&format!("/api/sessions/{session}/events"));
    let open = |id: String| {
        h.http
            .get(&url)
            .bearer_auth(ALICE)
            .header("Last-Event-ID", id)
            .send()
    };
    // Resuming at the last event is fine: nothing was missed.
    let res = open(last.to_string()).await.unwrap();
    assert_eq!(res.status(), 200);
    drop(res);
    for ahead in [(last + 1).to_string(), u64::MAX.to_string()] {
        let res = open(ahead.clone()).await.unwrap();
        assert_eq!(res.status(), 400, "Last-Event-ID {ahead}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "bad_request");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("ahead of the session's log") && message.contains(&ahead),
            "{message}"
        );
    }
    h.stop().await;
}
