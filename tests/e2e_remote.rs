//! Remote attach: the SDK connects to a real `codex app-server --listen ws://127.0.0.1:PORT
//! --ws-auth capability-token --ws-token-file F` over WebSocket with a bearer token, runs a
//! turn, gets a typed 401 for a wrong token, and survives a server restart with a reconnect
//! policy.

use codex_mock_model::{Reply, Scenario};
use codex_runtime::runtime::{Client, ClientConfig, ReconnectPolicy, RemoteEndpoint};
use codex_runtime::Error;
use codex_test_support::CodexTestEnv;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::process::Child;

const TOKEN: &str = "capability-token-for-the-e2e-remote-test";

/// A free loopback port (bound then released; codex binds it right after).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn write_token(env: &CodexTestEnv, name: &str, token: &str) -> PathBuf {
    let path = env.workdir().join(name);
    std::fs::write(&path, format!("{token}\n")).unwrap();
    path
}

/// Starts the real server with capability-token auth and waits until it answers `/readyz`.
async fn start_server(env: &CodexTestEnv, port: u16, token_file: &Path) -> Child {
    let mut cmd = env.app_server_command();
    cmd.arg("--listen")
        .arg(format!("ws://127.0.0.1:{port}"))
        .arg("--ws-auth")
        .arg("capability-token")
        .arg("--ws-token-file")
        .arg(token_file)
        .stdout(std::process::Stdio::null());
    let child = cmd.spawn().unwrap();
    let start = Instant::now();
    loop {
        if ready(port).await {
            return child;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the ws server on port {port} never became ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn ready(port: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let req = "GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if s.write_all(req.as_bytes()).await.is_err() {
        return false;
    }
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut buf)).await;
    String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 200")
}

fn remote(port: u16, token_file: &Path) -> RemoteEndpoint {
    RemoteEndpoint::new(format!("ws://127.0.0.1:{port}")).with_token_file(token_file)
}

#[tokio::test]
async fn a_turn_runs_over_ws_with_a_capability_token() {
    let env = CodexTestEnv::start(Scenario::new([Reply::text("hello over ws")]))
        .await
        .unwrap();
    let token_file = write_token(&env, "token", TOKEN);
    let port = free_port();
    let mut server = start_server(&env, port, &token_file).await;

    let client = Client::connect(ClientConfig::new().attach_remote(remote(port, &token_file)))
        .await
        .unwrap();
    assert!(client.runtime().pid().is_none(), "attached, not spawned");
    assert!(
        !format!("{client:?}").contains(TOKEN),
        "the token never shows in Debug"
    );
    let session = client.start_session(env.session_config()).await.unwrap();
    let out = session.ask("over ws?").await.unwrap();
    assert_eq!(out.assistant_text, "hello over ws");
    client.shutdown().await.unwrap();

    server.kill().await.unwrap();
    env.assert_no_leftover_processes().await;
}

#[tokio::test]
async fn a_wrong_or_missing_token_is_a_typed_401_that_never_shows_the_token() {
    let env = CodexTestEnv::start(Scenario::empty()).await.unwrap();
    let token_file = write_token(&env, "token", TOKEN);
    let wrong = "not-the-token-0123456789";
    let wrong_file = write_token(&env, "wrong", wrong);
    let port = free_port();
    let mut server = start_server(&env, port, &token_file).await;

    let err = Client::connect(ClientConfig::new().attach_remote(remote(port, &wrong_file)))
        .await
        .unwrap_err();
    match &err {
        Error::RemoteUnauthorized { url } => assert_eq!(url, &format!("ws://127.0.0.1:{port}")),
        other => panic!("expected RemoteUnauthorized, got {other:?}"),
    }
    assert!(err.to_string().contains("401"), "{err}");
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains(wrong) && !text.contains(TOKEN), "{text}");
    }

    let no_token = RemoteEndpoint::new(format!("ws://127.0.0.1:{port}"));
    let err = Client::connect(ClientConfig::new().attach_remote(no_token))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RemoteUnauthorized { .. }), "{err:?}");

    server.kill().await.unwrap();
    env.assert_no_leftover_processes().await;
}

#[tokio::test]
async fn a_refused_connection_and_a_plain_ws_token_to_a_remote_host_are_typed_errors() {
    let port = free_port(); // nothing listens here
    let err = Client::connect(
        ClientConfig::new().attach_remote(format!("ws://127.0.0.1:{port}").as_str()),
    )
    .await
    .unwrap_err();
    match &err {
        Error::RemoteConnect { url, message } => {
            assert_eq!(url, &format!("ws://127.0.0.1:{port}"));
            assert!(message.to_lowercase().contains("refused"), "{message}");
        }
        other => panic!("expected RemoteConnect, got {other:?}"),
    }

    let insecure = RemoteEndpoint::new("ws://192.0.2.10:4500").with_token_env("CODEX_TOKEN");
    let err = Client::connect(ClientConfig::new().attach_remote(insecure))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    assert!(err.to_string().contains("wss://"), "{err}");
}

#[tokio::test]
async fn a_server_restart_is_survived_with_a_reconnect_policy() {
    let env = CodexTestEnv::start(Scenario::new([
        Reply::text("before the restart"),
        Reply::text("after the restart"),
    ]))
    .await
    .unwrap();
    let token_file = write_token(&env, "token", TOKEN);
    let port = free_port();
    let mut server = start_server(&env, port, &token_file).await;

    let policy = ReconnectPolicy {
        max_restarts: 30,
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(500),
    };
    let client = Client::connect(
        ClientConfig::new()
            .attach_remote(remote(port, &token_file))
            .with_reconnect(policy),
    )
    .await
    .unwrap();
    let session = client.start_session(env.session_config()).await.unwrap();
    let first = session.ask("first").await.unwrap();
    assert_eq!(first.assistant_text, "before the restart");
    let thread_id = session.thread_id().to_string();

    server.kill().await.unwrap();
    let _ = server.wait().await;
    let mut server = start_server(&env, port, &token_file).await;
    let start = Instant::now();
    while client.runtime().metrics().restarts < 1 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the client never reconnected"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A new server process: the thread is resumed, then the conversation goes on.
    let resumed = client
        .resume_session(&thread_id, env.session_config())
        .await
        .unwrap();
    let second = resumed.ask("second").await.unwrap();
    assert_eq!(second.assistant_text, "after the restart");
    client.shutdown().await.unwrap();

    server.kill().await.unwrap();
    env.assert_no_leftover_processes().await;
}
