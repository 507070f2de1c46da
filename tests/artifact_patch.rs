//! Doc patches: every rejection names the op and why; JSON goes through RFC 6902; property tests
//! for purity and determinism.

use codex_runtime::artifact::*;
use proptest::prelude::*;
use serde_json::json;

fn doc(format: ArtifactFormat, content: &str) -> Artifact {
    NewArtifact::new("doc", format, content)
        .unwrap()
        .into_artifact(0)
        .unwrap()
}

fn reject(a: &Artifact, ops: Vec<PatchOp>) -> PatchRejection {
    let patch = DocPatch::new(a.revision.clone(), ops);
    validate_doc_patch(a, &patch, &PatchLimits::default()).unwrap_err()
}

#[test]
fn text_ops_apply_in_order_on_exact_anchors() {
    let a = doc(
        ArtifactFormat::Markdown,
        "# Title\n\nBody text.\n\nOld line.\n",
    );
    let patch = DocPatch::new(
        a.revision.clone(),
        vec![
            PatchOp::replace("Body text.", "New body."),
            PatchOp::insert_before("# Title", "<!-- top -->\n"),
            PatchOp::insert_after("New body.", " More."),
            PatchOp::delete("\nOld line.\n"),
        ],
    );
    let out = apply_doc_patch(&a, &patch, &PatchLimits::default()).unwrap();
    assert_eq!(out.content, "<!-- top -->\n# Title\n\nNew body. More.\n");
    assert_eq!(
        out.revision,
        compute_revision(ArtifactFormat::Markdown, &out.content)
    );
    // The input artifact is untouched.
    assert_eq!(a.content, "# Title\n\nBody text.\n\nOld line.\n");
}

#[test]
fn a_wrong_base_revision_is_rejected_for_the_whole_patch() {
    let a = doc(ArtifactFormat::Text, "abc");
    let stale = compute_revision(ArtifactFormat::Text, "older");
    let patch = DocPatch::new(stale.clone(), vec![PatchOp::replace("a", "b")]);
    let err = apply_doc_patch(&a, &patch, &PatchLimits::default()).unwrap_err();
    assert_eq!(err.op_index, None);
    assert_eq!(
        err.reason,
        RejectReason::WrongBaseRevision {
            patch: stale,
            current: a.revision.clone()
        }
    );
    assert!(err.to_string().contains("wrong base revision"), "{err}");
}

#[test]
fn anchors_found_zero_or_several_times_name_the_op() {
    let a = doc(ArtifactFormat::Markdown, "one\ntwo\ntwo\n");
    let err = reject(
        &a,
        vec![PatchOp::replace("one", "1"), PatchOp::delete("three")],
    );
    assert_eq!(err.op_index, Some(1));
    assert!(matches!(err.reason, RejectReason::AnchorNotFound { .. }));
    assert!(
        err.to_string()
            .starts_with("op #1: anchor \"three\" was not found"),
        "{err}"
    );

    let err = reject(&a, vec![PatchOp::insert_after("two", "!")]);
    assert_eq!(err.op_index, Some(0));
    assert!(matches!(
        err.reason,
        RejectReason::AnchorAmbiguous { count: 2, .. }
    ));

    let err = reject(&a, vec![PatchOp::delete("")]);
    assert_eq!(err.reason, RejectReason::EmptyAnchor);

    // An op sees the result of the previous ones: the first op makes the anchor unique.
    let patch = DocPatch::new(
        a.revision.clone(),
        vec![
            PatchOp::replace("one\ntwo", "one\n2"),
            PatchOp::delete("two\n"),
        ],
    );
    let out = apply_doc_patch(&a, &patch, &PatchLimits::default()).unwrap();
    assert_eq!(out.content, "one\n2\n");
}

#[test]
fn a_result_over_the_size_limit_names_the_op_that_crossed_it() {
    let a = doc(ArtifactFormat::Text, "0123456789");
    let limits = PatchLimits::default().with_max_content_bytes(15);
    let patch = DocPatch::new(
        a.revision.clone(),
        vec![
            PatchOp::insert_after("9", "abc"),
            PatchOp::insert_after("c", "defgh"),
        ],
    );
    let err = apply_doc_patch(&a, &patch, &limits).unwrap_err();
    assert_eq!(err.op_index, Some(1));
    assert_eq!(
        err.reason,
        RejectReason::TooLarge {
            size: 18,
            limit: 15
        }
    );

    let many = DocPatch::new(a.revision.clone(), vec![PatchOp::replace("0", "0"); 3]);
    let err = apply_doc_patch(&a, &many, &PatchLimits::default().with_max_ops(2)).unwrap_err();
    assert_eq!(err.reason, RejectReason::TooManyOps { count: 3, limit: 2 });
}

