//! One live connection: a reader task that decodes and routes every inbound frame (see
//! `rpc/reader.rs`), a writer task that batches outbound lines, the pending map, and the child
//! process (if any).
//!
//! Ownership: the `Connection` owns the child. The tasks only hold weak references to it, so
//! dropping the connection kills the child's process group, which ends the tasks.

use super::message;
use super::metrics::Metrics;
use super::pending::{ClosedInfo, PendingMap};
use super::reader::{read_loop, ReadLoop, Seat};
use super::retry::{RetryPolicy, OVERLOADED};
use super::router::Router;
use super::server_requests::HandlerRegistry;
use crate::error::{Error, Result};
use crate::transport::{MessageSender, ProcessHandle, Transport};
use serde::Serialize;
use serde_json::value::RawValue;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, oneshot, watch, Mutex};
use tokio::task::JoinHandle;

/// Capacity of the outbound queue (lines waiting for the writer task).
const OUTGOING_CAPACITY: usize = 4096;
/// Most lines the writer takes before one flush.
const WRITE_BATCH: usize = 512;

/// A protocol problem seen on the inbound stream. Reported, counted, never fatal.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProtocolIssue {
    /// What kind of problem.
    pub kind: ProtocolIssueKind,
    /// Human-readable detail (with a snippet of the offending line).
    pub detail: String,
}

/// Kinds of [`ProtocolIssue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolIssueKind {
    /// Not JSON, or not a JSON-RPC shape.
    Malformed,
    /// Longer than the maximum line size.
    Oversize,
    /// A notification whose params did not fit the typed shape (delivered as `Unknown`).
    DecodeFallback,
    /// A response for an id no call waits for.
    UnmatchedResponse,
    /// A server-request handler panicked; the request was answered fail-closed (decline for
    /// approvals, an error otherwise). The detail names the method and the panic message.
    HandlerPanicked,
}

/// State shared by every connection of one runtime (survives restarts).
#[derive(Debug)]
pub(crate) struct Shared {
    pub router: Arc<Router>,
    pub handlers: Arc<HandlerRegistry>,
    pub metrics: Arc<Metrics>,
    pub issues: broadcast::Sender<ProtocolIssue>,
    pub seq: AtomicU64,
}

pub(crate) enum Outgoing {
    Line(Vec<u8>),
    Close(oneshot::Sender<()>),
}

/// One connection to an app-server.
#[derive(Debug)]
pub(crate) struct Connection {
    outgoing: mpsc::Sender<Outgoing>,
    pending: Arc<PendingMap>,
    process: Arc<Mutex<Option<ProcessHandle>>>,
    pid: Option<u32>,
    closed: watch::Receiver<Option<ClosedInfo>>,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
    shared: Arc<Shared>,
    retry: RetryPolicy,
    /// The read side (owned by the reader task).
    seat: Weak<Seat>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.reader.abort();
        self.writer.abort();
        // The ProcessHandle (if this was its last owner) kills the process group on drop.
    }
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outgoing::Line(l) => write!(f, "Line({} bytes)", l.len()),
            Outgoing::Close(_) => write!(f, "Close"),
        }
    }
}

impl Connection {
    /// Starts the reader and writer tasks over `transport`.
    ///
    /// `close_router_on_exit`: when the connection ends, close every subscription too (false
    /// when a restart policy will bring up a new connection).
    pub fn start(
        transport: Transport,
        shared: Arc<Shared>,
        retry: RetryPolicy,
        close_router_on_exit: bool,
    ) -> Self {
        let Transport {
            sender,
            receiver,
            process,
        } = transport;
        let pid = process.as_ref().and_then(ProcessHandle::pid);
        let process = Arc::new(Mutex::new(process));
        let pending = Arc::new(PendingMap::default());
        let (out_tx, out_rx) = mpsc::channel(OUTGOING_CAPACITY);
        let (closed_tx, closed_rx) = watch::channel(None);
        let writer = tokio::spawn(write_loop(sender, out_rx, Arc::clone(&shared.metrics)));
        let seat = Arc::new(Seat::new(
            receiver,
            ReadLoop {
                runtime: tokio::runtime::Handle::current(),
                shared: Arc::clone(&shared),
                pending: Arc::clone(&pending),
                outgoing: out_tx.clone(),
                process: Arc::downgrade(&process),
                closed: closed_tx,
                close_router_on_exit,
            },
        ));
        // Consumers that wait may read this connection while its reader task steps back.
        let seat_ref = Arc::downgrade(&seat);
        shared.router.set_seat(Weak::clone(&seat_ref));
        let reader = tokio::spawn(read_loop(seat));
        Connection {
            outgoing: out_tx,
            pending,
            process,
            pid,
            closed: closed_rx,
            reader,
            writer,
            shared,
            retry,
            seat: seat_ref,
        }
    }

    /// The child's pid, for stdio connections.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Calls waiting for a reply.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// A receiver that yields `Some` once the connection has closed.
    pub fn closed(&self) -> watch::Receiver<Option<ClosedInfo>> {
        self.closed.clone()
    }

