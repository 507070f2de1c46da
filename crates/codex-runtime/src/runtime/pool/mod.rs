//! [`RuntimePool`]: codex processes keyed by an isolation key (the tenant, by default), each
//! with its own `CODEX_HOME` and workspace root under a pool root; bounded, started on demand,
//! stopped when idle.
//!
//! - **Per key**: one `codex app-server` ([`crate::runtime::Client`]) whose `CODEX_HOME` is
//!   `<root>/<key>/codex-home` (the operator's `config.toml` and `auth.json` copied in, `0600`;
//!   see [`home`] for why copies) and whose sessions work under `<root>/<key>/workspace` (or a
//!   workspace configured per key). Directories are `0700`.
//! - **Bounded**: at most [`PoolConfig::max_processes`] processes run. A key that needs one
//!   when all slots are taken stops the least recently used idle one (no turn running);
//!   processes idle for [`PoolConfig::idle_timeout`] are stopped. A key whose process was
//!   stopped or crashed gets a fresh one on its next turn, and its sessions resume their
//!   threads (`thread/resume`, read from the key's own codex home) before that turn.
//!   Closing a session of a stopped key starts its process too (codex archives the thread with
//!   `thread/archive`); the idle timer stops processes over the cap again.
//! - **Crashes stay in their key**: a crash fails the turns of that key's sessions at once
//!   ([`crate::Error::TransportClosed`]); other keys' processes are untouched.
//! - **Launcher**: a [`Launcher`] wraps each key's codex command (another OS user, a
//!   container, `systemd-run`), for what the pool itself cannot isolate: the OS user, the
//!   network, and the rest of the filesystem (a `read-only` sandbox still reads `/`).
//!
//! Modules: [`key`] (the key), [`config`], [`home`] (a key's directories), [`launcher`],
//! [`namespace`] (the mount-namespace launcher), [`error`]; inside: `entry` (one key's client and bookkeeping).

pub mod config;
mod entry;
pub mod error;
pub mod home;
pub mod key;
pub mod launcher;
pub mod namespace;

pub use config::PoolConfig;
pub use error::PoolError;
pub use home::KeyDirs;
pub use key::PoolKey;
pub use launcher::{LaunchSpec, Launcher, WrapperLauncher};
pub use namespace::MountNamespaceLauncher;

use crate::plugin::{HookAction, HookContext, HookFuture, HookIssue, HookPhase, PreHook};
use crate::runtime::{Session, SessionConfig};
use entry::{Entry, Lease};
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// How often a key waiting for a slot looks again while every process has a turn running.
const SLOT_POLL: Duration = Duration::from_millis(25);

struct PoolInner {
    config: PoolConfig,
    entries: Mutex<HashMap<PoolKey, Arc<Entry>>>,
    /// Serializes starting and stopping processes, so the cap holds.
    admission: tokio::sync::Mutex<()>,
    shut_down: AtomicBool,
}

/// Codex processes keyed by isolation key; see the [module docs](self). Cheap to clone.
///
/// ```no_run
/// # async fn demo() -> Result<(), codex_runtime::Error> {
/// use codex_runtime::runtime::pool::{PoolConfig, PoolKey, RuntimePool};
/// use codex_runtime::runtime::{ClientConfig, SessionConfig};
/// let pool = RuntimePool::new(PoolConfig::new(ClientConfig::new(), "/srv/codex-pool"))?;
/// let alice = PoolKey::new("alice")?;
/// // "." = the key's workspace root (/srv/codex-pool/alice/workspace).
/// let session = pool.open_session(&alice, SessionConfig::new(".")).await?;
/// println!("{}", session.ask("hello").await?.assistant_text);
/// pool.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RuntimePool {
    inner: Arc<PoolInner>,
}

impl std::fmt::Debug for RuntimePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimePool")
            .field("root", &self.inner.config.root)
            .field("max_processes", &self.inner.config.max_processes)
            .field("running", &self.running())
            .finish_non_exhaustive()
    }
}

impl RuntimePool {
    /// A pool on `config` (creates the root, `0700`). Call it inside a tokio runtime: it spawns
    /// the task that stops idle processes.
    pub fn new(mut config: PoolConfig) -> Result<RuntimePool, PoolError> {
        if config.max_processes == 0 {
            return Err(PoolError::Config("max_processes must be at least 1".into()));
        }
        if !config.root.is_absolute() {
            config.root = std::path::absolute(&config.root)
                .map_err(PoolError::io("resolve the pool root", &config.root))?;
        }
        for dir in config.workspaces.values_mut() {
            if !dir.is_absolute() {
                *dir = std::path::absolute(&*dir)
                    .map_err(PoolError::io("resolve a workspace", &*dir))?;
            }
        }
        home::create_private_dir(&config.root)?;
        if config.launcher.is_none() {
            tracing::warn!(root = %config.root.display(), "runtime pool without a launcher: every key's codex runs as this OS user, so a key's commands can read the other keys' directories (a read-only sandbox reads the whole filesystem)");
        }
        let idle = config.idle_timeout;
        let inner = Arc::new(PoolInner {
            config,
            entries: Mutex::new(HashMap::new()),
            admission: tokio::sync::Mutex::new(()),
            shut_down: AtomicBool::new(false),
        });
        tokio::spawn(reap_idle(Arc::downgrade(&inner), idle));
        Ok(RuntimePool { inner })
    }

