//! Layers 2 and 3 end to end on the real codex 0.169.0 + the mock model: sessions, streaming,
//! typed output, interrupt, approvals, hooks and concurrency.

use codex_mock_model::{Reply, Scenario};
use codex_runtime::plugin::{
    HookAction, HookContext, HookFuture, HookIssue, HookIssueKind, HookPhase, PostHook, PreHook,
};
use codex_runtime::rpc::TimeoutAction;
use codex_runtime::runtime::{
    strict_output_schema, ApprovalDecision, ApprovalMode, Approvals, Client, Sandbox,
    SessionConfig, ThreadItem, TurnEvent, TurnOverrides, TurnStatus,
};
use codex_runtime::{Error, Workflow, WorkflowConfig};
use codex_test_support::CodexTestEnv;
use futures::StreamExt;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

async fn env(replies: impl IntoIterator<Item = Reply>) -> CodexTestEnv {
    CodexTestEnv::start(Scenario::new(replies)).await.unwrap()
}

fn user_texts(body: &serde_json::Value) -> String {
    body["input"].to_string()
}

#[tokio::test]
async fn a_session_asks_twice_and_the_second_request_holds_the_first_exchange() {
    let env = env([Reply::text("first answer"), Reply::text("second answer")]).await;
    let client = Client::connect(env.client_config()).await.unwrap();
    let session = client.start_session(env.session_config()).await.unwrap();
    let one = session.ask("first question").await.unwrap();
    assert_eq!(one.assistant_text, "first answer");
    assert_eq!(one.status, TurnStatus::Completed);
    assert_eq!(one.thread_id, session.thread_id());
    assert!(one.usage.is_some(), "token usage is reported");
    assert!(one
        .items
        .iter()
        .any(|i| matches!(i, ThreadItem::AgentMessage(_))));
    let two = session.ask("second question").await.unwrap();
    assert_eq!(two.assistant_text, "second answer");
    assert_ne!(one.turn_id, two.turn_id);
    let bodies = env.mock.response_requests();
    assert_eq!(bodies.len(), 2);
    let second = user_texts(&bodies[1]);
    assert!(
        second.contains("first question") && second.contains("first answer"),
        "{second}"
    );
    assert!(second.contains("second question"));
    // The safe defaults reached codex: effort medium.
    assert_eq!(
        bodies[0]["reasoning"]["effort"], "medium",
        "{}",
        bodies[0]["reasoning"]
    );
    session.close().await.unwrap();
    session.close().await.unwrap(); // idempotent
    assert!(matches!(session.ask("again").await, Err(Error::Config(_))));
    client.shutdown().await.unwrap();
    env.assert_no_leftover_processes().await;
}

#[tokio::test]
async fn ask_stream_yields_the_deltas_in_order_and_they_make_the_final_text() {
    let env = env([Reply::deltas(["Hel", "lo, ", "stream", "ing ", "world"])]).await;
    let client = Client::connect(env.client_config()).await.unwrap();
    let session = client.start_session(env.session_config()).await.unwrap();
    let mut stream = Box::pin(session.ask_stream("stream please"));
    let mut deltas = Vec::new();
    let mut saw_started = false;
    let mut final_output = None;
    while let Some(ev) = stream.next().await {
        match ev.unwrap() {
            TurnEvent::Started { .. } => saw_started = true,
            TurnEvent::AgentMessageDelta { delta, .. } => deltas.push(delta),
            TurnEvent::Completed(out) => final_output = Some(out),
            _ => {}
        }
    }
    let out = final_output.expect("the stream ends with the outcome");
    assert!(saw_started);
    assert_eq!(deltas, ["Hel", "lo, ", "stream", "ing ", "world"]);
    assert_eq!(deltas.concat(), out.assistant_text);
    client.shutdown().await.unwrap();
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema, PartialEq)]
struct City {
    name: String,
    population: u32,
    nickname: Option<String>,
}

