//! Round trips on real traffic recorded from codex 0.169.0 (see transcripts/capture.sh): every
//! message decodes into its typed form, with no `Unknown` anywhere, and re-encodes to the same
//! JSON up to absent-vs-null.
mod common;

use std::collections::HashMap;

use codex_runtime_protocol::{
    reencode_client_params, reencode_client_response, reencode_server_response, ServerNotification,
    ServerRequest,
};
use common::{assert_same, raw};
use serde_json::Value;

fn transcript(name: &str) -> Vec<(String, Value)> {
    let path = format!("{}/tests/transcripts/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            let entry: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{name}:{}: {e}", i + 1));
            (
                entry["dir"].as_str().expect("dir").to_owned(),
                entry["msg"].clone(),
            )
        })
        .collect()
}

/// `Unknown(..)` / `Unknown {` anywhere in the Debug form means some part fell back.
fn assert_no_unknown(context: &str, debug: String) {
    assert!(
        !debug.contains("Unknown(") && !debug.contains("Unknown {"),
        "{context}: part of the message decoded as Unknown: {debug}"
    );
}

struct Counts {
    notifications: usize,
    server_requests: usize,
    responses: usize,
    client_params: usize,
    server_responses: usize,
}

fn check(name: &str) -> Counts {
    let mut counts = Counts {
        notifications: 0,
        server_requests: 0,
        responses: 0,
        client_params: 0,
        server_responses: 0,
    };
    let mut sent: HashMap<String, String> = HashMap::new();
    let mut server_methods: HashMap<String, String> = HashMap::new();
    for (i, (dir, msg)) in transcript(name).into_iter().enumerate() {
        let context = format!("{name}:{}", i + 1);
        let method = msg.get("method").and_then(Value::as_str);
        let id = msg.get("id").map(Value::to_string);
        let params = msg.get("params").cloned().unwrap_or(Value::Null);
        match (dir.as_str(), method, id) {
            ("send", Some(method), Some(id)) => {
                sent.insert(id, method.to_owned());
                let out = reencode_client_params(method, &raw(&params))
                    .unwrap_or_else(|| panic!("{context}: unknown client method {method}"))
                    .unwrap_or_else(|e| panic!("{context}: {method} params: {e}"));
                assert_same(&context, &params, &out);
                counts.client_params += 1;
            }
            ("send", Some(_), None) => {} // `initialized`
            ("send", None, Some(id)) => {
                // The client's answer to a server request.
                let method = server_methods
                    .get(&id)
                    .unwrap_or_else(|| panic!("{context}: answer to unknown server request {id}"));
                let result = msg.get("result").expect("capture answers with results");
                let out = reencode_server_response(method, &raw(result))
                    .unwrap_or_else(|| panic!("{context}: unknown server request {method}"))
                    .unwrap_or_else(|e| panic!("{context}: {method} response: {e}"));
                assert_same(&context, result, &out);
                counts.server_responses += 1;
            }
            ("recv", Some(method), None) => {
                let note = ServerNotification::decode(method, &raw(&params))
                    .unwrap_or_else(|e| panic!("{context}: {method}: {e}"));
                assert_eq!(note.method(), method);
                assert_no_unknown(&context, format!("{note:?}"));
                let encoded = serde_json::to_value(&note).expect("serialize");
                assert_eq!(encoded["method"], method);
                assert_same(&context, &params, &encoded["params"]);
                if let Some(t) = params.get("threadId").and_then(Value::as_str) {
                    assert_eq!(note.thread_id(), Some(t), "{context}: thread_id()");
                }
                if let Some(t) = params.get("turnId").and_then(Value::as_str) {
                    assert_eq!(note.turn_id(), Some(t), "{context}: turn_id()");
                } else if let Some(t) = params.pointer("/turn/id").and_then(Value::as_str) {
                    assert_eq!(note.turn_id(), Some(t), "{context}: turn_id() from turn.id");
                }
                counts.notifications += 1;
            }
            ("recv", Some(method), Some(id)) => {
                server_methods.insert(id, method.to_owned());
                let req = ServerRequest::decode(method, &raw(&params))
                    .unwrap_or_else(|e| panic!("{context}: {method}: {e}"));
                assert_no_unknown(&context, format!("{req:?}"));
                let encoded = serde_json::to_value(&req).expect("serialize");
                assert_same(&context, &params, &encoded["params"]);
                if let Some(t) = params.get("threadId").and_then(Value::as_str) {
                    assert_eq!(req.thread_id(), Some(t), "{context}: thread_id()");
                }
                counts.server_requests += 1;
            }
            ("recv", None, Some(id)) => {
                let method = sent
                    .get(&id)
                    .unwrap_or_else(|| panic!("{context}: response to unknown id {id}"));
                let Some(result) = msg.get("result") else {
                    panic!("{context}: {method} failed during capture: {msg}");
                };
                let out = reencode_client_response(method, &raw(result))
                    .unwrap_or_else(|| panic!("{context}: unknown client method {method}"))
                    .unwrap_or_else(|e| panic!("{context}: {method} result: {e}"));
                assert_same(&context, result, &out);
                counts.responses += 1;
            }
            other => panic!("{context}: unexpected message shape {other:?}: {msg}"),
        }
    }
    counts
}

#[test]
fn basic_transcript_round_trips() {
    let c = check("basic.jsonl");
    assert!(c.responses >= 20, "responses: {}", c.responses);
    assert!(c.client_params >= 20);
    assert!(c.notifications >= 2);
}

#[test]
fn turn_transcript_round_trips() {
    let c = check("turns.jsonl");
    assert!(c.notifications >= 100, "notifications: {}", c.notifications);
    assert_eq!(
        c.server_requests, 2,
        "one file-change and one command approval"
    );
    assert!(c.responses >= 10);
}
