//! RFC 6902 operations on a JSON artifact, through the `json-patch` crate, with a size budget
//! kept while they run.

use super::{PatchRejection, RejectReason};
use json_patch::PatchOperation;
use serde_json::Value;

/// Parses the artifact's content.
pub(super) fn parse(content: &str) -> Result<Value, PatchRejection> {
    serde_json::from_str(content).map_err(|e| {
        PatchRejection::whole(RejectReason::InvalidJson {
            message: format!("the artifact's content does not parse: {e}"),
        })
    })
}

/// Applies one operation to `doc` (unchanged when it fails).
pub(super) fn apply(
    doc: &mut Value,
    operation: &PatchOperation,
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
pub(super) fn render(doc: &Value) -> String {
    let mut s = serde_json::to_string_pretty(doc).unwrap_or_else(|_| doc.to_string());
    s.push('\n');
    s
}

/// Counts the bytes and line breaks written to it; keeps nothing.
#[derive(Default)]
struct Counter {
    bytes: usize,
    lines: usize,
}

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes += buf.len();
        self.lines += buf.iter().filter(|b| **b == b'\n').count();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Bytes and line breaks of `v` pretty-printed at the top level, without building the text.
fn measure(v: &Value) -> (usize, usize) {
    let mut c = Counter::default();
    // Writing a `Value` to a writer that never fails cannot fail.
    let _ = serde_json::to_writer_pretty(&mut c, v);
    (c.bytes, c.lines)
}

/// The length of [`render`]`(doc)`, without building it.
pub(super) fn rendered_len(doc: &Value) -> usize {
    measure(doc).0 + 1
}

/// An upper bound of how many bytes `operation` can add to the rendering of `doc` (read before
/// the operation runs). Placed at depth `d`, each line of a value gets `2 d` more indentation;
/// the key, its quotes and escapes, the separator and the brackets of a container that was
/// empty are covered by the constant part. `remove` and `test` never add anything; `replace`
/// and `move` are bounded as if nothing were removed.
fn growth_bound(doc: &Value, operation: &PatchOperation) -> usize {
    let (value, path) = match operation {
        PatchOperation::Add(op) => (Some(&op.value), &op.path),
        PatchOperation::Replace(op) => (Some(&op.value), &op.path),
        PatchOperation::Copy(op) => (doc.pointer(op.from.as_str()), &op.path),
        PatchOperation::Move(op) => (doc.pointer(op.from.as_str()), &op.path),
        PatchOperation::Remove(_) | PatchOperation::Test(_) => return 0,
    };
    let Some(value) = value else {
        // The operation fails: nothing is added.
        return 0;
    };
    let depth = path.count();
    let (bytes, lines) = measure(value);
    let indent = depth.saturating_mul(2);
    bytes
        .saturating_add(lines.saturating_mul(indent))
        .saturating_add(path.as_str().len().saturating_mul(6))
        .saturating_add(indent.saturating_mul(2))
        .saturating_add(16)
}

/// The size budget of a JSON patch while it runs: an upper bound of the rendered size, made
/// exact (by counting, without rendering) whenever it passes the limit. So the document is
/// refused at the first operation that takes it over the limit, and never grows past about
/// twice the limit in memory (an RFC 6902 `copy` from `""` doubles the document: 40 of them
/// would otherwise need 2^40 times its size).
pub(super) struct Budget {
    bound: usize,
    limit: usize,
}

impl Budget {
    /// A budget of `limit` bytes for `doc` as it is now.
    pub fn new(doc: &Value, limit: usize) -> Budget {
        Budget {
            bound: rendered_len(doc),
            limit,
        }
    }

    /// Applies `operation` to `doc` within the budget: refused with
    /// [`RejectReason::TooLarge`] at `op_index` when the result is over the limit.
    pub fn apply(
        &mut self,
        doc: &mut Value,
        operation: &PatchOperation,
        op_index: usize,
    ) -> Result<(), PatchRejection> {
        let growth = growth_bound(doc, operation);
        apply(doc, operation, op_index)?;
        self.bound = self.bound.saturating_add(growth);
        if self.bound > self.limit {
            let size = rendered_len(doc);
            if size > self.limit {
                return Err(PatchRejection::at(
                    op_index,
                    RejectReason::TooLarge {
                        size,
                        limit: self.limit,
                    },
                ));
            }
            self.bound = size;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn op(v: Value) -> PatchOperation {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_growth_bound_covers_what_each_operation_adds() {
        let docs = [
            json!({}),
            json!([]),
            json!({"a": {"b": [1, 2, {"c": "x\ny"}]}, "e": []}),
            json!({"deep": {"er": {"still": {"list": [[], {}, "\"quoted\u{1}\""]}}}}),
        ];
        let ops = [
            json!({"op": "add", "path": "/k", "value": {"x": [1, {"y": null}]}}),
            json!({"op": "add", "path": "/a/b/0", "value": "\u{0}\u{1}\"\\"}),
            json!({"op": "add", "path": "/deep/er/still/list/1/z\u{1}", "value": [[], [1]]}),
            json!({"op": "add", "path": "/e/-", "value": {"q": {}}}),
            json!({"op": "copy", "from": "", "path": "/copy"}),
            json!({"op": "copy", "from": "/a", "path": "/e/0"}),
            json!({"op": "copy", "from": "/deep", "path": "/deep/er/still/again"}),
            json!({"op": "move", "from": "/a/b", "path": "/deep/er/still/b"}),
            json!({"op": "replace", "path": "/a", "value": {"long": "text", "n": [1, 2, 3]}}),
        ];
        let mut checked = 0;
        for doc in &docs {
            for o in &ops {
                let o = op(o.clone());
                let mut after = doc.clone();
                if apply(&mut after, &o, 0).is_err() {
                    continue;
                }
                let before = rendered_len(doc);
                let grown = rendered_len(&after).saturating_sub(before);
                assert!(
                    grown <= growth_bound(doc, &o),
                    "{o:?} on {doc}: grew {grown}, bound {}",
                    growth_bound(doc, &o)
                );
                checked += 1;
            }
        }
        assert!(checked >= 12, "most operations applied: {checked}");
    }

    #[test]
    fn the_budget_refuses_the_first_operation_over_the_limit() {
        let mut doc = json!({"a": 1});
        let limit = 64 * 1024;
        let mut budget = Budget::new(&doc, limit);
        let mut refused = None;
        for i in 0..40 {
            let o = op(json!({"op": "copy", "from": "", "path": format!("/k{i}")}));
            if let Err(e) = budget.apply(&mut doc, &o, i) {
                refused = Some(e);
                break;
            }
            assert!(
                rendered_len(&doc) <= limit,
                "op {i} stayed within the limit"
            );
        }
        let err = refused.expect("refused before op 40");
        let RejectReason::TooLarge { size, limit: l } = err.reason else {
            panic!("{err:?}");
        };
        assert_eq!(l, limit);
        assert!(size > limit && size < 4 * limit, "{size}");
        assert_eq!(size, rendered_len(&doc));
        assert!(err.op_index.is_some_and(|i| i < 20), "{err:?}");
    }
}
