//! Server→client requests: every one is answered.
//!
//! A request goes to the handler registered for its thread, else to the global handler. With no
//! handler, or when the handler does not answer within its timeout, a **fail-closed** default
//! applies: approvals are declined (`decline` / `denied`, elicitations `decline`, permission
//! requests grant nothing) and every other request gets a JSON-RPC error. Handlers run on their
//! own tasks, off the reader, so a slow handler on one thread delays no other thread.

use super::message::RpcErrorObject;
use codex_runtime_protocol::{RequestId, ServerRequest};
use futures::future::BoxFuture;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// A server request as handed to a handler.
#[derive(Debug, Clone)]
pub struct IncomingServerRequest {
    /// The request id (integers from 0, per connection).
    pub id: RequestId,
    /// The method, e.g. `item/commandExecution/requestApproval`.
    pub method: String,
    /// The typed request (`ServerRequest::Unknown` for methods this SDK does not know).
    pub request: ServerRequest,
    /// The raw params.
    pub params: Value,
}

impl IncomingServerRequest {
    /// The thread the request belongs to, when it names one.
    pub fn thread_id(&self) -> Option<&str> {
        self.params.get("threadId").and_then(Value::as_str)
    }
}

/// A handler's answer.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ServerRequestReply {
    /// Reply with this result object.
    Result(Value),
    /// Reply with this JSON-RPC error.
    Error(RpcErrorObject),
    /// Apply the fail-closed default (decline approvals, error otherwise).
    Decline,
    /// Cancel: approvals answer `cancel` (the turn ends `interrupted`); others get an error.
    Cancel,
}

/// What to do when a handler does not answer in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TimeoutAction {
    /// The fail-closed default (decline).
    #[default]
    Decline,
    /// Cancel (approvals end the turn as interrupted).
    Cancel,
    /// A JSON-RPC error.
    Error,
}

/// Answers server requests. Implemented for async closures
/// `Fn(IncomingServerRequest) -> impl Future<Output = ServerRequestReply>`.
pub trait ServerRequestHandler: Send + Sync + 'static {
    /// Produces the reply for one request.
    fn handle(&self, request: IncomingServerRequest) -> BoxFuture<'static, ServerRequestReply>;
}

impl<F, Fut> ServerRequestHandler for F
where
    F: Fn(IncomingServerRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ServerRequestReply> + Send + 'static,
{
    fn handle(&self, request: IncomingServerRequest) -> BoxFuture<'static, ServerRequestReply> {
        Box::pin(self(request))
    }
}

/// The JSON-RPC error code used for requests nobody handled.
pub const UNHANDLED_CODE: i64 = -32000;

fn is_approval(method: &str) -> bool {
    matches!(
        method,
        "item/commandExecution/requestApproval"
            | "item/fileChange/requestApproval"
            | "execCommandApproval"
            | "applyPatchApproval"
            | "item/permissions/requestApproval"
            | "mcpServer/elicitation/request"
    )
}

/// The fail-closed answer for `method`.
pub fn decline_reply(method: &str) -> Result<Value, RpcErrorObject> {
    match method {
        "item/commandExecution/requestApproval" | "item/fileChange/requestApproval" => {
            Ok(json!({"decision": "decline"}))
        }
        "execCommandApproval" | "applyPatchApproval" => Ok(json!({"decision": "denied"})),
        "mcpServer/elicitation/request" => Ok(json!({"action": "decline"})),
        "item/permissions/requestApproval" => Ok(json!({"permissions": {}})),
        _ => Err(RpcErrorObject {
            code: UNHANDLED_CODE,
            message: format!("codex-runtime: no handler answered `{method}` (fail-closed)"),
            data: None,
        }),
    }
}

/// The cancel answer for `method`.
pub fn cancel_reply(method: &str) -> Result<Value, RpcErrorObject> {
    match method {
        "item/commandExecution/requestApproval" | "item/fileChange/requestApproval" => {
            Ok(json!({"decision": "cancel"}))
        }
        "execCommandApproval" | "applyPatchApproval" => Ok(json!({"decision": "abort"})),
        "mcpServer/elicitation/request" => Ok(json!({"action": "cancel"})),
        _ => Err(RpcErrorObject {
            code: UNHANDLED_CODE,
            message: format!("codex-runtime: `{method}` was cancelled"),
            data: None,
        }),
    }
}

fn timeout_reply(
    method: &str,
    action: TimeoutAction,
    after: Duration,
) -> Result<Value, RpcErrorObject> {
    match action {
        TimeoutAction::Decline => decline_reply(method),
        TimeoutAction::Cancel => cancel_reply(method),
        TimeoutAction::Error => Err(RpcErrorObject {
            code: UNHANDLED_CODE,
            message: format!("codex-runtime: handler for `{method}` timed out after {after:?}"),
            data: None,
        }),
    }
}

/// Registered handlers and the timeout policy.
pub(crate) struct HandlerRegistry {
    global: RwLock<Option<Arc<dyn ServerRequestHandler>>>,
    threads: RwLock<HashMap<String, Arc<dyn ServerRequestHandler>>>,
    pub timeout: Duration,
    pub timeout_action: TimeoutAction,
}

impl std::fmt::Debug for HandlerRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandlerRegistry")
            .field("timeout", &self.timeout)
            .field("timeout_action", &self.timeout_action)
            .finish_non_exhaustive()
    }
}

/// How a request was answered (for metrics and logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answered {
    ByHandler,
    Defaulted,
}

impl HandlerRegistry {
    pub fn new(timeout: Duration, timeout_action: TimeoutAction) -> Self {
        HandlerRegistry {
            global: RwLock::new(None),
            threads: RwLock::new(HashMap::new()),
            timeout,
            timeout_action,
        }
    }

