//! `codex_runtime::web` over real HTTP on the real codex with the mock model: a turn streamed
//! over SSE, approvals answered only through POST (and refused when already answered, another
//! tenant's, or timed out), tenants isolated (404), 401 without a token, 413 for a huge prompt,
//! `Last-Event-ID` resume with exactly the missing events, CORS off by default, graceful
//! shutdown ending open SSE streams.

mod web_support;

use codex_runtime::rpc::TimeoutAction;
use codex_test_support::codex_mock_model::Reply;
use serde_json::json;
use std::time::Duration;
use web_support::{assert_gap_free, Harness, ALICE, BOB};

fn approval_scenario() -> Vec<Reply> {
    vec![
        Reply::shell("echo approved-output-42 && touch made_by_web.txt"),
        Reply::deltas(["all ", "done"]),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_streams_and_its_approval_is_answered_only_through_post() {
    let h = Harness::start(approval_scenario(), |c| c).await;
    let session = h.create_session(ALICE).await;
    let mut events = h.events(ALICE, &session, None).await;
    let mut approvals = h
        .sse(ALICE, &format!("/api/sessions/{session}/approvals"), None)
        .await;
    h.turn(ALICE, &session, "make a file").await;

    let request = approvals.until("approval.requested").await;
    let request = request.last().unwrap();
    assert_eq!(request.data["kind"], "command");
    assert!(request.data["command"]
        .as_str()
        .unwrap()
        .contains("approved-output-42"));
    let request_id = request.data["request_id"].as_str().unwrap().to_string();
    assert!(!h.env.workdir().join("made_by_web.txt").exists());

    // Bob cannot answer Alice's request, not even knowing both ids: 404, like a missing one.
    let path = format!("/api/sessions/{session}/approvals/{request_id}");
    let res = h.post(BOB, &path, json!({"decision": "accept"})).await;
    assert_eq!(res.status(), 404);
    let res = h
        .post(
            ALICE,
            &format!("/api/sessions/{session}/approvals/nope"),
            json!({"decision": "accept"}),
        )
        .await;
    assert_eq!(res.status(), 404);
    let res = h.post(ALICE, &path, json!({"decision": "maybe"})).await;
    assert_eq!(res.status(), 400);

    let res = h.post(ALICE, &path, json!({"decision": "accept"})).await;
    assert_eq!(res.status(), 204);
    let res = h.post(ALICE, &path, json!({"decision": "decline"})).await;
    assert_eq!(res.status(), 409, "an answered request is refused");

    let all = events.until("turn.completed").await;
    assert_gap_free(&all, 1);
    let kinds: Vec<&str> = all.iter().map(|e| e.kind.as_str()).collect();
    for k in [
        "turn.started",
        "approval.requested",
        "approval.resolved",
        "agent.delta",
        "item.completed",
        "turn.completed",
    ] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    // The command's output arrives as `command.output` deltas while it runs and, whole, in its
    // completed item. codex streams deltas only for output it reads before the command ends, so
    // a fast command may have none: the page shows either.
    let streamed: String = all
        .iter()
        .filter(|e| e.kind == "command.output")
        .map(|e| e.data["delta"].as_str().unwrap())
        .collect();
    let completed: String = all
        .iter()
        .filter(|e| e.kind == "item.completed" && e.data["item"]["type"] == "commandExecution")
        .filter_map(|e| e.data["item"]["aggregatedOutput"].as_str())
        .collect();
    assert!(
        streamed.contains("approved-output-42") || completed.contains("approved-output-42"),
        "streamed {streamed:?}, completed {completed:?}"
    );
    let text: String = all
        .iter()
        .filter(|e| e.kind == "agent.delta")
        .map(|e| e.data["delta"].as_str().unwrap())
        .collect();
    assert_eq!(text, "all done");
    assert_eq!(all.last().unwrap().data["status"], "completed");
    assert!(h.env.workdir().join("made_by_web.txt").exists());
    let resolved = approvals.until("approval.resolved").await;
    assert_eq!(resolved.last().unwrap().data["decision"], "accept");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_tenants_and_size_limits_are_enforced() {
    let h = Harness::start(vec![Reply::text("hi")], |c| c).await;
    // No token, a wrong token, a wrong scheme: 401 with WWW-Authenticate.
    for auth in [None, Some("Bearer wrong"), Some("Basic YWxpY2U6eA==")] {
        let mut req = h.http.get(h.url("/api/sessions"));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 401, "{auth:?}");
        assert_eq!(res.headers()["www-authenticate"], "Bearer");
    }
    let session = h.create_session(ALICE).await;
    // Bob sees nothing of Alice's session: 404 everywhere, and an empty list.
    for (method, path) in [
        ("GET", format!("/api/sessions/{session}")),
        ("GET", format!("/api/sessions/{session}/events")),
        ("GET", format!("/api/sessions/{session}/approvals")),
        ("POST", format!("/api/sessions/{session}/turns")),
        ("DELETE", format!("/api/sessions/{session}")),
    ] {
        let req = match method {
            "GET" => h.http.get(h.url(&path)),
            "POST" => h.http.post(h.url(&path)).json(&json!({"prompt": "x"})),
            _ => h.http.delete(h.url(&path)),
        };
        let res = req.bearer_auth(BOB).send().await.unwrap();
        assert_eq!(res.status(), 404, "{method} {path}");
    }
    let list: serde_json::Value = h
        .http
        .get(h.url("/api/sessions"))
        .bearer_auth(BOB)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"], json!([]));
    let list: serde_json::Value = h
        .http
        .get(h.url("/api/sessions"))
        .bearer_auth(ALICE)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"][0]["id"], session.as_str());

    // A 10 MB prompt: 413, and the session stays usable.
    let huge = "x".repeat(10 * 1024 * 1024);
    let res = h
        .post(
            ALICE,
            &format!("/api/sessions/{session}/turns"),
            json!({ "prompt": huge }),
        )
        .await;
    assert_eq!(res.status(), 413);
    // Under the body limit but over the prompt limit: 413 with the reason.
    let big = "y".repeat(300 * 1024);
    let res = h
        .post(
            ALICE,
            &format!("/api/sessions/{session}/turns"),
            json!({ "prompt": big }),
        )
        .await;
    assert_eq!(res.status(), 413);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "prompt_too_large");
    let res = h
        .post(ALICE, &format!("/api/sessions/{session}/turns"), json!({}))
        .await;
    assert_eq!(res.status(), 400);
    let res = h
        .http
        .get(h.url(&format!("/api/sessions/{session}/events")))
        .bearer_auth(ALICE)
        .header("Last-Event-ID", "soon")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);

    // CORS is off unless configured: no allow-origin header on a preflight.
    let res = h
        .http
        .request(reqwest::Method::OPTIONS, h.url("/api/sessions"))
        .header("Origin", "https://evil.example")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());

    h.turn(ALICE, &session, "hello").await;
    let mut events = h.events(ALICE, &session, None).await;
    let all = events.until("turn.completed").await;
    assert_eq!(all[0].data["prompt"], "hello");
    assert!(all.iter().any(|e| e.kind == "item.completed"
        && e.data["item"]["type"] == "agentMessage"
        && e.data["item"]["text"] == "hi"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_cors_allows_only_that_origin() {
    let h = Harness::start(vec![], |c| c.allow_origin("https://app.example")).await;
    let preflight = |origin: &'static str| {
        h.http
            .request(reqwest::Method::OPTIONS, h.url("/api/sessions"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "authorization")
            .send()
    };
    let res = preflight("https://app.example").await.unwrap();
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let res = preflight("https://evil.example").await.unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_resuming_with_last_event_id_gets_exactly_the_missing_events() {
    let h = Harness::start(
        vec![Reply::slow(
            (0..40).map(|i| format!("chunk-{i} ")),
            Duration::from_millis(30),
        )],
        |c| c,
    )
    .await;
    let session = h.create_session(ALICE).await;
    // A witness that stays connected the whole turn.
    let mut witness = h.events(ALICE, &session, None).await;
    let mut client = h.events(ALICE, &session, None).await;
    h.turn(ALICE, &session, "stream slowly").await;
    // The client reads until a few deltas arrived, then drops the connection mid-turn.
    let mut seen = Vec::new();
    loop {
        let ev = client.next().await.unwrap();
        let delta = ev.kind == "agent.delta";
        seen.push(ev);
        if delta && seen.iter().filter(|e| e.kind == "agent.delta").count() == 5 {
            break;
        }
    }
    drop(client);
    let last = seen.last().unwrap().id;
    let everything = witness.until("turn.completed").await;
    assert_gap_free(&everything, 1);
    assert!(
        everything
            .iter()
            .any(|e| e.id > last && e.kind == "agent.delta"),
        "the turn streamed on after the disconnect"
    );

    let mut resumed = h.events(ALICE, &session, Some(last)).await;
    let rest = resumed.until("turn.completed").await;
    assert_eq!(rest.first().unwrap().id, last + 1, "no gap");
    let mut joined = seen.clone();
    joined.extend(rest);
    assert_eq!(
        joined, everything,
        "exactly the missing events, no duplicate"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_approval_gets_the_fail_closed_timeout_and_late_answers_are_refused() {
    let h = Harness::start(approval_scenario(), |mut c| {
        c.session = c
            .session
            .with_approval_timeout(Duration::from_secs(2), TimeoutAction::Decline);
        c
    })
    .await;
    let session = h.create_session(ALICE).await;
    let mut events = h.events(ALICE, &session, None).await;
    h.turn(ALICE, &session, "make a file").await;
    let all = events.until("turn.completed").await;
    let request_id = all
        .iter()
        .find(|e| e.kind == "approval.requested")
        .unwrap()
        .data["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    let resolved = all.iter().find(|e| e.kind == "approval.resolved").unwrap();
    assert_eq!(resolved.data["decision"], "timeout");
    let declined = all.iter().any(|e| {
        e.kind == "item.completed"
            && e.data["item"]["type"] == "commandExecution"
            && e.data["item"]["status"] == "declined"
    });
    assert!(declined, "{all:#?}");
    assert!(!h.env.workdir().join("made_by_web.txt").exists());
    let res = h
        .post(
            ALICE,
            &format!("/api/sessions/{session}/approvals/{request_id}"),
            json!({"decision": "accept"}),
        )
        .await;
    assert_eq!(res.status(), 409);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_a_session_ends_its_streams_and_refuses_turns() {
    let h = Harness::start(vec![Reply::text("hi")], |c| c).await;
    let session = h.create_session(ALICE).await;
    let mut events = h.events(ALICE, &session, None).await;
    let res = h
        .http
        .delete(h.url(&format!("/api/sessions/{session}")))
        .bearer_auth(ALICE)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let closed = events.next().await.unwrap();
    assert_eq!(closed.kind, "session.closed");
    assert!(
        events.next().await.is_none(),
        "the stream ends after session.closed"
    );
    let res = h
        .post(
            ALICE,
            &format!("/api/sessions/{session}/turns"),
            json!({"prompt": "x"}),
        )
        .await;
    assert_eq!(res.status(), 409);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_ends_open_sse_streams() {
    let h = Harness::start(vec![], |c| c).await;
    let session = h.create_session(ALICE).await;
    let mut events = h.events(ALICE, &session, None).await;
    let adapter = h.adapter.clone();
    // stop() waits for the server to finish, which needs the open stream to end.
    h.stop().await;
    assert!(events.next().await.is_none());
    let info = adapter
        .list_sessions(&codex_runtime::web::TenantId::new("alice").unwrap())
        .await
        .unwrap();
    assert!(info[0].closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_adapter_api_streams_envelopes_and_answers_approvals_without_http() {
    use codex_runtime::web::{TenantId, WebDecision};
    use futures::StreamExt;
    let h = Harness::start(approval_scenario(), |c| c).await;
    let alice = TenantId::new("alice").unwrap();
    let bob = TenantId::new("bob").unwrap();
    let info = h
        .adapter
        .create_session(&alice, Some("api".into()))
        .await
        .unwrap();
    assert_eq!(info.name.as_deref(), Some("api"));
    assert!(matches!(
        h.adapter
            .subscribe_session_events(&bob, &info.id, None)
            .await,
        Err(codex_runtime::web::WebError::SessionNotFound { .. })
    ));
    let mut events = Box::pin(
        h.adapter
            .subscribe_session_events(&alice, &info.id, None)
            .await
            .unwrap(),
    );
    let mut approvals = Box::pin(
        h.adapter
            .subscribe_session_approvals(&alice, &info.id, None)
            .await
            .unwrap(),
    );
    h.adapter
        .create_turn(&alice, &info.id, "make a file".into())
        .await
        .unwrap();
    let asked = approvals.next().await.unwrap().unwrap();
    assert_eq!(asked.event, "approval.requested");
    let request_id = asked.data["request_id"].as_str().unwrap().to_string();
    assert_eq!(
        h.adapter.pending_approvals(&alice, &info.id).await.unwrap(),
        vec![request_id.clone()]
    );
    let err = h
        .adapter
        .post_approval(&bob, &info.id, &request_id, WebDecision::Accept)
        .await
        .unwrap_err();
    assert_eq!(err.status(), 404);
    h.adapter
        .post_approval(&alice, &info.id, &request_id, WebDecision::Decline)
        .await
        .unwrap();
    let mut seen = Vec::new();
    while let Some(ev) = events.next().await {
        let ev = ev.unwrap();
        let done = ev.event == "turn.completed";
        seen.push(ev);
        if done {
            break;
        }
    }
    for (i, ev) in seen.iter().enumerate() {
        assert_eq!(ev.id, i as u64 + 1);
    }
    let declined = seen.iter().any(|e| {
        e.event == "item.completed"
            && e.data["item"]["type"] == "commandExecution"
            && e.data["item"]["status"] == "declined"
    });
    assert!(declined, "{seen:#?}");
    assert!(!h.env.workdir().join("made_by_web.txt").exists());
    h.adapter.close_session(&alice, &info.id).await.unwrap();
    assert!(events.next().await.is_none(), "the stream ends at close");
    h.stop().await;
}

/// Tokens `user-<tenant>` belong to `<tenant>`: an application's own authentication.
struct PrefixAuthenticator;

impl codex_runtime::web::Authenticator for PrefixAuthenticator {
    fn authenticate(
        &self,
        token: &str,
    ) -> futures::future::BoxFuture<'static, Option<codex_runtime::web::TenantId>> {
        let tenant = token
            .strip_prefix("user-")
            .and_then(codex_runtime::web::TenantId::new);
        Box::pin(async move { tenant })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_authenticator_decides_the_tenant() {
    let h = Harness::start(vec![], |mut c| {
        c.authenticator = std::sync::Arc::new(PrefixAuthenticator);
        c
    })
    .await;
    let session = h.create_session("user-carol").await;
    let res = h
        .http
        .get(h.url(&format!("/api/sessions/{session}")))
        .bearer_auth("user-dave")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "another tenant");
    let res = h
        .http
        .get(h.url(&format!("/api/sessions/{session}")))
        .bearer_auth("user-carol")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // The configured tokens are not consulted any more.
    let res = h
        .http
        .get(h.url("/api/sessions"))
        .bearer_auth(ALICE)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    h.stop().await;
}
