//! SDK configurations that point at a [`CodexTestEnv`]: the pinned codex, the env's
//! `CODEX_HOME` (which points codex at the mock model) and the tag that lets the leftover scan
//! find every process the SDK starts.

use crate::env::CodexTestEnv;
use codex_runtime::runtime::{ClientConfig, RuntimeConfig, SessionConfig};

impl CodexTestEnv {
    /// A layer-6 configuration for this env.
    pub fn runtime_config(&self) -> RuntimeConfig {
        let mut cfg = RuntimeConfig::new()
            .with_cli_bin(&self.bin)
            .with_cwd(self.workdir());
        for (k, v) in self.env_vars() {
            cfg = cfg.with_env(k, v);
        }
        cfg
    }

    /// A layer-3 configuration for this env.
    pub fn client_config(&self) -> ClientConfig {
        let mut cfg = ClientConfig::new();
        let mut runtime = self.runtime_config();
        runtime.server_request_timeout = cfg.runtime.server_request_timeout;
        cfg.runtime = runtime;
        cfg
    }

    /// A session configuration in the env's project directory.
    pub fn session_config(&self) -> SessionConfig {
        SessionConfig::new(self.workdir())
    }
}
