//! Turns of a web session: the [`TurnEvent`] stream of `Session::ask_stream`, turned into the
//! conversation's [`Record`]s and published in batches. Whatever is already waiting goes out
//! with one store append, and consecutive deltas of one item in a batch become one
//! `Record::Deltas` (deltas are coalesced, never one row each).

use super::hub::Hub;
use crate::persistence::{Record, TurnStatus};
use crate::runtime::{Session, TurnEvent};
use futures::{FutureExt, StreamExt};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::task::JoinHandle;

/// Most turn events folded into one publish (one store append).
const BATCH: usize = 256;

/// Folds one turn's events into records.
#[derive(Debug)]
pub(crate) struct TurnRecords {
    turn_id: String,
    prompt: Option<String>,
}

impl TurnRecords {
    pub fn new(prompt: String) -> Self {
        TurnRecords {
            turn_id: String::new(),
            prompt: Some(prompt),
        }
    }

    fn turn(&self) -> Option<String> {
        (!self.turn_id.is_empty()).then(|| self.turn_id.clone())
    }

    /// Adds the record(s) of `event` to `out`, merging a delta into the previous record when
    /// both belong to the same item and stream.
    pub fn fold(&mut self, event: crate::Result<TurnEvent>, out: &mut Vec<Record>) {
        let delta = |item_id: String, stream: &str, text: String| Record::Deltas {
            turn_id: String::new(),
            item_id,
            stream: stream.to_string(),
            text,
        };
        let record = match event {
            Ok(TurnEvent::Started { turn_id }) => {
                self.turn_id = turn_id.clone();
                Record::TurnStarted {
                    turn_id,
                    prompt: self.prompt.take(),
                }
            }
            Ok(TurnEvent::AgentMessageDelta { item_id, delta: d }) => {
                delta(item_id, "agentMessage", d)
            }
            Ok(TurnEvent::ReasoningDelta { item_id, delta: d }) => delta(item_id, "reasoning", d),
            Ok(TurnEvent::CommandOutputDelta { item_id, delta: d }) => {
                delta(item_id, "commandOutput", d)
            }
            Ok(TurnEvent::FileChangeDelta { item_id, delta: d }) => delta(item_id, "fileChange", d),
            Ok(TurnEvent::ItemCompleted(item)) => match serde_json::to_value(&item) {
                Ok(item) => Record::ItemCompleted {
                    turn_id: self.turn_id.clone(),
                    item,
                },
                Err(err) => Record::Error {
                    turn_id: self.turn(),
                    message: format!("cannot encode a completed item: {err}"),
                },
            },
            Ok(TurnEvent::Lagged(dropped)) => Record::Lagged {
                turn_id: self.turn(),
                dropped,
            },
            Ok(TurnEvent::Completed(output)) => Record::TurnCompleted {
                turn_id: output.turn_id.clone(),
                status: TurnStatus::from_protocol(&output.status),
                error: output
                    .error
                    .as_ref()
                    .and_then(|e| serde_json::to_value(e).ok()),
                usage: output
                    .usage
                    .as_ref()
                    .and_then(|u| serde_json::to_value(u).ok()),
            },
            Err(err) => {
                // The SDK's error text can carry codex's stderr or paths: clients see an id,
                // the log has the text.
                let id = super::new_session_id();
                tracing::error!(error_id = %id, "a web turn failed: {err}");
                let cause = public_cause(&err)
                    .map(|c| format!(": {c}"))
                    .unwrap_or_default();
                Record::Error {
                    turn_id: self.turn(),
                    message: format!(
                        "the turn failed{cause} (error id {id}); the server's log has the details"
                    ),
                }
            }
            // Approvals are logged by the approvals bridge; item starts, plans, diffs and
            // usage updates are carried by the items and the turn's completion.
            Ok(_) => return,
        };
        let record = match record {
            Record::Deltas {
                item_id,
                stream,
                text,
                ..
            } => {
                if let Some(Record::Deltas {
                    item_id: last_item,
                    stream: last_stream,
                    text: last_text,
                    ..
                }) = out.last_mut()
                {
                    if *last_item == item_id && *last_stream == stream {
                        last_text.push_str(&text);
                        return;
                    }
                }
                Record::Deltas {
                    turn_id: self.turn_id.clone(),
                    item_id,
                    stream,
                    text,
                }
            }
            other => other,
        };
        out.push(record);
    }
}

/// A turn running in the background.
#[derive(Debug)]
pub(crate) struct RunningTurn {
    handle: JoinHandle<()>,
    /// Set just before the turn publishes its completion: only that publish is left.
    ending: Arc<AtomicBool>,
}

