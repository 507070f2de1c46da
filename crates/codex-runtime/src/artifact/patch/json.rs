//! RFC 6902 operations on a JSON artifact, through the `json-patch` crate.

use super::{PatchRejection, RejectReason};

/// Parses the artifact's content.
pub(super) fn parse(content: &str) -> Result<serde_json::Value, PatchRejection> {
    serde_json::from_str(content).map_err(|e| {
        PatchRejection::whole(RejectReason::InvalidJson {
            message: format!("the artifact's content does not parse: {e}"),
        })
    })
}

/// Applies one operation to `doc` (unchanged when it fails).
pub(super) fn apply(
    doc: &mut serde_json::Value,
    operation: &json_patch::PatchOperation,
    op_index: usize,
) -> Result<(), PatchRejection> {
    json_patch::patch(doc, std::slice::from_ref(operation)).map_err(|e| {
        PatchRejection::at(
            op_index,
            RejectReason::JsonPatchFailed {
                message: format!("{} at path `{}`", e.kind, e.path),
            },
        )
    })
}

/// The canonical text of a JSON artifact: pretty-printed, keys in the order serde_json keeps.
pub(super) fn render(doc: &serde_json::Value) -> String {
    let mut s = serde_json::to_string_pretty(doc).unwrap_or_else(|_| doc.to_string());
    s.push('\n');
    s
}
