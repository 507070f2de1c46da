//! [`PoolError`]: what can go wrong in a [`super::RuntimePool`] itself (codex's own failures
//! stay [`crate::Error`]s).

use std::path::PathBuf;
use std::time::Duration;

/// A failure of the runtime pool, with what and where.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// An isolation key that cannot name a directory.
    #[error("bad pool key {key:?}: {reason}")]
    BadKey {
        /// The key as given (cut at 72 characters).
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A directory or file of the pool could not be prepared.
    #[error("runtime pool: cannot {action} {}: {source}", path.display())]
    Io {
        /// What the pool was doing.
        action: &'static str,
        /// Where.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Every process slot stayed busy (a turn running on each) for the whole wait.
    #[error("runtime pool: all {max_processes} codex processes stayed busy for {waited:?}; no slot for key {key}")]
    NoSlot {
        /// The key that waited.
        key: String,
        /// The cap.
        max_processes: usize,
        /// How long it waited.
        waited: Duration,
    },
    /// The configuration is not usable.
    #[error("runtime pool configuration: {0}")]
    Config(String),
    /// The pool was shut down.
    #[error("the runtime pool is shut down")]
    ShutDown,
    /// The launcher refused or failed to build the command for a key.
    #[error("runtime pool launcher for key {key}: {message}")]
    Launcher {
        /// The key.
        key: String,
        /// What went wrong.
        message: String,
    },
}

impl PoolError {
    pub(super) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> PoolError {
        let path = path.into();
        move |source| PoolError::Io {
            action,
            path,
            source,
        }
    }
}
