//! Layer 6: [`Runtime`], raw JSON-RPC with full control.
//!
//! `call`, `notify`, `subscribe`, `respond` and a metrics snapshot over one app-server
//! connection, with the handshake done, every request timed out, `-32001` retried, server
//! requests answered (fail-closed by default), and an optional restart policy.

mod config;
mod supervise;

use crate::error::{Error, Result};
use crate::rpc::connection::{closed_to_error, Connection, ProtocolIssue, Shared};
use crate::rpc::metrics::MetricsSnapshot;
use crate::rpc::router::{Subscription, Topic};
use crate::rpc::server_requests::{
    IncomingServerRequest, ServerRequestHandler, ServerRequestReply,
};
use crate::rpc::RpcErrorObject;
use crate::transport::Transport;
use codex_runtime_protocol::{ClientRequest, RequestId};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex as StdMutex, RwLock};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};

pub use super::versions::{CodexVersionInfo, VersionPolicy, MAX_CODEX_VERSION, MIN_CODEX_VERSION};

/// Protocol issues [`Runtime::protocol_issues`] keeps for a receiver that falls behind. A tokio
/// broadcast channel allocates and initialises every slot up front, and issues are rare, so this
/// is small (it was 256: 14 KiB touched by every runtime).
pub const PROTOCOL_ISSUE_CAPACITY: usize = 64;
pub use config::{Endpoint, ReconnectPolicy, RestartPolicy, RuntimeConfig};
use supervise::{handshake, new_shared, open_transport, supervise, ResponderEntry, Responders};

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
    /// Held while an on-demand restart (or a park) is under way, so only one starts.
    revive: tokio::sync::Mutex<()>,
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
        config.restart_on_demand = false;
        Self::start(config, shared, transport).await
    }

    async fn start(
        config: RuntimeConfig,
        shared: Arc<Shared>,
        transport: Transport,
    ) -> Result<Runtime> {
        let on_demand = config.restart_on_demand && matches!(config.endpoint, Endpoint::Spawn);
        let restartable = on_demand || (config.restart.is_some() && config.endpoint.restartable());
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
            revive: tokio::sync::Mutex::new(()),
        });
        if restartable && !on_demand {
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

    /// The connected codex's version, from its user agent (`None` when it did not say), and
    /// whether it is untested ([`CodexVersionInfo::is_untested`]: newer than
    /// [`MAX_CODEX_VERSION`], accepted under [`VersionPolicy::AcceptNewer`]).
    pub fn codex_version(&self) -> Option<CodexVersionInfo> {
        let version = match self.inner.init.read() {
            Ok(i) => i.codex_version(),
            Err(p) => p.into_inner().codex_version(),
        };
        version.map(CodexVersionInfo::new)
    }

    /// Fails with [`Error::MethodUnavailable`] before sending when the connected codex does not
    /// have `method` (see [`super::versions`]).
    fn check_method(&self, method: &str) -> Result<()> {
        super::versions::check_method(
            self.codex_version().map(|v| v.version()),
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
        self.ensure_connected().await?;
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
        self.ensure_connected().await?;
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
        self.ensure_connected().await?;
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

    /// Protocol problems (malformed or oversize lines, decode fallbacks), as they happen. The
    /// channel keeps the last [`PROTOCOL_ISSUE_CAPACITY`]; a receiver further behind gets
    /// `Lagged(n)` and then the newest ones ([`MetricsSnapshot`]
    /// counts every issue).
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

    /// Resolves once [`Runtime::shutdown`] was called (at once when it already was).
    pub async fn shutdown_requested(&self) {
        let notified = self.inner.shutdown_signal.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if self
            .inner
            .shutting_down
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            return;
        }
        notified.await;
    }

    /// True while the current app-server connection is open (false after a crash, a
    /// [`Runtime::park`] or [`Runtime::shutdown`]).
    pub fn is_connected(&self) -> bool {
        self.conn().closed().borrow().is_none()
    }

    /// Stops the current app-server gracefully (like [`Runtime::shutdown`]) but keeps the
    /// runtime: with [`RuntimeConfig::restart_on_demand`] the next request starts a fresh one
    /// (sessions resume their threads on it). Call it only while no turn runs: a running turn
    /// fails as on a crash. Without `restart_on_demand` it is [`Error::Config`].
    pub async fn park(&self) -> Result<()> {
        if !self.inner.config.restart_on_demand {
            return Err(Error::Config(
                "Runtime::park needs RuntimeConfig::restart_on_demand".into(),
            ));
        }
        let _revive = self.inner.revive.lock().await;
        let conn = self.conn();
        conn.shutdown(self.inner.config.shutdown_grace).await;
        tracing::debug!("parked the codex app-server");
        Ok(())
    }

    /// With [`RuntimeConfig::restart_on_demand`]: when the app-server has exited (crashed or
    /// parked), starts a fresh one and completes its handshake (the generation goes up by
    /// one). Requests call it themselves; a no-op while connected or without the option.
    pub async fn ensure_connected(&self) -> Result<()> {
        let inner = &self.inner;
        if !inner.config.restart_on_demand || self.is_connected() {
            return Ok(());
        }
        let _revive = inner.revive.lock().await;
        if self.is_connected() {
            return Ok(());
        }
        if inner
            .shutting_down
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            return Err(Error::Shutdown);
        }
        let transport = open_transport(&inner.config).await?;
        let conn = Arc::new(Connection::start(
            transport,
            Arc::clone(&inner.shared),
            inner.config.retry,
            false,
        ));
        let init = match handshake(&conn, &inner.config).await {
            Ok(init) => init,
            Err(err) => {
                conn.shutdown(inner.config.shutdown_grace).await;
                return Err(err);
            }
        };
        let swapped = match inner.conn.write() {
            Ok(mut c)
                if !inner
                    .shutting_down
                    .load(std::sync::atomic::Ordering::SeqCst) =>
            {
                *c = Arc::clone(&conn);
                let generation = inner
                    .generation
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                    + 1;
                if let Ok(mut r) = inner.responders.lock() {
                    r.retain(|(g, _), _| *g == generation);
                }
                true
            }
            _ => false,
        };
        if !swapped {
            conn.shutdown(inner.config.shutdown_grace).await;
            return Err(Error::Shutdown);
        }
        crate::rpc::metrics::Metrics::inc(&inner.shared.metrics.restarts);
        if let Ok(mut i) = inner.init.write() {
            *i = init;
        }
        tracing::debug!(pid = ?conn.pid(), "started a codex app-server on demand");
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
