//! [`CodexHome`]: a throw-away `CODEX_HOME` whose `config.toml` points codex at a mock model.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{MockError, ScratchDir};

/// `approval_policy` of the generated config.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ApprovalPolicy {
    /// Ask before every command that is not known safe.
    Untrusted,
    /// Let the model ask when it wants to escalate.
    OnRequest,
    /// Never ask (the default here, so turns never block on approvals).
    #[default]
    Never,
}

/// `sandbox_mode` of the generated config.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum SandboxMode {
    /// Read-only file system (the default).
    #[default]
    ReadOnly,
    /// Writes allowed in the workspace.
    WorkspaceWrite,
    /// No sandbox at all.
    DangerFullAccess,
}

impl fmt::Display for ApprovalPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Untrusted => "untrusted",
            Self::OnRequest => "on-request",
            Self::Never => "never",
        })
    }
}

impl fmt::Display for SandboxMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ReadOnly => "read-only",
            Self::WorkspaceWrite => "workspace-write",
            Self::DangerFullAccess => "danger-full-access",
        })
    }
}

/// Options of a generated codex home.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HomeOptions {
    /// `approval_policy` (default `never`).
    pub approval_policy: ApprovalPolicy,
    /// `sandbox_mode` (default `read-only`).
    pub sandbox_mode: SandboxMode,
    /// Extra TOML appended verbatim at the top level (before the provider table), e.g.
    /// `"model_reasoning_effort = \"low\"\n"`.
    pub extra_toml: String,
    /// Keep codex's shell-snapshot feature (default off: at thread start it runs a login
    /// `bash -lc` that sources the user's profile, which is slow, not hermetic, and when killed
    /// mid-way by a test teardown can leave stale locks behind, e.g. pyenv's rehash lock).
    pub shell_snapshot: bool,
}

impl HomeOptions {
    /// Sets the approval policy.
    #[must_use]
    pub fn approval_policy(mut self, policy: ApprovalPolicy) -> Self {
        self.approval_policy = policy;
        self
    }

    /// Sets the sandbox mode.
    #[must_use]
    pub fn sandbox_mode(mut self, mode: SandboxMode) -> Self {
        self.sandbox_mode = mode;
        self
    }

    /// Sets [`HomeOptions::shell_snapshot`].
    #[must_use]
    pub fn shell_snapshot(mut self, enabled: bool) -> Self {
        self.shell_snapshot = enabled;
        self
    }

    /// Sets extra top-level TOML.
    #[must_use]
    pub fn extra_toml(mut self, toml: impl Into<String>) -> Self {
        self.extra_toml = toml.into();
        self
    }
}

/// The `config.toml` that points codex at the mock model at `mock_url` (`http://127.0.0.1:P/v1`).
pub fn codex_config_toml(mock_url: &str, options: &HomeOptions) -> Result<String, MockError> {
    if !(mock_url.starts_with("http://") || mock_url.starts_with("https://")) {
        return Err(MockError::InvalidConfigValue {
            field: "base_url",
            reason: format!("{mock_url:?} is not an http(s) URL"),
        });
    }
    if mock_url
        .chars()
        .any(|c| c == '"' || c == '\\' || c.is_control())
    {
        return Err(MockError::InvalidConfigValue {
            field: "base_url",
            reason: format!("{mock_url:?} contains a quote, backslash or control character"),
        });
    }
    let extra = options.extra_toml.trim_end();
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!("{extra}\n")
    };
    Ok(format!(
        "# Written by codex-mock-model: points codex at a local mock model.\n\
         model = \"mock-model\"\n\
         model_provider = \"mock\"\n\
         approval_policy = \"{approval}\"\n\
         sandbox_mode = \"{sandbox}\"\n\
         {extra}\n\
         [model_providers.mock]\n\
         name = \"mock\"\n\
         base_url = \"{mock_url}\"\n\
         wire_api = \"responses\"\n\
         request_max_retries = 0\n\
         stream_max_retries = 0\n\
         \n\
         [features]\n\
         shell_snapshot = {snapshot}\n",
        approval = options.approval_policy,
        sandbox = options.sandbox_mode,
        snapshot = options.shell_snapshot,
    ))
}

