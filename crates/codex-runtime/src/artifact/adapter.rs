//! [`ArtifactRuntimeAdapter`]: how the manager runs a task's turn on a model, and
//! [`CodexArtifactAdapter`], the adapter that runs it as a Codex turn on the artifact's thread.

use super::contract::{PluginContractVersion, ARTIFACT_CONTRACT_VERSION};
use super::error::ArtifactError;
use super::model::Artifact;
use super::task::TaskKind;
use crate::runtime::{Attachment, Client, Session, SessionConfig, TurnOverrides};
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::path::PathBuf;

/// One turn the manager asks an adapter to run.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TurnRequest {
    /// The artifact as it is now (its content is what the model must see).
    pub artifact: Artifact,
    /// The thread bound to the artifact.
    pub thread_id: String,
    /// The task kind.
    pub kind: TaskKind,
    /// The full prompt (instructions, revision, answer format, feedback on a retry).
    pub prompt: String,
    /// The JSON Schema the answer must obey, if any.
    pub output_schema: Option<serde_json::Value>,
    /// 1 for the first try, 2 for the first retry, ...
    pub attempt: u32,
    /// Why the previous try was refused (on a retry).
    pub feedback: Option<String>,
}

/// The model's answer to one [`TurnRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TurnReply {
    /// The final message (JSON when the request had an output schema).
    pub text: String,
}

impl TurnReply {
    /// A reply with this text.
    pub fn new(text: impl Into<String>) -> Self {
        TurnReply { text: text.into() }
    }
}

/// Runs artifact turns on some runtime. The Codex one is [`CodexArtifactAdapter`]; tests and
/// other runtimes implement this to drive tasks without codex.
pub trait ArtifactRuntimeAdapter: Send + Sync + 'static {
    /// The contract version this adapter implements; the manager refuses another major version.
    fn contract_version(&self) -> PluginContractVersion;

    /// Makes the artifact's thread ready and returns its id: resumes `artifact.thread_id` when
    /// set, otherwise starts a new thread.
    fn open_thread<'a>(
        &'a self,
        artifact: &'a Artifact,
    ) -> BoxFuture<'a, Result<String, ArtifactError>>;

    /// Runs one turn and returns the model's final answer.
    fn run_turn(&self, request: TurnRequest) -> BoxFuture<'_, Result<TurnReply, ArtifactError>>;
}

/// Runs artifact turns as Codex turns: one thread per artifact (resumed after a restart), the
/// current content attached as a file, the task's output schema sent as the turn's
/// `outputSchema`.
pub struct CodexArtifactAdapter {
    client: Client,
    session: SessionConfig,
    attachment_dir: PathBuf,
    sessions: tokio::sync::Mutex<HashMap<String, Session>>,
}

impl std::fmt::Debug for CodexArtifactAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodexArtifactAdapter")
            .field("cwd", &self.session.cwd)
            .field("attachment_dir", &self.attachment_dir)
            .finish_non_exhaustive()
    }
}

impl CodexArtifactAdapter {
    /// Threads are started (or resumed) with `session`; attachments are written under
    /// `<temp dir>/codex-runtime-artifacts/` and removed after each turn.
    pub fn new(client: Client, session: SessionConfig) -> Self {
        let attachment_dir = std::env::temp_dir().join("codex-runtime-artifacts");
        CodexArtifactAdapter {
            client,
            session,
            attachment_dir,
            sessions: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Writes attachments under `dir` instead.
    pub fn with_attachment_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.attachment_dir = dir.into();
        self
    }

    async fn session(&self, thread_id: Option<&str>) -> Result<Session, ArtifactError> {
        let mut sessions = self.sessions.lock().await;
        if let Some(s) = thread_id.and_then(|t| sessions.get(t)) {
            return Ok(s.clone());
        }
        let session = match thread_id {
            Some(t) => {
                tracing::debug!(thread = t, "resuming the artifact's thread");
                self.client.resume_session(t, self.session.clone()).await?
            }
            None => self.client.start_session(self.session.clone()).await?,
        };
        sessions.insert(session.thread_id().to_string(), session.clone());
        Ok(session)
    }

    async fn write_attachment(&self, artifact: &Artifact) -> Result<PathBuf, ArtifactError> {
        let dir = std::path::absolute(&self.attachment_dir)
            .map_err(ArtifactError::io(&self.attachment_dir))?;
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(ArtifactError::io(&dir))?;
        let path = dir.join(format!(
            "{}.v{}.{}.{}",
            artifact.id,
            artifact.version,
            std::process::id(),
            artifact.format.extension()
        ));
        tokio::fs::write(&path, artifact.content.as_bytes())
            .await
            .map_err(ArtifactError::io(&path))?;
        Ok(path)
    }
}

impl ArtifactRuntimeAdapter for CodexArtifactAdapter {
    fn contract_version(&self) -> PluginContractVersion {
        ARTIFACT_CONTRACT_VERSION
    }

    fn open_thread<'a>(
        &'a self,
        artifact: &'a Artifact,
    ) -> BoxFuture<'a, Result<String, ArtifactError>> {
        Box::pin(async move {
            let session = self.session(artifact.thread_id.as_deref()).await?;
            Ok(session.thread_id().to_string())
        })
    }

    fn run_turn(&self, request: TurnRequest) -> BoxFuture<'_, Result<TurnReply, ArtifactError>> {
        Box::pin(async move {
            let session = self.session(Some(&request.thread_id)).await?;
            let file = self.write_attachment(&request.artifact).await?;
            let mut overrides = TurnOverrides::new().attach(Attachment::Path(file.clone()));
            if let Some(schema) = request.output_schema {
                overrides = overrides.with_output_schema(schema);
            }
            let out = session.ask_with(request.prompt, overrides).await;
            if let Err(e) = tokio::fs::remove_file(&file).await {
                tracing::debug!(path = %file.display(), "cannot remove the attachment: {e}");
            }
            Ok(TurnReply::new(out?.assistant_text))
        })
    }
}
