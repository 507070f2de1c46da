//! `JsonFileStore` shared by several store values and several processes loses no update.
//!
//! A plain `main` (harness = false) because the test re-executes its own binary as worker
//! processes: with `CODEX_AUTOMATION_STORE_WORKER` set, the binary is a worker that hammers the
//! store and exits; without it, it runs the checks below, each of which fails on a store without
//! a cross-process lock (two `JsonFileStore` values each read the document, change it and write
//! it back, so one of the writes is lost).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::{Arc, Barrier};

use codex_automation::{JsonFileStore, ScheduleRecord, ScheduleStore};

const WORKER_ENV: &str = "CODEX_AUTOMATION_STORE_WORKER";
/// Updates per worker (thread or process).
const ROUNDS: u32 = 150;

/// One worker's share: `ROUNDS` increments of the shared counter record, and `ROUNDS` saves of
/// its own record (`runs_started` = round number).
fn hammer(store: &JsonFileStore, own_id: &str) {
    for round in 1..=ROUNDS {
        store
            .update("shared-counter", |stored| {
                let mut record = stored.unwrap_or_default();
                record.runs_started += 1;
                record
            })
            .unwrap_or_else(|e| panic!("{own_id}: update failed: {e}"));
        let record = ScheduleRecord {
            runs_started: round,
            runs_finished: round,
            ..ScheduleRecord::default()
        };
        store
            .save(own_id, &record)
            .unwrap_or_else(|e| panic!("{own_id}: save failed: {e}"));
    }
}

/// The stored document holds every update of `workers`.
fn check(path: &Path, workers: &[String]) -> Result<(), String> {
    let store = JsonFileStore::new(path);
    let counter = store
        .load("shared-counter")
        .map_err(|e| e.to_string())?
        .ok_or("the shared counter is missing")?;
    let expected = ROUNDS * workers.len() as u32;
    if counter.runs_started != expected {
        return Err(format!(
            "shared counter is {} after {expected} increments: {} updates lost",
            counter.runs_started,
            expected - counter.runs_started.min(expected)
        ));
    }
    for id in workers {
        match store.load(id).map_err(|e| e.to_string())? {
            Some(r) if r.runs_started == ROUNDS => {}
            other => return Err(format!("{id}: last save lost, stored {other:?}")),
        }
    }
    Ok(())
}

/// One check: `Err` says what was lost.
type Check = fn() -> Result<(), String>;

fn scratch_file(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    (dir, path)
}

/// Two `JsonFileStore` values on one file, in two threads of this process.
fn two_store_values_in_one_process() -> Result<(), String> {
    let (_dir, path) = scratch_file("threads.json");
    let workers: Vec<String> = (0..2).map(|i| format!("thread-{i}")).collect();
    let start = Arc::new(Barrier::new(workers.len()));
    let handles: Vec<_> = workers
        .iter()
        .map(|id| {
            let (path, id, start) = (path.clone(), id.clone(), Arc::clone(&start));
            std::thread::spawn(move || {
                let store = JsonFileStore::new(path);
                start.wait();
                hammer(&store, &id);
            })
        })
        .collect();
    for handle in handles {
        handle.join().map_err(|_| "a worker thread panicked")?;
    }
    check(&path, &workers)
}

/// Two processes (this binary, re-executed as workers) on one file.
fn two_processes() -> Result<(), String> {
    let (_dir, path) = scratch_file("processes.json");
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let workers: Vec<String> = (0..2).map(|i| format!("process-{i}")).collect();
    let children: Vec<_> = workers
        .iter()
        .map(|id| {
            Command::new(&exe)
                .env(WORKER_ENV, format!("{}|{id}", path.display()))
                .spawn()
                .map_err(|e| format!("spawn worker {id}: {e}"))
        })
        .collect::<Result<_, _>>()?;
    for (mut child, id) in children.into_iter().zip(&workers) {
        let status = child.wait().map_err(|e| format!("wait for {id}: {e}"))?;
        if !status.success() {
            return Err(format!("worker {id} failed: {status}"));
        }
    }
    check(&path, &workers)
}

fn main() -> ExitCode {
    if let Ok(job) = std::env::var(WORKER_ENV) {
        let Some((path, id)) = job.split_once('|') else {
            eprintln!("bad {WORKER_ENV}: {job}");
            return ExitCode::FAILURE;
        };
        hammer(&JsonFileStore::new(path), id);
        return ExitCode::SUCCESS;
    }
    let tests: [(&str, Check); 2] = [
        (
            "two_store_values_in_one_process",
            two_store_values_in_one_process,
        ),
        ("two_processes", two_processes),
    ];
    let mut failed = 0;
    for (name, test) in tests {
        match test() {
            Ok(()) => println!("test {name} ... ok"),
            Err(message) => {
                failed += 1;
                println!("test {name} ... FAILED: {message}");
            }
        }
    }
    println!(
        "\ntest result: {}. {} passed; {failed} failed",
        if failed == 0 { "ok" } else { "FAILED" },
        tests.len() - failed
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
