//! Transport faults the real codex cannot be made to show on demand, on the scripted fake
//! app-server (`tests/fake_app_server/server.rs`). Everything else runs against the real codex.

use codex_runtime::rpc::{IncomingServerRequest, RetryPolicy, ServerRequestReply};
use codex_runtime::runtime::{RestartPolicy, Runtime, RuntimeConfig};
use codex_runtime::transport::DEFAULT_MAX_LINE_BYTES;
use codex_runtime::Error;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

const FAKE: &str = env!("CARGO_BIN_EXE_fake-app-server");

fn config() -> RuntimeConfig {
    RuntimeConfig::new()
        .with_cli_bin(FAKE)
        .with_request_timeout(Duration::from_secs(10))
}

fn alive(pid: u32) -> bool {
    // Zombies count as gone: read the state from /proc.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

async fn wait_gone(pid: u32, within: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        if !alive(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    !alive(pid)
}

#[tokio::test]
async fn garbage_lines_are_reported_and_the_connection_continues() {
    let rt = Runtime::connect(config()).await.unwrap();
    let mut issues = rt.protocol_issues();
    let r = rt.call("fake/garbage", json!({})).await.unwrap();
    assert_eq!(r, json!({"ok": true}));
    let m = rt.metrics();
    assert_eq!(m.malformed_lines, 3, "{m:?}");
    let first = issues.recv().await.unwrap();
    assert!(first.detail.contains("this is not json"), "{first:?}");
    // Still usable.
    assert_eq!(
        rt.call("fake/echo", json!({"a": 1})).await.unwrap(),
        json!({"a": 1})
    );
    rt.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_oversize_line_is_reported_and_the_connection_continues() {
    let rt = Runtime::connect(config().with_max_line_bytes(1024 * 1024))
        .await
        .unwrap();
    let r = rt
        .call("fake/oversize", json!({"bytes": 3_000_000}))
        .await
        .unwrap();
    assert_eq!(r, json!({"ok": true}));
    let m = rt.metrics();
    assert_eq!(m.oversize_lines, 1);
    assert_eq!(m.malformed_lines, 1);
    assert_eq!(rt.call("fake/echo", json!([1])).await.unwrap(), json!([1]));
    // The default limit is far above 1 MiB: the same line passes.
    let rt2 = Runtime::connect(config()).await.unwrap();
    const { assert!(DEFAULT_MAX_LINE_BYTES > 3_000_000) };
    rt2.call("fake/oversize", json!({"bytes": 3_000_000}))
        .await
        .unwrap();
    assert_eq!(rt2.metrics().oversize_lines, 0);
    rt.shutdown().await.unwrap();
    rt2.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_reply_that_never_comes_times_out_and_cleans_up() {
    let rt = Runtime::connect(config()).await.unwrap();
    let err = rt
        .call_with_timeout("fake/never", json!({}), Duration::from_millis(300))
        .await
        .unwrap_err();
    match err {
        Error::Timeout { method, elapsed } => {
            assert_eq!(method, "fake/never");
            assert!(elapsed >= Duration::from_millis(300));
        }
        other => panic!("expected a timeout, got {other}"),
    }
    let m = rt.metrics();
    assert_eq!(m.pending_calls, 0);
    assert_eq!(m.timeouts, 1);
    // Dropping a call future also removes its pending entry.
    let fut = rt.call("fake/never", json!({}));
    let _ = tokio::time::timeout(Duration::from_millis(100), fut).await;
    assert_eq!(rt.metrics().pending_calls, 0);
    rt.shutdown().await.unwrap();
}

#[tokio::test]
async fn overload_is_retried_until_success() {
    let rt = Runtime::connect(config()).await.unwrap();
    let r = rt
        .call("fake/overload", json!({"key": "a", "failures": 3}))
        .await
        .unwrap();
    assert_eq!(r, json!({"attempts": 4}));
    assert_eq!(rt.metrics().overload_retries, 3);
    // Beyond the bound: a typed error that says so.
    let rt2 = Runtime::connect(config().with_retry(RetryPolicy {
        max_attempts: 2,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(10),
    }))
    .await
    .unwrap();
    let err = rt2
        .call("fake/overload", json!({"key": "b", "failures": 5}))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Overloaded { attempts: 2, .. }),
        "{err}"
    );
    rt.shutdown().await.unwrap();
    rt2.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_crash_mid_request_fails_pending_calls_with_exit_code_and_stderr() {
    let rt = Runtime::connect(config()).await.unwrap();
    let pending = {
        let rt = rt.clone();
        tokio::spawn(async move { rt.call("fake/never", json!({})).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let start = Instant::now();
    let err = rt
        .call("fake/crash", json!({"code": 42}))
        .await
        .unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "took {:?}",
        start.elapsed()
    );
    match &err {
        Error::TransportClosed {
            exit_code,
            stderr_tail,
            ..
        } => {
            assert_eq!(*exit_code, Some(42));
            assert!(stderr_tail.contains("simulated crash"), "{stderr_tail:?}");
        }
        other => panic!("expected TransportClosed, got {other}"),
    }
    assert!(err.to_string().contains("exit code 42"));
    let other = pending.await.unwrap().unwrap_err();
    assert!(matches!(
        other,
        Error::TransportClosed {
            exit_code: Some(42),
            ..
        }
    ));
    // Later calls fail at once with the same typed error.
    let later = rt.call("fake/echo", json!({})).await.unwrap_err();
    assert!(later.is_transport_closed());
}

#[tokio::test]
async fn stdout_closed_is_a_typed_error_not_a_hang() {
    let rt = Runtime::connect(config()).await.unwrap();
    let pid = rt.pid().unwrap();
    let err = rt.call("fake/close-stdout", json!({})).await.unwrap_err();
    assert!(err.is_transport_closed(), "{err}");
    // The process was still running with its stdout closed: it has been killed.
    assert!(wait_gone(pid, Duration::from_secs(2)).await);
}

#[tokio::test]
async fn dropping_a_runtime_without_shutdown_kills_the_child_and_its_group() {
    let rt = Runtime::connect(config()).await.unwrap();
    let pid = rt.pid().unwrap();
    let grandchild = rt.call("fake/spawn-child", json!({})).await.unwrap()["pid"]
        .as_u64()
        .unwrap() as u32;
    assert!(alive(pid) && alive(grandchild));
    drop(rt);
    assert!(
        wait_gone(pid, Duration::from_secs(1)).await,
        "codex child {pid} survived"
    );
    assert!(
        wait_gone(grandchild, Duration::from_secs(1)).await,
        "grandchild {grandchild} survived"
    );
}

#[tokio::test]
async fn shutdown_kills_a_child_that_ignores_stdin_eof() {
    let rt = Runtime::connect(
        config()
            .with_env("FAKE_IGNORE_EOF", "1")
            .with_shutdown_grace(Duration::from_millis(200)),
    )
    .await
    .unwrap();
    let pid = rt.pid().unwrap();
    rt.shutdown().await.unwrap();
    assert!(wait_gone(pid, Duration::from_secs(1)).await);
}

#[tokio::test]
async fn an_old_codex_is_refused_with_a_clear_message() {
    let err = Runtime::connect(config().with_env("FAKE_VERSION", "0.100.2"))
        .await
        .unwrap_err();
    match &err {
        Error::UnsupportedVersion { found, minimum, .. } => {
            assert_eq!(found, "0.100.2");
            assert_eq!(minimum, "0.150.0");
        }
        other => panic!("expected UnsupportedVersion, got {other}"),
    }
    assert!(err.to_string().contains("install-codex.sh"));
}

#[tokio::test]
async fn server_requests_are_answered_fail_closed_without_a_handler() {
    let rt = Runtime::connect(config()).await.unwrap();
    let r = rt
        .call(
            "fake/server-request",
            json!({"method": "item/commandExecution/requestApproval",
                   "params": {"threadId": "t", "turnId": "u", "itemId": "i", "command": "rm -rf /"}}),
        )
        .await
        .unwrap();
    assert_eq!(r["reply"], json!({"decision": "decline"}));
    let r = rt
        .call(
            "fake/server-request",
            json!({"method": "item/tool/requestUserInput", "params": {"threadId": "t", "turnId": "u", "itemId": "i", "questions": []}}),
        )
        .await
        .unwrap();
    assert!(r["reply"]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("fail-closed"));
    assert_eq!(rt.metrics().server_requests_defaulted, 2);

    // With a handler: its answer goes back.
    rt.set_server_request_handler(Some(Arc::new(|req: IncomingServerRequest| async move {
        assert_eq!(req.method, "item/fileChange/requestApproval");
        ServerRequestReply::Result(json!({"decision": "accept"}))
    })));
    let r = rt
        .call(
            "fake/server-request",
            json!({"method": "item/fileChange/requestApproval", "params": {"threadId": "t", "turnId": "u", "itemId": "i"}}),
        )
        .await
        .unwrap();
    assert_eq!(r["reply"], json!({"decision": "accept"}));
    rt.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_raw_server_request_loop_answers_through_respond() {
    let rt = Runtime::connect(config()).await.unwrap();
    let mut requests = rt.server_requests(8);
    let call = {
        let rt = rt.clone();
        tokio::spawn(async move {
            rt.call(
                "fake/server-request",
                json!({"method": "item/tool/call", "params": {"threadId": "t", "turnId": "u", "callId": "c", "tool": "x", "arguments": {}}}),
            )
            .await
        })
    };
    let req = requests.recv().await.unwrap();
    assert_eq!(req.method, "item/tool/call");
    rt.respond(&req.id, Ok(json!({"contentItems": [], "success": true})))
        .unwrap();
    assert!(
        rt.respond(&req.id, Ok(json!({}))).is_err(),
        "second answer must be refused"
    );
    let r = call.await.unwrap().unwrap();
    assert_eq!(r["reply"]["success"], json!(true));
    rt.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_slow_subscriber_gets_lagged_but_never_loses_lifecycle_events() {
    let rt = Runtime::connect(config().with_delta_capacity(100))
        .await
        .unwrap();
    let mut slow = rt.subscribe_thread("thr_flood");
    let mut fast = rt.subscribe();
    let r = rt.call("fake/flood", json!({"count": 5000})).await.unwrap();
    assert_eq!(r["sent"], 5000);
    // The fast subscriber drains as it goes... here it simply reads everything that was kept.
    let mut slow_seen = 0u64;
    let mut lagged = 0u64;
    while let Some(item) = slow.try_recv() {
        match item {
            Ok(_) => slow_seen += 1,
            Err(codex_runtime::rpc::RecvError::Lagged(n)) => lagged += n,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(slow_seen, 100);
    assert_eq!(slow_seen + lagged, 5000, "every drop is accounted for");
    assert!(rt.metrics().lag_drops >= 4900);
    let mut fast_total = 0u64;
    while let Some(item) = fast.try_recv() {
        match item {
            Ok(_) => fast_total += 1,
            Err(codex_runtime::rpc::RecvError::Lagged(n)) => fast_total += n,
            Err(e) => panic!("{e}"),
        }
    }
    // Global subscribers also see the server's other notifications (none here).
    assert_eq!(fast_total, 5000);
    rt.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_restart_policy_brings_a_crashed_server_back() {
    let rt = Runtime::connect(config().with_restart(RestartPolicy {
        max_restarts: 2,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
    }))
    .await
    .unwrap();
    let first_pid = rt.pid().unwrap();
    let err = rt.call("fake/crash", json!({"code": 3})).await.unwrap_err();
    assert!(err.is_transport_closed());
    let start = Instant::now();
    loop {
        if rt.metrics().restarts == 1 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "no restart");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_ne!(rt.pid(), Some(first_pid));
    assert_eq!(
        rt.call("fake/echo", json!({"x": 1})).await.unwrap(),
        json!({"x": 1})
    );
    rt.shutdown().await.unwrap();
    assert!(wait_gone(first_pid, Duration::from_secs(1)).await);
}

#[tokio::test]
async fn ids_one_and_string_one_stay_distinct_over_an_in_memory_transport() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let (transport, peer) = codex_runtime::transport::Transport::memory(1 << 16);
    let server = tokio::spawn(async move {
        let (r, mut w) = tokio::io::split(peer);
        let mut lines = BufReader::new(r).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            match v["method"].as_str() {
                Some("initialize") => {
                    let reply = json!({"id": v["id"], "result": {"userAgent": "mem/0.169.0"}});
                    w.write_all(format!("{reply}\n").as_bytes()).await.unwrap();
                }
                Some("probe") => {
                    // First a reply to the *string* id "N" (must not complete call N), then the real one.
                    let id = v["id"].as_i64().unwrap();
                    let wrong = json!({"id": id.to_string(), "result": "wrong"});
                    let right = json!({"id": id, "result": "right"});
                    w.write_all(format!("{wrong}\n{right}\n").as_bytes())
                        .await
                        .unwrap();
                }
                _ => {}
            }
        }
    });
    let rt = Runtime::connect_transport(RuntimeConfig::new(), transport)
        .await
        .unwrap();
    assert_eq!(rt.call("probe", json!({})).await.unwrap(), json!("right"));
    assert_eq!(rt.metrics().unmatched_responses, 1);
    drop(rt);
    server.await.unwrap();
}

#[tokio::test]
async fn an_unanswered_raw_server_request_gets_the_default_after_the_timeout() {
    let rt = Runtime::connect(config().with_server_request_timeout(Duration::from_millis(200)))
        .await
        .unwrap();
    let mut requests = rt.server_requests(8);
    let call = {
        let rt = rt.clone();
        tokio::spawn(async move {
            rt.call(
                "fake/server-request",
                json!({"method": "item/commandExecution/requestApproval",
                       "params": {"threadId": "t", "turnId": "u", "itemId": "i"}}),
            )
            .await
        })
    };
    let req = requests.recv().await.unwrap();
    // Nobody answers: the fail-closed default goes back once the timeout passes.
    let r = call.await.unwrap().unwrap();
    assert_eq!(r["reply"], json!({"decision": "decline"}));
    assert!(matches!(
        rt.respond(&req.id, Ok(json!({"decision": "accept"}))),
        Err(Error::AlreadyAnswered { .. })
    ));
    assert_eq!(rt.metrics().server_requests_defaulted, 1);
    rt.shutdown().await.unwrap();
}

fn restart_after(backoff: Duration) -> RestartPolicy {
    RestartPolicy {
        max_restarts: 2,
        initial_backoff: backoff,
        max_backoff: backoff,
    }
}

#[tokio::test]
async fn a_shutdown_during_the_restart_backoff_spawns_no_new_server() {
    let dir = std::env::temp_dir().join(format!("crt-spawn-log-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("spawns.txt");
    let _ = std::fs::remove_file(&log);
    let rt = Runtime::connect(
        config()
            .with_env("FAKE_SPAWN_LOG", log.display().to_string())
            .with_restart(restart_after(Duration::from_millis(1500))),
    )
    .await
    .unwrap();
    let err = rt.call("fake/crash", json!({"code": 3})).await.unwrap_err();
    assert!(err.is_transport_closed());
    // The supervisor is now in its 1.5 s backoff.
    rt.shutdown().await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let spawns = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        spawns.lines().count(),
        1,
        "spawned after shutdown: {spawns}"
    );
    assert_eq!(rt.metrics().restarts, 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn server_request_answers_stay_with_their_connection_across_a_restart() {
    let rt = Runtime::connect(config().with_restart(restart_after(Duration::from_millis(10))))
        .await
        .unwrap();
    let mut requests = rt.server_requests(8);
    let ask = |rt: Runtime| {
        tokio::spawn(async move {
            rt.call(
                "fake/server-request",
                json!({"method": "item/tool/call", "params": {"threadId": "t", "turnId": "u", "callId": "c", "tool": "x", "arguments": {}}}),
            )
            .await
        })
    };
    // Request id 0 on the first server, left unanswered; then the server crashes.
    let first_call = ask(rt.clone());
    let first = requests.recv().await.unwrap();
    let _ = rt.call("fake/crash", json!({"code": 3})).await;
    assert!(first_call.await.unwrap().is_err());
    let start = Instant::now();
    while rt.metrics().restarts == 0 {
        assert!(start.elapsed() < Duration::from_secs(5), "no restart");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Request id 0 again, on the restarted server: answering it reaches that server.
    let second_call = ask(rt.clone());
    let second = requests.recv().await.unwrap();
    assert_eq!(second.id, first.id, "ids restart on a new connection");
    rt.respond(&second.id, Ok(json!({"contentItems": [], "success": true})))
        .unwrap();
    let r = second_call.await.unwrap().unwrap();
    assert_eq!(r["reply"]["success"], json!(true), "{r}");
    rt.shutdown().await.unwrap();
}
