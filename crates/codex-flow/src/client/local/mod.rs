//! The local flow client: discovers flows, matches events, runs steps in this process and keeps
//! state in memory or durably in `<cwd>/.codex/flow-client`. Run execution (limits, cancel,
//! recording) lives in [`runs`].

mod runs;

use runs::{recover_abandoned_runs, worker_id};

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::catalog::{default_roots, FlowCatalog, LoadedFlow};
use crate::client::{DispatchOptions, DispatchResponse, DispatchStatus, EventDetail, FlowClient};
use crate::code_mode::{CodeModeDefaults, CodeModeExecutor};
use crate::context::RuntimeMetadata;
use crate::error::{FlowError, Result};
use crate::event::FlowEvent;
use crate::ids::{replay_nonce, run_id};
use crate::matching::StepMatch;
use crate::output_capture::DEFAULT_OUTPUT_LIMIT;
use crate::progress::{no_progress, ProgressEvent, ProgressSink};
use crate::run_limits::RunLimits;
use crate::run_view::RunView;
#[cfg(feature = "sqlite")]
use crate::state::SqliteStore;
use crate::state::{
    Claim, EventFilter, EventRecord, MemoryStore, RunFilter, StateStore, MAX_LIST_LIMIT,
};
use crate::step_runner::{RunnerConfig, StepOutcome, StepRunner};
use crate::timestamp::now_rfc3339;

/// Where the local client keeps state. In configuration: `"memory"` or `"durable"`, or the
/// reference client's object form `{"kind": "memory" | "file" | "durable"}` (`file` is
/// durable; the directory is the top-level `stateDir`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StateMode {
    /// In memory, lost when the client is dropped (the default).
    #[default]
    Memory,
    /// SQLite under the state directory (default `<cwd>/.codex/flow-client`).
    Durable,
}

/// Configuration of [`LocalFlowClient`]. An unknown key is an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocalFlowClientConfig {
    /// The project directory.
    pub cwd: PathBuf,
    /// Discovery roots in precedence order (default `<cwd>/.codex/flows`, `<cwd>/flows`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roots: Option<Vec<PathBuf>>,
    /// Memory or durable state.
    #[serde(default)]
    pub state: StateMode,
    /// Durable state directory (default `<cwd>/.codex/flow-client`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<PathBuf>,
    /// Dispatch the `next` events of FLOW_RESULTs (off by default).
    #[serde(default)]
    pub dispatch_next: bool,
    /// How deep `next` chains may go before they are stopped with a run note (default 8).
    #[serde(default = "default_max_next_depth")]
    pub max_next_depth: u32,
    /// Extra env for command steps; also where the Code Mode gate is read.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Default model, sandbox and approval of Code Mode turns.
    #[serde(default)]
    pub code_mode: CodeModeDefaults,
    /// Events kept by memory state (default 100000; oldest evicted).
    #[serde(default = "default_max_memory_events")]
    pub max_memory_events: usize,
    /// `runtime.launchedBy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launched_by: Option<String>,
    /// `runtime.workspaceBackendUrl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_backend_url: Option<String>,
    /// Bound of each captured output stream (default 1 MiB).
    #[serde(default = "default_output_limit")]
    pub output_limit_bytes: usize,
    /// Time between SIGTERM and SIGKILL when a step is stopped (default 2000 ms).
    #[serde(default = "default_kill_grace_ms")]
    pub kill_grace_ms: u64,
    /// At most this many runs execute at once in this client (default 8); a flow's
    /// `max_concurrent_runs` limits its own runs further. Other runs wait `queued`.
    #[serde(default = "default_max_concurrent_runs")]
    pub max_concurrent_runs: usize,
    /// Names of this process's environment variables command steps inherit besides the default
    /// allow-list (`PATH`, `HOME`, `USER`, `LANG`, `LC_*`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_passthrough: Vec<String>,
}

/// Default of [`LocalFlowClientConfig::max_concurrent_runs`].
pub const DEFAULT_MAX_CONCURRENT_RUNS: usize = 8;

