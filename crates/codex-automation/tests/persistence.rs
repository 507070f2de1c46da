//! Persistence: restarts neither double-run nor lose a due run; catch-up policies; a corrupt
//! store file is a typed error and is left untouched.

mod support;

use std::sync::Arc;
use std::time::Duration;

use codex_automation::{
    spawn_with, AutomationError, AutomationOptions, AutomationSpec, AutomationState, CatchUp,
    JsonFileStore, MemoryStore, ScheduleRecord, ScheduleStore, StopMode,
};
use support::{at, base, clock_at, FakeTarget, Step};

fn spec(max_runs: Option<u32>) -> AutomationSpec {
    AutomationSpec {
        prompt: "report".to_string(),
        start_at: None,
        every: Duration::from_secs(10),
        stop_at: None,
        max_runs,
    }
}

fn persisted(
    store: Arc<dyn ScheduleStore>,
    clock: Arc<dyn codex_automation::Clock>,
) -> AutomationOptions {
    AutomationOptions::new()
        .clock(clock)
        .persist(store, "nightly")
}

#[tokio::test(start_paused = true)]
async fn a_restarted_scheduler_neither_double_runs_nor_loses_a_due_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("automations.json");

    let first = FakeTarget::new(clock_at(base()));
    first.default_step(Step::Ok(Duration::from_secs(1)));
    let handle = spawn_with(
        first.clone(),
        spec(Some(5)),
        persisted(Arc::new(JsonFileStore::new(&path)), clock_at(base())),
    );
    tokio::time::sleep(Duration::from_secs(25)).await;
    let stopped = handle.stop(StopMode::Finish).await;
    assert_eq!(stopped.state, AutomationState::Stopped);
    assert_eq!(first.starts(), vec![0.0, 10.0, 20.0]);

    let stored = JsonFileStore::new(&path)
        .load("nightly")
        .unwrap()
        .expect("record");
    assert_eq!((stored.runs_started, stored.runs_finished), (3, 3));
    assert_eq!(stored.next_due, Some(at(30)));

    // A new scheduler (a fresh store value, as in a new process) on the same file.
    let second = FakeTarget::new(clock_at(base()));
    let handle = spawn_with(
        second.clone(),
        spec(Some(5)),
        persisted(Arc::new(JsonFileStore::new(&path)), clock_at(base())),
    );
    let mut reports = handle.subscribe();
    let status = handle.wait().await;
    assert_eq!(
        second.starts(),
        vec![30.0, 40.0],
        "resumes at the stored due time"
    );
    assert_eq!(status.state, AutomationState::Finished);
    assert_eq!(
        status.runs_done, 5,
        "max_runs counts the earlier process's runs"
    );
    assert_eq!(reports.recv().await.unwrap().run_number, 4);
    assert_eq!(reports.recv().await.unwrap().run_number, 5);

    let stored = JsonFileStore::new(&path)
        .load("nightly")
        .unwrap()
        .expect("record");
    assert_eq!((stored.runs_started, stored.runs_finished), (5, 5));
    assert_eq!(stored.last_started_at, Some(at(40)));

    // A third start finds the schedule exhausted and runs nothing.
    let third = FakeTarget::new(clock_at(base()));
    let handle = spawn_with(
        third.clone(),
        spec(Some(5)),
        persisted(Arc::new(JsonFileStore::new(&path)), clock_at(base())),
    );
    assert_eq!(handle.wait().await.state, AutomationState::Finished);
    assert!(third.calls().is_empty());
}

/// Runs `body` on its own paused runtime and then drops the runtime: tasks still running are
/// dropped mid-flight, as in a process that dies.
fn on_paused_runtime<F: std::future::Future>(body: F) -> F::Output {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let output = runtime.block_on(body);
    drop(runtime);
    output
}

