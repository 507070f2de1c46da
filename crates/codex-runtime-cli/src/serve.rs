//! `codex-runtime serve`: the HTTP + SSE API of `codex_runtime::web` and its single-page UI;
//! offline on the bundled mock model when no API key is set (like `demo`). Tenants (one
//! `--tenant`, or a `--tenants` file) run on a runtime pool: a codex process, `CODEX_HOME` and
//! workspace each; `--shared-room` puts them all on one codex instead.

use crate::cli::ServeArgs;
use crate::error::{existing_dir, CliError};
use crate::offline::{api_key_present, OfflineModel};
use crate::tenants::{self, Tenant};
use anyhow::{Context, Result};
use codex_mock_model::{Reply, Scenario};
use codex_runtime::persistence::{ConversationStore, PostgresStore, SqliteStore};
use codex_runtime::runtime::pool::{
    MountNamespaceLauncher, PoolConfig, RuntimePool, WrapperLauncher,
};
use codex_runtime::runtime::{Client, RunProfile, SessionConfig};
use codex_runtime::web::runtime_adapter::tenant_key;
use codex_runtime::web::{
    new_session_id, RuntimeAdapter, TenantId, TenantTokens, WebAdapter, WebConfig,
};
use codex_runtime::ClientConfig;
use std::path::PathBuf;
use std::sync::Arc;

/// The notice printed on stderr when `serve` runs on the mock model.
pub const SERVE_OFFLINE_NOTICE: &str =
    "offline: no OPENAI_API_KEY/CODEX_API_KEY set, serving the bundled mock model";

/// What the mock model does when `serve` runs offline: the first turn runs a command (which
/// the page asks you to approve under the default `untrusted` policy), then answers; later
/// turns echo the prompt.
pub fn serve_scenario() -> Scenario {
    Scenario::new([
        Reply::shell("echo hello from a command you approved && date -u"),
        Reply::deltas([
            "Hello from the bundled mock model! ",
            "The command above ran only after you approved it. ",
            "Set OPENAI_API_KEY to talk to a real model.",
        ]),
    ])
    .with_fallback(Reply::echo("The bundled mock model heard: "))
}

/// Runs the server until Ctrl-C or SIGTERM.
pub async fn run(args: ServeArgs) -> Result<()> {
    let cwd = existing_dir(&args.cwd)?;
    let store = match &args.store {
        Some(spec) => Some(open_store(spec).await?),
        None => None,
    };
    let has_key = api_key_present();
    let (client_config, _model) = if args.offline || !has_key {
        eprintln!("{SERVE_OFFLINE_NOTICE}");
        let scenario = match &args.offline_scenario {
            Some(path) => Scenario::from_json_file(path)
                .with_context(|| format!("--offline-scenario {}", path.display()))?,
            None => serve_scenario(),
        };
        let model = OfflineModel::start(scenario, &cwd).await?;
        (model.client_config(), Some(model))
    } else {
        eprintln!("using the real model with your CODEX_HOME");
        (ClientConfig::new(), None)
    };
    // Who may call: the tenants file, or one tenant with one token.
    let (tenants, tokens, printed_token) = match &args.tenants {
        Some(path) => {
            let tenants = tenants::load(path)?;
            let tokens = tenants::tokens(&tenants);
            (tenants, tokens, None)
        }
        None => {
            let id = TenantId::new(args.tenant.clone()).ok_or(CliError::EmptyTenant)?;
            let token = args.token.clone().unwrap_or_else(new_session_id);
            let tokens = TenantTokens::new().with_token(id.clone(), &token);
            let tenant = Tenant {
                id,
                token_sha256: String::new(),
                workspace: Some(cwd.clone()),
            };
            let printed = args.token.is_none().then_some(token);
            (vec![tenant], tokens, printed)
        }
    };
    let mut profile = RunProfile::new()
        .with_sandbox(args.sandbox.into())
        .with_approval(args.approval.into());
    if let Some(m) = &args.model {
        profile = profile.with_model(m.clone());
    }
    let (runtime, stop): (Arc<dyn RuntimeAdapter>, Stop) = if args.shared_room {
        eprintln!("one shared room: every tenant runs on one codex process, CODEX_HOME and working directory");
        let client = Client::connect(client_config)
            .await
            .context("cannot start codex app-server")?;
        (Arc::new(client.clone()), Stop::Client(client))
    } else {
        let pool = open_pool(&args, client_config, &tenants, store_files(&args))?;
        (Arc::new(pool.clone()), Stop::Pool(pool))
    };
    // "." = each tenant's workspace on the pool; the shared room runs in --cwd.
    let session_dir = if args.shared_room {
        cwd.clone()
    } else {
        ".".into()
    };
    let session = SessionConfig::new(session_dir).with_profile(profile);
    let mut config = WebConfig::new(session, tokens);
    if let Some((store, live_tail)) = store {
        config = config.with_store(store);
        if let Some(url) = live_tail {
            config = config.with_postgres_live_tail(&url);
        }
    }
    let adapter = WebAdapter::spawn_with_adapter(runtime, config);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr().context("no local address")?;
    match printed_token {
        Some(token) => eprintln!("serving on http://{addr}/#token={token}"),
        None => eprintln!("serving on http://{addr}/ (open it with #token=<your token>)"),
    }
    let served = adapter.serve(listener, stop_signal()).await;
    eprintln!("shutting down");
    match stop {
        Stop::Client(client) => {
            if let Err(err) = client.shutdown().await {
                tracing::warn!("codex did not shut down cleanly: {err}");
            }
        }
        Stop::Pool(pool) => pool.shutdown().await,
    }
    served.context("the HTTP server failed")
}

