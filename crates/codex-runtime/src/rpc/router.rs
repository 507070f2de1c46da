//! Routing notifications to per-thread, per-turn and global subscribers.
//!
//! Every subscriber has its own bounded queue, filled by the reader task without ever waiting:
//!
//! - **Droppable** events (streaming deltas, MCP progress) beyond the
//!   subscriber's byte budget ([`DEFAULT_QUEUE_BUDGET_BYTES`] unless configured) are dropped and
//!   replaced, in place, by one [`RecvError::Lagged`]`(n)` marker, so a slow consumer sees
//!   exactly where and how much it lost.
//! - **Lifecycle** events (`turn/started`, `item/completed`, `turn/completed`,
//!   `serverRequest/resolved`, `error`, and every other non-delta notification) are never
//!   dropped. If a subscriber stops reading until its lifecycle queue is full, it is closed with
//!   [`CloseReason::Overflow`] after the queued events: explicit, never silent.
//!
//! A subscriber that stays behind therefore stalls neither the reader nor the other subscribers
//! (beyond one bounded overflow pause each time it has caught up).
//!
//! The reader hands events over in batches (`Router::route_batch`): one lock and at most one
//! wake-up per subscriber per batch, so the per-event cost of delivery is a queue push. The
//! queue itself, and what happens when it overflows (a bounded pause for a subscriber that keeps
//! up on average, `Lagged` for one that stays behind), lives in [`super::queue`].

use super::message::Event;
use super::metrics::Metrics;
pub(crate) use super::queue::QueueLimits;
pub use super::queue::{
    CloseReason, RecvError, DEFAULT_OVERFLOW_PAUSE, DEFAULT_QUEUE_BUDGET_BYTES,
};
use super::queue::{Pull, QueueReader, ReadWhileWaiting, Routed, SubQueue};
use super::reader::Seat;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use tokio::sync::Notify;

/// Default cap, in events, on the droppable events queued per subscriber: none. The byte
/// budget ([`DEFAULT_QUEUE_BUDGET_BYTES`]) bounds their memory; set a cap with
/// `RuntimeConfig::with_delta_capacity` when a count limit is wanted as well.
pub const DEFAULT_DELTA_CAPACITY: usize = usize::MAX;
/// Default capacity for lifecycle events per subscriber.
pub const DEFAULT_LIFECYCLE_CAPACITY: usize = 16384;

/// True for notifications that may be dropped (with a `Lagged` marker) for a slow subscriber.
///
/// `turn/diff/updated` and `thread/tokenUsage/updated` are not: each carries the whole current
/// value (a turn's output must end with the latest), and there are few of them.
pub fn is_droppable(method: &str) -> bool {
    method.ends_with("Delta") || method.ends_with("/delta") || method == "item/mcpToolCall/progress"
}

/// What a subscription listens to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Topic {
    All,
    Thread(String),
    Turn(String),
}

type Subscribers = Vec<(u64, Arc<SubQueue>)>;

#[derive(Debug, Default)]
struct Registry {
    global: Subscribers,
    threads: HashMap<String, Subscribers>,
    turns: HashMap<String, Subscribers>,
    closed: bool,
}

/// Fans events out to subscribers.
#[derive(Debug)]
pub(crate) struct Router {
    registry: RwLock<Registry>,
    next_id: AtomicU64,
    metrics: Arc<Metrics>,
    limits: QueueLimits,
    /// The read side of the current connection, for consumers that read while they wait.
    seat: RwLock<Weak<Seat>>,
    /// Wakes consumers waiting for the seat: the reader task stepped back, or a consumer let
    /// go of it.
    stepped_back: Notify,
}

/// A subscriber queue that overflowed while routing a batch: the reader pauses for it
/// ([`Router::resume`]) before reading on.
#[derive(Debug)]
pub(crate) struct Paused {
    queue: Arc<SubQueue>,
    /// The events of the batch it has not received yet, in order.
    rest: Vec<Routed>,
}

