//! Closing sessions and answering approvals of `codex_runtime::web` when the store fails, on
//! the real codex with the mock model (M8, L1, L2 and L6 of the 2026-12-07 review): a close
//! whose store write fails still ends the streams and frees the slot and can be retried; an
//! approval answer that cannot be logged is not applied; approvals pending at close are logged
//! as declined; internal error text never reaches the client.

mod web_support;

use codex_runtime::persistence::{ConversationStore, Scope, SqliteStore};
use codex_test_support::codex_mock_model::{Reply, ScratchDir};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use web_support::faulty::{FaultyStore, INJECTED};
use web_support::{Harness, ALICE, WAIT};

async fn faulty_sqlite(dir: &ScratchDir) -> (Arc<dyn ConversationStore>, Arc<FaultyStore>) {
    let sqlite: Arc<dyn ConversationStore> =
        Arc::new(SqliteStore::open(dir.path().join("web.db")).await.unwrap());
    (Arc::clone(&sqlite), FaultyStore::new(sqlite))
}

fn approval_scenario() -> Vec<Reply> {
    vec![
        Reply::shell("echo approved-output-42 && touch made_by_web.txt"),
        Reply::deltas(["all ", "done"]),
    ]
}

/// Asserts a 5xx body names an error id and carries none of the store's text.
fn assert_generic(body: &Value) {
    let message = body["error"]["message"].as_str().unwrap();
    assert!(!message.contains("injected"), "{message}");
    assert!(!message.contains("/srv/secret"), "{message}");
    assert!(!body.to_string().contains(INJECTED), "{body}");
    assert!(message.contains("error id "), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_whose_store_write_fails_ends_the_streams_frees_the_slot_and_can_be_retried() {
    let dir = ScratchDir::create("web-close", "sqlite").unwrap();
    let (sqlite, store) = faulty_sqlite(&dir).await;
    store.fail_archive.store(1, Ordering::SeqCst);
    let h = Harness::start(vec![], {
        let store = store.clone();
        |c| c.with_store(store).with_max_sessions(10, 1)
    })
    .await;
    let session = h.create_session(ALICE).await;
    let mut events = h.events(ALICE, &session, None).await;
    let path = h.url(&format!("/api/sessions/{session}"));

    let res = h
        .http
        .delete(&path)
        .bearer_auth(ALICE)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 500);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "store_error");

    // The streams ended anyway, and the live slot is free: the tenant may open another one.
    let end = events.until("session.closed").await;
    assert_eq!(end.len(), 1, "{end:?}");
    let other = h.create_session(ALICE).await;
    assert_ne!(other, session);
    // The store's text stayed in the log (L6).
    assert_generic(&body);

    // The conversation is not archived yet; the retried DELETE does it.
    let scope = Scope::new("alice", "web").unwrap();
    let stored = sqlite
        .conversation(&scope, &session)
        .await
        .unwrap()
        .unwrap();
    assert!(!stored.archived);
    let res = h
        .http
        .delete(&path)
        .bearer_auth(ALICE)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let stored = sqlite
        .conversation(&scope, &session)
        .await
        .unwrap()
        .unwrap();
    assert!(
        stored.archived,
        "the retried close archived the conversation"
    );
    let res = h
        .http
        .delete(&path)
        .bearer_auth(ALICE)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204, "closing a closed session is fine");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_answer_that_cannot_be_logged_is_not_applied() {
    let dir = ScratchDir::create("web-close", "sqlite").unwrap();
    let (_, store) = faulty_sqlite(&dir).await;
    let h = Harness::start(approval_scenario(), {
        let store = store.clone();
        |c| c.with_store(store)
    })
    .await;
    let session = h.create_session(ALICE).await;
    let mut approvals = h
        .sse(ALICE, &format!("/api/sessions/{session}/approvals"), None)
        .await;
    h.turn(ALICE, &session, "make a file").await;
    let request = approvals.until("approval.requested").await;
    let request_id = request.last().unwrap().data["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/api/sessions/{session}/approvals/{request_id}");

    store.fail_append.store(true, Ordering::SeqCst);
    let res = h.post(ALICE, &path, json!({"decision": "accept"})).await;
    store.fail_append.store(false, Ordering::SeqCst);
    assert_eq!(res.status(), 500);
    assert_generic(&res.json().await.unwrap());
    // It was declined instead (fail-closed), and that is final.
    let res = h.post(ALICE, &path, json!({"decision": "accept"})).await;
    assert_eq!(res.status(), 409);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("(decline)"),
        "{body}"
    );

    // The turn ends without the command having run.
    let info_url = h.url(&format!("/api/sessions/{session}"));
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let info: Value = h
            .http
            .get(&info_url)
            .bearer_auth(ALICE)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if info["running"] == false {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the turn ended");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !h.env.workdir().join("made_by_web.txt").exists(),
        "an answer that was not logged was not applied"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_pending_at_close_are_logged_as_declined_by_the_close() {
    let h = Harness::start(approval_scenario(), |c| c).await;
    let session = h.create_session(ALICE).await;
    let mut events = h.events(ALICE, &session, None).await;
    h.turn(ALICE, &session, "make a file").await;
    let asked = events.until("approval.requested").await;
    let request_id = asked.last().unwrap().data["request_id"].clone();
    let res = h
        .http
        .delete(h.url(&format!("/api/sessions/{session}")))
        .bearer_auth(ALICE)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let rest = events.until("session.closed").await;
    let resolved: Vec<_> = rest
        .iter()
        .filter(|e| e.kind == "approval.resolved")
        .collect();
    assert_eq!(resolved.len(), 1, "{rest:#?}");
    assert_eq!(resolved[0].data["request_id"], request_id);
    assert_eq!(resolved[0].data["decision"], "decline");
    assert_eq!(resolved[0].data["answered_by"], "session_closed");
    assert!(!h.env.workdir().join("made_by_web.txt").exists());
    h.stop().await;
}