    /// The configuration.
    pub fn config(&self) -> &PoolConfig {
        &self.inner.config
    }

    /// The directories of `key` (whether or not it has run yet).
    pub fn dirs(&self, key: &PoolKey) -> KeyDirs {
        let c = &self.inner.config;
        KeyDirs::of(&c.root, key, c.workspaces.get(key).map(PathBuf::as_path))
    }

    /// How many codex processes run now.
    pub fn running(&self) -> usize {
        self.entries().iter().filter(|e| e.connected()).count()
    }

    /// The pid of `key`'s codex process, while one runs.
    pub fn pid(&self, key: &PoolKey) -> Option<u32> {
        let entry = self.inner.entries().get(key).cloned()?;
        entry
            .connected()
            .then(|| entry.client.runtime().pid())
            .flatten()
    }

    /// Starts a new thread for `key`. `config.cwd` is taken inside the key's workspace root:
    /// a relative path is joined to it (and created), an absolute one must lie inside it
    /// ([`PoolError::Config`] otherwise).
    pub async fn open_session(
        &self,
        key: &PoolKey,
        config: SessionConfig,
    ) -> crate::Result<Session> {
        self.open(key, config, None).await
    }

    /// Resumes `thread_id` (stored in `key`'s codex home) for `key`; `config.cwd` as in
    /// [`RuntimePool::open_session`].
    pub async fn resume_session(
        &self,
        key: &PoolKey,
        thread_id: impl Into<String>,
        config: SessionConfig,
    ) -> crate::Result<Session> {
        self.open(key, config, Some(thread_id.into())).await
    }

    async fn open(
        &self,
        key: &PoolKey,
        mut config: SessionConfig,
        resume: Option<String>,
    ) -> crate::Result<Session> {
        let lease = self.inner.acquire(key).await?;
        config.cwd = session_cwd(&self.dirs(key).workspace, &config.cwd)?;
        let client = &lease.0.client;
        let session = match resume {
            None => client.start_session(config).await?,
            Some(id) => client.resume_session(id, config).await?,
        };
        lease.0.remember(&session);
        Ok(session)
    }

    /// Stops every idle process now (as the idle timer would, without waiting); how many
    /// stopped.
    pub async fn stop_idle(&self) -> usize {
        let _admission = self.inner.admission.lock().await;
        let mut stopped = 0;
        for entry in self.entries() {
            if entry.try_park().await {
                stopped += 1;
            }
        }
        stopped
    }

    /// Stops every process gracefully; later calls fail with [`PoolError::ShutDown`].
    pub async fn shutdown(&self) {
        self.inner.shut_down.store(true, Ordering::SeqCst);
        let _admission = self.inner.admission.lock().await;
        for entry in self.entries() {
            if let Err(err) = entry.client.shutdown().await {
                tracing::debug!(key = %entry.key, "runtime pool shutdown: {err}");
            }
        }
    }

    fn entries(&self) -> Vec<Arc<Entry>> {
        self.inner.entries().values().cloned().collect()
    }
}

impl PoolInner {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<PoolKey, Arc<Entry>>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A lease on `key`'s running process: started (or restarted) when needed, after making
    /// room under the cap.
    async fn acquire(self: &Arc<Self>, key: &PoolKey) -> crate::Result<Lease> {
        if self.shut_down.load(Ordering::SeqCst) {
            return Err(PoolError::ShutDown.into());
        }
        let known = self.entries().get(key).cloned();
        if let Some(entry) = &known {
            if let Some(lease) = entry.lease() {
                if entry.connected() {
                    return Ok(lease);
                }
            }
        }
        let _admission = self.admission.lock().await;
        if self.shut_down.load(Ordering::SeqCst) {
            return Err(PoolError::ShutDown.into());
        }
        let known = self.entries().get(key).cloned();
        if let Some(entry) = known {
            let lease = entry.lease_admitted();
            if !entry.connected() {
                self.make_room(key).await?;
                entry.client.runtime().ensure_connected().await?;
                tracing::info!(key = %key, pid = ?entry.client.runtime().pid(), "runtime pool: restarted the key's codex");
            }
            return Ok(lease);
        }
        self.make_room(key).await?;
        let hook = AdmitTurns {
            pool: Arc::downgrade(self),
            key: key.clone(),
        };
        let entry = Entry::start(&self.config, key.clone(), hook).await?;
        let lease = entry.lease_admitted();
        self.entries().insert(key.clone(), entry);
        Ok(lease)
    }

