//! `codex-flow worker`: leases runs from a [`PostgresFlowStore`] and executes them.
//!
//! - Up to `concurrency` runs at once; each flow's `max_concurrent_runs` applies too.
//! - One heartbeat per interval extends every lease this worker holds and brings cancel
//!   requests back; a lost lease stops its step (its result could not be written anyway: the
//!   attempt id fences it).
//! - Only runs whose package hash matches a package this worker has are leased.
//! - [`WorkerStop::Drain`] (SIGTERM): stop leasing, let running steps finish for up to the drain
//!   timeout, then stop the rest and hand their leases back. [`WorkerStop::Kill`] (SIGINT): stop
//!   every step's process group now and hand the leases back.
//! - The `next` events of a run's FLOW_RESULT are dispatched by the worker whose attempt won
//!   (its end was written, not fenced, and the run was not queued again for a retry): each is
//!   matched against this worker's flows ([`crate::store::next_dispatch`], as `codex-flow
//!   serve` matches a `POST /events`), at the run's event depth + 1, up to
//!   [`WorkerConfig::max_next_depth`], and recorded with its queued runs in the same
//!   transaction as the run's end ([`PostgresFlowStore::finish_attempt_run`]): the end and its
//!   next events commit together or not at all. A duplicate event id is not an error; a next
//!   event that is not recorded (depth limit, invalid) is logged and noted on the run.

mod identity;

pub use identity::new_worker_id;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::catalog::{FlowCatalog, LoadedFlow};
use crate::context::RuntimeMetadata;
use crate::error::Result;
use crate::progress::no_progress;
use crate::run_limits::RunLimits;
use crate::run_view::ProcessStatus;
use crate::step_runner::{RunnerConfig, StepRunner};
use crate::store::{
    next_dispatch, package_hashes, AttemptEnd, Heartbeat, LeasedRun, PostgresFlowStore,
};

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Runs executed at once (default 4).
    pub concurrency: usize,
    /// How long a lease lasts without a heartbeat (default 30 s).
    pub lease_ttl: Duration,
    /// Time between heartbeats; also the latency of a cancel (default 1 s).
    pub heartbeat_interval: Duration,
    /// Time between lease attempts when idle (default 250 ms).
    pub poll_interval: Duration,
    /// How long a draining worker lets running steps finish (default 30 s).
    pub drain_timeout: Duration,
    /// How deep `next` chains may go (default [`crate::DEFAULT_MAX_NEXT_DEPTH`], as the local
    /// client): the `next` events of a run whose event has depth `d` are recorded at depth
    /// `d + 1` only when `d + 1 <= max_next_depth`; otherwise they are dropped with a warning
    /// and a run note. 0 turns next-event dispatch off.
    pub max_next_depth: u32,
    /// How steps run.
    pub runner: RunnerConfig,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            concurrency: 4,
            lease_ttl: Duration::from_secs(30),
            heartbeat_interval: Duration::from_secs(1),
            poll_interval: Duration::from_millis(250),
            drain_timeout: Duration::from_secs(30),
            max_next_depth: crate::client::DEFAULT_MAX_NEXT_DEPTH,
            runner: RunnerConfig::default(),
        }
    }
}

/// Why a worker stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerStop {
    /// Finish running steps (up to the drain timeout), hand the rest back, exit.
    Drain,
    /// Stop every step's process group now, hand the leases back, exit.
    Kill,
}

/// What a worker did, returned when it stops.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerReport {
    /// Attempts whose result was written.
    pub finished: u64,
    /// Attempts whose result was refused because the lease had been taken over.
    pub fenced: u64,
    /// Leases handed back on shutdown.
    pub handed_back: u64,
}

struct ActiveRun {
    token: CancellationToken,
    hand_back: Arc<AtomicBool>,
    lost: Arc<AtomicBool>,
}

/// A worker bound to a store and a set of flow packages.
pub struct Worker {
    id: String,
    store: PostgresFlowStore,
    packages: HashMap<String, Arc<LoadedFlow>>,
    /// The flows `next` events are matched against, and their package hashes by flow name.
    catalog: FlowCatalog,
    hashes: HashMap<String, String>,
    config: WorkerConfig,
    runner: StepRunner,
    limits: Arc<RunLimits>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("id", &self.id)
            .field("packages", &self.packages.len())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// A worker for the flows of `catalog` (each package hashed now).
    pub fn new(
        store: PostgresFlowStore,
        catalog: &FlowCatalog,
        config: WorkerConfig,
    ) -> Result<Self> {
        let hashes = package_hashes(catalog)?;
        let packages = catalog
            .flows()
            .iter()
            .filter_map(|flow| Some((hashes.get(flow.name())?.clone(), flow.clone())))
            .collect();
        Ok(Worker {
            id: new_worker_id(),
            store,
            packages,
            catalog: catalog.clone(),
            hashes,
            runner: StepRunner::new(config.runner.clone()),
            limits: Arc::new(RunLimits::new(config.concurrency)),
            config,
        })
    }