fn default_max_concurrent_runs() -> usize {
    DEFAULT_MAX_CONCURRENT_RUNS
}

/// Default of [`LocalFlowClientConfig::max_next_depth`] and of
/// `worker::WorkerConfig::max_next_depth` (feature `server`): how deep `next` chains may go.
pub const DEFAULT_MAX_NEXT_DEPTH: u32 = 8;

fn default_max_next_depth() -> u32 {
    DEFAULT_MAX_NEXT_DEPTH
}
fn default_max_memory_events() -> usize {
    crate::state::memory_default_max()
}
fn default_output_limit() -> usize {
    DEFAULT_OUTPUT_LIMIT
}
fn default_kill_grace_ms() -> u64 {
    2000
}

impl LocalFlowClientConfig {
    /// Defaults for project directory `cwd`: memory state, next events off.
    pub fn new(cwd: impl Into<PathBuf>) -> Self {
        LocalFlowClientConfig {
            cwd: cwd.into(),
            roots: None,
            state: StateMode::Memory,
            state_dir: None,
            dispatch_next: false,
            max_next_depth: default_max_next_depth(),
            env: BTreeMap::new(),
            code_mode: CodeModeDefaults::default(),
            max_memory_events: default_max_memory_events(),
            launched_by: None,
            workspace_backend_url: None,
            output_limit_bytes: DEFAULT_OUTPUT_LIMIT,
            kill_grace_ms: default_kill_grace_ms(),
            max_concurrent_runs: DEFAULT_MAX_CONCURRENT_RUNS,
            env_passthrough: Vec::new(),
        }
    }

    /// The durable state directory.
    pub fn resolved_state_dir(&self) -> PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(|| self.cwd.join(".codex").join("flow-client"))
    }

    /// The discovery roots.
    pub fn resolved_roots(&self) -> Vec<PathBuf> {
        self.roots
            .clone()
            .unwrap_or_else(|| default_roots(&self.cwd))
    }
}

/// Things a configuration file cannot hold.
#[derive(Clone, Default)]
pub struct LocalHooks {
    /// The Code Mode executor (the SDK adapter).
    pub code_mode: Option<Arc<dyn CodeModeExecutor>>,
    /// Receives run lifecycle and output lines.
    pub progress: Option<ProgressSink>,
}

/// Options of [`LocalFlowClient::run_step`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunStepOptions {
    /// `runtime.runId`.
    pub run_id: Option<String>,
    /// `runtime.attemptId`.
    pub attempt_id: Option<String>,
    /// `runtime.replay`.
    pub replay: bool,
}

struct RunJob {
    run_id: String,
    cancel: CancellationToken,
    matched: StepMatch,
    event: Arc<FlowEvent>,
    replay: bool,
    depth: u32,
}

struct Inner {
    config: LocalFlowClientConfig,
    catalog: FlowCatalog,
    store: Arc<dyn StateStore>,
    runner: StepRunner,
    progress: ProgressSink,
    active: Mutex<HashMap<String, CancellationToken>>,
    finished: Notify,
    tasks: TaskTracker,
    limits: RunLimits,
    /// Parent of every run's cancel token: [`LocalFlowClient::cancel_all`].
    shutdown: CancellationToken,
}

/// Discovers flows under the configured roots, matches events and runs steps in this process.
///
/// ```no_run
/// # async fn demo() -> Result<(), codex_flow::FlowError> {
/// use codex_flow::{DispatchOptions, FlowClient, LocalFlowClient, LocalFlowClientConfig, StateMode};
/// let mut config = LocalFlowClientConfig::new("/path/to/project");
/// config.state = StateMode::Durable;
/// let client = LocalFlowClient::open(config)?;
/// let response = client
///     .dispatch_event(serde_json::json!({"id": "evt-1", "type": "upstream.release"}), DispatchOptions { wait: true })
///     .await?;
/// for run_id in &response.run_ids {
///     let run = client.get_run(run_id).await?;
///     println!("{run_id}: {:?} attention={}", run.effective_status, run.needs_attention);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct LocalFlowClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for LocalFlowClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalFlowClient")
            .field("config", &self.inner.config)
            .field("flows", &self.inner.catalog.flows().len())
            .finish_non_exhaustive()
    }
}

