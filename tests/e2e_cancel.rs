//! Cancel safety on the real codex + the mock model: what happens to a turn whose `ask`,
//! `ask_stream` or `Workflow::run` future is dropped mid-flight (see the GUIDE's "Cancel
//! safety" section; every promise there is one of these tests).

use codex_mock_model::{Reply, Scenario};
use codex_runtime::automation::{
    spawn_with, AutomationOptions, AutomationSpec, AutomationState, Backoff, ErrorPolicy,
};
use codex_runtime::plugin::{HookAction, HookContext, HookFuture, HookIssue, HookPhase, PostHook};
use codex_runtime::rpc::Subscription;
use codex_runtime::runtime::{
    Client, ServerNotification, Session, TurnEvent, TurnOverrides, TurnStatus,
};
use codex_runtime::{Workflow, WorkflowConfig};
use codex_test_support::CodexTestEnv;
use futures::StreamExt;
use std::future::Future;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

async fn env(replies: impl IntoIterator<Item = Reply>) -> CodexTestEnv {
    CodexTestEnv::start(Scenario::new(replies)).await.unwrap()
}

/// Polls `fut` until the mock holds a stalled stream, then drops it: the caller gave up.
async fn drop_once_stalled<F: Future>(env: &CodexTestEnv, fut: F) {
    tokio::pin!(fut);
    tokio::select! {
        _ = &mut fut => panic!("the stalled turn ended before it was dropped"),
        held = env.mock.wait_for_stall(WAIT) => held.unwrap(),
    }
}

/// The id of the next `turn/started` on `sub`.
async fn next_turn_started(sub: &mut Subscription) -> String {
    loop {
        let ev = tokio::time::timeout(WAIT, sub.recv())
            .await
            .expect("turn/started in time")
            .expect("subscription open");
        if let ServerNotification::TurnStarted(n) = ev.notification() {
            return n.turn.id.clone();
        }
    }
}

/// Waits for `turn/completed` of `turn_id` and returns its status.
async fn completion_of(sub: &mut Subscription, turn_id: &str) -> TurnStatus {
    loop {
        let ev = tokio::time::timeout(WAIT, sub.recv())
            .await
            .expect("turn/completed in time")
            .expect("subscription open");
        if let ServerNotification::TurnCompleted(n) = ev.notification() {
            if n.turn.id == turn_id {
                return n.turn.status.clone();
            }
        }
    }
}

/// After the dropped turn: interrupt it, check codex ended exactly that turn and closed the
/// model stream, then check the next `ask` runs a turn of its own.
async fn interrupt_and_ask_again(env: &CodexTestEnv, session: &Session, sub: &mut Subscription) {
    let first = next_turn_started(sub).await;
    tokio::time::timeout(WAIT, session.interrupt())
        .await
        .expect("interrupt returns")
        .unwrap();
    assert_eq!(completion_of(sub, &first).await, TurnStatus::Interrupted);
    env.mock
        .wait_for_streams_closed_by_client(1, WAIT)
        .await
        .expect("codex closed the stalled model stream");

    let next = tokio::time::timeout(WAIT, session.ask("a new question"))
        .await
        .expect("the next ask ends")
        .unwrap();
    assert_eq!(next.assistant_text, "its own answer");
    assert_eq!(next.status, TurnStatus::Completed);
    assert_ne!(next.turn_id, first, "the next ask must start a new turn");
    let bodies = env.mock.response_requests();
    let last = bodies.last().unwrap()["input"].to_string();
    assert!(last.contains("a new question"), "{last}");
}

#[tokio::test]
async fn after_a_dropped_ask_interrupt_ends_the_turn_and_the_next_ask_gets_its_own() {
    let env = env([Reply::stall(["partial "]), Reply::text("its own answer")]).await;
    let client = Client::connect(env.client_config()).await.unwrap();
    let session = client.start_session(env.session_config()).await.unwrap();
    let mut sub = client.runtime().subscribe_thread(session.thread_id());

    drop_once_stalled(&env, session.ask("stall please")).await;
    interrupt_and_ask_again(&env, &session, &mut sub).await;

    client.shutdown().await.unwrap();
    env.assert_no_leftover_processes().await;
}

