//! [`FailureMode`]: whether a hook that fails lets things go on (open) or stops them (closed).

/// What a failure of a hook means for what it guards.
///
/// A failure is anything but a decision: the hook returned an `Err` (for a
/// [`ShellCommandHook`](crate::ShellCommandHook): the command could not start, e.g. a missing
/// script; it exited with a code other than 0 or 2; it was killed by a signal; it printed
/// something that is not a patch; it ran past its timeout), it panicked, or it ran past its
/// registration's timeout.
///
/// * [`FailureMode::Open`], **the default**: the failure is recorded as an issue
///   (`PreOutcome::issues`, `TurnOutput::hook_issues`) and the chain and the turn go on.
/// * [`FailureMode::Closed`]: the failure is recorded **and** blocks like a
///   [`HookAction::Block`](crate::HookAction::Block) whose reason is the failure: a pre hook's
///   turn, run or tool request does not happen.
///
/// A hook reports its mode through [`PreHook::failure_mode`](crate::PreHook::failure_mode) /
/// [`PostHook::failure_mode`](crate::PostHook::failure_mode);
/// [`HookRegistration::block_on_failure`](crate::HookRegistration::block_on_failure) closes
/// any hook at registration. Either one is enough to block.
///
/// ```
/// use codex_hooks::{FailureMode, HookContext, HookPhase, Hooks, ShellCommandHook};
///
/// # #[tokio::main] async fn main() {
/// let mut hooks = Hooks::new();
/// hooks.add_pre(
///     ShellCommandHook::new("policy", ["/nonexistent/policy-check.sh"])
///         .with_failure_mode(FailureMode::Closed),
/// );
/// let ctx = HookContext::new(HookPhase::PreTurn, std::env::temp_dir()).with_prompt("hi");
/// let outcome = hooks.run_pre(&ctx).await;
/// assert_eq!(outcome.blocked.unwrap().hook, "policy"); // a missing script stops the turn
/// assert_eq!(outcome.issues.len(), 1);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FailureMode {
    /// A failure is recorded; what the hook guards goes on (the default).
    #[default]
    Open,
    /// A failure is recorded and blocks what the hook guards.
    Closed,
}

impl FailureMode {
    /// Whether a failure blocks.
    pub fn blocks(self) -> bool {
        self == FailureMode::Closed
    }
}
