//! Everything beyond the five-field spec: [`AutomationOptions`] and its policy types.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use crate::backoff::Backoff;
use crate::clock::{Clock, SystemClock};
#[cfg(feature = "cron")]
use crate::cron::CronSchedule;
use crate::error::AutomationError;
use crate::store::ScheduleStore;

/// What a turn error does to the automation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorPolicy {
    /// The first failed run stops the automation in the `Failed` state with `last_error` set.
    #[default]
    Stop,
    /// Keep going: after the k-th failure in a row the next run is a retry, due
    /// `backoff.delay(k)` after the failed run ended (not on the schedule's grid). A success
    /// returns to the schedule. After `max_consecutive_failures` failures in a row the
    /// automation stops in the `Failed` state with [`AutomationError::TooManyFailures`].
    Continue {
        /// Delay before each retry.
        backoff: Backoff,
        /// Failures in a row that stop the automation; at least 1.
        max_consecutive_failures: u32,
    },
}

/// What a restarted automation does with due times that passed while no process ran it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CatchUp {
    /// Run once at once for all missed due times (collapsed), then follow the schedule. The
    /// default: a due run is never lost.
    #[default]
    RunOnce,
    /// Drop the missed due times; the next run is the first due time after the restart.
    Skip,
}

/// Options of an automation, builder style. `AutomationOptions::default()` is: interval
/// schedule from the spec, [`ErrorPolicy::Stop`], no timeout, no jitter, no persistence,
/// [`SystemClock`], 64 buffered run reports, 30 s interrupt grace.
///
/// ```
/// use std::time::Duration;
/// use codex_automation::{AutomationOptions, Backoff, CronSchedule, ErrorPolicy};
///
/// let options = AutomationOptions::new()
///     .cron(CronSchedule::parse("0 9 * * MON-FRI", "Europe/Berlin")?)
///     .error_policy(ErrorPolicy::Continue {
///         backoff: Backoff::exponential(Duration::from_secs(30), Duration::from_secs(600)),
///         max_consecutive_failures: 5,
///     })
///     .run_timeout(Duration::from_secs(900))
///     .jitter(Duration::from_secs(60));
/// # Ok::<(), codex_automation::AutomationError>(())
/// ```
#[derive(Clone)]
pub struct AutomationOptions {
    #[cfg(feature = "cron")]
    pub(crate) cron: Option<CronSchedule>,
    pub(crate) error_policy: ErrorPolicy,
    pub(crate) run_timeout: Option<Duration>,
    pub(crate) jitter: Duration,
    pub(crate) jitter_seed: Option<u64>,
    pub(crate) store: Option<(Arc<dyn ScheduleStore>, String)>,
    pub(crate) catch_up: CatchUp,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) report_capacity: usize,
    pub(crate) interrupt_grace: Duration,
}

impl Default for AutomationOptions {
    fn default() -> Self {
        AutomationOptions {
            #[cfg(feature = "cron")]
            cron: None,
            error_policy: ErrorPolicy::Stop,
            run_timeout: None,
            jitter: Duration::ZERO,
            jitter_seed: None,
            store: None,
            catch_up: CatchUp::RunOnce,
            clock: Arc::new(SystemClock),
            report_capacity: 64,
            interrupt_grace: Duration::from_secs(30),
        }
    }
}

impl AutomationOptions {
    /// The default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// Run on the occurrences of a cron expression instead of every `spec.every`.
    ///
    /// The cron schedule replaces the interval: `spec.every` must still be greater than zero
    /// (the spec is validated the same way) but is otherwise unused. `start_at` delays the
    /// first run to the first occurrence at or after it; `stop_at` and `max_runs` apply as
    /// usual. (Cargo feature `cron`.)
    #[cfg(feature = "cron")]
    pub fn cron(mut self, schedule: CronSchedule) -> Self {
        self.cron = Some(schedule);
        self
    }

    /// What a failed run does (default [`ErrorPolicy::Stop`]).
    pub fn error_policy(mut self, policy: ErrorPolicy) -> Self {
        self.error_policy = policy;
        self
    }

    /// The longest a run may take. A run still going then is interrupted and counts as failed
    /// with [`AutomationError::TimedOut`]. Must be greater than zero.
    pub fn run_timeout(mut self, timeout: Duration) -> Self {
        self.run_timeout = Some(timeout);
        self
    }

