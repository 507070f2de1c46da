//! `next` events through a `codex-flow worker` process on PostgreSQL: a run's FLOW_RESULT
//! `next` event is recorded by the worker whose attempt won, at the run's event depth + 1, and
//! its runs execute exactly once; a next event beyond the worker's depth limit is not recorded
//! (a run note says so). Through the store API: a finish and its next events commit in one
//! transaction (a next event that cannot be recorded keeps the end from committing; a fenced
//! finish records neither).

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use codex_flow::ids::run_id;
use codex_flow::store::{
    next_dispatch, package_hashes, queued_dispatch, AttemptEnd, Heartbeat, NextEvents,
};
use codex_flow::{
    EventRecord, FlowCatalog, FlowEvent, FlowResult, FlowStore, PostgresFlowStore, ProcessStatus,
    RunFilter, RunView,
};
use codex_test_support::postgres::fresh_database;
use serde_json::json;
use support::{start_codex_flow, FlowTree, Proc};

/// Starts `codex-flow worker` on `store` for the flows under `flows` (after its id line).
fn worker(store: &str, flows: &Path, extra: &[&str]) -> Proc {
    let mut args = vec![
        "worker",
        "--store",
        store,
        "--flows",
        flows.to_str().unwrap(),
        "--concurrency",
        "2",
        "--heartbeat-ms",
        "250",
    ];
    args.extend_from_slice(extra);
    let (proc, line) = start_codex_flow(&args);
    assert!(line.starts_with("worker "), "{line:?}");
    proc
}

/// Flow `a` (step `s`, on `chain.start`) answers `next: [chain-next-1 (chain.next)]`; flow `b`
/// (step `s`, on `chain.next`) appends `<run id> <attempt id>` to `<cwd>/chain.txt`.
fn chain_flows(tree: &FlowTree) -> FlowCatalog {
    tree.sh_flow(
        "flows",
        "a",
        "a",
        "s",
        "chain.start",
        "#!/bin/sh\ncat >/dev/null\necho 'FLOW_RESULT {\"status\":\"completed\",\"next\":[{\"id\":\"chain-next-1\",\"type\":\"chain.next\",\"payload\":{\"n\":1}}]}'\n",
    );
    let effects = tree.cwd().join("chain.txt");
    tree.sh_flow(
        "flows",
        "b",
        "b",
        "s",
        "chain.next",
        &format!(
            "#!/bin/sh\ncat >/dev/null\necho \"$CODEX_FLOW_RUN_ID $CODEX_FLOW_ATTEMPT_ID\" >> '{}'\necho 'FLOW_RESULT {{\"status\":\"completed\"}}'\n",
            effects.display()
        ),
    );
    FlowCatalog::load(&[tree.cwd().join("flows")]).unwrap()
}

/// Records the `chain-1` `chain.start` event at `depth` with its queued run, as serve would.
async fn dispatch_start(store: &PostgresFlowStore, catalog: &FlowCatalog, depth: u32) -> String {
    let event = FlowEvent::from_value(json!({"id": "chain-1", "type": "chain.start"})).unwrap();
    let hashes = package_hashes(catalog).unwrap();
    let (record, runs) = queued_dispatch(catalog, &hashes, event, depth);
    assert_eq!(record.run_ids, vec![run_id("chain-1", "a", "s", None)]);
    assert!(runs[0].0.package_hash.is_some());
    store
        .record_event_with_policies(record, runs)
        .await
        .unwrap();
    run_id("chain-1", "a", "s", None)
}

