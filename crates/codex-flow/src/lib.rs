//! Flow runtime: `flow.toml` packages react to `FlowEvent`s; matching steps run as commands or as
//! Codex turns (Code Mode) and report a `FLOW_RESULT`; a flow client records events and runs.
//!
//! Module layout, from input to state:
//! - [`manifest`]: parsing and checking `flow.toml`.
//! - [`catalog`]: discovery under the roots (first flow of a name wins), loaded flows and steps;
//!   `paths` keeps step files inside their flow folder.
//! - [`payload_schema`]: trigger schemas compiled once with a real JSON Schema validator.
//! - [`event`]: `FlowEvent` intake (defaults, errors, size limit).
//! - [`matching`]: event type + payload schema → runs, in discovery then manifest order.
//! - [`context`]: the step context JSON and its environment variables.
//! - [`flow_result`]: `FLOW_RESULT` parsing and the Code Mode output schema.
//! - [`step_runner`]: runs one step: `command_runner` (process group, timeout, bounded output)
//!   or [`code_mode`] (the [`CodeModeExecutor`] seam implemented by the SDK); [`progress`]
//!   streams lifecycle and output lines.
//! - [`run_view`]: normalized runs (`processStatus`, `resultStatus`, `effectiveStatus`,
//!   `needsAttention`, attempts, output).
//! - [`state`]: memory and durable SQLite state.
//! - [`client`]: the [`FlowClient`] trait, [`LocalFlowClient`], `HttpFlowClient` (Cargo feature
//!   `http-client`) and [`FlowClientConfig`].
//! - `store`, `serve`, `worker` (Cargo feature `server`): the PostgreSQL store, `codex-flow serve`
//!   and workers; `SqliteFlowStore` and durable local state need `sqlite` (on by default).
//! - [`schemas`]: the published JSON Schemas of `flow.toml` and `FLOW_RESULT`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), codex_flow::FlowError> {
//! use codex_flow::{DispatchOptions, FlowClient, LocalFlowClient, LocalFlowClientConfig};
//! let client = LocalFlowClient::open(LocalFlowClientConfig::new("."))?;
//! let answer = client
//!     .dispatch_event(
//!         serde_json::json!({"id": "evt-1", "type": "upstream.release", "payload": {"tag": "v1"}}),
//!         DispatchOptions { wait: true },
//!     )
//!     .await?;
//! println!("{} steps matched", answer.matched);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod catalog;
pub mod client;
pub mod code_mode;
pub mod codex_executor;
mod command_runner;
pub mod context;
pub mod error;
pub mod event;
pub mod flow_result;
pub mod ids;
pub mod manifest;
pub mod matching;
mod output_capture;
pub mod package_hash;
mod paths;
pub mod payload_schema;
pub mod progress;
mod run_limits;
pub mod run_view;
pub mod schemas;
#[cfg(feature = "server")]
pub mod serve;
pub mod state;
mod step_guard;
pub mod step_runner;
pub mod store;
pub mod timestamp;
#[cfg(feature = "server")]
pub mod worker;

pub use catalog::{default_roots, Discovery, FlowCatalog, LoadedFlow, LoadedStep, ShadowedFlow};
#[cfg(feature = "http-client")]
pub use client::HttpFlowClient;
pub use client::{
    normalize_dispatch, normalize_event_record, normalize_run, sign_body, verify_signature,
    DispatchOptions, DispatchResponse, DispatchStatus, EventDetail, FlowClient, FlowClientConfig,
    HttpFlowClientConfig, LocalFlowClient, LocalFlowClientConfig, LocalHooks, RunStepOptions,
    Secret, StateMode, DEFAULT_MAX_NEXT_DEPTH, LEGACY_SIGNATURE_HEADER, SIGNATURE_HEADER,
};
pub use code_mode::{
    code_mode_enabled, code_mode_env_from_process, CodeModeDefaults, CodeModeExecutor,
    CodeModeReply, CodeModeRequest,
};
pub use codex_executor::SessionCodeModeExecutor;
pub use context::{RuntimeMetadata, StepContext};
pub use error::{FlowError, Result};
pub use event::FlowEvent;
pub use flow_result::{code_mode_output_schema, FlowResult, FlowResultStatus};
pub use manifest::{
    ApprovalPolicy, FlowManifest, RetryPolicy, RunnerKind, SandboxMode, StepManifest,
};
pub use matching::{SchemaMismatch, StepMatch};
pub use output_capture::CapturedOutput;
pub use payload_schema::{PayloadSchema, PayloadViolation};
pub use progress::{OutputStream, ProgressEvent, ProgressSink};
pub use run_view::{AttemptView, EffectiveStatus, ProcessStatus, RunOutput, RunView};
pub use state::{EventFilter, EventRecord, RunFilter};
pub use step_runner::{RunnerConfig, StepOutcome, StepRunner};
pub use store::FlowStore;
#[cfg(feature = "server")]
pub use store::PostgresFlowStore;
#[cfg(feature = "sqlite")]
pub use store::SqliteFlowStore;
pub use tokio_util::sync::CancellationToken;
