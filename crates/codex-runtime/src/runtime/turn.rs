//! What a turn produces: the streamed [`TurnEvent`]s and the final [`TurnOutput`], accumulated
//! from the `item/*` stream (codex's `turn/completed.turn.items` is only a summary and can be
//! empty) with the status taken from `turn/completed.turn.status`.

use crate::plugin::HookIssue;
use crate::rpc::Event;
use codex_runtime_protocol::{
    ServerNotification, ThreadItem, ThreadTokenUsage, TurnError, TurnPlanStep, TurnStatus,
};
use std::sync::Arc;

/// The result of one turn.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TurnOutput {
    /// The thread.
    pub thread_id: String,
    /// The turn.
    pub turn_id: String,
    /// `completed`, `interrupted` or `failed` (from `turn/completed.turn.status`).
    pub status: TurnStatus,
    /// The assistant's final text: the text of the last agent message of the turn.
    pub assistant_text: String,
    /// Every item completed during the turn, in order.
    pub items: Vec<ThreadItem>,
    /// Token usage reported for the turn (the last `thread/tokenUsage/updated`).
    pub usage: Option<ThreadTokenUsage>,
    /// The turn's aggregated diff (the last `turn/diff/updated`), if files changed.
    pub diff: Option<String>,
    /// The latest plan (`turn/plan/updated`).
    pub plan: Vec<TurnPlanStep>,
    /// The turn's error, when it failed (or the last `error` notification).
    pub error: Option<TurnError>,
    /// Problems reported by hooks that did not end the turn.
    pub hook_issues: Vec<HookIssue>,
    /// Metadata that `PreTurn` hooks attached to the turn (`HookPatch::metadata`); the turn's
    /// `PostToolUse` and `PostTurn` hooks see it in their context too.
    pub metadata: std::collections::BTreeMap<String, serde_json::Value>,
}

impl TurnOutput {
    /// True when the turn completed normally.
    pub fn is_completed(&self) -> bool {
        self.status == TurnStatus::Completed
    }

    /// Every agent message text of the turn, in order.
    pub fn agent_messages(&self) -> impl Iterator<Item = &str> {
        self.items.iter().filter_map(|i| match i {
            ThreadItem::AgentMessage(m) => Some(m.text.as_str()),
            _ => None,
        })
    }
}

/// One event of a streamed turn (see [`crate::runtime::Session::ask_stream`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum TurnEvent {
    /// The turn started.
    Started {
        /// Its id.
        turn_id: String,
    },
    /// A chunk of the assistant's text.
    AgentMessageDelta {
        /// The agent message item.
        item_id: String,
        /// The text chunk.
        delta: String,
    },
    /// A chunk of reasoning text (summary or raw).
    ReasoningDelta {
        /// The reasoning item.
        item_id: String,
        /// The text chunk.
        delta: String,
    },
    /// An item started.
    ItemStarted(ThreadItem),
    /// An item completed.
    ItemCompleted(ThreadItem),
    /// Output of a running command.
    CommandOutputDelta {
        /// The command item.
        item_id: String,
        /// The output chunk.
        delta: String,
    },
    /// Output of a file change being applied.
    FileChangeDelta {
        /// The file-change item.
        item_id: String,
        /// The chunk.
        delta: String,
    },
    /// The plan changed.
    PlanUpdated(Vec<TurnPlanStep>),
    /// The aggregated diff changed.
    DiffUpdated(String),
    /// Codex asked the client for an approval (command, file change, permissions...).
    ApprovalRequested {
        /// The server-request method.
        method: String,
        /// The item it is about, when given.
        item_id: Option<String>,
        /// The decision that was sent back.
        decision: serde_json::Value,
    },
    /// A user callback answering a server request of this turn (an approval or dynamic-tool
    /// handler) panicked. The request was answered fail-closed (the decline of approvals, an
    /// error otherwise; an [`TurnEvent::ApprovalRequested`] with that answer comes with it) and
    /// the turn goes on.
    HandlerPanicked {
        /// The server-request method.
        method: String,
        /// The item it is about, when given.
        item_id: Option<String>,
        /// The panic's message.
        message: String,
    },
    /// Token usage changed.
    TokenUsage(ThreadTokenUsage),
    /// This many droppable events (deltas) were lost because the stream was read too slowly.
    Lagged(u64),
    /// Any other notification of this thread.
    Other(Arc<Event>),
    /// The turn ended; always the last event of a stream that did not fail.
    Completed(Box<TurnOutput>),
}

/// Folds the notifications of one turn into a [`TurnOutput`].
#[derive(Debug)]
pub(crate) struct TurnAccumulator {
    pub output: TurnOutput,
    pub done: bool,
}

