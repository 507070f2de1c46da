//! [`FlowStore`]: where events and runs are recorded, whatever runs them. Dispatch only records:
//! an event and its queued runs are written in one transaction (an outbox); execution belongs to
//! a runner (the local client's in-process runner, or `codex-flow worker` processes leasing runs
//! from a `PostgresFlowStore`).
//!
//! - `SqliteFlowStore` (Cargo feature `sqlite`, default): one machine, the embedded default
//!   (`<cwd>/.codex/flow-client`).
//! - `PostgresFlowStore` (Cargo feature `server`): many machines; also implements leasing
//!   (`PostgresFlowStore::lease`), heartbeats, fenced results, retries with backoff and
//!   dead-letter.
//!
//! [`queued_dispatch`] builds what dispatching an event records (the event and its queued runs
//! with their retry policies), for `codex-flow serve` and for the `next` events workers
//! dispatch.

mod dispatch;
#[cfg(feature = "server")]
mod postgres;
#[cfg(feature = "server")]
mod postgres_lease;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use dispatch::{next_dispatch, package_hashes, queued_dispatch, NextEvents, QueuedRun};
#[cfg(feature = "server")]
pub use postgres::PostgresFlowStore;
#[cfg(feature = "server")]
pub use postgres_lease::{AttemptEnd, Heartbeat, LeasedRun, StoreMetrics};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteFlowStore;

use futures::future::BoxFuture;

use crate::error::Result;
use crate::run_view::RunView;
pub use crate::state::Claim;
use crate::state::{EventFilter, EventRecord, RunFilter};

/// One replay run to record: the step and the package hash it is matched against now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayPlan {
    /// The flow name.
    pub flow: String,
    /// The step name.
    pub step: String,
    /// The flow package's content hash.
    pub package_hash: Option<String>,
}

/// Events and runs, recorded atomically; every method is one transaction.
pub trait FlowStore: Send + Sync {
    /// Records `record` and its queued `runs` in one transaction, unless the event id is
    /// already stored ([`Claim::Duplicate`] with the stored run ids; nothing is written).
    fn record_event(&self, record: EventRecord, runs: Vec<RunView>)
        -> BoxFuture<'_, Result<Claim>>;
    /// Records one more replay of `event_id`: one queued run per plan entry, ids
    /// `run_id(event, flow, step, replay_nonce(n))`, appended to the event. An unknown event is
    /// [`crate::FlowError::UnknownEvent`].
    fn record_replay(
        &self,
        event_id: String,
        plan: Vec<ReplayPlan>,
    ) -> BoxFuture<'_, Result<Vec<RunView>>>;
    /// One run.
    fn get_run(&self, run_id: String) -> BoxFuture<'_, Result<Option<RunView>>>;
    /// Runs, newest first.
    fn list_runs(&self, filter: RunFilter) -> BoxFuture<'_, Result<Vec<RunView>>>;
    /// One event.
    fn get_event(&self, event_id: String) -> BoxFuture<'_, Result<Option<EventRecord>>>;
    /// Events, newest first.
    fn list_events(&self, filter: EventFilter) -> BoxFuture<'_, Result<Vec<EventRecord>>>;
    /// Cancels a run: a queued run becomes `canceled`; a running one gets `cancelRequested`
    /// (its runner stops the step). An unknown id is [`crate::FlowError::UnknownRun`].
    fn cancel_run(&self, run_id: String) -> BoxFuture<'_, Result<RunView>>;
}

/// The replay runs of `record` (whose `replays` is already the new count) for `plan`.
#[cfg(feature = "sqlite")]
pub(crate) fn replay_runs(record: &EventRecord, plan: &[ReplayPlan]) -> Vec<RunView> {
    let nonce = crate::ids::replay_nonce(record.replays);
    plan.iter()
        .map(|p| {
            let mut run = RunView::queued(
                crate::ids::run_id(&record.event.id, &p.flow, &p.step, Some(&nonce)),
                &record.event,
                &p.flow,
                &p.step,
                true,
            );
            run.package_hash = p.package_hash.clone();
            run
        })
        .collect()
}

/// The cancel transition shared by the stores; returns whether the run changed.
#[cfg(feature = "sqlite")]
pub(crate) fn apply_cancel(run: &mut RunView) -> bool {
    use crate::run_view::ProcessStatus;
    match run.process_status {
        Some(ProcessStatus::Queued) => {
            run.process_status = Some(ProcessStatus::Canceled);
            run.finished_at = Some(crate::timestamp::now_rfc3339());
            run.error = Some("canceled before it started".into());
            true
        }
        Some(ProcessStatus::Running) if !run.cancel_requested => {
            run.cancel_requested = true;
            true
        }
        _ => false,
    }
}
