//! The command line: `demo`, `run` and `automate`, with the run-profile options they share.

use crate::duration::{parse_duration, parse_positive_duration};
use clap::{Args, Parser, Subcommand, ValueEnum};
use codex_runtime::runtime::{ApprovalMode, Effort, RunProfile, Sandbox};
use std::path::PathBuf;
use std::time::Duration;

/// Run codex turns from the shell: an offline demo, one-shot prompts, scheduled automations.
#[derive(Debug, Parser)]
#[command(name = "codex-runtime", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one prompt and stream the answer; offline with the bundled mock model when no
    /// OPENAI_API_KEY/CODEX_API_KEY is set.
    Demo(DemoArgs),
    /// Run one prompt with the safe defaults (or the given profile) and print the answer.
    Run(RunArgs),
    /// Run a prompt on a schedule on one session, with a countdown to the next run.
    Automate(AutomateArgs),
    /// Serve sessions over HTTP + SSE with a small web UI; offline with the bundled mock model
    /// when no OPENAI_API_KEY/CODEX_API_KEY is set.
    Serve(ServeArgs),
}

/// `codex-runtime serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// Where conversations are kept: sqlite:PATH or postgres://... (default: memory only).
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// The access token (default: a random one, printed in the URL). Env:
    /// CODEX_RUNTIME_WEB_TOKEN.
    #[arg(
        long,
        env = "CODEX_RUNTIME_WEB_TOKEN",
        hide_env_values = true,
        conflicts_with = "tenants"
    )]
    pub token: Option<String>,
    /// The tenant the token belongs to.
    #[arg(long, default_value = "local", conflicts_with = "tenants")]
    pub tenant: String,
    /// Several tenants: a TOML or JSON file of tenant -> token_sha256 (+ optional workspace).
    /// Each tenant gets its own codex process, CODEX_HOME and workspace.
    #[arg(long, value_name = "FILE")]
    pub tenants: Option<PathBuf>,
    /// Working directory of the sessions (of the single `--tenant`; with `--tenants`, each
    /// tenant's `workspace`, else <pool root>/<tenant>/workspace).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub cwd: PathBuf,
    /// Where each tenant's CODEX_HOME and workspace live (default
    /// $XDG_STATE_HOME/codex-runtime/pool, else ~/.local/state/codex-runtime/pool).
    #[arg(long, value_name = "DIR")]
    pub pool_root: Option<PathBuf>,
    /// Most codex processes at once (tenants beyond it share slots: idle ones are stopped).
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub max_processes: usize,
    /// A tenant's codex with no turn for this long is stopped (started again on its next turn).
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_positive_duration)]
    pub idle_timeout: std::time::Duration,
    /// Wrap each tenant's codex in this program (run as `PROGRAM app-server ARGS`, with
    /// CODEX_BIN, CODEX_HOME, CODEX_POOL_KEY, CODEX_POOL_WORKSPACE set): another OS user, a
    /// container. Default: a private mount namespace per tenant when running as root.
    #[arg(long, value_name = "PROGRAM")]
    pub launcher: Option<PathBuf>,
    /// One codex process, CODEX_HOME and working directory (--cwd) for every tenant: tenants
    /// are then isolated only at the HTTP API, not from each other's commands.
    #[arg(long, conflicts_with_all = ["pool_root", "launcher"])]
    pub shared_room: bool,
    /// Offline only: the mock model's scenario (a JSON file) instead of the bundled one.
    #[arg(long, value_name = "FILE", hide = true)]
    pub offline_scenario: Option<PathBuf>,
    /// Use the bundled mock model even when an API key is set.
    #[arg(long)]
    pub offline: bool,
    /// Model (default: codex's configured model).
    #[arg(long)]
    pub model: Option<String>,
    /// Sandbox of commands.
    #[arg(long, value_enum, default_value_t = SandboxArg::ReadOnly)]
    pub sandbox: SandboxArg,
    /// When codex asks before acting (the page shows Approve/Decline).
    #[arg(long, value_enum, default_value_t = ApprovalArg::Untrusted)]
    pub approval: ApprovalArg,
}

/// `codex-runtime demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Working directory of the run.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub cwd: PathBuf,
    /// Use the bundled mock model even when an API key is set.
    #[arg(long)]
    pub offline: bool,
    /// The prompt.
    #[arg(default_value = "Say hello and name the files in this directory.")]
    pub prompt: String,
}

/// `codex-runtime run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Model, effort, sandbox, approval, timeout and working directory.
    #[command(flatten)]
    pub profile: ProfileArgs,
    /// Print the whole output as JSON (thread_id, turn_id, status, assistant_text, diff).
    #[arg(long)]
    pub json: bool,
    /// The prompt.
    pub prompt: String,
}

