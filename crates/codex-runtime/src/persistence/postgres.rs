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
                let mut conn = PgConn { client };
                conn.client
                    .batch_execute("BEGIN")
                    .await
                    .map_err(|e| pg_err(op, e))?;
                match f(&mut conn).await {
                    Ok(v) => {
                        if let Err(e) = conn.client.batch_execute("COMMIT").await {
                            let _ = conn.client.batch_execute("ROLLBACK").await;
                            return Err(pg_err(op, e));
                        }
                        Ok(v)
                    }
                    Err(e) => {
                        if conn.client.batch_execute("ROLLBACK").await.is_err() {
                            // A connection in an unknown state never goes back to the pool.
                            let _ = deadpool_postgres::Object::take(conn.client);
                        }
                        Err(e)
                    }
                }
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
pub(crate) struct PgConn {
    client: deadpool_postgres::Object,
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
    async fn statement(&mut self, sql: &str) -> PersistResult<tokio_postgres::Statement> {
        self.client
            .prepare_cached(sql)
            .await
            .map_err(|e| pg_err("prepare", e))
    }
}

fn refs(params: &[SqlValue]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

impl SqlTx for PgConn {
    async fn execute(&mut self, sql: &str, params: &[SqlValue]) -> PersistResult<u64> {
        let st = self.statement(sql).await?;
        self.client
            .execute(&st, &refs(params))
            .await
            .map_err(|e| pg_err("execute", e))
    }

    async fn query(&mut self, sql: &str, params: &[SqlValue]) -> PersistResult<Vec<SqlRow>> {
        let st = self.statement(sql).await?;
        let rows = self
            .client
            .query(&st, &refs(params))
            .await
            .map_err(|e| pg_err("query", e))?;
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
}
