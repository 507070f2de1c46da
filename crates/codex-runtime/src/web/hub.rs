//! [`Hub`]: the live tail of one session's event log.
//!
//! Records are appended to the store (when one is configured; it assigns the gap-free
//! sequence) and only then published, so the store always holds at least what any subscriber
//! has seen. Without a store the hub numbers them itself. The hub keeps the most recent events
//! in a bounded ring (for subscribers that fall behind and for cheap resumes) and fans them out
//! on a bounded `broadcast` channel; a subscriber that lags refills by sequence from the ring,
//! or from the store, so it never sees a gap or a duplicate.

use super::error::WebError;
use super::events::envelope;
use super::live_tail::Notifier;
use super::sse::{serialize_sse_envelope, SseEnvelope};
use super::store::SessionKey;
use crate::persistence::{now_millis, ConversationStore, EventRecord, Record, Scope};
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// One logged event with its SSE text, serialized once for every subscriber.
#[derive(Debug)]
pub(crate) struct Logged {
    pub envelope: SseEnvelope,
    pub wire: Bytes,
}

impl Logged {
    pub fn new(event: &EventRecord) -> Arc<Logged> {
        let envelope = envelope(event);
        let wire = Bytes::from(serialize_sse_envelope(&envelope));
        Arc::new(Logged { envelope, wire })
    }
    pub fn seq(&self) -> u64 {
        self.envelope.id
    }
}

#[derive(Debug)]
struct Ring {
    /// The sequence of the last event published.
    last_seq: u64,
    events: VecDeque<Arc<Logged>>,
}

