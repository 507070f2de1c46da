//! [`HookPhase`]: the points around the SDK's calls where hooks fire.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A point in the life of a run where hooks fire.
///
/// `Pre*` phases fire before the SDK does something (hooks may mutate or block it), `Post*`
/// phases after it happened (hooks observe; a block is reported but cannot undo the past).
/// Serialized in camelCase (`"preRun"`, `"postToolUse"`), which is also the value of the
/// `CODEX_HOOK_PHASE` environment variable a [`ShellCommandHook`](crate::ShellCommandHook)
/// receives.
///
/// ```
/// use codex_hooks::HookPhase;
///
/// assert!(HookPhase::PreToolUse.is_pre());
/// assert_eq!(HookPhase::PostTurn.as_str(), "postTurn");
/// assert_eq!(serde_json::to_string(&HookPhase::PreRun).unwrap(), "\"preRun\"");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum HookPhase {
    /// Before a run (a one-shot prompt or a workflow) starts.
    PreRun,
    /// After a run finished (successfully or not).
    PostRun,
    /// Before a session (codex thread) is started or resumed.
    PreSessionStart,
    /// After a session was started or resumed.
    PostSessionStart,
    /// Before a turn is sent to codex; hooks may change its prompt, model and attachments.
    PreTurn,
    /// After a turn completed.
    PostTurn,
    /// Before an approval-gated tool call runs (codex asked the client for approval).
    PreToolUse,
    /// After a tool call (command, file change, MCP or dynamic tool) completed.
    PostToolUse,
}

impl HookPhase {
    /// Every phase, in the order a run goes through them.
    pub const ALL: [HookPhase; 8] = [
        HookPhase::PreRun,
        HookPhase::PreSessionStart,
        HookPhase::PostSessionStart,
        HookPhase::PreTurn,
        HookPhase::PreToolUse,
        HookPhase::PostToolUse,
        HookPhase::PostTurn,
        HookPhase::PostRun,
    ];

    /// Whether this is a `Pre*` phase (hooks may mutate or block what follows).
    pub fn is_pre(self) -> bool {
        matches!(
            self,
            HookPhase::PreRun
                | HookPhase::PreSessionStart
                | HookPhase::PreTurn
                | HookPhase::PreToolUse
        )
    }

    /// Whether this is a `Post*` phase.
    pub fn is_post(self) -> bool {
        !self.is_pre()
    }

    /// Whether this phase is about a tool call (`PreToolUse` or `PostToolUse`).
    pub fn is_tool_use(self) -> bool {
        matches!(self, HookPhase::PreToolUse | HookPhase::PostToolUse)
    }

    /// The camelCase name, as serialized (`"preToolUse"`).
    pub fn as_str(self) -> &'static str {
        match self {
            HookPhase::PreRun => "preRun",
            HookPhase::PostRun => "postRun",
            HookPhase::PreSessionStart => "preSessionStart",
            HookPhase::PostSessionStart => "postSessionStart",
            HookPhase::PreTurn => "preTurn",
            HookPhase::PostTurn => "postTurn",
            HookPhase::PreToolUse => "preToolUse",
            HookPhase::PostToolUse => "postToolUse",
        }
    }
}

impl fmt::Display for HookPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_str_matches_serde_for_every_phase() {
        for phase in HookPhase::ALL {
            let json = serde_json::to_value(phase).unwrap();
            assert_eq!(json, serde_json::Value::String(phase.as_str().to_string()));
            let back: HookPhase = serde_json::from_value(json).unwrap();
            assert_eq!(back, phase);
            assert_eq!(phase.to_string(), phase.as_str());
        }
    }

    #[test]
    fn pre_and_post_split_the_phases_in_half() {
        let pre: Vec<_> = HookPhase::ALL.into_iter().filter(|p| p.is_pre()).collect();
        assert_eq!(
            pre,
            [
                HookPhase::PreRun,
                HookPhase::PreSessionStart,
                HookPhase::PreTurn,
                HookPhase::PreToolUse
            ]
        );
        assert!(HookPhase::ALL.iter().all(|p| p.is_pre() != p.is_post()));
        assert!(HookPhase::PostToolUse.is_tool_use());
        assert!(!HookPhase::PreTurn.is_tool_use());
    }
}
