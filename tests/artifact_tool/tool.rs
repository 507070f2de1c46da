//! Test helper binary for the artifact tests (`artifact-test-tool`), run as a child process so
//! two processes can race on one artifact and a writer can be SIGKILLed mid-write.
//!
//! ```text
//! artifact-test-tool edit ROOT ID LABEL MAX_ATTEMPTS
//!     Runs one edit task through a scripted adapter. Before each model turn it prints
//!     `ready <attempt>` and waits for a line on stdin; the turn then answers a patch inserting
//!     `- entry from LABEL` before the anchor `<!-- end -->` of the revision it was shown.
//!     Ends with `ok <revision> <attempts>`, `conflict <expected> <actual>` or `error <message>`.
//! artifact-test-tool write ROOT ID HISTORY_LIMIT
//!     Appends `write <n>` lines to the artifact forever, printing `ack <version> <revision>`
//!     after each committed write (used with the test-only pause before rename).
//! ```

use codex_runtime::artifact::{
    ArtifactError, ArtifactId, ArtifactRuntimeAdapter, ArtifactSessionManager, ArtifactStore,
    FsArtifactStore, ManagerConfig, PluginContractVersion, TaskSpec, TurnReply, TurnRequest,
    ARTIFACT_CONTRACT_VERSION,
};
use futures::future::BoxFuture;
use std::io::{BufRead, Write};

struct ScriptedAdapter {
    label: String,
}

impl ArtifactRuntimeAdapter for ScriptedAdapter {
    fn contract_version(&self) -> PluginContractVersion {
        ARTIFACT_CONTRACT_VERSION
    }

    fn open_thread<'a>(
        &'a self,
        artifact: &'a codex_runtime::artifact::Artifact,
    ) -> BoxFuture<'a, Result<String, ArtifactError>> {
        let id = artifact
            .thread_id
            .clone()
            .unwrap_or_else(|| format!("scripted-{}", self.label));
        Box::pin(async move { Ok(id) })
    }

    fn run_turn(&self, request: TurnRequest) -> BoxFuture<'_, Result<TurnReply, ArtifactError>> {
        Box::pin(async move {
            say(&format!("ready {}", request.attempt));
            let mut line = String::new();
            let read = tokio::task::spawn_blocking(move || {
                std::io::stdin().lock().read_line(&mut line).map(|_| line)
            })
            .await
            .map_err(|e| ArtifactError::Adapter(e.to_string()))?
            .map_err(|e| ArtifactError::Adapter(e.to_string()))?;
            if read.trim() != "go" {
                return Err(ArtifactError::Adapter(format!(
                    "expected `go`, got {read:?}"
                )));
            }
            let patch = serde_json::json!({
                "base_revision": request.artifact.revision.as_str(),
                "ops": [{
                    "op": "insert_before", "anchor": "<!-- end -->",
                    "text": format!("- entry from {}\n", self.label),
                    "path": null, "from": null, "value_json": null
                }]
            });
            Ok(TurnReply::new(patch.to_string()))
        })
    }
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn arg(args: &[String], i: usize) -> Result<&str, String> {
    args.get(i)
        .map(String::as_str)
        .ok_or_else(|| format!("missing argument #{i}; see the usage in the source"))
}

async fn edit(args: &[String]) -> Result<(), String> {
    let store = FsArtifactStore::new(arg(args, 2)?);
    let id = ArtifactId::new(arg(args, 3)?).map_err(|e| e.to_string())?;
    let label = arg(args, 4)?.to_string();
    let attempts: u32 = arg(args, 5)?.parse().map_err(|e| format!("{e}"))?;
    let manager = ArtifactSessionManager::new_with_adapter(ScriptedAdapter { label }, store)
        .map_err(|e| e.to_string())?
        .with_config(ManagerConfig::new().with_max_attempts(attempts));
    match manager.run_task(TaskSpec::edit(id, "add an entry")).await {
        Ok(done) => say(&format!("ok {} {}", done.artifact.revision, done.attempts)),
        Err(ArtifactError::Conflict {
            expected, actual, ..
        }) => say(&format!("conflict {expected} {actual}")),
        Err(e) => say(&format!("error {e}")),
    }
    Ok(())
}

async fn write(args: &[String]) -> Result<(), String> {
    let limit: usize = arg(args, 4)?.parse().map_err(|e| format!("{e}"))?;
    let store = FsArtifactStore::new(arg(args, 2)?).with_history_limit(limit);
    let id = ArtifactId::new(arg(args, 3)?).map_err(|e| e.to_string())?;
    let mut current = store
        .load(&id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no such artifact")?;
    loop {
        let content = format!("{}write {}\n", current.content, current.version + 1);
        current = store
            .commit(&id, &current.revision, content, "test write".into())
            .await
            .map_err(|e| e.to_string())?;
        say(&format!("ack {} {}", current.version, current.revision));
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1).map(String::as_str) {
        Some("edit") => edit(&args).await,
        Some("write") => write(&args).await,
        other => Err(format!("unknown command {other:?}; use `edit` or `write`")),
    };
    if let Err(e) = result {
        say(&format!("error {e}"));
        std::process::exit(2);
    }
}
