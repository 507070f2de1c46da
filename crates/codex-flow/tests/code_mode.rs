//! Code Mode steps through a fake `CodeModeExecutor`: the gate, structured output first, the
//! FLOW_RESULT line fallback, request contents and defaults, timeouts.

mod support;

use std::sync::{Arc, Mutex};

use codex_flow::{
    code_mode_enabled, code_mode_output_schema, ApprovalPolicy, CodeModeDefaults, CodeModeExecutor,
    CodeModeReply, CodeModeRequest, DispatchOptions, EffectiveStatus, FlowClient, FlowError,
    LocalHooks, ProcessStatus, RunView, SandboxMode,
};
use futures::future::BoxFuture;
use serde_json::json;
use support::{env, FlowTree};

const WAIT: DispatchOptions = DispatchOptions { wait: true };

/// Answers every turn with the same reply and remembers the requests.
struct FakeExecutor {
    reply: Option<CodeModeReply>,
    requests: Mutex<Vec<CodeModeRequest>>,
}

impl FakeExecutor {
    fn new(reply: Option<CodeModeReply>) -> Arc<Self> {
        Arc::new(FakeExecutor {
            reply,
            requests: Mutex::new(Vec::new()),
        })
    }
}

impl CodeModeExecutor for FakeExecutor {
    fn execute<'a>(
        &'a self,
        request: CodeModeRequest,
    ) -> BoxFuture<'a, Result<CodeModeReply, FlowError>> {
        self.requests.lock().unwrap().push(request);
        Box::pin(async move {
            match &self.reply {
                Some(reply) => Ok(reply.clone()),
                // Never answers: only the runner's timeout ends the turn.
                None => futures::future::pending().await,
            }
        })
    }
}

fn code_mode_tree(extra_step_keys: &str) -> FlowTree {
    let tree = FlowTree::new();
    tree.file(
        "flows/triage/flow.toml",
        &format!("name = \"triage\"\nversion = 1\n[[steps]]\nname = \"label\"\nrunner = \"code-mode\"\nscript = \"label.md\"\n{extra_step_keys}\n[steps.trigger]\ntype = \"issue.opened\"\n"),
    );
    tree.file("flows/triage/label.md", "Label the issue.\n");
    tree
}

async fn run_once(
    tree: &FlowTree,
    gate: &[(&str, &str)],
    executor: Arc<FakeExecutor>,
    defaults: CodeModeDefaults,
) -> RunView {
    let mut config = tree.config();
    config.env = env(gate);
    config.code_mode = defaults;
    let client = tree.client_with(
        config,
        LocalHooks {
            code_mode: Some(executor),
            progress: None,
        },
    );
    let answer = client
        .dispatch_event(
            json!({"id": "issue-1", "type": "issue.opened", "payload": {"title": "t"}}),
            WAIT,
        )
        .await
        .unwrap();
    client.get_run(&answer.run_ids[0]).await.unwrap()
}

fn structured(status: &str) -> CodeModeReply {
    CodeModeReply {
        structured: Some(
            json!({"status": status, "message": "labelled bug", "artifacts": ["label:bug"], "next": null}),
        ),
        agent_text: "I labelled it.".into(),
    }
}

#[tokio::test]
async fn without_the_gate_the_run_fails_with_the_contract_message() {
    let tree = code_mode_tree("");
    for gate in [
        vec![],
        vec![("CODEX_FLOWS_ENABLE_CODE_MODE", "0")],
        vec![("CODEX_FLOWS_MODE", "command")],
    ] {
        let executor = FakeExecutor::new(Some(structured("completed")));
        let run = run_once(&tree, &gate, executor.clone(), Default::default()).await;
        assert_eq!(run.process_status, Some(ProcessStatus::Failed));
        assert_eq!(
            run.error.as_deref(),
            Some("Code Mode flow step triage/label requires CODEX_FLOWS_ENABLE_CODE_MODE=1")
        );
        assert!(!run.needs_attention);
        assert!(
            executor.requests.lock().unwrap().is_empty(),
            "no turn may start"
        );
    }
}

