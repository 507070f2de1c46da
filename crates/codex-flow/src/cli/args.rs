//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Flow runtime: run flow packages (flow.toml) on events and inspect their runs.
#[derive(Debug, Parser)]
#[command(name = "codex-flow", version, about)]
pub struct Cli {
    /// Options shared by every command.
    #[command(flatten)]
    pub global: Global,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every command.
#[derive(Debug, Args)]
pub struct Global {
    /// Project directory (flows under <cwd>/.codex/flows and <cwd>/flows).
    #[arg(long, global = true, default_value = ".")]
    pub cwd: PathBuf,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// Where runs and events are kept.
    #[arg(long, global = true, value_enum, default_value_t = StateArg::Durable)]
    pub state: StateArg,
    /// Dispatch the `next` events of FLOW_RESULTs.
    #[arg(long, global = true)]
    pub dispatch_next: bool,
    /// Do not print step progress on stderr.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Use a flow backend over HTTP instead of local state (events, runs, fire, replay, cancel).
    #[arg(long, global = true, env = "CODEX_FLOW_BACKEND_URL")]
    pub backend_url: Option<String>,
    /// Bearer token for the flow backend.
    #[arg(
        long,
        global = true,
        env = "CODEX_FLOW_BACKEND_TOKEN",
        hide_env_values = true
    )]
    pub backend_token: Option<String>,
    /// x-api-key for the flow backend.
    #[arg(
        long,
        global = true,
        env = "CODEX_FLOW_BACKEND_API_KEY",
        hide_env_values = true
    )]
    pub backend_api_key: Option<String>,
    /// HMAC secret that signs request bodies (x-flow-signature-256).
    #[arg(
        long,
        global = true,
        env = "CODEX_FLOW_BACKEND_SECRET",
        hide_env_values = true
    )]
    pub backend_secret: Option<String>,
}

/// `--state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StateArg {
    /// In memory: gone when the command ends.
    Memory,
    /// SQLite under <cwd>/.codex/flow-client.
    Durable,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List discovered flows and their steps.
    List,
    /// Check every flow.toml, step path and trigger schema.
    Validate,
    /// Dispatch an event (JSON file, `-` for stdin) and run the matching steps to their end.
    Fire {
        /// The event file.
        #[arg(long)]
        event: PathBuf,
    },
    /// Run one step explicitly, without recording it.
    Run {
        /// The flow name.
        flow: String,
        /// The step name.
        step: String,
        /// The event file (`-` for stdin).
        #[arg(long)]
        event: PathBuf,
        /// runtime.runId / CODEX_FLOW_RUN_ID.
        #[arg(long)]
        run_id: Option<String>,
        /// runtime.attemptId / CODEX_FLOW_ATTEMPT_ID.
        #[arg(long)]
        attempt_id: Option<String>,
        /// Mark the run as a replay (CODEX_FLOW_REPLAY=1).
        #[arg(long)]
        replay: bool,
    },
    /// List stored events, newest first.
    Events {
        /// Only this event type.
        #[arg(long = "type")]
        event_type: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// List runs, newest first.
    Runs {
        /// Only runs of this event.
        #[arg(long)]
        event_id: Option<String>,
        /// Only runs with this process or effective status.
        #[arg(long)]
        status: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Show one run.
    ShowRun {
        /// The run id.
        run_id: String,
    },
    /// Show one event and its runs.
    ShowEvent {
        /// The event id.
        event_id: String,
    },
    /// Re-run a stored event under new run ids.
    Replay {
        /// The event id.
        event_id: String,
    },
    /// Cancel a queued or running run.
    Cancel {
        /// The run id.
        run_id: String,
    },
    /// Serve the flow backend HttpFlowClient speaks, on PostgreSQL. Dispatch only records
    /// events and their queued runs; `codex-flow worker` processes run them.
    Serve {
        /// The store: postgres://user:password@host/db.
        #[arg(long, env = "CODEX_FLOW_STORE", hide_env_values = true)]
        store: String,
        /// Address to listen on (port 0: any free port; the bound address is printed).
        #[arg(long, default_value = "127.0.0.1:8787")]
        listen: String,
        /// Folder of flow packages (default: the discovery roots of --cwd).
        #[arg(long)]
        flows: Option<PathBuf>,
        /// Required bearer token.
        #[arg(long, env = "CODEX_FLOW_SERVE_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Required x-api-key.
        #[arg(long, env = "CODEX_FLOW_SERVE_API_KEY", hide_env_values = true)]
        api_key: Option<String>,
        /// Required request signature key (HMAC over method, path, timestamp and body).
        #[arg(long, env = "CODEX_FLOW_SERVE_SECRET", hide_env_values = true)]
        signing_secret: Option<String>,
        /// Also accept the legacy body-only signature headers (no replay protection).
        #[arg(long)]
        accept_body_signature: bool,
        /// Serve without any credential (every caller may dispatch and cancel). Without it,
        /// serve refuses to start when no token, API key or signing secret is given.
        #[arg(long)]
        insecure_no_auth: bool,
        /// Largest distance in seconds between a signed request's timestamp and the clock.
        #[arg(long, default_value_t = 300)]
        replay_window_secs: u64,
        /// Largest request body in bytes (413 above).
        #[arg(long, default_value_t = codex_flow::serve::DEFAULT_BODY_LIMIT)]
        body_limit: usize,
    },
    /// Lease runs from a PostgreSQL store and execute them. SIGTERM drains (running steps
    /// finish, then leases are handed back); SIGINT stops every step's process group at once.
    Worker {
        /// The store: postgres://user:password@host/db.
        #[arg(long, env = "CODEX_FLOW_STORE", hide_env_values = true)]
        store: String,
        /// Runs executed at once.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        /// Folder of flow packages (default: the discovery roots of --cwd).
        #[arg(long)]
        flows: Option<PathBuf>,
        /// Lease length in milliseconds; a run whose worker stops heartbeating is taken over
        /// after it.
        #[arg(long, default_value_t = 30_000)]
        lease_ttl_ms: u64,
        /// Heartbeat interval in milliseconds (also the latency of a cancel).
        #[arg(long, default_value_t = 1_000)]
        heartbeat_ms: u64,
        /// How long SIGTERM lets running steps finish, in milliseconds.
        #[arg(long, default_value_t = 30_000)]
        drain_ms: u64,
        /// How deep chains of FLOW_RESULT `next` events may go; deeper ones are not recorded
        /// (a run note says so). 0: next events are not dispatched.
        #[arg(long, default_value_t = codex_flow::DEFAULT_MAX_NEXT_DEPTH)]
        max_next_depth: u32,
    },
    /// Dispatch generated events in a loop, printing `ACK <event id>` after each (tests, benchmarks).
    #[command(hide = true)]
    BenchDispatch {
        /// How many events.
        #[arg(long, default_value_t = 200)]
        count: usize,
        /// Event type.
        #[arg(long = "type", default_value = "bench.tick")]
        event_type: String,
        /// Event id prefix.
        #[arg(long, default_value = "bench")]
        prefix: String,
    },
}
