//! [`Hooks`]: the registry that runs matching hooks in order and folds their decisions into a
//! [`PreOutcome`] or [`PostOutcome`].

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;

use crate::{
    HookAction, HookContext, HookFuture, HookIssue, HookIssueKind, HookMatcher, HookPatch,
    PostHook, PreHook,
};

/// How a hook is registered: when it runs and how its failures are treated.
///
/// ```
/// use std::time::Duration;
/// use codex_hooks::{HookMatcher, HookPhase, HookRegistration};
///
/// let reg = HookRegistration {
///     matcher: HookMatcher::any().phase(HookPhase::PreToolUse).tools("exec_command"),
///     block_on_failure: true,
///     timeout: Some(Duration::from_secs(5)),
/// };
/// # let _ = reg;
/// ```
#[derive(Debug, Clone, Default)]
pub struct HookRegistration {
    /// Which contexts the hook runs for (default: all).
    pub matcher: HookMatcher,
    /// Whether a failure of the hook (error, panic, timeout) blocks like a
    /// [`HookAction::Block`] would (default: no, the failure is only recorded), whatever the
    /// hook's own [`FailureMode`](crate::FailureMode).
    pub block_on_failure: bool,
    /// How long the hook may take (default: no limit beyond the hook's own). When it runs
    /// out, the hook's future is dropped (a [`ShellCommandHook`](crate::ShellCommandHook)
    /// kills its process group then) and a [`HookIssueKind::TimedOut`] issue is recorded.
    pub timeout: Option<Duration>,
}

/// A hook stopped what would follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    /// The blocking hook's name.
    pub hook: String,
    /// Why: the hook's block reason, or the failure when it blocked on failure.
    pub reason: String,
}

/// What the pre hooks of one phase decided.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PreOutcome {
    /// The hooks' patches merged in order (see [`HookPatch::merge`]); apply it to what follows
    /// unless `blocked` is set.
    pub patch: HookPatch,
    /// Set when a hook blocked (or failed with `block_on_failure`); no later hook ran.
    pub blocked: Option<Blocked>,
    /// Failures of hooks (recorded whether or not they blocked).
    pub issues: Vec<HookIssue>,
}

/// What the post hooks of one phase reported.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PostOutcome {
    /// Failures of hooks, and patches post hooks returned (which cannot be applied).
    pub issues: Vec<HookIssue>,
    /// Set when a hook blocked (or failed with `block_on_failure`); no later hook ran. What
    /// happened already happened; the caller decides what to stop next.
    pub blocked: Option<Blocked>,
}

struct Registered<H: ?Sized> {
    hook: Arc<H>,
    registration: HookRegistration,
}

impl<H: ?Sized> Clone for Registered<H> {
    fn clone(&self) -> Self {
        Registered {
            hook: Arc::clone(&self.hook),
            registration: self.registration.clone(),
        }
    }
}

/// The hooks of a session or run: pre hooks and post hooks, each with a
/// [`HookRegistration`].
///
/// Matching hooks run one after the other in registration order. Cloning is cheap (the hook
/// lists are shared until one of the clones registers another hook).
///
/// * [`Hooks::run_pre`]: each hook sees the context with the earlier hooks' patches applied;
///   the first block stops the chain.
/// * [`Hooks::run_post`]: each hook sees the same context; the first block stops the chain.
/// * A failure (an `Err`, a panic, a registration timeout) is recorded in `issues` and the
///   chain goes on, unless the hook fails closed ([`FailureMode::Closed`](crate::FailureMode))
///   or was registered with `block_on_failure`: then it blocks.
///
/// ```
/// use codex_hooks::{HookContext, HookMatcher, HookPhase, HookRegistration, Hooks, ShellCommandHook};
///
/// # #[tokio::main] async fn main() {
/// let mut hooks = Hooks::new();
/// hooks.add_pre_with(
///     ShellCommandHook::new("no-rm", ["sh", "-c", "grep -q '\"rm\"' && { echo 'rm is not allowed' >&2; exit 2; } || exit 0"]),
///     HookRegistration {
///         matcher: HookMatcher::any().phase(HookPhase::PreToolUse).tools("exec_command"),
///         ..Default::default()
///     },
/// );
/// let ctx = HookContext::new(HookPhase::PreToolUse, std::env::temp_dir())
///     .with_tool_name("exec_command")
///     .with_tool_input(serde_json::json!({"command": ["rm", "-rf", "target"]}));
/// let outcome = hooks.run_pre(&ctx).await;
/// assert_eq!(outcome.blocked.unwrap().reason, "rm is not allowed");
/// # }
/// ```
#[derive(Clone, Default)]
pub struct Hooks {
    pre: Arc<Vec<Registered<dyn PreHook>>>,
    post: Arc<Vec<Registered<dyn PostHook>>>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pre: Vec<_> = self.pre.iter().map(|r| r.hook.name()).collect();
        let post: Vec<_> = self.post.iter().map(|r| r.hook.name()).collect();
        f.debug_struct("Hooks")
            .field("pre", &pre)
            .field("post", &post)
            .finish()
    }
}