#[tokio::test]
async fn ask_typed_sends_the_schema_and_parses_the_answer() {
    let env = env([
        Reply::json(json!({"name": "Paris", "population": 2100000, "nickname": null})),
        Reply::text("this is not JSON"),
    ])
    .await;
    let client = Client::connect(env.client_config()).await.unwrap();
    let session = client.start_session(env.session_config()).await.unwrap();
    let city: City = session.ask_typed("Largest city of France?").await.unwrap();
    assert_eq!(
        city,
        City {
            name: "Paris".into(),
            population: 2100000,
            nickname: None
        }
    );
    let body = &env.mock.response_requests()[0];
    let format = &body["text"]["format"];
    assert_eq!(format["type"], "json_schema", "{format}");
    assert_eq!(
        format["schema"],
        strict_output_schema::<City>(),
        "the mock saw the derived schema"
    );
    match session.ask_typed::<City>("again").await {
        Err(Error::OutputParse { raw, type_name, .. }) => {
            assert_eq!(raw, "this is not JSON");
            assert!(type_name.contains("City"));
        }
        other => panic!("expected OutputParse, got {other:?}"),
    }
    client.shutdown().await.unwrap();
}

#[tokio::test]
async fn interrupt_on_a_stalled_turn_returns_interrupted() {
    let env = env([Reply::stall(["partial "])]).await;
    let client = Client::connect(env.client_config()).await.unwrap();
    let session = client.start_session(env.session_config()).await.unwrap();
    let asking = {
        let s = session.clone();
        tokio::spawn(async move { s.ask("stall").await })
    };
    env.mock
        .wait_for_stall(Duration::from_secs(20))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(20), session.interrupt())
        .await
        .expect("interrupt returns")
        .unwrap();
    let out = asking.await.unwrap().unwrap();
    assert_eq!(out.status, TurnStatus::Interrupted);
    client.shutdown().await.unwrap();
    env.assert_no_leftover_processes().await;
}

#[tokio::test]
async fn a_turn_past_its_timeout_is_interrupted_and_reported() {
    let env = env([Reply::stall(["slow "])]).await;
    let client = Client::connect(env.client_config()).await.unwrap();
    let session = client.start_session(env.session_config()).await.unwrap();
    let err = session
        .ask_with(
            "stall",
            TurnOverrides::new().with_timeout(Duration::from_millis(800)),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TurnTimeout { .. }), "{err}");
    client.shutdown().await.unwrap();
}

fn approval_env_scenario() -> Vec<Reply> {
    vec![
        Reply::shell("touch made_by_shell.txt"),
        Reply::apply_patch("*** Add File: patched.txt\n+patched by codex\n"),
        Reply::text("done"),
    ]
}

fn untrusted(env: &CodexTestEnv) -> SessionConfig {
    env.session_config()
        .with_approval(ApprovalMode::Untrusted)
        .with_sandbox(Sandbox::WorkspaceWrite)
}

#[tokio::test]
async fn an_accepting_handler_gets_the_command_run_and_the_patch_written() {
    let env = env(approval_env_scenario()).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (s1, s2) = (seen.clone(), seen.clone());
    let approvals = Approvals::new()
        .on_command(move |req| {
            s1.lock()
                .unwrap()
                .push(format!("command:{}", req.command.unwrap_or_default()));
            async { ApprovalDecision::Accept }
        })
        .on_file_change(move |_req| {
            s2.lock().unwrap().push("file".to_string());
            async { ApprovalDecision::Accept }
        });
    let client = Client::connect(env.client_config()).await.unwrap();
    let session = client
        .start_session(untrusted(&env).with_approval_handler(approvals))
        .await
        .unwrap();
    let out = session.ask("make files").await.unwrap();
    assert_eq!(out.assistant_text, "done");
    assert!(
        env.workdir().join("made_by_shell.txt").exists(),
        "the command ran"
    );
    assert_eq!(
        std::fs::read_to_string(env.workdir().join("patched.txt"))
            .unwrap()
            .trim(),
        "patched by codex"
    );
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|s| s.starts_with("command:") && s.contains("made_by_shell")),
        "{seen:?}"
    );
    assert!(seen.contains(&"file".to_string()), "{seen:?}");
    assert!(out
        .items
        .iter()
        .any(|i| matches!(i, ThreadItem::CommandExecution(_))));
    assert!(out
        .items
        .iter()
        .any(|i| matches!(i, ThreadItem::FileChange(_))));
    client.shutdown().await.unwrap();
    env.assert_no_leftover_processes().await;
}

