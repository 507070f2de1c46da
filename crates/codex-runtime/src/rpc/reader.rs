//! The read side of one connection: decoding and routing every inbound frame, done by the
//! connection's reader task or, during a flood, by the consumer that waits for the events.
//!
//! Everything needed to read (the transport's receiver, the batch being routed, overflow pauses
//! still owed) lives in one [`Seat`]. Whoever holds the seat reads:
//!
//! - **The reader task** holds it by default. It waits for a frame, takes every frame already
//!   readable (up to [`ROUTE_BATCH`] notifications), routes them as one batch, and repeats.
//! - **A waiting consumer** outside any tokio task on a multi-thread runtime (the loop in the
//!   `#[tokio::main]` future, `Handle::block_on` on a thread) may take the seat while the
//!   reader task has stepped back, and read and route what is already readable on its own
//!   thread.
//!   Without this, every event of a flood is made on a worker thread and freed on the
//!   consumer's, which costs more than decoding it (allocator arena locks, a futex wake-up per
//!   batch), and the consumer's queue fills while it is not scheduled; measured in
//!   `docs/PERFORMANCE.md`, "Consumers that read".
//!
//! **When the reader task steps back.** Only after it routed a full batch (a flood: frames keep
//! coming) while a consumer had tried to read since it last looked, or while the consumer that
//! read the flood is still engaged in it. It then waits until either a consumer finds nothing
//! readable (the pipe is empty for now: the reader task waits for the next frame again, and
//! steps back at its next full batch) or [`STEP_BACK_GRACE`] passes with no consumer trying to
//! read (the consumer is no longer engaged), or a call is sent. So a consumer that stops
//! calling `recv` mid-flood holds nothing up for longer than the grace, a reply is never held
//! up by it, and between floods the reader task reads exactly as before.
//!
//! **A consumer never holds the seat across an await.** It takes the seat with `try_lock`,
//! reads only frames that are readable without waiting, routes them and lets go, all in one
//! poll. A `recv` future that is dropped, or kept but never polled again, therefore cannot stop
//! the connection: calls still get their replies and other subscribers their events. A frame
//! that is only partly readable stays in the transport's own buffer (every
//! [`MessageReceiver::recv`] is cancel safe), so no reader loses a partial frame.
//!
//! **A consumer task woken by the reader task runs promptly.** Frames already buffered are read
//! without returning to the scheduler, so after a full batch that woke a consumer that keeps up
//! (its queue was empty), the reader task yields: the consumer task, woken on the same worker
//! (tokio's LIFO slot, which other workers cannot steal), runs instead of waiting for the pipe to
//! be empty while its queue fills.
//!
//! What a consumer cannot finish in a poll it hands to the reader task: the end of the stream
//! (closing the pending calls and subscriptions) and overflow pauses (waiting for a subscriber
//! that fell behind before routing it the rest of the batch). A call sent while the reader task
//! is stepped back makes it take over at once: the loop that was reading is likely the one now
//! awaiting the reply.

use super::message::{self, Event, Inbound as Msg};
use super::metrics::Metrics;
use super::pending::{ClosedInfo, PendingMap};
use super::queue::{Routed, EVENT_OVERHEAD_BYTES};
use super::router::{is_droppable, CloseReason, Paused};
use super::server_requests::{Answered, IncomingServerRequest};
use super::{
    connection::{Outgoing, ProtocolIssue, ProtocolIssueKind, Shared},
    router::Router,
};
use crate::transport::{Inbound, MessageReceiver, ProcessHandle};
use codex_runtime_protocol::{ServerNotification, ServerRequest};
use futures::FutureExt;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::{mpsc, watch, Mutex, Notify};

/// Most notifications decoded before they are handed to the router as one batch. A batch also
/// ends as soon as no further frame is already readable, so batching adds no latency: it only
/// groups what arrived together.
pub(crate) const ROUTE_BATCH: usize = 256;

