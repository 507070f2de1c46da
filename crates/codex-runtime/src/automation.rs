//! Layer 4: scheduled turns on one prepared [`Session`].
//!
//! Everything from the `codex-automation` crate, with [`AutomationTarget`] implemented for
//! [`Session`], so `spawn(session, spec)` runs turns on that session on a schedule:
//!
//! ```no_run
//! # async fn demo(session: codex_runtime::runtime::Session) {
//! use std::time::Duration;
//! use codex_runtime::automation::{spawn, AutomationSpec};
//! let handle = spawn(session, AutomationSpec {
//!     prompt: "Reduce the backlog by one item.".to_string(),
//!     start_at: None,
//!     every: Duration::from_secs(30 * 60),
//!     stop_at: Some(std::time::SystemTime::now() + Duration::from_secs(8 * 3600)),
//!     max_runs: None,
//! });
//! let status = handle.wait().await;
//! println!("{status:?}");
//! # }
//! ```
//!
//! Beyond the five-field [`AutomationSpec`], [`AutomationOptions`] adds cron schedules
//! (time-zone aware), an error policy with backoff, per-run timeouts, jitter, persistence with a
//! catch-up policy, and a stream of run reports (`handle.subscribe()`).

pub use codex_automation::*;

use crate::runtime::{Session, TurnOutput};

impl AutomationTarget for Session {
    type Outcome = TurnOutput;

    fn run_turn<'a>(&'a self, prompt: &'a str) -> BoxFuture<'a, Result<TurnOutput, TurnFailure>> {
        Box::pin(async move { self.ask(prompt).await.map_err(TurnFailure::from_error) })
    }

    fn interrupt<'a>(&'a self) -> BoxFuture<'a, Result<(), TurnFailure>> {
        Box::pin(async move {
            self.send_interrupt()
                .await
                .map(|_| ())
                .map_err(TurnFailure::from_error)
        })
    }
}
