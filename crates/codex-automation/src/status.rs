//! What an automation reports: [`AutomationState`], [`AutomationStatus`] and [`RunReport`].

use std::time::SystemTime;

use crate::error::AutomationError;

/// The lifecycle state of an automation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AutomationState {
    /// Waiting for the next due time.
    Waiting,
    /// A turn is in flight.
    Running,
    /// Ended by [`stop`](crate::AutomationHandle::stop) (or by dropping the handle).
    Stopped,
    /// Ended because the schedule is exhausted: `max_runs` reached, `stop_at` passed, or no
    /// further cron occurrence.
    Finished,
    /// Ended by an error (see `last_error`): a failed run under [`ErrorPolicy::Stop`], too many
    /// failures in a row, an invalid spec or option, or a store error.
    ///
    /// [`ErrorPolicy::Stop`]: crate::ErrorPolicy::Stop
    Failed,
}

impl AutomationState {
    /// Whether the automation has ended (`Stopped`, `Finished` or `Failed`).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            AutomationState::Stopped | AutomationState::Finished | AutomationState::Failed
        )
    }
}

/// A snapshot of an automation. `O` is the target's turn outcome type.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AutomationStatus<O> {
    /// The current state.
    pub state: AutomationState,
    /// Runs that ended (successful or not), including runs of earlier processes when persisted.
    pub runs_done: u32,
    /// When the last run started.
    pub last_started_at: Option<SystemTime>,
    /// When the last run ended.
    pub last_ended_at: Option<SystemTime>,
    /// The outcome of the last successful run.
    pub last_outcome: Option<O>,
    /// The last error: of the last failed run, or what ended the automation. A later
    /// successful run does not clear it (`consecutive_failures` tells whether it is current).
    pub last_error: Option<AutomationError>,
    /// When the next run is due (jitter included); `None` while running or once ended.
    pub next_due: Option<SystemTime>,
    /// Failed runs in a row (0 after a success).
    pub consecutive_failures: u32,
}

impl<O> AutomationStatus<O> {
    pub(crate) fn initial() -> Self {
        AutomationStatus {
            state: AutomationState::Waiting,
            runs_done: 0,
            last_started_at: None,
            last_ended_at: None,
            last_outcome: None,
            last_error: None,
            next_due: None,
            consecutive_failures: 0,
        }
    }

    pub(crate) fn failed_with(error: AutomationError) -> Self {
        AutomationStatus {
            state: AutomationState::Failed,
            last_error: Some(error),
            ..Self::initial()
        }
    }
}

/// The result of one run, sent to every [`subscribe`](crate::AutomationHandle::subscribe)r.
#[derive(Debug, Clone)]
pub struct RunReport<O> {
    /// The run's number (1-based; continues across restarts when persisted).
    pub run_number: u32,
    /// When the turn started.
    pub started_at: SystemTime,
    /// When it ended.
    pub ended_at: SystemTime,
    /// The outcome, or why the run failed.
    pub result: Result<O, AutomationError>,
}
