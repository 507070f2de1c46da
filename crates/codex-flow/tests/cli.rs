//! The `codex-flow` binary: commands, exit codes, durable state between processes, and a crash
//! (SIGKILL) in the middle of 200 dispatches.

mod support;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use support::{result_script, FlowTree};

fn codex_flow(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_codex-flow"))
        .arg("--cwd")
        .arg(cwd)
        .args(args)
        .env_remove("CODEX_FLOWS_ENABLE_CODE_MODE")
        .env_remove("CODEX_FLOWS_MODE")
        .output()
        .expect("run codex-flow")
}

fn stdout_json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "exit {:?}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn fire_then_inspect_from_new_processes() {
    let tree = FlowTree::new();
    tree.sh_flow(
        "flows",
        "rel",
        "rel",
        "s",
        "go",
        "#!/bin/sh\ncat >/dev/null\necho \"replay=$CODEX_FLOW_REPLAY run=$CODEX_FLOW_RUN_ID attempt=$CODEX_FLOW_ATTEMPT_ID\"\necho 'FLOW_RESULT {\"status\":\"blocked\",\"message\":\"waiting\"}'\n",
    );
    let event = tree.file(
        "event.json",
        r#"{"id": "cli-1", "type": "go", "payload": {"x": 1}}"#,
    );
    let event = event.to_str().unwrap();

    let listed = stdout_json(&codex_flow(tree.cwd(), &["list", "--json"]));
    assert_eq!(listed["flows"][0]["name"], "rel");
    assert_eq!(listed["flows"][0]["steps"][0]["trigger"]["type"], "go");

    let fired = codex_flow(tree.cwd(), &["fire", "--event", event]);
    assert!(fired.status.success(), "{}", stderr(&fired));
    let table = String::from_utf8_lossy(&fired.stdout);
    assert!(
        table.contains("accepted") && table.contains("blocked"),
        "{table}"
    );
    assert!(
        stderr(&fired).contains("rel/s out | replay=0"),
        "progress on stderr: {}",
        stderr(&fired)
    );

    let runs = stdout_json(&codex_flow(tree.cwd(), &["runs", "--json"]));
    let run = &runs["runs"][0];
    assert_eq!(run["processStatus"], "completed");
    assert_eq!(run["effectiveStatus"], "blocked");
    assert_eq!(run["needsAttention"], true);
    let run_id = run["id"].as_str().unwrap();

    let shown = stdout_json(&codex_flow(tree.cwd(), &["show-run", run_id, "--json"]));
    assert_eq!(shown["run"]["id"], run_id);
    let events = stdout_json(&codex_flow(tree.cwd(), &["events", "--json"]));
    assert_eq!(events["events"][0]["event"]["id"], "cli-1");

    let again = stdout_json(&codex_flow(
        tree.cwd(),
        &["fire", "--event", event, "--json", "--quiet"],
    ));
    assert_eq!(again["dispatch"]["status"], "duplicate");

    let replayed = stdout_json(&codex_flow(
        tree.cwd(),
        &["replay", "cli-1", "--json", "--quiet"],
    ));
    let replay_run = &replayed["runs"][0];
    assert_eq!(replay_run["replay"], true);
    assert!(replay_run["latestOutput"]["stdout"]["text"]
        .as_str()
        .unwrap()
        .contains("replay=1"));

    let canceled = stdout_json(&codex_flow(tree.cwd(), &["cancel", run_id, "--json"]));
    assert_eq!(
        canceled["run"]["processStatus"], "completed",
        "a finished run stays as it was"
    );

    let explicit = stdout_json(&codex_flow(
        tree.cwd(),
        &[
            "run",
            "rel",
            "s",
            "--event",
            event,
            "--replay",
            "--run-id",
            "run_manual",
            "--attempt-id",
            "att_manual",
            "--json",
        ],
    ));
    assert_eq!(explicit["processStatus"], "completed");
    assert!(explicit["stdout"]["text"]
        .as_str()
        .unwrap()
        .contains("replay=1 run=run_manual attempt=att_manual"));
    assert_eq!(explicit["result"]["status"], "blocked");

    let memory = stdout_json(&codex_flow(
        tree.cwd(),
        &["runs", "--json", "--state", "memory"],
    ));
    assert_eq!(memory["runs"].as_array().unwrap().len(), 0);
}

