//! [`Subscriber`]: one client's ordered view of a session's events, from a resume point on.
//!
//! It replays what the client missed, then follows the live channel; when it lags behind the
//! channel it refills by sequence from the hub, and it skips anything at or below the last
//! sequence delivered, so the client sees every event once, in order. What the ring no longer
//! holds is read from the store one page at a time, as the client takes it, until the
//! subscriber meets the ring (so a replay holds at most one page per client).

use super::error::WebError;
use super::hub::{Hub, Logged};
use super::limits::Slot;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;
use tokio_util::sync::CancellationToken;

/// Which events a subscriber delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Filter {
    /// Every event.
    All,
    /// `approval.*` events (and `session.closed`).
    Approvals,
}

impl Filter {
    fn passes(self, kind: &str) -> bool {
        match self {
            Filter::All => true,
            Filter::Approvals => kind.starts_with("approval."),
        }
    }
}

/// The last event of a stream whose session closed (sent without an `id:`).
pub(crate) const SESSION_CLOSED: &str = "session.closed";

/// What a subscriber yields.
#[derive(Debug)]
pub(crate) enum Delivery {
    /// The next event.
    Event(Arc<Logged>),
    /// Nothing happened for the keep-alive interval.
    KeepAlive,
    /// The session closed after everything before was delivered; the stream ends after this.
    Closed,
    /// The log cannot be followed any more (e.g. history gone); the stream ends after this.
    Failed(WebError),
}

/// One client's position in one session's log.
pub(crate) struct Subscriber {
    hub: Arc<Hub>,
    backlog: VecDeque<Arc<Logged>>,
    /// More must be read from the hub ([`Hub::page_after`]) before the live channel.
    behind: bool,
    live: Receiver<Arc<Logged>>,
    last: u64,
    filter: Filter,
    cancel: CancellationToken,
    closed: CancellationToken,
    keepalive: Option<tokio::time::Interval>,
    done: bool,
    /// The stream slot this subscriber holds (given back when it is dropped).
    _slot: Option<Slot>,
}

impl Subscriber {
    /// Everything after `after` that passes `filter`, until `cancel` fires or the session
    /// closes.
    pub async fn start(
        hub: Arc<Hub>,
        after: u64,
        filter: Filter,
        cancel: CancellationToken,
        keepalive: Option<Duration>,
        slot: Option<Slot>,
    ) -> Result<Subscriber, WebError> {
        let start = hub.subscribe(after).await?;
        let closed = hub.closed().clone();
        let keepalive = keepalive.map(|every| {
            let mut i = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            i
        });
        Ok(Subscriber {
            hub,
            backlog: start.replay.into(),
            behind: start.behind,
            live: start.live,
            last: after,
            filter,
            cancel,
            closed,
            keepalive,
            done: false,
            _slot: slot,
        })
    }

    /// The next delivery; `None` at the end.
    ///
    /// Cancel safety: dropping this future loses nothing (the live receive and the timer are
    /// cancel-safe; a page read from the hub is read again by the next call).
    pub async fn next(&mut self) -> Option<Delivery> {
        loop {
            if self.done {
                return None;
            }
            while let Some(ev) = self.backlog.pop_front() {
                if ev.seq() <= self.last {
                    continue;
                }
                self.last = ev.seq();
                if self.filter.passes(&ev.envelope.event) {
                    return Some(Delivery::Event(ev));
                }
            }
            if self.behind {
                if self.cancel.is_cancelled() {
                    self.done = true;
                    return None;
                }
                match self.hub.page_after(self.last).await {
                    Ok((events, met_ring)) => {
                        self.behind = !met_ring;
                        self.backlog.extend(events);
                    }
                    Err(err) => {
                        self.done = true;
                        return Some(Delivery::Failed(err));
                    }
                }
                continue;
            }
            let received = tokio::select! {
                biased;
                _ = self.cancel.cancelled() => {
                    self.done = true;
                    return None;
                }
                r = self.live.recv() => r,
                _ = self.closed.cancelled() => {
                    // Everything published before the close is already in the channel.
                    match self.live.try_recv() {
                        Ok(ev) => Ok(ev),
                        Err(tokio::sync::broadcast::error::TryRecvError::Lagged(n)) => {
                            Err(RecvError::Lagged(n))
                        }
                        Err(_) => {
                            self.done = true;
                            return Some(Delivery::Closed);
                        }
                    }
                }
                _ = tick(&mut self.keepalive) => return Some(Delivery::KeepAlive),
            };
            match received {
                Ok(ev) => self.backlog.push_back(ev),
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(
                        missed,
                        after = self.last,
                        "SSE subscriber lagged; refilling"
                    );
                    self.behind = true;
                }
                Err(RecvError::Closed) => {
                    self.done = true;
                    return None;
                }
            }
        }
    }
}

async fn tick(timer: &mut Option<tokio::time::Interval>) {
    match timer {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}
