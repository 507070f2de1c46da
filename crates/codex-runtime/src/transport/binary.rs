//! Finding the codex binary: explicit config, then `CODEX_BIN`, then `codex` on `PATH`.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// Resolves the codex binary.
///
/// Order: `explicit` (from `ClientConfig::with_cli_bin`), the `CODEX_BIN` environment variable,
/// then `codex` on `PATH`. When none exists the error names every place it looked and the
/// install command.
///
/// ```no_run
/// let bin = codex_runtime::transport::binary::resolve_codex_binary(None)?;
/// println!("{}", bin.display());
/// # Ok::<(), codex_runtime::Error>(())
/// ```
pub fn resolve_codex_binary(explicit: Option<&Path>) -> Result<PathBuf> {
    let mut searched = Vec::new();
    if let Some(p) = explicit {
        if is_executable(p) {
            return Ok(p.to_path_buf());
        }
        searched.push(format!("configured path {}", p.display()));
    }
    match std::env::var_os("CODEX_BIN") {
        Some(v) if !v.is_empty() => {
            let p = PathBuf::from(v);
            if is_executable(&p) {
                return Ok(p);
            }
            searched.push(format!("CODEX_BIN={}", p.display()));
        }
        _ => searched.push("CODEX_BIN (unset)".to_string()),
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let cand = dir.join("codex");
        if is_executable(&cand) {
            return Ok(cand);
        }
    }
    searched.push(format!(
        "`codex` on PATH ({})",
        std::env::split_paths(&path)
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(":")
    ));
    Err(Error::BinaryNotFound { searched })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_explicit_path_is_named_in_the_error() {
        let err = resolve_codex_binary(Some(Path::new("/nonexistent/codex-xyz")));
        match err {
            Ok(p) => {
                // CODEX_BIN or PATH provided a codex: the explicit path was still skipped.
                assert_ne!(p, PathBuf::from("/nonexistent/codex-xyz"));
            }
            Err(Error::BinaryNotFound { searched }) => {
                assert!(searched[0].contains("/nonexistent/codex-xyz"));
                assert!(searched.iter().any(|s| s.contains("PATH")));
            }
            Err(e) => panic!("unexpected error {e}"),
        }
    }

    #[test]
    fn error_message_names_the_install_command() {
        let e = Error::BinaryNotFound {
            searched: vec!["CODEX_BIN (unset)".into()],
        };
        assert!(e.to_string().contains("scripts/install-codex.sh"));
    }
}
