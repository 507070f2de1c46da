//! The job table.

use crate::persistence::error::{PersistResult, PersistenceError};
use crate::persistence::jobs::{JobKind, JobProgress, JobRecord, JobState};
use crate::persistence::model::{now_millis, page_limit, Scope};
use crate::persistence::sql::{params, SqlRow, SqlTx};

const JOB_COLS: &str =
    "job_id, tenant, actor, kind, state, progress, error, run_at, created_at, updated_at";

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
    })
}

pub(crate) async fn insert_job<T: SqlTx>(tx: &mut T, job: &JobRecord) -> PersistResult<()> {
    tx.execute(
        "INSERT INTO codex_jobs (job_id, tenant, actor, kind, state, progress, error, run_at, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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
            job.updated_at
        ],
    )
    .await?;
    Ok(())
}

pub(crate) async fn update_job<T: SqlTx>(tx: &mut T, job: &JobRecord) -> PersistResult<bool> {
    let n = tx
        .execute(
            "UPDATE codex_jobs SET state = $2, progress = $3, error = $4, run_at = $5, \
             updated_at = $6 WHERE job_id = $1 \
             AND state NOT IN ('synced', 'done', 'failed', 'cancelled')",
            &params![
                &job.job_id,
                job.state.as_str(),
                serde_json::to_string(&job.progress)?,
                job.error.clone(),
                job.run_at,
                now_millis()
            ],
        )
        .await?;
    Ok(n == 1)
}

pub(crate) async fn job<T: SqlTx>(tx: &mut T, job_id: &str) -> PersistResult<Option<JobRecord>> {
    let sql = format!("SELECT {JOB_COLS} FROM codex_jobs WHERE job_id = $1");
    let rows = tx.query(&sql, &params![job_id]).await?;
    rows.first().map(job_from).transpose()
}

pub(crate) async fn cancel_job<T: SqlTx>(
    tx: &mut T,
    job_id: &str,
) -> PersistResult<Option<JobRecord>> {
    tx.execute(
        "UPDATE codex_jobs SET state = 'cancelled', updated_at = $2 WHERE job_id = $1 \
         AND state NOT IN ('synced', 'done', 'failed', 'cancelled')",
        &params![job_id, now_millis()],
    )
    .await?;
    job(tx, job_id).await
}

pub(crate) async fn runnable_jobs<T: SqlTx>(
    tx: &mut T,
    now: i64,
    limit: u32,
) -> PersistResult<Vec<JobRecord>> {
    let sql = format!(
        "SELECT {JOB_COLS} FROM codex_jobs WHERE (state = 'queued' AND run_at <= $1) \
         OR state IN ('running', 'verifying') ORDER BY created_at, job_id LIMIT $2"
    );
    let rows = tx.query(&sql, &params![now, page_limit(limit)?]).await?;
    rows.iter().map(job_from).collect()
}
