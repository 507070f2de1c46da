//! `serve` and `worker`: the long-running commands on a PostgreSQL store.

use std::path::Path;
use std::process::ExitCode;

use codex_flow::serve::{FlowServer, ServeAuth};
use codex_flow::worker::{Worker, WorkerConfig, WorkerStop};
use codex_flow::{default_roots, FlowCatalog, FlowError, PostgresFlowStore, RunnerConfig};
use tokio::signal::unix::{signal, SignalKind};

use crate::cli::args::Global;
use crate::cli::commands::{codex_executor, local_config};

type CliResult = Result<ExitCode, FlowError>;

fn service_err(role: &'static str, message: String) -> FlowError {
    FlowError::Service { role, message }
}

fn catalog(g: &Global, flows: Option<&Path>) -> Result<FlowCatalog, FlowError> {
    let roots = match flows {
        Some(dir) => vec![dir.to_path_buf()],
        None => default_roots(&g.cwd),
    };
    FlowCatalog::load(&roots)
}

fn signals(
    role: &'static str,
) -> Result<(tokio::signal::unix::Signal, tokio::signal::unix::Signal), FlowError> {
    let install = |kind| {
        signal(kind).map_err(|e| service_err(role, format!("cannot install a signal handler: {e}")))
    };
    Ok((
        install(SignalKind::terminate())?,
        install(SignalKind::interrupt())?,
    ))
}

/// Serves until SIGTERM or SIGINT (graceful: requests in flight finish).
pub async fn serve(
    g: &Global,
    store_url: &str,
    listen: &str,
    flows: Option<&Path>,
    auth: ServeAuth,
    body_limit: usize,
) -> CliResult {
    auth.validate()
        .map_err(|message| service_err("serve", message))?;
    if !auth.has_credential() {
        tracing::warn!(
            listen,
            "serving without any credential (--insecure-no-auth)"
        );
    }
    let catalog = catalog(g, flows)?;
    let store = PostgresFlowStore::connect(store_url).await?;
    let router = FlowServer::new(store, catalog, auth, body_limit)?.router();
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| service_err("serve", format!("cannot listen on {listen}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| service_err("serve", e.to_string()))?;
    println!("listening on {addr}");
    let (mut term, mut int) = signals("serve")?;
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        })
        .await
        .map_err(|e| service_err("serve", e.to_string()))?;
    Ok(ExitCode::SUCCESS)
}

/// Runs a worker until SIGTERM (drain) or SIGINT (stop steps now).
pub async fn worker(
    g: &Global,
    store_url: &str,
    flows: Option<&Path>,
    mut config: WorkerConfig,
) -> CliResult {
    let catalog = catalog(g, flows)?;
    let store = PostgresFlowStore::connect(store_url).await?;
    let local = local_config(g);
    config.runner = RunnerConfig {
        env: local.env,
        code_mode: Some(codex_executor()),
        ..RunnerConfig::default()
    };
    let worker = Worker::new(store, &catalog, config)?;
    println!("worker {}", worker.id());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(None);
    let (mut term, mut int) = signals("worker")?;
    tokio::spawn(async move {
        loop {
            let stop = tokio::select! {
                _ = term.recv() => WorkerStop::Drain,
                _ = int.recv() => WorkerStop::Kill,
            };
            if stop_tx.send(Some(stop)).is_err() {
                break;
            }
        }
    });
    let report = worker.run(stop_rx).await?;
    tracing::info!(?report, "worker exited");
    Ok(ExitCode::SUCCESS)
}
