//! Two processes run edit tasks on one artifact at once, and a writer is SIGKILLed between its
//! temp write and its rename 200 times. Both use `artifact-test-tool` (tests/artifact_tool) as
//! the child process; edit tasks run through a scripted adapter for determinism.

use codex_mock_model::ScratchDir;
use codex_runtime::artifact::*;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

const TOOL: &str = env!("CARGO_BIN_EXE_artifact-test-tool");
const START: &str = "# Log\n<!-- end -->\n";

struct Proc {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Proc {
    fn edit(root: &Path, id: &str, label: &str, attempts: u32) -> Proc {
        let mut child = Command::new(TOOL)
            .args(["edit", &root.display().to_string(), id, label])
            .arg(attempts.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Proc {
            child,
            stdin,
            stdout,
        }
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        self.stdout.read_line(&mut l).unwrap();
        assert!(!l.is_empty(), "the child ended without a line");
        l.trim().to_string()
    }

    fn go(&mut self) {
        writeln!(self.stdin, "go").unwrap();
        self.stdin.flush().unwrap();
    }

    fn finish(mut self) -> String {
        let l = self.line();
        assert!(self.child.wait().unwrap().success());
        l
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn setup(name: &str) -> (ScratchDir, FsArtifactStore, Artifact) {
    let dir = ScratchDir::create("artifact-processes", name).unwrap();
    let store = FsArtifactStore::new(dir.path().join("store")).with_history_limit(10_000);
    let a = store
        .create(NewArtifact::new("log", ArtifactFormat::Markdown, START).unwrap())
        .await
        .unwrap();
    (dir, store, a)
}

#[tokio::test]
async fn the_second_of_two_processes_gets_a_conflict_and_nothing_is_lost() {
    let (_dir, store, r0) = setup("conflict").await;
    let mut a = Proc::edit(store.root(), "log", "A", 1);
    let mut b = Proc::edit(store.root(), "log", "B", 1);
    // Both processes have read revision 0 and are inside their model turn.
    assert_eq!(a.line(), "ready 1");
    assert_eq!(b.line(), "ready 1");
    a.go();
    let a_out = a.finish();
    b.go();
    let b_out = b.finish();

    let stored = store.load(&r0.id).await.unwrap().unwrap();
    assert_eq!(a_out, format!("ok {} 1", stored.revision));
    assert_eq!(
        b_out,
        format!("conflict {} {}", r0.revision, stored.revision)
    );
    assert_eq!(stored.content, "# Log\n- entry from A\n<!-- end -->\n");
    let revs: Vec<_> = stored.history.iter().map(|h| h.revision.clone()).collect();
    assert_eq!(revs, vec![r0.revision.clone(), stored.revision.clone()]);
}

#[tokio::test]
async fn the_second_process_retries_on_the_new_revision_and_history_has_both_in_order() {
    let (_dir, store, r0) = setup("retry").await;
    let mut a = Proc::edit(store.root(), "log", "A", 2);
    let mut b = Proc::edit(store.root(), "log", "B", 2);
    assert_eq!(a.line(), "ready 1");
    assert_eq!(b.line(), "ready 1");
    a.go();
    let a_out = a.finish();
    b.go();
    // B's patch against revision 0 conflicts; its retry sees A's revision.
    assert_eq!(b.line(), "ready 2");
    let after_a = store.load(&r0.id).await.unwrap().unwrap();
    b.go();
    let b_out = b.finish();

    let stored = store.load(&r0.id).await.unwrap().unwrap();
    assert_eq!(a_out, format!("ok {} 1", after_a.revision));
    assert_eq!(b_out, format!("ok {} 2", stored.revision));
    assert_eq!(
        stored.content,
        "# Log\n- entry from A\n- entry from B\n<!-- end -->\n"
    );
    let history: Vec<_> = stored
        .history
        .iter()
        .map(|h| (h.revision.clone(), h.parent.clone()))
        .collect();
    assert_eq!(
        history,
        vec![
            (r0.revision.clone(), None),
            (after_a.revision.clone(), Some(r0.revision.clone())),
            (stored.revision.clone(), Some(after_a.revision.clone())),
        ]
    );
}

#[tokio::test]
async fn two_processes_released_together_both_land_with_retries() {
    let (_dir, store, r0) = setup("together").await;
    let mut procs = [
        Proc::edit(store.root(), "log", "A", 3),
        Proc::edit(store.root(), "log", "B", 3),
    ];
    for p in procs.iter_mut() {
        assert_eq!(p.line(), "ready 1");
    }
    // Release both at once; whichever loses retries (up to 3 tries), answering each `ready`.
    for p in procs.iter_mut() {
        p.go();
    }
    let mut outs = Vec::new();
    for mut p in procs {
        loop {
            let l = p.line();
            if l.starts_with("ready") {
                p.go();
                continue;
            }
            outs.push(l);
            assert!(p.child.wait().unwrap().success());
            break;
        }
    }
    assert!(outs.iter().all(|o| o.starts_with("ok ")), "{outs:?}");
    let stored = store.load(&r0.id).await.unwrap().unwrap();
    assert!(
        stored.content.contains("- entry from A\n"),
        "{}",
        stored.content
    );
    assert!(
        stored.content.contains("- entry from B\n"),
        "{}",
        stored.content
    );
    assert_eq!(stored.history.len(), 3);
    assert_eq!(stored.history[0].revision, r0.revision);
    assert_eq!(
        stored.history[2].parent.as_ref(),
        Some(&stored.history[1].revision)
    );
}

fn wait_for(path: &Path, child: &mut Child) {
    let start = Instant::now();
    while !path.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the writer exited ({status}) before pausing");
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the writer never paused"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The writer is killed between fsyncing its temp file and the rename, 200 times, after 0 to 2
/// acknowledged writes each time. After each kill a fresh store must show exactly the last
/// acknowledged revision, an intact file, and every acknowledged revision in history.
#[tokio::test]
async fn a_writer_killed_between_temp_write_and_rename_never_loses_or_tears_a_revision() {
    let (dir, store, r0) = setup("crash").await;
    let mut acked = vec![r0.revision.clone()];
    let marker = dir.path().join("paused");
    for round in 0..200u32 {
        let before = acked.len();
        let acks_this_round = (round % 3) as usize;
        let _ = std::fs::remove_file(&marker);
        let mut child = Command::new(TOOL)
            .args(["write", &store.root().display().to_string(), "log", "10000"])
            .env(
                TEST_PAUSE_BEFORE_RENAME_ENV,
                format!("{}:{}", acks_this_round + 1, marker.display()),
            )
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        for _ in 0..acks_this_round {
            let mut l = String::new();
            out.read_line(&mut l).unwrap();
            let rev = l.trim().rsplit(' ').next().unwrap().to_string();
            assert!(l.starts_with("ack "), "round {round}: {l:?}");
            acked.push(Revision::from_string(rev));
        }
        wait_for(&marker, &mut child);
        let temps: Vec<_> = std::fs::read_dir(store.artifact_path(&r0.id).parent().unwrap())
            .unwrap()
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(".artifact.json.tmp")
            })
            .collect();
        assert_eq!(
            temps.len(),
            1,
            "round {round}: the unrenamed temp file is there"
        );
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let fresh = FsArtifactStore::new(store.root());
        let now = fresh.load(&r0.id).await.unwrap().unwrap(); // intact: integrity checked
        assert_eq!(
            &now.revision,
            acked.last().unwrap(),
            "round {round}: at the last acknowledged revision"
        );
        let history: Vec<_> = now.history.iter().map(|h| h.revision.clone()).collect();
        assert_eq!(history, acked, "round {round}: no revision missing");
        assert_eq!(acked.len(), before + acks_this_round);
    }
    assert_eq!(acked.len(), 1 + (0..200).map(|r| r % 3).sum::<usize>());
}

/// The writer runs free and is SIGKILLed at varying moments (0 to 39 ms in). Every
/// acknowledged revision is in history; the artifact is at the last acknowledged revision or at
/// most one write past it (committed, killed before it could say so).
#[tokio::test]
async fn a_writer_killed_at_random_points_leaves_an_acknowledged_or_next_revision() {
    let (_dir, store, r0) = setup("random-kill").await;
    let mut acked = vec![r0.revision.clone()];
    for round in 0..30u64 {
        let mut child = Command::new(TOOL)
            .args(["write", &store.root().display().to_string(), "log", "10000"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        let reader = std::thread::spawn(move || {
            let mut revs = Vec::new();
            for l in out.lines() {
                let Ok(l) = l else { break };
                if let Some(rev) = l.strip_prefix("ack ").and_then(|r| r.split(' ').nth(1)) {
                    revs.push(Revision::from_string(rev));
                }
            }
            revs
        });
        std::thread::sleep(Duration::from_millis((round * 7919) % 40));
        child.kill().unwrap();
        child.wait().unwrap();
        acked.extend(reader.join().unwrap());

        let now = FsArtifactStore::new(store.root())
            .load(&r0.id)
            .await
            .unwrap()
            .unwrap();
        let history: Vec<_> = now.history.iter().map(|h| h.revision.clone()).collect();
        let last = acked.last().unwrap();
        if &now.revision != last {
            // One write landed but was not acknowledged: it counts from now on.
            assert_eq!(now.history.len(), acked.len() + 1, "round {round}");
            assert_eq!(now.history.last().unwrap().parent.as_ref(), Some(last));
            acked.push(now.revision.clone());
        }
        assert_eq!(history, acked, "round {round}: no revision missing");
    }
}
