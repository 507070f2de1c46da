//! [`MockModel`]: the running loopback HTTP server that serves a [`Scenario`].

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::plan::{plan, Plan, Step};
use crate::{sse, MockError, RecordedRequest, Reply, Scenario};

/// Path of the Responses API endpoint.
pub(crate) const RESPONSES_PATH: &str = "/v1/responses";
const MODELS_PATH: &str = "/v1/models";
/// Largest request body accepted (codex sends the whole history each turn).
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
/// Most requests kept in the record; older ones are dropped (with a warning) beyond this.
const MAX_RECORDED: usize = 10_000;
/// SSE frames buffered per stream before the producer waits for the client.
const STREAM_BUFFER: usize = 32;

/// Run-time options of a [`MockModel`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MockOptions {
    /// Port on 127.0.0.1; 0 (the default) picks a free one.
    pub port: u16,
    /// Interval of `: keepalive` comments while a [`Reply::Stall`] is held (default 1 s).
    pub keepalive_interval: Duration,
}

impl Default for MockOptions {
    fn default() -> Self {
        Self {
            port: 0,
            keepalive_interval: Duration::from_secs(1),
        }
    }
}

impl MockOptions {
    /// Sets [`MockOptions::port`].
    #[must_use]
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Sets [`MockOptions::keepalive_interval`].
    #[must_use]
    pub fn keepalive_interval(mut self, interval: Duration) -> Self {
        self.keepalive_interval = interval;
        self
    }
}

/// A running mock of the OpenAI Responses API on `127.0.0.1`.
///
/// Each `POST /v1/responses` takes the next [`Reply`] of the [`Scenario`]; every request is
/// recorded. `GET /v1/models` answers `{"models":[]}`; other routes get a JSON 404. The server
/// stops when the value is dropped (or with [`MockModel::shutdown`]).
///
/// ```
/// use codex_mock_model::{MockModel, Reply, Scenario};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), codex_mock_model::MockError> {
/// let mock = MockModel::start(Scenario::new([Reply::text("hello")])).await?;
/// assert!(mock.url().starts_with("http://127.0.0.1:"));
/// assert!(mock.url().ends_with("/v1"));
/// mock.shutdown().await;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct MockModel {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    inner: Mutex<Inner>,
    /// Number of `POST /v1/responses` received so far.
    responses_seen: watch::Sender<u64>,
    /// Number of streams currently held by a stall.
    stalls_held: watch::Sender<usize>,
    /// One permit per `release_stall` call not yet consumed by a stall.
    stall_releases: Semaphore,
    cancel: CancellationToken,
    keepalive_interval: Duration,
}

