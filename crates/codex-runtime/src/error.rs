//! The one error type of the SDK.
//!
//! Every failure carries the context needed to act on it without a debugger: the binary on a
//! spawn failure, the method and elapsed time on a timeout, code/message/data on an RPC error,
//! and the exit status plus the stderr tail when the transport closes.

use std::path::PathBuf;
use std::time::Duration;

/// Result alias used across the SDK.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong talking to `codex app-server`.
///
/// The enum is `#[non_exhaustive]`: match the variants you care about and keep a `_` arm.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No codex binary was found. `searched` names every place that was looked at.
    #[error("codex binary not found; looked in: {}. Install the pinned version with `scripts/install-codex.sh` (or set CODEX_BIN / ClientConfig::with_cli_bin)", searched.join(", "))]
    BinaryNotFound {
        /// Every place that was checked, in order.
        searched: Vec<String>,
    },

    /// The codex binary configured explicitly (`ClientConfig::with_cli_bin`,
    /// `RuntimeConfig::cli_bin`) is missing or not an executable file. There is no fallback to
    /// `CODEX_BIN` or `PATH` then: the configured path is what the caller asked for.
    #[error("configured codex binary {} {reason}", path.display())]
    BinaryNotExecutable {
        /// The configured path.
        path: PathBuf,
        /// What is wrong with it ("does not exist", "is not executable", ...).
        reason: String,
    },

    /// The codex process could not be started.
    #[error("failed to spawn `{} app-server`: {source}", binary.display())]
    Spawn {
        /// The binary that was executed.
        binary: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// Connecting to a running app-server (attach mode) failed.
    #[error("failed to attach to app-server at {}: {message}", path.display())]
    Attach {
        /// The socket path.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },

    /// A request got no reply within its timeout.
    #[error("`{method}` timed out after {elapsed:?} (no reply; codex drops replies under load)")]
    Timeout {
        /// The JSON-RPC method.
        method: String,
        /// How long the call waited.
        elapsed: Duration,
    },

    /// The server answered with a JSON-RPC error.
    #[error("`{method}` failed with JSON-RPC error {code}: {message}")]
    Rpc {
        /// The JSON-RPC method.
        method: String,
        /// The error code (`-32600` for nearly everything in codex 0.169, `-32001` overload).
        code: i64,
        /// The error message.
        message: String,
        /// Optional structured data.
        data: Option<serde_json::Value>,
    },

    /// `-32001 Server overloaded` kept coming back after every retry.
    #[error("`{method}` was refused as overloaded {attempts} times; giving up")]
    Overloaded {
        /// The JSON-RPC method.
        method: String,
        /// How many attempts were made.
        attempts: u32,
    },

    /// The connection to codex is gone (process exited, stdout closed, socket closed).
    #[error("codex app-server connection closed ({}){}", exit_display(*exit_code, *signal), stderr_display(stderr_tail))]
    TransportClosed {
        /// Exit code of the child, when it exited normally.
        exit_code: Option<i32>,
        /// Signal that killed the child, when one did.
        signal: Option<i32>,
        /// The last lines the child wrote to stderr.
        stderr_tail: String,
    },

    /// Writing to or reading from the transport failed.
    #[error("transport I/O error: {0}")]
    Io(#[from] std::io::Error),

    /// A message from the server broke the protocol (not JSON, oversize line, bad shape).
    #[error("protocol error: {0}")]
    Protocol(String),

    /// A result could not be decoded into the expected type.
    #[error("could not decode the result of `{method}`: {source}")]
    Decode {
        /// The JSON-RPC method.
        method: String,
        /// The serde error (with line/column).
        #[source]
        source: serde_json::Error,
    },

    /// The server's version is older than the window this SDK supports, or newer than it under
    /// `VersionPolicy::Strict` (see [`crate::runtime::versions`]).
    #[error("codex {found} is not supported: this SDK supports codex {minimum} to {newest}{} (user agent `{user_agent}`); install one with `scripts/install-codex.sh [VERSION]`", if *strict { ", and VersionPolicy::Strict refuses a newer, untested codex (the default VersionPolicy::AcceptNewer accepts it with a warning)" } else { "" })]
    UnsupportedVersion {
        /// Version parsed from the user agent.
        found: String,
        /// The oldest supported version.
        minimum: String,
        /// The newest supported (tested) version.
        newest: String,
        /// The full user agent string.
        user_agent: String,
        /// `true` when the codex is newer than the window and `VersionPolicy::Strict` refused
        /// it; `false` when it is older than the window (refused under every policy).
        strict: bool,
    },

    /// The connected codex does not have this client method, or has it only behind the
    /// experimental API that this client did not enable (nothing was sent).
    #[error("`{method}` is not available in codex {codex_version}{}", if *needs_experimental_api { " without the experimental API (enable_experimental_api)".to_string() } else { since.as_ref().map(|s| format!(" (it first appears in codex {s})")).unwrap_or_default() })]
    MethodUnavailable {
        /// The JSON-RPC method.
        method: String,
        /// The connected codex's version.
        codex_version: String,
        /// The oldest supported codex that has it (stable if any has it stable), if any does.
        since: Option<String>,
        /// The connected codex has it, but only with `experimentalApi: true` at initialize.
        needs_experimental_api: bool,
    },

    /// A remote app-server refused the bearer token (HTTP 401 on the WebSocket upgrade).
    #[error("remote app-server at {url} refused the connection: HTTP 401 unauthorized (wrong or missing bearer token)")]
    RemoteUnauthorized {
        /// The server URL.
        url: String,
    },

    /// A remote app-server answered but is not ready to take clients (HTTP status other than
    /// 101 on the upgrade, e.g. 503 while starting).
    #[error("remote app-server at {url} is not ready: HTTP {status} on the WebSocket upgrade")]
    RemoteNotReady {
        /// The server URL.
        url: String,
        /// The HTTP status it answered.
        status: u16,
    },

    /// A remote app-server could not be reached (connection refused, DNS, TLS, handshake).
    #[error("cannot connect to remote app-server at {url}: {message}")]
    RemoteConnect {
        /// The server URL.
        url: String,
        /// What went wrong.
        message: String,
    },

    /// A configuration value is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// The runtime was shut down.
    #[error("the runtime has been shut down")]
    Shutdown,

    /// A server request was already answered (by a handler, a timeout or the default).
    #[error("server request {id} was already answered")]
    AlreadyAnswered {
        /// The server request id.
        id: String,
    },

    /// A turn ended `failed`.
    #[error("turn {turn_id} failed: {message}")]
    TurnFailed {
        /// The thread.
        thread_id: String,
        /// The turn.
        turn_id: String,
        /// The error message codex reported.
        message: String,
        /// Codex's structured error info, when present.
        details: Option<serde_json::Value>,
    },

    /// A turn did not complete within the configured timeout.
    #[error("turn on thread {thread_id} did not complete within {timeout:?}")]
    TurnTimeout {
        /// The thread.
        thread_id: String,
        /// The timeout that elapsed.
        timeout: Duration,
    },

    /// A turn went silent after its last item completed, codex's own record (`thread/read`)
    /// still showed it in progress, and it did not end within the turn timeout: the turn was
    /// interrupted on the server (see
    /// [`RunProfile::watchdog`](crate::runtime::RunProfile::watchdog)).
    #[error("turn {turn_id} on thread {thread_id} stalled: no event for {silent_for:?} after its last item completed, still in progress per thread/read at the turn timeout; interrupted")]
    TurnStalled {
        /// The thread.
        thread_id: String,
        /// The turn.
        turn_id: String,
        /// How long the turn had been silent when it was given up.
        silent_for: Duration,
    },

    /// The model's output did not parse into the requested type.
    #[error("model output is not a valid {type_name}: {source}; raw text: {raw:?}")]
    OutputParse {
        /// The Rust type that was requested.
        type_name: &'static str,
        /// The serde error.
        #[source]
        source: serde_json::Error,
        /// The raw agent text.
        raw: String,
    },

    /// A hook blocked the run.
    #[error("blocked by hook `{hook}`: {reason}")]
    HookBlocked {
        /// The hook's name.
        hook: String,
        /// The reason it gave.
        reason: String,
    },

    /// A hook failed and is configured to block on failure.
    #[error("hook `{hook}` failed: {message}")]
    HookFailed {
        /// The hook's name.
        hook: String,
        /// What went wrong.
        message: String,
    },

    /// The runtime pool ([`crate::runtime::pool`]) could not serve a key.
    #[error(transparent)]
    Pool(#[from] crate::runtime::pool::PoolError),
}

fn exit_display(code: Option<i32>, signal: Option<i32>) -> String {
    match (code, signal) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        (None, None) => "process still running or not a child".to_string(),
    }
}

fn stderr_display(tail: &str) -> String {
    if tail.trim().is_empty() {
        String::new()
    } else {
        format!("; stderr tail:\n{}", tail.trim_end())
    }
}

impl Error {
    /// The JSON-RPC error code, when this is an RPC error.
    pub fn rpc_code(&self) -> Option<i64> {
        match self {
            Error::Rpc { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// True when the connection is gone and a new one is needed.
    pub fn is_transport_closed(&self) -> bool {
        matches!(self, Error::TransportClosed { .. } | Error::Shutdown)
    }
}
