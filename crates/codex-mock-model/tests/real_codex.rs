//! End-to-end: the real `codex app-server` (pinned 0.169.0) against the mock model.
//!
//! The binary comes from `CODEX_BIN` or `scripts/install-codex.sh`. Each test drives raw
//! JSON-RPC lines over stdio and reads until `turn/completed`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use codex_mock_model::{
    input_items_of_type, CodexHome, HomeOptions, MockModel, Reply, Scenario, ScratchDir,
    UserInputQuestion,
};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// Upper bound for any single wait on codex.
const STEP_TIMEOUT: Duration = Duration::from_secs(8);

fn codex_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("CODEX_BIN").filter(|b| !b.is_empty()) {
            return PathBuf::from(bin);
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/install-codex.sh");
        let out = std::process::Command::new("bash")
            .arg(&script)
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/install-codex.sh");
        assert!(
            out.status.success(),
            "install-codex.sh failed: {:?}",
            out.status
        );
        let stdout = String::from_utf8(out.stdout).expect("utf-8 path");
        PathBuf::from(
            stdout
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .expect("a path")
                .trim(),
        )
    })
    .clone()
}

/// A running `codex app-server` plus the mock it talks to.
struct Harness {
    mock: MockModel,
    _home: CodexHome,
    workdir: ScratchDir,
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    next_id: i64,
}

impl Harness {
    async fn start(scenario: Scenario) -> Self {
        Self::start_with(scenario, json!({})).await
    }

    async fn start_with(scenario: Scenario, capabilities: Value) -> Self {
        let mock = MockModel::start(scenario).await.expect("mock starts");
        let home = CodexHome::create(&mock.url(), HomeOptions::default()).expect("codex home");
        let workdir = ScratchDir::create("codex-workdirs", "proj").expect("workdir");
        let mut child = Command::new(codex_bin())
            .arg("app-server")
            .env("CODEX_HOME", home.path())
            .env("OPENAI_API_KEY", "test")
            .current_dir(workdir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn codex app-server");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut harness = Self {
            mock,
            _home: home,
            workdir,
            child,
            stdin,
            stdout,
            next_id: 1,
        };
        harness
            .request(
                "initialize",
                json!({"clientInfo": {"name": "mock-e2e", "version": "0.0.0"}, "capabilities": capabilities}),
            )
            .await;
        harness.notify("initialized", json!({})).await;
        harness
    }

    async fn send(&mut self, message: Value) {
        let mut line = message.to_string();
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .await
            .expect("write to codex");
        self.stdin.flush().await.expect("flush to codex");
    }

    async fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({"method": method, "params": params})).await;
    }

    async fn next_message(&mut self) -> Value {
        let line = tokio::time::timeout(STEP_TIMEOUT, self.stdout.next_line())
            .await
            .expect("codex answered in time")
            .expect("read codex stdout")
            .expect("codex stdout still open");
        if std::env::var_os("E2E_TRACE").is_some() {
            eprintln!("<- {}", &line[..line.len().min(400)]);
        }
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("codex sent non-JSON {line:?}: {e}"))
    }

    /// Sends a request and returns its result (notifications before it are dropped).
    async fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({"id": id, "method": method, "params": params}))
            .await;
        loop {
            let message = self.next_message().await;
            if message.get("id") == Some(&json!(id)) && message.get("method").is_none() {
                if let Some(error) = message.get("error") {
                    panic!("{method} failed: {error}");
                }
                return message["result"].clone();
            }
            assert!(
                message.get("id").is_none() || message.get("method").is_none(),
                "unexpected server request {message}"
            );
        }
    }

    async fn start_thread(&mut self, extra: Value) -> String {
        let mut params = json!({"cwd": self.workdir.path()});
        if let (Some(params), Some(extra)) = (params.as_object_mut(), extra.as_object()) {
            params.extend(extra.clone());
        }
        let result = self.request("thread/start", params).await;
        result["thread"]["id"]
            .as_str()
            .expect("thread id")
            .to_owned()
    }

    /// Starts a turn and returns every notification up to and including `turn/completed`.
    async fn run_turn(&mut self, thread_id: &str, text: &str, extra: Value) -> Vec<Value> {
        let mut params = json!({"threadId": thread_id, "input": [{"type": "text", "text": text}]});
        if let (Some(params), Some(extra)) = (params.as_object_mut(), extra.as_object()) {
            params.extend(extra.clone());
        }
        self.request("turn/start", params).await;
        self.read_until_turn_completed().await
    }

    /// Like `read_until_turn_completed`, but lets responses to earlier messages through.
    async fn read_until_turn_completed_ignoring_requests(&mut self) -> Vec<Value> {
        let mut notifications = Vec::new();
        loop {
            let message = self.next_message().await;
            let done = message["method"] == "turn/completed";
            notifications.push(message);
            if done {
                return notifications;
            }
        }
    }

    async fn read_until_turn_completed(&mut self) -> Vec<Value> {
        let mut notifications = Vec::new();
        loop {
            let message = self.next_message().await;
            assert!(
                message.get("id").is_none(),
                "unexpected server request or response {message}"
            );
            let done = message["method"] == "turn/completed";
            notifications.push(message);
            if done {
                return notifications;
            }
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        // codex runs in its own process group (process_group(0)): SIGTERM the group so any
        // command it started goes too; kill_on_drop then SIGKILLs codex itself.
        if let Some(pid) = self.child.id().and_then(|pid| i32::try_from(pid).ok()) {
            // SAFETY: kill(2) on the process group of a child we spawned.
            unsafe {
                libc::kill(-pid, libc::SIGTERM);
            }
        }
    }
}

