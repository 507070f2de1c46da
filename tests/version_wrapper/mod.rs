//! A codex that reports another version: a small shell script, written per test, that answers
//! `--version` itself and runs the real codex for everything else. For `app-server` it passes
//! codex's stdout through `sed`, which rewrites the version in `initialize`'s `userAgent` (the
//! SDK reads the version from there). Everything else is the real codex's own traffic.

use codex_mock_model::ScratchDir;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A wrapper script and the directory holding it (removed on drop).
pub struct VersionWrapper {
    /// The script: use it as the codex binary.
    pub path: PathBuf,
    _dir: ScratchDir,
}

/// Writes a wrapper around `real` that reports `version` in `--version` and in the user agent.
pub fn report_version(real: &Path, version: &str) -> VersionWrapper {
    let dir = ScratchDir::create("codex-workdirs", "wrapper").expect("scratch dir");
    let path = dir.path().join("codex");
    write_wrapper(&path, real, version);
    VersionWrapper { path, _dir: dir }
}

/// Writes the wrapper script of [`report_version`] at `path` (its directory must exist).
pub fn write_wrapper(path: &Path, real: &Path, version: &str) {
    let script = format!(
        r#"#!/usr/bin/env bash
# Reports codex {version} (tests/version_wrapper): the real codex behind it is {real}.
REAL='{real}'
case "${{1:-}}" in
  --version) echo "codex-cli {version}"; exit 0 ;;
  app-server)
    "$REAL" "$@" | sed -u -E 's#("userAgent":"[^/"]*/)[0-9]+\.[0-9]+\.[0-9]+#\1{version}#'
    exit "${{PIPESTATUS[0]}}" ;;
  *) exec "$REAL" "$@" ;;
esac
"#,
        real = real.display(),
    );
    std::fs::write(path, script).expect("write the wrapper");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}
