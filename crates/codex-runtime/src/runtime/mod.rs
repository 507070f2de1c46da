//! Layers 3 and 6: explicit sessions on a [`Client`], and the raw [`Runtime`].
//!
//! - [`Client`] / [`ClientConfig`]: one app-server shared by concurrent sessions.
//! - [`Session`] / [`SessionConfig`]: one thread; `ask`, `ask_stream`, `ask_typed`, `ask_with`,
//!   `steer`, `interrupt`, `compact`, `revert`, `set_name`, `close`.
//! - [`RunProfile`]: safe defaults (approval never, sandbox read-only, effort medium, 120 s).
//! - [`ApprovalHandler`] / [`Approvals`]: answers to what codex asks, fail-closed by default.
//! - [`Runtime`] / [`RuntimeConfig`]: layer 6, raw JSON-RPC.
//!
//! Every protocol type (`CommandExecParams`, `ThreadItem`, `TurnStatus`, ...) is re-exported
//! here, so `use codex_runtime::runtime::CommandExecParams;` works.

pub mod approvals;
pub mod client;
pub mod profile;
pub mod raw;
pub mod schema;
pub mod session;
pub mod turn;
pub mod versions;

pub use crate::transport::remote::{RemoteEndpoint, TokenSource};
pub use approvals::{ApprovalConfig, ApprovalDecision, ApprovalHandler, Approvals};
pub use client::{Client, ClientConfig};
pub use codex_runtime_protocol::*;
pub use profile::{ApprovalMode, Attachment, Effort, RunProfile, Sandbox, TurnOverrides};
pub use raw::{
    Endpoint, InitializeInfo, ReconnectPolicy, RestartPolicy, Runtime, RuntimeConfig,
    MAX_CODEX_VERSION, MIN_CODEX_VERSION,
};
pub use schema::{strict_output_schema, strictify};
pub use session::{Session, SessionConfig};
pub use turn::{TurnEvent, TurnOutput};
