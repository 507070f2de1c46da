//! The queue between a turn's driver and the reader of [`crate::runtime::Session::ask_stream`].
//!
//! The driver never waits for the reader on a droppable event, so a slow reader cannot hold
//! the turn past its deadline nor make the driver miss codex's notifications:
//!
//! - **Droppable** events (text, reasoning, command and patch deltas, diff and token-usage
//!   updates) beyond the delta capacity are replaced, in place, by one
//!   [`TurnEvent::Lagged`]`(n)` marker. The final [`TurnOutput`](crate::runtime::TurnOutput)
//!   still carries the latest diff and usage: the driver folds every notification before
//!   queueing it.
//! - **Lifecycle** events (items, plan, other notifications) are never dropped. When the
//!   reader lets `lifecycle_capacity` of them pile up, the driver stops taking new
//!   notifications (the deadline still runs) until the reader makes room.
//! - **Approvals** ([`TurnEvent::ApprovalRequested`]) are never dropped and never wait: they
//!   come from approval handlers, at most one per request codex has outstanding.
//!
//! Hand-written rather than a `tokio::sync::mpsc` channel because a channel can neither drop
//! in place with a count nor let one kind of item bypass its bound.

use crate::error::Result;
use crate::runtime::turn::TurnEvent;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// Default capacity for droppable events waiting for the reader.
pub(super) const DELTA_CAPACITY: usize = 1024;
/// Default capacity for lifecycle events waiting for the reader.
pub(super) const LIFECYCLE_CAPACITY: usize = 1024;

struct State {
    items: VecDeque<(Result<TurnEvent>, Kind)>,
    droppable: usize,
    lifecycle: usize,
    reader_gone: bool,
    finished: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Droppable,
    Lifecycle,
    Exempt,
}

fn kind_of(event: &TurnEvent) -> Kind {
    match event {
        TurnEvent::AgentMessageDelta { .. }
        | TurnEvent::ReasoningDelta { .. }
        | TurnEvent::CommandOutputDelta { .. }
        | TurnEvent::FileChangeDelta { .. }
        | TurnEvent::DiffUpdated(_)
        | TurnEvent::TokenUsage(_) => Kind::Droppable,
        TurnEvent::ApprovalRequested { .. } | TurnEvent::HandlerPanicked { .. } => Kind::Exempt,
        _ => Kind::Lifecycle,
    }
}

/// One streamed turn's event queue.
pub(super) struct EventQueue {
    state: Mutex<State>,
    to_reader: Notify,
    to_driver: Notify,
    delta_capacity: usize,
    lifecycle_capacity: usize,
}

impl EventQueue {
    pub(super) fn new(delta_capacity: usize, lifecycle_capacity: usize) -> Arc<Self> {
        Arc::new(EventQueue {
            state: Mutex::new(State {
                items: VecDeque::new(),
                droppable: 0,
                lifecycle: 0,
                reader_gone: false,
                finished: false,
            }),
            to_reader: Notify::new(),
            to_driver: Notify::new(),
            delta_capacity: delta_capacity.max(1),
            lifecycle_capacity: lifecycle_capacity.max(1),
        })
    }

    fn push_slot(&self, item: Result<TurnEvent>, kind: Kind) {
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        if s.reader_gone || s.finished {
            return;
        }
        match kind {
            Kind::Droppable if s.droppable >= self.delta_capacity => {
                match s.items.back_mut() {
                    Some((Ok(TurnEvent::Lagged(n)), _)) => *n += 1,
                    _ => s.items.push_back((Ok(TurnEvent::Lagged(1)), Kind::Exempt)),
                }
                drop(s);
                self.to_reader.notify_one();
                return;
            }
            Kind::Droppable => s.droppable += 1,
            Kind::Lifecycle => s.lifecycle += 1,
            Kind::Exempt => {}
        }
        s.items.push_back((item, kind));
        drop(s);
        self.to_reader.notify_one();
    }

    /// Queues an event of the driver (never waits; see [`EventQueue::has_room`]).
    pub(super) fn push(&self, event: TurnEvent) {
        let kind = kind_of(&event);
        self.push_slot(Ok(event), kind);
    }

    /// Queues a `Lagged(n)` marker for events the driver itself lost.
    pub(super) fn push_lagged(&self, n: u64) {
        self.push_slot(Ok(TurnEvent::Lagged(n)), Kind::Exempt);
    }

    /// Queues an approval event; never dropped, never waits.
    pub(super) fn push_approval(&self, event: TurnEvent) {
        self.push_slot(Ok(event), Kind::Exempt);
    }

