//! Helpers shared by the persistence tests: stores under test and item JSON.
#![allow(dead_code)]

use codex_mock_model::ScratchDir;
use codex_runtime::persistence::{ConversationStore, SqliteStore};
use serde_json::{json, Value};
use std::sync::Arc;

/// A store with whatever keeps its database alive (a scratch directory, a test database).
pub struct StoreUnderTest {
    pub store: Arc<dyn ConversationStore>,
    pub _guard: Box<dyn std::any::Any + Send>,
}

/// A `SqliteStore` in a fresh file.
pub async fn sqlite_store(tag: &str) -> StoreUnderTest {
    let dir = ScratchDir::create("persistence", tag).expect("scratch dir");
    let store = SqliteStore::open(dir.path().join("store.db"))
        .await
        .expect("open the sqlite store");
    StoreUnderTest {
        store: Arc::new(store),
        _guard: Box::new(dir),
    }
}

/// A codex `userMessage` item.
pub fn user_item(id: &str, text: &str) -> Value {
    json!({"type": "userMessage", "id": id, "content": [{"type": "text", "text": text, "text_elements": []}]})
}

/// A codex `agentMessage` item.
pub fn agent_item(id: &str, text: &str) -> Value {
    json!({"type": "agentMessage", "id": id, "text": text})
}

/// A store as a child process names it (`sqlite:<path>`, `postgres:<url>`), with whatever
/// keeps its database alive.
pub struct Target {
    pub spec: String,
    pub _guard: Box<dyn std::any::Any + Send>,
}

impl Target {
    /// Opens the store in this process (as a new process would after the child exits).
    pub async fn open(&self) -> Arc<dyn ConversationStore> {
        if let Some(path) = self.spec.strip_prefix("sqlite:") {
            Arc::new(SqliteStore::open(path).await.expect("open sqlite"))
        } else {
            let url = self.spec.strip_prefix("postgres:").expect("a store spec");
            Arc::new(
                codex_runtime::persistence::PostgresStore::connect(url)
                    .await
                    .expect("connect postgres"),
            )
        }
    }
}

/// A fresh SQLite file as a [`Target`].
pub async fn sqlite_target(tag: &str) -> Target {
    let dir = ScratchDir::create("persistence", tag).expect("scratch dir");
    Target {
        spec: format!("sqlite:{}", dir.path().join("store.db").display()),
        _guard: Box::new(dir),
    }
}

/// The path of the `persistence-child` binary.
pub const CHILD: &str = env!("CARGO_BIN_EXE_persistence-child");

/// `persistence-child <store> tenant-a <actor> <workdir> <args...>` with the env's codex.
pub fn child(
    env: &codex_test_support::CodexTestEnv,
    target: &Target,
    actor: &str,
    args: &[&str],
) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(CHILD);
    cmd.arg(&target.spec)
        .arg("tenant-a")
        .arg(actor)
        .arg(env.workdir())
        .args(args)
        .envs(env.env_vars())
        .env(codex_test_support::CODEX_BIN_ENV, &env.bin)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true);
    cmd
}

/// Runs a child to its end; returns its JSON lines (panics when it failed).
pub async fn run_child(
    env: &codex_test_support::CodexTestEnv,
    target: &Target,
    actor: &str,
    args: &[&str],
) -> Vec<Value> {
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(300),
        child(env, target, actor, args).output(),
    )
    .await
    .expect("the child finished in time")
    .expect("run the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed ({}): {stdout}",
        out.status
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// A fresh PostgreSQL database on the real server (`DATABASE_URL`, else 127.0.0.1:5432).
pub async fn postgres_database(tag: &str) -> codex_test_support::postgres::TestDatabase {
    codex_test_support::postgres::fresh_database(&format!("persist_{tag}"))
        .await
        .expect("a fresh PostgreSQL database (is the server up? see scripts/ensure-postgres.sh)")
}

/// A `PostgresStore` on a fresh database.
pub async fn postgres_store(tag: &str) -> StoreUnderTest {
    let db = postgres_database(tag).await;
    let store = codex_runtime::persistence::PostgresStore::connect(db.url())
        .await
        .expect("connect the postgres store");
    StoreUnderTest {
        store: Arc::new(store),
        _guard: Box::new(db),
    }
}

/// A fresh PostgreSQL database as a [`Target`].
pub async fn postgres_target(tag: &str) -> Target {
    let db = postgres_database(tag).await;
    Target {
        spec: format!("postgres:{}", db.url()),
        _guard: Box::new(db),
    }
}
