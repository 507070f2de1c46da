//! Shared helpers: flow trees in temporary directories.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use codex_flow::{LocalFlowClient, LocalFlowClientConfig, LocalHooks};

/// A project directory with flows, deleted on drop.
pub struct FlowTree {
    pub dir: tempfile::TempDir,
}

impl FlowTree {
    pub fn new() -> Self {
        FlowTree {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn cwd(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `rel` (creating folders); `.sh` and `.py` files are made executable.
    pub fn file(&self, rel: &str, content: &str) -> PathBuf {
        let path = self.cwd().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        if rel.ends_with(".sh") || rel.ends_with(".py") {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        path
    }

    /// A flow `name` in `<cwd>/<root>/<folder>` with one sh step `step` triggered by `event_type`.
    pub fn sh_flow(
        &self,
        root: &str,
        folder: &str,
        name: &str,
        step: &str,
        event_type: &str,
        script: &str,
    ) {
        self.file(
            &format!("{root}/{folder}/flow.toml"),
            &format!(
                "name = \"{name}\"\nversion = 1\n[[steps]]\nname = \"{step}\"\nscript = \"{step}.sh\"\ntimeout_ms = 20000\n[steps.trigger]\ntype = \"{event_type}\"\n"
            ),
        );
        self.file(&format!("{root}/{folder}/{step}.sh"), script);
    }

    pub fn config(&self) -> LocalFlowClientConfig {
        let mut config = LocalFlowClientConfig::new(self.cwd());
        config.kill_grace_ms = 300;
        config
    }

    pub fn client(&self) -> LocalFlowClient {
        LocalFlowClient::open(self.config()).expect("client")
    }

    pub fn client_with(&self, config: LocalFlowClientConfig, hooks: LocalHooks) -> LocalFlowClient {
        LocalFlowClient::open_with(config, hooks).expect("client")
    }
}

pub fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A script printing a FLOW_RESULT with `status`.
pub fn result_script(status: &str) -> String {
    format!("#!/bin/sh\ncat >/dev/null\necho 'FLOW_RESULT {{\"status\":\"{status}\",\"message\":\"{status} by test\"}}'\n")
}

/// Whether `pid` is gone (or a zombie waiting for its new parent to reap it).
pub fn process_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
    }
}

/// Polls `check` up to ~10 s (processes die asynchronously).
pub async fn eventually(mut check: impl FnMut() -> bool) -> bool {
    for _ in 0..200 {
        if check() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    check()
}

/// A child process killed on drop (SIGKILL), so a failing test leaves nothing behind.
pub struct Proc(pub std::process::Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `codex-flow <args>` and returns it with its first stdout line (trimmed).
pub fn start_codex_flow(args: &[&str]) -> (Proc, String) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_codex-flow"))
        .args(args)
        .env("CODEX_FLOW_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn codex-flow");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped stdout"))
        .read_line(&mut line)
        .expect("first stdout line");
    (Proc(child), line.trim().to_string())
}

pub mod workers;
