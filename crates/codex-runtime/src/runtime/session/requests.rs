//! Answers to the server requests of one session's thread: `PreToolUse` hooks, the
//! escalation gate, then the approval handler with its timeout.
//!
//! # The escalation gate
//! Without [`crate::runtime::SessionConfig::allow_privileged_escalation`], a request that may let
//! a command or patch leave the sandbox is declined before any hook-allow or handler sees it.
//! The gate reads the policy in effect for the turn (a `TurnOverrides` approval wins over the
//! session's), see [`command_escalates`]. Under `untrusted`, an escalation without a
//! justification cannot be told from a plain command, so a handler that accepts every command
//! (`Approvals::accept_all`) gets no command approval there at all ([`blind_under_untrusted`]).

use super::{hook_ctx, Inner};
use crate::plugin::HookPhase;
use crate::rpc::{
    IncomingServerRequest, RpcErrorObject, ServerRequestHandler, ServerRequestReply, TimeoutAction,
};
use crate::runtime::approvals::{ApprovalConfig, ApprovalDecision};
use crate::runtime::profile::ApprovalMode;
use crate::runtime::turn::TurnEvent;
use codex_runtime_protocol::{CommandExecutionRequestApprovalParams, ServerRequest};
use futures::future::BoxFuture;
use serde_json::{json, Value};
use std::sync::{Arc, Weak};

/// Answers the server requests of one session's thread: PreToolUse hooks, the escalation
/// gate, then the approval handler with its timeout.
pub(super) struct SessionRequests {
    pub(super) inner: Weak<Inner>,
}

impl ServerRequestHandler for SessionRequests {
    fn handle(&self, request: IncomingServerRequest) -> BoxFuture<'static, ServerRequestReply> {
        let inner = self.inner.upgrade();
        Box::pin(async move {
            let Some(inner) = inner else {
                return ServerRequestReply::Decline;
            };
            let method = request.method.clone();
            let item_id = request
                .params
                .get("itemId")
                .and_then(Value::as_str)
                .map(str::to_string);
            let reply = answer(&inner, request).await;
            let decision = match &reply {
                ServerRequestReply::Result(v) => v.clone(),
                ServerRequestReply::Error(e) => json!({"error": e.message}),
                ServerRequestReply::Decline => json!("decline"),
                ServerRequestReply::Cancel => json!("cancel"),
                #[allow(unreachable_patterns)]
                _ => Value::Null,
            };
            // Never dropped: approvals bypass the stream's capacity (there are at most as many as
            // codex has requests outstanding).
            let queue = inner.stream.lock().ok().and_then(|s| s.clone());
            if let Some(queue) = queue {
                queue.push_approval(TurnEvent::ApprovalRequested {
                    method,
                    item_id,
                    decision,
                });
            }
            reply
        })
    }

    /// A panic in the handler chain (the approval handler, the dynamic-tool handler): the
    /// registry answered fail-closed; the turn's stream hears of it.
    fn on_panic(&self, method: &str, params: &Value, message: &str) {
        let Some(inner) = self.inner.upgrade() else {
            return;
        };
        let item_id = params
            .get("itemId")
            .and_then(Value::as_str)
            .map(str::to_string);
        let decision = match crate::rpc::server_requests::panic_reply(method) {
            Ok(v) => v,
            Err(e) => json!({"error": e.message}),
        };
        let queue = inner.stream.lock().ok().and_then(|s| s.clone());
        if let Some(queue) = queue {
            queue.push_approval(TurnEvent::HandlerPanicked {
                method: method.to_string(),
                item_id: item_id.clone(),
                message: message.to_string(),
            });
            queue.push_approval(TurnEvent::ApprovalRequested {
                method: method.to_string(),
                item_id,
                decision,
            });
        }
    }
}

fn error_reply(message: String) -> ServerRequestReply {
    ServerRequestReply::Error(RpcErrorObject {
        code: crate::rpc::server_requests::UNHANDLED_CODE,
        message,
        data: None,
    })
}

/// The reply for handlers that may have no answer: the serialized answer, or `none`.
fn optional_reply<T: serde::Serialize>(
    answer: std::result::Result<Option<T>, ServerRequestReply>,
    none: ServerRequestReply,
) -> ServerRequestReply {
    match answer {
        Ok(Some(r)) => match serde_json::to_value(r) {
            Ok(v) => ServerRequestReply::Result(v),
            Err(e) => error_reply(format!("cannot encode the handler's answer: {e}")),
        },
        Ok(None) => none,
        Err(timed_out) => timed_out,
    }
}

async fn with_timeout<T>(
    cfg: &ApprovalConfig,
    method: &str,
    fut: BoxFuture<'static, T>,
) -> std::result::Result<T, ServerRequestReply> {
    match tokio::time::timeout(cfg.timeout, fut).await {
        Ok(v) => Ok(v),
        Err(_) => {
            tracing::warn!(%method, timeout = ?cfg.timeout, action = ?cfg.timeout_action, "approval handler timed out");
            Err(match cfg.timeout_action {
                TimeoutAction::Cancel => ServerRequestReply::Cancel,
                TimeoutAction::Error => error_reply(format!(
                    "approval handler for `{method}` timed out after {:?}",
                    cfg.timeout
                )),
                _ => ServerRequestReply::Decline,
            })
        }
    }
}

