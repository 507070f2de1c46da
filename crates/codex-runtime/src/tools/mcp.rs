//! The rmcp [`ServerHandler`] of one session's tools: `tools/list` and `tools/call`.

use super::call::{self, CallEnv};
use super::tool::Tool;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::Value;
use std::sync::Arc;

/// One session's tools as an MCP server. Cheap to clone (one per MCP connection).
#[derive(Clone)]
pub(crate) struct McpTools {
    shared: Arc<Shared>,
}

struct Shared {
    server_name: String,
    tools: Vec<Tool>,
    listed: Vec<rmcp::model::Tool>,
    env: Arc<CallEnv>,
}

impl McpTools {
    pub(crate) fn new(server_name: &str, tools: Vec<Tool>, env: Arc<CallEnv>) -> Self {
        let listed = tools
            .iter()
            .map(|t| {
                let schema = t.input_schema().cloned().unwrap_or_default();
                rmcp::model::Tool::new(t.name().to_string(), t.description().to_string(), schema)
            })
            .collect();
        McpTools {
            shared: Arc::new(Shared {
                server_name: server_name.to_string(),
                tools,
                listed,
                env,
            }),
        }
    }
}

fn text_result(text: String, is_error: bool) -> CallToolResult {
    let content = vec![ContentBlock::text(text)];
    if is_error {
        CallToolResult::error(content)
    } else {
        CallToolResult::success(content)
    }
}

impl ServerHandler for McpTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build()).with_server_info(
            Implementation::new("codex-runtime-tools", env!("CARGO_PKG_VERSION")),
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.shared.listed.clone()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let s = &self.shared;
        let Some(tool) = s.tools.iter().find(|t| t.name() == request.name) else {
            let msg = format!("unknown tool `{}`", request.name);
            return Ok(text_result(msg, true).into());
        };
        let args = Value::Object(request.arguments.unwrap_or_default());
        let qualified = format!("mcp__{}__{}", s.server_name, tool.name());
        let result = match call::run(tool, &qualified, args, &s.env).await {
            Ok(out) => {
                let mut r = text_result(out.model_text(), false);
                r.structured_content = out.json_part().cloned();
                r
            }
            Err(message) => text_result(message, true),
        };
        Ok(result.into())
    }
}
