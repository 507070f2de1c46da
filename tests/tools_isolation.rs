//! Each session's tools are its own: two concurrent sessions with different tools each list
//! only theirs (`tools/list` on each session's MCP server, over raw HTTP), a request without
//! the session's bearer token is refused, and after `close()` the server's port refuses
//! connections.

mod tools_support;

use codex_mock_model::{Reply, Scenario};
use codex_runtime::runtime::Client;
use codex_runtime::tools::{Tool, ToolEndpoint, ToolError, ToolOutput};
use codex_test_support::CodexTestEnv;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use tools_support::Lookup;

fn named(name: &str) -> Tool {
    Tool::new(name, "A test tool", |_: Lookup| async {
        Ok::<_, ToolError>(ToolOutput::text("ok"))
    })
}

/// The JSON-RPC messages of a streamable-HTTP response (an SSE stream or a JSON body).
fn messages(content_type: &str, body: &str) -> Vec<Value> {
    if content_type.starts_with("application/json") {
        return serde_json::from_str(body).into_iter().collect();
    }
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str(d.trim()).ok())
        .collect()
}

/// POSTs one JSON-RPC message; returns the status, the session id header and the messages.
async fn post(
    http: &reqwest::Client,
    endpoint: &ToolEndpoint,
    token: Option<&str>,
    session: Option<&str>,
    body: Value,
) -> (u16, Option<String>, Vec<Value>) {
    let mut req = http
        .post(endpoint.url())
        .header("Accept", "application/json, text/event-stream")
        .header("Content-Type", "application/json")
        .json(&body);
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    if let Some(s) = session {
        req = req
            .header("Mcp-Session-Id", s)
            .header("MCP-Protocol-Version", "2025-06-18");
    }
    let resp = req.send().await.expect("the server answers");
    let status = resp.status().as_u16();
    let sid = resp
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    // An SSE response stays open after the reply in some modes: read until the reply arrives.
    let mut body = String::new();
    let mut stream = resp;
    while let Ok(Some(chunk)) = stream.chunk().await {
        body.push_str(&String::from_utf8_lossy(&chunk));
        if !messages(&ct, &body).is_empty() {
            break;
        }
    }
    (status, sid, messages(&ct, &body))
}

/// The tool names the MCP server at `endpoint` lists.
async fn list_tools(http: &reqwest::Client, endpoint: &ToolEndpoint) -> Vec<String> {
    let token = endpoint.bearer_token().expose_secret().to_owned();
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"}}});
    let (status, sid, msgs) = post(http, endpoint, Some(&token), None, init).await;
    assert_eq!(status, 200, "{msgs:?}");
    assert!(
        msgs[0]["result"]["capabilities"]["tools"].is_object(),
        "{msgs:?}"
    );
    let sid = sid.as_deref();
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let (status, _, _) = post(http, endpoint, Some(&token), sid, note).await;
    assert!((200..300).contains(&status), "{status}");
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}});
    let (status, _, msgs) = post(http, endpoint, Some(&token), sid, list).await;
    assert_eq!(status, 200, "{msgs:?}");
    let tools = msgs[0]["result"]["tools"].as_array().expect("a tool list");
    tools
        .iter()
        .map(|t| t["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn two_sessions_each_see_only_their_own_tools_and_close_frees_the_port() {
    let env = CodexTestEnv::start(Scenario::new([Reply::text("unused")]))
        .await
        .unwrap();
    let client = Client::connect(env.client_config()).await.unwrap();
    let (a, b) = tokio::join!(
        client.start_session(env.session_config().with_tool(named("alpha"))),
        client.start_session(
            env.session_config()
                .with_tools([named("beta"), named("gamma")])
        ),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let (ea, eb) = (a.tool_endpoint().unwrap(), b.tool_endpoint().unwrap());
    assert_ne!(ea.url(), eb.url(), "one server per session");
    assert_ne!(
        ea.bearer_token().expose_secret(),
        eb.bearer_token().expose_secret(),
        "one token per session"
    );
    assert!(!format!("{ea:?}").contains(ea.bearer_token().expose_secret()));
    // reqwest is built with `rustls-no-provider` in this workspace (codex-flow's HTTP client).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let (la, lb) = tokio::join!(list_tools(&http, ea), list_tools(&http, eb));
    assert_eq!(la, ["alpha"]);
    assert_eq!(lb, ["beta", "gamma"]);

    // Another session's token, or none, is refused.
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"}}});
    let other = eb.bearer_token().expose_secret().to_owned();
    let (status, _, _) = post(&http, ea, Some(&other), None, init.clone()).await;
    assert_eq!(status, 401);
    let (status, _, _) = post(&http, ea, None, None, init).await;
    assert_eq!(status, 401);

    let addr = ea
        .url()
        .trim_start_matches("http://")
        .trim_end_matches("/mcp")
        .to_owned();
    assert!(tokio::net::TcpStream::connect(&addr).await.is_ok());
    // codex 0.150 cannot archive a thread without a turn ("no rollout found"); the server
    // stops whatever the archive answers.
    let _ = a.close().await;
    let refused = tokio::net::TcpStream::connect(&addr).await;
    assert!(
        refused.is_err(),
        "the port of a closed session's server refuses connections"
    );
    // The other session's server is untouched.
    assert_eq!(list_tools(&http, eb).await, ["beta", "gamma"]);

    // The client's shutdown stops the servers of the sessions still open. The stop runs on the
    // server's own task when the runtime signals its shutdown, and no event of it is public, so
    // this polls the port (up to 5 s; the listener closes at once in practice).
    let addr_b = eb
        .url()
        .trim_start_matches("http://")
        .trim_end_matches("/mcp")
        .to_owned();
    client.shutdown().await.unwrap();
    let mut refused = false;
    for _ in 0..250 {
        if tokio::net::TcpStream::connect(&addr_b).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(refused, "the client's shutdown stops the session's server");
    drop(b);
    env.assert_no_leftover_processes().await;
}