/// Polls run `id` until `done` holds for it (30 s at most).
async fn wait_for_run(
    store: &PostgresFlowStore,
    id: &str,
    what: &str,
    done: impl Fn(&RunView) -> bool,
) -> RunView {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let run = store.get_run(id.to_string()).await.unwrap();
        if let Some(run) = run.filter(|r| done(r)) {
            return run;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: run {id} never got there"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_dispatches_a_finished_runs_next_event_which_runs_exactly_once() {
    let db = fresh_database("flow_worker_next").await.unwrap();
    let store = PostgresFlowStore::connect(db.url()).await.unwrap();
    let tree = FlowTree::new();
    let catalog = chain_flows(&tree);
    let a_id = dispatch_start(&store, &catalog, 0).await;
    let _worker = worker(db.url(), &tree.cwd().join("flows"), &[]);

    let b_id = run_id("chain-next-1", "b", "s", None);
    let b = wait_for_run(&store, &b_id, "b completes", |r| {
        r.process_status == Some(ProcessStatus::Completed)
    })
    .await;
    let a = store.get_run(a_id.clone()).await.unwrap().unwrap();
    assert_eq!(a.process_status, Some(ProcessStatus::Completed), "{a:#?}");
    assert!(a.notes.is_empty(), "{:?}", a.notes);

    // Give a duplicate dispatch or a second execution time to show up.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // The next event: stored once, at depth 1, with B's run only.
    let next = store
        .get_event("chain-next-1".into())
        .await
        .unwrap()
        .expect("the next event is stored");
    assert_eq!(next.depth, 1);
    assert_eq!(next.event.event_type, "chain.next");
    assert_eq!(next.event.payload, json!({"n": 1}));
    assert_eq!(next.run_ids, vec![b_id.clone()]);
    let runs = store
        .list_runs(RunFilter {
            event_id: Some("chain-next-1".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(runs.len(), 1, "{runs:#?}");
    let b_now = store.get_run(b_id.clone()).await.unwrap().unwrap();
    assert_eq!(b_now.process_status, Some(ProcessStatus::Completed));
    assert_eq!(b_now.attempts.len(), 1, "{b_now:#?}");
    assert_eq!(b_now.package_hash, b.package_hash);
    assert!(b_now.package_hash.is_some());

    // B's side effect happened exactly once, from its one attempt.
    let effects = std::fs::read_to_string(tree.cwd().join("chain.txt")).unwrap();
    let lines: Vec<&str> = effects.lines().collect();
    assert_eq!(
        lines,
        vec![format!("{} {}", b_id, b_now.attempts[0].id).as_str()]
    );
    // The origin event is still depth 0; only two events exist.
    let origin = store.get_event("chain-1".into()).await.unwrap().unwrap();
    assert_eq!(origin.depth, 0);
    let events = store.list_events(Default::default()).await.unwrap();
    assert_eq!(events.len(), 2, "{events:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_next_event_beyond_the_workers_depth_limit_is_not_recorded() {
    let db = fresh_database("flow_worker_next_depth").await.unwrap();
    let store = PostgresFlowStore::connect(db.url()).await.unwrap();
    let tree = FlowTree::new();
    let catalog = chain_flows(&tree);
    // The start event is itself a next event of depth 1; its next would be depth 2 > 1.
    let a_id = dispatch_start(&store, &catalog, 1).await;
    let _worker = worker(
        db.url(),
        &tree.cwd().join("flows"),
        &["--max-next-depth", "1"],
    );

    let a = wait_for_run(&store, &a_id, "a is noted", |r| !r.notes.is_empty()).await;
    assert_eq!(a.process_status, Some(ProcessStatus::Completed), "{a:#?}");
    assert_eq!(
        a.notes,
        vec!["next event `chain-next-1` not dispatched: depth limit 1 reached".to_string()]
    );
    assert!(store
        .get_event("chain-next-1".into())
        .await
        .unwrap()
        .is_none());
    let events = store.list_events(Default::default()).await.unwrap();
    assert_eq!(events.len(), 1, "{events:#?}");
    assert!(!tree.cwd().join("chain.txt").exists());
}

/// A completed attempt's end whose FLOW_RESULT names `next`.
fn completed_with_next(next: serde_json::Value) -> (AttemptEnd, FlowResult) {
    let result: FlowResult =
        serde_json::from_value(json!({"status": "completed", "next": next})).unwrap();
    let end = AttemptEnd {
        process_status: ProcessStatus::Completed,
        result: Some(result.clone()),
        error: None,
        exit_code: Some(0),
        stdout: Default::default(),
        stderr: Default::default(),
    };
    (end, result)
}

fn chain_next_1() -> serde_json::Value {
    json!({"id": "chain-next-1", "type": "chain.next", "payload": {"n": 1}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_next_event_that_cannot_be_recorded_keeps_the_runs_end_from_committing() {
    let db = fresh_database("flow_next_atomic_rollback").await.unwrap();
    let store = PostgresFlowStore::connect(db.url()).await.unwrap();
    let tree = FlowTree::new();
    let catalog = chain_flows(&tree);
    let hashes = package_hashes(&catalog).unwrap();
    let a_id = dispatch_start(&store, &catalog, 0).await;
    let leased = store
        .lease("w1", &[hashes["a"].clone()], 1, Duration::from_secs(60))
        .await
        .unwrap()
        .pop()
        .expect("a is leased");

    // A run row already holds the id the next event's run gets (under another event), so
    // recording the next event fails inside the finish's transaction.
    let b_id = run_id("chain-next-1", "b", "s", None);
    let blocker = FlowEvent::from_value(json!({"id": "blocker", "type": "other"})).unwrap();
    let blocking_run = RunView::queued(b_id.clone(), &blocker, "b", "s", false);
    let record = EventRecord {
        event: blocker,
        run_ids: vec![b_id.clone()],
        replays: 0,
        depth: 0,
        stored_at: String::new(),
    };
    store
        .record_event_with_policies(record, vec![(blocking_run, None)])
        .await
        .unwrap();

    let (end, result) = completed_with_next(json!([chain_next_1()]));
    let next = next_dispatch(&catalog, &hashes, Some(&result), leased.event_depth, 8);
    assert_eq!(next.dispatches.len(), 1, "{next:#?}");
    let finish = store
        .finish_attempt_run(&a_id, &leased.attempt_id, end, next)
        .await;
    assert!(finish.is_err(), "{finish:#?}");

    // Nothing of the finish committed: the run is still running under the same lease, without
    // a result, and the next event is not stored.
    let a = store.get_run(a_id.clone()).await.unwrap().unwrap();
    assert_eq!(a.process_status, Some(ProcessStatus::Running), "{a:#?}");
    assert!(a.result.is_none(), "{a:#?}");
    assert!(a.finished_at.is_none(), "{a:#?}");
    assert_eq!(a.attempts.len(), 1);
    assert_eq!(a.attempts[0].status, Some(ProcessStatus::Running));
    assert!(a.output.is_empty(), "{a:#?}");
    assert!(store
        .get_event("chain-next-1".into())
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        store
            .heartbeat(
                std::slice::from_ref(&leased.attempt_id),
                Duration::from_secs(60)
            )
            .await
            .unwrap(),
        vec![(
            leased.attempt_id.clone(),
            Heartbeat::Held {
                cancel_requested: false
            }
        )]
    );
    // The blocking run is untouched.
    let blocking = store.get_run(b_id).await.unwrap().unwrap();
    assert_eq!(blocking.event_id, "blocker");
    // The attempt still wins: its end, without next events, is written now.
    let (end, _) = completed_with_next(json!([chain_next_1()]));
    let run = store
        .finish_attempt_run(&a_id, &leased.attempt_id, end, NextEvents::default())
        .await
        .unwrap()
        .expect("the attempt still holds its lease");
    assert_eq!(run.process_status, Some(ProcessStatus::Completed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fenced_finish_records_no_next_event_and_a_winning_one_records_them_with_its_end() {
    let db = fresh_database("flow_next_atomic_fence").await.unwrap();
    let store = PostgresFlowStore::connect(db.url()).await.unwrap();
    let tree = FlowTree::new();
    let catalog = chain_flows(&tree);
    let hashes = package_hashes(&catalog).unwrap();
    let packages = [hashes["a"].clone()];
    let a_id = dispatch_start(&store, &catalog, 0).await;
    let stale = store
        .lease("w1", &packages, 1, Duration::from_millis(1))
        .await
        .unwrap()
        .pop()
        .expect("a is leased");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let current = store
        .lease("w2", &packages, 1, Duration::from_secs(60))
        .await
        .unwrap()
        .pop()
        .expect("a is taken over");
    assert!(current.taken_over);

    // `chain-1` (the run's own event) is already stored: a duplicate, noted, not an error.
    let next_events = json!([chain_next_1(), {"id": "chain-1", "type": "chain.start"}]);

    // The fenced attempt writes nothing: neither its end nor its next events.
    let (end, result) = completed_with_next(next_events.clone());
    let next = next_dispatch(&catalog, &hashes, Some(&result), stale.event_depth, 8);
    assert_eq!(next.dispatches.len(), 2, "{next:#?}");
    let fenced = store
        .finish_attempt_run(&a_id, &stale.attempt_id, end, next)
        .await
        .unwrap();
    assert!(fenced.is_none(), "{fenced:#?}");
    assert!(store
        .get_event("chain-next-1".into())
        .await
        .unwrap()
        .is_none());
    let a = store.get_run(a_id.clone()).await.unwrap().unwrap();
    assert_eq!(a.process_status, Some(ProcessStatus::Running), "{a:#?}");
    assert!(a.notes.is_empty(), "{:?}", a.notes);

    // The winning attempt's end and next events are visible as soon as the finish returns.
    let (end, result) = completed_with_next(next_events);
    let next = next_dispatch(&catalog, &hashes, Some(&result), current.event_depth, 8);
    let run = store
        .finish_attempt_run(&a_id, &current.attempt_id, end, next)
        .await
        .unwrap()
        .expect("the winning attempt's end is written");
    assert_eq!(run.process_status, Some(ProcessStatus::Completed));
    let a = store.get_run(a_id.clone()).await.unwrap().unwrap();
    assert_eq!(a.process_status, Some(ProcessStatus::Completed), "{a:#?}");
    assert!(a.result.as_ref().and_then(|r| r.next.as_ref()).is_some());
    assert_eq!(
        a.notes,
        vec!["next event `chain-1` was already stored: nothing ran".to_string()]
    );
    let b_id = run_id("chain-next-1", "b", "s", None);
    let next = store
        .get_event("chain-next-1".into())
        .await
        .unwrap()
        .expect("the next event is stored with the end");
    assert_eq!(next.depth, 1);
    assert_eq!(next.run_ids, vec![b_id.clone()]);
    let b = store.get_run(b_id).await.unwrap().unwrap();
    assert_eq!(b.process_status, Some(ProcessStatus::Queued), "{b:#?}");
    assert_eq!(b.package_hash.as_deref(), Some(hashes["b"].as_str()));
    let origin = store.get_event("chain-1".into()).await.unwrap().unwrap();
    assert_eq!(origin.run_ids, vec![a_id]);
    let events = store.list_events(Default::default()).await.unwrap();
    assert_eq!(events.len(), 2, "{events:#?}");
}
