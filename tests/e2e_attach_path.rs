//! `attach_path` reaches the model: the file is named as `@path` in the prompt text (with a text
//! element marking it), the way codex's own clients mention a file.

use codex_mock_model::{Reply, Scenario};
use codex_runtime::runtime::{Attachment, Client, TurnOverrides};
use codex_runtime::{Workflow, WorkflowConfig};
use codex_test_support::CodexTestEnv;

#[tokio::test]
async fn an_attached_path_is_in_the_request_the_model_receives() {
    let env = CodexTestEnv::start(Scenario::new([
        Reply::text("read it"),
        Reply::text("again"),
    ]))
    .await
    .unwrap();
    std::fs::create_dir_all(env.workdir().join("docs")).unwrap();
    std::fs::write(env.workdir().join("docs/API_REFERENCE.md"), "# API\n").unwrap();
    let wf = Workflow::connect(
        WorkflowConfig::new(env.workdir())
            .with_client_config(env.client_config())
            .attach_path("docs/API_REFERENCE.md"),
    )
    .await
    .unwrap();
    let out = wf.run("Summarize the attached file").await.unwrap();
    assert_eq!(out.assistant_text, "read it");
    wf.shutdown().await.unwrap();
    let body = env.mock.response_requests()[0]["input"].to_string();
    assert!(body.contains("@docs/API_REFERENCE.md"), "{body}");
    assert!(body.contains("Summarize the attached file"), "{body}");
}

#[tokio::test]
async fn a_per_turn_attachment_is_in_that_turn_only() {
    let env = CodexTestEnv::start(Scenario::new([Reply::text("one"), Reply::text("two")]))
        .await
        .unwrap();
    let client = Client::connect(env.client_config()).await.unwrap();
    let session = client.start_session(env.session_config()).await.unwrap();
    session
        .ask_with(
            "look",
            TurnOverrides::new().attach(Attachment::Path("src/lib.rs".into())),
        )
        .await
        .unwrap();
    session.ask("and now?").await.unwrap();
    client.shutdown().await.unwrap();
    let bodies = env.mock.response_requests();
    assert!(bodies[0]["input"].to_string().contains("@src/lib.rs"));
    // The second request holds the history (with the first mention) plus a plain prompt.
    let second = bodies[1]["input"].as_array().unwrap();
    let last = second.last().unwrap().to_string();
    assert!(
        last.contains("and now?") && !last.contains("@src/lib.rs"),
        "{last}"
    );
}
