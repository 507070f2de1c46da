//! User code that panics fails closed, and the turn goes on: approval handlers (command, file
//! change), a `PreToolUse` hook, an automation's session handler, a dynamic-tool handler and a
//! web authenticator, on the real codex with the mock model. The dynamic tool runs at layer 6
//! (raw `thread/start` with `dynamicTools`, experimental API) since `SessionConfig` does not
//! declare dynamic tools yet; the `Session` path of a dynamic-tool call is covered on the
//! scripted fake app-server, which sends the `item/tool/call` itself.
//!
//! Each test measures how long the fail-closed answer took after the panicking callback was
//! entered (printed; asserted under 10 s to stay clear of a loaded machine, expected well under
//! a second).

mod web_support;

use codex_mock_model::{Reply, Scenario};
use codex_runtime::automation::{spawn, AutomationSpec, AutomationState};
use codex_runtime::plugin::{
    FailureMode, HookAction, HookContext, HookFuture, HookIssue, HookIssueKind, HookPhase, PreHook,
};
use codex_runtime::rpc::connection::ProtocolIssueKind;
use codex_runtime::rpc::{IncomingServerRequest, ServerRequestReply};
use codex_runtime::runtime::{
    ApprovalDecision, ApprovalMode, Approvals, Client, ClientConfig, RuntimeConfig, Sandbox,
    SessionConfig, ThreadItem, TurnEvent, TurnStatus,
};
use codex_runtime::web::{Authenticator, TenantId};
use codex_test_support::CodexTestEnv;
use futures::future::BoxFuture;
use futures::StreamExt;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The bound asserted on each fail-closed answer (expected: well under a second).
const ANSWER_BOUND: Duration = Duration::from_secs(10);
const FAKE: &str = env!("CARGO_BIN_EXE_fake-app-server");

