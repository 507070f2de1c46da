//! Layer 2: a `Workflow` runs several prompts in one directory on one app-server, each on a
//! fresh thread.
//!
//! `cargo run --example workflow`

mod common;

use codex_mock_model::{Reply, Scenario};
use codex_runtime::runtime::Effort;
use codex_runtime::{Workflow, WorkflowConfig};
use std::time::Duration;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let example = common::setup(
        "workflow",
        Scenario::new([
            Reply::text("1. Read the README. 2. Run the tests."),
            Reply::text("Nothing here needs a review yet."),
        ]),
    )
    .await?;

    let config = WorkflowConfig::new(&example.workdir)
        .with_effort(Effort::Low)
        .with_timeout(Duration::from_secs(120))
        .with_client_config(example.client.clone());
    let workflow = Workflow::connect(config).await?;

    for prompt in [
        "Plan the onboarding of a new engineer.",
        "What needs a review?",
    ] {
        let out = workflow.run(prompt).await?;
        println!("> {prompt}\n{}\n", out.assistant_text);
    }

    workflow.shutdown().await?;
    Ok(())
}
