//! Starting automations ([`spawn`], [`spawn_with`], [`try_spawn`], [`try_spawn_with`]) and the
//! runner task that drives one target through its schedule.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::FutureExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use crate::clock::{deadline_for, Clock};
use crate::error::AutomationError;
use crate::handle::{AutomationHandle, Control, StopMode};
use crate::options::{AutomationOptions, CatchUp, ErrorPolicy};
use crate::schedule::{Schedule, Slot};
use crate::spec::AutomationSpec;
use crate::status::{AutomationState, AutomationStatus, RunReport};
use crate::store::{ScheduleRecord, ScheduleStore};
use crate::target::{AutomationTarget, BoxFuture, TurnFailure};
use crate::time_format::rfc3339;

/// Starts an automation of `target` with default options.
///
/// Returns the handle itself. If the spec is invalid (`every` is zero) or no tokio runtime is
/// running, nothing runs and the handle reports the `Failed` state with the typed error at
/// once; use [`try_spawn`] to get that error as a `Result`.
///
/// ```no_run
/// # use codex_automation::{AutomationTarget, BoxFuture, TurnFailure};
/// # struct Session;
/// # impl AutomationTarget for Session {
/// #     type Outcome = String;
/// #     fn run_turn<'a>(&'a self, p: &'a str) -> BoxFuture<'a, Result<String, TurnFailure>> {
/// #         Box::pin(async move { Ok(p.to_string()) })
/// #     }
/// #     fn interrupt<'a>(&'a self) -> BoxFuture<'a, Result<(), TurnFailure>> { Box::pin(async { Ok(()) }) }
/// # }
/// # async fn demo(session: Session) {
/// use std::time::Duration;
/// use codex_automation::{spawn, AutomationSpec};
///
/// let handle = spawn(session, AutomationSpec {
///     prompt: "Check the build".into(),
///     start_at: None,
///     every: Duration::from_secs(600),
///     stop_at: None,
///     max_runs: Some(3),
/// });
/// let status = handle.wait().await;
/// println!("{status:?}");
/// # }
/// ```
pub fn spawn<T: AutomationTarget>(target: T, spec: AutomationSpec) -> AutomationHandle<T::Outcome> {
    spawn_with(target, spec, AutomationOptions::default())
}

/// Starts an automation of `target` with `options`; invalid input gives a `Failed` handle (see
/// [`spawn`]).
pub fn spawn_with<T: AutomationTarget>(
    target: T,
    spec: AutomationSpec,
    options: AutomationOptions,
) -> AutomationHandle<T::Outcome> {
    match try_spawn_with(target, spec, options) {
        Ok(handle) => handle,
        Err(error) => {
            tracing::warn!(%error, "automation not started");
            AutomationHandle::failed(error)
        }
    }
}

/// Like [`spawn`], but returns invalid input as an error instead of a failed handle.
pub fn try_spawn<T: AutomationTarget>(
    target: T,
    spec: AutomationSpec,
) -> Result<AutomationHandle<T::Outcome>, AutomationError> {
    try_spawn_with(target, spec, AutomationOptions::default())
}

/// Like [`spawn_with`], but returns invalid input as an error instead of a failed handle.
///
/// Errors found only once the runner reads the store (such as
/// [`AutomationError::StoreCorrupt`]) still arrive through the handle's status.
pub fn try_spawn_with<T: AutomationTarget>(
    target: T,
    spec: AutomationSpec,
    options: AutomationOptions,
) -> Result<AutomationHandle<T::Outcome>, AutomationError> {
    if spec.every.is_zero() {
        return Err(AutomationError::InvalidInterval { every: spec.every });
    }
    options.validate()?;
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| AutomationError::NoRuntime)?;

    let (status_tx, status_rx) = watch::channel(AutomationStatus::initial());
    let (control_tx, control_rx) = watch::channel(Control::Run);
    let (reports_tx, _) = broadcast::channel(options.report_capacity);
    let handle = AutomationHandle::new(status_rx, control_tx, reports_tx.downgrade());
    let rng = match options.jitter_seed {
        Some(seed) => StdRng::seed_from_u64(seed),
        None => StdRng::from_rng(&mut rand::rng()),
    };
    let runner = Runner {
        target,
        spec,
        options,
        rng,
        status: status_tx,
        reports: reports_tx,
        control: control_rx,
        record: ScheduleRecord::default(),
        last_slot: None,
    };
    runtime.spawn(runner.run());
    Ok(handle)
}

