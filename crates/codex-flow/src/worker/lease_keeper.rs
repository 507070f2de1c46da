//! Keeping a worker's leases: one heartbeat task, apart from the worker's select loop (a hung
//! query cannot stall leasing or the collection of finished runs), and a local deadline per
//! lease (the last successful renewal + TTL − margin) after which the step is stopped even when
//! the database cannot be reached: by then the lease may be taken over, and two workers must
//! not run one run at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::store::{Heartbeat, PostgresFlowStore};

/// One leased run this worker is executing (or recording).
pub(super) struct ActiveRun {
    /// Stops the step.
    pub(super) token: CancellationToken,
    /// The worker is shutting down: a canceled step's lease is handed back.
    pub(super) hand_back: Arc<AtomicBool>,
    /// The lease is known lost (a heartbeat said so): nothing may be written.
    pub(super) lost: Arc<AtomicBool>,
    /// When the last heartbeat that renewed this lease was sent (the lease lasts at least
    /// until then + TTL on the database).
    pub(super) renewed: Arc<Mutex<Instant>>,
}

/// The runs in flight, by attempt id.
pub(super) type ActiveRuns = Arc<Mutex<HashMap<String, ActiveRun>>>;

/// The timing of leases.
#[derive(Debug, Clone, Copy)]
pub(super) struct LeaseTiming {
    pub(super) ttl: Duration,
    pub(super) heartbeat: Duration,
}

impl LeaseTiming {
    /// How long before the lease's end (as last renewed) the step is stopped: room for the
    /// step's kill grace ([`Self::kill_grace`]) and for clock and network slack.
    pub(super) fn margin(self) -> Duration {
        self.ttl.mul_f64(0.375)
    }

    /// The longest kill grace that still ends a step before its lease does.
    pub(super) fn kill_grace(self) -> Duration {
        self.ttl / 4
    }

    /// The bound of one store call of the worker (lease, heartbeat, finish, release).
    pub(super) fn op_timeout(self) -> Duration {
        (self.ttl / 4).max(Duration::from_millis(200))
    }

    /// The local deadline of a lease last renewed at `renewed`.
    pub(super) fn deadline(self, renewed: Instant) -> Instant {
        renewed + self.ttl.saturating_sub(self.margin())
    }
}

/// Resolves when the lease whose renewals land in `renewed` reaches its local deadline without
/// a renewal.
pub(super) async fn lease_deadline(renewed: &Mutex<Instant>, timing: LeaseTiming) {
    loop {
        let last = renewed
            .lock()
            .map(|r| *r)
            .unwrap_or_else(|_| Instant::now());
        let deadline = timing.deadline(last);
        if Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep_until(deadline).await;
    }
}

/// Heartbeats every lease in `active` every `timing.heartbeat`, until dropped (abort it).
pub(super) async fn heartbeat_loop(
    store: PostgresFlowStore,
    active: ActiveRuns,
    timing: LeaseTiming,
) {
    let mut tick = tokio::time::interval(timing.heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        beat(&store, &active, timing).await;
    }
}

async fn beat(store: &PostgresFlowStore, active: &ActiveRuns, timing: LeaseTiming) {
    let ids: Vec<String> = match active.lock() {
        Ok(map) => map.keys().cloned().collect(),
        Err(_) => return,
    };
    if ids.is_empty() {
        return;
    }
    let sent = Instant::now();
    let beats =
        match tokio::time::timeout(timing.op_timeout(), store.heartbeat(&ids, timing.ttl)).await {
            Ok(Ok(beats)) => beats,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, leases = ids.len(), "heartbeat failed");
                return;
            }
            Err(_) => {
                tracing::warn!(leases = ids.len(), "heartbeat timed out");
                return;
            }
        };
    let Ok(map) = active.lock() else { return };
    for (attempt, beat) in beats {
        let Some(run) = map.get(&attempt) else {
            continue;
        };
        match beat {
            Heartbeat::Held { cancel_requested } => {
                if let Ok(mut renewed) = run.renewed.lock() {
                    *renewed = sent;
                }
                if cancel_requested {
                    run.token.cancel();
                }
            }
            Heartbeat::Lost => {
                tracing::warn!(attempt, "lease lost; stopping the step");
                run.lost.store(true, Ordering::SeqCst);
                run.token.cancel();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_step_is_dead_before_the_lease_ends() {
        for ttl_ms in [1_000u64, 2_000, 30_000] {
            let timing = LeaseTiming {
                ttl: Duration::from_millis(ttl_ms),
                heartbeat: Duration::from_millis(200),
            };
            let renewed = Instant::now();
            let killed_by = timing.deadline(renewed) + timing.kill_grace();
            assert!(killed_by < renewed + timing.ttl, "ttl {ttl_ms}");
            assert!(
                timing.deadline(renewed) > renewed + timing.heartbeat,
                "ttl {ttl_ms}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_moves_with_renewals() {
        let timing = LeaseTiming {
            ttl: Duration::from_secs(2),
            heartbeat: Duration::from_millis(200),
        };
        let start = Instant::now();
        let renewed = Arc::new(Mutex::new(start));
        let keeper = renewed.clone();
        tokio::spawn(async move {
            for _ in 0..5 {
                tokio::time::sleep(Duration::from_millis(200)).await;
                *keeper.lock().unwrap() = Instant::now();
            }
        });
        lease_deadline(&renewed, timing).await;
        let last = *renewed.lock().unwrap();
        assert_eq!(last, start + Duration::from_secs(1));
        assert_eq!(Instant::now(), timing.deadline(last));
    }
}
