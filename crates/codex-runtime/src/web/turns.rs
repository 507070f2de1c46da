//! Turns of a web session: the [`TurnEvent`] stream of `Session::ask_stream`, translated into
//! the session's logged events and published in batches (whatever is already waiting goes out
//! with one store append).

use super::hub::Hub;
use crate::runtime::{Session, TurnEvent};
use futures::{FutureExt, StreamExt};
use serde_json::{json, Value};
use std::sync::Arc;

/// Most events published (and appended to the store) at once.
const BATCH: usize = 256;

/// The logged event for one turn event (`None` for events the web does not show).
pub(crate) fn translate(event: crate::Result<TurnEvent>) -> Option<(String, Value)> {
    let ev = |kind: &str, data: Value| Some((kind.to_string(), data));
    match event {
        Ok(TurnEvent::Started { turn_id }) => ev("turn.started", json!({"turn_id": turn_id})),
        Ok(TurnEvent::AgentMessageDelta { item_id, delta }) => {
            ev("agent.delta", json!({"item_id": item_id, "delta": delta}))
        }
        Ok(TurnEvent::ReasoningDelta { item_id, delta }) => {
            ev("reasoning.delta", json!({"item_id": item_id, "delta": delta}))
        }
        Ok(TurnEvent::ItemStarted(item)) => ev("item.started", json!({"item": item})),
        Ok(TurnEvent::ItemCompleted(item)) => ev("item.completed", json!({"item": item})),
        Ok(TurnEvent::CommandOutputDelta { item_id, delta }) => {
            ev("command.output", json!({"item_id": item_id, "delta": delta}))
        }
        Ok(TurnEvent::FileChangeDelta { item_id, delta }) => {
            ev("file_change.output", json!({"item_id": item_id, "delta": delta}))
        }
        Ok(TurnEvent::PlanUpdated(plan)) => ev("plan.updated", json!({"plan": plan})),
        Ok(TurnEvent::DiffUpdated(diff)) => ev("diff.updated", json!({"diff": diff})),
        Ok(TurnEvent::TokenUsage(usage)) => ev("usage.updated", json!({"usage": usage})),
        Ok(TurnEvent::Lagged(dropped)) => ev("lagged", json!({"dropped": dropped})),
        Ok(TurnEvent::Completed(out)) => ev(
            "turn.completed",
            json!({
                "turn_id": out.turn_id,
                "status": out.status,
                "assistant_text": out.assistant_text,
                "error": out.error,
            }),
        ),
        Err(err) => ev("turn.failed", json!({"error": err.to_string()})),
        // Approvals are published by the approvals bridge; other notifications stay inside.
        Ok(_) => None,
    }
}

/// Runs `prompt` on `session` and publishes its events on `hub` until the turn ends.
pub(crate) async fn drive(session: Session, hub: Arc<Hub>, prompt: String) {
    // Fused: the batching below may poll once more after the end.
    let mut stream = Box::pin(session.ask_stream(prompt).fuse());
    while let Some(first) = stream.next().await {
        let mut batch: Vec<(String, Value)> = translate(first).into_iter().collect();
        // Whatever is already waiting goes out with this one.
        while batch.len() < BATCH {
            match stream.next().now_or_never() {
                Some(Some(ev)) => batch.extend(translate(ev)),
                _ => break,
            }
        }
        if let Err(err) = hub.publish(batch).await {
            // Never run on unlogged: subscribers would miss what the turn does.
            tracing::error!("cannot log the turn's events; interrupting the turn: {err}");
            if let Err(err) = session.send_interrupt().await {
                tracing::warn!("cannot interrupt the turn: {err}");
            }
            return;
        }
    }
}
