//! The JSON-RPC core: message shapes and ids, the pending map, the overload [`RetryPolicy`],
//! routing to subscribers and server-request dispatch ([`ServerRequestHandler`],
//! [`ServerRequestReply`], [`TimeoutAction`]). Re-exported from `crate::rpc`, where the
//! submodules (`connection`, `message`, `pending`, `retry`, `router`, `server_requests`) live.

pub use crate::rpc::retry::OVERLOADED;
pub use crate::rpc::{
    connection, message, pending, retry, router, server_requests, IncomingServerRequest,
    RetryPolicy, RpcErrorObject, ServerRequestHandler, ServerRequestReply, TimeoutAction,
};
