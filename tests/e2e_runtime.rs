//! End-to-end on the real codex 0.169.0 + the mock model: layers 6 and 5.

use codex_mock_model::{Reply, Scenario};
use codex_runtime::rpc::RecvError;
use codex_runtime::runtime::{CommandExecParams, Runtime, ServerNotification, TurnStatus};
use codex_runtime::{rpc_methods, AppServer, Error};
use codex_test_support::CodexTestEnv;
use serde_json::json;
use std::time::Duration;

/// The first end-to-end test: spawn the real app-server, initialize, start a thread and a turn,
/// and receive `turn/completed` carrying the mock's text; the mock recorded the prompt.
#[tokio::test]
async fn a_turn_through_the_raw_runtime_returns_the_mock_text() {
    let env = CodexTestEnv::start(Scenario::new([Reply::text("hello from the mock")]))
        .await
        .unwrap();
    let rt = Runtime::connect(env.runtime_config()).await.unwrap();
    let version = codex_test_support::codex_version().unwrap();
    assert!(rt.init_info().user_agent.contains(&version), "{version}");
    let thread = rt
        .call(rpc_methods::THREAD_START, json!({"cwd": env.workdir()}))
        .await
        .unwrap();
    let thread_id = thread["thread"]["id"].as_str().unwrap().to_string();
    let mut events = rt.subscribe_thread(&thread_id);
    let turn = rt
        .call(
            rpc_methods::TURN_START,
            json!({"threadId": thread_id, "input": [{"type": "text", "text": "say hello"}]}),
        )
        .await
        .unwrap();
    let turn_id = turn["turn"]["id"].as_str().unwrap().to_string();
    let mut agent_text = None;
    let completed = loop {
        let ev = tokio::time::timeout(Duration::from_secs(20), events.recv())
            .await
            .expect("turn did not complete")
            .unwrap();
        match ev.notification() {
            ServerNotification::ItemCompleted(n) => {
                if let codex_runtime::runtime::ThreadItem::AgentMessage(m) = &n.item {
                    agent_text = Some(m.text.clone());
                }
            }
            ServerNotification::TurnCompleted(n) => break n.clone(),
            _ => {}
        }
    };
    assert_eq!(completed.turn.id, turn_id);
    assert_eq!(completed.turn.status, TurnStatus::Completed);
    assert_eq!(agent_text.as_deref(), Some("hello from the mock"));
    let bodies = env.mock.response_requests();
    assert_eq!(bodies.len(), 1);
    assert!(bodies[0].to_string().contains("say hello"));
    let m = rt.metrics();
    assert_eq!(m.malformed_lines, 0);
    assert_eq!(
        m.decode_fallbacks, 0,
        "every notification decoded into its typed form"
    );
    rt.shutdown().await.unwrap();
    env.assert_no_leftover_processes().await;
}

/// The contract example of the protocol issue, on the real codex.
#[tokio::test]
async fn app_server_contract_example_prints_the_working_directory() {
    let env = CodexTestEnv::start(Scenario::empty()).await.unwrap();
    let dir = env.workdir().to_string_lossy().into_owned();
    let app = AppServer::connect(env.runtime_config()).await.unwrap();
    app.request_json(
        rpc_methods::THREAD_START,
        json!({"cwd": dir, "sandbox": "read-only"}),
    )
    .await
    .unwrap();
    let exec = app
        .command_exec(CommandExecParams {
            command: vec!["pwd".into()],
            cwd: Some(dir.clone()),
            ..CommandExecParams::default()
        })
        .await
        .unwrap();
    assert_eq!(exec.exit_code, 0);
    assert_eq!(exec.stdout.trim(), dir);
    // Typed helpers decode real results.
    let models = app.model_list(Default::default()).await.unwrap();
    let _ = models;
    let config = app.config_read(Default::default()).await.unwrap();
    let _ = config;
    // An error from codex is typed with its code and message.
    let err = app
        .request_json("thread/read", json!({"threadId": "no-such-thread"}))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Rpc { code: -32600, .. }), "{err}");
    app.shutdown().await.unwrap();
    env.assert_no_leftover_processes().await;
}

/// 2,000 concurrent requests against the real codex: each completes or fails with a typed error
/// (codex drops replies under load), and none hangs.
#[tokio::test]
async fn two_thousand_concurrent_requests_each_complete_or_fail_typed() {
    let env = CodexTestEnv::start(Scenario::empty()).await.unwrap();
    let rt = Runtime::connect(
        env.runtime_config()
            .with_request_timeout(Duration::from_secs(15)),
    )
    .await
    .unwrap();
    let calls = (0..2000).map(|_| {
        let rt = rt.clone();
        async move { rt.call("config/read", json!({})).await }
    });
    let results = tokio::time::timeout(Duration::from_secs(120), futures::future::join_all(calls))
        .await
        .expect("some request hung");
    let mut ok = 0;
    let mut typed_failures = 0;
    for r in results {
        match r {
            Ok(v) => {
                assert!(v.get("config").is_some());
                ok += 1;
            }
            Err(Error::Timeout { .. } | Error::Overloaded { .. } | Error::Rpc { .. }) => {
                typed_failures += 1
            }
            Err(e) => panic!("untyped failure: {e}"),
        }
    }
    assert_eq!(ok + typed_failures, 2000);
    assert!(ok > 0);
    assert_eq!(rt.metrics().pending_calls, 0);
    eprintln!(
        "2000 concurrent: {ok} ok, {typed_failures} typed failures, metrics {:?}",
        rt.metrics()
    );
    rt.shutdown().await.unwrap();
    env.assert_no_leftover_processes().await;
}

/// Subscriptions end with a reason when codex goes away.
#[tokio::test]
async fn subscriptions_close_with_a_reason_on_shutdown() {
    let env = CodexTestEnv::start(Scenario::empty()).await.unwrap();
    let rt = Runtime::connect(env.runtime_config()).await.unwrap();
    let mut all = rt.subscribe();
    rt.shutdown().await.unwrap();
    loop {
        match all.recv().await {
            Ok(_) => continue,
            Err(RecvError::Closed(_)) => break,
            Err(e) => panic!("{e}"),
        }
    }
    env.assert_no_leftover_processes().await;
}
