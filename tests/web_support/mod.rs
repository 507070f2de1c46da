//! Shared by the `web_*` tests: a `WebAdapter` served on a real port over the real codex and
//! the mock model, two tenants, a real HTTP client (reqwest) and SSE parser
//! (eventsource-stream).

#![allow(dead_code)]

pub mod faulty;

use codex_runtime::runtime::{ApprovalMode, Client, Sandbox};
use codex_runtime::web::{TenantId, TenantTokens, WebAdapter, WebConfig};
use codex_test_support::codex_mock_model::{Reply, Scenario};
use codex_test_support::CodexTestEnv;
use eventsource_stream::{Event, Eventsource};
use futures::{Stream, StreamExt};
use serde_json::Value;
use std::pin::Pin;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Alice's bearer token.
pub const ALICE: &str = "alice-token";
/// Bob's bearer token.
pub const BOB: &str = "bob-token";
/// Upper bound of any single wait; the machine is loaded, so generous.
pub const WAIT: Duration = Duration::from_secs(120);

/// A served adapter on the real codex.
pub struct Harness {
    pub env: CodexTestEnv,
    pub client: Client,
    pub adapter: WebAdapter,
    pub base: String,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

/// Alice and Bob, each with a token.
pub fn tokens() -> TenantTokens {
    TenantTokens::new()
        .with_token(TenantId::new("alice").unwrap(), ALICE)
        .with_token(TenantId::new("bob").unwrap(), BOB)
}

impl Harness {
    /// Serves an adapter (sessions `untrusted` + workspace-write) over a mock answering
    /// `replies`; `tweak` adjusts the configuration.
    pub async fn start(replies: Vec<Reply>, tweak: impl FnOnce(WebConfig) -> WebConfig) -> Self {
        Self::start_scenario(Scenario::new(replies), tweak).await
    }

    /// Like [`Harness::start`] with a whole scenario.
    pub async fn start_scenario(
        scenario: Scenario,
        tweak: impl FnOnce(WebConfig) -> WebConfig,
    ) -> Self {
        let env = CodexTestEnv::start(scenario).await.unwrap();
        let client = Client::connect(env.client_config()).await.unwrap();
        let session = env
            .session_config()
            .with_approval(ApprovalMode::Untrusted)
            .with_sandbox(Sandbox::WorkspaceWrite);
        let adapter = WebAdapter::spawn(client.clone(), tweak(WebConfig::new(session, tokens())));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let served = adapter.clone();
        let server = tokio::spawn(async move {
            served
                .serve(listener, async move {
                    let _ = stopped.await;
                })
                .await
        });
        Harness {
            env,
            client,
            adapter,
            base,
            http: http_client(),
            stop: Some(stop),
            server: Some(server),
        }
    }

