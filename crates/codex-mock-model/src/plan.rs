//! Turning a [`Reply`] into what the server sends: a [`Plan`] of SSE steps or an HTTP error.

use std::time::Duration;

use serde_json::{json, Value};

use crate::{instance_from_schema, sse, Reply};

/// One step of a streamed reply.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    /// Send this event.
    Event(Value),
    /// Wait before the next step.
    Sleep(Duration),
    /// Hold the stream open (keepalives) until a stall is released.
    Stall,
}

/// What the server answers to one `POST /v1/responses`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Plan {
    /// A `200 text/event-stream` response.
    Stream(Vec<Step>),
    /// A plain JSON error response.
    Error { status: u16, body: Value },
}

/// Builds the plan of `reply` for the `number`-th (1-based) responses request `request`.
pub(crate) fn plan(reply: &Reply, number: u64, request: &Value) -> Plan {
    let response_id = format!("resp_{number}");
    let msg_id = format!("msg_{number}");
    let call_id = format!("call_{number}");
    let input_tokens = approx_tokens(&request.to_string());
    let mut steps = vec![Step::Event(sse::created(&response_id))];
    let output: String = match reply {
        Reply::Text { text } => {
            steps.push(Step::Event(sse::message_done(&msg_id, text)));
            text.clone()
        }
        Reply::Deltas { deltas } => {
            push_deltas(&mut steps, &msg_id, deltas, None);
            deltas.concat()
        }
        Reply::Slow { deltas, delay_ms } => {
            push_deltas(
                &mut steps,
                &msg_id,
                deltas,
                Some(Duration::from_millis(*delay_ms)),
            );
            deltas.concat()
        }
        Reply::Reasoning { summary, text } => {
            let reasoning_id = format!("rs_{number}");
            steps.push(Step::Event(sse::reasoning_added(&reasoning_id)));
            for (index, part) in summary.iter().enumerate() {
                steps.push(Step::Event(sse::reasoning_summary_delta(
                    &reasoning_id,
                    index,
                    part,
                )));
            }
            steps.push(Step::Event(sse::reasoning_done(&reasoning_id, summary)));
            steps.push(Step::Event(sse::message_done(&msg_id, text)));
            format!("{}{text}", summary.concat())
        }
        Reply::Shell {
            cmd,
            escalation_justification,
        } => {
            let mut arguments = json!({"cmd": cmd});
            if let Some(justification) = escalation_justification {
                arguments["sandbox_permissions"] = json!("require_escalated");
                arguments["justification"] = json!(justification);
            }
            function_call(&mut steps, &call_id, "exec_command", &arguments)
        }
        Reply::ApplyPatch { patch } => {
            let arguments = json!({"cmd": Reply::apply_patch_command(patch)});
            function_call(&mut steps, &call_id, "exec_command", &arguments)
        }
        Reply::RequestUserInput { questions } => {
            let arguments = json!({"questions": questions});
            function_call(&mut steps, &call_id, "request_user_input", &arguments)
        }
        Reply::FunctionCall { name, arguments } => {
            function_call(&mut steps, &call_id, name, arguments)
        }
        Reply::McpToolCall {
            server,
            tool,
            arguments,
        } => match mcp_tool_naming(request, server, tool) {
            Some(McpNaming::Namespace(ns)) => {
                steps.push(Step::Event(sse::namespaced_call_done(
                    &call_id, &ns, tool, arguments,
                )));
                arguments.to_string()
            }
            Some(McpNaming::Flat(name)) => function_call(&mut steps, &call_id, &name, arguments),
            None => {
                return failure(format!(
                    "mock model: request #{number} offers no MCP tool `{tool}` of server `{server}` (neither a namespace `mcp__{server}` nor a function `mcp__{server}__{tool}`)"
                ))
            }
        },
        Reply::Echo { prefix } => {
            let text = format!("{prefix}{}", last_user_text(request).unwrap_or_default());
            steps.push(Step::Event(sse::message_done(&msg_id, &text)));
            text
        }
        Reply::Json { value } => {
            let text = value.to_string();
            steps.push(Step::Event(sse::message_done(&msg_id, &text)));
            text
        }
        Reply::JsonFromSchema => {
            let Some(schema) = request.pointer("/text/format/schema") else {
                return failure(format!(
                    "mock model: request #{number} has no text.format.schema, so json_from_schema cannot answer it"
                ));
            };
            let value = match instance_from_schema(schema) {
                Ok(value) => value,
                Err(err) => return failure(format!("{err} (request #{number})")),
            };
            let text = value.to_string();
            steps.push(Step::Event(sse::message_done(&msg_id, &text)));
            text
        }
        Reply::Stall { prefix_deltas } => {
            steps.push(Step::Event(sse::message_added(&msg_id)));
            for delta in prefix_deltas {
                steps.push(Step::Event(sse::text_delta(&msg_id, delta)));
            }
            steps.push(Step::Stall);
            let text = prefix_deltas.concat();
            steps.push(Step::Event(sse::message_done(&msg_id, &text)));
            text
        }
        Reply::HttpError { status, .. } if !(400..=599).contains(status) => {
            return failure(format!(
                "mock model: reply for request #{number} is an http_error with status {status}; expected 400..=599"
            ));
        }
        Reply::HttpError { status, body } => {
            let body = body.clone().unwrap_or_else(|| {
                sse::error_body(
                    &format!("mock model: scripted HTTP {status}"),
                    "mock_http_error",
                )
            });
            return Plan::Error {
                status: *status,
                body,
            };
        }
    };
    steps.push(Step::Event(sse::completed(
        &response_id,
        input_tokens,
        approx_tokens(&output),
    )));
    Plan::Stream(steps)
}

