//! Scaling of flow execution: no-op command steps run by 1 `codex-flow worker` process, by 3,
//! and by the in-process local runner, in one run.
//!
//! Run: `cargo bench -p codex-flow --bench workers` (needs PostgreSQL: `DATABASE_URL`, else
//! 127.0.0.1:5432; `BENCH_RUNS` sets the number of runs, default 300).
//!
//! - local: `LocalFlowClient` (memory state, `max_concurrent_runs` = 4): `RUNS` events
//!   dispatched with `wait: false`, then `wait_idle`; the time from the first dispatch to idle.
//! - 1 worker / 3 workers: the runs are recorded in a fresh PostgreSQL database first (not
//!   measured), then real `codex-flow worker --concurrency 4` processes execute them; the time
//!   from the first attempt's start to the last run's end, read from the runs' own timestamps
//!   (process start-up and connection are not counted).
//!
//! Each step is `sh` reading its context and printing a FLOW_RESULT: the cost measured is the
//! runner's (lease, spawn, capture, record), not the step's.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use codex_flow::state::EventRecord;
use codex_flow::{
    default_roots, DispatchOptions, FlowCatalog, FlowClient, FlowEvent, FlowStore, LocalFlowClient,
    LocalFlowClientConfig, PostgresFlowStore, RunFilter, RunView,
};
use serde_json::json;

const STEP: &str = "#!/bin/sh\ncat >/dev/null\necho 'FLOW_RESULT {\"status\":\"completed\"}'\n";

fn runs() -> usize {
    std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

fn write_flow(dir: &std::path::Path) {
    let folder = dir.join("flows").join("noop");
    std::fs::create_dir_all(&folder).expect("flow folder");
    std::fs::write(
        folder.join("flow.toml"),
        "name = \"noop\"\nversion = 1\n[[steps]]\nname = \"s\"\nscript = \"s.sh\"\n[steps.trigger]\ntype = \"bench.noop\"\n",
    )
    .expect("manifest");
    let script = folder.join("s.sh");
    std::fs::write(&script, STEP).expect("step");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

async fn local(dir: &std::path::Path, n: usize) -> f64 {
    let mut config = LocalFlowClientConfig::new(dir);
    config.max_concurrent_runs = 4;
    let client = LocalFlowClient::open(config).expect("client");
    let start = Instant::now();
    for i in 0..n {
        client
            .dispatch_event(
                json!({"id": format!("l-{i}"), "type": "bench.noop"}),
                DispatchOptions { wait: false },
            )
            .await
            .expect("dispatch");
    }
    client.wait_idle().await;
    n as f64 / start.elapsed().as_secs_f64()
}

async fn workers(dir: &std::path::Path, n: usize, count: usize) -> f64 {
    let db = codex_test_support::postgres::fresh_database(&format!("flow_bench_w{count}"))
        .await
        .expect("PostgreSQL");
    let store = PostgresFlowStore::connect(db.url()).await.expect("store");
    let catalog = FlowCatalog::load(&default_roots(dir)).expect("flows");
    let hash =
        codex_flow::package_hash::package_hash(catalog.flow("noop").expect("noop")).expect("hash");
    for i in 0..n {
        let event = FlowEvent::from_value(json!({"id": format!("w-{i}"), "type": "bench.noop"}))
            .expect("event");
        let mut run = RunView::queued(
            codex_flow::ids::run_id(&event.id, "noop", "s", None),
            &event,
            "noop",
            "s",
            false,
        );
        run.package_hash = Some(hash.clone());
        let record = EventRecord {
            event,
            run_ids: vec![run.id.clone()],
            replays: 0,
            depth: 0,
            stored_at: String::new(),
        };
        store.record_event(record, vec![run]).await.expect("record");
    }
    let mut procs: Vec<Child> = (0..count)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_codex-flow"))
                .args([
                    "worker",
                    "--store",
                    db.url(),
                    "--concurrency",
                    "4",
                    "--flows",
                ])
                .arg(dir.join("flows"))
                .stdout(Stdio::null())
                .spawn()
                .expect("worker")
        })
        .collect();
    loop {
        let m = store.metrics().await.expect("metrics");
        if m.queued == 0 && m.running == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for p in &mut procs {
        // SAFETY: signalling our own child (SIGTERM: drain, nothing is left).
        unsafe { libc::kill(p.id() as i32, libc::SIGTERM) };
        let _ = p.wait();
    }
    let runs = store
        .list_runs(RunFilter {
            limit: Some(n),
            ..Default::default()
        })
        .await
        .expect("runs");
    let parse = |t: &Option<String>| {
        chrono::DateTime::parse_from_rfc3339(t.as_deref().expect("timestamp")).expect("rfc3339")
    };
    let first = runs
        .iter()
        .map(|r| parse(&r.started_at))
        .min()
        .expect("runs");
    let last = runs
        .iter()
        .map(|r| parse(&r.finished_at))
        .max()
        .expect("runs");
    n as f64 / ((last - first).num_milliseconds().max(1) as f64 / 1000.0)
}

#[tokio::main]
async fn main() {
    let n = runs();
    let dir = tempfile::tempdir().expect("temp dir");
    write_flow(dir.path());
    let local = local(dir.path(), n).await;
    let one = workers(dir.path(), n, 1).await;
    let three = workers(dir.path(), n, 3).await;
    println!(
        "{n} no-op command runs, {} cores",
        std::thread::available_parallelism()
            .map(|p| p.get())
            .unwrap_or(0)
    );
    println!("local runner (in process, 4 at once): {local:8.1} runs/s  (1.00)");
    println!(
        "1 worker  (process, 4 at once):        {one:8.1} runs/s  ({:.2} x local)",
        one / local
    );
    println!(
        "3 workers (processes, 4 at once each): {three:8.1} runs/s  ({:.2} x local)",
        three / local
    );
    println!("3 workers / 1 worker: {:.2} (target >= 2.5)", three / one);
}
