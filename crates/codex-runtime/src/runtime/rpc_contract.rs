//! The typed contract of the app-server's JSON-RPC methods, generated from codex's schemas:
//! [`ClientRequest`] links each params type to its method name and response type,
//! [`ServerRequestMethod`] does the same for what the server asks, [`client_method_info`]
//! answers by method name, and the method-name constants live in [`rpc_methods`],
//! [`notification_methods`] and [`server_request_methods`]. Re-exported from the
//! `codex-runtime-protocol` crate.

pub use codex_runtime_protocol::{
    client_method_info, notification_methods, rpc_methods, server_request_methods, ClientRequest,
    MethodInfo, RequestId, ServerRequestMethod,
};
