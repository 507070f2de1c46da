//! Recording an attempt's end: a finished attempt keeps its result while the database does not
//! answer and writes it once it does, retrying with backoff. The write is fenced by the attempt
//! id, so it lands only while the attempt is still the run's current one; a lease known lost
//! (a heartbeat said so) ends the retries and the result is dropped: the run's new attempt
//! goes on. The lease keeps being heartbeated meanwhile (the attempt stays in the active set).

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::run_view::ProcessStatus;
use crate::store::{AttemptEnd, NextEvents};
use crate::worker::{Lease, RunEnd, Worker};

/// The first and the largest pause between two tries of an end write.
const FIRST_RETRY: Duration = Duration::from_millis(50);
const MAX_RETRY: Duration = Duration::from_millis(250);

impl Worker {
    /// Writes `end` (and `next`) for `attempt`, retrying while the database does not answer.
    pub(super) async fn record_end(
        &self,
        run_id: &str,
        attempt: &str,
        end: AttemptEnd,
        next: NextEvents,
        lease: &Lease,
    ) -> RunEnd {
        let timing = self.timing();
        let skipped = next.notes.clone();
        let mut pause = FIRST_RETRY;
        let mut failures = 0u32;
        loop {
            if lease.lost.load(Ordering::SeqCst) {
                tracing::warn!(
                    run_id,
                    attempt,
                    failures,
                    "result dropped: the lease was lost while its end could not be written"
                );
                return RunEnd::Fenced;
            }
            let write = self
                .store
                .finish_attempt_run(run_id, attempt, end.clone(), next.clone());
            let failure = match tokio::time::timeout(timing.op_timeout(), write).await {
                Ok(Ok(Some(run))) => {
                    if run.process_status != Some(ProcessStatus::Queued) {
                        // The end was written with the next events; these were left out.
                        for note in &skipped {
                            tracing::warn!(run_id, "{note}");
                        }
                    }
                    if failures > 0 {
                        tracing::info!(
                            run_id,
                            attempt,
                            failures,
                            "run's end written after retries"
                        );
                    }
                    return RunEnd::Finished;
                }
                Ok(Ok(None)) => {
                    tracing::warn!(run_id, attempt, "result refused: the lease was taken over");
                    return RunEnd::Fenced;
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => "the database did not answer in time".to_string(),
            };
            failures += 1;
            if failures == 1 {
                tracing::warn!(run_id, attempt, error = %failure, "cannot record the run's end yet; keeping the result and retrying");
            } else {
                tracing::debug!(run_id, attempt, failures, error = %failure, "run's end still not written");
            }
            // A stopping worker gives up once the lease may be over: it cannot outwait an
            // outage, and another worker takes the run over.
            let renewed = lease
                .renewed
                .lock()
                .map(|r| *r)
                .unwrap_or_else(|_| tokio::time::Instant::now());
            if lease.hand_back.load(Ordering::SeqCst)
                && tokio::time::Instant::now() >= renewed + timing.ttl
            {
                tracing::error!(run_id, attempt, failures, error = %failure, "cannot record the run's end (nor its next events); the worker is stopping");
                return RunEnd::NotRecorded;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_RETRY);
        }
    }

    /// A step stopped at its lease's local deadline: its result is not written (it did not
    /// finish); the lease is handed back if the database answers, else it lapses.
    pub(super) async fn give_up_expired(
        &self,
        run_id: &str,
        attempt: &str,
        timing: super::LeaseTiming,
    ) -> RunEnd {
        let why = format!(
            "stopped by worker {}: its lease could not be renewed in time",
            self.id
        );
        match tokio::time::timeout(
            timing.op_timeout(),
            self.store.release(run_id, attempt, &why),
        )
        .await
        {
            Ok(Ok(true)) => tracing::info!(run_id, attempt, "expired lease handed back"),
            Ok(Ok(false)) => tracing::info!(run_id, attempt, "expired lease already taken over"),
            Ok(Err(_)) | Err(_) => {
                tracing::warn!(run_id, attempt, "expired lease left to lapse")
            }
        }
        RunEnd::Expired
    }
}
