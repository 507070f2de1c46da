//! [`PostgresFlowStore`]: events and runs in PostgreSQL, shared by `codex-flow serve` and any
//! number of `codex-flow worker` processes on any machines.
//!
//! Tables (`flow_events`, `flow_runs`, `flow_counters`) hold each record as JSON text next to
//! the columns that queries and leases use. Every operation is one transaction.

use codex_db::postgres::PgPool as Pool;
use deadpool_postgres::GenericClient;
use futures::future::BoxFuture;

use crate::error::{FlowError, Result};
use crate::run_view::RunView;
use crate::state::{effective_limit, Claim, EventFilter, EventRecord, RunFilter};
use crate::store::{apply_cancel, replay_runs, FlowStore, ReplayPlan};

/// The component name of the flow store's migrations.
pub const MIGRATION_COMPONENT: &str = "codex_flow";

/// The flow store's migrations.
pub const MIGRATIONS: &[codex_db::Migration] = &[codex_db::Migration {
    version: 1,
    name: "events, runs, leases, counters",
    sql: SCHEMA_V1,
}];

const SCHEMA_V1: &str = "
CREATE TABLE IF NOT EXISTS flow_events (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS flow_events_by_type ON flow_events (type, seq);
CREATE TABLE IF NOT EXISTS flow_runs (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    event_id TEXT NOT NULL,
    status TEXT NOT NULL,
    effective TEXT NOT NULL,
    package_hash TEXT,
    attempt_id TEXT,
    worker_id TEXT,
    lease_expires_at TIMESTAMPTZ,
    failures INT NOT NULL DEFAULT 0,
    max_attempts INT NOT NULL DEFAULT 1,
    backoff_ms BIGINT NOT NULL DEFAULT 1000,
    max_backoff_ms BIGINT NOT NULL DEFAULT 60000,
    available_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    cancel_requested BOOLEAN NOT NULL DEFAULT false,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS flow_runs_by_event ON flow_runs (event_id);
CREATE INDEX IF NOT EXISTS flow_runs_ready ON flow_runs (status, available_at, seq)
    WHERE status IN ('queued', 'running');
CREATE INDEX IF NOT EXISTS flow_runs_by_attempt ON flow_runs (attempt_id);
CREATE TABLE IF NOT EXISTS flow_counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL DEFAULT 0
);
";

/// How long taking a pooled connection may wait (creating one included).
pub const POOL_WAIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The server-side bound of every statement of the flow store.
pub const STATEMENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Events and runs in PostgreSQL.
#[derive(Clone)]
pub struct PostgresFlowStore {
    pub(crate) pool: Pool,
    pub(crate) shown: String,
}

impl std::fmt::Debug for PostgresFlowStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresFlowStore")
            .field("url", &self.shown)
            .finish_non_exhaustive()
    }
}

impl PostgresFlowStore {
    /// Connects to `url` (`postgres://user:password@host/db`) and applies the flow store's
    /// migrations (once, under codex-db's advisory lock, so several processes may start at once).
    /// Taking a pooled connection waits at most [`POOL_WAIT_TIMEOUT`] and every statement is
    /// bounded by [`STATEMENT_TIMEOUT`] on the server, so an unreachable or stuck database
    /// turns into errors instead of stalls.
    pub async fn connect(url: &str) -> Result<Self> {
        let shown = codex_db::RedactedUrl::new(url).to_string();
        let err = |e: codex_db::DbError| FlowError::Database {
            store: shown.clone(),
            message: e.to_string(),
        };
        let options = codex_db::postgres::PoolOptions::default()
            .wait_timeout(POOL_WAIT_TIMEOUT)
            .statement_timeout(STATEMENT_TIMEOUT);
        let pool = codex_db::postgres::connect_with(url, options)
            .await
            .map_err(err)?;
        codex_db::postgres::migrate(&pool, MIGRATION_COMPONENT, MIGRATIONS)
            .await
            .map_err(err)?;
        Ok(PostgresFlowStore { pool, shown })
    }

