//! Shared by the `pool_*` tests: a `WebAdapter` on a `RuntimePool` (a codex process, codex
//! home and workspace per tenant) served on a real port, over the real codex and the mock
//! model, with N tenants (`t0`, `t1`, ...; token `token-tN`).

#![allow(dead_code)]

use crate::web_support::{sse_at, Sse, WAIT};
use codex_runtime::runtime::pool::{PoolConfig, PoolKey, RuntimePool};
use codex_runtime::runtime::SessionConfig;
use codex_runtime::web::{TenantId, TenantTokens, WebAdapter, WebConfig};
use codex_test_support::codex_mock_model::Scenario;
use codex_test_support::CodexTestEnv;
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A served adapter on a pool.
pub struct PoolHarness {
    pub env: CodexTestEnv,
    pub pool: RuntimePool,
    pub adapter: WebAdapter,
    pub root: tempfile::TempDir,
    pub base: String,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

/// The token of tenant `i`.
pub fn token(i: usize) -> String {
    format!("token-t{i}")
}

/// The pool key of tenant `i`.
pub fn key(i: usize) -> PoolKey {
    PoolKey::new(format!("t{i}")).unwrap()
}

impl PoolHarness {
    /// `tenants` tenants on a pool made by `pool` from the env's client configuration and a
    /// fresh root; sessions from `session` (relative to each tenant's workspace).
    pub async fn start(
        scenario: Scenario,
        tenants: usize,
        session: SessionConfig,
        pool: impl FnOnce(PoolConfig) -> PoolConfig,
    ) -> Self {
        let env = CodexTestEnv::start(scenario).await.unwrap();
        let root = tempfile::tempdir().unwrap();
        let pool = RuntimePool::new(pool(PoolConfig::new(
            env.client_config(),
            root.path().join("pool"),
        )))
        .unwrap();
        let mut tokens = TenantTokens::new();
        for i in 0..tenants {
            tokens = tokens.with_token(TenantId::new(format!("t{i}")).unwrap(), &token(i));
        }
        let adapter =
            WebAdapter::spawn_with_adapter(Arc::new(pool.clone()), WebConfig::new(session, tokens));
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
        let _ = rustls::crypto::ring::default_provider().install_default();
        PoolHarness {
            env,
            pool,
            adapter,
            root,
            base,
            http: reqwest::Client::new(),
            stop: Some(stop),
            server: Some(server),
        }
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Creates a session as tenant `i`; its id.
    pub async fn create_session(&self, i: usize) -> String {
        let res = self
            .http
            .post(self.url("/api/sessions"))
            .bearer_auth(token(i))
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_string()
    }

    /// POSTs a turn as tenant `i`; the response status and body.
    pub async fn post_turn(&self, i: usize, session: &str, prompt: &str) -> (u16, Value) {
        let res = self
            .http
            .post(self.url(&format!("/api/sessions/{session}/turns")))
            .bearer_auth(token(i))
            .json(&serde_json::json!({ "prompt": prompt }))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Starts a turn; asserts 202.
    pub async fn turn(&self, i: usize, session: &str, prompt: &str) {
        let (status, body) = self.post_turn(i, session, prompt).await;
        assert_eq!(status, 202, "{body}");
    }

    /// The session's event stream as tenant `i`, after `last_id`.
    pub async fn events(&self, i: usize, session: &str, last_id: Option<u64>) -> Sse {
        sse_at(
            &self.http,
            &self.url(&format!("/api/sessions/{session}/events")),
            &token(i),
            last_id,
        )
        .await
    }

    /// Stops the server and the pool; asserts no codex process is left.
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
        self.pool.shutdown().await;
        self.env.assert_no_leftover_processes().await;
    }
}