#[test]
fn a_run_cut_off_by_a_crash_counts_as_done_and_the_missed_tick_runs_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("automations.json");
    let store: Arc<dyn ScheduleStore> = Arc::new(JsonFileStore::new(&path));

    // Process 1: runs at 0, 10, 20 (4 s each); dies at 22 while run 3 is in flight.
    let first = on_paused_runtime({
        let store = Arc::clone(&store);
        async move {
            let clock = clock_at(base());
            let target = FakeTarget::new(clock.clone());
            target.default_step(Step::Ok(Duration::from_secs(4)));
            let handle = spawn_with(target.clone(), spec(Some(5)), persisted(store, clock));
            tokio::time::sleep(Duration::from_secs(22)).await;
            assert_eq!(handle.status().state, AutomationState::Running);
            (target, handle)
        }
    });
    let (first_target, first_handle) = first;
    assert_eq!(first_target.starts(), vec![0.0, 10.0, 20.0]);
    drop(first_handle);
    let stored = store.load("nightly").unwrap().expect("record");
    assert_eq!(
        (stored.runs_started, stored.runs_finished),
        (3, 2),
        "started run 3, never finished"
    );
    assert_eq!(stored.next_due, Some(at(30)));

    // Process 2 starts at 35: the tick at 30 was missed while down.
    let store2: Arc<dyn ScheduleStore> = Arc::new(JsonFileStore::new(&path));
    let (second, initial, status) = on_paused_runtime(async move {
        let clock = clock_at(at(35));
        let target = FakeTarget::new(clock.clone());
        let handle = spawn_with(target.clone(), spec(Some(5)), persisted(store2, clock));
        tokio::time::sleep(Duration::from_millis(1)).await;
        let initial = handle.status();
        let status = handle.wait().await;
        (target, initial, status)
    });
    assert!(matches!(
        initial.last_error,
        Some(AutomationError::InterruptedByRestart { run: 3, .. })
    ));
    // Run 3 is not re-run; the missed tick runs once at once (run 4), then the grid (run 5).
    assert_eq!(second.starts(), vec![35.0, 40.0]);
    assert_eq!(status.state, AutomationState::Finished);
    assert_eq!(status.runs_done, 5);
    let stored = store.load("nightly").unwrap().expect("record");
    assert_eq!((stored.runs_started, stored.runs_finished), (5, 5));
}

/// Runs twice (0 and 10), stops at 15, and restarts at wall time 47 with `policy`.
async fn restart_after_downtime(policy: CatchUp) -> Vec<f64> {
    let store: Arc<dyn ScheduleStore> = Arc::new(MemoryStore::new());
    let first = FakeTarget::new(clock_at(base()));
    let handle = spawn_with(
        first.clone(),
        spec(Some(4)),
        persisted(Arc::clone(&store), clock_at(base())),
    );
    tokio::time::sleep(Duration::from_secs(15)).await;
    handle.stop(StopMode::Finish).await;
    assert_eq!(first.starts(), vec![0.0, 10.0]);

    // Wall time jumps to 47: the ticks at 20, 30 and 40 passed while nothing ran.
    let clock = clock_at(at(47));
    let second = FakeTarget::new(clock.clone());
    let handle = spawn_with(
        second.clone(),
        spec(Some(4)),
        persisted(store, clock).catch_up(policy),
    );
    let status = handle.wait().await;
    assert_eq!(status.runs_done, 4);
    second.starts()
}

#[tokio::test(start_paused = true)]
async fn catch_up_run_once_runs_the_missed_ticks_once_at_once() {
    assert_eq!(
        restart_after_downtime(CatchUp::RunOnce).await,
        vec![47.0, 50.0]
    );
}

#[tokio::test(start_paused = true)]
async fn catch_up_skip_waits_for_the_next_due_time() {
    assert_eq!(
        restart_after_downtime(CatchUp::Skip).await,
        vec![50.0, 60.0]
    );
}

#[tokio::test(start_paused = true)]
async fn a_corrupt_store_file_is_a_typed_error_naming_the_file_and_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("automations.json");
    let garbage = b"{\"version\": 1, \"automations\": {\"nightly\": {\"runs_started\": 3,";
    std::fs::write(&path, garbage).unwrap();

    let target = FakeTarget::new(clock_at(base()));
    let handle = spawn_with(
        target.clone(),
        spec(None),
        persisted(Arc::new(JsonFileStore::new(&path)), clock_at(base())),
    );
    let status = handle.wait().await;
    assert_eq!(status.state, AutomationState::Failed);
    let error = status.last_error.expect("error");
    assert!(matches!(&error, AutomationError::StoreCorrupt { path: p, .. } if p == &path));
    assert!(
        error.to_string().contains(&path.display().to_string()),
        "{error}"
    );
    assert!(target.calls().is_empty());
    assert_eq!(
        std::fs::read(&path).unwrap(),
        garbage,
        "the file is untouched"
    );

    // Saving through the store is refused too, so nothing stored is overwritten.
    let err = JsonFileStore::new(&path)
        .save("other", &ScheduleRecord::default())
        .expect_err("refuses to overwrite a corrupt file");
    assert!(matches!(err, AutomationError::StoreCorrupt { .. }));
    assert_eq!(std::fs::read(&path).unwrap(), garbage);
}

