//! The cases of `persistence_store.rs` that need a shared store (`Arc`): deletion jobs,
//! concurrent appends, recording, and appends dropped mid-flight.

use super::*;

pub(crate) async fn deletion_jobs_leave_zero_rows(store: Arc<dyn ConversationStore>) {
    let (alice, bob) = (scope("alice"), scope("bob"));
    for s in [&alice, &bob] {
        for c in ["c1", "c2"] {
            conversation(store.as_ref(), s, c).await;
            let mut records = turn("t1", "a", "b");
            records.extend(turn("t2", "c", "d"));
            records.push(Record::ServerRequest {
                turn_id: Some("t2".into()),
                request_id: "r1".into(),
                method: "m".into(),
                item_id: None,
                params: json!({}),
            });
            store.append(s, c, records).await.unwrap();
        }
    }
    let bob_before = store.count_rows(Some(&bob)).await.unwrap();
    let jobs = Jobs::new(Arc::clone(&store));

    // A turn: its items, request and events go; the rest stays.
    let job = jobs
        .delete_turn(&alice, "c1", "t2", i64::MAX)
        .await
        .unwrap();
    assert_eq!(job.state, JobState::Queued);
    assert!(jobs.run_due().await.unwrap().is_empty(), "not due yet");
    let job = jobs.run_now(&alice, &job.job_id).await.unwrap();
    assert_eq!(job.state, JobState::Done, "{job:?}");
    assert_eq!(
        job.progress.done,
        1 + 2 + 1 + 5,
        "turn, items, request, events"
    );
    let turns = store.read_turns(&alice, "c1").await.unwrap();
    assert_eq!(
        turns.iter().map(|t| t.turn_id.as_str()).collect::<Vec<_>>(),
        vec!["t1"]
    );
    assert_eq!(
        store
            .conversation(&alice, "c1")
            .await
            .unwrap()
            .unwrap()
            .message_count,
        2
    );

    // A cancelled job never runs.
    let job = jobs
        .delete_conversation(&alice, "c2", i64::MAX)
        .await
        .unwrap();
    assert_eq!(
        jobs.cancel(&alice, &job.job_id).await.unwrap().state,
        JobState::Cancelled
    );
    assert_eq!(
        jobs.run_now(&alice, &job.job_id).await.unwrap().state,
        JobState::Cancelled
    );
    assert!(store.conversation(&alice, "c2").await.unwrap().is_some());

    // A conversation: every row of it goes.
    let job = jobs.delete_conversation(&alice, "c1", 0).await.unwrap();
    let done = jobs.run_due().await.unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(
        jobs.status(&alice, &job.job_id).await.unwrap().state,
        JobState::Done
    );
    assert!(store.conversation(&alice, "c1").await.unwrap().is_none());
    assert!(store
        .read_events(&alice, "c1", 0, 0)
        .await
        .unwrap()
        .is_empty());

    // The actor: zero rows left in every table but the purge job's own row; bob untouched.
    let job = jobs.purge_actor(&alice, 0).await.unwrap();
    let job = jobs.run_now(&alice, &job.job_id).await.unwrap();
    assert_eq!(job.state, JobState::Done);
    let left = store.count_rows(Some(&alice)).await.unwrap();
    assert_eq!(left.data_rows(), 0, "{left:?}");
    assert_eq!(left.jobs, 1, "only the purge job itself: {left:?}");
    let bob_after = store.count_rows(Some(&bob)).await.unwrap();
    assert_eq!(bob_after, bob_before);
    assert!(matches!(
        jobs.status(&alice, "job-missing").await,
        Err(PersistenceError::JobNotFound { .. })
    ));
}

pub(crate) async fn concurrent_appends_stay_gap_free(store: Arc<dyn ConversationStore>) {
    let s = scope("alice");
    conversation(store.as_ref(), &s, "c1").await;
    let mut feed = store.subscribe();
    let mut tasks = Vec::new();
    for w in 0..8 {
        let (store, s) = (Arc::clone(&store), s.clone());
        tasks.push(tokio::spawn(async move {
            for t in 0..10 {
                let id = format!("w{w}-t{t}");
                store.append(&s, "c1", turn(&id, "p", "a")).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let events = store.read_events(&s, "c1", 0, 1000).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=320).collect::<Vec<_>>()
    );
    let items = store.read_items(&s, "c1", 0, 1000).await.unwrap().items;
    let ids: HashSet<_> = items.iter().map(|i| i.item_id.clone()).collect();
    assert_eq!((items.len(), ids.len()), (160, 160));
    // The in-process feed saw every event, in sequence order.
    let mut seen = Vec::new();
    while let Ok(e) = feed.try_recv() {
        seen.push(e.seq);
    }
    seen.sort();
    assert_eq!(seen, (1..=320).collect::<Vec<_>>());
}

pub(crate) async fn a_durable_store_accepts_recording(store: Arc<dyn ConversationStore>) {
    assert_eq!(store.durability(), Durability::Durable);
    let s = scope("alice");
    conversation(store.as_ref(), &s, "c1").await;
    Recorder::new(Arc::clone(&store), s.clone(), "c1")
        .await
        .unwrap();
    let err = Recorder::new(Arc::clone(&store), s, "missing")
        .await
        .unwrap_err();
    assert!(
        matches!(err, PersistenceError::ConversationNotFound { .. }),
        "{err}"
    );
}

pub(crate) async fn a_dropped_append_commits_whole_or_not_at_all(
    store: Arc<dyn ConversationStore>,
) {
    let s = scope("alice");
    conversation(store.as_ref(), &s, "c1").await;
    let mut records = Vec::new();
    for t in 0..50 {
        records.extend(turn(&format!("t{t}"), "p", "a"));
    }
    // Poll the append once, then drop it. It is in flight, unless the store committed it within
    // that poll (SQLite on a multi-thread runtime commits in place).
    {
        let mut fut = store.append(&s, "c1", records);
        if let std::task::Poll::Ready(done) = futures::poll!(fut.as_mut()) {
            done.expect("an append finished in its first poll succeeded");
        }
    }
    // Whatever happened, the log is whole: all 200 events or none, then the next append
    // continues the sequence.
    let mut last = 0;
    for _ in 0..200 {
        last = store
            .conversation(&s, "c1")
            .await
            .unwrap()
            .unwrap()
            .last_seq;
        if last == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(last == 0 || last == 200, "{last}");
    let next = store
        .append(&s, "c1", turn("after", "p", "a"))
        .await
        .unwrap();
    assert_eq!(next[0].seq, last + 1);
    let events = store.read_events(&s, "c1", 0, 1000).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=last + 4).collect::<Vec<_>>()
    );
}
