//! A restart policy on the real codex killed with SIGKILL mid-turn: the turn fails at once with
//! a typed error (not a turn timeout minutes later), and the session is resumed on the new
//! server so its next `ask` works.

use codex_mock_model::{Reply, Scenario};
use codex_runtime::runtime::{Client, RestartPolicy, TurnStatus};
use codex_runtime::Error;
use codex_test_support::CodexTestEnv;
use std::time::Duration;

#[tokio::test]
async fn a_crash_mid_turn_fails_the_turn_promptly_and_the_session_continues_on_the_new_server() {
    let env = CodexTestEnv::start(Scenario::new([
        Reply::stall(["partial "]),
        Reply::text("back after the crash"),
    ]))
    .await
    .unwrap();
    let mut config = env.client_config();
    config.runtime = config.runtime.with_restart(RestartPolicy {
        max_restarts: 2,
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(500),
    });
    let client = Client::connect(config).await.unwrap();
    let session = client.start_session(env.session_config()).await.unwrap();
    let asking = {
        let s = session.clone();
        tokio::spawn(async move { s.ask("stall, then crash").await })
    };
    env.mock
        .wait_for_stall(Duration::from_secs(60))
        .await
        .unwrap();
    let pid = client.runtime().pid().expect("a spawned codex");
    // SAFETY: sending SIGKILL to the codex child this test spawned.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);

    // The default turn timeout is 120 s; the crash must surface long before that.
    let err = tokio::time::timeout(Duration::from_secs(30), asking)
        .await
        .expect("the crash surfaces promptly")
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::TransportClosed {
                signal: Some(9),
                ..
            }
        ),
        "{err:?}"
    );

    let start = std::time::Instant::now();
    while client.runtime().metrics().restarts == 0 {
        assert!(start.elapsed() < Duration::from_secs(30), "no restart");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_ne!(client.runtime().pid(), Some(pid));
    let out = tokio::time::timeout(Duration::from_secs(60), session.ask("are you back?"))
        .await
        .expect("the ask after the restart ends")
        .unwrap();
    assert_eq!(out.status, TurnStatus::Completed);
    assert_eq!(out.assistant_text, "back after the crash");
    assert_eq!(out.thread_id, session.thread_id());
    // The resumed thread kept its history: the request holds the first prompt.
    let last = env.mock.response_requests().last().unwrap()["input"].to_string();
    assert!(
        last.contains("stall, then crash") && last.contains("are you back?"),
        "{last}"
    );
    client.shutdown().await.unwrap();
    env.assert_no_leftover_processes().await;
}
