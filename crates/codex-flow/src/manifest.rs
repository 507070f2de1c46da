//! `flow.toml`: the manifest of one flow package, parsed with serde and checked field by field.

use std::collections::HashSet;
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{FlowError, Result};

/// The file name of a flow manifest inside a flow folder.
pub const MANIFEST_FILE: &str = "flow.toml";
/// Default step timeout (`steps.timeout_ms`), 5 minutes.
pub const DEFAULT_TIMEOUT_MS: u64 = 300_000;
/// Largest accepted `steps.timeout_ms`, 24 hours.
pub const MAX_TIMEOUT_MS: u64 = 86_400_000;
/// Largest accepted manifest file, 1 MiB.
pub const MAX_MANIFEST_BYTES: u64 = 1024 * 1024;

/// A parsed `flow.toml`.
///
/// ```
/// let manifest = codex_flow::FlowManifest::from_toml_str(
///     r#"
///     name = "release-notes"
///     version = 1
///     [[steps]]
///     name = "draft"
///     script = "draft.sh"
///     [steps.trigger]
///     type = "upstream.release"
///     "#,
///     std::path::Path::new("flows/release-notes/flow.toml"),
/// )?;
/// assert_eq!(manifest.steps[0].timeout_ms(), 300_000);
/// # Ok::<(), codex_flow::FlowError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "flow.toml", description = "Manifest of a codex flow package")]
#[serde(deny_unknown_fields)]
pub struct FlowManifest {
    /// The flow's name; the first discovered flow of a name wins.
    pub name: String,
    /// The flow's version (a number).
    pub version: serde_json::Number,
    /// Free text shown by `codex-flow list`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A table handed to every step as `flow.config`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<serde_json::Map<String, serde_json::Value>>,
    /// At most this many runs of this flow execute at once in one client or worker (default:
    /// the runner's own limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent_runs: Option<u32>,
    /// How workers retry a failed run of this flow (default: one attempt, no retry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
    /// The steps, at least one, names unique within the flow.
    pub steps: Vec<StepManifest>,
}

/// One `[[steps]]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepManifest {
    /// The step's name, unique within the flow.
    pub name: String,
    /// How the step runs; `command` when absent.
    #[serde(default)]
    pub runner: RunnerKind,
    /// The step file, relative to the flow folder: a program or script for command runners, the
    /// turn's instructions for `code-mode`.
    pub script: String,
    /// Explicit argv prefix for command runners; the script path is appended as the last argument.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Working directory, relative to the flow folder (default: the flow folder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Kill the step after this many milliseconds (default 300000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Which events run this step; a step without trigger only runs explicitly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<TriggerManifest>,
    /// Code Mode: the model of the turn (default: the client configuration's, then Codex's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Code Mode: the sandbox of the turn (default: the client configuration's, then `read-only`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxMode>,
    /// Code Mode: the approval policy of the turn (default: the client configuration's, then `never`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalPolicy>,
}

impl StepManifest {
    /// The effective timeout in milliseconds.
    pub fn timeout_ms(&self) -> u64 {
        self.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS)
    }
}

/// `[retry]`: how a worker retries a run whose attempt failed (exit code, timeout, invalid
/// FLOW_RESULT, lost lease). Exponential backoff from `backoff_ms`, capped at `max_backoff_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1). A run that fails its last attempt goes
    /// to dead-letter and shows `needsAttention`.
    pub max_attempts: u32,
    /// Delay before the second attempt, doubled for each next one (default 1000).
    #[serde(default = "default_backoff_ms")]
    pub backoff_ms: u64,
    /// Largest delay between attempts (default 60000).
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
}

fn default_backoff_ms() -> u64 {
    1000
}
fn default_max_backoff_ms() -> u64 {
    60_000
}

/// A step's `[steps.trigger]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerManifest {
    /// Exact match on the event's `type`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// A JSON Schema file (relative to the flow folder) the event payload must validate against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
}

