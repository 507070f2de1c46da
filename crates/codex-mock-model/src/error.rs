//! The crate's single error type.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while scripting, running or pointing codex at the mock model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MockError {
    /// The loopback listener could not be bound.
    #[error("mock model: cannot bind {addr}: {source}")]
    Bind {
        /// The address that was asked for.
        addr: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A scenario file could not be read.
    #[error("mock model: cannot read scenario file {path}: {source}")]
    ReadScenario {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A scenario (JSON) is malformed; `origin` names the file or `<inline>`.
    #[error("mock model: invalid scenario in {origin} at line {line}, column {column}: {message}")]
    InvalidScenario {
        /// Where the JSON came from.
        origin: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// What serde found wrong.
        message: String,
    },
    /// A JSON schema cannot be turned into an instance by [`crate::instance_from_schema`].
    #[error("mock model: cannot build an instance of the schema at {pointer}: {reason}")]
    Schema {
        /// JSON pointer (inside the schema) of the offending node.
        pointer: String,
        /// What was wrong.
        reason: String,
    },
    /// [`crate::MockModel::wait_for_requests`] or [`crate::MockModel::wait_for_stall`] ran out of
    /// time.
    #[error("mock model: timed out after {waited:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long the caller waited.
        waited: Duration,
    },
    /// The server stopped before the awaited event happened.
    #[error("mock model: the server has shut down")]
    ShutDown,
    /// A codex home directory could not be created or written.
    #[error("mock model: cannot prepare codex home {path}: {source}")]
    CodexHome {
        /// The directory or file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A value that goes into `config.toml` cannot be written safely.
    #[error("mock model: invalid value for {field} in config.toml: {reason}")]
    InvalidConfigValue {
        /// The config key.
        field: &'static str,
        /// What was wrong.
        reason: String,
    },
}
