//! The session ownership lease (issue 25's store part, review M10) on both stores: acquire
//! when free, expired or already ours; renew; release; takeover with a new fencing token; and a
//! turn's real end recorded after a takeover marked it abandoned.

mod persistence_common;

use codex_runtime::persistence::{
    ConversationStore, LeaseAcquire, NewConversation, Record, Scope, TurnStatus,
};
use persistence_common::{agent_item, postgres_store, sqlite_store};
use std::sync::Arc;

fn scope(tenant: &str) -> Scope {
    Scope::new(tenant, "alice").unwrap()
}

fn acquired(outcome: LeaseAcquire) -> (codex_runtime::persistence::SessionLease, bool) {
    match outcome {
        LeaseAcquire::Acquired { lease, renewed } => (lease, renewed),
        other => panic!("expected the lease, got {other:?}"),
    }
}

async fn the_lease_is_acquired_renewed_released_and_taken_over_after_expiry(
    store: Arc<dyn ConversationStore>,
) {
    let s = scope("tenant-a");
    let t0 = 1_000_000;
    assert!(store.session_lease(&s, "c").await.unwrap().is_none());

    // Free: granted, token 1.
    let (a, renewed) = acquired(
        store
            .acquire_session_lease(&s, "c", "inst-a", t0, 1_000)
            .await
            .unwrap(),
    );
    assert!(!renewed);
    assert_eq!(
        (a.owner.as_str(), a.token, a.expires_at),
        ("inst-a", 1, t0 + 1_000)
    );
    assert!(a.is_live(t0 + 999) && !a.is_live(t0 + 1_000));

    // Live and another's: refused, with the holder.
    match store
        .acquire_session_lease(&s, "c", "inst-b", t0 + 500, 1_000)
        .await
        .unwrap()
    {
        LeaseAcquire::Held(held) => {
            assert_eq!((held.owner.as_str(), held.token), ("inst-a", 1))
        }
        other => panic!("a live lease was given away: {other:?}"),
    }
    // Already ours: granted again, same token (a renewal).
    let (again, renewed) = acquired(
        store
            .acquire_session_lease(&s, "c", "inst-a", t0 + 600, 1_000)
            .await
            .unwrap(),
    );
    assert!(renewed);
    assert_eq!((again.token, again.expires_at), (1, t0 + 1_600));
    assert_eq!(again.acquired_at, t0);

    // Renewed by its holder only; the heartbeat moves.
    let renewed = store
        .renew_session_lease(&s, "c", "inst-a", 1, t0 + 900, 1_000)
        .await
        .unwrap()
        .expect("the holder renews");
    assert_eq!(
        (renewed.heartbeat_at, renewed.expires_at),
        (t0 + 900, t0 + 1_900)
    );
    assert!(store
        .renew_session_lease(&s, "c", "inst-b", 1, t0 + 900, 1_000)
        .await
        .unwrap()
        .is_none());
    assert!(matches!(
        store
            .acquire_session_lease(&s, "c", "inst-b", t0 + 1_899, 1_000)
            .await
            .unwrap(),
        LeaseAcquire::Held(_)
    ));

    // Expired: another instance takes it over with a new token; the old holder is fenced.
    let (b, renewed) = acquired(
        store
            .acquire_session_lease(&s, "c", "inst-b", t0 + 1_900, 1_000)
            .await
            .unwrap(),
    );
    assert!(!renewed);
    assert_eq!(
        (b.owner.as_str(), b.token, b.acquired_at),
        ("inst-b", 2, t0 + 1_900)
    );
    assert!(store
        .renew_session_lease(&s, "c", "inst-a", 1, t0 + 1_901, 1_000)
        .await
        .unwrap()
        .is_none());
    assert!(!store
        .release_session_lease(&s, "c", "inst-a", 1)
        .await
        .unwrap());

    // Released (it expires now; the row and its token stay): free for the next instance.
    let (c, _) = acquired(
        store
            .acquire_session_lease(
                &s,
                "other",
                "inst-b",
                codex_runtime::persistence::now_millis(),
                60_000,
            )
            .await
            .unwrap(),
    );
    assert!(store
        .release_session_lease(&s, "other", "inst-b", c.token)
        .await
        .unwrap());
    let (d, _) = acquired(
        store
            .acquire_session_lease(
                &s,
                "other",
                "inst-c",
                codex_runtime::persistence::now_millis(),
                60_000,
            )
            .await
            .unwrap(),
    );
    assert_eq!((d.owner.as_str(), d.token), ("inst-c", c.token + 1));

    // Scoped: another tenant's conversation of the same id has its own lease.
    let (t, _) = acquired(
        store
            .acquire_session_lease(&scope("tenant-b"), "c", "inst-z", t0 + 1_901, 1_000)
            .await
            .unwrap(),
    );
    assert_eq!(t.token, 1);
    let mine = store.session_lease(&s, "c").await.unwrap().unwrap();
    assert_eq!(mine.owner, "inst-b");
}