    /// A second instance: another adapter (own configuration, e.g. the same store) on the same
    /// codex, served on its own port.
    pub async fn another_instance(&self, tweak: impl FnOnce(WebConfig) -> WebConfig) -> Harness2 {
        let session = self
            .env
            .session_config()
            .with_approval(ApprovalMode::Untrusted)
            .with_sandbox(Sandbox::WorkspaceWrite);
        let adapter = WebAdapter::spawn(
            self.client.clone(),
            tweak(WebConfig::new(session, tokens())),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let served = adapter.clone();
        let server = tokio::spawn(async move {
            served
                .serve(listener, async move {
                    let _ = stopped.await;
                })
                .await
        });
        Harness2 {
            adapter,
            base,
            stop: Some(stop),
            server: Some(server),
        }
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POST `path` with a JSON body as `token`.
    pub async fn post(&self, token: &str, path: &str, body: Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Creates a session as `token`; its id.
    pub async fn create_session(&self, token: &str) -> String {
        let res = self
            .post(token, "/api/sessions", serde_json::json!({}))
            .await;
        assert_eq!(res.status(), 201);
        let body: Value = res.json().await.unwrap();
        body["id"].as_str().unwrap().to_string()
    }

    /// Starts a turn; asserts 202.
    pub async fn turn(&self, token: &str, session: &str, prompt: &str) {
        let res = self
            .post(
                token,
                &format!("/api/sessions/{session}/turns"),
                serde_json::json!({ "prompt": prompt }),
            )
            .await;
        assert_eq!(
            res.status(),
            202,
            "{}",
            res.text().await.unwrap_or_default()
        );
    }

    /// Opens an SSE stream (`events` or `approvals`) as `token`, resuming after `last_id`.
    pub async fn sse(&self, token: &str, path: &str, last_id: Option<u64>) -> Sse {
        sse_at(&self.http, &self.url(path), token, last_id).await
    }

    /// The session's events stream.
    pub async fn events(&self, token: &str, session: &str, last_id: Option<u64>) -> Sse {
        self.sse(token, &format!("/api/sessions/{session}/events"), last_id)
            .await
    }

    /// Stops the server gracefully and the client; asserts no codex process is left.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            tokio::time::timeout(WAIT, server)
                .await
                .expect("graceful shutdown finished")
                .unwrap()
                .unwrap();
        }
        self.client.shutdown().await.unwrap();
        self.env.assert_no_leftover_processes().await;
    }
}

/// A second served adapter (see [`Harness::another_instance`]).
pub struct Harness2 {
    pub adapter: WebAdapter,
    pub base: String,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

impl Harness2 {
    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops it gracefully.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            tokio::time::timeout(WAIT, server)
                .await
                .expect("graceful shutdown finished")
                .unwrap()
                .unwrap();
        }
    }
}

/// Opens the SSE stream at `url` as `token`, resuming after `last_id`.
pub async fn sse_at(http: &reqwest::Client, url: &str, token: &str, last_id: Option<u64>) -> Sse {
    let mut req = http.get(url).bearer_auth(token);
    if let Some(id) = last_id {
        req = req.header("Last-Event-ID", id.to_string());
    }
    let res = req.send().await.unwrap();
    assert_eq!(res.status(), 200, "{url}");
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    Sse::from(res.bytes_stream().eventsource())
}

/// One parsed SSE event.
#[derive(Debug, Clone, PartialEq)]
pub struct Ev {
    pub id: u64,
    pub kind: String,
    pub data: Value,
}

/// An SSE connection read with eventsource-stream.
pub struct Sse {
    inner: Pin<Box<dyn Stream<Item = Result<Event, String>> + Send>>,
}

impl Sse {
    /// Wraps any event stream (e.g. one built from a `reqwest` response).
    pub fn from_stream(s: impl Stream<Item = Result<Event, String>> + Send + 'static) -> Sse {
        Sse { inner: Box::pin(s) }
    }

    /// The next event; `None` at the end of the stream. Panics after [`WAIT`].
    pub async fn next(&mut self) -> Option<Ev> {
        let ev = tokio::time::timeout(WAIT, self.inner.next())
            .await
            .expect("an SSE event in time")?
            .unwrap();
        Some(Ev {
            id: ev.id.parse().unwrap_or(0),
            kind: ev.event,
            data: serde_json::from_str(&ev.data).unwrap(),
        })
    }

    /// Every event up to and including the first of `kind`.
    pub async fn until(&mut self, kind: &str) -> Vec<Ev> {
        let mut out = Vec::new();
        while let Some(ev) = self.next().await {
            let done = ev.kind == kind;
            out.push(ev);
            if done {
                return out;
            }
        }
        panic!("the stream ended before `{kind}`: {out:#?}");
    }
}

impl<S> From<S> for Sse
where
    S: Stream<Item = Result<Event, eventsource_stream::EventStreamError<reqwest::Error>>>
        + Send
        + 'static,
{
    fn from(s: S) -> Sse {
        Sse::from_stream(s.map(|r| r.map_err(|e| e.to_string())))
    }
}

/// Asserts `events` have the ids `first, first+1, ...` with no gap or duplicate.
pub fn assert_gap_free(events: &[Ev], first: u64) {
    for (i, ev) in events.iter().enumerate() {
        assert_eq!(ev.id, first + i as u64, "event {i} of {events:#?}");
    }
}

/// A plain-HTTP client. In a workspace build reqwest gets `rustls-no-provider` (codex-flow's
/// choice), which needs a process-wide rustls provider before any client is built.
fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}