impl Router {
    pub fn new(metrics: Arc<Metrics>, limits: QueueLimits) -> Self {
        Router {
            registry: RwLock::new(Registry::default()),
            next_id: AtomicU64::new(1),
            metrics,
            limits,
            seat: RwLock::new(Weak::new()),
            stepped_back: Notify::new(),
        }
    }

    /// Makes `seat` (a new connection's read side) the one waiting consumers read from.
    pub fn set_seat(&self, seat: Weak<Seat>) {
        if let Ok(mut current) = self.seat.write() {
            *current = seat;
        }
    }

    /// Tells consumers waiting for the seat that it may be free (the reader task stepped back,
    /// or a consumer let go of it).
    pub fn wake_stepped_back(&self) {
        self.stepped_back.notify_waiters();
    }

    /// Adds a subscriber.
    pub fn subscribe(self: &Arc<Self>, topic: Topic) -> Subscription {
        let queue = Arc::new(SubQueue::new(self.limits));
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut reg) = self.registry.write() {
            if reg.closed {
                queue.close(CloseReason::ConnectionClosed);
            } else {
                let entry = (id, Arc::clone(&queue));
                match &topic {
                    Topic::All => reg.global.push(entry),
                    Topic::Thread(t) => reg.threads.entry(t.clone()).or_default().push(entry),
                    Topic::Turn(t) => reg.turns.entry(t.clone()).or_default().push(entry),
                }
            }
        }
        Subscription {
            reader: QueueReader::new(queue),
            router: Arc::downgrade(self),
            topic,
            id,
        }
    }

    fn unsubscribe(&self, topic: &Topic, id: u64) {
        let Ok(mut reg) = self.registry.write() else {
            return;
        };
        let remove = |v: &mut Subscribers| v.retain(|(i, _)| *i != id);
        match topic {
            Topic::All => remove(&mut reg.global),
            Topic::Thread(t) => {
                if let Some(v) = reg.threads.get_mut(t) {
                    remove(v);
                    if v.is_empty() {
                        reg.threads.remove(t);
                    }
                }
            }
            Topic::Turn(t) => {
                if let Some(v) = reg.turns.get_mut(t) {
                    remove(v);
                    if v.is_empty() {
                        reg.turns.remove(t);
                    }
                }
            }
        }
    }

    /// Delivers one event to every matching subscriber. Never waits.
    #[cfg(test)]
    pub fn route(&self, ev: Event) {
        let cost = super::queue::EVENT_OVERHEAD_BYTES;
        self.route_batch(
            &[Routed {
                droppable: is_droppable(ev.method()),
                event: Arc::new(ev),
                cost,
            }],
            false,
        );
    }

    /// Delivers a batch of events, in order, to every matching subscriber. Never waits.
    ///
    /// Each subscriber's queue is locked once per run of consecutive events for the same
    /// thread (or turn), and woken at most once: in a stream of deltas that is once per batch.
    /// With `may_pause`, subscribers that overflowed but had caught up are returned: the caller
    /// pauses for each with [`Router::resume`] before routing anything else.
    pub fn route_batch(&self, batch: &[Routed], may_pause: bool) -> Vec<Paused> {
        self.route_batch_waking(batch, may_pause).0
    }

    /// [`Router::route_batch`], also saying whether a consumer was woken (a queue went from
    /// empty to not empty): a consumer that keeps up.
    pub fn route_batch_waking(&self, batch: &[Routed], may_pause: bool) -> (Vec<Paused>, bool) {
        let mut paused = Vec::new();
        let mut woke = false;
        if batch.is_empty() {
            return (paused, woke);
        }
        let Ok(reg) = self.registry.read() else {
            return (paused, woke);
        };
        let mut dropped = 0;
        let mut deliver = |q: &Arc<SubQueue>, events: &[Routed]| {
            if let Some(p) = paused
                .iter_mut()
                .find(|p: &&mut Paused| Arc::ptr_eq(&p.queue, q))
            {
                p.rest.extend_from_slice(events);
                return;
            }
            let pushed = q.push(events, may_pause);
            dropped += pushed.dropped;
            woke |= pushed.woke;
            if let Some(at) = pushed.paused_at {
                paused.push(Paused {
                    queue: Arc::clone(q),
                    rest: events[at..].to_vec(),
                });
            }
        };
        for (_, q) in &reg.global {
            deliver(q, batch);
        }
        if !reg.threads.is_empty() {
            deliver_runs(batch, &reg.threads, Event::thread_id, &mut deliver);
        }
        if !reg.turns.is_empty() {
            deliver_runs(batch, &reg.turns, Event::turn_id, &mut deliver);
        }
        drop(reg);
        self.count_drops(dropped);
        (paused, woke)
    }

    /// Pauses for a subscriber that overflowed (until it has caught up, at most the overflow
    /// pause), then queues the rest of its batch, dropping what still does not fit.
    pub async fn resume(&self, paused: Paused) {
        self.metrics.overflow_pauses.fetch_add(1, Ordering::Relaxed);
        paused.queue.wait_caught_up().await;
        let pushed = paused.queue.push(&paused.rest, false);
        self.count_drops(pushed.dropped);
    }

    fn count_drops(&self, dropped: u64) {
        if dropped > 0 {
            self.metrics.lag_drops.fetch_add(dropped, Ordering::Relaxed);
        }
    }

    /// Closes every subscription (connection gone for good).
    pub fn close_all(&self, reason: CloseReason) {
        let Ok(mut reg) = self.registry.write() else {
            return;
        };
        reg.closed = true;
        let global = std::mem::take(&mut reg.global);
        let threads = std::mem::take(&mut reg.threads);
        let turns = std::mem::take(&mut reg.turns);
        let all = global
            .into_iter()
            .chain(threads.into_values().flatten())
            .chain(turns.into_values().flatten())
            .collect::<Vec<_>>();
        drop(reg);
        for (_, q) in all {
            q.close(reason.clone());
        }
    }
}

