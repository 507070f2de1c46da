//! Approvals: with `untrusted` approval and a `workspace-write` sandbox codex asks before
//! running commands and applying patches; an `Approvals` handler decides.
//!
//! `cargo run --example approvals`

mod common;

use codex_mock_model::{Reply, Scenario};
use codex_runtime::runtime::{
    ApprovalDecision, ApprovalMode, Approvals, Client, Sandbox, SessionConfig, ThreadItem,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let example = common::setup(
        "approvals",
        Scenario::new([
            Reply::shell("touch approved.txt"),
            Reply::apply_patch("*** Add File: notes.txt\n+written by codex\n"),
            Reply::text("Created approved.txt and notes.txt."),
        ]),
    )
    .await?;

    // Accept `touch` commands and every patch; decline other commands. (codex wraps commands
    // in a shell, e.g. `/bin/bash -lc 'touch approved.txt'`.)
    let approvals = Approvals::new()
        .on_command(|request| {
            let command = request.command.unwrap_or_default();
            let is_touch = command
                .split_whitespace()
                .any(|word| word.trim_matches(|c| c == '\'' || c == '"') == "touch");
            let decision = if is_touch {
                ApprovalDecision::Accept
            } else {
                ApprovalDecision::Decline
            };
            println!("command `{command}` -> {decision:?}");
            async move { decision }
        })
        .on_file_change(|request| {
            println!("patch for item {} -> Accept", request.item_id);
            async { ApprovalDecision::Accept }
        });

    let client = Client::connect(example.client.clone()).await?;
    let session = client
        .start_session(
            SessionConfig::new(&example.workdir)
                .with_approval(ApprovalMode::Untrusted)
                .with_sandbox(Sandbox::WorkspaceWrite)
                .with_approval_handler(approvals),
        )
        .await?;

    let out = session
        .ask("Create approved.txt, then add notes.txt with a line of text.")
        .await?;
    for item in &out.items {
        match item {
            ThreadItem::CommandExecution(c) => {
                println!("ran `{}`: {}", c.command, c.status.as_str())
            }
            ThreadItem::FileChange(f) => println!("file change: {}", f.status.as_str()),
            _ => {}
        }
    }
    println!("{}", out.assistant_text);
    for file in ["approved.txt", "notes.txt"] {
        println!("{file} exists: {}", example.workdir.join(file).exists());
    }

    client.shutdown().await?;
    Ok(())
}
