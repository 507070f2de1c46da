//! Doc patches: [`DocPatch`] (a base revision and operations), why one is refused
//! ([`PatchRejection`]), the limits ([`PatchLimits`]) and the pure
//! [`validate_doc_patch`] / [`apply_doc_patch`].
//!
//! - `text`: replace / insert_before / insert_after / delete, each anchored on exact text that
//!   must occur exactly once;
//! - `json`: RFC 6902 operations through the `json-patch` crate;
//! - `apply`: base-revision check, per-op application, size limit;
//! - `wire`: the flat shape a model returns through the output schema, and its conversion.

mod apply;
mod json;
mod text;
pub(crate) mod wire;

pub use apply::{apply_doc_patch, validate_doc_patch, PatchedDoc};
pub use wire::{WireOp, WireOpKind, WirePatch};

use super::revision::Revision;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A patch to one artifact: the revision it was made against and the operations, applied in
/// order (each one sees the result of the previous one).
///
/// ```
/// use codex_runtime::artifact::{compute_revision, ArtifactFormat, DocPatch, PatchOp};
/// let base = compute_revision(ArtifactFormat::Markdown, "# Title\n");
/// let patch = DocPatch::new(base, vec![PatchOp::insert_after("# Title\n", "Hello.\n")]);
/// assert_eq!(patch.ops.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DocPatch {
    /// The revision the patch was made against; it applies only to that revision.
    pub base_revision: Revision,
    /// The operations.
    pub ops: Vec<PatchOp>,
}

impl DocPatch {
    /// A patch against `base_revision`.
    pub fn new(base_revision: Revision, ops: Vec<PatchOp>) -> Self {
        DocPatch { base_revision, ops }
    }
}

/// One operation. Text operations apply to `markdown` and `text` artifacts, [`PatchOp::Json`]
/// to `json` artifacts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PatchOp {
    /// Replaces the anchor with `text`.
    Replace {
        /// Exact text that occurs exactly once.
        anchor: String,
        /// The replacement.
        text: String,
    },
    /// Inserts `text` right before the anchor.
    InsertBefore {
        /// Exact text that occurs exactly once.
        anchor: String,
        /// What to insert.
        text: String,
    },
    /// Inserts `text` right after the anchor.
    InsertAfter {
        /// Exact text that occurs exactly once.
        anchor: String,
        /// What to insert.
        text: String,
    },
    /// Deletes the anchor.
    Delete {
        /// Exact text that occurs exactly once.
        anchor: String,
    },
    /// One RFC 6902 operation (`add`, `remove`, `replace`, `move`, `copy`, `test`).
    Json {
        /// The operation.
        operation: json_patch::PatchOperation,
    },
}

impl PatchOp {
    /// [`PatchOp::Replace`].
    pub fn replace(anchor: impl Into<String>, text: impl Into<String>) -> Self {
        PatchOp::Replace {
            anchor: anchor.into(),
            text: text.into(),
        }
    }
    /// [`PatchOp::InsertBefore`].
    pub fn insert_before(anchor: impl Into<String>, text: impl Into<String>) -> Self {
        PatchOp::InsertBefore {
            anchor: anchor.into(),
            text: text.into(),
        }
    }
    /// [`PatchOp::InsertAfter`].
    pub fn insert_after(anchor: impl Into<String>, text: impl Into<String>) -> Self {
        PatchOp::InsertAfter {
            anchor: anchor.into(),
            text: text.into(),
        }
    }
    /// [`PatchOp::Delete`].
    pub fn delete(anchor: impl Into<String>) -> Self {
        PatchOp::Delete {
            anchor: anchor.into(),
        }
    }
    /// [`PatchOp::Json`] from an RFC 6902 operation object, e.g.
    /// `{"op": "add", "path": "/a", "value": 1}`.
    pub fn json(operation: serde_json::Value) -> Result<Self, serde_json::Error> {
        Ok(PatchOp::Json {
            operation: serde_json::from_value(operation)?,
        })
    }

    /// The operation's name (`replace`, `insert_before`, ..., `json`).
    pub fn name(&self) -> &'static str {
        match self {
            PatchOp::Replace { .. } => "replace",
            PatchOp::InsertBefore { .. } => "insert_before",
            PatchOp::InsertAfter { .. } => "insert_after",
            PatchOp::Delete { .. } => "delete",
            PatchOp::Json { .. } => "json",
        }
    }
}

/// Bounds a patch must respect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PatchLimits {
    /// Largest content (in bytes) a patch may produce. Default 8 MiB.
    pub max_content_bytes: usize,
    /// Most operations in one patch. Default 1000.
    pub max_ops: usize,
}

