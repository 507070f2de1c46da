//! How many runs execute at once: one limit for the whole runner (a local client or a worker)
//! and one per flow (`max_concurrent_runs` in `flow.toml`). A run waits, still `queued`, until it
//! holds a slot of both.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::catalog::LoadedFlow;

/// The semaphores of one runner.
#[derive(Debug)]
pub(crate) struct RunLimits {
    runner: Arc<Semaphore>,
    per_flow: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// The slots one run holds while its step executes; dropping them frees the slots.
#[derive(Debug)]
pub(crate) struct RunPermits {
    _flow: Option<OwnedSemaphorePermit>,
    _runner: Option<OwnedSemaphorePermit>,
}

impl RunLimits {
    /// At most `max_runs` (at least 1) runs at once.
    pub(crate) fn new(max_runs: usize) -> Self {
        RunLimits {
            runner: Arc::new(Semaphore::new(max_runs.max(1))),
            per_flow: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for a slot of `flow` (when it sets a limit), then for a runner slot; taking the
    /// flow's slot first keeps runs of a throttled flow from holding runner slots while they wait.
    pub(crate) async fn acquire(&self, flow: &LoadedFlow) -> RunPermits {
        let flow_semaphore = flow.manifest.max_concurrent_runs.map(|max| {
            let mut map = self
                .per_flow
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            map.entry(flow.name().to_string())
                .or_insert_with(|| Arc::new(Semaphore::new((max as usize).max(1))))
                .clone()
        });
        // The semaphores are never closed, so acquiring only fails if that changes; a run then
        // goes ahead without the slot rather than never running.
        let flow_permit = match flow_semaphore {
            Some(s) => s.acquire_owned().await.ok(),
            None => None,
        };
        let runner_permit = self.runner.clone().acquire_owned().await.ok();
        RunPermits {
            _flow: flow_permit,
            _runner: runner_permit,
        }
    }
}
