//! [`CliError`], the command line's one error type. Commands wrap it (and SDK errors) in
//! `anyhow` with context; `main` prints the chain and exits with status 1.

use std::path::PathBuf;

const DURATION_HINT: &str = "use a number and a unit: ms, s, m, h or d, e.g. 90s, 30m, 1h30m";

/// What the command line refuses, each variant naming the offending input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// A duration was empty.
    #[error("empty duration ({DURATION_HINT})")]
    EmptyDuration,
    /// A duration had a number without a unit (`"30"`).
    #[error("duration `{input}` has a number without a unit ({DURATION_HINT})")]
    MissingUnit {
        /// The whole input.
        input: String,
    },
    /// A duration unit was not one of `ms`, `s`, `m`, `h`, `d`.
    #[error("unknown unit `{unit}` in duration `{input}` ({DURATION_HINT})")]
    UnknownUnit {
        /// The whole input.
        input: String,
        /// The unit as written.
        unit: String,
    },
    /// A duration unit had no number before it (`"h"`), or a character was neither digit nor
    /// unit.
    #[error("duration `{input}` has a unit without a number ({DURATION_HINT})")]
    MissingNumber {
        /// The whole input.
        input: String,
    },
    /// A duration does not fit in a `Duration`.
    #[error("duration `{input}` is too large")]
    DurationOverflow {
        /// The whole input.
        input: String,
    },
    /// A duration is zero where a positive one is needed.
    #[error("duration `{input}` must be greater than zero")]
    ZeroDuration {
        /// The whole input.
        input: String,
    },
    /// A `--cwd` that is not an existing directory.
    #[error("--cwd {path}: no such directory")]
    NoSuchDirectory {
        /// The path as given.
        path: PathBuf,
    },
    /// `--tz` without `--cron`.
    #[error("--tz applies to --cron schedules only")]
    TzWithoutCron,
    /// Neither an API key nor a codex login.
    #[error(
        "no OPENAI_API_KEY/CODEX_API_KEY set and no codex login found{}; set a key, run \
         `codex login`, or try it offline with `codex-runtime demo` or `automate --offline`",
        .auth_file.as_ref().map(|f| format!(" ({} does not exist)", f.display())).unwrap_or_default()
    )]
    NoCredentials {
        /// The `auth.json` that was looked for, when a codex home was known.
        auth_file: Option<PathBuf>,
    },
    /// A turn ended without completing.
    #[error("the turn ended {status}")]
    TurnNotCompleted {
        /// The turn's status.
        status: String,
    },
    /// `serve --tenant` was empty.
    #[error("--tenant must not be empty")]
    EmptyTenant,
    /// A `serve --store` this build cannot open.
    #[error("--store {store}: expected sqlite:PATH or postgres://...")]
    UnsupportedStore {
        /// The value as given.
        store: String,
    },
    /// The automation ended in the `Failed` state.
    #[error("the automation failed: {reason}")]
    AutomationFailed {
        /// Its last error.
        reason: String,
    },
}

/// `dir` canonicalised, or [`CliError::NoSuchDirectory`].
pub fn existing_dir(dir: &std::path::Path) -> Result<PathBuf, CliError> {
    dir.canonicalize()
        .ok()
        .filter(|p| p.is_dir())
        .ok_or_else(|| CliError::NoSuchDirectory {
            path: dir.to_path_buf(),
        })
}
