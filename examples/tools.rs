//! Tools written in Rust: the model calls a typed function of this program (served to codex
//! from the session's embedded MCP server) and answers with what it returned. Offline, the
//! bundled mock model scripts the call.
//!
//! `cargo run --example tools`

mod common;

use codex_mock_model::{Reply, Scenario};
use codex_runtime::runtime::{Client, SessionConfig, ThreadItem};
use codex_runtime::tools::{Tool, ToolError, ToolOutput, TOOLS_SERVER_NAME};
use serde_json::json;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Lookup {
    /// The ticket id, e.g. `ABC-123`.
    id: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let example = common::setup(
        "tools",
        Scenario::new([
            Reply::mcp_tool_call(TOOLS_SERVER_NAME, "lookup_ticket", json!({"id": "ABC-123"})),
            Reply::text("ABC-123 is open and assigned to Dana."),
        ]),
    )
    .await?;

    let tool = Tool::new(
        "lookup_ticket",
        "Look up a ticket by id",
        |args: Lookup| async move {
            if args.id.is_empty() {
                return Err(ToolError::new("an empty ticket id"));
            }
            Ok(ToolOutput::text_and_json(
                format!("ticket {} is open, assigned to Dana", args.id),
                json!({"id": args.id, "state": "open", "assignee": "Dana"}),
            ))
        },
    );

    let client = Client::connect(example.client.clone()).await?;
    let session = client
        .start_session(SessionConfig::new(&example.workdir).with_tool(tool))
        .await?;
    let out = session.ask("What is the state of ABC-123?").await?;
    for item in &out.items {
        if let ThreadItem::McpToolCall(call) = item {
            println!(
                "tool call: {}/{} {}",
                call.server, call.tool, call.arguments
            );
        }
    }
    println!("answer: {}", out.assistant_text);

    session.close().await?;
    client.shutdown().await?;
    Ok(())
}
