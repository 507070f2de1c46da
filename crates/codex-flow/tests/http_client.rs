//! The HTTP flow client against a real local server (axum on 127.0.0.1:0): headers, HMAC
//! signature over the exact body, base URL prefix, normalization, non-2xx errors.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::Router;
use codex_flow::{
    verify_signature, DispatchOptions, DispatchStatus, EffectiveStatus, EventFilter, FlowClient,
    FlowError, HttpFlowClient, HttpFlowClientConfig, ProcessStatus, RunFilter,
};
use serde_json::{json, Value};

const SECRET: &str = "s3cret";
const TOKEN: &str = "tok-123";

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path_and_query: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

#[derive(Default)]
struct Backend {
    seen: Mutex<Vec<Seen>>,
}

async fn handle(
    State(backend): State<Arc<Backend>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    backend.seen.lock().unwrap().push(Seen {
        method: method.to_string(),
        path_and_query: uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        headers: headers.clone(),
        body: body.to_vec(),
    });
    // The server side of the contract: bearer checked, signature checked in constant time
    // (legacy header accepted).
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {TOKEN}"))
    {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid token"})),
        );
    }
    if !body.is_empty() {
        let signature = headers
            .get("x-flow-signature-256")
            .or_else(|| headers.get("x-patch-flow-signature-256"))
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !verify_signature(SECRET.as_bytes(), &body, signature) {
            return (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"error": "invalid signature"})),
            );
        }
    }
    let path = uri
        .path()
        .strip_prefix("/api/flows")
        .unwrap_or("<no prefix>");
    let (status, answer) = match (method.as_str(), path) {
        ("POST", "/events") => {
            let event: Value = serde_json::from_slice(&body).unwrap();
            (
                StatusCode::ACCEPTED,
                json!({"status": "accepted", "eventId": event["id"], "runIds": ["r1", "r2"], "matched": 2}),
            )
        }
        ("POST", "/events/patch:openai%2Fcodex/replay") => (
            StatusCode::ACCEPTED,
            json!({"status": "accepted", "runs": [{"id": "r9"}]}),
        ),
        ("GET", "/runs") => (
            StatusCode::OK,
            json!({"runs": [
                {"runId": "r1", "eventId": "e1", "status": "succeeded", "resultJson": "{\"status\":\"blocked\",\"message\":\"ci red\"}", "stdout": "out", "stderr": "err"},
                {"id": "r2", "processStatus": "leased", "output": ["first", {"attemptId": "a2", "stdout": "second"}],
                 "attempts": [{"attemptId": "a1", "status": "failed", "attemptNumber": 1, "workerId": "w1"},
                              {"id": "a2", "status": "leased", "attemptNumber": 2, "workerId": "w2", "leaseExpiresAt": "2030-01-01T00:00:00Z", "region": "eu"}]},
                {"id": "r3", "result": {"flow": "f", "step": "s", "result": {"status": "changed"}}, "status": "completed"},
                {"id": "r4"}
            ]}),
        ),
        ("GET", "/runs/r1") => (
            StatusCode::OK,
            json!({"run": {"id": "r1", "status": "queued"}}),
        ),
        ("GET", "/runs/missing") => (StatusCode::NOT_FOUND, json!({"error": "not found"})),
        ("POST", "/runs/r1/cancel") => (
            StatusCode::OK,
            json!({"run": {"id": "r1", "status": "cancelled"}}),
        ),
        ("GET", "/events") => (
            StatusCode::OK,
            json!({"events": [{"id": "e1", "type": "go", "receivedAt": "2026-01-01T00:00:00Z", "payload": {"a": 1}, "runIds": ["r1"]}]}),
        ),
        ("GET", "/events/e1") => (
            StatusCode::OK,
            json!({"event": {"id": "e1", "type": "go"}, "runs": [{"id": "r1", "status": "running"}]}),
        ),
        ("GET", "/events/broken") => (StatusCode::INTERNAL_SERVER_ERROR, json!({"error": "boom"})),
        _ => (StatusCode::NOT_FOUND, json!({"error": "no route"})),
    };
    (status, axum::Json(answer))
}

