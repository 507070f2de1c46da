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
