//! Spawning `codex app-server` and speaking JSONL over its stdio.

use super::framing::{JsonlReceiver, JsonlSender};
use super::process::{ProcessHandle, StderrTail};
use super::Transport;
use crate::error::{Error, Result};
use std::path::PathBuf;
use std::process::Stdio;

/// How to start the child.
#[derive(Debug, Clone)]
pub struct StdioConfig {
    /// The codex binary.
    pub binary: PathBuf,
    /// Extra arguments after `app-server` (e.g. `-c key=value`).
    pub args: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// `CODEX_HOME` for the child, when set.
    pub codex_home: Option<PathBuf>,
    /// Working directory of the child.
    pub cwd: Option<PathBuf>,
    /// Maximum inbound line size.
    pub max_line_bytes: usize,
    /// How many stderr lines to keep for crash reports.
    pub stderr_tail_lines: usize,
}

impl StdioConfig {
    /// Defaults for a binary.
    pub fn new(binary: impl Into<PathBuf>) -> Self {
        StdioConfig {
            binary: binary.into(),
            args: Vec::new(),
            env: Vec::new(),
            codex_home: None,
            cwd: None,
            max_line_bytes: super::DEFAULT_MAX_LINE_BYTES,
            stderr_tail_lines: 64,
        }
    }
}

/// Spawns `codex app-server` in its own process group and returns the transport.
///
/// The child is killed (whole group) when the returned transport's [`ProcessHandle`] drops.
#[tracing::instrument(level = "debug", skip(config), fields(binary = %config.binary.display()))]
pub fn spawn(config: &StdioConfig) -> Result<Transport> {
    let mut cmd = tokio::process::Command::new(&config.binary);
    cmd.arg("app-server")
        .args(&config.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(home) = &config.codex_home {
        cmd.env("CODEX_HOME", home);
    }
    for (k, v) in &config.env {
        cmd.env(k, v);
    }
    if let Some(cwd) = &config.cwd {
        cmd.current_dir(cwd);
    }
    let mut child = cmd.spawn().map_err(|source| Error::Spawn {
        binary: config.binary.clone(),
        source,
    })?;
    let io_err = |what: &str| Error::Spawn {
        binary: config.binary.clone(),
        source: std::io::Error::other(format!("child has no {what} pipe")),
    };
    let stdin = child.stdin.take().ok_or_else(|| io_err("stdin"))?;
    let stdout = child.stdout.take().ok_or_else(|| io_err("stdout"))?;
    let stderr = child.stderr.take().ok_or_else(|| io_err("stderr"))?;
    let tail = StderrTail::new(config.stderr_tail_lines, 64 * 1024);
    tail.collect_from(stderr);
    tracing::debug!(pid = ?child.id(), "spawned codex app-server");
    Ok(Transport {
        sender: Box::new(JsonlSender::new(stdin)),
        receiver: Box::new(JsonlReceiver::new(stdout, config.max_line_bytes)),
        process: Some(ProcessHandle::new(child, tail)),
    })
}