#[derive(Debug)]
struct Inner {
    queue: VecDeque<Reply>,
    fallback: Option<Reply>,
    records: VecDeque<RecordedRequest>,
    dropped_records: u64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl MockModel {
    /// Starts a server on an ephemeral loopback port serving `scenario`.
    pub async fn start(scenario: Scenario) -> Result<Self, MockError> {
        Self::start_with(scenario, MockOptions::default()).await
    }

    /// Starts a server with explicit [`MockOptions`].
    pub async fn start_with(scenario: Scenario, options: MockOptions) -> Result<Self, MockError> {
        let requested = SocketAddr::from((Ipv4Addr::LOCALHOST, options.port));
        let bind_error = |source| MockError::Bind {
            addr: requested.to_string(),
            source,
        };
        let listener = tokio::net::TcpListener::bind(requested)
            .await
            .map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                queue: scenario.replies,
                fallback: scenario.fallback,
                records: VecDeque::new(),
                dropped_records: 0,
            }),
            responses_seen: watch::Sender::new(0),
            stalls_held: watch::Sender::new(0),
            stall_releases: Semaphore::new(0),
            cancel: CancellationToken::new(),
            keepalive_interval: options.keepalive_interval.max(Duration::from_millis(1)),
        });
        let router = Router::new()
            .fallback(handle)
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(Arc::clone(&shared));
        let shutdown = shared.cancel.clone().cancelled_owned();
        let server = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::warn!("mock model: server stopped with an error: {err}");
            }
        });
        tracing::debug!("mock model listening on http://{addr}/v1");
        Ok(Self {
            addr,
            shared,
            server: Some(server),
        })
    }

    /// The base URL to give codex: `http://127.0.0.1:PORT/v1`.
    pub fn url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request received so far, oldest first (at most the last 10,000).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().records.iter().cloned().collect()
    }

    /// The bodies of the `POST /v1/responses` requests received so far, in order.
    pub fn response_requests(&self) -> Vec<Value> {
        self.shared
            .lock()
            .records
            .iter()
            .filter(|record| record.is_responses_call())
            .map(|record| record.body.clone())
            .collect()
    }

    /// Waits until at least `n` `POST /v1/responses` have arrived, then returns their bodies.
    pub async fn wait_for_requests(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<Value>, MockError> {
        let mut seen = self.shared.responses_seen.subscribe();
        let wanted = n as u64;
        let outcome = tokio::time::timeout(timeout, seen.wait_for(|count| *count >= wanted))
            .await
            .map(|waited| waited.is_ok());
        match outcome {
            Ok(true) => Ok(self.response_requests()),
            Ok(false) => Err(MockError::ShutDown),
            Err(_) => Err(MockError::Timeout {
                what: format!("{n} responses request(s), got {}", *seen.borrow()),
                waited: timeout,
            }),
        }
    }

    /// Appends a reply to the scenario at run time.
    pub fn push(&self, reply: Reply) {
        self.shared.lock().queue.push_back(reply);
    }

    /// Replies not yet served (the fallback not counted).
    pub fn remaining_replies(&self) -> usize {
        self.shared.lock().queue.len()
    }

    /// Lets one held [`Reply::Stall`] complete; when no stream is stalled yet, the next stall
    /// completes as soon as it reaches its hold point.
    pub fn release_stall(&self) {
        self.shared.stall_releases.add_permits(1);
    }

    /// Number of streams currently held by a stall.
    pub fn stalls_held(&self) -> usize {
        *self.shared.stalls_held.borrow()
    }

    /// Waits until at least one stream is held by a stall (its prefix deltas have been sent).
    pub async fn wait_for_stall(&self, timeout: Duration) -> Result<(), MockError> {
        let mut held = self.shared.stalls_held.subscribe();
        let outcome = tokio::time::timeout(timeout, held.wait_for(|count| *count > 0))
            .await
            .map(|waited| waited.is_ok());
        match outcome {
            Ok(true) => Ok(()),
            Ok(false) => Err(MockError::ShutDown),
            Err(_) => Err(MockError::Timeout {
                what: "a stalled stream".to_owned(),
                waited: timeout,
            }),
        }
    }

    /// Stops the server: ends open streams (stalls included), stops accepting, and waits (up to
    /// two seconds) for open connections to close.
    pub async fn shutdown(mut self) {
        self.shared.cancel.cancel();
        if let Some(mut server) = self.server.take() {
            if tokio::time::timeout(Duration::from_secs(2), &mut server)
                .await
                .is_err()
            {
                tracing::warn!("mock model: connections still open after 2 s; aborting the server");
                server.abort();
            }
        }
    }
}

impl Drop for MockModel {
    fn drop(&mut self) {
        self.shared.cancel.cancel();
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let parsed = parse_body(&body);
    record(&shared, &method, &path, &headers, parsed.clone());
    match (method.clone(), path.as_str()) {
        (Method::POST, RESPONSES_PATH) => responses(&shared, parsed),
        (Method::GET, MODELS_PATH) => {
            (StatusCode::OK, axum::Json(json!({"models": []}))).into_response()
        }
        (_, RESPONSES_PATH | MODELS_PATH) => json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("mock model: {method} is not allowed on {path}"),
            "method_not_allowed",
        ),
        _ => json_error(
            StatusCode::NOT_FOUND,
            &format!("mock model: no route for {method} {path}"),
            "not_found",
        ),
    }
}

