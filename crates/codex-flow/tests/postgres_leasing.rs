//! Leasing on the PostgreSQL flow store: SKIP LOCKED leases never overlap, heartbeats carry
//! cancel requests, an expired lease is taken over and the old attempt is fenced, failed
//! attempts are retried with backoff and then dead-lettered, leases are handed back, and only
//! runs of a package the worker has are leased.

use std::time::Duration;

use codex_flow::ids::run_id;
use codex_flow::manifest::RetryPolicy;
use codex_flow::state::EventRecord;
use codex_flow::store::{AttemptEnd, Heartbeat};
use codex_flow::{FlowEvent, FlowStore, PostgresFlowStore, ProcessStatus, RunView};
use codex_test_support::postgres::{fresh_database, TestDatabase};
use serde_json::json;

const PKG: &str = "sha256:pkg";

async fn store(tag: &str) -> (TestDatabase, PostgresFlowStore) {
    let db = fresh_database(tag).await.unwrap();
    let store = PostgresFlowStore::connect(db.url()).await.unwrap();
    (db, store)
}

async fn record(
    store: &PostgresFlowStore,
    id: &str,
    steps: usize,
    retry: Option<RetryPolicy>,
) -> Vec<String> {
    let event = FlowEvent::from_value(json!({"id": id, "type": "go"})).unwrap();
    let runs: Vec<(RunView, Option<RetryPolicy>)> = (0..steps)
        .map(|i| {
            let step = format!("s{i}");
            let mut run = RunView::queued(run_id(id, "f", &step, None), &event, "f", &step, false);
            run.package_hash = Some(PKG.into());
            (run, retry)
        })
        .collect();
    let ids: Vec<String> = runs.iter().map(|(r, _)| r.id.clone()).collect();
    let record = EventRecord {
        event,
        run_ids: ids.clone(),
        replays: 0,
        depth: 0,
        stored_at: String::new(),
    };
    store
        .record_event_with_policies(record, runs)
        .await
        .unwrap();
    ids
}

fn end(status: ProcessStatus) -> AttemptEnd {
    AttemptEnd {
        process_status: status,
        result: None,
        error: (status == ProcessStatus::Failed).then(|| "exit code 1".to_string()),
        exit_code: Some(i32::from(status == ProcessStatus::Failed)),
        stdout: Default::default(),
        stderr: Default::default(),
    }
}

