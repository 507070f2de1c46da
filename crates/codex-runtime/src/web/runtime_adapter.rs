//! [`RuntimeAdapter`]: how a [`crate::web::WebAdapter`] opens the runtime session behind each
//! web session.

use super::auth::TenantId;
use crate::runtime::{Client, Session, SessionConfig};
use futures::future::BoxFuture;

/// How the adapter opens the runtime session behind a web session. [`Client`] implements it
/// (`start_session`); implement it to choose a working directory or profile per tenant.
pub trait RuntimeAdapter: Send + Sync + 'static {
    /// Opens a session for `tenant` with `config` (the adapter's template, with the approvals
    /// bridge installed).
    fn open_session(
        &self,
        tenant: &TenantId,
        config: SessionConfig,
    ) -> BoxFuture<'static, crate::Result<Session>>;
}

impl RuntimeAdapter for Client {
    fn open_session(
        &self,
        _tenant: &TenantId,
        config: SessionConfig,
    ) -> BoxFuture<'static, crate::Result<Session>> {
        let client = self.clone();
        Box::pin(async move { client.start_session(config).await })
    }
}
