//! In-memory state, bounded: past `max_events` the oldest events and their runs are evicted.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use crate::error::{FlowError, Result};
use crate::run_view::RunView;
use crate::state::{
    effective_limit, run_matches, Claim, EventFilter, EventRecord, RunFilter, StateStore,
};

/// Default bound of [`MemoryStore`].
pub const DEFAULT_MAX_MEMORY_EVENTS: usize = 100_000;

#[derive(Debug, Default)]
struct Inner {
    seq: u64,
    events: HashMap<String, (u64, EventRecord)>,
    event_order: BTreeMap<u64, String>,
    runs: HashMap<String, (u64, RunView)>,
    run_order: BTreeMap<u64, String>,
}

impl Inner {
    fn insert_run(&mut self, run: RunView) {
        self.seq += 1;
        self.run_order.insert(self.seq, run.id.clone());
        self.runs.insert(run.id.clone(), (self.seq, run));
    }

    fn evict_oldest(&mut self) {
        let Some((&seq, _)) = self.event_order.iter().next() else {
            return;
        };
        let Some(id) = self.event_order.remove(&seq) else {
            return;
        };
        if let Some((_, record)) = self.events.remove(&id) {
            for run_id in record.run_ids {
                if let Some((run_seq, _)) = self.runs.remove(&run_id) {
                    self.run_order.remove(&run_seq);
                }
            }
        }
    }
}

/// Events and runs kept in memory (the local client's default).
#[derive(Debug)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    max_events: usize,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_MEMORY_EVENTS)
    }
}

impl MemoryStore {
    /// A store keeping at most `max_events` events (and their runs); older ones are evicted,
    /// which also ends their idempotency.
    pub fn new(max_events: usize) -> Self {
        MemoryStore {
            inner: Mutex::new(Inner::default()),
            max_events: max_events.max(1),
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>> {
        self.inner.lock().map_err(|_| FlowError::State {
            path: "memory".into(),
            message: "state lock poisoned by a panic".into(),
        })
    }
}

impl StateStore for MemoryStore {
    fn claim_event(&self, record: &EventRecord, runs: &[RunView]) -> Result<Claim> {
        let mut inner = self.lock()?;
        if let Some((_, existing)) = inner.events.get(&record.event.id) {
            return Ok(Claim::Duplicate(existing.run_ids.clone()));
        }
        while inner.events.len() >= self.max_events {
            inner.evict_oldest();
        }
        inner.seq += 1;
        let seq = inner.seq;
        inner.event_order.insert(seq, record.event.id.clone());
        inner
            .events
            .insert(record.event.id.clone(), (seq, record.clone()));
        for run in runs {
            inner.insert_run(run.clone());
        }
        Ok(Claim::Claimed)
    }

    fn record_replay(
        &self,
        event_id: &str,
        build: &mut dyn FnMut(&EventRecord, u32) -> Vec<RunView>,
    ) -> Result<Vec<RunView>> {
        let mut inner = self.lock()?;
        let record = match inner.events.get_mut(event_id) {
            Some((_, record)) => record,
            None => return Err(FlowError::UnknownEvent(event_id.to_string())),
        };
        record.replays += 1;
        let runs = build(record, record.replays);
        record.run_ids.extend(runs.iter().map(|r| r.id.clone()));
        for run in &runs {
            inner.insert_run(run.clone());
        }
        Ok(runs)
    }

    fn update_run(
        &self,
        run_id: &str,
        update: &mut dyn FnMut(&mut RunView) -> bool,
    ) -> Result<RunView> {
        let mut inner = self.lock()?;
        let (_, run) = inner
            .runs
            .get_mut(run_id)
            .ok_or_else(|| FlowError::UnknownRun(run_id.to_string()))?;
        if update(run) {
            run.updated_at = Some(crate::timestamp::now_rfc3339());
            run.refresh();
        }
        Ok(run.clone())
    }

    fn get_run(&self, run_id: &str) -> Result<Option<RunView>> {
        Ok(self.lock()?.runs.get(run_id).map(|(_, r)| r.clone()))
    }

    fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunView>> {
        let inner = self.lock()?;
        let limit = effective_limit(filter.limit);
        Ok(inner
            .run_order
            .values()
            .rev()
            .filter_map(|id| inner.runs.get(id).map(|(_, r)| r))
            .filter(|r| run_matches(r, filter))
            .take(limit)
            .cloned()
            .collect())
    }

    fn get_event(&self, event_id: &str) -> Result<Option<EventRecord>> {
        Ok(self.lock()?.events.get(event_id).map(|(_, e)| e.clone()))
    }

    fn list_events(&self, filter: &EventFilter) -> Result<Vec<EventRecord>> {
        let inner = self.lock()?;
        let limit = effective_limit(filter.limit);
        Ok(inner
            .event_order
            .values()
            .rev()
            .filter_map(|id| inner.events.get(id).map(|(_, e)| e))
            .filter(|e| {
                filter
                    .event_type
                    .as_ref()
                    .is_none_or(|t| &e.event.event_type == t)
            })
            .take(limit)
            .cloned()
            .collect())
    }

    fn unfinished_runs(&self) -> Result<Vec<RunView>> {
        Ok(self
            .lock()?
            .runs
            .values()
            .filter(|(_, r)| !r.is_terminal())
            .map(|(_, r)| r.clone())
            .collect())
    }

    fn blocks(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::FlowEvent;

    fn record(id: &str) -> (EventRecord, Vec<RunView>) {
        let event = FlowEvent::new(id, "t", serde_json::json!({}));
        let run = RunView::queued(format!("run-{id}"), &event, "f", "s", false);
        let record = EventRecord {
            event,
            run_ids: vec![run.id.clone()],
            replays: 0,
            depth: 0,
            stored_at: String::new(),
        };
        (record, vec![run])
    }

    #[test]
    fn memory_state_is_bounded_and_evicts_oldest_events_with_their_runs() {
        let store = MemoryStore::new(2);
        for id in ["a", "b", "c"] {
            let (rec, runs) = record(id);
            assert_eq!(store.claim_event(&rec, &runs).unwrap(), Claim::Claimed);
        }
        assert!(store.get_event("a").unwrap().is_none());
        assert!(store.get_run("run-a").unwrap().is_none());
        assert!(store.get_run("run-c").unwrap().is_some());
        let ids: Vec<String> = store
            .list_events(&EventFilter::default())
            .unwrap()
            .into_iter()
            .map(|e| e.event.id)
            .collect();
        assert_eq!(ids, ["c", "b"]);
        let (rec, runs) = record("b");
        assert_eq!(
            store.claim_event(&rec, &runs).unwrap(),
            Claim::Duplicate(vec!["run-b".into()])
        );
    }
}
