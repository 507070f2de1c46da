//! Anchored text operations: each anchor is exact text that must occur exactly once.

use super::{preview, PatchRejection, RejectReason};

/// The byte offset of the one occurrence of `anchor` in `content`. Occurrences are counted
/// overlapping (`"aa"` occurs twice in `"aaa"`), so "exactly once" means one position. An
/// ambiguous anchor is refused at its second occurrence (`count: 2` means "two or more").
fn locate(content: &str, anchor: &str, op_index: usize) -> Result<usize, PatchRejection> {
    if anchor.is_empty() {
        return Err(PatchRejection::at(op_index, RejectReason::EmptyAnchor));
    }
    let Some(first) = content.find(anchor) else {
        return Err(PatchRejection::at(
            op_index,
            RejectReason::AnchorNotFound {
                anchor: preview(anchor),
            },
        ));
    };
    // Step one character past the first match start and look once more: a second match is
    // enough to refuse, so the search stops there (counting every overlapping match of a long
    // anchor in long content would be quadratic).
    let step = anchor.chars().next().map(char::len_utf8).unwrap_or(1);
    if content[first + step..].contains(anchor) {
        return Err(PatchRejection::at(
            op_index,
            RejectReason::AnchorAmbiguous {
                anchor: preview(anchor),
                count: 2,
            },
        ));
    }
    Ok(first)
}

/// Replaces the one occurrence of `anchor` in `content` with `before + middle + after`, where
/// `keep_anchor` decides whether the anchor stays. Checks the result size before building it.
pub(super) fn splice(
    content: &str,
    anchor: &str,
    insert_before: &str,
    keep_anchor: bool,
    insert_after: &str,
    op_index: usize,
    max_bytes: usize,
) -> Result<String, PatchRejection> {
    let at = locate(content, anchor, op_index)?;
    let kept = if keep_anchor { anchor.len() } else { 0 };
    let size = content.len() - anchor.len() + kept + insert_before.len() + insert_after.len();
    if size > max_bytes {
        return Err(PatchRejection::at(
            op_index,
            RejectReason::TooLarge {
                size,
                limit: max_bytes,
            },
        ));
    }
    let mut out = String::with_capacity(size);
    out.push_str(&content[..at]);
    out.push_str(insert_before);
    if keep_anchor {
        out.push_str(anchor);
    }
    out.push_str(insert_after);
    out.push_str(&content[at + anchor.len()..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_occurrences_count_as_ambiguous() {
        let err = locate("aaa", "aa", 3).unwrap_err();
        assert_eq!(err.op_index, Some(3));
        assert!(matches!(
            err.reason,
            RejectReason::AnchorAmbiguous { count: 2, .. }
        ));
        assert_eq!(locate("xaay", "aa", 0).unwrap(), 1);
        assert_eq!(locate("é aé", "aé", 0).unwrap(), 3);
    }

    #[test]
    fn an_ambiguous_anchor_is_refused_at_its_second_occurrence() {
        // 8 MiB of `a` and an anchor of 10k `a`: millions of overlapping occurrences. The
        // search stops at the second, so the count says "two or more".
        let content = "a".repeat(8 * 1024 * 1024);
        let anchor = "a".repeat(10_000);
        let err = locate(&content, &anchor, 7).unwrap_err();
        assert_eq!(err.op_index, Some(7));
        assert!(
            matches!(err.reason, RejectReason::AnchorAmbiguous { count: 2, .. }),
            "{:?}",
            err.reason
        );
        let err = locate("xyxyxyxy", "xy", 0).unwrap_err();
        assert!(matches!(
            err.reason,
            RejectReason::AnchorAmbiguous { count: 2, .. }
        ));
    }
}
