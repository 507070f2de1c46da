//! The observable state of a runtime and its threads: what the handshake negotiated
//! ([`InitializeInfo`]), why a connection closed ([`CloseReason`]), how the codex child ended
//! ([`ExitInfo`]), and the protocol's thread and turn states ([`Thread`], [`ThreadStatus`],
//! [`Turn`], [`TurnStatus`]). Re-exported from where they live.

pub use crate::rpc::CloseReason;
pub use crate::runtime::raw::InitializeInfo;
pub use crate::transport::process::ExitInfo;
pub use codex_runtime_protocol::{Thread, ThreadStatus, Turn, TurnStatus};
