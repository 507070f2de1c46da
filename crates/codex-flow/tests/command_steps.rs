//! Command steps: FLOW_RESULT from a raw script, runtime metadata, timeouts that kill the whole
//! process group, cancel, next events, output bounds.

mod support;

use std::time::Duration;

use codex_flow::{
    default_roots, CancellationToken, DispatchOptions, EffectiveStatus, FlowCatalog, FlowClient,
    FlowError, FlowEvent, ProcessStatus, RunFilter, RunnerConfig, RuntimeMetadata, StepRunner,
};
use serde_json::{json, Value};
use support::{eventually, process_gone, FlowTree};

const WAIT: DispatchOptions = DispatchOptions { wait: true };

#[tokio::test]
async fn raw_script_flow_result_becomes_the_run_result() {
    let tree = FlowTree::new();
    tree.sh_flow(
        "flows",
        "f",
        "f",
        "s",
        "go",
        "#!/bin/sh\necho 'log line'\necho 'FLOW_RESULT {\"status\":\"failed\"}'\necho 'FLOW_RESULT {\"status\":\"changed\",\"message\":\"bumped\",\"artifacts\":[\"a.txt\"],\"custom\":7}'\necho 'done' >&2\n",
    );
    let client = tree.client();
    let answer = client
        .dispatch_event(json!({"id": "e1", "type": "go"}), WAIT)
        .await
        .unwrap();
    let run = client.get_run(&answer.run_ids[0]).await.unwrap();
    assert_eq!(run.process_status, Some(ProcessStatus::Completed));
    assert_eq!(run.effective_status, EffectiveStatus::Changed);
    let result = run.result.as_ref().unwrap();
    assert_eq!(result.message.as_deref(), Some("bumped"));
    assert_eq!(result.artifacts, Some(json!(["a.txt"])));
    assert_eq!(result.extra["custom"], 7);
    let output = run.latest_output.as_ref().unwrap();
    assert!(output.stdout.text.starts_with("log line\n"));
    assert_eq!(output.stderr.text, "done\n");
    assert_eq!(
        output.attempt_id.as_deref(),
        Some(run.attempts[0].id.as_str())
    );
    assert!(run.started_at.is_some() && run.finished_at.is_some() && run.created_at.is_some());
}

#[tokio::test]
async fn bad_exits_and_missing_results_fail_the_run() {
    let tree = FlowTree::new();
    tree.sh_flow(
        "flows",
        "a",
        "a",
        "s",
        "go",
        "#!/bin/sh\necho 'FLOW_RESULT {\"status\":\"failed\",\"message\":\"x\"}'\nexit 3\n",
    );
    tree.sh_flow(
        "flows",
        "b",
        "b",
        "s",
        "go",
        "#!/bin/sh\necho 'no result here'\n",
    );
    tree.sh_flow(
        "flows",
        "c",
        "c",
        "s",
        "go",
        "#!/bin/sh\necho 'FLOW_RESULT {\"status\":\"weird\"}'\n",
    );
    tree.sh_flow(
        "flows",
        "d",
        "d",
        "s",
        "go",
        "#!/bin/sh\necho 'FLOW_RESULT [1,2]'\n",
    );
    let client = tree.client();
    let answer = client
        .dispatch_event(json!({"id": "e1", "type": "go"}), WAIT)
        .await
        .unwrap();
    let detail = client.get_event("e1").await.unwrap();
    assert_eq!(detail.runs.len(), 4);
    assert_eq!(answer.run_ids, detail.event.run_ids);
    let errors: Vec<&str> = detail
        .runs
        .iter()
        .map(|r| r.error.as_deref().unwrap())
        .collect();
    assert_eq!(errors[0], "step a/s exited with exit code 3");
    assert_eq!(detail.runs[0].attempts[0].exit_code, Some(3));
    // The step's own FLOW_RESULT is kept even though the process failed.
    assert_eq!(detail.runs[0].effective_status, EffectiveStatus::Failed);
    assert_eq!(errors[1], "Step did not emit FLOW_RESULT");
    assert_eq!(errors[2], "FLOW_RESULT status is invalid");
    assert_eq!(errors[3], "FLOW_RESULT must be a JSON object");
    for run in &detail.runs {
        assert_eq!(run.process_status, Some(ProcessStatus::Failed));
        assert!(!run.needs_attention);
    }
}

