//! The seam between the web adapter and durable storage: [`EventStore`] keeps each session's
//! event log (what `Last-Event-ID` resumes and other instances replay from).

use super::auth::TenantId;
use super::error::WebError;
use super::hub::Logged;
use super::sse::SseEnvelope;
use futures::future::BoxFuture;
use std::sync::Arc;

/// A session as the store knows it: tenant plus session id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionKey {
    /// The tenant owning the session.
    pub tenant: TenantId,
    /// The web session id (see [`crate::web::new_session_id`]).
    pub session_id: String,
}

/// Durable per-session event logs.
pub(crate) trait EventStore: Send + Sync + 'static {
    /// Appends `events` (consecutive sequences following the last one stored).
    fn append<'a>(
        &'a self,
        key: &'a SessionKey,
        events: &'a [Arc<Logged>],
    ) -> BoxFuture<'a, Result<(), WebError>>;

    /// Up to `limit` events with a sequence greater than `after`, in order.
    fn read_after<'a>(
        &'a self,
        key: &'a SessionKey,
        after: u64,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<SseEnvelope>, WebError>>;
}
