//! Layer 6: [`Runtime`], raw JSON-RPC with full control.
//!
//! `call`, `notify`, `subscribe`, `respond` and a metrics snapshot over one app-server
//! connection, with the handshake done, every request timed out, `-32001` retried, server
//! requests answered (fail-closed by default), and an optional restart policy.

use crate::error::{Error, Result};
use crate::rpc::connection::{closed_to_error, Connection, ProtocolIssue, Shared};
use crate::rpc::metrics::{Metrics, MetricsSnapshot};
use crate::rpc::router::{
    QueueLimits, Router, Subscription, Topic, DEFAULT_DELTA_CAPACITY, DEFAULT_LIFECYCLE_CAPACITY,
    DEFAULT_OVERFLOW_PAUSE, DEFAULT_QUEUE_BUDGET_BYTES,
};
use crate::rpc::server_requests::{
    HandlerRegistry, IncomingServerRequest, ServerRequestHandler, ServerRequestReply, TimeoutAction,
};
use crate::rpc::{RetryPolicy, RpcErrorObject};
use crate::transport::{self, binary, stdio::StdioConfig, Transport};
use codex_runtime_protocol::{ClientRequest, RequestId};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex as StdMutex, RwLock, Weak};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};

pub use super::versions::{MAX_CODEX_VERSION, MIN_CODEX_VERSION};

/// Where the runtime's app-server comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Endpoint {
    /// Spawn `codex app-server` (the default).
    Spawn,
    /// Attach to a server listening on this Unix socket (`codex app-server --listen unix://PATH`
    /// or the daemon's control socket).
    Attach(PathBuf),
    /// Attach to a remote server over `ws://` or `wss://` (`codex app-server --listen
    /// ws://IP:PORT`), with an optional bearer token. With a restart policy set, a lost
    /// connection is re-established with the same backoff (see [`ReconnectPolicy`]).
    Remote(transport::remote::RemoteEndpoint),
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

/// Configuration of a [`Runtime`]. Every field has a safe default; use the `with_*` builders.
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
            queue_budget_bytes: DEFAULT_QUEUE_BUDGET_BYTES,
            overflow_pause: DEFAULT_OVERFLOW_PAUSE,
            delta_capacity: DEFAULT_DELTA_CAPACITY,
            lifecycle_capacity: DEFAULT_LIFECYCLE_CAPACITY,
            max_line_bytes: transport::DEFAULT_MAX_LINE_BYTES,
            shutdown_grace: Duration::from_secs(3),
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

    /// Attach to a running server on this Unix socket instead of spawning one.
    pub fn attach(mut self, socket: impl Into<PathBuf>) -> Self {
        self.endpoint = Endpoint::Attach(socket.into());
        self
    }

    /// Attach to a remote server over `ws://` / `wss://` instead of spawning one.
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
}

/// What the server said at `initialize`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct InitializeInfo {
    /// e.g. `codex_runtime/0.169.0 (Debian 12.0.0; x86_64) ...`.
    pub user_agent: String,
    /// The server's `CODEX_HOME`.
    #[serde(default)]
    pub codex_home: Option<String>,
    /// `unix` / `windows`.
    #[serde(default)]
    pub platform_family: Option<String>,
    /// `linux` / `macos` / ...
    #[serde(default)]
    pub platform_os: Option<String>,
}

impl InitializeInfo {
    /// The codex version parsed from the user agent (`name/X.Y.Z ...`).
    pub fn codex_version(&self) -> Option<(u64, u64, u64)> {
        parse_version(&self.user_agent)
    }
}

fn parse_version(user_agent: &str) -> Option<(u64, u64, u64)> {
    let after = user_agent.split_once('/')?.1;
    let token = after.split(|c: char| c.is_whitespace()).next()?;
    super::versions::parse_version(token)
}

struct Inner {
    config: RuntimeConfig,
    conn: RwLock<Arc<Connection>>,
    shared: Arc<Shared>,
    init: RwLock<InitializeInfo>,
    shutting_down: std::sync::atomic::AtomicBool,
    /// Wakes the supervisor out of a restart backoff when `shutdown()` is called.
    shutdown_signal: tokio::sync::Notify,
    /// 0 for the first connection, one more for every restart.
    generation: Arc<AtomicU64>,
    responders: Responders,
}

