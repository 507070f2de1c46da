//! Where the local client keeps events and runs: in memory (default) or durable SQLite.

mod memory;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use memory::{MemoryStore, DEFAULT_MAX_MEMORY_EVENTS};

pub(crate) fn memory_default_max() -> usize {
    DEFAULT_MAX_MEMORY_EVENTS
}
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::event::FlowEvent;
use crate::run_view::RunView;

/// Default number of items a list call returns.
pub const DEFAULT_LIST_LIMIT: usize = 50;
/// Largest number of items a list call returns.
pub const MAX_LIST_LIMIT: usize = 10_000;

/// A stored event with the runs it caused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventRecord {
    /// The event as received (defaults applied).
    pub event: FlowEvent,
    /// Every run of the event (replays appended), in creation order.
    pub run_ids: Vec<String>,
    /// How many times the event was replayed.
    #[serde(default)]
    pub replays: u32,
    /// 0 for an event dispatched by a caller; n+1 for a `next` event of a depth-n event.
    #[serde(default)]
    pub depth: u32,
    /// When the event was stored.
    pub stored_at: String,
}

/// Filter of `list_runs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunFilter {
    /// Only runs of this event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// Only runs whose process or effective status is this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// At most this many (default 50), newest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// Filter of `list_events`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventFilter {
    /// Only events of this type.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "type")]
    pub event_type: Option<String>,
    /// At most this many (default 50), newest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

pub(crate) fn effective_limit(limit: Option<usize>) -> usize {
    limit.unwrap_or(DEFAULT_LIST_LIMIT).clamp(1, MAX_LIST_LIMIT)
}

pub(crate) fn run_matches(run: &RunView, filter: &RunFilter) -> bool {
    if let Some(event_id) = &filter.event_id {
        if &run.event_id != event_id {
            return false;
        }
    }
    if let Some(status) = &filter.status {
        let process = run.process_status.map(|s| s.as_str());
        if process != Some(status.as_str()) && run.effective_status.as_str() != status {
            return false;
        }
    }
    true
}

/// Outcome of recording an event with its runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The event and its runs were recorded.
    Claimed,
    /// The id was already stored; these are its runs.
    Duplicate(Vec<String>),
}

/// Storage operations; each is atomic (one transaction in SQLite).
pub(crate) trait StateStore: Send + Sync + 'static {
    /// Records `record` and its queued `runs` unless the event id is already stored.
    fn claim_event(&self, record: &EventRecord, runs: &[RunView]) -> Result<Claim>;
    /// Increments the replay count of `event_id`, builds the replay runs with the new count and
    /// records them, appending their ids to the event.
    fn record_replay(
        &self,
        event_id: &str,
        build: &mut dyn FnMut(&EventRecord, u32) -> Vec<RunView>,
    ) -> Result<Vec<RunView>>;
    /// Read-modify-write of one run; `update` returns whether it changed anything.
    fn update_run(
        &self,
        run_id: &str,
        update: &mut dyn FnMut(&mut RunView) -> bool,
    ) -> Result<RunView>;
    /// One run.
    fn get_run(&self, run_id: &str) -> Result<Option<RunView>>;
    /// Runs, newest first.
    fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunView>>;
    /// One event.
    fn get_event(&self, event_id: &str) -> Result<Option<EventRecord>>;
    /// Events, newest first.
    fn list_events(&self, filter: &EventFilter) -> Result<Vec<EventRecord>>;
    /// Runs that are queued or running.
    fn unfinished_runs(&self) -> Result<Vec<RunView>>;
    /// Whether calls may block (disk, locks held by other processes).
    fn blocks(&self) -> bool;
}
