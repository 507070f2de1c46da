//! One web session as the adapter keeps it: live (a runtime session on this instance) or
//! followed (run by another instance sharing the store).

use super::hub::Hub;
use super::info::SessionInfo;
use super::limits::SessionSlot;
use super::store::SessionKey;
use super::turns::RunningTurn;
use crate::runtime::Session;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// One web session: live (a runtime session on this instance) or followed (run by another
/// instance sharing the store; replay and live tail only).
pub(super) struct WebSession {
    pub(super) key: SessionKey,
    pub(super) session: Option<Session>,
    pub(super) thread_id: Option<String>,
    pub(super) hub: Arc<Hub>,
    pub(super) name: Option<String>,
    pub(super) created_at_ms: i64,
    pub(super) closed: AtomicBool,
    /// The stored conversation is archived (or there is no store): closing is done. A close
    /// whose store write failed leaves it false, so the next close tries again.
    pub(super) archived: AtomicBool,
    pub(super) turn: Mutex<Option<RunningTurn>>,
    /// The live-session slot this session holds until it closes (none when followed).
    pub(super) slot: Mutex<Option<SessionSlot>>,
}

impl WebSession {
    pub(super) fn running(&self) -> bool {
        self.turn
            .lock()
            .map(|t| t.as_ref().is_some_and(RunningTurn::is_running))
            .unwrap_or(false)
    }
    /// Followed from the store, or closed: kept in memory only as long as there is room.
    pub(super) fn remembered(&self) -> bool {
        self.session.is_none() || self.closed.load(Ordering::SeqCst)
    }
    pub(super) fn info(&self) -> SessionInfo {
        SessionInfo {
            id: self.key.session_id.clone(),
            thread_id: self.thread_id.clone(),
            name: self.name.clone(),
            created_at_ms: self.created_at_ms,
            closed: self.closed.load(Ordering::SeqCst),
            running: self.running(),
            live_here: self.session.is_some(),
            last_event_id: self.hub.last_seq(),
        }
    }
}
