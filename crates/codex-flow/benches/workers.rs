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
//!
//! Two placements of the worker processes, both with the workers' defaults (`--concurrency 4`):
//! - **shared cores**: every worker, its steps and PostgreSQL share this machine's cores. On a
//!   2-core machine one worker already keeps both busy, so this shows the machine's limit, not
//!   how workers scale.
//! - **one machine each**: each worker process (and the steps it spawns) runs in its own CPU
//!   cgroup with a quota of `WORKER_CPUS` cores (default: a fifth of the host's cores, 0.4 on 2 cores, so that
//!   three of them stay below what the host can give next to PostgreSQL), the stand-in for a worker on its
//!   own small machine; PostgreSQL and this process stay outside the quotas. This is the
//!   deployment workers are for (one server, workers on other machines) and the placement the
//!   scaling target is judged on. It needs a writable cgroup `cpu` controller (root; v1 or v2):
//!   without one the benchmark says so and prints `not measured`, never a made-up number.
//!
//! `BENCH_ROUNDS` (default 3) rounds run every configuration; medians are reported.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
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

fn env_f64(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A CPU cgroup with a quota: the stand-in for one machine of `cpus` cores. Processes spawned
/// with [`CpuSlice::enter_on_spawn`] (and their children) run inside it; the cgroup is removed
/// on drop.
struct CpuSlice {
    dir: PathBuf,
    procs: std::fs::File,
}

impl CpuSlice {
    fn create(name: &str, cpus: f64) -> Result<CpuSlice, String> {
        let period: u64 = 100_000;
        let quota = ((cpus * period as f64) as u64).max(1_000);
        let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers");
        let (dir, limit_file, limit) = if std::fs::read_to_string(v2)
            .map(|c| c.split_whitespace().any(|x| x == "cpu"))
            .unwrap_or(false)
        {
            let _ = std::fs::write("/sys/fs/cgroup/cgroup.subtree_control", "+cpu");
            (
                PathBuf::from("/sys/fs/cgroup").join(name),
                "cpu.max",
                format!("{quota} {period}"),
            )
        } else {
            (
                PathBuf::from("/sys/fs/cgroup/cpu").join(name),
                "cpu.cfs_quota_us",
                quota.to_string(),
            )
        };
        let describe = |what: &str, e: std::io::Error| format!("{what} {}: {e}", dir.display());
        if !dir.exists() {
            std::fs::create_dir(&dir).map_err(|e| describe("cannot create cgroup", e))?;
        }
        if limit_file == "cpu.cfs_quota_us" {
            std::fs::write(dir.join("cpu.cfs_period_us"), period.to_string())
                .map_err(|e| describe("cannot set the period of", e))?;
        }
        std::fs::write(dir.join(limit_file), limit)
            .map_err(|e| describe("cannot set the CPU quota of", e))?;
        let procs = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.join("cgroup.procs"))
            .map_err(|e| describe("cannot open cgroup.procs of", e))?;
        Ok(CpuSlice { dir, procs })
    }

    /// Makes the child of `command` move itself into this cgroup before it execs.
    fn enter_on_spawn(&self, command: &mut Command) {
        use std::os::fd::AsRawFd;
        let fd = self.procs.as_raw_fd();
        // SAFETY: between fork and exec only `write(2)` on an fd opened before the fork runs
        // (async-signal-safe, no allocation). "0" means the writing process.
        unsafe {
            command.pre_exec(move || {
                if libc::write(fd, b"0".as_ptr().cast(), 1) == 1 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
    }
}

impl Drop for CpuSlice {
    fn drop(&mut self) {
        // The workers have exited (SIGTERM + wait); a cgroup without processes can go.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("note: could not remove cgroup {}", self.dir.display());
    }
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

/// Runs `n` queued runs with `count` worker processes; `slices`: one CPU cgroup per worker
/// (empty: the workers share the machine).
async fn workers(dir: &std::path::Path, n: usize, count: usize, slices: &[CpuSlice]) -> f64 {
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
        .map(|i| {
            let mut command = Command::new(env!("CARGO_BIN_EXE_codex-flow"));
            command
                .args([
                    "worker",
                    "--store",
                    db.url(),
                    "--concurrency",
                    "4",
                    "--flows",
                ])
                .arg(dir.join("flows"))
                .stdout(Stdio::null());
            if let Some(slice) = slices.get(i) {
                slice.enter_on_spawn(&mut command);
            }
            command.spawn().expect("worker")
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

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let n = runs();
    let rounds = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3usize)
        .max(1);
    // Default: a fifth of this machine per worker, so three emulated machines (3 × 0.2 of the
    // cores) stay below what the host can give them next to PostgreSQL: the measurement then
    // shows how workers scale, not the host's ceiling.
    let host = std::thread::available_parallelism().map_or(2, |p| p.get()) as f64;
    let cpus = env_f64("WORKER_CPUS", host / 5.0);
    let dir = tempfile::tempdir().expect("temp dir");
    write_flow(dir.path());
    let slices: Result<Vec<CpuSlice>, String> = (0..3)
        .map(|i| {
            CpuSlice::create(
                &format!("codex-flow-bench-{}-{i}", std::process::id()),
                cpus,
            )
        })
        .collect();
    if let Err(why) = &slices {
        println!("one machine each: not measured ({why})");
    }
    let (mut local_r, mut one_r, mut three_r, mut one_s, mut three_s) =
        (vec![], vec![], vec![], vec![], vec![]);
    for round in 1..=rounds {
        local_r.push(local(dir.path(), n).await);
        one_r.push(workers(dir.path(), n, 1, &[]).await);
        three_r.push(workers(dir.path(), n, 3, &[]).await);
        if let Ok(slices) = &slices {
            one_s.push(workers(dir.path(), n, 1, &slices[..1]).await);
            three_s.push(workers(dir.path(), n, 3, slices).await);
        }
        println!(
            "round {round}: local {:.1}, shared cores 1 worker {:.1} / 3 workers {:.1}, one machine each 1 worker {} / 3 workers {} runs/s",
            local_r[round - 1],
            one_r[round - 1],
            three_r[round - 1],
            one_s.last().map_or("-".into(), |v| format!("{v:.1}")),
            three_s.last().map_or("-".into(), |v| format!("{v:.1}")),
        );
    }
    let (local, one, three) = (median(local_r), median(one_r), median(three_r));
    println!(
        "{n} no-op command runs per measurement, {rounds} rounds (medians), {} cores, load average at end: {}",
        std::thread::available_parallelism()
            .map(|p| p.get())
            .unwrap_or(0),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("local runner (in process, 4 at once):          {local:8.1} runs/s  (1.00)");
    println!(
        "shared cores: 1 worker (4 at once):            {one:8.1} runs/s  ({:.2} x local)",
        one / local
    );
    println!(
        "shared cores: 3 workers (4 at once each):      {three:8.1} runs/s  ({:.2} x local)",
        three / local
    );
    println!(
        "shared cores: 3 workers / 1 worker: {:.2} (the machine's limit, not scaling)",
        three / one
    );
    if one_s.is_empty() {
        println!("one machine each: not measured (no writable cgroup cpu controller)");
        return;
    }
    let (one_s, three_s) = (median(one_s), median(three_s));
    println!("one machine each ({cpus} cores per worker): 1 worker  {one_s:8.1} runs/s");
    println!("one machine each ({cpus} cores per worker): 3 workers {three_s:8.1} runs/s");
    let ratio = three_s / one_s;
    println!(
        "{}: one machine each, 3 workers / 1 worker = {ratio:.2} (target >= 2.5)",
        if ratio >= 2.5 { "PASS" } else { "FAIL" }
    );
}