    fn closed_error(&self) -> Error {
        match self.closed.borrow().as_ref() {
            Some(info) => closed_to_error(info),
            None => Error::Shutdown,
        }
    }

    /// Sends a request and waits for its raw result; retries `-32001` per the retry policy.
    ///
    /// # Cancel safety
    /// Dropping the future removes the call from the pending map; a late reply is counted as
    /// unmatched and discarded.
    pub async fn call_raw<P: Serialize + ?Sized>(
        &self,
        method: &str,
        params: &P,
        timeout: Duration,
    ) -> Result<Box<RawValue>> {
        let mut attempt = 1;
        loop {
            match self.call_once(method, params, timeout).await {
                Err(Error::Rpc { code, .. })
                    if code == OVERLOADED && attempt < self.retry.max_attempts =>
                {
                    Metrics::inc(&self.shared.metrics.overload_retries);
                    let delay = self.retry.backoff(attempt);
                    tracing::debug!(method, attempt, ?delay, "server overloaded; retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(Error::Rpc { code, .. })
                    if code == OVERLOADED && self.retry.max_attempts > 1 =>
                {
                    return Err(Error::Overloaded {
                        method: method.to_string(),
                        attempts: attempt,
                    })
                }
                other => return other,
            }
        }
    }

    async fn call_once<P: Serialize + ?Sized>(
        &self,
        method: &str,
        params: &P,
        timeout: Duration,
    ) -> Result<Box<RawValue>> {
        let start = Instant::now();
        let (guard, rx) = self.pending.register().map_err(|i| closed_to_error(&i))?;
        let line = message::encode_request(guard.id(), method, params)
            .map_err(|e| Error::Protocol(format!("cannot encode the params of `{method}`: {e}")))?;
        let exchange = async {
            self.outgoing
                .send(Outgoing::Line(line))
                .await
                .map_err(|_| self.closed_error())?;
            if let Some(seat) = self.seat.upgrade() {
                seat.call_sent();
            }
            match rx.await {
                Ok(Ok(Ok(raw))) => Ok(raw),
                Ok(Ok(Err(e))) => Err(Error::Rpc {
                    method: method.to_string(),
                    code: e.code,
                    message: e.message,
                    data: e.data,
                }),
                Ok(Err(info)) => Err(closed_to_error(&info)),
                Err(_) => Err(self.closed_error()),
            }
        };
        let result = tokio::time::timeout(timeout, exchange).await;
        drop(guard);
        match result {
            Ok(r) => r,
            Err(_) => {
                Metrics::inc(&self.shared.metrics.timeouts);
                Err(Error::Timeout {
                    method: method.to_string(),
                    elapsed: start.elapsed(),
                })
            }
        }
    }

    /// Sends a notification.
    pub async fn notify<P: Serialize + ?Sized>(&self, method: &str, params: &P) -> Result<()> {
        let line = message::encode_notification(method, params)
            .map_err(|e| Error::Protocol(format!("cannot encode the params of `{method}`: {e}")))?;
        self.outgoing
            .send(Outgoing::Line(line))
            .await
            .map_err(|_| self.closed_error())
    }

    /// Graceful stop: flush and close stdin, wait up to `grace` for the child to exit, then kill
    /// its process group. Returns the child's exit info.
    pub async fn shutdown(&self, grace: Duration) -> Option<crate::transport::process::ExitInfo> {
        let (ack_tx, ack_rx) = oneshot::channel();
        if self.outgoing.send(Outgoing::Close(ack_tx)).await.is_ok() {
            let _ = tokio::time::timeout(grace, ack_rx).await;
        }
        let mut guard = self.process.lock().await;
        let exit = match guard.as_mut() {
            Some(p) => match p.wait_timeout(grace).await {
                Some(e) => Some(e),
                None => {
                    tracing::warn!(?grace, "codex did not exit after stdin closed; killing it");
                    p.kill().await
                }
            },
            None => None,
        };
        drop(guard);
        // Let the reader observe EOF and fail what is still pending.
        let mut closed = self.closed.clone();
        let _ = tokio::time::timeout(grace, closed.wait_for(Option::is_some)).await;
        exit
    }
}

pub(crate) fn closed_to_error(info: &ClosedInfo) -> Error {
    Error::TransportClosed {
        exit_code: info.exit_code,
        signal: info.signal,
        stderr_tail: info.stderr_tail.clone(),
    }
}

async fn write_loop(
    mut sender: Box<dyn MessageSender>,
    mut rx: mpsc::Receiver<Outgoing>,
    metrics: Arc<Metrics>,
) {
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        let mut n = 0;
        while let Some(msg) = next.take() {
            match msg {
                Outgoing::Line(line) => {
                    if let Err(e) = sender.send(&line).await {
                        tracing::warn!("writing to codex failed: {e}");
                        return;
                    }
                    Metrics::inc(&metrics.messages_out);
                }
                Outgoing::Close(ack) => {
                    let _ = sender.close().await;
                    let _ = ack.send(());
                    return;
                }
            }
            n += 1;
            if n < WRITE_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if let Err(e) = sender.flush().await {
            tracing::warn!("flushing to codex failed: {e}");
            return;
        }
    }
    let _ = sender.close().await;
}
