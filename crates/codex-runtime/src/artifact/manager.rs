//! [`ArtifactSessionManager`]: opens artifacts with their Codex thread and runs typed tasks on
//! them, committing validated patches with optimistic concurrency and a bounded retry.

use super::adapter::{ArtifactRuntimeAdapter, CodexArtifactAdapter, TurnRequest};
use super::contract::{PluginContractVersion, ARTIFACT_CONTRACT_VERSION};
use super::error::ArtifactError;
use super::model::{Artifact, ArtifactFormat, ArtifactId, IntoArtifactId, NewArtifact};
use super::patch::{apply_doc_patch, PatchLimits, PatchRejection, RejectReason, WirePatch};
use super::store::ArtifactStore;
use super::task::{self, Review, TaskKind, TaskOutcome, TaskResult, TaskSpec};
use crate::runtime::{Client, SessionConfig};
use std::sync::Arc;

/// Settings of an [`ArtifactSessionManager`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ManagerConfig {
    /// Model turns a task may take: the first try plus corrective retries after a rejected
    /// patch, an unparseable answer or a conflict. Default 2 (one corrective retry).
    pub max_attempts: u32,
    /// Limits every patch must respect.
    pub limits: PatchLimits,
    /// The format of artifacts that [`ArtifactSessionManager::open`] creates.
    pub default_format: ArtifactFormat,
    /// Content up to this many bytes is quoted in the prompt as well as attached, so the model
    /// sees the exact text its anchors must match without reading a file. Default 64 KiB.
    pub inline_content_limit: usize,
}

impl Default for ManagerConfig {
    fn default() -> Self {
        ManagerConfig {
            max_attempts: 2,
            limits: PatchLimits::default(),
            default_format: ArtifactFormat::Markdown,
            inline_content_limit: 64 * 1024,
        }
    }
}

impl ManagerConfig {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the number of tries per task (at least 1).
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }
    /// Sets the patch limits.
    pub fn with_limits(mut self, limits: PatchLimits) -> Self {
        self.limits = limits;
        self
    }
    /// Sets how much content is quoted in the prompt (0: attachment only).
    pub fn with_inline_content_limit(mut self, bytes: usize) -> Self {
        self.inline_content_limit = bytes;
        self
    }
    /// Sets the format of artifacts `open` creates.
    pub fn with_default_format(mut self, format: ArtifactFormat) -> Self {
        self.default_format = format;
        self
    }
}

/// Runs typed tasks on artifacts: state in an [`ArtifactStore`], turns through an
/// [`ArtifactRuntimeAdapter`]. Cheap to clone.
///
/// ```no_run
/// # async fn demo() -> Result<(), codex_runtime::artifact::ArtifactError> {
/// use codex_runtime::artifact::{ArtifactSessionManager, FsArtifactStore, TaskSpec};
/// use codex_runtime::runtime::Client;
/// let client = Client::connect_default().await?;
/// let manager = ArtifactSessionManager::new(client, FsArtifactStore::new("artifacts"))?;
/// let doc = manager.open("release-notes").await?;
/// let done = manager.run_task(TaskSpec::edit(doc.id, "Add a Highlights section.")).await?;
/// println!("now at {}", done.artifact.revision);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ArtifactSessionManager {
    adapter: Arc<dyn ArtifactRuntimeAdapter>,
    store: Arc<dyn ArtifactStore>,
    config: ManagerConfig,
}

impl std::fmt::Debug for ArtifactSessionManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtifactSessionManager")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn check_contract(component: String, found: PluginContractVersion) -> Result<(), ArtifactError> {
    if found.is_compatible_with(&ARTIFACT_CONTRACT_VERSION) {
        Ok(())
    } else {
        Err(ArtifactError::IncompatibleContract {
            component,
            found,
            expected_major: ARTIFACT_CONTRACT_VERSION.major,
        })
    }
}

impl ArtifactSessionManager {
    /// A manager running tasks as Codex turns on `client` (threads in the current directory,
    /// with [`SessionConfig`]'s safe defaults; use [`ArtifactSessionManager::new_with_adapter`]
    /// with a [`CodexArtifactAdapter`] to choose them).
    pub fn new(client: Client, store: impl ArtifactStore) -> Result<Self, ArtifactError> {
        let adapter = CodexArtifactAdapter::new(client, SessionConfig::new("."));
        Self::new_with_adapter(adapter, store)
    }