/// Most frames one consumer read takes (responses and server requests do not count towards
/// [`ROUTE_BATCH`]), so a poll of the user's future stays short.
const MAX_FRAMES_PER_PULL: usize = 4 * ROUTE_BATCH;

/// Longest time the reader task stays stepped back while no consumer tries to read: a consumer
/// that stopped calling `recv` in the middle of a flood delays the rest of the connection by at
/// most about this much (tokio's timer rounds it up to its 1 ms tick).
pub(crate) const STEP_BACK_GRACE: Duration = Duration::from_millis(1);

/// Where frames go once read.
pub(crate) struct ReadLoop {
    /// The connection's runtime: server-request handlers run there, whoever read the request.
    pub runtime: tokio::runtime::Handle,
    pub shared: Arc<Shared>,
    pub pending: Arc<PendingMap>,
    pub outgoing: mpsc::Sender<Outgoing>,
    pub process: Weak<Mutex<Option<ProcessHandle>>>,
    pub closed: watch::Sender<Option<ClosedInfo>>,
    pub close_router_on_exit: bool,
}

/// Held by whoever reads.
struct ReadState {
    receiver: Box<dyn MessageReceiver>,
    rl: ReadLoop,
    /// Notifications decoded and not routed yet (empty between holders).
    batch: Vec<Routed>,
    /// Overflow pauses a consumer ran into; the reader task waits them out before reading on.
    paused: Vec<Paused>,
    /// A consumer read the end of the stream (or a read error); the reader task finishes.
    ended: bool,
}

/// The read side of one connection, shared by its reader task and waiting consumers.
pub(crate) struct Seat {
    state: Mutex<ReadState>,
    /// The router of `state`'s read loop, reachable without the seat's lock (which the reader
    /// task holds while it waits for a frame): waking stepped-back consumers and resuming a
    /// paused route must not wait for that.
    router: Arc<Router>,
    /// Counts consumers' attempts to read: the reader task steps back only while it moves.
    pulls: AtomicU64,
    /// A consumer asks the reader task to take over (nothing readable, end of stream, a pause).
    take_over: Notify,
    take_over_requested: AtomicBool,
    /// The reader task is stepped back (consumers read).
    is_stepped_back: AtomicBool,
}

/// What a consumer's [`Seat::pull`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pull {
    /// Read and routed at least one frame: look at the queue again.
    Read,
    /// Someone else holds the seat (the reader task, waiting for a frame): wait for an event or
    /// for the reader task to step back.
    Busy,
    /// Nothing readable; the reader task takes over. Wait for an event.
    Idle,
}

impl Seat {
    pub fn new(receiver: Box<dyn MessageReceiver>, rl: ReadLoop) -> Self {
        let router = Arc::clone(&rl.shared.router);
        Seat {
            state: Mutex::new(ReadState {
                receiver,
                rl,
                batch: Vec::new(),
                paused: Vec::new(),
                ended: false,
            }),
            router,
            pulls: AtomicU64::new(0),
            take_over: Notify::new(),
            take_over_requested: AtomicBool::new(false),
            is_stepped_back: AtomicBool::new(false),
        }
    }

    /// A call was just sent: if the reader task is stepped back, it takes over at once, so the
    /// reply is read even if the consumers stop reading (the loop that pulled is likely the
    /// one now awaiting the call).
    pub fn call_sent(&self) {
        if self.is_stepped_back.load(Ordering::Acquire) {
            self.request_take_over();
        }
    }

