//! PostgreSQL: a connection pool and versioned migrations under an advisory lock.
//!
//! ```no_run
//! use codex_db::{postgres, Migration};
//!
//! const MIGRATIONS: &[Migration] = &[Migration {
//!     version: 1,
//!     name: "notes",
//!     sql: "CREATE TABLE notes (id BIGSERIAL PRIMARY KEY, body TEXT NOT NULL)",
//! }];
//!
//! # async fn run() -> Result<(), codex_db::DbError> {
//! let pool = postgres::connect("postgres://postgres@127.0.0.1:5432/postgres").await?;
//! postgres::migrate(&pool, "notes", MIGRATIONS).await?;
//! let client = pool.get().await?;
//! client.execute("INSERT INTO notes (body) VALUES ($1)", &[&"hi"]).await.ok();
//! # Ok(()) }
//! ```
//!
//! TLS: every connection (the pool's and [`connect_one`]'s) follows the URL's `sslmode` and
//! `sslrootcert`, as libpq does (see [`crate::tls`]): `?sslmode=verify-full&sslrootcert=ca.pem`
//! for a server on another machine.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, RecyclingMethod};
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::Socket;

use crate::migration::{check_list, pending, MIGRATIONS_TABLE};
use crate::{DbError, Migration, RedactedUrl};

/// A pool of PostgreSQL connections (`deadpool-postgres`). Cheap to clone.
pub type PgPool = deadpool_postgres::Pool;

/// One connection made by [`connect_one`], to be polled (spawned) by the caller.
pub type PgConnection = tokio_postgres::Connection<
    Socket,
    <crate::tls::TlsConnector as MakeTlsConnect<Socket>>::Stream,
>;

/// Pool settings for [`connect_with`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PoolOptions {
    /// Most connections open at once (default 16).
    pub max_connections: usize,
    /// How long a connection attempt may take (default 10 s).
    pub connect_timeout: Duration,
    /// How long taking a connection from the pool may wait, creating one included (default:
    /// no bound).
    pub wait_timeout: Option<Duration>,
    /// The server-side `statement_timeout` of every connection (default: the server's).
    pub statement_timeout: Option<Duration>,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            max_connections: 16,
            connect_timeout: Duration::from_secs(10),
            wait_timeout: None,
            statement_timeout: None,
        }
    }
}

impl PoolOptions {
    /// Sets the most connections open at once.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// Bounds the wait for a pooled connection (creating one included).
    pub fn wait_timeout(mut self, timeout: Duration) -> Self {
        self.wait_timeout = Some(timeout);
        self
    }

    /// Sets the server-side `statement_timeout` of every connection.
    pub fn statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = Some(timeout);
        self
    }
}

/// The advisory-lock key every migration run takes ("codexdb" in ASCII): one run at a time per
/// server, across processes and machines.
const MIGRATION_LOCK_KEY: i64 = 0x0063_6f64_6578_6462;

/// Parses `url`, builds a pool with [`PoolOptions::default`] and checks one connection.
pub async fn connect(url: &str) -> Result<PgPool, DbError> {
    connect_with(url, PoolOptions::default()).await
}

/// Parses `url`, builds a pool with `options` and checks one connection, so a wrong host,
/// database or password fails here and not on the first query.
#[tracing::instrument(level = "debug", skip_all, fields(url = %RedactedUrl::new(url)))]
pub async fn connect_with(url: &str, options: PoolOptions) -> Result<PgPool, DbError> {
    let redacted = RedactedUrl::new(url);
    let parsed = crate::tls::parse(url)?;
    let mut config = parsed.config;
    let tls = crate::tls::connector(url, &parsed.tls)?;
    config.connect_timeout(options.connect_timeout);
    if let Some(timeout) = options.statement_timeout {
        let setting = format!("-c statement_timeout={}", timeout.as_millis().max(1));
        let joined = match config.get_options() {
            Some(existing) if !existing.is_empty() => format!("{existing} {setting}"),
            _ => setting,
        };
        config.options(&joined);
    }
    let manager = Manager::from_config(
        config.clone(),
        tls.clone(),
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let mut builder = PgPool::builder(manager).max_size(options.max_connections.max(1));
    if let Some(timeout) = options.wait_timeout {
        builder = builder
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(timeout))
            .create_timeout(Some(timeout.min(options.connect_timeout)));
    }
    let pool = builder.build()?;
    // Check one connection with the driver directly, so the error names the real cause.
    let (client, connection) = config
        .connect(tls)
        .await
        .map_err(|source| DbError::Connect {
            url: redacted.clone(),
            source,
        })?;
    let driver = tokio::spawn(connection);
    let checked = client.simple_query("SELECT 1").await;
    drop(client);
    let _ = driver.await;
    checked.map_err(|source| DbError::Connect {
        url: redacted,
        source,
    })?;
    Ok(pool)
}

/// Opens one connection to `url` outside any pool, with the same TLS settings as the pools
/// (for a `LISTEN` session, which must stay on one connection). The caller drives the returned
/// [`PgConnection`] (spawn it, or poll its messages).
pub async fn connect_one(url: &str) -> Result<(tokio_postgres::Client, PgConnection), DbError> {
    let parsed = crate::tls::parse(url)?;
    let mut config = parsed.config;
    config.connect_timeout(PoolOptions::default().connect_timeout);
    let tls = crate::tls::connector(url, &parsed.tls)?;
    config
        .connect(tls)
        .await
        .map_err(|source| DbError::Connect {
            url: RedactedUrl::new(url),
            source,
        })
}

/// Applies the steps of `component` that the database has not seen, in one transaction under a
/// server-wide advisory lock: of several processes starting at once, one migrates and the others
/// wait, then find nothing to do. Either every pending step is applied or none is.
#[tracing::instrument(level = "debug", skip(pool, migrations))]
pub async fn migrate(
    pool: &PgPool,
    component: &str,
    migrations: &[Migration],
) -> Result<(), DbError> {
    check_list(component, migrations)?;
    let mut client = pool.get().await?;
    let tx = client
        .transaction()
        .await
        .map_err(DbError::postgres("starting the migration transaction"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK_KEY])
        .await
        .map_err(DbError::postgres("taking the migration lock"))?;
    tx.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (
            component TEXT NOT NULL,
            version BIGINT NOT NULL,
            name TEXT NOT NULL,
            applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            PRIMARY KEY (component, version)
        )"
    ))
    .await
    .map_err(DbError::postgres("creating the migrations table"))?;
    let applied: Vec<(i64, String)> = tx
        .query(
            &format!("SELECT version, name FROM {MIGRATIONS_TABLE} WHERE component = $1 ORDER BY version"),
            &[&component],
        )
        .await
        .map_err(DbError::postgres("reading applied migrations"))?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let todo = pending(component, migrations, &applied)?;
    for step in todo {
        tx.batch_execute(step.sql)
            .await
            .map_err(|source| DbError::Migration {
                component: component.to_owned(),
                version: step.version,
                name: step.name.to_owned(),
                source: Box::new(source),
            })?;
        tx.execute(
            &format!(
                "INSERT INTO {MIGRATIONS_TABLE} (component, version, name) VALUES ($1, $2, $3)"
            ),
            &[&component, &step.version, &step.name],
        )
        .await
        .map_err(DbError::postgres("recording a migration"))?;
        tracing::info!(
            component,
            version = step.version,
            name = step.name,
            "applied migration"
        );
    }
    tx.commit()
        .await
        .map_err(DbError::postgres("committing migrations"))?;
    Ok(())
}
