//! [`RuntimeConfig`]: where the app-server comes from ([`Endpoint`]), how a crashed one is
//! restarted ([`RestartPolicy`]), and every knob of a [`Runtime`](super::Runtime).

use crate::rpc::router::{
    DEFAULT_DELTA_CAPACITY, DEFAULT_LIFECYCLE_CAPACITY, DEFAULT_OVERFLOW_PAUSE,
    DEFAULT_QUEUE_BUDGET_BYTES,
};
use crate::rpc::server_requests::TimeoutAction;
use crate::rpc::RetryPolicy;
use crate::runtime::versions::VersionPolicy;
use crate::transport;
use std::path::PathBuf;
use std::time::Duration;

/// Where the runtime's app-server comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Endpoint {
    /// Spawn `codex app-server` (the default).
    Spawn,
    /// Attach to a server listening on this Unix socket (`codex app-server --listen unix://PATH`
    /// or the daemon's control socket). Cargo feature `attach`.
    #[cfg(feature = "attach")]
    Attach(PathBuf),
    /// Attach to a remote server over `ws://` or `wss://` (`codex app-server --listen
    /// ws://IP:PORT`), with an optional bearer token. With a restart policy set, a lost
    /// connection is re-established with the same backoff (see [`ReconnectPolicy`]).
    #[cfg(feature = "remote")]
    Remote(transport::remote::RemoteEndpoint),
}

impl Endpoint {
    /// Whether a lost connection can be brought back by the restart policy: a spawned server is
    /// restarted, a remote one reconnected; an attached socket belongs to someone else.
    pub(crate) fn restartable(&self) -> bool {
        match self {
            Endpoint::Spawn => true,
            #[cfg(feature = "attach")]
            Endpoint::Attach(_) => false,
            #[cfg(feature = "remote")]
            Endpoint::Remote(_) => true,
        }
    }
}

/// How to reconnect to a remote app-server whose connection dropped: the same knobs as
/// [`RestartPolicy`] (reconnects allowed, first delay, cap), applied by the same supervisor.
pub type ReconnectPolicy = RestartPolicy;

/// How to restart a crashed app-server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    /// Restarts allowed over the runtime's life.
    pub max_restarts: u32,
    /// Delay before the first restart; doubled each time, capped at `max_backoff`.
    pub initial_backoff: Duration,
    /// Upper bound of one delay.
    pub max_backoff: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            max_restarts: 3,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// Configuration of a [`Runtime`](super::Runtime). Every field has a safe default; use the `with_*` builders.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RuntimeConfig {
    /// Spawn or attach.
    pub endpoint: Endpoint,
    /// Explicit codex binary (else `CODEX_BIN`, else `codex` on `PATH`).
    pub cli_bin: Option<PathBuf>,
    /// Extra `app-server` arguments (e.g. `-c key=value`).
    pub args: Vec<String>,
    /// Extra environment for the child.
    pub env: Vec<(String, String)>,
    /// `CODEX_HOME` for the child.
    pub codex_home: Option<PathBuf>,
    /// Working directory of the child.
    pub cwd: Option<PathBuf>,
    /// Default timeout of every request (overridable per call).
    pub request_timeout: Duration,
    /// Retry policy for `-32001` overload.
    pub retry: RetryPolicy,
    /// `clientInfo.name` sent at initialize.
    pub client_name: String,
    /// `clientInfo.title`.
    pub client_title: Option<String>,
    /// `clientInfo.version`.
    pub client_version: String,
    /// Opt in to experimental methods and fields.
    pub experimental_api: bool,
    /// Notification methods the server should not send.
    pub opt_out_notification_methods: Vec<String>,
    /// How long a server-request handler may take before the timeout action applies.
    pub server_request_timeout: Duration,
    /// What a timed-out handler's request gets.
    pub server_request_timeout_action: TimeoutAction,
    /// Restart a crashed server (spawn mode), or reconnect to a remote one (remote mode).
    pub restart: Option<RestartPolicy>,
    /// Spawn mode: after the app-server exited (a crash, or [`super::Runtime::park`]), start a
    /// fresh one on the next request instead of at once, and without a restart budget
    /// (default off). Sessions resume their threads on it before their next turn. Takes
    /// precedence over [`RuntimeConfig::restart`]; the runtime pool
    /// ([`crate::runtime::pool`]) runs its processes this way.
    pub restart_on_demand: bool,
    /// Memory budget of each subscriber's queue, in bytes (default
    /// [`DEFAULT_QUEUE_BUDGET_BYTES`], 16 MiB). On overflow the reader pauses for a subscriber
    /// that has caught up since its last overflow (see `overflow_pause`); for one that stays
    /// behind, deltas beyond the budget are dropped and reported in place as
    /// `RecvError::Lagged(n)`. Lifecycle events are never dropped.
    pub queue_budget_bytes: usize,
    /// Longest pause of the reader for a full subscriber that keeps up on average (default
    /// [`DEFAULT_OVERFLOW_PAUSE`], 250 ms; zero never pauses). While paused, codex's output
    /// waits in the pipe: calls and other subscribers wait too.
    pub overflow_pause: Duration,
    /// Per-subscriber cap, in events, for droppable events (deltas); default: no cap beyond the
    /// byte budget.
    pub delta_capacity: usize,
    /// Per-subscriber capacity for lifecycle events.
    pub lifecycle_capacity: usize,
    /// Maximum inbound message size.
    pub max_line_bytes: usize,
    /// How long `shutdown()` waits after closing stdin before killing.
    pub shutdown_grace: Duration,
    /// What `initialize` does with a codex newer than the tested window (default
    /// [`VersionPolicy::AcceptNewer`]: accepted with a warning). Older is always refused.
    pub version_policy: VersionPolicy,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            endpoint: Endpoint::Spawn,
            cli_bin: None,
            args: Vec::new(),
            env: Vec::new(),
            codex_home: None,
            cwd: None,
            request_timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
            client_name: "codex_runtime".to_string(),
            client_title: Some("codex-runtime (Rust SDK)".to_string()),
            client_version: env!("CARGO_PKG_VERSION").to_string(),
            experimental_api: false,
            opt_out_notification_methods: Vec::new(),
            server_request_timeout: Duration::from_secs(120),
            server_request_timeout_action: TimeoutAction::Decline,
            restart: None,
            restart_on_demand: false,
            queue_budget_bytes: DEFAULT_QUEUE_BUDGET_BYTES,
            overflow_pause: DEFAULT_OVERFLOW_PAUSE,
            delta_capacity: DEFAULT_DELTA_CAPACITY,
            lifecycle_capacity: DEFAULT_LIFECYCLE_CAPACITY,
            max_line_bytes: transport::DEFAULT_MAX_LINE_BYTES,
            shutdown_grace: Duration::from_secs(3),
            version_policy: VersionPolicy::AcceptNewer,
        }
    }
}

