//! [`SqliteStore`]: the embedded default, one database file (WAL, `synchronous=FULL`).

use super::error::{PersistResult, PersistenceError};
use super::model::Durability;
use super::queries;
use super::schema::{COMPONENT, MIGRATIONS};
use super::sql::{SqlRow, SqlTx, SqlValue};
use super::store::{EventFeed, StoreFuture};
use super::store_impl::conversation_store_impl;
use futures::future::BoxFuture;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Conversations in one SQLite file: the embedded default.
///
/// The file is opened through `codex_db::sqlite` (created `0600`, WAL, `synchronous=FULL`,
/// foreign keys, a busy timeout) and migrated on open. Every call is one transaction on a
/// blocking thread; a call whose future is dropped still commits or rolls back whole.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    path: Option<PathBuf>,
    durability: Durability,
    pub(crate) feed: EventFeed,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("durability", &self.durability)
            .finish_non_exhaustive()
    }
}

fn sqlite_err(operation: &str, e: impl std::fmt::Display) -> PersistenceError {
    PersistenceError::store("sqlite", operation, e)
}

impl SqliteStore {
    pub(crate) const BACKEND: &'static str = "sqlite";

    /// Opens (creating if needed) the store in the file at `path` and applies its migrations.
    pub async fn open(path: impl AsRef<Path>) -> PersistResult<SqliteStore> {
        let path = path.as_ref().to_path_buf();
        let p = path.clone();
        let (conn, durability) = tokio::task::spawn_blocking(move || open_file(&p))
            .await
            .map_err(|e| sqlite_err("open", e))??;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            path: Some(path),
            durability,
            feed: EventFeed::new(),
        })
    }

    /// A store in memory: for tests and previews only. It reports
    /// [`Durability::Volatile`], so recording and imports refuse it (fail closed).
    pub fn in_memory() -> PersistResult<SqliteStore> {
        let mut conn = Connection::open_in_memory().map_err(|e| sqlite_err("open", e))?;
        migrate(&mut conn)?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            path: None,
            durability: Durability::Volatile("an in-memory SQLite database".into()),
            feed: EventFeed::new(),
        })
    }

    /// The database file (`None` in memory).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn durability_of(&self) -> Durability {
        self.durability.clone()
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction.
    ///
    /// On a multi-thread runtime the transaction runs on the calling worker thread, inside
    /// [`tokio::task::block_in_place`] (the worker's other tasks move to another thread):
    /// that keeps the commit, on the critical path of a recorded turn, free of the two thread
    /// hand-offs a trip through the blocking pool costs. Elsewhere (a current-thread runtime,
    /// where `block_in_place` is not allowed) it runs on the blocking pool. Either way the
    /// transaction runs whole once started: a dropped future never leaves it half done.
    fn run<R, F>(&self, op: &'static str, f: F) -> StoreFuture<'_, R>
    where
        R: Send + 'static,
        F: for<'t> FnOnce(&'t mut Connection) -> BoxFuture<'t, PersistResult<R>> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        let job = move || transaction(&conn, op, f);
        Box::pin(async move {
            match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
                Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(job),
                _ => tokio::task::spawn_blocking(job)
                    .await
                    .map_err(|e| sqlite_err(op, e))?,
            }
        })
    }
}

/// One `BEGIN IMMEDIATE` transaction running `f`, committed when `f` succeeds.
fn transaction<R, F>(conn: &Mutex<Connection>, op: &'static str, f: F) -> PersistResult<R>
where
    F: for<'t> FnOnce(&'t mut Connection) -> BoxFuture<'t, PersistResult<R>>,
{
    let mut guard = conn
        .lock()
        .map_err(|_| sqlite_err(op, "the connection lock is poisoned"))?;
    let c: &mut Connection = &mut guard;
    c.execute_batch("BEGIN IMMEDIATE")
        .map_err(|e| sqlite_err(op, e))?;
    // The queries are written once for both stores as async code over `SqlTx`; on SQLite
    // every call completes at once, so this never waits.
    match futures::executor::block_on(f(c)) {
        Ok(v) => match c.execute_batch("COMMIT") {
            Ok(()) => Ok(v),
            Err(e) => {
                let _ = c.execute_batch("ROLLBACK");
                Err(sqlite_err(op, e))
            }
        },
        Err(e) => {
            let _ = c.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

conversation_store_impl!(SqliteStore);

fn open_file(path: &Path) -> PersistResult<(Connection, Durability)> {
    let mut conn = codex_db::sqlite::open(path).map_err(|e| sqlite_err("open", e))?;
    codex_db::sqlite::migrate(&mut conn, COMPONENT, &migrations())
        .map_err(|e| sqlite_err("migrate", e))?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .map_err(|e| sqlite_err("open", e))?;
    let sync: i64 = conn
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .map_err(|e| sqlite_err("open", e))?;
    let durability = if !mode.eq_ignore_ascii_case("wal") {
        Durability::Volatile(format!("journal_mode is `{mode}`, not WAL"))
    } else if sync < 2 {
        Durability::Volatile(format!("synchronous is {sync}, not FULL"))
    } else {
        Durability::Durable
    };
    Ok((conn, durability))
}

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

fn migrate(conn: &mut Connection) -> PersistResult<()> {
    codex_db::sqlite::migrate(conn, COMPONENT, &migrations()).map_err(|e| sqlite_err("migrate", e))
}

impl rusqlite::ToSql for SqlValue {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            SqlValue::Int(Some(v)) => ToSqlOutput::from(*v),
            SqlValue::Text(Some(v)) => ToSqlOutput::from(v.as_str()),
            SqlValue::Int(None) | SqlValue::Text(None) => {
                ToSqlOutput::Owned(rusqlite::types::Value::Null)
            }
        })
    }
}

/// SQLite numbers parameters `?1`; the shared queries write `$1`.
fn numbered(sql: &str) -> String {
    sql.replace('$', "?")
}

impl SqlTx for Connection {
    async fn execute(&mut self, sql: &str, params: &[SqlValue]) -> PersistResult<u64> {
        let mut st = self
            .prepare_cached(&numbered(sql))
            .map_err(|e| sqlite_err("prepare", e))?;
        st.execute(rusqlite::params_from_iter(params.iter()))
            .map(|n| n as u64)
            .map_err(|e| sqlite_err("execute", e))
    }

    async fn query(&mut self, sql: &str, params: &[SqlValue]) -> PersistResult<Vec<SqlRow>> {
        let mut st = self
            .prepare_cached(&numbered(sql))
            .map_err(|e| sqlite_err("prepare", e))?;
        let n = st.column_count();
        let mut rows = st
            .query(rusqlite::params_from_iter(params.iter()))
            .map_err(|e| sqlite_err("query", e))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(|e| sqlite_err("query", e))? {
            let mut values = Vec::with_capacity(n);
            for i in 0..n {
                values.push(match row.get_ref(i).map_err(|e| sqlite_err("query", e))? {
                    ValueRef::Null => SqlValue::Int(None),
                    ValueRef::Integer(v) => SqlValue::Int(Some(v)),
                    ValueRef::Text(t) => SqlValue::Text(Some(String::from_utf8_lossy(t).into())),
                    other => {
                        return Err(PersistenceError::Corrupt {
                            table: "(query)",
                            message: format!("column {i} has type {:?}", other.data_type()),
                        })
                    }
                });
            }
            out.push(SqlRow(values));
        }
        Ok(out)
    }
}