    /// A consumer's read: when the seat is free, reads and routes every frame that is readable
    /// without waiting (up to [`ROUTE_BATCH`] notifications), on the caller's thread. Never
    /// waits and never keeps the seat.
    pub fn pull(&self) -> Pull {
        self.pulls.fetch_add(1, Ordering::Relaxed);
        let Ok(mut st) = self.state.try_lock() else {
            return Pull::Busy;
        };
        if st.ended || !st.paused.is_empty() {
            drop(st);
            self.request_take_over();
            return Pull::Idle;
        }
        let mut read = 0usize;
        let mut drained = false;
        while st.batch.len() < ROUTE_BATCH && read < MAX_FRAMES_PER_PULL {
            // `recv` is cancel safe: a frame that is not complete yet stays buffered.
            let Some(frame) = st.receiver.recv().now_or_never() else {
                drained = true;
                break;
            };
            read += 1;
            if !st.take(frame) {
                st.ended = true;
                drained = true;
                break;
            }
        }
        if read > 0 {
            Metrics::inc(&st.rl.shared.metrics.consumer_reads);
            // Taken out first: whatever happens while routing, no event is routed twice.
            let mut batch = std::mem::take(&mut st.batch);
            let paused = self.router.route_batch(&batch, true);
            batch.clear();
            st.batch = batch;
            if !paused.is_empty() {
                st.paused = paused;
                drained = true;
            }
        }
        drop(st);
        if drained {
            self.request_take_over();
        }
        // Another consumer that found the seat taken may read now.
        self.router.wake_stepped_back();
        if read > 0 {
            Pull::Read
        } else {
            Pull::Idle
        }
    }

    fn request_take_over(&self) {
        self.take_over_requested.store(true, Ordering::Release);
        self.take_over.notify_one();
    }

    /// The reader task's step back: lets consumers read until one asks it to take over
    /// (returns true: a consumer is still engaged in the flood), or until a whole grace period
    /// passes without any consumer trying to read (returns false). The caller cleared
    /// `take_over_requested` while it still held the seat, so a request made as soon as it let
    /// go is not lost.
    async fn step_back(&self) -> bool {
        self.is_stepped_back.store(true, Ordering::Release);
        let engaged = self.stepped_back_until_take_over().await;
        self.is_stepped_back.store(false, Ordering::Release);
        engaged
    }

    async fn stepped_back_until_take_over(&self) -> bool {
        self.router.wake_stepped_back();
        loop {
            let seen = self.pulls.load(Ordering::Relaxed);
            tokio::select! {
                _ = self.take_over.notified() => {
                    if self.take_over_requested.swap(false, Ordering::AcqRel) {
                        return true;
                    }
                }
                _ = tokio::time::sleep(STEP_BACK_GRACE) => {
                    if self.pulls.load(Ordering::Relaxed) == seen {
                        return false;
                    }
                }
            }
        }
    }
}

fn snippet(line: &[u8]) -> String {
    let s = String::from_utf8_lossy(&line[..line.len().min(160)]);
    if line.len() > 160 {
        format!("{s}…")
    } else {
        s.into_owned()
    }
}

impl ReadState {
    /// Handles one frame read from the transport. False at the end of the stream (or on a read
    /// error): the caller flushes the batch and finishes.
    fn take(&mut self, frame: io::Result<Option<Inbound>>) -> bool {
        match frame {
            Ok(Some(Inbound::Message(line))) => {
                self.rl.handle_line(&line, &mut self.batch);
                true
            }
            Ok(Some(Inbound::Oversize { len })) => {
                let m = &self.rl.shared.metrics;
                Metrics::inc(&m.messages_in);
                Metrics::inc(&m.malformed_lines);
                Metrics::inc(&m.oversize_lines);
                self.rl.issue(
                    ProtocolIssueKind::Oversize,
                    format!(
                        "discarded an inbound line of {len} bytes (over the maximum line size)"
                    ),
                );
                true
            }
            Ok(None) => false,
            Err(e) => {
                tracing::warn!("reading from codex failed: {e}");
                false
            }
        }
    }
}

impl ReadLoop {
    fn issue(&self, kind: ProtocolIssueKind, detail: String) {
        tracing::warn!(?kind, "{detail}");
        let _ = self.shared.issues.send(ProtocolIssue { kind, detail });
    }

    /// Hands the decoded notifications to the router (without pausing: used between frames).
    fn flush(&self, batch: &mut Vec<Routed>) {
        self.shared.router.route_batch(batch, false);
        batch.clear();
    }

