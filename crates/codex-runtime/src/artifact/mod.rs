//! Artifacts: documents that Codex edits through typed tasks, with content-hash revisions,
//! validated patches and a crash-safe store. Enabled by the `artifact` cargo feature.
//!
//! - [`model`]: [`Artifact`], [`ArtifactId`], [`ArtifactFormat`], bounded [`HistoryEntry`] list;
//! - [`revision`]: [`Revision`], [`compute_revision`] (SHA-256 of a canonical encoding);
//! - [`patch`]: [`DocPatch`], [`validate_doc_patch`], [`apply_doc_patch`] (anchored text ops and
//!   RFC 6902 JSON ops), [`PatchRejection`] naming the op and why;
//! - [`store`]: the [`ArtifactStore`] trait; [`fs_store`]: [`FsArtifactStore`] (atomic writes, a
//!   cross-process lock per artifact, optimistic concurrency);
//! - [`adapter`]: [`ArtifactRuntimeAdapter`], how tasks reach a model, and
//!   [`CodexArtifactAdapter`], the Codex one;
//! - [`task`]: [`TaskSpec`], [`TaskKind`], [`TaskOutcome`], [`Review`];
//! - [`manager`]: [`ArtifactSessionManager`] (`open`, `run_task`);
//! - [`contract`]: [`PluginContractVersion`]; [`error`]: [`ArtifactError`].
//!
//! The chapter `docs/guide/artifact.md` walks through it.

pub mod adapter;
pub mod contract;
pub mod error;
pub mod fs_store;
mod lock;
pub mod manager;
pub mod model;
pub mod patch;
pub mod revision;
pub mod store;
pub mod task;

pub use adapter::{ArtifactRuntimeAdapter, CodexArtifactAdapter, TurnReply, TurnRequest};
pub use contract::{PluginContractVersion, ARTIFACT_CONTRACT_VERSION};
pub use error::ArtifactError;
pub use fs_store::{FsArtifactStore, TEST_PAUSE_BEFORE_RENAME_ENV};
pub use manager::{ArtifactSessionManager, ManagerConfig};
pub use model::{
    Artifact, ArtifactFormat, ArtifactId, HistoryEntry, IntoArtifactId, NewArtifact,
    DEFAULT_HISTORY_LIMIT,
};
pub use patch::{
    apply_doc_patch, validate_doc_patch, DocPatch, PatchLimits, PatchOp, PatchRejection,
    PatchedDoc, RejectReason, WireOp, WireOpKind, WirePatch,
};
pub use revision::{compute_revision, Revision};
pub use store::ArtifactStore;
pub use task::{
    Review, ReviewFinding, ReviewVerdict, Severity, TaskKind, TaskOutcome, TaskResult, TaskSpec,
};
