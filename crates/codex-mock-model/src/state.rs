//! The state shared by the [`crate::MockModel`] handle and the request handlers.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{watch, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::{RecordedRequest, Reply, Scenario};

/// Most requests kept in the record; older ones are dropped (with a warning) beyond this.
const MAX_RECORDED: usize = 10_000;

#[derive(Debug)]
pub(crate) struct Shared {
    inner: Mutex<Inner>,
    /// Number of `POST /v1/responses` received so far.
    pub(crate) responses_seen: watch::Sender<u64>,
    /// Number of streams currently held by a stall.
    pub(crate) stalls_held: watch::Sender<usize>,
    /// Number of streams the client closed before they ended (e.g. codex interrupting a turn).
    pub(crate) streams_closed_by_client: watch::Sender<usize>,
    /// One permit per `release_stall` call not yet consumed by a stall.
    pub(crate) stall_releases: Semaphore,
    /// Cancelled when the server stops: ends open streams and the accept loop.
    pub(crate) cancel: CancellationToken,
    /// Interval of `: keepalive` comments during a stall.
    pub(crate) keepalive_interval: Duration,
}

/// The mutable part, behind one lock.
#[derive(Debug)]
pub(crate) struct Inner {
    /// Replies not served yet.
    pub(crate) queue: VecDeque<Reply>,
    /// Served when `queue` is empty.
    pub(crate) fallback: Option<Reply>,
    /// The last [`MAX_RECORDED`] requests.
    pub(crate) records: VecDeque<RecordedRequest>,
    dropped_records: u64,
}

impl Shared {
    pub(crate) fn new(scenario: Scenario, keepalive_interval: Duration) -> Self {
        Self {
            inner: Mutex::new(Inner {
                queue: scenario.replies,
                fallback: scenario.fallback,
                records: VecDeque::new(),
                dropped_records: 0,
            }),
            responses_seen: watch::Sender::new(0),
            stalls_held: watch::Sender::new(0),
            streams_closed_by_client: watch::Sender::new(0),
            stall_releases: Semaphore::new(0),
            cancel: CancellationToken::new(),
            keepalive_interval: keepalive_interval.max(Duration::from_millis(1)),
        }
    }

    /// Locks the mutable state (a panic elsewhere never makes it unusable).
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends a record, dropping the oldest beyond [`MAX_RECORDED`].
    pub(crate) fn record(&self, record: RecordedRequest) {
        let mut inner = self.lock();
        if inner.records.len() >= MAX_RECORDED {
            inner.records.pop_front();
            inner.dropped_records += 1;
            if inner.dropped_records == 1 {
                tracing::warn!(
                    "mock model: more than {MAX_RECORDED} requests; dropping the oldest records"
                );
            }
        }
        inner.records.push_back(record);
    }
}
