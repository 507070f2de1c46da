//! [`DbError`], the one error type of `codex-db`.

use std::path::PathBuf;

use crate::RedactedUrl;

/// Everything that can go wrong opening, pooling or migrating a database.
///
/// No variant carries a password: URLs are [`RedactedUrl`]s.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// The URL could not be parsed as a PostgreSQL connection string.
    #[error("invalid database URL {url}: {reason}")]
    InvalidUrl {
        /// The URL, password hidden.
        url: RedactedUrl,
        /// What is wrong with it.
        reason: String,
    },
    /// The TLS settings of the URL cannot be used (an unreadable `sslrootcert`, no roots).
    #[error("cannot set up TLS for {url}: {reason}")]
    Tls {
        /// The URL, password hidden.
        url: RedactedUrl,
        /// What is wrong.
        reason: String,
    },
    /// The first connection of a pool failed.
    #[cfg(feature = "postgres")]
    #[error("cannot connect to PostgreSQL at {url}: {source}")]
    Connect {
        /// The URL, password hidden.
        url: RedactedUrl,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// No connection could be taken from the pool.
    #[cfg(feature = "postgres")]
    #[error("no PostgreSQL connection available: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// The pool could not be built.
    #[cfg(feature = "postgres")]
    #[error("cannot build the PostgreSQL pool: {0}")]
    BuildPool(#[from] deadpool_postgres::BuildError),
    /// A PostgreSQL statement failed.
    #[cfg(feature = "postgres")]
    #[error("PostgreSQL failed while {context}: {source}")]
    Postgres {
        /// What was being done.
        context: String,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// A SQLite call failed.
    #[cfg(feature = "sqlite")]
    #[error("SQLite failed on {path} while {context}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What was being done.
        context: String,
        /// The driver's error.
        #[source]
        source: rusqlite::Error,
    },
    /// A file-system call failed.
    #[error("cannot {context} {path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// What was being done.
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A migration list is malformed (numbering, names).
    #[error("invalid migrations for {component}: {reason}")]
    InvalidMigrations {
        /// The component whose list is wrong.
        component: String,
        /// What is wrong.
        reason: String,
    },
    /// The database was migrated by a newer binary; writing it with this one could lose data.
    #[error(
        "the {component} schema in the database is at version {found}, newer than the {known} \
         this binary knows: upgrade the binary"
    )]
    SchemaTooNew {
        /// The component.
        component: String,
        /// The version found in the database.
        found: i64,
        /// The newest version this binary knows.
        known: i64,
    },
    /// The database recorded a different migration under the same version.
    #[error(
        "{component} migration {version} is recorded as {found:?} but this binary calls it \
         {expected:?}: the database was migrated by a different build"
    )]
    MigrationMismatch {
        /// The component.
        component: String,
        /// The version.
        version: i64,
        /// The name this binary has.
        expected: String,
        /// The name the database recorded.
        found: String,
    },
    /// One migration step failed; nothing of the run was applied.
    #[error("{component} migration {version} ({name}) failed: {source}")]
    Migration {
        /// The component.
        component: String,
        /// The failing version.
        version: i64,
        /// Its name.
        name: String,
        /// The driver's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

#[cfg(feature = "postgres")]
impl DbError {
    pub(crate) fn postgres(
        context: impl Into<String>,
    ) -> impl FnOnce(tokio_postgres::Error) -> Self {
        let context = context.into();
        move |source| DbError::Postgres { context, source }
    }
}
