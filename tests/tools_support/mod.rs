//! Shared by the `tools_*` tests: a tool that records its calls, the function name codex gives
//! it, and helpers to read the mock model's requests.

#![allow(dead_code)]

use codex_runtime::tools::{Tool, ToolError, ToolOutput};
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// The arguments of the test tool.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, schemars::JsonSchema)]
pub struct Lookup {
    /// The ticket id.
    pub id: String,
    /// How many lines of history.
    pub lines: u32,
}

/// Every call the tool got, decoded.
pub type Calls = Arc<Mutex<Vec<Lookup>>>;

/// `lookup_ticket`: records its arguments and answers `ticket <id> is open (<lines> lines)`.
pub fn lookup_tool() -> (Tool, Calls) {
    let calls: Calls = Arc::default();
    let seen = calls.clone();
    let tool = Tool::new(
        "lookup_ticket",
        "Look up a ticket by id",
        move |args: Lookup| {
            let seen = seen.clone();
            async move {
                let text = format!("ticket {} is open ({} lines)", args.id, args.lines);
                seen.lock().expect("not poisoned").push(args);
                Ok::<_, ToolError>(ToolOutput::text(text))
            }
        },
    );
    (tool, calls)
}

/// The `function_call_output` items of a responses request body.
pub fn call_outputs(body: &Value) -> Vec<Value> {
    codex_test_support::codex_mock_model::input_items_of_type(body, "function_call_output")
        .into_iter()
        .cloned()
        .collect()
}

/// The text of the `function_call_output` items of a request, joined.
pub fn call_output_text(body: &Value) -> String {
    call_outputs(body)
        .iter()
        .map(|o| o["output"].to_string())
        .collect::<Vec<_>>()
        .join("\n")
}
