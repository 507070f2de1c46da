//! Every record kind, appended alone and all in one append, projects the same way in both
//! stores: `PostgresStore` appends in one round trip with server-side statements
//! (`queries/append_flight.rs`), `SqliteStore` with the portable three-step path, and these
//! cases pin both to the same counters, positions, events and repeats. SQLite runs on both
//! runtime flavours (its writes run in place on a multi-thread runtime, on the blocking pool
//! on a current-thread one).

mod persistence_common;

use codex_runtime::persistence::{
    ConversationStore, NewConversation, PersistenceError, Record, Scope, ServerRequestStatus,
    TurnStatus,
};
use persistence_common::{agent_item, user_item, StoreUnderTest};
use serde_json::json;

fn scope() -> Scope {
    Scope::new("tenant-r", "rita").unwrap()
}

/// Every kind but the answer, in one append: a turn that starts, streams, asks, fails over
/// and completes, then a turn seen only at its end (as an import finds it).
fn all_kinds() -> Vec<Record> {
    vec![
        Record::TurnStarted {
            turn_id: "t1".into(),
            prompt: Some("first prompt".into()),
        },
        Record::ItemCompleted {
            turn_id: "t1".into(),
            item: user_item("t1-u", "first prompt"),
        },
        Record::Deltas {
            turn_id: "t1".into(),
            item_id: "t1-a".into(),
            stream: "agentMessage".into(),
            text: "par".into(),
        },
        Record::ServerRequest {
            turn_id: Some("t1".into()),
            request_id: "r1".into(),
            method: "item/commandExecution/requestApproval".into(),
            item_id: Some("t1-c".into()),
            params: json!({"command": "ls"}),
        },
        Record::Lagged {
            turn_id: Some("t1".into()),
            dropped: 3,
        },
        Record::Error {
            turn_id: Some("t1".into()),
            message: "stream hiccup".into(),
        },
        Record::ItemCompleted {
            turn_id: "t1".into(),
            item: agent_item("t1-a", "partial answer"),
        },
        Record::ItemCompleted {
            turn_id: "t1".into(),
            item: json!({"type": "reasoning", "id": "t1-r", "summary": [], "content": []}),
        },
        Record::TurnCompleted {
            turn_id: "t1".into(),
            status: TurnStatus::Completed,
            error: None,
            usage: Some(json!({"total": {"totalTokens": 11}})),
        },
        Record::ItemCompleted {
            turn_id: "t0".into(),
            item: user_item("t0-u", "older prompt"),
        },
        Record::TurnCompleted {
            turn_id: "t0".into(),
            status: TurnStatus::Failed,
            error: Some(json!({"message": "boom"})),
            usage: None,
        },
    ]
}

async fn check_projection(store: &dyn ConversationStore, c: &str) {
    let s = scope();
    let conv = store.conversation(&s, c).await.unwrap().unwrap();
    // 11 records, each new: 11 events; items: 2 user + 1 agent message + 1 reasoning.
    assert_eq!(conv.last_seq, 11);
    assert_eq!(conv.message_count, 3);
    assert_eq!(conv.preview, "first prompt");
    let events = store.read_events(&s, c, 0, 0).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=11).collect::<Vec<_>>()
    );
    assert_eq!(
        events.iter().map(|e| e.record.clone()).collect::<Vec<_>>(),
        all_kinds()
    );
    let turns = store.read_turns(&s, c).await.unwrap();
    let summary: Vec<_> = turns
        .iter()
        .map(|t| {
            (
                t.turn_id.as_str(),
                t.position,
                t.status,
                t.completed_at.is_some(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("t1", 1, TurnStatus::Completed, true),
            ("t0", 2, TurnStatus::Failed, true)
        ]
    );
    assert_eq!(turns[0].prompt.as_deref(), Some("first prompt"));
    assert_eq!(turns[0].usage, Some(json!({"total": {"totalTokens": 11}})));
    assert_eq!(turns[1].error, Some(json!({"message": "boom"})));
    let items = store.read_items(&s, c, 0, 10).await.unwrap().items;
    assert_eq!(
        items
            .iter()
            .map(|i| (i.item_id.as_str(), i.position, i.kind.as_str()))
            .collect::<Vec<_>>(),
        vec![
            ("t1-u", 1, "userMessage"),
            ("t1-a", 2, "agentMessage"),
            ("t1-r", 3, "reasoning"),
            ("t0-u", 4, "userMessage"),
        ]
    );
    let pending = store.pending_server_requests(&s, c).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].status, ServerRequestStatus::Pending);
}