/// What runs next.
#[derive(Debug, Clone, Copy)]
enum NextRun {
    /// A due time of the schedule.
    Slot(Slot),
    /// A retry after a failure, due at this time.
    Retry(SystemTime),
}

/// How the schedule ended without an error.
enum Ending {
    Stopped,
    Finished,
}

struct Runner<T: AutomationTarget> {
    target: T,
    spec: AutomationSpec,
    options: AutomationOptions,
    rng: StdRng,
    status: watch::Sender<AutomationStatus<T::Outcome>>,
    reports: broadcast::Sender<RunReport<T::Outcome>>,
    control: watch::Receiver<Control>,
    /// The progress, mirrored to the store when there is one.
    record: ScheduleRecord,
    /// The scheduled due time served by the last scheduled run.
    last_slot: Option<SystemTime>,
}

impl<T: AutomationTarget> Runner<T> {
    async fn run(mut self) {
        let ending = self.drive().await;
        self.status.send_modify(|status| {
            status.next_due = None;
            match ending {
                Ok(Ending::Stopped) => status.state = AutomationState::Stopped,
                Ok(Ending::Finished) => status.state = AutomationState::Finished,
                Err(error) => {
                    tracing::warn!(%error, "automation failed");
                    status.state = AutomationState::Failed;
                    status.last_error = Some(error);
                }
            }
        });
    }

    fn clock(&self) -> Arc<dyn Clock> {
        Arc::clone(&self.options.clock)
    }

    async fn drive(&mut self) -> Result<Ending, AutomationError> {
        let (schedule, mut next) = self.restore().await?;
        loop {
            if let Some(max) = self.spec.max_runs {
                if self.record.runs_finished >= max {
                    return Ok(Ending::Finished);
                }
            }
            let Some(run) = next else {
                return Ok(Ending::Finished);
            };
            let now = self.clock().now();
            let planned = match run {
                NextRun::Slot(Slot {
                    at,
                    collapsed: false,
                }) => at.checked_add(self.jitter()).unwrap_or(at),
                NextRun::Slot(Slot {
                    at,
                    collapsed: true,
                }) => at.max(now),
                NextRun::Retry(at) => at,
            };
            if self.spec.stop_at.is_some_and(|stop_at| planned >= stop_at) {
                return Ok(Ending::Finished);
            }
            self.status.send_modify(|status| {
                status.state = AutomationState::Waiting;
                status.next_due = Some(planned);
            });
            if self.wait_until(planned).await.is_some() {
                return Ok(Ending::Stopped);
            }
            if let NextRun::Slot(slot) = run {
                self.last_slot = Some(slot.at);
            }
            let (following, stop) = self.run_once(&schedule).await?;
            if stop.is_some() {
                return Ok(Ending::Stopped);
            }
            next = following;
        }
    }

