//! Durable conversations end to end on the real codex and the mock model, for each store:
//! sessions recorded by a separate process read back identically after it exits, a recorder
//! killed with SIGKILL mid-turn leaves a readable store, and a 50-turn thread imports, resumes
//! after an interrupted job and verifies.

mod persistence_common;

use codex_mock_model::{Reply, Scenario};
use codex_runtime::persistence::Scope;
use codex_runtime::persistence::{
    ConversationStore, Conversations, JobState, Jobs, OpenConversation, PersistenceError, Record,
    ServerRequestStatus, TurnStatus,
};
use codex_runtime::runtime::Client;
use codex_test_support::CodexTestEnv;
use persistence_common::{child, run_child, Target};
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

fn scope(actor: &str) -> Scope {
    Scope::new("tenant-a", actor).unwrap()
}

/// Every item of `turn_id` in the store, in order, as raw JSON.
async fn stored_items(
    store: &dyn ConversationStore,
    s: &Scope,
    c: &str,
    turn_id: &str,
) -> Vec<Value> {
    let page = store.read_items(s, c, 0, 1000).await.unwrap();
    page.items
        .into_iter()
        .filter(|i| i.turn_id == turn_id)
        .map(|i| i.raw)
        .collect()
}

/// The event log of `c` is 1, 2, ..., last_seq with nothing missing or repeated.
async fn assert_gap_free(store: &dyn ConversationStore, s: &Scope, c: &str) -> Vec<i64> {
    let events = store.read_events(s, c, 0, 1000).await.unwrap();
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    let last = store.conversation(s, c).await.unwrap().unwrap().last_seq;
    assert_eq!(seqs, (1..=last).collect::<Vec<_>>(), "gap-free log of {c}");
    seqs
}

/// Checks one `{"output": ...}` line of a child against the store.
async fn assert_output_stored(store: &dyn ConversationStore, s: &Scope, output: &Value) {
    let c = output["conversation"].as_str().unwrap();
    let turn_id = output["turn_id"].as_str().unwrap();
    let items = output["items"].as_array().unwrap();
    assert!(!items.is_empty());
    assert_eq!(
        &stored_items(store, s, c, turn_id).await,
        items,
        "items of {turn_id}"
    );
    let texts: Vec<_> = store
        .read_items(s, c, 0, 1000)
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|i| i.turn_id == turn_id && i.kind == "agentMessage")
        .map(|i| i.text)
        .collect();
    assert_eq!(texts.last().map(String::as_str), output["text"].as_str());
    let turn = store
        .read_turns(s, c)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.turn_id == turn_id)
        .expect("the turn is stored");
    assert_eq!(turn.status, TurnStatus::Completed);
    assert!(turn.usage.is_some(), "token usage is stored");
}

async fn recorded_sessions_read_back_after_the_process_exits(target: Target) {
    let env = CodexTestEnv::start(Scenario::new([
        Reply::text("first answer"),
        Reply::deltas(["str", "eam", "ed ", "answer"]),
        Reply::text("third answer"),
        Reply::shell("echo made > made_by_shell.txt"),
        Reply::text("done after the command"),
    ]))
    .await
    .unwrap();
    let s = scope("alice");
    let lines = run_child(&env, &target, "alice", &["record", "3", "c1"]).await;
    let approve = run_child(&env, &target, "alice", &["approve", "c2"]).await;
    env.assert_no_leftover_processes().await;

    // A new process (this one) opens the store.
    let store = target.open().await;
    let outputs: Vec<&Value> = lines
        .iter()
        .chain(&approve)
        .filter_map(|l| l.get("output"))
        .collect();
    assert_eq!(outputs.len(), 4);
    assert_eq!(outputs[1]["text"], "streamed answer");
    for out in &outputs {
        assert_output_stored(store.as_ref(), &s, out).await;
    }
    let c1 = store.conversation(&s, "c1").await.unwrap().unwrap();
    assert_eq!(c1.message_count, 6);
    assert_eq!(c1.preview, "c1 prompt 0");
    assert!(c1.thread_id.is_some());
    assert_gap_free(store.as_ref(), &s, "c1").await;
    assert_gap_free(store.as_ref(), &s, "c2").await;

    // The approval: asked, answered by the session's handler with what codex was sent.
    let requests = store.server_requests(&s, "c2").await.unwrap();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0].method, "item/commandExecution/requestApproval");
    assert_eq!(requests[0].status, ServerRequestStatus::Answered);
    assert_eq!(requests[0].answer.as_ref().unwrap()["decision"], "accept");
    assert_eq!(requests[0].answered_by.as_deref(), Some("session"));
    assert!(store
        .pending_server_requests(&s, "c2")
        .await
        .unwrap()
        .is_empty());
    let kinds: Vec<String> = store
        .read_items(&s, "c2", 0, 0)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|i| i.kind)
        .collect();
    assert!(kinds.contains(&"commandExecution".to_string()), "{kinds:?}");
}