/// The live tail of one session.
pub(crate) struct Hub {
    key: SessionKey,
    scope: Scope,
    ring: Mutex<Ring>,
    capacity: usize,
    tx: broadcast::Sender<Arc<Logged>>,
    /// Serializes writers (turn task, approval bridge) across append and publish.
    writer: tokio::sync::Mutex<()>,
    store: Option<Arc<dyn ConversationStore>>,
    closed: CancellationToken,
    notifier: Option<Notifier>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// Events read from the store per page of a replay: what one subscriber holds beyond the
/// shared ring while it replays (the replay is read page by page as the client takes it).
pub(crate) const STORE_PAGE: u32 = 256;

/// What a new subscriber starts from: events it must replay, whether more must be read from the
/// store before the live channel (see [`Hub::page_after`]), and the live channel.
pub(crate) struct Start {
    pub replay: Vec<Arc<Logged>>,
    pub behind: bool,
    pub live: broadcast::Receiver<Arc<Logged>>,
}

impl Hub {
    /// A hub whose next event follows `last_seq`.
    pub fn new(
        key: SessionKey,
        last_seq: u64,
        capacity: usize,
        store: Option<Arc<dyn ConversationStore>>,
        notifier: Option<Notifier>,
    ) -> Result<Hub, WebError> {
        let (tx, _) = broadcast::channel(capacity);
        Ok(Hub {
            scope: key.scope()?,
            key,
            ring: Mutex::new(Ring {
                last_seq,
                events: VecDeque::with_capacity(capacity.min(1024)),
            }),
            capacity,
            tx,
            writer: tokio::sync::Mutex::new(()),
            store,
            closed: CancellationToken::new(),
            notifier,
        })
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        // A poisoned lock only means a panic elsewhere mid-push; the ring stays consistent.
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The sequence of the last event published.
    pub fn last_seq(&self) -> u64 {
        self.ring().last_seq
    }

    /// Fires when the session closes.
    pub fn closed(&self) -> &CancellationToken {
        &self.closed
    }

    /// Logs `records` in order: store (which numbers them), then subscribers.
    pub async fn publish(&self, records: Vec<Record>) -> Result<u64, WebError> {
        if records.is_empty() {
            return Ok(self.last_seq());
        }
        let _writer = self.writer.lock().await;
        let events = match &self.store {
            Some(store) => {
                store
                    .append(&self.scope, &self.key.session_id, records)
                    .await?
            }
            None => {
                let first = self.last_seq() as i64 + 1;
                records
                    .into_iter()
                    .enumerate()
                    .map(|(i, record)| EventRecord {
                        scope: self.scope.clone(),
                        conversation_id: self.key.session_id.clone(),
                        seq: first + i as i64,
                        record,
                        created_at: now_millis(),
                    })
                    .collect()
            }
        };
        let last = self.push(&events);
        if let (Some(notifier), Some(_)) = (&self.notifier, &self.store) {
            notifier.notify(self.key.tenant.as_str(), &self.key.session_id, last);
        }
        Ok(last)
    }

    /// True while at least one client follows this hub.
    pub fn has_subscribers(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    /// Publishes what the store holds after the last event published here (events another
    /// instance appended).
    pub async fn catch_up(&self) -> Result<u64, WebError> {
        let Some(store) = &self.store else {
            return Ok(self.last_seq());
        };
        let _writer = self.writer.lock().await;
        loop {
            let after = self.last_seq();
            let page = store
                .read_events(&self.scope, &self.key.session_id, after as i64, 1000)
                .await?;
            if page.is_empty() {
                return Ok(after);
            }
            self.push(&page);
        }
    }

    fn push(&self, events: &[EventRecord]) -> u64 {
        let mut ring = self.ring();
        for event in events {
            let ev = Logged::new(event);
            if ev.seq() <= ring.last_seq {
                continue;
            }
            ring.last_seq = ev.seq();
            if ring.events.len() == self.capacity {
                ring.events.pop_front();
            }
            ring.events.push_back(Arc::clone(&ev));
            // No receiver is fine: nobody is watching right now.
            let _ = self.tx.send(ev);
        }
        ring.last_seq
    }

    /// The oldest sequence the ring holds (the next one when it is empty).
    fn oldest(ring: &Ring) -> u64 {
        ring.events
            .front()
            .map(|e| e.seq())
            .unwrap_or(ring.last_seq.saturating_add(1))
    }

    /// Events after `after` from the ring, or `Err(oldest_in_ring)` when the ring no longer
    /// reaches back that far.
    fn from_ring(ring: &Ring, after: u64) -> Result<Vec<Arc<Logged>>, u64> {
        let oldest = Self::oldest(ring);
        if after.saturating_add(1) < oldest {
            return Err(oldest);
        }
        Ok(ring
            .events
            .iter()
            .filter(|e| e.seq() > after)
            .cloned()
            .collect())
    }

    /// Subscribes to everything after `after`: what the ring holds of it, plus the live channel,
    /// taken together so nothing falls between. When the ring no longer reaches back to
    /// `after`, the start is `behind`: the subscriber reads the store with
    /// [`Hub::page_after`] first (without a store that is [`WebError::HistoryGone`] at once).
    /// An `after` ahead of the log is [`WebError::BadRequest`].
    pub async fn subscribe(&self, after: u64) -> Result<Start, WebError> {
        if after > self.last_seq() && self.store.is_some() {
            // Events another instance appended (or one being published right now) may not be
            // here yet.
            self.catch_up().await?;
        }
        let ring = self.ring();
        if after > ring.last_seq {
            return Err(WebError::BadRequest(format!(
                "Last-Event-ID {after} is ahead of the session's log (its last event is {})",
                ring.last_seq
            )));
        }
        let live = self.tx.subscribe();
        match Self::from_ring(&ring, after) {
            Ok(replay) => Ok(Start {
                replay,
                behind: false,
                live,
            }),
            Err(oldest) if self.store.is_none() => Err(WebError::HistoryGone { after, oldest }),
            Err(_) => Ok(Start {
                replay: Vec::new(),
                behind: true,
                live,
            }),
        }
    }

    /// The next events after `after` for a subscriber that is behind: everything the ring
    /// holds after it when the ring reaches back that far (then `true`: the subscriber has
    /// met the ring and goes on with the live channel), else the next page of at most
    /// [`STORE_PAGE`] events from the store (`false`: ask again after delivering them). The
    /// store holds every event published (it is written first), so a replay never fails
    /// because the ring moved on while it was read.
    pub async fn page_after(&self, after: u64) -> Result<(Vec<Arc<Logged>>, bool), WebError> {
        let oldest = {
            let ring = self.ring();
            match Self::from_ring(&ring, after) {
                Ok(events) => return Ok((events, true)),
                Err(oldest) => oldest,
            }
        };
        let gone = WebError::HistoryGone { after, oldest };
        let Some(store) = &self.store else {
            return Err(gone);
        };
        let from = i64::try_from(after)
            .map_err(|_| WebError::BadRequest(format!("event sequence {after} is out of range")))?;
        let page = store
            .read_events(&self.scope, &self.key.session_id, from, STORE_PAGE)
            .await?;
        if page.is_empty() {
            // The ring starts later but the store holds nothing after `after`: the store lost
            // events (e.g. they were deleted).
            return Err(gone);
        }
        Ok((page.iter().map(Logged::new).collect(), false))
    }
}