fn turn_status(notifications: &[Value]) -> &str {
    notifications
        .last()
        .and_then(|n| n["params"]["turn"]["status"].as_str())
        .expect("turn/completed with a status")
}

fn completed_items<'a>(notifications: &'a [Value], item_type: &str) -> Vec<&'a Value> {
    notifications
        .iter()
        .filter(|n| n["method"] == "item/completed" && n["params"]["item"]["type"] == item_type)
        .map(|n| &n["params"]["item"])
        .collect()
}

const FULL_ACCESS: &str = r#"{"approvalPolicy":"never","sandbox":"danger-full-access"}"#;

#[tokio::test]
async fn text_reply_becomes_an_agent_message() {
    let mut h = Harness::start(Scenario::new([Reply::text("hello from the mock")])).await;
    let thread = h.start_thread(json!({})).await;
    let notes = h.run_turn(&thread, "say hello", json!({})).await;
    assert_eq!(turn_status(&notes), "completed");
    let messages = completed_items(&notes, "agentMessage");
    assert_eq!(messages.len(), 1, "{notes:#?}");
    assert_eq!(messages[0]["text"], "hello from the mock");
    let requests = h.mock.response_requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0]["model"], "mock-model");
    let user_texts: Vec<String> = input_items_of_type(&requests[0], "message")
        .iter()
        .filter(|m| m["role"] == "user")
        .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["text"].as_str().map(str::to_owned))
        .collect();
    assert!(
        user_texts.iter().any(|t| t == "say hello"),
        "{user_texts:?}"
    );
}

#[tokio::test]
async fn deltas_arrive_in_order() {
    let mut h = Harness::start(Scenario::new([Reply::deltas(["Hel", "lo, ", "wor", "ld"])])).await;
    let thread = h.start_thread(json!({})).await;
    let notes = h.run_turn(&thread, "stream please", json!({})).await;
    assert_eq!(turn_status(&notes), "completed");
    let deltas: Vec<&str> = notes
        .iter()
        .filter(|n| n["method"] == "item/agentMessage/delta")
        .filter_map(|n| n["params"]["delta"].as_str())
        .collect();
    assert_eq!(deltas, ["Hel", "lo, ", "wor", "ld"]);
    assert_eq!(
        completed_items(&notes, "agentMessage")[0]["text"],
        "Hello, world"
    );
}

#[tokio::test]
async fn shell_call_runs_and_its_output_reaches_the_next_request() {
    let scenario = Scenario::new([Reply::shell("echo mock-shell-ok"), Reply::text("ran it")]);
    let mut h = Harness::start(scenario).await;
    let thread = h
        .start_thread(serde_json::from_str(FULL_ACCESS).unwrap())
        .await;
    let notes = h.run_turn(&thread, "run echo", json!({})).await;
    assert_eq!(turn_status(&notes), "completed", "{notes:#?}");
    let commands = completed_items(&notes, "commandExecution");
    assert_eq!(commands.len(), 1, "{notes:#?}");
    assert_eq!(commands[0]["status"], "completed", "{:#}", commands[0]);
    assert!(
        commands[0]["aggregatedOutput"]
            .as_str()
            .unwrap_or_default()
            .contains("mock-shell-ok"),
        "{:#}",
        commands[0]
    );
    assert_eq!(completed_items(&notes, "agentMessage")[0]["text"], "ran it");
    let requests = h.mock.response_requests();
    assert_eq!(requests.len(), 2);
    let outputs = input_items_of_type(&requests[1], "function_call_output");
    assert_eq!(outputs.len(), 1, "{:#}", requests[1]);
    assert_eq!(outputs[0]["call_id"], "call_1");
    assert!(
        outputs[0].to_string().contains("mock-shell-ok"),
        "{:#}",
        outputs[0]
    );
}