async fn a_killed_recorder_leaves_every_acknowledged_event_once(target: Target) {
    let env = CodexTestEnv::start(Scenario::new([
        Reply::text("first"),
        Reply::stall(["partial ", "answer"]),
    ]))
    .await
    .unwrap();
    let mut proc = child(&env, &target, "alice", &["crash", "c1"])
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(proc.stdout.take().unwrap()).lines();
    let mut acked = Vec::new();
    let mut first_turn = None;
    let read = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let v: Value = serde_json::from_str(&line).unwrap();
            if let Some(out) = v.get("output") {
                first_turn = out["turn_id"].as_str().map(str::to_string);
            }
            if let Some(seqs) = v.get("ack") {
                acked.extend(seqs.as_array().unwrap().iter().map(|s| s.as_i64().unwrap()));
                // The second turn started and its start is stored: kill mid-turn.
                if first_turn.is_some() && !seqs.as_array().unwrap().is_empty() {
                    return;
                }
            }
        }
        panic!("the child ended before the second turn started");
    };
    tokio::time::timeout(Duration::from_secs(120), read)
        .await
        .expect("the child got to the second turn");
    env.mock
        .wait_for_stall(Duration::from_secs(60))
        .await
        .unwrap();
    proc.start_kill().unwrap(); // SIGKILL
    let status = proc.wait().await.unwrap();
    assert!(!status.success());
    env.kill_leftover_processes();
    env.mock.release_stall();

    let store = target.open().await;
    let s = scope("alice");
    let seqs = assert_gap_free(store.as_ref(), &s, "c1").await;
    let stored: HashSet<i64> = seqs.iter().copied().collect();
    assert_eq!(stored.len(), seqs.len(), "no event twice");
    for seq in &acked {
        assert!(stored.contains(seq), "acknowledged event {seq} is stored");
    }
    let turns = store.read_turns(&s, "c1").await.unwrap();
    assert_eq!(turns.len(), 2);
    assert_eq!(turns[0].status, TurnStatus::Completed);
    assert_eq!(
        turns[1].status,
        TurnStatus::InProgress,
        "cut short, not yet recovered"
    );

    // Another instance may not resume it while the dead child's ownership lease lasts
    // (review M10): nothing is abandoned.
    let client = Client::connect(env.client_config()).await.unwrap();
    let open = || OpenConversation::Resume {
        conversation_id: "c1".into(),
        config: env.session_config(),
    };
    let lease = store
        .session_lease(&s, "c1")
        .await
        .unwrap()
        .expect("the child's lease");
    assert_eq!(lease.owner, "persistence-child");
    // (Checked while the 30 s lease surely lasts; a very slow machine skips the check.)
    if lease.expires_at > codex_runtime::persistence::now_millis() + 5_000 {
        let other = Conversations::new(Arc::clone(&store), client.clone());
        let err = other.open_conversation(&s, open()).await.unwrap_err();
        assert!(
            matches!(&err, PersistenceError::SessionElsewhere { owner, .. } if owner == "persistence-child"),
            "{err}"
        );
        assert_eq!(
            store.read_turns(&s, "c1").await.unwrap()[1].status,
            TurnStatus::InProgress
        );
    }

    // Resuming the conversation (the child's restart: its instance id) marks the interrupted
    // turn.
    let control = Conversations::new(Arc::clone(&store), client.clone())
        .with_owner("persistence-child")
        .unwrap();
    let opened = control.open_conversation(&s, open()).await.unwrap();
    assert_eq!(opened.abandoned_turns, vec![turns[1].turn_id.clone()]);
    let turns = store.read_turns(&s, "c1").await.unwrap();
    assert_eq!(turns[1].status, TurnStatus::Abandoned);
    let last = store
        .read_events(&s, "c1", 0, 1000)
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert!(matches!(
        last.record,
        Record::TurnCompleted {
            status: TurnStatus::Abandoned,
            ..
        }
    ));
    assert_gap_free(store.as_ref(), &s, "c1").await;
    opened.session.close().await.unwrap();
    client.shutdown().await.unwrap();
    env.assert_no_leftover_processes().await;
}

