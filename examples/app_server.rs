//! Layer 5: `AppServer`, typed JSON-RPC helpers for every method of `codex app-server`.
//!
//! `cargo run --example app_server`

mod common;

use codex_mock_model::Scenario;
use codex_runtime::runtime::CommandExecParams;
use codex_runtime::{rpc_methods, AppServer};
use serde_json::json;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // No model call happens here, so the mock needs no replies.
    let example = common::setup("app_server", Scenario::empty()).await?;
    let dir = example.workdir.to_string_lossy().into_owned();

    let app = AppServer::connect(example.runtime()).await?;
    println!("connected: {}", app.init_info().user_agent);

    // Any method by name, with JSON params...
    let thread = app
        .request_json(
            rpc_methods::THREAD_START,
            json!({"cwd": dir, "sandbox": "read-only"}),
        )
        .await?;
    println!("thread {}", thread["thread"]["id"]);

    // ...or a typed helper.
    let exec = app
        .command_exec(CommandExecParams {
            command: vec!["pwd".into()],
            cwd: Some(dir.clone()),
            ..CommandExecParams::default()
        })
        .await?;
    print!("pwd -> {}", exec.stdout);
    println!("exit code {}", exec.exit_code);

    app.shutdown().await?;
    Ok(())
}
