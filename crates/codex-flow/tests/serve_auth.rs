//! `codex-flow serve` refuses what it cannot authenticate: seed-shaped client configurations
//! (`mode`, `hmacSecret`, `bearerToken`) sign and authenticate their requests and are
//! accepted; unsigned or tokenless clients are refused; `text/plain` bodies are refused (415);
//! the CLI will not start without a credential unless `--insecure-no-auth` is given.

mod support;

use std::process::Command;
use std::time::Duration;

use codex_flow::serve::{FlowServer, ServeAuth};
use codex_flow::{
    default_roots, DispatchOptions, DispatchStatus, FlowCatalog, FlowClientConfig, FlowError,
    PostgresFlowStore,
};
use codex_test_support::postgres::{fresh_database, TestDatabase};
use serde_json::json;
use support::{result_script, FlowTree};

struct Server {
    base: String,
    _db: TestDatabase,
    _tree: FlowTree,
}

async fn start(auth: ServeAuth) -> Server {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tree = FlowTree::new();
    tree.sh_flow(
        "flows",
        "one",
        "one",
        "s1",
        "go",
        &result_script("completed"),
    );
    let db = fresh_database("flow_serve_auth").await.unwrap();
    let store = PostgresFlowStore::connect(db.url()).await.unwrap();
    let catalog = FlowCatalog::load(&default_roots(tree.cwd())).unwrap();
    let router = FlowServer::new(store, catalog, auth, 1024 * 1024)
        .unwrap()
        .router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    Server {
        base: format!("http://{addr}/"),
        _db: db,
        _tree: tree,
    }
}

async fn dispatch(config: serde_json::Value, id: &str) -> Result<DispatchStatus, FlowError> {
    let config: FlowClientConfig = serde_json::from_value(config).expect("config parses");
    let client = config.build(None)?;
    client
        .dispatch_event(json!({"id": id, "type": "go"}), DispatchOptions::default())
        .await
        .map(|answer| answer.status)
}

fn refused_with(result: Result<DispatchStatus, FlowError>, status: u16) {
    match result {
        Err(FlowError::Backend { status: got, .. }) if got == status => {}
        other => panic!("expected a {status} refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_seed_shaped_hmac_secret_config_signs_its_requests() {
    let server = start(ServeAuth {
        signing_secret: Some("seed-secret".into()),
        ..ServeAuth::default()
    })
    .await;
    let seed = json!({"mode": "http", "baseUrl": server.base, "hmacSecret": "seed-secret"});
    assert_eq!(
        dispatch(seed, "seed-1").await.unwrap(),
        DispatchStatus::Accepted
    );
    // The same client without the secret, or with another one, is refused.
    refused_with(
        dispatch(json!({"mode": "http", "baseUrl": server.base}), "seed-2").await,
        401,
    );
    refused_with(
        dispatch(
            json!({"mode": "http", "baseUrl": server.base, "hmacSecret": "wrong"}),
            "seed-3",
        )
        .await,
        401,
    );
}

#[tokio::test]
async fn a_seed_shaped_bearer_token_config_authenticates() {
    let server = start(ServeAuth {
        token: Some("seed-token".into()),
        ..ServeAuth::default()
    })
    .await;
    let seed = json!({"mode": "http", "baseUrl": server.base, "bearerToken": "seed-token"});
    assert_eq!(
        dispatch(seed, "tok-1").await.unwrap(),
        DispatchStatus::Accepted
    );
    refused_with(
        dispatch(json!({"backend": "http", "baseUrl": server.base}), "tok-2").await,
        401,
    );
}

#[tokio::test]
async fn a_text_plain_post_is_refused_with_415_and_records_nothing() {
    let server = start(ServeAuth {
        insecure_no_auth: true,
        ..ServeAuth::default()
    })
    .await;
    let http = reqwest::Client::new();
    // What a web page can send cross-site without a preflight.
    let response = http
        .post(format!("{}events", server.base))
        .header("content-type", "text/plain")
        .body(r#"{"id":"csrf-1","type":"go"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    let response = http
        .post(format!("{}events", server.base))
        .body(r#"{"id":"csrf-2","type":"go"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415, "no content-type at all");
    // Nothing was recorded; a JSON body is accepted (this server has no credential).
    let config = json!({"backend": "http", "baseUrl": server.base});
    assert_eq!(
        dispatch(config, "csrf-1").await.unwrap(),
        DispatchStatus::Accepted
    );
    let response = http
        .post(format!("{}events", server.base))
        .header("content-type", "application/json; charset=utf-8")
        .body(r#"{"id":"csrf-2","type":"go"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
}

#[test]
fn the_library_server_refuses_to_build_without_a_credential() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let tree = FlowTree::new();
        let db = fresh_database("flow_serve_noauth").await.unwrap();
        let store = PostgresFlowStore::connect(db.url()).await.unwrap();
        let catalog = FlowCatalog::load(&default_roots(tree.cwd())).unwrap();
        let Err(err) = FlowServer::new(store, catalog, ServeAuth::default(), 1024) else {
            panic!("a server without a credential was built");
        };
        assert!(err.to_string().contains("--insecure-no-auth"), "{err}");
    });
}

#[test]
fn the_cli_refuses_to_serve_without_a_credential() {
    let tree = FlowTree::new();
    let mut command = Command::new(env!("CARGO_BIN_EXE_codex-flow"));
    command
        .current_dir(tree.cwd())
        .args([
            "serve",
            "--store",
            "postgres://nobody@127.0.0.1:1/none",
            "--listen",
            "127.0.0.1:0",
        ])
        .env_remove("CODEX_FLOW_SERVE_TOKEN")
        .env_remove("CODEX_FLOW_SERVE_API_KEY")
        .env_remove("CODEX_FLOW_SERVE_SECRET");
    let output = run_bounded(command);
    assert!(
        !output.status.success(),
        "serve started without a credential"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no credential configured"), "{stderr}");
    assert!(stderr.contains("--insecure-no-auth"), "{stderr}");
}

/// Runs `command` to its end, killing it after 20 s (a server that did start would not end).
fn run_bounded(mut command: Command) -> std::process::Output {
    use std::process::Stdio;
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            // SAFETY: pid is our own child, which has not been reaped (wait is still pending).
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("serve did not exit: it started without a credential");
        }
    }
}
