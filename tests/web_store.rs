//! `codex_runtime::web` on a conversation store, on the real codex with the mock model: a
//! `Last-Event-ID` older than what memory holds is served from SQLite (and refused with 410
//! without a store); two instances sharing one real PostgreSQL: a browser reconnecting to the
//! other instance replays the whole history, then follows the live tail through
//! `LISTEN`/`NOTIFY`.

mod web_support;

use codex_runtime::persistence::{PostgresStore, SqliteStore};
use codex_test_support::codex_mock_model::{Reply, ScratchDir};
use codex_test_support::postgres::fresh_database;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use web_support::{assert_gap_free, sse_at, Harness, ALICE};

fn slow(n: usize) -> Reply {
    Reply::slow(
        (0..n).map(|i| format!("part-{i} ")),
        Duration::from_millis(25),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_older_than_memory_is_read_from_the_sqlite_store() {
    let dir = ScratchDir::create("web-store", "sqlite").unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("web.db")).await.unwrap());
    let h = Harness::start(vec![slow(60)], |c| {
        c.with_store(store).with_replay_buffer(16)
    })
    .await;
    let session = h.create_session(ALICE).await;
    let mut witness = h.events(ALICE, &session, None).await;
    h.turn(ALICE, &session, "many parts").await;
    let everything = witness.until("turn.completed").await;
    assert_gap_free(&everything, 1);
    assert!(
        everything.len() > 20,
        "more events than the memory holds: {}",
        everything.len()
    );
    // Resume after event 2: events 3.. come from the store, then from memory, no gap.
    let mut resumed = h.events(ALICE, &session, Some(2)).await;
    let rest = resumed.until("turn.completed").await;
    assert_eq!(rest, everything[2..].to_vec());
    h.stop().await;

    // Without a store the same resume is refused: the history is gone, said with 410.
    let h = Harness::start(vec![slow(60)], |c| c.with_replay_buffer(16)).await;
    let session = h.create_session(ALICE).await;
    let mut witness = h.events(ALICE, &session, None).await;
    h.turn(ALICE, &session, "many parts").await;
    let everything = witness.until("turn.completed").await;
    assert!(everything.len() > 20);
    let res = h
        .http
        .get(h.url(&format!("/api/sessions/{session}/events")))
        .bearer_auth(ALICE)
        .header("Last-Event-ID", "2")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 410);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgres_replay_the_history_and_share_the_live_tail() {
    let db = fresh_database("web_two_instances").await.unwrap();
    let url = db.url().to_string();
    let store_a = Arc::new(PostgresStore::connect(&url).await.unwrap());
    let store_b = Arc::new(PostgresStore::connect(&url).await.unwrap());
    let a = Harness::start(vec![Reply::deltas(["first ", "answer"]), slow(30)], |c| {
        c.with_store(store_a).with_postgres_live_tail(&url)
    })
    .await;
    let b = a
        .another_instance(|c| c.with_store(store_b).with_postgres_live_tail(&url))
        .await;
    let session = a.create_session(ALICE).await;
    let mut on_a = a.events(ALICE, &session, None).await;
    a.turn(ALICE, &session, "one").await;
    let first = on_a.until("turn.completed").await;
    assert_gap_free(&first, 1);

    // B lists the session and replays all of it.
    let list: serde_json::Value = a
        .http
        .get(format!("{}/api/sessions", b.base))
        .bearer_auth(ALICE)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"][0]["id"], session.as_str());
    assert_eq!(list["data"][0]["live_here"], false);
    let events_on_b = format!("{}/api/sessions/{session}/events", b.base);
    let mut on_b = sse_at(&a.http, &events_on_b, ALICE, None).await;
    let replayed = on_b.until("turn.completed").await;
    assert_eq!(
        replayed, first,
        "the other instance replays the whole history"
    );

    // A second turn runs on A; B's open stream follows it live (NOTIFY), event for event.
    a.turn(ALICE, &session, "two").await;
    let second_on_a = on_a.until("turn.completed").await;
    let second_on_b = on_b.until("turn.completed").await;
    assert_eq!(second_on_b, second_on_a);
    assert_eq!(second_on_b[0].id, first.len() as u64 + 1);
    assert!(
        second_on_b
            .iter()
            .filter(|e| e.kind == "agent.delta")
            .count()
            > 1
    );

    // Turns start only where the session runs; the other instance says so.
    let res = a
        .http
        .post(format!("{}/api/sessions/{session}/turns", b.base))
        .bearer_auth(ALICE)
        .json(&json!({"prompt": "three"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    // Tenants stay apart across instances too.
    let res = a
        .http
        .get(&events_on_b)
        .bearer_auth(web_support::BOB)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    drop(on_b);
    b.stop().await;
    a.stop().await;
    db.drop_database().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_session_id_under_two_tenants_stays_apart() {
    use codex_runtime::persistence::{ConversationStore, NewConversation, Scope};
    let dir = ScratchDir::create("web-store", "sqlite").unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("web.db")).await.unwrap());
    // Ids are unique per tenant only: code other than the web adapter may reuse one.
    for tenant in ["alice", "bob"] {
        let scope = Scope::new(tenant, "web").unwrap();
        let new = NewConversation::new("shared-id").with_name(format!("{tenant}'s"));
        store.create_conversation(&scope, new).await.unwrap();
    }
    let h = Harness::start(vec![], {
        let store = store.clone();
        |c| c.with_store(store)
    })
    .await;
    for (token, name) in [
        (ALICE, "alice's"),
        (web_support::BOB, "bob's"),
        (ALICE, "alice's"),
    ] {
        let res = h
            .http
            .get(h.url("/api/sessions/shared-id"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{token}");
        let info: serde_json::Value = res.json().await.unwrap();
        assert_eq!(info["name"], name, "{token} sees its own session");
    }
    h.stop().await;
}
