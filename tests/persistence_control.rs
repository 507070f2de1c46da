//! Conversation control, recording failures and the runtime status on the real codex with the
//! mock model (SQLite store; the store-level behaviour of both stores is in
//! `persistence_store.rs`).

mod persistence_common;

use codex_mock_model::{Reply, Scenario};
use codex_runtime::persistence::{
    Conversations, ListConversations, OpenConversation, PersistenceError, Record, RuntimePhase,
    RuntimeStateSource, RuntimeStatus, Scope, TurnStatus,
};
use codex_runtime::runtime::{Client, TurnEvent};
use codex_test_support::CodexTestEnv;
use futures::StreamExt;
use persistence_common::sqlite_target;
use std::sync::Arc;
use std::time::Duration;

fn scope() -> Scope {
    Scope::new("tenant-a", "alice").unwrap()
}

fn start(id: &str, env: &CodexTestEnv) -> OpenConversation {
    OpenConversation::Start {
        conversation_id: id.into(),
        config: env.session_config(),
    }
}

#[tokio::test]
async fn conversations_open_list_name_archive_read_and_fork() {
    let env = CodexTestEnv::start(Scenario::empty().with_fallback(Reply::echo("echo: ")))
        .await
        .unwrap();
    let target = sqlite_target("control").await;
    let store = target.open().await;
    let client = Client::connect(env.client_config()).await.unwrap();
    let control = Conversations::new(Arc::clone(&store), client.clone());
    let s = scope();

    // Empty or whitespace ids are refused before anything starts.
    for id in ["", "  "] {
        let err = control
            .open_conversation(&s, start(id, &env))
            .await
            .unwrap_err();
        assert!(matches!(err, PersistenceError::EmptyId { .. }), "{err}");
    }
    assert!(
        client.list_threads(None).await.unwrap().is_empty(),
        "no thread was started"
    );

    let one = control
        .open_conversation(&s, start("one", &env))
        .await
        .unwrap();
    assert_eq!(
        one.conversation.thread_id.as_deref(),
        Some(one.session.thread_id())
    );
    let err = control
        .open_conversation(&s, start("one", &env))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PersistenceError::ConversationExists { .. }),
        "{err}"
    );
    for i in 0..3 {
        one.recorder
            .ask(&one.session, format!("question {i}"))
            .await
            .unwrap();
    }
    let two = control
        .open_conversation(&s, start("two", &env))
        .await
        .unwrap();
    two.recorder.ask(&two.session, "other").await.unwrap();

    let page = control
        .list_conversations(&s, ListConversations::first(1))
        .await
        .unwrap();
    assert_eq!(page.data[0].conversation_id, "two");
    let next = control
        .list_conversations(&s, ListConversations::after(page.next_cursor.unwrap(), 1))
        .await
        .unwrap();
    assert_eq!(next.data[0].conversation_id, "one");
    assert_eq!(next.data[0].preview, "question 0");
    assert_eq!(next.data[0].message_count, 6);
    assert_eq!(next.next_cursor, None);

    control.set_name(&s, "one", "first chat").await.unwrap();
    control.archive(&s, "two").await.unwrap();
    let page = control
        .list_conversations(&s, ListConversations::first(0))
        .await
        .unwrap();
    assert_eq!(page.data.len(), 1);
    assert_eq!(page.data[0].name.as_deref(), Some("first chat"));
    control.unarchive(&s, "two").await.unwrap();
    assert_eq!(
        control
            .list_conversations(&s, ListConversations::first(0))
            .await
            .unwrap()
            .data
            .len(),
        2
    );

    // Read back in order, two items a page.
    let mut texts = Vec::new();
    let mut after = 0;
    loop {
        let read = control
            .read_conversation(&s, "one", after, 2)
            .await
            .unwrap();
        assert_eq!(read.turns.len(), 3);
        texts.extend(
            read.items
                .items
                .iter()
                .filter(|i| i.kind == "userMessage")
                .map(|i| i.text.clone()),
        );
        match read.items.next_after {
            Some(a) => after = a,
            None => break,
        }
    }
    assert_eq!(texts, vec!["question 0", "question 1", "question 2"]);
    assert!(control
        .list_pending_server_requests(&s, "nope")
        .await
        .unwrap()
        .is_empty());
    let err = control
        .read_conversation(&s, "nope", 0, 0)
        .await
        .unwrap_err();
    assert!(
        matches!(err, PersistenceError::ConversationNotFound { .. }),
        "{err}"
    );

    // Fork: a new thread with the history copied; it goes on by itself.
    let fork = control
        .open_conversation(
            &s,
            OpenConversation::Fork {
                from: "one".into(),
                conversation_id: "fork".into(),
                config: env.session_config(),
            },
        )
        .await
        .unwrap();
    assert_ne!(fork.session.thread_id(), one.session.thread_id());
    assert_eq!(fork.conversation.forked_from.as_deref(), Some("one"));
    let forked = control.read_conversation(&s, "fork", 0, 0).await.unwrap();
    let original = control.read_conversation(&s, "one", 0, 0).await.unwrap();
    let raw = |r: &codex_runtime::persistence::ConversationRead| {
        r.items
            .items
            .iter()
            .map(|i| i.raw.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(raw(&forked), raw(&original));
    let out = fork
        .recorder
        .ask(&fork.session, "after the fork")
        .await
        .unwrap();
    assert_eq!(out.assistant_text, "echo: after the fork");
    assert_eq!(
        control
            .read_conversation(&s, "fork", 0, 0)
            .await
            .unwrap()
            .turns
            .len(),
        4
    );
    assert_eq!(
        control
            .read_conversation(&s, "one", 0, 0)
            .await
            .unwrap()
            .turns
            .len(),
        3
    );

    // Resume of an unknown conversation is a typed error.
    let err = control
        .open_conversation(
            &s,
            OpenConversation::Resume {
                conversation_id: "nope".into(),
                config: env.session_config(),
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, PersistenceError::ConversationNotFound { .. }),
        "{err}"
    );
    client.shutdown().await.unwrap();
    env.assert_no_leftover_processes().await;
}

const EVENTS_DDL: &str = "CREATE TABLE codex_events (tenant TEXT NOT NULL, actor TEXT NOT NULL, \
    conversation_id TEXT NOT NULL, seq BIGINT NOT NULL, kind TEXT NOT NULL, turn_id TEXT, \
    payload TEXT NOT NULL, created_at BIGINT NOT NULL, \
    PRIMARY KEY (tenant, actor, conversation_id, seq))";

#[tokio::test]
async fn a_store_failure_is_an_error_and_then_a_lagged_marker_never_silence() {
    let env = CodexTestEnv::start(Scenario::empty().with_fallback(Reply::text("answer")))
        .await
        .unwrap();
    let target = sqlite_target("failure").await;
    let store = target.open().await;
    let client = Client::connect(env.client_config()).await.unwrap();
    let control = Conversations::new(Arc::clone(&store), client.clone());
    let s = scope();
    let c = control
        .open_conversation(&s, start("c", &env))
        .await
        .unwrap();
    c.recorder.ask(&c.session, "fine").await.unwrap();

    // The event log disappears behind the store's back: every write fails.
    let path = target.spec.strip_prefix("sqlite:").unwrap().to_string();
    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute_batch("DROP TABLE codex_events").unwrap();
    let err = c.recorder.ask(&c.session, "lost").await.unwrap_err();
    assert!(
        matches!(err, PersistenceError::RecordingFailed { lost, .. } if lost > 0),
        "{err}"
    );

    // A stream says so before the event it could not store.
    let mut stream = Box::pin(c.recorder.ask_stream(&c.session, "lost too"));
    let (mut errors, mut stored) = (0, 0);
    while let Some(ev) = stream.next().await {
        match ev {
            Err(PersistenceError::RecordingFailed { .. }) => errors += 1,
            Err(e) => panic!("{e}"),
            Ok(ev) => stored += ev.stored.len(),
        }
    }
    assert!(errors > 0, "every failed write is reported");
    assert_eq!(stored, 0, "nothing claims to be stored");

    // Once the store works again, the next write starts with a Lagged marker.
    other.execute_batch(EVENTS_DDL).unwrap();
    let mut stream = Box::pin(c.recorder.ask_stream(&c.session, "back"));
    let mut first_stored = None;
    while let Some(ev) = stream.next().await {
        let ev = ev.unwrap();
        if first_stored.is_none() && !ev.stored.is_empty() {
            first_stored = Some(ev.stored[0].record.clone());
        }
    }
    assert!(
        matches!(first_stored, Some(Record::Lagged { dropped, .. }) if dropped > 0),
        "{first_stored:?}"
    );
    client.shutdown().await.unwrap();
    env.assert_no_leftover_processes().await;
}

#[tokio::test]
async fn the_runtime_status_follows_turns_and_the_process() {
    let env = CodexTestEnv::start(Scenario::new([Reply::text("one"), Reply::stall(["wait"])]))
        .await
        .unwrap();
    let target = sqlite_target("status").await;
    let store = target.open().await;
    let client = Client::connect(env.client_config()).await.unwrap();
    let control = Conversations::new(Arc::clone(&store), client.clone());
    let s = scope();
    let c = control
        .open_conversation(&s, start("c", &env))
        .await
        .unwrap();
    let status = RuntimeStatus::new();
    let _watch = status.watch_runtime(client.runtime());
    let recorder = c.recorder.clone().with_status(status.clone());
    assert_eq!(status.snapshot().phase, RuntimePhase::Idle);

    let out = recorder.ask(&c.session, "hello").await.unwrap();
    let snap = status.snapshot();
    assert_eq!(snap.phase, RuntimePhase::Idle);
    assert_eq!(snap.conversation_id.as_deref(), Some("c"));
    assert_eq!(snap.thread_id.as_deref(), Some(c.session.thread_id()));
    assert_eq!(snap.turn_id, None);

    // Mid-turn: running, with the turn id, pushed to subscribers.
    let mut rx = status.subscribe();
    let mut stream = Box::pin(recorder.ask_stream(&c.session, "stall"));
    loop {
        match stream.next().await.unwrap().unwrap().event {
            TurnEvent::Started { .. } => break,
            _ => continue,
        }
    }
    let running = rx
        .wait_for(|s| s.phase == RuntimePhase::Running)
        .await
        .unwrap()
        .clone();
    assert!(running.turn_id.is_some());
    assert_ne!(running.turn_id.as_deref(), Some(out.turn_id.as_str()));

    // The codex process dies: error, from the process exit.
    env.mock
        .wait_for_stall(Duration::from_secs(60))
        .await
        .unwrap();
    env.kill_leftover_processes();
    let ended = tokio::time::timeout(
        Duration::from_secs(30),
        rx.wait_for(|s| s.source == RuntimeStateSource::ProcessExit),
    )
    .await
    .expect("the exit was reported")
    .unwrap()
    .clone();
    assert_eq!(ended.phase, RuntimePhase::Error);
    assert!(ended.message.is_some());
    env.mock.release_stall();
    drop(stream);
    // The cut-short turn is still open in the store until a resume marks it.
    let turns = store.read_turns(&s, "c").await.unwrap();
    assert_eq!(turns.last().unwrap().status, TurnStatus::InProgress);
}

#[tokio::test]
async fn dropping_a_recorded_stream_mid_turn_still_records_the_turn_to_its_end() {
    let env = CodexTestEnv::start(Scenario::new([Reply::slow(
        ["one ", "two ", "three"],
        Duration::from_millis(100),
    )]))
    .await
    .unwrap();
    let target = sqlite_target("drop_stream").await;
    let store = target.open().await;
    let client = Client::connect(env.client_config()).await.unwrap();
    let control = Conversations::new(Arc::clone(&store), client.clone());
    let s = scope();
    let c = control
        .open_conversation(&s, start("c", &env))
        .await
        .unwrap();
    let mut stream = Box::pin(c.recorder.ask_stream(&c.session, "slow"));
    loop {
        if let TurnEvent::Started { .. } = stream.next().await.unwrap().unwrap().event {
            break;
        }
    }
    drop(stream);
    let done = async {
        loop {
            let turns = store.read_turns(&s, "c").await.unwrap();
            if turns.first().map(|t| t.status) == Some(TurnStatus::Completed) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), done)
        .await
        .expect("the turn was recorded to its end");
    let items = store.read_items(&s, "c", 0, 0).await.unwrap().items;
    assert_eq!(items.last().unwrap().text, "one two three");
    client.shutdown().await.unwrap();
    env.assert_no_leftover_processes().await;
}
