//! `codex-runtime demo`: one prompt, streamed; offline on the bundled mock model when no API key
//! is set.

use crate::cli::DemoArgs;
use crate::error::{existing_dir, CliError};
use crate::offline::{api_key_present, OfflineModel, OFFLINE_NOTICE};
use anyhow::{Context, Result};
use codex_mock_model::{Reply, Scenario};
use codex_runtime::runtime::{ThreadItem, TurnEvent, TurnOutput};
use codex_runtime::{ClientConfig, Workflow, WorkflowConfig};
use futures::StreamExt;
use std::io::Write;
use std::path::Path;

/// What the mock model says in the offline demo: it first lists the directory with a real
/// (sandboxed) command, then answers in a few streamed chunks.
pub fn demo_scenario() -> Scenario {
    Scenario::new([
        Reply::shell("ls"),
        Reply::deltas([
            "Hello from the bundled mock model! ",
            "This offline demo ran `ls` through codex in a read-only sandbox ",
            "(its output is shown above). ",
            "Set OPENAI_API_KEY to ask a real model.",
        ]),
    ])
    .with_fallback(Reply::text(
        "The bundled mock model has nothing more to say.",
    ))
}

/// Runs the demo.
pub async fn run(args: DemoArgs) -> Result<()> {
    let cwd = existing_dir(&args.cwd)?;
    let has_key = api_key_present();
    let (client, _model) = if args.offline || !has_key {
        if has_key {
            eprintln!("offline demo: --offline given, using the bundled mock model");
        } else {
            eprintln!("{OFFLINE_NOTICE}");
        }
        let model = OfflineModel::start(demo_scenario(), &cwd).await?;
        (model.client_config(), Some(model))
    } else {
        eprintln!(
            "using the real model with your CODEX_HOME (the defaults of quick_run: read-only \
             sandbox, no approvals)"
        );
        (ClientConfig::new(), None)
    };
    let out = stream_one_prompt(&cwd, client, &args.prompt).await?;
    eprintln!(
        "thread {} · turn {} · status {}",
        out.thread_id,
        out.turn_id,
        out.status.as_str()
    );
    if !out.is_completed() {
        return Err(CliError::TurnNotCompleted {
            status: out.status.as_str().to_string(),
        }
        .into());
    }
    Ok(())
}

/// One prompt on a fresh session with the safe defaults (what `quick_run` does), with the
/// answer streamed to stdout and tool activity to stderr.
async fn stream_one_prompt(cwd: &Path, client: ClientConfig, prompt: &str) -> Result<TurnOutput> {
    let wf = Workflow::connect(WorkflowConfig::new(cwd).with_client_config(client))
        .await
        .context("cannot start codex app-server")?;
    let result = stream_on(&wf, prompt).await;
    if let Err(err) = wf.shutdown().await {
        tracing::warn!("codex did not shut down cleanly: {err}");
    }
    result
}

async fn stream_on(wf: &Workflow, prompt: &str) -> Result<TurnOutput> {
    let session = wf.setup_session().await.context("cannot start a session")?;
    let mut stream = Box::pin(session.ask_stream(prompt.to_string()));
    let mut stdout = std::io::stdout();
    let mut printed_text = false;
    let mut outcome = None;
    while let Some(event) = stream.next().await {
        match event.context("the turn failed")? {
            TurnEvent::AgentMessageDelta { delta, .. } => {
                print!("{delta}");
                printed_text = true;
                let _ = stdout.flush();
            }
            TurnEvent::ItemStarted(ThreadItem::CommandExecution(c)) => {
                eprintln!("$ {}", c.command);
            }
            TurnEvent::ItemCompleted(ThreadItem::CommandExecution(c)) => {
                for line in c
                    .aggregated_output
                    .as_deref()
                    .unwrap_or("")
                    .lines()
                    .take(20)
                {
                    eprintln!("  {line}");
                }
                if let Some(code) = c.exit_code.filter(|c| *c != 0) {
                    eprintln!("  (exit code {code})");
                }
            }
            TurnEvent::Completed(out) => outcome = Some(*out),
            _ => {}
        }
    }
    drop(stream);
    if let Err(err) = session.close().await {
        tracing::debug!("closing the session: {err}");
    }
    let out = outcome.context("the turn stream ended without an outcome")?;
    if !printed_text && !out.assistant_text.is_empty() {
        print!("{}", out.assistant_text);
    }
    println!();
    Ok(out)
}
