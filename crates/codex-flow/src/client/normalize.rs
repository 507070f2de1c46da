//! Normalizing heterogeneous backend answers into [`RunView`], [`EventRecord`] and
//! [`DispatchResponse`].

use serde_json::{Map, Value};

use crate::client::{DispatchResponse, DispatchStatus};
use crate::event::FlowEvent;
use crate::flow_result::{FlowResult, FlowResultStatus};
use crate::output_capture::CapturedOutput;
use crate::run_view::{AttemptView, EffectiveStatus, ProcessStatus, RunOutput, RunView};
use crate::state::EventRecord;

fn get<'a>(map: &'a Map<String, Value>, keys: &[&str]) -> Option<&'a Value> {
    keys.iter()
        .find_map(|k| map.get(*k).filter(|v| !v.is_null()))
}

fn get_str(map: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    get(map, keys).and_then(|v| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

fn captured(value: Option<&Value>) -> CapturedOutput {
    match value {
        Some(Value::String(s)) => CapturedOutput {
            text: s.clone(),
            truncated: false,
            total_bytes: s.len() as u64,
        },
        Some(v @ Value::Object(_)) => serde_json::from_value(v.clone()).unwrap_or_default(),
        _ => CapturedOutput::default(),
    }
}

/// Reads a run in any of the shapes backends answer with: `id|runId`, `status|processStatus`,
/// `result|resultJson` (object or JSON string, a `{flow, step, result}` wrapper is unwrapped),
/// `stdout`/`stderr` or `output[]`, attempts `[{id|attemptId, status, attemptNumber, workerId,
/// leaseExpiresAt, ...}]`.
///
/// ```
/// let run = codex_flow::normalize_run(&serde_json::json!({
///     "runId": "run_1", "status": "succeeded",
///     "resultJson": "{\"status\":\"blocked\"}", "stdout": "hi"
/// }))?;
/// assert_eq!(run.effective_status.as_str(), "blocked");
/// assert!(run.needs_attention);
/// assert_eq!(run.latest_output.unwrap().stdout.text, "hi");
/// # Ok::<(), String>(())
/// ```
pub fn normalize_run(value: &Value) -> Result<RunView, String> {
    let Value::Object(map) = value else {
        return Err("run is not a JSON object".into());
    };
    let id = get_str(map, &["id", "runId", "run_id"]).ok_or("run has no `id` or `runId`")?;
    let mut notes: Vec<String> = get(map, &["notes"])
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let result = match get(map, &["result", "resultJson", "result_json"]) {
        None => None,
        Some(raw) => {
            let parsed = match raw {
                Value::String(text) => serde_json::from_str::<Value>(text)
                    .map_err(|e| format!("result is not JSON: {e}")),
                other => Ok(other.clone()),
            };
            let unwrapped = parsed.map(|v| match v {
                Value::Object(m) if !m.contains_key("status") && m.contains_key("result") => {
                    m.get("result").cloned().unwrap_or(Value::Null)
                }
                other => other,
            });
            match unwrapped.and_then(|v| FlowResult::from_value(v).map_err(|e| e.to_string())) {
                Ok(r) => Some(r),
                Err(e) => {
                    notes.push(format!("backend result not readable: {e}"));
                    None
                }
            }
        }
    };
    let result_status = result.as_ref().map(|r| r.status).or_else(|| {
        get_str(map, &["resultStatus", "result_status"]).and_then(|s| FlowResultStatus::parse(&s))
    });
    let process_status = get_str(map, &["processStatus", "process_status", "status"])
        .and_then(|s| ProcessStatus::parse_lenient(&s));
    let attempts = get(map, &["attempts"])
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(normalize_attempt).collect())
        .unwrap_or_default();
    let output: Vec<RunOutput> = match get(map, &["output", "outputs"]) {
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::Object(o) => RunOutput {
                    attempt_id: get_str(o, &["attemptId", "attempt_id"]),
                    stdout: captured(get(o, &["stdout", "text", "output"])),
                    stderr: captured(get(o, &["stderr"])),
                },
                other => RunOutput {
                    attempt_id: None,
                    stdout: captured(Some(&Value::String(match other {
                        Value::String(s) => s.clone(),
                        v => v.to_string(),
                    }))),
                    stderr: CapturedOutput::default(),
                },
            })
            .collect(),
        Some(Value::String(s)) => vec![RunOutput {
            attempt_id: None,
            stdout: captured(Some(&Value::String(s.clone()))),
            stderr: CapturedOutput::default(),
        }],
        _ => {
            let stdout = get(map, &["stdout"]);
            let stderr = get(map, &["stderr"]);
            if stdout.is_some() || stderr.is_some() {
                vec![RunOutput {
                    attempt_id: None,
                    stdout: captured(stdout),
                    stderr: captured(stderr),
                }]
            } else {
                Vec::new()
            }
        }
    };
    let error = match get(map, &["error"]) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Object(o)) => {
            get_str(o, &["message"]).or_else(|| Some(Value::Object(o.clone()).to_string()))
        }
        Some(other) => Some(other.to_string()),
        None => None,
    };
    let mut run = RunView {
        id,
        event_id: get_str(map, &["eventId", "event_id"]).unwrap_or_default(),
        event_type: get_str(map, &["eventType", "event_type"]),
        flow: get_str(map, &["flow", "flowName", "flow_name"]).unwrap_or_default(),
        step: get_str(map, &["step", "stepName", "step_name"]).unwrap_or_default(),
        process_status,
        result_status,
        effective_status: EffectiveStatus::Unknown,
        needs_attention: false,
        replay: get(map, &["replay"])
            .and_then(Value::as_bool)
            .unwrap_or(false),
        result,
        error,
        attempts,
        output,
        latest_output: None,
        notes,
        owner: get_str(map, &["owner"]),
        cancel_requested: get(map, &["cancelRequested"])
            .and_then(Value::as_bool)
            .unwrap_or(false),
        package_hash: get_str(map, &["packageHash", "package_hash"]),
        dead_letter: get(map, &["deadLetter", "dead_letter"])
            .and_then(Value::as_bool)
            .unwrap_or(false),
        created_at: get_str(map, &["createdAt", "created_at"]),
        updated_at: get_str(map, &["updatedAt", "updated_at"]),
        started_at: get_str(map, &["startedAt", "started_at"]),
        finished_at: get_str(
            map,
            &["finishedAt", "finished_at", "completedAt", "completed_at"],
        ),
    };
    run.refresh();
    Ok(run)
}

