//! [`FilteredPreHook`] and [`FilteredPostHook`]: a hook that runs only for the contexts its
//! [`HookMatcher`] selects, as one value that can be registered anywhere a hook is taken.

use crate::{FailureMode, HookAction, HookContext, HookFuture, HookIssue, HookMatcher};
use crate::{PostHook, PreHook};

/// A [`PreHook`] that runs `hook` only when `matcher` matches the context, and otherwise
/// decides [`HookAction::Noop`] without calling it.
///
/// Useful where only a hook is taken, not a [`HookRegistration`](crate::HookRegistration)
/// (e.g. `WorkflowConfig::with_global_pre_hook`). Name and [`FailureMode`] are the inner
/// hook's.
///
/// ```
/// use codex_hooks::{
///     FilteredPreHook, HookAction, HookContext, HookMatcher, HookPhase, PreHook, ShellCommandHook,
/// };
///
/// # #[tokio::main] async fn main() {
/// let no_tools = FilteredPreHook::new(
///     HookMatcher::any().phase(HookPhase::PreToolUse).tools("exec_command"),
///     ShellCommandHook::new("no-exec", ["sh", "-c", "echo 'no shell today' >&2; exit 2"]),
/// );
/// let turn = HookContext::new(HookPhase::PreTurn, std::env::temp_dir());
/// assert_eq!(no_tools.call(&turn).await.unwrap(), HookAction::Noop); // not run
/// let exec = HookContext::new(HookPhase::PreToolUse, std::env::temp_dir())
///     .with_tool_name("exec_command");
/// assert!(no_tools.call(&exec).await.unwrap().is_block());
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct FilteredPreHook<H> {
    matcher: HookMatcher,
    hook: H,
}

/// A [`PostHook`] that runs `hook` only when `matcher` matches the context, and otherwise
/// reports [`HookAction::Noop`] without calling it. See [`FilteredPreHook`].
#[derive(Debug, Clone)]
pub struct FilteredPostHook<H> {
    matcher: HookMatcher,
    hook: H,
}

macro_rules! filtered_hook {
    ($wrapper:ident, $trait:ident) => {
        impl<H: $trait> $wrapper<H> {
            /// `hook`, run only for the contexts `matcher` matches.
            pub fn new(matcher: HookMatcher, hook: H) -> Self {
                $wrapper { matcher, hook }
            }

            /// The matcher.
            pub fn matcher(&self) -> &HookMatcher {
                &self.matcher
            }

            /// The wrapped hook.
            pub fn inner(&self) -> &H {
                &self.hook
            }
        }

        impl<H: $trait> $trait for $wrapper<H> {
            fn name(&self) -> &'static str {
                self.hook.name()
            }

            fn call<'a>(
                &'a self,
                ctx: &'a HookContext,
            ) -> HookFuture<'a, Result<HookAction, HookIssue>> {
                if self.matcher.matches(ctx) {
                    self.hook.call(ctx)
                } else {
                    Box::pin(async { Ok(HookAction::Noop) })
                }
            }

            fn failure_mode(&self) -> FailureMode {
                self.hook.failure_mode()
            }
        }
    };
}

filtered_hook!(FilteredPreHook, PreHook);
filtered_hook!(FilteredPostHook, PostHook);
