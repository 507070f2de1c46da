//! Layer 1: one prompt, one answer, with the safe defaults (read-only sandbox, no approvals).
//!
//! `cargo run --example quick_run` (offline without an API key).

mod common;

use codex_mock_model::{Reply, Scenario};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let example = common::setup(
        "quick_run",
        Scenario::new([Reply::text("A scratch directory with nothing in it yet.")]),
    )
    .await?;
    // quick_run finds codex through the environment (CODEX_BIN / PATH, CODEX_HOME, the API
    // key); offline, point it at the mock. Set variables before any task runs.
    for (key, value) in example.env_vars() {
        std::env::set_var(key, value);
    }

    let out = codex_runtime::quick_run(&example.workdir, "What is in this directory?").await?;

    println!("{}", out.assistant_text);
    println!(
        "thread {} / turn {}: {}",
        out.thread_id,
        out.turn_id,
        out.status.as_str()
    );
    Ok(())
}
