//! A consumer that waits in `recv` outside any tokio task on a multi-thread runtime (here: the
//! test's own future, as in `#[tokio::main]`) reads the connection itself during a flood
//! (`rpc::reader`). These tests do to such a consumer what callers do, on the scripted fake
//! app-server (a real codex cannot be made to flood on demand), with the DEFAULT queue settings:
//!
//! - read a flood: every delta, once, in order, while a spawned subscriber reads it too;
//! - drop `recv` and `recv_many` futures mid-wait and call again: nothing lost or repeated;
//! - keep a `recv` future without polling it: calls still get their replies and other
//!   subscribers their events.

use codex_runtime::rpc::{Event, RecvError, Subscription};
use codex_runtime::runtime::{Runtime, RuntimeConfig, ServerNotification};
use futures::FutureExt;
use serde_json::json;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

const FAKE: &str = env!("CARGO_BIN_EXE_fake-app-server");
const BURST: u64 = 100_000;
/// Only a guard against a hang; no test asserts a duration.
const HANG_GUARD: Duration = Duration::from_secs(240);

fn defaults() -> RuntimeConfig {
    RuntimeConfig::new()
        .with_cli_bin(FAKE)
        .with_request_timeout(Duration::from_secs(300))
}

/// The `N` of a flood delta (`"token N "`).
fn index(ev: &Event) -> u64 {
    match ev.notification() {
        ServerNotification::ItemAgentMessageDelta(d) => d
            .delta
            .trim()
            .strip_prefix("token ")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("not a flood delta: {:?}", d.delta)),
        other => panic!("not a delta: {other:?}"),
    }
}

/// Starts a flood of `BURST` deltas on thread `thr_pull`; the handle yields the reply.
fn flood(rt: &Arc<Runtime>) -> tokio::task::JoinHandle<serde_json::Value> {
    let rt = Arc::clone(rt);
    tokio::spawn(async move {
        rt.call(
            "fake/flood",
            json!({"count": BURST, "threadId": "thr_pull", "turnId": "turn_pull"}),
        )
        .await
        .expect("fake/flood")
    })
}

