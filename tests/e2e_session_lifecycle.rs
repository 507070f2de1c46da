//! Session lifecycle calls on the real codex 0.169.0 + mock model: steer, set_name, revert and
//! compact.

use codex_mock_model::{Reply, Scenario};
use codex_runtime::runtime::{Client, TurnStatus};
use codex_test_support::CodexTestEnv;
use std::time::Duration;

#[tokio::test]
async fn steer_adds_input_to_the_running_turn() {
    let env = CodexTestEnv::start(
        Scenario::new([Reply::stall(["thinking "])]).with_fallback(Reply::text("steered answer")),
    )
    .await
    .unwrap();
    let client = Client::connect(env.client_config()).await.unwrap();
    let session = client.start_session(env.session_config()).await.unwrap();
    // No turn yet: steering is a typed error, not a hang.
    assert!(session.steer("too early").await.is_err());
    let asking = {
        let s = session.clone();
        tokio::spawn(async move { s.ask("start something long").await })
    };
    env.mock
        .wait_for_stall(Duration::from_secs(20))
        .await
        .unwrap();
    session.steer("also mention the weather").await.unwrap();
    env.mock.release_stall();
    let out = tokio::time::timeout(Duration::from_secs(30), asking)
        .await
        .expect("turn finished")
        .unwrap()
        .unwrap();
    assert_eq!(out.status, TurnStatus::Completed);
    let bodies = env.mock.response_requests();
    assert!(
        bodies
            .iter()
            .any(|b| b["input"].to_string().contains("also mention the weather")),
        "the steered input reached the model"
    );
    client.shutdown().await.unwrap();
    env.assert_no_leftover_processes().await;
}

#[tokio::test]
async fn set_name_revert_and_compact_act_on_the_thread() {
    let env = CodexTestEnv::start(Scenario::empty().with_fallback(Reply::text("an answer")))
        .await
        .unwrap();
    let client = Client::connect(env.client_config()).await.unwrap();
    let session = client.start_session(env.session_config()).await.unwrap();
    let first = session.ask("turn one").await.unwrap();
    let second = session.ask("turn two").await.unwrap();

    session.set_name("lifecycle test").await.unwrap();
    let read = session.read().await.unwrap();
    assert_eq!(read.thread.name.as_deref(), Some("lifecycle test"));
    assert_eq!(read.thread.turns.len(), 2);

    // codex 0.150.0 has `thread/revert` only behind the experimental API (stable from 0.160.0):
    // the SDK refuses it there before sending, with a typed error saying so.
    if codex_test_support::codex_version()
        .unwrap()
        .starts_with("0.150.")
    {
        let err = session.revert(second.turn_id.clone()).await.unwrap_err();
        assert!(
            matches!(
                err,
                codex_runtime::Error::MethodUnavailable {
                    needs_experimental_api: true,
                    ..
                }
            ),
            "{err:?}"
        );
    } else {
        session.revert(second.turn_id.clone()).await.unwrap();
        let read = session.read().await.unwrap();
        let ids: Vec<_> = read.thread.turns.iter().map(|t| t.id.clone()).collect();
        assert_eq!(
            ids,
            vec![first.turn_id.clone()],
            "the second turn was reverted"
        );
    }

    session.compact().await.unwrap();
    client.shutdown().await.unwrap();
    env.assert_no_leftover_processes().await;
}