    /// A manager running tasks through `adapter`. Refuses a store or adapter whose contract
    /// major version differs from [`ARTIFACT_CONTRACT_VERSION`].
    pub fn new_with_adapter(
        adapter: impl ArtifactRuntimeAdapter,
        store: impl ArtifactStore,
    ) -> Result<Self, ArtifactError> {
        check_contract(
            format!("store `{}`", std::any::type_name_of_val(&store)),
            store.contract_version(),
        )?;
        check_contract(
            format!("adapter `{}`", std::any::type_name_of_val(&adapter)),
            adapter.contract_version(),
        )?;
        Ok(ArtifactSessionManager {
            adapter: Arc::new(adapter),
            store: Arc::new(store),
            config: ManagerConfig::default(),
        })
    }

    /// Replaces the settings.
    pub fn with_config(mut self, config: ManagerConfig) -> Self {
        self.config = config;
        self
    }

    /// The store.
    pub fn store(&self) -> &dyn ArtifactStore {
        self.store.as_ref()
    }

    /// Loads artifact `id`, or creates it empty in the default format, and makes its thread
    /// ready: a new thread is started and bound the first time; afterwards (also after a
    /// restart) the bound thread is resumed.
    pub async fn open(&self, id: impl IntoArtifactId) -> Result<Artifact, ArtifactError> {
        let id = id.into_artifact_id()?;
        let new = NewArtifact::new(id, self.config.default_format, "")?;
        self.open_or_create(new).await
    }

    /// Like [`ArtifactSessionManager::open`], creating the artifact from `new` when it does
    /// not exist (an existing one is opened as it is).
    pub async fn open_or_create(&self, new: NewArtifact) -> Result<Artifact, ArtifactError> {
        let id = new.id.clone();
        let artifact = match self.store.load(&id).await? {
            Some(a) => a,
            None => match self.store.create(new).await {
                Ok(a) => a,
                Err(ArtifactError::AlreadyExists { .. }) => self.load(&id).await?,
                Err(e) => return Err(e),
            },
        };
        self.ensure_thread(artifact).await
    }

    async fn load(&self, id: &ArtifactId) -> Result<Artifact, ArtifactError> {
        self.store
            .load(id)
            .await?
            .ok_or_else(|| ArtifactError::NotFound { id: id.to_string() })
    }

    async fn ensure_thread(&self, artifact: Artifact) -> Result<Artifact, ArtifactError> {
        let thread = self.adapter.open_thread(&artifact).await?;
        if artifact.thread_id.as_deref() == Some(thread.as_str()) {
            return Ok(artifact);
        }
        let bound = self.store.bind_thread(&artifact.id, thread.clone()).await?;
        if bound.thread_id.as_deref() != Some(thread.as_str()) {
            // Another process bound its thread first: use that one.
            self.adapter.open_thread(&bound).await?;
        }
        tracing::info!(artifact = %bound.id, thread = ?bound.thread_id, "artifact thread bound");
        Ok(bound)
    }

