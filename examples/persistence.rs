//! Durable conversations: record a session into a SQLite file, list and read it back from a
//! fresh store handle (as after a restart), then delete the user's data with a job.
//!
//! `cargo run --example persistence`

mod common;

use codex_mock_model::{Reply, Scenario};
use codex_runtime::persistence::{
    ConversationStore, Conversations, Jobs, ListConversations, OpenConversation, Scope, SqliteStore,
};
use codex_runtime::runtime::{Client, SessionConfig};
use std::sync::Arc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let example = common::setup(
        "persistence",
        Scenario::new([
            Reply::text("Noted: the release is on Friday."),
            Reply::text("You said the release is on Friday."),
        ]),
    )
    .await?;
    let db = example.workdir.join("conversations.db");
    let scope = Scope::new("acme", "alice")?;

    // Record two turns.
    {
        let store = Arc::new(SqliteStore::open(&db).await?);
        let client = Client::connect(example.client.clone()).await?;
        let control = Conversations::new(store, client.clone());
        let open = OpenConversation::Start {
            conversation_id: "release-planning".into(),
            config: SessionConfig::new(&example.workdir),
        };
        let chat = control.open_conversation(&scope, open).await?;
        for prompt in [
            "Remember: the release is on Friday.",
            "When is the release?",
        ] {
            let out = chat.recorder.ask(&chat.session, prompt).await?;
            println!("> {prompt}\n{}", out.assistant_text);
        }
        chat.session.close().await?;
        client.shutdown().await?;
    }

    // A new store handle (a restarted process) lists and reads it back.
    let store: Arc<dyn ConversationStore> = Arc::new(SqliteStore::open(&db).await?);
    let page = store
        .list_conversations(&scope, ListConversations::first(10))
        .await?;
    for c in &page.data {
        println!(
            "{}: {:?}, {} messages",
            c.conversation_id, c.preview, c.message_count
        );
    }
    let items = store.read_items(&scope, "release-planning", 0, 0).await?;
    for item in &items.items {
        println!("  #{} {}: {}", item.position, item.kind, item.text);
    }
    let events = store.read_events(&scope, "release-planning", 0, 0).await?;
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    println!("{} events, seq {:?}", events.len(), seqs);

    // Delete everything of the user, as a job, and check nothing is left.
    let jobs = Jobs::new(Arc::clone(&store));
    let job = jobs.purge_actor(&scope, 0).await?;
    let job = jobs.run_now(&scope, &job.job_id).await?;
    let left = store.count_rows(Some(&scope)).await?;
    println!(
        "purge: {:?}, {} rows deleted, {} data rows left",
        job.state,
        job.progress.done,
        left.data_rows()
    );
    anyhow::ensure!(left.data_rows() == 0, "rows left after the purge: {left:?}");
    Ok(())
}
