//! Counters of a runtime, readable at any time as a [`MetricsSnapshot`].

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters shared by the reader, writer and callers.
#[derive(Debug, Default)]
pub struct Metrics {
    pub(crate) messages_in: AtomicU64,
    pub(crate) messages_out: AtomicU64,
    pub(crate) malformed_lines: AtomicU64,
    pub(crate) oversize_lines: AtomicU64,
    pub(crate) lag_drops: AtomicU64,
    pub(crate) overflow_pauses: AtomicU64,
    pub(crate) restarts: AtomicU64,
    pub(crate) decode_fallbacks: AtomicU64,
    pub(crate) server_requests: AtomicU64,
    pub(crate) server_requests_defaulted: AtomicU64,
    pub(crate) timeouts: AtomicU64,
    pub(crate) overload_retries: AtomicU64,
    pub(crate) unmatched_responses: AtomicU64,
    pub(crate) consumer_reads: AtomicU64,
}

/// A point-in-time copy of the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// Calls waiting for a reply right now.
    pub pending_calls: u64,
    /// Inbound messages (responses, notifications, server requests).
    pub messages_in: u64,
    /// Outbound messages.
    pub messages_out: u64,
    /// Inbound lines that were not valid JSON-RPC (oversize ones included).
    pub malformed_lines: u64,
    /// Inbound lines longer than the maximum line size.
    pub oversize_lines: u64,
    /// Droppable events (deltas) that slow subscribers lost, each reported as `Lagged`.
    pub lag_drops: u64,
    /// Times the reader paused for a subscriber whose queue was full but that had kept up (see
    /// `RuntimeConfig::overflow_pause`).
    pub overflow_pauses: u64,
    /// Times the app-server was restarted by the restart policy.
    pub restarts: u64,
    /// Notifications whose params did not fit the typed shape (delivered as `Unknown`).
    pub decode_fallbacks: u64,
    /// Server requests received.
    pub server_requests: u64,
    /// Server requests answered with the fail-closed default (no handler, or timeout).
    pub server_requests_defaulted: u64,
    /// Calls that timed out.
    pub timeouts: u64,
    /// `-32001` retries.
    pub overload_retries: u64,
    /// Responses whose id matched no pending call (late replies after a timeout, mostly).
    pub unmatched_responses: u64,
    /// Reads of the connection done by a consumer waiting in `recv` on its own thread instead
    /// of by the connection's reader task, each taking every frame readable at that moment (up
    /// to one batch): floods read from outside a tokio task, see the guide's "Reading events".
    pub consumer_reads: u64,
}

impl Metrics {
    pub(crate) fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads every counter.
    pub fn snapshot(&self, pending_calls: u64) -> MetricsSnapshot {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        MetricsSnapshot {
            pending_calls,
            messages_in: r(&self.messages_in),
            messages_out: r(&self.messages_out),
            malformed_lines: r(&self.malformed_lines),
            oversize_lines: r(&self.oversize_lines),
            lag_drops: r(&self.lag_drops),
            overflow_pauses: r(&self.overflow_pauses),
            restarts: r(&self.restarts),
            decode_fallbacks: r(&self.decode_fallbacks),
            server_requests: r(&self.server_requests),
            server_requests_defaulted: r(&self.server_requests_defaulted),
            timeouts: r(&self.timeouts),
            overload_retries: r(&self.overload_retries),
            unmatched_responses: r(&self.unmatched_responses),
            consumer_reads: r(&self.consumer_reads),
        }
    }
}
