//! Run execution limits and cancel safety of the local client: a per-client and a per-flow
//! concurrency limit, and a waiting dispatch whose future is dropped.

mod support;

use std::time::Duration;

use codex_flow::ids::run_id;
use codex_flow::{DispatchOptions, FlowClient, ProcessStatus, StateMode};
use serde_json::json;
use support::FlowTree;

/// A step that records how many steps run at the same moment: each creates a marker file,
/// appends the number of markers present to `counts.txt`, sleeps, then removes its marker.
const COUNTING_STEP: &str = "#!/bin/sh\ncat >/dev/null\nmkdir -p ../../running\ntouch ../../running/$CODEX_FLOW_RUN_ID\nls ../../running | wc -l >> ../../counts.txt\nsleep 0.2\nrm ../../running/$CODEX_FLOW_RUN_ID\necho 'FLOW_RESULT {\"status\":\"completed\"}'\n";

fn max_seen(tree: &FlowTree) -> (usize, usize) {
    let text = std::fs::read_to_string(tree.cwd().join("counts.txt")).unwrap_or_default();
    let counts: Vec<usize> = text.lines().map(|l| l.trim().parse().unwrap()).collect();
    (counts.len(), counts.into_iter().max().unwrap_or(0))
}

async fn fire_many(client: &codex_flow::LocalFlowClient, events: usize) {
    for i in 0..events {
        client
            .dispatch_event(
                json!({"id": format!("evt-{i}"), "type": "go"}),
                DispatchOptions { wait: false },
            )
            .await
            .unwrap();
    }
    tokio::time::timeout(Duration::from_secs(120), client.wait_idle())
        .await
        .expect("all runs end");
}

#[tokio::test]
async fn wait_false_events_never_run_more_steps_than_the_client_limit() {
    let tree = FlowTree::new();
    tree.sh_flow("flows", "busy", "busy", "s", "go", COUNTING_STEP);
    let mut config = tree.config();
    config.max_concurrent_runs = 3;
    let client = tree.client_with(config, Default::default());
    fire_many(&client, 30).await;
    let (runs, max) = max_seen(&tree);
    assert_eq!(runs, 30, "every run executed");
    assert!(max <= 3, "{max} steps ran at once; the limit is 3");
    let completed = client
        .list_runs(codex_flow::RunFilter {
            status: Some("completed".into()),
            limit: Some(100),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(completed.len(), 30);
}

#[tokio::test]
async fn a_flow_limit_in_flow_toml_is_stricter_than_the_client_limit() {
    let tree = FlowTree::new();
    tree.file(
        "flows/one/flow.toml",
        "name = \"one\"\nversion = 1\nmax_concurrent_runs = 1\n[[steps]]\nname = \"s\"\nscript = \"s.sh\"\n[steps.trigger]\ntype = \"go\"\n",
    );
    tree.file("flows/one/s.sh", COUNTING_STEP);
    let mut config = tree.config();
    config.max_concurrent_runs = 8;
    let client = tree.client_with(config, Default::default());
    fire_many(&client, 12).await;
    let (runs, max) = max_seen(&tree);
    assert_eq!(runs, 12);
    assert_eq!(max, 1, "the flow allows one run at a time");
}

#[tokio::test]
async fn a_dropped_waiting_dispatch_cancels_its_run_instead_of_leaving_it_running() {
    let tree = FlowTree::new();
    tree.sh_flow(
        "flows",
        "slow",
        "slow",
        "s",
        "go",
        "#!/bin/sh\ncat >/dev/null\necho $$ > ../../step.pid\nsleep 60\n",
    );
    let mut config = tree.config();
    config.state = StateMode::Durable;
    let client = tree.client_with(config, Default::default());
    let pid_file = tree.cwd().join("step.pid");
    // A boxed future (BoxFuture), so `drop` really drops it.
    let mut dispatch = client.dispatch_event(
        json!({"id": "evt-drop", "type": "go"}),
        DispatchOptions { wait: true },
    );
    // Drive the dispatch until its step is running, then drop it mid-flight.
    let started = tokio::select! {
        _ = &mut dispatch => false,
        started = async {
            while !pid_file.exists() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            true
        } => started,
    };
    assert!(started, "the step started before the dispatch ended");
    drop(dispatch);

    let id = run_id("evt-drop", "slow", "s", None);
    let run = tokio::time::timeout(Duration::from_secs(30), client.wait_for_run(&id))
        .await
        .expect("the run ends after its dispatch future is dropped")
        .unwrap();
    assert_eq!(run.process_status, Some(ProcessStatus::Canceled));
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(support::eventually(|| support::process_gone(pid)).await);
    // Nothing of the run is left behind: the client goes idle.
    tokio::time::timeout(Duration::from_secs(10), client.wait_idle())
        .await
        .expect("no task left running");
}
