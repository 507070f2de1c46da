//! Resolving manifest paths so that they stay inside the flow folder.

use std::path::{Component, Path, PathBuf};

/// Why a relative manifest path was refused.
#[derive(Debug)]
pub(crate) enum PathProblem {
    /// Empty string.
    Empty,
    /// Absolute, uses `..`, or resolves through a symlink to outside the root.
    Escapes,
    /// The path does not exist (or cannot be resolved).
    Missing(std::io::Error),
}

/// Resolves `relative` against the canonical flow folder `root`, refusing absolute paths, `..`
/// components and symlinks that lead outside `root`. Returns the canonical path.
pub(crate) fn resolve_inside(root: &Path, relative: &str) -> Result<PathBuf, PathProblem> {
    if relative.trim().is_empty() {
        return Err(PathProblem::Empty);
    }
    let rel = Path::new(relative);
    if rel.is_absolute() {
        return Err(PathProblem::Escapes);
    }
    for component in rel.components() {
        match component {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(PathProblem::Escapes)
            }
        }
    }
    let canonical = root
        .join(rel)
        .canonicalize()
        .map_err(PathProblem::Missing)?;
    if !canonical.starts_with(root) {
        return Err(PathProblem::Escapes);
    }
    Ok(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_escapes_and_accepts_inside() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::write(root.join("a.sh"), "").unwrap();
        assert!(resolve_inside(&root, "a.sh").is_ok());
        assert!(resolve_inside(&root, "./a.sh").is_ok());
        assert!(matches!(
            resolve_inside(&root, "../a.sh"),
            Err(PathProblem::Escapes)
        ));
        assert!(matches!(
            resolve_inside(&root, "/etc/passwd"),
            Err(PathProblem::Escapes)
        ));
        assert!(matches!(
            resolve_inside(&root, " "),
            Err(PathProblem::Empty)
        ));
        assert!(matches!(
            resolve_inside(&root, "missing.sh"),
            Err(PathProblem::Missing(_))
        ));
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("evil.sh"), "").unwrap();
        std::os::unix::fs::symlink(outside.path().join("evil.sh"), root.join("link.sh")).unwrap();
        assert!(matches!(
            resolve_inside(&root, "link.sh"),
            Err(PathProblem::Escapes)
        ));
    }
}