impl RunningTurn {
    /// Starts `prompt` on `session`, publishing on `hub`.
    pub fn start(session: Session, hub: Arc<Hub>, prompt: String) -> Self {
        let ending = Arc::new(AtomicBool::new(false));
        let handle = tokio::spawn(drive(session, hub, prompt, Arc::clone(&ending)));
        RunningTurn { handle, ending }
    }

    /// True until the task has ended.
    pub fn is_running(&self) -> bool {
        !self.handle.is_finished()
    }

    /// True while the turn runs and has not reached its completion. A client that saw
    /// `turn.completed` may start the next turn while the task is still returning from that
    /// publish; such a turn is not busy (see [`RunningTurn::finish`]).
    pub fn busy(&self) -> bool {
        self.is_running() && !self.ending.load(Ordering::SeqCst)
    }

    /// Waits for the task to end (for a turn that is no longer [`RunningTurn::busy`], at most
    /// its last publish).
    pub async fn finish(self) {
        if let Err(err) = self.handle.await {
            tracing::warn!("a turn task ended abnormally: {err}");
        }
    }
}

/// Runs `prompt` on `session` and publishes its records on `hub` until the turn ends; sets
/// `ending` before it publishes the turn's completion.
async fn drive(session: Session, hub: Arc<Hub>, prompt: String, ending: Arc<AtomicBool>) {
    let mut records = TurnRecords::new(prompt.clone());
    // Fused: the batching below may poll once more after the end.
    let mut stream = Box::pin(session.ask_stream(prompt).fuse());
    while let Some(first) = stream.next().await {
        let mut batch = Vec::new();
        records.fold(first, &mut batch);
        let mut folded = 1;
        // Whatever is already waiting goes out with this one.
        while folded < BATCH {
            match stream.next().now_or_never() {
                Some(Some(ev)) => {
                    records.fold(ev, &mut batch);
                    folded += 1;
                }
                _ => break,
            }
        }
        if batch
            .iter()
            .any(|r| matches!(r, Record::TurnCompleted { .. }))
        {
            ending.store(true, Ordering::SeqCst);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_deltas_of_one_item_become_one_record() {
        let mut t = TurnRecords::new("hi".into());
        let mut out = Vec::new();
        t.fold(
            Ok(TurnEvent::Started {
                turn_id: "t1".into(),
            }),
            &mut out,
        );
        for d in ["a", "b", "c"] {
            t.fold(
                Ok(TurnEvent::AgentMessageDelta {
                    item_id: "m1".into(),
                    delta: d.into(),
                }),
                &mut out,
            );
        }
        t.fold(
            Ok(TurnEvent::CommandOutputDelta {
                item_id: "c1".into(),
                delta: "out".into(),
            }),
            &mut out,
        );
        t.fold(
            Ok(TurnEvent::AgentMessageDelta {
                item_id: "m1".into(),
                delta: "d".into(),
            }),
            &mut out,
        );
        assert_eq!(out.len(), 4, "{out:#?}");
        assert_eq!(
            out[0],
            Record::TurnStarted {
                turn_id: "t1".into(),
                prompt: Some("hi".into())
            }
        );
        assert_eq!(
            out[1],
            Record::Deltas {
                turn_id: "t1".into(),
                item_id: "m1".into(),
                stream: "agentMessage".into(),
                text: "abc".into()
            }
        );
        assert!(matches!(&out[3], Record::Deltas { text, .. } if text == "d"));
    }
}

/// What a client may be told of why its turn failed: the kind of failure and numbers only (an
/// exit status, a signal), never the error's own text (codex's stderr tail, paths, SQL).
fn public_cause(err: &crate::Error) -> Option<String> {
    use crate::Error;
    match err {
        Error::TransportClosed {
            signal: Some(signal),
            ..
        } => Some(format!(
            "the codex app-server was killed by signal {signal}"
        )),
        Error::TransportClosed {
            exit_code: Some(code),
            ..
        } => Some(format!("the codex app-server exited with code {code}")),
        Error::TransportClosed { .. } => Some("the codex app-server connection closed".into()),
        Error::TurnTimeout { .. } => Some("the turn timed out".into()),
        Error::TurnStalled { .. } => Some("the turn stalled (codex never completed it)".into()),
        Error::Shutdown => Some("the runtime is shutting down".into()),
        _ => None,
    }
}

#[cfg(test)]
mod public_cause_tests {
    use super::public_cause;

    #[test]
    fn a_crash_is_named_without_codex_stderr() {
        let err = crate::Error::TransportClosed {
            exit_code: None,
            signal: Some(9),
            stderr_tail: "secret /srv/path".into(),
        };
        let cause = public_cause(&err).unwrap();
        assert_eq!(cause, "the codex app-server was killed by signal 9");
        let other = crate::Error::Protocol("secret /srv/path".into());
        assert_eq!(public_cause(&other), None);
    }
}
