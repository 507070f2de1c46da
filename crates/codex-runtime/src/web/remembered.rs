//! Which sessions an adapter remembers: those it does not run (followed from the store, or
//! closed) are kept in memory only while there is room, under
//! [`WebConfig::max_remembered_sessions`] and each tenant's share,
//! [`WebConfig::max_remembered_sessions_per_tenant`].

use super::auth::TenantId;
use super::config::WebConfig;
use super::error::WebError;
use super::limits::SessionLimit;
use super::store::SessionKey;
use super::web_session::WebSession;
use std::collections::HashMap;
use std::sync::Arc;

/// Forgets the oldest remembered sessions no client follows until one more of `tenant`
/// fits under [`WebConfig::max_remembered_sessions_per_tenant`] (forgetting that tenant's
/// own first) and [`WebConfig::max_remembered_sessions`]; refuses when every one that
/// would have to go has a client.
pub(super) fn make_room(
    config: &WebConfig,
    sessions: &mut HashMap<SessionKey, Arc<WebSession>>,
    tenant: &TenantId,
) -> Result<(), WebError> {
    let (max, share) = (
        config.max_remembered_sessions,
        config.max_remembered_sessions_per_tenant,
    );
    let mut idle: Vec<(i64, SessionKey)> = Vec::new();
    let mut own_idle: Vec<(i64, SessionKey)> = Vec::new();
    let (mut remembered, mut own) = (0usize, 0usize);
    for (id, web) in sessions.iter().filter(|(_, w)| w.remembered()) {
        remembered += 1;
        let mine = &web.key.tenant == tenant;
        own += usize::from(mine);
        if !web.hub.has_subscribers() {
            idle.push((web.created_at_ms, id.clone()));
            if mine {
                own_idle.push((web.created_at_ms, id.clone()));
            }
        }
    }
    if own >= share {
        own_idle.sort_unstable_by(oldest_first);
        for (_, id) in own_idle.into_iter().take(own + 1 - share) {
            sessions.remove(&id);
            idle.retain(|(_, i)| i != &id);
            own -= 1;
            remembered -= 1;
        }
        if own >= share {
            return Err(WebError::TooManySessions {
                limit: SessionLimit::RememberedPerTenant,
                max: share,
            });
        }
    }
    if remembered < max {
        return Ok(());
    }
    idle.sort_unstable_by(oldest_first);
    for (_, id) in idle.into_iter().take(remembered + 1 - max) {
        sessions.remove(&id);
        remembered -= 1;
    }
    if remembered < max {
        return Ok(());
    }
    Err(WebError::TooManySessions {
        limit: SessionLimit::Remembered,
        max,
    })
}

/// Orders remembered sessions oldest first (then by id, so the order is total).
fn oldest_first(a: &(i64, SessionKey), b: &(i64, SessionKey)) -> std::cmp::Ordering {
    a.0.cmp(&b.0)
        .then_with(|| a.1.session_id.cmp(&b.1.session_id))
        .then_with(|| a.1.tenant.as_str().cmp(b.1.tenant.as_str()))
}
