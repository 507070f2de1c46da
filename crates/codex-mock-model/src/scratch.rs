//! [`ScratchDir`]: a fresh directory under the workspace `target/`, removed on drop.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::MockError;

/// Environment variable that overrides the root of scratch directories.
pub const SCRATCH_ROOT_ENV: &str = "CODEX_RUNTIME_TEST_HOME_ROOT";

/// The root under which scratch directories are made: `$CODEX_RUNTIME_TEST_HOME_ROOT` when set,
/// else the workspace `target/` directory, unless that is under `/tmp` (a checkout in a temporary
/// directory): then `$HOME/.cache/codex-runtime-tests`, else `/var/tmp/codex-runtime-tests`.
/// Codex homes must live outside `/tmp`: under `/tmp` codex refuses to create its helper aliases
/// and sandboxed commands fail.
pub fn scratch_root() -> PathBuf {
    if let Some(root) = std::env::var_os(SCRATCH_ROOT_ENV).filter(|r| !r.is_empty()) {
        return PathBuf::from(root);
    }
    let target = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("..")
        .join("target");
    let resolved = target.canonicalize().unwrap_or_else(|_| target.clone());
    if !resolved.starts_with("/tmp") {
        return target;
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty() && !Path::new(h).starts_with("/tmp")) {
        Some(home) => PathBuf::from(home)
            .join(".cache")
            .join("codex-runtime-tests"),
        None => PathBuf::from("/var/tmp/codex-runtime-tests"),
    }
}

/// A directory `<scratch_root>/<group>/<prefix>-<pid>-<n>-<nanos>`, removed (best effort) on drop.
#[derive(Debug)]
pub struct ScratchDir {
    path: PathBuf,
    keep: bool,
}

impl ScratchDir {
    /// Creates a fresh, empty directory under `<scratch_root>/<group>/`.
    pub fn create(group: &str, prefix: &str) -> Result<Self, MockError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let root = scratch_root().join(group);
        if root.starts_with("/tmp") {
            tracing::warn!(
                "scratch root {} is under /tmp: codex misbehaves with CODEX_HOME there",
                root.display()
            );
        }
        std::fs::create_dir_all(&root).map_err(|source| MockError::CodexHome {
            path: root.clone(),
            source,
        })?;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = root.join(format!("{prefix}-{}-{n}-{nanos}", std::process::id()));
        std::fs::create_dir(&path).map_err(|source| MockError::CodexHome {
            path: path.clone(),
            source,
        })?;
        // Canonical so that codex (which canonicalises cwd) reports the same path.
        let path = path.canonicalize().unwrap_or(path);
        Ok(Self { path, keep: false })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps the directory on drop (for debugging a failed test); returns its path.
    pub fn keep(mut self) -> PathBuf {
        self.keep = true;
        self.path.clone()
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if !self.keep {
            if let Err(err) = std::fs::remove_dir_all(&self.path) {
                tracing::debug!("cannot remove {}: {err}", self.path.display());
            }
        }
    }
}
