//! Client-side hooks around runs, sessions, turns and tool use: the [`PreHook`] and
//! [`PostHook`] traits, their decision ([`HookAction`], [`BlockReason`]), context, matchers
//! ([`HookMatcher`], [`FilteredPreHook`], [`FilteredPostHook`]), the [`Hooks`] registry, the
//! [`ShellCommandHook`] and its [`FailureMode`]. Re-exported from `crate::plugin` (the
//! `codex-hooks` crate).

pub use crate::plugin::{
    Attachment, BlockReason, Blocked, FailureMode, FilteredPostHook, FilteredPreHook, HookAction,
    HookContext, HookFuture, HookIssue, HookIssueKind, HookMatcher, HookPatch, HookPhase,
    HookRegistration, Hooks, PostHook, PostOutcome, PreHook, PreOutcome, ShellCommandHook,
    ToolResult,
};