#[tokio::test]
async fn apply_patch_creates_the_file() {
    let scenario = Scenario::new([
        Reply::apply_patch("*** Add File: hello.txt\n+hi from the patch\n"),
        Reply::text("patched"),
    ]);
    let mut h = Harness::start(scenario).await;
    let thread = h
        .start_thread(serde_json::from_str(FULL_ACCESS).unwrap())
        .await;
    let notes = h.run_turn(&thread, "add a file", json!({})).await;
    assert_eq!(turn_status(&notes), "completed", "{notes:#?}");
    let changes = completed_items(&notes, "fileChange");
    assert_eq!(changes.len(), 1, "{notes:#?}");
    assert_eq!(changes[0]["status"], "completed", "{:#}", changes[0]);
    let written =
        std::fs::read_to_string(h.workdir.path().join("hello.txt")).expect("patched file");
    assert_eq!(written, "hi from the patch\n");
    assert_eq!(
        input_items_of_type(&h.mock.response_requests()[1], "function_call_output").len(),
        1
    );
}

#[tokio::test]
async fn output_schema_reaches_the_model_and_json_from_schema_answers_it() {
    let schema = json!({
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "score": {"type": "integer"},
            "verdict": {"type": "string", "enum": ["pass", "fail"]},
            "notes": {"type": "array", "items": {"type": "string"}}
        },
        "required": ["title", "score", "verdict", "notes"],
        "additionalProperties": false
    });
    let mut h = Harness::start(Scenario::new([Reply::json_from_schema()])).await;
    let thread = h.start_thread(json!({})).await;
    let notes = h
        .run_turn(&thread, "rate it", json!({"outputSchema": schema}))
        .await;
    assert_eq!(turn_status(&notes), "completed", "{notes:#?}");
    let request = &h.mock.response_requests()[0];
    assert_eq!(request["text"]["format"]["type"], "json_schema");
    assert_eq!(request["text"]["format"]["schema"], schema);
    let text = completed_items(&notes, "agentMessage")[0]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer: Value = serde_json::from_str(&text).expect("the message is JSON");
    assert_eq!(
        answer,
        json!({"title": "", "score": 0, "verdict": "pass", "notes": []})
    );
}

#[tokio::test]
async fn http_500_fails_the_turn() {
    let scenario = Scenario::new([Reply::http_error(
        500,
        json!({"error": {"message": "boom"}}),
    )]);
    let mut h = Harness::start(scenario).await;
    let thread = h.start_thread(json!({})).await;
    let notes = h.run_turn(&thread, "fail please", json!({})).await;
    assert_eq!(turn_status(&notes), "failed", "{notes:#?}");
    let turn = &notes.last().unwrap()["params"]["turn"];
    assert!(!turn["error"].is_null(), "{turn:#}");
}

#[tokio::test]
async fn stall_holds_the_turn_until_interrupted() {
    let mut h = Harness::start(Scenario::new([Reply::stall(["thinking"])])).await;
    let thread = h.start_thread(json!({})).await;
    let turn = h
        .request(
            "turn/start",
            json!({"threadId": thread, "input": [{"type": "text", "text": "wait"}]}),
        )
        .await;
    let turn_id = turn["turn"]["id"].as_str().expect("turn id").to_owned();
    h.mock
        .wait_for_stall(STEP_TIMEOUT)
        .await
        .expect("codex reached the stall");
    h.request(
        "turn/interrupt",
        json!({"threadId": thread, "turnId": turn_id}),
    )
    .await;
    let notes = h.read_until_turn_completed().await;
    assert_eq!(turn_status(&notes), "interrupted", "{notes:#?}");
    let deltas: Vec<&str> = notes
        .iter()
        .filter(|n| n["method"] == "item/agentMessage/delta")
        .filter_map(|n| n["params"]["delta"].as_str())
        .collect();
    assert!(deltas.is_empty() || deltas == ["thinking"], "{deltas:?}");
}

