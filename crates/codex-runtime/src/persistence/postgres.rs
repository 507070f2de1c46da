//! [`PostgresStore`]: conversations in PostgreSQL, shared by processes and machines.

use super::error::{PersistResult, PersistenceError};
use super::model::Durability;
use super::queries;
use super::schema::{COMPONENT, MIGRATIONS};
use super::sql::{SqlRow, SqlTx, SqlValue};
use super::store::{EventFeed, StoreFuture};
use super::store_impl::conversation_store_impl;
use codex_db::postgres::PgPool;
use futures::future::BoxFuture;
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};

/// Conversations in PostgreSQL: a connection pool (`codex_db::postgres`), migrations applied
/// once under an advisory lock, one transaction per call. Appends to one conversation take its
/// row lock, so sequences stay gap-free across processes and machines. Cheap to clone.
///
/// Every call runs in its own task: a call whose future is dropped still commits or rolls
/// back whole, and its connection goes back to the pool clean.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    url: codex_db::RedactedUrl,
    pub(crate) feed: EventFeed,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

fn pg_err(operation: &str, e: impl std::fmt::Display) -> PersistenceError {
    PersistenceError::store("postgres", operation, e)
}

impl PostgresStore {
    pub(crate) const BACKEND: &'static str = "postgres";

    /// Connects to `url` (`postgres://user:password@host/db`) and applies the migrations.
    pub async fn connect(url: &str) -> PersistResult<PostgresStore> {
        let pool = codex_db::postgres::connect(url)
            .await
            .map_err(|e| pg_err("connect", e))?;
        Self::from_pool(pool, codex_db::RedactedUrl::new(url)).await
    }

    /// Uses an existing pool (its database gets the migrations).
    pub async fn from_pool(
        pool: PgPool,
        url: codex_db::RedactedUrl,
    ) -> PersistResult<PostgresStore> {
        codex_db::postgres::migrate(&pool, COMPONENT, &migrations())
            .await
            .map_err(|e| pg_err("migrate", e))?;
        Ok(PostgresStore {
            pool,
            url,
            feed: EventFeed::new(),
        })
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    fn durability_of(&self) -> Durability {
        Durability::Durable
    }

    /// Runs `f` in one transaction on a pooled connection, in its own task.
    fn run<R, F>(&self, op: &'static str, f: F) -> StoreFuture<'_, R>
    where
        R: Send + 'static,
        F: for<'t> FnOnce(&'t mut PgConn) -> BoxFuture<'t, PersistResult<R>> + Send + 'static,
    {
        let pool = self.pool.clone();
        Box::pin(async move {
            tokio::spawn(async move {
                let client = pool.get().await.map_err(|e| pg_err(op, e))?;
                let mut conn = PgConn::begin(client);
                let result = match f(&mut conn).await {
                    Ok(v) => conn.commit().await.map(|()| v),
                    Err(e) => Err(e),
                };
                if result.is_err() && conn.in_transaction {
                    // A failed pipelined `COMMIT` has already ended the transaction; a second
                    // `ROLLBACK` then only warns. A connection in an unknown state never goes
                    // back to the pool.
                    if conn.client.batch_execute("ROLLBACK").await.is_err() {
                        let _ = deadpool_postgres::Object::take(conn.client);
                    }
                }
                result
            })
            .await
            .map_err(|e| pg_err(op, e))?
        })
    }
}

conversation_store_impl!(PostgresStore);

fn migrations() -> Vec<codex_db::Migration> {
    MIGRATIONS
        .iter()
        .map(|(version, name, sql)| codex_db::Migration {
            version: *version,
            name,
            sql,
        })
        .collect()
}

/// One pooled connection inside a transaction.
///
/// Round trips are what a local PostgreSQL costs a recorded turn, so statements whose result
/// nobody reads (`BEGIN`, [`SqlTx::execute_later`]) wait in `pending` and go out pipelined with
/// the next statement or the `COMMIT`: tokio-postgres sends the requests of futures polled
/// together back to back on the connection, in the order they are first polled, and the server
/// runs them in that order. An error in any of them aborts the transaction, so it fails the
/// statement or the commit it went with: nothing commits without every statement before it.
pub(crate) struct PgConn {
    client: deadpool_postgres::Object,
    pending: Vec<Pending>,
    /// `BEGIN` has been sent (a `ROLLBACK` is owed on failure).
    in_transaction: bool,
}

/// A statement waiting to go out with the next one.
enum Pending {
    Begin,
    Execute(tokio_postgres::Statement, Vec<SqlValue>),
}

impl ToSql for SqlValue {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match (self, ty) {
            (SqlValue::Int(v), &Type::INT4) => v.map(i32::try_from).transpose()?.to_sql(ty, out),
            (SqlValue::Int(v), _) => v.to_sql(ty, out),
            (SqlValue::Text(v), _) => v.to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::INT8 | Type::INT4 | Type::TEXT | Type::VARCHAR)
    }

