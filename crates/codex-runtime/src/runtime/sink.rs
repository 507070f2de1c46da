//! Where the runtime delivers what it produces: outbound JSON-RPC frames go to a transport's
//! [`MessageSender`] (JSONL over stdio: [`JsonlSender`]), and the requests the server sends
//! (approvals, tool calls, ...) go to a [`ServerRequestHandler`] or, at the session level, an
//! [`ApprovalHandler`], which answer with a [`ServerRequestReply`] / [`ApprovalDecision`].
//! Re-exported from `crate::transport`, `crate::rpc` and `crate::runtime::approvals`.

pub use crate::rpc::{ServerRequestHandler, ServerRequestReply};
pub use crate::runtime::approvals::{ApprovalDecision, ApprovalHandler};
pub use crate::transport::{JsonlSender, MessageSender};