#[test]
fn an_unknown_document_version_is_reported_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    std::fs::write(&path, r#"{"version": 9, "automations": {}}"#).unwrap();
    let err = JsonFileStore::new(&path).load("x").expect_err("version 9");
    assert!(
        err.to_string().contains("unsupported document version 9"),
        "{err}"
    );
}

#[test]
fn the_json_store_keeps_every_automation_and_leaves_no_temp_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("automations.json");
    let store = JsonFileStore::new(&path);
    assert_eq!(
        store.load("a").unwrap(),
        None,
        "a missing file is an empty store"
    );
    let a = ScheduleRecord {
        runs_started: 2,
        runs_finished: 2,
        last_started_at: Some(at(10)),
        last_ended_at: Some(at(11) + Duration::from_nanos(5)),
        last_slot: Some(at(10)),
        next_due: Some(at(20)),
        next_is_retry: false,
        consecutive_failures: 0,
        last_error: None,
    };
    let b = ScheduleRecord {
        runs_started: 1,
        last_error: Some("boom".into()),
        consecutive_failures: 1,
        next_is_retry: true,
        ..ScheduleRecord::default()
    };
    store.save("a", &a).unwrap();
    store.save("b", &b).unwrap();
    store.save("a", &a).unwrap();
    let reopened = JsonFileStore::new(&path);
    assert_eq!(reopened.load("a").unwrap(), Some(a));
    assert_eq!(reopened.load("b").unwrap(), Some(b));
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    // The store and its (empty, kept) lock file; no temporary file is left behind.
    assert_eq!(names, ["automations.json", "automations.json.lock"]);
    assert_eq!(store.lock_path(), dir.path().join("automations.json.lock"));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("2030-01-01T00:00:11.000000005Z"),
        "times are RFC 3339: {text}"
    );
}

#[test]
fn a_missing_directory_is_an_io_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-dir").join("s.json");
    let err = JsonFileStore::new(&path)
        .save("a", &ScheduleRecord::default())
        .expect_err("no directory");
    assert!(matches!(
        err,
        AutomationError::StoreIo {
            operation: "open lock file",
            ..
        }
    ));
    assert!(err.to_string().contains("no-such-dir"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn an_empty_automation_id_is_rejected() {
    let target = FakeTarget::new(clock_at(base()));
    let options = AutomationOptions::new()
        .clock(clock_at(base()))
        .persist(Arc::new(MemoryStore::new()), " ");
    let handle = spawn_with(target, spec(None), options);
    assert!(matches!(
        handle.status().last_error,
        Some(AutomationError::InvalidOption {
            option: "persist.automation_id",
            ..
        })
    ));
}

#[tokio::test(start_paused = true)]
async fn a_pending_retry_survives_a_restart() {
    let store: Arc<dyn ScheduleStore> = Arc::new(MemoryStore::new());
    let policy = codex_automation::ErrorPolicy::Continue {
        backoff: codex_automation::Backoff::exponential(
            Duration::from_secs(30),
            Duration::from_secs(60),
        ),
        max_consecutive_failures: 2,
    };
    let first = FakeTarget::new(clock_at(base()));
    first.script([Step::Fail(Duration::ZERO, "down")]);
    let handle = spawn_with(
        first.clone(),
        AutomationSpec {
            every: Duration::from_secs(100),
            ..spec(Some(3))
        },
        persisted(Arc::clone(&store), clock_at(base())).error_policy(policy),
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(handle.status().next_due, Some(at(30)));
    handle.stop(StopMode::Finish).await;
    let stored = store.load("nightly").unwrap().expect("record");
    assert!(stored.next_is_retry);
    assert_eq!(stored.consecutive_failures, 1);

    // Restart at 10: the retry still runs at 30, then the schedule resumes at 100.
    let clock = clock_at(at(10));
    let second = FakeTarget::new(clock.clone());
    second.script([Step::Fail(Duration::ZERO, "still down")]);
    let handle = spawn_with(
        second.clone(),
        AutomationSpec {
            every: Duration::from_secs(100),
            ..spec(Some(3))
        },
        persisted(store, clock).error_policy(policy),
    );
    let status = handle.wait().await;
    // The retry at 30 fails: the second failure in a row reaches the cap.
    assert_eq!(second.starts(), vec![30.0]);
    assert_eq!(status.state, AutomationState::Failed);
    assert!(matches!(
        status.last_error,
        Some(AutomationError::TooManyFailures { failures: 2, .. })
    ));
}
