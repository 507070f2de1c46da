//! The next-run display of `automate` on stderr: on a terminal one line rewritten every second
//! (`next run #3 in 00:12:41 (at 2026-11-22T09:00:00+01:00)`); otherwise a plain line each time
//! the next due time changes.

use crate::duration::format_hms;
use chrono::{DateTime, Local, SecondsFormat, Utc};
use codex_runtime::automation::chrono_tz::Tz;
use codex_runtime::automation::{AutomationState, AutomationStatus};
use std::io::Write;
use std::time::{Duration, SystemTime};

/// `t` as RFC 3339 to the second, in `tz` or else in the local time zone.
pub fn format_at(t: SystemTime, tz: Option<Tz>) -> String {
    let utc: DateTime<Utc> = t.into();
    match tz {
        Some(tz) => utc
            .with_timezone(&tz)
            .to_rfc3339_opts(SecondsFormat::Secs, false),
        None => utc
            .with_timezone(&Local)
            .to_rfc3339_opts(SecondsFormat::Secs, false),
    }
}

/// The countdown text for a status at `now`; `None` once the automation has ended.
pub fn status_line<O>(
    status: &AutomationStatus<O>,
    now: SystemTime,
    tz: Option<Tz>,
) -> Option<String> {
    let next_run = status.runs_done.saturating_add(1);
    match status.state {
        AutomationState::Running => {
            let since = status
                .last_started_at
                .and_then(|s| now.duration_since(s).ok())
                .unwrap_or(Duration::ZERO);
            // Elapsed time counts whole seconds (the countdown rounds up instead).
            let since = Duration::from_secs(since.as_secs());
            Some(format!("run #{next_run} running for {}", format_hms(since)))
        }
        AutomationState::Waiting => Some(match status.next_due {
            Some(due) => {
                let left = due.duration_since(now).unwrap_or(Duration::ZERO);
                format!(
                    "next run #{next_run} in {} (at {})",
                    format_hms(left),
                    format_at(due, tz)
                )
            }
            None => format!("waiting for run #{next_run}"),
        }),
        AutomationState::Stopped | AutomationState::Finished | AutomationState::Failed => None,
    }
}

/// Writes the countdown to stderr.
#[derive(Debug)]
pub struct Countdown {
    tty: bool,
    tz: Option<Tz>,
    shown: Option<String>,
    last_due: Option<SystemTime>,
}

impl Countdown {
    /// A countdown; `tty` picks the rewritten line over plain lines.
    pub fn new(tty: bool, tz: Option<Tz>) -> Self {
        Countdown {
            tty,
            tz,
            shown: None,
            last_due: None,
        }
    }

    /// Shows `status`: on a terminal rewrites the line when its text changed; otherwise prints a
    /// line when the next due time changed. Cheap to call often.
    pub fn show<O>(&mut self, status: &AutomationStatus<O>) {
        let now = SystemTime::now();
        let Some(line) = status_line(status, now, self.tz) else {
            self.clear();
            return;
        };
        let mut err = std::io::stderr().lock();
        if self.tty {
            if self.shown.as_deref() != Some(line.as_str()) {
                let _ = write!(err, "\r\x1b[2K{line}");
                let _ = err.flush();
                self.shown = Some(line);
            }
        } else if status.state == AutomationState::Waiting
            && status.next_due.is_some()
            && status.next_due != self.last_due
        {
            self.last_due = status.next_due;
            let due = status
                .next_due
                .map(|d| format_at(d, self.tz))
                .unwrap_or_default();
            let _ = writeln!(
                err,
                "next run #{} at {due}",
                status.runs_done.saturating_add(1)
            );
        }
    }

    /// Erases the countdown line (before other output).
    pub fn clear(&mut self) {
        if self.tty && self.shown.take().is_some() {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use codex_runtime::automation::{
        spawn, AutomationSpec, AutomationTarget, BoxFuture, TurnFailure,
    };

    struct Never;
    impl AutomationTarget for Never {
        type Outcome = ();
        fn run_turn<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<(), TurnFailure>> {
            Box::pin(async { Ok(()) })
        }
        fn interrupt<'a>(&'a self) -> BoxFuture<'a, Result<(), TurnFailure>> {
            Box::pin(async { Ok(()) })
        }
    }

    /// A real status snapshot of an automation whose first run is an hour away.
    async fn waiting_status() -> (AutomationStatus<()>, SystemTime) {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        let handle = spawn(
            Never,
            AutomationSpec {
                prompt: "p".into(),
                start_at: Some(SystemTime::now() + Duration::from_secs(3600)),
                every: Duration::from_secs(60),
                stop_at: None,
                max_runs: None,
            },
        );
        let mut status = handle.status();
        status.next_due = Some(start + Duration::from_secs(12 * 60 + 41));
        status.state = AutomationState::Waiting;
        status.runs_done = 2;
        (status, start)
    }

    #[tokio::test]
    async fn the_line_shows_the_run_number_the_time_left_and_the_due_time() {
        let (status, now) = waiting_status().await;
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let line = status_line(&status, now, Some(tz)).unwrap();
        assert_eq!(
            line,
            "next run #3 in 00:12:41 (at 2026-11-18T12:19:21+01:00)"
        );
    }

    #[tokio::test]
    async fn running_and_ended_states() {
        let (mut status, now) = waiting_status().await;
        status.state = AutomationState::Running;
        status.last_started_at = Some(now - Duration::from_secs(5));
        assert_eq!(
            status_line(&status, now, None).unwrap(),
            "run #3 running for 00:00:05"
        );
        status.state = AutomationState::Finished;
        assert_eq!(status_line(&status, now, None), None);
    }
}
