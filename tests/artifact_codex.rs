//! Artifact tasks on the real codex with the mock model: the patch comes back through the
//! output schema, an invalid patch gets one corrective retry, and a reopened artifact resumes
//! its thread after a restart.

use codex_mock_model::{Reply, Scenario, ScratchDir};
use codex_runtime::artifact::*;
use codex_runtime::runtime::{strict_output_schema, Client};
use codex_test_support::CodexTestEnv;
use serde_json::{json, Value};

const START: &str = "# Release notes\n\n## 0.1.0\n- first release\n";

fn wire_op(op: &str, anchor: &str, text: Option<&str>) -> Value {
    json!({"op": op, "anchor": anchor, "text": text, "path": null, "from": null, "value_json": null})
}

fn user_texts(body: &Value) -> String {
    body["input"].to_string()
}

struct Setup {
    env: CodexTestEnv,
    client: Client,
    store: FsArtifactStore,
    manager: ArtifactSessionManager,
    dir: ScratchDir,
}

async fn setup(replies: Vec<Reply>) -> Setup {
    let env = CodexTestEnv::start(Scenario::new(replies)).await.unwrap();
    let dir = ScratchDir::create("artifact-codex", "store").unwrap();
    let store = FsArtifactStore::new(dir.path().join("store"));
    let client = Client::connect(env.client_config()).await.unwrap();
    let manager = manager_for(&env, &client, &store, &dir);
    Setup {
        env,
        client,
        store,
        manager,
        dir,
    }
}

fn manager_for(
    env: &CodexTestEnv,
    client: &Client,
    store: &FsArtifactStore,
    dir: &ScratchDir,
) -> ArtifactSessionManager {
    let adapter = CodexArtifactAdapter::new(client.clone(), env.session_config())
        .with_attachment_dir(dir.path().join("attachments"));
    ArtifactSessionManager::new_with_adapter(adapter, store.clone()).unwrap()
}

fn notes() -> NewArtifact {
    NewArtifact::new("notes", ArtifactFormat::Markdown, START).unwrap()
}

#[tokio::test]
async fn an_edit_task_returns_its_patch_through_the_output_schema_and_it_is_committed() {
    let base = compute_revision(ArtifactFormat::Markdown, START);
    let patch = json!({
        "base_revision": base.as_str(),
        "ops": [
            wire_op("insert_before", "## 0.1.0", Some("## 0.2.0\n- artifacts\n\n")),
            wire_op("replace", "- first release", Some("- first public release")),
        ]
    });
    let s = setup(vec![Reply::json(patch)]).await;
    let opened = s.manager.open_or_create(notes()).await.unwrap();
    assert!(opened.thread_id.is_some(), "a thread is bound on open");

    let done = s
        .manager
        .run_task(TaskSpec::edit(opened.id.clone(), "Add the 0.2.0 section."))
        .await
        .unwrap();
    let expected = "# Release notes\n\n## 0.2.0\n- artifacts\n\n## 0.1.0\n- first public release\n";
    assert_eq!(done.attempts, 1);
    assert_eq!(done.artifact.content, expected);
    assert_eq!(
        done.artifact.revision,
        compute_revision(ArtifactFormat::Markdown, expected)
    );
    let stored = s.store.load(&opened.id).await.unwrap().unwrap();
    assert_eq!(stored.content, expected);
    assert_eq!(stored.revision, done.artifact.revision);
    assert_eq!(stored.history.len(), 2);
    assert!(matches!(
        done.outcome,
        TaskOutcome::Edited { ref previous_revision, .. } if *previous_revision == base
    ));

    let requests = s.env.mock.response_requests();
    assert_eq!(requests.len(), 1);
    let body = &requests[0];
    assert_eq!(body["text"]["format"]["type"], "json_schema");
    assert_eq!(
        body["text"]["format"]["schema"],
        strict_output_schema::<WirePatch>(),
        "the mock saw the patch schema"
    );
    let input = user_texts(body);
    assert!(
        input.contains(base.as_str()),
        "the prompt names the revision"
    );
    assert!(
        input.contains(&serde_json::to_string(START).unwrap()[1..START.len()]),
        "small content is quoted in the prompt"
    );
    // The content reached the model as a file attachment (`@<path>` in the user message).
    let attachment = format!(
        "@{}",
        s.dir.path().join("attachments").join("notes.v2.").display()
    );
    assert!(
        input.contains(&attachment),
        "the attachment {attachment} is in the model input: {input}"
    );
    s.client.shutdown().await.unwrap();
    s.env.assert_no_leftover_processes().await;
}

