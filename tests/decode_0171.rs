//! Recorded codex 0.171.0 traffic with every changed shape, replayed by the fake app-server
//! (`FAKE_REPLAY`, tests/fixtures/decode_0171.jsonl) through `Session::ask`: the real codex
//! cannot be made to emit moderation, so this is the one place a fake stands in for it.
//! The turn completes with its text, the moderated message's `display` decodes (typed for the
//! 0.171.0 union, raw JSON for the 0.169.0 struct shape, for that field only), and the
//! notifications with new fields (and the new `bioPolicy` error code) decode typed, with no
//! decode fallback.

use codex_runtime::runtime::{
    AccountUpdateReason, AgentMessageDisplay, BlockReason, Client, ClientConfig, CodexErrorInfo,
    RuntimeConfig, ServerNotification, SessionConfig, ThreadItem,
};
use std::collections::HashSet;
use std::time::Duration;

const FAKE: &str = env!("CARGO_BIN_EXE_fake-app-server");

#[tokio::test]
async fn recorded_0171_payloads_with_every_changed_shape_complete_a_turn_through_ask() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/decode_0171.jsonl"
    );
    let runtime = RuntimeConfig::new()
        .with_cli_bin(FAKE)
        .with_env("FAKE_VERSION", "0.171.0")
        .with_env("FAKE_REPLAY", fixture)
        .with_request_timeout(Duration::from_secs(10));
    let client = Client::connect(ClientConfig::new().with_runtime(runtime))
        .await
        .unwrap();
    let mut all = client.runtime().subscribe();
    let session = client
        .start_session(SessionConfig::new(std::env::temp_dir()))
        .await
        .unwrap();
    let out = session.ask("say hello").await.unwrap();

    assert!(out.is_completed(), "{:?}", out.status);
    assert_eq!(out.assistant_text, "Hello world");

    // The final answer: moderated, display.mode = "block", typed, and available as JSON.
    let moderation = |id: &str| {
        out.items
            .iter()
            .find_map(|i| match i {
                ThreadItem::AgentMessage(m) if m.id == id => m.moderation.clone(),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no moderated agent message {id}"))
    };
    let blocked = moderation("msg_1");
    assert!(blocked.moderated);
    let display = blocked.display.unwrap();
    match display.typed() {
        Some(AgentMessageDisplay::Block(b)) => {
            assert_eq!(b.version, 1);
            assert!(matches!(b.reason, BlockReason::Cyber(_)), "{:?}", b.reason);
        }
        other => panic!("expected a typed block display, got {other:?}"),
    }
    assert_eq!(display.to_value()["mode"], "block");
    assert_eq!(display.to_value()["reason"]["kind"], "cyber");

    // The 0.169.0 struct shape in the same turn: that field alone is raw, the item decodes.
    let old = moderation("msg_old").display.unwrap();
    assert!(old.typed().is_none());
    assert_eq!(old.raw().unwrap()["action"], "show");
    assert!(old.decode_error().unwrap().contains("mode"), "{old:?}");

    // mcpToolCall.environmentId.
    let mcp = out
        .items
        .iter()
        .find_map(|i| match i {
            ThreadItem::McpToolCall(c) => Some(c),
            _ => None,
        })
        .expect("the mcpToolCall item");
    assert_eq!(mcp.environment_id.as_deref(), Some("local"));

    // Every notification decoded typed; the new fields are there.
    let mut seen = HashSet::new();
    while let Some(Ok(ev)) = all.try_recv() {
        match ev.notification() {
            ServerNotification::Unknown { method, .. } => panic!("{method} did not decode"),
            ServerNotification::AccountUpdated(n) => {
                assert_eq!(n.reason, Some(AccountUpdateReason::WorkspaceRoutingReady))
            }
            ServerNotification::McpServerStartupStatusUpdated(n) => {
                assert_eq!(n.environment_id.as_deref(), Some("local"))
            }
            ServerNotification::ThreadSearchPartial(n) => assert!(n.data.is_empty()),
            // A retried error with the new `bioPolicy` code.
            ServerNotification::Error(n) => {
                assert!(n.will_retry);
                assert_eq!(n.error.codex_error_info, Some(CodexErrorInfo::BioPolicy));
            }
            _ => {}
        }
        seen.insert(ev.method().to_string());
    }
    for m in [
        "account/updated",
        "error",
        "mcpServer/startupStatus/updated",
        "thread/search/partial",
        "turn/completed",
    ] {
        assert!(seen.contains(m), "{m} not seen in {seen:?}");
    }
    assert_eq!(client.runtime().metrics().decode_fallbacks, 0);
    client.shutdown().await.unwrap();
}