    /// Runs one typed task as a turn on the artifact's thread (opening it if needed).
    ///
    /// An edit's patch is validated and committed against the revision the model saw; a
    /// rejected patch, an unparseable answer or a conflicting concurrent write is told to the
    /// model and retried, up to the task's `max_attempts`. When the tries are used up the
    /// error is [`ArtifactError::PatchRejected`], [`ArtifactError::InvalidOutput`] or
    /// [`ArtifactError::Conflict`], and the stored artifact is unchanged by this task.
    ///
    /// # Cancel safety
    /// Dropping the future before the commit leaves the artifact unchanged (a Codex turn that
    /// is running is not interrupted). A commit already handed to the store completes or not
    /// as a whole; it is never half-written.
    #[tracing::instrument(level = "info", skip_all, fields(artifact = %spec.artifact_id, kind = spec.kind.name()))]
    pub async fn run_task(&self, spec: TaskSpec) -> Result<TaskResult, ArtifactError> {
        let id = spec.artifact_id.clone();
        let max = spec.max_attempts.unwrap_or(self.config.max_attempts).max(1);
        let mut artifact = self.ensure_thread(self.load(&id).await?).await?;
        let mut feedback: Option<String> = None;
        let mut last_error = None;
        for attempt in 1..=max {
            if attempt > 1 {
                artifact = self.load(&id).await?;
            }
            let thread_id = artifact.thread_id.clone().unwrap_or_default();
            let request = TurnRequest {
                prompt: task::prompt(
                    &spec,
                    &artifact,
                    feedback.as_deref(),
                    self.config.inline_content_limit,
                ),
                output_schema: spec.kind.output_schema(),
                kind: spec.kind.clone(),
                thread_id,
                artifact: artifact.clone(),
                attempt,
                feedback: feedback.clone(),
            };
            let reply = self.adapter.run_turn(request).await?;
            let step = match &spec.kind {
                TaskKind::Edit => {
                    self.try_edit(&spec, &artifact, &reply.text, attempt)
                        .await?
                }
                TaskKind::Review => match serde_json::from_str::<Review>(reply.text.trim()) {
                    Ok(review) => Step::Done(TaskResult {
                        artifact: artifact.clone(),
                        attempts: attempt,
                        outcome: TaskOutcome::Reviewed(review),
                    }),
                    Err(e) => Step::Retry(
                        format!("the answer is not a valid review: {e}"),
                        ArtifactError::InvalidOutput {
                            id: id.to_string(),
                            expected: "review",
                            attempts: attempt,
                            message: e.to_string(),
                            raw: reply.text.clone(),
                        },
                    ),
                },
                TaskKind::Custom { output_schema } => {
                    let value = match output_schema {
                        None => Ok(serde_json::Value::String(reply.text.clone())),
                        Some(_) => serde_json::from_str(reply.text.trim()),
                    };
                    match value {
                        Ok(v) => Step::Done(TaskResult {
                            artifact: artifact.clone(),
                            attempts: attempt,
                            outcome: TaskOutcome::Custom(v),
                        }),
                        Err(e) => Step::Retry(
                            format!("the answer is not JSON: {e}"),
                            ArtifactError::InvalidOutput {
                                id: id.to_string(),
                                expected: "JSON answer",
                                attempts: attempt,
                                message: e.to_string(),
                                raw: reply.text.clone(),
                            },
                        ),
                    }
                }
            };
            match step {
                Step::Done(result) => return Ok(result),
                Step::Retry(why, err) => {
                    tracing::info!(attempt, max, "task attempt refused: {why}");
                    feedback = Some(why);
                    last_error = Some(err);
                }
            }
        }
        Err(last_error.unwrap_or(ArtifactError::NotFound { id: id.to_string() }))
    }

    async fn try_edit(
        &self,
        spec: &TaskSpec,
        artifact: &Artifact,
        answer: &str,
        attempt: u32,
    ) -> Result<Step, ArtifactError> {
        let rejected = |rejection: PatchRejection| {
            Step::Retry(
                rejection.to_string(),
                ArtifactError::PatchRejected {
                    id: artifact.id.to_string(),
                    attempts: attempt,
                    rejection,
                },
            )
        };
        let patch = match serde_json::from_str::<WirePatch>(answer.trim()) {
            Ok(wire) => match wire.into_doc_patch(artifact.format) {
                Ok(p) => p,
                Err(r) => return Ok(rejected(r)),
            },
            Err(e) => {
                return Ok(rejected(PatchRejection::whole(RejectReason::InvalidJson {
                    message: format!("the answer is not a patch: {e}"),
                })))
            }
        };
        // Applying can take a while on a large document (parsing, counting, anchors): off the
        // async worker threads.
        let (patch, applied) = {
            let (doc, limits) = (artifact.clone(), self.config.limits);
            tokio::task::spawn_blocking(move || {
                let applied = apply_doc_patch(&doc, &patch, &limits);
                (patch, applied)
            })
            .await
            .map_err(|e| ArtifactError::Internal {
                message: format!("applying the patch did not finish: {e}"),
            })?
        };
        let patched = match applied {
            Ok(p) => p,
            Err(r) => return Ok(rejected(r)),
        };
        let outcome = TaskOutcome::Edited {
            previous_revision: artifact.revision.clone(),
            patch,
        };
        if patched.revision == artifact.revision {
            return Ok(Step::Done(TaskResult {
                artifact: artifact.clone(),
                attempts: attempt,
                outcome,
            }));
        }
        let note = format!("edit: {}", spec.instructions);
        match self
            .store
            .commit(&artifact.id, &artifact.revision, patched.content, note)
            .await
        {
            Ok(stored) => Ok(Step::Done(TaskResult {
                artifact: stored,
                attempts: attempt,
                outcome,
            })),
            Err(e @ ArtifactError::Conflict { .. }) => Ok(Step::Retry(
                format!("{e}; make the patch against the new content"),
                e,
            )),
            Err(e) => Err(e),
        }
    }
}

enum Step {
    Done(TaskResult),
    Retry(String, ArtifactError),
}
