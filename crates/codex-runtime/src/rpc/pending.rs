//! Request ids and the map of calls waiting for their reply.
//!
//! Each call inserts a oneshot sender under its id and holds a `PendingGuard`; dropping the
//! guard (the call future was dropped, or timed out) removes the entry, so the map never grows
//! with abandoned calls. A reply that arrives after that is counted as unmatched and dropped.

use super::message::RpcErrorObject;
use codex_runtime_protocol::RequestId;
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// Why a pending call ended without a reply.
#[derive(Debug, Clone)]
pub(crate) struct ClosedInfo {
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub stderr_tail: String,
}

/// What a pending call receives.
pub(crate) type Reply = Result<Result<Box<RawValue>, RpcErrorObject>, ClosedInfo>;

/// The pending map.
#[derive(Debug, Default)]
pub(crate) struct PendingMap {
    next_id: AtomicI64,
    calls: Mutex<HashMap<RequestId, oneshot::Sender<Reply>>>,
    closed: Mutex<Option<ClosedInfo>>,
}

impl PendingMap {
    /// Registers a new call; the receiver gets the reply.
    pub fn register(
        self: &Arc<Self>,
    ) -> Result<(PendingGuard, oneshot::Receiver<Reply>), ClosedInfo> {
        let id = RequestId::Integer(self.next_id.fetch_add(1, Ordering::Relaxed) + 1);
        let (tx, rx) = oneshot::channel();
        if let Ok(closed) = self.closed.lock() {
            if let Some(info) = closed.as_ref() {
                return Err(info.clone());
            }
        }
        if let Ok(mut calls) = self.calls.lock() {
            calls.insert(id.clone(), tx);
        }
        Ok((
            PendingGuard {
                map: Arc::clone(self),
                id,
            },
            rx,
        ))
    }

    /// Completes the call with this id. Returns false when no call waits for it.
    pub fn complete(&self, id: &RequestId, reply: Result<Box<RawValue>, RpcErrorObject>) -> bool {
        let tx = self.calls.lock().ok().and_then(|mut c| c.remove(id));
        match tx {
            Some(tx) => {
                let _ = tx.send(Ok(reply));
                true
            }
            None => false,
        }
    }

    /// Fails every pending call (and every later one) with `info`.
    pub fn close_all(&self, info: ClosedInfo) {
        if let Ok(mut closed) = self.closed.lock() {
            *closed = Some(info.clone());
        }
        let drained: Vec<_> = match self.calls.lock() {
            Ok(mut c) => c.drain().collect(),
            Err(_) => Vec::new(),
        };
        for (_, tx) in drained {
            let _ = tx.send(Err(info.clone()));
        }
    }

    /// How many calls wait right now.
    pub fn len(&self) -> usize {
        self.calls.lock().map(|c| c.len()).unwrap_or(0)
    }
}

/// Removes its entry from the pending map when dropped.
#[derive(Debug)]
pub(crate) struct PendingGuard {
    map: Arc<PendingMap>,
    id: RequestId,
}

impl PendingGuard {
    /// The request id of this call.
    pub fn id(&self) -> &RequestId {
        &self.id
    }
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        if let Ok(mut calls) = self.map.calls.lock() {
            calls.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropping_the_guard_removes_the_entry() {
        let map = Arc::new(PendingMap::default());
        let (g1, _r1) = map.register().unwrap();
        let (g2, _r2) = map.register().unwrap();
        assert_ne!(g1.id(), g2.id());
        assert_eq!(map.len(), 2);
        drop(g1);
        assert_eq!(map.len(), 1);
        drop(g2);
        assert_eq!(map.len(), 0);
    }

    #[tokio::test]
    async fn close_all_fails_current_and_later_calls() {
        let map = Arc::new(PendingMap::default());
        let (_g, rx) = map.register().unwrap();
        map.close_all(ClosedInfo {
            exit_code: Some(3),
            signal: None,
            stderr_tail: "boom".into(),
        });
        assert_eq!(rx.await.unwrap().unwrap_err().exit_code, Some(3));
        assert!(map.register().is_err());
    }

    #[test]
    fn a_reply_for_an_unknown_id_is_reported() {
        let map = Arc::new(PendingMap::default());
        let raw = RawValue::from_string("{}".into()).unwrap();
        assert!(!map.complete(&RequestId::String("1".into()), Ok(raw)));
    }
}
