//! Routing notifications to per-thread, per-turn and global subscribers.
//!
//! Every subscriber has its own bounded queue, filled by the reader task without ever waiting:
//!
//! - **Droppable** events (streaming deltas, MCP progress) beyond the
//!   subscriber's capacity are dropped and replaced, in place, by one [`RecvError::Lagged`]`(n)`
//!   marker, so a slow consumer sees exactly where and how much it lost.
//! - **Lifecycle** events (`turn/started`, `item/completed`, `turn/completed`,
//!   `serverRequest/resolved`, `error`, and every other non-delta notification) are never
//!   dropped. If a subscriber stops reading until its lifecycle queue is full, it is closed with
//!   [`CloseReason::Overflow`] after the queued events: explicit, never silent.
//!
//! A slow subscriber therefore stalls neither the reader nor the other subscribers.

use super::message::Event;
use super::metrics::Metrics;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use tokio::sync::Notify;

/// Default capacity for droppable events per subscriber.
pub const DEFAULT_DELTA_CAPACITY: usize = 8192;
/// Default capacity for lifecycle events per subscriber.
pub const DEFAULT_LIFECYCLE_CAPACITY: usize = 16384;

/// Why a subscription ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The subscriber did not read and its lifecycle queue overflowed.
    Overflow,
    /// The connection to codex closed (crash, shutdown, stdout closed).
    ConnectionClosed,
}

/// What [`Subscription::recv`] returns instead of an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecvError {
    /// This many droppable events were lost here because the subscriber was slow.
    #[error("subscriber lagged: {0} events dropped")]
    Lagged(u64),
    /// The subscription is over.
    #[error("subscription closed: {0:?}")]
    Closed(CloseReason),
}

/// True for notifications that may be dropped (with a `Lagged` marker) for a slow subscriber.
///
/// `turn/diff/updated` and `thread/tokenUsage/updated` are not: each carries the whole current
/// value (a turn's output must end with the latest), and there are few of them.
pub fn is_droppable(method: &str) -> bool {
    method.ends_with("Delta") || method.ends_with("/delta") || method == "item/mcpToolCall/progress"
}

#[derive(Debug)]
enum Slot {
    Event(Arc<Event>, bool),
    Lagged(u64),
}

#[derive(Debug)]
struct QueueState {
    items: VecDeque<Slot>,
    droppable: usize,
    lifecycle: usize,
    closed: Option<CloseReason>,
}

/// One subscriber's queue.
#[derive(Debug)]
pub(crate) struct SubQueue {
    state: Mutex<QueueState>,
    notify: Notify,
    delta_capacity: usize,
    lifecycle_capacity: usize,
}

impl SubQueue {
    fn new(delta_capacity: usize, lifecycle_capacity: usize) -> Self {
        SubQueue {
            state: Mutex::new(QueueState {
                items: VecDeque::new(),
                droppable: 0,
                lifecycle: 0,
                closed: None,
            }),
            notify: Notify::new(),
            delta_capacity: delta_capacity.max(1),
            lifecycle_capacity: lifecycle_capacity.max(1),
        }
    }

    /// Pushes without waiting. Returns 1 when a droppable event was dropped.
    fn push(&self, ev: &Arc<Event>, droppable: bool) -> u64 {
        let Ok(mut s) = self.state.lock() else {
            return 0;
        };
        if s.closed.is_some() {
            return 0;
        }
        if droppable {
            if s.droppable >= self.delta_capacity {
                match s.items.back_mut() {
                    Some(Slot::Lagged(n)) => *n += 1,
                    _ => s.items.push_back(Slot::Lagged(1)),
                }
                drop(s);
                self.notify.notify_one();
                return 1;
            }
            s.droppable += 1;
        } else {
            if s.lifecycle >= self.lifecycle_capacity {
                s.closed = Some(CloseReason::Overflow);
                drop(s);
                self.notify.notify_one();
                return 0;
            }
            s.lifecycle += 1;
        }
        s.items.push_back(Slot::Event(Arc::clone(ev), droppable));
        drop(s);
        self.notify.notify_one();
        0
    }

    fn close(&self, reason: CloseReason) {
        if let Ok(mut s) = self.state.lock() {
            if s.closed.is_none() {
                s.closed = Some(reason);
            }
        }
        self.notify.notify_one();
    }

