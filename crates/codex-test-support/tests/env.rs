//! CodexTestEnv: environment, commands, leftover detection and cleanup on drop.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use codex_mock_model::{Reply, Scenario};
use codex_test_support::{
    codex_bin, processes_tagged, wait_until_untagged, CodexTestEnv, TestSupportError,
    LEFTOVER_WAIT, TAG_ENV,
};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

/// A process is gone when /proc has no entry for it or it is a zombie.
fn is_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

async fn wait_gone(pid: u32) -> bool {
    for _ in 0..250 {
        if is_gone(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// Waits (up to 10 s) until the scan sees `pid` with the environment's tag: a process that has
/// just been spawned can be missed by one scan of `/proc` on a loaded machine.
async fn wait_until_scanned(env: &CodexTestEnv, pid: u32) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !env.leftover_processes().contains(&pid) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "process {pid} never showed up tagged"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn tagged_sleep(env: &CodexTestEnv) -> Command {
    let mut command = Command::new("sleep");
    command
        .arg("30")
        .envs(env.env_vars())
        .stdin(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    command
}

#[tokio::test]
async fn env_vars_and_home_point_codex_at_the_mock() {
    let env = CodexTestEnv::start(Scenario::empty()).await.unwrap();
    let vars = env.env_vars();
    let get = |key: &str| vars.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    assert_eq!(
        get("CODEX_HOME"),
        Some(env.home.path().display().to_string())
    );
    assert_eq!(get("OPENAI_API_KEY").as_deref(), Some("test"));
    assert_eq!(get(TAG_ENV).as_deref(), Some(env.tag()));
    let config = std::fs::read_to_string(env.home.path().join("config.toml")).unwrap();
    assert!(
        config.contains(&format!("base_url = \"{}\"", env.mock.url())),
        "{config}"
    );
    assert!(env.workdir.is_dir() && !env.workdir.starts_with("/tmp"));
    assert_eq!(env.workdir, env.workdir());
    assert!(env.bin.is_file());

    let other = CodexTestEnv::start(Scenario::empty()).await.unwrap();
    assert_ne!(other.tag(), env.tag());
    assert_ne!(other.workdir, env.workdir);

    let (home, workdir) = (env.home.path().to_path_buf(), env.workdir.clone());
    drop(env);
    assert!(
        !home.exists() && !workdir.exists(),
        "directories are removed on drop"
    );
}

#[tokio::test]
async fn leftover_scan_finds_a_tagged_process_and_drop_kills_it() {
    let env = CodexTestEnv::start(Scenario::empty()).await.unwrap();
    assert!(env.leftover_processes().is_empty());
    let mut child = tagged_sleep(&env).spawn().unwrap();
    let pid = child.id().unwrap();
    wait_until_scanned(&env, pid).await;
    // Only codex itself: the generated config turns the `bash -lc` shell snapshot off.
    assert_eq!(env.leftover_processes(), [pid]);
    let err = env
        .wait_for_no_leftover_processes(Duration::from_millis(50))
        .await
        .unwrap_err();
    let TestSupportError::LeftoverProcesses { pids, details, .. } = &err else {
        panic!("unexpected {err}");
    };
    assert_eq!(pids, &[pid]);
    assert!(details.contains("sleep 30"), "{details}");

    let tag = env.tag().to_owned();
    drop(env);
    let status = tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(!status.success(), "sleep was killed: {status}");
    assert!(processes_tagged(&tag).is_empty());
}

#[tokio::test]
async fn drop_kills_a_detached_grandchild_in_another_group() {
    let env = CodexTestEnv::start(Scenario::empty()).await.unwrap();
    // sh starts `sleep` in a new session (its own process group), prints its pid and exits.
    let output = Command::new("sh")
        .args(["-c", "setsid sleep 30 </dev/null >/dev/null 2>&1 & echo $!"])
        .envs(env.env_vars())
        .output()
        .await
        .unwrap();
    let pid: u32 = String::from_utf8(output.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // setsid may fork; wait until a tagged process shows up.
    let mut found = Vec::new();
    for _ in 0..100 {
        found = env.leftover_processes();
        if !found.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!found.is_empty(), "the detached sleep ({pid}) is tagged");
    drop(env);
    for pid in found {
        assert!(wait_gone(pid).await, "pid {pid} survived the drop");
    }
}

#[tokio::test]
async fn assert_no_leftover_processes_waits_for_an_exiting_process() {
    let env = CodexTestEnv::start(Scenario::empty()).await.unwrap();
    let mut child = tagged_sleep(&env).spawn().unwrap();
    wait_until_scanned(&env, child.id().unwrap()).await;
    let killed = env.kill_leftover_processes();
    assert_eq!(killed, [child.id().unwrap()]);
    child.wait().await.unwrap();
    env.assert_no_leftover_processes().await;
}

#[tokio::test]
async fn codex_bin_is_cached_and_is_the_pinned_version() {
    let first = codex_bin().unwrap();
    assert_eq!(codex_bin().unwrap(), first);
    let version = std::process::Command::new(&first)
        .arg("--version")
        .output()
        .unwrap();
    let reported = String::from_utf8_lossy(&version.stdout).to_string();
    match std::env::var_os("CODEX_BIN").filter(|b| !b.is_empty()) {
        // The matrix (scripts/test-matrix.sh) points CODEX_BIN at each version in turn.
        Some(bin) => assert_eq!(first, std::path::PathBuf::from(bin)),
        None => assert!(reported.contains("0.171.0"), "{reported}"),
    }
    assert!(reported.contains(&codex_test_support::codex_version().unwrap()));
}

#[tokio::test]
async fn app_server_runs_against_the_mock_and_leaves_nothing_behind() {
    let env = CodexTestEnv::start(Scenario::new([Reply::text("hi from test-support")]))
        .await
        .unwrap();
    let mut child = env.app_server_command().spawn().unwrap();
    let pid = child.id().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = async || -> Value {
        let line = tokio::time::timeout(Duration::from_secs(8), lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        serde_json::from_str(&line).unwrap()
    };
    let cwd = env.workdir.display().to_string();
    for message in [
        json!({"id": 1, "method": "initialize", "params": {"clientInfo": {"name": "ts", "version": "0"}, "capabilities": {}}}),
        json!({"method": "initialized", "params": {}}),
        json!({"id": 2, "method": "thread/start", "params": {"cwd": cwd}}),
    ] {
        stdin
            .write_all(format!("{message}\n").as_bytes())
            .await
            .unwrap();
    }
    let thread_id = loop {
        let message = next().await;
        if message["id"] == 2 {
            break message["result"]["thread"]["id"]
                .as_str()
                .unwrap()
                .to_owned();
        }
    };
    let turn = json!({"id": 3, "method": "turn/start",
        "params": {"threadId": thread_id, "input": [{"type": "text", "text": "hello"}]}});
    stdin
        .write_all(format!("{turn}\n").as_bytes())
        .await
        .unwrap();
    let completed = loop {
        let message = next().await;
        if message["method"] == "turn/completed" {
            break message;
        }
    };
    assert_eq!(completed["params"]["turn"]["status"], "completed");
    assert_eq!(env.mock.response_requests().len(), 1);
    // Only codex itself: the generated config turns the `bash -lc` shell snapshot off.
    assert_eq!(env.leftover_processes(), [pid]);
    assert!(Path::new(&format!("/proc/{pid}")).exists());

    // Dropping the env (child handle still held) stops codex (SIGTERM: it exits cleanly).
    let tag = env.tag().to_owned();
    drop(env);
    // codex exits on its own (the test never kills it).
    tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .unwrap()
        .unwrap();
    wait_until_untagged(&tag, LEFTOVER_WAIT).await.unwrap();
}

#[tokio::test]
async fn drop_lets_shells_run_their_exit_traps_first() {
    let env = CodexTestEnv::start(Scenario::empty()).await.unwrap();
    let marker = env.workdir.join("trap-ran");
    let script = format!(
        "trap 'echo bye > {}' EXIT; sleep 30 & wait",
        marker.display()
    );
    let mut child = Command::new("bash")
        .args(["-c", &script])
        .envs(env.env_vars())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Wait until both bash and its sleep are up.
    for _ in 0..250 {
        if env.leftover_processes().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(env.leftover_processes().len(), 2);
    let killed = env.kill_leftover_processes();
    assert_eq!(killed.len(), 2);
    child.wait().await.unwrap();
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "bye\n");
}

#[tokio::test]
async fn processes_ignoring_sigterm_are_killed() {
    let env = CodexTestEnv::start(Scenario::empty()).await.unwrap();
    let mut child = Command::new("sh")
        .args(["-c", "trap '' TERM; sleep 30"])
        .envs(env.env_vars())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    for _ in 0..250 {
        if env.leftover_processes().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let tag = env.tag().to_owned();
    drop(env);
    let status = tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(!status.success(), "{status}");
    wait_until_untagged(&tag, LEFTOVER_WAIT).await.unwrap();
}
