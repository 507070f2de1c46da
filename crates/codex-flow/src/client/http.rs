//! The HTTP flow client: the contract's backend routes, bearer / `x-api-key` / custom headers,
//! HMAC body signatures, normalized answers.

use std::time::Duration;

use futures::future::BoxFuture;
use reqwest::{Method, StatusCode, Url};
use serde_json::{json, Value};

use crate::client::normalize::{normalize_dispatch, normalize_event_record, normalize_run};
use crate::client::secret::redact_url;
use crate::client::signature::{
    sign_body, sign_request, REQUEST_SIGNATURE_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};
use crate::client::{
    DispatchOptions, DispatchResponse, EventDetail, FlowClient, HttpFlowClientConfig,
};
use crate::error::{FlowError, Result};
use crate::event::FlowEvent;
use crate::run_view::RunView;
use crate::state::{EventFilter, EventRecord, RunFilter};

/// Largest backend answer read, 16 MiB.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// A [`FlowClient`] backed by a flow backend over HTTP.
///
/// Redirects are not followed when a token, API key, signing secret or extra header is
/// configured (they would carry the credentials to another host); a 3xx answer is then an error.
#[derive(Clone)]
pub struct HttpFlowClient {
    config: HttpFlowClientConfig,
    base: Url,
    http: reqwest::Client,
    headers: reqwest::header::HeaderMap,
}

impl std::fmt::Debug for HttpFlowClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpFlowClient")
            .field("base_url", &redact_url(self.base.as_str()))
            .field("token", &self.config.token)
            .field("api_key", &self.config.api_key)
            .field("signing_secret", &self.config.signing_secret)
            .field("headers", &self.config.headers.keys().collect::<Vec<_>>())
            .field("timeout_ms", &self.config.timeout_ms)
            .finish_non_exhaustive()
    }
}

