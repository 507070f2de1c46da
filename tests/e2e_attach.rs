//! Attach mode: the SDK connects to a running `codex app-server --listen unix://PATH` (WebSocket
//! over the Unix socket) instead of spawning one, and runs a turn through it.

use codex_mock_model::{Reply, Scenario};
use codex_runtime::runtime::{Client, ClientConfig, Runtime, RuntimeConfig};
use codex_test_support::CodexTestEnv;
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_session_runs_over_an_attached_unix_socket_server() {
    let env = CodexTestEnv::start(Scenario::new([Reply::text("hello over the socket")]))
        .await
        .unwrap();
    let socket = env.workdir().join("app-server.sock");
    let mut server = env.codex_command();
    server
        .arg("app-server")
        .arg("--listen")
        .arg(format!("unix://{}", socket.display()))
        .stdout(std::process::Stdio::null());
    let mut child = server.spawn().unwrap();
    let start = Instant::now();
    while !socket.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the socket never appeared"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let config = ClientConfig::new().attach_server(&socket);
    let client = Client::connect(config).await.unwrap();
    assert!(client.runtime().pid().is_none(), "attached, not spawned");
    let session = client.start_session(env.session_config()).await.unwrap();
    let out = session.ask("over the socket?").await.unwrap();
    assert_eq!(out.assistant_text, "hello over the socket");
    client.shutdown().await.unwrap();

    // A second client may attach to the same server.
    let rt = Runtime::connect(RuntimeConfig::new().attach(&socket))
        .await
        .unwrap();
    rt.call("config/read", serde_json::json!({})).await.unwrap();
    drop(rt);

    child.kill().await.unwrap();
    env.assert_no_leftover_processes().await;
}

#[tokio::test]
async fn attaching_to_a_missing_socket_is_a_typed_error_naming_the_path() {
    let err = Runtime::connect(RuntimeConfig::new().attach("/nonexistent/codex.sock"))
        .await
        .unwrap_err();
    assert!(matches!(err, codex_runtime::Error::Attach { .. }), "{err}");
    assert!(err.to_string().contains("/nonexistent/codex.sock"));
}
