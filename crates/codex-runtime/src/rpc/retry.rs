//! Retrying `-32001 Server overloaded` with exponential backoff and jitter, within a bound.
//! The delays come from the workspace's one backoff, [`codex_automation::Backoff`].

use codex_automation::Backoff;
use std::time::Duration;

/// The JSON-RPC error code codex uses for overload.
pub const OVERLOADED: i64 = -32001;

/// How overloaded requests are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total (the first one included). `1` disables retries.
    pub max_attempts: u32,
    /// Delay before the first retry.
    pub initial_backoff: Duration,
    /// Upper bound of one delay.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            initial_backoff: Duration::from_millis(25),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// No retries.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The delay before retry number `retry` (1-based): exponential (doubling), capped, with
    /// jitter in `[base/2, base]` so a fleet of callers does not retry in lockstep
    /// ([`Backoff::jittered_delay`]).
    pub fn backoff(&self, retry: u32) -> Duration {
        Backoff::exponential(self.initial_backoff, self.max_backoff).jittered_delay(retry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
        };
        for _ in 0..50 {
            let d1 = p.backoff(1);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100));
            let d3 = p.backoff(3);
            assert!(d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400));
            let d9 = p.backoff(9);
            assert!(d9 >= Duration::from_millis(500) && d9 <= Duration::from_millis(1000));
            assert!(p.backoff(40) <= Duration::from_millis(1000));
        }
    }
}