enum NotFound<'a> {
    Run(&'a str),
    Event(&'a str),
    Error,
}

impl HttpFlowClient {
    /// Checks the configuration and builds the HTTP client.
    ///
    /// ```
    /// let mut config = codex_flow::HttpFlowClientConfig::new("https://flows.example.com/api");
    /// config.token = Some("t0ken".into());
    /// let client = codex_flow::HttpFlowClient::new(config)?;
    /// # Ok::<(), codex_flow::FlowError>(())
    /// ```
    pub fn new(config: HttpFlowClientConfig) -> Result<Self> {
        let shown = redact_url(&config.base_url);
        let base = Url::parse(&config.base_url)
            .map_err(|e| FlowError::Config(format!("baseUrl `{shown}`: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(FlowError::Config(format!(
                "baseUrl `{shown}` must be an http(s) URL"
            )));
        }
        use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
        let mut headers = HeaderMap::new();
        let value = |name: &str, v: &str| {
            HeaderValue::from_str(v)
                .map_err(|_| FlowError::Config(format!("header `{name}` has an invalid value")))
        };
        for (name, v) in &config.headers {
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| FlowError::Config(format!("invalid header name `{name}`")))?;
            headers.insert(header, value(name, v)?);
        }
        if let Some(token) = &config.token {
            headers.insert(
                reqwest::header::AUTHORIZATION,
                value("authorization", &format!("Bearer {}", token.expose()))?,
            );
        }
        if let Some(key) = &config.api_key {
            headers.insert(
                HeaderName::from_static("x-api-key"),
                value("x-api-key", key.expose())?,
            );
        }
        headers.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(
            reqwest::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        // reqwest is built without a bundled crypto provider: use ring for TLS.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let has_credentials = config.token.is_some()
            || config.api_key.is_some()
            || config.signing_secret.is_some()
            || !config.headers.is_empty()
            || !base.username().is_empty();
        let redirects = if has_credentials {
            reqwest::redirect::Policy::none()
        } else {
            reqwest::redirect::Policy::limited(10)
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms.max(1)))
            .redirect(redirects)
            .build()
            .map_err(|e| FlowError::Config(format!("cannot build HTTP client: {e}")))?;
        Ok(HttpFlowClient {
            config,
            base,
            http,
            headers,
        })
    }

    fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty();
            path.extend(segments);
        }
        url.set_query(None);
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        url
    }

    async fn call(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&Value>,
        not_found: NotFound<'_>,
    ) -> Result<Value> {
        let url = self.url(segments, query);
        let path = url.path().to_string();
        let http_err = |message: String| FlowError::Http {
            method: method.to_string(),
            path: path.clone(),
            message,
        };
        let mut request = self
            .http
            .request(method.clone(), url.clone())
            .headers(self.headers.clone());
        let bytes = match body {
            Some(body) => Some(serde_json::to_vec(body).map_err(|e| http_err(e.to_string()))?),
            None => None,
        };
        if let Some(secret) = &self.config.signing_secret {
            // Every request carries a signature over method, path, timestamp and body; requests
            // with a body also carry the body-only signature older servers check.
            let timestamp = chrono::Utc::now().timestamp();
            let signed_path = match url.query() {
                Some(q) => format!("{}?{q}", url.path()),
                None => url.path().to_string(),
            };
            let body_bytes = bytes.as_deref().unwrap_or_default();
            request = request
                .header(TIMESTAMP_HEADER, timestamp.to_string())
                .header(
                    REQUEST_SIGNATURE_HEADER,
                    sign_request(
                        secret.expose().as_bytes(),
                        method.as_str(),
                        &signed_path,
                        timestamp,
                        body_bytes,
                    ),
                );
            if bytes.is_some() {
                request = request.header(
                    SIGNATURE_HEADER,
                    sign_body(secret.expose().as_bytes(), body_bytes),
                );
            }
        }
        if let Some(bytes) = bytes {
            request = request.body(bytes);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| http_err(e.without_url().to_string()))?;
        let status = response.status();
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| http_err(e.without_url().to_string()))?
        {
            if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(http_err(format!(
                    "answer is over the limit of {MAX_RESPONSE_BYTES} bytes"
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        if status == StatusCode::NOT_FOUND {
            match not_found {
                NotFound::Run(id) => return Err(FlowError::UnknownRun(id.to_string())),
                NotFound::Event(id) => return Err(FlowError::UnknownEvent(id.to_string())),
                NotFound::Error => {}
            }
        }
        if !status.is_success() {
            let body = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).into_owned();
            tracing::debug!(%method, path, status = status.as_u16(), body, "flow backend error");
            return Err(FlowError::Backend {
                method: method.to_string(),
                path,
                status: status.as_u16(),
                body,
            });
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| http_err(format!("answer is not JSON: {e}")))
    }

    fn shape_err(method: &str, path: &str, message: String) -> FlowError {
        FlowError::Http {
            method: method.into(),
            path: path.into(),
            message,
        }
    }

    fn run_of(&self, value: Value, path: &str, method: &str) -> Result<RunView> {
        let run = match value {
            Value::Object(mut m) if m.get("run").is_some_and(Value::is_object) => {
                m.remove("run").unwrap_or(Value::Null)
            }
            other => other,
        };
        normalize_run(&run).map_err(|e| Self::shape_err(method, path, e))
    }
}

fn items(value: Value, key: &str) -> Vec<Value> {
    match value {
        Value::Array(items) => items,
        Value::Object(mut m) => match m.remove(key) {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

impl FlowClient for HttpFlowClient {
    fn dispatch_event(
        &self,
        event: Value,
        _options: DispatchOptions,
    ) -> BoxFuture<'_, Result<DispatchResponse>> {
        Box::pin(async move {
            let event = FlowEvent::from_value(event)?;
            let body = event.to_value();
            let answer = self
                .call(Method::POST, &["events"], &[], Some(&body), NotFound::Error)
                .await?;
            normalize_dispatch(&answer, &event.id)
                .map_err(|e| Self::shape_err("POST", "/events", e))
        })
    }

    fn replay_event<'a>(
        &'a self,
        event_id: &'a str,
        options: DispatchOptions,
    ) -> BoxFuture<'a, Result<DispatchResponse>> {
        Box::pin(async move {
            let body = json!({"wait": options.wait});
            let answer = self
                .call(
                    Method::POST,
                    &["events", event_id, "replay"],
                    &[],
                    Some(&body),
                    NotFound::Event(event_id),
                )
                .await?;
            normalize_dispatch(&answer, event_id)
                .map_err(|e| Self::shape_err("POST", "/events/{id}/replay", e))
        })
    }

    fn list_runs(&self, filter: RunFilter) -> BoxFuture<'_, Result<Vec<RunView>>> {
        Box::pin(async move {
            let mut query = Vec::new();
            if let Some(v) = filter.event_id {
                query.push(("eventId", v));
            }
            if let Some(v) = filter.status {
                query.push(("status", v));
            }
            if let Some(v) = filter.limit {
                query.push(("limit", v.to_string()));
            }
            let answer = self
                .call(Method::GET, &["runs"], &query, None, NotFound::Error)
                .await?;
            items(answer, "runs")
                .iter()
                .map(|r| normalize_run(r).map_err(|e| Self::shape_err("GET", "/runs", e)))
                .collect()
        })
    }

    fn get_run<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, Result<RunView>> {
        Box::pin(async move {
            let answer = self
                .call(
                    Method::GET,
                    &["runs", run_id],
                    &[],
                    None,
                    NotFound::Run(run_id),
                )
                .await?;
            self.run_of(answer, "/runs/{id}", "GET")
        })
    }

    fn list_events(&self, filter: EventFilter) -> BoxFuture<'_, Result<Vec<EventRecord>>> {
        Box::pin(async move {
            let mut query = Vec::new();
            if let Some(v) = filter.event_type {
                query.push(("type", v));
            }
            if let Some(v) = filter.limit {
                query.push(("limit", v.to_string()));
            }
            let answer = self
                .call(Method::GET, &["events"], &query, None, NotFound::Error)
                .await?;
            items(answer, "events")
                .iter()
                .map(|e| {
                    normalize_event_record(e).map_err(|m| Self::shape_err("GET", "/events", m))
                })
                .collect()
        })
    }

    fn get_event<'a>(&'a self, event_id: &'a str) -> BoxFuture<'a, Result<EventDetail>> {
        Box::pin(async move {
            let answer = self
                .call(
                    Method::GET,
                    &["events", event_id],
                    &[],
                    None,
                    NotFound::Event(event_id),
                )
                .await?;
            let err = |m: String| Self::shape_err("GET", "/events/{id}", m);
            let runs: Vec<RunView> = match &answer {
                Value::Object(m) => match m.get("runs") {
                    Some(Value::Array(runs)) => runs
                        .iter()
                        .filter(|r| r.is_object())
                        .map(|r| normalize_run(r).map_err(err))
                        .collect::<Result<_>>()?,
                    _ => Vec::new(),
                },
                _ => Vec::new(),
            };
            let mut event = normalize_event_record(&answer).map_err(err)?;
            if event.run_ids.is_empty() {
                event.run_ids = runs.iter().map(|r| r.id.clone()).collect();
            }
            Ok(EventDetail { event, runs })
        })
    }

    fn cancel_run<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, Result<RunView>> {
        Box::pin(async move {
            let answer = self
                .call(
                    Method::POST,
                    &["runs", run_id, "cancel"],
                    &[],
                    Some(&json!({})),
                    NotFound::Run(run_id),
                )
                .await?;
            self.run_of(answer, "/runs/{id}/cancel", "POST")
        })
    }
}
