//! SQLite: opening an embedded database file durably, and versioned migrations.
//!
//! ```no_run
//! use codex_db::{sqlite, Migration};
//!
//! const MIGRATIONS: &[Migration] = &[Migration {
//!     version: 1,
//!     name: "notes",
//!     sql: "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)",
//! }];
//!
//! let mut conn = sqlite::open("state.db".as_ref())?;
//! sqlite::migrate(&mut conn, "notes", MIGRATIONS)?;
//! # Ok::<(), codex_db::DbError>(())
//! ```

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use crate::migration::{check_list, pending, MIGRATIONS_TABLE};
use crate::{DbError, Migration};

/// How long a statement waits for another connection's write lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens (creating when missing) the database at `path`.
///
/// - A new file is created with mode `0600` (owner only) before SQLite touches it; its parent
///   directories are created too.
/// - `journal_mode=WAL` (readers never block the writer), `synchronous=FULL` (a committed
///   transaction survives a power cut), `foreign_keys=ON`, and a busy timeout of
///   [`BUSY_TIMEOUT`].
pub fn open(path: &Path) -> Result<Connection, DbError> {
    let io = |context: &str| {
        let context = context.to_owned();
        move |source| DbError::Io {
            path: path.to_owned(),
            context,
            source,
        }
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io("create the directory of"))?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(io("create"))?;
    let sqlite = |context: &str| {
        let context = context.to_owned();
        move |source| DbError::Sqlite {
            path: path.to_owned(),
            context,
            source,
        }
    };
    let conn = Connection::open(path).map_err(sqlite("opening"))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(sqlite("setting the busy timeout"))?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(sqlite("enabling WAL"))?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(sqlite("setting synchronous=FULL"))?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(sqlite("enabling foreign keys"))?;
    Ok(conn)
}

/// Applies the steps of `component` that the file has not seen, in one `IMMEDIATE` transaction
/// (SQLite's write lock serialises concurrent processes). Either every pending step is applied
/// or none is.
pub fn migrate(
    conn: &mut Connection,
    component: &str,
    migrations: &[Migration],
) -> Result<(), DbError> {
    check_list(component, migrations)?;
    let path = PathBuf::from(conn.path().unwrap_or_default());
    let sqlite = |context: &str| {
        let (path, context) = (path.clone(), context.to_owned());
        move |source| DbError::Sqlite {
            path,
            context,
            source,
        }
    };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sqlite("starting the migration transaction"))?;
    tx.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (
            component TEXT NOT NULL,
            version INTEGER NOT NULL,
            name TEXT NOT NULL,
            applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
            PRIMARY KEY (component, version)
        )"
    ))
    .map_err(sqlite("creating the migrations table"))?;
    let applied: Vec<(i64, String)> = {
        let mut stmt = tx
            .prepare(&format!(
                "SELECT version, name FROM {MIGRATIONS_TABLE} WHERE component = ?1 ORDER BY version"
            ))
            .map_err(sqlite("reading applied migrations"))?;
        let rows = stmt
            .query_map([component], |row| Ok((row.get(0)?, row.get(1)?)))
            .map_err(sqlite("reading applied migrations"))?;
        rows.collect::<Result<_, _>>()
            .map_err(sqlite("reading applied migrations"))?
    };
    for step in pending(component, migrations, &applied)? {
        tx.execute_batch(step.sql)
            .map_err(|source| DbError::Migration {
                component: component.to_owned(),
                version: step.version,
                name: step.name.to_owned(),
                source: Box::new(source),
            })?;
        tx.execute(
            &format!(
                "INSERT INTO {MIGRATIONS_TABLE} (component, version, name) VALUES (?1, ?2, ?3)"
            ),
            rusqlite::params![component, step.version, step.name],
        )
        .map_err(sqlite("recording a migration"))?;
        tracing::info!(
            component,
            version = step.version,
            name = step.name,
            "applied migration"
        );
    }
    tx.commit().map_err(sqlite("committing migrations"))?;
    Ok(())
}
