//! [`fresh_database`]: an empty PostgreSQL database of its own for each test, on a real server.
//!
//! The server is `DATABASE_URL` when it is set, else `postgres://postgres@127.0.0.1:5432/postgres`
//! (what `scripts/ensure-postgres.sh` arranges: it starts a throwaway cluster under `target/`
//! when nothing answers). A server that cannot be reached is a test failure with a message that
//! says so, never a skip.
//!
//! Databases are named `crt_<tag>_<pid>_<random>`; `scripts/ensure-postgres.sh` drops those whose
//! process is gone, so a crashed run leaves nothing behind for long.
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), codex_test_support::TestSupportError> {
//! let db = codex_test_support::postgres::fresh_database("store_conformance").await?;
//! let pool = codex_db::postgres::connect(db.url()).await.expect("connect");
//! # drop(pool);
//! db.drop_database().await?;
//! # Ok(())
//! # }
//! ```

use codex_db::RedactedUrl;
use rand::Rng;
use tokio_postgres::NoTls;

use crate::TestSupportError;

/// The environment variable naming the server (a `postgres://` URL).
pub const DATABASE_URL_ENV: &str = "DATABASE_URL";

/// The server used when `DATABASE_URL` is not set.
pub const DEFAULT_SERVER_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// One test's database. It stays on the server when dropped (for post-mortems) unless
/// [`TestDatabase::drop_database`] is called.
#[derive(Debug, Clone)]
pub struct TestDatabase {
    name: String,
    url: RedactedUrl,
    server: RedactedUrl,
}

impl TestDatabase {
    /// The URL of this database, for the code under test.
    pub fn url(&self) -> &str {
        self.url.expose()
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops the database (terminating its remaining connections first).
    pub async fn drop_database(self) -> Result<(), TestSupportError> {
        let admin = admin_client(&self.server).await?;
        admin
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .await
            .map_err(|err| pg_error(&self.server, format!("dropping {}", self.name), err))
    }
}

/// The server URL tests use: `DATABASE_URL`, else [`DEFAULT_SERVER_URL`].
pub fn server_url() -> String {
    std::env::var(DATABASE_URL_ENV)
        .ok()
        .filter(|url| !url.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_SERVER_URL.to_owned())
}

/// Creates an empty database for one test. `tag` names the test in the database name (letters,
/// digits and `_` are kept; anything else becomes `_`).
pub async fn fresh_database(tag: &str) -> Result<TestDatabase, TestSupportError> {
    let server = RedactedUrl::new(&server_url());
    let tag: String = tag
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(30)
        .collect();
    let name = format!(
        "crt_{tag}_{}_{:08x}",
        std::process::id(),
        rand::rng().random::<u32>()
    );
    let admin = admin_client(&server).await?;
    admin
        .batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .await
        .map_err(|err| pg_error(&server, format!("creating database {name}"), err))?;
    let mut url = url::Url::parse(server.expose()).map_err(|err| TestSupportError::Postgres {
        url: server.clone(),
        reason: format!("not a postgres:// URL: {err}"),
    })?;
    url.set_path(&format!("/{name}"));
    tracing::debug!(database = %name, server = %server, "created test database");
    Ok(TestDatabase {
        name,
        url: RedactedUrl::new(url.as_str()),
        server,
    })
}

async fn admin_client(server: &RedactedUrl) -> Result<tokio_postgres::Client, TestSupportError> {
    let (client, connection) = tokio_postgres::connect(server.expose(), NoTls)
        .await
        .map_err(|err| pg_error(server, "connecting".to_owned(), err))?;
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::debug!(error = %err, "admin connection ended");
        }
    });
    Ok(client)
}

fn pg_error(server: &RedactedUrl, context: String, err: tokio_postgres::Error) -> TestSupportError {
    TestSupportError::Postgres {
        url: server.clone(),
        reason: format!("{context}: {err}"),
    }
}
