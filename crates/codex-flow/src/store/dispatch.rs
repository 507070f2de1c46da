//! What dispatching one event records, shared by `codex-flow serve` (`POST /events`) and
//! `codex-flow worker` (the `next` events of a finished run): the event matched against a flow
//! catalog, as an [`EventRecord`] plus one queued run per matching step, each pinned to its
//! flow package's hash and carrying its flow's `[retry]` policy. Recording them
//! ([`crate::PostgresFlowStore::record_event_with_policies`]) is one transaction (an outbox);
//! workers execute the runs later.

use std::collections::HashMap;

use crate::catalog::FlowCatalog;
use crate::error::Result;
use crate::event::FlowEvent;
use crate::manifest::RetryPolicy;
use crate::package_hash::package_hash;
use crate::run_view::RunView;
use crate::state::EventRecord;
use crate::timestamp::now_rfc3339;

/// A queued run and the retry policy of its flow, as
/// [`crate::PostgresFlowStore::record_event_with_policies`] takes them.
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
/// both in one transaction with [`crate::PostgresFlowStore::record_event_with_policies`].
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
