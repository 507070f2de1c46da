//! Holding a job's claim: the heartbeat that renews its lease while the job runs, with a local
//! deadline, so a runner that cannot reach the store stops the job before another worker may
//! take it over.

use super::model::now_millis;
use super::store::ConversationStore;
use std::time::Duration;
use tokio::time::Instant;

/// Renews the claim `claim` of `job_id` every third of `lease` and returns (with the reason)
/// once the claim is lost: the store refused the renewal (the job was cancelled, finished or
/// claimed by another worker), or renewals failed until less than a third of the lease was
/// left. Never returns while renewals succeed; the caller races it against the job.
pub(crate) async fn hold(
    store: &dyn ConversationStore,
    job_id: &str,
    claim: i64,
    owner: &str,
    lease: Duration,
) -> String {
    let every = lease / 3;
    let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
    // The claim was written just before the job started: its lease ends one lease from now at
    // the latest (the local clock never runs ahead of the stored expiry).
    let mut expires = Instant::now() + lease;
    loop {
        tokio::time::sleep(every).await;
        let asked = Instant::now();
        // A renewal that hangs must not outlive the lease either.
        let give_up = expires.checked_sub(every).unwrap_or(asked).max(asked);
        let renewal = store.renew_job_lease(job_id, claim, owner, now_millis(), lease_ms);
        match tokio::time::timeout_at(give_up, renewal).await {
            Err(_) => return "the store did not answer a renewal before the lease ends".into(),
            Ok(Ok(true)) => expires = asked + lease,
            Ok(Ok(false)) => return "the store refused the renewal".into(),
            Ok(Err(e)) => {
                tracing::warn!(job = %job_id, error = %e, "cannot renew the job's lease");
                if Instant::now() + every >= expires {
                    return format!("the lease could not be renewed before it ends: {e}");
                }
            }
        }
    }
}
