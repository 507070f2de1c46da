//! Counters of a connection (requests, notifications, drops, lag, overload retries, protocol
//! problems): the live [`Metrics`] and a [`MetricsSnapshot`] of them (`Runtime::metrics`).
//! Re-exported from `crate::rpc::metrics`.

pub use crate::rpc::metrics::{Metrics, MetricsSnapshot};
