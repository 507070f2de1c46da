//! `codex_runtime::web`'s caps on what it keeps in memory, each through the real HTTP router on
//! the real codex: live sessions per tenant (429) and in total (503), sessions remembered from
//! the store (503 while every one has a client, room again once one is idle), and pending
//! approvals per session (the request over the cap is declined fail-closed and logged).

mod web_support;

use codex_runtime::persistence::SqliteStore;
use codex_test_support::codex_mock_model::{Reply, ScratchDir};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use web_support::{sse_at, Harness, ALICE, BOB, WAIT};

/// The status and JSON error of a refused request.
async fn refusal(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap();
    (status, body["error"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_sessions_are_capped_per_tenant_with_429_and_in_total_with_503() {
    let h = Harness::start(vec![], |c| c.with_max_sessions(3, 2)).await;
    let first = h.create_session(ALICE).await;
    h.create_session(ALICE).await;
    let (status, error) = refusal(h.post(ALICE, "/api/sessions", json!({})).await).await;
    assert_eq!(status, 429, "{error}");
    assert_eq!(error["code"], "too_many_sessions");
    assert_eq!(error["limit"], "max_sessions_per_tenant");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("max_sessions_per_tenant = 2"),
        "{error}"
    );

    // Bob still gets one (his own quota), then the instance is full for everyone.
    h.create_session(BOB).await;
    let (status, error) = refusal(h.post(BOB, "/api/sessions", json!({})).await).await;
    assert_eq!(status, 503, "{error}");
    assert_eq!(error["limit"], "max_sessions");

    // Closing a session gives its slot back.
    let res = h
        .http
        .delete(h.url(&format!("/api/sessions/{first}")))
        .bearer_auth(ALICE)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    h.create_session(BOB).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_followed_from_the_store_are_capped_and_idle_ones_make_room() {
    let dir = ScratchDir::create("web-limits", "sqlite").unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("web.db")).await.unwrap());
    let h = Harness::start(vec![], {
        let store = store.clone();
        |c| c.with_store(store)
    })
    .await;
    let one = h.create_session(ALICE).await;
    let two = h.create_session(ALICE).await;
    let other = h
        .another_instance(|c| {
            // A short keep-alive: the server notices a closed stream when it next writes.
            c.with_store(store)
                .with_max_remembered_sessions(1)
                .with_keepalive(Duration::from_millis(200))
        })
        .await;

    // A browser follows session one on the other instance: that fills its memory.
    let following = sse_at(
        &h.http,
        &other.url(&format!("/api/sessions/{one}/events")),
        ALICE,
        None,
    )
    .await;
    let res = h
        .http
        .get(other.url(&format!("/api/sessions/{two}")))
        .bearer_auth(ALICE)
        .send()
        .await
        .unwrap();
    let (status, error) = refusal(res).await;
    assert_eq!(status, 503, "{error}");
    assert_eq!(error["code"], "too_many_sessions");
    assert_eq!(error["limit"], "max_remembered_sessions");

    // Once nobody follows it, session one is forgotten to make room (the store keeps it).
    drop(following);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let res = h
            .http
            .get(other.url(&format!("/api/sessions/{two}")))
            .bearer_auth(ALICE)
            .send()
            .await
            .unwrap();
        if res.status() == 200 {
            let info: Value = res.json().await.unwrap();
            assert_eq!(info["id"], two.as_str());
            assert_eq!(info["live_here"], false);
            break;
        }
        assert_eq!(res.status(), 503);
        assert!(
            tokio::time::Instant::now() < deadline,
            "the other instance never noticed the closed stream"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    other.stop().await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_over_the_pending_cap_is_declined_at_once_and_logged() {
    let h = Harness::start(
        vec![
            Reply::shell("echo over-the-cap && touch made_over_the_cap.txt"),
            Reply::deltas(["declined ", "then"]),
        ],
        |c| c.with_max_pending_approvals(0),
    )
    .await;
    let session = h.create_session(ALICE).await;
    let mut events = h.events(ALICE, &session, None).await;
    h.turn(ALICE, &session, "run it").await;
    let all = events.until("turn.completed").await;
    let requested = all
        .iter()
        .find(|e| e.kind == "approval.requested")
        .unwrap_or_else(|| panic!("{all:#?}"));
    let request_id = requested.data["request_id"].as_str().unwrap().to_string();
    let resolved = all
        .iter()
        .find(|e| e.kind == "approval.resolved")
        .unwrap_or_else(|| panic!("{all:#?}"));
    assert_eq!(resolved.data["request_id"], request_id.as_str());
    assert_eq!(resolved.data["decision"], "decline");
    assert_eq!(resolved.data["answered_by"], "max_pending_approvals");
    assert!(all.iter().any(|e| e.kind == "item.completed"
        && e.data["item"]["type"] == "commandExecution"
        && e.data["item"]["status"] == "declined"));
    assert!(!h.env.workdir().join("made_over_the_cap.txt").exists());
    // Nothing waits: a late answer is refused as already answered.
    let res = h
        .post(
            ALICE,
            &format!("/api/sessions/{session}/approvals/{request_id}"),
            json!({"decision": "accept"}),
        )
        .await;
    let (status, error) = refusal(res).await;
    assert_eq!(status, 409, "{error}");
    assert_eq!(error["code"], "approval_already_answered");
    h.stop().await;
}

/// GETs `path` as `token` and returns the refusal (or `(200, Null)` with the open stream
/// dropped).
async fn open_stream(http: &reqwest::Client, url: &str, token: &str) -> (u16, Value) {
    let res = http.get(url).bearer_auth(token).send().await.unwrap();
    if res.status() == 200 {
        return (200, Value::Null);
    }
    refusal(res).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_streams_are_capped_per_tenant_with_429_and_in_total_with_503() {
    let h = Harness::start(vec![], |c| {
        c.with_max_streams(3, 2)
            .with_keepalive(Duration::from_millis(200))
    })
    .await;
    let a = h.create_session(ALICE).await;
    let b = h.create_session(BOB).await;
    let events_a = h.url(&format!("/api/sessions/{a}/events"));
    let events_b = h.url(&format!("/api/sessions/{b}/events"));
    let first = h.events(ALICE, &a, None).await;
    let _second = h
        .sse(ALICE, &format!("/api/sessions/{a}/approvals"), None)
        .await;
    let (status, error) = open_stream(&h.http, &events_a, ALICE).await;
    assert_eq!(status, 429, "{error}");
    assert_eq!(error["code"], "too_many_streams");
    assert_eq!(error["limit"], "max_streams_per_tenant");

    // Bob has his own share, then the instance is full for everyone.
    let _bob = h.events(BOB, &b, None).await;
    let (status, error) = open_stream(&h.http, &events_b, BOB).await;
    assert_eq!(status, 503, "{error}");
    assert_eq!(error["limit"], "max_streams");

    // A stream that ends gives its slot back (the server notices at its next keep-alive).
    drop(first);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let res = h
            .http
            .get(&events_a)
            .bearer_auth(ALICE)
            .send()
            .await
            .unwrap();
        if res.status() == 200 {
            break;
        }
        assert_eq!(res.status(), 429);
        assert!(tokio::time::Instant::now() < deadline, "the slot came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_tenant_cannot_fill_the_remembered_sessions_of_an_instance() {
    let dir = ScratchDir::create("web-limits", "sqlite").unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("web.db")).await.unwrap());
    let h = Harness::start(vec![], {
        let store = store.clone();
        |c| c.with_store(store)
    })
    .await;
    let mut alice = Vec::new();
    for _ in 0..3 {
        alice.push(h.create_session(ALICE).await);
    }
    let bob = h.create_session(BOB).await;
    let other = h
        .another_instance(|c| {
            c.with_store(store)
                .with_max_remembered_sessions(3)
                .with_max_remembered_sessions_per_tenant(2)
        })
        .await;
    let url = |id: &str| other.url(&format!("/api/sessions/{id}/events"));
    // Alice follows two of her sessions there: her whole share.
    let _f1 = sse_at(&h.http, &url(&alice[0]), ALICE, None).await;
    let _f2 = sse_at(&h.http, &url(&alice[1]), ALICE, None).await;
    let (status, error) = open_stream(&h.http, &url(&alice[2]), ALICE).await;
    assert_eq!(status, 429, "{error}");
    assert_eq!(error["code"], "too_many_sessions");
    assert_eq!(error["limit"], "max_remembered_sessions_per_tenant");
    // Bob still gets room on that instance.
    let _fb = sse_at(&h.http, &url(&bob), BOB, None).await;
    other.stop().await;
    h.stop().await;
}
