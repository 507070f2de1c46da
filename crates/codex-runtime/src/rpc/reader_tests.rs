//! Tests of `rpc::reader`.

use super::*;
use crate::rpc::router::{QueueLimits, Topic};
use crate::rpc::server_requests::{HandlerRegistry, TimeoutAction};
use crate::rpc::{RecvError, DEFAULT_OVERFLOW_PAUSE, DEFAULT_QUEUE_BUDGET_BYTES};
use crate::transport::Transport;
use tokio::io::{AsyncWriteExt, DuplexStream};
use tokio::sync::broadcast;

fn delta(i: u64) -> String {
    format!(
        "{{\"method\":\"item/agentMessage/delta\",\"params\":{{\"threadId\":\"th\",\"turnId\":\"tu\",\"itemId\":\"it\",\"delta\":\"token {i} \"}}}}\n"
    )
}

/// A seat over an in-memory transport, with no reader task: the test reads as a consumer.
fn seat() -> (Arc<Seat>, Arc<Router>, DuplexStream) {
    let metrics = Arc::new(Metrics::default());
    let router = Arc::new(Router::new(
        Arc::clone(&metrics),
        QueueLimits {
            budget_bytes: DEFAULT_QUEUE_BUDGET_BYTES,
            delta_capacity: usize::MAX,
            lifecycle_capacity: 1000,
            overflow_pause: DEFAULT_OVERFLOW_PAUSE,
        },
    ));
    let shared = Arc::new(Shared {
        router: Arc::clone(&router),
        handlers: Arc::new(HandlerRegistry::new(
            Duration::from_secs(5),
            TimeoutAction::Decline,
        )),
        metrics,
        issues: broadcast::channel(16).0,
        seq: AtomicU64::new(0),
    });
    let (transport, peer) = Transport::memory(1 << 20);
    let (outgoing, _) = mpsc::channel(16);
    let seat = Arc::new(Seat::new(
        transport.receiver,
        ReadLoop {
            runtime: tokio::runtime::Handle::current(),
            shared,
            pending: Arc::new(PendingMap::default()),
            outgoing,
            process: Weak::new(),
            closed: watch::channel(None).0,
            close_router_on_exit: true,
        },
    ));
    router.set_seat(Arc::downgrade(&seat));
    (seat, router, peer)
}