    pub(crate) fn err(&self, e: impl std::fmt::Display) -> FlowError {
        FlowError::Database {
            store: self.shown.clone(),
            message: e.to_string(),
        }
    }

    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pool.get().await.map_err(|e| self.err(e))
    }

    pub(crate) fn decode<T: serde::de::DeserializeOwned>(
        &self,
        text: &str,
        what: &str,
    ) -> Result<T> {
        serde_json::from_str(text).map_err(|e| self.err(format!("corrupt {what} record: {e}")))
    }

    pub(crate) fn encode<T: serde::Serialize>(&self, value: &T) -> Result<String> {
        serde_json::to_string(value).map_err(|e| self.err(e))
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<()> {
        let client = self.client().await?;
        client
            .simple_query("SELECT 1")
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    pub(crate) async fn insert_run(
        &self,
        client: &impl GenericClient,
        run: &RunView,
        retry: Option<crate::manifest::RetryPolicy>,
    ) -> Result<()> {
        let (max_attempts, backoff, max_backoff) = match retry {
            Some(r) => (
                r.max_attempts as i32,
                r.backoff_ms as i64,
                r.max_backoff_ms as i64,
            ),
            None => (1, 1000, 60_000),
        };
        client
            .execute(
                "INSERT INTO flow_runs (id, event_id, status, effective, package_hash, \
                 max_attempts, backoff_ms, max_backoff_ms, record) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[
                    &run.id,
                    &run.event_id,
                    &status_of(run),
                    &run.effective_status.as_str(),
                    &run.package_hash,
                    &max_attempts,
                    &backoff,
                    &max_backoff,
                    &self.encode(run)?,
                ],
            )
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Like [`FlowStore::record_event`], with each run's retry policy (from its flow manifest).
    /// One transaction: the event and its runs are stored together or not at all.
    pub async fn record_event_with_policies(
        &self,
        record: EventRecord,
        runs: Vec<(RunView, Option<crate::manifest::RetryPolicy>)>,
    ) -> Result<Claim> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.err(e))?;
        let claim = self.record_event_in(&tx, &record, &runs).await?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(claim)
    }

    /// Stores `record` and its queued `runs` (with their retry policies) inside `tx`, which the
    /// caller commits. An event id already stored is [`Claim::Duplicate`] with the stored
    /// record's run ids, and nothing is written; any database error is returned as is (the
    /// caller's transaction is then aborted and must not be committed).
    pub(crate) async fn record_event_in(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        record: &EventRecord,
        runs: &[(RunView, Option<crate::manifest::RetryPolicy>)],
    ) -> Result<Claim> {
        let inserted = tx
            .execute(
                "INSERT INTO flow_events (id, type, record) VALUES ($1, $2, $3) \
                 ON CONFLICT (id) DO NOTHING",
                &[
                    &record.event.id,
                    &record.event.event_type,
                    &self.encode(record)?,
                ],
            )
            .await
            .map_err(|e| self.err(e))?;
        if inserted == 0 {
            let row = tx
                .query_one(
                    "SELECT record FROM flow_events WHERE id = $1",
                    &[&record.event.id],
                )
                .await
                .map_err(|e| self.err(e))?;
            let existing: EventRecord = self.decode(row.get(0), "event")?;
            return Ok(Claim::Duplicate(existing.run_ids));
        }
        for (run, retry) in runs {
            self.insert_run(tx, run, *retry).await?;
        }
        Ok(Claim::Claimed)
    }

    /// Like [`FlowStore::record_replay`], with each run's retry policy.
    pub async fn record_replay_with_policies(
        &self,
        event_id: &str,
        plan: Vec<(ReplayPlan, Option<crate::manifest::RetryPolicy>)>,
    ) -> Result<Vec<RunView>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.err(e))?;
        let row = tx
            .query_opt(
                "SELECT record FROM flow_events WHERE id = $1 FOR UPDATE",
                &[&event_id],
            )
            .await
            .map_err(|e| self.err(e))?
            .ok_or_else(|| FlowError::UnknownEvent(event_id.to_string()))?;
        let mut record: EventRecord = self.decode(row.get(0), "event")?;
        record.replays += 1;
        let (plans, policies): (Vec<_>, Vec<_>) = plan.into_iter().unzip();
        let runs = replay_runs(&record, &plans);
        record.run_ids.extend(runs.iter().map(|r| r.id.clone()));
        tx.execute(
            "UPDATE flow_events SET record = $2 WHERE id = $1",
            &[&event_id, &self.encode(&record)?],
        )
        .await
        .map_err(|e| self.err(e))?;
        for (run, retry) in runs.iter().zip(policies) {
            self.insert_run(&tx, run, retry).await?;
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(runs)
    }

    async fn query_records<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        what: &str,
    ) -> Result<Vec<T>> {
        let client = self.client().await?;
        let rows = client.query(sql, params).await.map_err(|e| self.err(e))?;
        rows.iter().map(|r| self.decode(r.get(0), what)).collect()
    }
}