fn normalize_attempt(value: &Value) -> Option<AttemptView> {
    let Value::Object(map) = value else {
        return None;
    };
    let mut extra = map.clone();
    for key in [
        "id",
        "attemptId",
        "attempt_id",
        "status",
        "attemptNumber",
        "attempt_number",
        "number",
        "workerId",
        "worker_id",
        "leaseExpiresAt",
        "lease_expires_at",
        "startedAt",
        "started_at",
        "finishedAt",
        "finished_at",
        "exitCode",
        "exit_code",
        "error",
    ] {
        extra.remove(key);
    }
    Some(AttemptView {
        id: get_str(map, &["id", "attemptId", "attempt_id"])?,
        status: get_str(map, &["status"]).and_then(|s| ProcessStatus::parse_lenient(&s)),
        attempt_number: get(map, &["attemptNumber", "attempt_number", "number"])
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0),
        worker_id: get_str(map, &["workerId", "worker_id"]),
        lease_expires_at: get_str(map, &["leaseExpiresAt", "lease_expires_at"]),
        started_at: get_str(map, &["startedAt", "started_at"]),
        finished_at: get_str(map, &["finishedAt", "finished_at"]),
        exit_code: get(map, &["exitCode", "exit_code"])
            .and_then(Value::as_i64)
            .and_then(|n| i32::try_from(n).ok()),
        error: get_str(map, &["error"]),
        extra,
    })
}

/// Reads a stored event: either `{event, runIds?, runs?}` or the event itself with `runIds`.
pub fn normalize_event_record(value: &Value) -> Result<EventRecord, String> {
    let Value::Object(map) = value else {
        return Err("event is not a JSON object".into());
    };
    let (mut event_map, outer) = match map.get("event") {
        Some(Value::Object(inner)) => (inner.clone(), map.clone()),
        _ => (map.clone(), Map::new()),
    };
    let run_ids_of = |m: &Map<String, Value>| -> Option<Vec<String>> {
        if let Some(Value::Array(ids)) = get(m, &["runIds", "run_ids"]) {
            return Some(
                ids.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
            );
        }
        if let Some(Value::Array(runs)) = get(m, &["runs"]) {
            return Some(
                runs.iter()
                    .filter_map(|r| r.as_object().and_then(|o| get_str(o, &["id", "runId"])))
                    .collect(),
            );
        }
        None
    };
    let run_ids = run_ids_of(&outer)
        .or_else(|| run_ids_of(&event_map))
        .unwrap_or_default();
    let replays = get(&outer, &["replays"])
        .or_else(|| get(&event_map, &["replays"]))
        .and_then(Value::as_u64)
        .unwrap_or(0) as u32;
    let depth = get(&outer, &["depth"]).and_then(Value::as_u64).unwrap_or(0) as u32;
    let stored_at = get_str(&outer, &["storedAt", "createdAt"])
        .or_else(|| get_str(&event_map, &["storedAt", "createdAt", "receivedAt"]))
        .unwrap_or_default();
    for key in [
        "runIds",
        "run_ids",
        "runs",
        "replays",
        "storedAt",
        "createdAt",
    ] {
        event_map.remove(key);
    }
    let event = FlowEvent::from_value(Value::Object(event_map)).map_err(|e| e.to_string())?;
    Ok(EventRecord {
        event,
        run_ids,
        replays,
        depth,
        stored_at,
    })
}

/// Reads a dispatch or replay answer `{status, eventId, runIds, matched}`; `runs[].id` and
/// missing counts are accepted.
pub fn normalize_dispatch(value: &Value, event_id: &str) -> Result<DispatchResponse, String> {
    let Value::Object(map) = value else {
        return Err("dispatch answer is not a JSON object".into());
    };
    let run_ids: Vec<String> = match get(map, &["runIds", "run_ids"]) {
        Some(Value::Array(ids)) => ids
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => match get(map, &["runs"]) {
            Some(Value::Array(runs)) => runs
                .iter()
                .filter_map(|r| match r {
                    Value::String(s) => Some(s.clone()),
                    Value::Object(o) => get_str(o, &["id", "runId"]),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        },
    };
    let duplicate = get_str(map, &["status"]).is_some_and(|s| s == "duplicate")
        || get(map, &["idempotent"])
            .and_then(Value::as_bool)
            .unwrap_or(false);
    let matched = get(map, &["matched"])
        .and_then(Value::as_u64)
        .map(|n| n as usize)
        .unwrap_or(if duplicate { 0 } else { run_ids.len() });
    Ok(DispatchResponse {
        status: if duplicate {
            DispatchStatus::Duplicate
        } else {
            DispatchStatus::Accepted
        },
        event_id: get_str(map, &["eventId", "event_id"]).unwrap_or_else(|| event_id.to_string()),
        run_ids,
        matched,
        idempotent: duplicate,
    })
}
