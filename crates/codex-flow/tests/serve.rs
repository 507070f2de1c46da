//! `codex-flow serve` (in process, on a real PostgreSQL): the existing HttpFlowClient works
//! unchanged against it, and its authentication refuses what it must.

mod support;

use std::time::Duration;

use codex_flow::client::{sign_request, REQUEST_SIGNATURE_HEADER, TIMESTAMP_HEADER};
use codex_flow::serve::{FlowServer, ServeAuth};
use codex_flow::{
    default_roots, DispatchOptions, DispatchStatus, EventFilter, FlowCatalog, FlowClient,
    FlowError, HttpFlowClient, HttpFlowClientConfig, PostgresFlowStore, ProcessStatus, RunFilter,
};
use codex_test_support::postgres::{fresh_database, TestDatabase};
use serde_json::json;
use support::{result_script, FlowTree};

const TOKEN: &str = "serve-token";
const SECRET: &str = "serve-secret";

struct Server {
    base: String,
    _db: TestDatabase,
    _tree: FlowTree,
}

async fn start(accept_body_signature: bool) -> Server {
    // reqwest is built without a bundled crypto provider (as in HttpFlowClient::new).
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
    tree.sh_flow("flows", "two", "two", "s2", "go", &result_script("blocked"));
    let db = fresh_database("flow_serve").await.unwrap();
    let store = PostgresFlowStore::connect(db.url()).await.unwrap();
    let catalog = FlowCatalog::load(&default_roots(tree.cwd())).unwrap();
    let auth = ServeAuth {
        token: Some(TOKEN.into()),
        api_key: None,
        signing_secret: Some(SECRET.into()),
        accept_body_signature,
        replay_window: Duration::from_secs(300),
        insecure_no_auth: false,
    };
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

fn client(server: &Server) -> HttpFlowClient {
    let mut config = HttpFlowClientConfig::new(server.base.clone());
    config.token = Some(TOKEN.into());
    config.signing_secret = Some(SECRET.into());
    HttpFlowClient::new(config).unwrap()
}

#[tokio::test]
async fn the_http_client_works_unchanged_against_serve() {
    let server = start(false).await;
    let client = client(&server);
    let answer = client
        .dispatch_event(
            json!({"id": "evt-1", "type": "go", "payload": {"n": 1}}),
            DispatchOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(answer.status, DispatchStatus::Accepted);
    assert_eq!(answer.matched, 2);
    let again = client
        .dispatch_event(
            json!({"id": "evt-1", "type": "go"}),
            DispatchOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(again.status, DispatchStatus::Duplicate);
    assert_eq!(again.run_ids, answer.run_ids);

    // Dispatch only records: the runs wait for a worker.
    let run = client.get_run(&answer.run_ids[0]).await.unwrap();
    assert_eq!(run.process_status, Some(ProcessStatus::Queued));
    assert!(run.package_hash.as_deref().unwrap().starts_with("sha256:"));
    let runs = client
        .list_runs(RunFilter {
            event_id: Some("evt-1".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(runs.len(), 2);
    let events = client.list_events(EventFilter::default()).await.unwrap();
    assert_eq!(events[0].event.id, "evt-1");
    let detail = client.get_event("evt-1").await.unwrap();
    assert_eq!(detail.event.run_ids, answer.run_ids);
    assert_eq!(detail.runs.len(), 2);
    assert_eq!(detail.event.event.payload, json!({"n": 1}));

    let canceled = client.cancel_run(&answer.run_ids[1]).await.unwrap();
    assert_eq!(canceled.process_status, Some(ProcessStatus::Canceled));
    let replay = client
        .replay_event("evt-1", DispatchOptions::default())
        .await
        .unwrap();
    assert_eq!(replay.run_ids.len(), 2);
    assert!(client.get_run(&replay.run_ids[0]).await.unwrap().replay);

    assert!(matches!(
        client.get_run("run_nope").await.unwrap_err(),
        FlowError::UnknownRun(_)
    ));
    assert!(matches!(
        client.get_event("nope").await.unwrap_err(),
        FlowError::UnknownEvent(_)
    ));

    let http = reqwest::Client::new();
    for path in ["healthz", "readyz"] {
        let r = http
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    let metrics = http
        .get(format!("{}metrics", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("codex_flow_runs_queued 3"), "{metrics}");
    assert!(
        metrics.contains("codex_flow_lease_takeovers_total 0"),
        "{metrics}"
    );
}

/// Sends a raw request; `sign_as` signs it for another method/path/timestamp than it is sent to.
async fn raw(
    server: &Server,
    path: &str,
    body: Vec<u8>,
    token: Option<&str>,
    sign_as: Option<(&str, i64)>,
) -> (u16, serde_json::Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}{}", server.base, path.trim_start_matches('/')))
        .header("content-type", "application/json");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if let Some((signed_path, ts)) = sign_as {
        request = request.header(TIMESTAMP_HEADER, ts.to_string()).header(
            REQUEST_SIGNATURE_HEADER,
            sign_request(SECRET.as_bytes(), "POST", signed_path, ts, &body),
        );
    }
    let response = request.body(body).send().await.unwrap();
    let status = response.status().as_u16();
    let json = response.json().await.unwrap_or(serde_json::Value::Null);
    (status, json)
}

#[tokio::test]
async fn serve_refuses_bad_signatures_replays_missing_tokens_other_paths_and_huge_bodies() {
    let server = start(false).await;
    let now = chrono::Utc::now().timestamp();
    let body = br#"{"id":"sec-1","type":"go"}"#.to_vec();

    // A correctly signed request is accepted (202).
    let (status, _) = raw(
        &server,
        "/events",
        body.clone(),
        Some(TOKEN),
        Some(("/events", now)),
    )
    .await;
    assert_eq!(status, 202);

    let body2 = br#"{"id":"sec-2","type":"go"}"#.to_vec();
    // Bad signature: signed with another body.
    let mut request = reqwest::Client::new()
        .post(format!("{}events", server.base))
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header(TIMESTAMP_HEADER, now.to_string())
        .header(
            REQUEST_SIGNATURE_HEADER,
            sign_request(SECRET.as_bytes(), "POST", "/events", now, b"{}"),
        );
    request = request.body(body2.clone());
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 401);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(answer, json!({"error": "invalid signature"}));

    // A valid signature replayed outside the window.
    let (status, answer) = raw(
        &server,
        "/events",
        body2.clone(),
        Some(TOKEN),
        Some(("/events", now - 3600)),
    )
    .await;
    assert_eq!(
        (status, answer),
        (401, json!({"error": "invalid signature"}))
    );

    // Missing token.
    let (status, answer) = raw(
        &server,
        "/events",
        body2.clone(),
        None,
        Some(("/events", now)),
    )
    .await;
    assert_eq!((status, answer), (401, json!({"error": "invalid token"})));

    // Another path signed with the same body.
    let (status, answer) = raw(
        &server,
        "/runs/run_x/cancel",
        body2.clone(),
        Some(TOKEN),
        Some(("/events", now)),
    )
    .await;
    assert_eq!(
        (status, answer),
        (401, json!({"error": "invalid signature"}))
    );

    // A body-only legacy signature is refused unless configured.
    let response = reqwest::Client::new()
        .post(format!("{}events", server.base))
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header(
            "x-flow-signature-256",
            codex_flow::sign_body(SECRET.as_bytes(), &body2),
        )
        .body(body2.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    // 10 MB body.
    let huge = vec![b' '; 10 * 1024 * 1024];
    let (status, _) = raw(
        &server,
        "/events",
        huge,
        Some(TOKEN),
        Some(("/events", now)),
    )
    .await;
    assert_eq!(status, 413);

    // Nothing refused was recorded.
    let client = client(&server);
    let events = client.list_events(EventFilter::default()).await.unwrap();
    let ids: Vec<&str> = events.iter().map(|e| e.event.id.as_str()).collect();
    assert_eq!(ids, ["sec-1"]);
}

#[tokio::test]
async fn the_legacy_body_signature_is_accepted_when_configured() {
    let server = start(true).await;
    let body = br#"{"id":"legacy-1","type":"go"}"#.to_vec();
    let response = reqwest::Client::new()
        .post(format!("{}events", server.base))
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header(
            "x-patch-flow-signature-256",
            codex_flow::sign_body(SECRET.as_bytes(), &body),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
}
