//! Every error type a user of the SDK meets: the crate's [`Error`] (and [`Result`]), the
//! automation's [`AutomationError`] and [`PromptRunError`], a hook's [`HookIssue`], a JSON-RPC
//! error object ([`RpcErrorObject`]), a subscription's [`RecvError`] and the protocol problems
//! a connection reports ([`ProtocolIssue`]). Re-exported from where they live.

pub use crate::automation::{AutomationError, PromptRunError};
pub use crate::error::{Error, Result};
pub use crate::plugin::{HookIssue, HookIssueKind};
pub use crate::rpc::connection::{ProtocolIssue, ProtocolIssueKind};
pub use crate::rpc::{RecvError, RpcErrorObject};
