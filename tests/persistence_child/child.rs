//! `persistence-child`: a separate process that records codex sessions into a store, for the
//! persistence tests that need a process to exit (or be killed) between writing and reading.
//!
//! `persistence-child <store> <tenant> <actor> <workdir> <mode> <conversation>...`
//! - `<store>`: `sqlite:<path>` or `postgres:<url>`.
//! - `record <n>`: per conversation (all at once), a session asks `n` prompts; prints one
//!   `{"output": ...}` line per turn.
//! - `approve`: one conversation, approval `untrusted` with an accepting handler; asks once.
//! - `crash`: asks once, then streams a second turn, printing `{"ack": [seq...]}` after each
//!   event is stored, until it is killed.
//!
//! Codex comes from `CODEX_BIN` and the environment (`CODEX_HOME`, `OPENAI_API_KEY`) that the
//! parent test passes on.

use codex_runtime::persistence::{
    ConversationStore, Conversations, OpenConversation, PostgresStore, Scope, SqliteStore,
};
use codex_runtime::runtime::{
    ApprovalDecision, ApprovalMode, Approvals, Client, ClientConfig, Sandbox, SessionConfig,
};
use futures::StreamExt;
use serde_json::json;
use std::io::Write;
use std::sync::Arc;

fn say(v: serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

async fn open_store(spec: &str) -> Arc<dyn ConversationStore> {
    if let Some(path) = spec.strip_prefix("sqlite:") {
        Arc::new(SqliteStore::open(path).await.expect("open sqlite"))
    } else if let Some(url) = spec.strip_prefix("postgres:") {
        Arc::new(PostgresStore::connect(url).await.expect("connect postgres"))
    } else {
        panic!("unknown store `{spec}`")
    }
}

/// The ownership-lease owner id of every child (`persistence_e2e.rs` uses it too).
const CHILD_OWNER: &str = "persistence-child";

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [store, tenant, actor, workdir, mode, rest @ ..] = args.as_slice() else {
        panic!("usage: persistence-child <store> <tenant> <actor> <workdir> <mode> ...");
    };
    let store = open_store(store).await;
    let scope = Scope::new(tenant, actor).expect("scope");
    let client = Client::connect(ClientConfig::new())
        .await
        .expect("connect codex");
    // A stable instance id: the test process that takes over after this one is killed plays
    // its restart, which takes its own sessions' ownership leases back at once.
    let control = Conversations::new(store, client.clone())
        .with_owner(CHILD_OWNER)
        .expect("an owner id");
    let config = SessionConfig::new(workdir);
    match mode.as_str() {
        "record" => {
            let (n, ids) = rest.split_first().expect("record <n> <conversation>...");
            let n: usize = n.parse().expect("a number of turns");
            let mut tasks = Vec::new();
            for id in ids {
                let (control, scope, config, id) =
                    (control.clone(), scope.clone(), config.clone(), id.clone());
                tasks.push(tokio::spawn(async move {
                    let open = OpenConversation::Start {
                        conversation_id: id.clone(),
                        config,
                    };
                    let c = control.open_conversation(&scope, open).await.expect("open");
                    for i in 0..n {
                        let out = c
                            .recorder
                            .ask(&c.session, format!("{id} prompt {i}"))
                            .await
                            .expect("recorded ask");
                        say(json!({"output": {
                            "conversation": id, "turn_id": out.turn_id,
                            "text": out.assistant_text, "items": out.items,
                        }}));
                    }
                }));
            }
            for t in tasks {
                t.await.expect("a session task");
            }
        }
        "approve" => {
            let id = rest.first().expect("approve <conversation>");
            let config = config
                .with_approval(ApprovalMode::Untrusted)
                .with_sandbox(Sandbox::WorkspaceWrite)
                // An explicit closure: `accept_all()` gets no command approval under
                // `untrusted` (tests/e2e_escalation.rs).
                .with_approval_handler(
                    Approvals::new().on_command(|_| async { ApprovalDecision::Accept }),
                );
            let open = OpenConversation::Start {
                conversation_id: id.clone(),
                config,
            };
            let c = control.open_conversation(&scope, open).await.expect("open");
            let out = c.recorder.ask(&c.session, "run it").await.expect("ask");
            say(json!({"output": {
                "conversation": id, "turn_id": out.turn_id,
                "text": out.assistant_text, "items": out.items,
            }}));
        }
        "crash" => {
            let id = rest.first().expect("crash <conversation>");
            let open = OpenConversation::Start {
                conversation_id: id.clone(),
                config,
            };
            let c = control.open_conversation(&scope, open).await.expect("open");
            let out = c.recorder.ask(&c.session, "first").await.expect("ask");
            say(
                json!({"output": {"conversation": id, "turn_id": out.turn_id,
                "text": out.assistant_text, "items": out.items}}),
            );
            let mut stream = Box::pin(c.recorder.ask_stream(&c.session, "second"));
            while let Some(ev) = stream.next().await {
                let ev = ev.expect("a recorded event");
                let seqs: Vec<i64> = ev.stored.iter().map(|e| e.seq).collect();
                say(json!({"ack": seqs}));
            }
        }
        other => panic!("unknown mode `{other}`"),
    }
    client.shutdown().await.expect("shutdown");
    say(json!({"done": true}));
}