impl ReadWhileWaiting for Router {
    fn pull(&self) -> Pull {
        let seat = self.seat.read().ok().and_then(|s| s.upgrade());
        // No connection (closed, or between restarts): only wait.
        seat.map_or(Pull::Idle, |seat| seat.pull())
    }

    fn stepped_back(&self) -> tokio::sync::futures::Notified<'_> {
        self.stepped_back.notified()
    }
}

/// True when a consumer waiting here may read the connection itself while the reader task
/// steps back during a flood (see `rpc::reader`): it waits outside any tokio task (the
/// `#[tokio::main]` future, `Handle::block_on` on a thread) on a multi-thread runtime, where the
/// events would otherwise be made on a worker and handed to (and freed on) another thread.
///
/// A consumer in a spawned task does not: tokio already runs it on the worker that woke it,
/// and measured with pulling enabled there its queue filled more often (peak RSS 2.1–2.9× the
/// bare loop's against 1.3×; `docs/PERFORMANCE.md`, "Consumers that read"). On a
/// current-thread runtime the reader task already runs on the consumer's thread.
fn reads_while_waiting() -> bool {
    tokio::task::try_id().is_none()
        && tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
}

/// Splits `batch` into runs of consecutive events with the same key (thread or turn id) and
/// hands each run, in one piece, to `deliver` for each of that key's subscribers.
fn deliver_runs(
    batch: &[Routed],
    subscribers: &HashMap<String, Subscribers>,
    key: fn(&Event) -> Option<&str>,
    deliver: &mut impl FnMut(&Arc<SubQueue>, &[Routed]),
) {
    let mut start = 0;
    while start < batch.len() {
        let k = key(&batch[start].event);
        let mut end = start + 1;
        while end < batch.len() && key(&batch[end].event) == k {
            end += 1;
        }
        if let Some(subs) = k.and_then(|k| subscribers.get(k)) {
            for (_, q) in subs {
                deliver(q, &batch[start..end]);
            }
        }
        start = end;
    }
}

