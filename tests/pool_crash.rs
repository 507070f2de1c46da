//! Crash isolation on the runtime pool, through HTTP on the real codex with the mock model:
//! one tenant's codex is SIGKILLed mid-turn; another tenant's turn already in flight completes,
//! the killed tenant's turn fails at once with the typed transport error, and its next turn
//! runs on a fresh process that resumed the thread from the tenant's own codex home.

mod pool_support;
mod web_support;

use codex_runtime::runtime::SessionConfig;
use codex_test_support::codex_mock_model::{Reply, Scenario};
use pool_support::{key, PoolHarness};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_tenants_crash_fails_only_its_turn_and_its_next_turn_works() {
    let h = PoolHarness::start(Scenario::empty(), 2, SessionConfig::new("."), |c| c).await;
    let victim = h.create_session(0).await;
    let other = h.create_session(1).await;
    let mut victim_events = h.events(0, &victim, None).await;
    let mut other_events = h.events(1, &other, None).await;

    // The victim's turn hangs in the model; the other tenant's turn streams slowly.
    h.env.mock.push(Reply::stall(["partial "]));
    h.turn(0, &victim, "first words of the victim").await;
    h.env
        .mock
        .wait_for_stall(Duration::from_secs(60))
        .await
        .unwrap();
    h.env.mock.push(Reply::slow(
        ["one ", "two ", "three ", "four"],
        Duration::from_millis(700),
    ));
    h.turn(1, &other, "count slowly").await;
    let first = other_events.until("agent.delta").await;
    assert!(
        first.iter().all(|e| e.kind != "turn.completed"),
        "{first:#?}"
    );

    let pid = h.pool.pid(&key(0)).expect("the victim's codex runs");
    let other_pid = h.pool.pid(&key(1)).expect("the other codex runs");
    assert_ne!(pid, other_pid);
    // SAFETY: SIGKILL to the codex process this test's pool spawned.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
    let killed = Instant::now();

    // The victim learns at once (the default turn timeout is 120 s), with the typed error.
    let failed = victim_events.until("turn.failed").await;
    let failed = failed.last().unwrap();
    assert!(
        killed.elapsed() < Duration::from_secs(30),
        "{:?}",
        killed.elapsed()
    );
    let failed_turn = failed.data["turn_id"].clone();
    let message = failed.data["error"].as_str().unwrap();
    assert!(
        message.contains("signal 9") || message.contains("killed"),
        "{message}"
    );

    // The other tenant's turn, in flight during the crash, completes on its own process.
    let done = other_events.until("turn.completed").await;
    let done = done.last().unwrap();
    assert_eq!(done.data["status"], "completed", "{done:#?}");
    assert_eq!(h.pool.pid(&key(1)), Some(other_pid));

    // The victim's next turn starts a fresh codex, which resumes the thread from the victim's
    // own codex home: the model sees the earlier prompt.
    h.env.mock.push(Reply::text("back after the crash"));
    h.turn(0, &victim, "are you there").await;
    let events = victim_events.until("turn.completed").await;
    let done = events.last().unwrap();
    assert_eq!(done.data["status"], "completed", "{events:#?}");
    let new_pid = h.pool.pid(&key(0)).expect("a fresh codex");
    assert_ne!(new_pid, pid);
    assert_ne!(
        done.data["turn_id"], failed_turn,
        "the new turn's completion"
    );
    let body = h
        .env
        .mock
        .requests()
        .into_iter()
        .map(|r| r.body.to_string())
        .find(|b| b.contains("are you there"))
        .expect("the model saw the new turn");
    assert!(
        body.contains("first words of the victim"),
        "resumed: {body}"
    );

    h.env.mock.release_stall();
    h.stop().await;
}