#[tokio::test]
async fn each_env_switch_enables_code_mode() {
    for gate in [
        ("CODEX_FLOWS_ENABLE_CODE_MODE", "1"),
        ("CODEX_FLOWS_ENABLE_CODE_MODE", "true"),
        ("CODEX_FLOWS_ENABLE_CODE_MODE", "YES"),
        ("CODEX_FLOWS_ENABLE_CODE_MODE", "on"),
        ("CODEX_FLOWS_MODE", "code-mode"),
    ] {
        let tree = code_mode_tree("");
        let executor = FakeExecutor::new(Some(structured("needs_intervention")));
        let run = run_once(&tree, &[gate], executor.clone(), Default::default()).await;
        assert_eq!(
            run.process_status,
            Some(ProcessStatus::Completed),
            "{gate:?}"
        );
        assert_eq!(run.effective_status, EffectiveStatus::NeedsIntervention);
        assert!(run.needs_attention);
        let result = run.result.unwrap();
        assert_eq!(result.message.as_deref(), Some("labelled bug"));
        assert_eq!(result.next, None);
        assert_eq!(executor.requests.lock().unwrap().len(), 1);
    }
    assert!(!code_mode_enabled(&env(&[(
        "CODEX_FLOWS_ENABLE_CODE_MODE",
        "2"
    )])));
}

#[tokio::test]
async fn request_carries_instructions_context_schema_and_safe_defaults() {
    let tree = code_mode_tree("timeout_ms = 5000");
    let executor = FakeExecutor::new(Some(structured("completed")));
    let run = run_once(
        &tree,
        &[("CODEX_FLOWS_ENABLE_CODE_MODE", "1")],
        executor.clone(),
        Default::default(),
    )
    .await;
    let requests = executor.requests.lock().unwrap();
    let request = &requests[0];
    assert_eq!(request.instructions, "Label the issue.\n");
    assert_eq!(request.sandbox.as_deref(), Some("read-only"));
    assert_eq!(request.approval.as_deref(), Some("never"));
    assert_eq!(request.model, None);
    assert_eq!(request.output_schema, code_mode_output_schema());
    assert_eq!(request.timeout, std::time::Duration::from_millis(5000));
    assert_eq!(
        (request.flow.as_str(), request.step.as_str()),
        ("triage", "label")
    );
    assert!(request.cwd.ends_with("flows/triage"));
    assert_eq!(request.context["flow"]["event"]["payload"]["title"], "t");
    assert_eq!(request.context["runtime"]["runId"], run.id.as_str());
    assert_eq!(request.context["runtime"]["replay"], false);
    // The agent text is the run's output.
    assert_eq!(run.latest_output.unwrap().stdout.text, "I labelled it.");
}

#[tokio::test]
async fn step_keys_win_over_client_defaults() {
    let defaults = CodeModeDefaults {
        model: Some("default-model".into()),
        sandbox: Some(SandboxMode::WorkspaceWrite),
        approval: Some(ApprovalPolicy::OnRequest),
    };
    let tree = code_mode_tree("");
    let executor = FakeExecutor::new(Some(structured("completed")));
    run_once(
        &tree,
        &[("CODEX_FLOWS_MODE", "code-mode")],
        executor.clone(),
        defaults.clone(),
    )
    .await;
    {
        let r = &executor.requests.lock().unwrap()[0];
        assert_eq!(r.model.as_deref(), Some("default-model"));
        assert_eq!(r.sandbox.as_deref(), Some("workspace-write"));
        assert_eq!(r.approval.as_deref(), Some("on-request"));
    }
    let tree = code_mode_tree(
        "model = \"step-model\"\nsandbox = \"danger-full-access\"\napproval = \"untrusted\"",
    );
    let executor = FakeExecutor::new(Some(structured("completed")));
    run_once(
        &tree,
        &[("CODEX_FLOWS_MODE", "code-mode")],
        executor.clone(),
        defaults,
    )
    .await;
    let r = &executor.requests.lock().unwrap()[0];
    assert_eq!(r.model.as_deref(), Some("step-model"));
    assert_eq!(r.sandbox.as_deref(), Some("danger-full-access"));
    assert_eq!(r.approval.as_deref(), Some("untrusted"));
}

