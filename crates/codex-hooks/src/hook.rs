//! The hook traits, [`PreHook`] and [`PostHook`], and their future type [`HookFuture`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::{FailureMode, HookAction, HookContext, HookIssue};

/// The boxed future a hook returns: implement hooks with `Box::pin(async move { .. })`.
pub type HookFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A hook that runs before something happens (`Pre*` phases) and may let it proceed
/// ([`HookAction::Noop`]), change it ([`HookAction::Mutate`]) or stop it ([`HookAction::Block`]).
///
/// Object safe: register hooks as values or as `Arc<dyn PreHook>`.
///
/// ```
/// use codex_hooks::{HookAction, HookContext, HookFuture, HookIssue, HookPatch, PreHook};
///
/// /// Adds the ticket id the caller put in the metadata to every prompt.
/// struct TicketPrefix;
///
/// impl PreHook for TicketPrefix {
///     fn name(&self) -> &'static str {
///         "ticket-prefix"
///     }
///     fn call<'a>(&'a self, ctx: &'a HookContext) -> HookFuture<'a, Result<HookAction, HookIssue>> {
///         Box::pin(async move {
///             match (ctx.metadata.get("ticket"), &ctx.prompt) {
///                 (Some(ticket), Some(prompt)) => Ok(HookAction::Mutate(
///                     HookPatch::new().with_prompt(format!("[{ticket}] {prompt}")),
///                 )),
///                 _ => Ok(HookAction::Noop),
///             }
///         })
///     }
/// }
/// ```
pub trait PreHook: Send + Sync {
    /// The hook's name, used in issues, block reasons and logs.
    fn name(&self) -> &'static str;

    /// Decides, given the context. An `Err` is a failure of the hook itself (recorded as an
    /// issue; it blocks only when [`PreHook::failure_mode`] is [`FailureMode::Closed`] or the
    /// hook was registered with `block_on_failure`).
    fn call<'a>(&'a self, ctx: &'a HookContext) -> HookFuture<'a, Result<HookAction, HookIssue>>;

    /// Whether a failure of this hook blocks (default: [`FailureMode::Open`], it does not).
    fn failure_mode(&self) -> FailureMode {
        FailureMode::Open
    }
}

/// A hook that runs after something happened (`Post*` phases). It observes; returning
/// [`HookAction::Block`] reports a block (the caller decides what to stop next), it cannot undo
/// what already happened.
///
/// Object safe: register hooks as values or as `Arc<dyn PostHook>`.
pub trait PostHook: Send + Sync {
    /// The hook's name, used in issues, block reasons and logs.
    fn name(&self) -> &'static str;

    /// Observes the context. An `Err` is a failure of the hook itself.
    fn call<'a>(&'a self, ctx: &'a HookContext) -> HookFuture<'a, Result<HookAction, HookIssue>>;

    /// Whether a failure of this hook is reported as a block (default: [`FailureMode::Open`],
    /// it is not).
    fn failure_mode(&self) -> FailureMode {
        FailureMode::Open
    }
}

impl<T: PreHook + ?Sized> PreHook for Arc<T> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn call<'a>(&'a self, ctx: &'a HookContext) -> HookFuture<'a, Result<HookAction, HookIssue>> {
        (**self).call(ctx)
    }
    fn failure_mode(&self) -> FailureMode {
        (**self).failure_mode()
    }
}

impl<T: PreHook + ?Sized> PreHook for Box<T> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn call<'a>(&'a self, ctx: &'a HookContext) -> HookFuture<'a, Result<HookAction, HookIssue>> {
        (**self).call(ctx)
    }
    fn failure_mode(&self) -> FailureMode {
        (**self).failure_mode()
    }
}

impl<T: PostHook + ?Sized> PostHook for Arc<T> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn call<'a>(&'a self, ctx: &'a HookContext) -> HookFuture<'a, Result<HookAction, HookIssue>> {
        (**self).call(ctx)
    }
    fn failure_mode(&self) -> FailureMode {
        (**self).failure_mode()
    }
}

impl<T: PostHook + ?Sized> PostHook for Box<T> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn call<'a>(&'a self, ctx: &'a HookContext) -> HookFuture<'a, Result<HookAction, HookIssue>> {
        (**self).call(ctx)
    }
    fn failure_mode(&self) -> FailureMode {
        (**self).failure_mode()
    }
}
