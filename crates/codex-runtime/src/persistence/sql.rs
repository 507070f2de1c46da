//! The seam between the store logic ([`super::queries`], written once) and the two databases:
//! a transaction that runs numbered-parameter SQL (`$1`, `$2`, ...) over [`SqlValue`]s.
//!
//! Hand-written rather than an ORM or `sqlx`: the stores need a dozen statements of portable
//! SQL, `sqlx` would pull a second `libsqlite3-sys` next to `rusqlite`, and two small adapters
//! keep one copy of every query for both backends.

use super::error::{PersistResult, PersistenceError};
use std::future::Future;

/// A parameter or column value: the stores only use 64-bit integers and text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SqlValue {
    Int(Option<i64>),
    Text(Option<String>),
}

impl From<i64> for SqlValue {
    fn from(v: i64) -> Self {
        SqlValue::Int(Some(v))
    }
}
impl From<Option<i64>> for SqlValue {
    fn from(v: Option<i64>) -> Self {
        SqlValue::Int(v)
    }
}
impl From<&str> for SqlValue {
    fn from(v: &str) -> Self {
        SqlValue::Text(Some(v.to_string()))
    }
}
impl From<&String> for SqlValue {
    fn from(v: &String) -> Self {
        SqlValue::Text(Some(v.clone()))
    }
}
impl From<String> for SqlValue {
    fn from(v: String) -> Self {
        SqlValue::Text(Some(v))
    }
}
impl From<Option<String>> for SqlValue {
    fn from(v: Option<String>) -> Self {
        SqlValue::Text(v)
    }
}
impl From<Option<&str>> for SqlValue {
    fn from(v: Option<&str>) -> Self {
        SqlValue::Text(v.map(str::to_string))
    }
}

/// One result row.
#[derive(Debug, Clone)]
pub(crate) struct SqlRow(pub Vec<SqlValue>);

impl SqlRow {
    fn corrupt(&self, i: usize, want: &str) -> PersistenceError {
        PersistenceError::Corrupt {
            table: "(query)",
            message: format!("column {i}: expected {want}, got {:?}", self.0.get(i)),
        }
    }
    pub fn opt_int(&self, i: usize) -> PersistResult<Option<i64>> {
        match self.0.get(i) {
            Some(SqlValue::Int(v)) => Ok(*v),
            Some(SqlValue::Text(None)) => Ok(None),
            _ => Err(self.corrupt(i, "an integer")),
        }
    }
    pub fn int(&self, i: usize) -> PersistResult<i64> {
        self.opt_int(i)?
            .ok_or_else(|| self.corrupt(i, "a non-null integer"))
    }
    pub fn opt_text(&self, i: usize) -> PersistResult<Option<String>> {
        match self.0.get(i) {
            Some(SqlValue::Text(v)) => Ok(v.clone()),
            Some(SqlValue::Int(None)) => Ok(None),
            _ => Err(self.corrupt(i, "text")),
        }
    }
    pub fn text(&self, i: usize) -> PersistResult<String> {
        self.opt_text(i)?
            .ok_or_else(|| self.corrupt(i, "non-null text"))
    }
}

/// One open transaction. Statements use `$1`, `$2`, ... for parameters.
pub(crate) trait SqlTx: Send {
    /// Whether [`SqlTx::query_all_and_commit`] is one round trip and the backend runs
    /// PostgreSQL's data-modifying CTEs (`queries::append_flight` is written for it).
    const ONE_FLIGHT: bool = false;
    /// What a `SELECT` that picks a row to claim ends with: PostgreSQL's `FOR UPDATE SKIP
    /// LOCKED`; nothing on SQLite, whose `BEGIN IMMEDIATE` already holds the write lock.
    const LOCK_SKIP_LOCKED: &'static str = "";
    /// Runs a statement; returns the rows it changed.
    fn execute(
        &mut self,
        sql: &str,
        params: &[SqlValue],
    ) -> impl Future<Output = PersistResult<u64>> + Send;
    /// Runs a query; returns its rows.
    fn query(
        &mut self,
        sql: &str,
        params: &[SqlValue],
    ) -> impl Future<Output = PersistResult<Vec<SqlRow>>> + Send;
    /// Runs a query, then a statement that does not depend on its rows; returns both results.
    /// PostgreSQL sends them pipelined (one round trip).
    fn query_then_execute(
        &mut self,
        query: (&str, &[SqlValue]),
        statement: (&str, &[SqlValue]),
    ) -> impl Future<Output = PersistResult<(Vec<SqlRow>, u64)>> + Send {
        async move {
            let rows = self.query(query.0, query.1).await?;
            let n = self.execute(statement.0, statement.1).await?;
            Ok((rows, n))
        }
    }
    /// Runs `statements` in order and ends the transaction with them: it commits when all
    /// succeed (PostgreSQL sends all of it, `COMMIT` included, as one pipeline). Nothing may
    /// run in the transaction after it. Returns each statement's rows.
    fn query_all_and_commit(
        &mut self,
        statements: Vec<(&'static str, Vec<SqlValue>)>,
    ) -> impl Future<Output = PersistResult<Vec<Vec<SqlRow>>>> + Send {
        async move {
            let mut out = Vec::with_capacity(statements.len());
            for (sql, params) in statements {
                out.push(self.query(sql, &params).await?);
            }
            Ok(out)
        }
    }
    /// Runs a statement whose changed-row count the caller does not need, in order with the
    /// others. A backend may hold it back and send it with the next statement or the commit
    /// (PostgreSQL pipelines them: one round trip for all); its error then fails that statement
    /// or the commit, so the transaction never commits without it.
    fn execute_later(
        &mut self,
        sql: &str,
        params: &[SqlValue],
    ) -> impl Future<Output = PersistResult<()>> + Send {
        async move { self.execute(sql, params).await.map(|_| ()) }
    }
}

/// Builds an array of `SqlValue`s from expressions that convert into them.
macro_rules! params {
    ($($v:expr),* $(,)?) => { [$($crate::persistence::sql::SqlValue::from($v)),*] };
}
pub(crate) use params;
