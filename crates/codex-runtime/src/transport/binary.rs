//! Finding the codex binary: explicit config, else `CODEX_BIN`, else `codex` on `PATH`.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// Resolves the codex binary.
///
/// * An `explicit` path (from `ClientConfig::with_cli_bin`) is used as given. When it is
///   missing, a directory or not executable, the result is [`Error::BinaryNotExecutable`]
///   naming it: there is no silent fallback to another codex.
/// * Otherwise the `CODEX_BIN` environment variable, then `codex` on `PATH` (looked up with
///   the `which` crate). When neither gives an executable, [`Error::BinaryNotFound`] names
///   every place it looked and the install command.
///
/// ```no_run
/// let bin = codex_runtime::transport::binary::resolve_codex_binary(None)?;
/// println!("{}", bin.display());
/// # Ok::<(), codex_runtime::Error>(())
/// ```
pub fn resolve_codex_binary(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = explicit {
        return check_explicit(path);
    }
    let mut searched = Vec::new();
    match std::env::var_os("CODEX_BIN") {
        Some(v) if !v.is_empty() => {
            let p = PathBuf::from(v);
            if which::which(&p).is_ok() {
                return Ok(p);
            }
            searched.push(format!("CODEX_BIN={}", p.display()));
        }
        _ => searched.push("CODEX_BIN (unset)".to_string()),
    }
    if let Ok(found) = which::which("codex") {
        return Ok(found);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    searched.push(format!(
        "`codex` on PATH ({})",
        std::env::split_paths(&path)
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(":")
    ));
    Err(Error::BinaryNotFound { searched })
}

/// The explicit path if it is an executable file, else a typed error saying what is wrong.
fn check_explicit(path: &Path) -> Result<PathBuf> {
    if which::which(path).is_ok() {
        return Ok(path.to_path_buf());
    }
    let reason = match std::fs::metadata(path) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => "does not exist".to_string(),
        Err(err) => format!("cannot be inspected: {err}"),
        Ok(meta) if meta.is_dir() => "is a directory, not an executable file".to_string(),
        Ok(_) => "is not executable (no execute permission)".to_string(),
    };
    Err(Error::BinaryNotExecutable {
        path: path.to_path_buf(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A scratch directory under the system temp dir, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!(
                "codex-runtime-binary-{name}-{}",
                std::process::id()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn expect_not_executable(path: &Path, reason_part: &str) {
        match resolve_codex_binary(Some(path)) {
            Err(Error::BinaryNotExecutable {
                path: named,
                reason,
            }) => {
                assert_eq!(named, path);
                assert!(reason.contains(reason_part), "{reason}");
                let message = Error::BinaryNotExecutable {
                    path: named,
                    reason,
                }
                .to_string();
                assert!(message.contains(&path.display().to_string()), "{message}");
            }
            other => panic!(
                "expected BinaryNotExecutable for {}, got {other:?}",
                path.display()
            ),
        }
    }

    /// Whatever `CODEX_BIN` and `PATH` hold (the test suite sets `CODEX_BIN` to a real codex),
    /// a bad explicit path is an error naming it, never another binary.
    #[test]
    fn a_bad_explicit_path_is_an_error_naming_it_not_a_fallback() {
        let scratch = Scratch::new("explicit");
        expect_not_executable(&scratch.0.join("missing-codex"), "does not exist");
        expect_not_executable(&scratch.0, "is a directory");
        let plain = scratch.0.join("codex");
        std::fs::write(&plain, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
        expect_not_executable(&plain, "not executable");

        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(resolve_codex_binary(Some(&plain)).unwrap(), plain);
    }

    #[test]
    fn error_message_names_the_install_command() {
        let e = Error::BinaryNotFound {
            searched: vec!["CODEX_BIN (unset)".into()],
        };
        assert!(e.to_string().contains("scripts/install-codex.sh"));
    }
}