macro_rules! builder {
    ($(#[$m:meta])* $name:ident, $field:ident : $ty:ty) => {
        $(#[$m])*
        pub fn $name(mut self, value: $ty) -> Self {
            self.$field = value;
            self
        }
    };
}

impl RuntimeConfig {
    /// The defaults (spawn `codex app-server` found via `CODEX_BIN`/`PATH`).
    pub fn new() -> Self {
        Self::default()
    }

    /// Use this codex binary.
    pub fn with_cli_bin(mut self, bin: impl Into<PathBuf>) -> Self {
        self.cli_bin = Some(bin.into());
        self
    }

    /// Use this `CODEX_HOME`.
    pub fn with_codex_home(mut self, home: impl Into<PathBuf>) -> Self {
        self.codex_home = Some(home.into());
        self
    }

    /// Run the child in this directory.
    pub fn with_cwd(mut self, cwd: impl Into<PathBuf>) -> Self {
        self.cwd = Some(cwd.into());
        self
    }

    /// Adds an environment variable for the child.
    pub fn with_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Adds an `app-server` argument.
    pub fn with_arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Attach to a running server on this Unix socket instead of spawning one (Cargo feature
    /// `attach`).
    #[cfg(feature = "attach")]
    pub fn attach(mut self, socket: impl Into<PathBuf>) -> Self {
        self.endpoint = Endpoint::Attach(socket.into());
        self
    }

    /// Attach to a remote server over `ws://` / `wss://` instead of spawning one (Cargo feature
    /// `remote`).
    #[cfg(feature = "remote")]
    pub fn attach_remote(mut self, remote: impl Into<transport::remote::RemoteEndpoint>) -> Self {
        self.endpoint = Endpoint::Remote(remote.into());
        self
    }

    /// Opt in to the experimental API.
    pub fn enable_experimental_api(mut self) -> Self {
        self.experimental_api = true;
        self
    }

    /// Restart a crashed server with this policy.
    pub fn with_restart(mut self, policy: RestartPolicy) -> Self {
        self.restart = Some(policy);
        self
    }

    /// Start a fresh app-server on the next request after the current one exited or was
    /// parked (see [`RuntimeConfig::restart_on_demand`]).
    pub fn with_restart_on_demand(mut self) -> Self {
        self.restart_on_demand = true;
        self
    }

    /// Asks the server not to send these notification methods.
    pub fn opt_out_notifications<I, S>(mut self, methods: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.opt_out_notification_methods = methods.into_iter().map(Into::into).collect();
        self
    }

    builder!(
        /// Default request timeout.
        with_request_timeout, request_timeout: Duration);
    builder!(
        /// Overload retry policy.
        with_retry, retry: RetryPolicy);
    /// `clientInfo.name` (also the first word of the server's user agent).
    pub fn with_client_name(mut self, name: impl Into<String>) -> Self {
        self.client_name = name.into();
        self
    }
    builder!(
        /// Server-request handler timeout.
        with_server_request_timeout, server_request_timeout: Duration);
    builder!(
        /// What a timed-out server request gets.
        with_server_request_timeout_action, server_request_timeout_action: TimeoutAction);
    builder!(
        /// Memory budget of each subscriber's queue in bytes (default 16 MiB). A subscriber
        /// that stays behind loses deltas, reported as `RecvError::Lagged(n)`; its memory stays
        /// bounded by this budget. Raise it to absorb longer bursts without pausing the reader,
        /// lower it to cap memory per subscriber.
        with_queue_budget_bytes, queue_budget_bytes: usize);
    builder!(
        /// Longest pause of the reader for a full subscriber that has caught up since its last
        /// overflow (default 250 ms; `Duration::ZERO`: drop at once, never pause).
        with_overflow_pause, overflow_pause: Duration);
    builder!(
        /// Per-subscriber cap, in events, for deltas (default: none; the byte budget applies).
        with_delta_capacity, delta_capacity: usize);
    builder!(
        /// Per-subscriber capacity for lifecycle events.
        with_lifecycle_capacity, lifecycle_capacity: usize);
    builder!(
        /// Maximum inbound message size.
        with_max_line_bytes, max_line_bytes: usize);
    builder!(
        /// Shutdown grace period.
        with_shutdown_grace, shutdown_grace: Duration);
    builder!(
        /// What `initialize` does with a codex newer than the tested window:
        /// [`VersionPolicy::AcceptNewer`] (the default) or [`VersionPolicy::Strict`].
        with_version_policy, version_policy: VersionPolicy);
}
