//! The job table, with the claim (lease owner, lease expiry, fencing token) of each job.

use crate::persistence::error::{PersistResult, PersistenceError};
use crate::persistence::jobs::{JobKind, JobProgress, JobRecord, JobState};
use crate::persistence::model::{now_millis, Scope};
use crate::persistence::sql::{params, SqlRow, SqlTx};

const JOB_COLS: &str = "job_id, tenant, actor, kind, state, progress, error, run_at, created_at, \
     updated_at, lease_owner, lease_expires_at, claim";

/// A job a claim may take at `$1` (now): queued and due, or running with a lease that ran out
/// (or none: a job left by a version without claims).
const CLAIMABLE: &str = "((state = 'queued' AND run_at <= $1) OR (state IN ('running', \
     'verifying') AND (lease_expires_at IS NULL OR lease_expires_at <= $1)))";

/// The claim itself: `$2` the owner, `$3` the lease's end.
const CLAIM_SET: &str = "UPDATE codex_jobs SET state = CASE WHEN state = 'queued' THEN \
     'running' ELSE state END, lease_owner = $2, lease_expires_at = $3, claim = claim + 1, \
     updated_at = $1";

fn job_from(r: &SqlRow) -> PersistResult<JobRecord> {
    let corrupt = |e: serde_json::Error| PersistenceError::Corrupt {
        table: "codex_jobs",
        message: e.to_string(),
    };
    let state = r.text(4)?;
    Ok(JobRecord {
        job_id: r.text(0)?,
        scope: Scope {
            tenant: r.text(1)?,
            actor: r.text(2)?,
        },
        kind: serde_json::from_str::<JobKind>(&r.text(3)?).map_err(corrupt)?,
        state: JobState::parse(&state).ok_or_else(|| PersistenceError::Corrupt {
            table: "codex_jobs",
            message: format!("unknown state `{state}`"),
        })?,
        progress: serde_json::from_str::<JobProgress>(&r.text(5)?).map_err(corrupt)?,
        error: r.opt_text(6)?,
        run_at: r.int(7)?,
        created_at: r.int(8)?,
        updated_at: r.int(9)?,
        lease_owner: r.opt_text(10)?,
        lease_expires_at: r.opt_int(11)?,
        claim: r.int(12)?,
    })
}

pub(crate) async fn insert_job<T: SqlTx>(tx: &mut T, job: &JobRecord) -> PersistResult<()> {
    tx.execute(
        "INSERT INTO codex_jobs (job_id, tenant, actor, kind, state, progress, error, run_at, \
         created_at, updated_at, lease_owner, lease_expires_at, claim) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        &params![
            &job.job_id,
            &job.scope.tenant,
            &job.scope.actor,
            serde_json::to_string(&job.kind)?,
            job.state.as_str(),
            serde_json::to_string(&job.progress)?,
            job.error.clone(),
            job.run_at,
            job.created_at,
            job.updated_at,
            job.lease_owner.clone(),
            job.lease_expires_at,
            job.claim
        ],
    )
    .await?;
    Ok(())
}

/// Saves the job's state, fenced by its claim: only while `job.claim` is the job's current
/// claim, held by `job.lease_owner`, and the job has not ended.
pub(crate) async fn update_job<T: SqlTx>(tx: &mut T, job: &JobRecord) -> PersistResult<bool> {
    let n = tx
        .execute(
            "UPDATE codex_jobs SET state = $2, progress = $3, error = $4, run_at = $5, \
             updated_at = $6 WHERE job_id = $1 AND claim = $7 AND lease_owner = $8 \
             AND state NOT IN ('synced', 'done', 'failed', 'cancelled')",
            &params![
                &job.job_id,
                job.state.as_str(),
                serde_json::to_string(&job.progress)?,
                job.error.clone(),
                job.run_at,
                now_millis(),
                job.claim,
                job.lease_owner.clone()
            ],
        )
        .await?;
    Ok(n == 1)
}

