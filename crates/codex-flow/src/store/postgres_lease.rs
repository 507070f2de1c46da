//! Leasing on [`PostgresFlowStore`]: workers take queued (or lease-expired) runs with
//! `FOR UPDATE SKIP LOCKED`, keep them with heartbeats, and write results fenced by the attempt
//! id: a worker whose lease was taken over cannot write its result. Failed attempts are retried
//! with exponential backoff per the flow's `[retry]` policy, then dead-lettered.

use std::time::Duration;

use serde::Serialize;

use crate::error::Result;
use crate::event::FlowEvent;
use crate::flow_result::FlowResult;
use crate::output_capture::CapturedOutput;
use crate::run_view::{AttemptView, ProcessStatus, RunOutput, RunView};
use crate::state::{Claim, EventRecord};
use crate::store::postgres::status_of;
use crate::store::{NextEvents, PostgresFlowStore};
use crate::timestamp::now_rfc3339;

/// A run leased by a worker: run it, heartbeat it, then [`PostgresFlowStore::finish_attempt`].
#[derive(Debug, Clone)]
pub struct LeasedRun {
    /// The run as recorded (status `running`, the new attempt last).
    pub run: RunView,
    /// The attempt id: the fencing token of this lease.
    pub attempt_id: String,
    /// The event of the run.
    pub event: FlowEvent,
    /// The depth of the run's event (0 for a caller's event, n+1 for a `next` event of a
    /// depth-n event); the run's own `next` events are recorded at this depth + 1.
    pub event_depth: u32,
    /// The run was taken over from a worker whose lease expired.
    pub taken_over: bool,
}

/// What a heartbeat learned about one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heartbeat {
    /// The lease was extended.
    Held {
        /// A cancel was requested: stop the step.
        cancel_requested: bool,
    },
    /// The lease is gone (expired and taken over, or the run ended): stop the step; its result
    /// cannot be written.
    Lost,
}

/// How an attempt ended, as a worker reports it.
#[derive(Debug, Clone)]
pub struct AttemptEnd {
    /// `completed`, `failed` or `canceled`.
    pub process_status: ProcessStatus,
    /// The FLOW_RESULT.
    pub result: Option<FlowResult>,
    /// Why it failed.
    pub error: Option<String>,
    /// Exit code of a command step.
    pub exit_code: Option<i32>,
    /// Captured stdout.
    pub stdout: CapturedOutput,
    /// Captured stderr.
    pub stderr: CapturedOutput,
}

/// Counters and gauges of the store, for `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreMetrics {
    /// Runs waiting for a worker.
    pub queued: i64,
    /// Runs leased by a worker.
    pub running: i64,
    /// Leases taken over after they expired.
    pub lease_takeovers: i64,
    /// Failed attempts queued again.
    pub retries: i64,
    /// Runs that failed their last allowed attempt.
    pub dead_letter: i64,
}

/// The delay before the next attempt after `failures` failed ones: the workspace's backoff
/// (`codex_runtime::rpc::RetryPolicy`: exponential from `base_ms`, capped at `max_ms`, with
/// jitter so a fleet of workers does not retry in lockstep).
pub fn backoff_delay(failures: u32, base_ms: u64, max_ms: u64) -> Duration {
    codex_runtime::rpc::RetryPolicy {
        max_attempts: u32::MAX,
        initial_backoff: Duration::from_millis(base_ms),
        max_backoff: Duration::from_millis(max_ms),
    }
    .backoff(failures)
}

