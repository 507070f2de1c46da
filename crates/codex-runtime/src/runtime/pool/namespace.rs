//! [`MountNamespaceLauncher`]: runs each key's codex in a private mount namespace (Linux,
//! `unshare` from util-linux, needs `CAP_SYS_ADMIN`, i.e. root) where the pool root shows only
//! the key's own directory, and other paths the operator names (other keys' workspaces, the
//! conversation store, the operator's codex home) are hidden. codex's own sandbox runs inside
//! that view, so a command reading `/` cannot see another key's transcripts or files.

use super::error::PoolError;
use super::home::KeyDirs;
use super::key::PoolKey;
use super::launcher::{LaunchSpec, Launcher};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The script the launcher runs as `SCRIPT app-server ARGS...`. The outer shell is done
/// reading once it `exec`s; the inner one holds its program in memory, so hiding the pool root
/// (where the script lies) does not cut it off.
const SCRIPT: &str = r#"#!/bin/sh
# Written by codex-runtime's runtime pool (MountNamespaceLauncher). Do not edit.
set -eu
exec unshare --mount --propagation private -- /bin/sh -eu -c '
keep=$(mktemp -d)
mount --bind "$CODEX_POOL_KEY_DIR" "$keep"
mount -t tmpfs -o mode=0700,size=1m codex-pool-hidden "$CODEX_POOL_ROOT"
mkdir -p "$CODEX_POOL_KEY_DIR"
mount --move "$keep" "$CODEX_POOL_KEY_DIR"
rmdir "$keep" 2>/dev/null || true
IFS="
"
for p in ${CODEX_POOL_HIDE:-}; do
  [ "$p" = "$CODEX_POOL_WORKSPACE" ] && continue
  if [ -d "$p" ]; then mount -t tmpfs -o mode=0700,size=1m codex-pool-hidden "$p"
  elif [ -e "$p" ]; then mount --bind /dev/null "$p"
  fi
done
exec "$CODEX_BIN" "$@"
' codex-pool "$@"
"#;

/// Runs each key's codex in a private mount namespace: the pool root is replaced by an empty
/// `tmpfs` holding only the key's own directory, and every path given to
/// [`MountNamespaceLauncher::hide`] (except the key's own workspace) is covered too (a
/// directory by an empty `tmpfs`, a file by `/dev/null`). Needs Linux, `unshare` and root;
/// the process keeps the pool's OS user (combine with your own launcher for that) and the
/// network.
#[derive(Debug, Clone, Default)]
pub struct MountNamespaceLauncher {
    hide: Vec<PathBuf>,
}

impl MountNamespaceLauncher {
    /// Hides the pool root except the key's own directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also hides `path` from every key (other keys' workspaces outside the pool root, the
    /// conversation store, the operator's codex home...). A path with a newline is refused
    /// when the command is built.
    pub fn hide(mut self, path: impl Into<PathBuf>) -> Self {
        self.hide.push(path.into());
        self
    }

    /// True when this process can use it: Linux, root, and `unshare` on `PATH`.
    pub fn available() -> bool {
        use std::os::unix::fs::MetadataExt;
        // `/proc/self` belongs to the effective user.
        let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
        cfg!(target_os = "linux") && root && which::which("unshare").is_ok()
    }
}

fn text(path: &Path, key: &PoolKey) -> Result<String, PoolError> {
    let s = path.display().to_string();
    if s.contains('\n') {
        return Err(PoolError::Launcher {
            key: key.to_string(),
            message: format!("cannot hide a path with a newline: {s:?}"),
        });
    }
    Ok(s)
}

impl Launcher for MountNamespaceLauncher {
    fn launch(
        &self,
        key: &PoolKey,
        dirs: &KeyDirs,
        mut spec: LaunchSpec,
    ) -> Result<LaunchSpec, PoolError> {
        let root = dirs.base.parent().ok_or_else(|| PoolError::Launcher {
            key: key.to_string(),
            message: "the key directory has no parent".into(),
        })?;
        let script_dir = root.join(".launch");
        super::home::create_private_dir(&script_dir)?;
        let script = script_dir.join("mount-namespace.sh");
        if std::fs::read_to_string(&script).ok().as_deref() != Some(SCRIPT) {
            let tmp = script.with_extension("tmp");
            std::fs::write(&tmp, SCRIPT).map_err(PoolError::io("write", &tmp))?;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o700))
                .map_err(PoolError::io("restrict", &tmp))?;
            std::fs::rename(&tmp, &script).map_err(PoolError::io("install", &script))?;
        }
        let hide = self
            .hide
            .iter()
            .map(|p| text(p, key))
            .collect::<Result<Vec<_>, _>>()?
            .join("\n");
        let codex = std::mem::replace(&mut spec.program, script);
        spec.env.extend([
            ("CODEX_BIN".to_string(), text(&codex, key)?),
            ("CODEX_POOL_ROOT".to_string(), text(root, key)?),
            ("CODEX_POOL_KEY_DIR".to_string(), text(&dirs.base, key)?),
            (
                "CODEX_POOL_WORKSPACE".to_string(),
                text(&dirs.workspace, key)?,
            ),
            ("CODEX_POOL_HIDE".to_string(), hide),
        ]);
        Ok(spec)
    }
}
