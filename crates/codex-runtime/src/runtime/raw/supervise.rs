//! The connection lifecycle of a [`Runtime`](super::Runtime): the shared state that survives
//! restarts, opening the transport, the `initialize` handshake, and the restart supervisor.

use super::{Endpoint, InitializeInfo, Inner, RuntimeConfig};
use crate::error::{Error, Result};
use crate::rpc::connection::{Connection, Shared};
use crate::rpc::metrics::Metrics;
use crate::rpc::router::{QueueLimits, Router};
use crate::rpc::server_requests::{HandlerRegistry, ServerRequestReply};
use crate::transport::{self, binary, stdio::StdioConfig, Transport};
use codex_runtime_protocol::RequestId;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex as StdMutex, Weak};
use tokio::sync::{broadcast, oneshot};

/// The state every connection of one runtime shares (it survives restarts).
pub(super) fn new_shared(config: &RuntimeConfig) -> Arc<Shared> {
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
        issues: broadcast::channel(super::PROTOCOL_ISSUE_CAPACITY).0,
        seq: AtomicU64::new(0),
    })
}

/// Pending answers of [`Runtime::server_requests`](super::Runtime::server_requests), by (connection generation, request id).
pub(super) type Responders =
    Arc<StdMutex<HashMap<(u64, RequestId), oneshot::Sender<ServerRequestReply>>>>;

/// Drops a pending responder when its request is over, so unanswered requests leave nothing
/// behind.
pub(super) struct ResponderEntry {
    pub(super) responders: Responders,
    pub(super) key: (u64, RequestId),
}

impl Drop for ResponderEntry {
    fn drop(&mut self) {
        if let Ok(mut r) = self.responders.lock() {
            r.remove(&self.key);
        }
    }
}

pub(super) async fn open_transport(config: &RuntimeConfig) -> Result<Transport> {
    match &config.endpoint {
        #[cfg(feature = "attach")]
        Endpoint::Attach(path) => transport::attach::connect(path, config.max_line_bytes).await,
        // Boxed: the WebSocket + TLS handshake future is ~10.7 KB. Inline, it would size every
        // future that connects (`Runtime::connect`, `Client::connect`, the user's own) for the
        // remote case, and each of those is built on the stack before it is moved into its
        // parent: with it inline, a stdio client's main thread touched ~32 KiB more stack.
        #[cfg(feature = "remote")]
        Endpoint::Remote(remote) => {
            Box::pin(transport::remote::connect(remote, config.max_line_bytes)).await
        }
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

pub(super) async fn handshake(conn: &Connection, config: &RuntimeConfig) -> Result<InitializeInfo> {
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
        Some(v) => {
            crate::runtime::versions::check_window(v, &info.user_agent, config.version_policy)?;
        }
        None => {
            tracing::warn!(user_agent = %info.user_agent, "cannot read the codex version from the user agent")
        }
    }
    conn.notify("initialized", &serde_json::json!({})).await?;
    tracing::debug!(user_agent = %info.user_agent, "initialized");
    Ok(info)
}

pub(super) async fn supervise(
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
#[cfg(all(test, feature = "remote"))]
mod future_size_tests {
    use crate::runtime::client::{Client, ClientConfig};
    use crate::runtime::raw::{Runtime, RuntimeConfig};
    use crate::transport::remote::{connect, RemoteEndpoint};

    /// A future is built on the stack before it is moved into its parent (or into a task), so
    /// its size is stack every caller touches. The remote handshake (WebSocket + TLS) is boxed,
    /// so a stdio client's connect futures do not carry its ~10 KB.
    #[test]
    fn connect_futures_do_not_carry_the_remote_handshake() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let _enter = rt.enter();
        let remote = RemoteEndpoint::new("ws://127.0.0.1:1/");
        let handshake = std::mem::size_of_val(&connect(&remote, 1024));
        let runtime = std::mem::size_of_val(&Runtime::connect(RuntimeConfig::new()));
        let client = std::mem::size_of_val(&Client::connect(ClientConfig::new()));
        assert!(
            runtime < handshake / 2 && client < handshake / 2,
            "Runtime::connect {runtime} B, Client::connect {client} B, remote handshake {handshake} B"
        );
        assert!(client <= 8 * 1024, "Client::connect is {client} B");
    }
}
