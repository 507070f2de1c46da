//! [`PoolConfig`]: where the pool keeps its keys, how many processes run, and how they start.

use super::key::PoolKey;
use super::launcher::Launcher;
use super::namespace::MountNamespaceLauncher;
use crate::runtime::ClientConfig;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Configuration of a [`super::RuntimePool`]. Its `Debug` leaves out the client template's
/// environment values (API keys live there).
#[derive(Clone)]
#[non_exhaustive]
pub struct PoolConfig {
    /// The template of every key's client: binary, environment, hooks, timeouts. Its
    /// `CODEX_HOME` (in `codex_home` or the environment) is replaced by the key's own; it is
    /// where the operator's `config.toml` and `auth.json` are copied from unless
    /// [`PoolConfig::operator_home`] says otherwise. Its restart policy is replaced by
    /// restart-on-demand.
    pub client: ClientConfig,
    /// The pool root: `<root>/<key>/codex-home` and `<root>/<key>/workspace`.
    pub root: PathBuf,
    /// Where the operator's `config.toml` and `auth.json` come from (default: the template's
    /// `CODEX_HOME`, else `$CODEX_HOME`, else `~/.codex`).
    pub operator_home: Option<PathBuf>,
    /// Most codex processes running at once (default 8, at least 1).
    pub max_processes: usize,
    /// A process with no turn for this long is stopped (default 10 min); the key's next turn
    /// starts a fresh one and resumes its threads.
    pub idle_timeout: Duration,
    /// How long a key waits for a process slot while every running process has a turn in
    /// progress (default 60 s); then [`super::PoolError::NoSlot`].
    pub slot_wait: Duration,
    /// Workspace roots chosen per key (default `<root>/<key>/workspace`).
    pub workspaces: HashMap<PoolKey, PathBuf>,
    /// Wraps each key's codex command (another OS user, a container...). Default: a
    /// [`super::MountNamespaceLauncher`] where it works (Linux, root, `unshare`), so a key's
    /// commands cannot read the other keys' directories; otherwise none (then every key's
    /// commands can read the whole pool root under a `read-only` sandbox: see the guide).
    pub launcher: Option<Arc<dyn Launcher>>,
}

impl std::fmt::Debug for PoolConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let env: Vec<&str> = self
            .client
            .runtime
            .env
            .iter()
            .map(|(k, _)| k.as_str())
            .collect();
        f.debug_struct("PoolConfig")
            .field("cli_bin", &self.client.runtime.cli_bin)
            .field("env_keys", &env)
            .field("root", &self.root)
            .field("operator_home", &self.operator_home)
            .field("max_processes", &self.max_processes)
            .field("idle_timeout", &self.idle_timeout)
            .field("slot_wait", &self.slot_wait)
            .field("workspaces", &self.workspaces)
            .field("launcher", &self.launcher)
            .finish_non_exhaustive()
    }
}

impl PoolConfig {
    /// Default of [`PoolConfig::max_processes`].
    pub const DEFAULT_MAX_PROCESSES: usize = 8;
    /// Default of [`PoolConfig::idle_timeout`].
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(600);

    /// Keys under `root`, each client made from `client`.
    pub fn new(client: ClientConfig, root: impl Into<PathBuf>) -> Self {
        PoolConfig {
            client,
            root: root.into(),
            operator_home: None,
            max_processes: Self::DEFAULT_MAX_PROCESSES,
            idle_timeout: Self::DEFAULT_IDLE_TIMEOUT,
            slot_wait: Duration::from_secs(60),
            workspaces: HashMap::new(),
            launcher: MountNamespaceLauncher::available()
                .then(|| Arc::new(MountNamespaceLauncher::new()) as Arc<dyn Launcher>),
        }
    }
    /// Sets [`PoolConfig::max_processes`].
    pub fn with_max_processes(mut self, n: usize) -> Self {
        self.max_processes = n;
        self
    }
    /// Sets [`PoolConfig::idle_timeout`].
    pub fn with_idle_timeout(mut self, idle: Duration) -> Self {
        self.idle_timeout = idle;
        self
    }
    /// Sets [`PoolConfig::slot_wait`].
    pub fn with_slot_wait(mut self, wait: Duration) -> Self {
        self.slot_wait = wait;
        self
    }
    /// Sets [`PoolConfig::operator_home`].
    pub fn with_operator_home(mut self, home: impl Into<PathBuf>) -> Self {
        self.operator_home = Some(home.into());
        self
    }
    /// Gives `key` its own workspace root (made absolute when the pool starts).
    pub fn with_workspace(mut self, key: PoolKey, dir: impl Into<PathBuf>) -> Self {
        self.workspaces.insert(key, dir.into());
        self
    }
    /// Sets [`PoolConfig::launcher`].
    pub fn with_launcher(mut self, launcher: impl Launcher) -> Self {
        self.launcher = Some(Arc::new(launcher));
        self
    }
    /// No launcher: codex runs as the pool's own user in the pool's mount namespace.
    pub fn without_launcher(mut self) -> Self {
        self.launcher = None;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_names_environment_keys_but_never_their_values() {
        let client = ClientConfig::new().with_env("OPENAI_API_KEY", "sk-secret-value");
        let shown = format!("{:?}", PoolConfig::new(client, "/pool"));
        assert!(shown.contains("OPENAI_API_KEY"), "{shown}");
        assert!(!shown.contains("sk-secret-value"), "{shown}");
    }
}
