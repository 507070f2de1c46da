//! The crate's single error type.

use std::time::Duration;

/// What can go wrong while preparing or tearing down a codex test environment.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestSupportError {
    /// The pinned codex binary could not be located or installed.
    #[error("codex-test-support: cannot locate the pinned codex binary: {reason}")]
    CodexBin {
        /// What went wrong (the install script's failure, a missing file...).
        reason: String,
    },
    /// The mock model, codex home or work directory could not be set up.
    #[error(transparent)]
    Mock(#[from] codex_mock_model::MockError),
    /// Processes carrying the environment's tag were still alive after the wait.
    #[error("codex-test-support: {} process(es) tagged {tag} still alive after {waited:?}: {details}", pids.len())]
    LeftoverProcesses {
        /// The environment's tag.
        tag: String,
        /// Their process ids.
        pids: Vec<u32>,
        /// `pid: command line` of each, for the failure message.
        details: String,
        /// How long the caller waited.
        waited: Duration,
    },
    /// No PostgreSQL server could be reached, or a test database could not be made.
    #[error("codex-test-support: PostgreSQL at {url}: {reason} (set DATABASE_URL, or run scripts/ensure-postgres.sh, which scripts/test.sh calls)")]
    Postgres {
        /// The server URL, password hidden.
        url: codex_db::RedactedUrl,
        /// What went wrong.
        reason: String,
    },
}
