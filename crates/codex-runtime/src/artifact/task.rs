//! Typed tasks: what a task asks ([`TaskSpec`], [`TaskKind`]), what it returns
//! ([`TaskResult`], [`TaskOutcome`], [`Review`]), and the prompt and output schema each kind sends.

use super::model::{Artifact, ArtifactId};
use super::patch::{DocPatch, WirePatch};
use super::revision::Revision;
use crate::runtime::schema::strict_output_schema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One typed task on one artifact.
///
/// ```
/// use codex_runtime::artifact::{ArtifactId, TaskSpec};
/// let id = ArtifactId::new("notes")?;
/// let spec = TaskSpec::edit(id, "Add a summary section.").with_max_attempts(3);
/// assert_eq!(spec.max_attempts, Some(3));
/// # Ok::<(), codex_runtime::artifact::ArtifactError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TaskSpec {
    /// The artifact.
    pub artifact_id: ArtifactId,
    /// What kind of task.
    pub kind: TaskKind,
    /// What to do, in words.
    pub instructions: String,
    /// Tries before giving up on a rejected patch, an unparseable answer or a conflict
    /// (`None`: the manager's [`crate::artifact::ManagerConfig::max_attempts`]).
    pub max_attempts: Option<u32>,
}

impl TaskSpec {
    /// A task of `kind`.
    pub fn new(artifact_id: ArtifactId, kind: TaskKind, instructions: impl Into<String>) -> Self {
        TaskSpec {
            artifact_id,
            kind,
            instructions: instructions.into(),
            max_attempts: None,
        }
    }
    /// An edit: the model returns a patch, which is validated and committed.
    pub fn edit(artifact_id: ArtifactId, instructions: impl Into<String>) -> Self {
        Self::new(artifact_id, TaskKind::Edit, instructions)
    }
    /// A review: the model returns a [`Review`]; the artifact is not changed.
    pub fn review(artifact_id: ArtifactId, instructions: impl Into<String>) -> Self {
        Self::new(artifact_id, TaskKind::Review, instructions)
    }
    /// A custom task: free text, or JSON obeying `output_schema` when one is given.
    pub fn custom(
        artifact_id: ArtifactId,
        instructions: impl Into<String>,
        output_schema: Option<serde_json::Value>,
    ) -> Self {
        Self::new(
            artifact_id,
            TaskKind::Custom { output_schema },
            instructions,
        )
    }
    /// Sets the number of tries.
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }
}

/// The kinds of task.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TaskKind {
    /// Change the artifact through a validated patch.
    Edit,
    /// Review the artifact; returns a typed [`Review`].
    Review,
    /// Anything else; the answer is free text, or JSON obeying the schema.
    Custom {
        /// JSON Schema of the answer (sent as the turn's output schema).
        output_schema: Option<serde_json::Value>,
    },
}

impl TaskKind {
    /// `edit`, `review` or `custom`.
    pub fn name(&self) -> &'static str {
        match self {
            TaskKind::Edit => "edit",
            TaskKind::Review => "review",
            TaskKind::Custom { .. } => "custom",
        }
    }

    /// The output schema sent with the turn.
    pub fn output_schema(&self) -> Option<serde_json::Value> {
        match self {
            TaskKind::Edit => Some(strict_output_schema::<WirePatch>()),
            TaskKind::Review => Some(strict_output_schema::<Review>()),
            TaskKind::Custom { output_schema } => output_schema.clone(),
        }
    }
}

/// A typed review of an artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[non_exhaustive]
pub struct Review {
    /// One-paragraph summary.
    pub summary: String,
    /// The overall verdict.
    pub verdict: ReviewVerdict,
    /// Individual findings.
    pub findings: Vec<ReviewFinding>,
}

/// The overall verdict of a [`Review`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReviewVerdict {
    /// Good as it is.
    Approve,
    /// Needs changes.
    RequestChanges,
    /// Comments only.
    Comment,
}

/// One finding of a [`Review`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[non_exhaustive]
pub struct ReviewFinding {
    /// How serious.
    pub severity: Severity,
    /// Exact text of the artifact the finding is about, if any.
    pub anchor: Option<String>,
    /// The finding.
    pub message: String,
}

/// Severity of a [`ReviewFinding`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Severity {
    /// For information.
    Info,
    /// Should be fixed.
    Warning,
    /// Must be fixed.
    Error,
}

/// What a task produced.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TaskOutcome {
    /// The patch that was applied and the revision it was applied to.
    Edited {
        /// The revision before.
        previous_revision: Revision,
        /// The applied patch.
        patch: DocPatch,
    },
    /// The review.
    Reviewed(Review),
    /// The answer of a custom task (a JSON string when there was no schema).
    Custom(serde_json::Value),
}

/// The result of [`crate::artifact::ArtifactSessionManager::run_task`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TaskResult {
    /// The artifact after the task (its `revision` is the new revision of an edit).
    pub artifact: Artifact,
    /// How many model turns the task took.
    pub attempts: u32,
    /// What it produced.
    pub outcome: TaskOutcome,
}

const BEGIN: &str = "----- BEGIN ARTIFACT CONTENT -----";
const END: &str = "----- END ARTIFACT CONTENT -----";

/// The prompt of one attempt. `feedback` is why the previous attempt was refused; content up to
/// `inline_limit` bytes is also quoted in the prompt (larger content only as the attachment).
pub(crate) fn prompt(
    spec: &TaskSpec,
    artifact: &Artifact,
    feedback: Option<&str>,
    inline_limit: usize,
) -> String {
    let mut p = String::new();
    if let Some(f) = feedback {
        p.push_str(&format!(
            "Your previous answer was rejected: {f}\nThe artifact is now at revision {}. \
             Answer again, correcting that.\n\n",
            artifact.revision
        ));
    }
    p.push_str(&format!(
        "Artifact `{}` (\"{}\"), format {}, revision {}, version {}. Its current content is \
         attached as a file.\n",
        artifact.id, artifact.title, artifact.format, artifact.revision, artifact.version,
    ));
    if artifact.content.len() <= inline_limit {
        p.push_str(&format!("\n{BEGIN}\n{}\n{END}\n", artifact.content));
    }
    p.push_str(&format!(
        "\nTask ({}): {}\n",
        spec.kind.name(),
        spec.instructions
    ));
    match spec.kind {
        TaskKind::Edit => p.push_str(&format!(
            "\nAnswer with a patch: `base_revision` must be \"{}\". For markdown and text use \
             ops `replace`, `insert_before`, `insert_after` or `delete` with `anchor` set to \
             exact text of the current content that occurs exactly once, and `text` for the \
             new text. For JSON use RFC 6902 ops (`add`, `remove`, `replace`, `move`, `copy`, \
             `test`) with `path`, `from` and `value_json` (the value as JSON text). Ops apply \
             in order; set unused fields to null.\n",
            artifact.revision
        )),
        TaskKind::Review => p.push_str(
            "\nAnswer with a review: a summary, a verdict and findings (anchor = exact text \
             the finding is about, or null). Do not change the artifact.\n",
        ),
        TaskKind::Custom { .. } => {}
    }
    p
}