    /// Handles one inbound line. Notifications are appended to `batch`; anything else first
    /// flushes `batch`, so callers and subscribers see the server's order.
    fn handle_line(&self, line: &[u8], batch: &mut Vec<Routed>) {
        let m = &self.shared.metrics;
        Metrics::inc(&m.messages_in);
        match message::classify(line) {
            Err(why) => {
                Metrics::inc(&m.malformed_lines);
                self.issue(
                    ProtocolIssueKind::Malformed,
                    format!("malformed line from codex ({why}): {}", snippet(line)),
                );
            }
            Ok(Msg::Response { id, outcome }) => {
                self.flush(batch);
                if !self.pending.complete(&id, outcome.map(|r| r.to_owned())) {
                    Metrics::inc(&m.unmatched_responses);
                    tracing::debug!(%id, "response for no pending call (late reply after a timeout?)");
                }
            }
            Ok(Msg::Notification {
                method,
                params,
                emitted_at_ms,
            }) => {
                let seq = self.shared.seq.fetch_add(1, Ordering::Relaxed) + 1;
                let event = match Event::lazy_delta(&method, params, emitted_at_ms, seq) {
                    Some(event) => event,
                    None => {
                        let notification = match ServerNotification::decode(&method, params) {
                            Ok(n) => n,
                            Err(e) => {
                                Metrics::inc(&m.decode_fallbacks);
                                self.issue(
                                    ProtocolIssueKind::DecodeFallback,
                                    format!("`{method}` params did not fit the typed shape ({e}); delivered as Unknown"),
                                );
                                ServerNotification::Unknown {
                                    method: method.to_string(),
                                    params: serde_json::from_str(params.get())
                                        .unwrap_or(serde_json::Value::Null),
                                }
                            }
                        };
                        Event::new(notification, emitted_at_ms, seq)
                    }
                };
                batch.push(Routed {
                    droppable: is_droppable(&method),
                    cost: line.len() + EVENT_OVERHEAD_BYTES,
                    event: Arc::new(event),
                });
            }
            Ok(Msg::Request { id, method, params }) => {
                self.flush(batch);
                Metrics::inc(&m.server_requests);
                let value: serde_json::Value =
                    serde_json::from_str(params.get()).unwrap_or(serde_json::Value::Null);
                let request = ServerRequest::decode(&method, params).unwrap_or_else(|e| {
                    tracing::warn!(%method, "server request params did not fit the typed shape: {e}");
                    ServerRequest::Unknown {
                        method: method.to_string(),
                        params: value.clone(),
                    }
                });
                let req = IncomingServerRequest {
                    id: id.clone(),
                    method: method.to_string(),
                    request,
                    params: value,
                };
                let handlers = Arc::clone(&self.shared.handlers);
                let metrics = Arc::clone(&self.shared.metrics);
                let issues = self.shared.issues.clone();
                let outgoing = self.outgoing.clone();
                // `answer` never unwinds: a panicking handler is answered fail-closed.
                self.runtime.spawn(async move {
                    let method = req.method.clone();
                    let (outcome, how) = handlers.answer(req).await;
                    match how {
                        Answered::ByHandler => {}
                        Answered::Defaulted => Metrics::inc(&metrics.server_requests_defaulted),
                        Answered::Panicked(message) => {
                            Metrics::inc(&metrics.server_requests_defaulted);
                            let _ = issues.send(ProtocolIssue {
                                kind: ProtocolIssueKind::HandlerPanicked,
                                detail: format!(
                                    "the handler for `{method}` panicked ({message}); answered fail-closed"
                                ),
                            });
                        }
                    }
                    match message::encode_response(&id, &outcome) {
                        Ok(line) => {
                            let _ = outgoing.send(Outgoing::Line(line)).await;
                        }
                        Err(e) => tracing::error!("cannot encode a server-request reply: {e}"),
                    }
                });
            }
        }
    }

