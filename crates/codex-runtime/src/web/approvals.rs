//! The approvals bridge: codex's approval requests become `approval.requested` events of the
//! session, and the only way to answer one is [`crate::web::WebAdapter::post_approval`].
//!
//! Each web session's [`SessionApprovals`] is its [`ApprovalHandler`]: it registers the request
//! under a fresh id, publishes it, and waits for the answer. The session's approval timeout
//! (the SDK's fail-closed default) bounds the wait; when it fires, the SDK drops the waiting
//! future, the request is marked `timeout` (later answers are refused) and
//! `approval.resolved` says so.

use super::error::WebError;
use super::hub::Hub;
use super::store::SessionKey;
use crate::persistence::Record;
use crate::runtime::{ApprovalDecision, ApprovalHandler};
use codex_runtime_protocol::{
    CommandExecutionRequestApprovalParams, FileChangeRequestApprovalParams,
};
use futures::future::BoxFuture;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::oneshot;

/// An answer a web client can give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WebDecision {
    /// Allow it once.
    Accept,
    /// Refuse it; the turn goes on.
    Decline,
    /// Refuse it and stop the turn.
    Cancel,
}

impl WebDecision {
    /// `accept`, `decline` or `cancel`.
    pub fn as_str(self) -> &'static str {
        match self {
            WebDecision::Accept => "accept",
            WebDecision::Decline => "decline",
            WebDecision::Cancel => "cancel",
        }
    }
    fn to_decision(self) -> ApprovalDecision {
        match self {
            WebDecision::Accept => ApprovalDecision::Accept,
            WebDecision::Decline => ApprovalDecision::Decline,
            WebDecision::Cancel => ApprovalDecision::Cancel,
        }
    }
}

#[derive(Debug)]
enum State {
    Pending(oneshot::Sender<ApprovalDecision>),
    Answered(&'static str),
}

#[derive(Debug)]
struct Entry {
    key: SessionKey,
    state: State,
}

/// Every approval request of an adapter, by request id.
#[derive(Debug, Default)]
pub(crate) struct ApprovalBridge {
    requests: Mutex<HashMap<String, Entry>>,
}

impl ApprovalBridge {
    fn requests(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.requests.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Answers `request_id` of session `key`. Another session's or tenant's request is
    /// [`WebError::ApprovalNotFound`]; an answered or timed-out one
    /// [`WebError::ApprovalAlreadyAnswered`].
    pub fn answer(
        &self,
        key: &SessionKey,
        request_id: &str,
        decision: WebDecision,
    ) -> Result<(), WebError> {
        let not_found = || WebError::ApprovalNotFound {
            session_id: key.session_id.clone(),
            request_id: request_id.to_string(),
        };
        let mut requests = self.requests();
        let entry = requests.get_mut(request_id).ok_or_else(not_found)?;
        if &entry.key != key {
            return Err(not_found());
        }
        let state = std::mem::replace(&mut entry.state, State::Answered(decision.as_str()));
        match state {
            State::Answered(answer) => {
                entry.state = State::Answered(answer);
                Err(WebError::ApprovalAlreadyAnswered {
                    request_id: request_id.to_string(),
                    answer: answer.to_string(),
                })
            }
            State::Pending(tx) => match tx.send(decision.to_decision()) {
                Ok(()) => Ok(()),
                // The SDK's timeout fired between our lookup and the send.
                Err(_) => {
                    entry.state = State::Answered("timeout");
                    Err(WebError::ApprovalAlreadyAnswered {
                        request_id: request_id.to_string(),
                        answer: "timeout".to_string(),
                    })
                }
            },
        }
    }

    /// Request ids of `key` still waiting for an answer.
    pub fn pending(&self, key: &SessionKey) -> Vec<String> {
        self.requests()
            .iter()
            .filter(|(_, e)| &e.key == key && matches!(e.state, State::Pending(_)))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Forgets every request of `key` (the session closed; pending ones get the fail-closed
    /// answer as their senders drop).
    pub fn forget(&self, key: &SessionKey) {
        self.requests().retain(|_, e| &e.key != key);
    }
}

/// The approval handler of one web session.
pub(crate) struct SessionApprovals {
    pub bridge: Arc<ApprovalBridge>,
    pub key: SessionKey,
    pub hub: Weak<Hub>,
}

impl SessionApprovals {
    fn ask(
        &self,
        method: &'static str,
        turn_id: String,
        item_id: String,
        params: Value,
    ) -> BoxFuture<'static, ApprovalDecision> {
        let bridge = Arc::clone(&self.bridge);
        let key = self.key.clone();
        let hub = self.hub.clone();
        Box::pin(async move {
            let request_id = super::new_session_id();
            let (tx, rx) = oneshot::channel();
            bridge.requests().insert(
                request_id.clone(),
                Entry {
                    key,
                    state: State::Pending(tx),
                },
            );
            let mut guard = Unanswered {
                armed: true,
                bridge,
                hub: hub.clone(),
                request_id: request_id.clone(),
            };
            let Some(live) = hub.upgrade() else {
                return ApprovalDecision::Decline;
            };
            let record = Record::ServerRequest {
                turn_id: Some(turn_id),
                request_id,
                method: method.to_string(),
                item_id: Some(item_id),
                params,
            };
            if let Err(err) = live.publish(vec![record]).await {
                tracing::warn!("cannot publish an approval request, declining it: {err}");
                return ApprovalDecision::Decline;
            }
            drop(live);
            let decision = rx.await.unwrap_or(ApprovalDecision::Decline);
            guard.armed = false;
            decision
        })
    }
}

/// Who answered a request the SDK's timeout answered.
const TIMEOUT_ANSWERER: &str = "timeout";

/// The record of an answer.
pub(crate) fn answered(request_id: &str, decision: &str, by: &str) -> Record {
    Record::ServerRequestAnswered {
        request_id: request_id.to_string(),
        answer: json!(decision),
        answered_by: by.to_string(),
    }
}

/// Marks a request `timeout` and says so when its waiting future is dropped unanswered
/// (the SDK's approval timeout fired, or the session went away).
struct Unanswered {
    armed: bool,
    bridge: Arc<ApprovalBridge>,
    hub: Weak<Hub>,
    request_id: String,
}

impl Drop for Unanswered {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let timed_out = {
            let mut requests = self.bridge.requests();
            match requests.get_mut(&self.request_id) {
                Some(e) if matches!(e.state, State::Pending(_)) => {
                    e.state = State::Answered("timeout");
                    true
                }
                _ => false,
            }
        };
        let Some(hub) = self.hub.upgrade() else {
            return;
        };
        if !timed_out {
            return;
        }
        let record = answered(&self.request_id, "timeout", TIMEOUT_ANSWERER);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(err) = hub.publish(vec![record]).await {
                    tracing::warn!("cannot publish an approval timeout: {err}");
                }
            });
        }
    }
}

impl ApprovalHandler for SessionApprovals {
    fn command(
        &self,
        request: CommandExecutionRequestApprovalParams,
    ) -> BoxFuture<'static, ApprovalDecision> {
        self.ask(
            "item/commandExecution/requestApproval",
            request.turn_id,
            request.item_id,
            json!({
                "kind": "command",
                "command": request.command,
                "cwd": request.cwd,
                "reason": request.reason,
            }),
        )
    }

    fn file_change(
        &self,
        request: FileChangeRequestApprovalParams,
    ) -> BoxFuture<'static, ApprovalDecision> {
        self.ask(
            "item/fileChange/requestApproval",
            request.turn_id,
            request.item_id,
            json!({"kind": "file_change", "reason": request.reason}),
        )
    }
}