/// What `PreToolUse` hooks decided about an approval-gated tool request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ToolVerdict {
    /// A hook blocked it: decline.
    Block,
    /// A hook allowed it (`HookPatch` metadata `"decision": "accept"` or
    /// `"acceptForSession"`): approve without asking the handler.
    Allow(ApprovalVerdict),
    /// No opinion: the approval handler decides (fail-closed without one).
    Defer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ApprovalVerdict {
    Once,
    ForSession,
}

/// The metadata key a `PreToolUse` hook sets to allow a request.
const ALLOW_KEY: &str = "decision";

async fn pre_tool_use(inner: &Arc<Inner>, tool: &str, input: Value, turn_id: &str) -> ToolVerdict {
    let mut ctx = hook_ctx(HookPhase::PreToolUse, &inner.config.cwd);
    ctx.thread_id = Some(inner.thread_id.clone());
    ctx.turn_id = Some(turn_id.to_string());
    ctx.tool_name = Some(tool.to_string());
    ctx.tool_input = Some(input);
    let pre = inner.hooks.run_pre(&ctx).await;
    if let Ok(mut v) = inner.issues.lock() {
        v.extend(pre.issues);
    }
    if let Some(b) = &pre.blocked {
        tracing::info!(hook = %b.hook, tool, "PreToolUse hook blocked the request: {}", b.reason);
        return ToolVerdict::Block;
    }
    match pre.patch.metadata.get(ALLOW_KEY).and_then(Value::as_str) {
        Some("accept") => ToolVerdict::Allow(ApprovalVerdict::Once),
        Some("acceptForSession") => ToolVerdict::Allow(ApprovalVerdict::ForSession),
        _ => ToolVerdict::Defer,
    }
}

fn allowed(v: ApprovalVerdict) -> ApprovalDecision {
    match v {
        ApprovalVerdict::Once => ApprovalDecision::Accept,
        ApprovalVerdict::ForSession => ApprovalDecision::AcceptForSession,
    }
}

async fn answer(inner: &Arc<Inner>, request: IncomingServerRequest) -> ServerRequestReply {
    let cfg = &inner.approvals;
    let handler = cfg.handler.clone();
    let method = request.method.clone();
    let decision = |d: ApprovalDecision| {
        ServerRequestReply::Result(json!({"decision": d.to_decision_value()}))
    };
    match request.request {
        ServerRequest::ItemCommandExecutionRequestApproval(p) => {
            let input = json!({"command": p.command, "cwd": p.cwd, "reason": p.reason});
            let verdict = pre_tool_use(inner, "exec_command", input, &p.turn_id).await;
            if verdict == ToolVerdict::Block {
                return decision(ApprovalDecision::Decline);
            }
            let policy = inner.effective_approval();
            if command_escalates(policy, &p) && !inner.config.profile.privileged_escalation {
                tracing::info!(
                    ?policy,
                    "declined a privileged escalation request (allow_privileged_escalation is off)"
                );
                return decision(ApprovalDecision::Decline);
            }
            if let ToolVerdict::Allow(v) = verdict {
                return decision(allowed(v));
            }
            let Some(h) = handler else {
                return ServerRequestReply::Decline;
            };
            if blind_under_untrusted(policy, h.accepts_every_command())
                && !inner.config.profile.privileged_escalation
            {
                tracing::warn!(
                    "declined a command approval under `untrusted`: Approvals::accept_all cannot \
                     tell a plain command from one that asked to leave the sandbox \
                     (allow_privileged_escalation is off)"
                );
                return decision(ApprovalDecision::Decline);
            }
            match with_timeout(cfg, &method, h.command(*p)).await {
                Ok(d) => decision(d),
                Err(r) => r,
            }
        }
        ServerRequest::ItemFileChangeRequestApproval(p) => {
            let input = json!({"itemId": p.item_id, "reason": p.reason, "grantRoot": p.grant_root});
            let verdict = pre_tool_use(inner, "apply_patch", input, &p.turn_id).await;
            if verdict == ToolVerdict::Block {
                return decision(ApprovalDecision::Decline);
            }
            if p.grant_root.is_some() && !inner.config.profile.privileged_escalation {
                return decision(ApprovalDecision::Decline);
            }
            if let ToolVerdict::Allow(v) = verdict {
                return decision(allowed(v));
            }
            let Some(h) = handler else {
                return ServerRequestReply::Decline;
            };
            match with_timeout(cfg, &method, h.file_change(*p)).await {
                Ok(d) => decision(d),
                Err(r) => r,
            }
        }
        ServerRequest::ItemToolRequestUserInput(p) => {
            let Some(h) = handler else {
                return ServerRequestReply::Decline;
            };
            optional_reply(
                with_timeout(cfg, &method, h.user_input(*p)).await,
                error_reply("the user-input handler gave no answer".into()),
            )
        }
        ServerRequest::ItemPermissionsRequestApproval(p) => {
            if !inner.config.profile.privileged_escalation {
                return ServerRequestReply::Decline;
            }
            let Some(h) = handler else {
                return ServerRequestReply::Decline;
            };
            optional_reply(
                with_timeout(cfg, &method, h.permissions(*p)).await,
                ServerRequestReply::Decline,
            )
        }
        ServerRequest::McpServerElicitationRequest(p) => {
            let Some(h) = handler else {
                return ServerRequestReply::Decline;
            };
            match with_timeout(cfg, &method, h.mcp_elicitation(*p)).await {
                Ok((d, content)) => {
                    let mut v = json!({"action": d.to_elicitation_action()});
                    if let Some(c) = content {
                        v["content"] = c;
                    }
                    ServerRequestReply::Result(v)
                }
                Err(r) => r,
            }
        }
        ServerRequest::ItemToolCall(p) => {
            let Some(h) = handler else {
                return ServerRequestReply::Decline;
            };
            optional_reply(
                with_timeout(cfg, &method, h.dynamic_tool_call(*p)).await,
                error_reply("the dynamic-tool handler gave no answer".into()),
            )
        }
        _ => ServerRequestReply::Decline,
    }
}