#[test]
fn doubling_json_copies_are_refused_at_the_op_that_passes_the_limit() {
    // Each `copy` from "" doubles the document: 40 of them would need 2^40 times its size.
    // The size is kept after every op, so the refusal comes at the op that crosses the limit.
    let a = doc(ArtifactFormat::Json, "{\"a\": 1}\n");
    let ops: Vec<PatchOp> = (0..40)
        .map(|i| {
            PatchOp::json(json!({"op": "copy", "from": "", "path": format!("/k{i}")})).unwrap()
        })
        .collect();
    let limits = PatchLimits::default().with_max_content_bytes(256 * 1024);
    let patch = DocPatch::new(a.revision.clone(), ops.clone());
    let err = apply_doc_patch(&a, &patch, &limits).unwrap_err();
    let RejectReason::TooLarge { size, limit } = err.reason else {
        panic!("{err:?}");
    };
    assert_eq!(limit, 256 * 1024);
    assert!(size > limit && size < 4 * limit, "{size}");
    let at = err.op_index.expect("the op is named");
    // The ops before it fit: the same patch cut just before that op applies.
    let fits = DocPatch::new(a.revision.clone(), ops[..at].to_vec());
    let out = apply_doc_patch(&a, &fits, &limits).unwrap();
    assert!(out.content.len() <= limit);
    assert!(
        out.content.len() * 2 > limit / 2,
        "op {at} is where it crossed"
    );
}

