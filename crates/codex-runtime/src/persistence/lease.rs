//! The ownership lease of a live session (conversation): which instance runs it, until when.
//!
//! One row per conversation in `codex_session_leases`: `owner` (an instance id), `token` (a
//! fencing token, bumped whenever the lease changes hands), `acquired_at`, `heartbeat_at` and
//! `expires_at`. An instance:
//!
//! 1. acquires the lease with [`ConversationStore::acquire_session_lease`]: granted when it is
//!    free, expired, or already its own (a restarted instance with the same id takes its own
//!    sessions back at once); refused with the live holder otherwise
//!    ([`LeaseAcquire::Held`], which an HTTP adapter maps to `409 session_elsewhere`);
//! 2. renews it while the session is live ([`ConversationStore::renew_session_lease`], every
//!    third of the lease; [`SessionLeaseGuard`] does it in the background), and stops driving
//!    the session when a renewal says the lease is lost;
//! 3. releases it when the session closes ([`ConversationStore::release_session_lease`]).
//!
//! [`super::Conversations`] uses it for every open; `Resume` abandons the open turns of a
//! previous owner only once it holds the lease.

use super::model::{now_millis, Millis, Scope};
use super::store::ConversationStore;
use std::sync::Arc;
use std::time::Duration;

/// Default length of a session lease.
pub const DEFAULT_SESSION_LEASE: Duration = Duration::from_secs(30);

/// One session's ownership lease as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionLease {
    /// Whose conversation.
    pub scope: Scope,
    /// The conversation.
    pub conversation_id: String,
    /// The instance holding it.
    pub owner: String,
    /// Fencing token: grows whenever the lease changes hands.
    pub token: i64,
    /// When the current holder took it ([`Millis`]).
    pub acquired_at: Millis,
    /// Its last renewal ([`Millis`]).
    pub heartbeat_at: Millis,
    /// When it ends unless renewed ([`Millis`]).
    pub expires_at: Millis,
}

impl SessionLease {
    /// Whether it is still live at `now`.
    pub fn is_live(&self, now: Millis) -> bool {
        self.expires_at > now
    }
}

/// What [`ConversationStore::acquire_session_lease`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeaseAcquire {
    /// The caller holds the lease now.
    Acquired {
        /// The lease as stored.
        lease: SessionLease,
        /// It was already the caller's live lease (same owner, same token): nothing changed
        /// hands. `false` for a new lease, one taken over after it expired, or the caller's
        /// own expired or released one; the caller may then treat turns left open as
        /// abandoned, since no live owner is recording them.
        renewed: bool,
    },
    /// Another owner holds a live lease.
    Held(SessionLease),
}

/// Keeps a session lease renewed in a background task until dropped (then releases it).
///
/// [`SessionLeaseGuard::lost`] tells whether a renewal found the lease gone (taken over after
/// it expired): the holder must then stop driving the session.
#[derive(Debug)]
pub struct SessionLeaseGuard {
    inner: Arc<GuardInner>,
}

struct GuardInner {
    lease: SessionLease,
    lost: tokio::sync::watch::Receiver<bool>,
    task: tokio::task::JoinHandle<()>,
    store: Arc<dyn ConversationStore>,
}

impl std::fmt::Debug for GuardInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionLeaseGuard")
            .field("lease", &self.lease)
            .field("lost", &*self.lost.borrow())
            .finish_non_exhaustive()
    }
}

impl SessionLeaseGuard {
    /// Renews `lease` on `store` every third of `ttl` until dropped; releases it on drop.
    pub fn hold(store: Arc<dyn ConversationStore>, lease: SessionLease, ttl: Duration) -> Self {
        let (tx, lost) = tokio::sync::watch::channel(false);
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let task = {
            let (store, lease) = (Arc::clone(&store), lease.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(ttl / 3).await;
                    let renewed = store
                        .renew_session_lease(
                            &lease.scope,
                            &lease.conversation_id,
                            &lease.owner,
                            lease.token,
                            now_millis(),
                            ttl_ms,
                        )
                        .await;
                    match renewed {
                        Ok(Some(_)) => {}
                        Ok(None) => {
                            tracing::warn!(
                                conversation = %lease.conversation_id,
                                "the session's ownership lease was taken over"
                            );
                            let _ = tx.send(true);
                            return;
                        }
                        Err(e) => tracing::warn!(
                            conversation = %lease.conversation_id,
                            error = %e,
                            "cannot renew the session's ownership lease"
                        ),
                    }
                }
            })
        };
        SessionLeaseGuard {
            inner: Arc::new(GuardInner {
                lease,
                lost,
                task,
                store,
            }),
        }
    }

    /// The lease as acquired.
    pub fn lease(&self) -> &SessionLease {
        &self.inner.lease
    }

    /// Whether a renewal found the lease taken over.
    pub fn lost(&self) -> bool {
        *self.inner.lost.borrow()
    }
}

impl Clone for SessionLeaseGuard {
    fn clone(&self) -> Self {
        SessionLeaseGuard {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl Drop for GuardInner {
    fn drop(&mut self) {
        self.task.abort();
        // Release in the background (best effort: an unreleased lease just expires).
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let (store, lease) = (Arc::clone(&self.store), self.lease.clone());
            handle.spawn(async move {
                let released = store
                    .release_session_lease(
                        &lease.scope,
                        &lease.conversation_id,
                        &lease.owner,
                        lease.token,
                    )
                    .await;
                if let Err(e) = released {
                    tracing::debug!(error = %e, "releasing a session lease failed; it expires");
                }
            });
        }
    }
}
