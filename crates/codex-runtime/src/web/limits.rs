//! Caps on what the adapter keeps in memory: live sessions (in total and per tenant) as
//! [`SessionSlots`], and which limit a refusal names ([`SessionLimit`]).
//!
//! A slot is taken before the runtime session opens (so concurrent creates cannot overshoot)
//! and given back when the session closes or fails to open.

use super::auth::TenantId;
use super::error::WebError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Which session limit of [`crate::web::WebConfig`] was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionLimit {
    /// [`crate::web::WebConfig::max_sessions`]: live sessions of this instance, all tenants.
    Total,
    /// [`crate::web::WebConfig::max_sessions_per_tenant`]: live sessions of one tenant.
    PerTenant,
    /// [`crate::web::WebConfig::max_remembered_sessions`]: sessions kept in memory that this
    /// instance does not run (followed from the store, or closed), all with a client.
    Remembered,
}

impl SessionLimit {
    /// The configuration field that sets it (`max_sessions`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            SessionLimit::Total => "max_sessions",
            SessionLimit::PerTenant => "max_sessions_per_tenant",
            SessionLimit::Remembered => "max_remembered_sessions",
        }
    }
}

impl std::fmt::Display for SessionLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_tenant: HashMap<TenantId, usize>,
}

/// The live-session counters of one adapter.
#[derive(Debug, Clone)]
pub(crate) struct SessionSlots {
    counts: Arc<Mutex<Counts>>,
    max_total: usize,
    max_per_tenant: usize,
}

/// One taken slot; dropping it gives the slot back.
#[derive(Debug)]
pub(crate) struct SessionSlot {
    counts: Arc<Mutex<Counts>>,
    tenant: TenantId,
}

impl SessionSlots {
    pub fn new(max_total: usize, max_per_tenant: usize) -> Self {
        SessionSlots {
            counts: Arc::new(Mutex::new(Counts::default())),
            max_total,
            max_per_tenant,
        }
    }

    /// Takes a slot for a new live session of `tenant`, or says which limit is reached.
    pub fn take(&self, tenant: &TenantId) -> Result<SessionSlot, WebError> {
        let mut counts = lock(&self.counts);
        let of_tenant = counts.per_tenant.get(tenant).copied().unwrap_or(0);
        if of_tenant >= self.max_per_tenant {
            return Err(WebError::TooManySessions {
                limit: SessionLimit::PerTenant,
                max: self.max_per_tenant,
            });
        }
        if counts.total >= self.max_total {
            return Err(WebError::TooManySessions {
                limit: SessionLimit::Total,
                max: self.max_total,
            });
        }
        counts.total += 1;
        counts.per_tenant.insert(tenant.clone(), of_tenant + 1);
        Ok(SessionSlot {
            counts: Arc::clone(&self.counts),
            tenant: tenant.clone(),
        })
    }
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        let mut counts = lock(&self.counts);
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_tenant.get_mut(&self.tenant) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.per_tenant.remove(&self.tenant);
            }
        }
    }
}

fn lock(counts: &Mutex<Counts>) -> std::sync::MutexGuard<'_, Counts> {
    // The counters are updated in one step each; a poisoned lock still holds valid numbers.
    counts.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_capped_per_tenant_and_in_total_and_given_back_on_drop() {
        let slots = SessionSlots::new(3, 2);
        let alice = TenantId::new("alice").unwrap();
        let bob = TenantId::new("bob").unwrap();
        let a1 = slots.take(&alice).unwrap();
        let _a2 = slots.take(&alice).unwrap();
        assert!(matches!(
            slots.take(&alice),
            Err(WebError::TooManySessions {
                limit: SessionLimit::PerTenant,
                max: 2
            })
        ));
        let _b1 = slots.take(&bob).unwrap();
        assert!(matches!(
            slots.take(&bob),
            Err(WebError::TooManySessions {
                limit: SessionLimit::Total,
                max: 3
            })
        ));
        drop(a1);
        let _b2 = slots.take(&bob).unwrap();
    }
}