    /// Stops least recently used idle processes while more than the cap run. A process can be
    /// started outside admission when a session of a stopped key is closed (codex archives the
    /// thread, so the runtime starts it on demand); this brings the count back.
    async fn trim_to_cap(&self) {
        let _admission = self.admission.lock().await;
        let mut live: Vec<Arc<Entry>> = self
            .entries()
            .values()
            .filter(|e| e.connected())
            .cloned()
            .collect();
        if live.len() <= self.config.max_processes {
            return;
        }
        live.sort_by_key(|e| e.last_used());
        let mut excess = live.len() - self.config.max_processes;
        for entry in live {
            if excess == 0 {
                break;
            }
            if entry.try_park().await {
                excess -= 1;
            }
        }
    }

    /// Frees a slot for `key` (called under the admission lock): stops the least recently
    /// used idle process when the cap is reached; waits while every process is busy.
    async fn make_room(&self, key: &PoolKey) -> crate::Result<()> {
        let started = Instant::now();
        loop {
            let mut live: Vec<Arc<Entry>> = self
                .entries()
                .values()
                .filter(|e| &e.key != key && e.connected())
                .cloned()
                .collect();
            if live.len() < self.config.max_processes {
                return Ok(());
            }
            live.sort_by_key(|e| e.last_used());
            let mut freed = false;
            for victim in live.iter().filter(|e| !e.busy()) {
                if victim.try_park().await {
                    freed = true;
                    break;
                }
            }
            if freed {
                continue;
            }
            if started.elapsed() >= self.config.slot_wait {
                return Err(PoolError::NoSlot {
                    key: key.to_string(),
                    max_processes: self.config.max_processes,
                    waited: started.elapsed(),
                }
                .into());
            }
            tokio::time::sleep(SLOT_POLL).await;
        }
    }
}

/// `cwd` inside `workspace`: relative paths are joined (no `..`) and created.
fn session_cwd(workspace: &Path, cwd: &Path) -> Result<PathBuf, PoolError> {
    if cwd.is_absolute() {
        let abs = std::path::absolute(cwd).map_err(PoolError::io("resolve", cwd))?;
        if abs.starts_with(workspace) && !abs.components().any(|c| c == Component::ParentDir) {
            return Ok(abs);
        }
        return Err(PoolError::Config(format!(
            "the session's working directory {} is outside the key's workspace {}; give a path relative to the workspace (\".\" = the workspace root)",
            cwd.display(),
            workspace.display()
        )));
    }
    if cwd
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(PoolError::Config(format!(
            "the session's working directory {} leaves the key's workspace",
            cwd.display()
        )));
    }
    let mut dir = workspace.to_path_buf();
    dir.extend(
        cwd.components()
            .filter(|c| matches!(c, Component::Normal(_))),
    );
    if dir != workspace {
        home::create_private_dir(&dir)?;
    }
    Ok(dir)
}

/// The pre-turn hook every key's client carries: a turn takes a slot (starting the key's
/// process again when it was stopped or crashed) before it is sent.
struct AdmitTurns {
    pool: Weak<PoolInner>,
    key: PoolKey,
}

impl PreHook for AdmitTurns {
    fn name(&self) -> &'static str {
        "runtime-pool"
    }

    fn call<'a>(&'a self, ctx: &'a HookContext) -> HookFuture<'a, Result<HookAction, HookIssue>> {
        Box::pin(async move {
            if ctx.phase != HookPhase::PreTurn {
                return Ok(HookAction::Noop);
            }
            let Some(pool) = self.pool.upgrade() else {
                return Ok(HookAction::Block("the runtime pool is gone".into()));
            };
            match pool.acquire(&self.key).await {
                Ok(_lease) => Ok(HookAction::Noop),
                Err(err) => Ok(HookAction::Block(err.to_string().into())),
            }
        })
    }
}

/// Stops processes idle for `idle`, until the pool is dropped.
async fn reap_idle(pool: Weak<PoolInner>, idle: Duration) {
    let tick = (idle / 4).clamp(Duration::from_millis(50), Duration::from_secs(30));
    loop {
        tokio::time::sleep(tick).await;
        let Some(pool) = pool.upgrade() else { return };
        if pool.shut_down.load(Ordering::SeqCst) {
            return;
        }
        let entries: Vec<Arc<Entry>> = pool.entries().values().cloned().collect();
        for entry in entries {
            if !entry.connected() {
                continue;
            }
            if entry.busy() {
                entry.touch();
                continue;
            }
            if entry.last_used().elapsed() < idle {
                continue;
            }
            let _admission = pool.admission.lock().await;
            entry.try_park().await;
        }
        pool.trim_to_cap().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_directories_stay_inside_the_workspace() {
        let tmp = tempfile::tempdir().unwrap();
        let ws = tmp.path().join("ws");
        std::fs::create_dir(&ws).unwrap();
        assert_eq!(session_cwd(&ws, Path::new(".")).unwrap(), ws);
        assert_eq!(session_cwd(&ws, Path::new("a/b")).unwrap(), ws.join("a/b"));
        assert!(ws.join("a/b").is_dir());
        assert_eq!(session_cwd(&ws, &ws.join("a")).unwrap(), ws.join("a"));
        for bad in ["../x", "/etc"] {
            assert!(matches!(
                session_cwd(&ws, Path::new(bad)),
                Err(PoolError::Config(_))
            ));
        }
        assert!(session_cwd(&ws, &ws.join("../x")).is_err());
    }
}