#[tokio::test]
async fn concurrent_leases_never_share_a_run() {
    let (_db, store) = store("flow_lease_disjoint").await;
    record(&store, "e", 40, None).await;
    let pkgs = vec![PKG.to_string()];
    let ttl = Duration::from_secs(30);
    let mut all = Vec::new();
    let (a, b, c) = tokio::join!(
        store.lease("w1", &pkgs, 15, ttl),
        store.lease("w2", &pkgs, 15, ttl),
        store.lease("w3", &pkgs, 15, ttl),
    );
    for leased in [a.unwrap(), b.unwrap(), c.unwrap()] {
        all.extend(leased.into_iter().map(|l| l.run.id));
    }
    let unique: std::collections::HashSet<_> = all.iter().collect();
    assert_eq!(all.len(), 40);
    assert_eq!(unique.len(), 40);
    assert!(store.lease("w4", &pkgs, 10, ttl).await.unwrap().is_empty());
    // Runs of another package are not leased.
    record(&store, "other", 1, None).await;
    assert!(store
        .lease("w5", &["sha256:different".to_string()], 10, ttl)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_and_the_old_attempt_cannot_write() {
    let (_db, store) = store("flow_lease_fence").await;
    let ids = record(&store, "e", 1, None).await;
    let pkgs = vec![PKG.to_string()];
    let first = store
        .lease("w1", &pkgs, 1, Duration::from_millis(200))
        .await
        .unwrap()
        .remove(0);
    assert!(!first.taken_over);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let second = store
        .lease("w2", &pkgs, 1, Duration::from_secs(30))
        .await
        .unwrap()
        .remove(0);
    assert!(second.taken_over);
    assert_ne!(first.attempt_id, second.attempt_id);
    // The first worker learns it lost the lease, and its result is refused.
    let beats = store
        .heartbeat(
            std::slice::from_ref(&first.attempt_id),
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    assert_eq!(beats[0].1, Heartbeat::Lost);
    assert!(!store
        .finish_attempt(&ids[0], &first.attempt_id, end(ProcessStatus::Completed))
        .await
        .unwrap());
    assert!(store
        .finish_attempt(&ids[0], &second.attempt_id, end(ProcessStatus::Completed))
        .await
        .unwrap());
    let run = store.get_run(ids[0].clone()).await.unwrap().unwrap();
    assert_eq!(run.process_status, Some(ProcessStatus::Completed));
    assert_eq!(run.attempts.len(), 2);
    assert_eq!(run.attempts[0].status, Some(ProcessStatus::Failed));
    assert_eq!(run.attempts[1].worker_id.as_deref(), Some("w2"));
    assert_eq!(store.metrics().await.unwrap().lease_takeovers, 1);
}

#[tokio::test]
async fn heartbeats_carry_cancel_requests_and_leases_can_be_handed_back() {
    let (_db, store) = store("flow_lease_beat").await;
    let ids = record(&store, "e", 2, None).await;
    let pkgs = vec![PKG.to_string()];
    let leased = store
        .lease("w1", &pkgs, 2, Duration::from_secs(30))
        .await
        .unwrap();
    store.cancel_run(leased[0].run.id.clone()).await.unwrap();
    let attempts: Vec<String> = leased.iter().map(|l| l.attempt_id.clone()).collect();
    let beats = store
        .heartbeat(&attempts, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(
        beats[0].1,
        Heartbeat::Held {
            cancel_requested: true
        }
    );
    assert_eq!(
        beats[1].1,
        Heartbeat::Held {
            cancel_requested: false
        }
    );
    // Hand back the second: it is queued again at once for another worker.
    assert!(store
        .release(&leased[1].run.id, &leased[1].attempt_id, "shutdown")
        .await
        .unwrap());
    let again = store
        .lease("w2", &pkgs, 5, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].run.id, leased[1].run.id);
    assert!(!again[0].taken_over);
    let _ = ids;
}

#[tokio::test]
async fn failed_attempts_retry_with_backoff_then_dead_letter() {
    let (_db, store) = store("flow_lease_retry").await;
    let policy = RetryPolicy {
        max_attempts: 3,
        backoff_ms: 1000,
        max_backoff_ms: 1000,
    };
    let ids = record(&store, "e", 1, Some(policy)).await;
    let pkgs = vec![PKG.to_string()];
    let ttl = Duration::from_secs(30);
    for attempt in 1..=3u32 {
        let mut leased = Vec::new();
        for _ in 0..100 {
            leased = store.lease("w", &pkgs, 1, ttl).await.unwrap();
            if !leased.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(leased.len(), 1, "attempt {attempt} leased");
        let l = leased.remove(0);
        assert!(store
            .finish_attempt(&l.run.id, &l.attempt_id, end(ProcessStatus::Failed))
            .await
            .unwrap());
        let run = store.get_run(ids[0].clone()).await.unwrap().unwrap();
        if attempt < 3 {
            assert_eq!(run.process_status, Some(ProcessStatus::Queued));
            // Backoff: not leasable right away.
            assert!(store.lease("w", &pkgs, 1, ttl).await.unwrap().is_empty());
        } else {
            assert_eq!(run.process_status, Some(ProcessStatus::Failed));
            assert!(run.dead_letter && run.needs_attention, "{run:#?}");
            assert_eq!(run.attempts.len(), 3);
        }
    }
    let m = store.metrics().await.unwrap();
    assert_eq!((m.retries, m.dead_letter), (2, 1));
}

#[tokio::test]
async fn a_canceled_run_whose_worker_died_is_not_started_again_on_takeover() {
    let (_db, store) = store("flow_lease_cancel_takeover").await;
    let ids = record(&store, "e", 2, None).await;
    let pkgs = vec![PKG.to_string()];
    // Worker 1 leases both runs, then dies (no more heartbeats).
    let leased = store
        .lease("w1", &pkgs, 2, Duration::from_millis(300))
        .await
        .unwrap();
    assert_eq!(leased.len(), 2);
    // A cancel of a running run only asks its (dead) worker to stop it.
    let asked = store.cancel_run(ids[0].clone()).await.unwrap();
    assert!(asked.cancel_requested);
    assert_eq!(asked.process_status, Some(ProcessStatus::Running));
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Worker 2 takes over only the run nobody canceled; the canceled one ends canceled.
    let taken = store
        .lease("w2", &pkgs, 10, Duration::from_secs(30))
        .await
        .unwrap();
    let taken_ids: Vec<&str> = taken.iter().map(|l| l.run.id.as_str()).collect();
    assert_eq!(taken_ids, [ids[1].as_str()]);
    let canceled = store.get_run(ids[0].clone()).await.unwrap().unwrap();
    assert_eq!(canceled.process_status, Some(ProcessStatus::Canceled));
    assert_eq!(canceled.attempts.len(), 1, "no new attempt was made");
    assert_eq!(
        canceled.attempts[0].status,
        Some(ProcessStatus::Canceled),
        "{canceled:?}"
    );
    assert!(store
        .lease("w3", &pkgs, 10, Duration::from_secs(30))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_canceled_run_handed_back_on_shutdown_is_not_started_again() {
    let (_db, store) = store("flow_lease_cancel_release").await;
    let ids = record(&store, "e", 1, None).await;
    let pkgs = vec![PKG.to_string()];
    let leased = store
        .lease("w1", &pkgs, 1, Duration::from_secs(30))
        .await
        .unwrap()
        .remove(0);
    store.cancel_run(ids[0].clone()).await.unwrap();
    assert!(store
        .release(&ids[0], &leased.attempt_id, "draining")
        .await
        .unwrap());
    assert!(store
        .lease("w2", &pkgs, 1, Duration::from_secs(30))
        .await
        .unwrap()
        .is_empty());
    let run = store.get_run(ids[0].clone()).await.unwrap().unwrap();
    assert_eq!(run.process_status, Some(ProcessStatus::Canceled));
}