    /// This worker's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Leases and runs until `stop` says otherwise.
    pub async fn run(self, mut stop: watch::Receiver<Option<WorkerStop>>) -> Result<WorkerReport> {
        let this = Arc::new(self);
        let hashes: Vec<String> = this.packages.keys().cloned().collect();
        let active: Arc<Mutex<HashMap<String, ActiveRun>>> = Arc::default();
        let mut tasks: JoinSet<RunEnd> = JoinSet::new();
        let mut heartbeat = tokio::time::interval(this.config.heartbeat_interval);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut report = WorkerReport::default();
        let mut draining: Option<tokio::time::Instant> = None;
        let mut watching = true;
        tracing::info!(worker = %this.id, packages = hashes.len(), "worker started");
        loop {
            if draining.is_none() {
                let free = this.config.concurrency.saturating_sub(tasks.len());
                if free > 0 {
                    match this
                        .store
                        .lease(&this.id, &hashes, free, this.config.lease_ttl)
                        .await
                    {
                        Ok(leased) => {
                            for run in leased {
                                this.spawn_run(run, &active, &mut tasks);
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "lease failed; retrying"),
                    }
                }
            } else if tasks.is_empty() {
                break;
            }
            let full = tasks.len() >= this.config.concurrency;
            tokio::select! {
                _ = heartbeat.tick() => this.beat(&active).await,
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    match done {
                        Ok(RunEnd::Finished) => report.finished += 1,
                        Ok(RunEnd::Fenced) => report.fenced += 1,
                        Ok(RunEnd::HandedBack) => report.handed_back += 1,
                        Ok(RunEnd::NotRecorded) => {}
                        Err(e) => tracing::error!(error = %e, "run task failed"),
                    }
                }
                _ = tokio::time::sleep(this.config.poll_interval), if draining.is_none() && !full => {}
                changed = stop.changed(), if watching => {
                    // A closed channel (the sender went away) counts as a drain request.
                    let what = match changed {
                        Ok(()) => *stop.borrow(),
                        Err(_) => {
                            watching = false;
                            Some(WorkerStop::Drain)
                        }
                    };
                    match what {
                        Some(WorkerStop::Drain) if draining.is_none() => {
                            tracing::info!(worker = %this.id, running = tasks.len(), "draining");
                            draining = Some(tokio::time::Instant::now() + this.config.drain_timeout);
                        }
                        Some(WorkerStop::Kill) => {
                            tracing::info!(worker = %this.id, running = tasks.len(), "stopping steps");
                            stop_all(&active);
                            draining = Some(tokio::time::Instant::now() + this.config.drain_timeout);
                            watching = false;
                        }
                        _ => {}
                    }
                }
                _ = tokio::time::sleep_until(draining.unwrap_or_else(tokio::time::Instant::now)), if draining.is_some() => {
                    stop_all(&active);
                    draining = Some(tokio::time::Instant::now() + this.config.drain_timeout);
                }
            }
        }
        tracing::info!(worker = %this.id, ?report, "worker stopped");
        Ok(report)
    }

    fn spawn_run(
        self: &Arc<Self>,
        leased: LeasedRun,
        active: &Arc<Mutex<HashMap<String, ActiveRun>>>,
        tasks: &mut JoinSet<RunEnd>,
    ) {
        let token = CancellationToken::new();
        let hand_back = Arc::new(AtomicBool::new(false));
        let lost = Arc::new(AtomicBool::new(false));
        if let Ok(mut map) = active.lock() {
            map.insert(
                leased.attempt_id.clone(),
                ActiveRun {
                    token: token.clone(),
                    hand_back: hand_back.clone(),
                    lost: lost.clone(),
                },
            );
        }
        let this = self.clone();
        let active = active.clone();
        tasks.spawn(async move {
            let attempt = leased.attempt_id.clone();
            let end = this.execute(leased, token, hand_back, lost).await;
            if let Ok(mut map) = active.lock() {
                map.remove(&attempt);
            }
            end
        });
    }

