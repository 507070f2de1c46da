//! The approvals bridge: codex's approval requests become `approval.requested` events of the
//! session, and the only way to answer one is [`crate::web::WebAdapter::post_approval`].
//!
//! Each web session's `SessionApprovals` is its [`ApprovalHandler`]: it registers the request
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
    /// Registration order (to forget the oldest answered requests first).
    order: u64,
}

#[derive(Debug, Default)]
struct Requests {
    by_id: HashMap<String, Entry>,
    next_order: u64,
}

/// Every approval request of an adapter, by request id: per session at most
/// `max_pending_approvals` pending plus [`crate::web::WebConfig::ANSWERED_APPROVALS_KEPT`]
/// answered ones, and forgotten when the session closes.
#[derive(Debug, Default)]
pub(crate) struct ApprovalBridge {
    requests: Mutex<Requests>,
}

/// What registering a new request gave.
enum Registered {
    /// It waits for an answer on this receiver.
    Pending(oneshot::Receiver<ApprovalDecision>),
    /// The session already has this many pending requests: it is declined at once.
    OverLimit(usize),
}

impl ApprovalBridge {
    fn lock(&self) -> std::sync::MutexGuard<'_, Requests> {
        self.requests.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers `request_id` of `key`: pending, or (when `key` already has `max_pending`
    /// requests waiting) answered `decline` at once. Forgets the oldest answered requests of
    /// `key` beyond [`crate::web::WebConfig::ANSWERED_APPROVALS_KEPT`].
    fn register(&self, key: &SessionKey, request_id: &str, max_pending: usize) -> Registered {
        let mut requests = self.lock();
        let order = requests.next_order;
        requests.next_order += 1;
        let (mut pending, mut answered) = (0usize, Vec::new());
        for (id, e) in requests.by_id.iter().filter(|(_, e)| &e.key == key) {
            match e.state {
                State::Pending(_) => pending += 1,
                State::Answered(_) => answered.push((e.order, id.clone())),
            }
        }
        let keep = crate::web::WebConfig::ANSWERED_APPROVALS_KEPT.saturating_sub(1);
        if answered.len() > keep {
            answered.sort_unstable();
            let excess = answered.len() - keep;
            for (_, id) in answered.into_iter().take(excess) {
                requests.by_id.remove(&id);
            }
        }
        let (state, registered) = if pending >= max_pending {
            (
                State::Answered(WebDecision::Decline.as_str()),
                Registered::OverLimit(pending),
            )
        } else {
            let (tx, rx) = oneshot::channel();
            (State::Pending(tx), Registered::Pending(rx))
        };
        requests.by_id.insert(
            request_id.to_string(),
            Entry {
                key: key.clone(),
                state,
                order,
            },
        );
        registered
    }

    /// Claims the answer of `request_id` of session `key`: from now on the request counts as
    /// answered `decision` (a second answer is refused), but codex gets it only through
    /// [`Claimed::deliver`], after the answer is logged. Another session's or tenant's request
    /// is [`WebError::ApprovalNotFound`]; an answered or timed-out one
    /// [`WebError::ApprovalAlreadyAnswered`].
    pub fn claim(
        &self,
        key: &SessionKey,
        request_id: &str,
        decision: WebDecision,
    ) -> Result<Claimed, WebError> {
        let not_found = || WebError::ApprovalNotFound {
            session_id: key.session_id.clone(),
            request_id: request_id.to_string(),
        };
        let mut requests = self.lock();
        let entry = requests.by_id.get_mut(request_id).ok_or_else(not_found)?;
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
            // The SDK's timeout fired between the lookup and now.
            State::Pending(tx) if tx.is_closed() => {
                entry.state = State::Answered("timeout");
                Err(WebError::ApprovalAlreadyAnswered {
                    request_id: request_id.to_string(),
                    answer: "timeout".to_string(),
                })
            }
            State::Pending(tx) => Ok(Claimed { tx, decision }),
        }
    }

