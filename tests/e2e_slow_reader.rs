//! `ask_stream` under a deliberately slow reader, on the real codex + the mock model: the
//! deadline bounds the whole turn, the final output carries the latest diff and usage, and
//! approval events are delivered.

use codex_mock_model::{Reply, Scenario};
use codex_runtime::runtime::{
    ApprovalMode, Approvals, Client, Sandbox, ServerNotification, TurnEvent, TurnOverrides,
};
use codex_runtime::Error;
use codex_test_support::CodexTestEnv;
use futures::StreamExt;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_reader_that_stops_reading_does_not_hold_the_turn_past_its_deadline() {
    // More deltas than the stream buffers, then a stall: a driver that waits for the reader
    // would never see its deadline.
    let deltas: Vec<String> = (0..3000).map(|i| format!("d{i} ")).collect();
    let env = CodexTestEnv::start(Scenario::new([Reply::stall(deltas)]))
        .await
        .unwrap();
    let client = Client::connect(env.client_config()).await.unwrap();
    let session = client.start_session(env.session_config()).await.unwrap();
    let mut stream = Box::pin(session.ask_stream_with(
        "stream a lot, then stall",
        TurnOverrides::new().with_timeout(Duration::from_secs(5)),
    ));
    // Read one event, then stop reading.
    tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("a first event")
        .expect("the stream is open")
        .unwrap();

    // While nobody reads, the deadline interrupts the turn and codex drops the model stream.
    env.mock
        .wait_for_streams_closed_by_client(1, WAIT)
        .await
        .expect("the deadline interrupted the turn although the reader was stalled");

    let mut lagged = 0;
    let mut last = None;
    while let Some(item) = tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("the stream ends")
    {
        match item {
            Ok(TurnEvent::Lagged(n)) => lagged += n,
            other => last = Some(other),
        }
    }
    assert!(lagged > 0, "the unread deltas were reported as lagged");
    assert!(
        matches!(last, Some(Err(Error::TurnTimeout { .. }))),
        "{last:?}"
    );
    client.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_slow_reader_gets_the_latest_diff_and_usage_and_every_approval() {
    // More deltas than the stream buffers, so a driver that waits for its reader falls behind
    // codex; the stream completes (with its usage) once the stall is released.
    let deltas: Vec<String> = (0..3000).map(|i| format!("d{i} ")).collect();
    let final_text = deltas.concat();
    let env = CodexTestEnv::start(Scenario::new([
        Reply::apply_patch("*** Add File: slow.txt\n+written while nobody read\n"),
        Reply::stall(deltas),
    ]))
    .await
    .unwrap();
    // A tiny router buffer: whoever does not keep up loses deltas.
    let mut config = env.client_config();
    config.runtime = config.runtime.with_delta_capacity(16);
    let client = Client::connect(config).await.unwrap();
    let session = client
        .start_session(
            env.session_config()
                .with_approval(ApprovalMode::Untrusted)
                .with_sandbox(Sandbox::WorkspaceWrite)
                .with_approval_handler(Approvals::accept_all()),
        )
        .await
        .unwrap();
    let mut watch = client.runtime().subscribe_thread(session.thread_id());
    let mut stream = Box::pin(session.ask_stream("patch, then talk a lot"));

    // Read nothing until the server turn is over.
    env.mock.wait_for_stall(WAIT).await.unwrap();
    env.mock.release_stall();
    loop {
        let ev = tokio::time::timeout(WAIT, watch.recv())
            .await
            .expect("turn/completed in time");
        if let Ok(ev) = ev {
            if matches!(ev.notification(), ServerNotification::TurnCompleted(_)) {
                break;
            }
        }
    }

    let mut approvals = 0;
    let mut out = None;
    while let Some(item) = tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("the stream ends")
    {
        match item.unwrap() {
            TurnEvent::ApprovalRequested { method, .. } => {
                assert_eq!(method, "item/fileChange/requestApproval");
                approvals += 1;
            }
            TurnEvent::Completed(o) => out = Some(o),
            _ => {}
        }
    }
    let out = out.expect("a Completed event");
    assert_eq!(approvals, 1);
    assert!(env.workdir().join("slow.txt").exists());
    assert!(
        out.diff.as_deref().unwrap_or("").contains("slow.txt"),
        "{:?}",
        out.diff
    );
    // The usage of the last model response (the mock counts 4 bytes of text a token).
    let usage = out.usage.expect("token usage");
    let expected = final_text.len().div_ceil(4) as i64;
    assert_eq!(usage.last.output_tokens, expected, "{usage:?}");
    assert_eq!(out.assistant_text, final_text);
    client.shutdown().await.unwrap();
}
