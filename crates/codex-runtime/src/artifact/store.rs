//! [`ArtifactStore`]: where artifacts live. Implementations must make every write atomic and
//! must never lose an update: a write names the revision it expects and gets
//! [`ArtifactError::Conflict`] when the store holds another.

use super::contract::PluginContractVersion;
use super::error::ArtifactError;
use super::model::{Artifact, ArtifactId, HistoryEntry, NewArtifact};
use super::revision::Revision;
use futures::future::BoxFuture;

/// Storage of artifacts, shared by processes that must not lose each other's updates.
///
/// [`crate::artifact::FsArtifactStore`] is the filesystem implementation; any other backend
/// (a database, a remote service) implements the same methods with the same guarantees.
pub trait ArtifactStore: Send + Sync + 'static {
    /// The contract version this store implements; the manager refuses another major version.
    fn contract_version(&self) -> PluginContractVersion;

    /// The artifact, or `None` when there is none with this id.
    fn load<'a>(
        &'a self,
        id: &'a ArtifactId,
    ) -> BoxFuture<'a, Result<Option<Artifact>, ArtifactError>>;

    /// Creates an artifact at version 1; [`ArtifactError::AlreadyExists`] when the id is taken.
    fn create(&self, new: NewArtifact) -> BoxFuture<'_, Result<Artifact, ArtifactError>>;

    /// Replaces the content if the artifact is still at `expected`, adding a history entry with
    /// `note`; otherwise [`ArtifactError::Conflict`] and nothing is written. Returns the
    /// artifact as stored.
    fn commit<'a>(
        &'a self,
        id: &'a ArtifactId,
        expected: &'a Revision,
        content: String,
        note: String,
    ) -> BoxFuture<'a, Result<Artifact, ArtifactError>>;

    /// Binds `thread_id` to the artifact if it has no thread yet. Returns the artifact as
    /// stored, whose thread may be another one when someone else bound first.
    fn bind_thread<'a>(
        &'a self,
        id: &'a ArtifactId,
        thread_id: String,
    ) -> BoxFuture<'a, Result<Artifact, ArtifactError>>;

    /// The artifact's history, oldest first, the current revision last.
    fn history<'a>(
        &'a self,
        id: &'a ArtifactId,
    ) -> BoxFuture<'a, Result<Vec<HistoryEntry>, ArtifactError>>;

    /// The ids of every stored artifact, sorted.
    fn list(&self) -> BoxFuture<'_, Result<Vec<ArtifactId>, ArtifactError>>;
}