    fn try_pop(&self) -> Option<Result<Arc<Event>, RecvError>> {
        let mut s = self.state.lock().ok()?;
        match s.items.pop_front() {
            Some(Slot::Event(ev, droppable)) => {
                if droppable {
                    s.droppable -= 1;
                } else {
                    s.lifecycle -= 1;
                }
                Some(Ok(ev))
            }
            Some(Slot::Lagged(n)) => Some(Err(RecvError::Lagged(n))),
            None => s.closed.clone().map(|r| Err(RecvError::Closed(r))),
        }
    }
}

/// What a subscription listens to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Topic {
    All,
    Thread(String),
    Turn(String),
}

#[derive(Debug, Default)]
struct Registry {
    global: Vec<(u64, Arc<SubQueue>)>,
    threads: HashMap<String, Vec<(u64, Arc<SubQueue>)>>,
    turns: HashMap<String, Vec<(u64, Arc<SubQueue>)>>,
    closed: bool,
}

/// Fans events out to subscribers.
#[derive(Debug)]
pub(crate) struct Router {
    registry: RwLock<Registry>,
    next_id: AtomicU64,
    metrics: Arc<Metrics>,
    delta_capacity: usize,
    lifecycle_capacity: usize,
}

impl Router {
    pub fn new(metrics: Arc<Metrics>, delta_capacity: usize, lifecycle_capacity: usize) -> Self {
        Router {
            registry: RwLock::new(Registry::default()),
            next_id: AtomicU64::new(1),
            metrics,
            delta_capacity,
            lifecycle_capacity,
        }
    }

    /// Adds a subscriber.
    pub fn subscribe(self: &Arc<Self>, topic: Topic) -> Subscription {
        let queue = Arc::new(SubQueue::new(self.delta_capacity, self.lifecycle_capacity));
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
            queue,
            router: Arc::downgrade(self),
            topic,
            id,
        }
    }

    fn unsubscribe(&self, topic: &Topic, id: u64) {
        let Ok(mut reg) = self.registry.write() else {
            return;
        };
        let remove = |v: &mut Vec<(u64, Arc<SubQueue>)>| v.retain(|(i, _)| *i != id);
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
    pub fn route(&self, ev: Event) {
        let droppable = is_droppable(ev.method());
        let ev = Arc::new(ev);
        let Ok(reg) = self.registry.read() else {
            return;
        };
        let mut dropped = 0;
        for (_, q) in &reg.global {
            dropped += q.push(&ev, droppable);
        }
        if let Some(t) = ev.thread_id() {
            if let Some(subs) = reg.threads.get(t) {
                for (_, q) in subs {
                    dropped += q.push(&ev, droppable);
                }
            }
        }
        if let Some(t) = ev.turn_id() {
            if let Some(subs) = reg.turns.get(t) {
                for (_, q) in subs {
                    dropped += q.push(&ev, droppable);
                }
            }
        }
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

/// A stream of events for one topic (everything, one thread, or one turn).
///
/// Dropping it unsubscribes. Use [`Subscription::recv`] or [`Subscription::into_stream`].
#[derive(Debug)]
pub struct Subscription {
    queue: Arc<SubQueue>,
    router: Weak<Router>,
    topic: Topic,
    id: u64,
}

impl Subscription {
    /// The next event, a `Lagged(n)` marker where droppable events were lost, or `Closed`.
    ///
    /// # Cancel safety
    /// Cancel safe: an event is removed from the queue only when this returns it.
    pub async fn recv(&mut self) -> Result<Arc<Event>, RecvError> {
        loop {
            let notified = self.queue.notify.notified();
            if let Some(item) = self.queue.try_pop() {
                return item;
            }
            notified.await;
        }
    }

    /// The next event if one is queued, without waiting.
    pub fn try_recv(&mut self) -> Option<Result<Arc<Event>, RecvError>> {
        self.queue.try_pop()
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
        Event {
            notification: ServerNotification::decode(method, &raw).unwrap_or(
                ServerNotification::Unknown {
                    method: method.into(),
                    params,
                },
            ),
            emitted_at_ms: None,
            seq,
        }
    }

    fn router(delta: usize, life: usize) -> Arc<Router> {
        Arc::new(Router::new(Arc::new(Metrics::default()), delta, life))
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