#[tokio::test]
async fn a_timed_out_ask_keeps_its_turn_tracked_for_interrupt() {
    let env = env([Reply::stall(["partial "]), Reply::text("its own answer")]).await;
    let client = Client::connect(env.client_config()).await.unwrap();
    let session = client.start_session(env.session_config()).await.unwrap();
    let mut sub = client.runtime().subscribe_thread(session.thread_id());

    let timed_out = tokio::time::timeout(Duration::from_secs(3), session.ask("stall please")).await;
    assert!(timed_out.is_err(), "the stalled ask must time out");
    env.mock.wait_for_stall(WAIT).await.unwrap();
    interrupt_and_ask_again(&env, &session, &mut sub).await;

    client.shutdown().await.unwrap();
}

#[tokio::test]
async fn after_a_dropped_ask_stream_interrupt_ends_the_turn_and_the_next_ask_gets_its_own() {
    let env = env([Reply::stall(["partial "]), Reply::text("its own answer")]).await;
    let client = Client::connect(env.client_config()).await.unwrap();
    let session = client.start_session(env.session_config()).await.unwrap();
    let mut sub = client.runtime().subscribe_thread(session.thread_id());

    let mut stream = Box::pin(session.ask_stream("stall please"));
    loop {
        let ev = tokio::time::timeout(WAIT, stream.next())
            .await
            .expect("an event")
            .expect("the stream is open")
            .unwrap();
        if matches!(ev, TurnEvent::AgentMessageDelta { .. }) {
            break;
        }
    }
    env.mock.wait_for_stall(WAIT).await.unwrap();
    drop(stream);
    interrupt_and_ask_again(&env, &session, &mut sub).await;

    client.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_dropped_ask_still_gets_its_deadline_and_the_next_ask_waits_for_it() {
    let env = env([Reply::stall(["partial "]), Reply::text("its own answer")]).await;
    let client = Client::connect(env.client_config()).await.unwrap();
    let session = client.start_session(env.session_config()).await.unwrap();
    let mut sub = client.runtime().subscribe_thread(session.thread_id());

    let short = TurnOverrides::new().with_timeout(Duration::from_secs(4));
    drop_once_stalled(&env, session.ask_with("stall please", short)).await;
    let first = next_turn_started(&mut sub).await;

    // No interrupt: the next ask queues behind the dropped turn, which its own deadline ends.
    let next = tokio::time::timeout(WAIT, session.ask("a new question"))
        .await
        .expect("the next ask ends")
        .unwrap();
    assert_eq!(
        completion_of(&mut sub, &first).await,
        TurnStatus::Interrupted
    );
    assert_eq!(next.assistant_text, "its own answer");
    assert_ne!(next.turn_id, first);
    assert!(env.mock.streams_closed_by_client() >= 1);

    client.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_dropped_workflow_run_is_interrupted_at_its_timeout() {
    let env = env([Reply::stall(["partial "])]).await;
    let wf = Workflow::connect(
        WorkflowConfig::new(env.workdir())
            .with_client_config(env.client_config())
            .with_timeout(Duration::from_secs(4)),
    )
    .await
    .unwrap();
    drop_once_stalled(&env, wf.run("stall please")).await;
    env.mock
        .wait_for_streams_closed_by_client(1, WAIT)
        .await
        .expect("the turn's deadline interrupted it and codex closed the model stream");
    wf.shutdown().await.unwrap();
    env.assert_no_leftover_processes().await;
}

#[tokio::test]
async fn an_ask_dropped_while_waiting_for_the_previous_turn_starts_nothing() {
    let env = env([Reply::stall(["partial "]), Reply::text("its own answer")]).await;
    let client = Client::connect(env.client_config()).await.unwrap();
    let session = client.start_session(env.session_config()).await.unwrap();
    let first = {
        let s = session.clone();
        tokio::spawn(async move { s.ask("stall please").await })
    };
    env.mock.wait_for_stall(WAIT).await.unwrap();
    // Both wait behind the stalled turn and are dropped there.
    let waiting = tokio::time::timeout(Duration::from_millis(500), session.ask("never sent")).await;
    assert!(
        waiting.is_err(),
        "the second ask must wait for the first turn"
    );
    drop(session.ask_stream("never sent either"));

    session.interrupt().await.unwrap();
    let first = first.await.unwrap().unwrap();
    assert_eq!(first.status, TurnStatus::Interrupted);
    let next = tokio::time::timeout(WAIT, session.ask("a new question"))
        .await
        .expect("the next ask ends")
        .unwrap();
    assert_eq!(next.assistant_text, "its own answer");
    let bodies = env.mock.response_requests();
    assert_eq!(
        bodies.len(),
        2,
        "only the stalled turn and the new one reached the model"
    );
    assert!(!bodies[1]["input"].to_string().contains("never sent"));
    client.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_automation_run_past_its_timeout_is_interrupted_and_the_next_run_has_its_own_turn() {
    let env = env([Reply::stall(["working "]), Reply::text("run two done")]).await;
    let client = Client::connect(env.client_config()).await.unwrap();
    let session = client.start_session(env.session_config()).await.unwrap();
    let handle = spawn_with(
        session,
        AutomationSpec {
            prompt: "the scheduled job".to_string(),
            start_at: None,
            every: Duration::from_millis(200),
            stop_at: None,
            max_runs: Some(2),
        },
        AutomationOptions::new()
            .run_timeout(Duration::from_secs(3))
            .error_policy(ErrorPolicy::Continue {
                backoff: Backoff::exponential(
                    Duration::from_millis(100),
                    Duration::from_millis(100),
                ),
                max_consecutive_failures: 3,
            }),
    );
    let status = tokio::time::timeout(WAIT, handle.wait())
        .await
        .expect("the automation finished");
    assert_eq!(status.state, AutomationState::Finished, "{status:?}");
    let last = status.last_outcome.expect("an outcome");
    assert_eq!(last.assistant_text, "run two done");
    assert!(
        env.mock.streams_closed_by_client() >= 1,
        "the timed-out turn was interrupted"
    );
    assert_eq!(env.mock.response_requests().len(), 2);
    client.shutdown().await.unwrap();
}

/// Blocks at the first completed tool.
struct BlockTools;

impl PostHook for BlockTools {
    fn name(&self) -> &'static str {
        "block-tools"
    }
    fn call<'a>(&'a self, ctx: &'a HookContext) -> HookFuture<'a, Result<HookAction, HookIssue>> {
        Box::pin(async move {
            if ctx.phase == HookPhase::PostToolUse {
                return Ok(HookAction::Block("no more tools".into()));
            }
            Ok(HookAction::Noop)
        })
    }
}

#[tokio::test]
async fn a_post_tool_use_block_ends_the_turn_before_ask_returns_and_the_next_ask_has_its_own() {
    // Echo answers with the last user text, whichever request it serves: after the block,
    // codex may or may not have asked the model to go on before the interrupt landed.
    let env = env([
        Reply::shell("echo tool-ran"),
        Reply::echo("echo: "),
        Reply::echo("echo: "),
    ])
    .await;
    let client = Client::connect(env.client_config()).await.unwrap();
    let session = client
        .start_session(env.session_config().with_post_hook(BlockTools))
        .await
        .unwrap();
    let mut sub = client.runtime().subscribe_thread(session.thread_id());
    let err = session.ask("run a tool").await.unwrap_err();
    assert!(
        matches!(err, codex_runtime::Error::HookBlocked { .. }),
        "{err}"
    );
    let blocked = next_turn_started(&mut sub).await;
    // The blocked turn has already completed when `ask` returns.
    let mut completed = None;
    while let Some(Ok(ev)) = sub.try_recv() {
        if let ServerNotification::TurnCompleted(n) = ev.notification() {
            completed = Some((n.turn.id.clone(), n.turn.status.clone()));
        }
    }
    assert_eq!(completed, Some((blocked.clone(), TurnStatus::Interrupted)));
    let next = tokio::time::timeout(WAIT, session.ask("the next question"))
        .await
        .expect("the next ask ends")
        .unwrap();
    assert_eq!(next.assistant_text, "echo: the next question");
    assert_ne!(next.turn_id, blocked);
    client.shutdown().await.unwrap();
}
