//! One subscriber's event queue: filled in batches by the reader task, drained in chunks by the
//! subscriber, bounded in bytes.
//!
//! Hand-written rather than a channel crate because it needs three things no bounded MPSC offers
//! together: a budget in *bytes* (events differ in size by six orders of magnitude), dropping a
//! droppable event *in place* as one merged [`RecvError::Lagged`] marker instead of refusing the
//! send, and never dropping a lifecycle event (closing explicitly instead).
//!
//! Cost per event is kept near zero on both sides:
//!
//! - the producer (`SubQueue::push`) takes the lock once per *batch* of events and wakes
//!   the consumer only on the empty → non-empty transition;
//! - the consumer (`QueueReader`) moves up to 256 events into a local buffer under
//!   one lock and then pops from that buffer without any synchronisation.
//!
//! **Overflow.** When a droppable event does not fit the budget, one of two things happens:
//!
//! - if the subscriber has caught up (emptied its queue) since the last overflow, the reader
//!   *pauses* for it, up to the overflow pause ([`DEFAULT_OVERFLOW_PAUSE`]), until it has
//!   caught up again. A consumer that keeps up on average but was not scheduled for a while (a
//!   loaded machine) thus loses nothing: codex's pipe holds the rest, as it would for a bare
//!   client;
//! - otherwise (it is behind for good, e.g. 10× slower than codex) the event is dropped and
//!   reported in place as one merged [`RecvError::Lagged`] marker, so memory stays bounded and
//!   the reader and the other subscribers are not held back again.

use super::message::Event;
pub(crate) use super::reader::Pull;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// Default memory budget of one subscriber's queue, in bytes: 16 MiB.
///
/// Deltas (and other droppable events) are queued while the queue holds less than this; beyond
/// it the reader pauses for a subscriber that keeps up on average, and drops (reported in place
/// as [`RecvError::Lagged`]`(n)`) for one that stays behind. The size of a queued event is
/// estimated as its wire size plus [`EVENT_OVERHEAD_BYTES`] (about 380 bytes for a streaming
/// delta, so the default holds about 44,000 deltas).
///
/// Sized against [`DEFAULT_OVERFLOW_PAUSE`]: a consumer 10× slower than a flood of a million
/// deltas per second needs about half a second to empty a full queue, longer than the pause, so
/// it gets `Lagged` instead of slowing the connection down to its pace. The process's resident
/// memory for a full queue can exceed the budget (allocator overhead, per-thread arenas).
/// Change it with `RuntimeConfig::with_queue_budget_bytes`.
pub const DEFAULT_QUEUE_BUDGET_BYTES: usize = 16 * 1024 * 1024;

/// Default longest pause of the reader for a subscriber whose queue is full but that has caught
/// up since its last overflow: 250 ms. Change it with `RuntimeConfig::with_overflow_pause`
/// (`Duration::ZERO` never pauses: a full queue always drops).
pub const DEFAULT_OVERFLOW_PAUSE: Duration = Duration::from_millis(250);

/// Fixed cost added to an event's wire size when it is counted against the byte budget: the
/// decoded [`Event`], its `Arc`, the queue slot and allocator overhead of its strings.
pub const EVENT_OVERHEAD_BYTES: usize = std::mem::size_of::<Event>() + 64;

/// Most queued items the consumer moves to its local buffer under one lock.
pub(crate) const DRAIN_CHUNK: usize = 256;

/// A consumer reading the connection while it waits gives other tasks of its thread a turn
/// after this many reads that brought nothing for it.
const PULLS_BEFORE_YIELD: u32 = 16;

/// What a waiting consumer does about an empty queue besides waiting: read the connection
/// itself, on its own thread (implemented by the router over the connection's read seat).
pub(crate) trait ReadWhileWaiting: Sync {
    /// Reads and routes what is readable without waiting; never blocks.
    fn pull(&self) -> Pull;
    /// Completes when the seat may have become free (create and enable it before `pull`).
    fn stepped_back(&self) -> tokio::sync::futures::Notified<'_>;
}

/// Why a subscription ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The subscriber did not read and its lifecycle queue overflowed.
    Overflow,
    /// The connection to codex closed (crash, shutdown, stdout closed).
    ConnectionClosed,
}

