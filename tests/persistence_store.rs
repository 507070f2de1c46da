//! The conformance suite of `ConversationStore`: every case runs against `SqliteStore` (a fresh
//! file) and `PostgresStore` (a fresh database on the real server), through one macro.

mod persistence_common;

use codex_runtime::persistence::{
    ConversationStore, Durability, JobState, Jobs, ListConversations, NewConversation,
    PersistenceError, Record, Recorder, Scope, ServerRequestStatus, SqliteStore, TurnStatus,
};
use persistence_common::{agent_item, user_item, StoreUnderTest};
use serde_json::json;
use std::collections::HashSet;
use std::sync::Arc;

#[path = "persistence_store/shared_store.rs"]
mod shared_store;
use shared_store::{
    a_dropped_append_commits_whole_or_not_at_all, a_durable_store_accepts_recording,
    concurrent_appends_stay_gap_free, deletion_jobs_leave_zero_rows,
};

fn scope(actor: &str) -> Scope {
    Scope::new("tenant-a", actor).unwrap()
}

async fn conversation(store: &dyn ConversationStore, s: &Scope, id: &str) {
    store
        .create_conversation(
            s,
            NewConversation::new(id).with_thread(format!("thread-{id}")),
        )
        .await
        .unwrap();
}

/// One turn: started, a user and an agent message, completed.
fn turn(turn_id: &str, prompt: &str, answer: &str) -> Vec<Record> {
    vec![
        Record::TurnStarted {
            turn_id: turn_id.into(),
            prompt: Some(prompt.into()),
        },
        Record::ItemCompleted {
            turn_id: turn_id.into(),
            item: user_item(&format!("{turn_id}-u"), prompt),
        },
        Record::ItemCompleted {
            turn_id: turn_id.into(),
            item: agent_item(&format!("{turn_id}-a"), answer),
        },
        Record::TurnCompleted {
            turn_id: turn_id.into(),
            status: TurnStatus::Completed,
            error: None,
            usage: Some(json!({"total": {"totalTokens": 7}})),
        },
    ]
}

async fn empty_and_whitespace_ids_are_refused(store: &dyn ConversationStore) {
    let s = scope("alice");
    for id in ["", "   ", "\t\n"] {
        let err = store
            .create_conversation(&s, NewConversation::new(id))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                PersistenceError::EmptyId {
                    what: "conversation_id"
                }
            ),
            "{err}"
        );
    }
    assert!(matches!(
        Scope::new(" ", "alice"),
        Err(PersistenceError::EmptyId { what: "tenant" })
    ));
    conversation(store, &s, "c1").await;
    let err = store
        .create_conversation(&s, NewConversation::new("c1"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PersistenceError::ConversationExists { .. }),
        "{err}"
    );
}

async fn appends_number_events_without_gaps_and_repeats_add_nothing(store: &dyn ConversationStore) {
    let s = scope("alice");
    conversation(store, &s, "c1").await;
    let first = store
        .append(&s, "c1", turn("t1", "hello", "hi there"))
        .await
        .unwrap();
    assert_eq!(
        first.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    // The same turn again (a retried write, a re-import): nothing new.
    let again = store
        .append(&s, "c1", turn("t1", "hello", "hi there"))
        .await
        .unwrap();
    assert!(again.is_empty(), "{again:?}");
    let second = store
        .append(&s, "c1", turn("t2", "more", "sure"))
        .await
        .unwrap();
    assert_eq!(
        second.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![5, 6, 7, 8]
    );

    let events = store.read_events(&s, "c1", 0, 0).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=8).collect::<Vec<_>>()
    );
    assert_eq!(events[0].record, turn("t1", "hello", "hi there")[0]);
    let tail = store.read_events(&s, "c1", 6, 0).await.unwrap();
    assert_eq!(tail.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![7, 8]);

    let c = store.conversation(&s, "c1").await.unwrap().unwrap();
    assert_eq!((c.last_seq, c.message_count), (8, 4));
    assert_eq!(c.preview, "hello");
    let turns = store.read_turns(&s, "c1").await.unwrap();
    assert_eq!(turns.len(), 2);
    assert_eq!(turns[0].status, TurnStatus::Completed);
    assert_eq!(turns[0].prompt.as_deref(), Some("hello"));
    assert_eq!(turns[1].position, 2);
    assert_eq!(turns[0].usage, Some(json!({"total": {"totalTokens": 7}})));

    // Items in order, a page at a time.
    let p1 = store.read_items(&s, "c1", 0, 3).await.unwrap();
    assert_eq!(
        p1.items.iter().map(|i| i.text.as_str()).collect::<Vec<_>>(),
        vec!["hello", "hi there", "more"]
    );
    assert_eq!(p1.items[1].kind, "agentMessage");
    assert_eq!(p1.items[1].raw, agent_item("t1-a", "hi there"));
    let p2 = store
        .read_items(&s, "c1", p1.next_after.unwrap(), 3)
        .await
        .unwrap();
    assert_eq!(p2.items.len(), 1);
    assert_eq!(p2.next_after, None);

    // An item without an id, or for an unknown conversation: typed errors.
    let bad = vec![Record::ItemCompleted {
        turn_id: "t3".into(),
        item: json!({"type": "agentMessage", "text": "x"}),
    }];
    let err = store.append(&s, "c1", bad).await.unwrap_err();
    assert!(
        matches!(err, PersistenceError::Invalid { what: "item", .. }),
        "{err}"
    );
    let err = store
        .append(&s, "nope", turn("t1", "a", "b"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PersistenceError::ConversationNotFound { .. }),
        "{err}"
    );
    // The failed append left nothing behind (one transaction).
    assert_eq!(
        store
            .conversation(&s, "c1")
            .await
            .unwrap()
            .unwrap()
            .last_seq,
        8
    );
}