pub(crate) fn status_of(run: &RunView) -> &'static str {
    run.process_status.map(|s| s.as_str()).unwrap_or("unknown")
}

impl FlowStore for PostgresFlowStore {
    fn record_event(
        &self,
        record: EventRecord,
        runs: Vec<RunView>,
    ) -> BoxFuture<'_, Result<Claim>> {
        Box::pin(
            self.record_event_with_policies(record, runs.into_iter().map(|r| (r, None)).collect()),
        )
    }

    fn record_replay(
        &self,
        event_id: String,
        plan: Vec<ReplayPlan>,
    ) -> BoxFuture<'_, Result<Vec<RunView>>> {
        Box::pin(async move {
            self.record_replay_with_policies(
                &event_id,
                plan.into_iter().map(|p| (p, None)).collect(),
            )
            .await
        })
    }

    fn get_run(&self, run_id: String) -> BoxFuture<'_, Result<Option<RunView>>> {
        Box::pin(async move {
            Ok(self
                .query_records(
                    "SELECT record FROM flow_runs WHERE id = $1",
                    &[&run_id],
                    "run",
                )
                .await?
                .pop())
        })
    }

    fn list_runs(&self, filter: RunFilter) -> BoxFuture<'_, Result<Vec<RunView>>> {
        Box::pin(async move {
            let limit = effective_limit(filter.limit) as i64;
            self.query_records(
                "SELECT record FROM flow_runs WHERE ($1::text IS NULL OR event_id = $1) \
                 AND ($2::text IS NULL OR status = $2 OR effective = $2) \
                 ORDER BY seq DESC LIMIT $3",
                &[&filter.event_id, &filter.status, &limit],
                "run",
            )
            .await
        })
    }

    fn get_event(&self, event_id: String) -> BoxFuture<'_, Result<Option<EventRecord>>> {
        Box::pin(async move {
            Ok(self
                .query_records(
                    "SELECT record FROM flow_events WHERE id = $1",
                    &[&event_id],
                    "event",
                )
                .await?
                .pop())
        })
    }

    fn list_events(&self, filter: EventFilter) -> BoxFuture<'_, Result<Vec<EventRecord>>> {
        Box::pin(async move {
            let limit = effective_limit(filter.limit) as i64;
            self.query_records(
                "SELECT record FROM flow_events WHERE ($1::text IS NULL OR type = $1) \
                 ORDER BY seq DESC LIMIT $2",
                &[&filter.event_type, &limit],
                "event",
            )
            .await
        })
    }

    fn cancel_run(&self, run_id: String) -> BoxFuture<'_, Result<RunView>> {
        Box::pin(async move {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(|e| self.err(e))?;
            let row = tx
                .query_opt(
                    "SELECT record FROM flow_runs WHERE id = $1 FOR UPDATE",
                    &[&run_id],
                )
                .await
                .map_err(|e| self.err(e))?
                .ok_or_else(|| FlowError::UnknownRun(run_id.clone()))?;
            let mut run: RunView = self.decode(row.get(0), "run")?;
            if apply_cancel(&mut run) {
                run.updated_at = Some(crate::timestamp::now_rfc3339());
                run.refresh();
                tx.execute(
                    "UPDATE flow_runs SET record = $2, status = $3, effective = $4, \
                     cancel_requested = $5, lease_expires_at = CASE WHEN $3 = 'canceled' \
                     THEN NULL ELSE lease_expires_at END WHERE id = $1",
                    &[
                        &run_id,
                        &self.encode(&run)?,
                        &status_of(&run),
                        &run.effective_status.as_str(),
                        &run.cancel_requested,
                    ],
                )
                .await
                .map_err(|e| self.err(e))?;
            }
            tx.commit().await.map_err(|e| self.err(e))?;
            Ok(run)
        })
    }
}