/// A stream of events for one topic (everything, one thread, or one turn).
///
/// Dropping it unsubscribes. Read one event at a time with [`Subscription::recv`], a batch with
/// [`Subscription::recv_many`], or turn it into a `Stream` with [`Subscription::into_stream`].
///
/// The queue behind it is bounded by a byte budget (`RuntimeConfig::queue_budget_bytes`,
/// default [`DEFAULT_QUEUE_BUDGET_BYTES`]): a subscriber that falls further behind loses
/// droppable events (deltas), reported in place as [`RecvError::Lagged`]`(n)`, never lifecycle
/// events.
#[derive(Debug)]
pub struct Subscription {
    reader: QueueReader,
    router: Weak<Router>,
    topic: Topic,
    id: u64,
}

impl Subscription {
    /// The next event, a `Lagged(n)` marker where droppable events were lost, or `Closed`.
    ///
    /// Events already queued are handed out without any locking: the subscription takes them
    /// from the shared queue in chunks.
    ///
    /// # Cancel safety
    /// Cancel safe: an event is removed from the queue only when this returns it.
    pub async fn recv(&mut self) -> Result<Arc<Event>, RecvError> {
        let router = self.puller();
        self.reader
            .recv(router.as_deref().map(|r| r as &dyn ReadWhileWaiting))
            .await
    }

    /// The router to read through while waiting, when this consumer should (see
    /// `reads_while_waiting`).
    fn puller(&self) -> Option<Arc<Router>> {
        if self.reader.has_local() || !reads_while_waiting() {
            return None;
        }
        self.router.upgrade()
    }

    /// Waits for at least one event, then appends to `out` every event already queued, up to
    /// `limit` (at least 1). Returns how many were appended.
    ///
    /// A `Lagged(n)` marker is never skipped: the batch stops before it, and the next call
    /// returns `Err(RecvError::Lagged(n))`. `Err(Closed)` comes once everything queued has been
    /// read.
    ///
    /// ```no_run
    /// # async fn demo(rt: codex_runtime::runtime::Runtime) {
    /// use codex_runtime::rpc::RecvError;
    /// let mut sub = rt.subscribe();
    /// let mut batch = Vec::with_capacity(256);
    /// loop {
    ///     match sub.recv_many(&mut batch, 256).await {
    ///         Ok(_) => {
    ///             for ev in batch.drain(..) {
    ///                 println!("{}", ev.method());
    ///             }
    ///         }
    ///         Err(RecvError::Lagged(n)) => eprintln!("lost {n} deltas"),
    ///         Err(_) => break,
    ///     }
    /// }
    /// # }
    /// ```
    ///
    /// # Cancel safety
    /// Cancel safe: events are removed only when this returns them.
    pub async fn recv_many(
        &mut self,
        out: &mut Vec<Arc<Event>>,
        limit: usize,
    ) -> Result<usize, RecvError> {
        let router = self.puller();
        self.reader
            .recv_many(
                out,
                limit,
                router.as_deref().map(|r| r as &dyn ReadWhileWaiting),
            )
            .await
    }

    /// The next event if one is queued, without waiting.
    pub fn try_recv(&mut self) -> Option<Result<Arc<Event>, RecvError>> {
        self.reader.try_recv()
    }