/// `codex-runtime automate`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("schedule").required(true).args(["every", "cron"]))]
pub struct AutomateArgs {
    /// The prompt of every run.
    #[arg(long)]
    pub prompt: String,
    /// Run every DURATION (e.g. 90s, 30m, 8h, 1h30m).
    #[arg(long, value_name = "DURATION", value_parser = parse_positive_duration)]
    pub every: Option<Duration>,
    /// Run on a cron expression instead (five fields, e.g. "0 9 * * MON-FRI").
    #[arg(long, value_name = "EXPR")]
    pub cron: Option<String>,
    /// Time zone of the cron expression (IANA name, e.g. Europe/Berlin; default UTC).
    #[arg(long, value_name = "TZ")]
    pub tz: Option<String>,
    /// When the first run is due (RFC 3339, e.g. 2026-11-23T09:00:00+01:00); default now.
    #[arg(long, value_name = "RFC3339", value_parser = parse_rfc3339)]
    pub start_at: Option<chrono::DateTime<chrono::FixedOffset>>,
    /// No run starts at or after this time (RFC 3339).
    #[arg(long, value_name = "RFC3339", value_parser = parse_rfc3339, conflicts_with = "for_")]
    pub stop_at: Option<chrono::DateTime<chrono::FixedOffset>>,
    /// Stop starting runs after this long (e.g. 8h).
    #[arg(long = "for", id = "for_", value_name = "DURATION", value_parser = parse_duration)]
    pub for_: Option<Duration>,
    /// Finish after this many runs.
    #[arg(long, value_name = "N")]
    pub max_runs: Option<u32>,
    /// Persist the schedule in this JSON file (survives restarts; needs --id).
    #[arg(long, value_name = "FILE", requires = "id")]
    pub store: Option<PathBuf>,
    /// The automation's name in the store.
    #[arg(long, value_name = "NAME", requires = "store")]
    pub id: Option<String>,
    /// What a restart does with runs missed while nothing ran.
    #[arg(long, value_enum, default_value_t = CatchUpArg::RunOnce)]
    pub catch_up: CatchUpArg,
    /// Keep going after a failed run (retries with backoff; stops after 5 failures in a row).
    #[arg(long)]
    pub continue_on_error: bool,
    /// Interrupt a run that takes longer than this (e.g. 20m).
    #[arg(long, value_name = "DURATION", value_parser = parse_positive_duration)]
    pub run_timeout: Option<Duration>,
    /// Use the bundled mock model (no API key needed; every run gets a canned answer).
    #[arg(long)]
    pub offline: bool,
    /// Model, effort, sandbox, approval, timeout and working directory.
    #[command(flatten)]
    pub profile: ProfileArgs,
}

/// Options shared by `run` and `automate`.
#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// Working directory.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub cwd: PathBuf,
    /// Model (default: codex's configured model).
    #[arg(long)]
    pub model: Option<String>,
    /// Reasoning effort.
    #[arg(long, value_enum)]
    pub effort: Option<EffortArg>,
    /// Sandbox of commands.
    #[arg(long, value_enum, default_value_t = SandboxArg::ReadOnly)]
    pub sandbox: SandboxArg,
    /// When codex asks before acting (nothing answers here, so requests are declined).
    #[arg(long, value_enum, default_value_t = ApprovalArg::Never)]
    pub approval: ApprovalArg,
    /// Turn timeout (a number means seconds; units allowed: 90s, 5m).
    #[arg(long, value_name = "SECS", value_parser = parse_timeout)]
    pub timeout: Option<Duration>,
}

impl ProfileArgs {
    /// The run profile these options describe (safe defaults for what is not given).
    pub fn to_profile(&self) -> RunProfile {
        let mut p = RunProfile::new()
            .with_sandbox(self.sandbox.into())
            .with_approval(self.approval.into());
        if let Some(m) = &self.model {
            p = p.with_model(m.clone());
        }
        if let Some(e) = self.effort {
            p = p.with_effort(e.into());
        }
        if let Some(t) = self.timeout {
            p = p.with_timeout(t);
        }
        p
    }
}

/// `--effort`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EffortArg {
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
}

impl From<EffortArg> for Effort {
    fn from(e: EffortArg) -> Effort {
        match e {
            EffortArg::Low => Effort::Low,
            EffortArg::Medium => Effort::Medium,
            EffortArg::High => Effort::High,
        }
    }
}

