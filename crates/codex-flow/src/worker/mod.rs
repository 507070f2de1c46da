//! `codex-flow worker`: leases runs from a [`PostgresFlowStore`] and executes them.
//!
//! - Up to `concurrency` runs at once; each flow's `max_concurrent_runs` applies too.
//! - One heartbeat per interval, on its own task ([`lease_keeper`]), extends every lease this
//!   worker holds and brings cancel requests back; a lost lease stops its step (its result
//!   could not be written anyway: the attempt id fences it).
//! - Each lease has a local deadline: the last successful renewal + TTL − 3/8 TTL. A step
//!   whose lease was not renewed by then (the database is unreachable) is stopped (with a kill
//!   grace of at most TTL/4), so it is dead before another worker can take the run over.
//! - A finished attempt whose end cannot be written keeps its result and retries the write
//!   ([`finish`]) until it lands, is fenced, or the lease is known lost.
//! - Every store call is bounded (TTL/4, at least 200 ms); the pool's waits and the server's
//!   statements are bounded too ([`crate::store::PostgresFlowStore::connect`]).
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

mod finish;
mod identity;
mod lease_keeper;

pub use identity::new_worker_id;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lease_keeper::{heartbeat_loop, lease_deadline, ActiveRun, ActiveRuns, LeaseTiming};

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
use crate::store::{next_dispatch, package_hashes, AttemptEnd, LeasedRun, PostgresFlowStore};

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
    /// Attempts whose end could not be written (the database did not answer in time, or the
    /// worker stopped first); their lease lapses and the run is taken over.
    pub not_recorded: u64,
    /// Steps stopped at their lease's local deadline because no heartbeat renewed it.
    pub expired: u64,
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
            runner: StepRunner::new(RunnerConfig {
                // A step stopped at its lease deadline must be dead before the lease ends.
                kill_grace: config.runner.kill_grace.min(
                    LeaseTiming {
                        ttl: config.lease_ttl,
                        heartbeat: config.heartbeat_interval,
                    }
                    .kill_grace(),
                ),
                ..config.runner.clone()
            }),
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
        let active: ActiveRuns = Arc::default();
        let mut tasks: JoinSet<RunEnd> = JoinSet::new();
        let timing = this.timing();
        let heartbeats = AbortOnDrop(tokio::spawn(heartbeat_loop(
            this.store.clone(),
            active.clone(),
            timing,
        )));
        let mut report = WorkerReport::default();
        let mut draining: Option<tokio::time::Instant> = None;
        let mut watching = true;
        tracing::info!(worker = %this.id, packages = hashes.len(), "worker started");
        loop {
            if draining.is_none() {
                let free = this.config.concurrency.saturating_sub(tasks.len());
                if free > 0 {
                    let lease = this
                        .store
                        .lease(&this.id, &hashes, free, this.config.lease_ttl);
                    match tokio::time::timeout(timing.op_timeout(), lease).await {
                        Ok(Ok(leased)) => {
                            for run in leased {
                                this.spawn_run(run, &active, &mut tasks);
                            }
                        }
                        Ok(Err(e)) => tracing::warn!(error = %e, "lease failed; retrying"),
                        Err(_) => tracing::warn!("lease timed out; retrying"),
                    }
                }
            } else if tasks.is_empty() {
                break;
            }
            let full = tasks.len() >= this.config.concurrency;
            tokio::select! {
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    match done {
                        Ok(RunEnd::Finished) => report.finished += 1,
                        Ok(RunEnd::Fenced) => report.fenced += 1,
                        Ok(RunEnd::HandedBack) => report.handed_back += 1,
                        Ok(RunEnd::NotRecorded) => report.not_recorded += 1,
                        Ok(RunEnd::Expired) => report.expired += 1,
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
        drop(heartbeats);
        tracing::info!(worker = %this.id, ?report, "worker stopped");
        Ok(report)
    }

    fn timing(&self) -> LeaseTiming {
        LeaseTiming {
            ttl: self.config.lease_ttl,
            heartbeat: self.config.heartbeat_interval,
        }
    }

    fn spawn_run(
        self: &Arc<Self>,
        leased: LeasedRun,
        active: &ActiveRuns,
        tasks: &mut JoinSet<RunEnd>,
    ) {
        // The lease was granted no earlier than now.
        let lease = Lease {
            token: CancellationToken::new(),
            hand_back: Arc::new(AtomicBool::new(false)),
            lost: Arc::new(AtomicBool::new(false)),
            renewed: Arc::new(Mutex::new(tokio::time::Instant::now())),
        };
        if let Ok(mut map) = active.lock() {
            map.insert(
                leased.attempt_id.clone(),
                ActiveRun {
                    token: lease.token.clone(),
                    hand_back: lease.hand_back.clone(),
                    lost: lease.lost.clone(),
                    renewed: lease.renewed.clone(),
                },
            );
        }
        let this = self.clone();
        let active = active.clone();
        tasks.spawn(async move {
            let attempt = leased.attempt_id.clone();
            let end = this.execute(leased, lease).await;
            if let Ok(mut map) = active.lock() {
                map.remove(&attempt);
            }
            end
        });
    }

    async fn execute(&self, leased: LeasedRun, lease: Lease) -> RunEnd {
        let Lease {
            token,
            hand_back,
            lost,
            renewed,
        } = &lease;
        let timing = self.timing();
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
                let expired = AtomicBool::new(false);
                let runtime = RuntimeMetadata {
                    event_id: leased.event.id.clone(),
                    run_id: Some(run_id.clone()),
                    attempt_id: Some(attempt.clone()),
                    replay: leased.run.replay,
                    workspace_backend_url: None,
                    launched_by: Some(format!("codex-flow worker {}", self.id)),
                };
                let progress = no_progress();
                let running =
                    self.runner
                        .run(&flow, step, &leased.event, runtime, token, &progress);
                tokio::pin!(running);
                // The step runs until it ends or its lease's local deadline passes without a
                // renewal (the database is unreachable): then it is stopped, before the lease
                // can be taken over.
                let outcome = tokio::select! {
                    outcome = &mut running => outcome,
                    _ = lease_deadline(renewed, timing) => {
                        tracing::warn!(run_id, attempt, "lease not renewed in time; stopping the step");
                        expired.store(true, Ordering::SeqCst);
                        token.cancel();
                        running.await
                    }
                };
                drop(permits);
                // Stopped at the deadline: nothing to record. A step that finished by itself
                // meanwhile is recorded like any other (the write is fenced).
                if expired.load(Ordering::SeqCst)
                    && outcome.process_status == ProcessStatus::Canceled
                {
                    return self.give_up_expired(&run_id, &attempt, timing).await;
                }
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
        // A step stopped for the shutdown is handed back; one that ended by itself (even as
        // the shutdown began) is recorded.
        if hand_back.load(Ordering::SeqCst) && end.process_status == ProcessStatus::Canceled {
            let why = format!("handed back by worker {} on shutdown", self.id);
            let release = self.store.release(&run_id, &attempt, &why);
            return match tokio::time::timeout(timing.op_timeout(), release).await {
                Ok(Ok(true)) => RunEnd::HandedBack,
                Ok(Ok(false)) => RunEnd::Fenced,
                Ok(Err(e)) => {
                    tracing::error!(run_id, error = %e, "cannot hand the lease back");
                    RunEnd::NotRecorded
                }
                Err(_) => {
                    tracing::error!(run_id, "handing the lease back timed out");
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
        self.record_end(&run_id, &attempt, end, next, &lease).await
    }
}

/// The handles of one lease, shared with the heartbeat task.
struct Lease {
    token: CancellationToken,
    hand_back: Arc<AtomicBool>,
    lost: Arc<AtomicBool>,
    renewed: Arc<Mutex<tokio::time::Instant>>,
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

enum RunEnd {
    Finished,
    Fenced,
    HandedBack,
    NotRecorded,
    Expired,
}

fn stop_all(active: &ActiveRuns) {
    if let Ok(map) = active.lock() {
        for run in map.values() {
            run.hand_back.store(true, Ordering::SeqCst);
            run.token.cancel();
        }
    }
}
