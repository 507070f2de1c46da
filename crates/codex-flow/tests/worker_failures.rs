//! How `codex-flow worker` processes fail: a SIGKILLed worker leaves no process of its steps
//! behind; a worker cut off from PostgreSQL stops its step before the lease TTL; a PostgreSQL
//! restart in the middle of 80 runs on 3 workers (one of them SIGKILLed) runs no finished step
//! again.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use codex_flow::{
    default_roots, FlowCatalog, FlowStore, PostgresFlowStore, ProcessStatus, RunFilter, RunView,
};
use codex_test_support::postgres::fresh_database;
use serde_json::json;
use support::workers::{marked_processes, record, via, worker, Cluster, Proxy};
use support::FlowTree;

const TTL_MS: u64 = 2000;
const HEARTBEAT_MS: u64 = 200;

fn unique(tag: &str) -> String {
    format!("{tag}-{}-{}", std::process::id(), rand_suffix())
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.finish()
}

/// A step that backgrounds `sleep 300` and waits for it: its processes outlive it unless killed.
const BACKGROUNDING: &str =
    "#!/bin/sh\ncat >/dev/null\nsleep 300 &\nsh -c 'sleep 300'\nwait\necho 'FLOW_RESULT {\"status\":\"completed\"}'\n";

async fn wait_for(what: &str, limit: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_worker_leaves_no_process_of_its_steps() {
    let db = fresh_database("flow_worker_sigkill").await.unwrap();
    let tree = FlowTree::new();
    tree.sh_flow("flows", "bg", "bg", "s", "bg", BACKGROUNDING);
    let store = PostgresFlowStore::connect(db.url()).await.unwrap();
    let catalog = FlowCatalog::load(&default_roots(tree.cwd())).unwrap();
    let marker = unique("sigkill");
    for i in 0..2 {
        record(
            &store,
            &catalog,
            json!({"id": format!("{marker}-{i}"), "type": "bg"}),
        )
        .await;
    }
    let (mut proc, _) = worker(db.url(), &tree.cwd().join("flows"), TTL_MS, HEARTBEAT_MS);
    // Both steps run: each has a shell, a backgrounded sleep and an `sh -c` with its sleep.
    wait_for(
        "the steps' processes",
        Duration::from_secs(30),
        async || marked_processes(&marker).len() >= 8,
    )
    .await;
    proc.0.kill().unwrap(); // SIGKILL
    proc.0.wait().unwrap();
    let killed = Instant::now();
    wait_for(
        "the steps' processes to die",
        Duration::from_secs(10),
        async || marked_processes(&marker).is_empty(),
    )
    .await;
    eprintln!(
        "step processes gone {:?} after the SIGKILL",
        killed.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_cut_off_from_postgres_stops_its_step_before_the_lease_ttl() {
    let db = fresh_database("flow_worker_cutoff").await.unwrap();
    let target = {
        let url = reqwest::Url::parse(db.url()).unwrap();
        format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432))
    };
    let proxy = Proxy::start(target).await;
    let tree = FlowTree::new();
    tree.sh_flow(
        "flows",
        "long",
        "long",
        "s",
        "long",
        "#!/bin/sh\ncat >/dev/null\nwhile true; do echo $CODEX_FLOW_ATTEMPT_ID >> ../../ticks; sleep 0.1; done\n",
    );
    let store = PostgresFlowStore::connect(db.url()).await.unwrap();
    let catalog = FlowCatalog::load(&default_roots(tree.cwd())).unwrap();
    let marker = unique("cutoff");
    let run_ids = record(&store, &catalog, json!({"id": marker, "type": "long"})).await;
    let (_proc, _) = worker(
        &via(db.url(), proxy.addr),
        &tree.cwd().join("flows"),
        TTL_MS,
        HEARTBEAT_MS,
    );
    let ticks = tree.cwd().join("ticks");
    wait_for("the step to run", Duration::from_secs(30), async || {
        ticks.exists()
    })
    .await;
    // Let a heartbeat through so the lease is fresh, then cut.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let lease_until = {
        let run = store.get_run(run_ids[0].clone()).await.unwrap().unwrap();
        let attempt = run.attempts.last().unwrap();
        chrono::DateTime::parse_from_rfc3339(attempt.lease_expires_at.as_deref().unwrap())
            .unwrap()
            .with_timezone(&chrono::Utc)
    };
    proxy.cut();
    let cut = Instant::now();
    let cut_wall = chrono::Utc::now();
    wait_for(
        "the step to stop",
        Duration::from_millis(TTL_MS),
        async || marked_processes(&marker).is_empty(),
    )
    .await;
    let stopped_after = cut.elapsed();
    eprintln!("step stopped {stopped_after:?} after the cut");
    assert!(
        stopped_after < Duration::from_millis(TTL_MS),
        "stopped {stopped_after:?} after the cut"
    );
    // The database's lease (as renewed before the cut; later renewals only extend it) still
    // held when the step was gone: no other worker could have started the run yet.
    let gone_at = cut_wall + chrono::Duration::from_std(stopped_after).unwrap();
    assert!(
        gone_at < lease_until,
        "step gone at {gone_at}, lease until {lease_until}"
    );
    let ticked = std::fs::metadata(&ticks).unwrap().modified().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        std::fs::metadata(&ticks).unwrap().modified().unwrap(),
        ticked,
        "the step still writes"
    );
}

