//! `thread/start` and `turn/start` for the ingestion tests: a turn whose `item/completed` and
//! `turn/completed` carry a nested object in a shape this SDK's typed protocol does not know
//! (as a newer codex might send), so decoding falls back while routing and `ask` must still work.

use serde_json::{json, Value};
use std::io::Write;

/// Thread id of every `thread/start`.
const THREAD: &str = "thr_fake";
/// Turn id of every `turn/start`.
const TURN: &str = "turn_fake";

/// Replies to `thread/start` with a minimal valid thread.
pub fn thread_start(w: &mut impl Write, id: &Value) {
    super::send(
        w,
        &json!({"id": id, "result": {
            "approvalPolicy": "never", "approvalsReviewer": "user", "cwd": "/tmp",
            "model": "fake-model", "modelProvider": "fake", "sandbox": {"type": "dangerFullAccess"},
            "thread": {"cliVersion": "0.169.0", "createdAt": 0, "cwd": "/tmp", "ephemeral": true,
                "id": THREAD, "modelProvider": "fake", "preview": "", "projectId": null,
                "sessionId": "ses_fake", "source": "appServer", "status": {"type": "idle"},
                "turns": [], "updatedAt": 0}}}),
    );
}

/// Replies to `turn/start`, then streams the turn: a delta, then `item/completed` and
/// `turn/completed` whose nested objects have a changed shape.
pub fn turn_start(w: &mut impl Write, id: &Value) {
    let turn = json!({"id": TURN, "items": [], "status": "inProgress"});
    super::send(w, &json!({"id": id, "result": {"turn": turn}}));
    let notify = |w: &mut dyn Write, method: &str, params: Value| {
        let _ = serde_json::to_writer(&mut *w, &json!({"method": method, "params": params}));
        let _ = w.write_all(b"\n");
    };
    notify(w, "turn/started", json!({"threadId": THREAD, "turn": turn}));
    notify(
        w,
        "item/agentMessage/delta",
        json!({"threadId": THREAD, "turnId": TURN, "itemId": "msg_1", "delta": "hello"}),
    );
    // `memoryCitation` was an object; here it is a string.
    notify(
        w,
        "item/completed",
        json!({"threadId": THREAD, "turnId": TURN, "item": {
            "type": "agentMessage", "id": "msg_1", "text": "hello from a newer codex",
            "memoryCitation": "citations moved elsewhere"}}),
    );
    // `items` was an array; here it is an object.
    notify(
        w,
        "turn/completed",
        json!({"threadId": THREAD, "turn": {"id": TURN, "status": "completed",
            "items": {"count": 1}}}),
    );
}