    /// Builds the schedule and the first run from the spec, or from the store's record.
    async fn restore(&mut self) -> Result<(Schedule, Option<NextRun>), AutomationError> {
        let clock = self.clock();
        let now = clock.now();
        let stored = match &self.options.store {
            Some((store, id)) => load(Arc::clone(store), id.clone()).await?,
            None => None,
        };
        let Some(mut record) = stored else {
            let start = self.spec.start_at.unwrap_or(now);
            let schedule = self.schedule(start);
            // An interval's first due time is its anchor (at once if `start_at` has passed); a
            // cron schedule's is its first occurrence from now on.
            let from = match schedule {
                Schedule::Interval { .. } => start,
                #[cfg(feature = "cron")]
                Schedule::Cron(_) => start.max(now),
            };
            let first = schedule.first_at_or_after(from)?;
            self.record.next_due = first;
            self.persist().await?;
            return Ok((
                schedule,
                first.map(|at| {
                    NextRun::Slot(Slot {
                        at,
                        collapsed: false,
                    })
                }),
            ));
        };

        if record.runs_started > record.runs_finished {
            let error = AutomationError::InterruptedByRestart {
                run: record.runs_started,
                started_at: record.last_started_at.map(rfc3339).unwrap_or_default(),
            };
            tracing::warn!(%error, "counting the unfinished run as done; it is not re-run");
            record.runs_finished = record.runs_started;
            record.last_error = Some(error.to_string());
            self.status
                .send_modify(|status| status.last_error = Some(error.clone()));
        }
        let anchor = record
            .last_slot
            .or(record.next_due.filter(|_| !record.next_is_retry))
            .or(self.spec.start_at)
            .unwrap_or(now);
        let schedule = self.schedule(anchor);
        self.last_slot = record.last_slot;
        let next = match record.next_due {
            None if record.runs_finished == 0 => schedule
                .first_at_or_after(self.spec.start_at.unwrap_or(now))?
                .map(|at| {
                    NextRun::Slot(Slot {
                        at,
                        collapsed: false,
                    })
                }),
            None => None,
            Some(due) if due > now => Some(if record.next_is_retry {
                NextRun::Retry(due)
            } else {
                NextRun::Slot(Slot {
                    at: due,
                    collapsed: false,
                })
            }),
            Some(due) => match self.options.catch_up {
                CatchUp::RunOnce if record.next_is_retry => Some(NextRun::Retry(due)),
                CatchUp::RunOnce => {
                    let latest = schedule.latest_at_or_before(now)?.unwrap_or(due).max(due);
                    Some(NextRun::Slot(Slot {
                        at: latest,
                        collapsed: true,
                    }))
                }
                CatchUp::Skip => schedule.next_after(now)?.map(|at| {
                    NextRun::Slot(Slot {
                        at,
                        collapsed: false,
                    })
                }),
            },
        };
        record.next_due = match next {
            Some(NextRun::Slot(slot)) => Some(slot.at),
            Some(NextRun::Retry(at)) => Some(at),
            None => None,
        };
        record.next_is_retry = matches!(next, Some(NextRun::Retry(_)));
        tracing::debug!(
            runs_done = record.runs_finished,
            next_due = ?record.next_due.map(rfc3339),
            "automation restored from its store"
        );
        self.record = record;
        self.persist().await?;
        self.status.send_modify(|status| {
            status.runs_done = self.record.runs_finished;
            status.last_started_at = self.record.last_started_at;
            status.last_ended_at = self.record.last_ended_at;
            status.consecutive_failures = self.record.consecutive_failures;
        });
        Ok((schedule, next))
    }

    fn schedule(&self, anchor: SystemTime) -> Schedule {
        #[cfg(feature = "cron")]
        if let Some(cron) = &self.options.cron {
            return Schedule::Cron(cron.clone());
        }
        Schedule::Interval {
            anchor,
            every: self.spec.every,
        }
    }

