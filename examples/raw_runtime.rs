//! Layer 6: the raw `Runtime`: `call` any method with JSON, `subscribe` to notifications, read
//! the metrics.
//!
//! `cargo run --example raw_runtime`

mod common;

use codex_mock_model::{Reply, Scenario};
use codex_runtime::rpc_methods;
use codex_runtime::runtime::{Runtime, ServerNotification};
use serde_json::json;
use std::io::Write;
use std::time::Duration;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let example = common::setup(
        "raw_runtime",
        Scenario::new([Reply::deltas(["raw ", "JSON-RPC ", "works"])]),
    )
    .await?;

    let rt = Runtime::connect(example.runtime()).await?;
    let thread = rt
        .call(rpc_methods::THREAD_START, json!({"cwd": example.workdir}))
        .await?;
    let thread_id = thread["thread"]["id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("thread/start returned no thread id: {thread}"))?
        .to_string();

    // Subscribe before starting the turn so no notification is missed.
    let mut events = rt.subscribe_thread(&thread_id);
    rt.call(
        rpc_methods::TURN_START,
        json!({"threadId": thread_id, "input": [{"type": "text", "text": "Say something."}]}),
    )
    .await?;
    loop {
        let event = tokio::time::timeout(Duration::from_secs(120), events.recv()).await??;
        match event.notification() {
            ServerNotification::ItemAgentMessageDelta(n) => {
                print!("{}", n.delta);
                std::io::stdout().flush()?;
            }
            ServerNotification::TurnCompleted(n) => {
                println!("\n[turn {}: {}]", n.turn.id, n.turn.status.as_str());
                break;
            }
            _ => {}
        }
    }

    println!("{:?}", rt.metrics());
    rt.shutdown().await?;
    Ok(())
}