fn parse_body(body: &Bytes) -> Result<Value, Value> {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body)
        .map_err(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

fn record(
    shared: &Shared,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: Result<Value, Value>,
) {
    let record = RecordedRequest {
        method: method.to_string(),
        path: path.to_owned(),
        body: body.unwrap_or_else(|raw| raw),
        headers: headers
            .iter()
            .map(|(name, value)| {
                (
                    name.to_string(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
    };
    let mut inner = shared.lock();
    if inner.records.len() >= MAX_RECORDED {
        inner.records.pop_front();
        inner.dropped_records += 1;
        if inner.dropped_records == 1 {
            tracing::warn!(
                "mock model: more than {MAX_RECORDED} requests; dropping the oldest records"
            );
        }
    }
    inner.records.push_back(record);
}

fn responses(shared: &Arc<Shared>, body: Result<Value, Value>) -> Response {
    // Number the request and take its reply under one lock so concurrent requests stay ordered.
    let (number, reply) = {
        let mut inner = shared.lock();
        let mut number = 0;
        shared.responses_seen.send_modify(|count| {
            *count += 1;
            number = *count;
        });
        let reply = match &body {
            Ok(_) => inner.queue.pop_front().or_else(|| inner.fallback.clone()),
            Err(_) => None,
        };
        (number, reply)
    };
    let request = match body {
        Ok(request) => request,
        Err(_) => {
            let message = format!(
                "mock model: request #{number} to {RESPONSES_PATH} has a body that is not JSON"
            );
            tracing::warn!("{message}");
            return json_error(StatusCode::BAD_REQUEST, &message, "invalid_request_error");
        }
    };
    let Some(reply) = reply else {
        let message = format!("mock model: no scripted reply left for request #{number}");
        tracing::warn!("{message}");
        return json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &message,
            "mock_model_exhausted",
        );
    };
    match plan(&reply, number, &request) {
        Plan::Error { status, body } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, axum::Json(body)).into_response()
        }
        Plan::Stream(steps) => stream(shared, steps),
    }
}

fn stream(shared: &Arc<Shared>, steps: Vec<Step>) -> Response {
    let (tx, rx) = mpsc::channel::<Bytes>(STREAM_BUFFER);
    tokio::spawn(produce(Arc::clone(shared), steps, tx));
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|frame| (Ok::<_, Infallible>(frame), rx))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(body))
        .unwrap_or_else(|err| {
            json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("mock model: cannot build the stream response: {err}"),
                "mock_model_error",
            )
        })
}

/// Sends the steps of one stream; stops early when the client goes away or the server stops.
async fn produce(shared: Arc<Shared>, steps: Vec<Step>, tx: mpsc::Sender<Bytes>) {
    for step in steps {
        let keep_going = match step {
            Step::Event(event) => send(&shared, &tx, Bytes::from(sse::frame(&event))).await,
            Step::Sleep(delay) => tokio::select! {
                () = tokio::time::sleep(delay) => true,
                () = tx.closed() => false,
                () = shared.cancel.cancelled() => false,
            },
            Step::Stall => hold(&shared, &tx).await,
        };
        if !keep_going {
            tracing::debug!("mock model: stream ended early (client gone or server stopping)");
            return;
        }
    }
}

async fn send(shared: &Shared, tx: &mpsc::Sender<Bytes>, frame: Bytes) -> bool {
    tokio::select! {
        sent = tx.send(frame) => sent.is_ok(),
        () = shared.cancel.cancelled() => false,
    }
}

/// Holds a stalled stream, sending keepalives, until released; false when it must end instead.
async fn hold(shared: &Shared, tx: &mpsc::Sender<Bytes>) -> bool {
    struct Held<'a>(&'a watch::Sender<usize>);
    impl Drop for Held<'_> {
        fn drop(&mut self) {
            self.0.send_modify(|count| *count = count.saturating_sub(1));
        }
    }
    shared.stalls_held.send_modify(|count| *count += 1);
    let _held = Held(&shared.stalls_held);
    let mut keepalive = tokio::time::interval(shared.keepalive_interval);
    keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    keepalive.tick().await; // the first tick is immediate
    loop {
        tokio::select! {
            permit = shared.stall_releases.acquire() => {
                return match permit {
                    Ok(permit) => {
                        permit.forget();
                        true
                    }
                    Err(_) => false,
                };
            }
            _ = keepalive.tick() => {
                if !send(shared, tx, Bytes::from_static(sse::KEEPALIVE.as_bytes())).await {
                    return false;
                }
            }
            () = tx.closed() => return false,
            () = shared.cancel.cancelled() => return false,
        }
    }
}

fn json_error(status: StatusCode, message: &str, kind: &str) -> Response {
    (status, axum::Json(sse::error_body(message, kind))).into_response()
}
