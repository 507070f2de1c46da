//! [`HookIssue`]: the crate's error type, a hook that failed rather than decided.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::HookPhase;

/// How a hook failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum HookIssueKind {
    /// The hook returned an error (for a shell hook: it could not be started, or exited with a
    /// code other than 0 or 2).
    Failed,
    /// The hook did not finish within its timeout.
    TimedOut,
    /// The hook's output could not be understood (for a shell hook: stdout that is not a JSON
    /// patch object), or a post hook returned a patch, which cannot be applied.
    InvalidOutput,
    /// The hook panicked.
    Panicked,
}

impl HookIssueKind {
    /// A short lowercase label (`failed`, `timed out`, `invalid output`, `panicked`).
    pub fn as_str(self) -> &'static str {
        match self {
            HookIssueKind::Failed => "failed",
            HookIssueKind::TimedOut => "timed out",
            HookIssueKind::InvalidOutput => "invalid output",
            HookIssueKind::Panicked => "panicked",
        }
    }
}

impl fmt::Display for HookIssueKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A hook that failed instead of deciding: the error a [`PreHook`](crate::PreHook) or
/// [`PostHook`](crate::PostHook) returns, and what the [`Hooks`](crate::Hooks) registry records
/// in an outcome's `issues`.
///
/// ```
/// use codex_hooks::{HookIssue, HookIssueKind, HookPhase};
///
/// let issue = HookIssue::failed("audit", HookPhase::PreTurn, "audit log is read-only");
/// assert_eq!(issue.kind, HookIssueKind::Failed);
/// assert_eq!(issue.to_string(), "hook `audit` failed in preTurn: audit log is read-only");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "camelCase")]
#[error("hook `{hook}` {kind} in {phase}: {message}")]
#[non_exhaustive]
pub struct HookIssue {
    /// The hook's name.
    pub hook: String,
    /// The phase it ran in.
    pub phase: HookPhase,
    /// How it failed.
    pub kind: HookIssueKind,
    /// What went wrong, in words.
    pub message: String,
}

impl HookIssue {
    /// An issue of any kind.
    pub fn new(
        hook: impl Into<String>,
        phase: HookPhase,
        kind: HookIssueKind,
        message: impl Into<String>,
    ) -> Self {
        HookIssue {
            hook: hook.into(),
            phase,
            kind,
            message: message.into(),
        }
    }

    /// A [`HookIssueKind::Failed`] issue: what a hook returns when it cannot do its job.
    pub fn failed(hook: impl Into<String>, phase: HookPhase, message: impl Into<String>) -> Self {
        HookIssue::new(hook, phase, HookIssueKind::Failed, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_a_send_sync_static_error() {
        fn assert_error<E: std::error::Error + Send + Sync + 'static>(_: &E) {}
        let issue = HookIssue::new(
            "h",
            HookPhase::PostToolUse,
            HookIssueKind::TimedOut,
            "after 30s",
        );
        assert_error(&issue);
        assert_eq!(
            issue.to_string(),
            "hook `h` timed out in postToolUse: after 30s"
        );
        let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(issue);
        assert!(boxed.to_string().contains("timed out"));
    }
}