    /// Queues the last item of the stream (`Completed` or the error) and ends it.
    pub(super) fn finish(&self, last: Result<TurnEvent>) {
        if let Ok(mut s) = self.state.lock() {
            if !s.reader_gone && !s.finished {
                s.items.push_back((last, Kind::Exempt));
            }
            s.finished = true;
        }
        self.to_reader.notify_one();
    }

    /// True while the reader has room for another lifecycle event (or is gone).
    pub(super) fn has_room(&self) -> bool {
        self.state
            .lock()
            .map(|s| s.reader_gone || s.lifecycle < self.lifecycle_capacity)
            .unwrap_or(true)
    }

    /// True once the reader dropped the stream.
    pub(super) fn is_abandoned(&self) -> bool {
        self.state.lock().map(|s| s.reader_gone).unwrap_or(true)
    }

    /// Waits until [`EventQueue::has_room`] is true.
    pub(super) async fn room(&self) {
        loop {
            let notified = self.to_driver.notified();
            if self.has_room() {
                return;
            }
            notified.await;
        }
    }

    fn try_pop(&self) -> Option<Option<Result<TurnEvent>>> {
        let mut s = self.state.lock().ok()?;
        match s.items.pop_front() {
            Some((item, kind)) => {
                match kind {
                    Kind::Droppable => s.droppable -= 1,
                    Kind::Lifecycle => s.lifecycle -= 1,
                    Kind::Exempt => {}
                }
                drop(s);
                self.to_driver.notify_one();
                Some(Some(item))
            }
            None if s.finished => Some(None),
            None => None,
        }
    }

    /// The next item; `None` once the stream ended.
    pub(super) async fn pop(&self) -> Option<Result<TurnEvent>> {
        loop {
            let notified = self.to_reader.notified();
            if let Some(item) = self.try_pop() {
                return item;
            }
            notified.await;
        }
    }

    /// The reader went away: drop what is queued and accept nothing more.
    fn reader_gone(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.reader_gone = true;
            s.items.clear();
            s.droppable = 0;
            s.lifecycle = 0;
        }
        self.to_driver.notify_one();
    }
}

/// The reader's end: marks the queue abandoned when the stream is dropped.
pub(super) struct Reader(pub(super) Arc<EventQueue>);

impl Drop for Reader {
    fn drop(&mut self) {
        self.0.reader_gone();
    }
}

/// The reader's end as a `Stream`.
pub(super) fn stream(
    queue: Arc<EventQueue>,
) -> impl futures::Stream<Item = Result<TurnEvent>> + Send + 'static {
    futures::stream::unfold(Reader(queue), |reader| async move {
        let item = reader.0.pop().await?;
        Some((item, reader))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delta(i: usize) -> TurnEvent {
        TurnEvent::AgentMessageDelta {
            item_id: "m".into(),
            delta: i.to_string(),
        }
    }

    #[tokio::test]
    async fn deltas_over_capacity_become_one_lagged_marker_in_place() {
        let q = EventQueue::new(2, 10);
        for i in 0..5 {
            q.push(delta(i));
        }
        q.push(TurnEvent::Started {
            turn_id: "t".into(),
        });
        assert!(matches!(
            q.pop().await,
            Some(Ok(TurnEvent::AgentMessageDelta { .. }))
        ));
        assert!(matches!(
            q.pop().await,
            Some(Ok(TurnEvent::AgentMessageDelta { .. }))
        ));
        assert!(matches!(q.pop().await, Some(Ok(TurnEvent::Lagged(3)))));
        assert!(matches!(q.pop().await, Some(Ok(TurnEvent::Started { .. }))));
    }

    #[tokio::test]
    async fn approvals_pass_a_full_queue_and_lifecycle_fullness_is_reported() {
        let q = EventQueue::new(1, 1);
        q.push(TurnEvent::Started {
            turn_id: "t".into(),
        });
        assert!(!q.has_room());
        q.push_approval(TurnEvent::ApprovalRequested {
            method: "m".into(),
            item_id: None,
            decision: serde_json::json!("decline"),
        });
        q.finish(Err(crate::Error::Shutdown));
        assert!(matches!(q.pop().await, Some(Ok(TurnEvent::Started { .. }))));
        assert!(q.has_room());
        assert!(matches!(
            q.pop().await,
            Some(Ok(TurnEvent::ApprovalRequested { .. }))
        ));
        assert!(matches!(q.pop().await, Some(Err(crate::Error::Shutdown))));
        assert!(q.pop().await.is_none());
    }

    #[tokio::test]
    async fn a_dropped_reader_frees_the_driver() {
        let q = EventQueue::new(1, 1);
        q.push(TurnEvent::Started {
            turn_id: "t".into(),
        });
        assert!(!q.has_room());
        drop(Reader(Arc::clone(&q)));
        q.room().await;
        q.push(TurnEvent::Started {
            turn_id: "u".into(),
        });
        assert!(q.has_room());
    }
}
