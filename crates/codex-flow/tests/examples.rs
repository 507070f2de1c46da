//! The flows under `examples/flows/` run as docs/FLOWS.md says.

use std::path::PathBuf;

use codex_flow::{
    DispatchOptions, EffectiveStatus, FlowClient, FlowEvent, LocalFlowClient,
    LocalFlowClientConfig, ProcessStatus,
};

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn event(name: &str) -> serde_json::Value {
    let bytes = std::fs::read(examples().join("flows/events").join(name)).unwrap();
    FlowEvent::from_json_slice(&bytes).unwrap().to_value()
}

#[tokio::test]
async fn example_flows_run_with_memory_state() {
    let client = LocalFlowClient::open(LocalFlowClientConfig::new(examples())).unwrap();
    let wait = DispatchOptions { wait: true };

    let answer = client
        .dispatch_event(event("release.json"), wait)
        .await
        .unwrap();
    assert_eq!(answer.matched, 2);
    let announce = client.get_run(&answer.run_ids[0]).await.unwrap();
    assert_eq!(
        (announce.flow.as_str(), announce.step.as_str()),
        ("release-notes", "announce")
    );
    assert_eq!(announce.effective_status, EffectiveStatus::Changed);
    let check = client.get_run(&answer.run_ids[1]).await.unwrap();
    assert_eq!(
        check.effective_status,
        EffectiveStatus::Completed,
        "{:?}",
        check.error
    );

    let answer = client
        .dispatch_event(event("release-candidate.json"), wait)
        .await
        .unwrap();
    let check = client.get_run(&answer.run_ids[1]).await.unwrap();
    assert_eq!(check.process_status, Some(ProcessStatus::Completed));
    assert_eq!(check.effective_status, EffectiveStatus::Blocked);
    assert!(check.needs_attention);

    let answer = client
        .dispatch_event(event("issue.json"), wait)
        .await
        .unwrap();
    let triage = client.get_run(&answer.run_ids[0]).await.unwrap();
    assert_eq!(
        triage.error.as_deref(),
        Some("Code Mode flow step issue-triage/triage requires CODEX_FLOWS_ENABLE_CODE_MODE=1")
    );
}
