//! `ArtifactSessionManager` with scripted adapters: contract versions are checked before any
//! task, and answers of the wrong shape end in typed errors after the retry budget.

use codex_mock_model::ScratchDir;
use codex_runtime::artifact::*;
use futures::future::BoxFuture;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

/// Answers every turn with the next scripted text and counts the turns.
struct Scripted {
    version: PluginContractVersion,
    replies: Mutex<Vec<String>>,
    turns: Arc<AtomicU32>,
    feedback: Arc<Mutex<Vec<Option<String>>>>,
}

impl Scripted {
    fn new(replies: &[&str]) -> Self {
        Scripted {
            version: ARTIFACT_CONTRACT_VERSION,
            replies: Mutex::new(replies.iter().rev().map(|s| s.to_string()).collect()),
            turns: Arc::default(),
            feedback: Arc::default(),
        }
    }
}

impl ArtifactRuntimeAdapter for Scripted {
    fn contract_version(&self) -> PluginContractVersion {
        self.version
    }
    fn open_thread<'a>(&'a self, _: &'a Artifact) -> BoxFuture<'a, Result<String, ArtifactError>> {
        Box::pin(async { Ok("thread-1".to_string()) })
    }
    fn run_turn(&self, request: TurnRequest) -> BoxFuture<'_, Result<TurnReply, ArtifactError>> {
        self.turns.fetch_add(1, Ordering::SeqCst);
        self.feedback.lock().unwrap().push(request.feedback.clone());
        let next = self.replies.lock().unwrap().pop();
        Box::pin(async move {
            next.map(TurnReply::new)
                .ok_or_else(|| ArtifactError::Adapter("no scripted reply left".into()))
        })
    }
}

/// A store from the future: contract 2.0.
struct V2Store(FsArtifactStore);

impl ArtifactStore for V2Store {
    fn contract_version(&self) -> PluginContractVersion {
        PluginContractVersion::new(2, 0)
    }
    fn load<'a>(
        &'a self,
        id: &'a ArtifactId,
    ) -> BoxFuture<'a, Result<Option<Artifact>, ArtifactError>> {
        self.0.load(id)
    }
    fn create(&self, new: NewArtifact) -> BoxFuture<'_, Result<Artifact, ArtifactError>> {
        self.0.create(new)
    }
    fn commit<'a>(
        &'a self,
        id: &'a ArtifactId,
        expected: &'a Revision,
        content: String,
        note: String,
    ) -> BoxFuture<'a, Result<Artifact, ArtifactError>> {
        self.0.commit(id, expected, content, note)
    }
    fn bind_thread<'a>(
        &'a self,
        id: &'a ArtifactId,
        thread_id: String,
    ) -> BoxFuture<'a, Result<Artifact, ArtifactError>> {
        self.0.bind_thread(id, thread_id)
    }
    fn history<'a>(
        &'a self,
        id: &'a ArtifactId,
    ) -> BoxFuture<'a, Result<Vec<HistoryEntry>, ArtifactError>> {
        self.0.history(id)
    }
    fn list(&self) -> BoxFuture<'_, Result<Vec<ArtifactId>, ArtifactError>> {
        self.0.list()
    }
}

fn store() -> (ScratchDir, FsArtifactStore) {
    let dir = ScratchDir::create("artifact-manager", "store").unwrap();
    let store = FsArtifactStore::new(dir.path().join("store"));
    (dir, store)
}

#[test]
fn a_store_or_adapter_of_another_major_version_is_refused_before_any_task() {
    let (_dir, fs) = store();
    let adapter = Scripted::new(&["{}"]);
    let turns = adapter.turns.clone();
    let err = ArtifactSessionManager::new_with_adapter(adapter, V2Store(fs.clone())).unwrap_err();
    match &err {
        ArtifactError::IncompatibleContract {
            component,
            found,
            expected_major,
        } => {
            assert!(component.contains("V2Store"), "{component}");
            assert_eq!(*found, PluginContractVersion::new(2, 0));
            assert_eq!(*expected_major, 1);
        }
        other => panic!("expected IncompatibleContract, got {other}"),
    }
    assert!(
        err.to_string().contains("speaks artifact contract 2.0"),
        "{err}"
    );

    let mut adapter = Scripted::new(&[]);
    adapter.version = PluginContractVersion::new(0, 9);
    let err = ArtifactSessionManager::new_with_adapter(adapter, fs.clone()).unwrap_err();
    assert!(err.to_string().contains("adapter"), "{err}");
    assert_eq!(turns.load(Ordering::SeqCst), 0, "no task ran");

    // Same major, newer minor: accepted.
    let mut adapter = Scripted::new(&[]);
    adapter.version = PluginContractVersion::new(1, 7);
    assert!(ArtifactSessionManager::new_with_adapter(adapter, fs).is_ok());
}

