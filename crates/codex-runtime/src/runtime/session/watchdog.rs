//! The turn watchdog: a turn whose `turn/completed` never comes.
//!
//! The app-server sometimes ends a turn without telling (after a tool call, after a
//! compaction): the caller would wait for the whole turn timeout. The driver keeps a
//! [`Watchdog`] per turn. Once the turn's last item has completed (no item open) and nothing has
//! arrived for [`RunProfile::watchdog`](crate::runtime::RunProfile::watchdog), the driver reads
//! the thread (`thread/read` with `includeTurns`):
//!
//! - codex's record says the turn ended: the turn finishes from that record (its status, items
//!   and error), see [`finish_from_record`];
//! - still in progress: the driver keeps waiting. At the turn timeout a still-silent turn is read
//!   once more, then interrupted and failed with [`crate::Error::TurnStalled`].
//!
//! Any event of the turn re-arms the watchdog.

use super::Session;
use crate::rpc::Event;
use crate::runtime::turn::TurnAccumulator;
use codex_runtime_protocol::{ServerNotification, ThreadReadParams, Turn, TurnStatus};
use std::time::Duration;
use tokio::time::Instant;

/// The silence tracker of one turn.
#[derive(Debug)]
pub(super) struct Watchdog {
    silence: Duration,
    /// Items started and not completed yet.
    open: usize,
    /// At least one item completed this turn.
    completed_any: bool,
    last_activity: Instant,
    /// The thread was read since the last event (and showed the turn in progress).
    checked: bool,
}

impl Watchdog {
    pub(super) fn new(silence: Duration) -> Self {
        Watchdog {
            silence,
            open: 0,
            completed_any: false,
            last_activity: Instant::now(),
            checked: false,
        }
    }

    /// Notes one event of the turn.
    pub(super) fn saw(&mut self, event: &Event) {
        self.touch();
        match event.notification() {
            ServerNotification::ItemStarted(_) => self.open += 1,
            ServerNotification::ItemCompleted(_) => {
                self.open = self.open.saturating_sub(1);
                self.completed_any = true;
            }
            _ => {}
        }
    }

    /// Notes activity that carries no event (dropped deltas).
    pub(super) fn touch(&mut self) {
        self.last_activity = Instant::now();
        self.checked = false;
    }

    /// True when the turn is silent after its last item: the thread is worth reading.
    fn quiet(&self) -> bool {
        self.completed_any && self.open == 0
    }

    /// True when the driver should read the thread at [`Watchdog::fires_at`].
    pub(super) fn armed(&self) -> bool {
        self.quiet() && !self.checked
    }

    /// When the silence is long enough to read the thread.
    pub(super) fn fires_at(&self) -> Instant {
        self.last_activity + self.silence
    }

    /// The thread was read and showed the turn in progress: wait for the next event.
    pub(super) fn checked(&mut self) {
        self.checked = true;
    }

    /// How long the turn has been silent.
    pub(super) fn silent_for(&self) -> Duration {
        self.last_activity.elapsed()
    }

    /// True when the turn has been silent after its last item for at least the watchdog time.
    pub(super) fn stalled(&self) -> bool {
        self.quiet() && self.silent_for() >= self.silence
    }

    /// The watchdog time (also the grace an interrupted stalled turn gets).
    pub(super) fn silence(&self) -> Duration {
        self.silence
    }
}

/// Codex's record of `turn_id` (`thread/read` with turns), within `limit`. `None` when the read
/// failed, timed out or the record has no such turn.
pub(super) async fn read_turn(session: &Session, turn_id: &str, limit: Duration) -> Option<Turn> {
    let params = ThreadReadParams {
        thread_id: session.inner.thread_id.clone(),
        include_turns: Some(true),
    };
    let read = tokio::time::timeout(limit, session.inner.runtime.request(&params)).await;
    match read {
        Ok(Ok(response)) => {
            let turn = response.thread.turns.into_iter().find(|t| t.id == turn_id);
            if turn.is_none() {
                tracing::warn!(turn = %turn_id, "watchdog: thread/read has no record of the turn");
            }
            turn
        }
        Ok(Err(e)) => {
            tracing::warn!(turn = %turn_id, "watchdog: thread/read failed: {e}");
            None
        }
        Err(_) => {
            tracing::warn!(turn = %turn_id, ?limit, "watchdog: thread/read did not answer in time");
            None
        }
    }
}

/// True when codex's record says the turn is over.
pub(super) fn ended(turn: &Turn) -> bool {
    turn.status != TurnStatus::InProgress
}

/// Ends the accumulated turn from codex's record: its status, its error, and its items when the
/// record has any (it is the full list; the stream may have missed some).
pub(super) fn finish_from_record(acc: &mut TurnAccumulator, turn: Turn) {
    let out = &mut acc.output;
    out.status = turn.status;
    if turn.error.is_some() {
        out.error = turn.error;
    }
    if !turn.items.is_empty() {
        out.items = turn.items;
        if let Some(text) = out.agent_messages().last() {
            out.assistant_text = text.to_string();
        }
    }
    acc.done = true;
}

#[cfg(test)]
mod tests {
    use super::*;
    use codex_runtime_protocol::{AgentMessageThreadItem, ThreadItem};

    fn message(id: &str, text: &str) -> ThreadItem {
        ThreadItem::AgentMessage(AgentMessageThreadItem {
            id: id.into(),
            text: text.into(),
            ..Default::default()
        })
    }

    fn turn(status: &str, items: Vec<ThreadItem>) -> Turn {
        serde_json::from_value(serde_json::json!({
            "id": "turn", "status": status, "items": items,
        }))
        .unwrap()
    }

    #[test]
    fn the_record_gives_the_status_items_and_text() {
        let mut acc = TurnAccumulator::new("thr", "turn");
        acc.output.items.push(message("m1", "partial"));
        acc.output.assistant_text = "partial".into();
        let completed = turn(
            "completed",
            vec![message("m0", "first"), message("m1", "final")],
        );
        finish_from_record(&mut acc, completed);
        assert!(acc.done);
        assert_eq!(acc.output.status, TurnStatus::Completed);
        assert_eq!(acc.output.items.len(), 2);
        assert_eq!(acc.output.assistant_text, "final");

        // A record without items keeps what the stream gave.
        let mut acc = TurnAccumulator::new("thr", "turn");
        acc.output.items.push(message("m1", "streamed"));
        acc.output.assistant_text = "streamed".into();
        let interrupted = turn("interrupted", vec![]);
        assert!(ended(&interrupted));
        finish_from_record(&mut acc, interrupted);
        assert_eq!(acc.output.status, TurnStatus::Interrupted);
        assert_eq!(acc.output.assistant_text, "streamed");
        assert!(!ended(&turn("inProgress", vec![])));
    }

    #[tokio::test(start_paused = true)]
    async fn it_arms_only_after_the_last_open_item_completed() {
        let mut w = Watchdog::new(Duration::from_secs(5));
        assert!(!w.armed(), "no item completed yet");
        w.open = 1;
        w.touch();
        assert!(!w.armed(), "an item is still running");
        w.open = 0;
        w.completed_any = true;
        w.touch();
        assert!(w.armed());
        assert!(!w.stalled());
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(w.stalled());
        w.checked();
        assert!(!w.armed(), "read once per silence");
        assert!(w.stalled(), "still silent");
        w.touch();
        assert!(w.armed() && !w.stalled(), "an event re-arms it");
    }
}
