//! Layers 3 and 6: explicit sessions on a [`Client`], and the raw [`Runtime`].
//!
//! Every protocol type (`CommandExecParams`, `ThreadItem`, `TurnStatus`, ...) is re-exported
//! here, so `use codex_runtime::runtime::CommandExecParams;` works.

pub mod raw;

pub use codex_runtime_protocol::*;
pub use raw::{Endpoint, InitializeInfo, RestartPolicy, Runtime, RuntimeConfig, MIN_CODEX_VERSION};
