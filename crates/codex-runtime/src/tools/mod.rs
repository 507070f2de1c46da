//! Tools written in Rust (cargo feature `tools`): typed functions the model can call.
//!
//! ```no_run
//! use codex_runtime::runtime::{Client, ClientConfig, SessionConfig};
//! use codex_runtime::tools::{Tool, ToolError, ToolOutput};
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct Lookup {
//!     /// The ticket id.
//!     id: String,
//! }
//!
//! # async fn run() -> codex_runtime::Result<()> {
//! let tool = Tool::new("lookup_ticket", "Look up a ticket by id", |args: Lookup| async move {
//!     Ok::<_, ToolError>(ToolOutput::text(format!("ticket {} is open", args.id)))
//! });
//! let client = Client::connect(ClientConfig::new()).await?;
//! let session = client.start_session(SessionConfig::new(".").with_tool(tool)).await?;
//! let out = session.ask("What is the state of ABC-123?").await?; // the model calls the tool
//! # Ok(()) }
//! ```
//!
//! # How the tools reach codex
//! Every codex of the supported window speaks MCP, so each session that has tools gets its own
//! embedded MCP server ([`rmcp`], streamable HTTP on `127.0.0.1:0`, a random 256-bit bearer
//! token). It is registered for that thread only, through the `config` of `thread/start` (and
//! `thread/resume` after an app-server restart): `mcp_servers.codex_runtime.url` plus an
//! `Authorization` header. The model sees a tool `t` as the function `mcp__codex_runtime__t`,
//! and the call shows up in the turn as an `mcpToolCall` item (server `codex_runtime`, tool
//! `t`). The experimental `dynamicTools` path is not used.
//!
//! # Rules, as for codex's own tools
//! - `PreToolUse` hooks run before the tool, with the tool name `mcp__codex_runtime__<tool>`
//!   and the raw arguments; a block is returned to the model as a refusal and the tool does
//!   not run. `PostToolUse` hooks run on the completed `mcpToolCall` item.
//! - Arguments that do not decode, a tool that returns [`ToolError`], panics, or passes its
//!   timeout ([`Tool::with_timeout`], default 60 s): each is an error result (`isError`) for
//!   the model, and the turn goes on.
//!
//! # Lifetime
//! The server stops with [`Session::close`](crate::runtime::Session::close), when the last
//! clone of the session is dropped, or when the client shuts down; its port then refuses
//! connections. Two sessions never share a server, a port or a token.
//!
//! Module layout: `tool` ([`Tool`]), `output` ([`ToolOutput`], [`ToolError`]), `args`
//! (decoding with the field named), `call` (one call: hooks, timeout, panics), `mcp` (the rmcp
//! handler), `server` ([`ToolEndpoint`], the HTTP server and the thread config).

mod args;
mod call;
mod mcp;
mod output;
mod server;
mod tool;

pub use output::{ToolError, ToolOutput};
pub use server::{ToolEndpoint, TOOLS_SERVER_NAME};
pub use tool::{Tool, DEFAULT_TOOL_TIMEOUT};

pub(crate) use call::{CallEnv, SessionLink};
pub(crate) use server::ToolServer;

use crate::error::{Error, Result};
use crate::plugin::Hooks;
use std::path::Path;

/// The model-facing function name of a tool (`mcp__codex_runtime__<tool>`), for scripting the
/// mock model or matching hooks.
pub fn function_name(tool: &str) -> String {
    format!("mcp__{TOOLS_SERVER_NAME}__{tool}")
}

/// Checks that codex can take `tools`: valid names, object arguments, no name twice.
pub(crate) fn validate(tools: &[Tool]) -> Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    for t in tools {
        if let Some(p) = t.problem() {
            return Err(Error::Config(p));
        }
        if !seen.insert(t.name()) {
            return Err(Error::Config(format!(
                "tool `{}` is given twice; tool names must be unique in a session",
                t.name()
            )));
        }
    }
    Ok(())
}

/// Starts the MCP server for a session's `tools` (none when there are no tools).
pub(crate) async fn serve(tools: &[Tool], hooks: &Hooks, cwd: &Path) -> Result<Option<ToolServer>> {
    if tools.is_empty() {
        return Ok(None);
    }
    validate(tools)?;
    let env = CallEnv {
        hooks: hooks.clone(),
        cwd: cwd.to_path_buf(),
        link: std::sync::OnceLock::new(),
    };
    ToolServer::start(tools.to_vec(), env).await.map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct A {
        #[allow(dead_code)]
        x: u8,
    }

    fn t(name: &str) -> Tool {
        Tool::new(name, "d", |_: A| async {
            Ok::<_, ToolError>(ToolOutput::text(""))
        })
    }

    #[test]
    fn duplicate_and_invalid_tools_are_config_errors() {
        assert!(validate(&[t("a"), t("b")]).is_ok());
        let e = validate(&[t("a"), t("a")]).unwrap_err().to_string();
        assert!(e.contains("`a` is given twice"), "{e}");
        assert!(matches!(validate(&[t("a b")]), Err(Error::Config(_))));
    }

    #[test]
    fn function_names_carry_the_server_name() {
        assert_eq!(function_name("lookup"), "mcp__codex_runtime__lookup");
    }
}
