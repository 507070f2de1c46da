//! Caps on what the adapter keeps in memory: live sessions and open SSE streams, each in total
//! and per tenant, as [`Slots`], and which limit a refusal names ([`SessionLimit`],
//! [`StreamLimit`]).
//!
//! A session slot is taken before the runtime session opens (so concurrent creates cannot
//! overshoot) and given back when the session closes or fails to open; a stream slot is taken
//! before the stream starts and given back when it ends.

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
    /// [`crate::web::WebConfig::max_remembered_sessions_per_tenant`]: the share of remembered
    /// sessions one tenant may hold, all with a client.
    RememberedPerTenant,
}

impl SessionLimit {
    /// The configuration field that sets it (`max_sessions`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            SessionLimit::Total => "max_sessions",
            SessionLimit::PerTenant => "max_sessions_per_tenant",
            SessionLimit::Remembered => "max_remembered_sessions",
            SessionLimit::RememberedPerTenant => "max_remembered_sessions_per_tenant",
        }
    }
}

impl std::fmt::Display for SessionLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which stream limit of [`crate::web::WebConfig`] was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamLimit {
    /// [`crate::web::WebConfig::max_streams`]: open SSE streams of this instance, all tenants.
    Total,
    /// [`crate::web::WebConfig::max_streams_per_tenant`]: open SSE streams of one tenant.
    PerTenant,
}

impl StreamLimit {
    /// The configuration field that sets it (`max_streams`, `max_streams_per_tenant`).
    pub fn as_str(self) -> &'static str {
        match self {
            StreamLimit::Total => "max_streams",
            StreamLimit::PerTenant => "max_streams_per_tenant",
        }
    }
}

impl std::fmt::Display for StreamLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_tenant: HashMap<TenantId, usize>,
}

/// What a [`Slots`] counts (and so which error a refusal is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counted {
    /// Live sessions: [`WebError::TooManySessions`].
    Sessions,
    /// Open SSE streams: [`WebError::TooManyStreams`].
    Streams,
}

/// Counters of one kind of thing an adapter holds, in total and per tenant.
#[derive(Debug, Clone)]
pub(crate) struct Slots {
    counts: Arc<Mutex<Counts>>,
    max_total: usize,
    max_per_tenant: usize,
    counted: Counted,
}

/// One taken slot; dropping it gives the slot back.
#[derive(Debug)]
pub(crate) struct Slot {
    counts: Arc<Mutex<Counts>>,
    tenant: TenantId,
}

/// A taken live-session slot.
pub(crate) type SessionSlot = Slot;

impl Slots {
    pub fn new(counted: Counted, max_total: usize, max_per_tenant: usize) -> Self {
        Slots {
            counts: Arc::new(Mutex::new(Counts::default())),
            max_total,
            max_per_tenant,
            counted,
        }
    }

    fn refusal(&self, per_tenant: bool) -> WebError {
        match (self.counted, per_tenant) {
            (Counted::Sessions, true) => WebError::TooManySessions {
                limit: SessionLimit::PerTenant,
                max: self.max_per_tenant,
            },
            (Counted::Sessions, false) => WebError::TooManySessions {
                limit: SessionLimit::Total,
                max: self.max_total,
            },
            (Counted::Streams, true) => WebError::TooManyStreams {
                limit: StreamLimit::PerTenant,
                max: self.max_per_tenant,
            },
            (Counted::Streams, false) => WebError::TooManyStreams {
                limit: StreamLimit::Total,
                max: self.max_total,
            },
        }
    }

    /// Takes a slot for `tenant`, or says which limit is reached.
    pub fn take(&self, tenant: &TenantId) -> Result<Slot, WebError> {
        let mut counts = lock(&self.counts);
        let of_tenant = counts.per_tenant.get(tenant).copied().unwrap_or(0);
        if of_tenant >= self.max_per_tenant {
            return Err(self.refusal(true));
        }
        if counts.total >= self.max_total {
            return Err(self.refusal(false));
        }
        counts.total += 1;
        counts.per_tenant.insert(tenant.clone(), of_tenant + 1);
        Ok(Slot {
            counts: Arc::clone(&self.counts),
            tenant: tenant.clone(),
        })
    }
}

impl Drop for Slot {
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
        let slots = Slots::new(Counted::Sessions, 3, 2);
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

    #[test]
    fn stream_slots_name_the_stream_limits() {
        let slots = Slots::new(Counted::Streams, 2, 1);
        let alice = TenantId::new("alice").unwrap();
        let bob = TenantId::new("bob").unwrap();
        let _a = slots.take(&alice).unwrap();
        let err = slots.take(&alice).unwrap_err();
        assert!(matches!(
            err,
            WebError::TooManyStreams {
                limit: StreamLimit::PerTenant,
                max: 1
            }
        ));
        assert_eq!(err.limit(), Some("max_streams_per_tenant"));
        assert_eq!(err.status(), axum::http::StatusCode::TOO_MANY_REQUESTS);
        let _b = slots.take(&bob).unwrap();
        let err = slots.take(&TenantId::new("carol").unwrap()).unwrap_err();
        assert_eq!(err.limit(), Some("max_streams"));
        assert_eq!(err.status(), axum::http::StatusCode::SERVICE_UNAVAILABLE);
    }
}