#[tokio::test]
async fn runtime_metadata_reaches_context_and_env_and_replay_shows_as_1() {
    let tree = FlowTree::new();
    tree.sh_flow(
        "flows",
        "meta",
        "meta",
        "s",
        "go",
        "#!/bin/sh\nctx=$(cat)\necho \"CTX $ctx\"\necho \"ENV $CODEX_FLOW_EVENT_ID|$CODEX_FLOW_RUN_ID|$CODEX_FLOW_ATTEMPT_ID|$CODEX_FLOW_REPLAY|$CODEX_FLOW_LAUNCHED_BY|$CODEX_WORKSPACE_BACKEND_WS_URL|$PWD\"\necho 'FLOW_RESULT {\"status\":\"completed\"}'\n",
    );
    tree.file("flows/meta/flow.toml", "name = \"meta\"\nversion = 3\n[config]\nrepo = \"a/b\"\n[[steps]]\nname = \"s\"\nscript = \"s.sh\"\ncwd = \"work\"\n[steps.trigger]\ntype = \"go\"\n");
    std::fs::create_dir_all(tree.cwd().join("flows/meta/work")).unwrap();
    let mut config = tree.config();
    config.launched_by = Some("tests".into());
    config.workspace_backend_url = Some("ws://127.0.0.1:9/ws".into());
    let client = tree.client_with(config, Default::default());
    let answer = client
        .dispatch_event(
            json!({"id": "e-meta", "type": "go", "payload": {"k": 1}, "trace": "x"}),
            WAIT,
        )
        .await
        .unwrap();
    let replay = client.replay_event("e-meta", WAIT).await.unwrap();

    for (run_id, replayed) in [(&answer.run_ids[0], false), (&replay.run_ids[0], true)] {
        let run = client.get_run(run_id).await.unwrap();
        let stdout = &run.latest_output.as_ref().unwrap().stdout.text;
        let ctx_line = stdout.lines().find_map(|l| l.strip_prefix("CTX ")).unwrap();
        let ctx: Value = serde_json::from_str(ctx_line).unwrap();
        assert_eq!(ctx["flow"]["name"], "meta");
        assert_eq!(ctx["flow"]["version"], 3);
        assert_eq!(ctx["flow"]["step"], "s");
        assert_eq!(ctx["flow"]["config"]["repo"], "a/b");
        assert_eq!(ctx["flow"]["event"]["payload"]["k"], 1);
        assert_eq!(ctx["flow"]["event"]["trace"], "x");
        assert!(ctx["flow"]["root"]
            .as_str()
            .unwrap()
            .ends_with("flows/meta"));
        assert_eq!(ctx["runtime"]["eventId"], "e-meta");
        assert_eq!(ctx["runtime"]["runId"], run.id.as_str());
        assert_eq!(ctx["runtime"]["attemptId"], run.attempts[0].id.as_str());
        assert_eq!(ctx["runtime"]["replay"], replayed);
        assert_eq!(ctx["runtime"]["launchedBy"], "tests");
        assert_eq!(ctx["runtime"]["workspaceBackendUrl"], "ws://127.0.0.1:9/ws");
        let env_line = stdout.lines().find_map(|l| l.strip_prefix("ENV ")).unwrap();
        let parts: Vec<&str> = env_line.split('|').collect();
        assert_eq!(parts[0], "e-meta");
        assert_eq!(parts[1], run.id);
        assert_eq!(parts[2], run.attempts[0].id);
        assert_eq!(parts[3], if replayed { "1" } else { "0" });
        assert_eq!(parts[4], "tests");
        assert_eq!(parts[5], "ws://127.0.0.1:9/ws");
        assert!(parts[6].ends_with("flows/meta/work"), "{}", parts[6]);
        assert_eq!(run.replay, replayed);
    }
}