/// What to stop at the end.
enum Stop {
    Client(Client),
    Pool(RuntimePool),
}

/// The pool: a codex process, CODEX_HOME and workspace per tenant.
fn open_pool(
    args: &ServeArgs,
    client: ClientConfig,
    tenants: &[Tenant],
    hidden: Vec<PathBuf>,
) -> Result<RuntimePool> {
    let root = args.pool_root.clone().unwrap_or_else(default_pool_root);
    let mut config = PoolConfig::new(client, &root)
        .with_max_processes(args.max_processes)
        .with_idle_timeout(args.idle_timeout);
    for t in tenants {
        if let Some(ws) = &t.workspace {
            config = config.with_workspace(tenant_key(&t.id), ws);
        }
    }
    if let Some(program) = &args.launcher {
        config = config.with_launcher(WrapperLauncher::new(program));
        eprintln!("each tenant's codex runs through {}", program.display());
    } else if MountNamespaceLauncher::available() {
        let mut launcher = MountNamespaceLauncher::new();
        for path in tenants
            .iter()
            .filter_map(|t| t.workspace.clone())
            .chain(hidden)
        {
            launcher = launcher.hide(path);
        }
        config = config.with_launcher(launcher);
        eprintln!("each tenant's codex runs in its own mount namespace: it sees only its own directories under {}", root.display());
    } else {
        eprintln!("warning: not root, so tenants' codex processes share this OS user and can read each other's directories under {}; use --launcher to run each as its own user", root.display());
    }
    let pool = RuntimePool::new(config).context("cannot open the runtime pool")?;
    eprintln!(
        "tenants are isolated: a codex process, CODEX_HOME and workspace each, under {}",
        root.display()
    );
    Ok(pool)
}

/// `$XDG_STATE_HOME/codex-runtime/pool`, else `~/.local/state/codex-runtime/pool`, else
/// `./.codex-runtime-pool`.
fn default_pool_root() -> PathBuf {
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")));
    match state {
        Some(dir) => dir.join("codex-runtime").join("pool"),
        None => PathBuf::from(".codex-runtime-pool"),
    }
}

/// The files of a SQLite `--store`, hidden from every tenant's codex.
fn store_files(args: &ServeArgs) -> Vec<PathBuf> {
    let Some(path) = args
        .store
        .as_deref()
        .and_then(|s| s.strip_prefix("sqlite:"))
    else {
        return Vec::new();
    };
    let path = std::path::absolute(path).unwrap_or_else(|_| PathBuf::from(path));
    ["", "-wal", "-shm", "-journal"]
        .iter()
        .map(|suffix| {
            let mut p = path.clone().into_os_string();
            p.push(suffix);
            PathBuf::from(p)
        })
        .collect()
}

/// Opens `--store`: `sqlite:PATH` or a `postgres://` URL (which also carries the live tail
/// between instances).
async fn open_store(spec: &str) -> Result<(Arc<dyn ConversationStore>, Option<String>)> {
    if let Some(path) = spec.strip_prefix("sqlite:") {
        if path.trim().is_empty() {
            return Err(CliError::UnsupportedStore {
                store: spec.to_string(),
            }
            .into());
        }
        let store = SqliteStore::open(path)
            .await
            .with_context(|| format!("cannot open the SQLite store {path}"))?;
        eprintln!("conversations are kept in {path} (SQLite)");
        return Ok((Arc::new(store), None));
    }
    if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
        let store = PostgresStore::connect(spec)
            .await
            .context("cannot open the PostgreSQL store")?;
        eprintln!("conversations are kept in PostgreSQL (shared with other instances)");
        return Ok((Arc::new(store), Some(spec.to_string())));
    }
    Err(CliError::UnsupportedStore {
        store: spec.to_string(),
    }
    .into())
}

/// Ctrl-C or SIGTERM.
async fn stop_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(err) => {
            tracing::warn!("cannot watch SIGTERM: {err}");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
