//! Measurement helpers shared by the turn benchmarks (`turn_overhead`, `persistence_overhead`):
//! environment knobs, process CPU time, and median/mean of duration samples.

use std::time::Duration;

/// A positive integer from the environment variable `name`, else `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

/// CPU time used by this process so far (user + system).
pub fn process_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// A duration in milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Median and mean in milliseconds.
pub fn stats(v: &[Duration]) -> (f64, f64) {
    let mut s: Vec<f64> = v.iter().copied().map(ms).collect();
    s.sort_by(|a, b| a.total_cmp(b));
    let median = match s.len() {
        0 => 0.0,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    };
    let mean = s.iter().sum::<f64>() / s.len().max(1) as f64;
    (median, mean)
}