#[tokio::test]
async fn an_invalid_patch_gets_one_corrective_retry_then_a_typed_error_and_nothing_changes() {
    let base = compute_revision(ArtifactFormat::Markdown, START);
    let s = setup(vec![
        Reply::json(json!({
            "base_revision": base.as_str(),
            "ops": [wire_op("replace", "## 9.9.9", Some("x"))]
        })),
        Reply::json(json!({
            "base_revision": base.as_str(),
            "ops": [
                wire_op("insert_after", "# Release notes\n", Some("\n")),
                wire_op("delete", "ease", None),
            ]
        })),
    ])
    .await;
    let opened = s.manager.open_or_create(notes()).await.unwrap();
    let err = s
        .manager
        .run_task(TaskSpec::edit(opened.id.clone(), "Rename 9.9.9."))
        .await
        .unwrap_err();
    match &err {
        ArtifactError::PatchRejected {
            attempts,
            rejection,
            ..
        } => {
            assert_eq!(*attempts, 2);
            assert_eq!(rejection.op_index, Some(1));
            assert!(
                matches!(
                    rejection.reason,
                    RejectReason::AnchorAmbiguous { count: 2, .. }
                ),
                "{rejection}"
            );
        }
        other => panic!("expected PatchRejected, got {other}"),
    }
    let stored = s.store.load(&opened.id).await.unwrap().unwrap();
    assert_eq!(stored.content, START);
    assert_eq!(stored.revision, opened.revision);
    assert_eq!(stored.version, opened.version);
    assert_eq!(stored.history.len(), 1);

    let requests = s.env.mock.response_requests();
    assert_eq!(requests.len(), 2, "exactly one corrective retry");
    let retry = user_texts(&requests[1]);
    assert!(
        retry.contains("Your previous answer was rejected: op #0: anchor")
            && retry.contains("was not found"),
        "the model got the validation error back: {retry}"
    );
    s.client.shutdown().await.unwrap();
    s.env.assert_no_leftover_processes().await;
}

#[tokio::test]
async fn reopening_after_a_restart_resumes_the_same_thread_and_reviews_are_typed() {
    let review = json!({
        "summary": "Short and clear.",
        "verdict": "comment",
        "findings": [{"severity": "info", "anchor": "- first release", "message": "Say what shipped."}]
    });
    let s = setup(vec![Reply::text("noted"), Reply::json(review)]).await;
    let opened = s.manager.open_or_create(notes()).await.unwrap();
    let thread = opened.thread_id.clone().unwrap();
    let first = s
        .manager
        .run_task(TaskSpec::custom(opened.id.clone(), "Say `noted`.", None))
        .await
        .unwrap();
    assert_eq!(first.outcome, TaskOutcome::Custom(json!("noted")));
    s.client.shutdown().await.unwrap();

    // A new app-server, a new store handle and a new manager: the bound thread is resumed.
    let client = Client::connect(s.env.client_config()).await.unwrap();
    let store = FsArtifactStore::new(s.store.root());
    let manager = manager_for(&s.env, &client, &store, &s.dir);
    let reopened = manager.open("notes").await.unwrap();
    assert_eq!(reopened.thread_id.as_deref(), Some(thread.as_str()));
    let done = manager
        .run_task(TaskSpec::review(reopened.id.clone(), "Review the notes."))
        .await
        .unwrap();
    let TaskOutcome::Reviewed(r) = done.outcome else {
        panic!("expected a review")
    };
    assert_eq!(r.verdict, ReviewVerdict::Comment);
    assert_eq!(r.findings[0].severity, Severity::Info);
    assert_eq!(
        done.artifact.revision, opened.revision,
        "a review changes nothing"
    );
    let requests = s.env.mock.response_requests();
    assert_eq!(requests.len(), 2);
    assert!(
        user_texts(&requests[1]).contains("Say `noted`."),
        "the resumed thread carries the first turn"
    );
    assert_eq!(
        requests[1]["text"]["format"]["schema"],
        strict_output_schema::<Review>()
    );
    client.shutdown().await.unwrap();
    s.env.assert_no_leftover_processes().await;
}