/// Many instances race for one free lease: exactly one gets it.
async fn racing_instances_get_one_lease(store: Arc<dyn ConversationStore>) {
    let s = scope("tenant-a");
    let now = codex_runtime::persistence::now_millis();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (store, s) = (Arc::clone(&store), s.clone());
            tokio::spawn(async move {
                store
                    .acquire_session_lease(&s, "race", &format!("inst-{i}"), now, 60_000)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut winners = 0;
    for t in tasks {
        if matches!(t.await.unwrap(), LeaseAcquire::Acquired { .. }) {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
}

/// M10: a turn a takeover marked abandoned still gets its real end recorded, with its event.
async fn a_real_end_after_abandonment_is_recorded(store: Arc<dyn ConversationStore>) {
    let s = scope("tenant-a");
    store
        .create_conversation(&s, NewConversation::new("c"))
        .await
        .unwrap();
    let start = Record::TurnStarted {
        turn_id: "t1".into(),
        prompt: Some("slow".into()),
    };
    store.append(&s, "c", vec![start]).await.unwrap();
    assert_eq!(store.abandon_open_turns(&s, "c").await.unwrap(), ["t1"]);
    assert_eq!(
        store.read_turns(&s, "c").await.unwrap()[0].status,
        TurnStatus::Abandoned
    );
    // The first process goes on: an item, then the real end.
    let late = vec![
        Record::ItemCompleted {
            turn_id: "t1".into(),
            item: agent_item("t1-a", "done after all"),
        },
        Record::TurnCompleted {
            turn_id: "t1".into(),
            status: TurnStatus::Completed,
            error: None,
            usage: None,
        },
    ];
    let events = store.append(&s, "c", late.clone()).await.unwrap();
    assert_eq!(
        events.len(),
        2,
        "the item and the end are both stored: {events:?}"
    );
    let turns = store.read_turns(&s, "c").await.unwrap();
    assert_eq!(turns.len(), 1);
    assert_eq!(turns[0].status, TurnStatus::Completed);
    let ends: Vec<TurnStatus> = store
        .read_events(&s, "c", 0, 0)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.record {
            Record::TurnCompleted { status, .. } => Some(status),
            _ => None,
        })
        .collect();
    assert_eq!(ends, [TurnStatus::Abandoned, TurnStatus::Completed]);
    // Repeats still add nothing: the end again, and a second abandonment.
    assert!(store
        .append(&s, "c", late[1..].to_vec())
        .await
        .unwrap()
        .is_empty());
    assert!(store.abandon_open_turns(&s, "c").await.unwrap().is_empty());
    let abandon_again = Record::TurnCompleted {
        turn_id: "t1".into(),
        status: TurnStatus::Abandoned,
        error: None,
        usage: None,
    };
    assert!(store
        .append(&s, "c", vec![abandon_again])
        .await
        .unwrap()
        .is_empty());

    // An abandoned turn that is abandoned again (a second takeover) adds no event either.
    let t2 = Record::TurnStarted {
        turn_id: "t2".into(),
        prompt: None,
    };
    store.append(&s, "c", vec![t2]).await.unwrap();
    assert_eq!(store.abandon_open_turns(&s, "c").await.unwrap(), ["t2"]);
    let again = Record::TurnCompleted {
        turn_id: "t2".into(),
        status: TurnStatus::Abandoned,
        error: None,
        usage: None,
    };
    assert!(store.append(&s, "c", vec![again]).await.unwrap().is_empty());
}

macro_rules! on_both_stores {
    ($($case:ident),*) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let st = super::sqlite_store(stringify!($case)).await;
                super::$case(st.store.clone()).await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let st = super::postgres_store(stringify!($case)).await;
                super::$case(st.store.clone()).await;
            })*
        }
    };
}

on_both_stores!(
    the_lease_is_acquired_renewed_released_and_taken_over_after_expiry,
    racing_instances_get_one_lease,
    a_real_end_after_abandonment_is_recorded
);
