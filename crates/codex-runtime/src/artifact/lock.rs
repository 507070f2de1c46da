//! [`ArtifactLock`]: an exclusive advisory lock per artifact that works across processes
//! (`flock(2)` through the `fs4` crate), held while a write reads, checks and replaces the file.

use super::error::ArtifactError;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

/// Held while it lives; dropping it (or the process dying) releases the lock.
#[derive(Debug)]
pub(crate) struct ArtifactLock {
    file: File,
    path: PathBuf,
}

impl ArtifactLock {
    /// Blocks until the lock on `path` (created if missing) is held. `flock` locks belong to
    /// the open file, so two handles in one process exclude each other as two processes do.
    pub(crate) fn acquire(path: &Path) -> Result<ArtifactLock, ArtifactError> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(ArtifactError::io(path))?;
        fs4::FileExt::lock(&file).map_err(ArtifactError::io(path))?;
        Ok(ArtifactLock {
            file,
            path: path.to_path_buf(),
        })
    }
}

impl Drop for ArtifactLock {
    fn drop(&mut self) {
        if let Err(e) = fs4::FileExt::unlock(&self.file) {
            tracing::warn!(path = %self.path.display(), "unlocking an artifact failed: {e}");
        }
    }
}
