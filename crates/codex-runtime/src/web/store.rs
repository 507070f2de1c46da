//! How web sessions sit in a [`ConversationStore`]: one conversation per web session (its id
//! is the session id), scoped by the tenant and the actor [`WEB_ACTOR`].

use super::auth::TenantId;
use super::error::WebError;
use crate::persistence::Scope;

/// The actor under which web sessions are stored (the tenant is the caller's).
pub const WEB_ACTOR: &str = "web";

/// A session as the store knows it: tenant plus session id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionKey {
    /// The tenant owning the session.
    pub tenant: TenantId,
    /// The web session id (see [`crate::web::new_session_id`]).
    pub session_id: String,
}

impl SessionKey {
    /// The store scope of the session's tenant.
    pub fn scope(&self) -> Result<Scope, WebError> {
        scope_of(&self.tenant)
    }
}

/// The store scope of `tenant`'s web sessions.
pub fn scope_of(tenant: &TenantId) -> Result<Scope, WebError> {
    Ok(Scope::new(tenant.as_str(), WEB_ACTOR)?)
}
