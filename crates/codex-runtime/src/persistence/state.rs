//! [`RuntimeStatus`]: the lifecycle state of one runtime, as a snapshot and a push stream (a
//! `tokio::sync::watch`: bounded by construction, a slow reader sees the latest state).

use super::model::{now_millis, Millis};
use crate::runtime::Runtime;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// What the runtime is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RuntimePhase {
    /// Connected, no turn running.
    Idle,
    /// A conversation or turn is starting.
    Starting,
    /// A turn is running.
    Running,
    /// Shutting down.
    Stopping,
    /// Stopped (shut down, or the process exited).
    Stopped,
    /// A failure; see [`RuntimeState::message`].
    Error,
}

/// Where the latest change came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RuntimeStateSource {
    /// The SDK (a turn started or ended, a shutdown was asked for).
    Runtime,
    /// Codex sent something the SDK could not accept, or a request failed.
    ProtocolError,
    /// The codex process exited.
    ProcessExit,
}

/// One snapshot of a runtime's lifecycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RuntimeState {
    /// The phase.
    pub phase: RuntimePhase,
    /// What caused it.
    pub source: RuntimeStateSource,
    /// When it changed ([`Millis`]).
    pub updated_at: Millis,
    /// The conversation being worked on.
    pub conversation_id: Option<String>,
    /// The codex thread.
    pub thread_id: Option<String>,
    /// The running turn.
    pub turn_id: Option<String>,
    /// The error, in phase `error` (or why it stopped).
    pub message: Option<String>,
}

/// The lifecycle state of one runtime: [`RuntimeStatus::snapshot`] and
/// [`RuntimeStatus::subscribe`]. Cheap to clone; clones share the state. A [`super::Recorder`]
/// given one (`with_status`) moves it through `starting → running → idle` per turn, and
/// [`RuntimeStatus::watch_runtime`] marks the exit of the process.
#[derive(Debug, Clone)]
pub struct RuntimeStatus {
    tx: watch::Sender<RuntimeState>,
}

impl Default for RuntimeStatus {
    fn default() -> Self {
        Self::new()
    }
}

impl RuntimeStatus {
    /// A status in phase `idle`.
    pub fn new() -> RuntimeStatus {
        RuntimeStatus {
            tx: watch::channel(RuntimeState {
                phase: RuntimePhase::Idle,
                source: RuntimeStateSource::Runtime,
                updated_at: now_millis(),
                conversation_id: None,
                thread_id: None,
                turn_id: None,
                message: None,
            })
            .0,
        }
    }

    /// The current state.
    pub fn snapshot(&self) -> RuntimeState {
        self.tx.borrow().clone()
    }

    /// A push stream of changes (`changed().await`, then `borrow()`).
    pub fn subscribe(&self) -> watch::Receiver<RuntimeState> {
        self.tx.subscribe()
    }

    /// Moves to `phase`. A `None` conversation or thread keeps the previous one; a `None` turn
    /// keeps it in `starting` / `running` and clears it otherwise.
    pub fn set(
        &self,
        phase: RuntimePhase,
        source: RuntimeStateSource,
        conversation_id: Option<&str>,
        thread_id: Option<&str>,
        turn_id: Option<&str>,
        message: Option<String>,
    ) {
        self.tx.send_modify(|s| {
            s.phase = phase;
            s.source = source;
            s.updated_at = now_millis();
            if let Some(c) = conversation_id {
                s.conversation_id = Some(c.to_string());
            }
            if let Some(t) = thread_id {
                s.thread_id = Some(t.to_string());
            }
            match (phase, turn_id) {
                (_, Some(t)) => s.turn_id = Some(t.to_string()),
                (RuntimePhase::Starting | RuntimePhase::Running, None) => {}
                _ => s.turn_id = None,
            }
            s.message = message;
        });
    }

    /// Watches `runtime` and moves to `stopped` when its connection ends: source
    /// `process_exit` with the reason when codex went away, `runtime` after a shutdown. The
    /// watcher ends with the runtime.
    pub fn watch_runtime(&self, runtime: &Runtime) -> tokio::task::JoinHandle<()> {
        let status = self.clone();
        let runtime = runtime.clone();
        tokio::spawn(async move {
            let reason = runtime.closed().await;
            let graceful = matches!(reason, crate::Error::Shutdown);
            let source = if graceful {
                RuntimeStateSource::Runtime
            } else {
                RuntimeStateSource::ProcessExit
            };
            let phase = if graceful {
                RuntimePhase::Stopped
            } else {
                RuntimePhase::Error
            };
            status.set(phase, source, None, None, None, Some(reason.to_string()));
        })
    }
}
