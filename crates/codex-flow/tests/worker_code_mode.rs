//! A Code Mode step through a worker: the run is dispatched into PostgreSQL, leased by a
//! `Worker`, and executed as a turn on the real codex with the mock model.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use codex_flow::state::EventRecord;
use codex_flow::worker::{Worker, WorkerConfig, WorkerStop};
use codex_flow::{
    default_roots, EffectiveStatus, FlowCatalog, FlowEvent, FlowStore, PostgresFlowStore,
    ProcessStatus, RunView, RunnerConfig, SessionCodeModeExecutor,
};
use codex_mock_model::{Reply, Scenario};
use codex_test_support::postgres::fresh_database;
use codex_test_support::CodexTestEnv;
use serde_json::json;
use support::{env, FlowTree};

#[tokio::test]
async fn a_code_mode_step_runs_through_a_worker_on_the_real_codex() {
    let codex = CodexTestEnv::start(Scenario::new([Reply::json(json!({
        "status": "changed",
        "message": "release notes drafted",
        "artifacts": ["notes.md"],
        "next": null
    }))]))
    .await
    .unwrap();
    let tree = FlowTree::new();
    tree.file(
        "flows/notes/flow.toml",
        "name = \"notes\"\nversion = 1\n[[steps]]\nname = \"draft\"\nrunner = \"code-mode\"\nscript = \"draft.md\"\ntimeout_ms = 120000\n[steps.trigger]\ntype = \"release\"\n",
    );
    tree.file(
        "flows/notes/draft.md",
        "Draft release notes for the tag in the context.\n",
    );
    let catalog = FlowCatalog::load(&default_roots(tree.cwd())).unwrap();
    let db = fresh_database("flow_worker_code_mode").await.unwrap();
    let store = PostgresFlowStore::connect(db.url()).await.unwrap();

    // Dispatch records the run, pinned to the package hash.
    let event = FlowEvent::from_value(
        json!({"id": "rel-1", "type": "release", "payload": {"tag": "v1.2.3"}}),
    )
    .unwrap();
    let flow = catalog.flow("notes").unwrap();
    let mut run = RunView::queued(
        codex_flow::ids::run_id("rel-1", "notes", "draft", None),
        &event,
        "notes",
        "draft",
        false,
    );
    run.package_hash = Some(codex_flow::package_hash::package_hash(flow).unwrap());
    let record = EventRecord {
        event,
        run_ids: vec![run.id.clone()],
        replays: 0,
        depth: 0,
        stored_at: String::new(),
    };
    let run_id = run.id.clone();
    store.record_event(record, vec![run]).await.unwrap();

    let executor = Arc::new(SessionCodeModeExecutor::new(codex.client_config()));
    let config = WorkerConfig {
        concurrency: 1,
        heartbeat_interval: Duration::from_millis(200),
        poll_interval: Duration::from_millis(50),
        runner: RunnerConfig {
            env: env(&[("CODEX_FLOWS_ENABLE_CODE_MODE", "1")]),
            code_mode: Some(executor.clone()),
            ..RunnerConfig::default()
        },
        ..WorkerConfig::default()
    };
    let worker = Worker::new(store.clone(), &catalog, config).unwrap();
    let (stop, stop_rx) = tokio::sync::watch::channel(None);
    let handle = tokio::spawn(worker.run(stop_rx));

    let deadline = Instant::now() + Duration::from_secs(120);
    let run = loop {
        let run = store.get_run(run_id.clone()).await.unwrap().unwrap();
        if run.is_terminal() {
            break run;
        }
        assert!(Instant::now() < deadline, "the run never ended: {run:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        run.process_status,
        Some(ProcessStatus::Completed),
        "{run:#?}"
    );
    assert_eq!(run.effective_status, EffectiveStatus::Changed);
    assert_eq!(run.attempts.len(), 1);
    let text = codex.mock.response_requests()[0].to_string();
    assert!(text.contains("Draft release notes") && text.contains("v1.2.3"));

    stop.send(Some(WorkerStop::Drain)).unwrap();
    let report = handle.await.unwrap().unwrap();
    assert_eq!(report.finished, 1);
    executor.shutdown().await.unwrap();
    codex.assert_no_leftover_processes().await;
}