    async fn beat(&self, active: &Arc<Mutex<HashMap<String, ActiveRun>>>) {
        let ids: Vec<String> = match active.lock() {
            Ok(map) => map.keys().cloned().collect(),
            Err(_) => return,
        };
        let beats = match self.store.heartbeat(&ids, self.config.lease_ttl).await {
            Ok(beats) => beats,
            Err(e) => {
                tracing::warn!(error = %e, "heartbeat failed");
                return;
            }
        };
        let Ok(map) = active.lock() else { return };
        for (attempt, beat) in beats {
            let Some(run) = map.get(&attempt) else {
                continue;
            };
            match beat {
                Heartbeat::Held {
                    cancel_requested: true,
                } => run.token.cancel(),
                Heartbeat::Held { .. } => {}
                Heartbeat::Lost => {
                    tracing::warn!(attempt, "lease lost; stopping the step");
                    run.lost.store(true, Ordering::SeqCst);
                    run.token.cancel();
                }
            }
        }
    }

    async fn execute(
        &self,
        leased: LeasedRun,
        token: CancellationToken,
        hand_back: Arc<AtomicBool>,
        lost: Arc<AtomicBool>,
    ) -> RunEnd {
        let run_id = leased.run.id.clone();
        let attempt = leased.attempt_id.clone();
        let flow = leased
            .run
            .package_hash
            .as_ref()
            .and_then(|h| self.packages.get(h))
            .cloned();
        let found = flow.and_then(|f| {
            let index = f.steps.iter().position(|s| s.name() == leased.run.step)?;
            Some((f, index))
        });
        let end = match found {
            Some((flow, index)) => {
                let step = &flow.steps[index];
                let permits = tokio::select! {
                    p = self.limits.acquire(&flow) => Some(p),
                    _ = token.cancelled() => None,
                };
                let runtime = RuntimeMetadata {
                    event_id: leased.event.id.clone(),
                    run_id: Some(run_id.clone()),
                    attempt_id: Some(attempt.clone()),
                    replay: leased.run.replay,
                    workspace_backend_url: None,
                    launched_by: Some(format!("codex-flow worker {}", self.id)),
                };
                let outcome = self
                    .runner
                    .run(&flow, step, &leased.event, runtime, &token, &no_progress())
                    .await;
                drop(permits);
                AttemptEnd {
                    process_status: outcome.process_status,
                    result: outcome.result,
                    error: outcome.error.map(|e| e.to_string()),
                    exit_code: outcome.exit_code,
                    stdout: outcome.stdout,
                    stderr: outcome.stderr,
                }
            }
            None => AttemptEnd {
                process_status: ProcessStatus::Failed,
                result: None,
                error: Some(format!(
                    "step {}/{} is not in this worker's package {}",
                    leased.run.flow,
                    leased.run.step,
                    leased.run.package_hash.as_deref().unwrap_or("-")
                )),
                exit_code: None,
                stdout: Default::default(),
                stderr: Default::default(),
            },
        };
        if hand_back.load(Ordering::SeqCst) {
            return match self
                .store
                .release(
                    &run_id,
                    &attempt,
                    &format!("handed back by worker {} on shutdown", self.id),
                )
                .await
            {
                Ok(true) => RunEnd::HandedBack,
                Ok(false) => RunEnd::Fenced,
                Err(e) => {
                    tracing::error!(run_id, error = %e, "cannot hand the lease back");
                    RunEnd::NotRecorded
                }
            };
        }
        if lost.load(Ordering::SeqCst) {
            return RunEnd::Fenced;
        }
        let next = next_dispatch(
            &self.catalog,
            &self.hashes,
            end.result.as_ref(),
            leased.event_depth,
            self.config.max_next_depth,
        );
        let skipped = next.notes.clone();
        match self
            .store
            .finish_attempt_run(&run_id, &attempt, end, next)
            .await
        {
            Ok(Some(run)) => {
                if run.process_status != Some(ProcessStatus::Queued) {
                    // The end was written with the next events; these were left out.
                    for note in &skipped {
                        tracing::warn!(run_id, "{note}");
                    }
                }
                RunEnd::Finished
            }
            Ok(None) => {
                tracing::warn!(run_id, attempt, "result refused: the lease was taken over");
                RunEnd::Fenced
            }
            Err(e) => {
                tracing::error!(run_id, error = %e, "cannot record the run's end (nor its next events)");
                RunEnd::NotRecorded
            }
        }
    }
}

enum RunEnd {
    Finished,
    Fenced,
    HandedBack,
    NotRecorded,
}

fn stop_all(active: &Arc<Mutex<HashMap<String, ActiveRun>>>) {
    if let Ok(map) = active.lock() {
        for run in map.values() {
            run.hand_back.store(true, Ordering::SeqCst);
            run.token.cancel();
        }
    }
}