impl Default for PatchLimits {
    fn default() -> Self {
        PatchLimits {
            max_content_bytes: 8 * 1024 * 1024,
            max_ops: 1000,
        }
    }
}

impl PatchLimits {
    /// Sets the largest content a patch may produce.
    pub fn with_max_content_bytes(mut self, bytes: usize) -> Self {
        self.max_content_bytes = bytes;
        self
    }
    /// Sets the most operations in one patch.
    pub fn with_max_ops(mut self, ops: usize) -> Self {
        self.max_ops = ops;
        self
    }
}

/// Why a patch was refused, and at which operation (`op_index`, 0-based; `None` for the patch as
/// a whole).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{reason}", op_index.map(|i| format!("op #{i}: ")).unwrap_or_default())]
#[non_exhaustive]
pub struct PatchRejection {
    /// The operation that failed, 0-based.
    pub op_index: Option<usize>,
    /// Why.
    pub reason: RejectReason,
}

impl PatchRejection {
    pub(crate) fn at(op_index: usize, reason: RejectReason) -> Self {
        PatchRejection {
            op_index: Some(op_index),
            reason,
        }
    }
    pub(crate) fn whole(reason: RejectReason) -> Self {
        PatchRejection {
            op_index: None,
            reason,
        }
    }
}

/// The reason part of a [`PatchRejection`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RejectReason {
    /// The patch was made against another revision.
    WrongBaseRevision {
        /// The patch's base.
        patch: Revision,
        /// The artifact's revision.
        current: Revision,
    },
    /// The anchor does not occur in the content.
    AnchorNotFound {
        /// The start of the anchor.
        anchor: String,
    },
    /// The anchor occurs more than once. The search stops at the second occurrence, so
    /// `count` is 2 and means "two or more".
    AnchorAmbiguous {
        /// The start of the anchor.
        anchor: String,
        /// 2: the anchor occurs at least twice.
        count: usize,
    },
    /// The anchor is empty.
    EmptyAnchor,
    /// The result would be larger than [`PatchLimits::max_content_bytes`].
    TooLarge {
        /// The size the result would have.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// More operations than [`PatchLimits::max_ops`].
    TooManyOps {
        /// How many.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// Invalid JSON: the artifact's content, or a value in an operation.
    InvalidJson {
        /// The parser's message.
        message: String,
    },
    /// An RFC 6902 operation failed (bad path, failed `test`, ...).
    JsonPatchFailed {
        /// What failed.
        message: String,
    },
    /// The operation does not apply to this format (text op on JSON or the reverse).
    WrongFormat {
        /// The operation.
        op: String,
        /// The artifact's format.
        format: String,
    },
    /// A field the operation needs is missing (model answers only).
    MissingField {
        /// The operation.
        op: String,
        /// The missing field.
        field: &'static str,
    },
}

/// At most this many characters of an anchor are quoted in an error.
const ANCHOR_PREVIEW: usize = 80;

pub(crate) fn preview(anchor: &str) -> String {
    let mut s: String = anchor.chars().take(ANCHOR_PREVIEW).collect();
    if anchor.chars().count() > ANCHOR_PREVIEW {
        s.push('…');
    }
    s
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectReason::WrongBaseRevision { patch, current } => write!(
                f,
                "wrong base revision: the patch is against {patch} but the artifact is at {current}"
            ),
            RejectReason::AnchorNotFound { anchor } => {
                write!(f, "anchor {anchor:?} was not found (it must match exactly once)")
            }
            RejectReason::AnchorAmbiguous { anchor, count } => write!(
                f,
                "anchor {anchor:?} was found {count} or more times (it must match exactly once; include more surrounding text)"
            ),
            RejectReason::EmptyAnchor => f.write_str("the anchor is empty"),
            RejectReason::TooLarge { size, limit } => write!(
                f,
                "the result would be {size} bytes, over the limit of {limit} bytes"
            ),
            RejectReason::TooManyOps { count, limit } => {
                write!(f, "{count} operations, over the limit of {limit}")
            }
            RejectReason::InvalidJson { message } => write!(f, "invalid JSON: {message}"),
            RejectReason::JsonPatchFailed { message } => {
                write!(f, "JSON patch operation failed: {message}")
            }
            RejectReason::WrongFormat { op, format } => {
                write!(f, "operation `{op}` does not apply to a {format} artifact")
            }
            RejectReason::MissingField { op, field } => {
                write!(f, "operation `{op}` needs the field `{field}`")
            }
        }
    }
}
