//! [`HookAction`]: what a hook decides, and [`BlockReason`]: why it blocked.

use std::fmt;

use crate::HookPatch;

/// What a hook decides.
///
/// ```
/// use codex_hooks::{BlockReason, HookAction, HookPatch};
///
/// let add_context = HookAction::Mutate(HookPatch::new().with_prompt("Also run the tests."));
/// let stop = HookAction::Block(BlockReason::new("no deploys on Fridays"));
/// let also_stop = HookAction::Block("no deploys on Fridays".into());
/// assert!(stop.is_block() && !add_context.is_block());
/// assert_eq!(stop, also_stop);
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
    /// reported. The reason is shown to the user.
    Block(BlockReason),
}

impl HookAction {
    /// Whether this is a [`HookAction::Block`].
    pub fn is_block(&self) -> bool {
        matches!(self, HookAction::Block(_))
    }
}

/// Why a hook blocked: the message shown to the user (and to codex, when a tool request is
/// declined). Built from any string: `BlockReason::new("…")`, `"…".into()`,
/// `format!(…).into()`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlockReason(String);

impl BlockReason {
    /// A reason with this message.
    pub fn new(message: impl Into<String>) -> Self {
        BlockReason(message.into())
    }

    /// The message.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The message, as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for BlockReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for BlockReason {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<String> for BlockReason {
    fn from(message: String) -> Self {
        BlockReason(message)
    }
}

impl From<&str> for BlockReason {
    fn from(message: &str) -> Self {
        BlockReason(message.to_string())
    }
}

impl From<BlockReason> for String {
    fn from(reason: BlockReason) -> Self {
        reason.0
    }
}

impl PartialEq<str> for BlockReason {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for BlockReason {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}