impl LocalFlowClient {
    /// Discovers flows (a broken flow is an error) and opens the state.
    pub fn open(config: LocalFlowClientConfig) -> Result<Self> {
        Self::open_with(config, LocalHooks::default())
    }

    /// Like [`LocalFlowClient::open`], with a Code Mode executor and a progress sink.
    pub fn open_with(config: LocalFlowClientConfig, hooks: LocalHooks) -> Result<Self> {
        let catalog = FlowCatalog::load(&config.resolved_roots())?;
        Self::with_catalog(config, catalog, hooks)
    }

    /// Uses an already loaded catalog instead of discovering one.
    pub fn with_catalog(
        config: LocalFlowClientConfig,
        catalog: FlowCatalog,
        hooks: LocalHooks,
    ) -> Result<Self> {
        let store: Arc<dyn StateStore> = match config.state {
            StateMode::Memory => Arc::new(MemoryStore::new(config.max_memory_events)),
            #[cfg(feature = "sqlite")]
            StateMode::Durable => Arc::new(SqliteStore::open(&config.resolved_state_dir())?),
            #[cfg(not(feature = "sqlite"))]
            StateMode::Durable => {
                return Err(FlowError::State {
                    path: config.resolved_state_dir(),
                    message: "durable state needs codex-flow built with the `sqlite` feature \
                              (or use `state: memory`)"
                        .into(),
                })
            }
        };
        let runner = StepRunner::new(RunnerConfig {
            env: config.env.clone(),
            env_passthrough: config.env_passthrough.clone(),
            code_mode: hooks.code_mode,
            code_mode_defaults: config.code_mode.clone(),
            output_limit: config.output_limit_bytes.max(1),
            kill_grace: Duration::from_millis(config.kill_grace_ms),
            launched_by: config.launched_by.clone(),
            workspace_backend_url: config.workspace_backend_url.clone(),
        });
        if config.state == StateMode::Durable {
            recover_abandoned_runs(&*store)?;
        }
        let config_limit = config.max_concurrent_runs.max(1);
        Ok(LocalFlowClient {
            inner: Arc::new(Inner {
                config,
                catalog,
                store,
                runner,
                progress: hooks.progress.unwrap_or_else(no_progress),
                active: Mutex::new(HashMap::new()),
                finished: Notify::new(),
                tasks: TaskTracker::new(),
                limits: RunLimits::new(config_limit),
                shutdown: CancellationToken::new(),
            }),
        })
    }

    /// The discovered flows.
    pub fn catalog(&self) -> &FlowCatalog {
        &self.inner.catalog
    }

    /// The configuration.
    pub fn config(&self) -> &LocalFlowClientConfig {
        &self.inner.config
    }

    /// Cancels every queued and running run of this client (their steps' process groups are
    /// killed) and every run started later; use before exiting on a signal, then
    /// [`LocalFlowClient::wait_idle`] to let them record `canceled`.
    pub fn cancel_all(&self) {
        self.inner.shutdown.cancel();
    }

    /// Waits until every background run started by this client has finished.
    pub async fn wait_idle(&self) {
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
        self.inner.tasks.reopen();
    }

