//! Typed output: `ask_typed` sends a JSON Schema derived from a Rust type (schemars) and parses
//! the answer into it.
//!
//! `cargo run --example typed_output`

mod common;

use codex_mock_model::{Reply, Scenario};
use codex_runtime::runtime::{Client, SessionConfig};
use serde::Deserialize;

/// What we want back.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct ReleaseNote {
    version: String,
    highlights: Vec<String>,
    breaking: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let example = common::setup(
        "typed_output",
        Scenario::new([Reply::json(serde_json::json!({
            "version": "0.2.0",
            "highlights": ["typed output", "automations"],
            "breaking": false
        }))]),
    )
    .await?;

    let client = Client::connect(example.client.clone()).await?;
    let session = client
        .start_session(SessionConfig::new(&example.workdir))
        .await?;

    let note: ReleaseNote = session
        .ask_typed("Write the release note of version 0.2.0.")
        .await?;
    println!(
        "{} ({}): {}",
        note.version,
        if note.breaking {
            "breaking"
        } else {
            "compatible"
        },
        note.highlights.join(", ")
    );

    client.shutdown().await?;
    Ok(())
}
