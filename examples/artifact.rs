//! Artifacts: a markdown document that Codex edits through a typed task. The model answers with
//! a patch (through the output schema), the patch is validated against the revision it was made
//! for and committed to a crash-safe store; then a review task returns a typed review.
//!
//! `cargo run --example artifact`

mod common;

use codex_mock_model::{Reply, Scenario};
use codex_runtime::artifact::{
    compute_revision, ArtifactFormat, ArtifactSessionManager, ArtifactStore, CodexArtifactAdapter,
    FsArtifactStore, NewArtifact, TaskOutcome, TaskSpec,
};
use codex_runtime::runtime::{Client, SessionConfig};
use serde_json::json;

const NOTES: &str = "# Release notes\n\n## 0.1.0\n- first release\n";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Offline, the mock model answers the edit with this patch and the review with that review.
    let base = compute_revision(ArtifactFormat::Markdown, NOTES);
    let op = |op: &str, anchor: &str, text: &str| json!({"op": op, "anchor": anchor, "text": text, "path": null, "from": null, "value_json": null});
    let example = common::setup(
        "artifact",
        Scenario::new([
            Reply::json(json!({
                "base_revision": base.as_str(),
                "ops": [op("insert_before", "## 0.1.0", "## 0.2.0\n- artifacts: typed document tasks\n\n")]
            })),
            Reply::json(json!({
                "summary": "Clear and short.",
                "verdict": "approve",
                "findings": [{"severity": "info", "anchor": "- first release", "message": "Could say what shipped."}]
            })),
        ]),
    )
    .await?;

    let client = Client::connect(example.client.clone()).await?;
    let store = FsArtifactStore::new(example.workdir.join("artifacts"));
    let adapter = CodexArtifactAdapter::new(client.clone(), SessionConfig::new(&example.workdir));
    let manager = ArtifactSessionManager::new_with_adapter(adapter, store.clone())?;

    let notes = manager
        .open_or_create(NewArtifact::new(
            "release-notes",
            ArtifactFormat::Markdown,
            NOTES,
        )?)
        .await?;
    println!(
        "opened {} at {} on thread {:?}",
        notes.id, notes.revision, notes.thread_id
    );

    let edited = manager
        .run_task(TaskSpec::edit(
            notes.id.clone(),
            "Add a 0.2.0 section above 0.1.0.",
        ))
        .await?;
    println!(
        "edit: {} attempt(s), now at {}\n{}",
        edited.attempts, edited.artifact.revision, edited.artifact.content
    );

    let reviewed = manager
        .run_task(TaskSpec::review(
            notes.id.clone(),
            "Review the release notes.",
        ))
        .await?;
    if let TaskOutcome::Reviewed(review) = reviewed.outcome {
        println!("review: {:?}: {}", review.verdict, review.summary);
        for f in review.findings {
            println!("  [{:?}] {}", f.severity, f.message);
        }
    }

    for entry in store.history(&notes.id).await? {
        println!(
            "history: v{} {} ({})",
            entry.version, entry.revision, entry.note
        );
    }
    client.shutdown().await?;
    Ok(())
}
