//! Layer 3: an explicit session keeps its history across asks; a fork copies it into a new
//! thread.
//!
//! `cargo run --example session`

mod common;

use codex_mock_model::{Reply, Scenario};
use codex_runtime::runtime::{Client, SessionConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let example = common::setup(
        "session",
        Scenario::new([
            Reply::text("Noted: the release is on Friday."),
            Reply::text("You said the release is on Friday."),
            Reply::text("On this fork, let's move it to Monday."),
        ]),
    )
    .await?;

    let client = Client::connect(example.client.clone()).await?;
    let session = client
        .start_session(SessionConfig::new(&example.workdir))
        .await?;

    let first = session.ask("Remember: the release is on Friday.").await?;
    println!("1: {}", first.assistant_text);
    let second = session.ask("When is the release?").await?;
    println!("2: {}", second.assistant_text);

    // A fork starts with the same history, then goes its own way.
    let fork = client
        .fork_session(session.thread_id(), SessionConfig::new(&example.workdir))
        .await?;
    let forked = fork.ask("What if we moved it?").await?;
    println!(
        "fork {} (of {}): {}",
        fork.thread_id(),
        session.thread_id(),
        forked.assistant_text
    );

    fork.close().await?;
    session.close().await?;
    client.shutdown().await?;
    Ok(())
}