/// What [`crate::rpc::Subscription::recv`] returns instead of an event.
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

/// One event on its way to subscribers, with what the queues need to account for it.
#[derive(Debug, Clone)]
pub(crate) struct Routed {
    pub event: Arc<Event>,
    /// Estimated bytes held while the event is queued.
    pub cost: usize,
    /// May be dropped (with a `Lagged` marker) for a slow subscriber.
    pub droppable: bool,
}

#[derive(Debug)]
enum Slot {
    Event {
        event: Arc<Event>,
        cost: usize,
        droppable: bool,
    },
    Lagged(u64),
}

#[derive(Debug, Default)]
struct QueueState {
    items: VecDeque<Slot>,
    /// Bytes of the queued droppable events.
    droppable_bytes: usize,
    /// Number of queued droppable events.
    droppable: usize,
    /// Number of queued lifecycle events.
    lifecycle: usize,
    closed: Option<CloseReason>,
    /// Overflowed, and not emptied since: the next overflow drops instead of pausing.
    behind: bool,
    /// The reader is paused until this queue is emptied.
    producer_waiting: bool,
}

/// Limits of one queue.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueueLimits {
    /// Byte budget for droppable events.
    pub budget_bytes: usize,
    /// Most droppable events queued at once.
    pub delta_capacity: usize,
    /// Most lifecycle events queued at once before the subscription is closed.
    pub lifecycle_capacity: usize,
    /// Longest pause of the reader on overflow (zero: never pause).
    pub overflow_pause: Duration,
}

/// What [`SubQueue::push`] did.
#[derive(Debug, Default)]
pub(crate) struct Pushed {
    /// Droppable events dropped.
    pub dropped: u64,
    /// The queue overflowed and the reader should pause for it: the index of the first event
    /// of the batch not queued.
    pub paused_at: Option<usize>,
    /// The queue was empty and its consumer was woken.
    pub woke: bool,
}

/// One subscriber's queue (shared by the router and the subscriber).
#[derive(Debug)]
pub(crate) struct SubQueue {
    state: Mutex<QueueState>,
    /// Wakes the consumer (queue no longer empty, or closed).
    notify: Notify,
    /// Wakes a paused reader (queue emptied, or closed).
    space: Notify,
    limits: QueueLimits,
}

impl SubQueue {
    pub fn new(limits: QueueLimits) -> Self {
        SubQueue {
            state: Mutex::new(QueueState::default()),
            notify: Notify::new(),
            space: Notify::new(),
            limits: QueueLimits {
                budget_bytes: limits.budget_bytes.max(1),
                delta_capacity: limits.delta_capacity.max(1),
                lifecycle_capacity: limits.lifecycle_capacity.max(1),
                overflow_pause: limits.overflow_pause,
            },
        }
    }

    /// Queues a batch without waiting and without pausing. Returns how many droppable events
    /// were dropped.
    #[cfg(test)]
    pub fn push_batch(&self, batch: &[Routed]) -> u64 {
        self.push(batch, false).dropped
    }

    /// Queues a batch without waiting: one lock, and one wake-up when the queue was empty.
    ///
    /// With `may_pause`, an overflow of a subscriber that has caught up since its last overflow
    /// stops here and reports where ([`Pushed::paused_at`]): the caller waits with
    /// [`SubQueue::wait_caught_up`] and pushes the rest without `may_pause`.
    pub fn push(&self, batch: &[Routed], may_pause: bool) -> Pushed {
        let mut out = Pushed::default();
        let Ok(mut s) = self.state.lock() else {
            return out;
        };
        if s.closed.is_some() {
            return out;
        }
        let was_empty = s.items.is_empty();
        for (i, r) in batch.iter().enumerate() {
            if r.droppable {
                // An empty budget always takes one event, so a delta larger than the whole
                // budget is delivered rather than always dropped.
                let full = s.droppable >= self.limits.delta_capacity
                    || (s.droppable > 0 && s.droppable_bytes + r.cost > self.limits.budget_bytes);
                if full {
                    let pause = may_pause && !s.behind && !self.limits.overflow_pause.is_zero();
                    s.behind = true;
                    if pause {
                        out.paused_at = Some(i);
                        break;
                    }
                    match s.items.back_mut() {
                        Some(Slot::Lagged(n)) => *n += 1,
                        _ => s.items.push_back(Slot::Lagged(1)),
                    }
                    out.dropped += 1;
                    continue;
                }
                s.droppable += 1;
                s.droppable_bytes += r.cost;
            } else {
                if s.lifecycle >= self.limits.lifecycle_capacity {
                    s.closed = Some(CloseReason::Overflow);
                    break;
                }
                s.lifecycle += 1;
            }
            s.items.push_back(Slot::Event {
                event: Arc::clone(&r.event),
                cost: r.cost,
                droppable: r.droppable,
            });
        }
        let wake = (was_empty && !s.items.is_empty()) || s.closed.is_some();
        out.woke = wake;
        drop(s);
        if wake {
            self.notify.notify_one();
        }
        out
    }