impl Hooks {
    /// No hooks.
    pub fn new() -> Self {
        Hooks::default()
    }

    /// Registers a pre hook for every context (no failure blocking, no extra timeout).
    pub fn add_pre(&mut self, hook: impl PreHook + 'static) -> &mut Self {
        self.add_pre_with(hook, HookRegistration::default())
    }

    /// Registers a pre hook with a matcher, failure policy and timeout.
    pub fn add_pre_with(
        &mut self,
        hook: impl PreHook + 'static,
        registration: HookRegistration,
    ) -> &mut Self {
        Arc::make_mut(&mut self.pre).push(Registered {
            hook: Arc::new(hook) as Arc<dyn PreHook>,
            registration,
        });
        self
    }

    /// Registers a post hook for every context (no failure blocking, no extra timeout).
    pub fn add_post(&mut self, hook: impl PostHook + 'static) -> &mut Self {
        self.add_post_with(hook, HookRegistration::default())
    }

    /// Registers a post hook with a matcher, failure policy and timeout.
    pub fn add_post_with(
        &mut self,
        hook: impl PostHook + 'static,
        registration: HookRegistration,
    ) -> &mut Self {
        Arc::make_mut(&mut self.post).push(Registered {
            hook: Arc::new(hook) as Arc<dyn PostHook>,
            registration,
        });
        self
    }

    /// These hooks followed by `other`'s (e.g. global hooks merged with run-scoped ones:
    /// `global.merge(&run)` runs the global hooks first).
    pub fn merge(&self, other: &Hooks) -> Hooks {
        let mut merged = self.clone();
        if !other.pre.is_empty() {
            Arc::make_mut(&mut merged.pre).extend(other.pre.iter().cloned());
        }
        if !other.post.is_empty() {
            Arc::make_mut(&mut merged.post).extend(other.post.iter().cloned());
        }
        merged
    }

    /// Whether no hook is registered.
    pub fn is_empty(&self) -> bool {
        self.pre.is_empty() && self.post.is_empty()
    }

