//! Tests of `rpc::queue`.

use super::*;
use codex_runtime_protocol::ServerNotification;

fn routed(seq: u64, droppable: bool, cost: usize) -> Routed {
    Routed {
        event: Arc::new(Event::new(
            ServerNotification::Unknown {
                method: if droppable { "x/delta" } else { "x/done" }.into(),
                params: serde_json::Value::Null,
            },
            None,
            seq,
        )),
        cost,
        droppable,
    }
}

fn queue(budget_bytes: usize) -> Arc<SubQueue> {
    Arc::new(SubQueue::new(QueueLimits {
        budget_bytes,
        delta_capacity: usize::MAX,
        lifecycle_capacity: 100,
        overflow_pause: Duration::from_secs(30),
    }))
}

fn seqs(items: &[Result<Arc<Event>, RecvError>]) -> Vec<Result<u64, RecvError>> {
    items
        .iter()
        .map(|r| r.clone().map(|e| e.seq))
        .collect::<Vec<_>>()
}

#[tokio::test]
async fn the_budget_is_in_bytes_and_lifecycle_events_ignore_it() {
    let q = queue(1000);
    let batch = [
        routed(1, true, 300),
        routed(2, true, 300),
        routed(3, true, 300),
        routed(4, true, 300), // 1200 > 1000: dropped
        routed(5, false, 5000),
        routed(6, true, 300), // still over budget: dropped
    ];
    assert_eq!(q.push_batch(&batch), 2);
    let mut r = QueueReader::new(Arc::clone(&q));
    let mut got = Vec::new();
    while let Some(item) = r.try_recv() {
        got.push(item);
    }
    assert_eq!(
        seqs(&got),
        vec![
            Ok(1),
            Ok(2),
            Ok(3),
            Err(RecvError::Lagged(1)),
            Ok(5),
            Err(RecvError::Lagged(1))
        ]
    );
    // Draining frees the budget.
    assert_eq!(q.push_batch(&[routed(7, true, 900)]), 0);
    assert_eq!(r.recv(None).await.map(|e| e.seq), Ok(7));
}

#[tokio::test]
async fn one_delta_larger_than_the_budget_still_gets_through() {
    let q = queue(10);
    assert_eq!(q.push_batch(&[routed(1, true, 500)]), 0);
    assert_eq!(q.push_batch(&[routed(2, true, 500)]), 1);
    let mut r = QueueReader::new(q);
    assert_eq!(r.recv(None).await.map(|e| e.seq), Ok(1));
    assert_eq!(r.recv(None).await.map(|e| e.seq), Err(RecvError::Lagged(1)));
}

#[tokio::test]
async fn recv_many_stops_before_a_lagged_marker_and_reports_it_next() {
    let q = queue(650);
    let batch: Vec<Routed> = (1..=4).map(|i| routed(i, true, 300)).collect();
    assert_eq!(q.push_batch(&batch), 2);
    q.push_batch(&[routed(5, false, 1)]);
    let mut r = QueueReader::new(Arc::clone(&q));
    let mut out = Vec::new();
    assert_eq!(r.recv_many(&mut out, 10, None).await, Ok(2));
    assert_eq!(
        r.recv_many(&mut out, 10, None).await,
        Err(RecvError::Lagged(2))
    );
    assert_eq!(r.recv_many(&mut out, 10, None).await, Ok(1));
    assert_eq!(out.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2, 5]);
    q.close(CloseReason::ConnectionClosed);
    assert_eq!(
        r.recv_many(&mut out, 10, None).await,
        Err(RecvError::Closed(CloseReason::ConnectionClosed))
    );
}