impl PostgresFlowStore {
    /// Leases up to `max` runs for `worker_id` whose package hash is one of `packages`: queued
    /// runs that are due, and running runs whose lease expired (taken over). Each gets a new
    /// attempt whose id fences its result; the lease lasts `ttl`.
    pub async fn lease(
        &self,
        worker_id: &str,
        packages: &[String],
        max: usize,
        ttl: Duration,
    ) -> Result<Vec<LeasedRun>> {
        if max == 0 || packages.is_empty() {
            return Ok(Vec::new());
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.err(e))?;
        self.end_canceled_orphans(&tx, worker_id, packages).await?;
        let rows = tx
            .query(
                "SELECT id, record, status FROM flow_runs \
                 WHERE status IN ('queued', 'running') AND package_hash = ANY($1) \
                 AND NOT cancel_requested \
                 AND ((status = 'queued' AND available_at <= now()) \
                      OR (status = 'running' AND lease_expires_at < now())) \
                 ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED",
                &[&packages, &(max as i64)],
            )
            .await
            .map_err(|e| self.err(e))?;
        let ttl_ms = ttl.as_millis() as i64;
        let lease_until: chrono::DateTime<chrono::Utc> =
            chrono::Utc::now() + chrono::Duration::milliseconds(ttl_ms);
        let lease_text = lease_until.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut leased = Vec::new();
        let mut takeovers = 0i64;
        for row in &rows {
            let id: String = row.get(0);
            let mut run: RunView = self.decode(row.get(1), "run")?;
            let taken_over = row.get::<_, String>(2) == "running";
            let now = now_rfc3339();
            if taken_over {
                takeovers += 1;
                if let Some(a) = run.attempts.last_mut() {
                    a.status = Some(ProcessStatus::Failed);
                    a.finished_at = Some(now.clone());
                    a.error = Some(format!("lease expired; taken over by {worker_id}"));
                }
            }
            let number = run.attempts.len() as u32 + 1;
            let attempt_id = crate::ids::attempt_id(&id, number);
            run.process_status = Some(ProcessStatus::Running);
            run.owner = Some(worker_id.to_string());
            run.started_at.get_or_insert(now.clone());
            run.updated_at = Some(now.clone());
            run.attempts.push(AttemptView {
                id: attempt_id.clone(),
                status: Some(ProcessStatus::Running),
                attempt_number: number,
                worker_id: Some(worker_id.to_string()),
                lease_expires_at: Some(lease_text.clone()),
                started_at: Some(now),
                finished_at: None,
                exit_code: None,
                error: None,
                extra: Default::default(),
            });
            run.refresh();
            tx.execute(
                "UPDATE flow_runs SET status = 'running', effective = $2, attempt_id = $3, \
                 worker_id = $4, lease_expires_at = now() + $5 * interval '1 millisecond', \
                 record = $6 WHERE id = $1",
                &[
                    &id,
                    &run.effective_status.as_str(),
                    &attempt_id,
                    &worker_id,
                    &(ttl_ms as f64),
                    &self.encode(&run)?,
                ],
            )
            .await
            .map_err(|e| self.err(e))?;
            leased.push((run, attempt_id, taken_over));
        }
        if takeovers > 0 {
            bump(&tx, "lease_takeovers", takeovers)
                .await
                .map_err(|e| self.err(e))?;
        }
        let event_ids: Vec<String> = leased.iter().map(|(r, _, _)| r.event_id.clone()).collect();
        let events = tx
            .query(
                "SELECT id, record FROM flow_events WHERE id = ANY($1)",
                &[&event_ids],
            )
            .await
            .map_err(|e| self.err(e))?;
        let mut by_id = std::collections::HashMap::new();
        for row in &events {
            let record: EventRecord = self.decode(row.get(1), "event")?;
            by_id.insert(row.get::<_, String>(0), (record.event, record.depth));
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        leased
            .into_iter()
            .map(|(run, attempt_id, taken_over)| {
                let (event, event_depth) = by_id
                    .get(&run.event_id)
                    .cloned()
                    .ok_or_else(|| self.err(format!("run {} has no stored event", run.id)))?;
                Ok(LeasedRun {
                    run,
                    attempt_id,
                    event,
                    event_depth,
                    taken_over,
                })
            })
            .collect()
    }

    /// Ends as `canceled` the runs of `packages` that had a cancel requested and that no worker
    /// holds any more (a lease that expired, or a lease handed back): they are never started
    /// again. Part of the lease transaction `tx`.
    async fn end_canceled_orphans(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        worker_id: &str,
        packages: &[String],
    ) -> Result<()> {
        let rows = tx
            .query(
                "SELECT id, record FROM flow_runs \
                 WHERE cancel_requested AND package_hash = ANY($1) \
                 AND (status = 'queued' OR (status = 'running' AND lease_expires_at < now())) \
                 ORDER BY seq LIMIT 100 FOR UPDATE SKIP LOCKED",
                &[&packages],
            )
            .await
            .map_err(|e| self.err(e))?;
        for row in &rows {
            let id: String = row.get(0);
            let mut run: RunView = self.decode(row.get(1), "run")?;
            let now = now_rfc3339();
            if let Some(a) = run.attempts.last_mut() {
                if !a.status.is_some_and(ProcessStatus::is_terminal) {
                    a.status = Some(ProcessStatus::Canceled);
                    a.finished_at = Some(now.clone());
                    a.error = Some("lease expired after a cancel request".into());
                    a.lease_expires_at = None;
                }
            }
            run.process_status = Some(ProcessStatus::Canceled);
            run.error = Some("canceled; its worker was gone, so it was not started again".into());
            run.notes.push(format!(
                "cancel completed by worker {worker_id} on takeover"
            ));
            run.owner = None;
            run.finished_at = Some(now.clone());
            run.updated_at = Some(now);
            run.refresh();
            tx.execute(
                "UPDATE flow_runs SET status = 'canceled', effective = $2, record = $3, \
                 lease_expires_at = NULL, worker_id = NULL WHERE id = $1",
                &[&id, &run.effective_status.as_str(), &self.encode(&run)?],
            )
            .await
            .map_err(|e| self.err(e))?;
            tracing::info!(run_id = %id, "canceled run ended on takeover, not started again");
        }
        Ok(())
    }

    /// Extends the leases of `attempt_ids` by `ttl`; answers per attempt whether it is still
    /// held and whether a cancel was requested.
    pub async fn heartbeat(
        &self,
        attempt_ids: &[String],
        ttl: Duration,
    ) -> Result<Vec<(String, Heartbeat)>> {
        if attempt_ids.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.client().await?;
        let rows = client
            .query(
                "UPDATE flow_runs SET lease_expires_at = now() + $2 * interval '1 millisecond' \
                 WHERE attempt_id = ANY($1) AND status = 'running' \
                 RETURNING attempt_id, cancel_requested",
                &[&attempt_ids, &(ttl.as_millis() as f64)],
            )
            .await
            .map_err(|e| self.err(e))?;
        let held: std::collections::HashMap<String, bool> =
            rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        Ok(attempt_ids
            .iter()
            .map(|id| {
                let beat = match held.get(id) {
                    Some(&cancel_requested) => Heartbeat::Held { cancel_requested },
                    None => Heartbeat::Lost,
                };
                (id.clone(), beat)
            })
            .collect())
    }

    /// Writes the end of attempt `attempt_id` of `run_id`, fenced: returns `false` (and writes
    /// nothing) when the attempt no longer holds the lease. A failed attempt with attempts left
    /// under the flow's `[retry]` policy is queued again after the backoff; the last one is
    /// dead-lettered.
    pub async fn finish_attempt(
        &self,
        run_id: &str,
        attempt_id: &str,
        end: AttemptEnd,
    ) -> Result<bool> {
        Ok(self
            .finish_attempt_run(run_id, attempt_id, end, NextEvents::default())
            .await?
            .is_some())
    }

    /// [`Self::finish_attempt`] that also records the attempt's `next` events, answering the
    /// run as written (`None`: fenced, nothing was written, `next` included). A run queued
    /// again for a retry is `queued`: its attempt's result was not kept and `next` is not
    /// recorded. Otherwise the run is over, `result` is the attempt's FLOW_RESULT, and `next`
    /// (see [`crate::store::next_dispatch`]) is recorded in the same transaction as the end:
    /// each event with its queued runs, an event id already stored noted on the run
    /// (`next event `…` was already stored: nothing ran`) next to `next.notes`. Both commit
    /// together or not at all: if recording a next event fails, the end is not written either
    /// (the error is returned and the attempt still holds its lease).
    pub async fn finish_attempt_run(
        &self,
        run_id: &str,
        attempt_id: &str,
        end: AttemptEnd,
        next: NextEvents,
    ) -> Result<Option<RunView>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.err(e))?;
        let Some(row) = tx
            .query_opt(
                "SELECT record, failures, max_attempts, backoff_ms, max_backoff_ms \
                 FROM flow_runs WHERE id = $1 AND attempt_id = $2 AND status = 'running' \
                 FOR UPDATE",
                &[&run_id, &attempt_id],
            )
            .await
            .map_err(|e| self.err(e))?
        else {
            return Ok(None);
        };
        let mut run: RunView = self.decode(row.get(0), "run")?;
        let failures = row.get::<_, i32>(1) as u32;
        let max_attempts = row.get::<_, i32>(2) as u32;
        let now = now_rfc3339();
        let failed = end.process_status == ProcessStatus::Failed && !run.cancel_requested;
        let retry = failed && failures + 1 < max_attempts;
        let dead_letter = failed && !retry && max_attempts > 1;
        if let Some(a) = run.attempts.last_mut() {
            a.status = Some(end.process_status);
            a.finished_at = Some(now.clone());
            a.exit_code = end.exit_code;
            a.error = end.error.clone();
            a.lease_expires_at = None;
        }
        run.output.push(RunOutput {
            attempt_id: Some(attempt_id.to_string()),
            stdout: end.stdout,
            stderr: end.stderr,
        });
        run.error = end.error;
        run.updated_at = Some(now.clone());
        let mut delay_ms = 0f64;
        if retry {
            let delay = backoff_delay(
                failures + 1,
                row.get::<_, i64>(3) as u64,
                row.get::<_, i64>(4) as u64,
            );
            delay_ms = delay.as_millis() as f64;
            run.process_status = Some(ProcessStatus::Queued);
            run.notes.push(format!(
                "attempt {} failed; retry {} of {} in {} ms",
                run.attempts.len(),
                failures + 2,
                max_attempts,
                delay.as_millis()
            ));
            bump(&tx, "retries", 1).await.map_err(|e| self.err(e))?;
        } else {
            run.process_status = Some(end.process_status);
            run.result = end.result;
            if run.result.is_none() {
                run.result_status = None;
            }
            run.finished_at = Some(now);
            if dead_letter {
                run.dead_letter = true;
                run.notes
                    .push(format!("dead-letter: all {max_attempts} attempts failed"));
                bump(&tx, "dead_letter", 1).await.map_err(|e| self.err(e))?;
            }
            // The run is over: its next events go into this transaction, so they commit with
            // its end or not at all.
            let NextEvents { dispatches, notes } = next;
            run.notes.extend(notes);
            for (record, runs) in &dispatches {
                let event_id = &record.event.id;
                match self.record_event_in(&tx, record, runs).await? {
                    Claim::Claimed => {
                        tracing::debug!(
                            run_id,
                            event_id,
                            depth = record.depth,
                            matched = runs.len(),
                            "next event recorded"
                        );
                    }
                    Claim::Duplicate(_) => {
                        tracing::info!(
                            run_id,
                            event_id,
                            "next event already stored: nothing new runs"
                        );
                        run.notes.push(format!(
                            "next event `{event_id}` was already stored: nothing ran"
                        ));
                    }
                }
            }
        }
        run.refresh();
        tx.execute(
            "UPDATE flow_runs SET status = $2, effective = $3, record = $4, \
             failures = failures + $5, lease_expires_at = NULL, worker_id = NULL, \
             available_at = now() + $6 * interval '1 millisecond' WHERE id = $1",
            &[
                &run_id,
                &status_of(&run),
                &run.effective_status.as_str(),
                &self.encode(&run)?,
                &i32::from(failed),
                &delay_ms,
            ],
        )
        .await
        .map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(Some(run))
    }

    /// Hands the lease of `attempt_id` back (a draining worker): the run is queued again at
    /// once and the attempt does not count as a failure. Returns whether the lease was held.
    pub async fn release(&self, run_id: &str, attempt_id: &str, why: &str) -> Result<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.err(e))?;
        let Some(row) = tx
            .query_opt(
                "SELECT record FROM flow_runs WHERE id = $1 AND attempt_id = $2 \
                 AND status = 'running' FOR UPDATE",
                &[&run_id, &attempt_id],
            )
            .await
            .map_err(|e| self.err(e))?
        else {
            return Ok(false);
        };
        let mut run: RunView = self.decode(row.get(0), "run")?;
        let now = now_rfc3339();
        if let Some(a) = run.attempts.last_mut() {
            a.status = Some(ProcessStatus::Canceled);
            a.finished_at = Some(now.clone());
            a.error = Some(why.to_string());
            a.lease_expires_at = None;
        }
        run.process_status = Some(ProcessStatus::Queued);
        run.owner = None;
        run.updated_at = Some(now);
        run.refresh();
        tx.execute(
            "UPDATE flow_runs SET status = 'queued', effective = $2, record = $3, \
             lease_expires_at = NULL, worker_id = NULL, available_at = now() WHERE id = $1",
            &[&run_id, &run.effective_status.as_str(), &self.encode(&run)?],
        )
        .await
        .map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(true)
    }

    /// Queued and running counts, and the takeover, retry and dead-letter counters.
    pub async fn metrics(&self) -> Result<StoreMetrics> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT status, count(*) FROM flow_runs WHERE status IN ('queued', 'running') \
                 GROUP BY status UNION ALL SELECT name, value FROM flow_counters",
                &[],
            )
            .await
            .map_err(|e| self.err(e))?;
        let mut m = StoreMetrics::default();
        for row in rows {
            let value: i64 = row.get(1);
            match row.get::<_, &str>(0) {
                "queued" => m.queued = value,
                "running" => m.running = value,
                "lease_takeovers" => m.lease_takeovers = value,
                "retries" => m.retries = value,
                "dead_letter" => m.dead_letter = value,
                _ => {}
            }
        }
        Ok(m)
    }
}

async fn bump(
    tx: &deadpool_postgres::Transaction<'_>,
    name: &str,
    by: i64,
) -> std::result::Result<u64, tokio_postgres::Error> {
    tx.execute(
        "INSERT INTO flow_counters (name, value) VALUES ($1, $2) \
         ON CONFLICT (name) DO UPDATE SET value = flow_counters.value + $2",
        &[&name, &by],
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_from_the_base_and_is_capped() {
        for _ in 0..20 {
            let first = backoff_delay(1, 100, 1000);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let capped = backoff_delay(30, 100, 1000);
            assert!(capped >= Duration::from_millis(500) && capped <= Duration::from_millis(1000));
        }
    }
}
