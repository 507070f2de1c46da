//! [`FsArtifactStore`]: artifacts as files, written atomically, locked across processes.
//!
//! Layout: `ROOT/<id>/artifact.json` holds the whole artifact (content, revision, version,
//! thread, metadata, history); `ROOT/<id>/lock` is the lock file. A write takes the lock, reads
//! and checks the current file, writes `.artifact.json.tmp.*` in the same directory, fsyncs it,
//! renames it over `artifact.json` and fsyncs the directory. A crash at any point leaves either
//! the old or the new file, never a torn one; stale temp files are removed by the next write.

use super::contract::{PluginContractVersion, ARTIFACT_CONTRACT_VERSION};
use super::error::ArtifactError;
use super::lock::ArtifactLock;
use super::model::{
    now_ms, Artifact, ArtifactId, HistoryEntry, NewArtifact, DEFAULT_HISTORY_LIMIT,
};
use super::revision::Revision;
use super::store::ArtifactStore;
use futures::future::BoxFuture;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

const FILE: &str = "artifact.json";
const LOCK: &str = "lock";
const TEMP_PREFIX: &str = ".artifact.json.tmp.";

/// TEST ONLY. `CODEX_RUNTIME_ARTIFACT_TEST_PAUSE_BEFORE_RENAME=<n>:<marker path>` makes the
/// `n`-th write (1-based) of a store created while it is set stop between fsyncing its temp file
/// and the rename: it creates the marker file and sleeps forever, so a crash test can SIGKILL the
/// writer at exactly that point. Never set it outside tests.
pub const TEST_PAUSE_BEFORE_RENAME_ENV: &str = "CODEX_RUNTIME_ARTIFACT_TEST_PAUSE_BEFORE_RENAME";

/// A filesystem [`ArtifactStore`]. Cheap to clone; clones share the write counter.
///
/// ```no_run
/// # async fn demo() -> Result<(), codex_runtime::artifact::ArtifactError> {
/// use codex_runtime::artifact::{ArtifactFormat, ArtifactStore, FsArtifactStore, NewArtifact};
/// let store = FsArtifactStore::new("artifacts").with_history_limit(50);
/// let a = store.create(NewArtifact::new("notes", ArtifactFormat::Markdown, "# Notes\n")?).await?;
/// let b = store.commit(&a.id, &a.revision, "# Notes\n\nfirst\n".into(), "manual".into()).await?;
/// assert_eq!(b.version, 2);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct FsArtifactStore {
    root: PathBuf,
    history_limit: usize,
    writes: Arc<AtomicU64>,
    pause: Option<(u64, PathBuf)>,
}

impl FsArtifactStore {
    /// A store under `root` (created on the first write), keeping
    /// [`DEFAULT_HISTORY_LIMIT`] history entries per artifact.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        FsArtifactStore {
            root: root.into(),
            history_limit: DEFAULT_HISTORY_LIMIT,
            writes: Arc::new(AtomicU64::new(0)),
            pause: test_pause(),
        }
    }

    /// Keeps at most `limit` history entries per artifact (at least 1), dropping the oldest.
    pub fn with_history_limit(mut self, limit: usize) -> Self {
        self.history_limit = limit.max(1);
        self
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file holding artifact `id`.
    pub fn artifact_path(&self, id: &ArtifactId) -> PathBuf {
        self.dir(id).join(FILE)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&FsArtifactStore) -> Result<T, ArtifactError> + Send + 'static,
    ) -> Result<T, ArtifactError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| ArtifactError::Io {
                path: self.root.clone(),
                source: std::io::Error::other(format!("the store's blocking task failed: {e}")),
            })?
    }
}

fn test_pause() -> Option<(u64, PathBuf)> {
    let v = std::env::var(TEST_PAUSE_BEFORE_RENAME_ENV).ok()?;
    let (n, path) = v.split_once(':')?;
    Some((n.parse().ok()?, PathBuf::from(path)))
}

impl FsArtifactStore {
    fn dir(&self, id: &ArtifactId) -> PathBuf {
        self.root.join(id.as_str())
    }

