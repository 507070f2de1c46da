//! `Recorder::ask` holds a turn's records for at most `ask_flush_interval`, on the real codex
//! and the mock model: held records reach the store while the turn runs, the runtime status
//! follows the turn live whatever is held, and everything is stored before `ask` returns.

mod persistence_common;

use codex_mock_model::{Reply, Scenario};
use codex_runtime::persistence::{
    ConversationStore, NewConversation, Recorder, RecorderOptions, RuntimePhase, RuntimeStatus,
    Scope, TurnStatus,
};
use codex_runtime::runtime::Client;
use codex_test_support::CodexTestEnv;
use std::sync::Arc;
use std::time::Duration;

const PROMPT: &str = "hold this";

/// Polls `check` every 20 ms until it holds (or fails after 60 s).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn stored_kinds(store: &dyn ConversationStore, s: &Scope) -> Vec<String> {
    let page = store.read_items(s, "c", 0, 100).await.unwrap();
    page.items.into_iter().map(|i| i.kind).collect()
}

/// Runs one stalled turn through `Recorder::ask` with `hold`; returns once the mock model
/// holds the stream, with the ask still running.
async fn stalled_ask(
    hold: Duration,
) -> (
    CodexTestEnv,
    persistence_common::StoreUnderTest,
    Scope,
    RuntimeStatus,
    tokio::task::JoinHandle<codex_runtime::persistence::PersistResult<codex_runtime::TurnOutput>>,
) {
    let env = CodexTestEnv::start(Scenario::new([Reply::stall(["partial ", "answer"])]))
        .await
        .unwrap();
    let st = persistence_common::sqlite_store("hold").await;
    let s = Scope::new("tenant-h", "hana").unwrap();
    let client = Client::connect(env.client_config()).await.unwrap();
    let session = client.start_session(env.session_config()).await.unwrap();
    st.store
        .create_conversation(
            &s,
            NewConversation::new("c").with_thread(session.thread_id()),
        )
        .await
        .unwrap();
    let mut options = RecorderOptions::default();
    options.ask_flush_interval = hold;
    let status = RuntimeStatus::new();
    let recorder = Recorder::with_options(Arc::clone(&st.store), s.clone(), "c", options)
        .await
        .unwrap()
        .with_status(status.clone());
    let ask = tokio::spawn(async move {
        let out = recorder.ask(&session, PROMPT).await;
        drop(client);
        out
    });
    env.mock
        .wait_for_stall(Duration::from_secs(60))
        .await
        .unwrap();
    (env, st, s, status, ask)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_items_reach_the_store_while_the_turn_runs() {
    let (env, st, s, _status, ask) = stalled_ask(Duration::from_millis(100)).await;
    let store = st.store.as_ref();
    // The turn's start and its user message are stored within the hold, mid-turn.
    eventually("the turn's start is stored", || async {
        store.read_turns(&s, "c").await.unwrap().len() == 1
    })
    .await;
    eventually("the held user message is stored mid-turn", || async {
        stored_kinds(store, &s).await == ["userMessage"]
    })
    .await;
    assert!(!ask.is_finished(), "the turn is still running");
    let turn = &store.read_turns(&s, "c").await.unwrap()[0];
    assert_eq!(turn.status, TurnStatus::InProgress);

    env.mock.release_stall();
    let out = ask.await.unwrap().unwrap();
    assert_eq!(out.assistant_text, "partial answer");
    assert_eq!(
        stored_kinds(store, &s).await,
        ["userMessage", "agentMessage"]
    );
    let turn = &store.read_turns(&s, "c").await.unwrap()[0];
    assert_eq!(turn.status, TurnStatus::Completed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_hold_stores_the_turn_before_ask_returns_and_the_status_stays_live() {
    // `Duration::MAX`: held to the turn's end (no deadline overflows the clock).
    let (env, st, s, status, ask) = stalled_ask(Duration::MAX).await;
    let store = st.store.as_ref();
    // The turn started and its user message completed before the model was asked (the other
    // test sees them stored mid-turn); held to the turn's end, they are not stored yet, while
    // the status already says the turn runs.
    eventually("the status follows the running turn", || async {
        let now = status.snapshot();
        now.phase == RuntimePhase::Running && now.turn_id.is_some()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(store.read_turns(&s, "c").await.unwrap().is_empty());
    assert!(stored_kinds(store, &s).await.is_empty());
    assert!(!ask.is_finished());

    env.mock.release_stall();
    let out = ask.await.unwrap().unwrap();
    let events = store.read_events(&s, "c", 0, 0).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=events.len() as i64).collect::<Vec<_>>()
    );
    let stored = store.read_items(&s, "c", 0, 100).await.unwrap().items;
    let returned: Vec<serde_json::Value> = out
        .items
        .iter()
        .map(|i| serde_json::to_value(i).unwrap())
        .collect();
    assert_eq!(
        stored.into_iter().map(|i| i.raw).collect::<Vec<_>>(),
        returned,
        "every item ask returned is stored, in order"
    );
}