#[tokio::test]
async fn agent_text_fallback_and_its_errors() {
    let gate = [("CODEX_FLOWS_ENABLE_CODE_MODE", "1")];
    let cases: Vec<(CodeModeReply, Result<&str, &str>)> = vec![
        (
            CodeModeReply {
                structured: None,
                agent_text:
                    "thinking\nFLOW_RESULT {\"status\":\"blocked\",\"message\":\"waiting\"}\n"
                        .into(),
            },
            Ok("blocked"),
        ),
        (
            CodeModeReply {
                structured: None,
                agent_text: "I could not decide.".into(),
            },
            Err("Step did not emit FLOW_RESULT"),
        ),
        (
            CodeModeReply {
                structured: Some(json!("completed")),
                agent_text: String::new(),
            },
            Err("FLOW_RESULT must be a JSON object"),
        ),
        (
            CodeModeReply {
                structured: Some(json!({"status": "maybe"})),
                agent_text: String::new(),
            },
            Err("FLOW_RESULT status is invalid"),
        ),
        (
            CodeModeReply {
                structured: Some(
                    json!({"status": "changed", "message": null, "artifacts": null,
                    "next": [{"id": "n1", "type": "follow.up", "payloadJson": "{\"n\":1}"}]}),
                ),
                agent_text: String::new(),
            },
            Ok("changed"),
        ),
    ];
    for (reply, expected) in cases {
        let tree = code_mode_tree("");
        let run = run_once(
            &tree,
            &gate,
            FakeExecutor::new(Some(reply)),
            Default::default(),
        )
        .await;
        match expected {
            Ok(status) => {
                assert_eq!(run.effective_status.as_str(), status);
                assert_eq!(run.process_status, Some(ProcessStatus::Completed));
                if status == "changed" {
                    let next = run.result.unwrap().next.unwrap();
                    assert_eq!(next[0].payload, json!({"n": 1}));
                    assert_eq!(next[0].event_type, "follow.up");
                }
            }
            Err(message) => {
                assert_eq!(run.error.as_deref(), Some(message));
                assert_eq!(run.process_status, Some(ProcessStatus::Failed));
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_turn_past_the_timeout_fails_the_run() {
    let tree = code_mode_tree("timeout_ms = 1500");
    let run = run_once(
        &tree,
        &[("CODEX_FLOWS_ENABLE_CODE_MODE", "1")],
        FakeExecutor::new(None),
        Default::default(),
    )
    .await;
    assert_eq!(run.process_status, Some(ProcessStatus::Failed));
    assert_eq!(
        run.error.as_deref(),
        Some("step triage/label timed out after 1500 ms")
    );
}

#[tokio::test]
async fn enabled_without_an_executor_is_a_clear_failure() {
    let tree = code_mode_tree("");
    let mut config = tree.config();
    config.env = env(&[("CODEX_FLOWS_ENABLE_CODE_MODE", "1")]);
    let client = tree.client_with(config, LocalHooks::default());
    let answer = client
        .dispatch_event(json!({"id": "i", "type": "issue.opened"}), WAIT)
        .await
        .unwrap();
    let run = client.get_run(&answer.run_ids[0]).await.unwrap();
    assert_eq!(
        run.error.as_deref(),
        Some("Code Mode flow step triage/label cannot run: no Code Mode executor is configured")
    );
    assert!(!run.needs_attention);
}
