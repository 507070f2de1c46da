//! Layer 5: [`AppServer`], typed JSON-RPC helpers for every method plus the server-request loop.
//!
//! Every client method is reachable three ways: [`AppServer::request`] with its typed params
//! (`ThreadStartParams` names `thread/start` and its result type), [`AppServer::request_json`]
//! with a method constant from [`crate::rpc_methods`], and named helpers for the common ones
//! (`thread_*`, `turn_*`, `command_exec*`, `model_list`, `config_read`, `account_read`, `fs_*`).

use crate::error::Result;
use crate::rpc::server_requests::{IncomingServerRequest, ServerRequestHandler};
use crate::rpc::{MetricsSnapshot, RpcErrorObject, Subscription};
use crate::runtime::raw::{CodexVersionInfo, InitializeInfo, Runtime, RuntimeConfig};
use codex_runtime_protocol::*;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// A connected app-server with typed helpers. Cheap to clone.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use codex_runtime::{AppServer, rpc_methods};
/// use codex_runtime::runtime::CommandExecParams;
/// let app = AppServer::connect_default().await?;
/// app.request_json(rpc_methods::THREAD_START, serde_json::json!({"cwd": "/tmp", "sandbox": "read-only"})).await?;
/// let exec = app.command_exec(CommandExecParams {
///     command: vec!["pwd".into()],
///     cwd: Some("/tmp".into()),
///     ..CommandExecParams::default()
/// }).await?;
/// println!("{}", exec.stdout);
/// app.shutdown().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct AppServer {
    runtime: Runtime,
}

