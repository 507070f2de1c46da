//! Persistence jobs under a claim with a lease (issue 23, review M9): several workers on one
//! PostgreSQL run each job exactly once, a worker that dies mid-job is taken over only after
//! its lease, state writes are fenced by the claim, and `status` / `cancel` / `run_now` are
//! scoped by tenant.

mod persistence_common;

#[path = "persistence_common/counting.rs"]
mod counting;

use codex_runtime::persistence::{
    now_millis, ConversationStore, JobState, Jobs, NewConversation, PersistenceError, Scope,
};
use counting::CountingStore;
use persistence_common::{postgres_store, postgres_target, sqlite_store, StoreUnderTest};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

fn scope(tenant: &str) -> Scope {
    Scope::new(tenant, "alice").unwrap()
}

/// Polls `check` every 20 ms until it holds, at most `secs` seconds.
async fn until<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Two workers (two stores, as two processes would have) on one PostgreSQL, 24 deletion jobs:
/// every deletion runs exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_on_one_postgres_run_each_job_exactly_once() {
    let target = postgres_target("jobs_two_workers").await;
    let url_store = target.open().await;
    let s = scope("tenant-a");
    const JOBS: usize = 24;
    let queuer = Jobs::new(Arc::clone(&url_store));
    let mut ids = Vec::new();
    for i in 0..JOBS {
        let id = format!("c{i}");
        url_store
            .create_conversation(&s, NewConversation::new(&id))
            .await
            .unwrap();
        ids.push(queuer.delete_conversation(&s, &id, 0).await.unwrap().job_id);
    }
    // Each worker on its own store handle and connection pool, as two processes would be.
    let (a, b) = (
        CountingStore::new(target.open().await),
        CountingStore::new(target.open().await),
    );
    let jobs_a = Jobs::new(a.clone() as Arc<dyn ConversationStore>);
    let jobs_b = Jobs::new(b.clone() as Arc<dyn ConversationStore>);
    assert_ne!(jobs_a.owner(), jobs_b.owner());
    let (wa, wb) = (
        jobs_a.spawn_worker(Duration::from_millis(5)),
        jobs_b.spawn_worker(Duration::from_millis(5)),
    );
    // And both also race `run_now` on every job, as an API caller would.
    let racers: Vec<_> = ids
        .iter()
        .flat_map(|id| {
            [jobs_a.clone(), jobs_b.clone()].map(|jobs| {
                let (id, s) = (id.clone(), s.clone());
                tokio::spawn(async move { jobs.run_now(&s, &id).await })
            })
        })
        .collect();
    for r in racers {
        r.await.unwrap().unwrap();
    }
    until(60, "every job done", || async {
        let mut done = true;
        for id in &ids {
            done &= queuer.status(&s, id).await.unwrap().state == JobState::Done;
        }
        done
    })
    .await;
    drop((wa, wb));
    for (i, id) in ids.iter().enumerate() {
        let conv = format!("c{i}");
        let runs = a.deletes().get(&conv).copied().unwrap_or(0)
            + b.deletes().get(&conv).copied().unwrap_or(0);
        assert_eq!(runs, 1, "job {id} (conversation {conv}) ran {runs} times");
        let job = queuer.status(&s, id).await.unwrap();
        assert_eq!(job.claim, 1, "claimed once: {job:?}");
    }
    assert!(
        !a.deletes().is_empty() && !b.deletes().is_empty(),
        "both workers took jobs: a {:?}, b {:?}",
        a.deletes().len(),
        b.deletes().len()
    );
}

/// A worker stuck mid-job keeps its claim alive by heartbeats; killed, its job is taken over
/// by another worker once the lease ran out, not before, and the dead claim's writes are
/// fenced off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_is_taken_over_after_its_lease_not_before() {
    let st: StoreUnderTest = postgres_store("jobs_takeover").await;
    let s = scope("tenant-a");
    st.store
        .create_conversation(&s, NewConversation::new("c"))
        .await
        .unwrap();
    let lease = Duration::from_millis(900);
    let stuck = CountingStore::new(Arc::clone(&st.store));
    stuck.hang.store(true, Ordering::SeqCst);
    let healthy = CountingStore::new(Arc::clone(&st.store));
    let jobs_a = Jobs::new(stuck.clone() as Arc<dyn ConversationStore>)
        .with_lease(lease)
        .unwrap();
    let jobs_b = Jobs::new(healthy.clone() as Arc<dyn ConversationStore>)
        .with_lease(lease)
        .unwrap();
    let job = jobs_a.delete_conversation(&s, "c", 0).await.unwrap();
    let worker_a = jobs_a.spawn_worker(Duration::from_millis(10));
    until(30, "worker a claims the job", || async {
        stuck.deletes().get("c") == Some(&1)
    })
    .await;
    let claimed = jobs_a.status(&s, &job.job_id).await.unwrap();
    assert_eq!(claimed.state, JobState::Running);
    assert_eq!(claimed.lease_owner.as_deref(), Some(jobs_a.owner()));

    // Alive (stuck, but heartbeating): two leases later it still holds the job.
    let first_expiry = claimed.lease_expires_at.unwrap();
    until(30, "a renewal", || async {
        let j = jobs_a.status(&s, &job.job_id).await.unwrap();
        j.lease_expires_at.unwrap() > first_expiry + 2 * lease.as_millis() as i64
    })
    .await;
    assert!(
        jobs_b.run_due().await.unwrap().is_empty(),
        "a live claim is not taken"
    );
    let held = jobs_b.run_now(&s, &job.job_id).await.unwrap();
    assert_eq!(
        held.lease_owner.as_deref(),
        Some(jobs_a.owner()),
        "{held:?}"
    );
    assert_eq!(held.claim, 1);

    // Killed: no more heartbeats. Before the lease ends nobody takes the job.
    drop(worker_a);
    let dead = jobs_a.status(&s, &job.job_id).await.unwrap();
    let end = dead.lease_expires_at.unwrap();
    if now_millis() + 200 < end {
        assert!(
            jobs_b.run_due().await.unwrap().is_empty(),
            "taken over before the lease ended"
        );
    }
    assert!(healthy.deletes().is_empty());
    while now_millis() <= end {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ran = jobs_b.run_due().await.unwrap();
    assert_eq!(ran.len(), 1, "{ran:?}");
    assert_eq!(ran[0].state, JobState::Done, "{:?}", ran[0]);
    assert_eq!(ran[0].lease_owner.as_deref(), Some(jobs_b.owner()));
    assert_eq!(ran[0].claim, 2, "a new claim");
    assert_eq!(healthy.deletes().get("c"), Some(&1));
    assert!(st.store.conversation(&s, "c").await.unwrap().is_none());

    // The dead claim's late write is refused (fenced), and changes nothing.
    let mut late = dead.clone();
    late.state = JobState::Failed;
    assert!(!st.store.update_job(&late).await.unwrap());
    assert_eq!(
        jobs_b.status(&s, &job.job_id).await.unwrap().state,
        JobState::Done
    );
}

