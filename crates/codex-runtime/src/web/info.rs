//! What the API answers about sessions and turns: [`SessionInfo`] and [`TurnAccepted`].

use serde::Serialize;

/// A web session as the API lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SessionInfo {
    /// The web session id.
    pub id: String,
    /// The codex thread behind it.
    pub thread_id: Option<String>,
    /// Its name, if given.
    pub name: Option<String>,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_at_ms: i64,
    /// True once closed.
    pub closed: bool,
    /// True while a turn runs (on this instance).
    pub running: bool,
    /// True when this instance runs the session (it can start turns and answer approvals);
    /// false for a session of another instance sharing the store (replay and live tail only).
    pub live_here: bool,
    /// The sequence of its last event (`Last-Event-ID` of a client that saw everything).
    pub last_event_id: u64,
}

/// What [`WebAdapter::create_turn`](super::WebAdapter::create_turn) answers: the turn was accepted and runs in the background.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct TurnAccepted {
    /// The session.
    pub session_id: String,
    /// The last event before the turn; the turn's events follow it.
    pub after_event_id: u64,
}