    /// Waits until run `run_id` is over and returns it.
    pub async fn wait_for_run(&self, run_id: &str) -> Result<RunView> {
        loop {
            let notified = self.inner.finished.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let run = self.inner.get_run(run_id).await?;
            if run.is_terminal() {
                return Ok(run);
            }
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
    }

    /// Runs one step explicitly (trigger and schema are not checked) without recording it.
    pub async fn run_step(
        &self,
        flow: &str,
        step: &str,
        event: FlowEvent,
        options: RunStepOptions,
        cancel: &CancellationToken,
    ) -> Result<StepOutcome> {
        let loaded: &Arc<LoadedFlow> = self
            .inner
            .catalog
            .flow(flow)
            .ok_or_else(|| FlowError::UnknownFlow(flow.to_string()))?;
        let loaded_step = loaded.step(step).ok_or_else(|| FlowError::UnknownStep {
            flow: flow.to_string(),
            step: step.to_string(),
        })?;
        let runtime = RuntimeMetadata {
            event_id: event.id.clone(),
            run_id: options.run_id,
            attempt_id: options.attempt_id,
            replay: options.replay,
            workspace_backend_url: None,
            launched_by: None,
        };
        let progress = &self.inner.progress;
        progress(&ProgressEvent::Started {
            run_id: runtime.run_id.clone(),
            flow: flow.to_string(),
            step: step.to_string(),
        });
        let outcome = self
            .inner
            .runner
            .run(
                loaded,
                loaded_step,
                &event,
                runtime.clone(),
                cancel,
                progress,
            )
            .await;
        progress(&ProgressEvent::Finished {
            run_id: runtime.run_id,
            flow: flow.to_string(),
            step: step.to_string(),
            status: crate::run_view::EffectiveStatus::of(
                outcome.result.as_ref().map(|r| r.status),
                Some(outcome.process_status),
            )
            .as_str()
            .to_string(),
            error: outcome.error.as_ref().map(ToString::to_string),
        });
        Ok(outcome)
    }
}

impl Inner {
    async fn store_call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn StateStore) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let store = self.store.clone();
        if !store.blocks() {
            return f(&*store);
        }
        tokio::task::spawn_blocking(move || f(&*store))
            .await
            .map_err(|e| FlowError::State {
                path: self.config.resolved_state_dir(),
                message: format!("state task failed: {e}"),
            })?
    }

    async fn get_run(&self, run_id: &str) -> Result<RunView> {
        let id = run_id.to_string();
        self.store_call(move |s| s.get_run(&id))
            .await?
            .ok_or_else(|| FlowError::UnknownRun(run_id.to_string()))
    }

    async fn update_run(
        &self,
        run_id: &str,
        update: impl FnMut(&mut RunView) -> bool + Send + 'static,
    ) -> Result<RunView> {
        let id = run_id.to_string();
        let mut update = update;
        self.store_call(move |s| s.update_run(&id, &mut update))
            .await
    }

    fn dispatch(
        self: &Arc<Self>,
        event: FlowEvent,
        depth: u32,
        wait: bool,
    ) -> BoxFuture<'static, Result<DispatchResponse>> {
        let this = self.clone();
        Box::pin(async move {
            let matches = this.catalog.match_event(&event);
            let runs: Vec<RunView> = matches
                .iter()
                .map(|m| {
                    let mut run = RunView::queued(
                        run_id(&event.id, m.flow.name(), m.step().name(), None),
                        &event,
                        m.flow.name(),
                        m.step().name(),
                        false,
                    );
                    run.owner = Some(worker_id());
                    run
                })
                .collect();
            let record = EventRecord {
                event: event.clone(),
                run_ids: runs.iter().map(|r| r.id.clone()).collect(),
                replays: 0,
                depth,
                stored_at: now_rfc3339(),
            };
            let run_ids = record.run_ids.clone();
            let claim = {
                let runs = runs.clone();
                this.store_call(move |s| s.claim_event(&record, &runs))
                    .await?
            };
            if let Claim::Duplicate(existing) = claim {
                tracing::debug!(event_id = %event.id, "duplicate event, nothing runs");
                return Ok(DispatchResponse {
                    status: DispatchStatus::Duplicate,
                    event_id: event.id,
                    run_ids: existing,
                    matched: 0,
                    idempotent: true,
                });
            }
            let event = Arc::new(event);
            let jobs: Vec<RunJob> = matches
                .into_iter()
                .zip(run_ids.iter())
                .map(|(matched, id)| RunJob {
                    run_id: id.clone(),
                    cancel: this.shutdown.child_token(),
                    matched,
                    event: event.clone(),
                    replay: false,
                    depth,
                })
                .collect();
            let matched = jobs.len();
            this.execute(jobs, wait).await;
            Ok(DispatchResponse {
                status: DispatchStatus::Accepted,
                event_id: event.id.clone(),
                run_ids,
                matched,
                idempotent: false,
            })
        })
    }

    async fn replay(self: &Arc<Self>, event_id: &str, wait: bool) -> Result<DispatchResponse> {
        let id = event_id.to_string();
        let record = self
            .store_call(move |s| s.get_event(&id))
            .await?
            .ok_or_else(|| FlowError::UnknownEvent(event_id.to_string()))?;
        let event = Arc::new(record.event);
        let matches = self.catalog.match_event(&event);
        let plan: Vec<(String, String)> = matches
            .iter()
            .map(|m| (m.flow.name().to_string(), m.step().name().to_string()))
            .collect();
        let runs = {
            let event = event.clone();
            let id = event_id.to_string();
            self.store_call(move |s| {
                s.record_replay(&id, &mut |_, n| {
                    let nonce = replay_nonce(n);
                    plan.iter()
                        .map(|(flow, step)| {
                            let mut run = RunView::queued(
                                run_id(&event.id, flow, step, Some(&nonce)),
                                &event,
                                flow,
                                step,
                                true,
                            );
                            run.owner = Some(worker_id());
                            run
                        })
                        .collect()
                })
            })
            .await?
        };
        let run_ids: Vec<String> = runs.iter().map(|r| r.id.clone()).collect();
        let jobs: Vec<RunJob> = matches
            .into_iter()
            .zip(run_ids.iter())
            .map(|(matched, id)| RunJob {
                run_id: id.clone(),
                cancel: self.shutdown.child_token(),
                matched,
                event: event.clone(),
                replay: true,
                depth: record.depth,
            })
            .collect();
        let matched = jobs.len();
        self.execute(jobs, wait).await;
        Ok(DispatchResponse {
            status: DispatchStatus::Accepted,
            event_id: event_id.to_string(),
            run_ids,
            matched,
            idempotent: false,
        })
    }

    async fn event_detail(&self, event_id: &str) -> Result<EventDetail> {
        let id = event_id.to_string();
        let record = self
            .store_call(move |s| s.get_event(&id))
            .await?
            .ok_or_else(|| FlowError::UnknownEvent(event_id.to_string()))?;
        let filter = RunFilter {
            event_id: Some(event_id.to_string()),
            status: None,
            limit: Some(MAX_LIST_LIMIT),
        };
        let mut runs = self.store_call(move |s| s.list_runs(&filter)).await?;
        let order: HashMap<&str, usize> = record
            .run_ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), i))
            .collect();
        runs.sort_by_key(|r| order.get(r.id.as_str()).copied().unwrap_or(usize::MAX));
        Ok(EventDetail {
            event: record,
            runs,
        })
    }
}

