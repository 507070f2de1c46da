//! The README's examples, unchanged in shape, against the real codex reporting itself as
//! 0.172.0 (one minor above the newest tested version; see `tests/version_wrapper`), as the
//! next release will. `quick_run` and `connect_default` take their codex from the process
//! environment (`CODEX_BIN`), so this file holds one test.

mod version_wrapper;

use codex_mock_model::{Reply, Scenario};
use codex_runtime::runtime::{Client, CommandExecParams, SessionConfig};
use codex_runtime::{rpc_methods, AppServer};
use codex_test_support::CodexTestEnv;
use version_wrapper::report_version;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Verdict {
    ok: bool,
    reason: String,
}

#[tokio::test]
async fn the_readme_examples_run_on_a_codex_one_minor_above_the_pin() {
    let env = CodexTestEnv::start(Scenario::new([
        Reply::text("quick hello"),
        Reply::text("a summary"),
        Reply::json(serde_json::json!({"ok": true, "reason": "green"})),
    ]))
    .await
    .unwrap();
    let wrapper = report_version(&env.bin, "0.172.0");
    for (k, v) in env.env_vars() {
        std::env::set_var(k, v);
    }
    std::env::set_var("CODEX_BIN", &wrapper.path);
    let dir = env.workdir();

    // Layer 1
    let out = codex_runtime::quick_run(dir, "What does this project do?")
        .await
        .unwrap();
    assert_eq!(out.assistant_text, "quick hello");

    // Layer 3
    let client = Client::connect_default().await.unwrap();
    let version = client.codex_version().unwrap();
    assert_eq!(version.version(), (0, 172, 0));
    assert!(version.is_untested());
    let session = client.start_session(SessionConfig::new(dir)).await.unwrap();
    let answer = session.ask("Summarize the README.").await.unwrap();
    assert_eq!(answer.assistant_text, "a summary");
    let verdict: Verdict = session.ask_typed("Is the build green?").await.unwrap();
    assert!(verdict.ok);
    assert_eq!(verdict.reason, "green");
    client.shutdown().await.unwrap();

    // Layer 5: the typed app-server
    let app = AppServer::connect_default().await.unwrap();
    assert!(app.codex_version().unwrap().is_untested());
    app.request_json(
        rpc_methods::THREAD_START,
        serde_json::json!({"cwd": dir, "sandbox": "read-only"}),
    )
    .await
    .unwrap();
    let exec = app
        .command_exec(CommandExecParams {
            command: vec!["pwd".into()],
            cwd: Some(dir.display().to_string()),
            ..CommandExecParams::default()
        })
        .await
        .unwrap();
    assert!(
        exec.stdout.contains(&*dir.display().to_string()),
        "{}",
        exec.stdout
    );
    app.shutdown().await.unwrap();
    env.assert_no_leftover_processes().await;
}
