//! [`codex_bin`]: the pinned real codex binary.

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

fn locate() -> Result<PathBuf, String> {
    if let Some(bin) = std::env::var_os(CODEX_BIN_ENV).filter(|bin| !bin.is_empty()) {
        let bin = PathBuf::from(bin);
        return if bin.is_file() {
            Ok(bin)
        } else {
            Err(format!("{CODEX_BIN_ENV}={} is not a file", bin.display()))
        };
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/install-codex.sh");
    tracing::debug!("running {}", script.display());
    let output = Command::new("bash")
        .arg(&script)
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