    pub fn set_global(&self, handler: Option<Arc<dyn ServerRequestHandler>>) {
        if let Ok(mut g) = self.global.write() {
            *g = handler;
        }
    }

    pub fn set_thread(&self, thread_id: &str, handler: Option<Arc<dyn ServerRequestHandler>>) {
        if let Ok(mut t) = self.threads.write() {
            match handler {
                Some(h) => {
                    t.insert(thread_id.to_string(), h);
                }
                None => {
                    t.remove(thread_id);
                }
            }
        }
    }

    fn lookup(&self, thread_id: Option<&str>) -> Option<Arc<dyn ServerRequestHandler>> {
        if let Some(t) = thread_id {
            if let Some(h) = self.threads.read().ok().and_then(|m| m.get(t).cloned()) {
                return Some(h);
            }
        }
        self.global.read().ok().and_then(|g| g.clone())
    }

    /// Computes the reply for one request (never fails, never hangs past the timeout).
    pub async fn answer(
        &self,
        req: IncomingServerRequest,
    ) -> (Result<Value, RpcErrorObject>, Answered) {
        let method = req.method.clone();
        let Some(handler) = self.lookup(req.thread_id()) else {
            tracing::debug!(%method, "no handler registered: fail-closed default");
            return (decline_reply(&method), Answered::Defaulted);
        };
        match tokio::time::timeout(self.timeout, handler.handle(req)).await {
            Ok(ServerRequestReply::Result(v)) => (Ok(v), Answered::ByHandler),
            Ok(ServerRequestReply::Error(e)) => (Err(e), Answered::ByHandler),
            Ok(ServerRequestReply::Decline) => (decline_reply(&method), Answered::ByHandler),
            Ok(ServerRequestReply::Cancel) => (cancel_reply(&method), Answered::ByHandler),
            Err(_) => {
                tracing::warn!(%method, timeout = ?self.timeout, action = ?self.timeout_action, "server request handler timed out");
                (
                    timeout_reply(&method, self.timeout_action, self.timeout),
                    Answered::Defaulted,
                )
            }
        }
    }
}

/// True when `method` is an approval-style request (answered by a decision, not an error).
pub fn is_approval_method(method: &str) -> bool {
    is_approval(method)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, thread: &str) -> IncomingServerRequest {
        let params = json!({"threadId": thread, "turnId": "t", "itemId": "i"});
        let raw = serde_json::value::to_raw_value(&params).unwrap();
        IncomingServerRequest {
            id: RequestId::Integer(0),
            method: method.into(),
            request: ServerRequest::decode(method, &raw).unwrap_or_else(|_| {
                ServerRequest::Unknown {
                    method: method.into(),
                    params: params.clone(),
                }
            }),
            params,
        }
    }

    #[tokio::test]
    async fn no_handler_declines_approvals_and_errors_others() {
        let reg = HandlerRegistry::new(Duration::from_secs(1), TimeoutAction::Decline);
        let (r, how) = reg
            .answer(req("item/commandExecution/requestApproval", "A"))
            .await;
        assert_eq!(r.unwrap(), json!({"decision": "decline"}));
        assert_eq!(how, Answered::Defaulted);
        let (r, _) = reg
            .answer(req("item/fileChange/requestApproval", "A"))
            .await;
        assert_eq!(r.unwrap(), json!({"decision": "decline"}));
        let (r, _) = reg.answer(req("item/tool/requestUserInput", "A")).await;
        assert_eq!(r.unwrap_err().code, UNHANDLED_CODE);
    }

    #[tokio::test(start_paused = true)]
    async fn slow_handler_gets_the_timeout_action() {
        for (action, expected) in [
            (TimeoutAction::Decline, Ok(json!({"decision": "decline"}))),
            (TimeoutAction::Cancel, Ok(json!({"decision": "cancel"}))),
        ] {
            let reg = HandlerRegistry::new(Duration::from_secs(2), action);
            reg.set_global(Some(Arc::new(|_r: IncomingServerRequest| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                ServerRequestReply::Result(json!({"decision": "accept"}))
            })));
            let (r, how) = reg
                .answer(req("item/commandExecution/requestApproval", "A"))
                .await;
            assert_eq!(r, expected);
            assert_eq!(how, Answered::Defaulted);
        }
        let reg = HandlerRegistry::new(Duration::from_secs(2), TimeoutAction::Error);
        reg.set_global(Some(Arc::new(|_r: IncomingServerRequest| async {
            std::future::pending::<ServerRequestReply>().await
        })));
        let (r, _) = reg
            .answer(req("item/commandExecution/requestApproval", "A"))
            .await;
        assert!(r.unwrap_err().message.contains("timed out"));
    }

    #[tokio::test]
    async fn thread_handler_wins_over_global() {
        let reg = HandlerRegistry::new(Duration::from_secs(1), TimeoutAction::Decline);
        reg.set_global(Some(Arc::new(|_r: IncomingServerRequest| async {
            ServerRequestReply::Result(json!({"decision": "decline"}))
        })));
        reg.set_thread(
            "A",
            Some(Arc::new(|_r: IncomingServerRequest| async {
                ServerRequestReply::Result(json!({"decision": "accept"}))
            })),
        );
        let (a, _) = reg
            .answer(req("item/commandExecution/requestApproval", "A"))
            .await;
        let (b, _) = reg
            .answer(req("item/commandExecution/requestApproval", "B"))
            .await;
        assert_eq!(a.unwrap(), json!({"decision": "accept"}));
        assert_eq!(b.unwrap(), json!({"decision": "decline"}));
    }
}