async fn lists_page_newest_first_and_hide_archived(store: &dyn ConversationStore) {
    let s = scope("alice");
    for i in 0..5 {
        let id = format!("c{i}");
        conversation(store, &s, &id).await;
        store
            .append(
                &s,
                &id,
                turn(&format!("t{i}"), &format!("prompt {i}"), "ok"),
            )
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    conversation(store, &scope("bob"), "bobs").await;
    let page = store
        .list_conversations(&s, ListConversations::first(2))
        .await
        .unwrap();
    assert_eq!(
        page.data
            .iter()
            .map(|c| c.conversation_id.as_str())
            .collect::<Vec<_>>(),
        vec!["c4", "c3"]
    );
    assert_eq!(page.data[0].preview, "prompt 4");
    assert_eq!(page.data[0].message_count, 2);
    let mut seen: Vec<String> = page
        .data
        .iter()
        .map(|c| c.conversation_id.clone())
        .collect();
    let mut cursor = page.next_cursor;
    while let Some(c) = cursor {
        let p = store
            .list_conversations(&s, ListConversations::after(c, 2))
            .await
            .unwrap();
        seen.extend(p.data.iter().map(|c| c.conversation_id.clone()));
        cursor = p.next_cursor;
    }
    assert_eq!(seen, vec!["c4", "c3", "c2", "c1", "c0"]);

    store.set_archived(&s, "c2", true).await.unwrap();
    store
        .set_name(&s, "c1", Some("named".into()))
        .await
        .unwrap();
    let all = store
        .list_conversations(&s, ListConversations::first(0))
        .await
        .unwrap();
    assert!(!all.data.iter().any(|c| c.conversation_id == "c2"));
    assert!(all.data.iter().any(|c| c.name.as_deref() == Some("named")));
    let with = store
        .list_conversations(&s, ListConversations::first(0).with_archived())
        .await
        .unwrap();
    assert_eq!(with.data.len(), 5);
    store.set_archived(&s, "c2", false).await.unwrap();
    assert!(
        !store
            .conversation(&s, "c2")
            .await
            .unwrap()
            .unwrap()
            .archived
    );

    let err = store
        .list_conversations(&s, ListConversations::after("garbage", 2))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PersistenceError::Invalid { what: "cursor", .. }),
        "{err}"
    );
    let err = store
        .list_conversations(&s, ListConversations::first(1_000_000))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PersistenceError::Invalid { what: "limit", .. }),
        "{err}"
    );
    let err = store.set_archived(&s, "missing", true).await.unwrap_err();
    assert!(
        matches!(err, PersistenceError::ConversationNotFound { .. }),
        "{err}"
    );
    // Another actor sees none of it.
    let bob = store
        .list_conversations(&scope("bob"), ListConversations::first(0))
        .await
        .unwrap();
    assert_eq!(bob.data.len(), 1);
    assert!(store
        .conversation(&scope("bob"), "c1")
        .await
        .unwrap()
        .is_none());
}

async fn server_requests_are_pending_until_answered(store: &dyn ConversationStore) {
    let s = scope("alice");
    conversation(store, &s, "c1").await;
    assert!(store
        .pending_server_requests(&s, "unknown")
        .await
        .unwrap()
        .is_empty());
    store
        .append(
            &s,
            "c1",
            vec![Record::ServerRequest {
                turn_id: Some("t1".into()),
                request_id: "r1".into(),
                method: "item/commandExecution/requestApproval".into(),
                item_id: Some("i1".into()),
                params: json!({"command": "ls"}),
            }],
        )
        .await
        .unwrap();
    let pending = store.pending_server_requests(&s, "c1").await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].params, json!({"command": "ls"}));
    let answered = Record::ServerRequestAnswered {
        request_id: "r1".into(),
        answer: json!({"decision": "accept"}),
        answered_by: "alice".into(),
    };
    assert_eq!(
        store
            .append(&s, "c1", vec![answered.clone()])
            .await
            .unwrap()
            .len(),
        1
    );
    // Answering twice adds nothing; answering an unknown request is an error.
    assert!(store
        .append(&s, "c1", vec![answered])
        .await
        .unwrap()
        .is_empty());
    let err = store
        .append(
            &s,
            "c1",
            vec![Record::ServerRequestAnswered {
                request_id: "r9".into(),
                answer: json!(null),
                answered_by: "x".into(),
            }],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            PersistenceError::Invalid {
                what: "request_id",
                ..
            }
        ),
        "{err}"
    );
    assert!(store
        .pending_server_requests(&s, "c1")
        .await
        .unwrap()
        .is_empty());
    let all = store.server_requests(&s, "c1").await.unwrap();
    assert_eq!(all[0].status, ServerRequestStatus::Answered);
    assert_eq!(all[0].answered_by.as_deref(), Some("alice"));
    assert_eq!(all[0].answer, Some(json!({"decision": "accept"})));
}

