//! Server→client requests: every one is answered.
//!
//! A request goes to the handler registered for its thread, else to the global handler. With no
//! handler, or when the handler does not answer within its timeout, a **fail-closed** default
//! applies: approvals are declined (`decline` / `denied`, elicitations `decline`, permission
//! requests grant nothing) and every other request gets a JSON-RPC error. Handlers run on their
//! own tasks, off the reader, so a slow handler on one thread delays no other thread.
//!
//! A handler that **panics** (while creating its future or while it runs) fails closed the same
//! way: the request gets the fail-closed default, [`ServerRequestHandler::on_panic`] is told, a
//! `tracing` error is logged and the runtime reports a
//! [`ProtocolIssueKind::HandlerPanicked`](super::connection::ProtocolIssueKind::HandlerPanicked) issue.

use super::message::RpcErrorObject;
use codex_runtime_protocol::{RequestId, ServerRequest};
use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::{json, Value};
use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
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

    /// Told when [`handle`](Self::handle) panicked (creating or polling its future) for a
    /// request of `method` with `params`; the request was answered fail-closed. `message` is
    /// the panic's message. The default does nothing; a panic here is caught and logged.
    fn on_panic(&self, method: &str, params: &Value, message: &str) {
        let _ = (method, params, message);
    }
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answered {
    ByHandler,
    Defaulted,
    /// The handler panicked with this message; the fail-closed default went back.
    Panicked(String),
}

/// The message of a panic payload (`panic!("…")` carries a `&str` or a `String`).
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panicked with a non-string payload".to_string()
    }
}

/// Calls `make` and awaits its future, catching a panic in either; `Err` holds the panic's
/// message.
pub(crate) async fn catch_panic<T>(
    make: impl FnOnce() -> BoxFuture<'static, T>,
) -> std::result::Result<T, String> {
    let future =
        std::panic::catch_unwind(AssertUnwindSafe(make)).map_err(|p| panic_message(p.as_ref()))?;
    AssertUnwindSafe(future)
        .catch_unwind()
        .await
        .map_err(|p| panic_message(p.as_ref()))
}

/// The fail-closed answer to a request whose handler panicked: the decline of approvals, an
/// error naming the panic (not its message, which stays local) for everything else.
pub fn panic_reply(method: &str) -> Result<Value, RpcErrorObject> {
    if is_approval(method) {
        return decline_reply(method);
    }
    Err(RpcErrorObject {
        code: UNHANDLED_CODE,
        message: format!("codex-runtime: the handler for `{method}` panicked (fail-closed)"),
        data: None,
    })
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

    /// Computes the reply for one request (never fails, never hangs past the timeout, never
    /// unwinds: a panicking handler gets the fail-closed default).
    pub async fn answer(
        &self,
        req: IncomingServerRequest,
    ) -> (Result<Value, RpcErrorObject>, Answered) {
        let method = req.method.clone();
        let Some(handler) = self.lookup(req.thread_id()) else {
            tracing::debug!(%method, "no handler registered: fail-closed default");
            return (decline_reply(&method), Answered::Defaulted);
        };
        let params = req.params.clone();
        let call = catch_panic(|| handler.handle(req));
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(ServerRequestReply::Result(v))) => (Ok(v), Answered::ByHandler),
            Ok(Ok(ServerRequestReply::Error(e))) => (Err(e), Answered::ByHandler),
            Ok(Ok(ServerRequestReply::Decline)) => (decline_reply(&method), Answered::ByHandler),
            Ok(Ok(ServerRequestReply::Cancel)) => (cancel_reply(&method), Answered::ByHandler),
            Ok(Err(message)) => {
                tracing::error!(%method, "server request handler panicked: {message}; answered fail-closed");
                let told = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    handler.on_panic(&method, &params, &message)
                }));
                if let Err(p) = told {
                    tracing::error!(%method, "on_panic panicked too: {}", panic_message(p.as_ref()));
                }
                (panic_reply(&method), Answered::Panicked(message))
            }
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

    /// Panics in `handle` itself (before a future exists) or in its future.
    struct Panicking {
        in_call: bool,
        told: std::sync::Mutex<Vec<(String, String)>>,
    }

    impl ServerRequestHandler for Panicking {
        fn handle(&self, _r: IncomingServerRequest) -> BoxFuture<'static, ServerRequestReply> {
            if self.in_call {
                panic!("boom in the call");
            }
            Box::pin(async { panic!("boom in the future") })
        }
        fn on_panic(&self, method: &str, _params: &Value, message: &str) {
            self.told
                .lock()
                .unwrap()
                .push((method.to_string(), message.to_string()));
        }
    }

    #[tokio::test]
    async fn a_panicking_handler_gets_the_fail_closed_answer_and_is_told() {
        for in_call in [true, false] {
            let reg = HandlerRegistry::new(Duration::from_secs(5), TimeoutAction::Decline);
            let handler = Arc::new(Panicking {
                in_call,
                told: Default::default(),
            });
            reg.set_global(Some(handler.clone()));
            let expected = if in_call {
                "boom in the call"
            } else {
                "boom in the future"
            };
            for method in [
                "item/commandExecution/requestApproval",
                "item/fileChange/requestApproval",
            ] {
                let (r, how) = reg.answer(req(method, "A")).await;
                assert_eq!(r.unwrap(), json!({"decision": "decline"}), "{method}");
                assert_eq!(how, Answered::Panicked(expected.to_string()));
            }
            let (r, how) = reg.answer(req("item/tool/call", "A")).await;
            let e = r.unwrap_err();
            assert_eq!(e.code, UNHANDLED_CODE);
            assert!(e.message.contains("panicked"), "{e:?}");
            assert!(
                !e.message.contains("boom"),
                "the panic message stays local: {e:?}"
            );
            assert!(matches!(how, Answered::Panicked(_)));
            let told = handler.told.lock().unwrap().clone();
            assert_eq!(told.len(), 3, "{told:?}");
            assert_eq!(told[0].0, "item/commandExecution/requestApproval");
            assert_eq!(
                told[2],
                ("item/tool/call".to_string(), expected.to_string())
            );
        }
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