async fn jobs_are_scoped_by_tenant(store: Arc<dyn ConversationStore>) {
    let (mine, theirs) = (scope("tenant-a"), scope("tenant-b"));
    store
        .create_conversation(&mine, NewConversation::new("c"))
        .await
        .unwrap();
    let jobs = Jobs::new(Arc::clone(&store));
    let job = jobs
        .delete_conversation(&mine, "c", i64::MAX)
        .await
        .unwrap();
    let not_found = |r: Result<_, PersistenceError>| matches!(r, Err(PersistenceError::JobNotFound { ref job_id }) if *job_id == job.job_id);
    assert!(not_found(jobs.status(&theirs, &job.job_id).await));
    assert!(not_found(jobs.cancel(&theirs, &job.job_id).await));
    assert!(not_found(jobs.run_now(&theirs, &job.job_id).await));
    let other_actor = Scope::new("tenant-a", "bob").unwrap();
    assert!(not_found(jobs.status(&other_actor, &job.job_id).await));
    // Nothing happened to it.
    let still = jobs.status(&mine, &job.job_id).await.unwrap();
    assert_eq!(still.state, JobState::Queued);
    assert_eq!(still.claim, 0);
    assert!(store.conversation(&mine, "c").await.unwrap().is_some());
    assert_eq!(
        jobs.run_now(&mine, &job.job_id).await.unwrap().state,
        JobState::Done
    );
}

async fn a_claim_is_taken_once_and_only_after_expiry(store: Arc<dyn ConversationStore>) {
    let s = scope("tenant-a");
    let jobs = Jobs::new(Arc::clone(&store));
    let job = jobs.delete_conversation(&s, "c", 0).await.unwrap();
    let now = now_millis();
    let first = store
        .claim_next_job("a", now, 10_000)
        .await
        .unwrap()
        .expect("a due job is claimed");
    assert_eq!(first.job_id, job.job_id);
    assert_eq!(
        (first.state, first.claim, first.lease_owner.as_deref()),
        (JobState::Running, 1, Some("a"))
    );
    assert_eq!(first.lease_expires_at, Some(now + 10_000));
    assert!(store
        .claim_next_job("b", now, 10_000)
        .await
        .unwrap()
        .is_none());
    assert!(store
        .claim_job(&s, &job.job_id, "b", now, 10_000)
        .await
        .unwrap()
        .is_none());
    assert!(store
        .renew_job_lease(&job.job_id, 1, "a", now + 1, 10_000)
        .await
        .unwrap());
    assert!(!store
        .renew_job_lease(&job.job_id, 1, "b", now + 1, 10_000)
        .await
        .unwrap());
    // After the lease: b takes it over with a new token; a can neither renew nor write.
    let later = now + 10_002;
    let second = store
        .claim_next_job("b", later, 10_000)
        .await
        .unwrap()
        .expect("an expired claim is taken over");
    assert_eq!(
        (second.claim, second.lease_owner.as_deref()),
        (2, Some("b"))
    );
    assert!(!store
        .renew_job_lease(&job.job_id, 1, "a", later, 10_000)
        .await
        .unwrap());
    let mut stale = first.clone();
    stale.progress.done = 99;
    assert!(!store.update_job(&stale).await.unwrap(), "fenced");
    let mut current = second.clone();
    current.progress.done = 1;
    assert!(store.update_job(&current).await.unwrap());
    let stored = store.job(&s, &job.job_id).await.unwrap().unwrap();
    assert_eq!(stored.progress.done, 1);
    // A queued job not yet due is not claimed by a sweep, but is by an explicit claim.
    let future = jobs.delete_conversation(&s, "d", i64::MAX).await.unwrap();
    assert!(store
        .claim_next_job("a", later, 10_000)
        .await
        .unwrap()
        .is_none());
    let explicit = store
        .claim_job(&s, &future.job_id, "a", later, 10_000)
        .await
        .unwrap()
        .expect("run_now claims a job that is not due");
    assert_eq!(explicit.state, JobState::Running);
}

macro_rules! on_both_stores {
    ($($case:ident),*) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $case() {
                let st = super::sqlite_store(stringify!($case)).await;
                super::$case(st.store.clone()).await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $case() {
                let st = super::postgres_store(stringify!($case)).await;
                super::$case(st.store.clone()).await;
            })*
        }
    };
}

on_both_stores!(
    jobs_are_scoped_by_tenant,
    a_claim_is_taken_once_and_only_after_expiry
);
