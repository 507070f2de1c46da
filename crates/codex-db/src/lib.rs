//! # codex-db
//!
//! The database plumbing that codex-runtime's durable stores share, so that each concept has one
//! home: the conversation store (`codex_runtime::persistence`), the flow store (`codex-flow`) and
//! anything else that keeps state in SQL.
//!
//! Both back ends are Cargo features, on by default: `postgres` and `sqlite`.
//!
//! - `postgres`: a connection pool (`postgres::PgPool`, `deadpool-postgres` over
//!   `tokio-postgres`) and versioned migrations applied once, in one transaction, under a
//!   PostgreSQL advisory lock, so several processes and machines can start at the same time.
//! - `sqlite`: opening an embedded database file (created `0600`, WAL, `synchronous=FULL`,
//!   foreign keys on, a busy timeout) and the same migrations under SQLite's write lock.
//! - [`Migration`]: one numbered schema step of one component. Versions start at 1 and grow by
//!   one; a database that already holds a version this binary does not know is refused
//!   ([`DbError::SchemaTooNew`]) instead of being written by an older schema.
//! - [`tls`]: TLS for every PostgreSQL connection, from libpq's `sslmode` (`disable`,
//!   `prefer`, `require`, `verify-ca`, `verify-full`) and `sslrootcert` in the URL, with
//!   rustls (ring provider; the system's roots or the given file).
//! - [`RedactedUrl`]: a database URL whose password never reaches `Debug`, `Display`, logs or
//!   errors.
//! - [`DbError`]: the one error type.
//!
//! Every component records its applied versions in one table, `codex_schema_migrations`
//! (`component`, `version`, `name`, `applied_at`).

#![warn(missing_docs)]

mod error;
mod migration;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(feature = "postgres")]
pub mod tls;
mod url;

pub use error::DbError;
pub use migration::Migration;
pub use url::RedactedUrl;
