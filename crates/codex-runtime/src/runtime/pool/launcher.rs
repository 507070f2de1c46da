//! [`Launcher`]: how an operator wraps the codex command of each pool key (another OS user, a
//! container, `systemd-run`).
//!
//! The pool starts `PROGRAM app-server ARGS...` with the environment of a [`LaunchSpec`].
//! Without a launcher `PROGRAM` is codex itself. A launcher rewrites the spec; the simplest one,
//! [`WrapperLauncher`], makes `PROGRAM` an operator script that receives the real codex in
//! `CODEX_BIN` and ends with `exec ... "$CODEX_BIN" "$@"`.

use super::error::PoolError;
use super::home::KeyDirs;
use super::key::PoolKey;
use std::path::PathBuf;

/// The command the pool starts for one key: `program app-server args...` with `env` added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchSpec {
    /// The program (codex itself, or a wrapper).
    pub program: PathBuf,
    /// Arguments after `app-server`.
    pub args: Vec<String>,
    /// Environment added to the pool's own (`CODEX_HOME` is always the key's home).
    pub env: Vec<(String, String)>,
}

/// Wraps the codex command of each key. Implementations must be cheap: `launch` runs whenever
/// a key's entry is created.
pub trait Launcher: Send + Sync + std::fmt::Debug + 'static {
    /// Runs once when a key's directories exist, before its first process (e.g. to `chown`
    /// them to the key's OS user). Default: nothing.
    fn prepare(&self, key: &PoolKey, dirs: &KeyDirs) -> Result<(), PoolError> {
        let _ = (key, dirs);
        Ok(())
    }

    /// The command to start for `key`, given the pool's own `spec`.
    fn launch(
        &self,
        key: &PoolKey,
        dirs: &KeyDirs,
        spec: LaunchSpec,
    ) -> Result<LaunchSpec, PoolError>;
}

/// Runs an operator's wrapper program instead of codex: `WRAPPER app-server ARGS...`, with
/// `CODEX_BIN` (the real codex), `CODEX_HOME` (the key's home), `CODEX_POOL_KEY` and
/// `CODEX_POOL_WORKSPACE` set. For example, to run each key as its own OS user:
///
/// ```sh
/// #!/bin/sh
/// # /usr/local/bin/codex-as-tenant: run codex as the user `codex-$CODEX_POOL_KEY`
/// exec setpriv --reuid="codex-$CODEX_POOL_KEY" --regid="codex-$CODEX_POOL_KEY" --clear-groups \
///   env HOME="$CODEX_HOME" "$CODEX_BIN" "$@"
/// ```
#[derive(Debug, Clone)]
pub struct WrapperLauncher {
    program: PathBuf,
}

impl WrapperLauncher {
    /// Wraps every key's codex in `program`.
    pub fn new(program: impl Into<PathBuf>) -> Self {
        WrapperLauncher {
            program: program.into(),
        }
    }
}

impl Launcher for WrapperLauncher {
    fn launch(
        &self,
        key: &PoolKey,
        dirs: &KeyDirs,
        mut spec: LaunchSpec,
    ) -> Result<LaunchSpec, PoolError> {
        let codex = std::mem::replace(&mut spec.program, self.program.clone());
        spec.env
            .push(("CODEX_BIN".into(), codex.display().to_string()));
        spec.env.push(("CODEX_POOL_KEY".into(), key.to_string()));
        spec.env.push((
            "CODEX_POOL_WORKSPACE".into(),
            dirs.workspace.display().to_string(),
        ));
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wrapper_runs_instead_of_codex_and_is_told_where_codex_is() {
        let key = PoolKey::new("t1").unwrap();
        let dirs = KeyDirs::of(std::path::Path::new("/pool"), &key, None);
        let spec = LaunchSpec {
            program: "/opt/codex".into(),
            args: vec!["-c".into(), "x=1".into()],
            env: vec![],
        };
        let out = WrapperLauncher::new("/usr/local/bin/wrap")
            .launch(&key, &dirs, spec)
            .unwrap();
        assert_eq!(out.program, PathBuf::from("/usr/local/bin/wrap"));
        assert_eq!(out.args, ["-c", "x=1"]);
        let env = |k: &str| {
            out.env
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(env("CODEX_BIN"), Some("/opt/codex"));
        assert_eq!(env("CODEX_POOL_KEY"), Some("t1"));
        assert_eq!(env("CODEX_POOL_WORKSPACE"), Some("/pool/t1/workspace"));
    }
}
