//! Flow clients: one async trait, a local implementation (catalog + runner + state) and an HTTP
//! implementation (a flow backend), chosen by configuration.

mod config;
mod config_keys;
#[cfg(feature = "http-client")]
mod http;
mod http_config;
mod local;
mod normalize;
mod secret;
mod signature;

pub use config::FlowClientConfig;
#[cfg(feature = "http-client")]
pub use http::HttpFlowClient;
pub use http_config::HttpFlowClientConfig;
pub use local::{
    LocalFlowClient, LocalFlowClientConfig, LocalHooks, RunStepOptions, StateMode,
    DEFAULT_MAX_NEXT_DEPTH,
};
pub use normalize::{normalize_dispatch, normalize_event_record, normalize_run};
pub use secret::{redact_url, Secret};
pub use signature::{
    sign_body, sign_request, verify_request, verify_signature, LEGACY_SIGNATURE_HEADER,
    REQUEST_SIGNATURE_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Result;
use crate::run_view::RunView;
use crate::state::{EventFilter, EventRecord, RunFilter};

/// Options of `dispatch_event` and `replay_event`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DispatchOptions {
    /// Return only after every run (and any `next` event dispatched by them) has finished.
    #[serde(default)]
    pub wait: bool,
}

/// Whether a dispatch recorded the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DispatchStatus {
    /// Recorded; its runs were started (or finished, when waiting).
    Accepted,
    /// The event id was already stored; nothing ran.
    Duplicate,
}

/// `{status, eventId, runIds, matched, idempotent?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DispatchResponse {
    /// Accepted or duplicate.
    pub status: DispatchStatus,
    /// The event id.
    pub event_id: String,
    /// The runs created (for a duplicate: the runs stored earlier).
    pub run_ids: Vec<String>,
    /// How many steps matched (0 for a duplicate).
    pub matched: usize,
    /// True for a duplicate.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub idempotent: bool,
}

/// `{event, runs}`: a stored event and its runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventDetail {
    /// The stored event.
    pub event: EventRecord,
    /// Its runs, in creation order.
    pub runs: Vec<RunView>,
}

/// What product code talks to, whatever the backend.
pub trait FlowClient: Send + Sync {
    /// Dispatches an event (JSON as received): matched steps become runs. A stored id runs
    /// nothing and answers `duplicate`.
    fn dispatch_event(
        &self,
        event: Value,
        options: DispatchOptions,
    ) -> BoxFuture<'_, Result<DispatchResponse>>;
    /// Re-runs a stored event under new run ids, appended to the event.
    fn replay_event<'a>(
        &'a self,
        event_id: &'a str,
        options: DispatchOptions,
    ) -> BoxFuture<'a, Result<DispatchResponse>>;
    /// Runs, newest first.
    fn list_runs(&self, filter: RunFilter) -> BoxFuture<'_, Result<Vec<RunView>>>;
    /// One run; an unknown id is [`crate::FlowError::UnknownRun`].
    fn get_run<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, Result<RunView>>;
    /// Events, newest first.
    fn list_events(&self, filter: EventFilter) -> BoxFuture<'_, Result<Vec<EventRecord>>>;
    /// One event and its runs; an unknown id is [`crate::FlowError::UnknownEvent`].
    fn get_event<'a>(&'a self, event_id: &'a str) -> BoxFuture<'a, Result<EventDetail>>;
    /// Cancels a queued or running run (a running step is killed).
    fn cancel_run<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, Result<RunView>>;
}
