//! # codex-hooks
//!
//! Hooks for codex-runtime: code that runs in the client process before and after the SDK's
//! own calls (runs, session starts, turns, tool calls) and can let them proceed, change them or
//! block them. `codex_runtime` re-exports this crate as `codex_runtime::plugin` and fires the
//! phases from its session and workflow code; the crate itself knows nothing about codex and is
//! tested on its own.
//!
//! ## Module layout
//!
//! | module | what it holds |
//! |---|---|
//! | `phase` | [`HookPhase`]: the eight points where hooks fire |
//! | `context` | [`HookContext`] (what a hook is told) and [`ToolResult`] |
//! | `attachment` | [`Attachment`]: files, images, skills a hook can add to a turn |
//! | `patch` | [`HookPatch`]: the changes a pre hook makes, merging and applying them |
//! | `action` | [`HookAction`]: a hook's decision (noop, mutate, block with a [`BlockReason`]) |
//! | `failure_mode` | [`FailureMode`]: whether a failing hook lets things go on (open, the default) or blocks (closed) |
//! | `issue` | [`HookIssue`] / [`HookIssueKind`]: the crate's error type, a hook that failed |
//! | `hook` | the [`PreHook`] and [`PostHook`] traits and [`HookFuture`] |
//! | `matcher` | [`HookMatcher`]: phases, tool-name patterns, cwd prefixes |
//! | `filtered` | [`FilteredPreHook`], [`FilteredPostHook`]: a hook bundled with its matcher |
//! | `registry` | [`Hooks`], [`HookRegistration`], [`PreOutcome`], [`PostOutcome`], [`Blocked`] |
//! | `shell_hook` | [`ShellCommandHook`]: a hook that runs an external command |
//! | `process_group` | [`ProcessGroup`]: signalling and killing a child's whole process group (the workspace's one home for it) |
//! | `bounded_read` | (private) bounded output capture |
//!
//! ## Semantics in short
//!
//! * Hooks run sequentially, in registration order, and only when their [`HookMatcher`]
//!   matches the context. [`Hooks::merge`] puts global hooks before run-scoped ones.
//! * Pre hooks: each later hook sees the context with the earlier patches applied; the merged
//!   patch comes back in [`PreOutcome::patch`]. The first [`HookAction::Block`] stops the chain.
//! * A hook failure (an `Err(HookIssue)`, a panic, a registration timeout) is recorded in the
//!   outcome's `issues` and does not block (fail open, the default), unless the hook's
//!   [`FailureMode`] is `Closed` (e.g. [`ShellCommandHook::with_failure_mode`]) or it was
//!   registered with [`HookRegistration::block_on_failure`]: then it blocks (fail closed).
//! * Post hooks observe. A block is reported in [`PostOutcome::blocked`]; it cannot undo what
//!   happened.
//!
//! ## Example
//!
//! ```
//! use codex_hooks::{
//!     HookAction, HookContext, HookFuture, HookIssue, HookMatcher, HookPatch, HookPhase,
//!     HookRegistration, Hooks, PreHook, ShellCommandHook,
//! };
//!
//! /// Reminds codex of the house rules on every turn.
//! struct HouseRules;
//!
//! impl PreHook for HouseRules {
//!     fn name(&self) -> &'static str {
//!         "house-rules"
//!     }
//!     fn call<'a>(&'a self, ctx: &'a HookContext) -> HookFuture<'a, Result<HookAction, HookIssue>> {
//!         Box::pin(async move {
//!             let Some(prompt) = &ctx.prompt else { return Ok(HookAction::Noop) };
//!             Ok(HookAction::Mutate(
//!                 HookPatch::new().with_prompt(format!("{prompt}\n\nNever push to main.")),
//!             ))
//!         })
//!     }
//! }
//!
//! # #[tokio::main] async fn main() {
//! let mut hooks = Hooks::new();
//! hooks.add_pre_with(
//!     HouseRules,
//!     HookRegistration { matcher: HookMatcher::any().phase(HookPhase::PreTurn), ..Default::default() },
//! );
//! // A policy script: reads the context JSON on stdin, exits 2 with a reason to block.
//! hooks.add_pre_with(
//!     ShellCommandHook::new(
//!         "no-force-push",
//!         ["sh", "-c", "if grep -q 'push --force'; then echo 'force push is forbidden' >&2; exit 2; fi"],
//!     ),
//!     HookRegistration { matcher: HookMatcher::any().phase(HookPhase::PreTurn), ..Default::default() },
//! );
//!
//! let ctx = HookContext::new(HookPhase::PreTurn, std::env::temp_dir()).with_prompt("Fix the build");
//! let outcome = hooks.run_pre(&ctx).await;
//! assert!(outcome.blocked.is_none() && outcome.issues.is_empty());
//! assert_eq!(outcome.patch.prompt.as_deref(), Some("Fix the build\n\nNever push to main."));
//!
//! let risky = ctx.clone().with_prompt("git push --force origin main");
//! let outcome = hooks.run_pre(&risky).await;
//! assert_eq!(outcome.blocked.unwrap().reason, "force push is forbidden");
//! # }
//! ```
//!
//! ## Relation to codex's server-side hooks
//!
//! codex itself has hooks, configured in its own config and run by the app-server: the
//! `hooks/list` client method lists them, and the server emits `hook/started` /
//! `hook/completed` notifications while they run, which the SDK surfaces as events. Those are
//! separate from the hooks of this crate.
//!
//! The hooks here run in the client process, around the SDK's own calls, and can block or
//! mutate before anything reaches codex (a blocked `PreTurn` means the turn is never sent).
//! `PreToolUse` fires on approval-gated tool requests (codex asks the client to approve a
//! command, a file change, …: a block declines it), and `PostToolUse` on completed command,
//! file-change, MCP and dynamic-tool items. Tool calls codex runs without asking for approval
//! are only seen by `PostToolUse`.

#![warn(missing_docs)]
#![deny(unsafe_code)]

mod action;
mod attachment;
mod bounded_read;
mod context;
mod failure_mode;
mod filtered;
mod hook;
mod issue;
mod matcher;
mod patch;
mod phase;
mod process_group;
mod registry;
mod shell_hook;

pub use action::{BlockReason, HookAction};
pub use attachment::Attachment;
pub use context::{HookContext, ToolResult};
pub use failure_mode::FailureMode;
pub use filtered::{FilteredPostHook, FilteredPreHook};
pub use hook::{HookFuture, PostHook, PreHook};
pub use issue::{HookIssue, HookIssueKind};
pub use matcher::HookMatcher;
pub use patch::HookPatch;
pub use phase::HookPhase;
pub use process_group::{ProcessGroup, Signal};
pub use registry::{Blocked, HookRegistration, Hooks, PostOutcome, PreOutcome};
pub use shell_hook::{
    ShellCommandHook, DEFAULT_MAX_STDERR, DEFAULT_MAX_STDOUT, DEFAULT_SHELL_HOOK_TIMEOUT,
};
