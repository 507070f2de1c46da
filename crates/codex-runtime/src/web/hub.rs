//! [`Hub`]: the live tail of one session's event log.
//!
//! Events get their sequence number here, are appended to the store (when one is configured)
//! and only then published, so the store always holds at least what any subscriber has seen.
//! The hub keeps the most recent events in a bounded ring (for subscribers that fall behind
//! and for cheap resumes) and fans them out on a bounded `broadcast` channel. A subscriber
//! that lags behind the channel refills from the ring, or from the store, by sequence, so it
//! never sees a gap or a duplicate.

use super::error::WebError;
use super::sse::{serialize_sse_envelope, SseEnvelope};
use super::store::{EventStore, SessionKey};
use bytes::Bytes;
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// One logged event with its SSE text, serialized once for every subscriber.
#[derive(Debug)]
pub(crate) struct Logged {
    pub envelope: SseEnvelope,
    pub wire: Bytes,
}

impl Logged {
    pub fn new(envelope: SseEnvelope) -> Arc<Logged> {
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
    ring: Mutex<Ring>,
    capacity: usize,
    tx: broadcast::Sender<Arc<Logged>>,
    /// Serializes writers (turn task, approval bridge) across seq assignment, store append and
    /// publish.
    writer: tokio::sync::Mutex<()>,
    store: Option<Arc<dyn EventStore>>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").field("key", &self.key).finish_non_exhaustive()
    }
}

/// What a new subscriber starts from: events it must replay, and the live channel.
pub(crate) struct Start {
    pub replay: Vec<Arc<Logged>>,
    pub live: broadcast::Receiver<Arc<Logged>>,
}

impl Hub {
    /// A hub whose next event gets `last_seq + 1`.
    pub fn new(
        key: SessionKey,
        last_seq: u64,
        capacity: usize,
        store: Option<Arc<dyn EventStore>>,
    ) -> Hub {
        let (tx, _) = broadcast::channel(capacity);
        Hub {
            key,
            ring: Mutex::new(Ring {
                last_seq,
                events: VecDeque::with_capacity(capacity.min(1024)),
            }),
            capacity,
            tx,
            writer: tokio::sync::Mutex::new(()),
            store,
        }
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        // A poisoned lock only means a panic elsewhere mid-push; the ring stays consistent.
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The sequence of the last event published.
    pub fn last_seq(&self) -> u64 {
        self.ring().last_seq
    }

    /// Logs `events` (kind, data) in order: sequence, store, then subscribers.
    pub async fn publish(&self, events: Vec<(String, Value)>) -> Result<u64, WebError> {
        if events.is_empty() {
            return Ok(self.last_seq());
        }
        let _writer = self.writer.lock().await;
        let first = self.last_seq() + 1;
        let logged: Vec<Arc<Logged>> = events
            .into_iter()
            .enumerate()
            .map(|(i, (event, data))| {
                Logged::new(SseEnvelope {
                    id: first + i as u64,
                    event,
                    data,
                })
            })
            .collect();
        if let Some(store) = &self.store {
            store.append(&self.key, &logged).await?;
        }
        let mut ring = self.ring();
        for ev in logged {
            ring.last_seq = ev.seq();
            if ring.events.len() == self.capacity {
                ring.events.pop_front();
            }
            ring.events.push_back(Arc::clone(&ev));
            // No receiver is fine: nobody is watching right now.
            let _ = self.tx.send(ev);
        }
        Ok(ring.last_seq)
    }

    /// Events after `after` from the ring, or `Err(oldest_in_ring)` when the ring no longer
    /// reaches back that far.
    fn from_ring(ring: &Ring, after: u64) -> Result<Vec<Arc<Logged>>, u64> {
        let oldest = ring.events.front().map(|e| e.seq()).unwrap_or(ring.last_seq + 1);
        if after + 1 < oldest {
            return Err(oldest);
        }
        Ok(ring
            .events
            .iter()
            .filter(|e| e.seq() > after)
            .cloned()
            .collect())
    }

    /// Subscribes to everything after `after`: the replay (ring, then store for what the ring
    /// no longer holds) plus the live channel, taken atomically so nothing falls between.
    pub async fn subscribe(&self, after: u64) -> Result<Start, WebError> {
        let (ring_part, live) = {
            let ring = self.ring();
            (Self::from_ring(&ring, after), self.tx.subscribe())
        };
        let replay = match ring_part {
            Ok(events) => events,
            Err(oldest) => {
                let mut older = self.read_store(after, oldest - 1).await?;
                let ring = self.ring();
                // The ring may have moved on meanwhile; take what follows the store part.
                let from = older.last().map(|e| e.seq()).unwrap_or(after);
                match Self::from_ring(&ring, from) {
                    Ok(rest) => older.extend(rest),
                    Err(oldest) => return Err(WebError::HistoryGone { after, oldest }),
                }
                older
            }
        };
        Ok(Start { replay, live })
    }

    /// Events after `after` again, after a subscriber lagged behind the live channel.
    pub async fn refill(&self, after: u64) -> Result<Vec<Arc<Logged>>, WebError> {
        let ring_part = {
            let ring = self.ring();
            Self::from_ring(&ring, after)
        };
        match ring_part {
            Ok(events) => Ok(events),
            Err(oldest) => {
                let mut older = self.read_store(after, oldest - 1).await?;
                let from = older.last().map(|e| e.seq()).unwrap_or(after);
                let ring = self.ring();
                match Self::from_ring(&ring, from) {
                    Ok(rest) => older.extend(rest),
                    Err(oldest) => return Err(WebError::HistoryGone { after, oldest }),
                }
                Ok(older)
            }
        }
    }

    /// Events in `(after, through]` from the store.
    async fn read_store(&self, after: u64, through: u64) -> Result<Vec<Arc<Logged>>, WebError> {
        let Some(store) = &self.store else {
            let oldest = through + 1;
            return Err(WebError::HistoryGone { after, oldest });
        };
        let mut out = Vec::new();
        let mut from = after;
        while from < through {
            let page = store.read_after(&self.key, from, 1000).await?;
            let Some(last) = page.last().map(|e| e.id) else {
                break;
            };
            for envelope in page.into_iter().filter(|e| e.id <= through) {
                out.push(Logged::new(envelope));
            }
            from = last;
        }
        Ok(out)
    }
}
