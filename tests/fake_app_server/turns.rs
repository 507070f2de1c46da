//! `thread/start` and `turn/start` for the ingestion tests: a turn whose `item/completed` and
//! `turn/completed` carry a nested object in a shape this SDK's typed protocol does not know
//! (as a newer codex might send), so decoding falls back while routing and `ask` must still work.
//! The [`Stall`] modes script a turn whose `turn/completed` never comes, for the turn watchdog.

use serde_json::{json, Value};
use std::io::Write;

/// Thread id of every `thread/start`.
const THREAD: &str = "thr_fake";
/// Turn id of every `turn/start`.
const TURN: &str = "turn_fake";

/// A minimal valid thread with these turns.
fn thread(turns: Value) -> Value {
    json!({"cliVersion": "0.169.0", "createdAt": 0, "cwd": "/tmp", "ephemeral": true,
        "id": THREAD, "modelProvider": "fake", "preview": "", "projectId": null,
        "sessionId": "ses_fake", "source": "appServer", "status": {"type": "idle"},
        "turns": turns, "updatedAt": 0})
}

/// Replies to `thread/start` with a minimal valid thread.
pub fn thread_start(w: &mut impl Write, id: &Value) {
    super::send(
        w,
        &json!({"id": id, "result": {
            "approvalPolicy": "never", "approvalsReviewer": "user", "cwd": "/tmp",
            "model": "fake-model", "modelProvider": "fake", "sandbox": {"type": "dangerFullAccess"},
            "thread": thread(json!([]))}}),
    );
}

/// `FAKE_TURN`: what the thread record says of a turn whose `turn/completed` never comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stall {
    /// `stall-completed`: the record shows the turn completed, with its final items.
    Completed,
    /// `stall-in-progress`: the record shows the turn still in progress.
    InProgress,
}

impl Stall {
    /// The mode from `FAKE_TURN` (none when unset; an unknown value stops the fake).
    pub fn from_env() -> Option<Stall> {
        match std::env::var("FAKE_TURN").ok()?.as_str() {
            "stall-completed" => Some(Stall::Completed),
            "stall-in-progress" => Some(Stall::InProgress),
            other => {
                eprintln!("fake: unknown FAKE_TURN={other} (stall-completed, stall-in-progress)");
                std::process::exit(2);
            }
        }
    }
}

/// The text of the streamed message, and the text the record holds for it.
pub const STREAMED_TEXT: &str = "streamed before the stall";
/// The final text in the thread record (`stall-completed`).
pub const RECORD_TEXT: &str = "final answer from the thread record";

fn message(text: &str) -> Value {
    json!({"type": "agentMessage", "id": "msg_1", "text": text})
}

/// Replies to `turn/start` and streams one completed agent message, then nothing: no
/// `turn/completed`.
pub fn stalled_turn_start(w: &mut impl Write, id: &Value) {
    let turn = json!({"id": TURN, "items": [], "status": "inProgress"});
    super::send(w, &json!({"id": id, "result": {"turn": turn}}));
    let at = json!({"threadId": THREAD, "turnId": TURN});
    super::send(
        w,
        &json!({"method": "turn/started", "params": {"threadId": THREAD, "turn": turn}}),
    );
    let mut started = at.clone();
    started["item"] = message("");
    started["startedAtMs"] = json!(0);
    super::send(w, &json!({"method": "item/started", "params": started}));
    let mut completed = at;
    completed["item"] = message(STREAMED_TEXT);
    completed["completedAtMs"] = json!(0);
    super::send(w, &json!({"method": "item/completed", "params": completed}));
}

/// Replies to `thread/read`: the stalled turn as `stall` says (no turns outside a stall mode).
pub fn thread_read(w: &mut impl Write, id: &Value, stall: Option<Stall>) {
    let turns = match stall {
        Some(Stall::Completed) => json!([{"id": TURN, "status": "completed",
            "items": [{"type": "userMessage", "id": "user_1", "content": []}, message(RECORD_TEXT)]}]),
        Some(Stall::InProgress) => json!([{"id": TURN, "status": "inProgress",
            "items": [message(STREAMED_TEXT)]}]),
        None => json!([]),
    };
    super::send(w, &json!({"id": id, "result": {"thread": thread(turns)}}));
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