macro_rules! typed_helpers {
    ($($(#[$m:meta])* $name:ident => $params:ty;)*) => {
        impl AppServer {
            $(
                $(#[$m])*
                pub async fn $name(&self, params: $params) -> Result<<$params as ClientRequest>::Response> {
                    self.runtime.request(&params).await
                }
            )*
        }
    };
}

impl AppServer {
    /// Spawns (or attaches to) an app-server per `config` and initializes it.
    pub async fn connect(config: RuntimeConfig) -> Result<AppServer> {
        Ok(AppServer {
            runtime: Runtime::connect(config).await?,
        })
    }

    /// Spawns `codex app-server` found via `CODEX_BIN` or `PATH`, with default settings.
    pub async fn connect_default() -> Result<AppServer> {
        Self::connect(RuntimeConfig::default()).await
    }

    /// Wraps an existing runtime.
    pub fn from_runtime(runtime: Runtime) -> AppServer {
        AppServer { runtime }
    }

    /// The layer-6 runtime underneath.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// What the server said at `initialize`.
    pub fn init_info(&self) -> InitializeInfo {
        self.runtime.init_info()
    }

    /// The connected codex's version (`None` when its user agent did not say), and whether
    /// the SDK was tested against it ([`CodexVersionInfo::is_untested`]).
    pub fn codex_version(&self) -> Option<CodexVersionInfo> {
        self.runtime.codex_version()
    }

    /// Any method with JSON params; returns the JSON result.
    pub async fn request_json(&self, method: &str, params: Value) -> Result<Value> {
        self.runtime.call(method, params).await
    }

    /// [`AppServer::request_json`] with an explicit timeout.
    pub async fn request_json_with_timeout(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value> {
        self.runtime
            .call_with_timeout(method, params, timeout)
            .await
    }

    /// Any method, typed: the params type names the method and the result type.
    pub async fn request<P: ClientRequest + Sync>(&self, params: &P) -> Result<P::Response> {
        self.runtime.request(params).await
    }

    /// A typed request with an explicit timeout (e.g. long `command/exec`).
    pub async fn request_with_timeout<P: ClientRequest + Sync>(
        &self,
        params: &P,
        timeout: Duration,
    ) -> Result<P::Response> {
        self.runtime
            .call_typed(P::METHOD, params, Some(timeout))
            .await
    }

    /// Every notification.
    pub fn subscribe(&self) -> Subscription {
        self.runtime.subscribe()
    }

    /// One thread's notifications.
    pub fn subscribe_thread(&self, thread_id: &str) -> Subscription {
        self.runtime.subscribe_thread(thread_id)
    }

    /// The server-request loop: requests arrive on the returned channel; answer each with
    /// [`AppServer::respond`]. Unanswered ones get the fail-closed default after the timeout.
    pub fn server_requests(&self, capacity: usize) -> mpsc::Receiver<IncomingServerRequest> {
        self.runtime.server_requests(capacity)
    }

    /// Answers a server request from [`AppServer::server_requests`].
    pub fn respond(
        &self,
        id: &RequestId,
        outcome: std::result::Result<Value, RpcErrorObject>,
    ) -> Result<()> {
        self.runtime.respond(id, outcome)
    }

    /// Installs a handler for server requests instead of the channel loop.
    pub fn set_server_request_handler(&self, handler: Option<Arc<dyn ServerRequestHandler>>) {
        self.runtime.set_server_request_handler(handler)
    }

    /// Counters.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.runtime.metrics()
    }

    /// Graceful stop: close stdin, wait, kill after the grace period.
    pub async fn shutdown(&self) -> Result<()> {
        self.runtime.shutdown().await
    }
}

typed_helpers! {
    /// `thread/start`.
    thread_start => ThreadStartParams;
    /// `thread/resume`.
    thread_resume => ThreadResumeParams;
    /// `thread/fork`.
    thread_fork => ThreadForkParams;
    /// `thread/archive`.
    thread_archive => ThreadArchiveParams;
    /// `thread/unarchive`.
    thread_unarchive => ThreadUnarchiveParams;
    /// `thread/delete`.
    thread_delete => ThreadDeleteParams;
    /// `thread/name/set`.
    thread_set_name => ThreadSetNameParams;
    /// `thread/read`.
    thread_read => ThreadReadParams;
    /// `thread/list`.
    thread_list => ThreadListParams;
    /// `thread/loaded/list`.
    thread_loaded_list => ThreadLoadedListParams;
    /// `thread/turns/list`.
    thread_turns_list => ThreadTurnsListParams;
    /// `thread/compact/start`.
    thread_compact_start => ThreadCompactStartParams;
    /// `thread/revert`.
    thread_revert => ThreadRevertParams;
    /// `thread/unsubscribe`.
    thread_unsubscribe => ThreadUnsubscribeParams;
    /// `thread/shellCommand`.
    thread_shell_command => ThreadShellCommandParams;
    /// `turn/start`.
    turn_start => TurnStartParams;
    /// `turn/steer`.
    turn_steer => TurnSteerParams;
    /// `turn/interrupt`.
    turn_interrupt => TurnInterruptParams;
    /// `command/exec` (a standalone command in the server sandbox). Uses the default request
    /// timeout; for long commands use [`AppServer::request_with_timeout`].
    command_exec => CommandExecParams;
    /// `command/exec/write`.
    command_exec_write => CommandExecWriteParams;
    /// `command/exec/terminate`.
    command_exec_terminate => CommandExecTerminateParams;
    /// `command/exec/resize`.
    command_exec_resize => CommandExecResizeParams;
    /// `model/list`.
    model_list => ModelListParams;
    /// `config/read`.
    config_read => ConfigReadParams;
    /// `config/value/write`.
    config_value_write => ConfigValueWriteParams;
    /// `account/read`.
    account_read => GetAccountParams;
    /// `fs/readFile`.
    fs_read_file => FsReadFileParams;
    /// `fs/writeFile`.
    fs_write_file => FsWriteFileParams;
    /// `fs/createDirectory`.
    fs_create_directory => FsCreateDirectoryParams;
    /// `fs/getMetadata`.
    fs_get_metadata => FsGetMetadataParams;
    /// `fs/readDirectory`.
    fs_read_directory => FsReadDirectoryParams;
    /// `fs/remove`.
    fs_remove => FsRemoveParams;
    /// `fs/copy`.
    fs_copy => FsCopyParams;
    /// `fs/watch`.
    fs_watch => FsWatchParams;
    /// `fs/unwatch`.
    fs_unwatch => FsUnwatchParams;
    /// `modelProvider/default/set` (codex ≥ 0.171.0): makes a configured provider the default;
    /// answers like `config/value/write`.
    model_provider_default_set => ModelProviderDefaultSetParams;
    /// `thread/search/stream` (experimental, codex ≥ 0.171.0): the matches arrive as
    /// `thread/search/partial` notifications carrying the same `requestId`.
    #[cfg(feature = "experimental")]
    thread_search_stream => generated::client_requests::ThreadSearchStreamParams;
    /// `thread/search/cancel` (experimental, codex ≥ 0.171.0).
    #[cfg(feature = "experimental")]
    thread_search_cancel => ThreadSearchCancelParams;
    /// `thread/search/stream/cancel` (experimental, codex ≥ 0.171.0).
    #[cfg(feature = "experimental")]
    thread_search_stream_cancel => generated::client_requests::ThreadSearchStreamCancelParams;
    /// `thread/realtime/list` (experimental, codex ≥ 0.171.0).
    #[cfg(feature = "experimental")]
    thread_realtime_list => ThreadRealtimeListParams;
}
