//! One `codex-flow serve` and three `codex-flow worker` processes on one PostgreSQL: 500 events
//! fan out to 1,000 command-step runs; one worker is SIGKILLed in the middle of its runs; every
//! run completes exactly once (one winning attempt, one side-effect line); the killed worker's
//! runs are taken over within the lease TTL + 2 s; a cancel sent through serve stops a step on
//! another worker within 2 s.

mod support;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use codex_flow::{
    DispatchOptions, FlowClient, HttpFlowClient, HttpFlowClientConfig, ProcessStatus, RunFilter,
};
use codex_test_support::postgres::fresh_database;
use futures::StreamExt;
use serde_json::json;
use support::{process_gone, start_codex_flow, FlowTree, Proc};

const TOKEN: &str = "mw-token";
const SECRET: &str = "mw-secret";
const LEASE_TTL_MS: u64 = 2000;

fn start(args: &[&str]) -> (Proc, String) {
    start_codex_flow(args)
}

fn worker(store: &str, flows: &Path) -> (Proc, String) {
    let (proc, line) = start(&[
        "worker",
        "--store",
        store,
        "--flows",
        flows.to_str().unwrap(),
        "--concurrency",
        "4",
        "--lease-ttl-ms",
        &LEASE_TTL_MS.to_string(),
        "--heartbeat-ms",
        "250",
    ]);
    let id = line
        .strip_prefix("worker ")
        .expect("worker id line")
        .to_string();
    (proc, id)
}

/// Step script: slow runs (payload.slow) mark themselves started and sleep 3 s before their
/// side effect; every run appends `<run id> <attempt id>` to effects.txt once, at its end.
const STEP: &str = "#!/bin/sh\nctx=$(cat)\ncase \"$ctx\" in *'\"slow\":true'*) touch ../../started-$CODEX_FLOW_RUN_ID; sleep 3;; esac\necho \"$CODEX_FLOW_RUN_ID $CODEX_FLOW_ATTEMPT_ID\" >> ../../effects.txt\necho 'FLOW_RESULT {\"status\":\"completed\"}'\n";