async fn every_kind_projects_alike_in_one_append_or_one_each(store: &dyn ConversationStore) {
    let s = scope();
    for c in ["together", "apart"] {
        store
            .create_conversation(&s, NewConversation::new(c))
            .await
            .unwrap();
    }
    let together = store.append(&s, "together", all_kinds()).await.unwrap();
    assert_eq!(
        together.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=11).collect::<Vec<_>>()
    );
    let mut apart = Vec::new();
    for record in all_kinds() {
        apart.extend(store.append(&s, "apart", vec![record]).await.unwrap());
    }
    assert_eq!(
        apart.iter().map(|e| (e.seq, &e.record)).collect::<Vec<_>>(),
        together
            .iter()
            .map(|e| (e.seq, &e.record))
            .collect::<Vec<_>>()
    );
    check_projection(store, "together").await;
    check_projection(store, "apart").await;

    // Repeats of projected records add nothing; event-only records always append.
    let repeats: Vec<Record> = all_kinds()
        .into_iter()
        .filter(|r| {
            !matches!(
                r,
                Record::Deltas { .. } | Record::Error { .. } | Record::Lagged { .. }
            )
        })
        .collect();
    assert!(store
        .append(&s, "together", repeats.clone())
        .await
        .unwrap()
        .is_empty());
    for r in repeats {
        assert!(store.append(&s, "apart", vec![r]).await.unwrap().is_empty());
    }
    check_projection(store, "together").await;

    // The answer, then a record after it, numbered on.
    let answered = store
        .append(
            &s,
            "together",
            vec![
                Record::ServerRequestAnswered {
                    request_id: "r1".into(),
                    answer: json!({"decision": "accept"}),
                    answered_by: "rita".into(),
                },
                Record::Lagged {
                    turn_id: None,
                    dropped: 1,
                },
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        answered.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![12, 13]
    );
    assert!(store
        .pending_server_requests(&s, "together")
        .await
        .unwrap()
        .is_empty());

    // A failing record fails the whole append, which leaves nothing behind.
    let err = store
        .append(
            &s,
            "apart",
            vec![
                Record::Lagged {
                    turn_id: None,
                    dropped: 1,
                },
                Record::TurnStarted {
                    turn_id: " ".into(),
                    prompt: None,
                },
            ],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, PersistenceError::EmptyId { what: "turn_id" }),
        "{err}"
    );
    // Every record with a missing or blank id is refused with the same typed error on both
    // append paths (three round trips on SQLite, one flight on PostgreSQL).
    let refused: Vec<(Record, &str)> = vec![
        (
            Record::ItemCompleted {
                turn_id: "t1".into(),
                item: serde_json::json!({"type": "agentMessage", "text": "no id"}),
            },
            "item",
        ),
        (
            Record::ItemCompleted {
                turn_id: "t1".into(),
                item: serde_json::json!({"type": "agentMessage", "id": " "}),
            },
            "item id",
        ),
        (
            Record::ServerRequest {
                turn_id: None,
                request_id: "".into(),
                method: "item/tool/call".into(),
                item_id: None,
                params: serde_json::json!({}),
            },
            "request_id",
        ),
        (
            Record::TurnCompleted {
                turn_id: "\t".into(),
                status: TurnStatus::Completed,
                error: None,
                usage: None,
            },
            "turn_id",
        ),
    ];
    for (record, field) in refused {
        let err = store.append(&s, "apart", vec![record]).await.unwrap_err();
        let named = match &err {
            PersistenceError::EmptyId { what } | PersistenceError::Invalid { what, .. } => *what,
            other => panic!("{field}: unexpected {other:?}"),
        };
        assert_eq!(named, field, "{err}");
    }
    let err = store.append(&s, "missing", all_kinds()).await.unwrap_err();
    assert!(
        matches!(err, PersistenceError::ConversationNotFound { .. }),
        "{err}"
    );
    check_projection(store, "apart").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_multi_thread() {
    let st: StoreUnderTest = persistence_common::sqlite_store("records-mt").await;
    every_kind_projects_alike_in_one_append_or_one_each(st.store.as_ref()).await;
}

#[tokio::test(flavor = "current_thread")]
async fn sqlite_current_thread() {
    let st: StoreUnderTest = persistence_common::sqlite_store("records-ct").await;
    every_kind_projects_alike_in_one_append_or_one_each(st.store.as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    let st: StoreUnderTest = persistence_common::postgres_store("records").await;
    every_kind_projects_alike_in_one_append_or_one_each(st.store.as_ref()).await;
}