async fn open_turns_are_abandoned_once(store: &dyn ConversationStore) {
    let s = scope("alice");
    conversation(store, &s, "c1").await;
    let mut records = turn("t1", "a", "b");
    records.push(Record::TurnStarted {
        turn_id: "t2".into(),
        prompt: Some("cut short".into()),
    });
    store.append(&s, "c1", records).await.unwrap();
    assert_eq!(
        store.abandon_open_turns(&s, "c1").await.unwrap(),
        vec!["t2"]
    );
    assert!(store.abandon_open_turns(&s, "c1").await.unwrap().is_empty());
    let turns = store.read_turns(&s, "c1").await.unwrap();
    assert_eq!(turns[0].status, TurnStatus::Completed);
    assert_eq!(turns[1].status, TurnStatus::Abandoned);
    let events = store.read_events(&s, "c1", 0, 0).await.unwrap();
    assert_eq!(events.len(), 6);
}

macro_rules! conformance {
    ($backend:ident, $open:path) => {
        mod $backend {
            use super::*;

            #[tokio::test]
            async fn empty_and_whitespace_ids_are_refused() {
                let st: StoreUnderTest = $open("ids").await;
                super::empty_and_whitespace_ids_are_refused(st.store.as_ref()).await;
            }
            #[tokio::test]
            async fn appends_number_events_without_gaps_and_repeats_add_nothing() {
                let st: StoreUnderTest = $open("append").await;
                super::appends_number_events_without_gaps_and_repeats_add_nothing(
                    st.store.as_ref(),
                )
                .await;
            }
            #[tokio::test]
            async fn lists_page_newest_first_and_hide_archived() {
                let st: StoreUnderTest = $open("list").await;
                super::lists_page_newest_first_and_hide_archived(st.store.as_ref()).await;
            }
            #[tokio::test]
            async fn server_requests_are_pending_until_answered() {
                let st: StoreUnderTest = $open("requests").await;
                super::server_requests_are_pending_until_answered(st.store.as_ref()).await;
            }
            #[tokio::test]
            async fn open_turns_are_abandoned_once() {
                let st: StoreUnderTest = $open("abandon").await;
                super::open_turns_are_abandoned_once(st.store.as_ref()).await;
            }
            #[tokio::test]
            async fn deletion_jobs_leave_zero_rows() {
                let st: StoreUnderTest = $open("delete").await;
                super::deletion_jobs_leave_zero_rows(st.store.clone()).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn concurrent_appends_stay_gap_free() {
                let st: StoreUnderTest = $open("concurrent").await;
                super::concurrent_appends_stay_gap_free(st.store.clone()).await;
            }
            #[tokio::test]
            async fn a_dropped_append_commits_whole_or_not_at_all() {
                let st: StoreUnderTest = $open("dropped").await;
                super::a_dropped_append_commits_whole_or_not_at_all(st.store.clone()).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_dropped_append_commits_whole_or_not_at_all_on_a_multi_thread_runtime() {
                let st: StoreUnderTest = $open("dropped_mt").await;
                super::a_dropped_append_commits_whole_or_not_at_all(st.store.clone()).await;
            }
            #[tokio::test]
            async fn a_durable_store_accepts_recording() {
                let st: StoreUnderTest = $open("durable").await;
                super::a_durable_store_accepts_recording(st.store.clone()).await;
            }
        }
    };
}

conformance!(sqlite, persistence_common::sqlite_store);
conformance!(postgres, persistence_common::postgres_store);

#[tokio::test]
async fn an_in_memory_store_is_refused_for_recording_and_imports() {
    let store: Arc<dyn ConversationStore> = Arc::new(SqliteStore::in_memory().unwrap());
    assert!(matches!(store.durability(), Durability::Volatile(_)));
    let s = scope("alice");
    conversation(store.as_ref(), &s, "c1").await;
    let err = Recorder::new(Arc::clone(&store), s.clone(), "c1")
        .await
        .unwrap_err();
    assert!(matches!(err, PersistenceError::NotDurable { .. }), "{err}");
    let err = Jobs::new(Arc::clone(&store))
        .import_thread(&s, "thread-1", "c2")
        .await
        .unwrap_err();
    assert!(matches!(err, PersistenceError::NotDurable { .. }), "{err}");
    assert_eq!(
        store.count_rows(None).await.unwrap().jobs,
        0,
        "nothing was queued"
    );
}