#[tokio::test]
async fn with_no_handler_both_are_declined_and_no_file_appears() {
    let env = env(approval_env_scenario()).await;
    let client = Client::connect(env.client_config()).await.unwrap();
    let session = client.start_session(untrusted(&env)).await.unwrap();
    let out = session.ask("make files").await.unwrap();
    assert_eq!(out.assistant_text, "done");
    assert!(!env.workdir().join("made_by_shell.txt").exists());
    assert!(!env.workdir().join("patched.txt").exists());
    let declined = out
        .items
        .iter()
        .filter(|i| match i {
            ThreadItem::CommandExecution(c) => c.status.as_str() == "declined",
            ThreadItem::FileChange(f) => f.status.as_str() == "declined",
            _ => false,
        })
        .count();
    assert_eq!(declined, 2, "{:#?}", out.items);
    client.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_handler_slower_than_its_timeout_gets_the_timeout_action() {
    let env = env(approval_env_scenario()).await;
    let slow = Approvals::new()
        .on_command(|_| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            ApprovalDecision::Accept
        })
        .on_file_change(|_| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            ApprovalDecision::Accept
        });
    let client = Client::connect(env.client_config()).await.unwrap();
    let session = client
        .start_session(
            untrusted(&env)
                .with_approval_handler(slow)
                .with_approval_timeout(Duration::from_millis(300), TimeoutAction::Decline),
        )
        .await
        .unwrap();
    let out = tokio::time::timeout(Duration::from_secs(20), session.ask("make files"))
        .await
        .expect("a slow handler must not hang the turn")
        .unwrap();
    assert!(!env.workdir().join("made_by_shell.txt").exists());
    assert!(!env.workdir().join("patched.txt").exists());
    assert_eq!(out.status, TurnStatus::Completed);
    client.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_escalation_request_is_declined_unless_privileged_escalation_is_allowed() {
    let env = env([
        Reply::shell_escalated("touch escalated.txt", "need to write outside"),
        Reply::text("ok"),
    ])
    .await;
    let client = Client::connect(env.client_config()).await.unwrap();
    let session = client
        .start_session(
            env.session_config()
                .with_approval(ApprovalMode::OnRequest)
                .with_approval_handler(Approvals::accept_all()),
        )
        .await
        .unwrap();
    session.ask("escalate").await.unwrap();
    assert!(!env.workdir().join("escalated.txt").exists());
    client.shutdown().await.unwrap();

    // The same request with escalation allowed reaches the handler, which accepts it.
    let env = CodexTestEnv::start(Scenario::new([
        Reply::shell_escalated("touch escalated.txt", "need to write outside"),
        Reply::text("ok"),
    ]))
    .await
    .unwrap();
    let client = Client::connect(env.client_config()).await.unwrap();
    let session = client
        .start_session(
            env.session_config()
                .with_approval(ApprovalMode::OnRequest)
                .allow_privileged_escalation()
                .with_approval_handler(Approvals::accept_all()),
        )
        .await
        .unwrap();
    session.ask("escalate").await.unwrap();
    assert!(env.workdir().join("escalated.txt").exists());
    client.shutdown().await.unwrap();
}

type ToolResults = Arc<Mutex<Vec<(Option<i32>, Option<String>)>>>;

