//! Scale of `codex_runtime::web` on the real codex with the mock model: 200 SSE clients on one
//! session each receive every event, in order (asserted); and the delta rate to one SSE client
//! against the in-process `Subscription` rate on the same turn, in the same run (printed, and
//! required to be at least half). Memory per idle SSE client is measured on the `serve` binary
//! (crates/codex-runtime-cli/tests/serve.rs). Numbers go to docs/PERFORMANCE.md.

mod web_support;

use codex_runtime::rpc::Event;
use codex_runtime::runtime::ServerNotification;
use codex_test_support::codex_mock_model::Reply;
use futures::future::join_all;
use std::sync::Arc;
use std::time::Instant;
use web_support::{assert_gap_free, Harness, ALICE};

/// Deltas the mock streams in the scale turns.
const DELTAS: usize = 2000;

fn many_deltas() -> Reply {
    Reply::deltas((0..DELTAS).map(|i| format!("d{i}~")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_sse_clients_on_one_session_each_receive_every_event_in_order() {
    const CLIENTS: usize = 200;
    // A flood (deltas coalesce into few events), then a paced turn (about one event each).
    let paced = Reply::slow(
        (0..300).map(|i| format!("p{i}~")),
        std::time::Duration::from_millis(3),
    );
    let h = Harness::start(vec![many_deltas(), paced], |c| c).await;
    let session = h.create_session(ALICE).await;
    let mut clients = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        clients.push(h.events(ALICE, &session, None).await);
    }
    h.turn(ALICE, &session, "flood").await;
    let mut received = join_all(
        clients
            .iter_mut()
            .map(|c| async move { c.until("turn.completed").await }),
    )
    .await;
    h.turn(ALICE, &session, "paced").await;
    let second = join_all(
        clients
            .iter_mut()
            .map(|c| async move { c.until("turn.completed").await }),
    )
    .await;
    for (events, more) in received.iter_mut().zip(second) {
        events.extend(more);
    }
    let reference = &received[0];
    assert_gap_free(reference, 1);
    let text: String = reference
        .iter()
        .filter(|e| e.kind == "agent.delta")
        .map(|e| e.data["delta"].as_str().unwrap())
        .collect();
    let expected: String = (0..DELTAS)
        .map(|i| format!("d{i}~"))
        .chain((0..300).map(|i| format!("p{i}~")))
        .collect();
    assert_eq!(text, expected, "every delta, in order");
    for (i, events) in received.iter().enumerate() {
        assert_eq!(events, reference, "client {i} saw a different sequence");
    }
    println!(
        "200 SSE clients: each received the same {} events ({} deltas in {} agent.delta events)",
        reference.len(),
        DELTAS + 300,
        reference.iter().filter(|e| e.kind == "agent.delta").count()
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delta_rate_to_one_sse_client_is_at_least_half_the_in_process_rate() {
    let h = Harness::start(vec![many_deltas()], |c| c).await;
    let session = h.create_session(ALICE).await;
    let info = h
        .adapter
        .session_info(
            &codex_runtime::web::TenantId::new("alice").unwrap(),
            &session,
        )
        .await
        .unwrap();
    let thread_id = info.thread_id.unwrap();
    // In process: a Subscription on the thread, counting agent-message deltas.
    let mut sub = h.client.runtime().subscribe_thread(&thread_id);
    let in_process = tokio::spawn(async move {
        let mut first = None;
        let mut count = 0usize;
        while count < DELTAS {
            let ev: Arc<Event> = match sub.recv().await {
                Ok(ev) => ev,
                Err(err) => panic!("subscription ended: {err:?}"),
            };
            if let ServerNotification::ItemAgentMessageDelta(_) = ev.notification() {
                first.get_or_insert_with(Instant::now);
                count += 1;
            }
        }
        let elapsed = first.map(|f| f.elapsed()).unwrap_or_default();
        count as f64 / elapsed.as_secs_f64().max(1e-6)
    });
    // Over HTTP: one SSE client, counting deltas (`~` ends each) in the coalesced events.
    let mut sse = h.events(ALICE, &session, None).await;
    h.turn(ALICE, &session, "flood").await;
    let mut first = None;
    let mut count = 0usize;
    while count < DELTAS {
        let ev = sse.next().await.unwrap();
        if ev.kind == "agent.delta" {
            first.get_or_insert_with(Instant::now);
            count += ev.data["delta"].as_str().unwrap().matches('~').count();
        }
    }
    let sse_rate = count as f64 / first.unwrap().elapsed().as_secs_f64().max(1e-6);
    let sub_rate = in_process.await.unwrap();
    let ratio = sse_rate / sub_rate;
    println!(
        "delta rate, same turn of {DELTAS} deltas (debug build, mock model): in-process Subscription \
         {sub_rate:.0}/s, one SSE client {sse_rate:.0}/s, ratio {ratio:.2} (target >= 0.5)"
    );
    assert!(
        ratio >= 0.5,
        "SSE delivers deltas at {ratio:.2}x the in-process rate"
    );
    h.stop().await;
}