/// How a step runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RunnerKind {
    /// Any executable; interpreter chosen by extension or by `command`.
    #[default]
    Command,
    /// A command runner that always uses `bun` (reference compatibility).
    Bun,
    /// A command runner that always uses `node` (reference compatibility).
    Node,
    /// A Codex turn whose instructions are the step file.
    CodeMode,
}

/// Sandbox of a Code Mode turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SandboxMode {
    /// Read-only file system (the default).
    ReadOnly,
    /// Writes allowed inside the workspace.
    WorkspaceWrite,
    /// No sandbox.
    DangerFullAccess,
}

impl SandboxMode {
    /// The app-server spelling (`read-only`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            SandboxMode::ReadOnly => "read-only",
            SandboxMode::WorkspaceWrite => "workspace-write",
            SandboxMode::DangerFullAccess => "danger-full-access",
        }
    }
}

/// Approval policy of a Code Mode turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ApprovalPolicy {
    /// Never ask (the default).
    Never,
    /// The model asks when it wants.
    OnRequest,
    /// Ask after a failure.
    OnFailure,
    /// Ask for anything not trusted.
    Untrusted,
}

impl ApprovalPolicy {
    /// The app-server spelling (`never`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalPolicy::Never => "never",
            ApprovalPolicy::OnRequest => "on-request",
            ApprovalPolicy::OnFailure => "on-failure",
            ApprovalPolicy::Untrusted => "untrusted",
        }
    }
}

impl FlowManifest {
    /// Reads and checks the manifest at `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let read_err = |source| FlowError::ManifestRead {
            path: path.to_path_buf(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(read_err)?;
        if meta.len() > MAX_MANIFEST_BYTES {
            return Err(FlowError::Manifest {
                path: path.to_path_buf(),
                field: ".".into(),
                message: format!(
                    "file is {} bytes, over the limit of {MAX_MANIFEST_BYTES}",
                    meta.len()
                ),
            });
        }
        let text = std::fs::read_to_string(path).map_err(read_err)?;
        Self::from_toml_str(&text, path)
    }

    /// Parses and checks manifest text; `path` is only used in error messages.
    pub fn from_toml_str(text: &str, path: &Path) -> Result<Self> {
        let error = |field: String, message: String| FlowError::Manifest {
            path: path.to_path_buf(),
            field,
            message,
        };
        let deserializer = toml::Deserializer::parse(text)
            .map_err(|e| error(".".into(), single_line(&e.to_string())))?;
        let manifest: FlowManifest =
            serde_path_to_error::deserialize(deserializer).map_err(|e| {
                let field = e.path().to_string();
                error(field, single_line(&e.into_inner().to_string()))
            })?;
        manifest
            .check()
            .map_err(|(field, message)| error(field, message))?;
        Ok(manifest)
    }

