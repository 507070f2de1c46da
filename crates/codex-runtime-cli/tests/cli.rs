//! The `codex-runtime` binary end to end on the pinned real codex: the offline demo, an offline
//! automation, `run --json` against a scripted mock, and refused input. API keys are removed
//! from the child's environment so the offline paths are the ones taken.

use codex_test_support::codex_mock_model::{Reply, Scenario, ScratchDir};
use codex_test_support::{codex_bin, processes_tagged, wait_until_untagged, CodexTestEnv, TAG_ENV};
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::process::Command;

/// Upper bound of one CLI invocation; a hang fails the test instead of blocking CI.
const RUN_LIMIT: Duration = Duration::from_secs(90);

struct Cli {
    workdir: ScratchDir,
    cache: ScratchDir,
    tag: String,
}

impl Cli {
    fn new() -> Cli {
        static N: AtomicU32 = AtomicU32::new(0);
        Cli {
            workdir: ScratchDir::create("cli-workdirs", "project").unwrap(),
            cache: ScratchDir::create("cli-cache", "xdg").unwrap(),
            tag: format!(
                "cli-test-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_codex-runtime"));
        cmd.args(args)
            .env_remove("OPENAI_API_KEY")
            .env_remove("CODEX_API_KEY")
            .env("CODEX_BIN", codex_bin().unwrap())
            .env("XDG_CACHE_HOME", self.cache.path())
            .env(TAG_ENV, &self.tag)
            .current_dir(self.workdir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    async fn run(&self, mut cmd: Command) -> (Output, String, String) {
        let out = tokio::time::timeout(RUN_LIMIT, cmd.output())
            .await
            .expect("the CLI finished in time")
            .expect("the CLI ran");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out, stdout, stderr)
    }

    async fn assert_nothing_left(&self) {
        if let Err(err) = wait_until_untagged(&self.tag, Duration::from_secs(3)).await {
            panic!("{err}");
        }
        assert!(processes_tagged(&self.tag).is_empty());
        // The offline CODEX_HOME was removed.
        let homes = self.cache.path().join("codex-runtime/demo-codex-home");
        if homes.exists() {
            assert_eq!(
                std::fs::read_dir(&homes).unwrap().count(),
                0,
                "home left behind"
            );
        }
    }
}

#[tokio::test]
async fn demo_without_a_key_streams_the_mock_answer_and_says_it_is_offline() {
    let cli = Cli::new();
    std::fs::write(cli.workdir.path().join("visible-file.txt"), "hi").unwrap();
    let (out, stdout, stderr) = cli.run(cli.command(&["demo"])).await;
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stdout.contains("Hello from the bundled mock model!"),
        "stdout:\n{stdout}"
    );
    assert!(
        stderr.contains(
            "offline demo: no OPENAI_API_KEY/CODEX_API_KEY set, using the bundled mock model"
        ),
        "stderr:\n{stderr}"
    );
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("$ ") && l.ends_with("ls")),
        "the tool call is shown:\n{stderr}"
    );
    assert!(
        stderr.contains("visible-file.txt"),
        "ls ran in the working directory:\n{stderr}"
    );
    assert!(stderr.contains("status completed"), "stderr:\n{stderr}");
    assert!(stderr.contains("thread ") && stderr.contains("turn "));
    cli.assert_nothing_left().await;
}

#[tokio::test]
async fn automate_offline_runs_twice_and_exits_zero() {
    let cli = Cli::new();
    let (out, stdout, stderr) = cli
        .run(cli.command(&[
            "automate",
            "--offline",
            "--prompt",
            "count the open issues",
            "--every",
            "1s",
            "--max-runs",
            "2",
        ]))
        .await;
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let runs: Vec<&str> = stdout.lines().filter(|l| l.starts_with("run #")).collect();
    assert_eq!(runs.len(), 2, "stdout:\n{stdout}");
    for (i, line) in runs.iter().enumerate() {
        assert!(
            line.starts_with(&format!("run #{} completed in ", i + 1)),
            "{line}"
        );
        assert!(
            line.ends_with("mock model (offline) answering: count the open issues"),
            "{line}"
        );
    }
    assert!(
        stderr.contains("next run #2 at "),
        "countdown lines:\n{stderr}"
    );
    assert!(
        stderr.contains("automation finished: 2 run(s)"),
        "stderr:\n{stderr}"
    );
    cli.assert_nothing_left().await;
}

