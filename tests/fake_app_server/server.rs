//! A scripted fake `codex app-server`, used ONLY for transport faults the real server cannot be
//! made to show on demand: garbage lines, an oversize line, a reply that never comes, `-32001`
//! overload, a crash at a chosen point, stdout closed, and a notification flood for benchmarks.
//! Everything else is tested against the real codex.
//!
//! It speaks the same wire format as codex (JSONL, no `"jsonrpc"` field) and answers
//! `initialize` like codex does. Fault methods (all under `fake/`):
//!
//! | method | behaviour |
//! |---|---|
//! | `fake/echo` | result = params |
//! | `fake/garbage` | writes three malformed lines, then replies `{"ok":true}` |
//! | `fake/oversize {bytes}` | writes one line of `bytes` bytes, then replies |
//! | `fake/never` | never replies |
//! | `fake/overload {key, failures}` | `-32001` for the first `failures` calls with `key`, then `{"attempts":n}` |
//! | `fake/crash {code}` | writes to stderr and exits with `code` without replying |
//! | `fake/close-stdout` | closes stdout, keeps reading stdin until EOF |
//! | `fake/flood {count, threadId, turnId}` | `count` `item/agentMessage/delta` notifications, then `{"sent":count}` |
//! | `fake/server-request {method, params}` | sends that server request; replies `{"reply": <client's answer>}` |
//! | `fake/spawn-child` | starts `sleep 600` in its process group; replies `{"pid":..}` |
//! | `fake/calls` | `{"methods": [..]}`: every request method received so far, in order |
//!
//! `thread/start` and `turn/start` ([`turns`]) answer with a minimal thread and a scripted turn
//! whose `item/completed` and `turn/completed` have a changed nested shape (a newer codex).
//!
//! `FAKE_TURN=stall-completed` or `FAKE_TURN=stall-in-progress` makes `turn/start` stream a turn
//! whose `turn/completed` never comes (the app-server bug the turn watchdog is for); `thread/read`
//! then shows that turn completed (with its final items) or still in progress, and
//! `turn/interrupt` is answered `{}` without ending the turn (see `fake/calls` for whether it came).
//!
//! Environment: `FAKE_VERSION` (default `0.169.0`) sets the version in the user agent;
//! `FAKE_IGNORE_EOF=1` keeps the process alive after stdin closes (to test kill-after-grace);
//! `FAKE_SPAWN_LOG=PATH` appends the process id to `PATH` at start (to count spawns).
//! `FAKE_REPLAY=FILE` replays recorded traffic: each JSONL line `{"request": METHOD, "result":
//! .., "notifications": [..]}` answers the next call of METHOD with `result`, then writes the
//! notifications (used for shapes the real codex cannot be made to emit, e.g. moderation).

use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufWriter, Write};

mod turns;

