//! # codex-runtime
//!
//! The Rust SDK for OpenAI's `codex app-server` (the stdio JSON-RPC backend of the `codex`
//! CLI), pinned to codex 0.171.0 (supports 0.150.0 to 0.171.0, see `docs/COMPATIBILITY.md`).
//!
//! ## Layers
//!
//! | layer | entry point | for |
//! |---|---|---|
//! | 5 | [`AppServer`] | typed JSON-RPC helpers for every method + the server-request loop |
//! | 6 | [`runtime::Runtime`] | raw JSON-RPC: `call`, `notify`, `subscribe`, `respond`, metrics |
//!
//! ## Layout
//! - [`transport`]: the seam (sender/receiver traits), stdio spawning with process groups and a
//!   stderr ring buffer, attach over a Unix-socket WebSocket, JSONL framing with a line limit.
//! - [`rpc`]: message shapes, ids and the pending map, overload retry, routing to subscribers
//!   with explicit `Lagged`, fail-closed server-request handling, metrics.
//! - [`runtime`]: [`runtime::Runtime`] (layer 6) and the protocol types re-exported.
//! - [`app_server`]: [`AppServer`] (layer 5).
//! - [`error`]: the one [`Error`] enum.
//! - `artifact` (cargo feature `artifact`): documents Codex edits through typed tasks, with
//!   revisions, validated patches and a crash-safe store (`docs/guide/artifact.md`).
//! - `tools` (cargo feature `tools`): typed functions written in Rust that the model can call,
//!   served per session from an embedded MCP server (`docs/guide/tools.md`).
//! - `persistence` (cargo feature `persistence`): durable conversations in SQLite or PostgreSQL
//!   (`docs/guide/persistence.md`).
//!
//! The protocol types come from the `codex-runtime-protocol` crate, generated from the JSON
//! Schemas codex emits (see `scripts/gen-protocol.py`).

#![warn(missing_docs)]

pub mod app_server;
#[cfg(feature = "artifact")]
pub mod artifact;
pub mod automation;
pub mod error;
#[cfg(feature = "persistence")]
pub mod persistence;
pub mod plugin;
pub mod rpc;
pub mod runtime;
#[cfg(feature = "tools")]
pub mod tools;
pub mod transport;
#[cfg(feature = "web")]
pub mod web;
pub mod workflow;

pub use app_server::AppServer;
pub use codex_runtime_protocol::{notification_methods, rpc_methods, server_request_methods};
pub use error::{Error, Result};
pub use plugin::{
    BlockReason, FailureMode, FilteredPostHook, FilteredPreHook, HookAction, HookContext,
    HookMatcher, HookPatch, PostHook, PreHook, ShellCommandHook,
};
pub use runtime::{Client, ClientConfig, RunProfile, Session, SessionConfig, TurnOutput};
pub use workflow::{quick_run, quick_run_with_profile, RunOutput, Workflow, WorkflowConfig};

/// The code in `README.md` and `docs/GUIDE.md` compiles (checked as doctests).
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct DocsCompile;

// The guide shows the remote, attach and cron features too.
#[cfg(all(doctest, feature = "remote", feature = "cron"))]
#[doc = include_str!("../../../docs/GUIDE.md")]
pub struct GuideCompiles;

/// The code in `docs/guide/persistence.md` compiles (checked as doctests).
#[cfg(all(doctest, feature = "persistence"))]
#[doc = include_str!("../../../docs/guide/persistence.md")]
pub struct PersistenceDocsCompile;

/// The code in `docs/guide/web.md` compiles (checked as doctests).
#[cfg(all(doctest, feature = "web"))]
#[doc = include_str!("../../../docs/guide/web.md")]
pub struct WebDocsCompile;

/// The code in `docs/guide/tools.md` compiles (checked as doctests).
#[cfg(all(doctest, feature = "tools"))]
#[doc = include_str!("../../../docs/guide/tools.md")]
pub struct ToolsDocsCompile;

/// The artifact chapter of the guide compiles (checked as doctests with the `artifact` feature).
#[cfg(all(doctest, feature = "artifact"))]
#[doc = include_str!("../../../docs/guide/artifact.md")]
pub struct ArtifactGuideCompiles;