    /// The reader's pause after an overflow: waits until the subscriber has emptied its queue
    /// (or is closed or dropped), at most the configured overflow pause.
    pub async fn wait_caught_up(&self) {
        let deadline = tokio::time::Instant::now() + self.limits.overflow_pause;
        loop {
            let space = self.space.notified();
            tokio::pin!(space);
            space.as_mut().enable();
            {
                let Ok(mut s) = self.state.lock() else {
                    return;
                };
                if s.items.is_empty() || s.closed.is_some() {
                    s.producer_waiting = false;
                    return;
                }
                s.producer_waiting = true;
            }
            if tokio::time::timeout_at(deadline, space).await.is_err() {
                if let Ok(mut s) = self.state.lock() {
                    s.producer_waiting = false;
                }
                tracing::debug!(
                    pause = ?self.limits.overflow_pause,
                    "a subscriber did not catch up within the overflow pause; dropping its deltas"
                );
                return;
            }
        }
    }

    pub fn close(&self, reason: CloseReason) {
        if let Ok(mut s) = self.state.lock() {
            if s.closed.is_none() {
                s.closed = Some(reason);
            }
        }
        self.notify.notify_one();
        self.space.notify_one();
    }

    /// Moves up to [`DRAIN_CHUNK`] items into `local`. Returns the close reason when the queue
    /// is empty and closed.
    fn drain_into(&self, local: &mut VecDeque<Slot>) -> Option<CloseReason> {
        let Ok(mut s) = self.state.lock() else {
            return Some(CloseReason::ConnectionClosed);
        };
        let n = s.items.len().min(DRAIN_CHUNK);
        if n == 0 {
            return s.closed.clone();
        }
        let (mut bytes, mut droppable, mut lifecycle) = (0, 0, 0);
        for slot in s.items.drain(..n) {
            if let Slot::Event {
                cost, droppable: d, ..
            } = &slot
            {
                if *d {
                    bytes += cost;
                    droppable += 1;
                } else {
                    lifecycle += 1;
                }
            }
            local.push_back(slot);
        }
        s.droppable_bytes -= bytes;
        s.droppable -= droppable;
        s.lifecycle -= lifecycle;
        let caught_up = s.items.is_empty();
        if caught_up {
            s.behind = false;
        }
        let wake_producer = caught_up && s.producer_waiting;
        drop(s);
        if wake_producer {
            self.space.notify_one();
        }
        None
    }
}

/// The consumer side of a [`SubQueue`]: a local buffer refilled in chunks.
#[derive(Debug)]
pub(crate) struct QueueReader {
    queue: Arc<SubQueue>,
    local: VecDeque<Slot>,
    closed: Option<CloseReason>,
}

impl Drop for QueueReader {
    fn drop(&mut self) {
        // Nobody reads this queue any more: release a reader paused for it.
        self.queue.close(CloseReason::ConnectionClosed);
    }
}

impl QueueReader {
    pub fn new(queue: Arc<SubQueue>) -> Self {
        QueueReader {
            queue,
            local: VecDeque::new(),
            closed: None,
        }
    }

    /// Events (or a marker) already taken from the shared queue and not handed out yet.
    pub fn has_local(&self) -> bool {
        !self.local.is_empty()
    }