/// Records every phase it sees.
#[derive(Clone)]
struct Recorder {
    phases: Arc<Mutex<Vec<HookPhase>>>,
    tool_results: ToolResults,
    block_tools: bool,
}

impl PreHook for Recorder {
    fn name(&self) -> &'static str {
        "recorder"
    }
    fn call<'a>(&'a self, ctx: &'a HookContext) -> HookFuture<'a, Result<HookAction, HookIssue>> {
        Box::pin(async move {
            self.phases.lock().unwrap().push(ctx.phase);
            if self.block_tools && ctx.phase == HookPhase::PreToolUse {
                return Ok(HookAction::Block("no tools today".into()));
            }
            Ok(HookAction::Noop)
        })
    }
}

impl PostHook for Recorder {
    fn name(&self) -> &'static str {
        "recorder"
    }
    fn call<'a>(&'a self, ctx: &'a HookContext) -> HookFuture<'a, Result<HookAction, HookIssue>> {
        Box::pin(async move {
            self.phases.lock().unwrap().push(ctx.phase);
            if let Some(r) = &ctx.tool_result {
                self.tool_results
                    .lock()
                    .unwrap()
                    .push((r.exit_code, r.output.clone()));
            }
            Ok(HookAction::Noop)
        })
    }
}

fn recorder(block_tools: bool) -> Recorder {
    Recorder {
        phases: Arc::new(Mutex::new(Vec::new())),
        tool_results: Arc::new(Mutex::new(Vec::new())),
        block_tools,
    }
}

fn workflow_config(env: &CodexTestEnv) -> WorkflowConfig {
    WorkflowConfig::new(env.workdir())
        .with_client_config(env.client_config())
        .with_approval(ApprovalMode::Untrusted)
        .with_sandbox(Sandbox::WorkspaceWrite)
        // Accepts every command and patch. An explicit `on_command` closure: `accept_all()`
        // gets no command approval under `untrusted` (tests/e2e_escalation.rs).
        .with_approval_handler(
            Approvals::new()
                .on_command(|_| async { ApprovalDecision::Accept })
                .on_file_change(|_| async { ApprovalDecision::Accept }),
        )
}

#[tokio::test]
async fn every_hook_phase_fires_in_order_on_a_tool_using_run() {
    let env = env([
        Reply::shell("touch hook_ran.txt && echo hooked-output"),
        Reply::text("done"),
    ])
    .await;
    let rec = recorder(false);
    let wf = Workflow::connect(
        workflow_config(&env)
            .with_global_pre_hook(rec.clone())
            .with_global_post_hook(rec.clone()),
    )
    .await
    .unwrap();
    let out = wf.run("use a tool").await.unwrap();
    assert_eq!(out.assistant_text, "done");
    assert!(env.workdir().join("hook_ran.txt").exists());
    use HookPhase::*;
    assert_eq!(
        *rec.phases.lock().unwrap(),
        vec![
            PreRun,
            PreSessionStart,
            PostSessionStart,
            PreTurn,
            PreToolUse,
            PostToolUse,
            PostTurn,
            PostRun
        ]
    );
    let results = rec.tool_results.lock().unwrap().clone();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].0, Some(0), "PostToolUse sees the exit code");
    // PostToolUse sees the output codex reported for the command: its `aggregatedOutput`, or
    // else what it streamed as output deltas. Now and then (about 1 run in 10 under load) codex
    // 0.171 completes this command with `aggregatedOutput: null` and no output delta at all;
    // then there is no output to see, and the hook must not invent one.
    let reported = out
        .items
        .iter()
        .find_map(|i| match i {
            ThreadItem::CommandExecution(c) => Some(c.aggregated_output.clone()),
            _ => None,
        })
        .expect("the run has the command item");
    match (&reported, &results[0].1) {
        (Some(text), seen) => {
            assert_eq!(
                seen.as_ref(),
                Some(text),
                "the hook saw what codex reported"
            );
            assert!(text.contains("hooked-output"), "{text:?}");
        }
        (None, Some(streamed)) => assert!(streamed.contains("hooked-output"), "{streamed:?}"),
        (None, None) => {
            eprintln!("codex reported no output for the command (aggregatedOutput null, no delta)")
        }
    }
    wf.shutdown().await.unwrap();
    env.assert_no_leftover_processes().await;
}