fn push_deltas(steps: &mut Vec<Step>, msg_id: &str, deltas: &[String], delay: Option<Duration>) {
    steps.push(Step::Event(sse::message_added(msg_id)));
    for delta in deltas {
        if let Some(delay) = delay {
            steps.push(Step::Sleep(delay));
        }
        steps.push(Step::Event(sse::text_delta(msg_id, delta)));
    }
    steps.push(Step::Event(sse::message_done(msg_id, &deltas.concat())));
}

fn function_call(steps: &mut Vec<Step>, call_id: &str, name: &str, arguments: &Value) -> String {
    steps.push(Step::Event(sse::function_call_done(
        call_id, name, arguments,
    )));
    arguments.to_string()
}

/// How a request offers an MCP tool to the model.
#[derive(Debug, PartialEq)]
enum McpNaming {
    /// Inside the `namespace` tool of this name.
    Namespace(String),
    /// As the function of this name.
    Flat(String),
}

fn mcp_tool_naming(request: &Value, server: &str, tool: &str) -> Option<McpNaming> {
    let tools = request.get("tools")?.as_array()?;
    let namespace = format!("mcp__{server}");
    let flat = format!("mcp__{server}__{tool}");
    let name_of = |t: &Value| t.get("name").and_then(Value::as_str).map(str::to_owned);
    tools.iter().find_map(|t| {
        let name = name_of(t)?;
        match t.get("type").and_then(Value::as_str) {
            Some("namespace") if name == namespace => {
                let inner = t.get("tools")?.as_array()?;
                inner
                    .iter()
                    .any(|i| name_of(i).as_deref() == Some(tool))
                    .then(|| McpNaming::Namespace(namespace.clone()))
            }
            _ if name == flat => Some(McpNaming::Flat(flat.clone())),
            _ => None,
        }
    })
}

fn failure(message: String) -> Plan {
    tracing::warn!("{message}");
    Plan::Error {
        status: 500,
        body: sse::error_body(&message, "mock_model_error"),
    }
}

/// A rough token count (4 bytes a token, at least 1) so usage numbers look plausible.
fn approx_tokens(text: &str) -> u64 {
    (text.len() as u64).div_ceil(4).max(1)
}

/// The text of the last `user` message in the request's `input`.
fn last_user_text(request: &Value) -> Option<String> {
    let items = request.get("input")?.as_array()?;
    items.iter().rev().find_map(|item| {
        if item.get("role")?.as_str()? != "user" {
            return None;
        }
        let content = item.get("content")?.as_array()?;
        let text: Vec<&str> = content
            .iter()
            .filter_map(|c| c.get("text").and_then(Value::as_str))
            .collect();
        (!text.is_empty()).then(|| text.join(""))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_mcp_call_follows_the_naming_the_request_offers() {
        let namespaced = json!({"tools": [{"type": "namespace", "name": "mcp__s",
            "tools": [{"type": "function", "name": "t"}]}]});
        assert_eq!(
            mcp_tool_naming(&namespaced, "s", "t"),
            Some(McpNaming::Namespace("mcp__s".into()))
        );
        let flat = json!({"tools": [{"type": "function", "name": "mcp__s__t"}]});
        assert_eq!(
            mcp_tool_naming(&flat, "s", "t"),
            Some(McpNaming::Flat("mcp__s__t".into()))
        );
        assert_eq!(mcp_tool_naming(&flat, "s", "other"), None);
        let reply = Reply::mcp_tool_call("s", "t", json!({"a": 1}));
        let Plan::Stream(steps) = plan(&reply, 1, &namespaced) else {
            panic!("a stream");
        };
        let call = steps.iter().find_map(|s| match s {
            Step::Event(e) if e["item"]["type"] == "function_call" => Some(e["item"].clone()),
            _ => None,
        });
        let call = call.expect("a function call");
        assert_eq!(
            (call["namespace"].as_str(), call["name"].as_str()),
            (Some("mcp__s"), Some("t"))
        );
        assert!(matches!(
            plan(&reply, 1, &json!({})),
            Plan::Error { status: 500, .. }
        ));
    }
}