fn parse_time(text: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&chrono::Utc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_run_1000_runs_exactly_once_through_a_kill_and_a_cancel() {
    let db = fresh_database("flow_multi_worker").await.unwrap();
    let tree = FlowTree::new();
    tree.sh_flow("flows", "a", "a", "s", "job", STEP);
    tree.sh_flow("flows", "b", "b", "s", "job", STEP);
    tree.sh_flow(
        "flows",
        "long",
        "long",
        "s",
        "long",
        "#!/bin/sh\ncat >/dev/null\necho $$ > ../../long.pid\nsleep 60\n",
    );
    let flows = tree.cwd().join("flows");
    let (_serve, listening) = start(&[
        "serve",
        "--store",
        db.url(),
        "--listen",
        "127.0.0.1:0",
        "--flows",
        flows.to_str().unwrap(),
        "--token",
        TOKEN,
        "--signing-secret",
        SECRET,
    ]);
    let addr = listening
        .strip_prefix("listening on ")
        .expect("listen line");
    let mut config = HttpFlowClientConfig::new(format!("http://{addr}/"));
    config.token = Some(TOKEN.into());
    config.signing_secret = Some(SECRET.into());
    let client = HttpFlowClient::new(config).unwrap();

    // 500 events, 2 runs each; the first 12 events (24 runs) are slow.
    let started = Instant::now();
    let answers: Vec<_> = futures::stream::iter(0..500)
        .map(|i| {
            let client = &client;
            async move {
                client
                    .dispatch_event(
                        json!({"id": format!("job-{i:03}"), "type": "job", "payload": {"slow": i < 12}}),
                        DispatchOptions::default(),
                    )
                    .await
                    .unwrap()
            }
        })
        .buffered(8)
        .collect()
        .await;
    let run_ids: Vec<String> = answers.iter().flat_map(|a| a.run_ids.clone()).collect();
    assert_eq!(run_ids.len(), 1000);
    eprintln!("dispatched 500 events in {:?}", started.elapsed());

    let workers: Vec<(Proc, String)> = (0..3).map(|_| worker(db.url(), &flows)).collect();
    let victim_id = workers[0].1.clone();
    assert!(victim_id.split(':').count() == 4, "{victim_id}");

    // Wait until the victim holds running slow runs whose steps have started, then SIGKILL it.
    let deadline = Instant::now() + Duration::from_secs(60);
    let victim_runs: Vec<String> = loop {
        let running = client
            .list_runs(RunFilter {
                status: Some("running".into()),
                limit: Some(100),
                ..Default::default()
            })
            .await
            .unwrap();
        let held: Vec<String> = running
            .iter()
            .filter(|r| r.owner.as_deref() == Some(victim_id.as_str()))
            .map(|r| r.id.clone())
            .collect();
        if !held.is_empty()
            && held
                .iter()
                .all(|id| tree.cwd().join(format!("started-{id}")).exists())
        {
            break held;
        }
        assert!(
            Instant::now() < deadline,
            "the victim never held started slow runs"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut workers = workers.into_iter();
    let (mut victim, _) = workers.next().unwrap();
    victim.0.kill().unwrap(); // SIGKILL
    let killed_at = chrono::Utc::now();
    victim.0.wait().unwrap();
    let survivors: Vec<(Proc, String)> = workers.collect();

    // Every run completes.
    let deadline = Instant::now() + Duration::from_secs(240);
    let runs = loop {
        let runs = client
            .list_runs(RunFilter {
                limit: Some(2000),
                ..Default::default()
            })
            .await
            .unwrap();
        if runs
            .iter()
            .all(|r| r.process_status == Some(ProcessStatus::Completed))
        {
            break runs;
        }
        assert!(Instant::now() < deadline, "runs did not all complete");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(runs.len(), 1000);

    // Exactly once: one completed attempt per run, one side-effect line from that attempt.
    let effects = std::fs::read_to_string(tree.cwd().join("effects.txt")).unwrap();
    let mut lines: HashMap<&str, Vec<&str>> = HashMap::new();
    for line in effects.lines() {
        let (run, attempt) = line.split_once(' ').unwrap();
        lines.entry(run).or_default().push(attempt);
    }
    let victim_set: HashSet<&str> = victim_runs.iter().map(String::as_str).collect();
    for run in &runs {
        let completed: Vec<_> = run
            .attempts
            .iter()
            .filter(|a| a.status == Some(ProcessStatus::Completed))
            .collect();
        assert_eq!(completed.len(), 1, "{run:#?}");
        let winner = completed[0];
        assert_eq!(
            lines.get(run.id.as_str()).map(Vec::as_slice),
            Some([winner.id.as_str()].as_slice()),
            "side effect of {}",
            run.id
        );
        if victim_set.contains(run.id.as_str()) {
            assert_ne!(winner.worker_id.as_deref(), Some(victim_id.as_str()));
            let taken = parse_time(winner.started_at.as_deref().unwrap());
            let delay = (taken - killed_at).num_milliseconds();
            assert!(
                delay <= LEASE_TTL_MS as i64 + 2000,
                "{} taken over {delay} ms after the kill",
                run.id
            );
        }
    }
    assert_eq!(lines.len(), 1000);
    let metrics = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !metrics.contains("codex_flow_lease_takeovers_total 0\n"),
        "{metrics}"
    );

    // A cancel through serve stops a step running on another worker within 2 s.
    let long = client
        .dispatch_event(
            json!({"id": "long-1", "type": "long"}),
            DispatchOptions::default(),
        )
        .await
        .unwrap();
    let pid_file = tree.cwd().join("long.pid");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !pid_file.exists() {
        assert!(Instant::now() < deadline, "the long step never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let canceled_at = Instant::now();
    client.cancel_run(&long.run_ids[0]).await.unwrap();
    while !process_gone(pid) {
        assert!(
            canceled_at.elapsed() < Duration::from_secs(2),
            "step still running 2 s after the cancel"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let run = client.get_run(&long.run_ids[0]).await.unwrap();
        if run.process_status == Some(ProcessStatus::Canceled) {
            break;
        }
        assert!(Instant::now() < deadline, "cancel not recorded: {run:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // SIGTERM drains the survivors: they exit cleanly.
    for (mut proc, _) in survivors {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(proc.0.id() as i32, libc::SIGTERM) };
        let status = proc.0.wait().unwrap();
        assert!(status.success(), "{status:?}");
    }
}
