//! What the server tells the client as it happens: every notification as a typed [`Event`]
//! (a [`ServerNotification`] with its order and timestamp) delivered through a
//! [`Subscription`], the [`TurnEvent`]s of `Session::ask_stream`, the requests the server sends
//! ([`ServerRequest`]) and the method names ([`notification_methods`],
//! [`server_request_methods`]). Re-exported from `crate::rpc`, `crate::runtime::turn` and the
//! protocol crate.

pub use crate::rpc::{CloseReason, Event, RecvError, Subscription};
pub use crate::runtime::turn::TurnEvent;
pub use codex_runtime_protocol::{
    notification_methods, server_request_methods, ServerNotification, ServerRequest,
};
