//! M2 of the 2026-12-07 review: 50 SSE clients that do not read, on a conversation of 200,000
//! events in the store. The replay is read from the store a page at a time as each client takes
//! it, so the adapter's memory stays within a bound that does not grow with the history (before,
//! every client held its whole replay: gigabytes here).
//!
//! Alone in its binary on purpose: it reads this process's RSS (the adapter runs in it). No
//! codex is needed: the events are written into the store through its API, and the adapter
//! only follows the conversation.

mod web_support;

use codex_runtime::persistence::{ConversationStore, NewConversation, Record, Scope, SqliteStore};
use codex_runtime::runtime::{Session, SessionConfig};
use codex_runtime::web::{RuntimeAdapter, TenantId, WebAdapter, WebConfig};
use codex_test_support::codex_mock_model::ScratchDir;
use eventsource_stream::Eventsource;
use futures::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;
use web_support::{tokens, Sse, ALICE};

const EVENTS: usize = 200_000;
const CLIENTS: usize = 50;
const MIB: u64 = 1024 * 1024;
/// The documented bound (docs/guide/web.md, "Limits"): what 50 clients that do not read may
/// add to the adapter's memory, whatever the length of the history.
const BOUND: u64 = 128 * MIB;

/// A field of /proc/self/status, in bytes.
fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 1024
}

/// Caps this process's address space at its current size plus `extra`: a regression fails on
/// an allocation instead of exhausting the machine's memory.
fn cap_address_space(extra: u64) {
    let limit = libc::rlimit {
        rlim_cur: status_bytes("VmSize:") + extra,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit only reads the struct it is given.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) }, 0);
}

/// No runtime: this adapter only follows conversations from the store.
struct NoRuntime;

impl RuntimeAdapter for NoRuntime {
    fn open_session(
        &self,
        _tenant: &TenantId,
        _config: SessionConfig,
    ) -> BoxFuture<'static, codex_runtime::Result<Session>> {
        Box::pin(async {
            Err(codex_runtime::Error::Config(
                "no runtime in this test".into(),
            ))
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_sse_clients_that_do_not_read_a_200k_event_history_stay_within_the_bound() {
    let dir = ScratchDir::create("web-replay-memory", "sqlite").unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("web.db")).await.unwrap());
    let scope = Scope::new("alice", "web").unwrap();
    store
        .create_conversation(&scope, NewConversation::new("long"))
        .await
        .unwrap();
    let text = "x".repeat(100);
    for chunk in 0..EVENTS / 1000 {
        let records = (0..1000)
            .map(|i| Record::Deltas {
                turn_id: "t1".into(),
                item_id: format!("item-{chunk}-{i}"),
                stream: "agentMessage".into(),
                text: text.clone(),
            })
            .collect();
        store.append(&scope, "long", records).await.unwrap();
    }

    let config = WebConfig::new(SessionConfig::new("."), tokens()).with_store(store.clone());
    let adapter = WebAdapter::spawn_with_adapter(Arc::new(NoRuntime), config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/api/sessions/long/events",
        listener.local_addr().unwrap()
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = adapter.clone();
    let server = tokio::spawn(async move {
        served
            .serve(listener, async move {
                let _ = stopped.await;
            })
            .await
    });
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();

    // One client that reads shows the replay is the whole log, in order, from the store.
    let res = http.get(&url).bearer_auth(ALICE).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let mut reader = Sse::from(res.bytes_stream().eventsource());
    for want in 1..=2000u64 {
        let ev = reader.next().await.unwrap();
        assert_eq!((ev.id, ev.kind.as_str()), (want, "agent.delta"));
    }
    drop(reader);

    cap_address_space(4096 * MIB);
    let baseline = status_bytes("VmRSS:");
    let mut idle = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        let res = http.get(&url).bearer_auth(ALICE).send().await.unwrap();
        assert_eq!(res.status(), 200);
        // Held, never read: the server writes until the connection's buffers are full.
        idle.push(res);
    }
    let mut peak = status_bytes("VmRSS:");
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        peak = peak.max(status_bytes("VmRSS:"));
    }
    let grown = peak.saturating_sub(baseline);
    tracing::info!(
        grown_mib = grown / MIB,
        "RSS growth with {CLIENTS} idle clients"
    );
    assert!(
        grown < BOUND,
        "{CLIENTS} idle clients grew the RSS by {} MiB (bound {} MiB)",
        grown / MIB,
        BOUND / MIB
    );
    drop(idle);
    adapter.shutdown().await;
    let _ = stop.send(());
    tokio::time::timeout(web_support::WAIT, server)
        .await
        .expect("the server stopped")
        .unwrap()
        .unwrap();
}