fn main() {
    let version = std::env::var("FAKE_VERSION").unwrap_or_else(|_| "0.169.0".to_string());
    let ignore_eof = std::env::var("FAKE_IGNORE_EOF").is_ok_and(|v| v == "1");
    if let Ok(log) = std::env::var("FAKE_SPAWN_LOG") {
        let logged = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .and_then(|mut f| writeln!(f, "{}", std::process::id()));
        if let Err(e) = logged {
            eprintln!("fake: cannot append to FAKE_SPAWN_LOG {log}: {e}");
        }
    }
    let stdin = std::io::stdin();
    let mut out: Option<BufWriter<std::io::Stdout>> =
        Some(BufWriter::with_capacity(1 << 16, std::io::stdout()));
    let mut overload_counts: HashMap<String, u64> = HashMap::new();
    // Calls waiting for the client's answer to a server request: server id -> client call id.
    let mut relays: HashMap<i64, Value> = HashMap::new();
    let mut next_server_id = 0i64;
    let mut children = Vec::new();
    let mut replay = load_replay();
    let stall = turns::Stall::from_env();
    let mut calls: Vec<String> = Vec::new();

    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        let msg: Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("fake: invalid JSON line ignored: {e}");
                continue;
            }
        };
        let id = msg.get("id").cloned();
        let method = msg
            .get("method")
            .and_then(Value::as_str)
            .map(str::to_string);
        let params = msg.get("params").cloned().unwrap_or(json!({}));
        let Some(w) = out.as_mut() else {
            continue;
        };
        let Some(method) = method else {
            // A response to one of our server requests.
            if let Some(sid) = id.as_ref().and_then(Value::as_i64) {
                if let Some(call_id) = relays.remove(&sid) {
                    let answer = msg
                        .get("result")
                        .cloned()
                        .unwrap_or_else(|| json!({"error": msg.get("error")}));
                    send(w, &json!({"id": call_id, "result": {"reply": answer}}));
                    let _ = w.flush();
                }
            }
            continue;
        };
        let Some(id) = id else {
            continue; // notification (e.g. `initialized`)
        };
        calls.push(method.clone());
        match method.as_str() {
            "initialize" => send(
                w,
                &json!({"id": id, "result": {
                    "userAgent": format!("fake/{version} (fake app-server)"),
                    "codexHome": "/nonexistent",
                    "platformFamily": "unix",
                    "platformOs": "linux"
                }}),
            ),
            // Recorded answers (FAKE_REPLAY) come first: they stand for a real server's traffic.
            method if replay.get(method).is_some_and(|q| !q.is_empty()) => {
                if let Some(entry) = replay.get_mut(method).and_then(|q| q.pop_front()) {
                    send(w, &json!({"id": id, "result": entry["result"]}));
                    for note in entry["notifications"].as_array().into_iter().flatten() {
                        send(w, note);
                    }
                }
            }
            "fake/echo" => send(w, &json!({"id": id, "result": params})),
            "thread/start" => turns::thread_start(w, &id),
            "turn/start" => match stall {
                Some(_) => turns::stalled_turn_start(w, &id),
                None => turns::turn_start(w, &id),
            },
            "thread/read" => turns::thread_read(w, &id, stall),
            "turn/interrupt" => send(w, &json!({"id": id, "result": {}})),
            "fake/calls" => send(w, &json!({"id": id, "result": {"methods": calls}})),
            "fake/garbage" => {
                raw(w, "this is not json at all");
                raw(w, "{\"unterminated\": ");
                raw(w, "[1,2,3]");
                send(w, &json!({"id": id, "result": {"ok": true}}));
            }
            "fake/oversize" => {
                let bytes = params
                    .get("bytes")
                    .and_then(Value::as_u64)
                    .unwrap_or(2_000_000) as usize;
                let filler = "x".repeat(bytes.saturating_sub(60));
                raw(
                    w,
                    &format!("{{\"method\":\"fake/huge\",\"params\":{{\"blob\":\"{filler}\"}}}}"),
                );
                send(w, &json!({"id": id, "result": {"ok": true}}));
            }
            "fake/never" => {}
            "fake/overload" => {
                let key = params
                    .get("key")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let failures = params.get("failures").and_then(Value::as_u64).unwrap_or(1);
                let n = overload_counts.entry(key).or_insert(0);
                *n += 1;
                if *n <= failures {
                    send(
                        w,
                        &json!({"id": id, "error": {"code": -32001, "message": "Server overloaded; retry later."}}),
                    );
                } else {
                    send(w, &json!({"id": id, "result": {"attempts": *n}}));
                }
            }
            "fake/crash" => {
                let code = params.get("code").and_then(Value::as_i64).unwrap_or(17) as i32;
                let _ = w.flush();
                eprintln!("fatal: simulated crash at fake/crash (exit {code})");
                std::process::exit(code);
            }
            "fake/close-stdout" => {
                let _ = w.flush();
                out = None;
                // SAFETY: closing our own stdout descriptor; nothing else uses it afterwards.
                unsafe {
                    libc::close(1);
                }
            }
            "fake/flood" => {
                let count = params.get("count").and_then(Value::as_u64).unwrap_or(1000);
                let thread = params
                    .get("threadId")
                    .and_then(Value::as_str)
                    .unwrap_or("thr_flood");
                let turn = params
                    .get("turnId")
                    .and_then(Value::as_str)
                    .unwrap_or("turn_flood");
                for i in 0..count {
                    let line = format!(
                        "{{\"method\":\"item/agentMessage/delta\",\"params\":{{\"threadId\":\"{thread}\",\"turnId\":\"{turn}\",\"itemId\":\"msg_1\",\"delta\":\"token {i} \"}},\"emittedAtMs\":1795306748189}}"
                    );
                    raw(w, &line);
                }
                send(w, &json!({"id": id, "result": {"sent": count}}));
            }
            "fake/server-request" => {
                let m = params
                    .get("method")
                    .and_then(Value::as_str)
                    .unwrap_or("item/tool/call");
                let p = params.get("params").cloned().unwrap_or(json!({}));
                let sid = next_server_id;
                next_server_id += 1;
                relays.insert(sid, id);
                send(w, &json!({"id": sid, "method": m, "params": p}));
            }
            "fake/spawn-child" => match std::process::Command::new("sleep").arg("600").spawn() {
                Ok(child) => {
                    send(w, &json!({"id": id, "result": {"pid": child.id()}}));
                    children.push(child);
                }
                Err(e) => send(
                    w,
                    &json!({"id": id, "error": {"code": -32600, "message": e.to_string()}}),
                ),
            },
            other => send(
                w,
                &json!({"id": id, "error": {"code": -32600, "message": format!("unknown method {other}")}}),
            ),
        }
        if let Some(w) = out.as_mut() {
            let _ = w.flush();
        }
    }
    if ignore_eof {
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}

/// The `FAKE_REPLAY` file as a queue of recorded answers per request method.
fn load_replay() -> HashMap<String, std::collections::VecDeque<Value>> {
    let mut out: HashMap<String, std::collections::VecDeque<Value>> = HashMap::new();
    let Ok(path) = std::env::var("FAKE_REPLAY") else {
        return out;
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("fake: cannot read FAKE_REPLAY={path}: {e}");
            std::process::exit(2);
        }
    };
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let entry: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("fake: bad FAKE_REPLAY line: {e}");
                std::process::exit(2);
            }
        };
        if let Some(method) = entry.get("request").and_then(Value::as_str) {
            out.entry(method.to_string()).or_default().push_back(entry);
        }
    }
    out
}

fn send(w: &mut impl Write, v: &Value) {
    let _ = serde_json::to_writer(&mut *w, v);
    let _ = w.write_all(b"\n");
}

fn raw(w: &mut impl Write, line: &str) {
    let _ = w.write_all(line.as_bytes());
    let _ = w.write_all(b"\n");
}
