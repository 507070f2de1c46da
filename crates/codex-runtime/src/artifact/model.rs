//! The artifact model: [`Artifact`], its [`ArtifactId`], [`ArtifactFormat`] and bounded
//! [`HistoryEntry`] list, and the one pure state transition every store uses
//! ([`Artifact::with_content`]).

use super::error::ArtifactError;
use super::revision::{compute_revision, Revision};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// How many history entries an artifact keeps by default (oldest dropped first).
pub const DEFAULT_HISTORY_LIMIT: usize = 100;

/// The id of an artifact: 1 to 128 characters of `A-Z a-z 0-9 . _ -`, not starting with `.`
/// (it names a directory in [`crate::artifact::FsArtifactStore`]).
///
/// ```
/// use codex_runtime::artifact::ArtifactId;
/// assert!(ArtifactId::new("release-notes_v2.md").is_ok());
/// assert!(ArtifactId::new("../etc").is_err());
/// assert!(ArtifactId::new("").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ArtifactId(String);

impl ArtifactId {
    /// Checks and wraps an id.
    pub fn new(id: impl Into<String>) -> Result<Self, ArtifactError> {
        let id = id.into();
        let reason = if id.is_empty() {
            Some("it is empty")
        } else if id.len() > 128 {
            Some("it is longer than 128 characters")
        } else if id.starts_with('.') {
            Some("it starts with `.`")
        } else if !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            Some("only A-Z, a-z, 0-9, `.`, `_` and `-` are allowed")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(ArtifactError::InvalidId {
                id,
                reason: reason.to_string(),
            }),
            None => Ok(ArtifactId(id)),
        }
    }

    /// The id string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for ArtifactId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ArtifactId::new(s).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for ArtifactId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<&str> for ArtifactId {
    type Error = ArtifactError;
    fn try_from(s: &str) -> Result<Self, ArtifactError> {
        ArtifactId::new(s)
    }
}

impl TryFrom<String> for ArtifactId {
    type Error = ArtifactError;
    fn try_from(s: String) -> Result<Self, ArtifactError> {
        ArtifactId::new(s)
    }
}

/// Anything that names an artifact: an [`ArtifactId`] or a string (checked).
pub trait IntoArtifactId {
    /// The id, or [`ArtifactError::InvalidId`].
    fn into_artifact_id(self) -> Result<ArtifactId, ArtifactError>;
}

impl IntoArtifactId for ArtifactId {
    fn into_artifact_id(self) -> Result<ArtifactId, ArtifactError> {
        Ok(self)
    }
}

impl IntoArtifactId for &ArtifactId {
    fn into_artifact_id(self) -> Result<ArtifactId, ArtifactError> {
        Ok(self.clone())
    }
}

impl IntoArtifactId for &str {
    fn into_artifact_id(self) -> Result<ArtifactId, ArtifactError> {
        ArtifactId::new(self)
    }
}

impl IntoArtifactId for String {
    fn into_artifact_id(self) -> Result<ArtifactId, ArtifactError> {
        ArtifactId::new(self)
    }
}

impl IntoArtifactId for &String {
    fn into_artifact_id(self) -> Result<ArtifactId, ArtifactError> {
        ArtifactId::new(self.as_str())
    }
}

/// What the content of an artifact is; decides which patch operations apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ArtifactFormat {
    /// Markdown text (anchored text operations).
    #[default]
    Markdown,
    /// Plain text (anchored text operations).
    Text,
    /// A JSON document (RFC 6902 operations).
    Json,
}

impl ArtifactFormat {
    /// The name used in the revision encoding and in prompts.
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactFormat::Markdown => "markdown",
            ArtifactFormat::Text => "text",
            ArtifactFormat::Json => "json",
        }
    }

    /// A file extension for the content.
    pub fn extension(self) -> &'static str {
        match self {
            ArtifactFormat::Markdown => "md",
            ArtifactFormat::Text => "txt",
            ArtifactFormat::Json => "json",
        }
    }

    /// Checks that `content` is acceptable for this format (JSON must parse).
    pub fn check_content(self, content: &str) -> Result<(), String> {
        match self {
            ArtifactFormat::Json => serde_json::from_str::<serde_json::Value>(content)
                .map(|_| ())
                .map_err(|e| format!("content is not valid JSON: {e}")),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for ArtifactFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One revision in an artifact's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HistoryEntry {
    /// The artifact version that produced this revision.
    pub version: u64,
    /// The revision.
    pub revision: Revision,
    /// The revision it was made from (`None` for the first).
    pub parent: Option<Revision>,
    /// When it was committed, milliseconds since the Unix epoch.
    pub committed_at_ms: u64,
    /// What made it (task kind and instructions, or `created`).
    pub note: String,
}

/// A document that Codex edits through typed tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Artifact {
    /// The id.
    pub id: ArtifactId,
    /// A human title.
    pub title: String,
    /// What the content is.
    pub format: ArtifactFormat,
    /// The content.
    pub content: String,
    /// [`compute_revision`] of `format` and `content`.
    pub revision: Revision,
    /// Goes up by one on every committed change (content or thread binding).
    pub version: u64,
    /// The Codex thread bound to this artifact, once opened.
    pub thread_id: Option<String>,
    /// Free-form metadata.
    pub metadata: BTreeMap<String, serde_json::Value>,
    /// Past revisions, oldest first, the current one last; bounded by the store's limit.
    pub history: Vec<HistoryEntry>,
}