    /// The names of the registered pre hooks, in order.
    pub fn pre_names(&self) -> Vec<&'static str> {
        self.pre.iter().map(|r| r.hook.name()).collect()
    }

    /// The names of the registered post hooks, in order.
    pub fn post_names(&self) -> Vec<&'static str> {
        self.post.iter().map(|r| r.hook.name()).collect()
    }

    /// Whether any pre hook would run for `ctx` (lets callers skip building expensive
    /// contexts).
    pub fn has_pre_for(&self, ctx: &HookContext) -> bool {
        self.pre.iter().any(|r| r.registration.matcher.matches(ctx))
    }

    /// Whether any post hook is registered (whatever it matches).
    pub fn has_post(&self) -> bool {
        !self.post.is_empty()
    }

    /// Whether any post hook would run for `ctx`.
    pub fn has_post_for(&self, ctx: &HookContext) -> bool {
        self.post
            .iter()
            .any(|r| r.registration.matcher.matches(ctx))
    }

    /// Runs the matching pre hooks in order. Each one sees `ctx` with the earlier hooks'
    /// patches applied (matching is done on that patched context too); the first block stops
    /// the chain.
    pub async fn run_pre(&self, ctx: &HookContext) -> PreOutcome {
        let mut outcome = PreOutcome::default();
        let mut current = ctx.clone();
        for entry in self.pre.iter() {
            if !entry.registration.matcher.matches(&current) {
                continue;
            }
            let name = entry.hook.name();
            let result = guarded_call(name, &current, entry.registration.timeout, |c| {
                entry.hook.call(c)
            })
            .await;
            match result {
                Ok(HookAction::Noop) => {}
                Ok(HookAction::Mutate(patch)) => {
                    patch.apply_to(&mut current);
                    outcome.patch.merge(patch);
                }
                Ok(HookAction::Block(reason)) => {
                    tracing::info!(hook = name, phase = %ctx.phase, %reason, "hook blocked");
                    outcome.blocked = Some(Blocked {
                        hook: name.to_string(),
                        reason: reason.into_string(),
                    });
                    break;
                }
                Err(issue) => {
                    if record_failure(
                        issue,
                        entry.registration.block_on_failure || entry.hook.failure_mode().blocks(),
                        &mut outcome.issues,
                        &mut outcome.blocked,
                    ) {
                        break;
                    }
                }
            }
        }
        outcome
    }

    /// Runs the matching post hooks in order, each with the same context; the first block
    /// stops the chain. A post hook's non-empty patch is recorded as an
    /// [`HookIssueKind::InvalidOutput`] issue (nothing can be patched after the fact).
    pub async fn run_post(&self, ctx: &HookContext) -> PostOutcome {
        let mut outcome = PostOutcome::default();
        for entry in self.post.iter() {
            if !entry.registration.matcher.matches(ctx) {
                continue;
            }
            let name = entry.hook.name();
            let result = guarded_call(name, ctx, entry.registration.timeout, |c| {
                entry.hook.call(c)
            })
            .await;
            match result {
                Ok(HookAction::Noop) => {}
                Ok(HookAction::Mutate(patch)) => {
                    if !patch.is_empty() {
                        let issue = HookIssue::new(
                            name,
                            ctx.phase,
                            HookIssueKind::InvalidOutput,
                            "a post hook cannot change what already happened; its patch was ignored",
                        );
                        tracing::warn!(%issue, "post hook returned a patch");
                        outcome.issues.push(issue);
                    }
                }
                Ok(HookAction::Block(reason)) => {
                    tracing::info!(hook = name, phase = %ctx.phase, %reason, "post hook blocked");
                    outcome.blocked = Some(Blocked {
                        hook: name.to_string(),
                        reason: reason.into_string(),
                    });
                    break;
                }
                Err(issue) => {
                    if record_failure(
                        issue,
                        entry.registration.block_on_failure || entry.hook.failure_mode().blocks(),
                        &mut outcome.issues,
                        &mut outcome.blocked,
                    ) {
                        break;
                    }
                }
            }
        }
        outcome
    }
}

/// Records a failed hook; returns whether it blocks (`blocks`: the hook fails closed or was
/// registered with `block_on_failure`), which stops the chain.
fn record_failure(
    issue: HookIssue,
    blocks: bool,
    issues: &mut Vec<HookIssue>,
    blocked: &mut Option<Blocked>,
) -> bool {
    tracing::warn!(%issue, block = blocks, "hook failed");
    if blocks {
        *blocked = Some(Blocked {
            hook: issue.hook.clone(),
            reason: issue.to_string(),
        });
    }
    issues.push(issue);
    blocks
}

/// Calls a hook and awaits its future, turning a panic (while creating or polling the future)
/// or a registration timeout into an issue.
async fn guarded_call<'a>(
    name: &'static str,
    ctx: &'a HookContext,
    timeout: Option<Duration>,
    call: impl FnOnce(&'a HookContext) -> HookFuture<'a, Result<HookAction, HookIssue>>,
) -> Result<HookAction, HookIssue> {
    let panicked = |payload: Box<dyn Any + Send>| {
        HookIssue::new(
            name,
            ctx.phase,
            HookIssueKind::Panicked,
            panic_message(payload.as_ref()),
        )
    };
    let future = std::panic::catch_unwind(AssertUnwindSafe(|| call(ctx))).map_err(panicked)?;
    let caught = AssertUnwindSafe(future).catch_unwind();
    let result = match timeout {
        Some(limit) => match tokio::time::timeout(limit, caught).await {
            Ok(result) => result,
            Err(_) => {
                return Err(HookIssue::new(
                    name,
                    ctx.phase,
                    HookIssueKind::TimedOut,
                    format!("did not finish within {limit:?}"),
                ))
            }
        },
        None => caught.await,
    };
    result.unwrap_or_else(|payload| Err(panicked(payload)))
}

/// The message of a panic payload (`panic!("…")` carries a `&str` or a `String`).
fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panicked with a non-string payload".to_string()
    }
}
