//! A key's directories under the pool root: its own `CODEX_HOME` (with the operator's
//! `config.toml` and `auth.json` copied in) and its workspace root.
//!
//! The operator's files are **copied**, not linked: codex writes into its home (it rewrites
//! `auth.json` when it refreshes a ChatGPT login, and may update `config.toml`), and through a
//! link those writes would land in the one file every tenant shares. A copy keeps each key's
//! writes in that key's home; the copies are `0600` and refreshed whenever the key's entry is
//! created (a new pool, or a key seen for the first time).

use super::error::PoolError;
use super::key::PoolKey;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The files brought from the operator's codex home into every key's home.
pub const OPERATOR_FILES: [&str; 2] = ["config.toml", "auth.json"];

/// The directories of one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDirs {
    /// `<root>/<key>`: everything of the key (`0700`).
    pub base: PathBuf,
    /// `<root>/<key>/codex-home`: the key's `CODEX_HOME` (its transcripts live under
    /// `sessions/`).
    pub codex_home: PathBuf,
    /// The key's workspace root, where its sessions' working directories live
    /// (`<root>/<key>/workspace` unless configured per key).
    pub workspace: PathBuf,
}

impl KeyDirs {
    /// Where `key`'s directories are under `root` (`workspace` overrides the default one).
    pub fn of(root: &Path, key: &PoolKey, workspace: Option<&Path>) -> KeyDirs {
        let base = root.join(key.as_str());
        KeyDirs {
            codex_home: base.join("codex-home"),
            workspace: workspace
                .map(Path::to_path_buf)
                .unwrap_or_else(|| base.join("workspace")),
            base,
        }
    }

    /// Creates the directories (`0700`) and copies the operator's files into the codex home.
    pub(super) fn prepare(&self, operator_home: Option<&Path>) -> Result<(), PoolError> {
        for dir in [&self.base, &self.codex_home, &self.workspace] {
            create_private_dir(dir)?;
        }
        if let Some(from) = operator_home {
            for name in OPERATOR_FILES {
                copy_private(&from.join(name), &self.codex_home.join(name))?;
            }
        }
        Ok(())
    }
}

/// Creates `dir` (and its parents) and makes it `0700`.
pub(super) fn create_private_dir(dir: &Path) -> Result<(), PoolError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(PoolError::io("create the directory", dir))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(PoolError::io("restrict the directory", dir))
}

/// Copies `from` to `to` as a `0600` file; a missing `from` is skipped.
fn copy_private(from: &Path, to: &Path) -> Result<(), PoolError> {
    let bytes = match fs::read(from) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(PoolError::io("read the operator file", from)(e)),
    };
    let tmp = to.with_extension("pool-tmp");
    {
        use std::io::Write;
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(PoolError::io("write", &tmp))?;
        f.write_all(&bytes).map_err(PoolError::io("write", &tmp))?;
    }
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600))
        .map_err(PoolError::io("restrict", &tmp))?;
    fs::rename(&tmp, to).map_err(PoolError::io("install", to))
}

/// The operator's codex home: `explicit`, else `CODEX_HOME` of the template's environment or
/// its `codex_home`, else `$CODEX_HOME`, else `~/.codex`.
pub(super) fn operator_home(
    explicit: Option<&Path>,
    template: &crate::runtime::raw::RuntimeConfig,
) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    if let Some((_, v)) = template.env.iter().rev().find(|(k, _)| k == "CODEX_HOME") {
        return Some(PathBuf::from(v));
    }
    if let Some(p) = &template.codex_home {
        return Some(p.clone());
    }
    if let Some(v) = std::env::var_os("CODEX_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(v));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".codex"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepare_copies_the_operator_files_private_and_skips_missing_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let operator = tmp.path().join("op");
        fs::create_dir(&operator).unwrap();
        fs::write(operator.join("config.toml"), "model = \"x\"\n").unwrap();
        let key = PoolKey::new("a").unwrap();
        let dirs = KeyDirs::of(&tmp.path().join("root"), &key, None);
        dirs.prepare(Some(&operator)).unwrap();
        let copied = dirs.codex_home.join("config.toml");
        assert_eq!(fs::read_to_string(&copied).unwrap(), "model = \"x\"\n");
        let mode = fs::metadata(&copied).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(!fs::symlink_metadata(&copied)
            .unwrap()
            .file_type()
            .is_symlink());
        assert!(!dirs.codex_home.join("auth.json").exists());
        let mode = fs::metadata(&dirs.base).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        assert!(dirs.workspace.is_dir());
    }
}