#[test]
fn errors_go_to_stderr_with_exit_code_1() {
    let tree = FlowTree::new();
    tree.sh_flow("flows", "ok", "ok", "s", "go", &result_script("completed"));
    let no_id = tree.file("no-id.json", r#"{"type": "go"}"#);
    let not_json = tree.file("bad.json", "{ nope");

    let out = codex_flow(tree.cwd(), &["fire", "--event", no_id.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("FlowEvent requires string id and type"),
        "{}",
        stderr(&out)
    );
    let out = codex_flow(tree.cwd(), &["fire", "--event", not_json.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not JSON"), "{}", stderr(&out));
    let out = codex_flow(tree.cwd(), &["fire", "--event", "/no/such/file.json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("cannot read event file /no/such/file.json"));
    let out = codex_flow(tree.cwd(), &["show-run", "run_nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out).trim(), "error: unknown run `run_nope`");
    let out = codex_flow(
        tree.cwd(),
        &["run", "ok", "missing", "--event", no_id.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));

    let big = tree.cwd().join("big.json");
    std::fs::write(
        &big,
        format!(
            r#"{{"id":"big","type":"go","payload":"{}"}}"#,
            "x".repeat(10 * 1024 * 1024)
        ),
    )
    .unwrap();
    let out = codex_flow(tree.cwd(), &["fire", "--event", big.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("over the limit"), "{}", stderr(&out));

    assert!(codex_flow(tree.cwd(), &["validate"]).status.success());
    tree.file(
        "flows/broken/flow.toml",
        "name = \"broken\"\nversion = 1\n[[steps]]\nname = \"s\"\nscript = \"../../escape.sh\"\n",
    );
    let out = codex_flow(tree.cwd(), &["validate"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("flows/broken/flow.toml") && err.contains("steps[0].script"),
        "{err}"
    );
    // A broken flow stops `fire`: nothing runs on a partial catalog.
    let ok_event = tree.file("ok.json", r#"{"id": "x", "type": "go"}"#);
    let out = codex_flow(tree.cwd(), &["fire", "--event", ok_event.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    // Recorded state stays readable.
    let runs = stdout_json(&codex_flow(tree.cwd(), &["runs", "--json"]));
    assert!(runs["runs"].as_array().unwrap().is_empty());
}

#[test]
fn sigkill_during_200_dispatches_loses_no_acknowledged_event_and_duplicates_nothing() {
    let tree = FlowTree::new();
    tree.sh_flow(
        "flows",
        "tick",
        "tick",
        "s",
        "bench.tick",
        &result_script("completed"),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_codex-flow"))
        .arg("--cwd")
        .arg(tree.cwd())
        .args([
            "--quiet",
            "bench-dispatch",
            "--count",
            "200",
            "--prefix",
            "crash",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = Vec::new();
    while acked.len() < 60 {
        match lines.next() {
            Some(Ok(line)) => acked.push(line.strip_prefix("ACK ").unwrap().to_string()),
            _ => break,
        }
    }
    child.kill().unwrap(); // SIGKILL
                           // Lines already written before the kill are acknowledged too.
    for line in lines.map_while(Result::ok) {
        acked.push(line.strip_prefix("ACK ").unwrap().to_string());
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "the process was killed mid-way");
    assert!(
        acked.len() >= 60 && acked.len() < 200,
        "{} acked",
        acked.len()
    );

    let check_state = |expect_all: bool| {
        let events = stdout_json(&codex_flow(
            tree.cwd(),
            &["events", "--json", "--limit", "1000"],
        ));
        let runs = stdout_json(&codex_flow(
            tree.cwd(),
            &["runs", "--json", "--limit", "1000"],
        ));
        let mut per_event: HashMap<String, usize> = HashMap::new();
        for e in events["events"].as_array().unwrap() {
            *per_event
                .entry(e["event"]["id"].as_str().unwrap().to_string())
                .or_default() += 1;
            assert_eq!(e["runIds"].as_array().unwrap().len(), 1);
        }
        for id in &acked {
            assert_eq!(
                per_event.get(id),
                Some(&1),
                "acked event {id} stored exactly once"
            );
        }
        let runs = runs["runs"].as_array().unwrap();
        let run_ids: HashSet<&str> = runs.iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(run_ids.len(), runs.len(), "no duplicated run");
        let mut runs_per_event: HashMap<&str, usize> = HashMap::new();
        for r in runs {
            *runs_per_event
                .entry(r["eventId"].as_str().unwrap())
                .or_default() += 1;
        }
        assert!(runs_per_event.values().all(|&n| n == 1));
        assert_eq!(runs_per_event.len(), per_event.len());
        if expect_all {
            assert_eq!(per_event.len(), 200);
            // A run the killed process left queued or running is marked abandoned, not stuck.
            for r in runs {
                let status = r["processStatus"].as_str().unwrap();
                assert!(status == "completed" || status == "failed", "{r}");
                if status == "failed" {
                    assert!(
                        r["error"]
                            .as_str()
                            .unwrap()
                            .starts_with("abandoned: process pid:"),
                        "{r}"
                    );
                }
            }
        } else {
            // At most the one in-flight dispatch beyond the acknowledged ones.
            assert!(per_event.len() <= acked.len() + 1);
        }
    };
    check_state(false);

    let conn =
        rusqlite::Connection::open(tree.cwd().join(".codex/flow-client/state.sqlite3")).unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    drop(conn);

    // Resuming the same 200 ids: the stored ones are duplicates, the rest run once.
    let resumed = Command::new(env!("CARGO_BIN_EXE_codex-flow"))
        .arg("--cwd")
        .arg(tree.cwd())
        .args([
            "--quiet",
            "bench-dispatch",
            "--count",
            "200",
            "--prefix",
            "crash",
        ])
        .output()
        .unwrap();
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    check_state(true);
}

#[test]
fn a_killed_fire_leaves_no_running_step_and_its_run_is_marked_abandoned() {
    let tree = FlowTree::new();
    tree.sh_flow(
        "flows",
        "slow",
        "slow",
        "s",
        "go",
        "#!/bin/sh\necho $$ > step.pid\nexec sleep 60\n",
    );
    let event = tree.file("event.json", r#"{"id": "slow-1", "type": "go"}"#);
    let mut child = Command::new(env!("CARGO_BIN_EXE_codex-flow"))
        .arg("--cwd")
        .arg(tree.cwd())
        .args(["--quiet", "fire", "--event", event.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid_file = tree.cwd().join("flows/slow/step.pid");
    let mut waited = 0;
    while !pid_file.is_file() && waited < 400 {
        std::thread::sleep(std::time::Duration::from_millis(25));
        waited += 1;
    }
    let step_pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    // The step dies with its owner (parent-death signal), even on SIGKILL.
    let mut gone = false;
    for _ in 0..200 {
        if support::process_gone(step_pid) {
            gone = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    assert!(gone, "step {step_pid} outlived its killed owner");

    let runs = stdout_json(&codex_flow(tree.cwd(), &["runs", "--json"]));
    let run = &runs["runs"][0];
    assert_eq!(run["processStatus"], "failed");
    assert!(
        run["error"]
            .as_str()
            .unwrap()
            .starts_with("abandoned: process pid:"),
        "{run}"
    );
    assert_eq!(run["attempts"][0]["status"], "failed");
}

#[test]
fn cancel_from_another_process_stops_a_running_step() {
    let tree = FlowTree::new();
    tree.sh_flow(
        "flows",
        "slow",
        "slow",
        "s",
        "go",
        "#!/bin/sh\necho $$ > step.pid\nexec sleep 60\n",
    );
    let event = tree.file("event.json", r#"{"id": "slow-2", "type": "go"}"#);
    let fire = Command::new(env!("CARGO_BIN_EXE_codex-flow"))
        .arg("--cwd")
        .arg(tree.cwd())
        .args([
            "--quiet",
            "fire",
            "--event",
            event.to_str().unwrap(),
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid_file = tree.cwd().join("flows/slow/step.pid");
    for _ in 0..400 {
        if pid_file.is_file() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let step_pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let run_id = codex_flow::ids::run_id("slow-2", "slow", "s", None);
    let canceled = stdout_json(&codex_flow(tree.cwd(), &["cancel", &run_id, "--json"]));
    assert_eq!(canceled["run"]["cancelRequested"], true);

    // The fire process sees the request, kills the step and finishes.
    let output = fire.wait_with_output().unwrap();
    assert!(output.status.success());
    let fired: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(fired["runs"][0]["processStatus"], "canceled");
    assert!(
        support::process_gone(step_pid) || {
            std::thread::sleep(std::time::Duration::from_millis(500));
            support::process_gone(step_pid)
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_commands_can_use_an_http_backend() {
    use axum::http::{HeaderMap, StatusCode};
    async fn handle(headers: HeaderMap) -> (StatusCode, axum::Json<Value>) {
        if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer t0k") {
            return (
                StatusCode::UNAUTHORIZED,
                axum::Json(serde_json::json!({"error": "invalid token"})),
            );
        }
        (
            StatusCode::OK,
            axum::Json(
                serde_json::json!({"runs": [{"runId": "r1", "status": "succeeded", "resultJson": "{\"status\":\"needs_intervention\"}"}]}),
            ),
        )
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/api", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, axum::Router::new().fallback(handle)).await;
    });
    let tree = FlowTree::new();
    let cwd = tree.cwd().to_path_buf();
    let (ok, denied) = tokio::task::spawn_blocking(move || {
        let ok = codex_flow(
            &cwd,
            &[
                "runs",
                "--json",
                "--backend-url",
                &base,
                "--backend-token",
                "t0k",
            ],
        );
        let denied = codex_flow(&cwd, &["runs", "--json", "--backend-url", &base]);
        (ok, denied)
    })
    .await
    .unwrap();
    let runs = stdout_json(&ok);
    assert_eq!(runs["runs"][0]["id"], "r1");
    assert_eq!(runs["runs"][0]["effectiveStatus"], "needs_intervention");
    assert_eq!(runs["runs"][0]["needsAttention"], true);
    assert_eq!(denied.status.code(), Some(1));
    assert_eq!(
        stderr(&denied).trim(),
        "error: Flow backend GET /api/runs failed with 401"
    );
    assert!(
        !tree.cwd().join(".codex").exists(),
        "no local state was created"
    );
}