    /// The end of the stream: collects the child's exit, fails what is pending, closes the
    /// subscriptions (unless a restart follows).
    async fn finish(&self) {
        let mut info = ClosedInfo {
            exit_code: None,
            signal: None,
            stderr_tail: String::new(),
        };
        if let Some(process) = self.process.upgrade() {
            let mut guard = process.lock().await;
            if let Some(p) = guard.as_mut() {
                let exit = match p.wait_timeout(Duration::from_millis(500)).await {
                    Some(e) => Some(e),
                    None => {
                        tracing::warn!("codex closed its stdout but kept running; killing it");
                        p.kill().await
                    }
                };
                p.stderr().wait_closed(Duration::from_millis(300)).await;
                info.exit_code = exit.and_then(|e| e.code);
                info.signal = exit.and_then(|e| e.signal);
                info.stderr_tail = p.stderr().snapshot();
            }
        }
        tracing::debug!(exit_code = ?info.exit_code, signal = ?info.signal, "codex connection closed");
        self.pending.close_all(info.clone());
        self.closed.send_replace(Some(info));
        if self.close_router_on_exit {
            self.shared.router.close_all(CloseReason::ConnectionClosed);
        }
    }
}

/// The connection's reader task. It owns the only strong reference to the seat, so when it
/// ends (or is aborted with its connection) consumers stop reading from this connection.
pub(crate) async fn read_loop(seat: Arc<Seat>) {
    let router = Arc::clone(&seat.router);
    let mut pulls_seen = seat.pulls.load(Ordering::Relaxed);
    // A consumer read the last flood and handed back only because nothing was readable.
    let mut engaged = false;
    loop {
        let mut st = seat.state.lock().await;
        // What a consumer could not do in its poll: pauses, then the end of the stream.
        for p in std::mem::take(&mut st.paused) {
            router.resume(p).await;
        }
        if st.ended {
            let ReadState { rl, batch, .. } = &mut *st;
            rl.flush(batch);
            return rl.finish().await;
        }
        // Wait for the next frame, then take every frame that is already readable (up to
        // ROUTE_BATCH notifications) without waiting, and route them as one batch.
        let mut next = Some(st.receiver.recv().await);
        while let Some(frame) = next.take() {
            if !st.take(frame) {
                // Consumers that still reach this seat find it ended and only wait.
                st.ended = true;
                let ReadState { rl, batch, .. } = &mut *st;
                rl.flush(batch);
                return rl.finish().await;
            }
            if st.batch.len() < ROUTE_BATCH {
                // `recv` is cancel safe: a frame that is not complete yet stays buffered.
                next = st.receiver.recv().now_or_never();
            }
        }
        let full = st.batch.len() >= ROUTE_BATCH;
        // When a subscriber that keeps up on average overflowed, pause reading until it has
        // caught up (bounded by the overflow pause).
        let (paused, woke) = router.route_batch_waking(&st.batch, true);
        st.batch.clear();
        for p in paused {
            router.resume(p).await;
        }
        if st.batch.capacity() > ROUTE_BATCH {
            st.batch.shrink_to(ROUTE_BATCH);
        }
        // A flood, and a consumer tried to read since we last looked (or is still engaged: it
        // only handed back because the pipe was empty for a moment and is busy with what we
        // routed since): let it read the rest on its own thread.
        let pulls = seat.pulls.load(Ordering::Relaxed);
        if full && (engaged || pulls != pulls_seen) {
            seat.take_over_requested.store(false, Ordering::Release);
            drop(st);
            engaged = seat.step_back().await;
        } else if full && woke {
            // A flood read by this task, and a consumer that keeps up was woken: frames already
            // buffered are read without ever returning to the scheduler, so a consumer task
            // woken on this worker (tokio's LIFO slot, which other workers cannot steal) would
            // wait until the pipe is empty while its queue fills. Let it run now; another
            // worker may take this task meanwhile. (A consumer that is behind is not woken by a
            // batch, so the reader does not move between workers for it.)
            drop(st);
            tokio::task::yield_now().await;
        }
        pulls_seen = seat.pulls.load(Ordering::Relaxed);
    }
}

#[cfg(test)]
#[path = "reader_tests.rs"]
mod tests;
