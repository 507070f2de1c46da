//! Who is calling: a bearer token per tenant ([`TenantTokens`], stored as SHA-256 hashes) or a
//! user-supplied [`Authenticator`].

use futures::future::BoxFuture;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// A tenant: the scope of every session. Sessions of one tenant are invisible to the others.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

impl TenantId {
    /// A tenant id; empty or whitespace-only ids are refused (`None`).
    pub fn new(id: impl Into<String>) -> Option<TenantId> {
        let id = id.into();
        (!id.trim().is_empty()).then_some(TenantId(id))
    }
    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Decides which tenant a bearer token belongs to. `None` = refused (HTTP 401).
pub trait Authenticator: Send + Sync + 'static {
    /// The tenant of `token` (the text after `Bearer `), if any.
    fn authenticate(&self, token: &str) -> BoxFuture<'static, Option<TenantId>>;
}

/// The SHA-256 hash of a token, hex-encoded: what [`TenantTokens`] stores and what
/// configuration files may hold instead of the token itself.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Bearer tokens per tenant, held only as SHA-256 hashes (never the tokens themselves, so
/// neither `Debug` nor a memory dump shows them).
#[derive(Clone, Default)]
pub struct TenantTokens {
    by_hash: HashMap<[u8; 32], TenantId>,
}

impl fmt::Debug for TenantTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut tenants: Vec<&str> = self.by_hash.values().map(TenantId::as_str).collect();
        tenants.sort_unstable();
        f.debug_struct("TenantTokens")
            .field("tenants", &tenants)
            .finish_non_exhaustive()
    }
}

impl TenantTokens {
    /// No tokens (every request is refused).
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds `token` for `tenant` (hashed at once).
    pub fn with_token(mut self, tenant: TenantId, token: &str) -> Self {
        self.by_hash
            .insert(Sha256::digest(token.as_bytes()).into(), tenant);
        self
    }
    /// Adds a token given by its hex SHA-256 hash (see [`hash_token`]); `None` when
    /// `hash_hex` is not 64 hex digits.
    pub fn with_token_hash(mut self, tenant: TenantId, hash_hex: &str) -> Option<Self> {
        let bytes = hex::decode(hash_hex.trim()).ok()?;
        let hash: [u8; 32] = bytes.try_into().ok()?;
        self.by_hash.insert(hash, tenant);
        Some(self)
    }
    /// True when no token is configured.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }
    fn lookup(&self, token: &str) -> Option<TenantId> {
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        // Compare every entry in constant time so timing tells nothing about the hashes held.
        let mut found = None;
        for (known, tenant) in &self.by_hash {
            if bool::from(known.ct_eq(&hash)) {
                found = Some(tenant.clone());
            }
        }
        found
    }
}

impl Authenticator for TenantTokens {
    fn authenticate(&self, token: &str) -> BoxFuture<'static, Option<TenantId>> {
        let tenant = self.lookup(token);
        Box::pin(async move { tenant })
    }
}

/// The token of an `Authorization: Bearer <token>` header value.
pub(crate) fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The authenticator a router uses.
pub(crate) type SharedAuthenticator = Arc<dyn Authenticator>;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tokens_map_to_their_tenant_and_nothing_else() {
        let a = TenantId::new("a").unwrap();
        let b = TenantId::new("b").unwrap();
        let tokens = TenantTokens::new()
            .with_token(a.clone(), "secret-a")
            .with_token_hash(b.clone(), &hash_token("secret-b"))
            .unwrap();
        assert_eq!(tokens.authenticate("secret-a").await, Some(a));
        assert_eq!(tokens.authenticate("secret-b").await, Some(b));
        assert_eq!(tokens.authenticate("secret-c").await, None);
        assert!(!format!("{tokens:?}").contains("secret"));
        assert!(TenantTokens::new()
            .with_token_hash(TenantId::new("x").unwrap(), "zz")
            .is_none());
        assert!(TenantId::new("  ").is_none());
    }

    #[test]
    fn only_bearer_headers_give_a_token() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
    }
}
