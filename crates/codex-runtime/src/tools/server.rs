//! [`ToolServer`]: one session's embedded MCP server (rmcp, streamable HTTP on `127.0.0.1:0`
//! behind a random bearer token) and the `thread/start` config that registers it.

use super::call::CallEnv;
use super::mcp::McpTools;
use super::tool::Tool;
use crate::error::{Error, Result};
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::IntoResponse;
use rand::Rng;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The name the session's tools are registered under in codex (`mcp_servers.codex_runtime`);
/// the model sees a tool `t` as the function `mcp__codex_runtime__t`.
pub const TOOLS_SERVER_NAME: &str = "codex_runtime";

/// How long a stopping server may take to finish its connections before it is aborted.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// Where a session's tools are served: what an MCP client needs to connect.
#[derive(Clone)]
pub struct ToolEndpoint {
    url: String,
    token: SecretString,
}

impl std::fmt::Debug for ToolEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolEndpoint")
            .field("url", &self.url)
            .field("token", &"<redacted>")
            .finish()
    }
}

impl ToolEndpoint {
    /// The streamable-HTTP URL (`http://127.0.0.1:<port>/mcp`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The bearer token every request must carry (`Authorization: Bearer <token>`).
    pub fn bearer_token(&self) -> &SecretString {
        &self.token
    }
}

/// A running MCP server for one session's tools. Stopped by [`ToolServer::stop`], by the
/// client's shutdown, or when dropped.
pub(crate) struct ToolServer {
    endpoint: ToolEndpoint,
    cancel: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
    tool_timeout: Duration,
    pub(crate) env: Arc<CallEnv>,
}

impl std::fmt::Debug for ToolServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolServer")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

fn random_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares in time independent of where the inputs differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl ToolServer {
    /// Binds `127.0.0.1:0` and serves `tools`.
    pub(crate) async fn start(tools: Vec<Tool>, env: CallEnv) -> Result<ToolServer> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| Error::Config(format!("tools: cannot bind 127.0.0.1:0: {e}")))?;
        let addr: SocketAddr = listener
            .local_addr()
            .map_err(|e| Error::Config(format!("tools: no local address: {e}")))?;
        let tool_timeout = tools
            .iter()
            .map(Tool::timeout)
            .max()
            .unwrap_or(super::DEFAULT_TOOL_TIMEOUT);
        let env = Arc::new(env);
        let handler = McpTools::new(TOOLS_SERVER_NAME, tools, env.clone());
        let cancel = CancellationToken::new();
        let config = StreamableHttpServerConfig::default()
            .with_cancellation_token(cancel.child_token())
            .with_sse_keep_alive(Some(Duration::from_secs(15)));
        let service: StreamableHttpService<McpTools, LocalSessionManager> =
            StreamableHttpService::new(move || Ok(handler.clone()), Default::default(), config);
        let token = random_token();
        let expected = Arc::new(format!("Bearer {token}"));
        let auth = move |req: Request, next: Next| {
            let expected = expected.clone();
            async move {
                let ok = req
                    .headers()
                    .get(header::AUTHORIZATION)
                    .is_some_and(|v| same(v.as_bytes(), expected.as_bytes()));
                if ok {
                    next.run(req).await
                } else {
                    (StatusCode::UNAUTHORIZED, "missing or wrong bearer token").into_response()
                }
            }
        };
        let router = axum::Router::new()
            .nest_service("/mcp", service)
            .layer(axum::middleware::from_fn(auth));
        let stop = cancel.clone();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
            if let Err(e) = served {
                tracing::warn!("tools MCP server stopped: {e}");
            }
        });
        tracing::debug!(%addr, "tools MCP server listening");
        Ok(ToolServer {
            endpoint: ToolEndpoint {
                url: format!("http://{addr}/mcp"),
                token: SecretString::from(token),
            },
            cancel,
            task: Mutex::new(Some(task)),
            tool_timeout,
            env,
        })
    }

    /// Where the tools are served.
    pub(crate) fn endpoint(&self) -> &ToolEndpoint {
        &self.endpoint
    }

    /// The `thread/start` (and `thread/resume`) `config` entries that register this server for
    /// that thread only. codex waits a little longer than the longest tool timeout, so the
    /// tool's own timeout error reaches the model first.
    pub(crate) fn thread_config(&self) -> BTreeMap<String, Value> {
        let secs = self.tool_timeout.as_secs() + 30;
        let server = json!({
            "url": self.endpoint.url,
            "http_headers": {
                "Authorization": format!("Bearer {}", self.endpoint.token.expose_secret())
            },
            "startup_timeout_sec": 20,
            "tool_timeout_sec": secs,
            "default_tools_approval_mode": "approve",
        });
        BTreeMap::from([(format!("mcp_servers.{TOOLS_SERVER_NAME}"), server)])
    }

    /// Stops when `shutdown` resolves (the client's runtime shutting down), unless stopped first.
    pub(crate) fn stop_on<F>(&self, shutdown: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let cancel = self.cancel.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = shutdown => cancel.cancel(),
            }
        });
    }

    /// Stops the server and waits (at most 2 s, then aborts) until its port is closed.
    pub(crate) async fn stop(&self) {
        self.cancel.cancel();
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(mut task) = task {
            if tokio::time::timeout(STOP_GRACE, &mut task).await.is_err() {
                task.abort();
                let _ = task.await;
            }
        }
    }
}

impl Drop for ToolServer {
    fn drop(&mut self) {
        self.cancel.cancel();
        if let Some(task) = self.task.lock().ok().and_then(|mut t| t.take()) {
            task.abort();
        }
    }
}