    fn read(&self, id: &ArtifactId) -> Result<Option<Artifact>, ArtifactError> {
        let path = self.dir(id).join(FILE);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ArtifactError::Io { path, source: e }),
        };
        let artifact: Artifact =
            serde_json::from_slice(&bytes).map_err(|e| ArtifactError::Corrupt {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        if artifact.id != *id {
            return Err(ArtifactError::Corrupt {
                path,
                reason: format!("the file holds artifact `{}`", artifact.id),
            });
        }
        artifact
            .check_integrity()
            .map_err(|reason| ArtifactError::Corrupt { path, reason })?;
        Ok(Some(artifact))
    }

    /// Takes the artifact's lock (creating its directory on `create`).
    fn lock(&self, id: &ArtifactId, create: bool) -> Result<ArtifactLock, ArtifactError> {
        let dir = self.dir(id);
        if create && !dir.exists() {
            create_dir_durably(&dir)?;
        } else if !dir.exists() {
            return Err(ArtifactError::NotFound { id: id.to_string() });
        }
        ArtifactLock::acquire(&dir.join(LOCK))
    }

    /// Atomically replaces the artifact's file. The caller holds the lock.
    fn write(&self, artifact: &Artifact) -> Result<(), ArtifactError> {
        let dir = self.dir(&artifact.id);
        remove_stale_temps(&dir);
        let n = self.writes.fetch_add(1, Ordering::SeqCst) + 1;
        let tmp = dir.join(format!("{TEMP_PREFIX}{}.{n}", std::process::id()));
        let bytes = serde_json::to_vec(artifact).map_err(|e| ArtifactError::Corrupt {
            path: tmp.clone(),
            reason: format!("cannot encode the artifact: {e}"),
        })?;
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(ArtifactError::io(&tmp))?;
        f.write_all(&bytes).map_err(ArtifactError::io(&tmp))?;
        f.sync_all().map_err(ArtifactError::io(&tmp))?;
        drop(f);
        if let Some((at, marker)) = &self.pause {
            if *at == n {
                pause_forever(marker);
            }
        }
        let path = dir.join(FILE);
        if let Err(e) = fs::rename(&tmp, &path) {
            let _ = fs::remove_file(&tmp);
            return Err(ArtifactError::Io { path, source: e });
        }
        sync_dir(&dir)
    }

    fn create(&self, new: NewArtifact) -> Result<Artifact, ArtifactError> {
        let artifact = new.into_artifact(now_ms())?;
        let _lock = self.lock(&artifact.id, true)?;
        if self.read(&artifact.id)?.is_some() {
            return Err(ArtifactError::AlreadyExists {
                id: artifact.id.to_string(),
            });
        }
        self.write(&artifact)?;
        Ok(artifact)
    }

    fn commit(
        &self,
        id: &ArtifactId,
        expected: &Revision,
        content: String,
        note: String,
    ) -> Result<Artifact, ArtifactError> {
        let _lock = self.lock(id, false)?;
        let current = self
            .read(id)?
            .ok_or_else(|| ArtifactError::NotFound { id: id.to_string() })?;
        if current.revision != *expected {
            return Err(ArtifactError::Conflict {
                id: id.to_string(),
                expected: expected.clone(),
                actual: current.revision,
            });
        }
        current
            .format
            .check_content(&content)
            .map_err(|reason| ArtifactError::InvalidContent {
                id: id.to_string(),
                reason,
            })?;
        let next = current.with_content(content, note, self.history_limit, now_ms());
        self.write(&next)?;
        Ok(next)
    }

    fn bind_thread(&self, id: &ArtifactId, thread_id: String) -> Result<Artifact, ArtifactError> {
        let _lock = self.lock(id, false)?;
        let mut current = self
            .read(id)?
            .ok_or_else(|| ArtifactError::NotFound { id: id.to_string() })?;
        if current.thread_id.is_some() {
            return Ok(current);
        }
        current.thread_id = Some(thread_id);
        current.version += 1;
        self.write(&current)?;
        Ok(current)
    }

    fn list(&self) -> Result<Vec<ArtifactId>, ArtifactError> {
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(ArtifactError::Io {
                    path: self.root.clone(),
                    source: e,
                })
            }
        };
        let mut ids = Vec::new();
        for entry in entries {
            let entry = entry.map_err(ArtifactError::io(&self.root))?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if let Ok(id) = ArtifactId::new(name) {
                if entry.path().join(FILE).is_file() {
                    ids.push(id);
                }
            }
        }
        ids.sort();
        Ok(ids)
    }
}

