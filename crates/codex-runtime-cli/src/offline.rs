//! The offline mode: the bundled mock model plus a throw-away `CODEX_HOME` pointing codex at it,
//! so `demo` and `automate --offline` work without an API key.

use crate::error::CliError;
use anyhow::{Context, Result};
use codex_mock_model::{write_codex_config, HomeOptions, MockModel, Scenario};
use codex_runtime::ClientConfig;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// True when `OPENAI_API_KEY` or `CODEX_API_KEY` is set (and not empty).
pub fn api_key_present() -> bool {
    ["OPENAI_API_KEY", "CODEX_API_KEY"]
        .iter()
        .any(|k| std::env::var_os(k).is_some_and(|v| !v.is_empty()))
}

/// Refuses to start codex when it could not authenticate: no API key in the environment and
/// no `auth.json` (from `codex login`) in `$CODEX_HOME` (default `~/.codex`). Without this,
/// codex would retry the model for the whole turn timeout before failing.
pub fn check_credentials() -> Result<(), CliError> {
    if api_key_present() {
        return Ok(());
    }
    let home = std::env::var_os("CODEX_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".codex")));
    match home {
        Some(home) if home.join("auth.json").is_file() => Ok(()),
        home => Err(CliError::NoCredentials {
            auth_file: home.map(|h| h.join("auth.json")),
        }),
    }
}

/// The notice printed on stderr when the offline mode is used.
pub const OFFLINE_NOTICE: &str =
    "offline demo: no OPENAI_API_KEY/CODEX_API_KEY set, using the bundled mock model";

/// A running mock model and the `CODEX_HOME` that points codex at it; both go away on drop.
#[derive(Debug)]
pub struct OfflineModel {
    /// Kept alive (serving) as long as the offline model is.
    _mock: MockModel,
    home: HomeDir,
}

impl OfflineModel {
    /// Starts the mock on `127.0.0.1:0` serving `scenario` and writes a fresh codex home for it
    /// (see [`home_root`] for where).
    pub async fn start(scenario: Scenario, cwd: &Path) -> Result<Self> {
        let mock = MockModel::start(scenario)
            .await
            .context("cannot start the bundled mock model")?;
        let home = HomeDir::create(&home_root(cwd))?;
        write_codex_config(home.path(), &mock.url(), &HomeOptions::default())
            .context("cannot write the offline codex config")?;
        tracing::debug!(url = %mock.url(), home = %home.path().display(), "offline model ready");
        Ok(OfflineModel { _mock: mock, home })
    }

    /// A client configuration that runs codex against the mock.
    pub fn client_config(&self) -> ClientConfig {
        ClientConfig::new()
            .with_codex_home(self.home.path())
            .with_env("OPENAI_API_KEY", "offline-demo")
    }
}

/// Where offline codex homes are made: `$XDG_CACHE_HOME/codex-runtime`, else
/// `$HOME/.cache/codex-runtime`, else `<cwd>/target/codex-runtime`, else
/// `/var/tmp/codex-runtime`; the first that is not under `/tmp` (codex refuses its helper
/// aliases there, so a checkout in a temporary directory must not put its homes in its own
/// `target/`). Homes live in `demo-codex-home/`.
pub fn home_root(cwd: &Path) -> PathBuf {
    choose_home_root(
        std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from),
        std::env::var_os("HOME").map(PathBuf::from),
        cwd,
    )
}

fn choose_home_root(xdg_cache: Option<PathBuf>, home: Option<PathBuf>, cwd: &Path) -> PathBuf {
    let candidates = [
        xdg_cache.map(|d| d.join("codex-runtime")),
        home.map(|d| d.join(".cache").join("codex-runtime")),
        Some(cwd.join("target").join("codex-runtime")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.is_absolute() && !p.starts_with("/tmp"))
        .unwrap_or_else(|| PathBuf::from("/var/tmp/codex-runtime"))
        .join("demo-codex-home")
}

/// A fresh directory `<root>/<pid>-<nanos>`, removed on drop.
#[derive(Debug)]
struct HomeDir {
    path: PathBuf,
}

impl HomeDir {
    fn create(root: &Path) -> Result<Self> {
        if root.starts_with("/tmp") {
            tracing::warn!(
                "offline codex home under {}: codex may refuse helper aliases under /tmp",
                root.display()
            );
        }
        std::fs::create_dir_all(root)
            .with_context(|| format!("cannot create {}", root.display()))?;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = root.join(format!("{}-{nanos}", std::process::id()));
        std::fs::create_dir(&path)
            .with_context(|| format!("cannot create the offline codex home {}", path.display()))?;
        let path = path.canonicalize().unwrap_or(path);
        Ok(HomeDir { path })
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for HomeDir {
    fn drop(&mut self) {
        if let Err(err) = std::fs::remove_dir_all(&self.path) {
            tracing::debug!("cannot remove {}: {err}", self.path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_home_dir_is_fresh_and_removed_on_drop() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../target/cli-unit-homes")
            .join(format!("t-{}", std::process::id()));
        let a = HomeDir::create(&root).unwrap();
        let b = HomeDir::create(&root).unwrap();
        assert_ne!(a.path(), b.path());
        let kept = a.path().to_path_buf();
        assert!(kept.is_dir());
        drop(a);
        assert!(!kept.exists());
        drop(b);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn the_home_root_prefers_the_cache_dirs_and_avoids_tmp() {
        let cwd = Path::new("/work/project");
        let pick = |x: Option<&str>, h: Option<&str>| {
            choose_home_root(x.map(PathBuf::from), h.map(PathBuf::from), cwd)
        };
        assert_eq!(
            pick(Some("/c"), Some("/home/u")),
            Path::new("/c/codex-runtime/demo-codex-home")
        );
        assert_eq!(
            pick(Some("/tmp/c"), Some("/home/u")),
            Path::new("/home/u/.cache/codex-runtime/demo-codex-home")
        );
        assert_eq!(
            pick(Some("relative"), None),
            Path::new("/work/project/target/codex-runtime/demo-codex-home")
        );
        assert_eq!(
            pick(None, Some("/tmp/home")),
            Path::new("/work/project/target/codex-runtime/demo-codex-home")
        );
        // A checkout under /tmp with no usable cache dir: never its own target/.
        assert_eq!(
            choose_home_root(None, Some("/tmp/home".into()), Path::new("/tmp/x/checkout")),
            Path::new("/var/tmp/codex-runtime/demo-codex-home")
        );
    }
}
