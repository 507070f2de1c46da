//! The crate's one error type, [`AutomationError`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::target::TurnFailure;

/// Everything that can go wrong while configuring or running an automation.
///
/// The type is `Clone` (sources are shared through [`Arc`]) so that it can sit in every
/// [`AutomationStatus`](crate::AutomationStatus) snapshot and [`RunReport`](crate::RunReport).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum AutomationError {
    /// `AutomationSpec::every` was zero: an interval must be longer than zero.
    #[error("invalid automation spec: `every` must be greater than zero (got {every:?})")]
    InvalidInterval {
        /// The rejected interval.
        every: Duration,
    },
    /// A cron expression could not be parsed.
    #[error("invalid cron expression {expression:?}: {reason}")]
    InvalidCron {
        /// The rejected expression.
        expression: String,
        /// What the parser said.
        reason: String,
    },
    /// A time zone name is not in the IANA database shipped with `chrono-tz`.
    #[error("unknown time zone {name:?} (expected an IANA name such as \"Europe/Berlin\")")]
    UnknownTimeZone {
        /// The rejected name.
        name: String,
    },
    /// A cron schedule could not compute its next occurrence (for example a pattern that never
    /// matches, such as the 30th of February).
    #[error("cron expression {expression:?} has no occurrence after {after}: {reason}")]
    CronSearch {
        /// The expression.
        expression: String,
        /// The wall-clock time the search started from (RFC 3339).
        after: String,
        /// What the cron engine said.
        reason: String,
    },
    /// An [`AutomationOptions`](crate::AutomationOptions) value is out of range.
    #[error("invalid automation option `{option}`: {reason}")]
    InvalidOption {
        /// The option's name.
        option: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// `spawn` was called outside a tokio runtime, so nothing could be started.
    #[error("no tokio runtime: spawn an automation from within a tokio runtime")]
    NoRuntime,
    /// A turn returned an error.
    #[error("run {run} failed: {failure}")]
    TurnFailed {
        /// The run's number (1-based, counted across restarts when persisted).
        run: u32,
        /// What the target reported.
        failure: TurnFailure,
    },
    /// A turn took longer than the configured per-run timeout; the target was interrupted.
    #[error("run {run} timed out after {timeout:?} and was interrupted")]
    TimedOut {
        /// The run's number.
        run: u32,
        /// The configured timeout.
        timeout: Duration,
    },
    /// A turn did not end within the interrupt grace period after it was interrupted; the
    /// runner stopped waiting for it.
    #[error("run {run} did not end within {grace:?} after it was interrupted")]
    InterruptUnanswered {
        /// The run's number.
        run: u32,
        /// The configured grace period.
        grace: Duration,
    },
    /// A run was recorded as started in the store but never as finished: the process that ran
    /// it stopped mid-run. The run counts as done (it is never re-run).
    #[error("run {run} was started at {started_at} by an earlier process that stopped before it finished")]
    InterruptedByRestart {
        /// The run's number.
        run: u32,
        /// When it started (RFC 3339).
        started_at: String,
    },
    /// The continue-on-error policy reached its cap of consecutive failures.
    #[error("{failures} consecutive runs failed; last error: {last}")]
    TooManyFailures {
        /// How many runs failed in a row.
        failures: u32,
        /// The last run's error.
        last: Box<AutomationError>,
    },
    /// A schedule store file exists but does not hold a valid schedule document. The file is
    /// left untouched.
    #[error("schedule store {path} is corrupt: {reason}")]
    StoreCorrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading or writing a schedule store file failed.
    #[error("schedule store {path}: {operation} failed: {source}")]
    StoreIo {
        /// The file or directory involved.
        path: PathBuf,
        /// What was being done ("read", "create temp file", "rename", ...).
        operation: &'static str,
        /// The I/O error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// A custom [`ScheduleStore`](crate::ScheduleStore) reported an error.
    #[error("schedule store error: {message}")]
    Store {
        /// What the store said.
        message: String,
    },
    /// The runner task ended without reporting a final state (it panicked or its runtime shut
    /// down).
    #[error("the automation runner ended unexpectedly: {reason}")]
    RunnerGone {
        /// What is known about why.
        reason: String,
    },
}

impl AutomationError {
    pub(crate) fn store_io(
        path: impl Into<PathBuf>,
        operation: &'static str,
        source: std::io::Error,
    ) -> Self {
        AutomationError::StoreIo {
            path: path.into(),
            operation,
            source: Arc::new(source),
        }
    }
}
