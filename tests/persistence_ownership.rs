//! Review M10 on the real codex with the mock model: resuming a conversation from a second
//! instance does not abandon the first one's running turn while the first holds the
//! conversation's ownership lease; once the lease lapsed the second takes over and abandons
//! the turn, and the turn's real end, arriving later, is still recorded.

mod persistence_common;

use codex_mock_model::{Reply, Scenario};
use codex_runtime::persistence::{
    now_millis, ConversationStore, Conversations, OpenConversation, OpenedConversation,
    PersistenceError, Record, Scope, TurnStatus,
};
use codex_runtime::runtime::Client;
use codex_test_support::CodexTestEnv;
use persistence_common::sqlite_target;
use std::sync::Arc;
use std::time::Duration;

fn scope() -> Scope {
    Scope::new("tenant-a", "alice").unwrap()
}

/// The statuses of the stored `turn_completed` events of `turn_id`, in order.
async fn ends(store: &dyn ConversationStore, s: &Scope, turn_id: &str) -> Vec<TurnStatus> {
    store
        .read_events(s, "c", 0, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.record {
            Record::TurnCompleted {
                turn_id: t, status, ..
            } if t == turn_id => Some(status),
            _ => None,
        })
        .collect()
}

/// Waits until the store holds `n` turns, the last in progress; returns its id.
async fn turn_in_progress(store: &dyn ConversationStore, s: &Scope, n: usize) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let turns = store.read_turns(s, "c").await.unwrap();
        if turns.len() == n && turns[n - 1].status == TurnStatus::InProgress {
            return turns[n - 1].turn_id.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "turn {n} never started: {turns:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_instance_cannot_abandon_a_live_turn_and_a_late_end_is_recorded() {
    let env = CodexTestEnv::start(Scenario::new([
        Reply::stall(["slow "]),
        Reply::stall(["slower "]),
    ]))
    .await
    .unwrap();
    let target = sqlite_target("ownership").await;
    let store = target.open().await;
    let s = scope();
    let resume = || OpenConversation::Resume {
        conversation_id: "c".into(),
        config: env.session_config(),
    };

    // Instance A starts the conversation and a slow turn.
    let client_a = Client::connect(env.client_config()).await.unwrap();
    let a = Conversations::new(Arc::clone(&store), client_a.clone())
        .with_owner("inst-a")
        .unwrap();
    let start = OpenConversation::Start {
        conversation_id: "c".into(),
        config: env.session_config(),
    };
    let OpenedConversation {
        session: session_a,
        recorder: recorder_a,
        lease: lease_a,
        ..
    } = a.open_conversation(&s, start).await.unwrap();
    assert_eq!(lease_a.lease().owner, "inst-a");
    let ask = |prompt: &'static str| {
        let (recorder, session) = (recorder_a.clone(), session_a.clone());
        tokio::spawn(async move { recorder.ask(&session, prompt).await })
    };
    let first = ask("first");
    env.mock
        .wait_for_stall(Duration::from_secs(60))
        .await
        .unwrap();
    let t1 = turn_in_progress(store.as_ref(), &s, 1).await;

    // Instance B (another process and codex) may not resume it: A's lease is live.
    let client_b = Client::connect(env.client_config()).await.unwrap();
    let b = Conversations::new(Arc::clone(&store), client_b.clone())
        .with_owner("inst-b")
        .unwrap();
    let err = b.open_conversation(&s, resume()).await.unwrap_err();
    assert!(
        matches!(&err, PersistenceError::SessionElsewhere { owner, .. } if owner == "inst-a"),
        "{err}"
    );
    assert_eq!(
        store.read_turns(&s, "c").await.unwrap()[0].status,
        TurnStatus::InProgress,
        "nothing abandoned"
    );
    env.mock.release_stall();
    first.await.unwrap().unwrap();
    let turns = store.read_turns(&s, "c").await.unwrap();
    assert_eq!(turns[0].status, TurnStatus::Completed);
    assert_eq!(ends(store.as_ref(), &s, &t1).await, [TurnStatus::Completed]);

    // A second slow turn; A's lease lapses meanwhile (released here, as a stalled instance's
    // expires): B takes the conversation over and abandons the turn.
    let second = ask("second");
    env.mock
        .wait_for_stall(Duration::from_secs(60))
        .await
        .unwrap();
    let t2 = turn_in_progress(store.as_ref(), &s, 2).await;
    drop(lease_a);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while store
        .session_lease(&s, "c")
        .await
        .unwrap()
        .is_some_and(|l| l.is_live(now_millis()))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the lease was never released"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // (B drives the thread through A's codex: one codex process refuses a second writer
    // of a thread it is running, "already has an active writer".)
    let b = Conversations::new(Arc::clone(&store), client_a.clone())
        .with_owner("inst-b")
        .unwrap();
    let opened_b = b.open_conversation(&s, resume()).await.unwrap();
    assert_eq!(opened_b.abandoned_turns, vec![t2.clone()]);
    assert_eq!(opened_b.lease.lease().owner, "inst-b");
    assert_eq!(opened_b.lease.lease().token, 2, "a new token");
    assert_eq!(
        store.read_turns(&s, "c").await.unwrap()[1].status,
        TurnStatus::Abandoned
    );

    // A's turn ends after all: the end is recorded, not dropped.
    env.mock.release_stall();
    second.await.unwrap().unwrap();
    let turns = store.read_turns(&s, "c").await.unwrap();
    assert_eq!(turns[1].status, TurnStatus::Completed, "{:?}", turns[1]);
    assert_eq!(
        ends(store.as_ref(), &s, &t2).await,
        [TurnStatus::Abandoned, TurnStatus::Completed]
    );

    opened_b.session.close().await.unwrap();
    // The same codex thread: closed once already.
    let _ = session_a.close().await;
    client_b.shutdown().await.unwrap();
    client_a.shutdown().await.unwrap();
    env.assert_no_leftover_processes().await;
}
