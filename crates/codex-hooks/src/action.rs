//! [`HookAction`]: what a hook decides.

use crate::HookPatch;

/// What a hook decides.
///
/// ```
/// use codex_hooks::{HookAction, HookPatch};
///
/// let add_context = HookAction::Mutate(HookPatch::new().with_prompt("Also run the tests."));
/// let stop = HookAction::Block("no deploys on Fridays".to_string());
/// assert!(stop.is_block() && !add_context.is_block());
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub enum HookAction {
    /// Let things proceed unchanged.
    #[default]
    Noop,
    /// Let things proceed with changes (only meaningful in pre phases; a post hook's patch is
    /// reported as an issue and ignored).
    Mutate(HookPatch),
    /// Stop: in a pre phase what follows does not happen; in a post phase the block is
    /// reported. The string is the reason shown to the user.
    Block(String),
}

impl HookAction {
    /// Whether this is a [`HookAction::Block`].
    pub fn is_block(&self) -> bool {
        matches!(self, HookAction::Block(_))
    }
}
