//! The JSON-RPC core: message shapes, request ids and the pending map, retry of overloaded
//! requests, routing of notifications to subscribers, and server-request dispatch.
//!
//! `connection::Connection` ties them together over one [`crate::transport::Transport`]:
//! a reader task decodes and routes every inbound frame (a consumer waiting in `recv` may do
//! that on its own thread during a flood: `reader`), a writer task batches outbound lines.

pub mod connection;
mod lazy_delta;
pub mod message;
pub mod metrics;
pub mod pending;
pub mod queue;
mod reader;
pub mod retry;
pub mod router;
pub mod server_requests;

pub use message::{Event, RpcErrorObject};
pub use metrics::{Metrics, MetricsSnapshot};
pub use queue::{CloseReason, RecvError, DEFAULT_OVERFLOW_PAUSE, DEFAULT_QUEUE_BUDGET_BYTES};
pub use retry::RetryPolicy;
pub use router::Subscription;
pub use server_requests::{
    IncomingServerRequest, ServerRequestHandler, ServerRequestReply, TimeoutAction,
};
