//! Wall-clock time for schedules: the [`Clock`] trait, [`SystemClock`] and [`TokioClock`].
//!
//! The runner always sleeps with `tokio::time::sleep_until`; a clock only says what wall-clock
//! time it is, so `start_at`, `stop_at`, cron occurrences and the stored times can be compared
//! with it. [`TokioClock`] derives wall-clock time from tokio's clock, so on a paused tokio
//! runtime (`#[tokio::test(start_paused = true)]`) schedules run instantly and deterministically.

use std::time::{Duration, SystemTime};

/// A source of wall-clock time.
pub trait Clock: Send + Sync + 'static {
    /// The current wall-clock time.
    fn now(&self) -> SystemTime;
}

/// The operating system's wall clock ([`SystemTime::now`]). The default.
///
/// Long waits are cut into slices of at most a minute and the wall clock is read again after
/// each, so a wall-clock jump (NTP step, suspend) delays a due run by at most that slice.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that advances with tokio's clock: `base + (tokio::time::Instant::now() - origin)`.
///
/// Use it in tests on a paused runtime, where tokio time auto-advances to the next timer.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::{Duration, SystemTime};
/// use codex_automation::{Clock, TokioClock};
///
/// let base = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// let clock = TokioClock::starting_at(base);
/// assert!(clock.now() >= base);
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    base: SystemTime,
    origin: tokio::time::Instant,
}

impl TokioClock {
    /// A clock that reads `base` now and advances with tokio's clock from here on.
    pub fn starting_at(base: SystemTime) -> Self {
        TokioClock {
            base,
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> SystemTime {
        self.base + self.origin.elapsed()
    }
}

/// The longest single sleep before the wall clock is read again.
pub(crate) const MAX_SLEEP_SLICE: Duration = Duration::from_secs(60);

/// The tokio deadline at which `at` is expected, from the clock's view of "now" (capped to one
/// slice; the caller loops until the clock reaches `at`).
pub(crate) fn deadline_for(clock: &dyn Clock, at: SystemTime) -> tokio::time::Instant {
    let wait = at
        .duration_since(clock.now())
        .unwrap_or(Duration::ZERO)
        .min(MAX_SLEEP_SLICE);
    tokio::time::Instant::now() + wait
}
