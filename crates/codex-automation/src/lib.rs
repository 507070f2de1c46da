//! # codex-automation
//!
//! Runs turns on one prepared session on a schedule: every interval or on a time-zone-aware
//! cron expression, with stop conditions, a per-run timeout, jitter, a retry policy and
//! persistence across process restarts. `codex_runtime` re-exports this crate as
//! `codex_runtime::automation` and implements [`AutomationTarget`] for its `Session`; the crate
//! itself knows nothing about codex and works with any target.
//!
//! ## Behaviour
//!
//! * The automation reuses the one target it is given; it never creates or resumes sessions.
//! * At most one turn is in flight at any time. Due times that pass while a turn runs (or while
//!   the process is down) collapse into one run, eligible at once.
//! * `every` must be greater than zero, otherwise nothing runs and the handle is `Failed` at
//!   once with [`AutomationError::InvalidInterval`] ([`try_spawn`] returns it as an `Err`).
//! * By default a failed run stops the automation (`Failed`, with `last_error`); see
//!   [`ErrorPolicy::Continue`] for retries with exponential backoff.
//!
//! ## Example: the five-field spec
//!
//! ```no_run
//! use std::time::{Duration, SystemTime};
//! use codex_automation::{spawn, AutomationSpec, AutomationTarget, BoxFuture, TurnFailure};
//!
//! /// A toy target; `codex_runtime::runtime::Session` is the real one.
//! struct Echo;
//!
//! impl AutomationTarget for Echo {
//!     type Outcome = String;
//!     fn run_turn<'a>(&'a self, prompt: &'a str) -> BoxFuture<'a, Result<String, TurnFailure>> {
//!         Box::pin(async move { Ok(format!("done: {prompt}")) })
//!     }
//!     fn interrupt<'a>(&'a self) -> BoxFuture<'a, Result<(), TurnFailure>> {
//!         Box::pin(async { Ok(()) })
//!     }
//! }
//!
//! # #[tokio::main] async fn main() {
//! let handle = spawn(Echo, AutomationSpec {
//!     prompt: "Triage new issues".to_string(),
//!     start_at: Some(SystemTime::now() + Duration::from_secs(60)),
//!     every: Duration::from_secs(3600),
//!     stop_at: None,
//!     max_runs: Some(8),
//! });
//! println!("next run at {:?}", handle.status().next_due);
//! let status = handle.wait().await;
//! println!("{} runs, last outcome {:?}", status.runs_done, status.last_outcome);
//! # }
//! ```
//!
//! ## Example: options
//!
//! ```no_run
//! # use codex_automation::{AutomationTarget, BoxFuture, TurnFailure};
//! # struct Echo;
//! # impl AutomationTarget for Echo {
//! #     type Outcome = String;
//! #     fn run_turn<'a>(&'a self, p: &'a str) -> BoxFuture<'a, Result<String, TurnFailure>> {
//! #         Box::pin(async move { Ok(p.to_string()) })
//! #     }
//! #     fn interrupt<'a>(&'a self) -> BoxFuture<'a, Result<(), TurnFailure>> { Box::pin(async { Ok(()) }) }
//! # }
//! # #[tokio::main] async fn main() -> Result<(), codex_automation::AutomationError> {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use codex_automation::{
//!     spawn_with, AutomationOptions, AutomationSpec, Backoff, CatchUp, CronSchedule,
//!     ErrorPolicy, JsonFileStore, StopMode,
//! };
//!
//! let options = AutomationOptions::new()
//!     // Weekdays at 09:00 Berlin time; replaces `every` (which must still be > 0).
//!     .cron(CronSchedule::parse("0 9 * * MON-FRI", "Europe/Berlin")?)
//!     .error_policy(ErrorPolicy::Continue {
//!         backoff: Backoff::exponential(Duration::from_secs(30), Duration::from_secs(900)),
//!         max_consecutive_failures: 4,
//!     })
//!     .run_timeout(Duration::from_secs(20 * 60))
//!     .jitter(Duration::from_secs(120))
//!     .persist(Arc::new(JsonFileStore::new("automations.json")), "morning-report")
//!     .catch_up(CatchUp::RunOnce);
//! let handle = spawn_with(Echo, AutomationSpec {
//!     prompt: "Write the morning report".into(),
//!     start_at: None,
//!     every: Duration::from_secs(86_400),
//!     stop_at: None,
//!     max_runs: None,
//! }, options);
//! let mut reports = handle.subscribe();
//! if let Ok(report) = reports.recv().await {
//!     println!("run {} ended: {:?}", report.run_number, report.result);
//! }
//! let status = handle.stop(StopMode::Interrupt).await;
//! println!("{status:?}");
//! # Ok(()) }
//! ```
//!
//! ## Modules
//!
//! * [`spec`]: [`AutomationSpec`], the five-field contract.
//! * [`options`]: [`AutomationOptions`] with [`ErrorPolicy`] and [`CatchUp`].
//! * [`backoff`]: [`Backoff`], the workspace's one exponential backoff (also used by
//!   `codex-runtime` for overload retries and restarts), computed by `backon`.
//! * [`target`]: [`AutomationTarget`], what is driven, and [`TurnFailure`].
//! * [`runner`]: [`spawn`], [`spawn_with`], [`try_spawn`], [`try_spawn_with`] and the runner task.
//! * [`handle`]: [`AutomationHandle`] (`wait`, `status`, `stop`, `subscribe`) and [`StopMode`].
//! * [`status`]: [`AutomationState`], [`AutomationStatus`], [`RunReport`].
//! * `cron` (Cargo feature `cron`, on by default): `CronSchedule` (croner + chrono-tz,
//!   DST-aware).
//! * [`clock`]: [`Clock`], [`SystemClock`] and [`TokioClock`] for tests on paused tokio time.
//! * [`store`]: [`ScheduleStore`], [`ScheduleRecord`], [`JsonFileStore`], [`MemoryStore`], and
//!   exactly what is persisted when.
//! * [`error`]: [`AutomationError`], the crate's one error type.

#![warn(missing_docs)]

pub mod backoff;
pub mod clock;
#[cfg(feature = "cron")]
pub mod cron;
pub mod error;
pub mod handle;
pub mod options;
pub mod runner;
mod schedule;
pub mod spec;
pub mod status;
pub mod store;
pub mod target;
mod time_format;

pub use backoff::Backoff;
#[cfg(feature = "cron")]
pub use chrono_tz;
pub use clock::{Clock, SystemClock, TokioClock};
#[cfg(feature = "cron")]
pub use cron::CronSchedule;
pub use error::AutomationError;
pub use handle::{AutomationHandle, StopMode};
pub use options::{AutomationOptions, CatchUp, ErrorPolicy};
pub use runner::{spawn, spawn_with, try_spawn, try_spawn_with};
pub use spec::AutomationSpec;
pub use status::{AutomationState, AutomationStatus, RunReport};
pub use store::{JsonFileStore, MemoryStore, ScheduleRecord, ScheduleStore};
pub use target::{AutomationTarget, BoxFuture, PromptRunError, TurnFailure};