pub(crate) async fn job<T: SqlTx>(
    tx: &mut T,
    scope: &Scope,
    job_id: &str,
) -> PersistResult<Option<JobRecord>> {
    let sql = format!(
        "SELECT {JOB_COLS} FROM codex_jobs WHERE job_id = $1 AND tenant = $2 AND actor = $3"
    );
    let rows = tx
        .query(&sql, &params![job_id, &scope.tenant, &scope.actor])
        .await?;
    rows.first().map(job_from).transpose()
}

pub(crate) async fn cancel_job<T: SqlTx>(
    tx: &mut T,
    scope: &Scope,
    job_id: &str,
) -> PersistResult<Option<JobRecord>> {
    tx.execute(
        "UPDATE codex_jobs SET state = 'cancelled', updated_at = $2 WHERE job_id = $1 \
         AND tenant = $3 AND actor = $4 \
         AND state NOT IN ('synced', 'done', 'failed', 'cancelled')",
        &params![job_id, now_millis(), &scope.tenant, &scope.actor],
    )
    .await?;
    job(tx, scope, job_id).await
}

/// Claims job `job_id` of `scope` for `owner` whatever its `run_at`, when it is queued or its
/// lease ran out; `None` when it is not claimable (held, finished, or not of the scope).
pub(crate) async fn claim_job<T: SqlTx>(
    tx: &mut T,
    scope: &Scope,
    job_id: &str,
    owner: &str,
    now: i64,
    lease: i64,
) -> PersistResult<Option<JobRecord>> {
    // `run_at` does not hold back an explicit run.
    let sql = format!(
        "{CLAIM_SET} WHERE job_id = $4 AND tenant = $5 AND actor = $6 AND (state = 'queued' \
         OR (state IN ('running', 'verifying') AND (lease_expires_at IS NULL \
         OR lease_expires_at <= $1))) RETURNING {JOB_COLS}"
    );
    let p = params![
        now,
        owner,
        now.saturating_add(lease),
        job_id,
        &scope.tenant,
        &scope.actor
    ];
    let rows = tx.query(&sql, &p).await?;
    rows.first().map(job_from).transpose()
}

/// Claims the oldest claimable job for `owner`. On PostgreSQL the candidate row is locked with
/// `FOR UPDATE SKIP LOCKED` (concurrent claimers take different jobs, and the claim condition
/// is checked again on the locked row); SQLite's `BEGIN IMMEDIATE` serializes the whole call.
pub(crate) async fn claim_next_job<T: SqlTx>(
    tx: &mut T,
    owner: &str,
    now: i64,
    lease: i64,
) -> PersistResult<Option<JobRecord>> {
    let sql = format!(
        "{CLAIM_SET} WHERE job_id = (SELECT job_id FROM codex_jobs WHERE {CLAIMABLE} \
         ORDER BY created_at, job_id LIMIT 1{}) AND {CLAIMABLE} RETURNING {JOB_COLS}",
        T::LOCK_SKIP_LOCKED
    );
    let rows = tx
        .query(&sql, &params![now, owner, now.saturating_add(lease)])
        .await?;
    rows.first().map(job_from).transpose()
}

/// Extends the lease of claim `claim` held by `owner`; `false` when that claim is no longer
/// the job's (taken over) or the job ended or was cancelled.
pub(crate) async fn renew_job_lease<T: SqlTx>(
    tx: &mut T,
    job_id: &str,
    claim: i64,
    owner: &str,
    now: i64,
    lease: i64,
) -> PersistResult<bool> {
    let n = tx
        .execute(
            "UPDATE codex_jobs SET lease_expires_at = $4 WHERE job_id = $1 AND claim = $2 \
             AND lease_owner = $3 AND state IN ('running', 'verifying')",
            &params![job_id, claim, owner, now.saturating_add(lease)],
        )
        .await?;
    Ok(n == 1)
}