/// `--sandbox`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SandboxArg {
    /// Read anything, write nothing.
    ReadOnly,
    /// Write inside the working directory.
    WorkspaceWrite,
}

impl From<SandboxArg> for Sandbox {
    fn from(s: SandboxArg) -> Sandbox {
        match s {
            SandboxArg::ReadOnly => Sandbox::ReadOnly,
            SandboxArg::WorkspaceWrite => Sandbox::WorkspaceWrite,
        }
    }
}

/// `--approval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ApprovalArg {
    /// Never ask.
    Never,
    /// The model may ask.
    OnRequest,
    /// Ask before anything not known-safe.
    Untrusted,
}

impl From<ApprovalArg> for ApprovalMode {
    fn from(a: ApprovalArg) -> ApprovalMode {
        match a {
            ApprovalArg::Never => ApprovalMode::Never,
            ApprovalArg::OnRequest => ApprovalMode::OnRequest,
            ApprovalArg::Untrusted => ApprovalMode::Untrusted,
        }
    }
}

/// `--catch-up`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CatchUpArg {
    /// Drop missed runs.
    Skip,
    /// Run once for all missed runs.
    RunOnce,
}

fn parse_rfc3339(s: &str) -> Result<chrono::DateTime<chrono::FixedOffset>, String> {
    chrono::DateTime::parse_from_rfc3339(s.trim()).map_err(|e| {
        format!("`{s}` is not an RFC 3339 time ({e}); example: 2026-11-23T09:00:00+01:00")
    })
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit()) {
        return match t.parse::<u64>() {
            Ok(0) => Err("timeout must be greater than zero".to_string()),
            Ok(n) => Ok(Duration::from_secs(n)),
            Err(_) => Err(format!("timeout `{t}` is too large")),
        };
    }
    parse_positive_duration(t).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("codex-runtime").chain(args.iter().copied()))
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn run_options_become_a_profile() {
        let cli = parse(&[
            "run",
            "--model",
            "gpt-5",
            "--effort",
            "high",
            "--sandbox",
            "workspace-write",
            "--approval",
            "untrusted",
            "--timeout",
            "30",
            "hi",
        ])
        .unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run")
        };
        let p = args.profile.to_profile();
        assert_eq!(p.model.as_deref(), Some("gpt-5"));
        assert_eq!(p.effort, Effort::High);
        assert_eq!(p.sandbox, Sandbox::WorkspaceWrite);
        assert_eq!(p.approval, ApprovalMode::Untrusted);
        assert_eq!(p.timeout, Duration::from_secs(30));
        assert_eq!(args.prompt, "hi");
    }

    #[test]
    fn automate_needs_exactly_one_schedule() {
        assert!(parse(&["automate", "--prompt", "p"]).is_err());
        assert!(parse(&[
            "automate",
            "--prompt",
            "p",
            "--every",
            "1m",
            "--cron",
            "* * * * *"
        ])
        .is_err());
        let cli = parse(&[
            "automate", "--prompt", "p", "--every", "1h30m", "--for", "8h",
        ])
        .unwrap();
        let Command::Automate(a) = cli.command else {
            panic!("not automate")
        };
        assert_eq!(a.every, Some(Duration::from_secs(5400)));
        assert_eq!(a.for_, Some(Duration::from_secs(8 * 3600)));
        assert_eq!(a.catch_up, CatchUpArg::RunOnce);
    }

    #[test]
    fn automate_refuses_bad_values_with_the_reason() {
        let err = parse(&["automate", "--prompt", "p", "--every", "5x"]).unwrap_err();
        assert!(err.to_string().contains("unknown unit `x`"), "{err}");
        let err = parse(&["automate", "--prompt", "p", "--every", "0s"]).unwrap_err();
        assert!(err.to_string().contains("greater than zero"), "{err}");
        let err = parse(&[
            "automate",
            "--prompt",
            "p",
            "--every",
            "1m",
            "--start-at",
            "tomorrow",
        ])
        .unwrap_err();
        assert!(err.to_string().contains("RFC 3339"), "{err}");
        assert!(
            parse(&["automate", "--prompt", "p", "--every", "1m", "--store", "s.json"]).is_err()
        );
        assert!(parse(&[
            "automate",
            "--prompt",
            "p",
            "--every",
            "1m",
            "--stop-at",
            "2026-11-23T09:00:00Z",
            "--for",
            "1h"
        ])
        .is_err());
    }

    #[test]
    fn timeouts_accept_seconds_or_units() {
        assert_eq!(parse_timeout("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_timeout("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_timeout("0").is_err());
        assert!(parse_timeout("soon").is_err());
    }
}