#[tokio::test]
async fn request_user_input_reaches_the_client_in_plan_mode() {
    let question = UserInputQuestion::new("color", "Which color?", ["red", "blue"]);
    let scenario = Scenario::new([Reply::request_user_input([question]), Reply::text("thanks")]);
    let mut h = Harness::start_with(scenario, json!({"experimentalApi": true})).await;
    let thread = h.start_thread(json!({})).await;
    let plan_mode = json!({"mode": "plan", "settings": {"model": "mock-model"}});
    h.request(
        "turn/start",
        json!({"threadId": thread, "input": [{"type": "text", "text": "ask me"}], "collaborationMode": plan_mode}),
    )
    .await;
    // codex asks the client: answer the server request.
    let ask = loop {
        let message = h.next_message().await;
        if message["method"] == "item/tool/requestUserInput" {
            break message;
        }
        assert_ne!(
            message["method"], "turn/completed",
            "turn ended without asking: {message}"
        );
    };
    let questions = ask["params"]["questions"].as_array().expect("questions");
    assert_eq!(questions.len(), 1, "{ask:#}");
    assert_eq!(questions[0]["id"], "color");
    assert_eq!(questions[0]["question"], "Which color?");
    h.send(json!({"id": ask["id"], "result": {"answers": {"color": {"answers": ["blue"]}}}}))
        .await;
    let notes = h.read_until_turn_completed_ignoring_requests().await;
    assert_eq!(turn_status(&notes), "completed", "{notes:#?}");
    let requests = h.mock.response_requests();
    assert_eq!(requests.len(), 2);
    let outputs = input_items_of_type(&requests[1], "function_call_output");
    assert_eq!(outputs.len(), 1, "{:#}", requests[1]);
    assert!(
        outputs[0]["output"]
            .as_str()
            .unwrap_or_default()
            .contains("blue"),
        "{:#}",
        outputs[0]
    );
}

#[tokio::test]
async fn request_user_input_outside_plan_mode_is_answered_by_codex_itself() {
    let question = UserInputQuestion::new("color", "Which color?", ["red", "blue"]);
    let scenario = Scenario::new([Reply::request_user_input([question]), Reply::text("thanks")]);
    let mut h = Harness::start(scenario).await;
    let thread = h.start_thread(json!({})).await;
    let notes = h.run_turn(&thread, "ask me", json!({})).await;
    assert_eq!(turn_status(&notes), "completed", "{notes:#?}");
    let requests = h.mock.response_requests();
    assert_eq!(requests.len(), 2);
    let outputs = input_items_of_type(&requests[1], "function_call_output");
    assert_eq!(outputs.len(), 1, "{:#}", requests[1]);
    // codex 0.169.0: "request_user_input is unavailable in Default mode".
    assert!(
        outputs[0]["output"]
            .as_str()
            .unwrap_or_default()
            .contains("unavailable"),
        "{:#}",
        outputs[0]
    );
}

#[tokio::test]
async fn escalated_shell_asks_for_approval_with_the_justification() {
    let scenario = Scenario::new([
        Reply::shell_escalated("echo escalated", "needs the network"),
        Reply::text("declined, fine"),
    ]);
    let mut h = Harness::start(scenario).await;
    let thread = h
        .start_thread(json!({"approvalPolicy": "on-request", "sandbox": "workspace-write"}))
        .await;
    h.request(
        "turn/start",
        json!({"threadId": thread, "input": [{"type": "text", "text": "escalate"}]}),
    )
    .await;
    let ask = loop {
        let message = h.next_message().await;
        if message["method"] == "item/commandExecution/requestApproval" {
            break message;
        }
        assert_ne!(
            message["method"], "turn/completed",
            "no approval asked: {message}"
        );
    };
    assert_eq!(ask["params"]["reason"], "needs the network", "{ask:#}");
    h.send(json!({"id": ask["id"], "result": {"decision": "decline"}}))
        .await;
    let notes = h.read_until_turn_completed_ignoring_requests().await;
    assert_eq!(turn_status(&notes), "completed", "{notes:#?}");
    let commands = completed_items(&notes, "commandExecution");
    assert_eq!(commands.len(), 1, "{notes:#?}");
    assert_eq!(commands[0]["status"], "declined", "{:#}", commands[0]);
    assert_eq!(
        completed_items(&notes, "agentMessage")[0]["text"],
        "declined, fine"
    );
}

#[tokio::test]
async fn http_429_fails_the_turn() {
    let body =
        json!({"error": {"message": "rate limited by the mock", "type": "rate_limit_exceeded"}});
    let mut h = Harness::start(Scenario::new([Reply::http_error(429, body)])).await;
    let thread = h.start_thread(json!({})).await;
    let notes = h.run_turn(&thread, "too fast", json!({})).await;
    assert_eq!(turn_status(&notes), "failed", "{notes:#?}");
    assert_eq!(
        h.mock.response_requests().len(),
        1,
        "no retry with request_max_retries = 0"
    );
}