const IMPORT_TURNS: usize = 50;

async fn a_fifty_turn_thread_imports_resumes_and_verifies(target: Target) {
    let env = CodexTestEnv::start(Scenario::empty().with_fallback(Reply::text("imported answer")))
        .await
        .unwrap();
    let client = Client::connect(env.client_config()).await.unwrap();
    let session = client.start_session(env.session_config()).await.unwrap();
    for i in 0..IMPORT_TURNS {
        session.ask(format!("turn {i}")).await.unwrap();
    }
    let thread = session.read().await.unwrap().thread;
    assert_eq!(thread.turns.len(), IMPORT_TURNS);
    let expected_items: usize = thread.turns.iter().map(|t| t.items.len()).sum();

    let s = scope("alice");
    let store = target.open().await;
    // A short lease, so the "restarted" runner below may take the job over soon.
    let jobs = Jobs::new(Arc::clone(&store))
        .with_client(client.clone())
        .with_lease(Duration::from_secs(1))
        .unwrap();
    let job = jobs
        .import_thread(&s, session.thread_id(), "imported")
        .await
        .unwrap();
    assert_eq!(job.state, JobState::Queued);

    // Run it, and stop it (drop the future) part way: the job stays `running`.
    let runner = {
        let (jobs, id, s) = (jobs.clone(), job.job_id.clone(), s.clone());
        tokio::spawn(async move { jobs.run_now(&s, &id).await })
    };
    let part_way = async {
        loop {
            let j = jobs.status(&s, &job.job_id).await.unwrap();
            if j.progress.done >= 5 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(120), part_way)
        .await
        .expect("progress");
    runner.abort();
    let _ = runner.await;
    let stopped = jobs.status(&s, &job.job_id).await.unwrap();
    assert_eq!(stopped.state, JobState::Running, "{stopped:?}");
    assert!(stopped.progress.done < IMPORT_TURNS as i64);
    assert_eq!(stopped.lease_owner.as_deref(), Some(jobs.owner()));
    // The stopped runner's claim holds until its lease ends.
    let lease_end = stopped.lease_expires_at.expect("a claimed job has a lease");
    while codex_runtime::persistence::now_millis() <= lease_end {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A restart (a new store handle and runner) continues it to `synced`.
    drop(jobs);
    let store = target.open().await;
    let jobs = Jobs::new(Arc::clone(&store)).with_client(client.clone());
    let ran = jobs.run_due().await.unwrap();
    let done = ran
        .iter()
        .find(|j| j.job_id == job.job_id)
        .expect("the job ran again");
    assert_eq!(done.state, JobState::Synced, "{done:?}");
    assert_eq!(done.progress.done, IMPORT_TURNS as i64);
    assert_eq!(done.progress.verified_items, expected_items as i64);

    let turns = store.read_turns(&s, "imported").await.unwrap();
    assert_eq!(turns.len(), IMPORT_TURNS);
    assert!(turns.iter().all(|t| t.status == TurnStatus::Completed));
    let items = store
        .read_items(&s, "imported", 0, 1000)
        .await
        .unwrap()
        .items;
    assert_eq!(items.len(), expected_items, "every item once");
    for (turn, stored) in thread.turns.iter().zip(&turns) {
        assert_eq!(turn.id, stored.turn_id, "turns in order");
    }
    let c = store.conversation(&s, "imported").await.unwrap().unwrap();
    assert_eq!(c.thread_id.as_deref(), Some(session.thread_id()));
    assert_gap_free(store.as_ref(), &s, "imported").await;

    // Importing again is idempotent: synced, nothing added.
    let again = jobs
        .import_thread(&s, session.thread_id(), "imported")
        .await
        .unwrap();
    let again = jobs.run_now(&s, &again.job_id).await.unwrap();
    assert_eq!(again.state, JobState::Synced);
    assert_eq!(
        store
            .conversation(&s, "imported")
            .await
            .unwrap()
            .unwrap()
            .last_seq,
        c.last_seq
    );

    session.close().await.unwrap();
    client.shutdown().await.unwrap();
    env.assert_no_leftover_processes().await;
}

macro_rules! e2e {
    ($backend:ident, $target:path) => {
        mod $backend {
            use super::*;

            #[tokio::test]
            async fn recorded_sessions_read_back_after_the_process_exits() {
                super::recorded_sessions_read_back_after_the_process_exits(
                    $target("readback").await,
                )
                .await;
            }
            #[tokio::test]
            async fn a_killed_recorder_leaves_every_acknowledged_event_once() {
                super::a_killed_recorder_leaves_every_acknowledged_event_once(
                    $target("crash").await,
                )
                .await;
            }
            #[tokio::test]
            async fn a_fifty_turn_thread_imports_resumes_and_verifies() {
                super::a_fifty_turn_thread_imports_resumes_and_verifies($target("import").await)
                    .await;
            }
        }
    };
}

e2e!(sqlite, persistence_common::sqlite_target);
e2e!(postgres, persistence_common::postgres_target);

#[tokio::test]
async fn two_processes_record_two_sessions_each_into_one_postgres() {
    const TURNS: usize = 6;
    let env = CodexTestEnv::start(Scenario::empty().with_fallback(Reply::text("shared answer")))
        .await
        .unwrap();
    let target = persistence_common::postgres_target("two_procs").await;
    // Both processes start (and migrate) at once.
    let turns = TURNS.to_string();
    let (args_a, args_b) = (
        ["record", turns.as_str(), "a1", "a2"],
        ["record", turns.as_str(), "b1", "b2"],
    );
    let (a, b) = tokio::join!(
        run_child(&env, &target, "alice", &args_a),
        run_child(&env, &target, "alice", &args_b),
    );
    env.assert_no_leftover_processes().await;
    let store = target.open().await;
    let s = scope("alice");
    let outputs: Vec<&Value> = a.iter().chain(&b).filter_map(|l| l.get("output")).collect();
    assert_eq!(outputs.len(), 4 * TURNS);
    for out in &outputs {
        assert_output_stored(store.as_ref(), &s, out).await;
    }
    for c in ["a1", "a2", "b1", "b2"] {
        let seqs = assert_gap_free(store.as_ref(), &s, c).await;
        let turns = store.read_turns(&s, c).await.unwrap();
        assert_eq!(turns.len(), TURNS, "{c}: every turn once");
        let items = store.read_items(&s, c, 0, 1000).await.unwrap().items;
        let ids: HashSet<_> = items.iter().map(|i| i.item_id.clone()).collect();
        assert_eq!(ids.len(), items.len(), "{c}: no item twice");
        // turn_started + items + turn_completed per turn, nothing else, nothing twice.
        assert_eq!(seqs.len(), TURNS * 2 + items.len(), "{c}");
    }
}