impl TurnAccumulator {
    pub fn new(thread_id: &str, turn_id: &str) -> Self {
        TurnAccumulator {
            output: TurnOutput {
                thread_id: thread_id.to_string(),
                turn_id: turn_id.to_string(),
                status: TurnStatus::InProgress,
                assistant_text: String::new(),
                items: Vec::new(),
                usage: None,
                diff: None,
                plan: Vec::new(),
                error: None,
                hook_issues: Vec::new(),
                metadata: Default::default(),
            },
            done: false,
        }
    }

    /// True when `event` belongs to this turn (or to no turn in particular).
    pub fn concerns(&self, event: &Event) -> bool {
        match event.turn_id() {
            Some(t) => t == self.output.turn_id,
            None => true,
        }
    }

    /// Applies one event; returns the stream event to emit, if any.
    pub fn apply(&mut self, event: &Arc<Event>) -> Option<TurnEvent> {
        use ServerNotification as N;
        match event.notification() {
            N::TurnStarted(n) => Some(TurnEvent::Started {
                turn_id: n.turn.id.clone(),
            }),
            N::ItemAgentMessageDelta(n) => Some(TurnEvent::AgentMessageDelta {
                item_id: n.item_id.clone(),
                delta: n.delta.clone(),
            }),
            N::ItemReasoningSummaryTextDelta(n) => Some(TurnEvent::ReasoningDelta {
                item_id: n.item_id.clone(),
                delta: n.delta.clone(),
            }),
            N::ItemReasoningTextDelta(n) => Some(TurnEvent::ReasoningDelta {
                item_id: n.item_id.clone(),
                delta: n.delta.clone(),
            }),
            N::ItemCommandExecutionOutputDelta(n) => Some(TurnEvent::CommandOutputDelta {
                item_id: n.item_id.clone(),
                delta: n.delta.clone(),
            }),
            N::ItemFileChangeOutputDelta(n) => Some(TurnEvent::FileChangeDelta {
                item_id: n.item_id.clone(),
                delta: n.delta.clone(),
            }),
            N::ItemStarted(n) => Some(TurnEvent::ItemStarted(n.item.clone())),
            N::ItemCompleted(n) => {
                if let ThreadItem::AgentMessage(m) = &n.item {
                    self.output.assistant_text = m.text.clone();
                }
                self.output.items.push(n.item.clone());
                Some(TurnEvent::ItemCompleted(n.item.clone()))
            }
            N::TurnPlanUpdated(n) => {
                self.output.plan = n.plan.clone();
                Some(TurnEvent::PlanUpdated(n.plan.clone()))
            }
            N::TurnDiffUpdated(n) => {
                self.output.diff = Some(n.diff.clone());
                Some(TurnEvent::DiffUpdated(n.diff.clone()))
            }
            N::ThreadTokenUsageUpdated(n) => {
                self.output.usage = Some(n.token_usage.clone());
                Some(TurnEvent::TokenUsage(n.token_usage.clone()))
            }
            N::Error(n) => {
                if !n.will_retry {
                    self.output.error = Some(n.error.clone());
                }
                Some(TurnEvent::Other(Arc::clone(event)))
            }
            N::TurnCompleted(n) => {
                self.output.status = n.turn.status.clone();
                if n.turn.error.is_some() {
                    self.output.error = n.turn.error.clone();
                }
                if self.output.items.is_empty() && !n.turn.items.is_empty() {
                    self.output.items = n.turn.items.clone();
                    if let Some(text) = self.output.agent_messages().last() {
                        self.output.assistant_text = text.to_string();
                    }
                }
                self.done = true;
                None
            }
            N::Unknown { method, params } => {
                self.apply_undecoded(method, params);
                Some(TurnEvent::Other(Arc::clone(event)))
            }
            _ => Some(TurnEvent::Other(Arc::clone(event))),
        }
    }

    /// A `turn/completed` or `item/completed` whose params did not fit the typed shape (a newer
    /// codex changed a nested object): take what can still be read, field by field, so the
    /// turn ends instead of waiting for its timeout.
    fn apply_undecoded(&mut self, method: &str, params: &serde_json::Value) {
        fn field<T: serde::de::DeserializeOwned>(v: Option<&serde_json::Value>) -> Option<T> {
            v.and_then(|v| serde_json::from_value(v.clone()).ok())
        }
        match method {
            "turn/completed" => {
                let turn = params.get("turn");
                self.output.status = field(turn.and_then(|t| t.get("status")))
                    .unwrap_or_else(|| TurnStatus::Unknown("undecodable".to_string()));
                if let Some(error) = field(turn.and_then(|t| t.get("error"))) {
                    self.output.error = Some(error);
                }
                self.done = true;
            }
            "item/completed" => {
                let item = params.get("item");
                let is_message = item
                    .and_then(|i| i.get("type"))
                    .and_then(serde_json::Value::as_str)
                    == Some("agentMessage");
                let text = item
                    .and_then(|i| i.get("text"))
                    .and_then(serde_json::Value::as_str);
                if let (true, Some(text)) = (is_message, text) {
                    self.output.assistant_text = text.to_string();
                }
            }
            _ => {}
        }
    }
}