    /// Records that `request_id` of `key` ended up answered `answer` (after a claim whose
    /// answer could not be logged or delivered).
    pub fn settle(&self, key: &SessionKey, request_id: &str, answer: &'static str) {
        if let Some(e) = self.lock().by_id.get_mut(request_id) {
            if &e.key == key {
                e.state = State::Answered(answer);
            }
        }
    }

    /// Request ids of `key` still waiting for an answer.
    pub fn pending(&self, key: &SessionKey) -> Vec<String> {
        self.lock()
            .by_id
            .iter()
            .filter(|(_, e)| &e.key == key && matches!(e.state, State::Pending(_)))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Forgets every request of `key` (the session closed; pending ones get the fail-closed
    /// answer as their senders drop) and returns the ids of those that were pending, so their
    /// `approval.resolved` can be logged.
    pub fn forget(&self, key: &SessionKey) -> Vec<String> {
        let mut pending = Vec::new();
        self.lock().by_id.retain(|id, e| {
            if &e.key != key {
                return true;
            }
            if matches!(e.state, State::Pending(_)) {
                pending.push(id.clone());
            }
            false
        });
        pending.sort_unstable();
        pending
    }
}

/// An answer claimed by [`ApprovalBridge::claim`], not yet given to codex.
pub(crate) struct Claimed {
    tx: oneshot::Sender<ApprovalDecision>,
    decision: WebDecision,
}

impl Claimed {
    /// Gives the answer to codex; `false` when the request's wait already ended (its
    /// timeout fired meanwhile: codex got the fail-closed answer instead).
    pub fn deliver(self) -> bool {
        self.tx.send(self.decision.to_decision()).is_ok()
    }

    /// Gives codex the fail-closed `decline` instead (the answer could not be logged).
    pub fn decline(self) {
        let _ = self.tx.send(ApprovalDecision::Decline);
    }
}

/// Who answered the requests still pending when their session closed.
pub(crate) const CLOSED_ANSWERER: &str = "session_closed";

/// The approval handler of one web session.
pub(crate) struct SessionApprovals {
    pub bridge: Arc<ApprovalBridge>,
    pub key: SessionKey,
    pub hub: Weak<Hub>,
    /// [`crate::web::WebConfig::max_pending_approvals`].
    pub max_pending: usize,
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
        let max_pending = self.max_pending;
        Box::pin(async move {
            let request_id = super::new_session_id();
            let rx = match bridge.register(&key, &request_id, max_pending) {
                Registered::Pending(rx) => rx,
                Registered::OverLimit(pending) => {
                    let refused = WebError::TooManyPendingApprovals {
                        session_id: key.session_id.clone(),
                        max: max_pending,
                    };
                    tracing::warn!(pending, "declining an approval request: {refused}");
                    if let Some(live) = hub.upgrade() {
                        let records = vec![
                            Record::ServerRequest {
                                turn_id: Some(turn_id),
                                request_id: request_id.clone(),
                                method: method.to_string(),
                                item_id: Some(item_id),
                                params,
                            },
                            answered(
                                &request_id,
                                WebDecision::Decline.as_str(),
                                OVER_LIMIT_ANSWERER,
                            ),
                        ];
                        if let Err(err) = live.publish(records).await {
                            tracing::warn!("cannot publish a declined approval request: {err}");
                        }
                    }
                    return ApprovalDecision::Decline;
                }
            };
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

/// Who answered a request declined because the session had too many pending ones.
const OVER_LIMIT_ANSWERER: &str = "max_pending_approvals";

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
            let mut requests = self.bridge.lock();
            match requests.by_id.get_mut(&self.request_id) {
                // Unanswered: the timeout's decline is what codex got.
                Some(e) if matches!(e.state, State::Pending(_)) => {
                    e.state = State::Answered("timeout");
                    true
                }
                // Answered through the API, but the wait ended before the answer was taken:
                // codex got the timeout's decline, and the log must end saying so (the API
                // logged its answer, or is logging it; this follows it).
                Some(e) if !matches!(e.state, State::Answered("timeout")) => {
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
