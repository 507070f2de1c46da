//! One key's entry in the pool: its directories, its [`Client`] (a restart-on-demand runtime,
//! so it survives its process being stopped or crashing), the sessions opened on it, and the
//! bookkeeping that decides whether its process may be stopped.

use super::config::PoolConfig;
use super::error::PoolError;
use super::home::{operator_home, KeyDirs};
use super::key::PoolKey;
use super::launcher::LaunchSpec;
use crate::runtime::raw::Endpoint;
use crate::runtime::{Client, ClientConfig, Session};
use crate::transport::binary::resolve_codex_binary;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// One key of the pool.
pub(super) struct Entry {
    pub(super) key: PoolKey,
    pub(super) client: Client,
    /// Sessions opened on this key (closed ones are pruned when looked at).
    sessions: Mutex<Vec<Session>>,
    last_used: Mutex<Instant>,
    /// Leases taken by callers about to use the process (opening a session, admitting a turn).
    leases: AtomicUsize,
    /// Set while the pool decides to stop this process (see [`Entry::try_park`]).
    parking: AtomicBool,
}

/// Keeps a key's process from being stopped while held.
pub(super) struct Lease(pub(super) Arc<Entry>);

impl Drop for Lease {
    fn drop(&mut self) {
        self.0.leases.fetch_sub(1, Ordering::SeqCst);
        self.0.touch();
    }
}

impl Entry {
    /// Prepares the key's directories and starts its first process.
    pub(super) async fn start(
        config: &PoolConfig,
        key: PoolKey,
        hook: impl crate::plugin::PreHook + 'static,
    ) -> crate::Result<Arc<Entry>> {
        let dirs = KeyDirs::of(
            &config.root,
            &key,
            config.workspaces.get(&key).map(|p| p.as_path()),
        );
        let from = operator_home(config.operator_home.as_deref(), &config.client.runtime);
        dirs.prepare(from.as_deref())?;
        if let Some(l) = &config.launcher {
            l.prepare(&key, &dirs)?;
        }
        let mut client = client_config(config, &key, &dirs)?;
        client.hooks.add_pre(hook);
        let client = Client::connect(client).await?;
        tracing::info!(key = %key, pid = ?client.runtime().pid(), "runtime pool: started the key's codex");
        Ok(Arc::new(Entry {
            key,
            client,
            sessions: Mutex::new(Vec::new()),
            last_used: Mutex::new(Instant::now()),
            leases: AtomicUsize::new(0),
            parking: AtomicBool::new(false),
        }))
    }

    /// True while the key's codex process runs.
    pub(super) fn connected(&self) -> bool {
        self.client.runtime().is_connected()
    }

    /// A lease, or `None` when the process is being stopped right now (take the slow path).
    pub(super) fn lease(self: &Arc<Self>) -> Option<Lease> {
        self.leases.fetch_add(1, Ordering::SeqCst);
        let lease = Lease(Arc::clone(self));
        (!self.parking.load(Ordering::SeqCst)).then_some(lease)
    }

    /// A lease taken by the pool's admission path, which runs while nothing parks.
    pub(super) fn lease_admitted(self: &Arc<Self>) -> Lease {
        self.leases.fetch_add(1, Ordering::SeqCst);
        Lease(Arc::clone(self))
    }

    pub(super) fn touch(&self) {
        *self.last_used.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    pub(super) fn last_used(&self) -> Instant {
        *self.last_used.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn remember(&self, session: &Session) {
        let mut s = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        s.retain(|s| !s.is_closed());
        s.push(session.clone());
    }

    /// Leased, or a turn running on one of its sessions.
    pub(super) fn busy(&self) -> bool {
        if self.leases.load(Ordering::SeqCst) > 0 {
            return true;
        }
        let mut s = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        s.retain(|s| !s.is_closed());
        s.iter().any(Session::in_turn)
    }

    /// Stops the process unless the key is busy; true when it stopped it.
    pub(super) async fn try_park(&self) -> bool {
        self.parking.store(true, Ordering::SeqCst);
        if self.busy() || !self.connected() {
            self.parking.store(false, Ordering::SeqCst);
            return false;
        }
        let parked = self.client.runtime().park().await;
        self.parking.store(false, Ordering::SeqCst);
        match parked {
            Ok(()) => {
                tracing::info!(key = %self.key, "runtime pool: stopped the key's idle codex");
                true
            }
            Err(err) => {
                tracing::warn!(key = %self.key, "runtime pool: cannot stop the key's codex: {err}");
                false
            }
        }
    }
}

/// The key's client configuration: the template with the key's `CODEX_HOME`, workspace, the
/// launcher's command, and restart-on-demand.
fn client_config(
    config: &PoolConfig,
    key: &PoolKey,
    dirs: &KeyDirs,
) -> crate::Result<ClientConfig> {
    let mut client = config.client.clone();
    let mut rt = client.runtime.clone();
    if !matches!(rt.endpoint, Endpoint::Spawn) {
        return Err(PoolError::Config(
            "the pool spawns its codex processes: the client template must not attach to a server"
                .into(),
        )
        .into());
    }
    let program = resolve_codex_binary(rt.cli_bin.as_deref())?;
    let env = rt
        .env
        .iter()
        .filter(|(k, _)| k != "CODEX_HOME")
        .cloned()
        .collect();
    let mut spec = LaunchSpec {
        program,
        args: rt.args.clone(),
        env,
    };
    if let Some(l) = &config.launcher {
        spec = l.launch(key, dirs, spec)?;
    }
    rt.cli_bin = Some(spec.program);
    rt.args = spec.args;
    rt.env = spec.env;
    rt.codex_home = Some(dirs.codex_home.clone());
    rt.cwd = Some(dirs.workspace.clone());
    rt.restart = None;
    rt.restart_on_demand = true;
    client.runtime = rt;
    Ok(client)
}