    to_sql_checked!();
}

impl PgConn {
    /// A transaction whose `BEGIN` goes out with its first statement.
    fn begin(client: deadpool_postgres::Object) -> PgConn {
        PgConn {
            client,
            pending: vec![Pending::Begin],
            in_transaction: false,
        }
    }

    /// Sends the pending statements and then `last`'s, pipelined; returns `last`'s result.
    async fn pipelined<R>(
        &mut self,
        last: impl AsyncFnOnce(&tokio_postgres::Client) -> Result<R, tokio_postgres::Error>,
    ) -> PersistResult<R> {
        let pending = std::mem::take(&mut self.pending);
        if pending.iter().any(|p| matches!(p, Pending::Begin)) {
            self.in_transaction = true;
        }
        let client: &tokio_postgres::Client = &self.client;
        let before = async {
            // `try_join_all` polls its futures in order on its first poll: that sends them in
            // order, before `last` (polled after it by `try_join`).
            futures::future::try_join_all(pending.iter().map(|p| send(client, p)))
                .await
                .map_err(|e| pg_err("execute", e))
        };
        let after = async { last(client).await.map_err(|e| pg_err("execute", e)) };
        let ((), r) = futures::future::try_join(async { before.await.map(|_| ()) }, after).await?;
        Ok(r)
    }

    /// Sends the pending statements with `COMMIT`.
    async fn commit(&mut self) -> PersistResult<()> {
        if !self.in_transaction && self.pending.iter().all(|p| matches!(p, Pending::Begin)) {
            // Nothing ran, or `query_all_and_commit` already committed: nothing to commit.
            self.pending.clear();
            return Ok(());
        }
        self.pipelined(async |c| c.batch_execute("COMMIT").await)
            .await?;
        self.in_transaction = false;
        Ok(())
    }

    async fn statement(&mut self, sql: &str) -> PersistResult<tokio_postgres::Statement> {
        self.client
            .prepare_cached(sql)
            .await
            .map_err(|e| pg_err("prepare", e))
    }
}

/// Sends one pending statement.
async fn send(client: &tokio_postgres::Client, p: &Pending) -> Result<(), tokio_postgres::Error> {
    match p {
        Pending::Begin => client.batch_execute("BEGIN").await,
        Pending::Execute(st, params) => client.execute(st, &refs(params)).await.map(|_| ()),
    }
}

