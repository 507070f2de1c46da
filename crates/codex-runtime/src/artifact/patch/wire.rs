//! The shape a model returns for an edit task (through the turn's output schema) and its
//! conversion into a [`DocPatch`].
//!
//! The wire shape is flat on purpose: OpenAI strict structured outputs need every object closed
//! with every field required, and cannot express "any JSON value", so a JSON value travels as
//! JSON text in `value_json` (text that does not parse is rejected as invalid JSON, naming the
//! op).

use super::{DocPatch, PatchOp, PatchRejection, RejectReason};
use crate::artifact::model::ArtifactFormat;
use crate::artifact::revision::Revision;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A patch as the model returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[non_exhaustive]
pub struct WirePatch {
    /// The revision the patch was made against (given in the prompt).
    pub base_revision: String,
    /// The operations, applied in order.
    pub ops: Vec<WireOp>,
}

/// One operation as the model returns it; unused fields are `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[non_exhaustive]
pub struct WireOp {
    /// The operation.
    pub op: WireOpKind,
    /// Text artifacts: exact text occurring exactly once in the current content.
    pub anchor: Option<String>,
    /// Text artifacts: the replacement or inserted text.
    pub text: Option<String>,
    /// JSON artifacts: the JSON Pointer the operation targets.
    pub path: Option<String>,
    /// JSON artifacts: the source pointer of `move` and `copy`.
    pub from: Option<String>,
    /// JSON artifacts: the value of `add`, `replace` and `test`, as JSON text.
    pub value_json: Option<String>,
}

/// Operation names: `replace`, `insert_before`, `insert_after` and `delete` for text and
/// markdown; `add`, `remove`, `replace`, `move`, `copy` and `test` (RFC 6902) for JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum WireOpKind {
    /// Text: replace the anchor; JSON: RFC 6902 `replace`.
    Replace,
    /// Text: insert before the anchor.
    InsertBefore,
    /// Text: insert after the anchor.
    InsertAfter,
    /// Text: delete the anchor.
    Delete,
    /// JSON: `add`.
    Add,
    /// JSON: `remove`.
    Remove,
    /// JSON: `move`.
    Move,
    /// JSON: `copy`.
    Copy,
    /// JSON: `test`.
    Test,
}

impl WireOpKind {
    fn as_str(self) -> &'static str {
        match self {
            WireOpKind::Replace => "replace",
            WireOpKind::InsertBefore => "insert_before",
            WireOpKind::InsertAfter => "insert_after",
            WireOpKind::Delete => "delete",
            WireOpKind::Add => "add",
            WireOpKind::Remove => "remove",
            WireOpKind::Move => "move",
            WireOpKind::Copy => "copy",
            WireOpKind::Test => "test",
        }
    }
}

impl WirePatch {
    /// Converts into a [`DocPatch`] for an artifact of `format`; the error names the op.
    pub fn into_doc_patch(self, format: ArtifactFormat) -> Result<DocPatch, PatchRejection> {
        let ops = self
            .ops
            .into_iter()
            .enumerate()
            .map(|(i, op)| match format {
                ArtifactFormat::Json => json_op(i, op),
                _ => text_op(i, op, format),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(DocPatch::new(
            Revision::from_string(self.base_revision),
            ops,
        ))
    }
}

fn need(
    i: usize,
    kind: WireOpKind,
    field: &'static str,
    v: Option<String>,
) -> Result<String, PatchRejection> {
    v.ok_or_else(|| {
        PatchRejection::at(
            i,
            RejectReason::MissingField {
                op: kind.as_str().into(),
                field,
            },
        )
    })
}

fn text_op(i: usize, op: WireOp, format: ArtifactFormat) -> Result<PatchOp, PatchRejection> {
    let anchor = || need(i, op.op, "anchor", op.anchor.clone());
    let text = || need(i, op.op, "text", op.text.clone());
    Ok(match op.op {
        WireOpKind::Replace => PatchOp::replace(anchor()?, text()?),
        WireOpKind::InsertBefore => PatchOp::insert_before(anchor()?, text()?),
        WireOpKind::InsertAfter => PatchOp::insert_after(anchor()?, text()?),
        WireOpKind::Delete => PatchOp::delete(anchor()?),
        other => {
            return Err(PatchRejection::at(
                i,
                RejectReason::WrongFormat {
                    op: other.as_str().into(),
                    format: format.as_str().into(),
                },
            ))
        }
    })
}

fn json_op(i: usize, op: WireOp) -> Result<PatchOp, PatchRejection> {
    let kind = op.op;
    if matches!(
        kind,
        WireOpKind::InsertBefore | WireOpKind::InsertAfter | WireOpKind::Delete
    ) {
        return Err(PatchRejection::at(
            i,
            RejectReason::WrongFormat {
                op: kind.as_str().into(),
                format: "json".into(),
            },
        ));
    }
    let mut obj = serde_json::Map::new();
    obj.insert("op".into(), kind.as_str().into());
    obj.insert("path".into(), need(i, kind, "path", op.path)?.into());
    if matches!(kind, WireOpKind::Move | WireOpKind::Copy) {
        obj.insert("from".into(), need(i, kind, "from", op.from)?.into());
    }
    if matches!(
        kind,
        WireOpKind::Add | WireOpKind::Replace | WireOpKind::Test
    ) {
        let text = need(i, kind, "value_json", op.value_json)?;
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            PatchRejection::at(
                i,
                RejectReason::InvalidJson {
                    message: format!("`value_json` does not parse: {e}"),
                },
            )
        })?;
        obj.insert("value".into(), value);
    }
    let operation = serde_json::from_value(serde_json::Value::Object(obj)).map_err(|e| {
        PatchRejection::at(
            i,
            RejectReason::JsonPatchFailed {
                message: e.to_string(),
            },
        )
    })?;
    Ok(PatchOp::Json { operation })
}