#[tokio::test]
async fn an_unparseable_review_is_retried_with_feedback_then_a_typed_error() {
    let (_dir, fs) = store();
    let adapter = Scripted::new(&["not json", "{\"summary\": 1}"]);
    let (turns, feedback) = (adapter.turns.clone(), adapter.feedback.clone());
    let manager = ArtifactSessionManager::new_with_adapter(adapter, fs).unwrap();
    let doc = manager.open("doc").await.unwrap();
    assert_eq!(doc.thread_id.as_deref(), Some("thread-1"));
    let err = manager
        .run_task(TaskSpec::review(doc.id.clone(), "review"))
        .await
        .unwrap_err();
    match err {
        ArtifactError::InvalidOutput {
            attempts,
            raw,
            expected,
            ..
        } => {
            assert_eq!((attempts, expected), (2, "review"));
            assert_eq!(raw, "{\"summary\": 1}");
        }
        other => panic!("expected InvalidOutput, got {other}"),
    }
    assert_eq!(turns.load(Ordering::SeqCst), 2);
    let fb = feedback.lock().unwrap().clone();
    assert_eq!(fb[0], None);
    assert!(
        fb[1].as_deref().unwrap().contains("not a valid review"),
        "{fb:?}"
    );
}

#[tokio::test]
async fn json_artifacts_are_edited_with_rfc6902_patches_from_the_model() {
    let (_dir, fs) = store();
    let start = NewArtifact::new("cfg", ArtifactFormat::Json, "{\"retries\": 1}").unwrap();
    let rev = start.clone().into_artifact(0).unwrap().revision;
    let answer = serde_json::json!({
        "base_revision": rev.as_str(),
        "ops": [{"op": "replace", "anchor": null, "text": null, "path": "/retries", "from": null, "value_json": "3"}]
    })
    .to_string();
    let adapter = Scripted::new(&[&answer]);
    let manager = ArtifactSessionManager::new_with_adapter(adapter, fs.clone()).unwrap();
    manager.open_or_create(start).await.unwrap();
    let done = manager
        .run_task(TaskSpec::edit(
            ArtifactId::new("cfg").unwrap(),
            "three retries",
        ))
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&done.artifact.content).unwrap();
    assert_eq!(v, serde_json::json!({"retries": 3}));
    assert_eq!(fs.history(&done.artifact.id).await.unwrap().len(), 2);
}

/// Never answers: the model turn hangs.
struct Hanging;

impl ArtifactRuntimeAdapter for Hanging {
    fn contract_version(&self) -> PluginContractVersion {
        ARTIFACT_CONTRACT_VERSION
    }
    fn open_thread<'a>(&'a self, _: &'a Artifact) -> BoxFuture<'a, Result<String, ArtifactError>> {
        Box::pin(async { Ok("thread-h".to_string()) })
    }
    fn run_turn(&self, _: TurnRequest) -> BoxFuture<'_, Result<TurnReply, ArtifactError>> {
        Box::pin(futures::future::pending())
    }
}

#[tokio::test]
async fn dropping_a_task_mid_turn_leaves_the_artifact_unchanged() {
    let (_dir, fs) = store();
    let manager = ArtifactSessionManager::new_with_adapter(Hanging, fs.clone()).unwrap();
    let doc = manager.open("doc").await.unwrap();
    let task = manager.run_task(TaskSpec::edit(doc.id.clone(), "edit"));
    let dropped = tokio::time::timeout(std::time::Duration::from_millis(200), task).await;
    assert!(dropped.is_err(), "the task was still waiting for its turn");
    let after = fs.load(&doc.id).await.unwrap().unwrap();
    assert_eq!(after, doc);
    // The store is not left locked: a direct write goes through.
    fs.commit(&doc.id, &doc.revision, "x".into(), "after".into())
        .await
        .unwrap();
}