#[tokio::test]
async fn timeout_kills_the_whole_process_group() {
    let tree = FlowTree::new();
    tree.file(
        "flows/slow/flow.toml",
        "name = \"slow\"\nversion = 1\n[[steps]]\nname = \"s\"\nscript = \"s.sh\"\ntimeout_ms = 400\n",
    );
    tree.file(
        "flows/slow/s.sh",
        "#!/bin/sh\nsleep 300 &\necho $! > grandchild.pid\necho $$ > child.pid\necho started\nwait\n",
    );
    let catalog = FlowCatalog::load(&default_roots(tree.cwd())).unwrap();
    let flow = catalog.flow("slow").unwrap();
    let runner = StepRunner::new(RunnerConfig {
        kill_grace: Duration::from_millis(200),
        ..RunnerConfig::default()
    });
    let outcome = runner
        .run(
            flow,
            &flow.steps[0],
            &FlowEvent::new("e", "t", json!({})),
            RuntimeMetadata {
                event_id: "e".into(),
                ..Default::default()
            },
            &CancellationToken::new(),
            &codex_flow::progress::no_progress(),
        )
        .await;
    assert_eq!(outcome.process_status, ProcessStatus::Failed);
    let err = outcome.error.unwrap();
    assert!(
        matches!(
            err,
            FlowError::Timeout {
                timeout_ms: 400,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.to_string(), "step slow/s timed out after 400 ms");
    assert_eq!(outcome.stdout.text, "started\n");
    let read_pid = |name: &str| -> i32 {
        std::fs::read_to_string(tree.cwd().join("flows/slow").join(name))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let child = read_pid("child.pid");
    let grandchild = read_pid("grandchild.pid");
    assert!(eventually(|| process_gone(child) && process_gone(grandchild)).await);
    // The group itself is gone: no live member answers signal 0.
    assert!(
        eventually(|| {
            let rc = unsafe { libc::killpg(child, 0) };
            rc != 0 || process_gone(grandchild)
        })
        .await
    );
}

#[tokio::test]
async fn cancel_kills_a_running_step_and_stops_a_queued_one() {
    let tree = FlowTree::new();
    tree.file(
        "flows/long/flow.toml",
        "name = \"long\"\nversion = 1\n[[steps]]\nname = \"first\"\nscript = \"first.sh\"\n[steps.trigger]\ntype = \"go\"\n[[steps]]\nname = \"second\"\nscript = \"second.sh\"\n[steps.trigger]\ntype = \"go\"\n",
    );
    tree.file(
        "flows/long/first.sh",
        "#!/bin/sh\necho $$ > first.pid\nsleep 60\n",
    );
    tree.file(
        "flows/long/second.sh",
        "#!/bin/sh\ntouch second-ran\necho 'FLOW_RESULT {\"status\":\"completed\"}'\n",
    );
    let client = tree.client();
    let answer = client
        .dispatch_event(
            json!({"id": "e1", "type": "go"}),
            DispatchOptions { wait: false },
        )
        .await
        .unwrap();
    let (first, second) = (&answer.run_ids[0], &answer.run_ids[1]);
    let pid_file = tree.cwd().join("flows/long/first.pid");
    assert!(eventually(|| pid_file.is_file()).await);

    let queued = client.cancel_run(second).await.unwrap();
    assert_eq!(queued.process_status, Some(ProcessStatus::Canceled));
    let running = client.cancel_run(first).await.unwrap();
    assert!(running.cancel_requested);

    let done = client.wait_for_run(first).await.unwrap();
    assert_eq!(done.process_status, Some(ProcessStatus::Canceled));
    assert_eq!(done.effective_status, EffectiveStatus::Canceled);
    assert_eq!(done.error.as_deref(), Some("step long/first was canceled"));
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(eventually(|| process_gone(pid)).await);
    client.wait_idle().await;
    assert!(!tree.cwd().join("flows/long/second-ran").exists());
    let canceled = client
        .list_runs(RunFilter {
            status: Some("canceled".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(canceled.len(), 2);
}

#[tokio::test]
async fn next_events_are_dispatched_only_when_enabled_and_loops_stop_at_the_depth_bound() {
    let tree = FlowTree::new();
    // Every "tick" emits the next tick: an endless loop without the depth bound.
    tree.file(
        "flows/loop/flow.toml",
        "name = \"loop\"\nversion = 1\n[[steps]]\nname = \"tick\"\nscript = \"tick.py\"\n[steps.trigger]\ntype = \"tick\"\n",
    );
    tree.file(
        "flows/loop/tick.py",
        "import json, sys\nctx = json.load(sys.stdin)\nn = ctx['flow']['event']['payload']['n']\nprint('FLOW_RESULT ' + json.dumps({'status': 'changed', 'next': [{'id': f'tick-{n + 1}', 'type': 'tick', 'payload': {'n': n + 1}}]}))\n",
    );

    let disabled = tree.client();
    disabled
        .dispatch_event(
            json!({"id": "tick-0", "type": "tick", "payload": {"n": 0}}),
            WAIT,
        )
        .await
        .unwrap();
    let events = disabled.list_events(Default::default()).await.unwrap();
    assert_eq!(events.len(), 1);
    let run = disabled.get_run(&events[0].run_ids[0]).await.unwrap();
    assert!(
        run.notes[0].contains("next-event dispatch is disabled"),
        "{:?}",
        run.notes
    );

    let mut config = tree.config();
    config.dispatch_next = true;
    config.max_next_depth = 3;
    let enabled = tree.client_with(config, Default::default());
    enabled
        .dispatch_event(
            json!({"id": "tick-0", "type": "tick", "payload": {"n": 0}}),
            WAIT,
        )
        .await
        .unwrap();
    let events = enabled.list_events(Default::default()).await.unwrap();
    let mut ids: Vec<&str> = events.iter().map(|e| e.event.id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["tick-0", "tick-1", "tick-2", "tick-3"]);
    let last = enabled.get_event("tick-3").await.unwrap();
    assert_eq!(last.event.depth, 3);
    assert_eq!(
        last.runs[0].notes,
        ["next event `tick-4` not dispatched: depth limit 3 reached"]
    );
}

#[tokio::test]
async fn output_is_bounded_and_truncation_is_noted() {
    let tree = FlowTree::new();
    tree.sh_flow(
        "flows",
        "loud",
        "loud",
        "s",
        "go",
        "#!/bin/sh\ni=0\nwhile [ $i -lt 2000 ]; do echo \"line $i padding padding padding\"; i=$((i+1)); done\necho 'FLOW_RESULT {\"status\":\"completed\"}'\n",
    );
    let mut config = tree.config();
    config.output_limit_bytes = 4096;
    let lines = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = lines.clone();
    let progress: codex_flow::ProgressSink =
        std::sync::Arc::new(move |e: &codex_flow::ProgressEvent| {
            if matches!(e, codex_flow::ProgressEvent::Output { .. }) {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
    let client = tree.client_with(
        config,
        codex_flow::LocalHooks {
            code_mode: None,
            progress: Some(progress),
        },
    );
    let answer = client
        .dispatch_event(json!({"id": "e", "type": "go"}), WAIT)
        .await
        .unwrap();
    let run = client.get_run(&answer.run_ids[0]).await.unwrap();
    let stdout = &run.latest_output.unwrap().stdout;
    assert!(stdout.truncated);
    assert!(stdout.text.len() <= 4096);
    assert!(stdout.total_bytes > 60_000);
    assert!(stdout
        .text
        .ends_with("FLOW_RESULT {\"status\":\"completed\"}\n"));
    assert_eq!(run.process_status, Some(ProcessStatus::Completed));
    assert_eq!(lines.load(std::sync::atomic::Ordering::SeqCst), 2001);
}
