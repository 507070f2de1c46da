//! [`codex_bin`]: the real codex binary the tests run (the pinned one, or `$CODEX_BIN`), and
//! [`codex_bin_version`]: any other version, installed side by side.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::TestSupportError;

/// Environment variable naming an explicit codex binary (skips the installer).
pub const CODEX_BIN_ENV: &str = "CODEX_BIN";

/// The pinned codex binary: `$CODEX_BIN` when set, else the path printed by
/// `<workspace>/scripts/install-codex.sh` (idempotent; run at most once per process, the result,
/// success or failure, is cached).
///
/// ```no_run
/// let codex = codex_test_support::codex_bin()?;
/// assert!(codex.is_file());
/// # Ok::<(), codex_test_support::TestSupportError>(())
/// ```
pub fn codex_bin() -> Result<PathBuf, TestSupportError> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(locate)
        .clone()
        .map_err(|reason| TestSupportError::CodexBin { reason })
}

/// The codex binary of one `version` (e.g. `"0.169.0"`), installed side by side under
/// `.tools/codex-<version>/` by `scripts/install-codex.sh <version>` when missing. Ignores
/// `CODEX_BIN`: for tests that need a specific version whatever the matrix runs.
pub fn codex_bin_version(version: &str) -> Result<PathBuf, TestSupportError> {
    run_installer(Some(version)).map_err(|reason| TestSupportError::CodexBin { reason })
}

/// The version `$CODEX_BIN` (or the pinned codex) reports with `--version`, e.g. `"0.171.0"`.
pub fn codex_version() -> Result<String, TestSupportError> {
    let bin = codex_bin()?;
    let out = Command::new(&bin)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|err| TestSupportError::CodexBin {
            reason: format!("cannot run {} --version: {err}", bin.display()),
        })?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .last()
        .map(str::to_owned)
        .ok_or_else(|| TestSupportError::CodexBin {
            reason: format!("{} --version printed no version", bin.display()),
        })
}

fn locate() -> Result<PathBuf, String> {
    if let Some(bin) = std::env::var_os(CODEX_BIN_ENV).filter(|bin| !bin.is_empty()) {
        let bin = PathBuf::from(bin);
        return if bin.is_file() {
            Ok(bin)
        } else {
            Err(format!("{CODEX_BIN_ENV}={} is not a file", bin.display()))
        };
    }
    run_installer(None)
}

fn run_installer(version: Option<&str>) -> Result<PathBuf, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/install-codex.sh");
    tracing::debug!("running {} {version:?}", script.display());
    let output = Command::new("bash")
        .arg(&script)
        .args(version)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|err| format!("cannot run {}: {err}", script.display()))?;
    if !output.status.success() {
        return Err(format!(
            "{} failed with {}",
            script.display(),
            output.status
        ));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let Some(line) = stdout.lines().map(str::trim).rfind(|line| !line.is_empty()) else {
        return Err(format!("{} printed no path", script.display()));
    };
    let bin = PathBuf::from(line);
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!(
            "{} printed {line:?}, which is not a file",
            script.display()
        ))
    }
}