/// A spawned subscriber that checks it gets the whole flood, in order.
fn spawned_reader(mut sub: Subscription) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let mut next = 0;
        while next < BURST {
            match sub.recv().await {
                Ok(ev) => {
                    assert_eq!(index(&ev), next, "spawned subscriber: in order, once each");
                    next += 1;
                }
                Err(e) => panic!("spawned subscriber lost events: {e}"),
            }
        }
        next
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_main_future_consumer_reads_a_flood_itself_whole_and_in_order() {
    let rt = Arc::new(Runtime::connect(defaults()).await.expect("connect"));
    let mut sub = rt.subscribe();
    let other = spawned_reader(rt.subscribe_thread("thr_pull"));
    let reply = flood(&rt);
    let mut next = 0;
    while next < BURST {
        let ev = tokio::time::timeout(HANG_GUARD, sub.recv())
            .await
            .expect("no hang")
            .expect("no event lost");
        assert_eq!(index(&ev), next, "in order, once each");
        next += 1;
    }
    assert_eq!(reply.await.expect("flood task")["sent"], json!(BURST));
    assert_eq!(other.await.expect("spawned subscriber"), BURST);
    let metrics = rt.metrics();
    assert_eq!(metrics.lag_drops, 0);
    // The path under test ran: this consumer read batches of the flood on its own thread.
    assert!(
        metrics.consumer_reads > 0,
        "no batch was read by the consumer: {metrics:?}"
    );
    rt.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recv_futures_dropped_mid_wait_lose_nothing_and_repeat_nothing() {
    let rt = Arc::new(Runtime::connect(defaults()).await.expect("connect"));
    let mut sub = rt.subscribe();
    // Nothing has been sent yet, so this wait is dropped mid-flight for sure.
    assert!(sub.recv().now_or_never().is_none());
    let reply = flood(&rt);
    let (mut next, mut dropped, mut round) = (0u64, 0u64, 0u64);
    let mut batch = Vec::new();
    let take = |ev: Arc<Event>, next: &mut u64| {
        assert_eq!(index(&ev), *next, "in order, once each");
        *next += 1;
    };
    while next < BURST {
        round += 1;
        match round % 4 {
            // Polled once, then dropped if it has to wait.
            0 => match futures::poll!(Box::pin(sub.recv())) {
                Poll::Ready(ev) => take(ev.expect("no event lost"), &mut next),
                Poll::Pending => dropped += 1,
            },
            // A short timeout, as a caller with a deadline writes it.
            1 => match tokio::time::timeout(Duration::from_micros(200), sub.recv()).await {
                Ok(ev) => take(ev.expect("no event lost"), &mut next),
                Err(_) => dropped += 1,
            },
            2 => match futures::poll!(Box::pin(sub.recv_many(&mut batch, 64))) {
                Poll::Ready(n) => {
                    n.expect("no event lost");
                    for ev in batch.drain(..) {
                        take(ev, &mut next);
                    }
                }
                Poll::Pending => dropped += 1,
            },
            _ => {
                let ev = tokio::time::timeout(HANG_GUARD, sub.recv())
                    .await
                    .expect("no hang")
                    .expect("no event lost");
                take(ev, &mut next);
            }
        }
    }
    assert_eq!(reply.await.expect("flood task")["sent"], json!(BURST));
    assert_eq!(rt.metrics().lag_drops, 0);
    assert!(sub.try_recv().is_none(), "nothing repeated after the flood");
    tracing::info!(dropped, "recv futures dropped mid-wait");
    // The connection is still whole: a call after all those drops gets its reply.
    let echo = tokio::time::timeout(HANG_GUARD, rt.call("fake/echo", json!({"after": dropped})))
        .await
        .expect("no hang")
        .expect("fake/echo");
    assert_eq!(echo, json!({"after": dropped}));
    rt.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recv_future_kept_but_not_polled_holds_up_neither_calls_nor_other_subscribers() {
    let rt = Arc::new(Runtime::connect(defaults()).await.expect("connect"));
    let mut sub = rt.subscribe();
    let other = spawned_reader(rt.subscribe_thread("thr_pull"));
    let reply = flood(&rt);
    // Read part of the flood here, so this consumer is the one reading when it stops.
    let mut received = 0u64;
    while received < BURST / 10 {
        let ev = tokio::time::timeout(HANG_GUARD, sub.recv())
            .await
            .expect("no hang")
            .expect("no event lost yet");
        assert_eq!(index(&ev), received);
        received += 1;
    }
    // Keep a `recv` future that had to wait, and never poll it again while calling.
    let parked = loop {
        let mut fut = Box::pin(sub.recv());
        match futures::poll!(fut.as_mut()) {
            Poll::Pending => break fut,
            Poll::Ready(ev) => {
                assert_eq!(index(&ev.expect("no event lost yet")), received);
                received += 1;
            }
        }
    };
    let echo = tokio::time::timeout(HANG_GUARD, rt.call("fake/echo", json!({"parked": true})))
        .await
        .expect("a call is answered while a recv future is parked")
        .expect("fake/echo");
    assert_eq!(echo, json!({"parked": true}));
    assert_eq!(
        tokio::time::timeout(HANG_GUARD, other)
            .await
            .expect("the other subscriber gets the whole flood")
            .expect("spawned subscriber"),
        BURST
    );
    assert_eq!(reply.await.expect("flood task")["sent"], json!(BURST));
    // Back to the parked consumer: what did not fit its queue meanwhile is reported, not lost
    // silently.
    drop(parked);
    let mut lagged = 0;
    while received + lagged < BURST {
        match sub.try_recv() {
            Some(Ok(_)) => received += 1,
            Some(Err(RecvError::Lagged(n))) => lagged += n,
            Some(Err(e)) => panic!("subscription ended: {e}"),
            None => panic!("{received} received + {lagged} lagged < {BURST}"),
        }
    }
    assert_eq!(rt.metrics().lag_drops, lagged);
    rt.shutdown().await.expect("shutdown");
}