impl FlowClient for LocalFlowClient {
    fn dispatch_event(
        &self,
        event: Value,
        options: DispatchOptions,
    ) -> BoxFuture<'_, Result<DispatchResponse>> {
        Box::pin(async move {
            let event = FlowEvent::from_value(event)?;
            self.inner.dispatch(event, 0, options.wait).await
        })
    }

    fn replay_event<'a>(
        &'a self,
        event_id: &'a str,
        options: DispatchOptions,
    ) -> BoxFuture<'a, Result<DispatchResponse>> {
        Box::pin(self.inner.replay(event_id, options.wait))
    }

    fn list_runs(&self, filter: RunFilter) -> BoxFuture<'_, Result<Vec<RunView>>> {
        Box::pin(self.inner.store_call(move |s| s.list_runs(&filter)))
    }

    fn get_run<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, Result<RunView>> {
        Box::pin(self.inner.get_run(run_id))
    }

    fn list_events(&self, filter: EventFilter) -> BoxFuture<'_, Result<Vec<EventRecord>>> {
        Box::pin(self.inner.store_call(move |s| s.list_events(&filter)))
    }

    fn get_event<'a>(&'a self, event_id: &'a str) -> BoxFuture<'a, Result<EventDetail>> {
        Box::pin(self.inner.event_detail(event_id))
    }

    fn cancel_run<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, Result<RunView>> {
        Box::pin(self.inner.cancel(run_id))
    }
}
