//! Layer 3: [`Client`], one app-server shared by many concurrent [`Session`]s.

use super::approvals::{ApprovalConfig, ApprovalHandler};
use super::raw::{
    CodexVersionInfo, ReconnectPolicy, RestartPolicy, Runtime, RuntimeConfig, VersionPolicy,
};
use super::session::{Session, SessionConfig, SessionStart};
use crate::error::Result;
use crate::plugin::{Hooks, PostHook, PreHook};
#[cfg(feature = "remote")]
use crate::transport::remote::RemoteEndpoint;
use codex_runtime_protocol::{Thread, ThreadListParams};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How long a server-request handler may take at the client level. Sessions enforce their own
/// approval timeouts; the runtime's outer bound stays far above them.
pub const CLIENT_SERVER_REQUEST_TIMEOUT: Duration = Duration::from_secs(3600);

/// Configuration of a [`Client`]: how to reach codex, plus hooks and an approval handler that
/// apply to every session (sessions add their own).
///
/// [`ClientConfig::new`] and [`ClientConfig::default`] are the same value.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Transport, handshake and timeouts.
    pub runtime: RuntimeConfig,
    /// Hooks for every session of this client (run before session hooks).
    pub hooks: Hooks,
    /// Approval handling for sessions that configure none.
    pub approvals: ApprovalConfig,
}

impl Default for ClientConfig {
    /// Spawn `codex app-server` found via `CODEX_BIN` or `PATH`; the server-request handler
    /// timeout is [`CLIENT_SERVER_REQUEST_TIMEOUT`].
    fn default() -> Self {
        ClientConfig {
            runtime: RuntimeConfig::default()
                .with_server_request_timeout(CLIENT_SERVER_REQUEST_TIMEOUT),
            hooks: Hooks::default(),
            approvals: ApprovalConfig::default(),
        }
    }
}

impl ClientConfig {
    /// Defaults: spawn `codex app-server` found via `CODEX_BIN` or `PATH` (the same value as
    /// [`ClientConfig::default`]).
    pub fn new() -> Self {
        Self::default()
    }
    /// Use this codex binary.
    pub fn with_cli_bin(mut self, bin: impl Into<PathBuf>) -> Self {
        self.runtime = self.runtime.with_cli_bin(bin);
        self
    }
    /// Use this `CODEX_HOME`.
    pub fn with_codex_home(mut self, home: impl Into<PathBuf>) -> Self {
        self.runtime = self.runtime.with_codex_home(home);
        self
    }
    /// Adds an environment variable for codex.
    pub fn with_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.runtime = self.runtime.with_env(key, value);
        self
    }
    /// Attach to a running app-server on this Unix socket instead of spawning one
    /// (`codex app-server --listen unix://PATH`, or the daemon's control socket). (Cargo feature
    /// `attach`.)
    #[cfg(feature = "attach")]
    pub fn attach_server(mut self, socket: impl Into<PathBuf>) -> Self {
        self.runtime = self.runtime.attach(socket);
        self
    }
    /// Attach to a remote app-server over `ws://` or `wss://` (`codex app-server --listen
    /// ws://IP:PORT`), optionally with a bearer token from an environment variable or a file.
    /// A token is only sent over `wss://` or to a loopback host. Combine with
    /// [`ClientConfig::with_reconnect`] to survive a server restart. (Cargo feature `remote`.)
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), codex_runtime::Error> {
    /// use codex_runtime::runtime::{Client, ClientConfig, ReconnectPolicy, RemoteEndpoint};
    /// let remote = RemoteEndpoint::new("wss://codex.example.com:8443").with_token_env("CODEX_TOKEN");
    /// let client = Client::connect(
    ///     ClientConfig::new().attach_remote(remote).with_reconnect(ReconnectPolicy::default()),
    /// )
    /// .await?;
    /// # drop(client); Ok(()) }
    /// ```
    #[cfg(feature = "remote")]
    pub fn attach_remote(mut self, remote: impl Into<RemoteEndpoint>) -> Self {
        self.runtime = self.runtime.attach_remote(remote);
        self
    }
    /// Reconnect to a remote app-server whose connection dropped (same policy type as
    /// [`ClientConfig::with_restart`]; sessions `resume` their thread before the next turn).
    pub fn with_reconnect(mut self, policy: ReconnectPolicy) -> Self {
        self.runtime = self.runtime.with_restart(policy);
        self
    }
    /// Opt in to experimental methods and fields.
    pub fn enable_experimental_api(mut self) -> Self {
        self.runtime = self.runtime.enable_experimental_api();
        self
    }
    /// Default JSON-RPC request timeout.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.runtime.request_timeout = timeout;
        self
    }
    /// Restart a crashed app-server.
    pub fn with_restart(mut self, policy: RestartPolicy) -> Self {
        self.runtime = self.runtime.with_restart(policy);
        self
    }
    /// What `initialize` does with a codex newer than the tested window: accept it with a
    /// warning ([`VersionPolicy::AcceptNewer`], the default) or refuse it
    /// ([`VersionPolicy::Strict`]). A codex older than the window is always refused.
    pub fn with_version_policy(mut self, policy: VersionPolicy) -> Self {
        self.runtime.version_policy = policy;
        self
    }
    /// Replaces the runtime configuration.
    pub fn with_runtime(mut self, runtime: RuntimeConfig) -> Self {
        self.runtime = runtime;
        self
    }
    /// Adds a pre hook for every session.
    pub fn with_pre_hook(mut self, hook: impl PreHook + 'static) -> Self {
        self.hooks.add_pre(hook);
        self
    }
    /// Adds a post hook for every session.
    pub fn with_post_hook(mut self, hook: impl PostHook + 'static) -> Self {
        self.hooks.add_post(hook);
        self
    }
    /// Replaces the client-wide hooks.
    pub fn with_hooks(mut self, hooks: Hooks) -> Self {
        self.hooks = hooks;
        self
    }
    /// The approval handler for sessions that set none.
    pub fn with_approval_handler(mut self, handler: impl ApprovalHandler) -> Self {
        self.approvals.handler = Some(Arc::new(handler));
        self
    }
}