    /// A random delay in `[0, max]` added to each scheduled due time (not to retries or to
    /// collapsed catch-up runs), so that a fleet started together spreads out.
    pub fn jitter(mut self, max: Duration) -> Self {
        self.jitter = max;
        self
    }

    /// Seeds the jitter's random generator (for reproducible tests). Unseeded, it is seeded
    /// from the operating system.
    pub fn jitter_seed(mut self, seed: u64) -> Self {
        self.jitter_seed = Some(seed);
        self
    }

    /// Remember the schedule in `store` under `automation_id`, so that a restarted process
    /// neither runs a due run twice nor loses one. See the [`store`](crate::store) module for
    /// exactly what is written when.
    pub fn persist(
        mut self,
        store: Arc<dyn ScheduleStore>,
        automation_id: impl Into<String>,
    ) -> Self {
        self.store = Some((store, automation_id.into()));
        self
    }

    /// What a restart does with due times missed while down (default [`CatchUp::RunOnce`]).
    pub fn catch_up(mut self, policy: CatchUp) -> Self {
        self.catch_up = policy;
        self
    }

    /// The wall clock (default [`SystemClock`]; use [`TokioClock`](crate::TokioClock) in tests
    /// on paused time).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// How many run reports [`subscribe`](crate::AutomationHandle::subscribe)rs may fall behind
    /// before they lose the oldest ones (default 64; at least 1).
    pub fn report_capacity(mut self, capacity: usize) -> Self {
        self.report_capacity = capacity;
        self
    }

    /// How long to keep waiting for a turn to end after interrupting it (default 30 s). After
    /// that the turn is abandoned with [`AutomationError::InterruptUnanswered`].
    pub fn interrupt_grace(mut self, grace: Duration) -> Self {
        self.interrupt_grace = grace;
        self
    }

    /// Checks every option's range.
    pub(crate) fn validate(&self) -> Result<(), AutomationError> {
        if let ErrorPolicy::Continue {
            backoff,
            max_consecutive_failures,
        } = self.error_policy
        {
            if max_consecutive_failures == 0 {
                return Err(AutomationError::InvalidOption {
                    option: "error_policy.max_consecutive_failures",
                    reason: "must be at least 1".into(),
                });
            }
            if backoff.factor == 0 {
                return Err(AutomationError::InvalidOption {
                    option: "error_policy.backoff.factor",
                    reason: "must be at least 1".into(),
                });
            }
            if backoff.max < backoff.initial {
                return Err(AutomationError::InvalidOption {
                    option: "error_policy.backoff.max",
                    reason: format!(
                        "{:?} is shorter than backoff.initial {:?}",
                        backoff.max, backoff.initial
                    ),
                });
            }
        }
        if self.run_timeout == Some(Duration::ZERO) {
            return Err(AutomationError::InvalidOption {
                option: "run_timeout",
                reason: "must be greater than zero".into(),
            });
        }
        if self.report_capacity == 0 {
            return Err(AutomationError::InvalidOption {
                option: "report_capacity",
                reason: "must be at least 1".into(),
            });
        }
        if self.report_capacity > MAX_REPORT_CAPACITY {
            return Err(AutomationError::InvalidOption {
                option: "report_capacity",
                reason: format!("must be at most {MAX_REPORT_CAPACITY}"),
            });
        }
        if let Some((_, id)) = &self.store {
            if id.trim().is_empty() {
                return Err(AutomationError::InvalidOption {
                    option: "persist.automation_id",
                    reason: "must not be empty".into(),
                });
            }
        }
        Ok(())
    }
}

/// The largest report buffer accepted (tokio's broadcast channel limit is far above).
const MAX_REPORT_CAPACITY: usize = 1 << 16;

impl fmt::Debug for AutomationOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut f = f.debug_struct("AutomationOptions");
        #[cfg(feature = "cron")]
        f.field("cron", &self.cron);
        f.field("error_policy", &self.error_policy)
            .field("run_timeout", &self.run_timeout)
            .field("jitter", &self.jitter)
            .field("jitter_seed", &self.jitter_seed)
            .field("automation_id", &self.store.as_ref().map(|(_, id)| id))
            .field("catch_up", &self.catch_up)
            .field("report_capacity", &self.report_capacity)
            .field("interrupt_grace", &self.interrupt_grace)
            .finish_non_exhaustive()
    }
}