/// Gated steps wait for `gate` (created while PostgreSQL is down) and then finish: their end
/// must be written once the database is back, not run again. Quick steps take 0.2 s.
const GATED: &str = "#!/bin/sh\nctx=$(cat)\ncase \"$ctx\" in *'\"gated\":true'*) while [ ! -e ../../gate ]; do sleep 0.05; done;; *) sleep 0.2;; esac\necho \"$CODEX_FLOW_RUN_ID $CODEX_FLOW_ATTEMPT_ID\" >> ../../effects.txt\necho 'FLOW_RESULT {\"status\":\"completed\"}'\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_mid_run_runs_no_finished_step_again() {
    let Some(cluster) = Cluster::start() else {
        panic!("no PostgreSQL binaries under /usr/lib/postgresql (scripts/ensure-postgres.sh installs them)");
    };
    let url = cluster.url();
    let tree = FlowTree::new();
    tree.sh_flow("flows", "g", "g", "s", "job", GATED);
    let flows = tree.cwd().join("flows");
    let store = PostgresFlowStore::connect(&url).await.unwrap();
    let catalog = FlowCatalog::load(&default_roots(tree.cwd())).unwrap();
    let mut all = Vec::new();
    for i in 0..80 {
        let event =
            json!({"id": format!("job-{i:02}"), "type": "job", "payload": {"gated": i < 8}});
        all.extend(record(&store, &catalog, event).await);
    }
    let workers: Vec<_> = (0..3)
        .map(|_| worker(&url, &flows, TTL_MS, HEARTBEAT_MS))
        .collect();

    // All 8 gated runs are running; the victim is a worker holding some.
    let mut owners: HashMap<String, Vec<String>> = HashMap::new();
    wait_for(
        "the gated runs to start",
        Duration::from_secs(60),
        async || {
            let runs = store
                .list_runs(RunFilter {
                    status: Some("running".into()),
                    limit: Some(100),
                    ..Default::default()
                })
                .await
                .unwrap();
            let gated: Vec<&RunView> = runs.iter().filter(|r| all[..8].contains(&r.id)).collect();
            owners.clear();
            for r in &gated {
                owners
                    .entry(r.owner.clone().unwrap_or_default())
                    .or_default()
                    .push(r.id.clone());
            }
            gated.len() == 8
        },
    )
    .await;
    let (victim_index, victim_runs) = workers
        .iter()
        .enumerate()
        .find_map(|(i, (_, id))| owners.get(id).map(|runs| (i, runs.clone())))
        .expect("a worker holds gated runs");
    let mut workers = workers;
    let (mut victim, victim_id) = workers.remove(victim_index);
    victim.0.kill().unwrap(); // SIGKILL
    victim.0.wait().unwrap();

    // PostgreSQL goes down; while it is down the survivors' gated steps finish.
    let effects = tree.cwd().join("effects.txt");
    let survivor_gated = 8 - victim_runs.len();
    let down = Instant::now();
    cluster.pg_stop();
    std::fs::write(tree.cwd().join("gate"), "").unwrap();
    wait_for(
        "the gated steps to finish",
        Duration::from_secs(10),
        async || {
            let text = std::fs::read_to_string(&effects).unwrap_or_default();
            text.lines()
                .filter(|l| all[..8].iter().any(|id| l.starts_with(id.as_str())))
                .count()
                >= survivor_gated
        },
    )
    .await;
    cluster.pg_start();
    eprintln!("PostgreSQL was down for {:?}", down.elapsed());

    // Every run completes.
    let store = PostgresFlowStore::connect(&url).await.unwrap();
    let mut runs = Vec::new();
    wait_for(
        "every run to complete",
        Duration::from_secs(120),
        async || {
            let Ok(listed) = store
                .list_runs(RunFilter {
                    limit: Some(200),
                    ..Default::default()
                })
                .await
            else {
                return false;
            };
            runs = listed;
            runs.len() == 80
                && runs
                    .iter()
                    .all(|r| r.process_status == Some(ProcessStatus::Completed))
        },
    )
    .await;

    // No finished step ran again: one completed attempt per run and one side effect, from it.
    // Only the SIGKILLed worker's in-flight steps may have a second effect (their first
    // attempt's, written just before the kill).
    let text = std::fs::read_to_string(&effects).unwrap();
    let mut lines: HashMap<&str, Vec<&str>> = HashMap::new();
    for line in text.lines() {
        let (run, attempt) = line.split_once(' ').unwrap();
        lines.entry(run).or_default().push(attempt);
    }
    let mut duplicated = 0;
    for run in &runs {
        let completed: Vec<_> = run
            .attempts
            .iter()
            .filter(|a| a.status == Some(ProcessStatus::Completed))
            .collect();
        assert_eq!(completed.len(), 1, "{run:#?}");
        let winner = completed[0].id.as_str();
        duplicated += usize::from(lines.get(run.id.as_str()).is_some_and(|l| l.len() > 1));
        let effects = lines.get(run.id.as_str()).cloned().unwrap_or_default();
        let (own, others): (Vec<&str>, Vec<&str>) = effects.iter().partition(|a| **a == winner);
        assert_eq!(
            own.len(),
            1,
            "{}: effects {effects:?}, winner {winner}",
            run.id
        );
        for other in others {
            let attempt = run.attempts.iter().find(|a| a.id == other).unwrap();
            assert!(
                victim_runs.contains(&run.id)
                    && attempt.worker_id.as_deref() == Some(victim_id.as_str()),
                "{} ran again: effects {effects:?} ({run:#?})",
                run.id
            );
        }
    }
    // At most the victim's concurrency (4) of its in-flight steps.
    assert!(duplicated <= 4, "{duplicated} runs have two side effects");
    for (mut proc, _) in workers {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(proc.0.id() as i32, libc::SIGTERM) };
        proc.0.wait().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canceled_run_is_not_restarted_on_takeover() {
    let db = fresh_database("flow_worker_cancel_takeover").await.unwrap();
    let tree = FlowTree::new();
    // Every start of the step appends a line to starts.txt.
    tree.sh_flow(
        "flows",
        "long",
        "long",
        "s",
        "long",
        "#!/bin/sh\ncat >/dev/null\necho $CODEX_FLOW_ATTEMPT_ID >> ../../starts.txt\nsleep 60\n",
    );
    let flows = tree.cwd().join("flows");
    let store = PostgresFlowStore::connect(db.url()).await.unwrap();
    let catalog = FlowCatalog::load(&default_roots(tree.cwd())).unwrap();
    let run_ids = record(
        &store,
        &catalog,
        json!({"id": unique("cancel"), "type": "long"}),
    )
    .await;
    let starts = tree.cwd().join("starts.txt");
    let (mut a, _) = worker(db.url(), &flows, TTL_MS, HEARTBEAT_MS);
    wait_for("the step to start", Duration::from_secs(30), async || {
        starts.exists()
    })
    .await;
    a.0.kill().unwrap(); // SIGKILL: the run stays `running` until its lease expires.
    a.0.wait().unwrap();
    let asked = store.cancel_run(run_ids[0].clone()).await.unwrap();
    assert!(asked.cancel_requested, "{asked:#?}");
    let (_b, _) = worker(db.url(), &flows, TTL_MS, HEARTBEAT_MS);
    wait_for(
        "the run to end canceled",
        Duration::from_secs(30),
        async || {
            let run = store.get_run(run_ids[0].clone()).await.unwrap().unwrap();
            run.process_status == Some(ProcessStatus::Canceled)
        },
    )
    .await;
    // Worker B has had time to lease it (several poll intervals): it never started the step.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let lines = std::fs::read_to_string(&starts).unwrap();
    assert_eq!(lines.lines().count(), 1, "the step started again: {lines}");
    let run = store.get_run(run_ids[0].clone()).await.unwrap().unwrap();
    assert_eq!(run.attempts.len(), 1, "{run:#?}");
}