#[test]
fn json_artifacts_take_rfc6902_ops_and_refuse_text_ops() {
    let a = doc(ArtifactFormat::Json, r#"{"name":"x","tags":["a"]}"#);
    let patch = DocPatch::new(
        a.revision.clone(),
        vec![
            PatchOp::json(json!({"op": "replace", "path": "/name", "value": "y"})).unwrap(),
            PatchOp::json(json!({"op": "add", "path": "/tags/-", "value": "b"})).unwrap(),
        ],
    );
    let out = apply_doc_patch(&a, &patch, &PatchLimits::default()).unwrap();
    let v: serde_json::Value = serde_json::from_str(&out.content).unwrap();
    assert_eq!(v, json!({"name": "y", "tags": ["a", "b"]}));

    let err = reject(
        &a,
        vec![
            PatchOp::json(json!({"op": "test", "path": "/name", "value": "x"})).unwrap(),
            PatchOp::json(json!({"op": "remove", "path": "/missing"})).unwrap(),
        ],
    );
    assert_eq!(err.op_index, Some(1));
    assert!(
        matches!(err.reason, RejectReason::JsonPatchFailed { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("/missing"), "{err}");

    let err = reject(&a, vec![PatchOp::replace("x", "y")]);
    assert_eq!(err.op_index, Some(0));
    assert!(
        matches!(err.reason, RejectReason::WrongFormat { .. }),
        "{err}"
    );

    let t = doc(ArtifactFormat::Text, "x");
    let err = reject(
        &t,
        vec![PatchOp::json(json!({"op": "remove", "path": "/a"})).unwrap()],
    );
    assert!(
        matches!(err.reason, RejectReason::WrongFormat { .. }),
        "{err}"
    );
}

#[test]
fn a_model_patch_with_invalid_json_values_names_the_op() {
    let a = doc(ArtifactFormat::Json, r#"{"a":1}"#);
    let wire: WirePatch = serde_json::from_value(json!({
        "base_revision": a.revision.as_str(),
        "ops": [
            {"op": "replace", "anchor": null, "text": null, "path": "/a", "from": null, "value_json": "2"},
            {"op": "add", "anchor": null, "text": null, "path": "/b", "from": null, "value_json": "{oops"}
        ]
    }))
    .unwrap();
    let err = wire.into_doc_patch(ArtifactFormat::Json).unwrap_err();
    assert_eq!(err.op_index, Some(1));
    assert!(
        matches!(err.reason, RejectReason::InvalidJson { .. }),
        "{err}"
    );

    let wire: WirePatch = serde_json::from_value(json!({
        "base_revision": a.revision.as_str(),
        "ops": [{"op": "insert_after", "anchor": null, "text": "x", "path": null, "from": null, "value_json": null}]
    }))
    .unwrap();
    let err = wire.into_doc_patch(ArtifactFormat::Markdown).unwrap_err();
    assert_eq!(
        err.reason,
        RejectReason::MissingField {
            op: "insert_after".into(),
            field: "anchor"
        }
    );
}

#[test]
fn json_content_that_does_not_parse_cannot_be_created() {
    let err = NewArtifact::new("j", ArtifactFormat::Json, "{nope")
        .unwrap()
        .into_artifact(0)
        .unwrap_err();
    assert!(matches!(err, ArtifactError::InvalidContent { .. }), "{err}");
}

#[test]
fn the_revision_covers_format_and_content_without_ambiguity() {
    let r = compute_revision(ArtifactFormat::Text, "abc");
    assert_eq!(r, compute_revision(ArtifactFormat::Text, "abc"));
    assert_ne!(r, compute_revision(ArtifactFormat::Text, "abd"));
    assert_ne!(r, compute_revision(ArtifactFormat::Markdown, "abc"));
    // Known answer: pins the canonical encoding (a change would change every stored revision).
    // SHA-256 of "codex-runtime/artifact-revision/v1\0" "markdown" "\0" be64(5) "hello".
    assert_eq!(
        compute_revision(ArtifactFormat::Markdown, "hello").as_str(),
        "sha256:c6ac60c6a85400c77310a6cca002443d1c6c689ee1492f938c700f1187bb87fc"
    );
}

fn lines() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof!["alpha", "beta", "gamma", "delta", "a", "b", ""],
        0..12,
    )
    .prop_map(|v| v.join("\n"))
}

fn op() -> impl Strategy<Value = PatchOp> {
    let anchor = prop_oneof![
        "alpha",
        "beta",
        "gamma",
        "a",
        "b",
        "\n",
        "zzz",
        "alpha\nbeta",
        ""
    ];
    let text = prop_oneof!["X", "", "alpha", "\nnew\n"];
    (0..4u8, anchor, text).prop_map(|(k, anchor, text)| match k {
        0 => PatchOp::replace(anchor, text),
        1 => PatchOp::insert_before(anchor, text),
        2 => PatchOp::insert_after(anchor, text),
        _ => PatchOp::delete(anchor),
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn rejected_patches_never_change_content(content in lines(), ops in proptest::collection::vec(op(), 0..6), stale in any::<bool>()) {
        let a = doc(ArtifactFormat::Markdown, &content);
        let before = a.clone();
        let base = if stale { compute_revision(ArtifactFormat::Markdown, "other") } else { a.revision.clone() };
        let patch = DocPatch::new(base, ops);
        let limits = PatchLimits::default().with_max_content_bytes(content.len() + 8);
        if let Err(rejection) = apply_doc_patch(&a, &patch, &limits) {
            prop_assert_eq!(&a, &before);
            prop_assert!(validate_doc_patch(&a, &patch, &limits).is_err(), "{}", rejection);
        }
    }

    #[test]
    fn apply_and_revision_are_deterministic(content in lines(), ops in proptest::collection::vec(op(), 0..6)) {
        let a = doc(ArtifactFormat::Markdown, &content);
        let patch = DocPatch::new(a.revision.clone(), ops);
        let one = apply_doc_patch(&a, &patch, &PatchLimits::default());
        let two = apply_doc_patch(&a.clone(), &patch.clone(), &PatchLimits::default());
        prop_assert_eq!(&one, &two);
        if let Ok(out) = one {
            prop_assert_eq!(out.revision, compute_revision(ArtifactFormat::Markdown, &out.content));
        }
    }

    #[test]
    fn the_result_of_a_valid_patch_validates(content in lines(), ops in proptest::collection::vec(op(), 0..6)) {
        let a = doc(ArtifactFormat::Markdown, &content);
        let patch = DocPatch::new(a.revision.clone(), ops);
        if apply_doc_patch(&a, &patch, &PatchLimits::default()).is_ok() {
            prop_assert!(validate_doc_patch(&a, &patch, &PatchLimits::default()).is_ok());
            // The patched artifact is a valid base for the next (empty) patch.
            let out = apply_doc_patch(&a, &patch, &PatchLimits::default()).unwrap();
            let next = a.with_content(out.content.clone(), "p", 10, 0);
            prop_assert!(next.check_integrity().is_ok());
            let empty = DocPatch::new(next.revision.clone(), vec![]);
            prop_assert!(validate_doc_patch(&next, &empty, &PatchLimits::default()).is_ok());
        }
    }
}