/// When each panicking callback was entered.
type Entered = Arc<Mutex<Vec<(&'static str, Instant)>>>;

/// Panics: called from a callback (a function returning `()`, so the code after it still
/// type-checks as the callback's answer).
fn explode(what: &str) {
    panic!("{what} has a bug");
}

fn approval_scenario() -> Vec<Reply> {
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

/// A command handler that panics before it returns its future, a file-change handler whose
/// future panics.
fn panicking_approvals(entered: &Entered) -> Approvals {
    let (e1, e2) = (entered.clone(), entered.clone());
    Approvals::new()
        .on_command(move |_req| {
            e1.lock().unwrap().push(("command", Instant::now()));
            explode("the command handler");
            async { ApprovalDecision::Accept }
        })
        .on_file_change(move |_req| {
            let e2 = e2.clone();
            async move {
                e2.lock().unwrap().push(("file_change", Instant::now()));
                explode("the file-change handler");
                ApprovalDecision::Accept
            }
        })
}

fn declined(items: &[ThreadItem]) -> usize {
    items
        .iter()
        .filter(|i| match i {
            ThreadItem::CommandExecution(c) => c.status.as_str() == "declined",
            ThreadItem::FileChange(f) => f.status.as_str() == "declined",
            _ => false,
        })
        .count()
}

#[tokio::test]
async fn panicking_command_and_file_change_handlers_decline_and_the_turn_completes() {
    let env = CodexTestEnv::start(Scenario::new(approval_scenario()))
        .await
        .unwrap();
    let entered: Entered = Arc::default();
    let client = Client::connect(env.client_config()).await.unwrap();
    let mut issues = client.runtime().protocol_issues();
    let session = client
        .start_session(untrusted(&env).with_approval_handler(panicking_approvals(&entered)))
        .await
        .unwrap();
    let started = Instant::now();
    let mut stream = Box::pin(session.ask_stream("make files"));
    let mut panics = Vec::new();
    let mut answers = Vec::new();
    let mut output = None;
    while let Some(event) = tokio::time::timeout(Duration::from_secs(120), stream.next())
        .await
        .expect("the turn must not hang")
    {
        match event.unwrap() {
            TurnEvent::HandlerPanicked {
                method, message, ..
            } => panics.push((method, message, Instant::now())),
            TurnEvent::ApprovalRequested {
                method, decision, ..
            } => answers.push((method, decision)),
            TurnEvent::Completed(out) => output = Some(out),
            _ => {}
        }
    }
    let out = output.expect("the turn completed");
    eprintln!("turn took {:?}", started.elapsed());
    assert_eq!(out.status, TurnStatus::Completed);
    assert_eq!(out.assistant_text, "done");
    assert!(!env.workdir().join("made_by_shell.txt").exists());
    assert!(!env.workdir().join("patched.txt").exists());
    assert_eq!(declined(&out.items), 2, "{:#?}", out.items);

    let entered = entered.lock().unwrap().clone();
    assert_eq!(entered.len(), 2, "{entered:?}");
    assert_eq!(panics.len(), 2, "{panics:?}");
    for ((kind, at), (method, message, answered)) in entered.iter().zip(&panics) {
        let took = answered.duration_since(*at);
        eprintln!("{kind} handler panic answered fail-closed after {took:?}");
        assert!(took < ANSWER_BOUND, "{kind}: {took:?}");
        assert!(method.contains(if *kind == "command" {
            "commandExecution"
        } else {
            "fileChange"
        }));
        assert!(message.contains("has a bug"), "{message}");
    }
    for (method, decision) in &answers {
        assert_eq!(decision, &json!({"decision": "decline"}), "{method}");
    }
    for _ in 0..2 {
        let issue = issues.recv().await.unwrap();
        assert_eq!(issue.kind, ProtocolIssueKind::HandlerPanicked, "{issue:?}");
        assert!(issue.detail.contains("has a bug"), "{issue:?}");
    }

    client.shutdown().await.unwrap();
    env.assert_no_leftover_processes().await;
}

/// A `PreToolUse` hook that panics; closed, so its failure blocks the tool request.
struct PanickingHook {
    entered: Entered,
}

impl PreHook for PanickingHook {
    fn name(&self) -> &'static str {
        "panicking-policy"
    }
    fn call<'a>(&'a self, ctx: &'a HookContext) -> HookFuture<'a, Result<HookAction, HookIssue>> {
        Box::pin(async move {
            if ctx.phase == HookPhase::PreToolUse {
                self.entered
                    .lock()
                    .unwrap()
                    .push(("pre_tool_use", Instant::now()));
                explode("the policy hook");
            }
            Ok(HookAction::Noop)
        })
    }
    fn failure_mode(&self) -> FailureMode {
        FailureMode::Closed
    }
}

#[tokio::test]
async fn a_panicking_closed_pre_tool_use_hook_declines_even_with_an_accepting_handler() {
    let env = CodexTestEnv::start(Scenario::new([
        Reply::shell("touch made_by_shell.txt"),
        Reply::text("done"),
    ]))
    .await
    .unwrap();
    let entered: Entered = Arc::default();
    let client = Client::connect(env.client_config()).await.unwrap();
    let session = client
        .start_session(
            untrusted(&env)
                .with_approval_handler(Approvals::accept_all())
                .with_pre_hook(PanickingHook {
                    entered: entered.clone(),
                }),
        )
        .await
        .unwrap();
    let mut stream = Box::pin(session.ask_stream("make a file"));
    let mut answered = None;
    let mut output = None;
    while let Some(event) = tokio::time::timeout(Duration::from_secs(120), stream.next())
        .await
        .expect("the turn must not hang")
    {
        match event.unwrap() {
            TurnEvent::ApprovalRequested { decision, .. } => {
                answered = Some((decision, Instant::now()))
            }
            TurnEvent::Completed(out) => output = Some(out),
            _ => {}
        }
    }
    let out = output.expect("the turn completed");
    assert_eq!(out.status, TurnStatus::Completed);
    assert_eq!(out.assistant_text, "done");
    assert!(!env.workdir().join("made_by_shell.txt").exists());
    assert_eq!(declined(&out.items), 1, "{:#?}", out.items);
    let (decision, at) = answered.expect("the approval was answered");
    assert_eq!(decision, json!({"decision": "decline"}));
    let (_, entered_at) = entered.lock().unwrap()[0];
    let took = at.duration_since(entered_at);
    eprintln!("hook panic answered fail-closed after {took:?}");
    assert!(took < ANSWER_BOUND, "{took:?}");
    let issue = out
        .hook_issues
        .iter()
        .find(|i| i.kind == HookIssueKind::Panicked)
        .unwrap_or_else(|| panic!("no panicked hook issue in {:?}", out.hook_issues));
    assert_eq!(issue.hook, "panicking-policy");
    assert!(issue.message.contains("has a bug"), "{issue:?}");
    client.shutdown().await.unwrap();
    env.assert_no_leftover_processes().await;
}

#[tokio::test]
async fn an_automation_run_whose_handler_panics_declines_and_finishes() {
    let env = CodexTestEnv::start(Scenario::new(approval_scenario()))
        .await
        .unwrap();
    let entered: Entered = Arc::default();
    let client = Client::connect(env.client_config()).await.unwrap();
    let mut issues = client.runtime().protocol_issues();
    let session = client
        .start_session(untrusted(&env).with_approval_handler(panicking_approvals(&entered)))
        .await
        .unwrap();
    let handle = spawn(
        session,
        AutomationSpec {
            prompt: "make files".to_string(),
            start_at: None,
            every: Duration::from_secs(3600),
            stop_at: None,
            max_runs: Some(1),
        },
    );
    let status = tokio::time::timeout(Duration::from_secs(120), handle.wait())
        .await
        .expect("the automation must not hang");
    assert_eq!(status.state, AutomationState::Finished, "{status:?}");
    assert_eq!(status.runs_done, 1);
    let out = status.last_outcome.expect("the run's outcome");
    assert_eq!(out.status, TurnStatus::Completed);
    assert_eq!(out.assistant_text, "done");
    assert_eq!(declined(&out.items), 2, "{:#?}", out.items);
    assert!(!env.workdir().join("made_by_shell.txt").exists());
    assert!(!env.workdir().join("patched.txt").exists());
    let panicked = entered.lock().unwrap().clone();
    assert_eq!(panicked.len(), 2, "{panicked:?}");
    for (kind, _) in panicked {
        let issue = issues.recv().await.unwrap();
        assert_eq!(issue.kind, ProtocolIssueKind::HandlerPanicked, "{issue:?}");
        assert!(issue.detail.contains("has a bug"), "{kind}: {issue:?}");
    }
    client.shutdown().await.unwrap();
    env.assert_no_leftover_processes().await;
}

/// A client on the fake app-server (its `thread/start` answers thread `thr_fake`).
async fn fake_client() -> Client {
    let runtime = RuntimeConfig::new()
        .with_cli_bin(FAKE)
        .with_request_timeout(Duration::from_secs(10));
    Client::connect(ClientConfig::new().with_runtime(runtime))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_panicking_dynamic_tool_handler_gets_an_error_result_on_the_fake_server() {
    let client = fake_client().await;
    let mut issues = client.runtime().protocol_issues();
    let entered: Entered = Arc::default();
    let e = entered.clone();
    let approvals = Approvals::new().on_dynamic_tool_call(move |_req| {
        e.lock().unwrap().push(("dynamic_tool", Instant::now()));
        explode("the dynamic tool");
        async { None }
    });
    let session = client
        .start_session(SessionConfig::new(std::env::temp_dir()).with_approval_handler(approvals))
        .await
        .unwrap();
    assert_eq!(session.thread_id(), "thr_fake");
    let call = json!({"method": "item/tool/call", "params": {"threadId": "thr_fake",
        "turnId": "turn_fake", "callId": "call_1", "tool": "lookup", "arguments": {}}});
    let r = client
        .runtime()
        .call("fake/server-request", call.clone())
        .await
        .unwrap();
    let answered = Instant::now();
    let message = r["reply"]["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("panicked"), "{r}");
    assert!(!message.contains("has a bug"), "the panic stays local: {r}");
    let (_, at) = entered.lock().unwrap()[0];
    let took = answered.duration_since(at);
    eprintln!("dynamic-tool handler panic answered with an error after {took:?}");
    assert!(took < ANSWER_BOUND, "{took:?}");
    let issue = issues.recv().await.unwrap();
    assert_eq!(issue.kind, ProtocolIssueKind::HandlerPanicked);

    // A raw global handler that panics, for a request of no session: declined.
    client.runtime().set_server_request_handler(Some(Arc::new(
        |_r: IncomingServerRequest| async {
            explode("the raw handler");
            ServerRequestReply::Result(json!({"decision": "accept"}))
        },
    )));
    let r = client
        .runtime()
        .call(
            "fake/server-request",
            json!({"method": "item/commandExecution/requestApproval",
                "params": {"threadId": "other", "turnId": "u", "itemId": "i", "command": "rm -rf /"}}),
        )
        .await
        .unwrap();
    assert_eq!(r["reply"], json!({"decision": "decline"}));
    // The connection and the session's handler still work.
    let r = client
        .runtime()
        .call("fake/server-request", call)
        .await
        .unwrap();
    assert!(r["reply"]["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("panicked"));
    client.shutdown().await.unwrap();
}

/// Panics for two tokens (in the call, in the future); the tenant tokens otherwise.
struct PanickingAuthenticator {
    entered: Entered,
}

impl Authenticator for PanickingAuthenticator {
    fn authenticate(&self, token: &str) -> BoxFuture<'static, Option<TenantId>> {
        match token {
            "boom-call" => {
                self.entered.lock().unwrap().push(("call", Instant::now()));
                explode("the authenticator");
                Box::pin(async { TenantId::new("alice") })
            }
            "boom-future" => {
                let entered = self.entered.clone();
                Box::pin(async move {
                    entered.lock().unwrap().push(("future", Instant::now()));
                    explode("the authenticator's future");
                    TenantId::new("alice")
                })
            }
            other => web_support::tokens().authenticate(other),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_web_authenticator_refuses_with_401_and_turns_go_on() {
    let entered: Entered = Arc::default();
    let auth_entered = entered.clone();
    let h = web_support::Harness::start(vec![Reply::text("hello from the web")], move |mut c| {
        c.authenticator = Arc::new(PanickingAuthenticator {
            entered: auth_entered,
        });
        c
    })
    .await;
    let session = h.create_session(web_support::ALICE).await;
    let mut events = h.events(web_support::ALICE, &session, None).await;
    h.turn(web_support::ALICE, &session, "say hello").await;
    for token in ["boom-call", "boom-future"] {
        let sent = Instant::now();
        let res = tokio::time::timeout(
            Duration::from_secs(30),
            h.post(token, "/api/sessions", json!({})),
        )
        .await
        .expect("a panicking authenticator must not hang the connection");
        let took = sent.elapsed();
        eprintln!("{token}: refused with {} after {took:?}", res.status());
        assert_eq!(res.status(), 401, "{token}");
        assert!(took < ANSWER_BOUND, "{token}: {took:?}");
    }
    assert_eq!(entered.lock().unwrap().len(), 2);
    let all = events.until("turn.completed").await;
    assert!(all.iter().any(|e| e.kind == "turn.completed"));
    // Still serving the real tenants.
    let res = h.post(web_support::ALICE, "/api/sessions", json!({})).await;
    assert_eq!(res.status(), 201);
    h.stop().await;
}

#[tokio::test]
async fn a_panicking_dynamic_tool_handler_on_the_real_codex_gets_an_error_and_the_turn_completes() {
    use codex_runtime::runtime::{Runtime, ServerNotification};
    let env = CodexTestEnv::start(Scenario::new([
        Reply::function_call("lookup", json!({"key": "answer"})),
        Reply::text("done without the tool"),
    ]))
    .await
    .unwrap();
    let rt = Runtime::connect(env.runtime_config().enable_experimental_api())
        .await
        .unwrap();
    let mut issues = rt.protocol_issues();
    let entered: Entered = Arc::default();
    let e = entered.clone();
    rt.set_server_request_handler(Some(Arc::new(move |req: IncomingServerRequest| {
        e.lock().unwrap().push(("dynamic_tool", Instant::now()));
        assert_eq!(req.method, "item/tool/call");
        explode("the dynamic tool");
        async { ServerRequestReply::Decline }
    })));
    let thread = rt
        .call(
            "thread/start",
            json!({"cwd": env.workdir(), "dynamicTools": [{"type": "function", "name": "lookup",
                "description": "Looks a key up.", "inputSchema": {"type": "object",
                "properties": {"key": {"type": "string"}}, "required": ["key"]}}]}),
        )
        .await
        .unwrap();
    let thread_id = thread["thread"]["id"].as_str().unwrap().to_string();
    let mut events = rt.subscribe_thread(&thread_id);
    rt.call(
        "turn/start",
        json!({"threadId": thread_id, "input": [{"type": "text", "text": "look it up"}]}),
    )
    .await
    .unwrap();
    let mut agent_text = None;
    let mut tool_done = None;
    let completed = loop {
        let ev = tokio::time::timeout(Duration::from_secs(60), events.recv())
            .await
            .expect("the turn must not hang")
            .unwrap();
        match ev.notification() {
            ServerNotification::ItemCompleted(n) => match &n.item {
                ThreadItem::AgentMessage(m) => agent_text = Some(m.text.clone()),
                ThreadItem::DynamicToolCall(_) => tool_done = Some(Instant::now()),
                _ => {}
            },
            ServerNotification::TurnCompleted(n) => break n.clone(),
            _ => {}
        }
    };
    assert_eq!(completed.turn.status, TurnStatus::Completed);
    assert_eq!(agent_text.as_deref(), Some("done without the tool"));
    let called = entered.lock().unwrap().clone();
    assert_eq!(called.len(), 1, "codex called the tool once: {called:?}");
    let took = tool_done
        .expect("the dynamic tool call item completed")
        .duration_since(called[0].1);
    eprintln!("dynamic-tool handler panic: the call failed on codex's side after {took:?}");
    assert!(took < ANSWER_BOUND, "{took:?}");
    let issue = issues.recv().await.unwrap();
    assert_eq!(issue.kind, ProtocolIssueKind::HandlerPanicked);
    assert!(issue.detail.contains("item/tool/call"), "{issue:?}");
    // The model got the failed call's output on its next request.
    let bodies = env.mock.response_requests();
    assert_eq!(bodies.len(), 2);
    let input = bodies[1]["input"].as_array().cloned().unwrap_or_default();
    let output = input
        .iter()
        .find(|i| i["type"] == "function_call_output")
        .unwrap_or_else(|| panic!("no function_call_output in {input:?}"));
    assert!(
        output["output"]
            .as_str()
            .unwrap_or_default()
            .contains("failed"),
        "{output}"
    );
    rt.shutdown().await.unwrap();
    env.assert_no_leftover_processes().await;
}