#[tokio::test]
async fn a_bad_duration_exits_1_and_names_the_problem() {
    let cli = Cli::new();
    let (out, _, stderr) = cli
        .run(cli.command(&["automate", "--offline", "--prompt", "p", "--every", "5x"]))
        .await;
    assert_eq!(out.status.code(), Some(1), "stderr:\n{stderr}");
    assert!(stderr.contains("--every"), "{stderr}");
    assert!(
        stderr.contains("unknown unit `x` in duration `5x`"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_bad_cron_exits_1_before_codex_starts() {
    let cli = Cli::new();
    let (out, _, stderr) = cli
        .run(cli.command(&[
            "automate",
            "--offline",
            "--prompt",
            "p",
            "--cron",
            "0 9 * *",
        ]))
        .await;
    assert_eq!(out.status.code(), Some(1), "stderr:\n{stderr}");
    assert!(stderr.contains("invalid cron expression"), "{stderr}");
    cli.assert_nothing_left().await;
}

#[tokio::test]
async fn run_json_prints_the_output_of_quick_run() {
    let env = CodexTestEnv::start(Scenario::new([Reply::text("forty-two")]))
        .await
        .unwrap();
    let cli = Cli::new();
    let mut cmd = cli.command(&["run", "--json", "--effort", "low", "What is the answer?"]);
    cmd.envs(env.env_vars()).env(TAG_ENV, &cli.tag);
    let (out, stdout, stderr) = cli.run(cmd).await;
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let json: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(json["assistant_text"], "forty-two");
    assert_eq!(json["status"], "completed");
    assert!(json["thread_id"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(json["turn_id"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(json["diff"].is_null());
    let body = &env.mock.response_requests()[0];
    assert_eq!(body["reasoning"]["effort"], "low");
    cli.assert_nothing_left().await;
}

#[tokio::test]
async fn a_missing_working_directory_exits_1() {
    let cli = Cli::new();
    let (out, _, stderr) = cli
        .run(cli.command(&["demo", "--cwd", "does/not/exist"]))
        .await;
    assert_eq!(out.status.code(), Some(1), "stderr:\n{stderr}");
    assert!(
        stderr.contains("--cwd does/not/exist: no such directory"),
        "{stderr}"
    );
}

#[tokio::test]
async fn automate_exits_1_when_a_run_fails() {
    let env = CodexTestEnv::start(Scenario::new([Reply::http_error(
        500,
        serde_json::json!({"error": {"message": "mock outage"}}),
    )]))
    .await
    .unwrap();
    let cli = Cli::new();
    let mut cmd = cli.command(&[
        "automate",
        "--prompt",
        "p",
        "--every",
        "1s",
        "--max-runs",
        "3",
    ]);
    cmd.envs(env.env_vars()).env(TAG_ENV, &cli.tag);
    let (out, stdout, stderr) = cli.run(cmd).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("run #1 failed after "), "stdout:\n{stdout}");
    assert!(
        !stdout.contains("run #2"),
        "the default policy stops: {stdout}"
    );
    assert!(
        stderr.contains("automation failed: 1 run(s)"),
        "stderr:\n{stderr}"
    );
    assert!(
        stderr.contains("error: the automation failed: "),
        "stderr:\n{stderr}"
    );
    cli.assert_nothing_left().await;
}

#[tokio::test]
async fn ctrl_c_stops_an_automation_gracefully_with_exit_0() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let cli = Cli::new();
    let mut child = cli
        .command(&[
            "automate",
            "--offline",
            "--prompt",
            "tick",
            "--every",
            "1s",
            "--max-runs",
            "50",
        ])
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(RUN_LIMIT, lines.next_line())
        .await
        .expect("a first run in time")
        .unwrap()
        .expect("a report line");
    assert!(first.starts_with("run #1 completed"), "{first}");
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut stderr = String::new();
    let mut err_pipe = child.stderr.take().unwrap();
    let (status, _) = tokio::time::timeout(RUN_LIMIT, async {
        tokio::join!(
            child.wait(),
            tokio::io::AsyncReadExt::read_to_string(&mut err_pipe, &mut stderr)
        )
    })
    .await
    .expect("the CLI stopped in time");
    assert_eq!(status.unwrap().code(), Some(0), "stderr:\n{stderr}");
    assert!(
        stderr.contains("stopping after the current run"),
        "stderr:\n{stderr}"
    );
    assert!(stderr.contains("automation stopped: "), "stderr:\n{stderr}");
    cli.assert_nothing_left().await;
}

#[tokio::test]
async fn a_waiting_automation_shows_its_next_run_and_stops_at_once_on_ctrl_c() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let cli = Cli::new();
    let start = "2099-01-01T09:00:00+01:00";
    let mut child = cli
        .command(&[
            "automate",
            "--offline",
            "--prompt",
            "later",
            "--every",
            "1h",
            "--start-at",
            start,
        ])
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    let waiting = tokio::time::timeout(RUN_LIMIT, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            seen.push(line.clone());
            if line.starts_with("next run #1 at ") {
                return line;
            }
        }
        panic!("no countdown line: {seen:?}");
    })
    .await
    .expect("a countdown line in time");
    // Not a terminal: one plain line with the due time (shown in the local time zone).
    let due = waiting.trim_start_matches("next run #1 at ");
    let due = chrono::DateTime::parse_from_rfc3339(due).unwrap();
    assert_eq!(due, chrono::DateTime::parse_from_rfc3339(start).unwrap());
    std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    let status = tokio::time::timeout(RUN_LIMIT, child.wait())
        .await
        .expect("stopped in time")
        .unwrap();
    let mut rest = Vec::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        rest.push(line);
    }
    assert_eq!(status.code(), Some(0), "{rest:?}");
    assert!(
        rest.iter().any(|l| l == "automation stopped: 0 run(s)"),
        "{rest:?}"
    );
    cli.assert_nothing_left().await;
}

#[tokio::test]
async fn run_without_any_credentials_fails_fast_with_a_hint() {
    let cli = Cli::new();
    let mut cmd = cli.command(&["run", "hello"]);
    // A CODEX_HOME with no login in it.
    cmd.env("CODEX_HOME", cli.cache.path());
    let (out, _, stderr) = cli.run(cmd).await;
    assert_eq!(out.status.code(), Some(1), "stderr:\n{stderr}");
    assert!(
        stderr.contains("no OPENAI_API_KEY/CODEX_API_KEY set and no codex login found"),
        "{stderr}"
    );
    assert!(stderr.contains("codex-runtime demo"), "{stderr}");
    cli.assert_nothing_left().await;
}

#[tokio::test]
async fn a_stored_automation_continues_its_run_count_across_invocations() {
    let cli = Cli::new();
    let store = cli.workdir.path().join("automations.json");
    let store_arg = store.to_string_lossy().into_owned();
    let args = |max: &'static str| {
        vec![
            "automate".to_string(),
            "--offline".into(),
            "--prompt".into(),
            "nightly".into(),
            "--every".into(),
            "1s".into(),
            "--max-runs".into(),
            max.into(),
            "--store".into(),
            store_arg.clone(),
            "--id".into(),
            "nightly-check".into(),
        ]
    };
    let first = args("1");
    let first: Vec<&str> = first.iter().map(String::as_str).collect();
    let (out, stdout, stderr) = cli.run(cli.command(&first)).await;
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.starts_with("run #1 completed"), "{stdout}");
    let saved = std::fs::read_to_string(&store).unwrap();
    assert!(saved.contains("nightly-check"), "{saved}");

    let second = args("2");
    let second: Vec<&str> = second.iter().map(String::as_str).collect();
    let (out, stdout, stderr) = cli.run(cli.command(&second)).await;
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let runs: Vec<&str> = stdout.lines().filter(|l| l.starts_with("run #")).collect();
    assert_eq!(runs.len(), 1, "{stdout}");
    assert!(runs[0].starts_with("run #2 completed"), "{stdout}");
    assert!(stderr.contains("automation finished: 2 run(s)"), "{stderr}");
    cli.assert_nothing_left().await;
}