#[tokio::test]
async fn a_pre_tool_use_block_prevents_the_command() {
    let env = env([
        Reply::shell("touch must_not_exist.txt"),
        Reply::text("done"),
    ])
    .await;
    let rec = recorder(true);
    let wf = Workflow::connect(workflow_config(&env).with_global_pre_tool_use_hook(rec.clone()))
        .await
        .unwrap();
    let out = wf.run("try a tool").await.unwrap();
    assert!(!env.workdir().join("must_not_exist.txt").exists());
    assert_eq!(*rec.phases.lock().unwrap(), vec![HookPhase::PreToolUse]);
    assert!(out
        .items
        .iter()
        .any(|i| matches!(i, ThreadItem::CommandExecution(c) if c.status.as_str() == "declined")));
    wf.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_shell_hook_exiting_2_blocks_the_run() {
    let env = env([Reply::text("never asked")]).await;
    let wf = Workflow::connect(workflow_config(&env).with_shell_pre_hook([
        "sh",
        "-c",
        "cat >/dev/null; echo 'policy says no' >&2; exit 2",
    ]))
    .await
    .unwrap();
    match wf.run("anything").await {
        Err(Error::HookBlocked { reason, .. }) => {
            assert!(reason.contains("policy says no"), "{reason}")
        }
        other => panic!("expected HookBlocked, got {other:?}"),
    }
    assert!(
        env.mock.response_requests().is_empty(),
        "nothing reached the model"
    );
    wf.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_hanging_shell_hook_is_killed_at_its_timeout() {
    let env = env([Reply::text("still ran")]).await;
    let pids = env.workdir().join("hook.pids");
    let script = format!(
        "sleep 100 & echo $! >> {p}; echo $$ >> {p}; sleep 100",
        p = pids.display()
    );
    let wf = Workflow::connect(
        workflow_config(&env)
            .with_shell_pre_hook(["sh".to_string(), "-c".to_string(), script])
            .with_shell_pre_hook_timeout(Duration::from_millis(400)),
    )
    .await
    .unwrap();
    let out = wf.run("go").await.unwrap();
    assert_eq!(out.assistant_text, "still ran");
    assert!(
        out.hook_issues
            .iter()
            .any(|i| i.kind == HookIssueKind::TimedOut),
        "{:?}",
        out.hook_issues
    );
    let text = std::fs::read_to_string(&pids).unwrap();
    for pid in text.split_whitespace() {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let alive = !stat.is_empty()
            && !stat
                .rsplit_once(')')
                .map(|(_, r)| r.trim_start().starts_with('Z'))
                .unwrap_or(true);
        assert!(!alive, "hook process {pid} survived its timeout");
    }
    wf.shutdown().await.unwrap();
}

#[tokio::test]
async fn thirty_two_sessions_ask_twice_concurrently_on_one_client() {
    let env = CodexTestEnv::start(Scenario::empty().with_fallback(Reply::echo("echo: ")))
        .await
        .unwrap();
    let client = Client::connect(env.client_config()).await.unwrap();
    let runs = (0..32).map(|i| {
        let client = client.clone();
        let cfg = env.session_config();
        async move {
            let s = client.start_session(cfg).await.unwrap();
            let (a, b) = tokio::join!(s.ask(format!("s{i}-first")), async {
                // The second ask waits for the first (one turn at a time per session).
                tokio::task::yield_now().await;
                s.ask(format!("s{i}-second")).await
            });
            (i, a.unwrap(), b.unwrap())
        }
    });
    let results = tokio::time::timeout(Duration::from_secs(120), futures::future::join_all(runs))
        .await
        .expect("32 sessions finished");
    let mut threads = std::collections::HashSet::new();
    for (i, a, b) in results {
        assert_eq!(a.assistant_text, format!("echo: s{i}-first"));
        assert_eq!(b.assistant_text, format!("echo: s{i}-second"));
        assert_eq!(a.thread_id, b.thread_id);
        threads.insert(a.thread_id);
    }
    assert_eq!(threads.len(), 32);
    client.shutdown().await.unwrap();
    env.assert_no_leftover_processes().await;
}

#[tokio::test]
async fn fork_keeps_the_history_and_resume_continues_a_thread() {
    let env = env([
        Reply::text("A1"),
        Reply::text("fork answer"),
        Reply::text("resumed answer"),
    ])
    .await;
    let client = Client::connect(env.client_config()).await.unwrap();
    let s = client.start_session(env.session_config()).await.unwrap();
    s.ask("Q1").await.unwrap();
    let fork = client
        .fork_session(s.thread_id(), env.session_config())
        .await
        .unwrap();
    assert_ne!(fork.thread_id(), s.thread_id());
    assert_eq!(
        fork.ask("Q2 on fork").await.unwrap().assistant_text,
        "fork answer"
    );
    let body = env.mock.response_requests()[1].clone();
    assert!(user_texts(&body).contains("Q1") && user_texts(&body).contains("A1"));
    let threads = client.list_threads(Some(50)).await.unwrap();
    assert!(threads.iter().any(|t| t.id == s.thread_id()));
    client.shutdown().await.unwrap();

    // A new app-server: the thread must be resumed before a new turn.
    let client = Client::connect(env.client_config()).await.unwrap();
    let resumed = client
        .resume_session(s.thread_id(), env.session_config())
        .await
        .unwrap();
    assert_eq!(
        resumed.ask("Q3").await.unwrap().assistant_text,
        "resumed answer"
    );
    let body = env.mock.response_requests()[2].clone();
    assert!(user_texts(&body).contains("Q1"), "resumed history");
    client.shutdown().await.unwrap();
    env.assert_no_leftover_processes().await;
}

/// Rewrites the prompt and tags the turn at `PreTurn`; records what `PostTurn` sees.
struct Rewriter {
    seen_at_post: Arc<Mutex<Option<serde_json::Value>>>,
}

impl PreHook for Rewriter {
    fn name(&self) -> &'static str {
        "rewriter"
    }
    fn call<'a>(&'a self, ctx: &'a HookContext) -> HookFuture<'a, Result<HookAction, HookIssue>> {
        Box::pin(async move {
            if ctx.phase != HookPhase::PreTurn {
                return Ok(HookAction::Noop);
            }
            let original = ctx.prompt.clone().unwrap_or_default();
            Ok(HookAction::Mutate(
                codex_runtime::plugin::HookPatch::new()
                    .with_prompt(format!("{original} (ticket T-1)"))
                    .with_metadata("ticket", json!("T-1")),
            ))
        })
    }
}

impl PostHook for Rewriter {
    fn name(&self) -> &'static str {
        "rewriter"
    }
    fn call<'a>(&'a self, ctx: &'a HookContext) -> HookFuture<'a, Result<HookAction, HookIssue>> {
        Box::pin(async move {
            if ctx.phase == HookPhase::PostTurn {
                *self.seen_at_post.lock().unwrap() = ctx.metadata.get("ticket").cloned();
            }
            Ok(HookAction::Noop)
        })
    }
}

