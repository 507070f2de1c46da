//! [`SqliteFlowStore`]: the embedded store of one machine, the local client's SQLite state made
//! public and async (blocking calls run on tokio's blocking pool).

use std::path::Path;
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::error::{FlowError, Result};
use crate::run_view::RunView;
use crate::state::{Claim, EventFilter, EventRecord, RunFilter, SqliteStore, StateStore};
use crate::store::{apply_cancel, replay_runs, FlowStore, ReplayPlan};

/// Events and runs in `<dir>/state.sqlite3` (created 0600, WAL, synchronous=FULL).
#[derive(Debug, Clone)]
pub struct SqliteFlowStore {
    inner: Arc<SqliteStore>,
}

impl SqliteFlowStore {
    /// Opens (creating if needed) the store in directory `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        Ok(SqliteFlowStore {
            inner: Arc::new(SqliteStore::open(dir)?),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        self.inner.path()
    }

    fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&SqliteStore) -> Result<T> + Send + 'static,
    ) -> BoxFuture<'static, Result<T>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let path = inner.path().to_path_buf();
            tokio::task::spawn_blocking(move || f(&inner))
                .await
                .map_err(|e| FlowError::State {
                    path,
                    message: format!("state task failed: {e}"),
                })?
        })
    }
}

impl FlowStore for SqliteFlowStore {
    fn record_event(
        &self,
        record: EventRecord,
        runs: Vec<RunView>,
    ) -> BoxFuture<'_, Result<Claim>> {
        self.call(move |s| s.claim_event(&record, &runs))
    }

    fn record_replay(
        &self,
        event_id: String,
        plan: Vec<ReplayPlan>,
    ) -> BoxFuture<'_, Result<Vec<RunView>>> {
        self.call(move |s| s.record_replay(&event_id, &mut |record, _| replay_runs(record, &plan)))
    }

    fn get_run(&self, run_id: String) -> BoxFuture<'_, Result<Option<RunView>>> {
        self.call(move |s| s.get_run(&run_id))
    }

    fn list_runs(&self, filter: RunFilter) -> BoxFuture<'_, Result<Vec<RunView>>> {
        self.call(move |s| s.list_runs(&filter))
    }

    fn get_event(&self, event_id: String) -> BoxFuture<'_, Result<Option<EventRecord>>> {
        self.call(move |s| s.get_event(&event_id))
    }

    fn list_events(&self, filter: EventFilter) -> BoxFuture<'_, Result<Vec<EventRecord>>> {
        self.call(move |s| s.list_events(&filter))
    }

    fn cancel_run(&self, run_id: String) -> BoxFuture<'_, Result<RunView>> {
        self.call(move |s| s.update_run(&run_id, &mut apply_cancel))
    }
}