/// Creates `dir` with its missing parents and makes each new directory entry durable: the parent
/// of every directory created is fsynced, up to the first one that existed (so a root that
/// `create_dir_all` just made survives a crash too, not only the artifact's directory in it).
/// Returns the directories it fsynced, deepest first.
fn create_dir_durably(dir: &Path) -> Result<Vec<PathBuf>, ArtifactError> {
    let mut missing = Vec::new();
    let mut at = dir;
    while !at.exists() {
        missing.push(at.to_path_buf());
        match at.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => at = parent,
            _ => break,
        }
    }
    fs::create_dir_all(dir).map_err(ArtifactError::io(dir))?;
    let mut synced = Vec::with_capacity(missing.len());
    for created in &missing {
        let parent = match created.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        sync_dir(parent)?;
        synced.push(parent.to_path_buf());
    }
    Ok(synced)
}

fn sync_dir(dir: &Path) -> Result<(), ArtifactError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(ArtifactError::io(dir))
}

/// Removes temp files left by a writer that died before its rename (the caller holds the lock,
/// so no live writer owns them).
fn remove_stale_temps(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            if let Err(e) = fs::remove_file(entry.path()) {
                tracing::warn!(path = %entry.path().display(), "cannot remove a stale temp file: {e}");
            }
        }
    }
}

/// The test-only pause (see [`TEST_PAUSE_BEFORE_RENAME_ENV`]).
fn pause_forever(marker: &Path) -> ! {
    tracing::warn!("test pause before rename: waiting to be killed");
    if let Err(e) = fs::write(marker, b"paused") {
        tracing::warn!(path = %marker.display(), "cannot write the pause marker: {e}");
    }
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}

impl ArtifactStore for FsArtifactStore {
    fn contract_version(&self) -> PluginContractVersion {
        ARTIFACT_CONTRACT_VERSION
    }

    fn load<'a>(
        &'a self,
        id: &'a ArtifactId,
    ) -> BoxFuture<'a, Result<Option<Artifact>, ArtifactError>> {
        let id = id.clone();
        Box::pin(self.blocking(move |s| s.read(&id)))
    }

    fn create(&self, new: NewArtifact) -> BoxFuture<'_, Result<Artifact, ArtifactError>> {
        Box::pin(self.blocking(move |s| s.create(new)))
    }

    fn commit<'a>(
        &'a self,
        id: &'a ArtifactId,
        expected: &'a Revision,
        content: String,
        note: String,
    ) -> BoxFuture<'a, Result<Artifact, ArtifactError>> {
        let (id, expected) = (id.clone(), expected.clone());
        Box::pin(self.blocking(move |s| s.commit(&id, &expected, content, note)))
    }

    fn bind_thread<'a>(
        &'a self,
        id: &'a ArtifactId,
        thread_id: String,
    ) -> BoxFuture<'a, Result<Artifact, ArtifactError>> {
        let id = id.clone();
        Box::pin(self.blocking(move |s| s.bind_thread(&id, thread_id)))
    }

    fn history<'a>(
        &'a self,
        id: &'a ArtifactId,
    ) -> BoxFuture<'a, Result<Vec<HistoryEntry>, ArtifactError>> {
        let id = id.clone();
        Box::pin(self.blocking(move |s| {
            s.read(&id)?
                .map(|a| a.history)
                .ok_or_else(|| ArtifactError::NotFound { id: id.to_string() })
        }))
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<ArtifactId>, ArtifactError>> {
        Box::pin(self.blocking(|s| s.list()))
    }
}

#[cfg(test)]
mod durable_dir_tests {
    use super::*;

    #[test]
    fn creating_a_missing_root_fsyncs_the_parent_of_every_directory_it_made() {
        let base = std::env::temp_dir().join(format!("fs-store-durable-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        fs::create_dir_all(&base).unwrap();
        let root = base.join("a").join("root");
        let synced = create_dir_durably(&root.join("doc")).unwrap();
        assert!(root.join("doc").is_dir());
        // The artifact's directory, the root and its new parent: each entry's parent.
        assert_eq!(synced, vec![root.clone(), base.join("a"), base.clone()]);
        // Only what was created: a second artifact syncs the root alone.
        assert_eq!(create_dir_durably(&root.join("other")).unwrap(), vec![root]);
        fs::remove_dir_all(&base).unwrap();
    }
}
