//! Streaming: `ask_stream` yields the answer as it is generated, then the final output.
//!
//! `cargo run --example streaming`

mod common;

use codex_mock_model::{Reply, Scenario};
use codex_runtime::runtime::{Client, SessionConfig, TurnEvent};
use futures::StreamExt;
use std::io::Write;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let example = common::setup(
        "streaming",
        Scenario::new([Reply::deltas([
            "Streaming ",
            "arrives ",
            "in small ",
            "pieces, ",
            "as the model writes.",
        ])]),
    )
    .await?;

    let client = Client::connect(example.client.clone()).await?;
    let session = client
        .start_session(SessionConfig::new(&example.workdir))
        .await?;

    let mut events = Box::pin(session.ask_stream("Explain streaming in one sentence."));
    while let Some(event) = events.next().await {
        match event? {
            TurnEvent::AgentMessageDelta { delta, .. } => {
                print!("{delta}");
                std::io::stdout().flush()?;
            }
            TurnEvent::Completed(out) => {
                println!("\n[turn {} {}]", out.turn_id, out.status.as_str());
            }
            _ => {}
        }
    }

    client.shutdown().await?;
    Ok(())
}