#[tokio::test]
async fn a_batch_larger_than_one_drain_chunk_arrives_whole_and_in_order() {
    let q = Arc::new(SubQueue::new(QueueLimits {
        budget_bytes: usize::MAX,
        delta_capacity: usize::MAX,
        lifecycle_capacity: 10_000,
        overflow_pause: Duration::ZERO,
    }));
    let batch: Vec<Routed> = (1..=(3 * DRAIN_CHUNK as u64 + 7))
        .map(|i| routed(i, i % 5 != 0, 100))
        .collect();
    assert_eq!(q.push_batch(&batch), 0);
    let mut r = QueueReader::new(Arc::clone(&q));
    let mut out = Vec::new();
    while out.len() < batch.len() {
        r.recv_many(&mut out, 100, None).await.expect("events");
    }
    assert!(out.iter().map(|e| e.seq).eq(1..=batch.len() as u64));
    // Everything was handed out, so the accounting is back to zero.
    let s = q.state.lock().expect("lock");
    assert_eq!((s.droppable, s.droppable_bytes, s.lifecycle), (0, 0, 0));
}

#[tokio::test]
async fn overflow_pauses_for_a_caught_up_subscriber_then_drops_for_one_that_stays_behind() {
    let q = queue(1000);
    let batch: Vec<Routed> = (1..=5).map(|i| routed(i, true, 300)).collect();
    // Caught up (empty): the overflow asks the reader to pause at the 4th event.
    let pushed = q.push(&batch, true);
    assert_eq!((pushed.dropped, pushed.paused_at), (0, Some(3)));
    let mut r = QueueReader::new(Arc::clone(&q));
    let waiter = {
        let q = Arc::clone(&q);
        tokio::spawn(async move { q.wait_caught_up().await })
    };
    // The consumer empties its queue: the paused reader goes on (well before the 30 s
    // pause) and queues the rest.
    for seq in 1..=3 {
        assert_eq!(r.recv(None).await.map(|e| e.seq), Ok(seq));
    }
    waiter.await.expect("paused reader released");
    assert_eq!(q.push(&batch[3..], false).dropped, 0);
    // It emptied its queue since, so the next overflow pauses again (at event 7)...
    let more: Vec<Routed> = (6..=9).map(|i| routed(i, true, 300)).collect();
    let pushed = q.push(&more, true);
    assert_eq!((pushed.dropped, pushed.paused_at), (0, Some(1)));
    // ...but one that overflows again without having emptied its queue is behind: dropped.
    let pushed = q.push(&more[1..], true);
    assert_eq!((pushed.dropped, pushed.paused_at), (3, None));
    let got: Vec<_> = std::iter::from_fn(|| r.try_recv()).collect();
    assert_eq!(
        seqs(&got),
        vec![Ok(4), Ok(5), Ok(6), Err(RecvError::Lagged(3))]
    );
    // Emptied again: the next overflow may pause again.
    let pushed = q.push(
        &(10..=14).map(|i| routed(i, true, 300)).collect::<Vec<_>>(),
        true,
    );
    assert_eq!(pushed.paused_at, Some(3));
}

#[tokio::test]
async fn dropping_the_subscriber_releases_a_paused_reader() {
    let q = queue(100);
    let r = QueueReader::new(Arc::clone(&q));
    let batch: Vec<Routed> = (1..=3).map(|i| routed(i, true, 100)).collect();
    assert_eq!(q.push(&batch, true).paused_at, Some(1));
    let waiter = {
        let q = Arc::clone(&q);
        tokio::spawn(async move { q.wait_caught_up().await })
    };
    drop(r);
    waiter.await.expect("released well before the 30 s pause");
}

#[tokio::test]
async fn a_waiting_reader_is_woken_by_a_later_batch() {
    let q = queue(usize::MAX);
    let mut r = QueueReader::new(Arc::clone(&q));
    let waiter = tokio::spawn(async move { r.recv(None).await.map(|e| e.seq) });
    tokio::task::yield_now().await;
    q.push_batch(&[routed(1, true, 1), routed(2, true, 1)]);
    assert_eq!(waiter.await.expect("reader task"), Ok(1));
}