/// Writes `dir/config.toml` (creating `dir`) pointing codex at `mock_url`; returns the file path.
pub fn write_codex_config(
    dir: &Path,
    mock_url: &str,
    options: &HomeOptions,
) -> Result<PathBuf, MockError> {
    let toml = codex_config_toml(mock_url, options)?;
    std::fs::create_dir_all(dir).map_err(|source| MockError::CodexHome {
        path: dir.to_path_buf(),
        source,
    })?;
    let file = dir.join("config.toml");
    std::fs::write(&file, toml).map_err(|source| MockError::CodexHome {
        path: file.clone(),
        source,
    })?;
    Ok(file)
}

/// A fresh `CODEX_HOME` under `<scratch_root>/codex-homes/` (outside `/tmp`) whose
/// `config.toml` uses model `mock-model` from provider `mock` at the mock's URL, with no retries.
/// Removed (best effort) on drop.
///
/// ```
/// use codex_mock_model::{CodexHome, HomeOptions, SandboxMode};
/// let home = CodexHome::create("http://127.0.0.1:9/v1",
///     HomeOptions::default().sandbox_mode(SandboxMode::DangerFullAccess))?;
/// let config = std::fs::read_to_string(home.path().join("config.toml")).unwrap();
/// assert!(config.contains("sandbox_mode = \"danger-full-access\""));
/// # Ok::<(), codex_mock_model::MockError>(())
/// ```
#[derive(Debug)]
pub struct CodexHome {
    dir: ScratchDir,
}

impl CodexHome {
    /// Creates the directory and writes its `config.toml`.
    pub fn create(mock_url: &str, options: HomeOptions) -> Result<Self, MockError> {
        // Validate before touching the disk.
        codex_config_toml(mock_url, &options)?;
        let dir = ScratchDir::create("codex-homes", "home")?;
        write_codex_config(dir.path(), mock_url, &options)?;
        Ok(Self { dir })
    }

    /// The directory to pass as `CODEX_HOME`.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Keeps the directory on drop (to inspect sessions/logs of a failed test); returns its path.
    pub fn keep(self) -> PathBuf {
        self.dir.keep()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_points_at_the_mock_without_retries() {
        let options = HomeOptions::default()
            .approval_policy(ApprovalPolicy::OnRequest)
            .sandbox_mode(SandboxMode::WorkspaceWrite)
            .extra_toml("model_reasoning_effort = \"low\"");
        let toml = codex_config_toml("http://127.0.0.1:4242/v1", &options).unwrap();
        for line in [
            "model = \"mock-model\"",
            "model_provider = \"mock\"",
            "approval_policy = \"on-request\"",
            "sandbox_mode = \"workspace-write\"",
            "model_reasoning_effort = \"low\"",
            "[model_providers.mock]",
            "base_url = \"http://127.0.0.1:4242/v1\"",
            "wire_api = \"responses\"",
            "request_max_retries = 0",
            "stream_max_retries = 0",
            "[features]",
            "shell_snapshot = false",
        ] {
            assert!(
                toml.lines().any(|l| l == line),
                "missing {line:?} in\n{toml}"
            );
        }
        // Top-level keys come before the provider table.
        assert!(
            toml.find("model_reasoning_effort").unwrap()
                < toml.find("[model_providers.mock]").unwrap()
        );
    }

    #[test]
    fn unsafe_urls_are_refused() {
        for url in ["127.0.0.1:1/v1", "http://x\"\n[evil]", "http://a\\b"] {
            let err = codex_config_toml(url, &HomeOptions::default()).unwrap_err();
            assert!(
                matches!(
                    err,
                    MockError::InvalidConfigValue {
                        field: "base_url",
                        ..
                    }
                ),
                "{err}"
            );
        }
    }

    #[test]
    fn home_is_outside_tmp_and_removed_on_drop() {
        let home = CodexHome::create("http://127.0.0.1:1/v1", HomeOptions::default()).unwrap();
        let path = home.path().to_path_buf();
        assert!(!path.starts_with("/tmp"), "{}", path.display());
        assert!(path.join("config.toml").is_file());
        let other = CodexHome::create("http://127.0.0.1:1/v1", HomeOptions::default()).unwrap();
        assert_ne!(other.path(), path);
        drop(home);
        assert!(!path.exists());
    }
}
