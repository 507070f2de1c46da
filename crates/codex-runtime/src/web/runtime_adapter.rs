//! [`RuntimeAdapter`]: how a [`crate::web::WebAdapter`] opens the runtime session behind each
//! web session: on one shared [`Client`] (one codex process, one `CODEX_HOME` for every
//! tenant), or on a [`RuntimePool`] (a codex process, `CODEX_HOME` and workspace per tenant;
//! the isolating choice).

use super::auth::TenantId;
use crate::runtime::pool::{PoolKey, RuntimePool};
use crate::runtime::{Client, Session, SessionConfig};
use futures::future::BoxFuture;
use sha2::{Digest, Sha256};

/// How the adapter opens the runtime session behind a web session. [`RuntimePool`] implements
/// it with a process per tenant ([`tenant_key`]); [`Client`] with one process shared by every
/// tenant (`start_session`). Implement it to choose a working directory or profile per tenant.
pub trait RuntimeAdapter: Send + Sync + 'static {
    /// Opens a session for `tenant` with `config` (the adapter's template, with the approvals
    /// bridge installed).
    fn open_session(
        &self,
        tenant: &TenantId,
        config: SessionConfig,
    ) -> BoxFuture<'static, crate::Result<Session>>;
}

/// One room for every tenant: the same codex process, `CODEX_HOME` and working directory.
/// Tenants are then isolated only at the HTTP routes, not from each other's commands.
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

/// A pool key per tenant ([`tenant_key`]): each tenant's sessions run on its own codex process
/// with its own `CODEX_HOME`, and their working directory (the template's `cwd`, relative to the
/// tenant's workspace root; `"."` = the root) lies inside the tenant's workspace.
impl RuntimeAdapter for RuntimePool {
    fn open_session(
        &self,
        tenant: &TenantId,
        config: SessionConfig,
    ) -> BoxFuture<'static, crate::Result<Session>> {
        let pool = self.clone();
        let key = tenant_key(tenant);
        Box::pin(async move { pool.open_session(&key, config).await })
    }
}

/// The pool key of `tenant`: its id when that is a valid [`PoolKey`], else `t-` and the first
/// 32 hex digits of the id's SHA-256 (so every tenant id maps to one safe directory name, and
/// two ids never share one in practice).
pub fn tenant_key(tenant: &TenantId) -> PoolKey {
    if let Ok(key) = PoolKey::new(tenant.as_str()) {
        return key;
    }
    let digest = hex::encode(Sha256::digest(tenant.as_str().as_bytes()));
    match PoolKey::new(format!("t-{}", &digest[..32])) {
        Ok(key) => key,
        // Unreachable: `t-` and hex digits always make a valid key.
        Err(_) => unreachable!("a hashed tenant key is always valid"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tenant_id_maps_to_a_key_of_its_own() {
        let plain = TenantId::new("alice").unwrap();
        assert_eq!(tenant_key(&plain).as_str(), "alice");
        let mail = TenantId::new("alice@example.com").unwrap();
        let other = TenantId::new("bob@example.com").unwrap();
        assert!(tenant_key(&mail).as_str().starts_with("t-"));
        assert_ne!(tenant_key(&mail), tenant_key(&other));
        assert_eq!(tenant_key(&mail), tenant_key(&mail));
        let dotted = TenantId::new("..").unwrap();
        assert!(tenant_key(&dotted).as_str().starts_with("t-"));
    }
}