#[tokio::test]
async fn a_pre_turn_hook_rewrites_the_prompt_and_tags_the_turn() {
    let env = env([Reply::text("ok")]).await;
    let seen = Arc::new(Mutex::new(None));
    let client = Client::connect(env.client_config()).await.unwrap();
    let session = client
        .start_session(
            env.session_config()
                .with_pre_hook(Rewriter {
                    seen_at_post: seen.clone(),
                })
                .with_post_hook(Rewriter {
                    seen_at_post: seen.clone(),
                }),
        )
        .await
        .unwrap();
    let out = session.ask("fix the bug").await.unwrap();
    assert!(
        user_texts(&env.mock.response_requests()[0]).contains("fix the bug (ticket T-1)"),
        "the model got the rewritten prompt"
    );
    assert_eq!(out.metadata.get("ticket"), Some(&json!("T-1")));
    assert_eq!(*seen.lock().unwrap(), Some(json!("T-1")));
    client.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_slow_approval_handler_on_one_thread_delays_no_other_thread() {
    let env = env([
        Reply::shell("touch slow_thread.txt"),
        Reply::text("fast thread done"),
        Reply::text("slow thread done"),
    ])
    .await;
    let asked = Arc::new(tokio::sync::Notify::new());
    let release = Arc::new(tokio::sync::Notify::new());
    let (a, r) = (asked.clone(), release.clone());
    let slow = Approvals::new().on_command(move |_| {
        let (a, r) = (a.clone(), r.clone());
        async move {
            a.notify_one();
            r.notified().await;
            ApprovalDecision::Accept
        }
    });
    let client = Client::connect(env.client_config()).await.unwrap();
    let slow_session = client
        .start_session(untrusted(&env).with_approval_handler(slow))
        .await
        .unwrap();
    let fast_session = client.start_session(env.session_config()).await.unwrap();
    let slow_turn = tokio::spawn(async move { slow_session.ask("needs approval").await });
    tokio::time::timeout(Duration::from_secs(20), asked.notified())
        .await
        .expect("the slow handler was asked");
    // While that handler holds its answer, another thread's turn runs to completion.
    let fast = tokio::time::timeout(Duration::from_secs(20), fast_session.ask("quick one"))
        .await
        .expect("the fast thread was not delayed")
        .unwrap();
    assert_eq!(fast.assistant_text, "fast thread done");
    assert!(!slow_turn.is_finished());
    release.notify_one();
    let slow = slow_turn.await.unwrap().unwrap();
    assert_eq!(slow.assistant_text, "slow thread done");
    assert!(env.workdir().join("slow_thread.txt").exists());
    client.shutdown().await.unwrap();
}

/// Allows `exec_command` requests whose command starts with `touch`; no opinion otherwise.
struct AllowTouch;

impl PreHook for AllowTouch {
    fn name(&self) -> &'static str {
        "allow-touch"
    }
    fn call<'a>(&'a self, ctx: &'a HookContext) -> HookFuture<'a, Result<HookAction, HookIssue>> {
        Box::pin(async move {
            let command = ctx
                .tool_input
                .as_ref()
                .and_then(|i| i["command"].as_str())
                .unwrap_or_default();
            if ctx.tool_name.as_deref() == Some("exec_command") && command.contains("touch ") {
                return Ok(HookAction::Mutate(
                    codex_runtime::plugin::HookPatch::new()
                        .with_metadata("decision", json!("accept")),
                ));
            }
            Ok(HookAction::Noop)
        })
    }
}

#[tokio::test]
async fn a_pre_tool_use_hook_can_allow_a_request_without_an_approval_handler() {
    let env = env(approval_env_scenario()).await;
    let wf = Workflow::connect(
        WorkflowConfig::new(env.workdir())
            .with_client_config(env.client_config())
            .with_approval(ApprovalMode::Untrusted)
            .with_sandbox(Sandbox::WorkspaceWrite)
            .with_global_pre_tool_use_hook(AllowTouch),
    )
    .await
    .unwrap();
    let out = wf.run("make files").await.unwrap();
    assert_eq!(out.assistant_text, "done");
    assert!(
        env.workdir().join("made_by_shell.txt").exists(),
        "the hook allowed the command"
    );
    assert!(
        !env.workdir().join("patched.txt").exists(),
        "the patch got no opinion from the hook and no handler: declined"
    );
    wf.shutdown().await.unwrap();
}
