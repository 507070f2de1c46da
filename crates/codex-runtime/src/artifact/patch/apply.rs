//! [`validate_doc_patch`] and [`apply_doc_patch`]: pure functions of the artifact and the patch.

use super::{json, text, DocPatch, PatchLimits, PatchOp, PatchRejection, RejectReason};
use crate::artifact::model::{Artifact, ArtifactFormat};
use crate::artifact::revision::{compute_revision, Revision};

/// The result of applying a patch: the new content and its revision.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PatchedDoc {
    /// The new content.
    pub content: String,
    /// [`compute_revision`] of the artifact's format and the new content.
    pub revision: Revision,
}

/// Checks that `patch` applies to `artifact`: the base revision is the artifact's, every anchor
/// occurs exactly once when its operation runs, every JSON operation succeeds, each operation
/// fits the format and the result stays within `limits`. The error names the operation and why.
///
/// ```
/// use codex_runtime::artifact::*;
/// let doc = NewArtifact::new("a", ArtifactFormat::Markdown, "one\ntwo\ntwo\n")?.into_artifact(0)?;
/// let patch = DocPatch::new(doc.revision.clone(), vec![
///     PatchOp::replace("one", "1"),
///     PatchOp::delete("two\n"),
/// ]);
/// let err = validate_doc_patch(&doc, &patch, &PatchLimits::default()).unwrap_err();
/// assert_eq!(err.op_index, Some(1));
/// assert!(matches!(err.reason, RejectReason::AnchorAmbiguous { count: 2, .. }));
/// # Ok::<(), ArtifactError>(())
/// ```
pub fn validate_doc_patch(
    artifact: &Artifact,
    patch: &DocPatch,
    limits: &PatchLimits,
) -> Result<(), PatchRejection> {
    apply_doc_patch(artifact, patch, limits).map(|_| ())
}

/// Validates `patch` (see [`validate_doc_patch`]) and returns the new content with its
/// revision. Pure and deterministic: no I/O, no clock, and the same inputs always give the same
/// output; `artifact` is never modified.
///
/// ```
/// use codex_runtime::artifact::*;
/// let doc = NewArtifact::new("a", ArtifactFormat::Markdown, "# T\n\nold\n")?.into_artifact(0)?;
/// let patch = DocPatch::new(doc.revision.clone(), vec![
///     PatchOp::replace("old", "new"),
///     PatchOp::insert_after("# T\n", "\nintro\n"),
/// ]);
/// let out = apply_doc_patch(&doc, &patch, &PatchLimits::default()).unwrap();
/// assert_eq!(out.content, "# T\n\nintro\n\nnew\n");
/// assert_eq!(out.revision, compute_revision(ArtifactFormat::Markdown, &out.content));
/// # Ok::<(), ArtifactError>(())
/// ```
pub fn apply_doc_patch(
    artifact: &Artifact,
    patch: &DocPatch,
    limits: &PatchLimits,
) -> Result<PatchedDoc, PatchRejection> {
    if patch.base_revision != artifact.revision {
        return Err(PatchRejection::whole(RejectReason::WrongBaseRevision {
            patch: patch.base_revision.clone(),
            current: artifact.revision.clone(),
        }));
    }
    if patch.ops.len() > limits.max_ops {
        return Err(PatchRejection::whole(RejectReason::TooManyOps {
            count: patch.ops.len(),
            limit: limits.max_ops,
        }));
    }
    if patch.ops.is_empty() {
        return Ok(PatchedDoc {
            content: artifact.content.clone(),
            revision: artifact.revision.clone(),
        });
    }
    let content = match artifact.format {
        ArtifactFormat::Json => apply_json(&artifact.content, patch, limits)?,
        format => apply_text(&artifact.content, format, patch, limits)?,
    };
    Ok(PatchedDoc {
        revision: compute_revision(artifact.format, &content),
        content,
    })
}

fn wrong_format(i: usize, op: &PatchOp, format: ArtifactFormat) -> PatchRejection {
    PatchRejection::at(
        i,
        RejectReason::WrongFormat {
            op: op.name().into(),
            format: format.as_str().into(),
        },
    )
}

fn apply_text(
    content: &str,
    format: ArtifactFormat,
    patch: &DocPatch,
    limits: &PatchLimits,
) -> Result<String, PatchRejection> {
    let max = limits.max_content_bytes;
    let mut current: Option<String> = None;
    for (i, op) in patch.ops.iter().enumerate() {
        let doc = current.as_deref().unwrap_or(content);
        let next = match op {
            PatchOp::Replace { anchor, text: t } => text::splice(doc, anchor, "", false, t, i, max),
            PatchOp::InsertBefore { anchor, text: t } => {
                text::splice(doc, anchor, t, true, "", i, max)
            }
            PatchOp::InsertAfter { anchor, text: t } => {
                text::splice(doc, anchor, "", true, t, i, max)
            }
            PatchOp::Delete { anchor } => text::splice(doc, anchor, "", false, "", i, max),
            other => Err(wrong_format(i, other, format)),
        }?;
        current = Some(next);
    }
    let out = current.unwrap_or_else(|| content.to_string());
    if out.len() > max {
        return Err(PatchRejection::whole(RejectReason::TooLarge {
            size: out.len(),
            limit: max,
        }));
    }
    Ok(out)
}

fn apply_json(
    content: &str,
    patch: &DocPatch,
    limits: &PatchLimits,
) -> Result<String, PatchRejection> {
    let mut doc = json::parse(content)?;
    // The size is kept within the limit after every operation (not only at the end), so a
    // patch cannot grow the document without bound before it is refused.
    let mut budget = json::Budget::new(&doc, limits.max_content_bytes);
    for (i, op) in patch.ops.iter().enumerate() {
        match op {
            PatchOp::Json { operation } => budget.apply(&mut doc, operation, i)?,
            other => return Err(wrong_format(i, other, ArtifactFormat::Json)),
        }
    }
    let out = json::render(&doc);
    if out.len() > limits.max_content_bytes {
        let last = patch.ops.len().checked_sub(1);
        return Err(PatchRejection {
            op_index: last,
            reason: RejectReason::TooLarge {
                size: out.len(),
                limit: limits.max_content_bytes,
            },
        });
    }
    Ok(out)
}