fn texts(sub: &mut crate::rpc::Subscription) -> Vec<String> {
    std::iter::from_fn(|| sub.try_recv())
        .map(|item| match item.expect("an event").notification() {
            ServerNotification::ItemAgentMessageDelta(d) => d.delta.clone(),
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn a_consumer_reads_what_is_readable_and_a_partial_frame_waits_whole() {
    let (seat, router, mut peer) = seat();
    let mut sub = router.subscribe(Topic::All);
    peer.write_all(format!("{}{}", delta(0), delta(1)).as_bytes())
        .await
        .expect("write");
    // Half of the third line: the consumer reads the two whole ones and leaves the rest.
    let third = delta(2);
    peer.write_all(&third.as_bytes()[..20])
        .await
        .expect("write");
    assert_eq!(seat.pull(), Pull::Read);
    assert_eq!(texts(&mut sub), ["token 0 ", "token 1 "]);
    // Nothing more is whole: the consumer asks the reader task to take over.
    assert_eq!(seat.pull(), Pull::Idle);
    assert!(seat.take_over_requested.load(Ordering::Acquire));
    peer.write_all(&third.as_bytes()[20..])
        .await
        .expect("write");
    assert_eq!(seat.pull(), Pull::Read);
    assert_eq!(texts(&mut sub), ["token 2 "]);
    let metrics = Arc::clone(&seat.state.lock().await.rl.shared.metrics);
    assert_eq!(
        metrics.snapshot(0).consumer_reads,
        2,
        "two pulls read frames"
    );
}

#[tokio::test]
async fn a_consumer_reads_one_batch_per_pull() {
    let (seat, router, mut peer) = seat();
    let mut sub = router.subscribe(Topic::All);
    let lines: String = (0..ROUTE_BATCH as u64 + 10).map(delta).collect();
    peer.write_all(lines.as_bytes()).await.expect("write");
    assert_eq!(seat.pull(), Pull::Read);
    assert_eq!(texts(&mut sub).len(), ROUTE_BATCH);
    // A full batch is not the end of a flood: the reader task is not asked to take over.
    assert!(!seat.take_over_requested.load(Ordering::Acquire));
    assert_eq!(seat.pull(), Pull::Read);
    assert_eq!(texts(&mut sub).len(), 10);
}

#[tokio::test]
async fn the_reader_task_holds_the_seat_while_it_waits_and_finishes_a_stream_a_consumer_ended() {
    let (seat, router, mut peer) = seat();
    let mut sub = router.subscribe(Topic::All);
    let reader = tokio::spawn(read_loop(Arc::clone(&seat)));
    tokio::task::yield_now().await;
    // The reader task waits for a frame with the seat: a consumer cannot take it.
    assert_eq!(seat.pull(), Pull::Busy);
    peer.write_all(delta(0).as_bytes()).await.expect("write");
    let ev = sub.recv().await.expect("routed by the reader task");
    assert_eq!(ev.seq, 1);
    reader.abort();
    let _ = reader.await;
    // Without a reader task, a consumer reads the end of the stream and hands it over.
    let (seat, router, peer) = self::seat();
    let mut sub = router.subscribe(Topic::All);
    drop(peer);
    assert_eq!(seat.pull(), Pull::Read);
    assert_eq!(seat.pull(), Pull::Idle, "ended: nothing more to read");
    tokio::spawn(read_loop(seat));
    assert_eq!(
        sub.recv().await.map(|e| e.seq),
        Err(RecvError::Closed(CloseReason::ConnectionClosed))
    );
}

/// Yields until `done` holds (at most 1,000 times): lets the reader task run on this
/// current-thread runtime without moving the (paused) clock.
async fn until(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..1000 {
        if done() {
            return true;
        }
        tokio::task::yield_now().await;
    }
    done()
}

#[tokio::test(start_paused = true)]
async fn the_reader_task_steps_back_for_a_flood_and_takes_over_at_once_when_a_call_is_sent() {
    let (seat, router, mut peer) = seat();
    let mut sub = router.subscribe(Topic::All);
    let reader = tokio::spawn(read_loop(Arc::clone(&seat)));
    tokio::task::yield_now().await;
    // A consumer waited (the reader task held the seat), then a flood arrives.
    assert_eq!(seat.pull(), Pull::Busy);
    let lines: String = (0..ROUTE_BATCH as u64 + 44).map(delta).collect();
    peer.write_all(lines.as_bytes()).await.expect("write");
    let start = tokio::time::Instant::now();
    assert!(
        until(|| seat.is_stepped_back.load(Ordering::Acquire)).await,
        "after a full batch with a consumer waiting, the reader task steps back"
    );
    assert_eq!(texts(&mut sub).len(), ROUTE_BATCH, "it read one full batch");
    // A call is sent: the reader task takes over without waiting for its grace period
    // (the clock is paused and does not move) and reads the rest.
    seat.call_sent();
    assert!(
        until(|| !seat.is_stepped_back.load(Ordering::Acquire)).await,
        "the reader task took over"
    );
    let mut rest = Vec::new();
    assert!(
        until(|| {
            rest.extend(texts(&mut sub));
            rest.len() == 44
        })
        .await,
        "the reader task read the rest: {}",
        rest.len()
    );
    assert_eq!(tokio::time::Instant::now(), start, "no grace period passed");
    reader.abort();
}

#[tokio::test]
async fn the_reader_task_lets_a_consumer_task_it_woke_run_after_each_full_batch() {
    let (seat, router, mut peer) = seat();
    let metrics = Arc::clone(&seat.state.lock().await.rl.shared.metrics);
    let mut sub = router.subscribe(Topic::All);
    // Far more than one batch is readable before the reader task starts.
    let lines: String = (0..4 * ROUTE_BATCH as u64).map(delta).collect();
    peer.write_all(lines.as_bytes()).await.expect("write");
    let reader = tokio::spawn(read_loop(Arc::clone(&seat)));
    let consumer = tokio::spawn(async move {
        let first = sub.recv().await.expect("an event");
        (first.seq, metrics.snapshot(0).messages_in)
    });
    // The consumer ran right after the first batch, not after everything buffered.
    let (seq, read_when_it_ran) = consumer.await.expect("consumer task");
    assert_eq!(seq, 1);
    assert_eq!(read_when_it_ran, ROUTE_BATCH as u64);
    reader.abort();
}