/// One app-server connection; sessions run concurrently on it. Cheap to clone.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use codex_runtime::runtime::{Client, SessionConfig};
/// let client = Client::connect_default().await?;
/// let session = client.start_session(SessionConfig::new(".")).await?;
/// let out = session.ask("Summarize this repository in one line.").await?;
/// println!("{}", out.assistant_text);
/// session.close().await?;
/// client.shutdown().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    runtime: Runtime,
    config: Arc<ClientConfig>,
}

impl Client {
    /// Connects per `config`.
    pub async fn connect(config: ClientConfig) -> Result<Client> {
        let runtime = Runtime::connect(config.runtime.clone()).await?;
        Ok(Client {
            runtime,
            config: Arc::new(config),
        })
    }

    /// Connects with the defaults (`CODEX_BIN` / `PATH`).
    pub async fn connect_default() -> Result<Client> {
        Self::connect(ClientConfig::new()).await
    }

    /// The layer-6 runtime underneath.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The typed layer-5 view of the same connection.
    pub fn app_server(&self) -> crate::AppServer {
        crate::AppServer::from_runtime(self.runtime.clone())
    }

    /// The connected codex's version (`None` when its user agent did not say), and whether
    /// the SDK was tested against it ([`CodexVersionInfo::is_untested`]).
    pub fn codex_version(&self) -> Option<CodexVersionInfo> {
        self.runtime.codex_version()
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Starts a new thread and returns its session.
    pub async fn start_session(&self, config: SessionConfig) -> Result<Session> {
        Session::open(self, config, SessionStart::New).await
    }

    /// Resumes a stored thread (needed after an app-server restart before new turns).
    pub async fn resume_session(
        &self,
        thread_id: impl Into<String>,
        config: SessionConfig,
    ) -> Result<Session> {
        Session::open(self, config, SessionStart::Resume(thread_id.into())).await
    }

    /// Forks a thread into a new one (same history) and returns the new session.
    pub async fn fork_session(
        &self,
        thread_id: impl Into<String>,
        config: SessionConfig,
    ) -> Result<Session> {
        Session::open(self, config, SessionStart::Fork(thread_id.into())).await
    }

    /// Stored threads, newest first (first page, up to `limit`).
    pub async fn list_threads(&self, limit: Option<u32>) -> Result<Vec<Thread>> {
        let params = ThreadListParams {
            limit,
            ..ThreadListParams::default()
        };
        Ok(self.runtime.request(&params).await?.data)
    }

    /// Graceful stop of the app-server.
    pub async fn shutdown(&self) -> Result<()> {
        self.runtime.shutdown().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_and_default_are_the_same_configuration() {
        let new = ClientConfig::new();
        let default = ClientConfig::default();
        assert_eq!(
            new.runtime.server_request_timeout,
            CLIENT_SERVER_REQUEST_TIMEOUT
        );
        assert_eq!(
            default.runtime.server_request_timeout,
            CLIENT_SERVER_REQUEST_TIMEOUT
        );
        // Every field, not only the one that used to differ.
        assert_eq!(format!("{new:?}"), format!("{default:?}"));
    }
}
