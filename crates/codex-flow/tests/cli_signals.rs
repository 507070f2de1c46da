//! `codex-flow` as a process: SIGINT / SIGTERM stop a step's whole process group (grandchildren
//! included), and steps see only an allow-listed environment.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{process_gone, FlowTree};

/// A step that starts a grandchild (`sleep`), records both pids and waits for it.
const GRANDCHILD_STEP: &str = "#!/bin/sh\ncat >/dev/null\nsleep 300 &\necho $! > ../../grandchild.pid\necho $$ > ../../step.pid\nwait\n";

fn read_pid(path: &std::path::Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn signal_stops_the_whole_step(signal: libc::c_int, expected_code: i32) {
    let tree = FlowTree::new();
    tree.sh_flow("flows", "tree", "tree", "s", "go", GRANDCHILD_STEP);
    let event = tree.file("event.json", r#"{"id": "sig-1", "type": "go"}"#);
    let child = Command::new(env!("CARGO_BIN_EXE_codex-flow"))
        .arg("--cwd")
        .arg(tree.cwd())
        .args(["--quiet", "fire", "--event"])
        .arg(&event)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let grandchild_file = tree.cwd().join("grandchild.pid");
    let step_file = tree.cwd().join("step.pid");
    let deadline = Instant::now() + Duration::from_secs(60);
    let (grandchild, step) = loop {
        if let (Some(g), Some(s)) = (read_pid(&grandchild_file), read_pid(&step_file)) {
            break (g, s);
        }
        assert!(Instant::now() < deadline, "the step never started");
        std::thread::sleep(Duration::from_millis(50));
    };
    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(expected_code),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert!(
        rt.block_on(support::eventually(|| process_gone(grandchild))),
        "grandchild {grandchild} still running"
    );
    assert!(process_gone(step), "step {step} still running");

    // The run was recorded as canceled, not left running.
    let runs = Command::new(env!("CARGO_BIN_EXE_codex-flow"))
        .arg("--cwd")
        .arg(tree.cwd())
        .args(["runs", "--json"])
        .output()
        .unwrap();
    let runs: serde_json::Value = serde_json::from_slice(&runs.stdout).unwrap();
    assert_eq!(runs["runs"][0]["processStatus"], "canceled", "{runs}");
}

#[test]
fn sigterm_on_fire_kills_the_steps_grandchildren() {
    signal_stops_the_whole_step(libc::SIGTERM, 143);
}

#[test]
fn sigint_on_fire_kills_the_steps_grandchildren() {
    signal_stops_the_whole_step(libc::SIGINT, 130);
}

#[test]
fn steps_get_an_allow_listed_environment_with_the_flow_variables() {
    let tree = FlowTree::new();
    tree.sh_flow(
        "flows",
        "env",
        "env",
        "s",
        "go",
        "#!/bin/sh\ncat >/dev/null\nenv > ../../step.env\necho 'FLOW_RESULT {\"status\":\"completed\"}'\n",
    );
    let event = tree.file("event.json", r#"{"id": "env-1", "type": "go"}"#);
    let output = Command::new(env!("CARGO_BIN_EXE_codex-flow"))
        .arg("--cwd")
        .arg(tree.cwd())
        .args(["--quiet", "fire", "--event"])
        .arg(&event)
        .env("CODEX_FLOW_BACKEND_TOKEN", "backend-token-secret")
        .env("OPENAI_API_KEY", "sk-model-key")
        .env("SOME_OTHER_VAR", "other")
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let env = std::fs::read_to_string(tree.cwd().join("step.env")).unwrap();
    for secret in ["backend-token-secret", "sk-model-key", "SOME_OTHER_VAR"] {
        assert!(!env.contains(secret), "{secret} reached the step:\n{env}");
    }
    for expected in [
        "CODEX_FLOW_EVENT_ID=env-1",
        "CODEX_FLOW_RUN_ID=run_",
        "CODEX_FLOW_ATTEMPT_ID=",
        "CODEX_FLOW_REPLAY=0",
        "CODEX_FLOW_LAUNCHED_BY=codex-flow",
        "PATH=",
        "LC_ALL=C",
    ] {
        assert!(env.contains(expected), "{expected} missing:\n{env}");
    }
}