    /// Turns the subscription into a `Stream` that ends when the subscription closes.
    pub fn into_stream(
        self,
    ) -> impl futures::Stream<Item = Result<Arc<Event>, RecvError>> + Send + 'static {
        futures::stream::unfold(Some(self), |state| async move {
            let mut sub = state?;
            match sub.recv().await {
                Err(RecvError::Closed(r)) => Some((Err(RecvError::Closed(r)), None)),
                item => Some((item, Some(sub))),
            }
        })
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(router) = self.router.upgrade() {
            router.unsubscribe(&self.topic, self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use codex_runtime_protocol::ServerNotification;

    fn ev(seq: u64, method: &str, thread: &str) -> Event {
        let params =
            serde_json::json!({"threadId": thread, "turnId": "t1", "itemId": "i", "delta": "x"});
        let raw = serde_json::value::to_raw_value(&params).unwrap();
        // The reader's two paths: a lazily decoded delta, else a decoded notification.
        Event::lazy_delta(method, &raw, None, seq).unwrap_or_else(|| {
            Event::new(
                ServerNotification::decode(method, &raw).unwrap_or(ServerNotification::Unknown {
                    method: method.into(),
                    params,
                }),
                None,
                seq,
            )
        })
    }

    fn router(delta: usize, life: usize) -> Arc<Router> {
        Arc::new(Router::new(
            Arc::new(Metrics::default()),
            QueueLimits {
                budget_bytes: DEFAULT_QUEUE_BUDGET_BYTES,
                delta_capacity: delta,
                lifecycle_capacity: life,
                overflow_pause: DEFAULT_OVERFLOW_PAUSE,
            },
        ))
    }

    #[tokio::test]
    async fn routes_by_thread_and_globally() {
        let r = router(10, 10);
        let mut all = r.subscribe(Topic::All);
        let mut a = r.subscribe(Topic::Thread("A".into()));
        let mut b = r.subscribe(Topic::Thread("B".into()));
        r.route(ev(1, "item/agentMessage/delta", "A"));
        r.route(ev(2, "item/agentMessage/delta", "B"));
        assert_eq!(all.recv().await.unwrap().seq, 1);
        assert_eq!(all.recv().await.unwrap().seq, 2);
        assert_eq!(a.recv().await.unwrap().seq, 1);
        assert!(a.try_recv().is_none());
        assert_eq!(b.recv().await.unwrap().seq, 2);
    }

    #[tokio::test]
    async fn slow_subscriber_gets_lagged_in_place_and_keeps_lifecycle_events() {
        let r = router(2, 100);
        let mut s = r.subscribe(Topic::All);
        for i in 1..=5 {
            r.route(ev(i, "item/agentMessage/delta", "A"));
        }
        r.route(ev(6, "turn/completed", "A"));
        assert_eq!(s.recv().await.unwrap().seq, 1);
        assert_eq!(s.recv().await.unwrap().seq, 2);
        assert_eq!(s.recv().await.unwrap_err(), RecvError::Lagged(3));
        assert_eq!(s.recv().await.unwrap().method(), "turn/completed");
        assert_eq!(r.metrics.snapshot(0).lag_drops, 3);
    }

    #[tokio::test]
    async fn lifecycle_overflow_closes_explicitly_after_queued_events() {
        let r = router(2, 2);
        let mut s = r.subscribe(Topic::All);
        for i in 1..=3 {
            r.route(ev(i, "item/completed", "A"));
        }
        assert_eq!(s.recv().await.unwrap().seq, 1);
        assert_eq!(s.recv().await.unwrap().seq, 2);
        assert_eq!(
            s.recv().await.unwrap_err(),
            RecvError::Closed(CloseReason::Overflow)
        );
    }

    #[tokio::test]
    async fn a_stuck_subscriber_does_not_affect_another() {
        let r = router(4, 1000);
        let _stuck = r.subscribe(Topic::All);
        let mut live = r.subscribe(Topic::All);
        for i in 1..=100 {
            r.route(ev(i, "item/agentMessage/delta", "A"));
            assert_eq!(live.recv().await.unwrap().seq, i);
        }
    }

    #[tokio::test]
    async fn dropping_unsubscribes_and_close_all_ends_streams() {
        let r = router(4, 4);
        let s = r.subscribe(Topic::Thread("A".into()));
        drop(s);
        assert!(r.registry.read().unwrap().threads.is_empty());
        let mut s = r.subscribe(Topic::All);
        r.close_all(CloseReason::ConnectionClosed);
        assert_eq!(
            s.recv().await.unwrap_err(),
            RecvError::Closed(CloseReason::ConnectionClosed)
        );
        let mut late = r.subscribe(Topic::All);
        assert!(matches!(late.recv().await, Err(RecvError::Closed(_))));
    }
}
