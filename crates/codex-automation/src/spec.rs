//! The contract-level description of an automation: [`AutomationSpec`].

use std::time::{Duration, SystemTime};

/// What to run and when. Build it with a struct literal; everything else lives in
/// [`AutomationOptions`](crate::AutomationOptions).
///
/// * `prompt`: the text sent as every run's turn.
/// * `start_at`: wall-clock time of the first run; `None` means "now". With an interval
///   schedule it anchors the grid of due times (`start_at + k * every`); with a cron schedule
///   the first run is the first cron occurrence at or after it.
/// * `every`: the interval between due times. Must be greater than zero, also when a cron
///   schedule replaces it (see [`AutomationOptions::cron`](crate::AutomationOptions::cron)).
/// * `stop_at`: no run starts at or after this wall-clock time; a run in flight at that time
///   finishes. Once the next start would be at or after it, the automation is `Finished`.
/// * `max_runs`: the automation is `Finished` after this many runs (failed runs count; with a
///   store, runs of earlier processes count too). `Some(0)` runs nothing.
///
/// ```
/// use std::time::Duration;
/// use codex_automation::AutomationSpec;
///
/// let spec = AutomationSpec {
///     prompt: "Summarise the new issues".to_string(),
///     start_at: None,
///     every: Duration::from_secs(3600),
///     stop_at: None,
///     max_runs: Some(24),
/// };
/// assert_eq!(spec.every, Duration::from_secs(3600));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutomationSpec {
    /// The prompt of every run.
    pub prompt: String,
    /// When the first run is due (`None`: at once).
    pub start_at: Option<SystemTime>,
    /// The interval between due times; must be greater than zero.
    pub every: Duration,
    /// No run starts at or after this time.
    pub stop_at: Option<SystemTime>,
    /// The most runs the automation performs.
    pub max_runs: Option<u32>,
}
