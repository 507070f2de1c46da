//! Benchmark: a turn with one call of a Rust tool (`codex_runtime::tools`, served from the
//! session's embedded MCP server) against the same turn where the mock model calls codex's own
//! shell (`exec_command` running `echo`).
//!
//! One real codex (`CODEX_BIN`, else the pinned one), one mock model, two sessions on the same
//! client: one with the tool, one without. Each turn is two model requests (the call, then the
//! final text after the call's output). The sides alternate turn by turn (the order flips each
//! round) so drift in the machine's load hits both. Reported per side: median and mean wall
//! time of `Session::ask`. Target: the tool path is not slower than the shell path.
//!
//! Run: `cargo bench --bench tools_call` (`TURNS`, default 20 per side). The benchmark reports;
//! it never fails the build.

use codex_mock_model::{Reply, Scenario};
use codex_runtime::runtime::{Client, Session};
use codex_runtime::tools::{Tool, ToolError, ToolOutput, TOOLS_SERVER_NAME};
use codex_test_support::CodexTestEnv;
use serde_json::json;
use std::time::{Duration, Instant};

#[path = "common/measure.rs"]
#[allow(dead_code)]
mod measure;
use measure::{env_usize, stats};

/// Measured turns per side (override with `TURNS`).
const DEFAULT_TURNS: usize = 20;
/// Unmeasured warm-up turns per side.
const WARMUP_TURNS: usize = 2;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Echo {
    /// The text to echo.
    text: String,
}

#[derive(Clone, Copy, PartialEq)]
enum Side {
    Tool,
    Shell,
}

async fn turn(env: &CodexTestEnv, side: Side, session: &Session) -> anyhow::Result<Duration> {
    let call = match side {
        Side::Tool => Reply::mcp_tool_call(TOOLS_SERVER_NAME, "echo", json!({"text": "hi"})),
        Side::Shell => Reply::shell("echo hi"),
    };
    env.mock.push(call);
    env.mock.push(Reply::text("done"));
    let start = Instant::now();
    let out = session.ask("echo hi").await?;
    let took = start.elapsed();
    anyhow::ensure!(
        out.assistant_text == "done",
        "unexpected answer {:?}",
        out.assistant_text
    );
    Ok(took)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let turns = env_usize("TURNS", DEFAULT_TURNS);
    let env = CodexTestEnv::start(Scenario::empty()).await?;
    let client = Client::connect(env.client_config()).await?;
    let tool = Tool::new("echo", "Echo the text", |args: Echo| async move {
        Ok::<_, ToolError>(ToolOutput::text(args.text))
    });
    let with_tool = client
        .start_session(env.session_config().with_tool(tool))
        .await?;
    let plain = client.start_session(env.session_config()).await?;
    let session = |side| {
        if side == Side::Tool {
            &with_tool
        } else {
            &plain
        }
    };

    for _ in 0..WARMUP_TURNS {
        for side in [Side::Tool, Side::Shell] {
            turn(&env, side, session(side)).await?;
        }
    }
    let (mut tool_times, mut shell_times) = (Vec::new(), Vec::new());
    for round in 0..turns {
        let order = if round % 2 == 0 {
            [Side::Tool, Side::Shell]
        } else {
            [Side::Shell, Side::Tool]
        };
        for side in order {
            let took = turn(&env, side, session(side)).await?;
            match side {
                Side::Tool => tool_times.push(took),
                Side::Shell => shell_times.push(took),
            }
        }
    }
    let (tool_median, tool_mean) = stats(&tool_times);
    let (shell_median, shell_mean) = stats(&shell_times);
    println!(
        "tools_call: {turns} turns per side, codex {}",
        codex_test_support::codex_version().unwrap_or_else(|e| e.to_string())
    );
    println!("  rust tool (MCP):  median {tool_median:8.2} ms  mean {tool_mean:8.2} ms");
    println!("  codex shell:      median {shell_median:8.2} ms  mean {shell_mean:8.2} ms");
    let verdict = if tool_median <= shell_median {
        "met"
    } else {
        "MISSED"
    };
    println!(
        "  target (tool median <= shell median): {verdict} ({:+.1} %)",
        (tool_median / shell_median - 1.0) * 100.0
    );
    with_tool.close().await?;
    plain.close().await?;
    client.shutdown().await?;
    env.assert_no_leftover_processes().await;
    Ok(())
}
