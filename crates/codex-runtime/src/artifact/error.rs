//! [`ArtifactError`]: everything that can go wrong in `codex_runtime::artifact`.
//!
//! The artifact module is an optional domain layer on top of the SDK, so it has its own error
//! type; failures of the runtime underneath arrive as [`ArtifactError::Runtime`] carrying the
//! SDK's [`crate::Error`] unchanged.

use super::contract::PluginContractVersion;
use super::patch::PatchRejection;
use super::revision::Revision;
use std::path::PathBuf;

/// Everything that can go wrong with artifacts. `#[non_exhaustive]`: keep a `_` arm.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArtifactError {
    /// An artifact id is not acceptable.
    #[error("invalid artifact id {id:?}: {reason}")]
    InvalidId {
        /// The id given.
        id: String,
        /// Why it was refused.
        reason: String,
    },

    /// No artifact has this id.
    #[error("artifact `{id}` does not exist")]
    NotFound {
        /// The id.
        id: String,
    },

    /// An artifact with this id exists already.
    #[error("artifact `{id}` already exists")]
    AlreadyExists {
        /// The id.
        id: String,
    },

    /// Content that the artifact's format does not accept (e.g. JSON that does not parse).
    #[error("invalid content for artifact `{id}`: {reason}")]
    InvalidContent {
        /// The id.
        id: String,
        /// What is wrong.
        reason: String,
    },

    /// A write expected one revision but the store holds another: someone else changed the
    /// artifact first. Nothing was written.
    #[error("artifact `{id}` changed concurrently: expected revision {expected}, found {actual}")]
    Conflict {
        /// The id.
        id: String,
        /// The revision the write was based on.
        expected: Revision,
        /// The revision the store holds.
        actual: Revision,
    },

    /// A patch was rejected (after `attempts` tries, when it came from a task); the artifact
    /// is unchanged.
    #[error("patch for artifact `{id}` rejected after {attempts} attempt(s): {rejection}")]
    PatchRejected {
        /// The id.
        id: String,
        /// How many patches the task tried (1 for a direct call).
        attempts: u32,
        /// Which operation and why.
        rejection: PatchRejection,
    },

    /// The model's answer to a review or custom task did not have the required shape, after
    /// `attempts` tries.
    #[error("the answer for artifact `{id}` is not a valid {expected} after {attempts} attempt(s): {message}; raw: {raw:?}")]
    InvalidOutput {
        /// The id.
        id: String,
        /// What was expected (e.g. `review`).
        expected: &'static str,
        /// How many answers were tried.
        attempts: u32,
        /// The parse error.
        message: String,
        /// The last raw answer.
        raw: String,
    },

    /// A store or adapter speaks another major contract version; refused before any task.
    #[error("{component} speaks artifact contract {found}, but this manager needs {expected_major}.x (found major {}, expected major {expected_major})", found.major)]
    IncompatibleContract {
        /// `store` or `adapter`, with its type name.
        component: String,
        /// Its version.
        found: PluginContractVersion,
        /// The major version the manager speaks.
        expected_major: u16,
    },

    /// A file operation of the store failed.
    #[error("artifact store I/O on {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// A stored artifact cannot be read back (bad JSON, revision not matching the content).
    #[error("stored artifact at {} is corrupt: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// A runtime adapter failed in its own way (adapters other than Codex).
    #[error("artifact runtime adapter failed: {0}")]
    Adapter(String),

    /// Work the manager runs off the async threads (applying a patch) did not finish: it
    /// panicked or the runtime is shutting down. The stored artifact is unchanged.
    #[error("artifact task failed internally: {message}")]
    Internal {
        /// What did not finish.
        message: String,
    },

    /// The Codex runtime underneath failed.
    #[error(transparent)]
    Runtime(#[from] crate::Error),
}

impl ArtifactError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ArtifactError {
        let path = path.into();
        move |source| ArtifactError::Io { path, source }
    }
}
