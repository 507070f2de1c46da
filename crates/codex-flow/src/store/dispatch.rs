//! What dispatching one event records, shared by `codex-flow serve` (`POST /events`) and
//! `codex-flow worker` (the `next` events of a finished run): the event matched against a flow
//! catalog, as an [`EventRecord`] plus one queued run per matching step, each pinned to its
//! flow package's hash and carrying its flow's `[retry]` policy. Recording them
//! (`PostgresFlowStore::record_event_with_policies`) is one transaction (an outbox);
//! workers execute the runs later. A worker records the `next` events of a run
//! ([`next_dispatch`]) in the same transaction as the run's end
//! (`PostgresFlowStore::finish_attempt_run`).

use std::collections::HashMap;

use crate::catalog::FlowCatalog;
use crate::error::Result;
use crate::event::FlowEvent;
use crate::flow_result::FlowResult;
use crate::manifest::RetryPolicy;
use crate::package_hash::package_hash;
use crate::run_view::RunView;
use crate::state::EventRecord;
use crate::timestamp::now_rfc3339;

/// A queued run and the retry policy of its flow, as
/// `PostgresFlowStore::record_event_with_policies` takes them.
pub type QueuedRun = (RunView, Option<RetryPolicy>);

/// The content hash of every flow package of `catalog`, by flow name (what queued runs are
/// pinned to; a worker only leases runs of a package it has).
pub fn package_hashes(catalog: &FlowCatalog) -> Result<HashMap<String, String>> {
    catalog
        .flows()
        .iter()
        .map(|flow| Ok((flow.name().to_string(), package_hash(flow)?)))
        .collect()
}

/// The record of dispatching `event` at `depth` (0 for a caller's event, n+1 for a `next`
/// event of a depth-n event) against `catalog`: the [`EventRecord`] and one queued run per
/// matching step (ids [`crate::ids::run_id`] without a replay nonce, `package_hash` from
/// `hashes` (see [`package_hashes`]), the flow's `[retry]` policy). Nothing is written; record
/// both in one transaction with `PostgresFlowStore::record_event_with_policies`.
pub fn queued_dispatch(
    catalog: &FlowCatalog,
    hashes: &HashMap<String, String>,
    event: FlowEvent,
    depth: u32,
) -> (EventRecord, Vec<QueuedRun>) {
    let runs: Vec<QueuedRun> = catalog
        .match_event(&event)
        .iter()
        .map(|m| {
            let mut run = RunView::queued(
                crate::ids::run_id(&event.id, m.flow.name(), m.step().name(), None),
                &event,
                m.flow.name(),
                m.step().name(),
                false,
            );
            run.package_hash = hashes.get(m.flow.name()).cloned();
            (run, m.flow.manifest.retry)
        })
        .collect();
    let record = EventRecord {
        run_ids: runs.iter().map(|(r, _)| r.id.clone()).collect(),
        event,
        replays: 0,
        depth,
        stored_at: now_rfc3339(),
    };
    (record, runs)
}

/// The `next` events of an attempt's FLOW_RESULT, ready to be recorded with the attempt's end
/// by `PostgresFlowStore::finish_attempt_run` (in its transaction, only when the
/// attempt won and the run is over; a fenced or retried attempt records none of it).
#[derive(Debug, Clone, Default)]
pub struct NextEvents {
    /// Each next event to record, with its queued runs ([`queued_dispatch`]).
    pub dispatches: Vec<(EventRecord, Vec<QueuedRun>)>,
    /// Notes for the run about next events that are not recorded (past the depth limit,
    /// invalid).
    pub notes: Vec<String>,
}

/// The [`NextEvents`] of `result`, the FLOW_RESULT of a run whose event has depth
/// `event_depth`: each valid `next` event dispatched against `catalog` ([`queued_dispatch`])
/// at `event_depth + 1`. Past `max_depth` (0 turns next events off) none is dispatched and each
/// gets a note `next event `…` not dispatched: depth limit N reached`; an invalid event gets a
/// note too. Nothing is written.
pub fn next_dispatch(
    catalog: &FlowCatalog,
    hashes: &HashMap<String, String>,
    result: Option<&FlowResult>,
    event_depth: u32,
    max_depth: u32,
) -> NextEvents {
    let mut next = NextEvents::default();
    let Some(events) = result.and_then(|r| r.next.as_ref()) else {
        return next;
    };
    let depth = event_depth.saturating_add(1);
    for event in events {
        if depth > max_depth {
            next.notes.push(format!(
                "next event `{}` not dispatched: depth limit {max_depth} reached",
                event.id
            ));
        } else if let Err(e) = event.validate() {
            next.notes
                .push(format!("next event `{}` not dispatched: {e}", event.id));
        } else {
            next.dispatches
                .push(queued_dispatch(catalog, hashes, event.clone(), depth));
        }
    }
    next
}