/// Layer 6: one app-server connection with raw JSON-RPC access. Cheap to clone; the child is
/// killed when the last clone is dropped (prefer [`Runtime::shutdown`] for a graceful stop).
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("pid", &self.pid())
            .field("user_agent", &self.init_info().user_agent)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Spawns (or attaches to) an app-server and completes the `initialize` handshake.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), codex_runtime::Error> {
    /// use codex_runtime::runtime::{Runtime, RuntimeConfig};
    /// let rt = Runtime::connect(RuntimeConfig::new()).await?;
    /// let models = rt.call("model/list", serde_json::json!({})).await?;
    /// println!("{models}");
    /// rt.shutdown().await?;
    /// # Ok(()) }
    /// ```
    #[tracing::instrument(level = "debug", skip(config), fields(endpoint = ?config.endpoint))]
    pub async fn connect(config: RuntimeConfig) -> Result<Runtime> {
        let shared = new_shared(&config);
        let transport = open_transport(&config).await?;
        Self::start(config, shared, transport).await
    }

    /// Runs the runtime over a transport you built (an in-memory pipe, a custom socket...).
    pub async fn connect_transport(config: RuntimeConfig, transport: Transport) -> Result<Runtime> {
        let shared = new_shared(&config);
        let mut config = config;
        config.restart = None;
        Self::start(config, shared, transport).await
    }

    async fn start(
        config: RuntimeConfig,
        shared: Arc<Shared>,
        transport: Transport,
    ) -> Result<Runtime> {
        let restartable = config.restart.is_some()
            && matches!(config.endpoint, Endpoint::Spawn | Endpoint::Remote(_));
        let conn = Arc::new(Connection::start(
            transport,
            Arc::clone(&shared),
            config.retry,
            !restartable,
        ));
        let init = handshake(&conn, &config).await?;
        let inner = Arc::new(Inner {
            config,
            conn: RwLock::new(Arc::clone(&conn)),
            shared,
            init: RwLock::new(init),
            shutting_down: std::sync::atomic::AtomicBool::new(false),
            shutdown_signal: tokio::sync::Notify::new(),
            generation: Arc::new(AtomicU64::new(0)),
            responders: Arc::new(StdMutex::new(HashMap::new())),
        });
        if restartable {
            tokio::spawn(supervise(Arc::downgrade(&inner), conn.closed()));
        }
        Ok(Runtime { inner })
    }

    fn conn(&self) -> Arc<Connection> {
        match self.inner.conn.read() {
            Ok(c) => Arc::clone(&c),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// The configuration this runtime was started with.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// What the server reported at `initialize`.
    pub fn init_info(&self) -> InitializeInfo {
        match self.inner.init.read() {
            Ok(i) => i.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// The connection generation: 0 for the first app-server, one more after every restart
    /// (see [`RestartPolicy`]). Threads opened on an older generation must be resumed
    /// (`thread/resume`) before use; sessions do that themselves.
    pub fn generation(&self) -> u64 {
        self.inner
            .generation
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The pid of the spawned codex (also its process group id), if spawned.
    pub fn pid(&self) -> Option<u32> {
        self.conn().pid()
    }

    /// The connected codex's version, from its user agent (`None` when it did not say).
    pub fn codex_version(&self) -> Option<(u64, u64, u64)> {
        match self.inner.init.read() {
            Ok(i) => i.codex_version(),
            Err(p) => p.into_inner().codex_version(),
        }
    }

    /// Fails with [`Error::MethodUnavailable`] before sending when the connected codex does not
    /// have `method` (see [`super::versions`]).
    fn check_method(&self, method: &str) -> Result<()> {
        super::versions::check_method(
            self.codex_version(),
            method,
            self.inner.config.experimental_api,
        )
    }

    /// Calls `method` with `params` and returns the raw result, with the default timeout.
    ///
    /// # Cancel safety
    /// Dropping the future removes the call from the pending map; the server may still act on
    /// the request, and its late reply is discarded.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value> {
        self.call_with_timeout(method, params, self.inner.config.request_timeout)
            .await
    }

    /// [`Runtime::call`] with an explicit timeout.
    #[tracing::instrument(level = "debug", skip(self, params))]
    pub async fn call_with_timeout(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value> {
        self.check_method(method)?;
        let raw = self.conn().call_raw(method, &params, timeout).await?;
        serde_json::from_str(raw.get()).map_err(|source| Error::Decode {
            method: method.to_string(),
            source,
        })
    }

    /// Calls with any serializable params and decodes the result into `R`.
    #[tracing::instrument(level = "debug", skip(self, params))]
    pub async fn call_typed<P: Serialize + ?Sized + Sync, R: DeserializeOwned>(
        &self,
        method: &str,
        params: &P,
        timeout: Option<Duration>,
    ) -> Result<R> {
        self.check_method(method)?;
        let timeout = timeout.unwrap_or(self.inner.config.request_timeout);
        let raw = self.conn().call_raw(method, params, timeout).await?;
        serde_json::from_str(raw.get()).map_err(|source| Error::Decode {
            method: method.to_string(),
            source,
        })
    }

    /// A typed request: the params type names its method and result type.
    pub async fn request<P: ClientRequest + Sync>(&self, params: &P) -> Result<P::Response> {
        self.call_typed(P::METHOD, params, None).await
    }

    /// Sends a notification.
    pub async fn notify(&self, method: &str, params: Value) -> Result<()> {
        self.conn().notify(method, &params).await
    }

    /// Every notification, in order.
    pub fn subscribe(&self) -> Subscription {
        self.inner.shared.router.subscribe(Topic::All)
    }

    /// The notifications of one thread.
    pub fn subscribe_thread(&self, thread_id: &str) -> Subscription {
        self.inner
            .shared
            .router
            .subscribe(Topic::Thread(thread_id.to_string()))
    }

    /// The notifications of one turn.
    pub fn subscribe_turn(&self, turn_id: &str) -> Subscription {
        self.inner
            .shared
            .router
            .subscribe(Topic::Turn(turn_id.to_string()))
    }

    /// Protocol problems (malformed or oversize lines, decode fallbacks), as they happen.
    pub fn protocol_issues(&self) -> broadcast::Receiver<ProtocolIssue> {
        self.inner.shared.issues.subscribe()
    }

    /// Sets the handler for server requests that no thread handler claims (`None` restores the
    /// fail-closed default).
    pub fn set_server_request_handler(&self, handler: Option<Arc<dyn ServerRequestHandler>>) {
        self.inner.shared.handlers.set_global(handler);
    }

    /// Sets the handler for one thread's server requests.
    pub fn set_thread_handler(
        &self,
        thread_id: &str,
        handler: Option<Arc<dyn ServerRequestHandler>>,
    ) {
        self.inner.shared.handlers.set_thread(thread_id, handler);
    }

    /// Routes server requests (not claimed by a thread handler) to a channel you read, and
    /// answer with [`Runtime::respond`]. Unanswered requests get the fail-closed default after
    /// the server-request timeout.
    pub fn server_requests(&self, capacity: usize) -> mpsc::Receiver<IncomingServerRequest> {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let responders = Arc::clone(&self.inner.responders);
        let generation = Arc::clone(&self.inner.generation);
        let handler = move |req: IncomingServerRequest| {
            let tx = tx.clone();
            let responders = Arc::clone(&responders);
            // Request ids restart at 0 on every connection: the key carries the connection's
            // generation so a restarted server's requests never collide with older ones.
            let key = (
                generation.load(std::sync::atomic::Ordering::SeqCst),
                req.id.clone(),
            );
            async move {
                let (reply_tx, reply_rx) = oneshot::channel();
                if let Ok(mut r) = responders.lock() {
                    r.insert(key.clone(), reply_tx);
                }
                // Removes the responder however this ends (answer, timeout, channel closed).
                let _entry = ResponderEntry {
                    responders: Arc::clone(&responders),
                    key,
                };
                if tx.send(req).await.is_err() {
                    return ServerRequestReply::Decline;
                }
                reply_rx.await.unwrap_or(ServerRequestReply::Decline)
            }
        };
        self.set_server_request_handler(Some(Arc::new(handler)));
        rx
    }

    /// Answers a server request received from [`Runtime::server_requests`].
    ///
    /// The answer goes to the request with this id on the current connection. Requests of a
    /// crashed server can no longer be answered (their connection is gone), and request ids
    /// restart at 0 on a restarted server: compare [`Runtime::generation`] from when the
    /// request arrived with the current one before answering a request that may predate a
    /// restart.
    pub fn respond(
        &self,
        id: &RequestId,
        outcome: std::result::Result<Value, RpcErrorObject>,
    ) -> Result<()> {
        let key = (self.generation(), id.clone());
        let tx = self
            .inner
            .responders
            .lock()
            .ok()
            .and_then(|mut r| r.remove(&key));
        match tx {
            Some(tx) => {
                let reply = match outcome {
                    Ok(v) => ServerRequestReply::Result(v),
                    Err(e) => ServerRequestReply::Error(e),
                };
                tx.send(reply)
                    .map_err(|_| Error::AlreadyAnswered { id: id.to_string() })
            }
            None => Err(Error::AlreadyAnswered { id: id.to_string() }),
        }
    }

    /// Counters: pending calls, messages in/out, malformed lines, lag drops, restarts...
    pub fn metrics(&self) -> MetricsSnapshot {
        self.inner
            .shared
            .metrics
            .snapshot(self.conn().pending_len() as u64)
    }

    /// Graceful stop: close stdin, wait for the child to exit, kill it after the grace period.
    /// Pending calls fail with [`Error::TransportClosed`]. Idempotent.
    pub async fn shutdown(&self) -> Result<()> {
        // Under the connection lock, so a restart either sees the flag or has already swapped
        // in its new connection (which is then the one shut down here).
        let guard = self.inner.conn.write();
        self.inner
            .shutting_down
            .store(true, std::sync::atomic::Ordering::SeqCst);
        drop(guard);
        self.inner.shutdown_signal.notify_waiters();
        let conn = self.conn();
        conn.shutdown(self.inner.config.shutdown_grace).await;
        self.inner
            .shared
            .router
            .close_all(crate::rpc::CloseReason::ConnectionClosed);
        Ok(())
    }

    /// Waits until the current connection closes and returns why (as an error value).
    pub async fn closed(&self) -> Error {
        let mut rx = self.conn().closed();
        let info = match rx.wait_for(Option::is_some).await {
            Ok(info) => info.clone(),
            Err(_) => None,
        };
        match info {
            Some(i) => closed_to_error(&i),
            None => Error::Shutdown,
        }
    }
}

/// The state every connection of one runtime shares (it survives restarts).
fn new_shared(config: &RuntimeConfig) -> Arc<Shared> {
    let metrics = Arc::new(Metrics::default());
    Arc::new(Shared {
        router: Arc::new(Router::new(
            Arc::clone(&metrics),
            QueueLimits {
                budget_bytes: config.queue_budget_bytes,
                delta_capacity: config.delta_capacity,
                lifecycle_capacity: config.lifecycle_capacity,
                overflow_pause: config.overflow_pause,
            },
        )),
        handlers: Arc::new(HandlerRegistry::new(
            config.server_request_timeout,
            config.server_request_timeout_action,
        )),
        metrics,
        issues: broadcast::channel(256).0,
        seq: AtomicU64::new(0),
    })
}

/// Pending answers of [`Runtime::server_requests`], by (connection generation, request id).
type Responders = Arc<StdMutex<HashMap<(u64, RequestId), oneshot::Sender<ServerRequestReply>>>>;

/// Drops a pending responder when its request is over, so unanswered requests leave nothing
/// behind.
struct ResponderEntry {
    responders: Responders,
    key: (u64, RequestId),
}

impl Drop for ResponderEntry {
    fn drop(&mut self) {
        if let Ok(mut r) = self.responders.lock() {
            r.remove(&self.key);
        }
    }
}

async fn open_transport(config: &RuntimeConfig) -> Result<Transport> {
    match &config.endpoint {
        Endpoint::Attach(path) => transport::attach::connect(path, config.max_line_bytes).await,
        Endpoint::Remote(remote) => transport::remote::connect(remote, config.max_line_bytes).await,
        Endpoint::Spawn => {
            let bin = binary::resolve_codex_binary(config.cli_bin.as_deref())?;
            let mut sc = StdioConfig::new(bin);
            sc.args = config.args.clone();
            sc.env = config.env.clone();
            sc.codex_home = config.codex_home.clone();
            sc.cwd = config.cwd.clone();
            sc.max_line_bytes = config.max_line_bytes;
            transport::stdio::spawn(&sc)
        }
    }
}

async fn handshake(conn: &Connection, config: &RuntimeConfig) -> Result<InitializeInfo> {
    let mut client_info = serde_json::json!({
        "name": config.client_name,
        "version": config.client_version,
    });
    if let Some(t) = &config.client_title {
        client_info["title"] = Value::String(t.clone());
    }
    let mut capabilities = serde_json::json!({});
    if config.experimental_api {
        capabilities["experimentalApi"] = Value::Bool(true);
    }
    if !config.opt_out_notification_methods.is_empty() {
        capabilities["optOutNotificationMethods"] =
            serde_json::to_value(&config.opt_out_notification_methods).unwrap_or(Value::Null);
    }
    let params = serde_json::json!({"clientInfo": client_info, "capabilities": capabilities});
    let raw = conn
        .call_raw("initialize", &params, config.request_timeout)
        .await?;
    let info: InitializeInfo = serde_json::from_str(raw.get()).map_err(|source| Error::Decode {
        method: "initialize".to_string(),
        source,
    })?;
    match info.codex_version() {
        Some(v) => super::versions::check_window(v, &info.user_agent)?,
        None => {
            tracing::warn!(user_agent = %info.user_agent, "cannot read the codex version from the user agent")
        }
    }
    conn.notify("initialized", &serde_json::json!({})).await?;
    tracing::debug!(user_agent = %info.user_agent, "initialized");
    Ok(info)
}

async fn supervise(
    inner: Weak<Inner>,
    mut closed: tokio::sync::watch::Receiver<Option<crate::rpc::pending::ClosedInfo>>,
) {
    let mut restarts = 0u32;
    loop {
        if closed.wait_for(Option::is_some).await.is_err() {
            return;
        }
        let Some(rt) = inner.upgrade() else { return };
        if rt.shutting_down.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let Some(policy) = rt.config.restart else {
            return;
        };
        let mut next = None;
        while restarts < policy.max_restarts {
            restarts += 1;
            let delay =
                codex_automation::Backoff::exponential(policy.initial_backoff, policy.max_backoff)
                    .delay(restarts);
            tracing::warn!(restarts, ?delay, "codex app-server exited; restarting");
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = rt.shutdown_signal.notified() => {}
            }
            if rt.shutting_down.load(std::sync::atomic::Ordering::SeqCst) {
                tracing::debug!("shutdown during the restart backoff: not restarting");
                return;
            }
            let attempt = async {
                let transport = open_transport(&rt.config).await?;
                let conn = Arc::new(Connection::start(
                    transport,
                    Arc::clone(&rt.shared),
                    rt.config.retry,
                    false,
                ));
                let init = handshake(&conn, &rt.config).await?;
                Ok::<_, Error>((conn, init))
            };
            match attempt.await {
                Ok(pair) => {
                    next = Some(pair);
                    break;
                }
                Err(e) => tracing::warn!("restart failed: {e}"),
            }
        }
        match next {
            Some((conn, init)) => {
                // A shutdown that landed while this server was starting: stop it, keep none.
                let stale = match rt.conn.write() {
                    Ok(mut c) if !rt.shutting_down.load(std::sync::atomic::Ordering::SeqCst) => {
                        *c = Arc::clone(&conn);
                        let generation = rt
                            .generation
                            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                            + 1;
                        // Requests of the crashed server can no longer be answered.
                        if let Ok(mut r) = rt.responders.lock() {
                            r.retain(|(g, _), _| *g == generation);
                        }
                        false
                    }
                    _ => true,
                };
                if stale {
                    tracing::debug!("shutdown while restarting: stopping the new app-server");
                    conn.shutdown(rt.config.shutdown_grace).await;
                    return;
                }
                Metrics::inc(&rt.shared.metrics.restarts);
                closed = conn.closed();
                if let Ok(mut i) = rt.init.write() {
                    *i = init;
                }
            }
            None => {
                tracing::error!("codex app-server could not be restarted; giving up");
                rt.shared
                    .router
                    .close_all(crate::rpc::CloseReason::ConnectionClosed);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions_from_user_agents() {
        assert_eq!(
            parse_version("t/0.169.0 (Debian 12.0.0; x86_64) xterm (t; 0)"),
            Some((0, 169, 0))
        );
        assert_eq!(
            parse_version("codex_runtime/1.2.3-alpha.1 (x)"),
            Some((1, 2, 3))
        );
        assert_eq!(parse_version("no version here"), None);
    }
}