async fn start() -> (String, Arc<Backend>) {
    let backend = Arc::new(Backend::default());
    let app = Router::new().fallback(handle).with_state(backend.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/api/flows"), backend)
}

fn client(base: &str, secret: &str) -> HttpFlowClient {
    let mut config = HttpFlowClientConfig::new(base);
    config.token = Some(TOKEN.into());
    config.api_key = Some("key-9".into());
    config.signing_secret = Some(secret.into());
    config.headers.insert("x-tenant".into(), "acme".into());
    HttpFlowClient::new(config).unwrap()
}

#[tokio::test]
async fn dispatch_sends_headers_and_a_signature_over_the_exact_body() {
    let (base, backend) = start().await;
    let client = client(&base, SECRET);
    let answer = client
        .dispatch_event(
            json!({"id": "e1", "type": "go", "payload": {"n": 1}}),
            DispatchOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(answer.status, DispatchStatus::Accepted);
    assert_eq!(answer.run_ids, ["r1", "r2"]);
    assert_eq!(answer.matched, 2);
    let seen = backend.seen.lock().unwrap()[0].clone();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.path_and_query, "/api/flows/events");
    let header = |name: &str| {
        seen.headers
            .get(name)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(header("authorization"), "Bearer tok-123");
    assert_eq!(header("x-api-key"), "key-9");
    assert_eq!(header("x-tenant"), "acme");
    assert_eq!(header("content-type"), "application/json");
    let signature = header("x-flow-signature-256");
    assert_eq!(
        signature,
        codex_flow::sign_body(SECRET.as_bytes(), &seen.body)
    );
    let sent: Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(sent["id"], "e1");
    assert_eq!(sent["payload"], json!({"n": 1}));
    assert!(
        sent["receivedAt"].is_string(),
        "intake defaults are applied before sending"
    );
}

#[tokio::test]
async fn wrong_secret_and_server_errors_give_the_contract_message() {
    let (base, _) = start().await;
    let err = client(&base, "wrong")
        .dispatch_event(
            json!({"id": "e1", "type": "go"}),
            DispatchOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Flow backend POST /api/flows/events failed with 401"
    );
    assert!(
        matches!(&err, FlowError::Backend { status: 401, body, .. } if body.contains("invalid signature"))
    );

    let err = client(&base, SECRET).get_event("broken").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "Flow backend GET /api/flows/events/broken failed with 500"
    );
    let err = client(&base, SECRET).get_run("missing").await.unwrap_err();
    assert!(matches!(err, FlowError::UnknownRun(id) if id == "missing"));
    // Nothing listens there: a transport error, not a panic.
    let err = client("http://127.0.0.1:9/api", SECRET)
        .get_run("r1")
        .await
        .unwrap_err();
    assert!(matches!(err, FlowError::Http { .. }), "{err}");
}

#[tokio::test]
async fn heterogeneous_runs_are_normalized() {
    let (base, backend) = start().await;
    let client = client(&base, SECRET);
    let runs = client
        .list_runs(RunFilter {
            event_id: Some("e 1".into()),
            status: Some("blocked".into()),
            limit: Some(5),
        })
        .await
        .unwrap();
    let seen = backend.seen.lock().unwrap()[0].clone();
    assert_eq!(
        seen.path_and_query,
        "/api/flows/runs?eventId=e+1&status=blocked&limit=5"
    );
    assert!(
        seen.headers.get("x-flow-signature-256").is_none(),
        "GET has no body to sign"
    );

    assert_eq!(runs.len(), 4);
    let r1 = &runs[0];
    assert_eq!(r1.id, "r1");
    assert_eq!(r1.process_status, Some(ProcessStatus::Completed));
    assert_eq!(r1.effective_status, EffectiveStatus::Blocked);
    assert!(r1.needs_attention);
    assert_eq!(
        r1.result.as_ref().unwrap().message.as_deref(),
        Some("ci red")
    );
    let out = r1.latest_output.as_ref().unwrap();
    assert_eq!(
        (out.stdout.text.as_str(), out.stderr.text.as_str()),
        ("out", "err")
    );

    let r2 = &runs[1];
    assert_eq!(r2.process_status, Some(ProcessStatus::Running));
    assert_eq!(r2.effective_status, EffectiveStatus::Running);
    assert_eq!(r2.output.len(), 2);
    assert_eq!(r2.latest_output.as_ref().unwrap().stdout.text, "second");
    assert_eq!(r2.attempts[0].id, "a1");
    assert_eq!(r2.attempts[1].attempt_number, 2);
    assert_eq!(r2.attempts[1].worker_id.as_deref(), Some("w2"));
    assert_eq!(
        r2.attempts[1].lease_expires_at.as_deref(),
        Some("2030-01-01T00:00:00Z")
    );
    assert_eq!(r2.attempts[1].extra["region"], "eu");

    // The reference's {flow, step, result} wrapper is unwrapped: the semantic status survives.
    assert_eq!(runs[2].effective_status, EffectiveStatus::Changed);
    assert_eq!(runs[3].effective_status, EffectiveStatus::Unknown);
    assert!(!runs[3].needs_attention);
}

#[tokio::test]
async fn every_route_keeps_the_prefix_and_encodes_ids() {
    let (base, backend) = start().await;
    let client = client(&base, SECRET);
    assert_eq!(
        client.get_run("r1").await.unwrap().process_status,
        Some(ProcessStatus::Queued)
    );
    let canceled = client.cancel_run("r1").await.unwrap();
    assert_eq!(canceled.process_status, Some(ProcessStatus::Canceled));
    let events = client
        .list_events(EventFilter {
            event_type: Some("go".into()),
            limit: Some(2),
        })
        .await
        .unwrap();
    assert_eq!(events[0].event.id, "e1");
    assert_eq!(events[0].run_ids, ["r1"]);
    assert_eq!(events[0].event.payload, json!({"a": 1}));
    let detail = client.get_event("e1").await.unwrap();
    assert_eq!(detail.runs[0].process_status, Some(ProcessStatus::Running));
    assert_eq!(detail.event.run_ids, ["r1"]);
    let replay = client
        .replay_event("patch:openai/codex", DispatchOptions { wait: true })
        .await
        .unwrap();
    assert_eq!(replay.run_ids, ["r9"]);
    assert_eq!(replay.event_id, "patch:openai/codex");
    assert_eq!(replay.matched, 1);

    let seen = backend.seen.lock().unwrap().clone();
    let routes: Vec<String> = seen
        .iter()
        .map(|s| format!("{} {}", s.method, s.path_and_query))
        .collect();
    assert_eq!(
        routes,
        [
            "GET /api/flows/runs/r1",
            "POST /api/flows/runs/r1/cancel",
            "GET /api/flows/events?type=go&limit=2",
            "GET /api/flows/events/e1",
            "POST /api/flows/events/patch:openai%2Fcodex/replay",
        ]
    );
    assert_eq!(seen[1].body, b"{}");
    assert_eq!(
        serde_json::from_slice::<Value>(&seen[4].body).unwrap(),
        json!({"wait": true})
    );
    for s in seen.iter().filter(|s| s.method == "POST") {
        let sig = s
            .headers
            .get("x-flow-signature-256")
            .unwrap()
            .to_str()
            .unwrap();
        assert!(verify_signature(SECRET.as_bytes(), &s.body, sig));
    }
}
