//! `codex-runtime run`: one prompt through `quick_run_with_profile`.

use crate::cli::RunArgs;
use crate::error::{existing_dir, CliError};
use anyhow::{Context, Result};
use codex_runtime::quick_run_with_profile;
use codex_runtime::runtime::TurnOutput;
use serde_json::json;

/// Runs the prompt and prints the answer (or the output as JSON).
pub async fn run(args: RunArgs) -> Result<()> {
    let cwd = existing_dir(&args.profile.cwd)?;
    crate::offline::check_credentials()?;
    let profile = args.profile.to_profile();
    let out = quick_run_with_profile(&cwd, args.prompt, profile)
        .await
        .context("the run failed")?;
    if args.json {
        println!("{}", output_json(&out));
    } else {
        println!("{}", out.assistant_text);
        eprintln!(
            "thread {} · turn {} · status {}",
            out.thread_id,
            out.turn_id,
            out.status.as_str()
        );
    }
    if !out.is_completed() {
        return Err(CliError::TurnNotCompleted {
            status: out.status.as_str().to_string(),
        }
        .into());
    }
    Ok(())
}

/// The `--json` form of a run's output.
pub fn output_json(out: &TurnOutput) -> serde_json::Value {
    json!({
        "thread_id": out.thread_id,
        "turn_id": out.turn_id,
        "status": out.status.as_str(),
        "assistant_text": out.assistant_text,
        "diff": out.diff,
    })
}
