//! Who is calling: a bearer token per tenant ([`TenantTokens`], stored as SHA-256 hashes) or a
//! user-supplied [`Authenticator`].
//!
//! A user authenticator fails closed: one that panics (in the call or in its future) or does not
//! answer within 10 s refuses the request (HTTP 401), with a `tracing`
//! error; the connection never hangs and the request is never let through.

use futures::future::BoxFuture;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;

/// How long an [`Authenticator`] may take before the request is refused (HTTP 401).
pub(crate) const AUTHENTICATE_TIMEOUT: Duration = Duration::from_secs(10);

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

/// Runs `auth` fail-closed: a panic or an answer later than `timeout` is a refusal (`None`).
pub(crate) async fn authenticate_fail_closed(
    auth: &SharedAuthenticator,
    token: &str,
    timeout: Duration,
) -> Option<TenantId> {
    let call = crate::rpc::server_requests::catch_panic(|| auth.authenticate(token));
    match tokio::time::timeout(timeout, call).await {
        Ok(Ok(tenant)) => tenant,
        Ok(Err(message)) => {
            tracing::error!("the web authenticator panicked ({message}); request refused");
            None
        }
        Err(_) => {
            tracing::error!(
                ?timeout,
                "the web authenticator did not answer in time; request refused"
            );
            None
        }
    }
}

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

    /// Panics in the call (`in_call`) or in its future, or never answers (`hang`).
    struct Broken {
        in_call: bool,
        hang: bool,
    }

    impl Authenticator for Broken {
        fn authenticate(&self, _token: &str) -> BoxFuture<'static, Option<TenantId>> {
            if self.hang {
                return Box::pin(std::future::pending());
            }
            if self.in_call {
                panic!("authenticator bug in the call");
            }
            Box::pin(async { panic!("authenticator bug in the future") })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_or_hanging_authenticator_refuses() {
        for (in_call, hang) in [(true, false), (false, false), (false, true)] {
            let auth: SharedAuthenticator = Arc::new(Broken { in_call, hang });
            let started = tokio::time::Instant::now();
            let tenant = authenticate_fail_closed(&auth, "token", AUTHENTICATE_TIMEOUT).await;
            assert_eq!(tenant, None, "in_call={in_call} hang={hang}");
            if hang {
                assert!(started.elapsed() >= AUTHENTICATE_TIMEOUT);
            }
        }
        let good: SharedAuthenticator =
            Arc::new(TenantTokens::new().with_token(TenantId::new("a").unwrap(), "t"));
        assert_eq!(
            authenticate_fail_closed(&good, "t", AUTHENTICATE_TIMEOUT).await,
            TenantId::new("a")
        );
    }

    #[test]
    fn only_bearer_headers_give_a_token() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
    }
}
