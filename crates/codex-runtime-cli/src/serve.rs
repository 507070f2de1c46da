//! `codex-runtime serve`: the HTTP + SSE API of `codex_runtime::web` and its single-page UI;
//! offline on the bundled mock model when no API key is set (like `demo`).

use crate::cli::ServeArgs;
use crate::error::{existing_dir, CliError};
use crate::offline::{api_key_present, OfflineModel};
use anyhow::{Context, Result};
use codex_mock_model::{Reply, Scenario};
use codex_runtime::persistence::{ConversationStore, PostgresStore, SqliteStore};
use codex_runtime::runtime::{Client, RunProfile, SessionConfig};
use codex_runtime::web::{new_session_id, TenantId, TenantTokens, WebAdapter, WebConfig};
use codex_runtime::ClientConfig;
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
    let tenant = TenantId::new(args.tenant.clone()).ok_or(CliError::EmptyTenant)?;
    let store = match &args.store {
        Some(spec) => Some(open_store(spec).await?),
        None => None,
    };
    let has_key = api_key_present();
    let (client_config, _model) = if args.offline || !has_key {
        eprintln!("{SERVE_OFFLINE_NOTICE}");
        let model = OfflineModel::start(serve_scenario(), &cwd).await?;
        (model.client_config(), Some(model))
    } else {
        eprintln!("using the real model with your CODEX_HOME");
        (ClientConfig::new(), None)
    };
    let client = Client::connect(client_config)
        .await
        .context("cannot start codex app-server")?;
    let mut profile = RunProfile::new()
        .with_sandbox(args.sandbox.into())
        .with_approval(args.approval.into());
    if let Some(m) = &args.model {
        profile = profile.with_model(m.clone());
    }
    let session = SessionConfig::new(&cwd).with_profile(profile);
    let token = args.token.clone().unwrap_or_else(new_session_id);
    let tokens = TenantTokens::new().with_token(tenant, &token);
    let mut config = WebConfig::new(session, tokens);
    if let Some((store, live_tail)) = store {
        config = config.with_store(store);
        if let Some(url) = live_tail {
            config = config.with_postgres_live_tail(&url);
        }
    }
    let adapter = WebAdapter::spawn(client.clone(), config);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr().context("no local address")?;
    if args.token.is_some() {
        eprintln!("serving on http://{addr}/ (open it with #token=<your token>)");
    } else {
        eprintln!("serving on http://{addr}/#token={token}");
    }
    let served = adapter.serve(listener, stop_signal()).await;
    eprintln!("shutting down");
    if let Err(err) = client.shutdown().await {
        tracing::warn!("codex did not shut down cleanly: {err}");
    }
    served.context("the HTTP server failed")
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