    /// Runs one turn and records it; returns what runs next and whether a stop was requested.
    async fn run_once(
        &mut self,
        schedule: &Schedule,
    ) -> Result<(Option<NextRun>, Option<StopMode>), AutomationError> {
        let clock = self.clock();
        let run = self.record.runs_started.saturating_add(1);
        let started_at = clock.now();
        let scheduled_next = match self.last_slot {
            Some(slot) => schedule.next_after(slot)?,
            None => schedule.first_at_or_after(started_at)?,
        };
        self.record.runs_started = run;
        self.record.last_started_at = Some(started_at);
        self.record.last_slot = self.last_slot;
        self.record.next_due = scheduled_next;
        self.record.next_is_retry = false;
        self.persist().await?;
        self.status.send_modify(|status| {
            status.state = AutomationState::Running;
            status.last_started_at = Some(started_at);
            status.next_due = None;
        });
        tracing::debug!(run, "automation run started");

        let (result, stop) = run_turn(
            &self.target,
            &self.spec.prompt,
            &mut self.control,
            run,
            self.options.run_timeout,
            self.options.interrupt_grace,
        )
        .await;
        let ended_at = clock.now();

        let mut failure = None;
        let next = match &result {
            Ok(_) => {
                self.record.consecutive_failures = 0;
                self.after_scheduled(schedule, ended_at)?
            }
            Err(error) => {
                self.record.consecutive_failures =
                    self.record.consecutive_failures.saturating_add(1);
                tracing::warn!(run, %error, "automation run failed");
                match self.options.error_policy {
                    ErrorPolicy::Stop => {
                        failure = Some(error.clone());
                        self.after_scheduled(schedule, ended_at)?
                    }
                    ErrorPolicy::Continue {
                        backoff,
                        max_consecutive_failures,
                    } => {
                        let failures = self.record.consecutive_failures;
                        if failures >= max_consecutive_failures {
                            failure = Some(AutomationError::TooManyFailures {
                                failures,
                                last: Box::new(error.clone()),
                            });
                            self.after_scheduled(schedule, ended_at)?
                        } else {
                            let delay = backoff.delay(failures);
                            Some(NextRun::Retry(
                                ended_at.checked_add(delay).unwrap_or(ended_at),
                            ))
                        }
                    }
                }
            }
        };

        self.record.runs_finished = run;
        self.record.last_ended_at = Some(ended_at);
        self.record.last_error = result.as_ref().err().map(ToString::to_string);
        self.record.next_due = match next {
            Some(NextRun::Slot(slot)) => Some(slot.at),
            Some(NextRun::Retry(at)) => Some(at),
            None => None,
        };
        self.record.next_is_retry = matches!(next, Some(NextRun::Retry(_)));
        let persisted = self.persist().await;

        let consecutive = self.record.consecutive_failures;
        self.status.send_modify(|status| {
            status.runs_done = run;
            status.last_ended_at = Some(ended_at);
            status.consecutive_failures = consecutive;
            match &result {
                Ok(outcome) => status.last_outcome = Some(outcome.clone()),
                Err(error) => status.last_error = Some(error.clone()),
            }
        });
        // No subscriber is not an error: reports are for whoever listens.
        let _ = self.reports.send(RunReport {
            run_number: run,
            started_at,
            ended_at,
            result,
        });
        tracing::debug!(run, "automation run finished");
        persisted?;
        // A stop request wins over the error policy: the run's error (typically the effect of
        // an interrupt) stays in `last_error`, and the automation ends `Stopped`.
        if stop.is_some() {
            return Ok((next, stop));
        }
        if let Some(error) = failure {
            return Err(error);
        }
        Ok((next, stop))
    }

    /// The next scheduled run after the last slot, judged at `now` (missed ticks collapse).
    fn after_scheduled(
        &self,
        schedule: &Schedule,
        now: SystemTime,
    ) -> Result<Option<NextRun>, AutomationError> {
        let slot = match self.last_slot {
            Some(previous) => schedule.slot_after(previous, now)?,
            None => schedule.first_at_or_after(now)?.map(|at| Slot {
                at,
                collapsed: false,
            }),
        };
        Ok(slot.map(NextRun::Slot))
    }

    fn jitter(&mut self) -> Duration {
        let max = u64::try_from(self.options.jitter.as_nanos()).unwrap_or(u64::MAX);
        if max == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(self.rng.random_range(0..=max))
    }

    /// Sleeps until the clock reads `at`; returns the stop mode if a stop came first.
    async fn wait_until(&mut self, at: SystemTime) -> Option<StopMode> {
        let clock = self.clock();
        loop {
            if clock.now() >= at {
                return None;
            }
            let deadline = deadline_for(clock.as_ref(), at);
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => {}
                mode = stop_signal(&mut self.control) => return Some(mode),
            }
        }
    }

    async fn persist(&self) -> Result<(), AutomationError> {
        let Some((store, id)) = &self.options.store else {
            return Ok(());
        };
        let store = Arc::clone(store);
        let id = id.clone();
        let record = self.record.clone();
        tokio::task::spawn_blocking(move || store.save(&id, &record))
            .await
            .map_err(|e| AutomationError::Store {
                message: format!("the store's save task failed: {e}"),
            })?
    }
}

async fn load(
    store: Arc<dyn ScheduleStore>,
    id: String,
) -> Result<Option<ScheduleRecord>, AutomationError> {
    tokio::task::spawn_blocking(move || store.load(&id))
        .await
        .map_err(|e| AutomationError::Store {
            message: format!("the store's load task failed: {e}"),
        })?
}

/// Resolves when a stop is requested (or the handle was dropped without detaching).
async fn stop_signal(control: &mut watch::Receiver<Control>) -> StopMode {
    loop {
        let current = *control.borrow_and_update();
        if let Control::Stop(mode) = current {
            return mode;
        }
        if control.changed().await.is_err() {
            let last = *control.borrow();
            return match last {
                Control::Stop(mode) => mode,
                Control::Run => StopMode::Finish,
                Control::Detached => std::future::pending().await,
            };
        }
    }
}

