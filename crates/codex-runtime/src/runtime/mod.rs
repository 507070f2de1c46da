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
//!
//! ## Topic modules
//!
//! Each holds what its name says, re-exported from where the code lives:
//! [`api`] (entry points of every layer), [`core`] (the raw layer-6 runtime), [`errors`],
//! [`events`], [`hooks`], [`metrics`], [`rpc`] (the JSON-RPC core), [`rpc_contract`] (typed
//! methods), [`sink`] (where output and server requests go), [`state`], [`transport`] and
//! [`turn_output`].
//!
//! Every name of the seed's public API compiles:
//!
//! ```
//! use codex_runtime::automation::{PromptRunError, TurnFailure};
//! use codex_runtime::plugin::{BlockReason, HookPhase};
//! use codex_runtime::runtime;
//! use codex_runtime::{FilteredPostHook, FilteredPreHook, HookAction, HookMatcher, ShellCommandHook};
//!
//! let policy = FilteredPreHook::new(
//!     HookMatcher::any().phase(HookPhase::PreToolUse).tools("exec_command"),
//!     ShellCommandHook::new("policy", ["./scripts/policy.sh"]),
//! );
//! let audit = FilteredPostHook::new(
//!     HookMatcher::any().phase(HookPhase::PostToolUse),
//!     ShellCommandHook::new("audit", ["./scripts/audit.sh"]),
//! );
//! let block = HookAction::Block(BlockReason::new("not on Fridays"));
//! assert!(block.is_block());
//! let failure: PromptRunError = TurnFailure::new("model refused");
//! assert_eq!(failure.message(), "model refused");
//!
//! // One item of each topic module.
//! fn topics(
//!     _: runtime::api::Session,
//!     _: runtime::core::Runtime,
//!     _: runtime::errors::Error,
//!     _: runtime::events::Event,
//!     _: runtime::hooks::HookContext,
//!     _: runtime::metrics::MetricsSnapshot,
//!     _: runtime::rpc::RetryPolicy,
//!     _: runtime::rpc_contract::RequestId,
//!     _: &dyn runtime::sink::ApprovalHandler,
//!     _: runtime::state::InitializeInfo,
//!     _: runtime::transport::Transport,
//!     _: runtime::turn_output::TurnOutput,
//! ) {
//! }
//! # let _ = (policy, audit, topics);
//! ```

pub mod approvals;
pub mod client;
mod method_table;
pub mod pool;
pub mod profile;
pub mod raw;
pub mod schema;
pub mod session;
pub mod turn;
pub mod versions;

pub mod api;
pub mod core;
pub mod errors;
pub mod events;
pub mod hooks;
pub mod metrics;
pub mod rpc;
pub mod rpc_contract;
pub mod sink;
pub mod state;
pub mod transport;
pub mod turn_output;

#[cfg(feature = "remote")]
pub use crate::transport::remote::{RemoteEndpoint, TokenSource};
pub use approvals::{ApprovalConfig, ApprovalDecision, ApprovalHandler, Approvals};
pub use client::{Client, ClientConfig};
pub use codex_runtime_protocol::*;
pub use profile::{ApprovalMode, Attachment, Effort, RunProfile, Sandbox, TurnOverrides};
pub use raw::{
    CodexVersionInfo, Endpoint, InitializeInfo, ReconnectPolicy, RestartPolicy, Runtime,
    RuntimeConfig, VersionPolicy, MAX_CODEX_VERSION, MIN_CODEX_VERSION,
};
pub use schema::{strict_output_schema, strictify};
pub use session::{Session, SessionConfig};
pub use turn::{TurnEvent, TurnOutput};