/// What is needed to create an artifact.
///
/// ```
/// use codex_runtime::artifact::{ArtifactFormat, NewArtifact};
/// let new = NewArtifact::new("notes", ArtifactFormat::Markdown, "# Notes\n")?.with_title("Notes");
/// assert_eq!(new.title, "Notes");
/// # Ok::<(), codex_runtime::artifact::ArtifactError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct NewArtifact {
    /// The id.
    pub id: ArtifactId,
    /// A human title (defaults to the id).
    pub title: String,
    /// The format.
    pub format: ArtifactFormat,
    /// The initial content.
    pub content: String,
    /// Initial metadata.
    pub metadata: BTreeMap<String, serde_json::Value>,
}

impl NewArtifact {
    /// An artifact `id` with this format and content; the title is the id.
    pub fn new(
        id: impl IntoArtifactId,
        format: ArtifactFormat,
        content: impl Into<String>,
    ) -> Result<Self, ArtifactError> {
        let id = id.into_artifact_id()?;
        Ok(NewArtifact {
            title: id.as_str().to_string(),
            id,
            format,
            content: content.into(),
            metadata: BTreeMap::new(),
        })
    }

    /// Sets the title.
    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    /// Adds a metadata entry.
    pub fn with_metadata(mut self, key: impl Into<String>, value: serde_json::Value) -> Self {
        self.metadata.insert(key.into(), value);
        self
    }

    /// The artifact at version 1, with one history entry; checks the content against the format.
    pub fn into_artifact(self, now_ms: u64) -> Result<Artifact, ArtifactError> {
        self.format.check_content(&self.content).map_err(|reason| {
            ArtifactError::InvalidContent {
                id: self.id.to_string(),
                reason,
            }
        })?;
        let revision = compute_revision(self.format, &self.content);
        Ok(Artifact {
            history: vec![HistoryEntry {
                version: 1,
                revision: revision.clone(),
                parent: None,
                committed_at_ms: now_ms,
                note: "created".into(),
            }],
            id: self.id,
            title: self.title,
            format: self.format,
            content: self.content,
            revision,
            version: 1,
            thread_id: None,
            metadata: self.metadata,
        })
    }
}

impl Artifact {
    /// The next state with `content`: a new revision, the version plus one and a history entry
    /// (the oldest entries dropped beyond `history_limit`, at least one kept). Pure: the same
    /// inputs always give the same artifact.
    pub fn with_content(
        &self,
        content: String,
        note: impl Into<String>,
        history_limit: usize,
        now_ms: u64,
    ) -> Artifact {
        let revision = compute_revision(self.format, &content);
        let mut next = self.clone();
        next.version = self.version + 1;
        if revision != self.revision {
            next.history.push(HistoryEntry {
                version: next.version,
                revision: revision.clone(),
                parent: Some(self.revision.clone()),
                committed_at_ms: now_ms,
                note: note.into(),
            });
            let keep = history_limit.max(1);
            if next.history.len() > keep {
                let drop = next.history.len() - keep;
                next.history.drain(..drop);
            }
        }
        next.content = content;
        next.revision = revision;
        next
    }

    /// Checks what a stored artifact must satisfy: the revision matches the content and the
    /// last history entry is the current revision. Returns what is wrong.
    pub fn check_integrity(&self) -> Result<(), String> {
        let computed = compute_revision(self.format, &self.content);
        if computed != self.revision {
            return Err(format!(
                "stored revision {} does not match the content (computed {computed})",
                self.revision
            ));
        }
        match self.history.last() {
            Some(last) if last.revision == self.revision => Ok(()),
            Some(last) => Err(format!(
                "history ends at {} but the artifact is at {}",
                last.revision, self.revision
            )),
            None => Err("history is empty".into()),
        }
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
