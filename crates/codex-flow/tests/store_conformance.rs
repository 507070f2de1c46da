//! One conformance suite for every `FlowStore`: SQLite (embedded) and PostgreSQL (real server).

mod support;

use codex_flow::ids::{replay_nonce, run_id};
use codex_flow::state::{Claim, EventRecord};
use codex_flow::store::ReplayPlan;
use codex_flow::{
    EventFilter, FlowError, FlowEvent, FlowStore, PostgresFlowStore, ProcessStatus, RunFilter,
    RunView, SqliteFlowStore,
};
use serde_json::json;

fn event(id: &str, kind: &str) -> FlowEvent {
    FlowEvent::from_value(json!({"id": id, "type": kind})).unwrap()
}

fn queued(event: &FlowEvent, flow: &str, step: &str) -> RunView {
    let mut run = RunView::queued(
        run_id(&event.id, flow, step, None),
        event,
        flow,
        step,
        false,
    );
    run.package_hash = Some("sha256:test".into());
    run
}

fn record(event: &FlowEvent, runs: &[RunView]) -> EventRecord {
    EventRecord {
        event: event.clone(),
        run_ids: runs.iter().map(|r| r.id.clone()).collect(),
        replays: 0,
        depth: 0,
        stored_at: codex_flow::timestamp::now_rfc3339(),
    }
}

async fn conformance(store: &dyn FlowStore) {
    // An event and its runs are recorded together; a second dispatch of the id records nothing.
    let e1 = event("evt-1", "a");
    let runs = vec![queued(&e1, "f", "s1"), queued(&e1, "f", "s2")];
    let claim = store
        .record_event(record(&e1, &runs), runs.clone())
        .await
        .unwrap();
    assert_eq!(claim, Claim::Claimed);
    let ids: Vec<String> = runs.iter().map(|r| r.id.clone()).collect();
    let again = store
        .record_event(
            record(&e1, &[queued(&e1, "g", "x")]),
            vec![queued(&e1, "g", "x")],
        )
        .await
        .unwrap();
    assert_eq!(again, Claim::Duplicate(ids.clone()));
    assert!(store
        .get_run(run_id("evt-1", "g", "x", None))
        .await
        .unwrap()
        .is_none());

    let e2 = event("evt-2", "b");
    let r2 = vec![queued(&e2, "f", "s1")];
    store
        .record_event(record(&e2, &r2), r2.clone())
        .await
        .unwrap();

    // Reads: one run, filters, newest first, limits.
    let run = store.get_run(ids[0].clone()).await.unwrap().unwrap();
    assert_eq!(run.process_status, Some(ProcessStatus::Queued));
    assert_eq!(run.package_hash.as_deref(), Some("sha256:test"));
    let of_e1 = store
        .list_runs(RunFilter {
            event_id: Some("evt-1".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(of_e1.len(), 2);
    let all = store.list_runs(RunFilter::default()).await.unwrap();
    assert_eq!(all[0].id, r2[0].id, "newest first");
    let one = store
        .list_runs(RunFilter {
            limit: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
    let events_b = store
        .list_events(EventFilter {
            event_type: Some("b".into()),
            limit: None,
        })
        .await
        .unwrap();
    assert_eq!(events_b.len(), 1);
    assert_eq!(events_b[0].event.id, "evt-2");
    let stored = store.get_event("evt-1".into()).await.unwrap().unwrap();
    assert_eq!(stored.run_ids, ids);
    assert!(store.get_event("nope".into()).await.unwrap().is_none());

    // Replays get new deterministic ids appended to the event.
    let replayed = store
        .record_replay(
            "evt-1".into(),
            vec![ReplayPlan {
                flow: "f".into(),
                step: "s1".into(),
                package_hash: Some("sha256:test".into()),
            }],
        )
        .await
        .unwrap();
    assert_eq!(replayed.len(), 1);
    assert_eq!(
        replayed[0].id,
        run_id("evt-1", "f", "s1", Some(&replay_nonce(1)))
    );
    assert!(replayed[0].replay);
    let stored = store.get_event("evt-1".into()).await.unwrap().unwrap();
    assert_eq!(stored.replays, 1);
    assert_eq!(stored.run_ids.len(), 3);
    let err = store
        .record_replay("nope".into(), Vec::new())
        .await
        .unwrap_err();
    assert!(matches!(err, FlowError::UnknownEvent(_)), "{err:?}");

    // Cancel: a queued run is canceled at once; unknown ids are typed errors.
    let canceled = store.cancel_run(ids[1].clone()).await.unwrap();
    assert_eq!(canceled.process_status, Some(ProcessStatus::Canceled));
    let canceled_again = store.cancel_run(ids[1].clone()).await.unwrap();
    assert_eq!(canceled_again.process_status, Some(ProcessStatus::Canceled));
    let by_status = store
        .list_runs(RunFilter {
            status: Some("canceled".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_status.len(), 1);
    let err = store.cancel_run("run_nope".into()).await.unwrap_err();
    assert!(matches!(err, FlowError::UnknownRun(_)), "{err:?}");
}

#[tokio::test]
async fn sqlite_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteFlowStore::open(dir.path()).unwrap();
    conformance(&store).await;
}

#[tokio::test]
async fn postgres_store_conforms() {
    let db = codex_test_support::postgres::fresh_database("flow_conformance")
        .await
        .unwrap();
    let store = PostgresFlowStore::connect(db.url()).await.unwrap();
    conformance(&store).await;
}