    /// Refills the local buffer if it is empty. False when nothing is available right now.
    fn refill(&mut self) -> bool {
        if !self.local.is_empty() {
            return true;
        }
        if self.closed.is_some() {
            return false;
        }
        self.closed = self.queue.drain_into(&mut self.local);
        !self.local.is_empty()
    }

    fn pop_local(&mut self) -> Option<Result<Arc<Event>, RecvError>> {
        match self.local.pop_front()? {
            Slot::Event { event, .. } => Some(Ok(event)),
            Slot::Lagged(n) => Some(Err(RecvError::Lagged(n))),
        }
    }

    /// The next item without waiting: `None` when nothing is queued (and not closed).
    pub fn try_recv(&mut self) -> Option<Result<Arc<Event>, RecvError>> {
        if self.refill() {
            return self.pop_local();
        }
        self.closed.clone().map(|r| Err(RecvError::Closed(r)))
    }

    /// Waits until an item is available (or the queue is closed). With a `puller`, a wait that
    /// finds the queue empty first reads the connection itself (see [`ReadWhileWaiting`]).
    async fn ready(&mut self, puller: Option<&dyn ReadWhileWaiting>) {
        let mut pulls_before_yield = PULLS_BEFORE_YIELD;
        loop {
            if self.refill() || self.closed.is_some() {
                return;
            }
            let queue = Arc::clone(&self.queue);
            let notified = queue.notify.notified();
            tokio::pin!(notified);
            // Register before the re-check, so a push between the check and the wait wakes us.
            notified.as_mut().enable();
            let Some(puller) = puller else {
                if self.refill() || self.closed.is_some() {
                    return;
                }
                notified.await;
                continue;
            };
            let stepped_back = puller.stepped_back();
            tokio::pin!(stepped_back);
            stepped_back.as_mut().enable();
            if self.refill() || self.closed.is_some() {
                return;
            }
            match puller.pull() {
                Pull::Read => {
                    // Routed frames, maybe none for us: look again, and let other tasks of
                    // this thread run now and then during a long flood for others.
                    pulls_before_yield -= 1;
                    if pulls_before_yield == 0 {
                        pulls_before_yield = PULLS_BEFORE_YIELD;
                        tokio::task::yield_now().await;
                    }
                }
                // The seat is taken, or there was nothing to read: wait for an event, or for
                // the seat to be free again (the reader task may step back for a flood that is
                // all for other subscribers, which this consumer then reads for them).
                Pull::Busy | Pull::Idle => {
                    tokio::select! {
                        _ = notified => {}
                        _ = stepped_back => {}
                    }
                }
            }
        }
    }

    /// The next event, a `Lagged(n)` marker, or `Closed`. Cancel safe.
    pub async fn recv(
        &mut self,
        puller: Option<&dyn ReadWhileWaiting>,
    ) -> Result<Arc<Event>, RecvError> {
        if let Some(item) = self.pop_local() {
            return item;
        }
        self.ready(puller).await;
        match self.try_recv() {
            Some(item) => item,
            None => Err(RecvError::Closed(CloseReason::ConnectionClosed)),
        }
    }

    /// Appends up to `limit` events to `out`, stopping before a `Lagged` marker. Cancel safe.
    pub async fn recv_many(
        &mut self,
        out: &mut Vec<Arc<Event>>,
        limit: usize,
        puller: Option<&dyn ReadWhileWaiting>,
    ) -> Result<usize, RecvError> {
        let limit = limit.max(1);
        self.ready(puller).await;
        let mut n = 0;
        while n < limit && self.refill() {
            match self.local.front() {
                Some(Slot::Lagged(_)) if n > 0 => break,
                Some(Slot::Lagged(_)) => {
                    if let Some(Slot::Lagged(lost)) = self.local.pop_front() {
                        return Err(RecvError::Lagged(lost));
                    }
                }
                Some(Slot::Event { .. }) => {
                    if let Some(Slot::Event { event, .. }) = self.local.pop_front() {
                        out.push(event);
                        n += 1;
                    }
                }
                None => break,
            }
        }
        if n == 0 {
            let reason = self.closed.clone().unwrap_or(CloseReason::ConnectionClosed);
            return Err(RecvError::Closed(reason));
        }
        Ok(n)
    }
}

#[cfg(test)]
#[path = "queue_tests.rs"]
mod tests;
