//! [`MockModel`]: the running loopback HTTP server that serves a [`Scenario`].

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::task::JoinHandle;

use crate::routes::router;
use crate::state::Shared;
use crate::{MockError, RecordedRequest, Reply, Scenario};

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
        let shared = Arc::new(Shared::new(scenario, options.keepalive_interval));
        let router = router(Arc::clone(&shared));
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

    /// Number of streams the client closed before they ended (a stalled stream that codex
    /// dropped when its turn was interrupted, for example).
    pub fn streams_closed_by_client(&self) -> usize {
        *self.shared.streams_closed_by_client.borrow()
    }

    /// Waits until the client has closed at least `count` streams before their end.
    pub async fn wait_for_streams_closed_by_client(
        &self,
        count: usize,
        timeout: Duration,
    ) -> Result<(), MockError> {
        let mut closed = self.shared.streams_closed_by_client.subscribe();
        let outcome = tokio::time::timeout(timeout, closed.wait_for(|n| *n >= count))
            .await
            .map(|waited| waited.is_ok());
        match outcome {
            Ok(true) => Ok(()),
            Ok(false) => Err(MockError::ShutDown),
            Err(_) => Err(MockError::Timeout {
                what: format!("{count} stream(s) closed by the client"),
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