fn refs(params: &[SqlValue]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

impl SqlTx for PgConn {
    const ONE_FLIGHT: bool = true;
    const LOCK_SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";

    async fn query_all_and_commit(
        &mut self,
        statements: Vec<(&'static str, Vec<SqlValue>)>,
    ) -> PersistResult<Vec<Vec<SqlRow>>> {
        let mut prepared = Vec::with_capacity(statements.len());
        for (sql, _) in &statements {
            prepared.push(self.statement(sql).await?);
        }
        let args: Vec<_> = statements.iter().map(|(_, p)| refs(p)).collect();
        let rows = self
            .pipelined(async |c| {
                // Polled in order on the first poll: the statements go out before `COMMIT`.
                let all = futures::future::try_join_all(
                    prepared.iter().zip(&args).map(|(st, a)| c.query(st, a)),
                );
                futures::try_join!(all, c.batch_execute("COMMIT")).map(|(rows, ())| rows)
            })
            .await?;
        self.in_transaction = false;
        rows.into_iter().map(sql_rows).collect()
    }

    async fn execute(&mut self, sql: &str, params: &[SqlValue]) -> PersistResult<u64> {
        let st = self.statement(sql).await?;
        let args = refs(params);
        self.pipelined(async |c| c.execute(&st, &args).await).await
    }

    async fn execute_later(&mut self, sql: &str, params: &[SqlValue]) -> PersistResult<()> {
        let st = self.statement(sql).await?;
        self.pending.push(Pending::Execute(st, params.to_vec()));
        Ok(())
    }

    async fn query(&mut self, sql: &str, params: &[SqlValue]) -> PersistResult<Vec<SqlRow>> {
        let st = self.statement(sql).await?;
        let args = refs(params);
        let rows = self.pipelined(async |c| c.query(&st, &args).await).await?;
        sql_rows(rows)
    }

    async fn query_then_execute(
        &mut self,
        query: (&str, &[SqlValue]),
        statement: (&str, &[SqlValue]),
    ) -> PersistResult<(Vec<SqlRow>, u64)> {
        let q = self.statement(query.0).await?;
        let s = self.statement(statement.0).await?;
        let (q_args, s_args) = (refs(query.1), refs(statement.1));
        let (rows, n) = self
            .pipelined(async |c| {
                // `try_join!` polls (and so sends) in order: the query first.
                futures::try_join!(c.query(&q, &q_args), c.execute(&s, &s_args))
            })
            .await?;
        Ok((sql_rows(rows)?, n))
    }
}

/// Converts PostgreSQL rows into [`SqlRow`]s.
fn sql_rows(rows: Vec<tokio_postgres::Row>) -> PersistResult<Vec<SqlRow>> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mut values = Vec::with_capacity(row.len());
        for (i, col) in row.columns().iter().enumerate() {
            let v = match *col.type_() {
                Type::INT8 => SqlValue::Int(row.try_get(i).map_err(|e| pg_err("read", e))?),
                Type::INT4 => SqlValue::Int(
                    row.try_get::<_, Option<i32>>(i)
                        .map_err(|e| pg_err("read", e))?
                        .map(i64::from),
                ),
                Type::TEXT | Type::VARCHAR => {
                    SqlValue::Text(row.try_get(i).map_err(|e| pg_err("read", e))?)
                }
                ref other => {
                    return Err(PersistenceError::Corrupt {
                        table: "(query)",
                        message: format!("column {i} has type {other}"),
                    })
                }
            };
            values.push(v);
        }
        out.push(SqlRow(values));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::PostgresStore;
    use crate::persistence::{ConversationStore, NewConversation, Record, Scope, TurnStatus};

    /// A pipelined statement that fails (here the event insert held back for the `COMMIT`)
    /// fails the whole append: the turn update sent before it does not commit, and the
    /// connection is clean for the next call.
    #[tokio::test]
    async fn a_failing_pipelined_statement_commits_nothing() {
        let db = codex_test_support::postgres::fresh_database("pipelined_failure")
            .await
            .expect("a test database");
        let store = PostgresStore::connect(db.url()).await.expect("connect");
        let scope = Scope::new("t", "alice").expect("scope");
        store
            .create_conversation(&scope, NewConversation::new("c"))
            .await
            .expect("create");
        let started = Record::TurnStarted {
            turn_id: "turn-1".into(),
            prompt: Some("hi".into()),
        };
        let events = store
            .append(&scope, "c", vec![started])
            .await
            .expect("start");
        assert_eq!(events[0].seq, 1);
        // Another row already holds seq 2: the completion's event insert must fail.
        let client = store.pool().get().await.expect("a connection");
        client
            .batch_execute(
                "INSERT INTO codex_events (tenant, actor, conversation_id, seq, kind, turn_id, \
                 payload, created_at) VALUES ('t', 'alice', 'c', 2, 'squatter', NULL, '{}', 0)",
            )
            .await
            .expect("squat seq 2");
        let completed = || Record::TurnCompleted {
            turn_id: "turn-1".into(),
            status: TurnStatus::Completed,
            error: None,
            usage: None,
        };
        let failed = store.append(&scope, "c", vec![completed()]).await;
        assert!(failed.is_err(), "the append must fail: {failed:?}");
        let turns = store.read_turns(&scope, "c").await.expect("turns");
        assert_eq!(turns[0].status, TurnStatus::InProgress, "nothing committed");
        let row = client
            .query_one(
                "SELECT last_seq, (SELECT count(*) FROM codex_events) FROM codex_conversations",
                &[],
            )
            .await
            .expect("counters");
        let (last_seq, events): (i64, i64) = (row.get(0), row.get(1));
        assert_eq!(
            (last_seq, events),
            (1, 2),
            "no event and no counter committed"
        );

        client
            .batch_execute("DELETE FROM codex_events WHERE kind = 'squatter'")
            .await
            .expect("unsquat");
        drop(client);
        let events = store
            .append(&scope, "c", vec![completed()])
            .await
            .expect("retry");
        assert_eq!(events[0].seq, 2);
        let turns = store.read_turns(&scope, "c").await.expect("turns");
        assert_eq!(turns[0].status, TurnStatus::Completed);
        drop(store);
        db.drop_database().await.expect("drop the test database");
    }
}
