//! [`Backoff`]: the workspace's one exponential backoff, computed by the `backon` crate.
//!
//! Used for the retries of a failing automation ([`ErrorPolicy::Continue`]), and by
//! `codex-runtime` for retrying overloaded requests and for the delay before restarting a
//! crashed app-server (codex-automation is the lowest crate both sit on).
//!
//! [`ErrorPolicy::Continue`]: crate::ErrorPolicy::Continue

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// Exponential backoff: `initial * factor^(k-1)`, capped at `max`, for the k-th attempt (the
/// k-th failure in a row, retry or restart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first failure.
    pub initial: Duration,
    /// Upper bound of any delay.
    pub max: Duration,
    /// Growth per further failure; at least 1.
    pub factor: u32,
}

impl Backoff {
    /// Doubling backoff from `initial`, capped at `max`.
    pub fn exponential(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max,
            factor: 2,
        }
    }

    /// The delay after the `attempt`-th consecutive failure (1-based; `0` counts as `1`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use codex_automation::Backoff;
    ///
    /// let b = Backoff::exponential(Duration::from_secs(1), Duration::from_secs(5));
    /// assert_eq!(b.delay(1), Duration::from_secs(1));
    /// assert_eq!(b.delay(3), Duration::from_secs(4));
    /// assert_eq!(b.delay(4), Duration::from_secs(5));
    /// assert_eq!(b.delay(u32::MAX), Duration::from_secs(5));
    /// ```
    pub fn delay(&self, attempt: u32) -> Duration {
        let first = self.initial.min(self.max);
        if self.factor <= 1 || first.is_zero() {
            // Constant (or zero) delays: nothing grows, nothing to iterate.
            return if self.factor == 0 && attempt > 1 {
                Duration::ZERO
            } else {
                first
            };
        }
        let mut delays = ExponentialBuilder::new()
            .with_min_delay(first)
            .with_max_delay(self.max)
            .with_factor(self.factor as f32)
            .without_max_times()
            .build();
        let mut current = first;
        for _ in 0..attempt.max(1) {
            match delays.next() {
                Some(delay) => current = delay,
                None => break,
            }
            // Once at the cap the sequence stays there: stop early (attempt may be huge).
            if current >= self.max {
                return self.max;
            }
        }
        current.min(self.max)
    }

    /// [`Backoff::delay`] with "equal jitter": a random delay in `[delay/2, delay)`, so a fleet
    /// of callers does not retry in lockstep, and never above `max`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use codex_automation::Backoff;
    ///
    /// let b = Backoff::exponential(Duration::from_millis(100), Duration::from_secs(1));
    /// let d = b.jittered_delay(2);
    /// assert!(d >= Duration::from_millis(100) && d <= Duration::from_millis(200));
    /// ```
    pub fn jittered_delay(&self, attempt: u32) -> Duration {
        let base = self.delay(attempt);
        // backon's jitter adds a random share of the delay, giving [base, 2 * base); halved,
        // that is [base / 2, base).
        let jittered = ExponentialBuilder::new()
            .with_min_delay(base)
            .with_jitter()
            .with_max_times(1)
            .build()
            .next()
            .unwrap_or(base);
        (jittered / 2).min(base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn delays_grow_by_the_factor_and_stop_at_the_cap() {
        let b = Backoff {
            initial: MS(100),
            max: MS(5000),
            factor: 3,
        };
        let delays: Vec<u128> = (1..=6).map(|k| b.delay(k).as_millis()).collect();
        assert_eq!(delays, [100, 300, 900, 2700, 5000, 5000]);
        assert_eq!(b.delay(0), MS(100));
        assert_eq!(b.delay(u32::MAX), MS(5000));
    }

    #[test]
    fn degenerate_settings_do_not_spin_or_panic() {
        let constant = Backoff {
            initial: MS(50),
            max: MS(100),
            factor: 1,
        };
        assert_eq!(constant.delay(u32::MAX), MS(50));
        let zero = Backoff::exponential(Duration::ZERO, MS(100));
        assert_eq!(zero.delay(u32::MAX), Duration::ZERO);
        let inverted = Backoff::exponential(MS(500), MS(100));
        assert_eq!(inverted.delay(1), MS(100));
    }

    #[test]
    fn jitter_stays_within_half_the_delay_and_the_cap() {
        let b = Backoff::exponential(MS(100), MS(1000));
        for _ in 0..200 {
            let d = b.jittered_delay(1);
            assert!(d >= MS(50) && d <= MS(100), "{d:?}");
            let d = b.jittered_delay(3);
            assert!(d >= MS(200) && d <= MS(400), "{d:?}");
            assert!(b.jittered_delay(40) <= MS(1000));
        }
    }
}
