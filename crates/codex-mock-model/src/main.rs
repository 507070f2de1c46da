//! `codex-mock-model`: serve a scripted mock of the OpenAI Responses API on 127.0.0.1.
//!
//! ```text
//! codex-mock-model --scenario replies.json [--port 8080] [--write-codex-home DIR]
//! codex-mock-model --text "hello"
//! ```
//! Prints the base URL (`http://127.0.0.1:PORT/v1`) and serves until Ctrl-C (SIGINT) or
//! SIGTERM. The signal handlers are installed before the URL is printed, so a caller may send
//! the signal as soon as it has read the URL.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use codex_mock_model::{
    write_codex_config, ApprovalPolicy, HomeOptions, MockModel, MockOptions, Reply, SandboxMode,
    Scenario,
};

/// Serve a scripted mock of the OpenAI Responses API on 127.0.0.1 until Ctrl-C.
#[derive(Debug, Parser)]
#[command(name = "codex-mock-model", version)]
#[command(group = clap::ArgGroup::new("replies").required(true).args(["scenario", "text"]))]
struct Cli {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// JSON scenario file: `{"replies":[...],"fallback":...}` or a bare array of replies.
    #[arg(long, value_name = "FILE.json")]
    scenario: Option<PathBuf>,
    /// Shorthand for a scenario that answers every request with this text.
    #[arg(long)]
    text: Option<String>,
    /// Write DIR/config.toml pointing codex at this server (use DIR as CODEX_HOME).
    #[arg(long, value_name = "DIR")]
    write_codex_home: Option<PathBuf>,
    /// `approval_policy` written by --write-codex-home.
    #[arg(long, value_enum, default_value_t = Approval::Never)]
    approval_policy: Approval,
    /// `sandbox_mode` written by --write-codex-home.
    #[arg(long, value_enum, default_value_t = Sandbox::ReadOnly)]
    sandbox_mode: Sandbox,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Approval {
    Untrusted,
    OnRequest,
    Never,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Sandbox {
    ReadOnly,
    WorkspaceWrite,
    DangerFullAccess,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    // Installed before anything is printed: a SIGINT that arrives right after the URL must stop
    // the server cleanly, not kill the process with the default disposition.
    let stop = match StopSignals::install() {
        Ok(stop) => stop,
        Err(err) => {
            eprintln!("codex-mock-model: cannot install the signal handlers: {err}");
            return ExitCode::FAILURE;
        }
    };
    match run(cli, stop).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("codex-mock-model: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli, stop: StopSignals) -> Result<(), codex_mock_model::MockError> {
    let scenario = match (&cli.scenario, &cli.text) {
        (Some(path), _) => Scenario::from_json_file(path)?,
        (None, Some(text)) => Scenario::empty().with_fallback(Reply::text(text.clone())),
        // clap's ArgGroup makes one of them required.
        (None, None) => Scenario::empty(),
    };
    let mock = MockModel::start_with(scenario, MockOptions::default().port(cli.port)).await?;
    if let Some(dir) = &cli.write_codex_home {
        let options = HomeOptions::default()
            .approval_policy(match cli.approval_policy {
                Approval::Untrusted => ApprovalPolicy::Untrusted,
                Approval::OnRequest => ApprovalPolicy::OnRequest,
                Approval::Never => ApprovalPolicy::Never,
            })
            .sandbox_mode(match cli.sandbox_mode {
                Sandbox::ReadOnly => SandboxMode::ReadOnly,
                Sandbox::WorkspaceWrite => SandboxMode::WorkspaceWrite,
                Sandbox::DangerFullAccess => SandboxMode::DangerFullAccess,
            });
        let file = write_codex_config(dir, &mock.url(), &options)?;
        eprintln!("codex-mock-model: wrote {}", file.display());
    }
    println!("{}", mock.url());
    stop.wait().await;
    mock.shutdown().await;
    Ok(())
}

/// SIGINT and SIGTERM, registered with tokio when created (not on first poll), so the default
/// "terminate" disposition is replaced before the URL is announced.
struct StopSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(StopSignals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Waits for the first SIGINT or SIGTERM.
    async fn wait(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => tracing::info!("SIGINT received; stopping"),
            _ = self.terminate.recv() => tracing::info!("SIGTERM received; stopping"),
        }
    }
}