/// True when approving this command request may run the command outside the sandbox.
///
/// - Requests for extra permissions or network access always escalate.
/// - `never` and `on-request` (and any policy this SDK does not model): codex only asks to run
///   a command outside the sandbox, so every command approval is an escalation.
/// - `untrusted`: codex asks before every command that is not known-safe, and runs an approved
///   one in the sandbox unless the model asked for `require_escalated`. codex 0.169 does not say
///   so in the request; the model's justification (`reason`) is the marker it does carry, so a
///   request with a reason is treated as an escalation.
pub(super) fn command_escalates(
    policy: ApprovalMode,
    p: &CommandExecutionRequestApprovalParams,
) -> bool {
    if p.additional_permissions.is_some() || p.network_approval_context.is_some() {
        return true;
    }
    match policy {
        ApprovalMode::Untrusted => p.reason.is_some(),
        _ => true,
    }
}

/// True when a command approval must not reach a handler that accepts every command
/// ([`crate::runtime::approvals::ApprovalHandler::accepts_every_command`]): under `untrusted`,
/// codex asks before every command that is not known-safe, and a `require_escalated` call
/// without a justification (measured on codex 0.150.0 and 0.171.0: no `reason`, every other
/// field the same as for the plain command) cannot be told from a plain one, so
/// [`command_escalates`] misses it. Under the other policies codex asks only to leave the sandbox, and the gate already
/// declines every command approval.
pub(super) fn blind_under_untrusted(policy: ApprovalMode, accepts_every_command: bool) -> bool {
    accepts_every_command && policy == ApprovalMode::Untrusted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_blind_handler_under_untrusted_is_stopped() {
        assert!(blind_under_untrusted(ApprovalMode::Untrusted, true));
        assert!(!blind_under_untrusted(ApprovalMode::Untrusted, false));
        for policy in [ApprovalMode::Never, ApprovalMode::OnRequest] {
            assert!(!blind_under_untrusted(policy, true), "{policy:?}");
        }
        use crate::runtime::approvals::{ApprovalDecision, ApprovalHandler, Approvals};
        assert!(Approvals::accept_all().accepts_every_command());
        // A closure of the user's own replaces the blind one.
        let decided = Approvals::accept_all().on_command(|_| async { ApprovalDecision::Accept });
        assert!(!decided.accepts_every_command());
        assert!(!Approvals::new().accepts_every_command());
    }

    fn req(reason: Option<&str>) -> CommandExecutionRequestApprovalParams {
        CommandExecutionRequestApprovalParams {
            reason: reason.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn every_policy_treats_an_escalation_request_as_one() {
        let escalated = req(Some("needs to write outside the workspace"));
        for policy in [
            ApprovalMode::Never,
            ApprovalMode::OnRequest,
            ApprovalMode::Untrusted,
        ] {
            assert!(command_escalates(policy, &escalated), "{policy:?}");
        }
        // Outside `untrusted`, codex asks only to leave the sandbox: every request escalates.
        assert!(command_escalates(ApprovalMode::OnRequest, &req(None)));
        assert!(command_escalates(ApprovalMode::Never, &req(None)));
        // Under `untrusted` a plain request runs in the sandbox once approved.
        assert!(!command_escalates(ApprovalMode::Untrusted, &req(None)));
        let network = CommandExecutionRequestApprovalParams {
            network_approval_context: Some(codex_runtime_protocol::NetworkApprovalContext {
                host: "example.com".into(),
                protocol: codex_runtime_protocol::NetworkApprovalProtocol::Https,
            }),
            ..Default::default()
        };
        assert!(command_escalates(ApprovalMode::Untrusted, &network));
    }
}
