//! `codex-runtime`: the command line of the codex-runtime SDK.
//!
//! - `demo`: one prompt, streamed; offline on the bundled mock model when no API key is set
//!   ([`demo`]).
//! - `run`: one prompt through `quick_run_with_profile`, text or JSON out ([`run`]).
//! - `automate`: a prompt on an interval or cron schedule on one session, with a countdown,
//!   run reports and a graceful Ctrl-C ([`automate`], [`countdown`]).
//! - `serve`: the HTTP/SSE API of `codex_runtime::web` plus its web UI ([`serve`]).
//!
//! Supporting modules: [`cli`] (the clap definitions), [`duration`] (`30m`, `8h`, `90s`),
//! [`offline`] (the mock model and its throw-away `CODEX_HOME`), [`error`] ([`error::CliError`],
//! the one error type).
//!
//! Errors go to stderr and exit with status 1; `RUST_LOG` controls tracing output (stderr).

mod automate;
mod cli;
mod countdown;
mod demo;
mod duration;
mod error;
mod offline;
mod run;
mod serve;
mod tenants;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // --help and --version print to stdout and succeed; bad usage is exit 1.
            let code = if err.use_stderr() { 1 } else { 0 };
            let _ = err.print();
            return ExitCode::from(code);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the tokio runtime: {err}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            cli::Command::Demo(args) => demo::run(args).await,
            cli::Command::Run(args) => run::run(args).await,
            cli::Command::Automate(args) => automate::run(args).await,
            cli::Command::Serve(args) => serve::run(args).await,
        }
    });
    // Background tasks (mock server, runner) must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}