/// Resolves with the next stop request that changes `current`: any stop when there is none
/// yet, an interrupt after a request to finish.
async fn next_stop(control: &mut watch::Receiver<Control>, current: Option<StopMode>) -> StopMode {
    match current {
        None => stop_signal(control).await,
        Some(_) => loop {
            let now = *control.borrow_and_update();
            if now == Control::Stop(StopMode::Interrupt) {
                return StopMode::Interrupt;
            }
            if control.changed().await.is_err() {
                // The handle is gone; the request to finish stands.
                return std::future::pending().await;
            }
        },
    }
}

/// Runs one turn, honouring the per-run timeout and stop requests.
async fn run_turn<T: AutomationTarget>(
    target: &T,
    prompt: &str,
    control: &mut watch::Receiver<Control>,
    run: u32,
    timeout: Option<Duration>,
    grace: Duration,
) -> (Result<T::Outcome, AutomationError>, Option<StopMode>) {
    let mut turn = AssertUnwindSafe(guarded(|| target.run_turn(prompt))).catch_unwind();
    let timeout_at = timeout.map(|t| Instant::now() + t);
    let mut stop = None;
    loop {
        tokio::select! {
            result = &mut turn => return (turn_result(run, result), stop),
            () = sleep_until_opt(timeout_at) => {
                let timeout = timeout.unwrap_or_default();
                tracing::warn!(run, ?timeout, "automation run timed out; interrupting it");
                let settled = interrupt_and_settle(target, &mut turn, run, grace).await;
                let result = match settled {
                    Err(error @ AutomationError::InterruptUnanswered { .. }) => Err(error),
                    _ => Err(AutomationError::TimedOut { run, timeout }),
                };
                return (result, stop);
            }
            mode = next_stop(control, stop), if stop != Some(StopMode::Interrupt) => {
                stop = Some(mode);
                if mode == StopMode::Interrupt {
                    let result = interrupt_and_settle(target, &mut turn, run, grace).await;
                    return (result, stop);
                }
            }
        }
    }
}

/// Calls `make`, turning a panic in the call itself (before any future exists) into a future
/// that re-raises it when polled, where `catch_unwind` reports it like any turn panic.
fn guarded<'a, R: Send + 'a>(make: impl FnOnce() -> BoxFuture<'a, R>) -> BoxFuture<'a, R> {
    match std::panic::catch_unwind(AssertUnwindSafe(make)) {
        Ok(future) => future,
        Err(panic) => Box::pin(async move { std::panic::resume_unwind(panic) }),
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Interrupts the target and waits (at most `grace`) for the turn to end.
async fn interrupt_and_settle<O, F>(
    target: &impl AutomationTarget<Outcome = O>,
    turn: &mut F,
    run: u32,
    grace: Duration,
) -> Result<O, AutomationError>
where
    F: std::future::Future<Output = std::thread::Result<Result<O, TurnFailure>>> + Unpin,
{
    let interrupt = tokio::time::timeout(
        grace,
        AssertUnwindSafe(guarded(|| target.interrupt())).catch_unwind(),
    );
    let settle = tokio::time::timeout(grace, turn);
    let (interrupted, settled) = futures::join!(interrupt, settle);
    match interrupted {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(failure))) => tracing::warn!(run, %failure, "interrupting the turn failed"),
        Ok(Err(_)) => tracing::warn!(run, "interrupting the turn panicked"),
        Err(_) => tracing::warn!(run, ?grace, "interrupting the turn did not return in time"),
    }
    match settled {
        Ok(result) => turn_result(run, result),
        Err(_) => Err(AutomationError::InterruptUnanswered { run, grace }),
    }
}

fn turn_result<O>(
    run: u32,
    result: std::thread::Result<Result<O, TurnFailure>>,
) -> Result<O, AutomationError> {
    match result {
        Ok(Ok(outcome)) => Ok(outcome),
        Ok(Err(failure)) => Err(AutomationError::TurnFailed { run, failure }),
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".into());
            tracing::error!(
                run,
                "the automation's turn panicked: {message}; the run failed"
            );
            Err(AutomationError::TurnFailed {
                run,
                failure: TurnFailure::new(format!("the turn panicked: {message}")),
            })
        }
    }
}