    fn check(&self) -> std::result::Result<(), (String, String)> {
        if self.name.trim().is_empty() {
            return Err(("name".into(), "must not be blank".into()));
        }
        if self.steps.is_empty() {
            return Err((
                "steps".into(),
                "at least one [[steps]] entry is required".into(),
            ));
        }
        if self.max_concurrent_runs == Some(0) {
            return Err(("max_concurrent_runs".into(), "must be at least 1".into()));
        }
        if let Some(retry) = &self.retry {
            if retry.max_attempts == 0 || retry.max_attempts > 100 {
                return Err((
                    "retry.max_attempts".into(),
                    "must be between 1 and 100".into(),
                ));
            }
            if retry.backoff_ms > retry.max_backoff_ms {
                return Err((
                    "retry.backoff_ms".into(),
                    "must not be over retry.max_backoff_ms".into(),
                ));
            }
        }
        let mut names = HashSet::new();
        for (i, step) in self.steps.iter().enumerate() {
            let field = |f: &str| format!("steps[{i}].{f}");
            if step.name.trim().is_empty() {
                return Err((field("name"), "must not be blank".into()));
            }
            if !names.insert(step.name.as_str()) {
                return Err((
                    field("name"),
                    format!("duplicate step name `{}` in this flow", step.name),
                ));
            }
            if step.script.trim().is_empty() {
                return Err((field("script"), "must not be blank".into()));
            }
            if let Some(timeout) = step.timeout_ms {
                if timeout == 0 || timeout > MAX_TIMEOUT_MS {
                    return Err((
                        field("timeout_ms"),
                        format!("must be between 1 and {MAX_TIMEOUT_MS}, got {timeout}"),
                    ));
                }
            }
            if let Some(command) = &step.command {
                if command.is_empty() || command[0].trim().is_empty() {
                    return Err((field("command"), "must name a program".into()));
                }
                if step.runner == RunnerKind::CodeMode {
                    return Err((
                        field("command"),
                        "is only valid for command runners, not `code-mode`".into(),
                    ));
                }
            }
            if let Some(trigger) = &step.trigger {
                if trigger.event_type.trim().is_empty() {
                    return Err((field("trigger.type"), "must not be blank".into()));
                }
            }
        }
        Ok(())
    }
}

fn single_line(text: &str) -> String {
    text.split('\n')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<FlowManifest> {
        FlowManifest::from_toml_str(text, Path::new("/f/flow.toml"))
    }

    #[test]
    fn errors_name_file_and_field() {
        let err = parse("name = \"x\"\nversion = 1\n[[steps]]\nname = \"a\"\nscript = \"a.sh\"\ntimeout_ms = \"soon\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("/f/flow.toml"), "{err}");
        assert!(err.contains("steps[0].timeout_ms"), "{err}");

        let err = parse("name = \"x\"\n[[steps]]\nname = \"a\"\nscript = \"a.sh\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("version"), "{err}");

        let err = parse("name = \"x\"\nversion = 1\n[[steps]]\nname = \"a\"\nscript = \"a.sh\"\n[[steps]]\nname = \"a\"\nscript = \"b.sh\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("steps[1].name") && err.contains("duplicate"),
            "{err}"
        );

        let err = parse("name = \"  \"\nversion = 1\n[[steps]]\nname = \"a\"\nscript = \"a.sh\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("field `name`"), "{err}");

        let err = parse("name = \"x\"\nversion = 1\nsteps = []\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("field `steps`"), "{err}");

        let err = parse("name = \"x\"\nversion = 1\n[[steps]]\nname = \"a\"\nscript = \"a.md\"\nrunner = \"python\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("steps[0].runner"), "{err}");

        let err = parse("name = [").unwrap_err().to_string();
        assert!(err.contains("/f/flow.toml"), "{err}");
    }

    #[test]
    fn parses_full_step() {
        let m = parse(
            "name = \"x\"\nversion = 1.5\ndescription = \"d\"\n[config]\nrepo = \"a/b\"\n[[steps]]\nname = \"a\"\nrunner = \"code-mode\"\nscript = \"a.md\"\nsandbox = \"workspace-write\"\napproval = \"on-request\"\nmodel = \"m\"\ntimeout_ms = 10\n[steps.trigger]\ntype = \"t\"\nschema = \"s.json\"\n",
        )
        .unwrap();
        assert_eq!(m.version.to_string(), "1.5");
        assert_eq!(m.config.unwrap()["repo"], "a/b");
        let step = &m.steps[0];
        assert_eq!(step.runner, RunnerKind::CodeMode);
        assert_eq!(step.sandbox, Some(SandboxMode::WorkspaceWrite));
        assert_eq!(step.approval, Some(ApprovalPolicy::OnRequest));
        assert_eq!(step.timeout_ms(), 10);
        assert_eq!(
            step.trigger.as_ref().unwrap().schema.as_deref(),
            Some("s.json")
        );
    }
}
