//! The local flow client: idempotency, replay ids, durable state across instances and between
//! concurrent clients, blocked runs, unknown ids, broken input.

mod support;

use codex_flow::ids::{replay_nonce, run_id};
use codex_flow::{
    DispatchOptions, DispatchStatus, EffectiveStatus, EventFilter, FlowClient, FlowClientConfig,
    FlowError, LocalFlowClient, ProcessStatus, RunFilter, StateMode,
};
use serde_json::json;
use support::{result_script, FlowTree};

const WAIT: DispatchOptions = DispatchOptions { wait: true };

/// A flow whose step appends a line to `count.txt` each time it runs.
fn counting_tree(status: &str) -> FlowTree {
    let tree = FlowTree::new();
    tree.sh_flow(
        "flows",
        "count",
        "count",
        "s",
        "go",
        &format!("#!/bin/sh\necho \"$CODEX_FLOW_EVENT_ID\" >> ../../count.txt\necho 'FLOW_RESULT {{\"status\":\"{status}\"}}'\n"),
    );
    tree
}

fn count_lines(tree: &FlowTree) -> Vec<String> {
    std::fs::read_to_string(tree.cwd().join("count.txt"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn redispatch_of_a_stored_id_runs_nothing() {
    let tree = counting_tree("completed");
    let client = tree.client();
    let first = client
        .dispatch_event(json!({"id": "evt:1", "type": "go"}), WAIT)
        .await
        .unwrap();
    assert_eq!(first.status, DispatchStatus::Accepted);
    assert_eq!(first.matched, 1);
    assert_eq!(first.run_ids, [run_id("evt:1", "count", "s", None)]);
    let again = client
        .dispatch_event(
            json!({"id": "evt:1", "type": "go", "payload": {"other": 1}}),
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(again.status, DispatchStatus::Duplicate);
    assert_eq!(again.run_ids, first.run_ids);
    assert_eq!(again.matched, 0);
    assert!(again.idempotent);
    assert_eq!(
        serde_json::to_value(&again).unwrap(),
        json!({"status": "duplicate", "eventId": "evt:1", "runIds": first.run_ids, "matched": 0, "idempotent": true})
    );
    assert_eq!(count_lines(&tree), ["evt:1"]);
}

#[tokio::test]
async fn replays_get_new_deterministic_run_ids_appended_to_the_event() {
    let tree = counting_tree("completed");
    let client = tree.client();
    let first = client
        .dispatch_event(json!({"id": "evt:2", "type": "go"}), WAIT)
        .await
        .unwrap();
    let r1 = client.replay_event("evt:2", WAIT).await.unwrap();
    let r2 = client.replay_event("evt:2", WAIT).await.unwrap();
    assert_eq!(
        r1.run_ids,
        [run_id("evt:2", "count", "s", Some(&replay_nonce(1)))]
    );
    assert_eq!(
        r2.run_ids,
        [run_id("evt:2", "count", "s", Some(&replay_nonce(2)))]
    );
    assert_ne!(r1.run_ids, first.run_ids);
    assert_ne!(r1.run_ids, r2.run_ids);
    let detail = client.get_event("evt:2").await.unwrap();
    let all: Vec<String> = [first.run_ids, r1.run_ids, r2.run_ids].concat();
    assert_eq!(detail.event.run_ids, all);
    assert_eq!(detail.event.replays, 2);
    let replay_flags: Vec<bool> = detail.runs.iter().map(|r| r.replay).collect();
    assert_eq!(replay_flags, [false, true, true]);
    assert_eq!(count_lines(&tree).len(), 3);
}

#[tokio::test]
async fn durable_state_survives_new_client_instances() {
    let tree = counting_tree("changed");
    let mut config = tree.config();
    config.state = StateMode::Durable;
    let run_ids = {
        let client = LocalFlowClient::open(config.clone()).unwrap();
        client
            .dispatch_event(json!({"id": "evt:3", "type": "go"}), WAIT)
            .await
            .unwrap()
            .run_ids
    };
    assert!(tree
        .cwd()
        .join(".codex/flow-client/state.sqlite3")
        .is_file());
    let client = LocalFlowClient::open(config.clone()).unwrap();
    let run = client.get_run(&run_ids[0]).await.unwrap();
    assert_eq!(run.effective_status, EffectiveStatus::Changed);
    assert_eq!(run.attempts.len(), 1);
    assert_eq!(
        client
            .list_events(EventFilter::default())
            .await
            .unwrap()
            .len(),
        1
    );
    let again = client
        .dispatch_event(json!({"id": "evt:3", "type": "go"}), WAIT)
        .await
        .unwrap();
    assert_eq!(again.status, DispatchStatus::Duplicate);
    let replay = client.replay_event("evt:3", WAIT).await.unwrap();
    drop(client);
    let client = LocalFlowClient::open(config).unwrap();
    let detail = client.get_event("evt:3").await.unwrap();
    assert_eq!(detail.event.run_ids, [run_ids, replay.run_ids].concat());
    assert_eq!(count_lines(&tree).len(), 2);
    let runs = client
        .list_runs(RunFilter {
            event_id: Some("evt:3".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(runs.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_durable_clients_never_run_an_event_twice() {
    let tree = counting_tree("completed");
    let mut config = tree.config();
    config.state = StateMode::Durable;
    let clients: Vec<LocalFlowClient> = (0..3)
        .map(|_| LocalFlowClient::open(config.clone()).unwrap())
        .collect();
    let mut tasks = Vec::new();
    for client in clients {
        tasks.push(tokio::spawn(async move {
            let mut accepted = 0;
            for i in 0..15 {
                let answer = client
                    .dispatch_event(json!({"id": format!("shared-{i}"), "type": "go"}), WAIT)
                    .await
                    .unwrap();
                if answer.status == DispatchStatus::Accepted {
                    accepted += 1;
                }
            }
            accepted
        }));
    }
    let mut accepted = 0;
    for task in tasks {
        accepted += task.await.unwrap();
    }
    assert_eq!(accepted, 15);
    let mut lines = count_lines(&tree);
    lines.sort();
    lines.dedup();
    assert_eq!(lines.len(), 15);
    assert_eq!(count_lines(&tree).len(), 15);
}

#[tokio::test]
async fn blocked_is_completed_blocked_and_needs_attention() {
    for state in [StateMode::Memory, StateMode::Durable] {
        let tree = counting_tree("blocked");
        let mut config = tree.config();
        config.state = state;
        let client = LocalFlowClient::open(config).unwrap();
        blocked_run_checks(&client).await;
    }
}

async fn blocked_run_checks(client: &LocalFlowClient) {
    let answer = client
        .dispatch_event(json!({"id": "evt:4", "type": "go"}), WAIT)
        .await
        .unwrap();
    let run = client.get_run(&answer.run_ids[0]).await.unwrap();
    let view = serde_json::to_value(&run).unwrap();
    assert_eq!(view["processStatus"], "completed");
    assert_eq!(view["resultStatus"], "blocked");
    assert_eq!(view["effectiveStatus"], "blocked");
    assert_eq!(view["needsAttention"], true);
    assert_eq!(view["attempts"][0]["attemptNumber"], 1);
    assert_eq!(view["attempts"][0]["status"], "completed");
    assert!(view["latestOutput"]["stdout"]["text"]
        .as_str()
        .unwrap()
        .contains("FLOW_RESULT"));
    let attention = client
        .list_runs(RunFilter {
            status: Some("blocked".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(attention.len(), 1);
    let completed = client
        .list_runs(RunFilter {
            status: Some("completed".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(completed.len(), 1, "process status filters too");
    let failed = client
        .list_runs(RunFilter {
            status: Some("failed".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(failed.is_empty());
}

#[tokio::test]
async fn unknown_ids_are_typed_errors() {
    for state in [StateMode::Memory, StateMode::Durable] {
        let tree = counting_tree("completed");
        let mut config = tree.config();
        config.state = state;
        let client = LocalFlowClient::open(config).unwrap();
        assert!(
            matches!(client.get_run("run_nope").await, Err(FlowError::UnknownRun(id)) if id == "run_nope")
        );
        assert!(matches!(
            client.cancel_run("run_nope").await,
            Err(FlowError::UnknownRun(_))
        ));
        assert!(matches!(
            client.get_event("evt_nope").await,
            Err(FlowError::UnknownEvent(_))
        ));
        assert!(matches!(
            client.replay_event("evt_nope", WAIT).await,
            Err(FlowError::UnknownEvent(_))
        ));
        assert_eq!(
            client.get_run("run_nope").await.unwrap_err().to_string(),
            "unknown run `run_nope`"
        );
    }
}

#[tokio::test]
async fn broken_events_are_refused_and_nothing_is_stored() {
    let tree = counting_tree("completed");
    let client = tree.client();
    let err = client
        .dispatch_event(json!({"type": "go"}), WAIT)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "FlowEvent requires string id and type");
    let err = client.dispatch_event(json!("go"), WAIT).await.unwrap_err();
    assert!(matches!(err, FlowError::InvalidEvent));
    let huge = "x".repeat(10 * 1024 * 1024);
    let err = client
        .dispatch_event(
            json!({"id": "big", "type": "go", "payload": {"blob": huge}}),
            WAIT,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, FlowError::EventTooLarge { .. }), "{err}");
    assert!(err.to_string().contains("over the limit of 4194304 bytes"));
    assert!(client
        .list_events(EventFilter::default())
        .await
        .unwrap()
        .is_empty());
    assert!(count_lines(&tree).is_empty());
    // A payload just under the limit is fine.
    let big = "y".repeat(3 * 1024 * 1024);
    let ok = client
        .dispatch_event(
            json!({"id": "big-ok", "type": "go", "payload": {"blob": big}}),
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(ok.status, DispatchStatus::Accepted);
    let run = client.get_run(&ok.run_ids[0]).await.unwrap();
    assert_eq!(run.process_status, Some(ProcessStatus::Completed));
}

#[tokio::test]
async fn configuration_picks_the_backend() {
    let tree = FlowTree::new();
    tree.sh_flow("flows", "f", "f", "s", "go", &result_script("skipped"));
    let local: FlowClientConfig = serde_json::from_value(json!({
        "backend": "local", "cwd": tree.cwd(), "state": "memory"
    }))
    .unwrap();
    let client = local.build(None).unwrap();
    let answer = client
        .dispatch_event(json!({"id": "e", "type": "go"}), WAIT)
        .await
        .unwrap();
    let run = client.get_run(&answer.run_ids[0]).await.unwrap();
    assert_eq!(run.effective_status, EffectiveStatus::Skipped);

    let http: FlowClientConfig = serde_json::from_value(json!({
        "backend": "http", "baseUrl": "ftp://example.invalid/x"
    }))
    .unwrap();
    let err = http.build(None).err().unwrap();
    assert!(matches!(err, FlowError::Config(_)), "{err}");
}

#[tokio::test]
async fn the_durable_state_database_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let tree = counting_tree("completed");
    let mut config = tree.config();
    config.state = StateMode::Durable;
    let client = LocalFlowClient::open(config.clone()).unwrap();
    client
        .dispatch_event(json!({"id": "evt:private", "type": "go"}), WAIT)
        .await
        .unwrap();
    let db = config.resolved_state_dir().join("state.sqlite3");
    let mode = std::fs::metadata(&db).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{} is {mode:o}", db.display());
}
