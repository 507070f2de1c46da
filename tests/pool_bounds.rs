//! Bounds of the runtime pool, through HTTP on the real codex with the mock model: 5 tenants
//! on at most 2 processes. Every tenant is served (the least recently used idle process is
//! stopped to make room), a stopped tenant's next turn starts a fresh process and resumes its
//! thread, idle processes are stopped after the idle time, and turns of more tenants than
//! slots at once all complete. A tenant is refused only while every slot stays busy (a turn
//! running on each) for the whole `slot_wait`, with an error that says so.

mod pool_support;
mod web_support;

use codex_runtime::runtime::SessionConfig;
use codex_test_support::codex_mock_model::{Reply, Scenario};
use pool_support::{key, PoolHarness};
use std::time::{Duration, Instant};

const TENANTS: usize = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_tenants_on_two_processes_are_all_served_and_idle_ones_stop() {
    let scenario = Scenario::empty().with_fallback(Reply::echo("heard: "));
    let h = PoolHarness::start(scenario, TENANTS, SessionConfig::new("."), |c| {
        c.with_max_processes(2)
            .with_idle_timeout(Duration::from_secs(3))
    })
    .await;

    // One after another: every tenant gets a session and an answer; never more than 2 run.
    let mut sessions = Vec::new();
    for i in 0..TENANTS {
        let session = h.create_session(i).await;
        let mut events = h.events(i, &session, None).await;
        h.turn(i, &session, &format!("hello from tenant {i}")).await;
        let done = events.until("turn.completed").await;
        assert_eq!(
            done.last().unwrap().data["status"],
            "completed",
            "{done:#?}"
        );
        assert!(h.pool.running() <= 2, "{} running", h.pool.running());
        sessions.push(session);
    }
    assert!(
        h.pool.pid(&key(0)).is_none(),
        "tenant 0's idle process made room"
    );

    // Tenant 0 again: a fresh process, its thread resumed from its own codex home.
    let mut events = h.events(0, &sessions[0], None).await;
    events.until("turn.completed").await; // the first turn's
    h.turn(0, &sessions[0], "tenant 0 is back").await;
    let done = events.until("turn.completed").await;
    assert_eq!(done.last().unwrap().data["status"], "completed");
    let body = h
        .env
        .mock
        .requests()
        .into_iter()
        .map(|r| r.body.to_string())
        .find(|b| b.contains("tenant 0 is back"))
        .expect("the model saw tenant 0's turn");
    assert!(body.contains("hello from tenant 0"), "resumed: {body}");
    assert!(h.pool.running() <= 2);

    // Idle processes stop on their own.
    let start = Instant::now();
    while h.pool.running() > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "idle processes were not stopped"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // More tenants at once than slots: every turn is accepted and completes.
    let mut streams = Vec::new();
    for (i, session) in sessions.iter().enumerate().take(4).skip(1) {
        let mut events = h.events(i, session, None).await;
        // Skip the first turn's events.
        events.until("turn.completed").await;
        streams.push((i, events));
    }
    for (i, _) in &streams {
        h.turn(*i, &sessions[*i], &format!("together {i}")).await;
    }
    for (i, events) in &mut streams {
        let done = events.until("turn.completed").await;
        let done = done.last().unwrap();
        assert_eq!(done.data["status"], "completed", "tenant {i}: {done:#?}");
    }
    assert!(h.pool.running() <= 2);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_waits_while_every_slot_is_busy_then_gets_a_typed_error() {
    let h = PoolHarness::start(Scenario::empty(), 2, SessionConfig::new("."), |c| {
        c.with_max_processes(1)
            .with_slot_wait(Duration::from_secs(2))
    })
    .await;
    let busy = h.create_session(0).await;
    let mut events = h.events(0, &busy, None).await;
    h.env.mock.push(Reply::stall(["thinking "]));
    h.turn(0, &busy, "take the only slot").await;
    h.env
        .mock
        .wait_for_stall(Duration::from_secs(60))
        .await
        .unwrap();

    // The only process has a turn running: tenant 1 waits for the slot, then is told why.
    let res = h
        .http
        .post(h.url("/api/sessions"))
        .bearer_auth(pool_support::token(1))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "runtime_busy", "{body}");
    assert_eq!(body["error"]["limit"], "max_processes", "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("stayed busy"), "{body}");
    assert!(h.pool.pid(&key(1)).is_none());

    // Once the turn ends the slot can be freed, and tenant 1 is served.
    h.env.mock.release_stall();
    events.until("turn.completed").await;
    h.env.mock.push(Reply::text("now it is my turn"));
    let session = h.create_session(1).await;
    let mut events = h.events(1, &session, None).await;
    h.turn(1, &session, "hello").await;
    let done = events.until("turn.completed").await;
    assert_eq!(done.last().unwrap().data["status"], "completed");
    assert!(h.pool.running() <= 1);
    h.stop().await;
}
