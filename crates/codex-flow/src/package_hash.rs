//! The content hash of a flow package: `sha256:<hex>` over every file of the flow folder (sorted
//! relative paths and bytes). A run records the hash of the package it was matched against, and
//! a worker runs it only when its own copy hashes the same.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::catalog::LoadedFlow;
use crate::error::{FlowError, Result};

/// Largest number of files hashed in one package.
pub const MAX_PACKAGE_FILES: usize = 10_000;

/// `sha256:<hex>` of `flow`'s folder. Symbolic links are hashed as their target path, not
/// followed; `.git` folders are skipped.
pub fn package_hash(flow: &LoadedFlow) -> Result<String> {
    let mut files = Vec::new();
    // Hand-written walk (no walkdir dependency): one recursive read_dir with a file limit.
    collect(&flow.root, &mut files)?;
    files.sort();
    let mut hasher = Sha256::new();
    for path in &files {
        let rel = path.strip_prefix(&flow.root).unwrap_or(path);
        hasher.update(rel.to_string_lossy().as_bytes());
        hasher.update([0u8]);
        let meta = std::fs::symlink_metadata(path)
            .map_err(|e| FlowError::io(format!("cannot hash {}", path.display()), e))?;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(path)
                .map_err(|e| FlowError::io(format!("cannot hash {}", path.display()), e))?;
            hasher.update(b"link:");
            hasher.update(target.to_string_lossy().as_bytes());
        } else {
            let bytes = std::fs::read(path)
                .map_err(|e| FlowError::io(format!("cannot hash {}", path.display()), e))?;
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(&bytes);
        }
        hasher.update([0u8]);
    }
    Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| FlowError::io(format!("cannot read {}", dir.display()), e))?;
    for entry in entries {
        let entry =
            entry.map_err(|e| FlowError::io(format!("cannot read {}", dir.display()), e))?;
        let path = entry.path();
        let kind = entry
            .file_type()
            .map_err(|e| FlowError::io(format!("cannot read {}", path.display()), e))?;
        if kind.is_dir() {
            if entry.file_name() != ".git" {
                collect(&path, files)?;
            }
        } else {
            if files.len() >= MAX_PACKAGE_FILES {
                return Err(FlowError::Config(format!(
                    "flow package {} has over {MAX_PACKAGE_FILES} files",
                    dir.display()
                )));
            }
            files.push(path);
        }
    }
    Ok(())
}
