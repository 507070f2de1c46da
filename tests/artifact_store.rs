//! `FsArtifactStore`: atomic writes, optimistic concurrency (no lost update), history, locks.

use codex_mock_model::ScratchDir;
use codex_runtime::artifact::*;

fn store(limit: usize) -> (ScratchDir, FsArtifactStore) {
    let dir = ScratchDir::create("artifact-stores", "store").unwrap();
    let store = FsArtifactStore::new(dir.path().join("artifacts")).with_history_limit(limit);
    (dir, store)
}

fn new(id: &str, content: &str) -> NewArtifact {
    NewArtifact::new(id, ArtifactFormat::Markdown, content).unwrap()
}

#[tokio::test]
async fn commits_advance_revision_and_version_and_a_stale_write_is_a_conflict() {
    let (_dir, store) = store(100);
    let a = store.create(new("notes", "v1\n")).await.unwrap();
    assert_eq!((a.version, a.history.len()), (1, 1));
    let b = store
        .commit(&a.id, &a.revision, "v2\n".into(), "second".into())
        .await
        .unwrap();
    assert_eq!(b.version, 2);
    assert_eq!(
        b.revision,
        compute_revision(ArtifactFormat::Markdown, "v2\n")
    );

    // A writer still holding revision 1 must not overwrite revision 2.
    let err = store
        .commit(&a.id, &a.revision, "lost?\n".into(), "stale".into())
        .await
        .unwrap_err();
    match err {
        ArtifactError::Conflict {
            expected, actual, ..
        } => {
            assert_eq!(expected, a.revision);
            assert_eq!(actual, b.revision);
        }
        other => panic!("expected a conflict, got {other}"),
    }
    // A fresh store on the same root reads what was acknowledged.
    let again = FsArtifactStore::new(store.root())
        .load(&a.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.content, "v2\n");
    let history = store.history(&a.id).await.unwrap();
    let revs: Vec<_> = history.iter().map(|h| h.revision.clone()).collect();
    assert_eq!(revs, vec![a.revision.clone(), b.revision.clone()]);
    assert_eq!(history[1].parent.as_ref(), Some(&a.revision));
    assert_eq!(history[1].note, "second");

    let err = store.create(new("notes", "x")).await.unwrap_err();
    assert!(matches!(err, ArtifactError::AlreadyExists { .. }), "{err}");
    let missing = ArtifactId::new("missing").unwrap();
    assert!(store.load(&missing).await.unwrap().is_none());
    let err = store
        .commit(&missing, &a.revision, "x".into(), "x".into())
        .await
        .unwrap_err();
    assert!(matches!(err, ArtifactError::NotFound { .. }), "{err}");
}

#[tokio::test]
async fn history_is_bounded_and_artifacts_are_listed() {
    let (_dir, store) = store(3);
    let mut a = store.create(new("b-doc", "0")).await.unwrap();
    store.create(new("a-doc", "x")).await.unwrap();
    for i in 1..=5 {
        a = store
            .commit(&a.id, &a.revision, format!("{i}"), format!("write {i}"))
            .await
            .unwrap();
    }
    let history = store.history(&a.id).await.unwrap();
    let versions: Vec<u64> = history.iter().map(|h| h.version).collect();
    assert_eq!(versions, vec![4, 5, 6]);
    assert_eq!(history.last().unwrap().revision, a.revision);
    let ids: Vec<String> = store
        .list()
        .await
        .unwrap()
        .iter()
        .map(|i| i.to_string())
        .collect();
    assert_eq!(ids, vec!["a-doc", "b-doc"]);
}

#[tokio::test]
async fn concurrent_writers_in_one_process_lose_no_update() {
    let (_dir, store) = store(1000);
    let a = store.create(new("shared", "")).await.unwrap();
    let mut tasks = Vec::new();
    for w in 0..8 {
        let store = store.clone();
        let id = a.id.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..5 {
                loop {
                    let cur = store.load(&id).await.unwrap().unwrap();
                    let content = format!("{}w{w}n{n}\n", cur.content);
                    match store.commit(&id, &cur.revision, content, "w".into()).await {
                        Ok(_) => break,
                        Err(ArtifactError::Conflict { .. }) => continue,
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let end = store.load(&a.id).await.unwrap().unwrap();
    assert_eq!(end.content.lines().count(), 40, "every update is there");
    assert_eq!(end.version, 41);
    assert_eq!(end.history.len(), 41);
    for pair in end.history.windows(2) {
        assert_eq!(pair[1].parent.as_ref(), Some(&pair[0].revision));
    }
}

#[tokio::test]
async fn a_tampered_file_is_reported_corrupt_and_a_stale_temp_file_is_cleaned_up() {
    let (_dir, store) = store(10);
    let a = store.create(new("doc", "hello")).await.unwrap();
    let path = store.artifact_path(&a.id);
    let stale = path.with_file_name(".artifact.json.tmp.999999.1");
    std::fs::write(&stale, b"{\"half").unwrap();
    let b = store
        .commit(&a.id, &a.revision, "hello world".into(), "w".into())
        .await
        .unwrap();
    assert!(
        !stale.exists(),
        "the next write removes a dead writer's temp file"
    );

    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("hello world", "hello there")).unwrap();
    let err = store.load(&b.id).await.unwrap_err();
    assert!(matches!(err, ArtifactError::Corrupt { .. }), "{err}");
    assert!(
        err.to_string().contains("does not match the content"),
        "{err}"
    );

    std::fs::write(&path, &text[..text.len() / 2]).unwrap();
    let err = store.load(&b.id).await.unwrap_err();
    assert!(matches!(err, ArtifactError::Corrupt { .. }), "{err}");
}

#[tokio::test]
async fn a_thread_is_bound_once() {
    let (_dir, store) = store(10);
    let a = store.create(new("doc", "x")).await.unwrap();
    let bound = store.bind_thread(&a.id, "t-1".into()).await.unwrap();
    assert_eq!(bound.thread_id.as_deref(), Some("t-1"));
    assert_eq!(bound.version, 2);
    assert_eq!(
        bound.revision, a.revision,
        "binding does not change the content"
    );
    let again = store.bind_thread(&a.id, "t-2".into()).await.unwrap();
    assert_eq!(again.thread_id.as_deref(), Some("t-1"));
}

#[test]
fn ids_that_are_not_safe_directory_names_are_refused() {
    for bad in ["", "..", "a/b", ".hidden", "a b", &"x".repeat(129)] {
        let err = ArtifactId::new(bad).unwrap_err();
        assert!(matches!(err, ArtifactError::InvalidId { .. }), "{bad:?}");
    }
}
